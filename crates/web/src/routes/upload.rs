//! `POST /api/videos/upload`: stream, inspect, store, record, enqueue.
//!
//! The file field is streamed chunk by chunk into a temporary file (memory stays at
//! a few chunks per upload whatever the size) and cut off as soon as it crosses the
//! limit. Nothing is left behind on any failure: the temporary file is removed on
//! drop, and each later step undoes the earlier ones when it fails. Its name carries
//! this process's pid and start time ([`ingest::spool_file`]), so that if the process
//! is killed mid-upload the next web process to start removes it.

use axum::{
    Json,
    extract::{State, multipart::MultipartError},
    http::StatusCode,
};
use serde::Serialize;
use skillreel_shared::{
    db::{self, videos::NewVideo},
    domain::{self, FieldError},
    ingest::{self, InspectError, Rejection},
    queue::ProcessVideo,
    storage::UPLOADED_PREFIX,
};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{CurrentPlayer, Multipart},
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

/// Bytes of the file kept in memory for container sniffing.
const HEAD_BYTES: usize = 64;

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
    ApiError::BadRequest(
        "file-too-large",
        format!(
            "The file exceeds the {} MB upload limit",
            limit / (1024 * 1024)
        ),
    )
}

fn multipart_error(e: &MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
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
              (status = 408, description = "the body stopped arriving (idle too long)", body = ErrorBody),
              (status = 415, description = "not a multipart/form-data body", body = ErrorBody),
              (status = 422, description = "missing video_file or title, blank or over-long title, control characters in it", body = ErrorBody),
              (status = 503, description = "uploads busy on this instance, or storage, database or queue unavailable", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    Multipart(mut form): Multipart,
) -> ApiResult<(StatusCode, Json<UploadResponse>)> {
    let limit = state.config.upload.max_bytes;
    let mut title: Option<String> = None;
    let mut spooled: Option<Spooled> = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, limit))?
    {
        match field.name() {
            Some("title") => {
                let text = field.text().await.map_err(|e| multipart_error(&e, limit))?;
                title = Some(text);
            }
            Some("video_file") if spooled.is_none() => {
                let temp =
                    ingest::spool_file(&state.config.media.temp_dir).map_err(ApiError::internal)?;
                let (std_file, path) = temp.into_parts();
                let mut file = tokio::fs::File::from_std(std_file);
                let mut head = Vec::with_capacity(HEAD_BYTES);
                let mut size = 0u64;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(&e, limit))?
                {
                    size += chunk.len() as u64;
                    if size > limit {
                        return Err(too_large(limit));
                    }
                    if head.len() < HEAD_BYTES {
                        let take = (HEAD_BYTES - head.len()).min(chunk.len());
                        head.extend_from_slice(&chunk[..take]);
                        // Refuse a non-MP4 as soon as its header is known, before reading the rest.
                        if head.len() >= 12
                            && !skillreel_shared::media::sniff::looks_like_mp4(&head)
                        {
                            return Err(Rejection::NotMp4.into());
                        }
                    }
                    file.write_all(&chunk).await.map_err(ApiError::internal)?;
                }
                file.flush().await.map_err(ApiError::internal)?;
                spooled = Some(Spooled {
                    file: path,
                    head,
                    size,
                });
            }
            // Unknown fields are drained and ignored.
            _ => {
                while field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(&e, limit))?
                    .is_some()
                {}
            }
        }
    }

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

    let accepted = ingest::inspect(
        &state.config.media,
        &state.config.upload,
        &spooled.file,
        &spooled.head,
        spooled.size,
    )
    .await
    .inspect_err(|e| {
        if let InspectError::Rejected(Rejection::Unreadable { cause, .. }) = e {
            tracing::warn!(player.id = player, error = %cause, "upload refused: ffprobe could not read it");
        }
    })?;

    let key = format!("{UPLOADED_PREFIX}{}.mp4", Uuid::now_v7());
    state
        .storage
        .put_file(&key, &spooled.file, "video/mp4")
        .await
        .map_err(|e| {
            ApiError::Unavailable(
                "storage unavailable, the upload was not saved".into(),
                e.to_string(),
            )
        })?;
    drop(spooled.file);

    let new = NewVideo {
        owner_id: player,
        title,
        task_id: Uuid::new_v4(),
        original_key: key.clone(),
        size_bytes: i64::try_from(spooled.size).unwrap_or(i64::MAX),
        duration_secs: accepted.probe.duration_secs,
        width: i32::try_from(accepted.width).unwrap_or(i32::MAX),
        height: i32::try_from(accepted.height).unwrap_or(i32::MAX),
    };
    let video = match db::videos::insert(&state.db, &new).await {
        Ok(v) => v,
        Err(e) => {
            remove_object(&state, &key).await;
            return Err(e.into());
        }
    };
    let job = ProcessVideo {
        video_id: video.id,
        task_id: video.task_id,
    };
    if let Err(e) = state.queue.enqueue(job).await {
        // Without a job the row would wait for the reconciler; the contract is
        // all-or-nothing, so undo both.
        if let Err(db_err) = db::videos::delete_unpublished(&state.db, video.id).await {
            tracing::error!(error = %db_err, video.id = video.id, "could not undo a video row");
        }
        remove_object(&state, &key).await;
        return Err(ApiError::Unavailable(
            "job queue unavailable, the upload was not saved".into(),
            e.to_string(),
        ));
    }
    tracing::info!(video.id = video.id, task.id = %video.task_id, size_bytes = new.size_bytes, "video uploaded");
    Ok((
        StatusCode::CREATED,
        Json(UploadResponse {
            message: "Video subido exitosamente. Tarea creada.",
            task_id: video.task_id.to_string(),
            video_id: video.id,
        }),
    ))
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::BadRequest(rejection.code(), rejection.to_string())
    }
}

/// `400` naming the rule for a rejected file; `503` with a player-readable detail when
/// the file could not be inspected (the tool's own error goes to the log only).
impl From<InspectError> for ApiError {
    fn from(err: InspectError) -> Self {
        match err {
            InspectError::Rejected(rejection) => rejection.into(),
            InspectError::Media(e) => Self::Unavailable(e.player_message(), e.to_string()),
        }
    }
}

async fn remove_object(state: &AppState, key: &str) {
    if let Err(e) = state.storage.delete(key).await {
        tracing::error!(error = %e, key, "could not remove an orphaned upload");
    }
}
