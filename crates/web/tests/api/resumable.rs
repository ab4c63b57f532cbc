//! Resumable direct uploads (`/api/videos/uploads...`) on both storage backends: the
//! local store (parts through a signed route of the web service) and S3 (moto; parts
//! through presigned URLs, never through the web).

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use skillreel_shared::{
    config::StorageBackend, ingest::resumable, media::testclip::generate_sized,
    storage::s3::S3Store,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, body, clip_cache};

pub(crate) const MIB: usize = 1024 * 1024;

/// The service on `backend`; with S3, on a fresh bucket of the emulator.
pub(crate) async fn app(db: PgPool, backend: StorageBackend) -> TestApp {
    let bucket = format!("skillreel-test-{}", Uuid::new_v4().simple());
    let s3 = backend == StorageBackend::S3;
    let app = TestApp::spawn_with(db, |c| {
        c.storage.backend = backend;
        c.storage.bucket = bucket.clone();
    })
    .await;
    if s3 {
        s3_store(&app)
            .await
            .client()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("creating the test bucket (is the S3 emulator running?)");
    }
    app
}

async fn s3_store(app: &TestApp) -> S3Store {
    S3Store::new(&app.state.config.storage).await.unwrap()
}

/// A valid 1080p clip of more than two 5 MiB parts.
async fn big_clip() -> Vec<u8> {
    let path = generate_sized(Path::new("ffmpeg"), 12 * MIB as u64 + 12_345, &clip_cache())
        .await
        .expect("generating the test clip");
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 2 * 5 * MIB, "{} bytes", bytes.len());
    bytes
}

pub(crate) async fn small_clip() -> Vec<u8> {
    let path = skillreel_shared::media::testclip::cached(1920, 1080, 21.0)
        .await
        .expect("generating a test clip");
    std::fs::read(path).unwrap()
}

/// Starts an upload of `size` bytes; returns the answer.
pub(crate) async fn start(app: &TestApp, token: &str, size: usize) -> Value {
    let r = app
        .post_json(
            "/api/videos/uploads",
            &json!({"title": "  Juggling  ", "filename": "juggling.mp4", "size": size,
                    "content_type": "video/mp4"}),
            Some(token),
        )
        .await;
    assert_eq!(r.status(), 201);
    body(r).await
}

/// Asks where part `n` goes and sends it there, as a browser would; returns the ETag.
pub(crate) async fn send_part(
    app: &TestApp,
    token: &str,
    id: &str,
    n: usize,
    bytes: &[u8],
) -> String {
    let r = app
        .get(&format!("/api/videos/uploads/{id}/parts/{n}"), Some(token))
        .await;
    assert_eq!(r.status(), 200);
    let target = body(r).await;
    assert_eq!(target["method"], "PUT");
    let url = target["url"].as_str().unwrap();
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        app.url(url)
    };
    // No bearer token: the URL is the authorisation.
    let mut put = app.client.put(url).body(bytes.to_vec());
    for (name, value) in target["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let r = put.send().await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    r.headers()["etag"].to_str().unwrap().to_owned()
}

/// Sends every part of `bytes` for the started upload; returns `(part number, ETag)`s.
pub(crate) async fn send_all(
    app: &TestApp,
    token: &str,
    started: &Value,
    bytes: &[u8],
) -> Vec<(usize, String)> {
    let id = started["upload_id"].as_str().unwrap();
    let part_size = started["part_size"].as_u64().unwrap() as usize;
    assert_eq!(started["parts_count"], bytes.len().div_ceil(part_size));
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(part_size).enumerate() {
        parts.push((i + 1, send_part(app, token, id, i + 1, chunk).await));
    }
    parts
}

pub(crate) async fn complete(
    app: &TestApp,
    token: &str,
    id: &str,
    parts: &[(usize, String)],
) -> reqwest::Response {
    let parts: Vec<Value> = parts
        .iter()
        .map(|(n, etag)| json!({"part_number": n, "etag": etag}))
        .collect();
    app.client
        .post(app.url(&format!("/api/videos/uploads/{id}/complete")))
        .bearer_auth(token)
        .json(&json!({ "parts": parts }))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap()
}

/// Multipart uploads still holding parts in storage.
async fn pending_parts(app: &TestApp) -> usize {
    match app.state.config.storage.backend {
        StorageBackend::Local => {
            let dir = app.state.config.storage.local_dir.join(".multipart");
            std::fs::read_dir(dir).map_or(0, |d| d.count())
        }
        StorageBackend::S3 => {
            let store = s3_store(app).await;
            let listed = store
                .client()
                .list_multipart_uploads()
                .bucket(store.bucket())
                .send()
                .await
                .unwrap();
            listed.uploads().len()
        }
    }
}

pub(crate) async fn pending_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM resumable_uploads")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// Request body bytes the web read on the upload routes, from its metrics listener.
async fn upload_bytes_received(app: &TestApp) -> u64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("skillreel_http_upload_body_bytes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn assert_nothing_left(app: &TestApp) {
    assert_eq!(app.video_rows().await, 0, "no video row");
    assert_eq!(app.objects("").await, 0, "no object");
    assert_eq!(app.queued().await, 0, "no job");
    assert_eq!(pending_rows(app).await, 0, "no pending upload");
    assert_eq!(pending_parts(app).await, 0, "no parts");
}

/// The client sends two parts, forgets everything but the upload id, asks which parts
/// are stored, sends the rest and completes: a video, queued like a classic upload.
async fn resume_from_the_upload_id_alone(backend: StorageBackend, db: PgPool) {
    let app = app(db, backend.clone()).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let bytes = big_clip().await;
    let started = start(&app, &token, bytes.len()).await;
    let part_size = started["part_size"].as_u64().unwrap() as usize;
    let parts_count = started["parts_count"].as_u64().unwrap() as usize;
    assert_eq!(part_size, 5 * MIB);
    assert_eq!(parts_count, bytes.len().div_ceil(part_size));
    assert!(parts_count >= 3);
    let expires: chrono::DateTime<chrono::Utc> =
        started["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(ttl > chrono::Duration::hours(23) && ttl <= chrono::Duration::hours(24));
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let chunk = |n: usize| &bytes[(n - 1) * part_size..(n * part_size).min(bytes.len())];
    for n in 1..=2 {
        send_part(&app, &token, &id, n, chunk(n)).await;
    }
    drop(started);

    // A fresh client with only the id.
    let r = app
        .get(&format!("/api/videos/uploads/{id}/parts"), Some(&token))
        .await;
    assert_eq!(r.status(), 200);
    let listed = body(r).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let mut parts: Vec<(usize, String)> = Vec::new();
    for (i, part) in listed.iter().enumerate() {
        assert_eq!(part["part_number"], i + 1);
        assert_eq!(part["size"], part_size);
        parts.push((i + 1, part["etag"].as_str().unwrap().to_owned()));
    }
    for n in 3..=parts_count {
        let etag = send_part(&app, &token, &id, n, chunk(n)).await;
        parts.push((n, etag));
    }
    let r = complete(&app, &token, &id, &parts).await;
    assert_eq!(r.status(), 201);
    let created = body(r).await;
    assert_eq!(
        created["message"],
        "Video subido exitosamente. Tarea creada."
    );
    let video = created["video_id"].as_i64().unwrap();
    assert!(Uuid::parse_str(created["task_id"].as_str().unwrap()).is_ok());

    assert_eq!(app.video_rows().await, 1);
    assert_eq!(app.queued().await, 1);
    assert_eq!(pending_rows(&app).await, 0);
    assert_eq!(pending_parts(&app).await, 0);
    let originals = app.state.storage.list("uploaded/").await.unwrap();
    assert_eq!(originals.len(), 1);
    let copy = app.state.config.media.temp_dir.join("copy.mp4");
    app.state
        .storage
        .get_to_file(&originals[0], &copy)
        .await
        .unwrap();
    assert!(
        std::fs::read(&copy).unwrap() == bytes,
        "the object is the file"
    );
    std::fs::remove_file(copy).unwrap();
    let d = body(app.get(&format!("/api/videos/{video}"), Some(&token)).await).await;
    assert_eq!(
        (d["status"].as_str(), d["title"].as_str()),
        (Some("uploaded"), Some("Juggling"))
    );

    // Once completed, the upload is gone.
    let r = complete(&app, &token, &id, &parts).await;
    assert_eq!(r.status(), 404);

    let received = upload_bytes_received(&app).await;
    match backend {
        // Every part went through this instance.
        StorageBackend::Local => assert!(received >= bytes.len() as u64, "{received}"),
        // Only the small JSON bodies did: the parts went straight to the bucket.
        StorageBackend::S3 => assert!(
            received * 100 < bytes.len() as u64,
            "{received} bytes of a {}-byte file reached the web",
            bytes.len()
        ),
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_resume_from_the_upload_id_alone(db: PgPool) {
    resume_from_the_upload_id_alone(StorageBackend::Local, db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn s3_resume_from_the_upload_id_alone(db: PgPool) {
    resume_from_the_upload_id_alone(StorageBackend::S3, db).await;
}

/// A file that passes for an MP4 by its first bytes but is cut short, and a text file:
/// refused at completion like the classic upload refuses them, leaving nothing.
async fn refused_files_leave_nothing(backend: StorageBackend, db: PgPool) {
    let app = app(db, backend).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let good = small_clip().await;
    let truncated = good[..good.len() * 2 / 3].to_vec();
    let text = b"hello, I am a text file pretending to be a video".to_vec();
    for (bytes, code) in [(truncated, "corrupt-video"), (text, "not-mp4")] {
        let started = start(&app, &token, bytes.len()).await;
        let id = started["upload_id"].as_str().unwrap();
        let parts = send_all(&app, &token, &started, &bytes).await;
        let r = complete(&app, &token, id, &parts).await;
        assert_eq!(r.status(), 400);
        let b = body(r).await;
        assert_eq!(b["code"], code, "{b}");
        assert_nothing_left(&app).await;
        let r = app
            .get(&format!("/api/videos/uploads/{id}/parts"), Some(&token))
            .await;
        assert_eq!(r.status(), 404, "the refused upload is gone");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_refused_files_leave_nothing(db: PgPool) {
    refused_files_leave_nothing(StorageBackend::Local, db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn s3_refused_files_leave_nothing(db: PgPool) {
    refused_files_leave_nothing(StorageBackend::S3, db).await;
}

/// Abort removes the parts; another player sees none of it; an expired upload answers
/// `410` and is swept with its parts.
async fn abort_foreign_and_expired(backend: StorageBackend, db: PgPool) {
    let app = app(db, backend).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let (_, other) = app.player("Eve", "Cali").await;
    let bytes = small_clip().await;

    let part_size = 5 * MIB;
    let started = start(&app, &token, bytes.len()).await;
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let etag = send_part(&app, &token, &id, 1, &bytes[..part_size]).await;
    assert_eq!(pending_parts(&app).await, 1);
    // Another player: every route is a 404, as if the upload did not exist.
    let parts = format!("/api/videos/uploads/{id}/parts");
    assert_eq!(
        app.get(&format!("{parts}/1"), Some(&other)).await.status(),
        404
    );
    assert_eq!(app.get(&parts, Some(&other)).await.status(), 404);
    let r = complete(&app, &other, &id, &[(1, etag.clone())]).await;
    assert_eq!(r.status(), 404);
    let r = app
        .delete(&format!("/api/videos/uploads/{id}"), &other)
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        pending_parts(&app).await,
        1,
        "the owner's parts are untouched"
    );
    // The owner aborts.
    let r = app
        .delete(&format!("/api/videos/uploads/{id}"), &token)
        .await;
    assert_eq!(r.status(), 204);
    assert_nothing_left(&app).await;
    assert_eq!(app.get(&parts, Some(&token)).await.status(), 404);

    // Expired: refused with 410, then swept.
    let started = start(&app, &token, bytes.len()).await;
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let etag = send_part(&app, &token, &id, 1, &bytes[..part_size]).await;
    sqlx::query("UPDATE resumable_uploads SET expires_at = now() - interval '1 hour'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let parts = format!("/api/videos/uploads/{id}/parts");
    for r in [
        app.get(&format!("{parts}/1"), Some(&token)).await,
        app.get(&parts, Some(&token)).await,
        complete(&app, &token, &id, &[(1, etag)]).await,
    ] {
        assert_eq!(r.status(), 410);
        assert_eq!(body(r).await["code"], "upload-expired");
    }
    let ctx = skillreel_web::routes::upload::ingest(&app.state);
    // Within the grace period the sweep leaves it alone.
    assert_eq!(
        resumable::sweep(ctx, Duration::from_secs(7200))
            .await
            .unwrap(),
        0
    );
    assert_eq!(pending_parts(&app).await, 1);
    assert_eq!(resumable::sweep(ctx, Duration::ZERO).await.unwrap(), 1);
    assert_nothing_left(&app).await;
    assert_eq!(app.get(&parts, Some(&token)).await.status(), 404);
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_abort_foreign_and_expired(db: PgPool) {
    abort_foreign_and_expired(StorageBackend::Local, db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn s3_abort_foreign_and_expired(db: PgPool) {
    abort_foreign_and_expired(StorageBackend::S3, db).await;
}
