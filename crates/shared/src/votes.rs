//! Group commit of votes inside one web instance.
//!
//! A vote request hands its ballot to the [`VoteBatcher`] and waits for its outcome. The
//! batcher writes ballots in batches: whenever one of its `in_flight` slots is free it
//! takes every ballot that has arrived (up to `batch_max`) and writes them with one call
//! of [`db::votes::cast_batch`] — one round trip, one transaction, one WAL flush. Under
//! a light load a batch holds one vote and is written at once; under a flood the votes
//! that arrive while the slots are busy make the next batches bigger, so the database
//! does per-batch work (a statement, a commit, a counter update per video and per owner)
//! a few hundred times a second instead of per vote.
//!
//! Nothing is acknowledged before PostgreSQL committed it: a request is answered from its
//! own row of the batch's answer, after the commit. When the database fails, every vote of
//! the batch gets the error ([`VoteError::Unavailable`] is a `503`); the vote may still
//! have been stored (a commit whose answer was lost), never the other way round. A batch
//! refused for another reason (a voter deleted between the check and the insert, say) is
//! written again one ballot at a time, so one bad ballot fails only its own request.
//! After a batch found the database unreachable, one batch at a time probes it and the
//! others are answered `503` at once, until a probe gets through.
//!
//! The batches are per instance; correctness is the database's (the primary key, the
//! lock order of `cast_votes`), so any number of instances can write at once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{
    cache::{Namespace, PublicCache},
    config::VotesConfig,
    db::{
        self,
        votes::{Ballot, VoteOutcome},
    },
    metrics::WebMetrics,
};

/// Why a vote has no outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VoteError {
    /// PostgreSQL is down, restarting or overloaded; the vote may or may not be stored.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the vote for another reason.
    #[error("vote failed: {0}")]
    Failed(String),
}

impl From<sqlx::Error> for VoteError {
    fn from(err: sqlx::Error) -> Self {
        if db::is_unavailable(&err) {
            Self::Unavailable(err.to_string())
        } else {
            Self::Failed(err.to_string())
        }
    }
}

type Reply = oneshot::Sender<Result<VoteOutcome, VoteError>>;

struct Pending {
    ballot: Ballot,
    reply: Reply,
}

/// Ballots waiting for a batch, at most (requests beyond it wait to hand theirs in).
const QUEUE: usize = 8192;

/// Attempts of a batch that lost a deadlock or serialization race (the lock order of
/// `cast_votes` should make them impossible; other writers of `videos` may not follow it).
const RACE_ATTEMPTS: usize = 3;

/// The vote batcher of one process. Cheap to clone; its task ends with the last clone.
#[derive(Clone)]
pub struct VoteBatcher {
    sender: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for VoteBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VoteBatcher")
    }
}

impl VoteBatcher {
    /// Starts the batcher on `db`. Batches that register votes refresh `cache`'s public
    /// namespaces, at most once per `config.refresh_every`.
    pub fn start(
        db: PgPool,
        config: &VotesConfig,
        cache: PublicCache,
        metrics: WebMetrics,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let refresh = Refresh::new(cache, config.refresh_every);
        let writer = Writer {
            db,
            metrics,
            refresh,
            outage: Outage::default(),
        };
        tokio::spawn(collect(
            receiver,
            writer,
            config.batch_max.max(1),
            config.in_flight.max(1),
        ));
        Self { sender }
    }

    /// Casts one vote; answers once the batch holding it is committed (or failed).
    pub async fn cast(&self, video_id: i64, player_id: i64) -> Result<VoteOutcome, VoteError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            ballot: (video_id, player_id),
            reply,
        };
        let stopped = || VoteError::Unavailable("the vote batcher has stopped".into());
        self.sender.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes ballots as they arrive and hands them to writers, one batch per free slot.
async fn collect(
    mut receiver: mpsc::Receiver<Pending>,
    writer: Writer,
    batch_max: usize,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    let writer = Arc::new(writer);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(batch_max.min(64));
        batch.push(first);
        while batch.len() < batch_max {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let writer = writer.clone();
        tokio::spawn(async move {
            writer.write(batch).await;
            drop(slot);
        });
    }
}

struct Writer {
    db: PgPool,
    metrics: WebMetrics,
    refresh: Refresh,
    outage: Outage,
}

/// Fail fast while the database is down: after a batch failed because PostgreSQL was
/// unreachable, one batch at a time tries again (the probe) and the others are answered
/// `503` at once, instead of each waiting out the pool's connect timeout. The first probe
/// that gets through closes the outage.
#[derive(Default)]
struct Outage(std::sync::Mutex<OutageState>);

#[derive(Default)]
struct OutageState {
    down: bool,
    probing: bool,
}

/// Whether an admitted batch is the outage's probe.
#[derive(Clone, Copy)]
struct Probe(bool);

impl Outage {
    /// `None`: refuse the batch now. `Some`: write it.
    fn admit(&self) -> Option<Probe> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match (state.down, state.probing) {
            (false, _) => Some(Probe(false)),
            (true, false) => {
                state.probing = true;
                Some(Probe(true))
            }
            (true, true) => None,
        }
    }

    /// Records how an admitted batch went.
    fn settle(&self, probe: Probe, unavailable: bool) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if probe.0 {
            state.probing = false;
        }
        if unavailable && !state.down {
            tracing::warn!(
                "vote batches: the database is unreachable; answering 503 at once until a probe batch gets through"
            );
        } else if !unavailable && state.down {
            tracing::info!("vote batches: the database answers again");
        }
        state.down = unavailable;
    }
}

impl Writer {
    async fn write(&self, batch: Vec<Pending>) {
        let ballots: Vec<Ballot> = batch.iter().map(|p| p.ballot).collect();
        self.metrics.vote_batch(ballots.len());
        let Some(probe) = self.outage.admit() else {
            let e =
                VoteError::Unavailable("the database did not answer the last vote batch".into());
            for pending in batch {
                let _ = pending.reply.send(Err(e.clone()));
            }
            return;
        };
        let written = self.cast(&ballots).await;
        self.outage
            .settle(probe, matches!(written, Err(VoteError::Unavailable(_))));
        match written {
            Ok(outcomes) => self.answer(batch, outcomes).await,
            Err(VoteError::Failed(e)) if batch.len() > 1 => {
                tracing::warn!(error = %e, votes = batch.len(), "vote batch refused; writing its votes one by one");
                for pending in batch {
                    let outcome = self.cast(&[pending.ballot]).await.map(|o| o[0]);
                    if matches!(outcome, Ok(VoteOutcome::Registered)) {
                        self.refresh.touch().await;
                    }
                    let _ = pending.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, votes = batch.len(), "vote batch failed");
                for pending in batch {
                    let _ = pending.reply.send(Err(e.clone()));
                }
            }
        }
    }

    async fn cast(&self, ballots: &[Ballot]) -> Result<Vec<VoteOutcome>, VoteError> {
        let mut attempt = 1;
        loop {
            match db::votes::cast_batch(&self.db, ballots).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(e) if attempt < RACE_ATTEMPTS && db::is_retryable_race(&e) => {
                    tracing::info!(error = %e, attempt, "vote batch lost a lock race; writing it again");
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn answer(&self, batch: Vec<Pending>, outcomes: Vec<VoteOutcome>) {
        if outcomes.contains(&VoteOutcome::Registered) {
            self.refresh.touch().await;
        }
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            // A client that went away still had its vote written; nobody to tell.
            let _ = pending.reply.send(Ok(outcome));
        }
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
