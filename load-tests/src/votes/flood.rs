//! The flood: `connections` tasks in closed loop over a shuffled list of every
//! (voter, video) pair, optionally with re-sent pairs mixed in; `readers` tasks reading
//! the rankings meanwhile; and the visibility probe. The flood ends when the pairs run
//! out, at `--duration`, when the request budget is spent, or on Ctrl-C.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::conn::{Conn, Target};
use super::probe::{self, ProbeReport, ProbeSetup};
use super::tally::Tally;

/// The votes of a run, in sending order: `(voter index, video index)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every pair once, plus the re-sent ones, shuffled together.
    pub pairs: Vec<(u32, u32)>,
    /// Distinct pairs (`voters × videos`).
    pub unique: usize,
}

impl Plan {
    /// Every pair of `voters × videos`, plus `round(duplicates × pairs)` of them
    /// drawn again at random, in an order fixed by `seed`.
    pub fn new(voters: u32, videos: u32, duplicates: f64, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut pairs: Vec<(u32, u32)> = (0..voters)
            .flat_map(|v| (0..videos).map(move |w| (v, w)))
            .collect();
        let unique = pairs.len();
        let extra = (unique as f64 * duplicates).round() as usize;
        for _ in 0..extra {
            let again = pairs[rng.random_range(0..unique)];
            pairs.push(again);
        }
        pairs.shuffle(&mut rng);
        Self { pairs, unique }
    }

    /// Pairs re-sent (expected `400`).
    pub fn duplicates(&self) -> usize {
        self.pairs.len() - self.unique
    }

    /// Distinct pairs among the first `sent`: how many `200`s those requests should
    /// get (the rest should get `400`), whichever copy of a pair arrives first.
    pub fn distinct_in_first(&self, sent: usize) -> usize {
        let mut seen = HashSet::with_capacity(sent.min(self.unique));
        self.pairs[..sent.min(self.pairs.len())]
            .iter()
            .filter(|p| seen.insert(**p))
            .count()
    }
}

/// Why the flood ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VotesStop {
    /// Every pair was sent.
    PairsDone,
    /// `--duration` passed first.
    Duration,
    /// `--max-requests` were started.
    MaxRequests,
    /// Ctrl-C.
    Interrupted,
}

/// Everything the flood needs.
pub struct FloodSetup {
    pub target: Target,
    pub plan: Plan,
    /// Vote request target per video index.
    pub vote_uris: Vec<Uri>,
    /// `Authorization` per voter index.
    pub voter_auth: Vec<HeaderValue>,
    pub connections: u32,
    pub readers: u32,
    /// What readers read, in turn.
    pub reader_uris: Vec<Uri>,
    pub probe: Option<ProbeSetup>,
    pub duration: Duration,
    pub max_requests: u64,
    pub request_timeout: Duration,
}

/// What the flood measured.
pub struct FloodRun {
    pub started_at: DateTime<Utc>,
    /// Vote answers.
    pub votes: Tally,
    /// Reader answers.
    pub reads: Tally,
    pub probe: Option<ProbeReport>,
    pub stop_reason: VotesStop,
    /// Pairs taken from the plan (sent, answered or not).
    pub sent: usize,
    /// Distinct pairs among them: the `200`s they should get.
    pub expected_ok: usize,
    /// Distinct pairs in the plan.
    pub unique: usize,
    /// Re-sent pairs in the plan.
    pub duplicates: usize,
    /// When a task first found the plan empty.
    pub exhausted_at: Option<Duration>,
    /// When a stop (time, budget, Ctrl-C) was called.
    pub stopped_at: Option<Duration>,
    /// Start until the last vote task ended.
    pub elapsed: Duration,
    /// Requests started by votes, readers and probe together.
    pub started_requests: u64,
}

/// State every task of a flood shares.
pub(super) struct Flood {
    pub target: Target,
    pub timeout: Duration,
    pub start: Instant,
    plan: Plan,
    vote_uris: Vec<Uri>,
    voter_auth: Vec<HeaderValue>,
    reader_uris: Vec<Uri>,
    next: AtomicUsize,
    exhausted_at: OnceLock<Duration>,
    issued: AtomicU64,
    max_requests: u64,
    /// No new vote after this (time up, budget spent, Ctrl-C).
    pub stop: CancellationToken,
    /// No new read or probe after this (the votes are over).
    pub aux_stop: CancellationToken,
    /// Requests still in flight give up.
    pub abandon: CancellationToken,
}

impl Flood {
    /// Takes one request from the budget; spending the last one stops the flood.
    pub fn take_budget(&self) -> bool {
        if self.issued.fetch_add(1, Ordering::Relaxed) >= self.max_requests {
            self.stop.cancel();
            return false;
        }
        true
    }
}

/// Runs the flood to its end and gathers every task's counts.
pub async fn run(setup: FloodSetup) -> Result<FloodRun> {
    let started_at = Utc::now();
    let flood = Arc::new(Flood {
        target: setup.target,
        timeout: setup.request_timeout,
        start: Instant::now(),
        plan: setup.plan,
        vote_uris: setup.vote_uris,
        voter_auth: setup.voter_auth,
        reader_uris: setup.reader_uris,
        next: AtomicUsize::new(0),
        exhausted_at: OnceLock::new(),
        issued: AtomicU64::new(0),
        max_requests: setup.max_requests,
        stop: CancellationToken::new(),
        aux_stop: CancellationToken::new(),
        abandon: CancellationToken::new(),
    });
    let mut voters = JoinSet::new();
    for _ in 0..setup.connections {
        voters.spawn(vote_loop(Arc::clone(&flood)));
    }
    let mut readers = JoinSet::new();
    for first in 0..setup.readers as usize {
        readers.spawn(read_loop(Arc::clone(&flood), first));
    }
    let mut probe = setup
        .probe
        .map(|p| tokio::spawn(probe::run(Arc::clone(&flood), p)));

    let (votes, stop_reason, stopped_at) = watch(&flood, voters, setup.duration).await?;
    let elapsed = flood.start.elapsed();

    // Readers and probe outlive the votes by one request at most.
    flood.aux_stop.cancel();
    let drain = flood.timeout + Duration::from_secs(1);
    let mut reads = Tally::default();
    if tokio::time::timeout(drain, merge_all(&mut readers, &mut reads))
        .await
        .is_err()
    {
        flood.abandon.cancel();
        merge_all(&mut readers, &mut reads).await?;
    }
    let probe = match probe.as_mut() {
        None => None,
        Some(handle) => Some(match tokio::time::timeout(drain, &mut *handle).await {
            Ok(report) => report.context("the probe task panicked")?,
            Err(_) => {
                flood.abandon.cancel();
                handle.await.context("the probe task panicked")?
            }
        }),
    };
    let sent = flood
        .next
        .load(Ordering::Relaxed)
        .min(flood.plan.pairs.len());
    Ok(FloodRun {
        started_at,
        votes,
        reads,
        probe,
        stop_reason,
        sent,
        expected_ok: flood.plan.distinct_in_first(sent),
        unique: flood.plan.unique,
        duplicates: flood.plan.duplicates(),
        exhausted_at: flood.exhausted_at.get().copied(),
        stopped_at,
        elapsed,
        started_requests: flood.issued.load(Ordering::Relaxed).min(flood.max_requests),
    })
}

/// Waits for the vote tasks to finish; stops them at `duration`, on Ctrl-C or when
/// the budget is spent, giving requests in flight the request timeout (+1 s) to end.
async fn watch(
    flood: &Flood,
    mut voters: JoinSet<Tally>,
    duration: Duration,
) -> Result<(Tally, VotesStop, Option<Duration>)> {
    let mut votes = Tally::default();
    let mut reason = None;
    let mut stopped_at = None;
    let cap = tokio::time::sleep(duration);
    let interrupted = crate::web::interrupted();
    let drain = tokio::time::sleep(duration);
    tokio::pin!(cap, interrupted, drain);
    let mut draining = false;
    loop {
        let stopping = tokio::select! {
            joined = voters.join_next() => match joined {
                Some(tally) => {
                    votes.merge(&tally.context("a vote task panicked")?);
                    None
                }
                None => break,
            },
            () = &mut cap, if reason.is_none() => Some(VotesStop::Duration),
            () = &mut interrupted, if reason.is_none() => Some(VotesStop::Interrupted),
            () = flood.stop.cancelled(), if reason.is_none() => Some(VotesStop::MaxRequests),
            () = &mut drain, if draining => {
                flood.abandon.cancel();
                draining = false;
                None
            }
        };
        if let Some(why) = stopping {
            reason = Some(why);
            stopped_at = Some(flood.start.elapsed());
            flood.stop.cancel();
            drain
                .as_mut()
                .reset(tokio::time::Instant::now() + flood.timeout + Duration::from_secs(1));
            draining = true;
        }
    }
    // The budget may have stopped every task before its branch above was polled.
    let reason = reason.unwrap_or(if flood.stop.is_cancelled() {
        VotesStop::MaxRequests
    } else {
        VotesStop::PairsDone
    });
    Ok((votes, reason, stopped_at))
}

async fn merge_all(set: &mut JoinSet<Tally>, into: &mut Tally) -> Result<()> {
    while let Some(tally) = set.join_next().await {
        into.merge(&tally.context("a reader task panicked")?);
    }
    Ok(())
}

/// One connection voting pair after pair, until the plan is empty or the flood stops.
async fn vote_loop(flood: Arc<Flood>) -> Tally {
    let mut conn = Conn::new(flood.target.clone(), flood.timeout);
    let mut tally = Tally::default();
    while !flood.stop.is_cancelled() && flood.take_budget() {
        let index = flood.next.fetch_add(1, Ordering::Relaxed);
        let Some(&(voter, video)) = flood.plan.pairs.get(index) else {
            flood.exhausted_at.get_or_init(|| flood.start.elapsed());
            break;
        };
        let uri = &flood.vote_uris[video as usize];
        let auth = &flood.voter_auth[voter as usize];
        if !timed_send(&flood, &mut conn, &mut tally, Method::POST, uri, Some(auth)).await {
            break;
        }
    }
    tally.connects = conn.connects;
    tally
}

/// One connection reading the rankings in closed loop while the votes pour in.
async fn read_loop(flood: Arc<Flood>, first: usize) -> Tally {
    let mut conn = Conn::new(flood.target.clone(), flood.timeout);
    let mut tally = Tally::default();
    let mut turn = first;
    // Every reader reads at least once, however short the flood.
    while (turn == first || !flood.aux_stop.is_cancelled()) && flood.take_budget() {
        let uri = &flood.reader_uris[turn % flood.reader_uris.len()];
        turn += 1;
        if !timed_send(&flood, &mut conn, &mut tally, Method::GET, uri, None).await {
            break;
        }
    }
    tally.connects = conn.connects;
    tally
}

/// Sends one request and records its answer and latency; `false` when the run was
/// abandoned meanwhile (the request is counted unfinished).
async fn timed_send(
    flood: &Flood,
    conn: &mut Conn,
    tally: &mut Tally,
    method: Method,
    uri: &Uri,
    auth: Option<&HeaderValue>,
) -> bool {
    let sent = Instant::now();
    tokio::select! {
        answer = conn.send(method, uri, auth) => {
            tally.record(flood.start, sent, answer.map(|a| a.status));
            true
        }
        () = flood.abandon.cancelled() => {
            tally.unfinished += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_holds_every_pair_once_plus_the_duplicates() {
        let plan = Plan::new(20, 5, 0.2, 7);
        assert_eq!(plan.unique, 100);
        assert_eq!(plan.pairs.len(), 120);
        assert_eq!(plan.duplicates(), 20);
        let distinct: HashSet<_> = plan.pairs.iter().copied().collect();
        assert_eq!(distinct.len(), 100);
        assert!(distinct.iter().all(|(v, w)| *v < 20 && *w < 5));
        assert_eq!(plan.distinct_in_first(plan.pairs.len()), 100);
        assert_eq!(plan.distinct_in_first(1_000), 100);
        assert_eq!(plan.distinct_in_first(1), 1);
        assert_eq!(plan.distinct_in_first(0), 0);
        // Shuffled, and the same for the same seed.
        let in_order: Vec<(u32, u32)> = (0..20).flat_map(|v| (0..5).map(move |w| (v, w))).collect();
        assert_ne!(plan.pairs[..100], in_order[..]);
        assert_eq!(Plan::new(20, 5, 0.2, 7), plan);
        assert_ne!(Plan::new(20, 5, 0.2, 8), plan);
    }

    #[test]
    fn without_duplicates_every_sent_pair_is_distinct() {
        let plan = Plan::new(7, 3, 0.0, 1);
        assert_eq!(plan.pairs.len(), 21);
        for sent in [0, 5, 21] {
            assert_eq!(plan.distinct_in_first(sent), sent);
        }
        assert_eq!(Plan::new(4, 4, 1.5, 1).duplicates(), 24);
    }
}
