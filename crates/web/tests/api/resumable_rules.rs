//! The rules of resumable uploads: what a declaration must be, what a completion needs,
//! what a local part URL accepts, and how many unfinished uploads a player may hold.

use serde_json::{Value, json};
use skillreel_shared::config::StorageBackend;
use sqlx::PgPool;

use crate::{
    helpers::body,
    resumable::{MIB, app, complete, pending_rows, send_all, send_part, small_clip, start},
};

async fn expect(r: reqwest::Response, status: u16, code: &str) {
    assert_eq!(r.status(), status);
    let b = body(r).await;
    assert_eq!(b["code"], code, "{b}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn declarations_and_completions_follow_the_rules(db: PgPool) {
    let app = app(db, StorageBackend::Local).await;
    let (_, token) = app.player("Ana", "Cali").await;
    let declare = |fields: Value| {
        let app = &app;
        let token = &token;
        async move {
            app.post_json("/api/videos/uploads", &fields, Some(token))
                .await
        }
    };
    let limit = app.state.config.upload.max_bytes;
    let r = declare(json!({"title": "t", "filename": "a.mp4", "size": 0})).await;
    expect(r, 400, "empty-file").await;
    let r = declare(json!({"title": "t", "filename": "a.mp4", "size": limit + 1})).await;
    assert_eq!(r.status(), 400);
    assert!(body(r).await["detail"].as_str().unwrap().contains("100 MB"));
    let r = declare(
        json!({"title": "t", "filename": "a.png", "size": 10, "content_type": "image/png"}),
    )
    .await;
    expect(r, 400, "not-mp4").await;
    let r = declare(json!({"filename": "a.mp4", "size": 10})).await;
    assert_eq!(r.status(), 422);
    let r = declare(json!({"title": "   ", "filename": "a.mp4", "size": 10})).await;
    expect(r, 422, "validation-error").await;
    let r = declare(json!({"title": "x".repeat(256), "filename": "a.mp4", "size": 10})).await;
    expect(r, 422, "validation-error").await;
    assert_eq!(pending_rows(&app).await, 0);
    let r = app
        .client
        .post(app.url("/api/videos/uploads"))
        .json(&json!({"title": "t", "filename": "a.mp4", "size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Parts: out of range, missing, not the stored ones, or fewer bytes than declared.
    let bytes = small_clip().await;
    let started = start(&app, &token, bytes.len()).await;
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let count = started["parts_count"].as_u64().unwrap();
    assert!(count >= 2, "the test clip should take two parts");
    for n in ["0".to_owned(), (count + 1).to_string(), "x".to_owned()] {
        let r = app
            .get(&format!("/api/videos/uploads/{id}/parts/{n}"), Some(&token))
            .await;
        expect(r, 400, "part-out-of-range").await;
    }
    let r = complete(&app, &token, &id, &[]).await;
    expect(r, 400, "parts-missing").await;
    let mut parts = send_all(&app, &token, &started, &bytes).await;
    let (last, _) = parts.pop().unwrap();
    let r = complete(&app, &token, &id, &parts).await;
    expect(r, 400, "parts-missing").await;
    let short = &bytes[(last - 1) * 5 * MIB..bytes.len() - 1];
    parts.push((last, send_part(&app, &token, &id, last, short).await));
    let r = complete(&app, &token, &id, &parts).await;
    expect(r, 400, "size-mismatch").await;
    let mut wrong = parts.clone();
    wrong[0].1 = "\"0123\"".into();
    let r = complete(&app, &token, &id, &wrong).await;
    expect(r, 400, "parts-mismatch").await;
    // The player sends the last part again, whole, and completes.
    let full = &bytes[(last - 1) * 5 * MIB..];
    parts[last - 1].1 = send_part(&app, &token, &id, last, full).await;
    let r = complete(&app, &token, &id, &parts).await;
    assert_eq!(r.status(), 201);

    // Local part URLs: a forged signature is refused, a part longer than its size cut off.
    let started = start(&app, &token, bytes.len()).await;
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let target = body(
        app.get(&format!("/api/videos/uploads/{id}/parts/1"), Some(&token))
            .await,
    )
    .await;
    let url = app.url(target["url"].as_str().unwrap());
    let first = &bytes[..5 * MIB];
    let forged = url.replace("sig=", "sig=ab");
    let r = app
        .client
        .put(&forged)
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    expect(r, 403, "forbidden").await;
    let mut longer = first.to_vec();
    longer.push(0);
    let r = app.client.put(&url).body(longer).send().await.unwrap();
    expect(r, 400, "part-too-large").await;
    let r = app
        .get(&format!("/api/videos/uploads/{id}/parts"), Some(&token))
        .await;
    assert_eq!(
        body(r).await,
        json!([]),
        "nothing of the refused part is kept"
    );

    // A player may hold a bounded number of unfinished uploads.
    let max = app.state.config.upload.max_pending_per_player;
    for _ in 1..max {
        start(&app, &token, bytes.len()).await;
    }
    let r = declare(json!({"title": "t", "filename": "a.mp4", "size": 10})).await;
    expect(r, 429, "too-many-pending-uploads").await;
}
