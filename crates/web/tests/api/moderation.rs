//! Moderation of videos: hiding and restoring them, the moderation queue and the audit
//! entries, all through the API, with the public reads (cached) polled until they
//! follow. Suspensions are in `suspension.rs`.

use std::{future::Future, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    flood::{rankings, recount_matches},
    helpers::{ORGANIZER_EMAIL, TestApp, body, seed_public_video, seed_video},
};

/// Polls `check` until it holds; fails naming `what` after 5 s.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 5 s for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ids in the public gallery.
pub async fn gallery(app: &TestApp) -> Vec<i64> {
    let r = app.get("/api/public/videos?limit=100", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

/// The public ranking as `(username, votes)`.
pub async fn ranking(app: &TestApp) -> Vec<(String, i64)> {
    rankings(&app.client, &app.base).await
}

/// `rows` as [`ranking`] answers them.
pub fn ranked(rows: &[(&str, i64)]) -> Vec<(String, i64)> {
    rows.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
}

/// POSTs to an admin route, with `{"reason"}` when given; the status and the body.
pub async fn admin_post(
    app: &TestApp,
    path: &str,
    reason: Option<&str>,
    token: &str,
) -> (StatusCode, Value) {
    let r = match reason {
        Some(reason) => {
            app.post_json(path, &json!({ "reason": reason }), Some(token))
                .await
        }
        None => app.post(path, token).await,
    };
    let status = r.status();
    (status, body(r).await)
}

/// A video's status, from its row.
pub async fn status_of(db: &PgPool, video: i64) -> String {
    sqlx::query_scalar("SELECT status FROM videos WHERE id = $1")
        .bind(video)
        .fetch_one(db)
        .await
        .unwrap()
}

/// `token`'s vote for `video`, which must be `200`.
pub async fn vote(app: &TestApp, video: i64, token: &str) {
    let r = app
        .post(&format!("/api/public/videos/{video}/vote"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK, "vote for {video}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_hidden_video_leaves_the_gallery_and_the_rankings_until_restored(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await;
    let (owner, owner_token) = app.player("Olivia", "Cali").await;
    let (_, fan) = app.player("Fabio", "Cali").await;
    let (_, late_fan) = app.player("Lucas", "Cali").await;
    let video = seed_public_video(&db, owner, "kick-ups").await;
    vote(&app, video, &fan).await;
    // Read first, so that cached answers have to give way.
    until("the clip in the gallery", || async {
        gallery(&app).await.contains(&video)
    })
    .await;
    until("Olivia ranked with 1 vote", || async {
        ranking(&app).await == ranked(&[("Olivia Tester", 1)])
    })
    .await;

    let hide = format!("/api/admin/videos/{video}/hide");
    let (status, hidden) = admin_post(&app, &hide, Some("  not a skills clip "), &organizer).await;
    assert_eq!(status, StatusCode::OK, "{hidden}");
    assert_eq!(hidden["id"], video);
    assert_eq!(hidden["status"], "hidden");
    assert_eq!(hidden["hidden_reason"], "not a skills clip");
    assert_eq!(hidden["hidden_by_suspension"], false);
    assert_eq!(hidden["votes"], 1);
    assert_eq!(hidden["owner"]["id"], owner);
    assert_eq!(hidden["owner"]["username"], "Olivia Tester");
    assert_eq!(hidden["owner"]["suspended"], false);

    until("the clip gone from the gallery", || async {
        !gallery(&app).await.contains(&video)
    })
    .await;
    until("nobody ranked", || async { ranking(&app).await.is_empty() }).await;

    // The owner sees it hidden, with the reason.
    let mine = body(app.get("/api/videos", Some(&owner_token)).await).await;
    assert_eq!(mine[0]["video_id"], video);
    assert_eq!(mine[0]["status"], "hidden");
    assert_eq!(mine[0]["hidden_reason"], "not a skills clip");
    let detail = body(
        app.get(&format!("/api/videos/{video}"), Some(&owner_token))
            .await,
    )
    .await;
    assert_eq!(detail["status"], "hidden");
    assert_eq!(detail["hidden_reason"], "not a skills clip");
    // Nobody votes for it; its owner cannot publish it again.
    let r = app
        .post(&format!("/api/public/videos/{video}/vote"), &late_fan)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .post(&format!("/api/videos/{video}/publish"), &owner_token)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (status, error) = admin_post(&app, &hide, Some("again"), &organizer).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("already-hidden"))
    );

    let restore = format!("/api/admin/videos/{video}/restore");
    let (status, restored) = admin_post(&app, &restore, None, &organizer).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["status"], "public");
    assert_eq!(restored["hidden_reason"], Value::Null);
    until("the clip back in the gallery", || async {
        gallery(&app).await.contains(&video)
    })
    .await;
    until("Olivia ranked again with her vote", || async {
        ranking(&app).await == ranked(&[("Olivia Tester", 1)])
    })
    .await;
    let (status, error) = admin_post(&app, &restore, None, &organizer).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("not-hidden"))
    );
    let detail = body(
        app.get(&format!("/api/videos/{video}"), Some(&owner_token))
            .await,
    )
    .await;
    assert_eq!(detail["status"], "public");
    assert_eq!(detail["hidden_reason"], Value::Null);
    recount_matches(&db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn only_processed_and_public_videos_can_be_hidden_and_reasons_are_checked(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await;
    let (owner, owner_token) = app.player("Olivia", "Cali").await;
    let processed = seed_video(&db, owner, "processed").await;
    let uploaded = seed_video(&db, owner, "uploaded").await;
    let failed = seed_video(&db, owner, "failed").await;

    let hide = |id: i64| format!("/api/admin/videos/{id}/hide");
    let (status, hidden) =
        admin_post(&app, &hide(processed), Some("draft spoiler"), &organizer).await;
    assert_eq!(
        (status, hidden["status"].as_str()),
        (StatusCode::OK, Some("hidden"))
    );
    let (status, restored) = admin_post(
        &app,
        &format!("/api/admin/videos/{processed}/restore"),
        None,
        &organizer,
    )
    .await;
    assert_eq!(
        (status, restored["status"].as_str()),
        (StatusCode::OK, Some("processed"))
    );

    for id in [uploaded, failed] {
        let (status, error) = admin_post(&app, &hide(id), Some("nope"), &organizer).await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["code"], "not-hideable");
    }
    let missing = failed + 1000;
    let (status, _) = admin_post(&app, &hide(missing), Some("gone"), &organizer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin_post(
        &app,
        &format!("/api/admin/videos/{missing}/restore"),
        None,
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in ["/api/admin/videos/0/hide", "/api/admin/videos/abc/hide"] {
        let (status, _) = admin_post(&app, path, Some("bad id"), &organizer).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }

    let too_long = "r".repeat(501);
    for bad in [
        json!({}),
        json!({"reason": ""}),
        json!({"reason": "   "}),
        json!({"reason": "two\nlines"}),
        json!({"reason": too_long}),
    ] {
        let r = app
            .post_json(&hide(processed), &bad, Some(&organizer))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(status_of(&db, processed).await, "processed");
    let (status, _) = admin_post(
        &app,
        &hide(processed),
        Some("r".repeat(500).as_str()),
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Its owner may delete a hidden video.
    let r = app
        .delete(&format!("/api/videos/{processed}"), &owner_token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_audit_log_records_every_moderation_action(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (organizer_id, organizer) = app.organizer().await;
    let (owner, _) = app.player("Olivia", "Cali").await;
    let video = seed_public_video(&db, owner, "clip").await;
    let steps = [
        (format!("/api/admin/videos/{video}/hide"), Some("spoiler")),
        (format!("/api/admin/videos/{video}/restore"), None),
        (format!("/api/admin/players/{owner}/suspend"), Some("spam")),
        (format!("/api/admin/players/{owner}/unsuspend"), None),
    ];
    for (path, reason) in &steps {
        let (status, answer) = admin_post(&app, path, *reason, &organizer).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    // A refused action leaves no entry.
    let (status, _) = admin_post(&app, &steps[1].0, None, &organizer).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let log = body(app.get("/api/admin/audit", Some(&organizer)).await).await;
    let log = log.as_array().unwrap();
    let seen: Vec<(&str, &str, i64, Option<&str>)> = log
        .iter()
        .map(|e| {
            assert_eq!(e["actor_id"], organizer_id, "{e}");
            assert_eq!(e["actor_email"], ORGANIZER_EMAIL.to_lowercase(), "{e}");
            assert!(e["at"].is_string(), "{e}");
            (
                e["action"].as_str().unwrap(),
                e["target_type"].as_str().unwrap(),
                e["target_id"].as_i64().unwrap(),
                e["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("unsuspend-player", "player", owner, None),
            ("suspend-player", "player", owner, Some("spam")),
            ("restore-video", "video", video, None),
            ("hide-video", "video", video, Some("spoiler")),
        ]
    );
    assert_eq!(log[0]["details"]["videos_restored"], 1);
    assert_eq!(log[1]["details"]["videos_hidden"], 1);
    assert_eq!(log[1]["details"]["votes_uncounted"], 0);
    assert_eq!(log[3]["details"]["from"], "public");
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_moderation_queue_lists_every_video_newest_first_with_its_owner(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await;
    let (owner, _) = app.player("Olivia", "Cali").await;
    let (_, fan) = app.player("Fabio", "Cali").await;
    let mut ids = Vec::new();
    for status in ["uploaded", "processed", "failed", "public"] {
        ids.push(seed_video(&db, owner, status).await);
    }
    let public = ids[3];
    sqlx::query("UPDATE videos SET thumbnail_key = 'thumbnails/poster.jpg' WHERE id = $1")
        .bind(public)
        .execute(&db)
        .await
        .unwrap();
    vote(&app, public, &fan).await;

    let queue = |query: &'static str| {
        let app = &app;
        let organizer = &organizer;
        async move {
            let r = app
                .get(&format!("/api/admin/videos{query}"), Some(organizer))
                .await;
            assert_eq!(r.status(), StatusCode::OK, "{query}");
            body(r).await.as_array().unwrap().clone()
        }
    };
    let all = queue("").await;
    let listed: Vec<i64> = all.iter().map(|v| v["id"].as_i64().unwrap()).collect();
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(listed, newest_first);
    let first = &all[0];
    assert_eq!(first["status"], "public");
    assert_eq!(first["votes"], 1);
    assert_eq!(first["views"], 0);
    assert_eq!(first["title"], "seeded");
    assert!(first["uploaded_at"].is_string());
    assert_eq!(first["hidden_reason"], Value::Null);
    assert_eq!(
        first["owner"],
        json!({"id": owner, "username": "Olivia Tester", "email": first["owner"]["email"],
               "city": "Cali", "suspended": false})
    );
    assert!(
        first["owner"]["email"]
            .as_str()
            .unwrap()
            .starts_with("olivia-")
    );
    // The poster URL is the one the public list shows (its signature's expiry may differ
    // by the second between the two requests); null without a poster.
    let shown = body(app.get("/api/public/videos", None).await).await;
    let unsigned = |url: &Value| url.as_str().unwrap().split('?').next().unwrap().to_owned();
    assert_eq!(
        unsigned(&first["thumbnail_url"]),
        unsigned(&shown[0]["thumbnail_url"])
    );
    assert!(unsigned(&first["thumbnail_url"]).ends_with("/thumbnails/poster.jpg"));
    assert_eq!(all[1]["thumbnail_url"], Value::Null);

    let pages: Vec<i64> = queue("?limit=2&page=2")
        .await
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(pages, newest_first[2..]);
    assert_eq!(queue("?status=").await.len(), 4);
    let failed = queue("?status=failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], ids[2]);
    assert!(queue("?status=hidden").await.is_empty());
    let (status, _) = admin_post(
        &app,
        &format!("/api/admin/videos/{public}/hide"),
        Some("blurry"),
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let hidden = queue("?status=hidden").await;
    assert_eq!(hidden.len(), 1);
    assert_eq!(hidden[0]["hidden_reason"], "blurry");
    assert!(queue("?status=public").await.is_empty());

    for bad in ["?status=done", "?limit=0", "?page=0"] {
        let r = app
            .get(&format!("/api/admin/videos{bad}"), Some(&organizer))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}
