//! Group commit of votes inside one web instance ([`crate::batch`]).
//!
//! A vote request hands its ballot to the [`VoteBatcher`] and waits for its outcome; a
//! batch of ballots is one call of [`db::votes::cast_batch`]. Nothing is acknowledged
//! before PostgreSQL committed it; when the database fails, every vote of the batch gets
//! the error ([`VoteError::Unavailable`] is a `503`), and while it stays unreachable one
//! probe batch at a time tries it and the others are answered `503` at once. Batches that
//! register votes refresh the public caches, coalesced ([`Refresh`]).
//!
//! The batches are per instance; correctness is the database's (the primary key, the
//! lock order of `cast_votes`), so any number of instances can write at once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::PgPool;

use crate::{
    batch::{Batcher, Write, WriteError},
    cache::{Namespace, PublicCache},
    config::VotesConfig,
    db::{
        self,
        votes::{Ballot, VoteOutcome},
    },
    metrics::WebMetrics,
};

/// Why a vote has no outcome.
pub type VoteError = WriteError;

/// The vote batcher of one process. Cheap to clone; its task ends with the last clone.
#[derive(Clone, Debug)]
pub struct VoteBatcher(Batcher<Votes>);

impl VoteBatcher {
    /// Starts the batcher on `db`. Batches that register votes refresh `cache`'s public
    /// namespaces, at most once per `config.refresh_every`.
    pub fn start(
        db: PgPool,
        config: &VotesConfig,
        cache: PublicCache,
        metrics: WebMetrics,
    ) -> Self {
        let votes = Votes {
            db,
            metrics,
            refresh: Refresh::new(cache, config.refresh_every),
        };
        Self(Batcher::start(votes, config.batch_max, config.in_flight))
    }

    /// Casts one vote; answers once the batch holding it is committed (or failed).
    pub async fn cast(&self, video_id: i64, player_id: i64) -> Result<VoteOutcome, VoteError> {
        self.0.submit((video_id, player_id)).await
    }
}

/// Votes as the batcher writes them.
pub struct Votes {
    db: PgPool,
    metrics: WebMetrics,
    refresh: Refresh,
}

impl Write for Votes {
    type Item = Ballot;
    type Outcome = VoteOutcome;
    const WHAT: &'static str = "vote";

    async fn write(&self, ballots: &[Ballot]) -> Result<Vec<VoteOutcome>, sqlx::Error> {
        db::votes::cast_batch(&self.db, ballots).await
    }

    async fn committed(&self, outcomes: &[VoteOutcome]) {
        if outcomes.contains(&VoteOutcome::Registered) {
            self.refresh.touch().await;
        }
    }

    fn batch_size(&self, size: usize) {
        self.metrics.vote_batch(size);
    }
}

/// Refreshes of the public caches after votes, coalesced: the first batch after a quiet
/// spell invalidates before its votes are answered (a voter sees their vote on the next
/// read of this instance; other instances within `CACHE_TTL_MS`); during a flood the
/// caches are invalidated at most once per `every`, and a batch inside the pause books one
/// invalidation at its end, so the last votes of a flood are never left out.
struct Refresh {
    cache: PublicCache,
    every: Duration,
    state: Arc<std::sync::Mutex<RefreshState>>,
}

#[derive(Default)]
struct RefreshState {
    last: Option<Instant>,
    booked: bool,
}

impl Refresh {
    fn new(cache: PublicCache, every: Duration) -> Self {
        Self {
            cache,
            every,
            state: Arc::default(),
        }
    }

    async fn touch(&self) {
        let now = Instant::now();
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.booked {
                return;
            }
            match state.last {
                Some(last) if now < last + self.every => {
                    state.booked = true;
                    last + self.every - now
                }
                _ => {
                    state.last = Some(now);
                    Duration::ZERO
                }
            }
        };
        if wait.is_zero() {
            invalidate(&self.cache).await;
            return;
        }
        let (cache, state) = (self.cache.clone(), self.state.clone());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                state.last = Some(Instant::now());
                state.booked = false;
            }
            invalidate(&cache).await;
        });
    }
}

async fn invalidate(cache: &PublicCache) {
    cache.invalidate(Namespace::Rankings).await;
    cache.invalidate(Namespace::PublicVideos).await;
}
