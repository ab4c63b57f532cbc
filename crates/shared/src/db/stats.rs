//! The organizers' numbers: totals, the last 48 hours hour by hour, and the top cities.
//!
//! Five statements in one read-only `REPEATABLE READ` transaction, so the numbers agree
//! with each other. None grows with history beyond 48 hours: the hourly series read
//! `videos_uploaded_idx` and `votes_created_idx` from the window's start; the totals are
//! counts over `players` and `videos` and an index-only count of counted votes
//! (docs/PERFORMANCE.md §10 has the figures at 20k videos and 200k votes).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// Hours in the series.
pub const HOURS: i32 = 48;

/// Cities in [`Stats::top_cities`].
pub const TOP_CITIES: i64 = 10;

/// Videos by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct VideoCounts {
    /// Stored, waiting for a worker.
    pub uploaded: i64,
    /// Being processed.
    pub processing: i64,
    /// Processed, not published.
    pub processed: i64,
    /// Published.
    pub public: i64,
    /// Processing gave up.
    pub failed: i64,
    /// Hidden by an organizer.
    pub hidden: i64,
}

/// One hour of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct HourCount {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// What happened in it.
    pub count: i64,
}

/// A city's players and the votes they received.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CityCount {
    /// The city (one spelling of it: cities are grouped case-insensitively).
    pub city: String,
    /// Players who live there.
    pub players: i64,
    /// Counted votes on their public videos (what the rankings count).
    pub votes: i64,
}

/// Everything `GET /api/admin/stats` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Accounts.
    pub players: i64,
    /// Videos by status.
    pub videos: VideoCounts,
    /// Counted votes.
    pub votes: i64,
    /// Views (deduplicated per viewer and hour).
    pub views: i64,
    /// Uploads per hour, the last [`HOURS`] hours, oldest first, the current hour last.
    pub uploads_per_hour: Vec<HourCount>,
    /// Counted votes per hour, same hours.
    pub votes_per_hour: Vec<HourCount>,
    /// The [`TOP_CITIES`] cities whose players received the most votes.
    pub top_cities: Vec<CityCount>,
}

#[derive(FromRow)]
struct Totals {
    players: i64,
    votes: i64,
    views: i64,
    #[sqlx(flatten)]
    videos: VideoCounts,
}

/// Per-hour counts of `$table.$column` (rows matching `$filter`) over the last
/// [`HOURS`] hours, every hour present. `date_bin` on a UTC origin rather than
/// `date_trunc(.., 'UTC')`: the same hours, at half the cost over 100k rows.
macro_rules! per_hour {
    ($table:literal, $column:literal, $filter:literal) => {
        concat!(
            "WITH bounds AS (
                 SELECT date_bin('1 hour', now(), '2000-01-01T00:00:00Z') AS last),
              counted AS (
                 SELECT date_bin('1 hour', ",
            $column,
            ", '2000-01-01T00:00:00Z') AS hour,
                        count(*) AS n
                   FROM ",
            $table,
            "
                  WHERE ",
            $filter,
            "
                    AND ",
            $column,
            " >= (SELECT last FROM bounds) - make_interval(hours => $1 - 1)
                  GROUP BY 1)
             SELECT h.hour, COALESCE(c.n, 0) AS count
               FROM bounds,
                    generate_series(bounds.last - make_interval(hours => $1 - 1), bounds.last,
                                    interval '1 hour') AS h(hour)
               LEFT JOIN counted c ON c.hour = h.hour
              ORDER BY h.hour"
        )
    };
}

/// The numbers as they stand.
pub async fn collect(db: &PgPool) -> Result<Stats, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let totals: Totals = sqlx::query_as(
        "SELECT (SELECT count(*) FROM players) AS players,
                (SELECT count(*) FROM votes WHERE counted) AS votes,
                COALESCE(sum(views_count), 0)::BIGINT AS views,
                count(*) FILTER (WHERE status = 'uploaded') AS uploaded,
                count(*) FILTER (WHERE status = 'processing') AS processing,
                count(*) FILTER (WHERE status = 'processed') AS processed,
                count(*) FILTER (WHERE status = 'public') AS public,
                count(*) FILTER (WHERE status = 'failed') AS failed,
                count(*) FILTER (WHERE status = 'hidden') AS hidden
           FROM videos",
    )
    .fetch_one(&mut *tx)
    .await?;
    let uploads_per_hour = sqlx::query_as(per_hour!("videos", "uploaded_at", "true"))
        .bind(HOURS)
        .fetch_all(&mut *tx)
        .await?;
    let votes_per_hour = sqlx::query_as(per_hour!("votes", "created_at", "counted"))
        .bind(HOURS)
        .fetch_all(&mut *tx)
        .await?;
    let top_cities = sqlx::query_as(
        "SELECT min(city) AS city, count(*) AS players,
                COALESCE(sum(public_votes), 0)::BIGINT AS votes
           FROM players
          GROUP BY lower(city)
          ORDER BY votes DESC, players DESC, lower(city)
          LIMIT $1",
    )
    .bind(TOP_CITIES)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stats {
        players: totals.players,
        videos: totals.videos,
        votes: totals.votes,
        views: totals.views,
        uploads_per_hour,
        votes_per_hour,
        top_cities,
    })
}
