//! Requests that lose a race answer what happened: a video deleted by a concurrent
//! request is `404`, whatever the loser was about to do with it.
//!
//! The race is made deterministic with a real row lock: the test deletes the video in a
//! transaction of its own, lets the request run until PostgreSQL shows it waiting for
//! that lock (so it has read the video already), then commits.

use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, Response, StatusCode};
use sqlx::PgPool;

use crate::helpers::{TestApp, body, seed_video};

/// Waits until a session of this database waits for a lock.
async fn until_a_request_waits_for_the_lock(db: &PgPool) {
    let start = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the request never waited for the row lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `request` while another transaction deletes `video`, and commits that delete
/// once the request has read the row and waits to change it.
async fn lose_to_a_delete(db: &PgPool, video: i64, request: RequestBuilder) -> Response {
    let mut rival = db.begin().await.unwrap();
    sqlx::query("DELETE FROM videos WHERE id = $1")
        .bind(video)
        .execute(&mut *rival)
        .await
        .unwrap();
    let pending = tokio::spawn(request.send());
    until_a_request_waits_for_the_lock(db).await;
    rival.commit().await.unwrap();
    pending.await.unwrap().unwrap()
}

async fn assert_gone(r: Response) {
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let b = body(r).await;
    assert_eq!(
        (b["detail"].as_str(), b["code"].as_str()),
        (Some("Video not found"), Some("not-found")),
        "{b}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_delete_that_loses_to_another_delete_is_404(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, token) = app.player("Ana", "Cali").await;
    let video = seed_video(&db, ana, "processed").await;
    let request = app
        .client
        .delete(app.url(&format!("/api/videos/{video}")))
        .bearer_auth(&token);
    assert_gone(lose_to_a_delete(&db, video, request).await).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_publish_that_loses_to_a_delete_is_404(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, token) = app.player("Ana", "Cali").await;
    let video = seed_video(&db, ana, "processed").await;
    let request = app
        .client
        .post(app.url(&format!("/api/videos/{video}/publish")))
        .bearer_auth(&token);
    assert_gone(lose_to_a_delete(&db, video, request).await).await;
    assert_eq!(app.video_rows().await, 0);
}
