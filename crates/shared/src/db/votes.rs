//! Votes: one per player and video, enforced by the primary key.
//!
//! A batch of votes is one call of the `cast_votes` function (migrations
//! `20261202000003`, `20261203000001`): one round trip and one transaction that checks
//! every vote (voting is open, the voter exists and is not suspended, the video is public
//! and not the voter's own), inserts the eligible ones
//! with one `INSERT … ON CONFLICT DO NOTHING`, and raises each video's `votes_count` once
//! by the batch's votes for it; statement triggers carry the sums to the owners' totals.
//! Locks are taken in a fixed order, so concurrent batches never deadlock. A batch first
//! takes shared advisory locks on its voters' buckets (`voter_lock_key`); a suspension
//! takes its player's bucket exclusively, so no vote checked before a suspension lands
//! after it as a counted vote.

use sqlx::PgExecutor;

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
    /// The voter's account does not exist (any more).
    UnknownPlayer,
    /// The voter's account is suspended.
    Suspended,
    /// The competition's voting closed (`competition.voting_close_at` has passed).
    VotingClosed,
}

impl VoteOutcome {
    fn parse(outcome: &str) -> Result<Self, sqlx::Error> {
        Ok(match outcome {
            "registered" => Self::Registered,
            "already-voted" => Self::AlreadyVoted,
            "own-video" => Self::OwnVideo,
            "not-found" => Self::NotFound,
            "unknown-player" => Self::UnknownPlayer,
            "suspended" => Self::Suspended,
            "voting-closed" => Self::VotingClosed,
            other => {
                return Err(sqlx::Error::Protocol(format!(
                    "cast_votes answered an unknown outcome {other:?}"
                )));
            }
        })
    }
}

/// One vote: `(video_id, player_id)`.
pub type Ballot = (i64, i64);

/// Casts a batch of votes in one transaction; answers one outcome per ballot, in order.
/// A pair repeated inside the batch is registered at most once.
pub async fn cast_batch(
    db: impl PgExecutor<'_>,
    ballots: &[Ballot],
) -> Result<Vec<VoteOutcome>, sqlx::Error> {
    let (videos, players): (Vec<i64>, Vec<i64>) = ballots.iter().copied().unzip();
    let rows: Vec<(i32, String)> =
        sqlx::query_as("SELECT vote_slot, vote_outcome FROM cast_votes($1, $2)")
            .bind(&videos)
            .bind(&players)
            .fetch_all(db)
            .await?;
    let mut outcomes = vec![None; ballots.len()];
    for (slot, outcome) in rows {
        let slot = usize::try_from(slot - 1)
            .ok()
            .filter(|s| *s < ballots.len())
            .ok_or_else(|| sqlx::Error::Protocol(format!("cast_votes answered slot {slot}")))?;
        outcomes[slot] = Some(VoteOutcome::parse(&outcome)?);
    }
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| sqlx::Error::Protocol("cast_votes skipped a ballot".into())))
        .collect()
}
