use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, body, seed_video};

#[sqlx::test(migrations = "../../migrations")]
async fn own_videos_list_detail_and_owner_checks(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_t) = app.player("Ana", "Cali").await;
    let (_, bob_t) = app.player("Bob", "Cali").await;
    let first = seed_video(&db, ana, "uploaded").await;
    let second = seed_video(&db, ana, "failed").await;

    let list = body(app.get("/api/videos", Some(&ana_t)).await).await;
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["video_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, first], "newest first");
    assert_eq!(list[0]["status"], "failed");
    assert!(list[0].get("processed_url").is_some());
    // Poster and preview are present and null until processed.
    for field in ["thumbnail_url", "preview_url"] {
        assert_eq!(
            list[0].get(field),
            Some(&serde_json::Value::Null),
            "{field}"
        );
    }

    let r = app
        .get(&format!("/api/videos/{second}"), Some(&ana_t))
        .await;
    assert_eq!(r.status(), 200);
    let d = body(r).await;
    assert_eq!(d["error"], "boom");
    assert_eq!(d["votes"], 0);
    assert!(
        d["original_url"]
            .as_str()
            .unwrap()
            .starts_with("/media/uploaded/")
    );

    let r = app.get(&format!("/api/videos/{first}"), Some(&bob_t)).await;
    assert_eq!(r.status(), 403);
    assert!(
        body(r).await["detail"]
            .as_str()
            .unwrap()
            .starts_with("You are not authorized")
    );
    let r = app.get("/api/videos/999999", Some(&ana_t)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(body(r).await["detail"], "Video not found");
    let r = app.get("/api/videos/abc", Some(&ana_t)).await;
    assert_eq!(r.status(), 422);
    assert!(
        body(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("video id")
    );
    assert!(
        body(app.get("/api/videos", Some(&bob_t)).await)
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn publish_only_processed_videos(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_t) = app.player("Ana", "Cali").await;
    let (_, bob_t) = app.player("Bob", "Cali").await;
    let processed = seed_video(&db, ana, "processed").await;
    let uploaded = seed_video(&db, ana, "uploaded").await;

    assert_eq!(
        app.post(&format!("/api/videos/{processed}/publish"), &bob_t)
            .await
            .status(),
        403
    );
    let r = app
        .post(&format!("/api/videos/{uploaded}/publish"), &ana_t)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        body(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("uploaded")
    );
    let r = app
        .post(&format!("/api/videos/{processed}/publish/"), &ana_t)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], "public");
    assert_eq!(
        app.post(&format!("/api/videos/{processed}/publish"), &ana_t)
            .await
            .status(),
        409
    );
    assert_eq!(
        app.post("/api/videos/424242/publish", &ana_t)
            .await
            .status(),
        404
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn delete_removes_row_and_objects_but_not_public_videos(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_t) = app.player("Ana", "Cali").await;
    let (_, bob_t) = app.player("Bob", "Cali").await;
    let video = seed_video(&db, ana, "processed").await;
    let public = seed_video(&db, ana, "public").await;
    let keys: (String, String) =
        sqlx::query_as("SELECT original_key, processed_key FROM videos WHERE id = $1")
            .bind(video)
            .fetch_one(&db)
            .await
            .unwrap();
    for key in [&keys.0, &keys.1] {
        let src = app._dir.path().join("obj");
        std::fs::write(&src, b"bytes").unwrap();
        app.state
            .storage
            .put_file(key, &src, "video/mp4")
            .await
            .unwrap();
    }
    assert_eq!(app.objects("").await, 2);

    assert_eq!(
        app.delete(&format!("/api/videos/{video}"), &bob_t)
            .await
            .status(),
        403
    );
    let r = app.delete(&format!("/api/videos/{public}"), &ana_t).await;
    assert_eq!(r.status(), 400);
    assert!(
        body(r).await["detail"]
            .as_str()
            .unwrap()
            .starts_with("Video is public")
    );

    let r = app.delete(&format!("/api/videos/{video}"), &ana_t).await;
    assert_eq!(r.status(), 200);
    let b = body(r).await;
    assert_eq!(b["message"], "El video ha sido eliminado exitosamente.");
    assert_eq!(b["video_id"], video);
    assert_eq!(app.objects("").await, 0, "stored objects deleted");
    assert_eq!(
        app.get(&format!("/api/videos/{video}"), Some(&ana_t))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete(&format!("/api/videos/{video}"), &ana_t)
            .await
            .status(),
        404
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_media_urls_are_signed_and_support_ranges(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_t) = app.player("Ana", "Cali").await;
    let video = seed_video(&db, ana, "processed").await;
    let key: String = sqlx::query_scalar("SELECT processed_key FROM videos WHERE id = $1")
        .bind(video)
        .fetch_one(&db)
        .await
        .unwrap();
    let src = app._dir.path().join("obj");
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    app.state
        .storage
        .put_file(&key, &src, "video/mp4")
        .await
        .unwrap();

    let d = body(app.get(&format!("/api/videos/{video}"), Some(&ana_t)).await).await;
    let url = d["processed_url"].as_str().unwrap().to_owned();
    let full = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.bytes().await.unwrap().as_ref(), &bytes[..]);
    let part = app
        .client
        .get(app.url(&url))
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100..200]);
    let tampered = url.replace("sig=", "sig=00");
    assert_eq!(
        app.client
            .get(app.url(&tampered))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
