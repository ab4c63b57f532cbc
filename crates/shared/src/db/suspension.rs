//! Suspending a player and lifting the suspension, each one transaction with its
//! audit entry.
//!
//! A suspension sets `players.suspended_at`, hides the player's public videos (marked
//! `hidden_by_suspension`), and stops counting the votes the player cast
//! (`votes.counted = false`, each voted video's `votes_count` lowered by one statement
//! with an aggregate). Lifting it reverses exactly that: it counts the votes again and
//! restores only the videos the suspension hid.
//!
//! Locks, in the order of the vote batches (`cast_votes`), so neither deadlocks with
//! them nor with another moderation:
//! 1. the player's bucket, exclusively (`pg_advisory_xact_lock(voter_lock_key(id))`):
//!    it waits for every batch holding a vote of the player, and every later batch
//!    sees the suspension (so no vote checked before it lands counted after it);
//! 2. every video it changes — the player's public (or suspension-hidden) videos and
//!    the videos the player voted for — in one statement, by id;
//! 3. the players whose rows change (the player and the owners of those videos, whose
//!    totals the triggers adjust), in one statement, by id.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection, PgPool};

use super::audit::{self, Actor, Target};
use crate::moderation::Reason;

/// A player as organizers see it after a suspension or its end.
#[derive(Debug, Clone, FromRow)]
pub struct SuspendedPlayer {
    /// Id.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: String,
    /// City.
    pub city: String,
    /// Since when it is suspended (`None`: not suspended).
    pub suspended_at: Option<DateTime<Utc>>,
    /// Why.
    pub suspended_reason: Option<String>,
}

/// What a suspension (or its end) changed.
#[derive(Debug, Clone)]
pub struct Change {
    /// The player afterwards.
    pub player: SuspendedPlayer,
    /// Videos hidden (suspension) or restored (its end).
    pub videos: i64,
    /// Votes no longer counted (suspension) or counted again (its end).
    pub votes: i64,
}

/// What a suspension request came to.
#[derive(Debug)]
pub enum Suspending {
    /// Done.
    Done(Box<Change>),
    /// No such player.
    NotFound,
    /// Suspended already (for [`suspend`]) or not suspended (for [`unsuspend`]).
    AlreadyInThatState,
}

/// Steps 1–3 of the lock order; answers whether the player is suspended (`None`: no
/// such player). `videos` is the statement that locks, by id, the videos the caller
/// will change.
async fn lock(
    tx: &mut PgConnection,
    id: i64,
    videos: &'static str,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(voter_lock_key($1))")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let ids: Vec<i64> = sqlx::query_scalar(videos)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    let players: Vec<(i64, bool)> = sqlx::query_as(
        "SELECT id, suspended_at IS NOT NULL FROM players
          WHERE id = $1 OR id IN (SELECT owner_id FROM videos WHERE id = ANY ($2))
          ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(players
        .into_iter()
        .find(|(player, _)| *player == id)
        .map(|(_, suspended)| suspended))
}

/// The columns of [`SuspendedPlayer`].
macro_rules! player_columns {
    () => {
        "id, first_name, last_name, email, city, suspended_at, suspended_reason"
    };
}

/// Suspends a player: see the module documentation.
pub async fn suspend(
    db: &PgPool,
    actor: Actor<'_>,
    id: i64,
    reason: &Reason,
) -> Result<Suspending, sqlx::Error> {
    let mut tx = db.begin().await?;
    let videos = "SELECT id FROM videos
                   WHERE (owner_id = $1 AND status = 'public')
                      OR id IN (SELECT video_id FROM votes WHERE player_id = $1 AND counted)
                   ORDER BY id FOR NO KEY UPDATE";
    match lock(&mut tx, id, videos).await? {
        None => return Ok(Suspending::NotFound),
        Some(true) => return Ok(Suspending::AlreadyInThatState),
        Some(false) => {}
    }
    let player: SuspendedPlayer = sqlx::query_as(concat!(
        "UPDATE players SET suspended_at = now(), suspended_reason = $2 WHERE id = $1
         RETURNING ",
        player_columns!()
    ))
    .bind(id)
    .bind(reason.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let hidden = sqlx::query(
        "UPDATE videos
            SET status = 'hidden', hidden_from = 'public', hidden_reason = $2, hidden_at = now(),
                hidden_by_suspension = true, updated_at = now()
          WHERE owner_id = $1 AND status = 'public'",
    )
    .bind(id)
    .bind(reason.for_suspended_owner())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let votes = recount(&mut tx, id, false).await?;
    let videos = i64::try_from(hidden).unwrap_or(i64::MAX);
    audit::record(
        &mut *tx,
        actor,
        "suspend-player",
        Target::Player(id),
        Some(reason.as_str()),
        json!({ "videos_hidden": videos, "votes_uncounted": votes }),
    )
    .await?;
    tx.commit().await?;
    Ok(Suspending::Done(Box::new(Change {
        player,
        videos,
        votes,
    })))
}

/// Lifts a suspension: see the module documentation.
pub async fn unsuspend(db: &PgPool, actor: Actor<'_>, id: i64) -> Result<Suspending, sqlx::Error> {
    let mut tx = db.begin().await?;
    let videos = "SELECT id FROM videos
                   WHERE (owner_id = $1 AND status = 'hidden' AND hidden_by_suspension)
                      OR id IN (SELECT video_id FROM votes WHERE player_id = $1 AND NOT counted)
                   ORDER BY id FOR NO KEY UPDATE";
    match lock(&mut tx, id, videos).await? {
        None => return Ok(Suspending::NotFound),
        Some(false) => return Ok(Suspending::AlreadyInThatState),
        Some(true) => {}
    }
    let previous: Option<String> =
        sqlx::query_scalar("SELECT suspended_reason FROM players WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let player: SuspendedPlayer = sqlx::query_as(concat!(
        "UPDATE players SET suspended_at = NULL, suspended_reason = NULL WHERE id = $1
         RETURNING ",
        player_columns!()
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let restored = sqlx::query(
        "UPDATE videos
            SET status = hidden_from, hidden_from = NULL, hidden_reason = NULL, hidden_at = NULL,
                hidden_by_suspension = false, updated_at = now()
          WHERE owner_id = $1 AND status = 'hidden' AND hidden_by_suspension",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let votes = recount(&mut tx, id, true).await?;
    let videos = i64::try_from(restored).unwrap_or(i64::MAX);
    audit::record(
        &mut *tx,
        actor,
        "unsuspend-player",
        Target::Player(id),
        None,
        json!({ "videos_restored": videos, "votes_counted": votes, "suspended_reason": previous }),
    )
    .await?;
    tx.commit().await?;
    Ok(Suspending::Done(Box::new(Change {
        player,
        videos,
        votes,
    })))
}

/// Marks every vote of the player `counted` (or not) and moves each voted video's
/// `votes_count` by the votes that changed, in one statement; answers how many changed.
async fn recount(tx: &mut PgConnection, player: i64, counted: bool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "WITH changed AS (
             UPDATE votes SET counted = $2 WHERE player_id = $1 AND counted <> $2
             RETURNING video_id
         ), per_video AS (
             SELECT video_id, count(*)::INT AS n FROM changed GROUP BY video_id
         ), moved AS (
             -- Runs although nothing reads it: PostgreSQL runs every data-modifying CTE.
             UPDATE videos v
                SET votes_count = v.votes_count + CASE WHEN $2 THEN d.n ELSE -d.n END
               FROM per_video d
              WHERE v.id = d.video_id
         )
         SELECT count(*) FROM changed",
    )
    .bind(player)
    .bind(counted)
    .fetch_one(&mut *tx)
    .await
}
