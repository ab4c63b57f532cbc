//! Rate limits against real Redis: clients are told apart by their source address
//! (127.0.0.2, 127.0.0.3… are all loopback on Linux), so each test is several clients
//! without a proxy.

use std::{net::IpAddr, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use skillreel_shared::config::limits::{Cidr, Rate};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, body};

/// An HTTP client whose connections come from `ip`.
fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(Some(ip.parse::<IpAddr>().unwrap()))
        .build()
        .unwrap()
}

fn per_hour(limit: u32) -> Rate {
    Rate::new(limit, Duration::from_secs(3600))
}

fn email() -> String {
    format!("p-{}@example.com", Uuid::new_v4().simple())
}

fn signup_body(email: &str) -> Value {
    json!({"first_name": "Ana", "last_name": "Ruiz", "email": email, "city": "Cali",
           "country": "Colombia", "password1": "s3cret-pass", "password2": "s3cret-pass"})
}

async fn post(app: &TestApp, client: &Client, path: &str, body: &Value) -> reqwest::Response {
    client.post(app.url(path)).json(body).send().await.unwrap()
}

async fn login(app: &TestApp, client: &Client, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        client,
        "/api/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

/// A `429` with `Retry-After` (whole seconds ≥ 1) and the JSON body with `code`.
async fn assert_limited(r: reqwest::Response, code: &str) -> u64 {
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(retry >= 1);
    let b = body(r).await;
    assert_eq!(b["code"], code, "{b}");
    assert!(b["detail"].as_str().is_some_and(|d| !d.is_empty()));
    retry
}

#[sqlx::test(migrations = "../../migrations")]
async fn brute_force_locks_one_account_only(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.account_failures = Rate::new(10, Duration::from_secs(900));
    })
    .await;
    let victim = email();
    let other = email();
    app.signup("Vic", "Tim", &victim, "Cali").await;
    app.signup("Oth", "Er", &other, "Cali").await;
    let session = app.login(&victim).await;

    let attacker = client_from("127.0.0.2");
    for _ in 0..10 {
        let r = login(&app, &attacker, &victim, "wrong-password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let retry = assert_limited(
        login(&app, &attacker, &victim, "wrong-password").await,
        "too-many-login-failures",
    )
    .await;
    assert!(
        retry > 60,
        "locked for the rest of the window, got {retry} s"
    );
    // The right password does not open a locked account, from any address.
    assert_limited(
        login(&app, &client_from("127.0.0.4"), &victim, "s3cret-pass").await,
        "too-many-login-failures",
    )
    .await;
    // Another account from another address logs in at the same moment.
    let r = login(&app, &client_from("127.0.0.3"), &other, "s3cret-pass").await;
    assert_eq!(r.status(), StatusCode::OK);
    // The victim's existing session keeps working.
    let r = app.get("/api/videos", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Unknown e-mails are limited the same way (nothing tells them apart).
    let ghost = email();
    for _ in 0..10 {
        let r = login(&app, &attacker, &ghost, "x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(
        login(&app, &attacker, &ghost, "x").await,
        "too-many-login-failures",
    )
    .await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_success_clears_the_failures_of_an_account(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.account_failures = Rate::new(3, Duration::from_secs(900));
    })
    .await;
    let me = email();
    app.signup("Me", "Me", &me, "Cali").await;
    let c = client_from("127.0.0.2");
    for round in 0..3 {
        for _ in 0..2 {
            let r = login(&app, &c, &me, "typo").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "round {round}");
        }
        let r = login(&app, &c, &me, "s3cret-pass").await;
        assert_eq!(r.status(), StatusCode::OK, "round {round}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn login_and_signup_floods_are_limited_per_address(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.signup = per_hour(3);
        c.limits.login = Rate::new(4, Duration::from_secs(60));
    })
    .await;
    let flood = client_from("127.0.0.2");
    for _ in 0..3 {
        let r = post(&app, &flood, "/api/auth/signup", &signup_body(&email())).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = post(&app, &flood, "/api/auth/signup", &signup_body(&email())).await;
    let retry = assert_limited(r, "too-many-signups").await;
    assert!(retry <= 3600);
    let calm = client_from("127.0.0.3");
    let r = post(&app, &calm, "/api/auth/signup", &signup_body(&email())).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Logins count per address whatever the account.
    for _ in 0..4 {
        let r = login(&app, &flood, &email(), "x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(login(&app, &flood, &email(), "x").await, "too-many-logins").await;
    let r = login(&app, &calm, &email(), "x").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../../migrations")]
async fn vote_floods_are_limited_per_address(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| c.limits.vote = per_hour(3)).await;
    let (_, token) = app.player("Voter", "Cali").await;
    let vote = |client: Client| {
        let url = app.url("/api/public/videos/999999/vote");
        let token = token.clone();
        async move { client.post(url).bearer_auth(token).send().await.unwrap() }
    };
    for _ in 0..3 {
        // Every attempt counts, also one on a video that does not exist.
        assert_eq!(
            vote(client_from("127.0.0.2")).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_limited(vote(client_from("127.0.0.2")).await, "too-many-votes").await;
    assert_eq!(
        vote(client_from("127.0.0.3")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn forwarded_for_counts_only_from_trusted_proxies(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.signup = per_hour(2);
        c.limits.trusted_proxies = vec!["127.0.0.2".parse::<Cidr>().unwrap()];
    })
    .await;
    let signup_as = |client: Client, xff: &'static str| {
        let url = app.url("/api/auth/signup");
        async move {
            client
                .post(url)
                .header("x-forwarded-for", xff)
                .json(&signup_body(&email()))
                .send()
                .await
                .unwrap()
        }
    };
    // An untrusted peer cannot pick its address: the header is ignored.
    let direct = client_from("127.0.0.3");
    assert_eq!(
        signup_as(direct.clone(), "198.51.100.1").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        signup_as(direct.clone(), "198.51.100.2").await.status(),
        StatusCode::CREATED
    );
    assert_limited(signup_as(direct, "198.51.100.3").await, "too-many-signups").await;

    // Through the trusted proxy, the address it saw is the client.
    let proxy = client_from("127.0.0.2");
    for _ in 0..2 {
        let r = signup_as(proxy.clone(), "203.0.113.7").await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_limited(
        signup_as(proxy.clone(), "203.0.113.7").await,
        "too-many-signups",
    )
    .await;
    // A forged entry left of the proxy's own is ignored.
    assert_limited(
        signup_as(proxy.clone(), "203.0.113.99, 203.0.113.7").await,
        "too-many-signups",
    )
    .await;
    // Another client behind the same proxy is its own client.
    assert_eq!(
        signup_as(proxy, "203.0.113.8").await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn limits_hold_across_instances_sharing_redis(db: PgPool) {
    let prefix = format!("skillreel-test-{}", Uuid::new_v4().simple());
    let shared = |c: &mut skillreel_shared::config::Config| {
        c.redis.prefix.clone_from(&prefix);
        c.limits.login = Rate::new(4, Duration::from_secs(60));
    };
    let one = TestApp::spawn_with(db.clone(), shared).await;
    let two = TestApp::spawn_with(db, shared).await;
    let c = client_from("127.0.0.2");
    for app in [&one, &two, &one, &two] {
        let r = login(app, &c, &email(), "x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(login(&one, &c, &email(), "x").await, "too-many-logins").await;
    assert_limited(login(&two, &c, &email(), "x").await, "too-many-logins").await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn one_client_cannot_fill_the_hashing_queue(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.auth.bcrypt_cost = 10;
        c.auth.bcrypt_max_concurrency = 1;
        c.auth.bcrypt_max_waiting = 4;
        c.limits.hashes_per_client = 2;
    })
    .await;
    let other = email();
    app.signup("Oth", "Er", &other, "Cali").await;
    // One client sends 16 logins at once: past its share they are refused at once,
    // without taking a place in the queue.
    let flood = client_from("127.0.0.2");
    let floods: Vec<_> = (0..16)
        .map(|_| {
            let (app_url, flood) = (app.url("/api/auth/login"), flood.clone());
            tokio::spawn(async move {
                flood
                    .post(app_url)
                    .json(&json!({"email": email(), "password": "x"}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = login(&app, &client_from("127.0.0.3"), &other, "s3cret-pass").await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another client logs in during the flood"
    );
    let mut refused = 0;
    for f in floods {
        let r = f.await.unwrap();
        match r.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_limited(r, "too-many-logins").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused > 0,
        "the flood went past its share of the hashing queue"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_global_cap_spares_health_checks(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.global = Rate::new(5, Duration::from_secs(60));
    })
    .await;
    let c = client_from("127.0.0.2");
    for _ in 0..5 {
        let r = c.get(app.url("/api/public/rankings")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = c.get(app.url("/api/public/videos")).send().await.unwrap();
    assert_limited(r, "too-many-requests").await;
    let r = c.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client_from("127.0.0.3")
        .get(app.url("/api/public/videos"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Every key the limiter wrote expires by itself.
    let mut redis = app.state.redis.clone();
    let pattern = format!("{}:rl:*", app.state.config.redis.prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has no expiry ({ttl})");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn rate_limits_off_turns_every_limit_off(db: PgPool) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.enabled = false;
        c.limits.signup = per_hour(1);
        c.limits.account_failures = Rate::new(1, Duration::from_secs(900));
    })
    .await;
    let c = client_from("127.0.0.2");
    let me = email();
    let r = post(&app, &c, "/api/auth/signup", &signup_body(&me)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for _ in 0..2 {
        let r = post(&app, &c, "/api/auth/signup", &signup_body(&email())).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    for _ in 0..3 {
        let r = login(&app, &c, &me, "wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login(&app, &c, &me, "s3cret-pass").await.status(),
        StatusCode::OK
    );
}
