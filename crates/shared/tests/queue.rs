//! The job queue against a real Redis (`REDIS_URL`): the scripts that keep Redis to
//! live work write what a real apalis-redis 1.0 worker consumes, in the right order.

use std::{sync::Arc, time::Duration};

use apalis::prelude::{Data, TaskId, WorkerBuilder, WorkerBuilderExt, WorkerContext};
use skillreel_shared::{
    config::RedisConfig,
    queue::{self, Defer, JobQueue, ProcessVideo},
};
use tokio::sync::Mutex;
use uuid::Uuid;

/// What the test worker saw: (video id, task id) in order, and how many to take.
type Seen = (Arc<Mutex<Vec<(i64, String)>>>, usize);

struct TestQueue {
    queue: JobQueue,
    conn: redis::aio::ConnectionManager,
    config: RedisConfig,
}

impl TestQueue {
    async fn new() -> Self {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let config = RedisConfig {
            url: url.into(),
            ca_file: None,
            prefix: format!("queuetest-{}", Uuid::new_v4().simple()),
        };
        let conn = queue::connect(&config)
            .await
            .expect("Redis must be reachable");
        Self {
            queue: JobQueue::new(conn.clone(), &config),
            conn,
            config,
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.config.queue_name())
    }

    async fn keys(&self) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(format!("{}*", self.config.prefix))
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    async fn ready(&self) -> Vec<String> {
        redis::cmd("LRANGE")
            .arg(self.key("active"))
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    /// Runs a real apalis worker until it has taken `n` jobs; returns them in order with
    /// their task ids, leaving them in its in-flight set (as a crashed worker would).
    async fn consume(&self, worker: &str, n: usize) -> Vec<(i64, String)> {
        let seen: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
        let w = WorkerBuilder::new(worker)
            .backend(self.queue.storage())
            .data((seen.clone(), n))
            .concurrency(1)
            .build(
                |job: ProcessVideo, id: TaskId, wrk: WorkerContext, state: Data<Seen>| async move {
                    let (seen, n) = &state.0;
                    let mut seen = seen.lock().await;
                    seen.push((job.video_id, id.to_string()));
                    if seen.len() == *n {
                        wrk.stop().unwrap();
                    }
                },
            );
        tokio::time::timeout(Duration::from_secs(20), w.run())
            .await
            .expect("the worker took the jobs")
            .expect("the worker ran cleanly");
        seen.lock().await.clone()
    }

    async fn cleanup(&self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut self.conn.clone())
                .await
                .unwrap();
        }
    }
}

fn job(video_id: i64) -> ProcessVideo {
    ProcessVideo {
        video_id,
        task_id: Uuid::new_v4(),
    }
}

#[tokio::test]
async fn one_outstanding_job_per_video_and_nothing_left_after_finish() {
    let q = TestQueue::new().await;
    q.queue.enqueue(job(1)).await.unwrap();
    q.queue.enqueue(job(1)).await.unwrap();
    q.queue.enqueue(job(2)).await.unwrap();
    assert_eq!(q.queue.depth().await.unwrap(), 2, "video 1 queued once");
    assert!(
        !q.queue.requeue_front(&job(1)).await.unwrap(),
        "already queued"
    );

    let taken = q.consume("w1", 2).await;
    assert_eq!(taken.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 2]);
    let inflight = [q.queue.inflight_set("w1")];
    for (video, task) in &taken {
        q.queue.finish(task, *video, &inflight).await.unwrap();
    }
    // Nothing of the jobs is left; the stopped worker is still registered (apalis 1.0's
    // close removes the wrong member from the worker set), which `release_worker` fixes.
    let keys = q.keys().await;
    assert!(
        keys.iter().all(|k| k.ends_with(":signal")
            || k.ends_with(":workers")
            || k.contains(":workers:metadata:")),
        "{keys:?}"
    );
    q.queue.release_worker("w1", &[]).await.unwrap();
    let keys = q.keys().await;
    assert!(keys.iter().all(|k| k.ends_with(":signal")), "{keys:?}");
    // Finished: the video may be queued again.
    q.queue.enqueue(job(1)).await.unwrap();
    assert_eq!(q.queue.depth().await.unwrap(), 1);
    q.cleanup().await;
}

#[tokio::test]
async fn dead_workers_jobs_go_to_the_front_and_are_consumed() {
    let q = TestQueue::new().await;
    for v in 1..=3 {
        q.queue.enqueue(job(v)).await.unwrap();
    }
    let taken = q.consume("dead", 1).await;
    assert_eq!(taken[0].0, 1);
    // The worker stopped cleanly, but its in-flight task was never settled: register it
    // again with an old heartbeat, as a worker killed mid-job leaves it.
    let _: () = redis::cmd("ZADD")
        .arg(q.key("workers"))
        .arg(1)
        .arg("dead")
        .query_async(&mut q.conn.clone())
        .await
        .unwrap();
    let ids: Vec<i64> = q.queue.without_job(&[1, 2, 3, 4]).await.unwrap();
    assert_eq!(ids, vec![4], "held, queued, queued; 4 never had a job");

    let (workers, tasks) = q
        .queue
        .release_dead_workers(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((workers, tasks), (1, 1));
    assert_eq!(q.ready().await[0], taken[0].1, "recovered job first");
    let again = q.consume("alive", 3).await;
    assert_eq!(again.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(again[0].1, taken[0].1, "the same task, not a copy");
    q.cleanup().await;
}

#[tokio::test]
async fn lost_jobs_are_recreated_at_the_front_and_deferred_jobs_keep_their_id() {
    let q = TestQueue::new().await;
    q.queue.enqueue(job(1)).await.unwrap();
    q.queue.enqueue(job(2)).await.unwrap();
    // Redis lost the task of video 3 (flush): a new one goes to the front.
    assert!(q.queue.requeue_front(&job(3)).await.unwrap());
    let taken = q.consume("w", 1).await;
    assert_eq!(taken[0].0, 3);

    // A retry: the same task waits in the scheduled set, still one job for the video.
    let inflight = [q.queue.inflight_set("w")];
    q.queue
        .defer(
            &taken[0].1,
            &job(3),
            &inflight,
            Defer::After(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(q.queue.depth().await.unwrap(), 3);
    assert!(q.queue.without_job(&[1, 2, 3]).await.unwrap().is_empty());
    assert!(!q.queue.requeue_front(&job(3)).await.unwrap());

    // A hand-back: to the front, same id.
    q.queue
        .defer(&taken[0].1, &job(3), &inflight, Defer::Front)
        .await
        .unwrap();
    assert_eq!(q.ready().await[0], taken[0].1);
    assert_eq!(q.queue.depth().await.unwrap(), 3);

    // A task whose data Redis lost cannot be deferred: a new job replaces it.
    let _: () = redis::cmd("HDEL")
        .arg(q.key("data"))
        .arg(&taken[0].1)
        .query_async(&mut q.conn.clone())
        .await
        .unwrap();
    q.queue
        .defer(&taken[0].1, &job(3), &inflight, Defer::Front)
        .await
        .unwrap();
    let ready = q.ready().await;
    assert_ne!(ready[0], taken[0].1);
    assert_eq!(ready.len(), 3);
    q.cleanup().await;
}
