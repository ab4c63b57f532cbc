//! A resumable direct upload all the way to `processed`, on both storage backends: the
//! parts are sent (through the web's signed route, or straight to the bucket), the
//! client stops after two, resumes from the upload id alone, completes, and a worker
//! processes the assembled original.

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use skillreel_shared::{config::StorageBackend, media::testclip::generate_sized};
use sqlx::PgPool;

use crate::helpers::{System, clip_cache, facts};

const MIB: u64 = 1024 * 1024;

async fn call(
    sys: &System,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = sys.client.request(method, sys.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    assert!(
        r.status().is_success(),
        "{path}: {} {:?}",
        r.status(),
        r.text().await
    );
    r.json().await.unwrap()
}

async fn send_part(sys: &System, token: &str, id: &str, n: usize, bytes: &[u8]) -> String {
    let path = format!("/api/videos/uploads/{id}/parts/{n}");
    let target = call(sys, reqwest::Method::GET, &path, token, None).await;
    let mut put = sys
        .client
        .put(sys.url(target["url"].as_str().unwrap()))
        .body(bytes.to_vec());
    for (name, value) in target["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let r = put.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["etag"].to_str().unwrap().to_owned()
}

async fn resumable_to_processed(backend: StorageBackend, db: PgPool) {
    let mut sys = System::start(db, backend).await;
    let token = sys.player("Ana").await;
    let file = generate_sized(Path::new("ffmpeg"), 12 * MIB + 12_345, &clip_cache())
        .await
        .unwrap();
    let bytes = std::fs::read(file).unwrap();
    let started = call(
        &sys,
        reqwest::Method::POST,
        "/api/videos/uploads",
        &token,
        Some(
            json!({"title": "Resumed", "filename": "clip.mp4", "size": bytes.len(),
                    "content_type": "video/mp4"}),
        ),
    )
    .await;
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let part_size = started["part_size"].as_u64().unwrap() as usize;
    let count = started["parts_count"].as_u64().unwrap() as usize;
    assert!(count >= 3);
    let chunk = |n: usize| &bytes[(n - 1) * part_size..(n * part_size).min(bytes.len())];
    for n in 1..=2 {
        send_part(&sys, &token, &id, n, chunk(n)).await;
    }
    // Resumed from the id alone.
    let listed = call(
        &sys,
        reqwest::Method::GET,
        &format!("/api/videos/uploads/{id}/parts"),
        &token,
        None,
    )
    .await;
    let mut parts: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"part_number": p["part_number"], "etag": p["etag"]}))
        .collect();
    assert_eq!(parts.len(), 2);
    for n in 3..=count {
        let etag = send_part(&sys, &token, &id, n, chunk(n)).await;
        parts.push(json!({"part_number": n, "etag": etag}));
    }
    let created = call(
        &sys,
        reqwest::Method::POST,
        &format!("/api/videos/uploads/{id}/complete"),
        &token,
        Some(json!({ "parts": parts })),
    )
    .await;
    let video = created["video_id"].as_i64().unwrap();
    let worker = sys.start_worker().await;
    let detail = sys
        .wait_status(&token, video, &["processed"], Duration::from_secs(300))
        .await;
    let out = sys
        .download(detail["processed_url"].as_str().unwrap())
        .await;
    let f = facts(&out).await;
    assert_eq!((f.width, f.height), (1280, 720), "{f:?}");
    sys.worker_stop.take().unwrap().cancel();
    worker.await.unwrap().unwrap();
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_resumable_upload_is_processed(db: PgPool) {
    resumable_to_processed(StorageBackend::Local, db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn s3_resumable_upload_is_processed(db: PgPool) {
    resumable_to_processed(StorageBackend::S3, db).await;
}
