//! Resumable uploads a player started and has not finished (`resumable_uploads`).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// The columns of [`PendingUpload`].
macro_rules! columns {
    () => {
        "id, owner_id, title, filename, size_bytes, part_size, parts_count, storage_key,
         backend_upload_id, created_at, expires_at"
    };
}

/// A pending resumable upload.
#[derive(Debug, Clone, FromRow)]
pub struct PendingUpload {
    /// The id clients know it by.
    pub id: Uuid,
    /// Owner (player id).
    pub owner_id: i64,
    /// Title of the video it becomes.
    pub title: String,
    /// The file name the client declared (informational).
    pub filename: String,
    /// Declared size in bytes.
    pub size_bytes: i64,
    /// Size of every part but the last.
    pub part_size: i64,
    /// Number of parts.
    pub parts_count: i32,
    /// The object the parts become.
    pub storage_key: String,
    /// The storage backend's id of the multipart upload.
    pub backend_upload_id: String,
    /// Start.
    pub created_at: DateTime<Utc>,
    /// After this the upload can no longer be used, and the sweep removes it.
    pub expires_at: DateTime<Utc>,
}

impl PendingUpload {
    /// Whether its time is up.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// Records a started upload.
pub async fn insert(db: impl PgExecutor<'_>, upload: &PendingUpload) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO resumable_uploads (id, owner_id, title, filename, size_bytes, part_size,
                                        parts_count, storage_key, backend_upload_id, created_at,
                                        expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(upload.id)
    .bind(upload.owner_id)
    .bind(&upload.title)
    .bind(&upload.filename)
    .bind(upload.size_bytes)
    .bind(upload.part_size)
    .bind(upload.parts_count)
    .bind(&upload.storage_key)
    .bind(&upload.backend_upload_id)
    .bind(upload.created_at)
    .bind(upload.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// One upload by id.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<PendingUpload>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM resumable_uploads WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Unexpired uploads of a player.
pub async fn count_active(db: impl PgExecutor<'_>, owner_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM resumable_uploads WHERE owner_id = $1 AND expires_at > now()",
    )
    .bind(owner_id)
    .fetch_one(db)
    .await
}

/// Removes an upload; `false` when it was already gone.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM resumable_uploads WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Up to `limit` uploads that expired before `before`, oldest first.
pub async fn expired(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<PendingUpload>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM resumable_uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}
