//! The organizers' view of the videos (the moderation queue) and hiding and restoring
//! one video.
//!
//! Hiding moves a `processed` or `public` video to `hidden`, remembering the state it
//! came from (`hidden_from`); restoring moves it back. The players' totals follow by the
//! statement triggers on `videos` (they count `public` rows only), so a hidden video's
//! votes leave its owner's ranking total in the same transaction.
//!
//! Both take the owner's suspension bucket shared first (`voter_lock_key`, like a vote
//! batch), then the video's row, then (by the triggers) players: the lock order of
//! [`super::suspension`], so a restore and a suspension of the owner are serialized and
//! a restore never makes a suspended player's video public.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};

use super::audit::{self, Actor, Target};
use crate::{
    domain::{Page, VideoStatus},
    moderation::Reason,
};

/// The columns of [`ModeratedVideo`] over `videos v JOIN players p`.
macro_rules! columns {
    () => {
        "v.id, v.title, v.status, v.uploaded_at, v.votes_count, v.views_count, v.thumbnail_key,
         v.hidden_reason, v.hidden_by_suspension, p.id AS owner_id, p.first_name AS owner_first_name,
         p.last_name AS owner_last_name, p.email AS owner_email, p.city AS owner_city,
         p.suspended_at IS NOT NULL AS owner_suspended
           FROM videos v JOIN players p ON p.id = v.owner_id"
    };
}

/// A video as organizers see it, with its owner.
#[derive(Debug, Clone, FromRow)]
pub struct ModeratedVideo {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// One of the six states.
    pub status: String,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Counted votes.
    pub votes_count: i32,
    /// Views.
    pub views_count: i64,
    /// Storage key of the poster, once processed.
    pub thumbnail_key: Option<String>,
    /// Why it is hidden (status `hidden`).
    pub hidden_reason: Option<String>,
    /// Hidden because its owner was suspended (unsuspending restores it).
    pub hidden_by_suspension: bool,
    /// Owner's id.
    pub owner_id: i64,
    /// Owner's first name.
    pub owner_first_name: String,
    /// Owner's last name.
    pub owner_last_name: String,
    /// Owner's e-mail.
    pub owner_email: String,
    /// Owner's city.
    pub owner_city: String,
    /// Whether the owner is suspended.
    pub owner_suspended: bool,
}

impl ModeratedVideo {
    /// The typed status (the database constrains it to the six states).
    pub fn status(&self) -> VideoStatus {
        self.status.parse().unwrap_or(VideoStatus::Failed)
    }
}

/// The moderation queue: every video, or those in `status`, newest first. Two
/// statements, so each plan uses its index (`videos_uploaded_idx`,
/// `videos_status_uploaded_idx`).
pub async fn list(
    db: impl PgExecutor<'_>,
    status: Option<VideoStatus>,
    page: Page,
) -> Result<Vec<ModeratedVideo>, sqlx::Error> {
    let limit = i64::from(page.limit);
    match status {
        None => {
            sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " ORDER BY v.uploaded_at DESC, v.id DESC LIMIT $1 OFFSET $2"
            ))
            .bind(limit)
            .bind(page.offset())
            .fetch_all(db)
            .await
        }
        Some(status) => {
            sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " WHERE v.status = $1 ORDER BY v.uploaded_at DESC, v.id DESC LIMIT $2 OFFSET $3"
            ))
            .bind(status.as_str())
            .bind(limit)
            .bind(page.offset())
            .fetch_all(db)
            .await
        }
    }
}

/// One video as organizers see it.
pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<ModeratedVideo>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " WHERE v.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What hiding a video came to.
#[derive(Debug)]
pub enum Hiding {
    /// Hidden now.
    Hidden(Box<ModeratedVideo>),
    /// No such video.
    NotFound,
    /// It was hidden already.
    AlreadyHidden,
    /// Not in a state that can be hidden (only `processed` and `public` can); its state.
    NotHideable(VideoStatus),
}

/// What restoring a video came to.
#[derive(Debug)]
pub enum Restoring {
    /// Back in the state it was hidden from.
    Restored(Box<ModeratedVideo>),
    /// No such video.
    NotFound,
    /// It is not hidden.
    NotHidden,
    /// Its owner is suspended: unsuspending restores it (or keeps it hidden).
    OwnerSuspended,
}

/// Takes the owner's suspension bucket shared; `false` when there is no such video.
async fn lock_owner(tx: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let owner: Option<i64> = sqlx::query_scalar("SELECT owner_id FROM videos WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(owner) = owner else {
        return Ok(false);
    };
    sqlx::query("SELECT pg_advisory_xact_lock_shared(voter_lock_key($1))")
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// Hides a `processed` or `public` video, with its audit entry, in one transaction.
pub async fn hide(
    db: &PgPool,
    actor: Actor<'_>,
    id: i64,
    reason: &Reason,
) -> Result<Hiding, sqlx::Error> {
    let mut tx = db.begin().await?;
    if !lock_owner(&mut tx, id).await? {
        return Ok(Hiding::NotFound);
    }
    // `hidden_from = status` reads the row's old status.
    let from: Option<String> = sqlx::query_scalar(
        "UPDATE videos
            SET status = 'hidden', hidden_from = status, hidden_reason = $2, hidden_at = now(),
                hidden_by_suspension = false, updated_at = now()
          WHERE id = $1 AND status IN ('processed', 'public')
          RETURNING hidden_from",
    )
    .bind(id)
    .bind(reason.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(from) = from else {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM videos WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        return Ok(match status.map(|s| s.parse::<VideoStatus>()) {
            None => Hiding::NotFound,
            Some(Ok(VideoStatus::Hidden)) => Hiding::AlreadyHidden,
            Some(Ok(status)) => Hiding::NotHideable(status),
            Some(Err(e)) => return Err(sqlx::Error::Decode(Box::new(e))),
        });
    };
    audit::record(
        &mut *tx,
        actor,
        "hide-video",
        Target::Video(id),
        Some(reason.as_str()),
        json!({ "from": from }),
    )
    .await?;
    let video = find(&mut *tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(Hiding::Hidden(Box::new(video)))
}

/// Restores a hidden video to the state it was hidden from, with its audit entry, in
/// one transaction. Refused while the owner is suspended.
pub async fn restore(db: &PgPool, actor: Actor<'_>, id: i64) -> Result<Restoring, sqlx::Error> {
    let mut tx = db.begin().await?;
    if !lock_owner(&mut tx, id).await? {
        return Ok(Restoring::NotFound);
    }
    let state: Option<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT v.status, p.suspended_at IS NOT NULL, v.hidden_reason
           FROM videos v JOIN players p ON p.id = v.owner_id
          WHERE v.id = $1
            FOR NO KEY UPDATE OF v",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, owner_suspended, hidden_reason)) = state else {
        return Ok(Restoring::NotFound);
    };
    if status != VideoStatus::Hidden.as_str() {
        return Ok(Restoring::NotHidden);
    }
    if owner_suspended {
        return Ok(Restoring::OwnerSuspended);
    }
    let to: String = sqlx::query_scalar(
        "UPDATE videos
            SET status = hidden_from, hidden_from = NULL, hidden_reason = NULL, hidden_at = NULL,
                hidden_by_suspension = false, updated_at = now()
          WHERE id = $1
          RETURNING status",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "restore-video",
        Target::Video(id),
        None,
        json!({ "to": to, "hidden_reason": hidden_reason }),
    )
    .await?;
    let video = find(&mut *tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(Restoring::Restored(Box::new(video)))
}
