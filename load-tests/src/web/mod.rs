//! Web scenarios: virtual users driving the HTTP API (SPEC §2 routes only).
//!
//! A run starts `users` virtual users spread evenly over `ramp_up`, keeps them all
//! running for `hold`, then stops. It also stops as soon as `max_requests` requests
//! have been started. Either way no new request starts after the stop; requests
//! already in flight get until their timeout to finish, then are abandoned.

mod client;
mod mix;
mod seed;
mod user;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::stats::{Recorder, RunStats};
use client::Shared;
pub use mix::{Action, DEFAULT_MIX, Mix};
pub use seed::{SeedReport, ensure_public_videos};

/// How many users run when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Users at full load.
    pub users: u32,
    /// Time over which users start, evenly spaced (zero: all at once).
    pub ramp_up: Duration,
    /// Time all users keep running after the ramp.
    pub hold: Duration,
}

impl Profile {
    /// Wall-clock length of the load phase.
    pub fn total(&self) -> Duration {
        self.ramp_up + self.hold
    }

    /// When user `index` (0-based) starts: user 0 at once, the others evenly
    /// spread so the user count climbs linearly from 0 to `users` over `ramp_up`.
    pub fn start_offset(&self, index: u32) -> Duration {
        if self.users == 0 {
            return Duration::ZERO;
        }
        self.ramp_up * index / self.users
    }
}

/// Everything a web run needs; built from the CLI, or directly by tests.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// API under test (already vetted by [`crate::target::check_base_url`]).
    pub base_url: Url,
    /// User schedule.
    pub profile: Profile,
    /// Hard cap on requests started (sign-ups and logins included).
    pub max_requests: u64,
    /// Shortest pause between two actions of one user.
    pub think_min: Duration,
    /// Longest pause between two actions of one user.
    pub think_max: Duration,
    /// Weighted choice of actions.
    pub mix: Mix,
    /// MP4 uploaded by the upload action; `None` skips uploads.
    pub clip: Option<Bytes>,
    /// Per-request timeout (connect to end of body).
    pub request_timeout: Duration,
    /// Seeds every user's random choices, so a run can be repeated.
    pub seed: u64,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The profile's time ran out.
    Duration,
    /// `max_requests` requests were started.
    RequestLimit,
    /// Ctrl-C: the results so far are still written.
    Interrupted,
}

/// What a finished web run measured.
#[derive(Debug, Clone)]
pub struct WebRun {
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// From start until the last user stopped.
    pub elapsed: Duration,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Requests started; more than finished ones when some were abandoned.
    pub started_requests: u64,
    /// Measurements.
    pub stats: RunStats,
    /// Actions a user chose but could not perform, by reason.
    pub skipped: BTreeMap<String, u64>,
}

impl WebRun {
    /// Requests started but never finished (abandoned after the drain timeout).
    pub fn unfinished_requests(&self) -> u64 {
        self.started_requests
            .saturating_sub(self.stats.total_requests())
    }
}

/// Runs one web scenario to completion.
pub async fn run(config: WebConfig) -> Result<WebRun> {
    let started_at = Utc::now();
    let recorder = Recorder::new();
    let start = recorder.start();
    let deadline = start + config.profile.total();
    let drain = config.request_timeout + Duration::from_secs(1);
    let shared = Arc::new(Shared::new(&config, recorder).context("building the HTTP client")?);

    let mut users = JoinSet::new();
    for index in 0..config.profile.users {
        let offset = config.profile.start_offset(index);
        users.spawn(user::run(Arc::clone(&shared), index, start + offset));
    }
    let sampler = tokio::spawn(sample_users(Arc::clone(&shared)));

    let stop_reason = tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => StopReason::Duration,
        _ = shared.cancel.cancelled() => StopReason::RequestLimit,
        _ = interrupted() => StopReason::Interrupted,
    };
    // The load present when the run stops also describes the drain second(s),
    // whose requests were sent under it; after the drain no user is left.
    shared
        .recorder
        .sample_users(Instant::now(), shared.active_users());
    shared.cancel.cancel();

    // Users stop at their next step; a request in flight may still need up to the
    // request timeout, after which the run gives up on it rather than hang.
    let drained = tokio::time::timeout(drain, async {
        while let Some(joined) = users.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            drain_ms = drain.as_millis() as u64,
            "abandoning requests still in flight"
        );
        users.abort_all();
    }
    sampler.abort();
    let end = Instant::now();

    Ok(WebRun {
        started_at,
        elapsed: end - start,
        stop_reason,
        started_requests: shared.started_requests(),
        stats: shared.recorder.snapshot(),
        skipped: shared.skipped(),
    })
}

/// Resolves on Ctrl-C; never, if the signal handler cannot be installed (the run
/// then still ends on its own limits).
pub(crate) async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Records the active-user gauge once per second, mid-second so each sample lands
/// unambiguously in its own bucket.
async fn sample_users(shared: Arc<Shared>) {
    let first = shared.recorder.start() + Duration::from_millis(500);
    let mut tick = tokio::time::interval_at(first.into(), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            at = tick.tick() => shared.recorder.sample_users(at.into_std(), shared.active_users()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_spreads_user_starts_linearly() {
        let profile = Profile {
            users: 4,
            ramp_up: Duration::from_secs(8),
            hold: Duration::from_secs(10),
        };
        let offsets: Vec<u64> = (0..4).map(|i| profile.start_offset(i).as_secs()).collect();
        assert_eq!(offsets, vec![0, 2, 4, 6]);
        assert_eq!(profile.total(), Duration::from_secs(18));

        let flat = Profile {
            ramp_up: Duration::ZERO,
            ..profile
        };
        assert!((0..4).all(|i| flat.start_offset(i) == Duration::ZERO));
    }
}
