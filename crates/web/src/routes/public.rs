//! Public routes: the gallery, votes and rankings.
//!
//! The two reads are served from [`PublicCache`](skillreel_shared::cache::PublicCache)
//! as ready-made JSON bytes; a publication invalidates them at once, votes at most every
//! `VOTE_CACHE_REFRESH_MS` (the vote batcher, [`skillreel_shared::votes`]). While PostgreSQL
//! is down they answer the last good answer, with `x-cache: stale`; only a request no
//! one made before answers `503`.

use axum::{
    Json as JsonResponse,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skillreel_shared::{
    cache::{Cached, Namespace},
    db::{self, votes::VoteOutcome},
    domain::{self, Page},
};
use utoipa::{IntoParams, ToSchema};

use super::videos::playable_url;
use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Query, TokenPlayer, VideoId, suspended, unknown_player},
    state::AppState,
};

/// Query of the public video list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicVideosQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 10000, default = 1)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// Owner's city, case-insensitive; blank means any.
    #[param(max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub city: Option<String>,
    /// Text searched in titles, case-insensitive; blank means any.
    #[param(max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub q: Option<String>,
}

/// Query of the rankings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingsQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 10000, default = 1)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub limit: Option<i64>,
    /// City, case-insensitive; blank means any.
    #[param(max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub city: Option<String>,
}

pub(super) fn filter(name: &'static str, value: Option<String>) -> ApiResult<Option<String>> {
    domain::search_filter(name, value).map_err(|e| ApiError::Validation(vec![e]))
}

/// Marks an answer served from the last good copy during a database outage.
pub const X_CACHE: &str = "x-cache";

pub(super) fn json_bytes(cached: Cached) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], cached.value).into_response();
    if cached.stale {
        response
            .headers_mut()
            .insert(X_CACHE, header::HeaderValue::from_static("stale"));
    }
    response
}

/// A public video.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicVideo {
    /// Id.
    pub id: i64,
    /// Id again, under the name the private routes use.
    pub video_id: i64,
    /// Title.
    pub title: String,
    /// Upload time.
    pub uploaded_at: DateTime<Utc>,
    /// Playable URL.
    pub processed_url: Option<String>,
    /// URL of the poster (640x360 JPEG from the player's clip).
    pub thumbnail_url: Option<String>,
    /// URL of the hover preview (at most 3 s, silent MP4).
    pub preview_url: Option<String>,
    /// "first last".
    pub owner_name: String,
    /// Owner's city.
    pub owner_city: String,
    /// Votes.
    #[schema(minimum = 0)]
    pub votes: i64,
    /// Views, each viewer counted at most once per hour (`POST /api/public/videos/{id}/view`).
    #[schema(minimum = 0)]
    pub views: i64,
}

impl PublicVideo {
    /// Shapes a row of the public list (playable URLs made from its storage keys).
    pub async fn from_row(state: &AppState, r: db::videos::PublicVideo) -> Self {
        let (processed_url, thumbnail_url, preview_url) = tokio::join!(
            playable_url(state, r.processed_key.as_deref()),
            playable_url(state, r.thumbnail_key.as_deref()),
            playable_url(state, r.preview_key.as_deref()),
        );
        Self {
            id: r.id,
            video_id: r.id,
            processed_url,
            thumbnail_url,
            preview_url,
            owner_name: domain::username(&r.first_name, &r.last_name),
            owner_city: r.city,
            title: r.title,
            uploaded_at: r.uploaded_at,
            votes: i64::from(r.votes_count),
            views: r.views_count,
        }
    }
}

/// Published videos, newest first.
#[utoipa::path(get, path = "/api/public/videos", tag = "public", params(PublicVideosQuery),
    responses((status = 200, description = "a page of public videos", body = [PublicVideo],
                headers(("x-cache" = String, description = "`stale` when the database is down and this is the last good answer; absent otherwise"))),
              (status = 422, description = "a parameter out of range, unparseable, or with control characters", body = ErrorBody),
              (status = 503, description = "database down and no earlier answer to serve", body = ErrorBody)))]
pub async fn videos(
    State(state): State<AppState>,
    Query(q): Query<PublicVideosQuery>,
) -> ApiResult<Response> {
    let page = Page::new(q.page, q.limit, 20).map_err(ApiError::Validation)?;
    let city = filter("city", q.city)?;
    let text = filter("q", q.q)?;
    let key = format!(
        "{}:{}:{}:{}",
        page.page,
        page.limit,
        city.as_deref().unwrap_or("").to_lowercase(),
        text.as_deref().unwrap_or("").to_lowercase()
    );
    // The load owns what it reads: a slow one finishes in the background (shared::cache).
    let loader = state.clone();
    let body = state
        .cache
        .get_or_load(Namespace::PublicVideos, &key, || async move {
            let rows =
                db::videos::list_public(&loader.db, page, city.as_deref(), text.as_deref()).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(PublicVideo::from_row(&loader, r).await);
            }
            serde_json::to_vec(&out)
                .map(Bytes::from)
                .map_err(ApiError::internal)
        })
        .await?;
    Ok(json_bytes(body))
}

/// Answer to a vote.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteResponse {
    /// Confirmation.
    pub message: &'static str,
}

/// Votes for a public video (one vote per player and video).
#[utoipa::path(post, path = "/api/public/videos/{id}/vote", tag = "public", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, example = 1, description = "video id")),
    responses((status = 200, description = "vote registered", body = VoteResponse),
              (status = 400, description = "already voted", body = ErrorBody),
              (status = 401, description = "no valid token, or the account no longer exists", body = ErrorBody),
              (status = 403, description = "own video (`forbidden`), the voter is suspended (`account-suspended`), or voting has closed (`voting-closed`)", body = ErrorBody),
              (status = 404, description = "no such public video", body = ErrorBody),
              (status = 422, description = "the id is not a positive integer", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    TokenPlayer(player): TokenPlayer,
    VideoId(id): VideoId,
) -> ApiResult<JsonResponse<VoteResponse>> {
    let outcome = state.votes.cast(id, player).await?;
    match outcome {
        VoteOutcome::Registered => Ok(JsonResponse(VoteResponse {
            message: "Vote successfully registered",
        })),
        VoteOutcome::AlreadyVoted => Err(ApiError::BadRequest(
            "already-voted",
            "You have already voted for this video".into(),
        )),
        VoteOutcome::OwnVideo => Err(ApiError::Forbidden(
            "forbidden",
            "You cannot vote for your own video".into(),
        )),
        VoteOutcome::NotFound => Err(ApiError::NotFound("Video not found".into())),
        VoteOutcome::UnknownPlayer => Err(unknown_player()),
        VoteOutcome::Suspended => Err(suspended()),
        VoteOutcome::VotingClosed => Err(ApiError::Forbidden(
            "voting-closed",
            "Voting has closed; the rankings are final".into(),
        )),
    }
}

/// One ranked player.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankingEntry {
    /// 1-based position in the whole ranking.
    #[schema(minimum = 1)]
    pub position: i64,
    /// "first last".
    pub username: String,
    /// City.
    pub city: String,
    /// Total votes on the player's public videos.
    #[schema(minimum = 0)]
    pub votes: i64,
}

/// Players with the most votes, optionally in one city. Ties go to the earlier sign-up.
#[utoipa::path(get, path = "/api/public/rankings", tag = "public", params(RankingsQuery),
    responses((status = 200, description = "a page of the ranking", body = [RankingEntry],
                headers(("x-cache" = String, description = "`stale` when the database is down and this is the last good answer; absent otherwise"))),
              (status = 422, description = "a parameter out of range, unparseable, or with control characters", body = ErrorBody),
              (status = 503, description = "database down and no earlier answer to serve", body = ErrorBody)))]
pub async fn rankings(
    State(state): State<AppState>,
    Query(q): Query<RankingsQuery>,
) -> ApiResult<Response> {
    let page = Page::new(q.page, q.limit, 10).map_err(ApiError::Validation)?;
    let city = filter("city", q.city)?;
    let key = format!(
        "{}:{}:{}",
        page.page,
        page.limit,
        city.as_deref().unwrap_or("").to_lowercase()
    );
    let loader = state.clone();
    let body = state
        .cache
        .get_or_load(Namespace::Rankings, &key, || async move {
            let rows = db::rankings::page(&loader.db, page, city.as_deref()).await?;
            let out: Vec<RankingEntry> = rows
                .into_iter()
                .zip(page.first_position()..)
                .map(|(r, position)| RankingEntry {
                    position,
                    username: domain::username(&r.first_name, &r.last_name),
                    city: r.city,
                    votes: r.votes,
                })
                .collect();
            serde_json::to_vec(&out)
                .map(Bytes::from)
                .map_err(ApiError::internal)
        })
        .await?;
    Ok(json_bytes(body))
}
