use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, body};

fn signup_body(email: &str, p1: &str, p2: &str) -> serde_json::Value {
    json!({"first_name": "Ana", "last_name": "Gómez", "email": email, "city": "Bogotá",
           "country": "Colombia", "password1": p1, "password2": p2})
}

#[sqlx::test(migrations = "../../migrations")]
async fn health_routes(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let r = app.get("/", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Healthcheck"));
    assert_eq!(app.get("/health/live", None).await.status(), 200);
    let r = app.get("/health/ready", None).await;
    assert_eq!(r.status(), 200);
    let b = body(r).await;
    assert_eq!(b["checks"]["postgres"], true);
    assert_eq!(b["checks"]["redis"], true);
    assert_eq!(b["checks"]["storage"], true);
    // trailing slash accepted, request id echoed
    let r = app.get("/health/live/", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    // Prometheus metrics by route template and status, on the private listener only
    app.get("/api/videos/12", None).await;
    let r = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let metrics = r.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"skillreel_http_requests_total{method="GET",route="/health/live",status="200"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/videos/{id}",status="401""#),
        "{metrics}"
    );
    assert!(metrics.contains("skillreel_http_request_duration_seconds_bucket"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn readiness_names_what_is_down(db: PgPool) {
    let app = TestApp::spawn(db).await;
    // Replace the storage directory by a file: the store can no longer write.
    let store = app.state.config.storage.local_dir.clone();
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::write(&store, b"not a directory").unwrap();
    let r = app.get("/health/ready", None).await;
    assert_eq!(r.status(), 503);
    let b = body(r).await;
    assert!(b["detail"].as_str().unwrap().contains("storage"), "{b}");
    assert_eq!(b["checks"]["postgres"], true);
    assert_eq!(b["checks"]["redis"], true);
}

#[sqlx::test(migrations = "../../migrations")]
async fn signup_returns_the_player(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let r = app
        .post_json(
            "/api/auth/signup",
            &signup_body("ana@example.com", "password1", "password1"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let b = body(r).await;
    assert!(b["id"].as_i64().unwrap() > 0);
    assert_eq!(b["email"], "ana@example.com");
    assert_eq!(b["city"], "Bogotá");
    assert!(b.get("password1").is_none() && b.get("password_hash").is_none());
}

#[sqlx::test(migrations = "../../migrations")]
async fn signup_rejections(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let ok = app
        .post_json(
            "/api/auth/signup",
            &signup_body("dup@example.com", "password1", "password1"),
            None,
        )
        .await;
    assert_eq!(ok.status(), 201);

    let r = app
        .post_json(
            "/api/auth/signup",
            &signup_body("DUP@Example.COM", "password1", "password1"),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        body(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let r = app
        .post_json(
            "/api/auth/signup",
            &signup_body("new@example.com", "password1", "password2"),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(body(r).await["detail"], "Passwords do not match");

    let r = app
        .post_json(
            "/api/auth/signup",
            &signup_body("short@example.com", "short", "short"),
            None,
        )
        .await;
    assert_eq!(r.status(), 422);
    let b = body(r).await;
    assert!(b["detail"].as_str().unwrap().contains("at least 8"), "{b}");
    assert_eq!(b["errors"][0]["field"], "password1");

    let r = app
        .post_json(
            "/api/auth/signup",
            &signup_body("not-an-email", "password1", "password1"),
            None,
        )
        .await;
    assert_eq!(r.status(), 422);

    let mut long = signup_body("long@example.com", "password1", "password1");
    long["first_name"] = json!("x".repeat(101));
    assert_eq!(
        app.post_json("/api/auth/signup", &long, None)
            .await
            .status(),
        422
    );

    let mut missing = signup_body("missing@example.com", "password1", "password1");
    missing.as_object_mut().unwrap().remove("city");
    let r = app.post_json("/api/auth/signup", &missing, None).await;
    assert_eq!(r.status(), 422);
    assert!(body(r).await["detail"].as_str().unwrap().contains("city"));

    let r = app
        .client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(body(r).await["detail"].is_string());
}

#[sqlx::test(migrations = "../../migrations")]
async fn concurrent_signups_with_one_email_create_one_player(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let mut handles = Vec::new();
    for i in 0..6 {
        let client = app.client.clone();
        let url = app.url("/api/auth/signup");
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        let b = signup_body(email, "password1", "password1");
        handles.push(tokio::spawn(async move {
            client.post(url).json(&b).send().await.unwrap().status()
        }));
    }
    let mut created = 0;
    for h in handles {
        let s = h.await.unwrap();
        assert!(s == 201 || s == 400, "{s}");
        created += usize::from(s == 201);
    }
    assert_eq!(created, 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn login_issues_a_working_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    app.signup("Luis", "Pérez", "luis@example.com", "Cali")
        .await;
    let r = app
        .post_json(
            "/api/auth/login",
            &json!({"email": "LUIS@example.com", "password": "s3cret-pass"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let b = body(r).await;
    assert_eq!(b["token_type"], "bearer");
    assert_eq!(b["expires_in"], 3600);
    let token = b["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/videos", Some(token)).await.status(), 200);

    let wrong = app
        .post_json(
            "/api/auth/login",
            &json!({"email": "luis@example.com", "password": "nope-nope"}),
            None,
        )
        .await;
    let unknown = app
        .post_json(
            "/api/auth/login",
            &json!({"email": "who@example.com", "password": "nope-nope"}),
            None,
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(body(wrong).await["detail"], body(unknown).await["detail"]);
    assert_eq!(
        app.post_json("/api/auth/login", &json!({"email": "x@y.co"}), None)
            .await
            .status(),
        422
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn tokens_expire_for_real(db: PgPool) {
    let app =
        TestApp::spawn_with(db, |c| c.auth.token_ttl = std::time::Duration::from_secs(1)).await;
    let (_, token) = app.player("Eva", "Cali").await;
    assert_eq!(app.get("/api/videos", Some(&token)).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = app.get("/api/videos", Some(&token)).await;
    assert_eq!(r.status(), 401);
    assert!(body(r).await["detail"].is_string());
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_tokens_are_401(db: PgPool) {
    use base64::Engine as _;
    let app = TestApp::spawn(db).await;
    let (id, token) = app.player("Ivo", "Cali").await;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = chrono::Utc::now().timestamp();
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(json!({"sub": id.to_string(), "iat": now, "exp": now + 600}))
    );
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(json!({"sub": (id + 1).to_string(), "iat": now, "exp": now + 600})),
        parts[2]
    );
    for bad in [
        None,
        Some("garbage"),
        Some(alg_none.as_str()),
        Some(forged.as_str()),
    ] {
        let r = app.get("/api/videos", bad).await;
        assert_eq!(r.status(), 401, "{bad:?}");
        assert!(body(r).await["detail"].is_string());
    }
    let r = app
        .client
        .get(app.url("/api/videos"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_full_hashing_queue_answers_503_at_once_and_stores_nothing(db: PgPool) {
    let app = TestApp::spawn_with(db.clone(), |c| {
        // One slow hashing thread and room for one waiting hash.
        c.auth.bcrypt_cost = 12;
        c.auth.bcrypt_max_concurrency = 1;
        c.auth.bcrypt_max_waiting = 1;
    })
    .await;
    let app = std::sync::Arc::new(app);
    let signups = (0..6).map(|i| {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move {
            let email = format!("burst{i}@example.com");
            let r = app
                .post_json(
                    "/api/auth/signup",
                    &signup_body(&email, "password1", "password1"),
                    None,
                )
                .await;
            let retry_after = r.headers().get("retry-after").cloned();
            (r.status(), retry_after, body(r).await)
        })
    });
    let mut created = 0;
    let mut refused = 0;
    for r in futures::future::join_all(signups).await {
        let (status, retry_after, b) = r.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(retry_after.unwrap(), "5");
                assert_eq!(b["code"], "service-unavailable");
                assert!(b["detail"].as_str().unwrap().contains("too many sign-ins"));
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(
        created >= 1 && refused >= 1,
        "{created} created, {refused} refused"
    );
    // Only the accepted sign-ups left a row.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM players")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, created);
}
