//! Resumable direct uploads: the client sends the file in parts straight to storage
//! (S3 presigned `UploadPart` URLs, or a signed route of the web service with the local
//! store), can ask at any time which parts are stored, and completes the upload, which
//! then goes through the same [`accept`](super::accept) process as a classic upload.
//!
//! The state of an unfinished upload is a row of `resumable_uploads` and the backend's
//! multipart upload. Every part but the last is [`PART_SIZE`] bytes (S3's minimum), so
//! a 100 MB file is 20 parts. An upload expires [`UploadLimits::resumable_ttl`] after
//! its start; [`sweep`] removes expired ones (parts, an assembled object not yet
//! recorded, the row) and S3's lifecycle rule `AbortIncompleteMultipartUpload` catches
//! any multipart upload the sweep could not reach.
//!
//! [`UploadLimits::resumable_ttl`]: crate::config::UploadLimits::resumable_ttl

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use uuid::Uuid;

mod error;
mod sweep;

pub use self::{error::ResumableError, sweep::sweep};
use super::{Created, Ingest, Rejection, Source, accept};
use crate::{
    db::{self, uploads::PendingUpload},
    domain::{self, FieldError},
    inflight::UploadSlots,
    storage::{
        MultipartRef, PartTarget, StorageError, StoredPart, UPLOADED_PREFIX,
        local::{LocalStore, PartWriteError},
        multipart::{MIN_PART_SIZE, bare_etag},
    },
};

/// Size of every part but the last.
pub const PART_SIZE: u64 = MIN_PART_SIZE;

/// Longest file name kept.
pub const MAX_FILENAME_CHARS: usize = 255;

/// Declared content types that may be an MP4: what browsers and phones report for one
/// (or nothing, or a generic type, when they do not know). The bytes decide in the end.
const CONTENT_TYPES: &[&str] = &[
    "video/mp4",
    "video/quicktime",
    "video/x-m4v",
    "application/mp4",
    "application/octet-stream",
    "",
];

/// A resumable upload as the client declares it.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Title of the video.
    pub title: String,
    /// The file's name (kept for the player; the bytes decide what it is).
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// The type the client reports.
    pub content_type: String,
}

/// A started upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The id to use in every later call.
    pub upload_id: Uuid,
    /// Bytes of every part but the last.
    pub part_size: u64,
    /// Number of parts.
    pub parts_count: u32,
    /// The upload can be used until then.
    pub expires_at: DateTime<Utc>,
}

/// A part as the client names it when completing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPart {
    /// 1-based part number.
    pub part_number: u32,
    /// The ETag storage answered the part's PUT with.
    pub etag: String,
}

fn unix(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or(0)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Bytes of part `part_number` (1-based) of an upload.
fn part_len(upload: &PendingUpload, part_number: u32) -> u64 {
    let size = u64::try_from(upload.size_bytes).unwrap_or(0);
    let part_size = u64::try_from(upload.part_size).unwrap_or(PART_SIZE);
    let start = part_size * u64::from(part_number - 1);
    part_size.min(size.saturating_sub(start))
}

fn parts_count(upload: &PendingUpload) -> u32 {
    u32::try_from(upload.parts_count).unwrap_or(0)
}

fn names(upload: &PendingUpload, public_id: &str) -> (String, String, String) {
    (
        upload.storage_key.clone(),
        upload.backend_upload_id.clone(),
        public_id.to_owned(),
    )
}

/// Checks a declaration: the same title rules as the classic upload (`422`), then the
/// size and type rules (`400`).
fn check(ctx: Ingest<'_>, new: &NewUpload) -> Result<(), ResumableError> {
    let mut errors = Vec::new();
    domain::check_title(&new.title, &mut errors);
    domain::check_text("filename", &new.filename, MAX_FILENAME_CHARS, &mut errors);
    if domain::has_control(&new.content_type) {
        errors.push(FieldError {
            field: "content_type",
            message: "content_type must not contain control characters".into(),
        });
    } else if new.content_type.chars().count() > MAX_FILENAME_CHARS {
        errors.push(FieldError {
            field: "content_type",
            message: format!("content_type must be at most {MAX_FILENAME_CHARS} characters"),
        });
    }
    if !errors.is_empty() {
        return Err(ResumableError::Invalid(errors));
    }
    if new.size == 0 {
        return Err(ResumableError::Rejected(Rejection::Empty));
    }
    if new.size > ctx.limits.max_bytes {
        return Err(ResumableError::Rejected(Rejection::TooLarge {
            limit: ctx.limits.max_bytes,
        }));
    }
    let essence = new.content_type.split(';').next().unwrap_or("").trim();
    if !CONTENT_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence))
    {
        return Err(ResumableError::Rejected(Rejection::NotMp4));
    }
    Ok(())
}

/// Starts an upload for `owner`: a multipart upload in storage and its row.
pub async fn start(ctx: Ingest<'_>, owner: i64, new: NewUpload) -> Result<Started, ResumableError> {
    check(ctx, &new)?;
    let limit = ctx.limits.max_pending_per_player;
    let pending = db::uploads::count_active(ctx.db, owner).await?;
    if usize::try_from(pending).unwrap_or(usize::MAX) >= limit {
        return Err(ResumableError::TooManyPending { limit });
    }
    let parts_count = new.size.div_ceil(PART_SIZE);
    let key = format!("{UPLOADED_PREFIX}{}.mp4", Uuid::now_v7());
    let backend_id = ctx.storage.create_multipart(&key, "video/mp4").await?;
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(ctx.limits.resumable_ttl)
        .unwrap_or_else(|_| chrono::Duration::days(1));
    let upload = PendingUpload {
        id: Uuid::new_v4(),
        owner_id: owner,
        title: new.title.trim().to_owned(),
        filename: new.filename.trim().to_owned(),
        size_bytes: i64::try_from(new.size).unwrap_or(i64::MAX),
        part_size: i64::try_from(PART_SIZE).unwrap_or(i64::MAX),
        parts_count: i32::try_from(parts_count).unwrap_or(i32::MAX),
        storage_key: key,
        backend_upload_id: backend_id,
        created_at: now,
        // Whole seconds, so the signed URLs and the row agree on the instant.
        expires_at: DateTime::from_timestamp((now + ttl).timestamp(), 0).unwrap_or(now + ttl),
    };
    if let Err(e) = db::uploads::insert(ctx.db, &upload).await {
        let public_id = upload.id.to_string();
        let names = MultipartRef {
            key: &upload.storage_key,
            backend_id: &upload.backend_upload_id,
            public_id: &public_id,
        };
        if let Err(abort) = ctx.storage.abort_multipart(&names).await {
            tracing::warn!(error = %abort, "could not abort an unrecorded multipart upload");
        }
        return Err(e.into());
    }
    tracing::info!(upload.id = %upload.id, size_bytes = upload.size_bytes, parts = parts_count, "resumable upload started");
    Ok(Started {
        upload_id: upload.id,
        part_size: PART_SIZE,
        parts_count: u32::try_from(parts_count).unwrap_or(u32::MAX),
        expires_at: upload.expires_at,
    })
}

/// The upload `id` if `owner` has it and it has not expired.
async fn find(ctx: Ingest<'_>, owner: i64, id: Uuid) -> Result<PendingUpload, ResumableError> {
    let upload = db::uploads::find(ctx.db, id)
        .await?
        .filter(|u| u.owner_id == owner)
        .ok_or(ResumableError::NotFound)?;
    if upload.is_expired(Utc::now()) {
        return Err(ResumableError::Expired(upload.expires_at));
    }
    Ok(upload)
}

fn in_range(upload: &PendingUpload, part_number: u32) -> Result<(), ResumableError> {
    let parts_count = parts_count(upload);
    if part_number == 0 || part_number > parts_count {
        return Err(ResumableError::PartOutOfRange {
            part_number,
            parts_count,
        });
    }
    Ok(())
}

/// Where `owner` sends part `part_number` of upload `id`; the URL is valid for the
/// storage's presign expiry, and never past the upload's expiry.
pub async fn part_target(
    ctx: Ingest<'_>,
    owner: i64,
    id: Uuid,
    part_number: u32,
    url_ttl: Duration,
) -> Result<PartTarget, ResumableError> {
    let upload = find(ctx, owner, id).await?;
    in_range(&upload, part_number)?;
    let expires = (now_unix() + url_ttl.as_secs()).min(unix(upload.expires_at));
    let (key, backend_id, public_id) = names(&upload, &id.to_string());
    let names = MultipartRef {
        key: &key,
        backend_id: &backend_id,
        public_id: &public_id,
    };
    Ok(ctx
        .storage
        .part_target(&names, part_number, expires)
        .await?)
}

/// The parts of upload `id` stored so far.
pub async fn parts(
    ctx: Ingest<'_>,
    owner: i64,
    id: Uuid,
) -> Result<Vec<StoredPart>, ResumableError> {
    let upload = find(ctx, owner, id).await?;
    let (key, backend_id, public_id) = names(&upload, &id.to_string());
    let names = MultipartRef {
        key: &key,
        backend_id: &backend_id,
        public_id: &public_id,
    };
    match ctx.storage.list_parts(&names).await {
        Ok(parts) => Ok(parts),
        // Assembled by an earlier completion that then failed: nothing is pending.
        Err(StorageError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Receives part `part_number` of upload `id` for the local store, streaming `body` to
/// disk, cut off as soon as it is longer than the part can be. The signed URL is the
/// authorisation; the owner's upload slot is held while the bytes arrive.
pub async fn receive_part<S, E>(
    ctx: Ingest<'_>,
    local: &LocalStore,
    slots: &UploadSlots,
    id: Uuid,
    part_number: u32,
    body: S,
) -> Result<StoredPart, ResumableError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let upload = db::uploads::find(ctx.db, id)
        .await?
        .ok_or(ResumableError::NotFound)?;
    if upload.is_expired(Utc::now()) {
        return Err(ResumableError::Expired(upload.expires_at));
    }
    in_range(&upload, part_number)?;
    let _slot = slots.try_acquire(upload.owner_id)?;
    let limit = part_len(&upload, part_number);
    local
        .put_part(&upload.backend_upload_id, part_number, limit, body)
        .await
        .map_err(|e| match e {
            PartWriteError::TooLarge { limit } => {
                ResumableError::PartTooLarge { part_number, limit }
            }
            PartWriteError::Body(why) => ResumableError::PartBody(why),
            PartWriteError::Storage(StorageError::NotFound(_)) => ResumableError::NotFound,
            PartWriteError::Storage(e) => ResumableError::Storage(e),
        })
}

/// Checks the client's list against the stored parts: every part named once, in range,
/// stored with that ETag, each of its size.
fn match_parts(
    upload: &PendingUpload,
    claimed: &[ClaimedPart],
    stored: &[StoredPart],
) -> Result<Vec<StoredPart>, ResumableError> {
    let count = parts_count(upload);
    for part in claimed {
        in_range(upload, part.part_number)?;
    }
    let mut numbers: Vec<u32> = claimed.iter().map(|p| p.part_number).collect();
    numbers.sort_unstable();
    if numbers.windows(2).any(|w| w[0] == w[1]) {
        return Err(ResumableError::PartsMismatch(
            "a part number is listed twice".into(),
        ));
    }
    let missing: Vec<u32> = (1..=count)
        .filter(|n| {
            numbers.binary_search(n).is_err() || !stored.iter().any(|s| s.part_number == *n)
        })
        .collect();
    if !missing.is_empty() {
        return Err(ResumableError::PartsMissing(missing));
    }
    let mut chosen = Vec::with_capacity(claimed.len());
    for n in 1..=count {
        let claim = claimed.iter().find(|p| p.part_number == n);
        let held = stored.iter().find(|s| s.part_number == n);
        let (Some(claim), Some(held)) = (claim, held) else {
            return Err(ResumableError::PartsMissing(vec![n]));
        };
        if bare_etag(&claim.etag) != bare_etag(&held.etag) {
            return Err(ResumableError::PartsMismatch(format!(
                "part {n} has ETag {} in storage, not {}",
                held.etag, claim.etag
            )));
        }
        chosen.push(held.clone());
    }
    let declared = u64::try_from(upload.size_bytes).unwrap_or(0);
    let stored_bytes: u64 = chosen.iter().map(|p| p.size).sum();
    let sizes_fit = chosen
        .iter()
        .all(|p| p.size == part_len(upload, p.part_number));
    if stored_bytes != declared || !sizes_fit {
        return Err(ResumableError::SizeMismatch {
            declared,
            stored: stored_bytes,
        });
    }
    Ok(chosen)
}

/// Completes upload `id`: checks the parts, assembles them into the object, and runs the
/// accept process on it. A rejected file leaves no object, no row, no job, no parts.
pub async fn complete(
    ctx: Ingest<'_>,
    owner: i64,
    id: Uuid,
    claimed: &[ClaimedPart],
) -> Result<Created, ResumableError> {
    let upload = find(ctx, owner, id).await?;
    let (key, backend_id, public_id) = names(&upload, &id.to_string());
    let names = MultipartRef {
        key: &key,
        backend_id: &backend_id,
        public_id: &public_id,
    };
    // An object under the key is an earlier completion's whose accept failed for a
    // reason that was not the file's: adopt it again.
    if !ctx.storage.exists(&key).await? {
        let stored = match ctx.storage.list_parts(&names).await {
            Ok(stored) => stored,
            Err(StorageError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let chosen = match_parts(&upload, claimed, &stored)?;
        ctx.storage.complete_multipart(&names, &chosen).await?;
        let assembled = ctx.storage.size(&key).await?;
        let declared = u64::try_from(upload.size_bytes).unwrap_or(0);
        if assembled != declared {
            discard(ctx, &upload).await;
            return Err(ResumableError::SizeMismatch {
                declared,
                stored: assembled,
            });
        }
    }
    let source = Source::Stored {
        key: &key,
        upload: id,
    };
    Ok(accept(ctx, owner, &upload.title, source).await?)
}

/// Aborts upload `id` of `owner` (expired or not): its parts, any assembled object and
/// its row are removed.
pub async fn abort(ctx: Ingest<'_>, owner: i64, id: Uuid) -> Result<(), ResumableError> {
    let upload = db::uploads::find(ctx.db, id)
        .await?
        .filter(|u| u.owner_id == owner)
        .ok_or(ResumableError::NotFound)?;
    remove(ctx, &upload).await?;
    db::uploads::delete(ctx.db, id).await?;
    Ok(())
}

pub(super) async fn remove(ctx: Ingest<'_>, upload: &PendingUpload) -> Result<(), StorageError> {
    let public_id = upload.id.to_string();
    let names = MultipartRef {
        key: &upload.storage_key,
        backend_id: &upload.backend_upload_id,
        public_id: &public_id,
    };
    ctx.storage.abort_multipart(&names).await?;
    // A pending row never shares its object with a video (see `accept`), so an object
    // under its key is an assembled upload nobody recorded.
    ctx.storage.delete(&upload.storage_key).await
}

/// Removes a spent upload, logging what could not be removed.
async fn discard(ctx: Ingest<'_>, upload: &PendingUpload) {
    if let Err(e) = remove(ctx, upload).await {
        tracing::error!(error = %e, upload.id = %upload.id, "could not remove a spent upload");
    }
    if let Err(e) = db::uploads::delete(ctx.db, upload.id).await {
        tracing::error!(error = %e, upload.id = %upload.id, "could not remove a spent upload's row");
    }
}
