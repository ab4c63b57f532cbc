//! Jobs run detached from the queue consumer.
//!
//! apalis drops every running handler when its stream fails (a Redis outage), which
//! would kill ffmpeg mid-job. So a delivery only *starts* the job on its own task and
//! waits for it; the job itself needs only PostgreSQL and storage, finishes through a
//! Redis outage, and settles its task in Redis (finish, retry or hand back) once Redis
//! answers again. A second delivery of a video already running here (a consumer rebuilt
//! after an outage) joins the running job instead of starting another.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use skillreel_shared::queue::{Defer, ProcessVideo};
use tokio::sync::{Semaphore, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{info, warn};

use crate::{
    JobContext,
    jobs::process_video::{self, Outcome},
};

/// How long a stopping worker keeps trying to settle a task in an unreachable Redis
/// before leaving it to the other workers' recovery sweep.
const SETTLE_AT_EXIT: Duration = Duration::from_secs(5);

struct Running {
    task_id: String,
    done: watch::Receiver<bool>,
}

/// The jobs running in this process.
pub struct Runner {
    slots: Arc<Semaphore>,
    running: Mutex<HashMap<i64, Running>>,
    tracker: TaskTracker,
}

impl Runner {
    /// At most `concurrency` jobs at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            running: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
        }
    }

    /// Task ids of the jobs running here (they stay in this worker's in-flight set when
    /// the consumer is rebuilt).
    pub fn task_ids(&self) -> Vec<String> {
        self.lock().values().map(|r| r.task_id.clone()).collect()
    }

    /// Waits until every job started here has settled.
    pub async fn wait_all(&self) {
        self.tracker.close();
        self.tracker.wait().await;
        self.tracker.reopen();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handles one delivery of `task_id`: runs the job (or joins the run already going on
/// here) and returns once its task is settled in Redis.
pub async fn deliver(ctx: &Arc<JobContext>, job: ProcessVideo, task_id: String) {
    ctx.metrics.deliveries.inc();
    info!(video.id = job.video_id, task.id = %task_id, "job delivered");
    let (joined, mut done) = {
        let mut running = ctx.runner.lock();
        match running.get(&job.video_id) {
            Some(r) => (Some(r.task_id.clone()), r.done.clone()),
            None => {
                let (tx, rx) = watch::channel(false);
                running.insert(
                    job.video_id,
                    Running {
                        task_id: task_id.clone(),
                        done: rx.clone(),
                    },
                );
                spawn(ctx.clone(), job.clone(), task_id.clone(), tx);
                (None, rx)
            }
        }
    };
    if joined.is_some() {
        info!(video.id = job.video_id, "already running here; joining it");
    }
    let _ = done.wait_for(|d| *d).await;
    if joined.is_some_and(|running_task| running_task != task_id) {
        settle(ctx, &job, &task_id, &Outcome::Skipped("duplicate delivery")).await;
    }
}

fn spawn(ctx: Arc<JobContext>, job: ProcessVideo, task_id: String, done: watch::Sender<bool>) {
    let tracker = ctx.runner.tracker.clone();
    tracker.spawn(async move {
        let slots = ctx.runner.slots.clone();
        let outcome = match slots.acquire_owned().await {
            Ok(_permit) => {
                ctx.metrics.running.inc();
                let started = Instant::now();
                let outcome = process_video::run(&ctx, &job).await;
                ctx.metrics.running.dec();
                ctx.metrics
                    .job_finished(outcome.label(), started.elapsed().as_secs_f64());
                if matches!(outcome, Outcome::RetryScheduled(_)) {
                    ctx.metrics.retries.inc();
                }
                outcome
            }
            // The semaphore is never closed.
            Err(_) => Outcome::HandedBack,
        };
        settle(&ctx, &job, &task_id, &outcome).await;
        ctx.runner.lock().remove(&job.video_id);
        let _ = done.send(true);
    });
}

/// Settles the task in Redis after `outcome`, waiting out an outage (for a bounded time
/// once the worker is stopping: the recovery sweep of the other workers takes over).
async fn settle(ctx: &Arc<JobContext>, job: &ProcessVideo, task_id: &str, outcome: &Outcome) {
    let inflight = [ctx.queue.inflight_set(&ctx.worker_name)];
    let stop = CancellationToken::new();
    let exit_timer = {
        let stop = stop.clone();
        let hard_stop = ctx.hard_stop.clone();
        tokio::spawn(async move {
            hard_stop.cancelled().await;
            tokio::time::sleep(SETTLE_AT_EXIT).await;
            stop.cancel();
        })
    };
    let queue = &ctx.queue;
    let settled = ctx
        .health
        .redis
        .until_ok(&stop, || async {
            match outcome {
                Outcome::RetryScheduled(delay) => {
                    queue
                        .defer(task_id, job, &inflight, Defer::After(*delay))
                        .await
                }
                Outcome::HandedBack => queue.defer(task_id, job, &inflight, Defer::Front).await,
                _ => queue.finish(task_id, job.video_id, &inflight).await,
            }
        })
        .await;
    exit_timer.abort();
    if settled.is_none() {
        warn!(video.id = job.video_id, task.id = %task_id, "could not settle the job in Redis; recovery will");
    }
}
