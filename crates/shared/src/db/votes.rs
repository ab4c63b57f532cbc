//! Votes: one per player and video, enforced by the primary key.

use sqlx::PgPool;

/// What happened to a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Counted.
    Registered,
    /// This player had already voted for this video.
    AlreadyVoted,
    /// Players cannot vote for their own videos.
    OwnVideo,
    /// No such video, or it is not public.
    NotFound,
}

/// Casts a vote. Concurrent duplicates are serialised by the primary key: the
/// second insert waits for the first and then does nothing.
pub async fn cast(db: &PgPool, video_id: i64, player_id: i64) -> Result<VoteOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let video: Option<(i64, String)> =
        sqlx::query_as("SELECT owner_id, status FROM videos WHERE id = $1")
            .bind(video_id)
            .fetch_optional(&mut *tx)
            .await?;
    let outcome = match video {
        None => VoteOutcome::NotFound,
        Some((_, status)) if status != "public" => VoteOutcome::NotFound,
        Some((owner, _)) if owner == player_id => VoteOutcome::OwnVideo,
        Some(_) => {
            let inserted = sqlx::query(
                "INSERT INTO votes (video_id, player_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(video_id)
            .bind(player_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                VoteOutcome::AlreadyVoted
            } else {
                sqlx::query("UPDATE videos SET votes_count = votes_count + 1 WHERE id = $1")
                    .bind(video_id)
                    .execute(&mut *tx)
                    .await?;
                VoteOutcome::Registered
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}
