//! Encryption to the servers the services stand on, PostgreSQL and Redis.
//!
//! | variable | meaning |
//! |---|---|
//! | `REDIS_CA_FILE` | PEM file of the CAs a `rediss://` server's certificate must chain to, instead of the system's; only with a `rediss://` `REDIS_URL` [unset] |
//! | `ALLOW_PLAINTEXT_BACKENDS` | `true` lets `CONFIG_SOURCE=aws` start with a database `sslmode` that may fall back to plaintext, or a `redis://` URL [`false`] |
//!
//! PostgreSQL's TLS is set in `DATABASE_URL` itself (`sslmode`, `sslrootcert`); under
//! `CONFIG_SOURCE=aws` from `DATABASE_SSLMODE` [`verify-full`] and
//! `DATABASE_SSLROOTCERT` (see [`super::aws`]).
//!
//! Under `CONFIG_SOURCE=aws` the services talk to managed servers across a network, so
//! start-up refuses anything that could send a password or a token in the clear:
//! `sslmode` `disable`, `allow` or `prefer` (which falls back to plaintext without a
//! word), and `redis://`. `ALLOW_PLAINTEXT_BACKENDS=true` is the explicit way out, for
//! a deployment whose network is trusted. On one machine (`CONFIG_SOURCE=env`) both
//! are the operator's choice.

use std::{path::PathBuf, str::FromStr};

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::{Config, ConfigError, Source};

/// Name of the explicit opt-out.
pub const ALLOW_PLAINTEXT: &str = "ALLOW_PLAINTEXT_BACKENDS";

/// `REDIS_CA_FILE`, refused with a `redis://` URL (it would silently do nothing).
pub(super) fn redis_ca_file(
    src: &dyn Source,
    redis_url: &str,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(path) = src.get("REDIS_CA_FILE").filter(|p| !p.trim().is_empty()) else {
        return Ok(None);
    };
    if !is_rediss(redis_url) {
        return Err(ConfigError::Invalid {
            name: "REDIS_CA_FILE".to_owned(),
            reason: "is set, but REDIS_URL is not a rediss:// URL, so it would not be used"
                .to_owned(),
        });
    }
    Ok(Some(PathBuf::from(path.trim())))
}

fn is_rediss(url: &str) -> bool {
    url.get(..9)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"))
}

/// Whether `src` sets [`ALLOW_PLAINTEXT`] (`true` or `false`).
pub(super) fn plaintext_allowed(src: &dyn Source) -> Result<bool, ConfigError> {
    super::parse(src, ALLOW_PLAINTEXT, false)
}

/// Refuses a configuration that could talk to PostgreSQL or Redis in the clear.
pub(super) fn require_encryption(config: &Config) -> Result<(), ConfigError> {
    let options =
        PgConnectOptions::from_str(config.database.url.expose_secret()).map_err(|_| {
            ConfigError::Invalid {
                name: "DATABASE_URL".to_owned(),
                reason: "is not a PostgreSQL URL".to_owned(),
            }
        })?;
    let mode = options.get_ssl_mode();
    if !matches!(
        mode,
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
    ) {
        return Err(ConfigError::Invalid {
            name: "DATABASE_SSLMODE".to_owned(),
            reason: format!(
                "`{}` may talk to the database in plaintext; use verify-full (or require, \
                 verify-ca), or set {ALLOW_PLAINTEXT}=true if the network is trusted",
                mode_name(mode)
            ),
        });
    }
    if !is_rediss(config.redis.url.expose_secret()) {
        return Err(ConfigError::Invalid {
            name: "REDIS_URL".to_owned(),
            reason: format!(
                "is a plaintext redis:// URL; use rediss:// (ElastiCache with in-transit \
                 encryption), or set {ALLOW_PLAINTEXT}=true if the network is trusted"
            ),
        });
    }
    Ok(())
}

fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(database_url: &str, redis_url: &str) -> Config {
        let (db, redis) = (database_url.to_owned(), redis_url.to_owned());
        Config::from_source(&move |name: &str| match name {
            "DATABASE_URL" => Some(db.clone()),
            "REDIS_URL" => Some(redis.clone()),
            "SKILLREEL_ENV" => Some("development".to_owned()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn only_encrypted_backends_pass() {
        let ok = config(
            "postgres://u:p@db:5432/d?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "rediss://:token@cache:6379",
        );
        require_encryption(&ok).unwrap();
        require_encryption(&config(
            "postgres://db/d?sslmode=require",
            "REDISS://c:6379",
        ))
        .unwrap();
        for mode in ["disable", "allow", "prefer"] {
            let url = format!("postgres://db/d?sslmode={mode}");
            let err = require_encryption(&config(&url, "rediss://c"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("DATABASE_SSLMODE") && err.contains(mode),
                "{err}"
            );
            assert!(err.contains(ALLOW_PLAINTEXT), "{err}");
        }
        // sqlx's own default, with no sslmode at all, is `prefer`.
        assert!(require_encryption(&config("postgres://db/d", "rediss://c")).is_err());
        let err = require_encryption(&config("postgres://db/d?sslmode=verify-full", "redis://c"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REDIS_URL") && err.contains("rediss://"),
            "{err}"
        );
    }

    #[test]
    fn a_ca_file_needs_a_tls_url() {
        let src = |name: &str| (name == "REDIS_CA_FILE").then(|| "/etc/ca.pem".to_owned());
        assert_eq!(
            redis_ca_file(&src, "rediss://c:6379").unwrap(),
            Some(PathBuf::from("/etc/ca.pem"))
        );
        let err = redis_ca_file(&src, "redis://c:6379")
            .unwrap_err()
            .to_string();
        assert!(err.contains("REDIS_CA_FILE"), "{err}");
        assert_eq!(redis_ca_file(&|_: &str| None, "redis://c").unwrap(), None);
    }

    #[test]
    fn the_opt_out_is_explicit() {
        let with = |v: &'static str| move |n: &str| (n == ALLOW_PLAINTEXT).then(|| v.to_owned());
        assert!(!plaintext_allowed(&|_: &str| None).unwrap());
        assert!(plaintext_allowed(&with("true")).unwrap());
        assert!(!plaintext_allowed(&with("false")).unwrap());
        assert!(plaintext_allowed(&with("yes please")).is_err());
    }
}
