//! TLS to the servers the services stand on: PostgreSQL (sqlx) and Redis (`rediss://`)
//! over rustls, with one crypto provider, aws-lc-rs, the one the AWS SDK uses.
//!
//! Verification is never optional in code: sqlx verifies under `sslmode=verify-ca` /
//! `verify-full` against `sslrootcert` (or the public roots), and redis against
//! `REDIS_CA_FILE` (or the system's roots); the redis crate is built without its
//! `tls-rustls-insecure` feature, so a `#insecure` URL cannot turn verification off.
//! Which modes a deployment may use is the configuration's business
//! ([`crate::config::backends`]).

use std::path::Path;

use redis::{ErrorKind, RedisError, RedisResult, TlsCertificates};

/// Makes aws-lc-rs the process' default rustls provider. The redis crate builds its TLS
/// configuration from the process default, which rustls cannot choose by itself when
/// more than one provider is linked in (the test binaries also link reqwest's ring).
/// Idempotent; the first provider installed stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A Redis client for `url`. With `ca_file`, a `rediss://` server must present a
/// certificate issued by one of the CAs in that PEM file (and only those); without it,
/// by one of the system's.
pub fn redis_client(url: &str, ca_file: Option<&Path>) -> RedisResult<redis::Client> {
    install_crypto_provider();
    let Some(path) = ca_file else {
        return redis::Client::open(url);
    };
    let root_cert = std::fs::read(path).map_err(|e| {
        RedisError::from((
            ErrorKind::InvalidClientConfig,
            "cannot read REDIS_CA_FILE",
            format!("{}: {e}", path.display()),
        ))
    })?;
    redis::Client::build_with_tls(
        url,
        TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        },
    )
}
