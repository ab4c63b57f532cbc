//! The real `skillreel-worker` binary refuses to start without a proper signing key, and
//! starts with one.

use std::time::{Duration, Instant};

use skillreel_shared::config::StorageBackend;
use sqlx::PgPool;

use crate::helpers::{System, db_name, signal, spawn_worker_logged, worker_env};

/// Runs the worker binary in a bare environment to its exit.
async fn run_to_exit(vars: &[(&str, &str)]) -> (bool, String) {
    skillreel_shared::testing::run_to_exit(env!("CARGO_BIN_EXE_skillreel-worker"), vars).await
}

#[tokio::test]
async fn refuses_to_start_without_a_proper_signing_key() {
    let (ok, printed) = run_to_exit(&[]).await;
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("JWT_SECRET") && printed.contains("SKILLREEL_ENV=development"),
        "{printed}"
    );
    let (ok, printed) = run_to_exit(&[("JWT_SECRET", "sixteen-bytes-ok")]).await;
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("JWT_SECRET") && printed.contains("16 bytes"),
        "{printed}"
    );
    assert!(!printed.contains("sixteen-bytes-ok"), "{printed}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn starts_with_a_good_signing_key(db: PgPool) {
    let sys = System::start(db.clone(), StorageBackend::Local).await;
    let mut env = worker_env(&sys, &db_name(&db).await);
    env.retain(|(k, _)| k != "WORKER_METRICS_ADDR");
    env.push(("WORKER_METRICS_ADDR".into(), "127.0.0.1:0".into()));
    assert!(env.iter().any(|(k, v)| k == "JWT_SECRET" && v.len() >= 32));
    let log = sys.dir.path().join("worker.log");
    let mut worker = spawn_worker_logged(&env, Some(&log));

    // The private listener's address, from the JSON log line announcing it.
    let start = Instant::now();
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text.lines().find_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).ok()?;
            (record["message"] == "serving /metrics and /health")
                .then(|| record["addr"].as_str().map(str::to_owned))
                .flatten()
        });
        if let Some(addr) = found {
            break addr;
        }
        assert!(
            worker.try_wait().unwrap().is_none(),
            "the worker exited:\n{text}"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = sys
        .client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    signal(worker.id().unwrap(), "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
