//! A player's own videos: list, detail, publish, delete.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use skillreel_shared::{
    cache::Namespace,
    db::{
        self,
        videos::{Deletion, Publication, Video},
    },
    domain::VideoStatus,
    storage::PlayableUrl,
};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{CurrentPlayer, VideoId},
    state::AppState,
};

/// Turns a storage key into a URL a browser can play, or `None` when it cannot be made.
pub async fn playable_url(state: &AppState, key: Option<&str>) -> Option<String> {
    let key = key?;
    match state.storage.playable_url(key).await {
        Ok(PlayableUrl::Absolute(url)) => Some(url),
        Ok(PlayableUrl::ServicePath(path)) => Some(match &state.config.http.public_base_url {
            Some(base) => format!("{base}{path}"),
            None => path,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "could not build a playable URL");
            None
        }
    }
}

/// Lifecycle of a video, as the API shows it (documentation of
/// [`VideoStatus`]).
#[derive(ToSchema)]
#[schema(as = VideoStatus, rename_all = "lowercase")]
#[allow(dead_code)]
pub enum VideoStatusDoc {
    /// Stored and queued.
    Uploaded,
    /// A worker is running the pipeline.
    Processing,
    /// Ready to publish.
    Processed,
    /// Published: listed and open to votes.
    Public,
    /// Processing gave up; `error` says why.
    Failed,
    /// Hidden by the competition's organizers; `hidden_reason` says why.
    Hidden,
}

/// One of the player's videos in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoSummary {
    /// Id.
    pub video_id: i64,
    /// Title.
    pub title: String,
    /// `uploaded`, `processing`, `processed`, `public`, `failed` or `hidden`.
    #[schema(value_type = VideoStatusDoc)]
    pub status: VideoStatus,
    /// Why the organizers hid it (status `hidden`); null otherwise.
    pub hidden_reason: Option<String>,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Processing end.
    pub processed_at: Option<DateTime<Utc>>,
    /// Playable URL of the processed video.
    pub processed_url: Option<String>,
    /// URL of the poster (640x360 JPEG from the player's clip); null until processed.
    pub thumbnail_url: Option<String>,
    /// URL of the hover preview (at most 3 s, silent MP4); null until processed.
    pub preview_url: Option<String>,
}

/// A video in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoDetail {
    /// Id.
    pub video_id: i64,
    /// Title.
    pub title: String,
    /// `uploaded`, `processing`, `processed`, `public`, `failed` or `hidden`.
    #[schema(value_type = VideoStatusDoc)]
    pub status: VideoStatus,
    /// Why the organizers hid it (status `hidden`); null otherwise.
    pub hidden_reason: Option<String>,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Processing end.
    pub processed_at: Option<DateTime<Utc>>,
    /// Playable URL of the original.
    pub original_url: Option<String>,
    /// Playable URL of the processed video.
    pub processed_url: Option<String>,
    /// URL of the poster (640x360 JPEG from the player's clip); null until processed.
    pub thumbnail_url: Option<String>,
    /// URL of the hover preview (at most 3 s, silent MP4); null until processed.
    pub preview_url: Option<String>,
    /// Votes received.
    #[schema(minimum = 0)]
    pub votes: i64,
    /// Views, each viewer counted at most once per hour.
    #[schema(minimum = 0)]
    pub views: i64,
    /// Why processing failed (status `failed`), or why the last attempt failed.
    pub error: Option<String>,
    /// Percent done while `processing`.
    #[schema(minimum = 0, maximum = 100)]
    pub progress: Option<f32>,
    /// Processing attempts so far.
    #[schema(minimum = 0)]
    pub attempts: i32,
    /// Job id.
    #[schema(format = Uuid)]
    pub task_id: String,
}

fn not_found() -> ApiError {
    ApiError::NotFound("Video not found".into())
}

async fn owned(state: &AppState, player: i64, id: i64) -> ApiResult<Video> {
    let video = db::videos::find(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    if video.owner_id != player {
        return Err(ApiError::Forbidden(
            "forbidden",
            "You are not authorized to access this video".into(),
        ));
    }
    Ok(video)
}

async fn detail(state: &AppState, v: Video) -> VideoDetail {
    let (original_url, processed_url, thumbnail_url, preview_url) = tokio::join!(
        playable_url(state, Some(&v.original_key)),
        playable_url(state, v.processed_key.as_deref()),
        playable_url(state, v.thumbnail_key.as_deref()),
        playable_url(state, v.preview_key.as_deref()),
    );
    let status = v.status();
    VideoDetail {
        video_id: v.id,
        title: v.title,
        status,
        hidden_reason: v.hidden_reason,
        uploaded_at: v.uploaded_at,
        processed_at: v.processed_at,
        original_url,
        processed_url,
        thumbnail_url,
        preview_url,
        votes: i64::from(v.votes_count),
        views: v.views_count,
        error: v.error,
        progress: v.progress.filter(|_| status == VideoStatus::Processing),
        attempts: v.attempts,
        task_id: v.task_id.to_string(),
    }
}

/// The caller's videos, newest first.
#[utoipa::path(get, path = "/api/videos", tag = "videos", security(("bearer" = [])),
    responses((status = 200, description = "the caller's videos, newest first", body = [VideoSummary]),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
) -> ApiResult<Json<Vec<VideoSummary>>> {
    let videos = db::videos::list_by_owner(&state.db, player).await?;
    let mut out = Vec::with_capacity(videos.len());
    for v in videos {
        let (processed_url, thumbnail_url, preview_url) = tokio::join!(
            playable_url(&state, v.processed_key.as_deref()),
            playable_url(&state, v.thumbnail_key.as_deref()),
            playable_url(&state, v.preview_key.as_deref()),
        );
        out.push(VideoSummary {
            video_id: v.id,
            status: v.status(),
            hidden_reason: v.hidden_reason,
            title: v.title,
            uploaded_at: v.uploaded_at,
            processed_at: v.processed_at,
            processed_url,
            thumbnail_url,
            preview_url,
        });
    }
    Ok(Json(out))
}

/// One of the caller's videos.
#[utoipa::path(get, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    responses((status = 200, description = "the video", body = VideoDetail),
              (status = 403, description = "another player's video", body = ErrorBody),
              (status = 404, description = "no such video", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    VideoId(id): VideoId,
) -> ApiResult<Json<VideoDetail>> {
    let video = owned(&state, player, id).await?;
    Ok(Json(detail(&state, video).await))
}

/// Publishes a processed video: it becomes public and open to votes.
#[utoipa::path(post, path = "/api/videos/{id}/publish", tag = "videos", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    responses((status = 200, description = "the video, now public", body = VideoDetail),
              (status = 403, description = "another player's video", body = ErrorBody),
              (status = 404, description = "no such video (or deleted meanwhile)", body = ErrorBody),
              (status = 409, description = "not in state `processed`", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    VideoId(id): VideoId,
) -> ApiResult<Json<VideoDetail>> {
    owned(&state, player, id).await?;
    let published = match db::videos::publish(&state.db, id).await? {
        Publication::Published(video) => *video,
        Publication::NotProcessed(status) => {
            return Err(ApiError::Conflict(
                "not-processed",
                format!("Only processed videos can be published; this video is {status}"),
            ));
        }
        Publication::Gone => return Err(not_found()),
    };
    state.cache.invalidate(Namespace::PublicVideos).await;
    state.cache.invalidate(Namespace::Rankings).await;
    Ok(Json(detail(&state, published).await))
}

/// Answer to a deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// Confirmation.
    pub message: &'static str,
    /// The deleted video.
    pub video_id: i64,
}

/// Deletes one of the caller's videos that is not public, with its stored files.
#[utoipa::path(delete, path = "/api/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    responses((status = 200, description = "deleted", body = Deleted),
              (status = 400, description = "the video is public", body = ErrorBody),
              (status = 403, description = "another player's video", body = ErrorBody),
              (status = 404, description = "no such video (or deleted meanwhile)", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    CurrentPlayer(player): CurrentPlayer,
    VideoId(id): VideoId,
) -> ApiResult<Json<Deleted>> {
    let video = owned(&state, player, id).await?;
    let public = || {
        ApiError::BadRequest(
            "video-public",
            "Video is public and cannot be deleted: it holds the public's votes".into(),
        )
    };
    if !video.status().can_delete() {
        return Err(public());
    }
    let deleted = match db::videos::delete_unless_public(&state.db, id).await? {
        Deletion::Deleted(video) => *video,
        Deletion::Public => return Err(public()),
        Deletion::Gone => return Err(not_found()),
    };
    // The row is gone first, so a worker still processing it loses its claim and
    // discards its output; the files go next.
    for key in deleted.stored_keys() {
        if let Err(e) = state.storage.delete(key).await {
            tracing::error!(error = %e, video.id = id, key, "could not delete a stored object");
        }
    }
    Ok(Json(Deleted {
        message: "El video ha sido eliminado exitosamente.",
        video_id: id,
    }))
}
