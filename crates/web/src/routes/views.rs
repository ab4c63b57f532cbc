//! Views and trends: `POST /api/public/videos/{id}/view` and `GET /api/public/trending`.
//!
//! A view is counted at most once per viewer, video and clock hour, in batches (the view
//! batcher, [`skillreel_shared::views`]; [`db::views::record_batch`]).
//! The viewer is the account of a valid bearer token, else the client address as the
//! rate limiter resolves it (`TRUSTED_PROXIES`, [`ClientAddr`]); a missing, expired or
//! forged token is not an error here, only an anonymous viewer.

use axum::{
    Extension,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use skillreel_shared::{
    cache::Namespace,
    db::{
        self,
        views::{ViewOutcome, Viewer},
    },
};
use utoipa::{IntoParams, ToSchema};

use super::public::{PublicVideo, json_bytes};
use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Query, VideoId},
    limits::ClientAddr,
    state::AppState,
};

/// The account a request's bearer token names, when it carries a valid one.
fn token_player(state: &AppState, headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    state.tokens.verify(token).ok()
}

/// Counts a view of a public video: at most once per viewer per video per clock hour
/// (UTC). The viewer is the account of the bearer token when the request carries a valid
/// one (optional), else the client address; a bad token only makes the view anonymous.
#[utoipa::path(post, path = "/api/public/videos/{id}/view", tag = "public",
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    responses((status = 204, description = "the view is counted, or was already counted for this viewer this hour"),
              (status = 404, description = "no such public video", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn view(
    State(state): State<AppState>,
    VideoId(id): VideoId,
    Extension(ClientAddr(addr)): Extension<ClientAddr>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let viewer = token_player(&state, &headers).map_or(Viewer::Address(addr), Viewer::Player);
    match state.views.record(id, viewer).await? {
        ViewOutcome::Counted | ViewOutcome::AlreadyCounted => Ok(StatusCode::NO_CONTENT),
        ViewOutcome::NotFound => Err(ApiError::NotFound("Video not found".into())),
    }
}

/// Query of the trends.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendingQuery {
    /// The window: votes received in the last this many hours.
    #[param(minimum = 1, maximum = 168, default = 24)]
    pub window_hours: Option<i64>,
    /// How many videos.
    #[param(minimum = 1, maximum = 50, default = 10)]
    pub limit: Option<i64>,
}

/// Longest window, one week.
pub const MAX_WINDOW_HOURS: i64 = 168;
/// Most videos in one answer.
pub const MAX_TRENDING: i64 = 50;

/// A trending video: a public list item and the votes it received in the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendingVideo {
    /// The video as the public list shows it.
    #[serde(flatten)]
    pub video: PublicVideo,
    /// Counted votes received in the window.
    #[schema(minimum = 1)]
    pub votes_in_window: i64,
}

fn bounded(field: &'static str, value: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    let value = value.unwrap_or(default);
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::Validation(vec![
            skillreel_shared::domain::FieldError {
                field,
                message: format!("{field} must be between 1 and {max}"),
            },
        ]))
    }
}

/// Public videos by the votes they received in the last `window_hours` hours (only those
/// with at least one), ties by views, then the older video. Cached like the rankings: an
/// answer is at most `CACHE_REDIS_TTL_SECS` (30 s) old.
#[utoipa::path(get, path = "/api/public/trending", tag = "public", params(TrendingQuery),
    responses((status = 200, description = "the trending videos, most votes in the window first", body = [TrendingVideo],
                headers(("x-cache" = String, description = "`stale` when the database is down and this is the last good answer; absent otherwise"))),
              (status = 422, description = "window_hours or limit out of range, or unparseable", body = ErrorBody),
              (status = 503, description = "database down and no earlier answer to serve", body = ErrorBody)))]
pub async fn trending(
    State(state): State<AppState>,
    Query(q): Query<TrendingQuery>,
) -> ApiResult<Response> {
    let window = bounded("window_hours", q.window_hours, 24, MAX_WINDOW_HOURS)?;
    let limit = bounded("limit", q.limit, 10, MAX_TRENDING)?;
    let key = format!("{window}:{limit}");
    let loader = state.clone();
    let body = state
        .cache
        .get_or_load(Namespace::Trending, &key, || async move {
            let hours = i32::try_from(window).map_err(ApiError::internal)?;
            let rows = db::views::trending(&loader.db, hours, limit).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(TrendingVideo {
                    video: PublicVideo::from_row(&loader, r.video).await,
                    votes_in_window: r.votes_in_window,
                });
            }
            serde_json::to_vec(&out)
                .map(Bytes::from)
                .map_err(ApiError::internal)
        })
        .await?;
    Ok(json_bytes(body))
}
