//! The real `skillreel-web` binary: it refuses to start without a proper signing key,
//! and once started serves `/metrics` on its private listener only.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{WEB, WebProcess, body, test_secret};

/// Runs the web binary in a bare environment to its exit.
async fn run_to_exit(vars: &[(&str, &str)]) -> (bool, String) {
    skillreel_shared::testing::run_to_exit(WEB, vars).await
}

#[tokio::test]
async fn refuses_to_start_without_a_signing_key() {
    let (ok, printed) = run_to_exit(&[]).await;
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("JWT_SECRET") && printed.contains("SKILLREEL_ENV=development"),
        "{printed}"
    );
}

#[tokio::test]
async fn refuses_short_or_published_signing_keys_without_echoing_them() {
    let cases = [
        ("JWT_SECRET", "too-short-a-secret"),
        (
            "JWT_SECRET",
            "change-me-to-a-long-random-string-of-at-least-32-bytes",
        ),
    ];
    for (name, value) in cases {
        let (ok, printed) = run_to_exit(&[(name, value)]).await;
        assert!(!ok, "{printed}");
        assert!(printed.contains(name), "{printed}");
        assert!(!printed.contains(value), "the key was printed: {printed}");
    }
    let (ok, printed) = run_to_exit(&[
        ("JWT_SECRET", test_secret()),
        ("URL_SIGNING_KEY", "short-url-key"),
    ])
    .await;
    assert!(!ok && printed.contains("URL_SIGNING_KEY"), "{printed}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn starts_with_a_good_key_and_keeps_metrics_off_the_public_port(db: PgPool) {
    let web = WebProcess::spawn(&db, &[("WEB_METRICS_ADDR", "127.0.0.1:0")]).await;
    let (public, metrics) = (&web.addr, web.metrics_addr.as_ref().unwrap());
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(
        get(format!("http://{public}/health/live")).await.status(),
        200
    );
    let r = get(format!("http://{public}/metrics")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(r).await["code"], "not-found");
    let r = get(format!("http://{metrics}/metrics")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"route="/health/live",status="200""#),
        "{text}"
    );
    // The private listener serves nothing of the API.
    let r = get(format!("http://{metrics}/api/public/rankings")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
