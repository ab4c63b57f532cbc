use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{TestApp, body, seed_public_video, seed_video};

async fn vote(app: &TestApp, video: i64, token: &str) -> reqwest::Response {
    app.post(&format!("/api/public/videos/{video}/vote"), token)
        .await
}

#[sqlx::test(migrations = "../../migrations")]
async fn public_list_filters_and_pages(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, _) = app.player("Ana", "Bogotá").await;
    let (bob, _) = app.player("Bob", "Medellín").await;
    let a1 = seed_public_video(&db, ana, "Freestyle 100% juggling").await;
    let b1 = seed_public_video(&db, bob, "Dribbling drills").await;
    let a2 = seed_public_video(&db, ana, "More juggling").await;
    seed_video(&db, ana, "processed").await; // not public: never listed

    let all = body(app.get("/api/public/videos", None).await).await;
    let ids: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [a2, b1, a1], "newest first, only public");
    assert_eq!(all[0]["owner_name"], "Ana Tester");
    assert_eq!(all[0]["owner_city"], "Bogotá");
    assert_eq!(all[0]["video_id"], a2);
    assert_eq!(all[0]["votes"], 0);

    let city = body(app.get("/api/public/videos?city=MEDELLÍN", None).await).await;
    assert_eq!(city.as_array().unwrap().len(), 1);
    assert_eq!(city[0]["id"], b1);

    let q = body(app.get("/api/public/videos?q=JUGGLING", None).await).await;
    assert_eq!(q.as_array().unwrap().len(), 2);
    let pct = body(app.get("/api/public/videos?q=100%25", None).await).await;
    assert_eq!(pct.as_array().unwrap().len(), 1, "% is matched literally");

    let p2 = body(app.get("/api/public/videos?page=2&limit=2", None).await).await;
    assert_eq!(p2.as_array().unwrap().len(), 1);
    assert_eq!(p2[0]["id"], a1);

    for bad in ["limit=0", "limit=101", "page=0", "page=abc", "limit=-5"] {
        let r = app.get(&format!("/api/public/videos?{bad}"), None).await;
        assert_eq!(r.status(), 422, "{bad}");
        assert!(body(r).await["detail"].is_string());
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn voting_rules(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_t) = app.player("Ana", "Cali").await;
    let (_, bob_t) = app.player("Bob", "Cali").await;
    let public = seed_public_video(&db, ana, "Skills").await;
    let private = seed_video(&db, ana, "processed").await;

    let r = vote(&app, public, &bob_t).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["message"], "Vote successfully registered");
    let r = vote(&app, public, &bob_t).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        body(r).await["detail"],
        "You have already voted for this video"
    );
    assert_eq!(vote(&app, public, &ana_t).await.status(), 403, "own video");
    let r = vote(&app, private, &bob_t).await;
    assert_eq!(r.status(), 404);
    assert_eq!(body(r).await["detail"], "Video not found");
    assert_eq!(vote(&app, 987654, &bob_t).await.status(), 404);
    let r = app
        .client
        .post(app.url(&format!("/api/public/videos/{public}/vote")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[sqlx::test(migrations = "../../migrations")]
async fn concurrent_duplicate_votes_count_once(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, _) = app.player("Ana", "Cali").await;
    let (_, bob_t) = app.player("Bob", "Cali").await;
    let video = seed_public_video(&db, ana, "Skills").await;
    let mut handles = Vec::new();
    for _ in 0..16 {
        let client = app.client.clone();
        let url = app.url(&format!("/api/public/videos/{video}/vote"));
        let t = bob_t.clone();
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for h in handles {
        let s = h.await.unwrap();
        assert!(s == 200 || s == 400, "{s}");
        ok += usize::from(s == 200);
    }
    assert_eq!(ok, 1);
    let (votes, counted): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM votes WHERE video_id = $1), (SELECT votes_count FROM videos WHERE id = $1)",
    )
    .bind(video)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((votes, counted), (1, 1));
}

fn names(v: &Value) -> Vec<(i64, String, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["position"].as_i64().unwrap(),
                r["username"].as_str().unwrap().to_owned(),
                r["votes"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[sqlx::test(migrations = "../../migrations")]
async fn rankings_order_ties_city_and_pages(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, _) = app.player("Ana", "Bogotá").await;
    let (bob, _) = app.player("Bob", "Cali").await;
    let (cid, _) = app.player("Cid", "bogotá").await;
    let (_, v1) = app.player("Voter1", "Cali").await;
    let (_, v2) = app.player("Voter2", "Cali").await;
    let (_, v3) = app.player("Voter3", "Cali").await;
    let a = seed_public_video(&db, ana, "a").await;
    let a2 = seed_public_video(&db, ana, "a2").await;
    let b = seed_public_video(&db, bob, "b").await;
    let c = seed_public_video(&db, cid, "c").await;
    for t in [&v1, &v2] {
        assert_eq!(vote(&app, a, t).await.status(), 200);
    }
    assert_eq!(vote(&app, a2, &v3).await.status(), 200); // Ana: 3 votes over two videos
    for t in [&v1, &v2, &v3] {
        assert_eq!(vote(&app, c, t).await.status(), 200); // Cid: 3, signed up after Ana
    }
    assert_eq!(vote(&app, b, &v1).await.status(), 200); // Bob: 1

    let r = names(&body(app.get("/api/public/rankings", None).await).await);
    assert_eq!(
        r,
        [
            (1, "Ana Tester".into(), 3),
            (2, "Cid Tester".into(), 3),
            (3, "Bob Tester".into(), 1)
        ],
        "votes desc, ties to the earlier sign-up"
    );
    let p2 = names(&body(app.get("/api/public/rankings?page=2&limit=2", None).await).await);
    assert_eq!(p2, [(3, "Bob Tester".into(), 1)]);
    let city = body(app.get("/api/public/rankings?city=BOGOTÁ", None).await).await;
    assert_eq!(
        names(&city),
        [(1, "Ana Tester".into(), 3), (2, "Cid Tester".into(), 3)]
    );
    assert_eq!(city[0]["city"], "Bogotá");
    for bad in ["limit=0", "limit=101", "page=0", "page=x"] {
        assert_eq!(
            app.get(&format!("/api/public/rankings?{bad}"), None)
                .await
                .status(),
            422,
            "{bad}"
        );
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_vote_refreshes_the_cached_ranking_on_every_instance(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    // A second instance sharing Postgres and the Redis namespace, like another web node.
    let prefix = app.state.config.redis.prefix.clone();
    let other = TestApp::spawn_with(db.clone(), move |c| c.redis.prefix = prefix).await;
    let (ana, _) = app.player("Ana", "Cali").await;
    let (_, voter) = app.player("Voter", "Cali").await;
    let video = seed_public_video(&db, ana, "a").await;

    let before = body(other.get("/api/public/rankings", None).await).await;
    assert_eq!(before[0]["votes"], 0);
    // Served from the cache: a change behind its back is not visible yet.
    sqlx::query("UPDATE videos SET votes_count = 7 WHERE id = $1")
        .bind(video)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        body(other.get("/api/public/rankings", None).await).await[0]["votes"],
        0
    );
    sqlx::query("UPDATE videos SET votes_count = 0 WHERE id = $1")
        .bind(video)
        .execute(&db)
        .await
        .unwrap();

    assert_eq!(vote(&app, video, &voter).await.status(), 200);
    assert_eq!(
        body(app.get("/api/public/rankings", None).await).await[0]["votes"],
        1,
        "same instance: at once"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let votes = body(other.get("/api/public/rankings", None).await).await[0]["votes"].clone();
        if votes == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "other instance still shows {votes}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `players.public_votes`/`public_videos` (kept by a trigger, read by the ranking) as
/// `(votes, videos)`, and the same recomputed from `videos`.
async fn totals(db: &PgPool, player: i64) -> ((i64, i32), (i64, i32)) {
    let kept: (i64, i32) =
        sqlx::query_as("SELECT public_votes, public_videos FROM players WHERE id = $1")
            .bind(player)
            .fetch_one(db)
            .await
            .unwrap();
    let recomputed: (i64, i32) = sqlx::query_as(
        "SELECT COALESCE(SUM(votes_count), 0)::BIGINT, COUNT(*)::INT
           FROM videos WHERE owner_id = $1 AND status = 'public'",
    )
    .bind(player)
    .fetch_one(db)
    .await
    .unwrap();
    (kept, recomputed)
}

#[sqlx::test(migrations = "../../migrations")]
async fn player_totals_follow_every_change_to_public_videos(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (ana, ana_token) = app.player("Ana", "Bogotá").await;
    let (bob, _) = app.player("Bob", "Cali").await;
    let (_, voter) = app.player("Voter", "Cali").await;
    let exec = |sql: &'static str, id: i64| {
        let db = db.clone();
        async move {
            sqlx::query(sql).bind(id).execute(&db).await.unwrap();
        }
    };

    // Not public yet: not counted, and votes cannot reach it.
    let v = seed_video(&db, ana, "processed").await;
    assert_eq!(totals(&db, ana).await, ((0, 0), (0, 0)));
    // Published through the API: counted, ranked with 0 votes.
    assert_eq!(
        app.post(&format!("/api/videos/{v}/publish"), &ana_token)
            .await
            .status(),
        200
    );
    assert_eq!(totals(&db, ana).await, ((0, 1), (0, 1)));
    assert_eq!(vote(&app, v, &voter).await.status(), 200);
    let w = seed_public_video(&db, ana, "second").await;
    exec(
        "UPDATE videos SET votes_count = votes_count + 4 WHERE id = $1",
        w,
    )
    .await;
    assert_eq!(totals(&db, ana).await, ((5, 2), (5, 2)));

    // Heartbeat-like updates of other columns change nothing.
    exec(
        "UPDATE videos SET progress = 50, updated_at = now() WHERE id = $1",
        w,
    )
    .await;
    assert_eq!(totals(&db, ana).await, ((5, 2), (5, 2)));

    // A row moving to another owner, or leaving, takes its votes along.
    sqlx::query("UPDATE videos SET owner_id = $1 WHERE id = $2")
        .bind(bob)
        .bind(w)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(totals(&db, ana).await, ((1, 1), (1, 1)));
    assert_eq!(totals(&db, bob).await, ((4, 1), (4, 1)));
    exec("DELETE FROM videos WHERE id = $1", v).await;
    assert_eq!(totals(&db, ana).await, ((0, 0), (0, 0)));

    // The ranking reads the kept totals: Bob ranked, Ana (no public video) not.
    let r = names(&body(app.get("/api/public/rankings", None).await).await);
    assert_eq!(r, [(1, "Bob Tester".into(), 4)]);
}
