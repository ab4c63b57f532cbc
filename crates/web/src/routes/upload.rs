//! `POST /api/videos/upload`: admit, spool, then the shared accept process
//! ([`ingest::accept`]: inspect, store, record, enqueue).
//!
//! An upload is admitted before a byte of its body is read, within the per-process and
//! per-player limits of uploads in flight ([`skillreel_shared::inflight`]), and holds its
//! slot until it is answered. The file field is streamed chunk by chunk into a temporary
//! file (memory stays at a few chunks per upload whatever the size) and cut off as soon
//! as it crosses the limit; the title is read chunk by chunk too and refused as soon as it
//! is longer than any valid title can be. A body that goes silent for `UPLOAD_IDLE_SECS`,
//! or is still arriving after `UPLOAD_MAX_SECS`, is cut off with `408`.
//!
//! Nothing is left behind on any failure: the temporary file is removed on drop, and the
//! accept process undoes its earlier steps when a later one fails. Its name carries this process's pid
//! and start time ([`ingest::spool_file`]), so that if the process is killed mid-upload
//! the next web process to start removes it.

use std::path::Path;

use axum::{
    Json,
    extract::{
        State,
        multipart::{Field, MultipartError},
    },
    http::StatusCode,
};
use serde::Serialize;
use skillreel_shared::{
    domain::{self, FieldError},
    inflight,
    ingest::{self, AcceptError, Created, Ingest, Rejection, Source},
};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::{
    body::BodyTimer,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{CurrentPlayer, Multipart, UploadsOpen},
    state::AppState,
};

/// Answer to an accepted upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    /// Confirmation.
    pub message: &'static str,
    /// Job id.
    pub task_id: String,
    /// The new video.
    pub video_id: i64,
}

/// Form fields of an upload (documentation only; the handler streams them).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The MP4 file (≤ 100 MB, 20–60 s, shorter side ≥ 1080 px).
    #[schema(value_type = String, format = Binary)]
    video_file: Vec<u8>,
    /// Title, 1–255 characters (not blank), no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    title: String,
}

struct Spooled {
    file: tempfile::TempPath,
    head: Vec<u8>,
    size: u64,
}

fn too_large(limit: u64) -> ApiError {
    Rejection::TooLarge { limit }.into()
}

impl From<Created> for UploadResponse {
    fn from(created: Created) -> Self {
        Self {
            message: "Video subido exitosamente. Tarea creada.",
            task_id: created.task_id.to_string(),
            video_id: created.video_id,
        }
    }
}

/// The accept process over this instance's backends and rules.
pub fn ingest(state: &AppState) -> Ingest<'_> {
    Ingest {
        db: &state.db,
        storage: state.storage.as_ref(),
        queue: &state.queue,
        media: &state.config.media,
        limits: &state.config.upload,
    }
}

fn multipart_error(e: &MultipartError, limit: u64, timer: &BodyTimer) -> ApiError {
    if let Some(timeout) = timer.fired() {
        timeout.into()
    } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::BadRequest(
            "bad-multipart",
            format!("could not read the upload: {}", e.body_text()),
        )
    }
}

/// Uploads a video for processing.
#[utoipa::path(post, path = "/api/videos/upload", tag = "videos", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "stored and queued for processing", body = UploadResponse),
              (status = 400, description = "not an MP4, corrupt, out of limits, empty or too large, or a malformed multipart body", body = ErrorBody),
              (status = 403, description = "uploads have closed (`uploads-closed`: nothing is read or stored), or the account is suspended (`account-suspended`)", body = ErrorBody),
              (status = 408, description = "the body stopped arriving (idle too long)", body = ErrorBody),
              (status = 415, description = "not a multipart/form-data body", body = ErrorBody),
              (status = 422, description = "missing video_file or title, blank or over-long title, control characters in it", body = ErrorBody),
              (status = 503, description = "uploads busy on this instance, or storage, database or queue unavailable", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    _open: UploadsOpen,
    Multipart(form, timer): Multipart,
) -> ApiResult<(StatusCode, Json<UploadResponse>)> {
    // Admitted before any of the body is read; the slot is held until the answer.
    let _slot = state.uploads.try_acquire(player)?;
    let (title, spooled) = read_form(&state, form, &timer).await.inspect_err(|e| {
        if let ApiError::RequestTimeout(why) = e {
            tracing::info!(player.id = player, reason = %why, "upload cut off");
        }
    })?;

    let mut missing = Vec::new();
    if spooled.is_none() {
        missing.push(FieldError {
            field: "video_file",
            message: "video_file is required".into(),
        });
    }
    let title = title.unwrap_or_default();
    domain::check_title(&title, &mut missing);
    let title = title.trim().to_owned();
    let Some(spooled) = spooled.filter(|_| missing.is_empty()) else {
        return Err(ApiError::Validation(missing));
    };

    let source = Source::Spooled {
        path: &spooled.file,
        head: &spooled.head,
        size: spooled.size,
    };
    let created = ingest::accept(ingest(&state), player, &title, source)
        .await
        .inspect_err(|e| log_refusal(player, e))?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Logs what the player is not told: ffprobe's own words on a file it could not read.
pub fn log_refusal(player: i64, err: &AcceptError) {
    if let AcceptError::Rejected(Rejection::Unreadable { cause, .. }) = err {
        tracing::warn!(player.id = player, error = %cause, "upload refused: ffprobe could not read it");
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::BadRequest(rejection.code(), rejection.to_string())
    }
}

/// `400` naming the rule for a rejected file; `503` with a player-readable detail when
/// a backend failed (the cause goes to the log only).
impl From<AcceptError> for ApiError {
    fn from(err: AcceptError) -> Self {
        match err {
            AcceptError::Rejected(rejection) => rejection.into(),
            AcceptError::Inspect(e) => Self::Unavailable(e.player_message(), e.to_string()),
            AcceptError::Storage(e) => Self::Unavailable(
                "storage unavailable, the upload was not saved".into(),
                e.to_string(),
            ),
            AcceptError::Database(e) => e.into(),
            AcceptError::Queue(e) => Self::Unavailable(
                "job queue unavailable, the upload was not saved".into(),
                e.to_string(),
            ),
            AcceptError::UploadGone => Self::NotFound("Upload not found".into()),
        }
    }
}

/// Reads the form: the title bounded while it streams, the file spooled to disk, any
/// other field drained without being kept.
async fn read_form(
    state: &AppState,
    mut form: axum::extract::Multipart,
    timer: &BodyTimer,
) -> ApiResult<(Option<String>, Option<Spooled>)> {
    let limit = state.config.upload.max_bytes;
    let fail = |e: MultipartError| multipart_error(&e, limit, timer);
    let mut title: Option<String> = None;
    let mut spooled: Option<Spooled> = None;
    while let Some(mut field) = form.next_field().await.map_err(fail)? {
        match field.name() {
            Some("title") => title = Some(read_title(&mut field, fail).await?),
            Some("video_file") if spooled.is_none() => {
                let temp_dir = &state.config.media.temp_dir;
                spooled = Some(spool(&mut field, temp_dir, limit, fail).await?);
            }
            // Unknown fields are drained and ignored.
            _ => while field.chunk().await.map_err(fail)?.is_some() {},
        }
    }
    Ok((title, spooled))
}

/// The title field, refused (`422`) as soon as it holds more bytes than any valid title
/// can: a huge field is never buffered whole.
async fn read_title(
    field: &mut Field<'_>,
    fail: impl Fn(MultipartError) -> ApiError,
) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(&fail)? {
        if bytes.len() + chunk.len() > domain::MAX_TITLE_BYTES {
            return Err(ApiError::Validation(vec![domain::title_too_long()]));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::Validation(vec![domain::title_not_utf8()]))
}

/// Streams the file field into a spool file in `temp_dir`, refusing it as soon as it
/// passes `limit` bytes or its first bytes are not an MP4's. The file is removed if
/// anything fails (the returned `TempPath` removes it on drop).
async fn spool(
    field: &mut Field<'_>,
    temp_dir: &Path,
    limit: u64,
    fail: impl Fn(MultipartError) -> ApiError,
) -> ApiResult<Spooled> {
    let temp = ingest::spool_file(temp_dir).map_err(ApiError::internal)?;
    let (std_file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);
    let mut head = Vec::with_capacity(ingest::HEAD_BYTES);
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(&fail)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        if head.len() < ingest::HEAD_BYTES {
            let take = (ingest::HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            // Refuse a non-MP4 as soon as its header is known, before reading the rest.
            ingest::sniff_head(&head)?;
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(Spooled {
        file: path,
        head,
        size,
    })
}

/// `503` when this process streams its maximum of uploads, `429` when the player does;
/// both with `Retry-After`.
impl From<inflight::Refused> for ApiError {
    fn from(refused: inflight::Refused) -> Self {
        let (code, detail, retry_after) =
            (refused.code(), refused.to_string(), refused.retry_after());
        match refused {
            inflight::Refused::Busy { .. } => Self::Busy {
                code,
                detail,
                retry_after,
            },
            inflight::Refused::PlayerBusy { .. } => Self::TooManyRequests {
                code,
                detail,
                retry_after,
            },
        }
    }
}
