//! The competition's rounds: when uploads and voting close (migration `20261203000001`,
//! one row; `NULL` means open).
//!
//! Whether a date has passed is decided by PostgreSQL's clock (`now()`), the same clock
//! `cast_votes` refuses votes by, so every web instance agrees with the database.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{FromRow, PgExecutor, PgPool};

use super::audit::{self, Actor, Target};

/// The competition's dates and what they mean now.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Competition {
    /// Uploads are refused from this instant (`None`: open).
    pub uploads_close_at: Option<DateTime<Utc>>,
    /// Votes are refused from this instant (`None`: open).
    pub voting_close_at: Option<DateTime<Utc>>,
    /// Whether uploads are accepted now.
    pub uploads_open: bool,
    /// Whether votes are accepted now.
    pub voting_open: bool,
}

impl Competition {
    fn dates(&self) -> Value {
        json!({
            "uploads_close_at": self.uploads_close_at,
            "voting_close_at": self.voting_close_at,
        })
    }
}

/// The dates to set (`None` opens or reopens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dates {
    /// When uploads close.
    pub uploads_close_at: Option<DateTime<Utc>>,
    /// When voting closes.
    pub voting_close_at: Option<DateTime<Utc>>,
}

/// The row's columns with `uploads_open` and `voting_open` by the database's clock.
macro_rules! columns {
    () => {
        "uploads_close_at, voting_close_at,
         COALESCE(uploads_close_at > now(), true) AS uploads_open,
         COALESCE(voting_close_at > now(), true) AS voting_open"
    };
}

/// The competition as it stands.
pub async fn get(db: impl PgExecutor<'_>) -> Result<Competition, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM competition"))
        .fetch_one(db)
        .await
}

/// Whether uploads are accepted now (one primary-key read; the upload routes ask it
/// before reading a byte of the body).
pub async fn uploads_open(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(uploads_close_at > now(), true) FROM competition")
        .fetch_one(db)
        .await
}

/// Sets both dates and records `set-competition` (details: `before`, `after`) in the same
/// transaction; the row is locked meanwhile, so two organizers' changes are logged in the
/// order they took effect and each `before` is what the other left.
pub async fn set(db: &PgPool, actor: Actor<'_>, dates: Dates) -> Result<Competition, sqlx::Error> {
    let mut tx = db.begin().await?;
    let before: Competition = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM competition FOR UPDATE"
    ))
    .fetch_one(&mut *tx)
    .await?;
    let after: Competition = sqlx::query_as(concat!(
        "UPDATE competition SET uploads_close_at = $1, voting_close_at = $2, updated_at = now()
          RETURNING ",
        columns!()
    ))
    .bind(dates.uploads_close_at)
    .bind(dates.voting_close_at)
    .fetch_one(&mut *tx)
    .await?;
    let details = json!({ "before": before.dates(), "after": after.dates() });
    audit::record(
        &mut *tx,
        actor,
        "set-competition",
        Target::Competition,
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}
