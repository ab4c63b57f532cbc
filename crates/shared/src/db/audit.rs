//! The audit log: every organizer action — who, what, on what, when and why.
//!
//! An action and its entry are written in the same transaction ([`record`] takes the
//! transaction's connection), so the log holds exactly the actions that happened.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

use crate::domain::Page;

/// What an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A video, by id.
    Video(i64),
    /// A player, by id.
    Player(i64),
    /// The competition's dates.
    Competition,
}

impl Target {
    fn parts(self) -> (&'static str, Option<i64>) {
        match self {
            Self::Video(id) => ("video", Some(id)),
            Self::Player(id) => ("player", Some(id)),
            Self::Competition => ("competition", None),
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The organizer's player id.
    pub id: i64,
    /// The organizer's e-mail, kept even if the account is deleted later.
    pub email: &'a str,
}

/// Records one action. `action` is a stable kebab-case verb (`hide-video`,
/// `suspend-player`, `set-competition`, …); `details` holds what the action changed.
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: Actor<'_>,
    action: &str,
    target: Target,
    reason: Option<&str>,
    details: Value,
) -> Result<(), sqlx::Error> {
    let (target_type, target_id) = target.parts();
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
    )
    .bind(actor.id)
    .bind(actor.email)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(reason)
    .bind(details.to_string())
    .execute(db)
    .await?;
    Ok(())
}

/// One entry of the log.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Id (increasing).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The organizer's player id (`None` once that account is deleted).
    pub actor_id: Option<i64>,
    /// The organizer's e-mail.
    pub actor_email: String,
    /// What (`hide-video`, …).
    pub action: String,
    /// `video`, `player` or `competition`.
    pub target_type: Option<String>,
    /// The video's or player's id.
    pub target_id: Option<i64>,
    /// The organizer's reason, when the action takes one.
    pub reason: Option<String>,
    /// What changed.
    pub details: Value,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    actor_email: String,
    action: String,
    target_type: Option<String>,
    target_id: Option<i64>,
    reason: Option<String>,
    details: String,
}

/// A page of the log, newest first.
pub async fn list(db: impl PgExecutor<'_>, page: Page) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, actor_id, actor_email, action, target_type, target_id, reason,
                details::text AS details
           FROM audit_log ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2",
    )
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let details =
                serde_json::from_str(&r.details).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(Entry {
                id: r.id,
                at: r.at,
                actor_id: r.actor_id,
                actor_email: r.actor_email,
                action: r.action,
                target_type: r.target_type,
                target_id: r.target_id,
                reason: r.reason,
                details,
            })
        })
        .collect()
}
