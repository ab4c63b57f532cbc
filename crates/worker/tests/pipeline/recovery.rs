use std::{os::unix::fs::PermissionsExt, time::Duration};

use skillreel_shared::config::StorageBackend;
use sqlx::PgPool;

use crate::helpers::{System, clip, db_name, spawn_worker, worker_env};

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
        3,
        "exactly one output (video, poster, preview)"
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

/// A system whose worker runs `script` as its ffmpeg (ffprobe and the default assets stay
/// real) and gives a video 3 attempts. Keep the returned directory alive.
async fn with_fake_ffmpeg(db: PgPool, script: &str) -> (System, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("ffmpeg");
    std::fs::write(&fake, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut sys = System::start(db, StorageBackend::Local).await;
    // Generate the default assets with the real ffmpeg first.
    skillreel_shared::media::assets::ensure(&sys.config.media)
        .await
        .unwrap();
    sys.config.media.ffmpeg_path = fake;
    sys.config.worker.max_attempts = 3;
    (sys, dir)
}

#[sqlx::test(migrations = "../../migrations")]
async fn transient_failures_retry_with_backoff_then_fail_with_a_reason(db: PgPool) {
    // An ffmpeg killed by a signal every time (as the OOM killer would): the machine's
    // trouble, not the clip's, so it is retried.
    let (mut sys, _dir) = with_fake_ffmpeg(db, "kill -9 $$").await;
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
    assert!(!error.is_empty() && !error.contains('/'), "{error}");
    assert!(sys.objects("processed/").await.is_empty());
    let leftovers = std::fs::read_dir(&sys.config.media.temp_dir)
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "temporary files removed");
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_unreadable_clip_fails_after_one_attempt_with_a_readable_error(db: PgPool) {
    // ffmpeg refuses the input on its own (exit 1, no resource trouble): the same
    // bytes fail the same way every time, so there is no second attempt.
    let (mut sys, _dir) = with_fake_ffmpeg(
        db,
        "echo '[mov,mp4,m4a @ 0x55d0c8a4b2c0] moov atom not found' >&2\n\
         echo \"$4: Invalid data found when processing input\" >&2\nexit 1",
    )
    .await;
    let token = sys.player("Una").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 21.0).await, "unreadable")
        .await;
    let _worker = sys.start_worker().await;
    let d = sys
        .wait_status(&token, id, &["failed"], Duration::from_secs(60))
        .await;
    assert_eq!(d["attempts"], 1, "permanent: one attempt only: {d}");
    let error = d["error"].as_str().unwrap();
    assert!(!error.is_empty(), "{d}");
    for raw in ["/", "0x", "moov", "Invalid data"] {
        assert!(!error.contains(raw), "tool output leaked into {error:?}");
    }
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
