//! The accept process: inspect → store (or adopt) → record → enqueue.

use std::path::Path;

use sqlx::PgPool;
use uuid::Uuid;

use super::{InspectError, Rejection, inspect::Inspectable};
use crate::{
    config::{MediaConfig, UploadLimits},
    db::{self, videos::NewVideo},
    media::MediaError,
    queue::{JobQueue, ProcessVideo, QueueError},
    storage::{ObjectStore, StorageError, UPLOADED_PREFIX},
};

/// What the accept process works with: the backends and the rules.
#[derive(Clone, Copy)]
pub struct Ingest<'a> {
    /// PostgreSQL.
    pub db: &'a PgPool,
    /// Object storage.
    pub storage: &'a dyn ObjectStore,
    /// The job queue.
    pub queue: &'a JobQueue,
    /// ffprobe and temporary files.
    pub media: &'a MediaConfig,
    /// What an upload must be.
    pub limits: &'a UploadLimits,
}

/// Where the bytes of an upload are.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A file this process spooled (the classic upload); stored under a new key once it
    /// passed inspection.
    Spooled {
        /// The spool file.
        path: &'a Path,
        /// Its first bytes ([`super::HEAD_BYTES`]).
        head: &'a [u8],
        /// Its size.
        size: u64,
    },
    /// An object already in storage (an assembled resumable upload), adopted where it
    /// lies. Recording it consumes the pending upload `upload`, in the same transaction.
    Stored {
        /// The object.
        key: &'a str,
        /// The pending resumable upload it was assembled from.
        upload: Uuid,
    },
}

/// A video that got in: recorded and queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The new video.
    pub video_id: i64,
    /// Its processing job.
    pub task_id: Uuid,
}

/// Why an upload did not get in. Only [`AcceptError::Rejected`] is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The file breaks a rule (`400`); nothing is left of it.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The file could not be inspected for a reason that is not its own (`503`).
    #[error("the upload could not be inspected: {0}")]
    Inspect(MediaError),
    /// Storage failed (`503`).
    #[error("storage unavailable: {0}")]
    Storage(#[from] StorageError),
    /// PostgreSQL failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The job queue failed (`503`); the video was not recorded.
    #[error("job queue unavailable: {0}")]
    Queue(#[from] QueueError),
    /// The pending upload was consumed meanwhile (completed by a concurrent request, or
    /// swept after it expired).
    #[error("the upload no longer exists")]
    UploadGone,
}

impl From<InspectError> for AcceptError {
    fn from(err: InspectError) -> Self {
        match err {
            InspectError::Rejected(rejection) => Self::Rejected(rejection),
            InspectError::Media(e) => Self::Inspect(e),
            InspectError::Storage(e) => Self::Storage(e),
        }
    }
}

impl AcceptError {
    /// Whether the client caused it (and retrying the same bytes will fail again).
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::Rejected(_) | Self::UploadGone)
    }
}

/// Runs the accept process for an upload of `owner` titled `title` (already checked
/// against the title rules). On any failure nothing of it is left — no object, no row,
/// no job — except that an adopted object whose inspection or recording failed for a
/// reason that is not its own stays where it is with its pending upload, so the client
/// can complete again.
pub async fn accept(
    ctx: Ingest<'_>,
    owner: i64,
    title: &str,
    source: Source<'_>,
) -> Result<Created, AcceptError> {
    let (key, size, accepted) = match source {
        Source::Spooled { path, head, size } => {
            let upload = Inspectable::File { path, head, size };
            let accepted = super::inspect(ctx.media, ctx.limits, upload).await?;
            let key = format!("{UPLOADED_PREFIX}{}.mp4", Uuid::now_v7());
            ctx.storage.put_file(&key, path, "video/mp4").await?;
            (key, size, accepted)
        }
        Source::Stored { key, upload } => {
            let size = ctx.storage.size(key).await?;
            let stored = Inspectable::Stored {
                storage: ctx.storage,
                key,
                size,
            };
            match super::inspect(ctx.media, ctx.limits, stored).await {
                Ok(accepted) => (key.to_owned(), size, accepted),
                Err(InspectError::Rejected(rejection)) => {
                    // The upload is spent: its bytes break a rule.
                    remove_object(ctx, key).await;
                    db::uploads::delete(ctx.db, upload).await?;
                    return Err(rejection.into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let new = NewVideo {
        owner_id: owner,
        title: title.to_owned(),
        task_id: Uuid::new_v4(),
        original_key: key.clone(),
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        duration_secs: accepted.probe.duration_secs,
        width: i32::try_from(accepted.width).unwrap_or(i32::MAX),
        height: i32::try_from(accepted.height).unwrap_or(i32::MAX),
    };
    let video = match record(ctx, &new, source).await {
        Ok(video) => video,
        Err(e) => {
            // An adopted object stays with its pending upload for another try (or, when
            // the upload is gone, with whoever consumed it).
            if matches!(source, Source::Spooled { .. }) {
                remove_object(ctx, &key).await;
            }
            return Err(e);
        }
    };
    let job = ProcessVideo {
        video_id: video.id,
        task_id: video.task_id,
    };
    if let Err(e) = ctx.queue.enqueue(job).await {
        // Without a job the row would wait for the reconciler; the contract is
        // all-or-nothing, so undo both.
        if let Err(db_err) = db::videos::delete_unpublished(ctx.db, video.id).await {
            tracing::error!(error = %db_err, video.id = video.id, "could not undo a video row");
        }
        remove_object(ctx, &key).await;
        return Err(e.into());
    }
    tracing::info!(video.id = video.id, task.id = %video.task_id, size_bytes = new.size_bytes, "video uploaded");
    Ok(Created {
        video_id: video.id,
        task_id: video.task_id,
    })
}

/// Inserts the video row; for an adopted object, consumes its pending upload in the same
/// transaction, so a pending upload (which the sweep may remove with its object) and a
/// video never share an object.
async fn record(
    ctx: Ingest<'_>,
    new: &NewVideo,
    source: Source<'_>,
) -> Result<db::videos::Video, AcceptError> {
    match source {
        Source::Spooled { .. } => Ok(db::videos::insert(ctx.db, new).await?),
        Source::Stored { upload, .. } => {
            let mut tx = ctx.db.begin().await?;
            if !db::uploads::delete(&mut *tx, upload).await? {
                return Err(AcceptError::UploadGone);
            }
            let video = db::videos::insert(&mut *tx, new).await?;
            tx.commit().await?;
            Ok(video)
        }
    }
}

async fn remove_object(ctx: Ingest<'_>, key: &str) {
    if let Err(e) = ctx.storage.delete(key).await {
        tracing::error!(error = %e, storage.key = key, "could not remove an orphaned upload");
    }
}
