//! PostgreSQL access shared by the web service and the worker.
//!
//! Queries are runtime-checked (`sqlx::query_as`) and every one of them is exercised
//! by the integration tests against a real PostgreSQL; functions take any executor
//! so callers can run them inside a transaction.

pub mod audit;
pub mod competition;
pub mod moderation;
pub mod players;
pub mod rankings;
pub mod stats;
pub mod suspension;
pub mod uploads;
pub mod videos;
pub mod views;
pub mod votes;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::{
    PgPool,
    migrate::{MigrateError, Migrator},
    postgres::PgPoolOptions,
};

use crate::config::DatabaseConfig;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Opens a connection pool.
///
/// TLS follows the URL's `sslmode` and `sslrootcert` (see [`crate::config::backends`]).
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    crate::tls::install_crypto_provider();
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(config.url.expose_secret())
        .await
}

/// Applies pending migrations. sqlx holds an advisory lock meanwhile, so several
/// instances starting at once migrate exactly once.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether `err` means PostgreSQL is unreachable, restarting or out of resources (a
/// `503` and a retry later), rather than a refusal of the statement itself: no
/// connection (I/O, TLS, pool timeout or closed), or SQLSTATE class 08 (connection
/// exception), 53 (insufficient resources) or 57 (operator intervention: shutdown,
/// restart, a cancelled query).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["08", "53", "57"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        _ => false,
    }
}

/// Whether `err` is a lost deadlock or serialization race (SQLSTATE `40P01`, `40001`):
/// the transaction was rolled back and may simply run again.
pub fn is_retryable_race(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "40P01" || c == "40001"))
}

/// Whether `err` is a unique-constraint violation of `constraint` (index or constraint name).
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint().is_some_and(|c| c == constraint)
        }
        _ => false,
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a `LIKE` pattern.
pub fn escape_like(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
        assert_eq!(escape_like("plain"), "plain");
    }
}
