//! The job queue: apalis 1.0 on Redis (apalis-redis).
//!
//! A job carries only ids; PostgreSQL stays the source of truth for the video's
//! state, so a job that is lost (Redis flushed) or delivered twice is harmless:
//! the worker's reconciler re-enqueues lost work from Postgres and the claim in
//! `db::videos::claim` makes a duplicate a no-op.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
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

/// The apalis backend type for video jobs.
pub type VideoJobStorage = RedisStorage<ProcessVideo>;

/// apalis-redis settings for the video queue.
pub fn backend_config(redis: &RedisConfig) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(redis.queue_name())
        // Jobs are small and independent; fetching one at a time lets several
        // workers share a short queue fairly.
        .batch_size(1)
        .heartbeat_interval(Duration::from_secs(10))
        .missed_heartbeats(3)
        // The outcome lives in Postgres; keeping results in Redis would only grow it.
        .persist_results(false)
}

/// Handle used to push video jobs.
#[derive(Clone, Debug)]
pub struct JobQueue {
    storage: VideoJobStorage,
    conn: ConnectionManager,
    active_list: String,
    scheduled_set: String,
}

impl JobQueue {
    /// Wraps an open Redis connection.
    pub fn new(conn: ConnectionManager, redis: &RedisConfig) -> Self {
        let config = backend_config(redis);
        let active_list = config.active_jobs_list();
        let scheduled_set = config.scheduled_jobs_set();
        let storage = RedisStorage::new(conn.clone()).with_config(config);
        Self {
            storage,
            conn,
            active_list,
            scheduled_set,
        }
    }

    /// The apalis storage, for building a worker on the same queue.
    pub fn storage(&self) -> VideoJobStorage {
        self.storage.clone()
    }

    /// Enqueues a job to run now.
    pub async fn enqueue(&self, job: ProcessVideo) -> Result<(), QueueError> {
        let mut storage = self.storage.clone();
        storage
            .push(job)
            .await
            .map_err(|e| QueueError(e.to_string()))
    }

    /// Enqueues a job to run after `delay` (retry backoff).
    pub async fn enqueue_after(
        &self,
        job: ProcessVideo,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let mut storage = self.storage.clone();
        let task = TaskBuilder::new(job).run_after(delay).build();
        storage
            .push_task(task)
            .await
            .map_err(|e| QueueError(e.to_string()))
    }

    /// Jobs waiting to run: ready plus scheduled (backoff).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let (ready, scheduled): (u64, u64) = redis::pipe()
            .llen(&self.active_list)
            .zcard(&self.scheduled_set)
            .query_async(&mut conn)
            .await
            .map_err(|e| QueueError(e.to_string()))?;
        Ok(ready + scheduled)
    }
}

/// Opens a Redis connection manager (reconnects by itself after a Redis restart).
pub async fn connect(redis: &RedisConfig) -> Result<ConnectionManager, redis::RedisError> {
    use secrecy::ExposeSecret;
    let client = redis::Client::open(redis.url.expose_secret())?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2);
    client.get_connection_manager_with_config(config).await
}
