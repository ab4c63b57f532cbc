//! Runs the web harness against a tiny in-process axum server that mimics the
//! SPEC §2 routes and counts what it receives, then checks that the harness's
//! own counts, error classification and stop conditions agree with the server.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use clap::Parser;
use serde_json::{Value, json};
use skillreel_load::cli::{Cli, Command};
use skillreel_load::report::{self, EndpointRow, Summary, TrafficRow};
use skillreel_load::stats::Endpoint;
use skillreel_load::target::check_base_url;
use skillreel_load::web::{self, Mix, Profile, StopReason, WebConfig, WebRun};

/// What the mock server saw.
#[derive(Default)]
struct Mock {
    hits: Mutex<BTreeMap<&'static str, u64>>,
    /// Vote answers cycle 200, 400, 403, 404 so every class shows up.
    votes: AtomicU64,
    vote_statuses: Mutex<BTreeMap<u16, u64>>,
    /// Delay of the rankings route, to provoke client timeouts.
    rankings_delay: Duration,
}

impl Mock {
    fn hit(&self, route: &'static str) {
        *self.hits.lock().unwrap().entry(route).or_default() += 1;
    }

    fn hits(&self, route: &str) -> u64 {
        self.hits.lock().unwrap().get(route).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.hits.lock().unwrap().values().sum()
    }
}

type Shared = State<Arc<Mock>>;

async fn signup(State(m): Shared, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    m.hit("signup");
    assert_eq!(body["password1"], body["password2"]);
    (
        StatusCode::CREATED,
        Json(json!({"id": 1, "email": body["email"]})),
    )
}

async fn login(State(m): Shared) -> Json<Value> {
    m.hit("login");
    Json(json!({"access_token": "token", "token_type": "bearer", "expires_in": 3600}))
}

async fn my_videos(State(m): Shared) -> Json<Value> {
    m.hit("my_videos");
    // Three processed entries (same id, so publish can check it) let seeding
    // publish everything it uploaded in one poll.
    let processed = json!({"video_id": 7, "title": "t", "status": "processed"});
    Json(json!([processed, processed, processed]))
}

async fn publish(State(m): Shared, Path(id): Path<u64>) -> StatusCode {
    m.hit("publish");
    assert_eq!(id, 7, "publishes the processed video it listed");
    StatusCode::OK
}

async fn public_videos(State(m): Shared) -> Json<Value> {
    m.hit("public_videos");
    Json(json!([{"id": 1, "video_id": 1}, {"id": 2, "video_id": 2}]))
}

async fn rankings(State(m): Shared) -> StatusCode {
    m.hit("rankings");
    tokio::time::sleep(m.rankings_delay).await;
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn vote(State(m): Shared, Path(id): Path<u64>) -> StatusCode {
    m.hit("vote");
    assert!(id == 1 || id == 2, "votes on a listed public video");
    let status = match m.votes.fetch_add(1, Ordering::SeqCst) % 4 {
        0 => StatusCode::OK,
        1 => StatusCode::BAD_REQUEST,
        2 => StatusCode::FORBIDDEN,
        _ => StatusCode::NOT_FOUND,
    };
    *m.vote_statuses
        .lock()
        .unwrap()
        .entry(status.as_u16())
        .or_default() += 1;
    status
}

async fn upload(State(m): Shared, mut form: Multipart) -> StatusCode {
    m.hit("upload");
    let mut fields = BTreeMap::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap().to_owned();
        fields.insert(name, field.bytes().await.unwrap());
    }
    let clip_ok = fields
        .get("video_file")
        .is_some_and(|b| b.starts_with(b"\0\0\0\x18ftyp"));
    if clip_ok && fields.get("title").is_some_and(|t| !t.is_empty()) {
        StatusCode::CREATED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Starts the mock on a free loopback port.
async fn start(mock: Arc<Mock>) -> String {
    let app = Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/videos", get(my_videos))
        .route("/api/videos/{id}/publish", post(publish))
        .route("/api/videos/upload", post(upload))
        .route("/api/public/videos", get(public_videos))
        .route("/api/public/videos/{id}/vote", post(vote))
        .route("/api/public/rankings", get(rankings))
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn clip() -> Bytes {
    Bytes::from_static(b"\0\0\0\x18ftypisom\0\0\0\0 pretend video payload")
}

fn config(base: &str, users: u32, run_for: Duration, max_requests: u64) -> WebConfig {
    WebConfig {
        base_url: check_base_url(base, false).unwrap(),
        profile: Profile {
            users,
            ramp_up: Duration::ZERO,
            hold: run_for,
        },
        max_requests,
        think_min: Duration::from_millis(5),
        think_max: Duration::from_millis(15),
        mix: Mix::default(),
        clip: Some(clip()),
        request_timeout: Duration::from_secs(5),
        seed: 42,
    }
}

fn count(run: &WebRun, endpoint: Endpoint) -> (u64, u64, u64, u64) {
    run.stats
        .endpoints
        .get(&endpoint)
        .map_or((0, 0, 0, 0), |e| (e.requests, e.ok, e.expected, e.errors))
}

#[tokio::test]
async fn counts_match_the_server_and_the_run_stops_on_time() {
    let mock = Arc::new(Mock::default());
    let base = start(Arc::clone(&mock)).await;
    let began = Instant::now();
    let run = web::run(config(&base, 4, Duration::from_secs(2), 100_000))
        .await
        .unwrap();
    let took = began.elapsed();

    assert_eq!(run.stop_reason, StopReason::Duration);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(run.unfinished_requests(), 0);

    // Every request the server answered is counted once, under the right endpoint.
    assert_eq!(run.stats.total_requests(), mock.total());
    assert_eq!(run.started_requests, mock.total());
    for endpoint in Endpoint::ALL {
        assert_eq!(
            count(&run, endpoint).0,
            mock.hits(endpoint.as_str()),
            "{endpoint:?}"
        );
    }
    assert_eq!(count(&run, Endpoint::Signup), (4, 4, 0, 0));
    assert_eq!(count(&run, Endpoint::Login), (4, 4, 0, 0));
    assert!(mock.hits("publish") > 0 && mock.hits("upload") > 0 && mock.hits("vote") > 0);

    // Classification: 500s are errors, vote 400/403 expected, vote 404 an error,
    // accepted uploads ok (so the multipart form was well formed).
    let rankings = count(&run, Endpoint::Rankings);
    assert_eq!((rankings.1, rankings.3), (0, rankings.0));
    let statuses = mock.vote_statuses.lock().unwrap().clone();
    let n = |s: u16| statuses.get(&s).copied().unwrap_or(0);
    assert_eq!(
        count(&run, Endpoint::Vote),
        (
            n(200) + n(400) + n(403) + n(404),
            n(200),
            n(400) + n(403),
            n(404)
        )
    );
    let uploads = count(&run, Endpoint::Upload);
    assert_eq!(uploads.1, uploads.0);
    assert_eq!(run.stats.total_errors(), rankings.0 + n(404));

    // The time series holds the same requests, and saw all four users.
    let per_second: u64 = run.stats.seconds.iter().map(|s| s.requests).sum();
    assert_eq!(per_second, run.stats.total_requests());
    assert_eq!(
        run.stats.seconds.iter().map(|s| s.active_users).max(),
        Some(4)
    );
    assert_eq!(run.skipped["upload_no_clip"], 0);
}

#[tokio::test]
async fn the_request_limit_stops_the_run_early() {
    let mock = Arc::new(Mock::default());
    let base = start(Arc::clone(&mock)).await;
    let mut config = config(&base, 3, Duration::from_secs(60), 50);
    config.think_min = Duration::ZERO;
    config.think_max = Duration::ZERO;
    let began = Instant::now();
    let run = web::run(config).await.unwrap();

    assert_eq!(run.stop_reason, StopReason::RequestLimit);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(run.started_requests, 50);
    assert_eq!(run.stats.total_requests(), 50);
    assert_eq!(mock.total(), 50);
}

#[tokio::test]
async fn actions_without_a_target_are_skipped_not_sent() {
    let mock = Arc::new(Mock::default());
    let base = start(Arc::clone(&mock)).await;
    let mut config = config(&base, 2, Duration::from_secs(1), 1000);
    config.clip = None;
    config.mix = "vote=1,upload=1".parse().unwrap();
    let run = web::run(config).await.unwrap();

    // Only sign-up and login reach the server: no clip to upload, and votes need a
    // public listing first, which this mix never does.
    assert_eq!(mock.total(), 4);
    assert!(run.skipped["upload_no_clip"] > 0);
    assert!(run.skipped["vote_no_public_video"] > 0);
    assert_eq!(run.stats.total_errors(), 0);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_errors() {
    let mock = Arc::new(Mock {
        rankings_delay: Duration::from_secs(3),
        ..Mock::default()
    });
    let base = start(Arc::clone(&mock)).await;
    let mut slow = config(&base, 2, Duration::from_secs(1), 1000);
    slow.mix = "rankings=1".parse().unwrap();
    slow.request_timeout = Duration::from_millis(300);
    let run = web::run(slow).await.unwrap();
    let rankings = &run.stats.endpoints[&Endpoint::Rankings];
    assert!(rankings.requests > 0);
    assert_eq!(rankings.errors, rankings.requests);
    assert_eq!(rankings.statuses.get("timeout"), Some(&rankings.requests));

    // A port nobody listens on: sign-ups fail to connect, users keep retrying
    // until the time is up, every attempt an error.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let began = Instant::now();
    let run = web::run(config(
        &format!("http://{closed}"),
        2,
        Duration::from_secs(1),
        1000,
    ))
    .await
    .unwrap();
    assert!(began.elapsed() < Duration::from_secs(3));
    let signups = &run.stats.endpoints[&Endpoint::Signup];
    assert!(signups.requests >= 2);
    assert_eq!(signups.errors, signups.requests);
    assert_eq!(signups.statuses.get("connect"), Some(&signups.requests));
    assert_eq!(run.stats.error_rate(), 1.0);
}

#[tokio::test]
async fn the_cli_writes_a_complete_results_folder() {
    let mock = Arc::new(Mock::default());
    let base = start(Arc::clone(&mock)).await;
    let out = tempfile::tempdir().unwrap();
    let clip_path = out.path().join("clip.mp4");
    std::fs::write(&clip_path, clip()).unwrap();
    let argv = [
        "skillreel-load",
        "web",
        "--scenario",
        "ramp",
        "--users",
        "3",
        "--ramp-up",
        "2s",
        "--hold",
        "1s",
        "--think-min",
        "10ms",
        "--think-max",
        "20ms",
        "--seed",
        "5",
        "--base-url",
        &base,
        "--clip",
        clip_path.to_str().unwrap(),
        "--results-dir",
        out.path().to_str().unwrap(),
        "--label",
        "test",
    ];
    let Command::Web(args) = Cli::parse_from(argv).command else {
        panic!("not the web command");
    };
    let dir = skillreel_load::cli::run_web(&args).await.unwrap();
    assert!(
        dir.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-ramp-test")
    );

    let Summary::Web(summary) = report::read_summary(&dir).unwrap() else {
        panic!("not a web summary");
    };
    assert_eq!(summary.scenario, "ramp");
    assert_eq!(summary.requests, mock.total());
    assert_eq!(summary.peak_users, 3);
    // Every rankings call fails, so with a 25 % rankings weight the run must fail.
    assert!(!summary.verdict.pass);
    assert!(
        summary
            .verdict
            .reasons
            .iter()
            .any(|r| r.contains("error rate"))
    );

    let endpoints: Vec<EndpointRow> = report::read_csv(&dir.join(report::ENDPOINTS_FILE)).unwrap();
    assert_eq!(endpoints.last().unwrap().requests, mock.total());
    let series: Vec<TrafficRow> = report::read_csv(&dir.join(report::TIMESERIES_FILE)).unwrap();
    assert_eq!(series.iter().map(|r| r.requests).sum::<u64>(), mock.total());

    // Charts are drawn by the run and redrawn from the files alone.
    let expected = [
        "latency.png",
        "throughput.png",
        "users.png",
        "users_vs_p95.png",
    ];
    for file in expected {
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    let drawn = skillreel_load::charts::regenerate(&dir).unwrap();
    assert_eq!(drawn.len(), expected.len());
    for file in expected {
        assert!(dir.join(file).metadata().unwrap().len() > 1000, "{file}");
    }
}

#[tokio::test]
async fn seeding_tops_up_public_videos_through_the_api() {
    let mock = Arc::new(Mock::default());
    let base = start(Arc::clone(&mock)).await;
    let url = check_base_url(&base, false).unwrap();

    // The mock always lists two public videos: nothing to do for two.
    let none = web::ensure_public_videos(&url, &clip(), 2, "t1", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((none.existing, none.uploaded, none.published), (2, 0, 0));
    assert_eq!(mock.total(), 1);

    let topped = web::ensure_public_videos(&url, &clip(), 5, "t2", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (topped.existing, topped.uploaded, topped.published),
        (2, 3, 3)
    );
    assert_eq!(mock.hits("signup"), 1);
    assert_eq!(mock.hits("upload"), 3);
    assert_eq!(mock.hits("publish"), 3);
}
