//! Servers of a test's own, so that the test can do to them what a bad day does: kill
//! Redis, crash PostgreSQL, stop either mid-request, and start them again.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::tls::TestCa;

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{name} failed");
}

/// A Redis server without persistence on a port of its own.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Listen arguments, and the URL's scheme and credentials.
    listen: Vec<String>,
    url_start: String,
}

impl PrivateRedis {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let port = free_port();
        Self::start_with(port, vec!["--port".into(), port.to_string()], "redis://")
    }

    /// Starts a server that speaks only TLS, with a certificate `ca` issued, and wants
    /// `password` (like ElastiCache with in-transit encryption and an AUTH token).
    pub fn start_tls(ca: &TestCa, password: &str) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let issued = ca.issue(dir.path(), "redis");
        let mut listen: Vec<String> = ["--port", "0", "--tls-port"].map(Into::into).into();
        listen.push(port.to_string());
        for (flag, file) in [
            ("--tls-cert-file", &issued.cert),
            ("--tls-key-file", &issued.key),
            ("--tls-ca-cert-file", &ca.cert),
        ] {
            listen.push(flag.to_owned());
            listen.push(file.display().to_string());
        }
        listen.extend(["--tls-auth-clients", "no", "--requirepass", password].map(Into::into));
        let mut redis = Self::start_with(port, listen, &format!("rediss://:{password}@"));
        // The certificate files live as long as the server.
        redis.dir = dir;
        redis
    }

    fn start_with(port: u16, listen: Vec<String>, url_start: &str) -> Self {
        let mut redis = Self {
            port,
            child: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            listen,
            url_start: url_start.to_owned(),
        };
        redis.spawn();
        redis
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://:<password>@127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("{}127.0.0.1:{}", self.url_start, self.port)
    }

    /// Starts the server again (empty) after [`Self::kill`].
    pub fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.listen)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        wait_for_port(self.port, "redis-server");
    }

    /// SIGKILL: everything it held is gone, as after a crash without persistence.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: connections stay open and nothing answers, as behind a network
    /// partition.
    pub fn freeze(&self) {
        signal(self.child.as_ref().expect("a running server"), "STOP");
    }

    /// SIGCONT after [`Self::freeze`].
    pub fn thaw(&self) {
        signal(self.child.as_ref().expect("a running server"), "CONT");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// A PostgreSQL cluster in a temporary directory, run as the `postgres` user.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    server: Option<Child>,
    /// Settings beyond the defaults (`-c name=value`).
    settings: Vec<String>,
    _dir: tempfile::TempDir,
}

/// Runs a PostgreSQL tool as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program)
        .stdin(Stdio::null());
    command
}

impl PrivatePostgres {
    /// Creates a cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> Self {
        let mut pg = Self::create();
        pg.spawn();
        pg
    }

    /// A cluster that accepts TCP connections only over TLS (`hostssl`, like RDS with
    /// `rds.force_ssl=1`), with a certificate `ca` issued.
    pub fn start_tls(ca: &TestCa) -> Self {
        let mut pg = Self::create();
        let issued = ca.issue(&pg.data, "server");
        // PostgreSQL reads its key only when the postgres user owns it, mode 0600.
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .args([&issued.cert, &issued.key])
            .status()
            .expect("running chown");
        assert!(chown.success());
        let chmod = Command::new("chmod")
            .arg("600")
            .arg(&issued.key)
            .status()
            .expect("running chmod");
        assert!(chmod.success());
        std::fs::write(
            pg.data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("writing pg_hba.conf");
        pg.settings = vec![
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", issued.cert.display()),
            format!("ssl_key_file={}", issued.key.display()),
        ];
        pg.spawn();
        pg
    }

    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("data");
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("running chown");
        assert!(chown.success());
        let initdb = as_postgres(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("running initdb");
        assert!(initdb.success(), "initdb failed");
        Self {
            bin,
            data,
            port: free_port(),
            server: None,
            settings: Vec::new(),
            _dir: dir,
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server again after [`Self::stop`]; the data is kept.
    pub fn spawn(&mut self) {
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .args(["-c", "fsync=off", "-c"])
            .arg(format!("unix_socket_directories={}", self.data.display()))
            .args(self.settings.iter().flat_map(|s| ["-c", s]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting postgres");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .expect("running pg_isready")
            .success()
        {
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Immediate shutdown (SIGQUIT): connections drop at once, as in a crash.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            signal(&child, "QUIT");
            let _ = child.wait();
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
