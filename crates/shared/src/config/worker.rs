//! The worker's settings: concurrency, retries, leases, recovery and shutdown.

use std::time::Duration;

use super::{ConfigError, Source, address, parse, secs};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unique name of this worker process.
    pub name: String,
    /// Jobs processed at once.
    pub concurrency: usize,
    /// Attempts before a video is marked `failed`.
    pub max_attempts: u32,
    /// First retry delay; doubled at every further attempt.
    pub backoff: Duration,
    /// Period of the recovery sweep.
    pub reconcile_interval: Duration,
    /// Age after which an `uploaded` video with no outstanding job counts as lost.
    pub lost_after: Duration,
    /// Silence after which a worker counts as dead: its Redis heartbeat (then its
    /// in-flight jobs go back to the front of the queue) and a video's database
    /// heartbeat (then another worker may take the video over).
    pub lease: Duration,
    /// Time a stopping worker gives in-flight jobs.
    pub shutdown_grace: Duration,
    /// Where the worker serves `/metrics` (`None`: not served).
    pub metrics_addr: Option<String>,
}

impl WorkerConfig {
    /// Reads the worker variables.
    pub(super) fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            name: src.get("WORKER_NAME").unwrap_or_else(default_worker_name),
            concurrency: parse(src, "WORKER_CONCURRENCY", 1)?.max(1),
            max_attempts: parse(src, "WORKER_MAX_ATTEMPTS", 3)?.max(1),
            backoff: secs(src, "WORKER_BACKOFF_SECS", 5)?,
            reconcile_interval: secs(src, "RECONCILE_INTERVAL_SECS", 2)?,
            lost_after: secs(src, "RECONCILE_STALE_SECS", 15)?,
            lease: secs(src, "WORKER_LEASE_SECS", 8)?.max(Duration::from_secs(2)),
            shutdown_grace: secs(src, "SHUTDOWN_GRACE_SECS", 60)?,
            metrics_addr: address(src, "WORKER_METRICS_ADDR", "127.0.0.1:9100"),
        })
    }
}

fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &rand[..8])
}
