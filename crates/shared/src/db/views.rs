//! Views and trends: view counts deduplicated per viewer and hour (migrations
//! `20261203000003`, `20261204000001`), and the videos with the most votes in a recent window.

use std::net::IpAddr;

use sqlx::{FromRow, PgExecutor};

use super::videos::PublicVideo;

/// Who watched: an account, or — without a valid token — a client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// A player's account, by id.
    Player(i64),
    /// An anonymous client, by address.
    Address(IpAddr),
}

impl Viewer {
    /// The key stored in `video_views.viewer`: `p:<id>` or `a:<address>`.
    pub fn key(self) -> String {
        match self {
            Self::Player(id) => format!("p:{id}"),
            Self::Address(ip) => format!("a:{}", ip.to_canonical()),
        }
    }
}

/// What a view came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewOutcome {
    /// Counted: the video's `views_count` went up by one.
    Counted,
    /// This viewer was already counted for this video in this clock hour.
    AlreadyCounted,
    /// No such video, or it is not public.
    NotFound,
}

/// Counts a batch of views of public videos, each at most once per viewer, video and
/// clock hour (UTC): one call of the `record_views` function (migration
/// `20261204000001`) — one round trip, one transaction, each video's `views_count` raised
/// once by the batch's new views of it. One outcome per view, in order; a repeat of an
/// earlier view of the same batch is [`ViewOutcome::AlreadyCounted`].
pub async fn record_batch(
    db: impl PgExecutor<'_>,
    views: &[(i64, Viewer)],
) -> Result<Vec<ViewOutcome>, sqlx::Error> {
    let (videos, viewers): (Vec<i64>, Vec<String>) = views
        .iter()
        .map(|&(video, viewer)| (video, viewer.key()))
        .unzip();
    let outcomes: Vec<String> = sqlx::query_scalar("SELECT record_views($1, $2)")
        .bind(&videos)
        .bind(&viewers)
        .fetch_one(db)
        .await?;
    if outcomes.len() != views.len() {
        return Err(sqlx::Error::Protocol(format!(
            "record_views answered {} outcomes for {} views",
            outcomes.len(),
            views.len()
        )));
    }
    outcomes
        .iter()
        .map(|o| match o.as_str() {
            "counted" => Ok(ViewOutcome::Counted),
            "already-counted" => Ok(ViewOutcome::AlreadyCounted),
            "not-found" => Ok(ViewOutcome::NotFound),
            other => Err(sqlx::Error::Protocol(format!(
                "record_views answered an unknown outcome `{other}`"
            ))),
        })
        .collect()
}

/// Removes the deduplication rows of past hours: they decide nothing any more (a viewer
/// is counted again in a new hour whatever they hold). Returns how many went.
pub async fn prune(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM video_views WHERE hour < date_trunc('hour', now(), 'UTC')")
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// A public video trending in a window, with its owner.
#[derive(Debug, Clone, FromRow)]
pub struct TrendingVideo {
    /// The video as the public list shows it.
    #[sqlx(flatten)]
    pub video: PublicVideo,
    /// Counted votes received in the window.
    pub votes_in_window: i64,
}

/// Public videos by the counted votes they received in the last `window_hours` hours
/// (`votes.created_at`), ties by views then the older video (lower id); only videos with
/// at least one such vote. Reads the window's votes through `votes_created_idx`.
pub async fn trending(
    db: impl PgExecutor<'_>,
    window_hours: i32,
    limit: i64,
) -> Result<Vec<TrendingVideo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.id, v.title, v.uploaded_at, v.processed_key, v.thumbnail_key, v.preview_key,
                p.first_name, p.last_name, p.city, v.votes_count, v.views_count,
                w.n AS votes_in_window
           FROM (SELECT video_id, count(*) AS n
                   FROM votes
                  WHERE counted AND created_at > now() - make_interval(hours => $1)
                  GROUP BY video_id) w
           JOIN videos v ON v.id = w.video_id AND v.status = 'public'
           JOIN players p ON p.id = v.owner_id
          ORDER BY w.n DESC, v.views_count DESC, v.id ASC
          LIMIT $2",
    )
    .bind(window_hours)
    .bind(limit)
    .fetch_all(db)
    .await
}
