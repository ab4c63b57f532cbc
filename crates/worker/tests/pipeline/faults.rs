//! What an operator's bad day does to real worker processes: Redis killed mid-job,
//! SIGKILL and SIGTERM with a backlog, a backlog older than the stale window — and
//! what must hold: nothing lost, nothing duplicated, nothing left in Redis or on disk,
//! no human action.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use skillreel_shared::{
    config::StorageBackend,
    db::videos::{self, NewVideo},
    queue::ProcessVideo,
    testing::servers::{PrivateRedis, free_port},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{System, clip, db_name, signal, spawn_worker_logged, worker_env};

/// Records videos directly (small clips the upload rules would refuse keep these tests
/// fast; the worker does not care) and enqueues their jobs.
async fn seed(sys: &System, clip: &Path, n: usize) -> Vec<i64> {
    let owner: i64 = sqlx::query_scalar(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         VALUES ('Seed', 'Player', $1, 'Cali', 'CO', 'x') RETURNING id",
    )
    .bind(format!("seed-{}@example.com", Uuid::new_v4().simple()))
    .fetch_one(&sys.db)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let key = format!("uploaded/{}.mp4", Uuid::new_v4());
        sys.web
            .storage
            .put_file(&key, clip, "video/mp4")
            .await
            .unwrap();
        let video = videos::insert(
            &sys.db,
            &NewVideo {
                owner_id: owner,
                title: format!("seed {i}"),
                task_id: Uuid::new_v4(),
                original_key: key,
                size_bytes: 1,
                duration_secs: 1.0,
                width: 1920,
                height: 1080,
            },
        )
        .await
        .unwrap();
        sys.web
            .queue
            .enqueue(ProcessVideo {
                video_id: video.id,
                task_id: video.task_id,
            })
            .await
            .unwrap();
        ids.push(video.id);
    }
    ids
}

async fn status_of(db: &PgPool, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM videos WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn wait_all(db: &PgPool, ids: &[i64], status: &str, max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    for &id in ids {
        loop {
            let s = status_of(db, id).await;
            if s == status {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "video {id} is {s}, not {status}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn wait_for_status(db: &PgPool, id: i64, status: &str, max: Duration) {
    wait_all(db, &[id], status, max).await;
}

/// Deliveries per video, from the workers' JSON logs.
fn deliveries(logs: &[PathBuf]) -> HashMap<i64, usize> {
    let mut out = HashMap::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            // LOG_FORMAT=json flattens the event's fields into the object.
            if v["message"] == "job delivered" {
                let id = v["video.id"].as_i64().expect("video.id");
                *out.entry(id).or_default() += 1;
            }
        }
    }
    out
}

/// Pids of `name` processes whose parent is `parent`.
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map_or("", |(_, c)| c);
        let ppid: u32 = rest.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
        if ppid == parent && comm == name {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` is still a running (not zombie) process.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// Every key of the test's Redis namespace.
async fn queue_keys(sys: &System) -> Vec<String> {
    let mut redis = sys.web.redis.clone();
    redis::cmd("KEYS")
        .arg(format!("{}*", sys.config.redis.prefix))
        .query_async(&mut redis)
        .await
        .unwrap()
}

/// The keys that may remain with no work queued: the worker registry (and the
/// metadata of still-registered workers) and apalis' signal list.
fn only_bookkeeping(keys: &[String]) -> Vec<&String> {
    keys.iter()
        .filter(|k| {
            !(k.ends_with(":workers") || k.contains(":workers:metadata:") || k.ends_with(":signal"))
        })
        .collect()
}

/// After a worker held `interrupted` and died or stopped: every video is processed
/// exactly once, the interrupted one was delivered twice (once to each worker), every
/// other one once; the second worker stops cleanly and Redis keeps nothing of the jobs.
async fn backlog_done_once_each(
    sys: &System,
    interrupted: i64,
    backlog: &[i64],
    logs: &[PathBuf],
    mut second: tokio::process::Child,
) {
    let all: Vec<i64> = std::iter::once(interrupted)
        .chain(backlog.iter().copied())
        .collect();
    wait_all(&sys.db, &all, "processed", Duration::from_secs(300)).await;
    // Video, poster and preview per video.
    assert_eq!(sys.objects("processed/").await.len(), 3 * all.len());
    let counts = deliveries(logs);
    for id in &all {
        let expected = if *id == interrupted { 2 } else { 1 };
        assert_eq!(
            counts.get(id),
            Some(&expected),
            "deliveries of {id}: {counts:?}"
        );
    }
    signal(second.id().unwrap(), "-TERM");
    assert!(second.wait().await.unwrap().success());
    assert!(only_bookkeeping(&queue_keys(sys).await).is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_redis_outage_mid_job_is_waited_out_by_the_same_process(db: PgPool) {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let sys = System::start_with(db.clone(), StorageBackend::Local, |c| {
        c.redis.url = url.clone().into();
    })
    .await;
    let metrics_port = free_port();
    let mut env = worker_env(&sys, &db_name(&db).await);
    env.push(("REDIS_URL".into(), url.clone()));
    env.retain(|(k, _)| k != "WORKER_METRICS_ADDR");
    env.push((
        "WORKER_METRICS_ADDR".into(),
        format!("127.0.0.1:{metrics_port}"),
    ));
    let log = sys.dir.path().join("worker.log");
    let [id] = seed(&sys, &clip(1920, 1080, 45.0).await, 1).await[..] else {
        unreachable!()
    };
    let mut worker = spawn_worker_logged(&env, Some(&log));
    let pid = worker.id().unwrap();
    wait_for_status(&db, id, "processing", Duration::from_secs(60)).await;

    redis.kill();
    let health = format!("http://127.0.0.1:{metrics_port}/health");
    let mut saw_degraded = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(r) = sys.client.get(&health).send().await
            && r.status() == 503
        {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["waiting_for"][0], "redis", "{body}");
            saw_degraded = true;
        }
    }
    assert!(
        saw_degraded,
        "/health never said degraded during the outage"
    );
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker gave up on Redis"
    );
    redis.spawn();

    wait_for_status(&db, id, "processed", Duration::from_secs(300)).await;
    // Same process, still consuming: a job queued after the outage is processed too.
    // (The web's connection notices the restart on its first command and reconnects.)
    let _ = sys.web.queue.depth().await;
    let [second] = seed(&sys, &clip(640, 360, 3.0).await, 1).await[..] else {
        unreachable!()
    };
    wait_for_status(&db, second, "processed", Duration::from_secs(60)).await;
    assert!(worker.try_wait().unwrap().is_none());
    assert_eq!(worker.id(), Some(pid));
    let r = sys.client.get(&health).send().await.unwrap();
    assert_eq!(r.status(), 200, "healthy again");
    // Video, poster and preview of each.
    assert_eq!(sys.objects("processed/").await.len(), 6);

    signal(pid, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn redis_holds_only_live_work_after_many_jobs(db: PgPool) {
    let mut sys = System::start(db.clone(), StorageBackend::Local).await;
    sys.config.worker.concurrency = 2;
    let ids = seed(&sys, &clip(640, 360, 3.0).await, 20).await;
    let worker = sys.start_worker().await;
    wait_all(&db, &ids, "processed", Duration::from_secs(300)).await;
    // Settling in Redis follows the row update by a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let keys = queue_keys(&sys).await;
        let left = only_bookkeeping(&keys);
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis keeps finished work: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sys.web.queue.depth().await.unwrap(), 0);

    // A clean stop removes the worker's own bookkeeping too.
    sys.worker_stop.take().unwrap().cancel();
    worker.await.unwrap().unwrap();
    let keys = queue_keys(&sys).await;
    assert!(
        keys.iter()
            .all(|k| k.ends_with(":signal") || k.ends_with(":workers")),
        "{keys:?}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn sigkill_with_a_backlog_loses_nothing_and_duplicates_only_the_job_in_flight(db: PgPool) {
    let sys = System::start(db.clone(), StorageBackend::Local).await;
    let env = worker_env(&sys, &db_name(&db).await);
    let long = seed(&sys, &clip(1920, 1080, 45.0).await, 1).await;
    let short = seed(&sys, &clip(640, 360, 3.0).await, 5).await;
    let logs = [sys.dir.path().join("a.log"), sys.dir.path().join("b.log")];

    let mut first = spawn_worker_logged(&env, Some(&logs[0]));
    let pid = first.id().unwrap();
    wait_for_status(&db, long[0], "processing", Duration::from_secs(60)).await;
    let mut ffmpeg = Vec::new();
    for _ in 0..50 {
        ffmpeg = children_named(pid, "ffmpeg");
        if !ffmpeg.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!ffmpeg.is_empty(), "ffmpeg is running for the job");
    let job_dirs = |owner: u32| -> Vec<String> {
        std::fs::read_dir(&sys.config.media.temp_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("skillreel-job-{owner}-")))
            .collect()
    };
    assert!(!job_dirs(pid).is_empty(), "the job has its temp dir");

    signal(pid, "-KILL");
    first.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for p in &ffmpeg {
        assert!(
            !alive(*p),
            "ffmpeg {p} outlived its worker by more than 1 s"
        );
    }
    assert!(!job_dirs(pid).is_empty(), "left behind by the kill");

    let second = spawn_worker_logged(&env, Some(&logs[1]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !job_dirs(pid).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead worker's temp dir survived the next start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    backlog_done_once_each(&sys, long[0], &short, &logs, second).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn sigterm_with_a_backlog_hands_back_only_what_it_held(db: PgPool) {
    let sys = System::start(db.clone(), StorageBackend::Local).await;
    let mut env = worker_env(&sys, &db_name(&db).await);
    env.retain(|(k, _)| k != "SHUTDOWN_GRACE_SECS");
    env.push(("SHUTDOWN_GRACE_SECS".into(), "1".into()));
    let long = seed(&sys, &clip(1920, 1080, 45.0).await, 1).await;
    let short = seed(&sys, &clip(640, 360, 3.0).await, 5).await;
    let logs = [sys.dir.path().join("a.log"), sys.dir.path().join("b.log")];

    let mut first = spawn_worker_logged(&env, Some(&logs[0]));
    wait_for_status(&db, long[0], "processing", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(first.id().unwrap(), "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), first.wait())
        .await
        .expect("stopped within the grace period")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(status_of(&db, long[0]).await, "uploaded", "handed back");
    // Handed back to the front: the queue holds exactly the unprocessed videos.
    assert_eq!(sys.web.queue.depth().await.unwrap(), 6);

    let second = spawn_worker_logged(&env, Some(&logs[1]));
    backlog_done_once_each(&sys, long[0], &short, &logs, second).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_backlog_older_than_the_stale_window_is_not_duplicated(db: PgPool) {
    let sys = System::start(db.clone(), StorageBackend::Local).await;
    let mut env = worker_env(&sys, &db_name(&db).await);
    env.retain(|(k, _)| k != "RECONCILE_STALE_SECS");
    env.push(("RECONCILE_STALE_SECS".into(), "1".into()));
    let ids = seed(&sys, &clip(640, 360, 3.0).await, 8).await;
    // Everything waits well past the stale window before a worker exists.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = sys.dir.path().join("w.log");
    let mut worker = spawn_worker_logged(&env, Some(&log));
    wait_all(&db, &ids, "processed", Duration::from_secs(300)).await;
    let counts = deliveries(std::slice::from_ref(&log));
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "deliveries of {id}: {counts:?}");
    }
    assert_eq!(counts.len(), ids.len());
    signal(worker.id().unwrap(), "-TERM");
    assert!(worker.wait().await.unwrap().success());
}
