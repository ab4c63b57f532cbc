//! The skillreel worker: pulls `ProcessVideo` jobs from Redis (apalis), runs the
//! FFmpeg pipeline, and keeps Postgres — the source of truth — up to date.
//!
//! Besides the apalis worker, each process runs a reconciler that re-enqueues videos
//! left `uploaded` or `processing` (without a heartbeat) for too long, so jobs lost
//! from Redis or held by a dead worker are found again.

pub mod jobs;

use std::sync::Arc;

use anyhow::Context;
use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use skillreel_shared::{
    config::Config,
    db,
    media::{self, assets::Assets},
    metrics::WorkerMetrics,
    queue::{self, JobQueue, ProcessVideo},
    storage::{self, Storage},
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::jobs::process_video::{self, Outcome};

/// Everything a job needs.
pub struct JobContext {
    /// Postgres.
    pub db: PgPool,
    /// Object storage.
    pub storage: Storage,
    /// The queue (retries, hand-backs).
    pub queue: JobQueue,
    /// Configuration.
    pub config: Arc<Config>,
    /// Logo and bumpers.
    pub assets: Assets,
    /// Unique name of this worker process.
    pub worker_name: String,
    /// Cancelled when the shutdown grace period is over: in-flight jobs hand back.
    pub hard_stop: CancellationToken,
    /// Prometheus metrics.
    pub metrics: WorkerMetrics,
}

impl JobContext {
    /// Connects to every dependency and prepares the media assets.
    pub async fn connect(config: Config, db: PgPool) -> anyhow::Result<Arc<Self>> {
        let redis = queue::connect(&config.redis)
            .await
            .context("connecting to Redis")?;
        let storage = storage::from_config(&config.storage)
            .await
            .context("opening object storage")?;
        let assets = media::assets::ensure(&config.media)
            .await
            .context("preparing logo and bumpers")?;
        tokio::fs::create_dir_all(&config.media.temp_dir)
            .await
            .context("creating TEMP_DIR")?;
        Ok(Arc::new(Self {
            db,
            storage,
            queue: JobQueue::new(redis, &config.redis),
            worker_name: config.worker.name.clone(),
            config: Arc::new(config),
            assets,
            hard_stop: CancellationToken::new(),
            metrics: WorkerMetrics::default(),
        }))
    }
}

/// apalis handler: runs the job; only infrastructure failures go back to apalis.
async fn handle(job: ProcessVideo, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let ctx: Arc<JobContext> = (*ctx).clone();
    let started = std::time::Instant::now();
    ctx.metrics.running.inc();
    let result = process_video::run(&ctx, &job).await;
    ctx.metrics.running.dec();
    let outcome = match &result {
        Ok(Outcome::Processed) => "processed",
        Ok(Outcome::Skipped(_)) => "skipped",
        Ok(Outcome::RetryScheduled(_)) => "retry",
        Ok(Outcome::Failed) => "failed",
        Ok(Outcome::HandedBack) => "handed_back",
        Err(_) => "error",
    };
    ctx.metrics
        .job_finished(outcome, started.elapsed().as_secs_f64());
    match result {
        Ok(Outcome::Failed) => {
            warn!(video.id = job.video_id, "video marked failed");
            Ok(())
        }
        Ok(Outcome::RetryScheduled(_)) => {
            ctx.metrics.retries.inc();
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            error!(video.id = job.video_id, error = %e, "job error");
            Err(Box::new(e))
        }
    }
}

/// One recovery sweep: re-enqueues lost videos; returns how many.
pub async fn reconcile_once(ctx: &JobContext) -> anyhow::Result<usize> {
    let stale = db::videos::take_stale(&ctx.db, ctx.config.worker.stale_after, 100).await?;
    for (video_id, task_id) in &stale {
        ctx.queue
            .enqueue(ProcessVideo {
                video_id: *video_id,
                task_id: *task_id,
            })
            .await
            .context("re-enqueueing a stale video")?;
    }
    if !stale.is_empty() {
        info!(count = stale.len(), "reconciler re-enqueued stale videos");
    }
    Ok(stale.len())
}

async fn reconciler(ctx: Arc<JobContext>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ctx.config.worker.reconcile_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = reconcile_once(&ctx).await {
            warn!(error = %e, "reconciler sweep failed");
        }
        match ctx.queue.depth().await {
            Ok(depth) => {
                ctx.metrics
                    .queue_depth
                    .set(i64::try_from(depth).unwrap_or(i64::MAX));
            }
            Err(e) => warn!(error = %e, "could not read the queue depth"),
        }
    }
}

/// Runs the worker until `shutdown` is cancelled, then stops taking jobs, lets
/// in-flight ones finish for the grace period, hands back the rest, and returns.
pub async fn run(ctx: Arc<JobContext>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = ctx.config.clone();
    info!(worker = %ctx.worker_name, concurrency = config.worker.concurrency, "worker starting");
    let sweeper = tokio::spawn(reconciler(ctx.clone(), shutdown.clone()));
    // Jobs run concurrently inside the worker's own stream (their CPU work is in
    // ffmpeg and on the blocking pool), which also makes apalis drain them on stop.
    let worker = WorkerBuilder::new(ctx.worker_name.as_str())
        .backend(ctx.queue.storage())
        .data(ctx.clone())
        .concurrency(config.worker.concurrency)
        .build(handle);
    let signal = shutdown.clone();
    let run = worker.run_until(async move {
        signal.cancelled().await;
        Ok::<(), std::io::Error>(())
    });
    let grace = async {
        shutdown.cancelled().await;
        info!(
            grace_secs = config.worker.shutdown_grace.as_secs(),
            "stopping: draining in-flight jobs"
        );
        tokio::time::sleep(config.worker.shutdown_grace).await;
        warn!("grace period over: handing back in-flight jobs");
        ctx.hard_stop.cancel();
        std::future::pending::<()>().await;
    };
    tokio::select! {
        result = run => {
            if let Err(e) = result {
                // Only a persistently failing Redis ends the loop early; the reconciler
                // and a restart by the supervisor recover from that.
                error!(error = %e, "worker loop ended with an error");
            }
        }
        () = grace => {}
    }
    shutdown.cancel();
    let _ = sweeper.await;
    info!("worker exited");
    Ok(())
}
