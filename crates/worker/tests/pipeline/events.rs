//! Live status (`GET /api/videos/{id}/events`) with a real worker processing a real
//! upload: progress and the final state reach clients of two web instances; and with
//! the test's own Redis killed mid-stream, the client still gets the final state (the
//! streams fall back to reading PostgreSQL).

use std::time::Duration;

use reqwest::Client;
use serde_json::Value;
use skillreel_shared::{
    config::StorageBackend,
    testing::{
        servers::PrivateRedis,
        sse::{Frame, SseReader},
    },
};
use skillreel_web::AppState;
use sqlx::PgPool;

use crate::helpers::{System, clip};

/// Longest a whole processing run may take on a loaded machine.
const JOB_WAIT: Duration = Duration::from_secs(300);

/// One event as a client saw it.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    id: u64,
    data: Value,
}

/// Opens the stream of video `id` on the web at `base`.
async fn open(base: &str, token: &str, id: i64) -> SseReader {
    let r = Client::new()
        .get(format!("{base}/api/videos/{id}/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    SseReader::new(r.bytes_stream())
}

/// The next event (comments skipped); `None` when the stream ended.
async fn next_event(stream: &mut SseReader) -> Option<Seen> {
    loop {
        let frame = tokio::time::timeout(JOB_WAIT, stream.next())
            .await
            .expect("an event or the end of the stream in time")?;
        if let Frame::Event { name, id, data, .. } = frame {
            let id = id.expect("an id").parse().expect("a numeric id");
            return Some(Seen { name, id, data });
        }
    }
}

/// Every event until the stream ends.
async fn rest(mut stream: SseReader) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Some(event) = next_event(&mut stream).await {
        seen.push(event);
    }
    seen
}

/// A second web instance over the same database, Redis and storage.
async fn second_web(sys: &System) -> String {
    let state = AppState::with_pool(sys.config.clone(), sys.db.clone())
        .await
        .expect("second web state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(skillreel_web::serve(
        listener,
        state,
        std::future::pending(),
    ));
    base
}

/// What every client must have seen of a processing run.
fn check_run(client: &str, events: &[Seen]) {
    let summary: Vec<String> = events
        .iter()
        .map(|e| format!("{}:{}:{}", e.name, e.data["status"], e.data["progress"]))
        .collect();
    let last = events
        .last()
        .unwrap_or_else(|| panic!("{client}: no events"));
    assert_eq!(last.data["status"], "processed", "{client}: {summary:?}");
    assert_eq!(last.data["progress"], 100.0, "{client}");
    assert_eq!(last.name, "status", "{client}");
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "{client}: ids grow: {summary:?}"
    );
    let progress: Vec<f64> = events
        .iter()
        .filter(|e| e.data["status"] == "processing")
        .map(|e| {
            e.data["progress"]
                .as_f64()
                .expect("a processing event has progress")
        })
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "{client}: progress never goes back: {progress:?}"
    );
    let steps = events.iter().filter(|e| e.name == "progress").count();
    assert!(steps >= 3, "{client}: several progress events: {summary:?}");
    // ffmpeg reports ten times a second; unless the job runs faster than 50× realtime
    // (here it runs at about 8×) the typical step is under 5 %.
    let mut gaps: Vec<f64> = progress.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!(
        median <= 5.0,
        "{client}: median progress step {median} %: {progress:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.name == "status" && e.data["status"] == "processing"),
        "{client}: the start of processing is a status event: {summary:?}"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn progress_and_the_final_state_reach_clients_of_two_web_instances(db: PgPool) {
    let mut sys = System::start_with(db, StorageBackend::Local, |c| {
        c.events.keep_alive = Duration::from_secs(1);
        // The streams outlive the web's own idle limits.
        c.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let other = second_web(&sys).await;
    let token = sys.player("Ana").await;
    let file = clip(1920, 1080, 25.0).await;
    let id = sys.upload(&token, &file, "Live").await;

    // Both clients are watching before the worker starts.
    let mut here = open(&sys.base, &token, id).await;
    let mut there = open(&other, &token, id).await;
    for stream in [&mut here, &mut there] {
        let first = next_event(stream).await.expect("the current state");
        assert_eq!(
            (first.name.as_str(), &first.data["status"]),
            ("status", &"uploaded".into())
        );
        assert_eq!(first.data["id"], id);
    }
    let watchers = (tokio::spawn(rest(here)), tokio::spawn(rest(there)));
    let worker = sys.start_worker().await;
    let (here, there) = (watchers.0.await.unwrap(), watchers.1.await.unwrap());
    check_run("first web", &here);
    check_run("second web", &there);

    let detail = sys.detail(&token, id).await;
    assert_eq!(detail["status"], "processed");
    sys.worker_stop.take().unwrap().cancel();
    worker.await.unwrap().unwrap();
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_final_state_arrives_when_redis_dies_mid_stream(db: PgPool) {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let mut sys = System::start_with(db, StorageBackend::Local, |c| {
        c.redis.url = url.into();
        c.events.fallback_poll = Duration::from_secs(1);
        // Without Redis only the fallback poll can bring the end in time.
        c.events.recheck = Duration::from_secs(600);
    })
    .await;
    let token = sys.player("Ana").await;
    let file = clip(1920, 1080, 25.0).await;
    let id = sys.upload(&token, &file, "Outage").await;
    let mut stream = open(&sys.base, &token, id).await;
    let first = next_event(&mut stream).await.expect("the current state");
    assert_eq!(first.data["status"], "uploaded");
    let _worker = sys.start_worker().await;

    // Mid-processing (progress seen through pub/sub), Redis dies.
    loop {
        let event = next_event(&mut stream).await.expect("the stream goes on");
        assert_ne!(
            event.data["status"], "processed",
            "the job ended before Redis died"
        );
        if event.name == "progress" {
            break;
        }
    }
    redis.kill();
    let after = rest(stream).await;
    let last = after.last().expect("events after Redis died");
    assert_eq!(last.data["status"], "processed", "{after:?}");
    assert!(
        !sys.web.events.link().live,
        "Redis stayed dead: the end came from PostgreSQL"
    );
    sys.worker_stop.take().unwrap().cancel();
}
