//! The moderation queue and hiding/restoring a video: `GET /api/admin/videos`,
//! `POST /api/admin/videos/{id}/hide`, `POST /api/admin/videos/{id}/restore`.

use axum::{Json as JsonResponse, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skillreel_shared::{
    cache::Namespace,
    db::{
        self,
        audit::Actor,
        moderation::{Hiding, ModeratedVideo, Restoring},
    },
    domain::{self, FieldError, Page, VideoStatus},
    moderation::Reason,
};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Json, Organizer, Query, VideoId},
    routes::videos::{VideoStatusDoc, playable_url},
    state::AppState,
};

/// Query of the moderation queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminVideosQuery {
    /// Only videos in this state (`uploaded`, `processing`, `processed`, `public`,
    /// `failed`, `hidden`); blank or absent means every video.
    #[param(
        max_length = 10,
        pattern = "^(uploaded|processing|processed|public|failed|hidden)?$"
    )]
    pub status: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 10000, default = 1)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
}

/// Why an organizer acts.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReasonRequest {
    /// Why (1–500 characters, not blank, no control characters): shown to the owner of a
    /// hidden video and kept in the audit log.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        example = "not a skills clip"
    )]
    pub reason: String,
}

impl ReasonRequest {
    /// The reason, checked (`422` naming the field `reason`).
    pub fn parse(&self) -> ApiResult<Reason> {
        Reason::parse(&self.reason).map_err(|e| ApiError::Validation(vec![e]))
    }
}

/// A video's owner, as organizers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminOwner {
    /// Player id.
    pub id: i64,
    /// "first last".
    pub username: String,
    /// E-mail.
    pub email: String,
    /// City.
    pub city: String,
    /// Whether the owner is suspended.
    pub suspended: bool,
}

/// A video as organizers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminVideo {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// `uploaded`, `processing`, `processed`, `public`, `failed` or `hidden`.
    #[schema(value_type = VideoStatusDoc)]
    pub status: VideoStatus,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Counted votes.
    #[schema(minimum = 0)]
    pub votes: i64,
    /// Views.
    #[schema(minimum = 0)]
    pub views: i64,
    /// URL of the poster, as the public list shows it; null until processed.
    pub thumbnail_url: Option<String>,
    /// Why it is hidden (status `hidden`); null otherwise.
    pub hidden_reason: Option<String>,
    /// Hidden because its owner is suspended: lifting the suspension restores it.
    pub hidden_by_suspension: bool,
    /// Its owner.
    pub owner: AdminOwner,
}

/// Shapes a row for the API.
pub async fn admin_video(state: &AppState, v: ModeratedVideo) -> AdminVideo {
    let thumbnail_url = playable_url(state, v.thumbnail_key.as_deref()).await;
    AdminVideo {
        id: v.id,
        status: v.status(),
        title: v.title,
        uploaded_at: v.uploaded_at,
        votes: i64::from(v.votes_count),
        views: v.views_count,
        thumbnail_url,
        hidden_reason: v.hidden_reason,
        hidden_by_suspension: v.hidden_by_suspension,
        owner: AdminOwner {
            id: v.owner_id,
            username: domain::username(&v.owner_first_name, &v.owner_last_name),
            email: v.owner_email,
            city: v.owner_city,
            suspended: v.owner_suspended,
        },
    }
}

/// The organizer as the audit log records them.
pub fn actor(organizer: &Organizer) -> Actor<'_> {
    Actor {
        id: organizer.id,
        email: &organizer.email,
    }
}

/// Refreshes what the public sees (the gallery, the rankings, trending) on every instance
/// within `CACHE_LOCAL_TTL`, here at once.
pub async fn refresh_public(state: &AppState) {
    state.cache.invalidate(Namespace::PublicVideos).await;
    state.cache.invalidate(Namespace::Rankings).await;
    // Trending otherwise ages out on its own; a hidden video must leave it now.
    state.cache.invalidate(Namespace::Trending).await;
}

/// The moderation queue: every video (or those in one state) with its owner, newest
/// first.
#[utoipa::path(get, path = "/api/admin/videos", tag = "admin", security(("bearer" = [])),
    params(AdminVideosQuery),
    responses((status = 200, description = "a page of videos, newest first", body = [AdminVideo]),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 422, description = "an unknown status, or page or limit out of range", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _organizer: Organizer,
    Query(q): Query<AdminVideosQuery>,
) -> ApiResult<JsonResponse<Vec<AdminVideo>>> {
    let page = Page::new(q.page, q.limit, 20).map_err(ApiError::Validation)?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(raw.parse::<VideoStatus>().map_err(|_| {
            ApiError::Validation(vec![FieldError {
                field: "status",
                message: "status must be one of uploaded, processing, processed, public, \
                          failed, hidden"
                    .into(),
            }])
        })?),
    };
    let rows = db::moderation::list(&state.db, status, page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(admin_video(&state, row).await);
    }
    Ok(JsonResponse(out))
}

fn not_found() -> ApiError {
    ApiError::NotFound("Video not found".into())
}

/// Hides a `processed` or `public` video: it leaves the public list, and its votes
/// the rankings; its owner sees `status: "hidden"` and the reason.
#[utoipa::path(post, path = "/api/admin/videos/{id}/hide", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    request_body = ReasonRequest,
    responses((status = 200, description = "the video, now hidden", body = AdminVideo),
              (status = 400, description = "the body is not valid JSON", body = ErrorBody),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 404, description = "no such video", body = ErrorBody),
              (status = 408, description = "the body was not sent in time", body = ErrorBody),
              (status = 409, description = "hidden already (`already-hidden`), or not `processed` nor `public` (`not-hideable`)", body = ErrorBody),
              (status = 413, description = "the body is over 2 MB", body = ErrorBody),
              (status = 415, description = "the body is not `application/json`", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer, or the reason is missing, blank, too long or has control characters", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn hide(
    State(state): State<AppState>,
    organizer: Organizer,
    VideoId(id): VideoId,
    Json(req): Json<ReasonRequest>,
) -> ApiResult<JsonResponse<AdminVideo>> {
    let reason = req.parse()?;
    let video = match db::moderation::hide(&state.db, actor(&organizer), id, &reason).await? {
        Hiding::Hidden(video) => *video,
        Hiding::NotFound => return Err(not_found()),
        Hiding::AlreadyHidden => {
            return Err(ApiError::Conflict(
                "already-hidden",
                "The video is hidden already".into(),
            ));
        }
        Hiding::NotHideable(status) => {
            return Err(ApiError::Conflict(
                "not-hideable",
                format!("Only processed or public videos can be hidden; this video is {status}"),
            ));
        }
    };
    refresh_public(&state).await;
    Ok(JsonResponse(admin_video(&state, video).await))
}

/// Restores a hidden video to the state it was hidden from (`public` videos return to
/// the public list and their votes to the rankings).
#[utoipa::path(post, path = "/api/admin/videos/{id}/restore", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    responses((status = 200, description = "the video, back in the state it was hidden from", body = AdminVideo),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 404, description = "no such video", body = ErrorBody),
              (status = 409, description = "not hidden (`not-hidden`), or its owner is suspended (`owner-suspended`)", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    organizer: Organizer,
    VideoId(id): VideoId,
) -> ApiResult<JsonResponse<AdminVideo>> {
    let video = match db::moderation::restore(&state.db, actor(&organizer), id).await? {
        Restoring::Restored(video) => *video,
        Restoring::NotFound => return Err(not_found()),
        Restoring::NotHidden => {
            return Err(ApiError::Conflict(
                "not-hidden",
                "The video is not hidden".into(),
            ));
        }
        Restoring::OwnerSuspended => {
            return Err(ApiError::Conflict(
                "owner-suspended",
                "The video's owner is suspended: lift the suspension first".into(),
            ));
        }
    };
    refresh_public(&state).await;
    Ok(JsonResponse(admin_video(&state, video).await))
}
