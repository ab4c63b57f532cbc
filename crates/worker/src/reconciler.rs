//! The recovery sweep every worker runs (idempotent, so several at once are harmless).
//!
//! 1. Workers silent in Redis for longer than the lease are dead: their in-flight tasks
//!    go to the front of the queue (so a recovered job does not wait behind a backlog).
//! 2. Videos that may have lost their job (`uploaded` for a while, or `processing`
//!    without a fresh database heartbeat) are checked against the queue; only those with
//!    no outstanding job at all — Redis was flushed or restarted, or the web died
//!    between recording and enqueueing — get a new one, at the front. A video waiting in
//!    a long backlog has its job and is left alone.
//! 3. The queue depth gauge is refreshed (exact: one job per video).

use std::sync::Arc;

use skillreel_shared::{db, queue::ProcessVideo};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::JobContext;

/// Videos examined per sweep.
const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Dead workers released.
    pub dead_workers: u64,
    /// Their tasks put back at the front.
    pub released: u64,
    /// Jobs created for videos that had none.
    pub requeued: u64,
}

/// One sweep; an unreachable backend is reported to the health state and skipped.
pub async fn sweep(ctx: &JobContext) -> Sweep {
    let mut done = Sweep::default();
    let lease = ctx.config.worker.lease;
    match ctx.queue.release_dead_workers(lease).await {
        Ok((workers, tasks)) => {
            ctx.health.redis.ok();
            done.dead_workers = workers;
            done.released = tasks;
            if workers > 0 {
                info!(workers, tasks, "released the jobs of dead workers");
                ctx.metrics.recovered.inc_by(tasks);
            }
        }
        Err(e) => {
            ctx.health.redis.failed(&e);
            return done;
        }
    }
    let grace = ctx.config.worker.lost_after;
    let candidates = match db::videos::lost_candidates(&ctx.db, grace, lease, BATCH).await {
        Ok(c) => {
            ctx.health.database.ok();
            c
        }
        Err(e) => {
            ctx.health.database.failed(&e);
            return done;
        }
    };
    if !candidates.is_empty() {
        done.requeued = requeue_lost(ctx, &candidates).await;
    }
    match ctx.queue.depth().await {
        Ok(depth) => {
            ctx.metrics
                .queue_depth
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
        Err(e) => ctx.health.redis.failed(&e),
    }
    done
}

async fn requeue_lost(ctx: &JobContext, candidates: &[(i64, uuid::Uuid)]) -> u64 {
    let ids: Vec<i64> = candidates.iter().map(|(id, _)| *id).collect();
    let without = match ctx.queue.without_job(&ids).await {
        Ok(w) => w,
        Err(e) => {
            ctx.health.redis.failed(&e);
            return 0;
        }
    };
    if without.is_empty() {
        return 0;
    }
    // Asked again: a job that finished since the first look is not run twice.
    let grace = ctx.config.worker.lost_after;
    let lost = match db::videos::still_lost(&ctx.db, &without, grace, ctx.config.worker.lease).await
    {
        Ok(l) => l,
        Err(e) => {
            ctx.health.database.failed(&e);
            return 0;
        }
    };
    let mut requeued = 0;
    for (video_id, task_id) in lost {
        match ctx
            .queue
            .requeue_front(&ProcessVideo { video_id, task_id })
            .await
        {
            Ok(true) => {
                info!(video.id = video_id, "lost job re-queued at the front");
                requeued += 1;
            }
            Ok(false) => {}
            Err(e) => {
                ctx.health.redis.failed(&e);
                break;
            }
        }
    }
    ctx.metrics.recovered.inc_by(requeued);
    requeued
}

/// Sweeps every `RECONCILE_INTERVAL_SECS` until `stop` (the first one at once).
pub async fn run(ctx: Arc<JobContext>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ctx.config.worker.reconcile_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        sweep(&ctx).await;
        ctx.health.publish(&ctx.metrics);
    }
}
