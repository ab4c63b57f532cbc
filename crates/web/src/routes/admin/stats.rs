//! `GET /api/admin/stats`: the numbers behind the competition, for the organizers'
//! dashboard ([`db::stats::collect`]).
//!
//! Each instance keeps its last answer for [`STATS_TTL`]: the statements cost tens of
//! milliseconds at 200k votes (docs/PERFORMANCE.md §10), and however many dashboards poll,
//! an instance then runs them at most once per interval (concurrent misses wait for one
//! load).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use skillreel_shared::db::{self, stats};
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::Organizer,
    state::AppState,
};

/// How long an instance reuses its last answer.
pub const STATS_TTL: Duration = Duration::from_secs(2);

/// This instance's last answer, as JSON bytes, and when it was loaded.
#[derive(Debug, Clone, Default)]
pub struct StatsCache(Arc<Mutex<Option<(Instant, Bytes)>>>);

impl StatsCache {
    /// The answer loaded less than [`STATS_TTL`] ago, or a new one. The lock is held
    /// during the load, so concurrent requests share it.
    async fn get_or_load(&self, state: &AppState) -> ApiResult<Bytes> {
        let mut last = self.0.lock().await;
        if let Some((at, bytes)) = last.as_ref()
            && at.elapsed() < STATS_TTL
        {
            return Ok(bytes.clone());
        }
        let fresh: Stats = db::stats::collect(&state.db).await?.into();
        let bytes = Bytes::from(serde_json::to_vec(&fresh).map_err(ApiError::internal)?);
        *last = Some((Instant::now(), bytes.clone()));
        Ok(bytes)
    }
}

/// Videos by status.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoCounts {
    /// Stored, waiting for a worker.
    #[schema(minimum = 0)]
    pub uploaded: i64,
    /// Being processed.
    #[schema(minimum = 0)]
    pub processing: i64,
    /// Processed, not published.
    #[schema(minimum = 0)]
    pub processed: i64,
    /// Published.
    #[schema(minimum = 0)]
    pub public: i64,
    /// Processing gave up.
    #[schema(minimum = 0)]
    pub failed: i64,
    /// Hidden by an organizer.
    #[schema(minimum = 0)]
    pub hidden: i64,
}

/// One hour of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourCount {
    /// Start of the hour (UTC, RFC 3339).
    pub hour: DateTime<Utc>,
    /// How many in that hour.
    #[schema(minimum = 0)]
    pub count: i64,
}

/// A city's players and the votes they received.
#[derive(Debug, Serialize, ToSchema)]
pub struct CityCount {
    /// The city (cities are grouped case-insensitively).
    pub city: String,
    /// Players who live there.
    #[schema(minimum = 0)]
    pub players: i64,
    /// Counted votes on their public videos.
    #[schema(minimum = 0)]
    pub votes: i64,
}

/// The competition's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Accounts.
    #[schema(minimum = 0)]
    pub players: i64,
    /// Videos by status.
    pub videos: VideoCounts,
    /// Counted votes (a suspended player's votes are not).
    #[schema(minimum = 0)]
    pub votes: i64,
    /// Views (each viewer at most once per video and hour).
    #[schema(minimum = 0)]
    pub views: i64,
    /// Uploads per hour over the last 48 hours: 48 entries, oldest first, the current
    /// (partial) hour last, hours without uploads included.
    pub uploads_per_hour: Vec<HourCount>,
    /// Counted votes per hour, the same 48 hours.
    pub votes_per_hour: Vec<HourCount>,
    /// The 10 cities whose players received the most votes (then the most players).
    pub top_cities: Vec<CityCount>,
}

fn hours(series: Vec<stats::HourCount>) -> Vec<HourCount> {
    series
        .into_iter()
        .map(|h| HourCount {
            hour: h.hour,
            count: h.count,
        })
        .collect()
}

impl From<stats::Stats> for Stats {
    fn from(s: stats::Stats) -> Self {
        let v = s.videos;
        Self {
            players: s.players,
            videos: VideoCounts {
                uploaded: v.uploaded,
                processing: v.processing,
                processed: v.processed,
                public: v.public,
                failed: v.failed,
                hidden: v.hidden,
            },
            votes: s.votes,
            views: s.views,
            uploads_per_hour: hours(s.uploads_per_hour),
            votes_per_hour: hours(s.votes_per_hour),
            top_cities: s
                .top_cities
                .into_iter()
                .map(|c| CityCount {
                    city: c.city,
                    players: c.players,
                    votes: c.votes,
                })
                .collect(),
        }
    }
}

/// Players, videos by status, votes and views; uploads and votes per hour over the last
/// 48 hours; the top cities. At most 2 seconds old; cheap enough to poll every few
/// seconds (docs/PERFORMANCE.md §10).
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "the numbers as they stand", body = Stats),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn stats(State(state): State<AppState>, _organizer: Organizer) -> ApiResult<Response> {
    let bytes = state.stats.get_or_load(&state).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}
