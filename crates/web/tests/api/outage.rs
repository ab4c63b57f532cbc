//! Outages of the servers the web service stands on, done to real servers of the
//! test's own: PostgreSQL crashed (immediate shutdown) and restarted — public reads
//! answer the last good answer; PostgreSQL slow to answer every query — public reads
//! stay quick and still catch up; Redis killed, then frozen — the rate limits let
//! requests through instead of failing them, and hold again once Redis is back.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::json;
use skillreel_shared::{
    config::limits::Rate,
    db,
    testing::servers::{PrivatePostgres, PrivateRedis},
};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::helpers::{TestApp, body, seed_public_video};

#[tokio::test]
async fn public_reads_answer_the_last_good_answer_while_postgres_is_down() {
    let mut pg = PrivatePostgres::start();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&pg.url())
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    // Entries leave both cache levels quickly, so reads during the outage need PostgreSQL.
    let app = TestApp::spawn_with(pool.clone(), |c| {
        c.cache.local_ttl = Duration::from_millis(200);
        c.cache.redis_ttl = Duration::from_secs(1);
    })
    .await;
    let (ana, _) = app.player("Ana", "Cali").await;
    seed_public_video(&pool, ana, "Rabona").await;
    let reads = ["/api/public/videos?city=cali", "/api/public/rankings"];
    let mut good = Vec::new();
    for path in reads {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-cache").is_none());
        good.push(body(r).await);
    }
    assert_eq!(good[0][0]["title"], "Rabona");
    assert_eq!(good[1][0]["username"], "Ana Tester");

    pg.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        for (path, good) in reads.iter().zip(&good) {
            let started = Instant::now();
            let r = app.get(path, None).await;
            let took = started.elapsed();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.headers()["x-cache"], "stale", "{path}");
            assert_eq!(&body(r).await, good, "{path}");
            // The pool would wait 5 s for a connection; the last good answer does not.
            assert!(took < Duration::from_secs(3), "{path} took {took:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A read nobody made before has nothing to fall back on.
    let r = app.get("/api/public/rankings?city=bogota", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(body(r).await["code"], "service-unavailable");

    pg.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.get(reads[1], None).await;
        if r.status() == 200 && r.headers().get("x-cache").is_none() {
            assert_eq!(body(r).await, good[1]);
            break;
        }
        assert!(Instant::now() < deadline, "reads never became fresh again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A TCP proxy in front of PostgreSQL that holds every chunk the server sends for the
/// current delay (milliseconds, 0 = none): a database that answers, slowly. Returns the
/// proxy's port and the delay to turn.
async fn slow_postgres(upstream: &PgConnectOptions) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let delay = Arc::new(AtomicU64::new(0));
    let target = format!("{}:{}", upstream.get_host(), upstream.get_port());
    let held = delay.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&target).await.unwrap();
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
            let held = held.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    let ms = held.load(Ordering::Relaxed);
                    if ms > 0 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, delay)
}

/// Every query slower than `stale_after`: the reads are answered at once from the last
/// good answer, and the slow loads still land, so a change shows up while the database
/// stays slow (a cache that dropped slow loads would serve the old answer for ever).
#[sqlx::test(migrations = "../../migrations")]
async fn public_reads_catch_up_while_every_query_is_slower_than_stale_after(db: PgPool) {
    let upstream = db.connect_options();
    let (port, delay) = slow_postgres(&upstream).await;
    let through_proxy = (*upstream).clone().host("127.0.0.1").port(port);
    let slow_pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(through_proxy)
        .await
        .unwrap();
    let app = TestApp::spawn_with(slow_pool, |c| {
        c.cache.local_ttl = Duration::from_millis(200);
        c.cache.redis_ttl = Duration::from_secs(1);
        c.cache.stale_after = Duration::from_millis(150);
    })
    .await;
    let (ana, _) = app.player("Ana", "Cali").await;
    seed_public_video(&db, ana, "Rabona").await;
    let path = "/api/public/videos?city=cali";
    let titles = |v: &serde_json::Value| -> Vec<String> {
        let mut t: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["title"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    let r = app.get(path, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(titles(&body(r).await), ["Rabona"]);

    // From now on every round trip to PostgreSQL takes at least 400 ms.
    delay.store(400, Ordering::Relaxed);
    seed_public_video(&db, ana, "Chilena").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stale_reads = 0;
    loop {
        let started = Instant::now();
        let r = app.get(path, None).await;
        let took = started.elapsed();
        assert_eq!(r.status(), 200);
        // Nobody waits for the slow database: 150 ms, then the last good answer.
        assert!(took < Duration::from_secs(1), "a read took {took:?}");
        if r.headers().get("x-cache").is_some_and(|h| h == "stale") {
            stale_reads += 1;
        }
        if titles(&body(r).await) == ["Chilena", "Rabona"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new video never showed while PostgreSQL was slow ({stale_reads} stale reads)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stale_reads > 0,
        "the database was never slow enough to matter"
    );
}

/// Logs `email` in from `ip`; the status.
async fn login_from(app: &TestApp, ip: &str, email: &str) -> StatusCode {
    let client = Client::builder()
        .local_address(Some(ip.parse::<IpAddr>().unwrap()))
        .build()
        .unwrap();
    let body = json!({"email": email, "password": "s3cret-pass"});
    let r = client
        .post(app.url("/api/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    r.status()
}

#[sqlx::test(migrations = "../../migrations")]
async fn rate_limits_let_requests_through_while_redis_is_down_and_hold_again_after(db: PgPool) {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(db, |c| {
        c.redis.url = url.into();
        c.limits.login = Rate::new(3, Duration::from_secs(60));
    })
    .await;
    let email = format!("ana-{}@example.com", uuid::Uuid::new_v4().simple());
    app.signup("Ana", "Ruiz", &email, "Cali").await;
    // Each phase is another client address: an instance remembers the refusals it
    // gave, rightly, whatever happens to Redis afterwards.
    let limited_after = |statuses: &[StatusCode]| statuses.iter().position(|s| *s == 429);
    let mut up = Vec::new();
    for _ in 0..5 {
        up.push(login_from(&app, "127.0.0.2", &email).await);
    }
    assert_eq!(limited_after(&up), Some(3), "{up:?}");

    // Killed: connections refused. Every login goes through, none fails.
    redis.kill();
    for _ in 0..8 {
        assert_eq!(login_from(&app, "127.0.0.3", &email).await, 200);
    }
    let r = app.get("/api/public/rankings", None).await;
    assert_eq!(r.status(), 200);

    // Frozen: connections open, nothing answers. After one check waits out the budget
    // the limiter leaves Redis alone for a while, so eight logins take nowhere near
    // the 8 × 3 × 250 ms they would if every check waited.
    redis.spawn();
    redis.freeze();
    let started = Instant::now();
    for _ in 0..8 {
        assert_eq!(login_from(&app, "127.0.0.4", &email).await, 200);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "8 logins took {took:?}");

    // Back: the limits hold again with nobody touching anything.
    redis.thaw();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut statuses = Vec::new();
    while limited_after(&statuses).is_none() {
        assert!(
            Instant::now() < deadline,
            "limits never held again: {statuses:?}"
        );
        statuses.push(login_from(&app, "127.0.0.5", &email).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
}
