//! The skillreel worker: pulls `ProcessVideo` jobs from Redis (apalis), runs the
//! FFmpeg pipeline, and keeps Postgres — the source of truth — up to date.
//!
//! The process is built to outlive its backends:
//! * the apalis consumer is supervised: when Redis goes away its stream fails, the
//!   worker waits for Redis with backoff and builds a new consumer — same process, no
//!   restart, running jobs untouched ([`runner`]);
//! * every database write of a job waits out a PostgreSQL outage ([`health`]);
//! * a recovery sweep ([`reconciler`]) puts dead workers' jobs back at the front of the
//!   queue and re-creates jobs Redis lost;
//! * ffmpeg dies with its worker, and a starting worker removes dead workers' temp
//!   directories.

pub mod health;
pub mod jobs;
pub mod reconciler;
pub mod runner;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use apalis::prelude::{BackendExt, BoxDynError, Data, TaskId, WorkerBuilder, WorkerBuilderExt};
use skillreel_shared::{
    config::Config,
    events::Publisher,
    media::{self, assets::Assets},
    metrics::WorkerMetrics,
    queue::{self, JobQueue, ProcessVideo},
    storage::{self, Storage},
};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{health::Health, runner::Runner};

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
    /// Which backends are reachable.
    pub health: Health,
    /// The jobs running in this process.
    pub runner: Runner,
    /// Announces state changes and progress to the web instances' live status streams.
    pub events: Publisher,
}

impl JobContext {
    /// Connects to every dependency and prepares the media assets. Redis may still be
    /// down: its connection is retried in the background.
    pub async fn connect(config: Config, db: PgPool) -> anyhow::Result<Arc<Self>> {
        let health = Health::default();
        let stop = CancellationToken::new();
        let redis = health
            .redis
            .until_ok(&stop, || queue::connect(&config.redis))
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
        let removed = skillreel_shared::tempdirs::sweep_dead(
            &config.media.temp_dir,
            jobs::process_video::JOB_DIR_PREFIX,
        )
        .context("removing dead workers' temp directories")?;
        if removed > 0 {
            info!(removed, "removed temp directories of dead workers");
        }
        Ok(Arc::new(Self {
            db,
            storage,
            events: Publisher::new(redis.clone(), &config.redis),
            queue: JobQueue::new(redis, &config.redis),
            worker_name: config.worker.name.clone(),
            runner: Runner::new(config.worker.concurrency),
            config: Arc::new(config),
            assets,
            hard_stop: CancellationToken::new(),
            metrics: WorkerMetrics::default(),
            health,
        }))
    }

    /// Database heartbeat age after which another worker may take a video over. Half
    /// the lease: a live worker beats every second, and a takeover also needs the
    /// queue to have declared the holder dead (its Redis heartbeat older than the lease).
    pub fn claim_lease(&self) -> Duration {
        (self.config.worker.lease / 2).max(Duration::from_secs(2))
    }
}

/// apalis handler: starts (or joins) the job; the outcome is settled by the runner, so
/// apalis never sees an error.
async fn handle(
    job: ProcessVideo,
    task_id: TaskId,
    ctx: Data<Arc<JobContext>>,
) -> Result<(), BoxDynError> {
    let ctx: Arc<JobContext> = (*ctx).clone();
    runner::deliver(&ctx, job, task_id.to_string()).await;
    Ok(())
}

/// Runs the worker until `shutdown` is cancelled, then stops taking jobs, lets
/// in-flight ones finish for the grace period, hands back the rest, and returns.
pub async fn run(ctx: Arc<JobContext>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = ctx.config.clone();
    let name = ctx.worker_name.clone();
    info!(worker = %name, concurrency = config.worker.concurrency, "worker starting");
    let background = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let relay = tokio::spawn(queue::wake::relay(
        ctx.queue.clone(),
        wake.clone(),
        background.clone(),
    ));
    let sweeper = tokio::spawn(reconciler::run(ctx.clone(), background.clone()));
    let grace = tokio::spawn({
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        async move {
            shutdown.cancelled().await;
            info!(
                grace_secs = ctx.config.worker.shutdown_grace.as_secs(),
                "stopping: draining in-flight jobs"
            );
            tokio::time::sleep(ctx.config.worker.shutdown_grace).await;
            warn!("grace period over: handing back in-flight jobs");
            ctx.hard_stop.cancel();
        }
    });

    let mut pause = Duration::from_millis(250);
    while !shutdown.is_cancelled() {
        // A previous consumer of this name (a restart with a fixed WORKER_NAME, or the
        // one Redis just took down) hands back what no job here is running.
        let running = ctx.runner.task_ids();
        let released = ctx
            .health
            .redis
            .until_ok(&shutdown, || ctx.queue.release_worker(&name, &running))
            .await;
        ctx.health.publish(&ctx.metrics);
        match released {
            None => break,
            Some(n) if n > 0 => info!(tasks = n, "handed back tasks of an earlier consumer"),
            Some(_) => {}
        }
        let backend = ctx
            .queue
            .storage()
            .poll_with_stream(queue::wake::stream(wake.clone()));
        let worker = WorkerBuilder::new(name.as_str())
            .backend(backend)
            .data(ctx.clone())
            .concurrency(config.worker.concurrency)
            .build(handle);
        let signal = shutdown.clone();
        let result = worker
            .run_until(async move {
                signal.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        match result {
            Ok(()) if shutdown.is_cancelled() => break,
            Ok(()) => ctx.health.redis.failed(&"the queue consumer stopped"),
            Err(e) => ctx.health.redis.failed(&e),
        }
        ctx.health.publish(&ctx.metrics);
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }

    // Jobs that were running detached (a consumer lost to a Redis outage) finish or
    // hand back within the same grace period.
    ctx.runner.wait_all().await;
    grace.abort();
    let exit = CancellationToken::new();
    let timer = tokio::spawn({
        let exit = exit.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            exit.cancel();
        }
    });
    if ctx
        .health
        .redis
        .until_ok(&exit, || ctx.queue.release_worker(&name, &[]))
        .await
        .is_none()
    {
        warn!("Redis unreachable at exit; the other workers' sweep releases this worker");
    }
    timer.abort();
    background.cancel();
    let _ = tokio::join!(relay, sweeper);
    info!("worker exited");
    Ok(())
}

/// The worker's private HTTP listener: `/metrics` and `/health` (`200` when Redis and
/// PostgreSQL answer, `503` naming what this worker is waiting for).
pub fn private_router(ctx: Arc<JobContext>) -> axum::Router {
    use axum::{Json, http::StatusCode, routing::get};
    let metrics = ctx.metrics.clone();
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.render() }
            }),
        )
        .route(
            "/health",
            get(move || {
                let ctx = ctx.clone();
                async move {
                    let down = ctx.health.down();
                    if down.is_empty() {
                        (StatusCode::OK, Json(serde_json::json!({"status": "ok"})))
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(serde_json::json!({"status": "degraded", "waiting_for": down})),
                        )
                    }
                }
            }),
        )
}
