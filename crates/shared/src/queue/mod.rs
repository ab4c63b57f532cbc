//! The job queue: apalis 1.0 on Redis (apalis-redis), kept to live work only.
//!
//! A job carries only ids; PostgreSQL stays the source of truth for the video's state,
//! so a job that is lost (Redis flushed) or delivered twice is harmless: the claim in
//! `db::videos::claim` makes a duplicate a no-op and the worker's reconciler finds lost
//! work again.
//!
//! How the queue is used (read against apalis-redis 1.0's sources, not its docs):
//!
//! * **One outstanding job per video.** Every job is written with the idempotency key
//!   `video:<id>`, and a second one is refused while the first is outstanding. A retry or
//!   a hand-back moves the *same* task back ([`JobQueue::defer`]). (Jobs are written by
//!   `lua/requeue.lua` rather than apalis' push: with no idempotency TTL, apalis-redis
//!   1.0's push script runs `EXPIRE key 0` on the key it has just set, so its idempotency
//!   never holds.)
//! * **Nothing stays behind.** apalis' own acknowledgement (`persist_results`) keeps
//!   every finished task's data, metadata and an entry in a done set forever, and an
//!   ack that races a recovery kills the worker's stream. So results are not persisted
//!   and task locking is off; when a job ends, [`JobQueue::finish`] removes the task's
//!   data, metadata, idempotency key and in-flight entry in one script.
//! * **Recovered work goes first.** A dead worker's in-flight tasks go to the front of
//!   the ready list ([`JobQueue::release_dead_workers`]), not behind the backlog.
//! * **Wake on enqueue.** Every push publishes on apalis' "task available" channel;
//!   [`wake`] relays it so an idle worker fetches at once instead of at its next poll.
//!
//! The scripts in `lua/` write apalis-redis 1.0's key layout (`{queue}:active`,
//! `:scheduled`, `:data`, `:meta:<id>`, `:inflight:<worker>`, `:workers`,
//! `:idempotency:<key>`); `tests/queue.rs` checks that a real apalis worker consumes what
//! they write.

mod scripts;
pub mod wake;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::RedisConfig;

/// Process one uploaded video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessVideo {
    /// Video row id.
    pub video_id: i64,
    /// The video's task id (for logs and tracing; the row is authoritative).
    pub task_id: Uuid,
}

/// The queue could not be reached or refused the job.
#[derive(Debug, thiserror::Error)]
#[error("job queue error: {0}")]
pub struct QueueError(String);

impl From<redis::RedisError> for QueueError {
    fn from(e: redis::RedisError) -> Self {
        Self(e.to_string())
    }
}

/// The apalis backend type for video jobs.
pub type VideoJobStorage = RedisStorage<ProcessVideo>;

/// apalis' worker heartbeat; also the longest an idle worker waits before it looks at
/// the queue again when no wake-up arrives (due retries are noticed this way).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// apalis-redis settings for the video queue.
pub fn backend_config(redis: &RedisConfig) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(redis.queue_name())
        // Jobs are long and independent; fetching one at a time lets several workers
        // share a short queue fairly and leaves nothing buffered in a stopping worker.
        .batch_size(1)
        .heartbeat_interval(POLL_INTERVAL)
        // apalis' own orphan recovery (tail of the queue) only as a last resort: our
        // reconciler releases dead workers' tasks to the front long before this.
        .missed_heartbeats(120)
        // See the module docs: the job's end is handled by `finish`.
        .persist_results(false)
        .lock_tasks(false)
        .emit_events(true)
}

/// Redis keys and channel of the video queue (apalis-redis 1.0's layout).
#[derive(Clone, Debug)]
struct Keys {
    active: String,
    scheduled: String,
    data: String,
    meta: String,
    inflight: String,
    workers: String,
    worker_meta: String,
    signal: String,
    idempotency: String,
    channel: String,
}

impl Keys {
    fn new(config: &apalis_redis::Config) -> Self {
        let active = config.active_jobs_list();
        Self {
            channel: format!("tasks:{active}:available"),
            active,
            scheduled: config.scheduled_jobs_set(),
            data: config.job_data_hash(),
            meta: config.job_meta_hash(),
            inflight: config.inflight_jobs_set(),
            workers: config.workers_set(),
            worker_meta: format!("{}:workers:metadata:", config.queue.as_ref()),
            signal: config.signal_list(),
            idempotency: config.idempotency_key_set(),
        }
    }
}

/// The idempotency key of a video's job.
fn video_key(video_id: i64) -> String {
    format!("video:{video_id}")
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Where a deferred task goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defer {
    /// To the front of the ready list (a hand-back: run next).
    Front,
    /// Into the scheduled set, due after this delay (a retry).
    After(Duration),
}

/// Handle on the video queue: pushing jobs and keeping Redis to live work.
#[derive(Clone, Debug)]
pub struct JobQueue {
    storage: VideoJobStorage,
    conn: ConnectionManager,
    client: redis::Client,
    keys: Keys,
}

impl JobQueue {
    /// Wraps an open Redis connection.
    pub fn new(conn: ConnectionManager, redis: &RedisConfig) -> Self {
        use secrecy::ExposeSecret;
        let config = backend_config(redis);
        let keys = Keys::new(&config);
        let storage = RedisStorage::new(conn.clone()).with_config(config);
        let client = crate::tls::redis_client(redis.url.expose_secret(), redis.ca_file.as_deref())
            .expect("the URL already connected once");
        Self {
            storage,
            conn,
            client,
            keys,
        }
    }

    /// The apalis storage, for building a worker on the same queue.
    pub fn storage(&self) -> VideoJobStorage {
        self.storage.clone()
    }

    /// The Redis client (for the wake-up subscription).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The channel apalis publishes on when a task becomes ready.
    pub fn wake_channel(&self) -> &str {
        &self.keys.channel
    }

    /// The in-flight set apalis keeps for a worker named `worker`.
    pub fn inflight_set(&self, worker: &str) -> String {
        format!("{}:{worker}", self.keys.inflight)
    }

    /// Enqueues a job to run now, at the back of the queue. A video that already has an
    /// outstanding job is not queued twice.
    pub async fn enqueue(&self, job: ProcessVideo) -> Result<(), QueueError> {
        self.create(&job, 0, "back").await.map(|_| ())
    }

    /// Ends a task: removes its data, metadata, idempotency key and in-flight entries.
    pub async fn finish(
        &self,
        task_id: &str,
        video_id: i64,
        inflight: &[String],
    ) -> Result<(), QueueError> {
        let mut invocation = scripts::FINISH.prepare_invoke();
        invocation
            .key(&self.keys.data)
            .key(&self.keys.active)
            .key(&self.keys.scheduled)
            .arg(task_id)
            .arg(format!("{}:{task_id}", self.keys.meta))
            .arg(format!("{}:{}", self.keys.idempotency, video_key(video_id)));
        for set in inflight {
            invocation.arg(set);
        }
        invocation
            .invoke_async::<i64>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Moves a held task back to the queue ([`Defer`]); when Redis lost the task, a new
    /// one is created for the video, so the job is never dropped.
    pub async fn defer(
        &self,
        task_id: &str,
        job: &ProcessVideo,
        inflight: &[String],
        when: Defer,
    ) -> Result<(), QueueError> {
        let run_at = match when {
            Defer::Front => 0,
            Defer::After(delay) => unix_secs(SystemTime::now() + delay).max(1),
        };
        let mut invocation = scripts::DEFER.prepare_invoke();
        invocation
            .key(&self.keys.data)
            .key(&self.keys.active)
            .key(&self.keys.scheduled)
            .key(&self.keys.signal)
            .arg(task_id)
            .arg(format!("{}:{task_id}", self.keys.meta))
            .arg(run_at)
            .arg(&self.keys.channel);
        for set in inflight {
            invocation.arg(set);
        }
        let moved: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        if moved == 0 {
            self.create(job, run_at, "front").await?;
        }
        Ok(())
    }

    /// Creates a job for `job`'s video at the front of the queue unless one is already
    /// outstanding; `true` when one was created. Used for work found lost.
    pub async fn requeue_front(&self, job: &ProcessVideo) -> Result<bool, QueueError> {
        self.create(job, 0, "front").await
    }

    /// Writes a new task for `job` unless its video has one outstanding (`requeue.lua`).
    async fn create(&self, job: &ProcessVideo, run_at: u64, end: &str) -> Result<bool, QueueError> {
        let payload = serde_json::to_vec(job).map_err(|e| QueueError(e.to_string()))?;
        let created: i64 = scripts::REQUEUE
            .key(&self.keys.data)
            .key(&self.keys.active)
            .key(&self.keys.scheduled)
            .key(&self.keys.signal)
            .key(&self.keys.workers)
            .arg(&self.keys.idempotency)
            .arg(video_key(job.video_id))
            .arg(ulid::Ulid::generate().to_string())
            .arg(payload)
            .arg(&self.keys.meta)
            .arg(&self.keys.inflight)
            .arg(run_at)
            .arg(&self.keys.channel)
            .arg(25)
            .arg(end)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(created == 1)
    }

    /// Releases a worker: its in-flight tasks, except `running` (task ids still being
    /// worked on by this process), go to the front of the queue; it leaves the worker
    /// set. Returns how many tasks were put back.
    pub async fn release_worker(
        &self,
        worker: &str,
        running: &[String],
    ) -> Result<u64, QueueError> {
        let mut invocation = self.release_invocation("self");
        invocation.arg(worker);
        for id in running {
            invocation.arg(id);
        }
        let (_, moved): (u64, u64) = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(moved)
    }

    /// Releases every worker whose last heartbeat is older than `silent_for`: their
    /// tasks go to the front of the queue. Returns (workers, tasks) released.
    pub async fn release_dead_workers(
        &self,
        silent_for: Duration,
    ) -> Result<(u64, u64), QueueError> {
        let cutoff = unix_secs(SystemTime::now()).saturating_sub(silent_for.as_secs().max(1));
        let mut invocation = self.release_invocation("dead");
        invocation.arg(cutoff);
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    fn release_invocation(&self, mode: &str) -> redis::ScriptInvocation<'static> {
        let mut invocation = scripts::RELEASE_WORKER.prepare_invoke();
        invocation
            .key(&self.keys.workers)
            .key(&self.keys.active)
            .key(&self.keys.data)
            .key(&self.keys.signal)
            .arg(&self.keys.inflight)
            .arg(&self.keys.meta)
            .arg(&self.keys.worker_meta)
            .arg(&self.keys.channel)
            .arg(mode);
        invocation
    }

    /// Of `video_ids`, those with no outstanding job (neither ready, scheduled nor held
    /// by a registered worker).
    pub async fn without_job(&self, video_ids: &[i64]) -> Result<Vec<i64>, QueueError> {
        if video_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = scripts::LOST.prepare_invoke();
        invocation
            .key(&self.keys.data)
            .key(&self.keys.active)
            .key(&self.keys.scheduled)
            .key(&self.keys.workers)
            .arg(&self.keys.idempotency)
            .arg(&self.keys.inflight);
        for id in video_ids {
            invocation.arg(id);
        }
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Jobs waiting to run: ready plus scheduled (backoff). Exact: one job per video.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let (ready, scheduled): (u64, u64) = redis::pipe()
            .llen(&self.keys.active)
            .zcard(&self.keys.scheduled)
            .query_async(&mut conn)
            .await?;
        Ok(ready + scheduled)
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }
}

/// Opens a Redis connection manager (reconnects by itself after a Redis restart).
pub async fn connect(redis: &RedisConfig) -> Result<ConnectionManager, redis::RedisError> {
    use secrecy::ExposeSecret;
    let client = crate::tls::redis_client(redis.url.expose_secret(), redis.ca_file.as_deref())?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2);
    client.get_connection_manager_with_config(config).await
}
