use std::path::{Path, PathBuf};

use skillreel_shared::{
    ingest,
    media::testclip::{cached_solid, generate_sized},
};
use sqlx::PgPool;

use crate::helpers::{TestApp, body, clip_cache};

async fn clip(width: u32, height: u32, secs: f64) -> PathBuf {
    skillreel_shared::media::testclip::cached(width, height, secs)
        .await
        .expect("generating a test clip")
}

async fn webm() -> Vec<u8> {
    let out = clip_cache().join("clip.webm");
    if !out.exists() {
        let status = tokio::process::Command::new("ffmpeg")
            .args([
                "-y",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1920x1080:rate=5:duration=21",
            ])
            .args([
                "-c:v",
                "libvpx",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-b:v",
                "200k",
            ])
            .arg(&out)
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }
    std::fs::read(out).unwrap()
}

/// Asserts that nothing was left behind by a rejected upload.
async fn assert_nothing_left(app: &TestApp) {
    assert_eq!(app.video_rows().await, 0, "no row");
    assert_eq!(app.objects("").await, 0, "no object");
    assert_eq!(app.queued().await, 0, "no job");
    let tmp = std::fs::read_dir(&app.state.config.media.temp_dir)
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "no temporary file");
}

async fn rejected(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    title: Option<&str>,
    status: u16,
    needle: &str,
) -> serde_json::Value {
    let r = app.upload_bytes(token, bytes, title).await;
    assert_eq!(r.status(), status);
    let b = body(r).await;
    let detail = b["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains(needle),
        "detail {detail:?} should contain {needle:?}"
    );
    assert_nothing_left(app).await;
    b
}

/// Offset and length of the top-level `moov` box of an MP4.
fn moov_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if &bytes[at + 4..at + 8] == b"moov" {
            return at..at + size;
        }
        assert!(
            size >= 8,
            "a 32-bit box size is expected in a generated clip"
        );
        at += size;
    }
    panic!("no moov box");
}

/// `bytes` with each track's data reference, ffmpeg's self-contained `url `, turned into
/// a QuickTime alias to another file: same size, type `alis`, self-contained flag off.
fn with_alias_references(mut bytes: Vec<u8>) -> Vec<u8> {
    let moov = moov_range(&bytes);
    let mut rewritten = 0;
    let mut at = moov.start;
    while let Some(found) = bytes[at..moov.end].windows(4).position(|w| w == b"dref") {
        // After the type: version and flags (4), entry count (4), then the first
        // entry's size (4), type (4), version (1) and flags (3).
        let entry = at + found + 12;
        assert_eq!(&bytes[entry + 4..entry + 12], b"url \0\0\0\x01");
        bytes[entry + 4..entry + 8].copy_from_slice(b"alis");
        bytes[entry + 11] = 0;
        rewritten += 1;
        at = entry + 12;
    }
    assert!(rewritten > 0, "no data reference found");
    bytes
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_accepted_upload_stores_records_and_enqueues(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let bytes = std::fs::read(clip(1920, 1080, 21.0).await).unwrap();
    let r = app
        .upload_bytes(&token, bytes.clone(), Some("  Kick-ups  "))
        .await;
    assert_eq!(r.status(), 201);
    let b = body(r).await;
    assert_eq!(b["message"], "Video subido exitosamente. Tarea creada.");
    let id = b["video_id"].as_i64().unwrap();
    assert!(uuid::Uuid::parse_str(b["task_id"].as_str().unwrap()).is_ok());
    assert_eq!(app.video_rows().await, 1);
    assert_eq!(app.objects("uploaded/").await, 1);
    assert_eq!(app.queued().await, 1);
    let d = body(app.get(&format!("/api/videos/{id}"), Some(&token)).await).await;
    assert_eq!(d["status"], "uploaded");
    assert_eq!(d["title"], "Kick-ups");
    // the stored original is byte-identical
    let url = d["original_url"].as_str().unwrap();
    let stored = app
        .client
        .get(app.url(url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), &bytes[..]);
    // two uploads in the same second do not overwrite each other
    let again = app.upload_bytes(&token, bytes, Some("again")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(app.objects("uploaded/").await, 2);
}

#[sqlx::test(migrations = "../../migrations")]
async fn rejections_leave_nothing_behind(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let t = Some("title");

    let short = std::fs::read(clip(1920, 1080, 8.0).await).unwrap();
    rejected(&app, &token, short, t, 400, "duration 8.0 s is outside 20").await;
    let long = std::fs::read(clip(1920, 1080, 61.0).await).unwrap();
    rejected(&app, &token, long, t, 400, "61.0 s").await;
    let low = std::fs::read(clip(1280, 720, 21.0).await).unwrap();
    rejected(&app, &token, low, t, 400, "1280x720").await;
    rejected(&app, &token, webm().await, t, 400, "not an MP4").await;
    rejected(
        &app,
        &token,
        b"hello, I am a text file pretending to be a video".to_vec(),
        t,
        400,
        "not an MP4",
    )
    .await;
    rejected(&app, &token, Vec::new(), t, 400, "empty").await;
    let good = std::fs::read(clip(1920, 1080, 21.0).await).unwrap();
    let truncated = good[..good.len() * 2 / 3].to_vec();
    rejected(&app, &token, truncated, t, 400, "corrupt").await;
    rejected(&app, &token, good.clone(), None, 422, "title").await;
    rejected(
        &app,
        &token,
        good.clone(),
        Some(&"x".repeat(256)),
        422,
        "title",
    )
    .await;

    let form = reqwest::multipart::Form::new().text("title", "no file");
    let r = app
        .client
        .post(app.url("/api/videos/upload"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        body(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("video_file")
    );
    assert_nothing_left(&app).await;

    let r = app
        .client
        .post(app.url("/api/videos/upload"))
        .multipart(reqwest::multipart::Form::new())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[sqlx::test(migrations = "../../migrations")]
async fn frames_too_large_or_too_many_are_refused(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let t = Some("title");
    // 21 s, so that the duration rule passes and the size rule is reached.
    let huge = std::fs::read(cached_solid(8192, 8192, 1, 21.0).await.unwrap()).unwrap();
    let b = rejected(&app, &token, huge, t, 400, "8192x8192").await;
    assert_eq!(b["code"], "resolution-too-high");
    assert!(b["detail"].as_str().unwrap().contains("at most 4096 px"));
    let fast = std::fs::read(cached_solid(1080, 1080, 240, 21.0).await.unwrap()).unwrap();
    let b = rejected(&app, &token, fast, t, 400, "240.0 fps").await;
    assert_eq!(b["code"], "frame-rate-too-high");
}

#[sqlx::test(migrations = "../../migrations")]
async fn media_stored_outside_the_file_is_refused(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let good = std::fs::read(clip(1920, 1080, 21.0).await).unwrap();
    let aliased = with_alias_references(good);
    let b = rejected(&app, &token, aliased, Some("t"), 400, "outside the file").await;
    assert_eq!(b["code"], "external-data-reference");
    assert!(b["detail"].as_str().unwrap().contains("QuickTime alias"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_unreadable_video_is_explained_without_tool_output(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    // Sample descriptions that are noise inside a well-formed box structure: only
    // ffprobe can tell, and its log names the spool file and heap addresses.
    let mut bytes = std::fs::read(clip(1920, 1080, 21.0).await).unwrap();
    let moov = moov_range(&bytes);
    let mut at = moov.start;
    while let Some(found) = bytes[at..moov.end].windows(4).position(|w| w == b"stsd") {
        let stsd = at + found;
        let size = u32::from_be_bytes(bytes[stsd - 4..stsd].try_into().unwrap()) as usize;
        for (i, b) in bytes[stsd + 4..stsd - 4 + size].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        at = stsd + 4;
    }
    let b = rejected(&app, &token, bytes, Some("t"), 400, "could not be").await;
    assert_eq!(b["code"], "corrupt-video");
    let detail = b["detail"].as_str().unwrap();
    assert!(
        !detail.contains('/') && !detail.contains("0x") && !detail.contains("ffprobe"),
        "{detail:?}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn start_up_removes_only_dead_uploads_spool_files(db: PgPool) {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut paths = None;
    let app = TestApp::spawn_with(db, |config| {
        let dir = &config.media.temp_dir;
        let dead = dir.join(format!(
            "{}{dead_pid}-4242-AbCdEf.mp4",
            ingest::SPOOL_PREFIX
        ));
        std::fs::write(&dead, b"half an upload").unwrap();
        // Spooled by a process that is still running (this one).
        let live = ingest::spool_file(dir).unwrap().into_temp_path();
        paths = Some((dead, live));
    })
    .await;
    let (dead, live) = paths.unwrap();
    assert!(!dead.exists(), "a dead process's spool file is removed");
    assert!(live.exists(), "a running process's spool file is kept");
    drop(live);
    assert_nothing_left(&app).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn oversize_uploads_are_cut_off(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    // A real, valid 1080p clip padded past 100 MB.
    let limit = app.state.config.upload.max_bytes;
    let big = generate_sized(Path::new("ffmpeg"), limit + 1, &clip_cache())
        .await
        .unwrap();
    let bytes = std::fs::read(big).unwrap();
    assert_eq!(bytes.len() as u64, limit + 1);
    rejected(&app, &token, bytes, Some("big"), 400, "100 MB").await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_queue_outage_undoes_the_upload(db: PgPool) {
    // Redis on a port where nothing listens: the queue push fails after storage and DB succeeded.
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let dead = redis::Client::open("redis://127.0.0.1:1").unwrap();
    let conn = redis::aio::ConnectionManager::new_lazy_with_config(
        dead,
        redis::aio::ConnectionManagerConfig::new().set_number_of_retries(0),
    )
    .unwrap();
    let state = app.state.with_queue(skillreel_shared::queue::JobQueue::new(
        conn,
        &app.state.config.redis,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(skillreel_web::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let bytes = std::fs::read(clip(1920, 1080, 21.0).await).unwrap();
    let form = reqwest::multipart::Form::new().text("title", "t").part(
        "video_file",
        reqwest::multipart::Part::bytes(bytes).file_name("a.mp4"),
    );
    let r = app
        .client
        .post(format!("{base}/api/videos/upload"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(body(r).await["detail"].as_str().unwrap().contains("queue"));
    assert_nothing_left(&app).await;
}
