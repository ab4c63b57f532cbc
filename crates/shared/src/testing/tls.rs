//! Certificates for tests of TLS to real servers: a CA of the test's own, made with the
//! `openssl` command, and server certificates it issues for `localhost` and
//! `127.0.0.1`. Two CAs tell apart "verified" from "merely encrypted": a client that
//! trusts one must refuse a server whose certificate the other issued.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// A certificate authority in a temporary directory.
pub struct TestCa {
    dir: tempfile::TempDir,
    /// The CA's certificate (PEM): what clients trust.
    pub cert: PathBuf,
    key: PathBuf,
}

/// A certificate and its private key (PEM files).
pub struct Issued {
    /// Certificate.
    pub cert: PathBuf,
    /// Private key, unencrypted.
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running openssl (Debian package openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A P-256 key: quick to make, accepted by rustls, PostgreSQL and Redis.
const KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let subject = format!("/CN={name} test CA");
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", &subject];
        args.extend(KEY);
        args.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&args, dir.path());
        Self {
            cert: dir.path().join("ca.pem"),
            key: dir.path().join("ca.key"),
            dir,
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1`, written to `out` as
    /// `<name>.pem` and `<name>.key`.
    pub fn issue(&self, out: &Path, name: &str) -> Issued {
        let issued = Issued {
            cert: out.join(format!("{name}.pem")),
            key: out.join(format!("{name}.key")),
        };
        let csr = self.dir.path().join(format!("{name}.csr"));
        let ext = self.dir.path().join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("writing the extensions file");
        let (csr, ext) = (csr.display().to_string(), ext.display().to_string());
        let (cert, key) = (
            issued.cert.display().to_string(),
            issued.key.display().to_string(),
        );
        let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=localhost"];
        args.extend(KEY);
        args.extend(["-keyout", &key, "-out", &csr]);
        openssl(&args, self.dir.path());
        let (ca_cert, ca_key) = (
            self.cert.display().to_string(),
            self.key.display().to_string(),
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &cert,
            ],
            self.dir.path(),
        );
        issued
    }
}
