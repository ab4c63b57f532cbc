//! Videos and their processing state.
//!
//! The worker's state changes are guarded by `claimed_by`: only the worker holding
//! the claim can move a video forward, so a job that runs twice (at-least-once
//! delivery) applies its effect once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::{Page, VideoStatus};

/// The columns of [`Video`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, owner_id, title, status, task_id, original_key, processed_key, thumbnail_key, preview_key, size_bytes,
         source_duration_secs, source_width, source_height, error, attempts, progress, votes_count,
         views_count, claimed_by, heartbeat_at, uploaded_at, processed_at, published_at, updated_at, hidden_reason"
    };
}

/// A video row.
#[derive(Debug, Clone, FromRow)]
pub struct Video {
    /// Id.
    pub id: i64,
    /// Owner (player id).
    pub owner_id: i64,
    /// Title.
    pub title: String,
    /// One of the six states (see [`Video::status`]).
    pub status: String,
    /// Id of the processing job.
    pub task_id: Uuid,
    /// Storage key of the original.
    pub original_key: String,
    /// Storage key of the result, once processed.
    pub processed_key: Option<String>,
    /// Storage key of the poster (JPEG), once processed.
    pub thumbnail_key: Option<String>,
    /// Storage key of the hover preview (silent MP4), once processed.
    pub preview_key: Option<String>,
    /// Size of the original.
    pub size_bytes: i64,
    /// Duration of the original.
    pub source_duration_secs: f64,
    /// Width of the original (display orientation).
    pub source_width: i32,
    /// Height of the original (display orientation).
    pub source_height: i32,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Attempts started so far.
    pub attempts: i32,
    /// Progress of the running attempt, percent.
    pub progress: Option<f32>,
    /// Votes received.
    pub votes_count: i32,
    /// Views (deduplicated per viewer and hour, [`super::views`]).
    pub views_count: i64,
    /// Worker holding the video while `processing`.
    pub claimed_by: Option<String>,
    /// Last sign of life of that worker.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Processing end.
    pub processed_at: Option<DateTime<Utc>>,
    /// Publication time.
    pub published_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Why an organizer hid it (status `hidden`).
    pub hidden_reason: Option<String>,
}

impl Video {
    /// The typed status (the database constrains it to the six states).
    pub fn status(&self) -> VideoStatus {
        self.status.parse().unwrap_or(VideoStatus::Failed)
    }

    /// Every stored object of the video (original, processed video, poster, preview):
    /// what deleting it must remove.
    pub fn stored_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.original_key.as_str()).chain(
            [&self.processed_key, &self.thumbnail_key, &self.preview_key]
                .into_iter()
                .filter_map(|k| k.as_deref()),
        )
    }
}

/// Storage keys of what processing stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedKeys {
    /// The processed video.
    pub processed: String,
    /// Its poster.
    pub thumbnail: String,
    /// Its hover preview.
    pub preview: String,
}

impl ProcessedKeys {
    /// The three keys.
    pub fn all(&self) -> [&str; 3] {
        [&self.processed, &self.thumbnail, &self.preview]
    }
}

/// A validated upload about to be recorded.
#[derive(Debug, Clone)]
pub struct NewVideo {
    /// Owner.
    pub owner_id: i64,
    /// Title (1–255 characters).
    pub title: String,
    /// Job id.
    pub task_id: Uuid,
    /// Storage key of the original.
    pub original_key: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Seconds.
    pub duration_secs: f64,
    /// Display width.
    pub width: i32,
    /// Display height.
    pub height: i32,
}

/// Records an upload in state `uploaded`.
pub async fn insert(db: impl PgExecutor<'_>, new: &NewVideo) -> Result<Video, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO videos (owner_id, title, task_id, original_key, size_bytes,
                             source_duration_secs, source_width, source_height)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
        columns!(),
        ""
    ))
    .bind(new.owner_id)
    .bind(&new.title)
    .bind(new.task_id)
    .bind(&new.original_key)
    .bind(new.size_bytes)
    .bind(new.duration_secs)
    .bind(new.width)
    .bind(new.height)
    .fetch_one(db)
    .await
}

/// One video by id.
pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Video>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM videos WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A player's videos, newest first.
pub async fn list_by_owner(
    db: impl PgExecutor<'_>,
    owner_id: i64,
) -> Result<Vec<Video>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM videos WHERE owner_id = $1 ORDER BY uploaded_at DESC, id DESC"
    ))
    .bind(owner_id)
    .fetch_all(db)
    .await
}

/// What a publication request came to.
#[derive(Debug)]
pub enum Publication {
    /// The video is public now.
    Published(Box<Video>),
    /// The video is not in state `processed`; its status when read again.
    NotProcessed(VideoStatus),
    /// There is no such video (a concurrent request may just have deleted it).
    Gone,
}

/// Publishes a processed video. The update is conditional, so of two concurrent
/// requests one wins; when it changes nothing the row is read again, so the caller
/// learns what happened instead: a video deleted meanwhile is [`Publication::Gone`].
///
/// The owner's suspension bucket is held shared first (`voter_lock_key`, as a vote
/// batch holds it), so a publication and a suspension of the owner are serialized: a
/// suspension that committed first is seen (the owner's video stays unpublished), one
/// that comes later finds the video public and hides it.
pub async fn publish(db: &PgPool, id: i64) -> Result<Publication, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock_shared(voter_lock_key(owner_id)) FROM videos WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let published: Option<Video> = sqlx::query_as(concat!(
        "UPDATE videos v SET status = 'public', published_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'processed'
            AND NOT EXISTS (SELECT 1 FROM players p
                             WHERE p.id = v.owner_id AND p.suspended_at IS NOT NULL)
          RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    if let Some(video) = published {
        return Ok(Publication::Published(Box::new(video)));
    }
    Ok(match find(db, id).await? {
        Some(video) => Publication::NotProcessed(video.status()),
        None => Publication::Gone,
    })
}

/// What a deletion request came to.
#[derive(Debug)]
pub enum Deletion {
    /// The row is gone; its stored objects are the caller's to remove.
    Deleted(Box<Video>),
    /// The video is public: it holds votes and stays.
    Public,
    /// There is no such video (a concurrent request may just have deleted it).
    Gone,
}

/// Deletes a video unless it is public, telling apart "public" from "already gone"
/// when nothing was deleted (a row still there is public: only a publication or an
/// organizer's restore can have made it so meanwhile).
pub async fn delete_unless_public(db: &PgPool, id: i64) -> Result<Deletion, sqlx::Error> {
    if let Some(video) = delete_unpublished(db, id).await? {
        return Ok(Deletion::Deleted(Box::new(video)));
    }
    Ok(match find(db, id).await? {
        Some(_) => Deletion::Public,
        None => Deletion::Gone,
    })
}

/// Deletes a video that is not public; `None` when it is public (or gone).
pub async fn delete_unpublished(
    db: impl PgExecutor<'_>,
    id: i64,
) -> Result<Option<Video>, sqlx::Error> {
    sqlx::query_as(concat!(
        "DELETE FROM videos WHERE id = $1 AND status <> 'public' RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A public video with its owner, for the public list.
#[derive(Debug, Clone, FromRow)]
pub struct PublicVideo {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Storage key of the processed file.
    pub processed_key: Option<String>,
    /// Storage key of the poster.
    pub thumbnail_key: Option<String>,
    /// Storage key of the hover preview.
    pub preview_key: Option<String>,
    /// Owner's first name.
    pub first_name: String,
    /// Owner's last name.
    pub last_name: String,
    /// Owner's city.
    pub city: String,
    /// Votes.
    pub votes_count: i32,
    /// Views.
    pub views_count: i64,
}

/// Public videos, newest first, filtered by the owner's city (case-insensitive) and
/// a title substring (case-insensitive, matched literally).
pub async fn list_public(
    db: impl PgExecutor<'_>,
    page: Page,
    city: Option<&str>,
    query: Option<&str>,
) -> Result<Vec<PublicVideo>, sqlx::Error> {
    let pattern = query.map(|q| format!("%{}%", super::escape_like(&q.trim().to_lowercase())));
    sqlx::query_as(
        "SELECT v.id, v.title, v.uploaded_at, v.processed_key, v.thumbnail_key, v.preview_key,
                p.first_name, p.last_name, p.city, v.votes_count, v.views_count
           FROM videos v JOIN players p ON p.id = v.owner_id
          WHERE v.status = 'public'
            AND ($1::TEXT IS NULL OR lower(p.city) = lower($1))
            AND ($2::TEXT IS NULL OR lower(v.title) LIKE $2)
          ORDER BY v.uploaded_at DESC, v.id DESC
          LIMIT $3 OFFSET $4",
    )
    .bind(city.map(str::trim))
    .bind(pattern)
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(db)
    .await
}

/// Claims a video for processing: moves it to `processing`, counts an attempt and
/// records the worker. Succeeds only from `uploaded`, or from a `processing` claim
/// whose heartbeat is older than `lease` (its worker died). `None` means
/// "someone else has it, or there is nothing to do".
pub async fn claim(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    lease: Duration,
) -> Result<Option<Video>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE videos
            SET status = 'processing', attempts = attempts + 1, claimed_by = $2,
                heartbeat_at = now(), progress = 0, updated_at = now()
          WHERE id = $1
            AND (status = 'uploaded'
                 OR (status = 'processing'
                     AND (claimed_by = $2 OR heartbeat_at IS NULL
                          OR heartbeat_at < now() - make_interval(secs => $3))))
          RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await
}

/// Records progress and a heartbeat; `false` when the claim was lost (video deleted
/// or taken over), in which case the worker must stop and discard its output.
pub async fn heartbeat(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    progress: f32,
) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE videos SET progress = $3, heartbeat_at = now()
          WHERE id = $1 AND status = 'processing' AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(progress.clamp(0.0, 100.0))
    .execute(db)
    .await?
    .rows_affected();
    Ok(rows == 1)
}

/// Marks the claimed video `processed` with its stored outputs; `false` when the claim
/// was lost.
pub async fn mark_processed(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    keys: &ProcessedKeys,
) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE videos
            SET status = 'processed', processed_key = $3, thumbnail_key = $4, preview_key = $5,
                processed_at = now(), progress = 100,
                error = NULL, claimed_by = NULL, heartbeat_at = NULL, updated_at = now()
          WHERE id = $1 AND status = 'processing' AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(&keys.processed)
    .bind(&keys.thumbnail)
    .bind(&keys.preview)
    .execute(db)
    .await?
    .rows_affected();
    Ok(rows == 1)
}

/// Hands a claimed video back to the queue state `uploaded`, keeping `error` as the
/// reason of the failed attempt (retry pending, or a worker shutting down).
pub async fn release(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE videos
            SET status = 'uploaded', error = COALESCE($3, error), progress = NULL,
                claimed_by = NULL, heartbeat_at = NULL, updated_at = now()
          WHERE id = $1 AND status = 'processing' AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .execute(db)
    .await?
    .rows_affected();
    Ok(rows == 1)
}

/// Marks the claimed video `failed` with a readable reason.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE videos
            SET status = 'failed', error = $3, progress = NULL, claimed_by = NULL,
                heartbeat_at = NULL, updated_at = now()
          WHERE id = $1 AND status = 'processing' AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .execute(db)
    .await?
    .rows_affected();
    Ok(rows == 1)
}

/// Videos that may have lost their job: `uploaded` and untouched for `grace` (the web
/// inserts the row a moment before it enqueues), or `processing` without a heartbeat
/// for `lease`. Whether their job really is lost is the queue's to say
/// (`JobQueue::without_job`); nothing is changed here.
pub async fn lost_candidates(
    db: impl PgExecutor<'_>,
    grace: Duration,
    lease: Duration,
    limit: i64,
) -> Result<Vec<(i64, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, task_id FROM videos
          WHERE status IN ('uploaded', 'processing')
            AND ((status = 'uploaded' AND updated_at < now() - make_interval(secs => $1))
                 OR (status = 'processing'
                     AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2))))
          ORDER BY updated_at
          LIMIT $3",
    )
    .bind(grace.as_secs_f64())
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Of `ids`, those still matching [`lost_candidates`]' rule (re-checked after the
/// queue was asked, so a job that finished in between is not run again).
pub async fn still_lost(
    db: impl PgExecutor<'_>,
    ids: &[i64],
    grace: Duration,
    lease: Duration,
) -> Result<Vec<(i64, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, task_id FROM videos
          WHERE id = ANY($3)
            AND ((status = 'uploaded' AND updated_at < now() - make_interval(secs => $1))
                 OR (status = 'processing'
                     AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2))))
          ORDER BY updated_at",
    )
    .bind(grace.as_secs_f64())
    .bind(lease.as_secs_f64())
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Number of videos per status (metrics, tests).
pub async fn count_by_status(
    db: impl PgExecutor<'_>,
    status: VideoStatus,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM videos WHERE status = $1")
        .bind(status.as_str())
        .fetch_one(db)
        .await
}
