//! Rankings: players ordered by the votes on their public videos.

use sqlx::{FromRow, PgExecutor};

use crate::domain::Page;

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
pub async fn page(
    db: impl PgExecutor<'_>,
    page: Page,
    city: Option<&str>,
) -> Result<Vec<RankingRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id AS player_id, p.first_name, p.last_name, p.city, t.votes
           FROM (SELECT owner_id, SUM(votes_count)::BIGINT AS votes
                   FROM videos WHERE status = 'public' GROUP BY owner_id) t
           JOIN players p ON p.id = t.owner_id
          WHERE ($1::TEXT IS NULL OR lower(p.city) = lower($1))
          ORDER BY t.votes DESC, p.id ASC
          LIMIT $2 OFFSET $3",
    )
    .bind(city.map(str::trim))
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(db)
    .await
}
