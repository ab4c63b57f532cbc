//! `GET /api/videos/{id}/events` without a worker: who may open a stream, a stream on a
//! video already final, keep-alive and the time limit, the per-player and per-process
//! limits, and the Redis relay — events published reach the stream, the subscription
//! comes back by itself after Redis is killed or frozen, and `Last-Event-ID` is honoured.
//! (The whole path with a real worker and two web instances is in the worker's
//! `pipeline` suite.)

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::Value;
use skillreel_shared::{
    domain::VideoStatus,
    events::{Publisher, VideoEvent},
    queue,
    testing::{
        servers::PrivateRedis,
        sse::{Frame, SseReader},
    },
};
use sqlx::PgPool;

use crate::helpers::{TestApp, body, seed_video};

/// Longest a test waits for one frame.
const FRAME_WAIT: Duration = Duration::from_secs(20);

async fn open(app: &TestApp, id: &str, token: Option<&str>, last: Option<&str>) -> Response {
    let mut req = app
        .client
        .get(app.url(&format!("/api/videos/{id}/events")))
        // A refusal must come at once; a stream's headers as well.
        .timeout(Duration::from_secs(600));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(l) = last {
        req = req.header("Last-Event-ID", l);
    }
    tokio::time::timeout(Duration::from_secs(5), req.send())
        .await
        .expect("the route answers at once")
        .unwrap()
}

fn reader(r: Response) -> SseReader {
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    SseReader::new(r.bytes_stream())
}

async fn next(reader: &mut SseReader) -> Option<Frame> {
    tokio::time::timeout(FRAME_WAIT, reader.next())
        .await
        .expect("a frame or the end of the stream in time")
}

/// The next event, skipping comments: (name, id, data).
async fn next_event(reader: &mut SseReader) -> Option<(String, u64, Value)> {
    let event = async {
        loop {
            match reader.next().await? {
                Frame::Comment(_) => continue,
                Frame::Event { name, id, data, .. } => {
                    let id = id.expect("every event has an id").parse().unwrap();
                    return Some((name, id, data));
                }
            }
        }
    };
    tokio::time::timeout(FRAME_WAIT, event)
        .await
        .expect("an event or the end of the stream in time")
}

#[sqlx::test(migrations = "../../migrations")]
async fn only_the_owner_may_open_a_stream(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_token) = app.player("Ana", "Cali").await;
    let (_, bob_token) = app.player("Bob", "Cali").await;
    let id = seed_video(&db, ana, "uploaded").await.to_string();

    let r = open(&app, &id, None, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(body(r).await["code"], "unauthorized");
    let r = open(&app, &id, Some("not-a-token"), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Another player's video and a video that does not exist look the same.
    for (video, token) in [(id.as_str(), &bob_token), ("987654321", &ana_token)] {
        let r = open(&app, video, Some(token), None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{video}");
        assert_eq!(body(r).await["code"], "not-found");
    }
    let r = open(&app, "abc", Some(&ana_token), None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The owner gets the stream, starting with the current state.
    let mut stream = reader(open(&app, &id, Some(&ana_token), None).await);
    let (name, _, data) = next_event(&mut stream).await.unwrap();
    assert_eq!(
        (name.as_str(), &data["status"]),
        ("status", &"uploaded".into())
    );
    assert_eq!(
        app.state.events.watched(),
        1,
        "one relay entry for the video"
    );
    drop(stream);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_video_already_final_gets_one_event_and_the_stream_ends(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, token) = app.player("Ana", "Cali").await;
    for (status, progress, error) in [
        ("processed", Value::from(100.0), Value::Null),
        ("public", Value::from(100.0), Value::Null),
        ("failed", Value::Null, Value::from("boom")),
    ] {
        let id = seed_video(&db, ana, status).await;
        let mut stream = reader(open(&app, &id.to_string(), Some(&token), None).await);
        let Some(Frame::Event {
            name, data, retry, ..
        }) = next(&mut stream).await
        else {
            panic!("{status}: no event");
        };
        assert_eq!(name, "status");
        assert_eq!(data["id"], id);
        assert_eq!(data["status"], status);
        assert_eq!(data["progress"], progress, "{status}");
        assert_eq!(data.get("error").cloned().unwrap_or(Value::Null), error);
        assert_eq!(retry, Some(2000), "the first event says when to reconnect");
        assert_eq!(next(&mut stream).await, None, "{status}: the stream ended");

        // A client that already has the final state still gets it, once: a stream
        // always ends with its final state.
        let seen = VideoEvent {
            id,
            status: status.parse::<VideoStatus>().unwrap(),
            progress: progress.as_f64().map(|p| p as f32),
            error: None,
            attempts: 0,
        }
        .seq()
        .to_string();
        let mut again = reader(open(&app, &id.to_string(), Some(&token), Some(&seen)).await);
        let (_, _, data) = next_event(&mut again).await.unwrap();
        assert_eq!(data["status"], status);
        assert_eq!(next(&mut again).await, None);
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_waiting_stream_is_kept_alive_past_the_http_timeouts_and_ends_at_its_limit(db: PgPool) {
    let app = TestApp::spawn_with(db.clone(), |c| {
        c.events.keep_alive = Duration::from_secs(1);
        c.events.max_duration = Duration::from_secs(4);
        // The stream outlives the web's own idle limits.
        c.http.header_read_timeout = Duration::from_secs(1);
        c.http.body_timeout = Duration::from_secs(1);
    })
    .await;
    let (ana, token) = app.player("Ana", "Cali").await;
    let id = seed_video(&db, ana, "uploaded").await;
    let started = Instant::now();
    let mut stream = reader(open(&app, &id.to_string(), Some(&token), None).await);
    let (name, _, data) = next_event(&mut stream).await.unwrap();
    assert_eq!(
        (name.as_str(), &data["status"]),
        ("status", &"uploaded".into())
    );
    let mut comments = 0;
    while let Some(frame) = next(&mut stream).await {
        match frame {
            Frame::Comment(text) => {
                assert_eq!(text, "keep-alive");
                comments += 1;
            }
            other => panic!("nothing happened to the video, yet: {other:?}"),
        }
    }
    let lived = started.elapsed();
    assert!(comments >= 2, "{comments} keep-alive comments in {lived:?}");
    assert!(
        lived >= Duration::from_millis(3500) && lived < Duration::from_secs(15),
        "ended after {lived:?}, the limit is 4 s"
    );
    assert_eq!(app.state.event_streams.open(), 0, "the slot came back");
}

#[sqlx::test(migrations = "../../migrations")]
async fn streams_are_limited_per_player_and_per_process(db: PgPool) {
    let app = TestApp::spawn_with(db.clone(), |c| {
        c.events.max_streams_per_player = 1;
        c.events.max_streams = 2;
        c.events.keep_alive = Duration::from_secs(1);
    })
    .await;
    let (ana, ana_token) = app.player("Ana", "Cali").await;
    let (bob, bob_token) = app.player("Bob", "Cali").await;
    let (carol, carol_token) = app.player("Carol", "Cali").await;
    let ana_videos = [
        seed_video(&db, ana, "uploaded").await,
        seed_video(&db, ana, "uploaded").await,
    ];
    let bob_video = seed_video(&db, bob, "uploaded").await;
    let carol_video = seed_video(&db, carol, "uploaded").await;

    let mut first = reader(open(&app, &ana_videos[0].to_string(), Some(&ana_token), None).await);
    next_event(&mut first).await.unwrap();
    let r = open(&app, &ana_videos[1].to_string(), Some(&ana_token), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(body(r).await["code"], "too-many-event-streams");

    let mut bobs = reader(open(&app, &bob_video.to_string(), Some(&bob_token), None).await);
    next_event(&mut bobs).await.unwrap();
    let metrics = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("skillreel_http_event_streams 2\n"),
        "{metrics}"
    );
    let r = open(&app, &carol_video.to_string(), Some(&carol_token), None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(body(r).await["code"], "event-streams-busy");

    // A client that goes away gives its slot back (noticed at the next keep-alive).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = open(&app, &ana_videos[1].to_string(), Some(&ana_token), None).await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_link(app: &TestApp, live: bool, within: Duration) {
    let deadline = Instant::now() + within;
    while app.state.events.link().live != live {
        assert!(
            Instant::now() < deadline,
            "the events subscription did not become {}",
            if live { "live" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn processing(id: i64, percent: f32) -> VideoEvent {
    VideoEvent {
        id,
        status: VideoStatus::Processing,
        progress: Some(percent),
        error: None,
        attempts: 1,
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn published_events_reach_streams_and_the_relay_recovers_from_redis_outages(db: PgPool) {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(db.clone(), |c| {
        c.redis.url = url.into();
        // Reading the row cannot explain what the stream shows: only pub/sub can.
        c.events.recheck = Duration::from_secs(600);
        c.events.fallback_poll = Duration::from_secs(600);
    })
    .await;
    let publisher = Publisher::new(
        queue::connect(&app.state.config.redis).await.unwrap(),
        &app.state.config.redis,
    );
    let (ana, token) = app.player("Ana", "Cali").await;
    let id = seed_video(&db, ana, "uploaded").await;
    wait_link(&app, true, Duration::from_secs(10)).await;
    let scrape = || async {
        let url = format!("{}/metrics", app.metrics_base);
        app.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(
        scrape()
            .await
            .contains("skillreel_http_events_subscribed 1\n")
    );
    let mut stream = reader(open(&app, &id.to_string(), Some(&token), None).await);
    let (_, _, data) = next_event(&mut stream).await.unwrap();
    assert_eq!(data["status"], "uploaded");

    publisher.publish(&processing(id, 30.0)).await;
    let (name, seq, data) = next_event(&mut stream).await.unwrap();
    assert_eq!((name.as_str(), &data["progress"]), ("status", &30.0.into()));
    assert_eq!(seq, processing(id, 30.0).seq());

    // Killed and started again: the relay subscribes again by itself.
    redis.kill();
    wait_link(&app, false, Duration::from_secs(10)).await;
    assert!(
        scrape()
            .await
            .contains("skillreel_http_events_subscribed 0\n")
    );
    redis.spawn();
    wait_link(&app, true, Duration::from_secs(15)).await;
    let publisher = Publisher::new(
        queue::connect(&app.state.config.redis).await.unwrap(),
        &app.state.config.redis,
    );
    publisher.publish(&processing(id, 60.0)).await;
    let (name, _, data) = next_event(&mut stream).await.unwrap();
    assert_eq!(
        (name.as_str(), &data["progress"]),
        ("progress", &60.0.into())
    );

    // Frozen (connections open, nothing answers): noticed by the relay's pings.
    redis.freeze();
    wait_link(&app, false, Duration::from_secs(15)).await;
    redis.thaw();
    wait_link(&app, true, Duration::from_secs(15)).await;

    // A client that reconnects with the id of the state it has is not sent it again.
    sqlx::query(
        "UPDATE videos SET status = 'processing', attempts = 1, progress = 60 WHERE id = $1",
    )
    .bind(id)
    .execute(&db)
    .await
    .unwrap();
    let seen = processing(id, 60.0).seq().to_string();
    let mut resumed = reader(open(&app, &id.to_string(), Some(&token), Some(&seen)).await);
    let mut fresh = reader(open(&app, &id.to_string(), Some(&token), None).await);
    let (_, _, data) = next_event(&mut fresh).await.unwrap();
    assert_eq!(
        data["progress"], 60.0,
        "without Last-Event-ID: the current state"
    );
    publisher.publish(&processing(id, 75.0)).await;
    let (_, _, data) = next_event(&mut resumed).await.unwrap();
    assert_eq!(data["progress"], 75.0, "with it: only what is newer");
    drop((stream, resumed, fresh));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_stopping_instance_ends_its_streams_and_drains(db: PgPool) {
    // The app of a TestApp, for accounts and the video, and a second instance that is
    // told to stop while a stream is open on it.
    let app = TestApp::spawn(db.clone()).await;
    let (ana, token) = app.player("Ana", "Cali").await;
    let id = seed_video(&db, ana, "uploaded").await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(dir.path());
    config.redis.prefix = app.state.config.redis.prefix.clone();
    config.auth.jwt_secret = app.state.config.auth.jwt_secret.clone();
    config.events.keep_alive = Duration::from_secs(1);
    let state = skillreel_web::AppState::with_pool(config, db)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(skillreel_web::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let r = app
        .client
        .get(format!("{base}/api/videos/{id}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut stream = reader(r);
    let (_, _, data) = next_event(&mut stream).await.unwrap();
    assert_eq!(data["status"], "uploaded");

    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = stream.next().await {
            assert!(matches!(frame, Frame::Comment(_)), "{frame:?}");
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived the shutdown");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server drained")
        .unwrap()
        .unwrap();
}
