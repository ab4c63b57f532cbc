//! Malformed input is a 4xx with the JSON error body: control characters in every text
//! field, requests that are not what a route reads, and axum's own rejections.

use reqwest::{Response, StatusCode, header::CONTENT_TYPE, multipart};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

/// Asserts a 4xx (`status` when given) with the API's JSON body; returns the body.
async fn json_error(r: Response, status: Option<StatusCode>) -> Value {
    let code = r.status();
    let content_type = r
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap();
    assert!(code.is_client_error(), "{code}: {text}");
    if let Some(status) = status {
        assert_eq!(code, status, "{text}");
    }
    assert!(
        content_type.starts_with("application/json"),
        "{code} {content_type}: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    assert!(
        body["detail"].is_string() && body["code"].is_string(),
        "{body}"
    );
    body
}

/// Control characters a client might send; NUL is the one PostgreSQL cannot store.
const CONTROLS: [&str; 4] = ["\0", "\u{1}", "\n", "\u{7f}"];

fn signup(field: &str, value: &str) -> Value {
    let mut body = json!({"first_name": "Ana", "last_name": "Gómez", "email": "ana@example.com",
        "city": "Bogotá", "country": "Colombia", "password1": "s3cret-pass",
        "password2": "s3cret-pass"});
    body[field] = json!(value);
    body
}

#[sqlx::test(migrations = "../../migrations")]
async fn control_characters_in_account_fields_are_422(db: PgPool) {
    let app = TestApp::spawn(db).await;
    for control in CONTROLS {
        for field in ["first_name", "last_name", "email", "city", "country"] {
            let value = format!("an{control}a@example.com");
            let r = app
                .post_json("/api/auth/signup", &signup(field, &value), None)
                .await;
            let b = json_error(r, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
            assert_eq!(b["errors"][0]["field"], field, "{b}");
        }
        let password = format!("s3cret{control}pass");
        let mut body = signup("password1", &password);
        body["password2"] = json!(password);
        let r = app.post_json("/api/auth/signup", &body, None).await;
        let b = json_error(r, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        assert!(
            b["detail"].as_str().unwrap().contains("control characters"),
            "{b}"
        );

        for (field, email, password) in [
            (
                "email",
                format!("ana{control}@example.com"),
                "s3cret-pass".into(),
            ),
            ("password", "ana@example.com".into(), password.clone()),
        ] {
            let r = app
                .post_json(
                    "/api/auth/login",
                    &json!({"email": email, "password": password}),
                    None,
                )
                .await;
            let b = json_error(r, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
            assert_eq!(b["errors"][0]["field"], field, "{b}");
        }
    }
    // Nothing was created along the way, and ordinary accounts still work.
    app.signup("Ana", "Gómez", "ana@example.com", "Bogotá")
        .await;
    app.login("ana@example.com").await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn control_characters_in_public_filters_are_422(db: PgPool) {
    let app = TestApp::spawn(db).await;
    for control in ["%00", "%01", "%0A", "%7F"] {
        for path in [
            format!("/api/public/videos?q=ab{control}c"),
            format!("/api/public/videos?city=Ca{control}li"),
            format!("/api/public/rankings?city=Ca{control}li"),
        ] {
            let b = json_error(
                app.get(&path, None).await,
                Some(StatusCode::UNPROCESSABLE_ENTITY),
            )
            .await;
            assert!(
                b["detail"].as_str().unwrap().contains("control characters"),
                "{path}: {b}"
            );
        }
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn control_characters_in_a_title_are_422(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    for control in CONTROLS {
        // The title is checked before the file is inspected: any few bytes will do.
        let r = app
            .upload_bytes(&token, b"tiny".to_vec(), Some(&format!("Kick{control}up")))
            .await;
        let b = json_error(r, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        assert_eq!(b["errors"][0]["field"], "title", "{b}");
    }
    assert_eq!(app.video_rows().await, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn uploads_that_are_not_multipart_get_the_json_body(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let post = |content_type: Option<&str>, bytes: &'static [u8]| {
        let mut request = app
            .client
            .post(app.url("/api/videos/upload"))
            .bearer_auth(&token)
            .body(bytes);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        request.send()
    };
    // No body and no content type, or another content type: 415.
    for content_type in [None, Some("application/json"), Some("video/mp4")] {
        let r = post(content_type, b"").await.unwrap();
        json_error(r, Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)).await;
    }
    // Multipart without a boundary: 400.
    let r = post(Some("multipart/form-data"), b"--x\r\n").await.unwrap();
    let b = json_error(r, Some(StatusCode::BAD_REQUEST)).await;
    assert_eq!(b["code"], "bad-multipart", "{b}");
    // A boundary the body does not use, an empty body, a truncated part: 4xx JSON.
    let truncated: &'static [u8] =
        b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nKick";
    for (content_type, bytes) in [
        ("multipart/form-data; boundary=other", truncated),
        ("multipart/form-data; boundary=b", b"".as_slice()),
        ("multipart/form-data; boundary=b", truncated),
    ] {
        json_error(post(Some(content_type), bytes).await.unwrap(), None).await;
    }
    assert_eq!(app.video_rows().await, 0);
    // A well-formed form still gets through to the field checks.
    let form = multipart::Form::new().text("title", "Kick-up");
    let r = app
        .client
        .post(app.url("/api/videos/upload"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let b = json_error(r, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
    assert_eq!(b["errors"][0]["field"], "video_file", "{b}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn axum_rejections_get_the_json_body(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let raw = |path: &str, content_type: &str, bytes: &'static [u8]| {
        app.client
            .post(app.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
    };
    // JSON: syntax, shape, content type.
    let b = json_error(
        raw("/api/auth/login", "application/json", b"{")
            .await
            .unwrap(),
        Some(StatusCode::BAD_REQUEST),
    )
    .await;
    assert_eq!(b["code"], "malformed-json");
    json_error(
        raw("/api/auth/login", "application/json", b"{\"email\": 1}")
            .await
            .unwrap(),
        Some(StatusCode::UNPROCESSABLE_ENTITY),
    )
    .await;
    json_error(
        raw("/api/auth/login", "text/plain", b"{}").await.unwrap(),
        Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    )
    .await;
    // Query and path values that do not parse; a path that is not UTF-8.
    json_error(
        app.get("/api/public/rankings?page=%00", None).await,
        Some(StatusCode::UNPROCESSABLE_ENTITY),
    )
    .await;
    json_error(
        app.get("/api/public/rankings?limit=x", None).await,
        Some(StatusCode::UNPROCESSABLE_ENTITY),
    )
    .await;
    let (_, token) = app.player("Ana", "Cali").await;
    json_error(
        app.get("/api/videos/%00", Some(&token)).await,
        Some(StatusCode::UNPROCESSABLE_ENTITY),
    )
    .await;
    json_error(app.get("/media/%FF?expires=1&sig=x", None).await, None).await;
    json_error(app.get("/app/%FF", None).await, None).await;
}
