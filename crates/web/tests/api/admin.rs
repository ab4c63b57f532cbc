//! The organizer role: `GET /api/auth/me`, the role check of every `/api/admin/*` route
//! (read from the OpenAPI document, so a new admin route is covered without editing this
//! file), suspended accounts refused at login and with old tokens, and closed voting.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, body, seed_public_video};

#[sqlx::test(migrations = "../../migrations")]
async fn me_tells_the_role(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (player_id, player) = app.player("Pia", "Cali").await;
    let (organizer_id, organizer) = app.organizer().await;

    let r = app.get("/api/auth/me", Some(&player)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = body(r).await;
    assert_eq!(me["id"], player_id);
    assert_eq!(me["role"], "player");
    assert_eq!(me["city"], "Cali");
    assert!(me.get("password_hash").is_none(), "{me}");

    let me = body(app.get("/api/auth/me", Some(&organizer)).await).await;
    assert_eq!(me["id"], organizer_id);
    assert_eq!(me["role"], "organizer");

    let r = app.get("/api/auth/me", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Every admin operation in the OpenAPI document, with its path parameters filled in.
async fn admin_operations(app: &TestApp) -> Vec<(Method, String)> {
    let doc = body(app.get("/openapi.json", None).await).await;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/admin/") {
            continue;
        }
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            ops.push((method, concrete.clone()));
        }
    }
    ops
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_admin_route_is_401_without_a_token_and_403_for_a_player(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, player) = app.player("Pia", "Cali").await;
    let ops = admin_operations(&app).await;
    assert!(
        !ops.is_empty(),
        "no /api/admin/ route in the OpenAPI document"
    );
    for (method, path) in ops {
        let send = |token: Option<&str>| {
            let mut req = app
                .client
                .request(method.clone(), app.url(&path))
                .json(&json!({"reason": "role check"}));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send()
        };
        let r = send(None).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let r = send(Some(&player)).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(body(r).await["code"], "organizers-only", "{method} {path}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_audit_log_is_for_organizers(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, organizer) = app.organizer().await;
    let r = app.get("/api/admin/audit", Some(&organizer)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(r).await.as_array().unwrap().is_empty());
    let r = app.get("/api/admin/audit?limit=0", Some(&organizer)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_suspended_account_cannot_log_in_use_its_token_or_vote(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (owner, _) = app.player("Otto", "Cali").await;
    let video = seed_public_video(&db, owner, "clip").await;
    let email = "sam@example.com";
    let sam = app.signup("Sam", "Suspended", email, "Cali").await;
    let token = app.login(email).await;

    sqlx::query("UPDATE players SET suspended_at = now(), suspended_reason = 'test' WHERE id = $1")
        .bind(sam)
        .execute(&db)
        .await
        .unwrap();

    let r = app
        .post_json(
            "/api/auth/login",
            &json!({"email": email, "password": "s3cret-pass"}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["code"], "account-suspended");
    // A wrong password still gets the same answer as an unknown e-mail.
    let r = app
        .post_json(
            "/api/auth/login",
            &json!({"email": email, "password": "wrong-pass"}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    for path in ["/api/auth/me", "/api/videos"] {
        let r = app.get(path, Some(&token)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body(r).await["code"], "account-suspended", "{path}");
    }
    let r = app
        .post(&format!("/api/public/videos/{video}/vote"), &token)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["code"], "account-suspended");
    let votes: i64 = sqlx::query_scalar("SELECT count(*) FROM votes")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(votes, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn votes_after_the_voting_close_are_refused(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (owner, _) = app.player("Otto", "Cali").await;
    let (_, fan) = app.player("Fan", "Cali").await;
    let first = seed_public_video(&db, owner, "first").await;
    let second = seed_public_video(&db, owner, "second").await;
    let r = app
        .post(&format!("/api/public/videos/{first}/vote"), &fan)
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    sqlx::query("UPDATE competition SET voting_close_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .unwrap();
    let r = app
        .post(&format!("/api/public/videos/{second}/vote"), &fan)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let error: Value = body(r).await;
    assert_eq!(error["code"], "voting-closed");
    let counts: Vec<i32> = sqlx::query_scalar("SELECT votes_count FROM videos ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(counts, vec![1, 0]);

    sqlx::query("UPDATE competition SET voting_close_at = now() + interval '1 hour'")
        .execute(&db)
        .await
        .unwrap();
    let r = app
        .post(&format!("/api/public/videos/{second}/vote"), &fan)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}
