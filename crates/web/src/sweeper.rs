//! The periodic sweep of abandoned resumable uploads
//! ([`skillreel_shared::ingest::resumable::sweep`]) and of the view deduplication rows of
//! past hours ([`skillreel_shared::db::views::prune`]), run by every web process.
//!
//! Every instance sweeps: each removal is idempotent, so instances sweeping at once only
//! repeat some work, and there is no leader to lose.

use std::time::Duration;

use skillreel_shared::{db, ingest::resumable};

use crate::{routes::upload::ingest, state::AppState};

/// Time between sweeps.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// How long past its expiry an upload is left alone, so a completion that started just
/// before the expiry can finish.
pub const SWEEP_GRACE: Duration = Duration::from_secs(15 * 60);

/// Sweeps once now, then every [`SWEEP_INTERVAL`], for as long as the process runs.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = resumable::sweep(ingest(&state), SWEEP_GRACE).await {
                tracing::warn!(error = %e, "could not sweep expired resumable uploads");
            }
            if let Err(e) = db::views::prune(&state.db).await {
                tracing::warn!(error = %e, "could not prune the view deduplication rows");
            }
        }
    })
}
