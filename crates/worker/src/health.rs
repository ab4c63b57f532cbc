//! Backend outages: waited out, logged at a bounded rate, reported by `/health`.
//!
//! A worker never gives up on Redis or PostgreSQL: every call that needs one is retried
//! with backoff until it answers (or the worker is told to stop). The first failure is
//! logged at once, then one line per [`REPEAT`] while it lasts, then the recovery with
//! the outage's length; `/health` on the metrics listener answers `503` naming what is
//! down, and `skillreel_worker_degraded` is 1, for as long as anything is.

use std::{
    fmt::Display,
    future::Future,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use skillreel_shared::metrics::WorkerMetrics;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often a continuing outage is logged again.
pub const REPEAT: Duration = Duration::from_secs(30);

/// Longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Down {
    since: Instant,
    logged: Instant,
    failures: u64,
}

/// The state of one backend as this process sees it.
#[derive(Debug)]
pub struct Backend {
    name: &'static str,
    down: Mutex<Option<Down>>,
}

impl Backend {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            down: Mutex::new(None),
        }
    }

    /// Records a failed call; logs the first one and then at most once per [`REPEAT`].
    pub fn failed(&self, error: &dyn Display) {
        let now = Instant::now();
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        match down.as_mut() {
            None => {
                warn!(backend = self.name, error = %error, "backend unreachable; waiting for it");
                *down = Some(Down {
                    since: now,
                    logged: now,
                    failures: 1,
                });
            }
            Some(d) => {
                d.failures += 1;
                if now.duration_since(d.logged) >= REPEAT {
                    warn!(
                        backend = self.name,
                        error = %error,
                        down_secs = now.duration_since(d.since).as_secs(),
                        failures = d.failures,
                        "backend still unreachable"
                    );
                    d.logged = now;
                }
            }
        }
    }

    /// Records a successful call; logs the end of an outage.
    pub fn ok(&self) {
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = down.take() {
            info!(
                backend = self.name,
                down_ms = d.since.elapsed().as_millis() as u64,
                failures = d.failures,
                "backend reachable again"
            );
        }
    }

    /// Whether the last call failed.
    pub fn is_down(&self) -> bool {
        self.down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Runs `call` until it succeeds, pausing with backoff in between; `None` when
    /// `stop` is cancelled first.
    pub async fn until_ok<T, E, F, Fut>(&self, stop: &CancellationToken, mut call: F) -> Option<T>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut pause = Duration::from_millis(100);
        loop {
            if stop.is_cancelled() {
                return None;
            }
            match call().await {
                Ok(value) => {
                    self.ok();
                    return Some(value);
                }
                Err(e) => self.failed(&e),
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// The backends a worker needs.
#[derive(Debug)]
pub struct Health {
    /// The job queue.
    pub redis: Backend,
    /// The source of truth.
    pub database: Backend,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            redis: Backend::new("redis"),
            database: Backend::new("postgres"),
        }
    }
}

impl Health {
    /// Names of the backends currently down.
    pub fn down(&self) -> Vec<&'static str> {
        [&self.redis, &self.database]
            .into_iter()
            .filter(|b| b.is_down())
            .map(|b| b.name)
            .collect()
    }

    /// Mirrors the state into the `degraded` gauge.
    pub fn publish(&self, metrics: &WorkerMetrics) {
        metrics.degraded.set(i64::from(!self.down().is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_ok_retries_until_the_call_succeeds_and_clears_the_outage() {
        let backend = Backend::new("test");
        let mut calls = 0;
        let stop = CancellationToken::new();
        let value = backend
            .until_ok(&stop, || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("down") } else { Ok(n) } }
            })
            .await;
        assert_eq!(value, Some(3));
        assert!(!backend.is_down());
    }

    #[tokio::test]
    async fn until_ok_gives_up_only_when_told_to_stop() {
        let backend = Backend::new("test");
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(350)).await;
            stopper.cancel();
        });
        let value: Option<()> = backend.until_ok(&stop, || async { Err("down") }).await;
        assert_eq!(value, None);
        assert!(backend.is_down(), "the outage is still reported");
    }

    #[test]
    fn health_names_what_is_down() {
        let health = Health::default();
        assert!(health.down().is_empty());
        health.database.failed(&"connection refused");
        assert_eq!(health.down(), vec!["postgres"]);
        health.database.ok();
        assert!(health.down().is_empty());
    }
}
