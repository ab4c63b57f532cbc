use std::{os::unix::fs::PermissionsExt, process::Stdio, time::Duration};

use skillreel_shared::config::{Config, StorageBackend};
use sqlx::PgPool;

use crate::helpers::{System, clip};

/// Environment that makes a `skillreel-worker` process see the same system as `sys`.
fn worker_env(sys: &System, db_name: &str) -> Vec<(String, String)> {
    let c: &Config = &sys.config;
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').unwrap();
    vec![
        ("CONFIG_SOURCE".into(), "env".into()),
        ("DATABASE_URL".into(), format!("{server}/{db_name}")),
        ("REDIS_PREFIX".into(), c.redis.prefix.clone()),
        ("STORAGE_BACKEND".into(), "local".into()),
        (
            "STORAGE_DIR".into(),
            c.storage.local_dir.display().to_string(),
        ),
        ("TEMP_DIR".into(), c.media.temp_dir.display().to_string()),
        (
            "MEDIA_ASSETS_DIR".into(),
            c.media.assets_dir.display().to_string(),
        ),
        ("FFMPEG_PRESET".into(), "ultrafast".into()),
        ("RECONCILE_INTERVAL_SECS".into(), "1".into()),
        ("RECONCILE_STALE_SECS".into(), "4".into()),
        ("SHUTDOWN_GRACE_SECS".into(), "30".into()),
        ("RUST_LOG".into(), "info".into()),
        // Several worker processes run at once in these tests.
        ("WORKER_METRICS_ADDR".into(), "off".into()),
    ]
}

fn spawn_worker(env: &[(String, String)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_skillreel-worker"))
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting skillreel-worker")
}

async fn db_name(db: &PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_worker_killed_mid_job_loses_nothing(db: PgPool) {
    let sys = System::start(db.clone(), StorageBackend::Local).await;
    let env = worker_env(&sys, &db_name(&db).await);
    let token = sys.player("Kim").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 45.0).await, "killed")
        .await;

    let mut first = spawn_worker(&env);
    sys.wait_status(&token, id, &["processing"], Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    assert_eq!(
        sys.detail(&token, id).await["status"],
        "processing",
        "left mid-job"
    );

    let mut second = spawn_worker(&env);
    let d = sys
        .wait_status(
            &token,
            id,
            &["processed", "failed"],
            Duration::from_secs(300),
        )
        .await;
    assert_eq!(d["status"], "processed", "{d}");
    assert_eq!(
        sys.objects("processed/").await.len(),
        1,
        "exactly one output"
    );
    assert!(d["attempts"].as_i64().unwrap() >= 2);

    // SIGTERM: the idle worker exits 0.
    let pid = second.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), second.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn sigterm_lets_the_running_job_finish(db: PgPool) {
    let sys = System::start(db.clone(), StorageBackend::Local).await;
    let env = worker_env(&sys, &db_name(&db).await);
    let token = sys.player("Tess").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 21.0).await, "graceful")
        .await;
    let mut worker = spawn_worker(&env);
    sys.wait_status(&token, id, &["processing"], Duration::from_secs(120))
        .await;
    let pid = worker.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        sys.detail(&token, id).await["status"],
        "processed",
        "finished within the grace period"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn jobs_lost_from_redis_are_found_again(db: PgPool) {
    let mut sys = System::start(db, StorageBackend::Local).await;
    let token = sys.player("Flo").await;
    let a = sys.upload(&token, &clip(1920, 1080, 21.0).await, "a").await;
    let b = sys.upload(&token, &clip(1080, 1920, 21.0).await, "b").await;
    // Lose every queued job, as a Redis restart without persistence would.
    let mut redis = sys.web.redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", sys.config.redis.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(sys.web.queue.depth().await.unwrap(), 0);

    let _worker = sys.start_worker().await;
    for id in [a, b] {
        let d = sys
            .wait_status(
                &token,
                id,
                &["processed", "failed"],
                Duration::from_secs(300),
            )
            .await;
        assert_eq!(d["status"], "processed", "{d}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn failures_retry_with_backoff_then_fail_with_a_reason(db: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    // An ffmpeg that always fails, as a broken clip or codec would make it. ffprobe stays real.
    let fake = dir.path().join("ffmpeg");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'Invalid data found when processing input' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut sys = System::start(db, StorageBackend::Local).await;
    // Generate the default assets with the real ffmpeg first.
    skillreel_shared::media::assets::ensure(&sys.config.media)
        .await
        .unwrap();
    sys.config.media.ffmpeg_path = fake;
    sys.config.worker.max_attempts = 3;
    let token = sys.player("Fay").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 21.0).await, "doomed")
        .await;
    let _worker = sys.start_worker().await;
    let d = sys
        .wait_status(&token, id, &["failed"], Duration::from_secs(60))
        .await;
    assert_eq!(d["attempts"], 3, "{d}");
    let error = d["error"].as_str().unwrap();
    assert!(error.contains("processing failed"), "{error}");
    assert!(sys.objects("processed/").await.is_empty());
    let leftovers = std::fs::read_dir(&sys.config.media.temp_dir)
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "temporary files removed");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_video_deleted_while_processing_leaves_no_output(db: PgPool) {
    let mut sys = System::start(db, StorageBackend::Local).await;
    let token = sys.player("Del").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 45.0).await, "gone")
        .await;
    let _worker = sys.start_worker().await;
    sys.wait_status(&token, id, &["processing"], Duration::from_secs(60))
        .await;
    let r = sys
        .client
        .delete(sys.url(&format!("/api/videos/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Give the worker time to notice (heartbeat) or finish (mark_processed fails).
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        sys.objects("processed/").await.is_empty(),
        "no stray output"
    );
    assert!(sys.objects("uploaded/").await.is_empty());
}
