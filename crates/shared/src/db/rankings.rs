//! Rankings: players ordered by the votes on their public videos.
//!
//! The public pages ([`page`]) and the organizers' export ([`export`]) share one order
//! (`order!`): the CSV of the results is the public ranking row for row.

use sqlx::{FromRow, PgExecutor};

use crate::domain::Page;

/// The ranking's order: most votes first, then the player who signed up first (lower
/// id), so pages never overlap. Matches `players_ranking_idx` and
/// `players_city_ranking_idx`.
macro_rules! order {
    () => {
        " ORDER BY public_votes DESC, id ASC "
    };
}

/// One ranked player.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct RankingRow {
    /// Player id.
    pub player_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// City.
    pub city: String,
    /// Total votes on the player's public videos.
    pub votes: i64,
}

/// A page of the ranking. Only players with at least one public video are ranked;
/// ties go to the player who signed up first (lower id), so pages never overlap.
///
/// Reads the per-player totals that a trigger on `videos` keeps (migration
/// `20261123000001`), so a page is an index range scan (`players_ranking_idx`, or
/// `players_city_ranking_idx` with a city) instead of an aggregate over every public
/// video. Two statements, not one with `$1 IS NULL OR …`, so each has a plan that
/// uses its index.
pub async fn page(
    db: impl PgExecutor<'_>,
    page: Page,
    city: Option<&str>,
) -> Result<Vec<RankingRow>, sqlx::Error> {
    match city.map(str::trim) {
        None => {
            sqlx::query_as(concat!(
                "SELECT id AS player_id, first_name, last_name, city, public_votes AS votes
               FROM players
              WHERE public_videos > 0",
                order!(),
                "LIMIT $1 OFFSET $2"
            ))
            .bind(i64::from(page.limit))
            .bind(page.offset())
            .fetch_all(db)
            .await
        }
        Some(city) => {
            sqlx::query_as(concat!(
                "SELECT id AS player_id, first_name, last_name, city, public_votes AS votes
               FROM players
              WHERE public_videos > 0 AND lower(city) = lower($1)",
                order!(),
                "LIMIT $2 OFFSET $3"
            ))
            .bind(city)
            .bind(i64::from(page.limit))
            .bind(page.offset())
            .fetch_all(db)
            .await
        }
    }
}

/// One row of the organizers' export: a ranked player with what only organizers see.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ExportRow {
    /// Player id.
    pub player_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail as typed at sign-up.
    pub email: String,
    /// City.
    pub city: String,
    /// Total votes on the player's public videos.
    pub votes: i64,
    /// How many public videos the player has.
    pub public_videos: i32,
}

/// The whole ranking (every ranked player, no paging), optionally of one city
/// (case-insensitive), in the public ranking's order: the `n`-th row is position `n`.
pub async fn export(
    db: impl PgExecutor<'_>,
    city: Option<&str>,
) -> Result<Vec<ExportRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT id AS player_id, first_name, last_name, email, city, public_votes AS votes,
                public_videos
           FROM players
          WHERE public_videos > 0 AND ($1::TEXT IS NULL OR lower(city) = lower($1))",
        order!()
    ))
    .bind(city.map(str::trim))
    .fetch_all(db)
    .await
}
