//! Views (deduplicated per viewer, video and hour), trends (votes in a window) and the
//! organizers' numbers (`/api/admin/stats`) against seeded databases; views through a
//! PostgreSQL crash.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use skillreel_shared::{
    cache::Namespace, config::limits::Cidr, db, testing::servers::PrivatePostgres,
};
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::helpers::{TestApp, body, seed_public_video, seed_video};

async fn view(app: &TestApp, video: i64, token: Option<&str>, from: Option<&str>) -> StatusCode {
    let mut req = app
        .client
        .post(app.url(&format!("/api/public/videos/{video}/view")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(addr) = from {
        req = req.header("x-forwarded-for", addr);
    }
    req.send().await.unwrap().status()
}

async fn views_count(db: &PgPool, video: i64) -> i64 {
    sqlx::query_scalar("SELECT views_count FROM videos WHERE id = $1")
        .bind(video)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Moves every deduplication row an hour back, as if the hour had passed.
async fn an_hour_passes(db: &PgPool) {
    sqlx::query("UPDATE video_views SET hour = hour - interval '1 hour'")
        .execute(db)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_view_counts_once_per_viewer_per_hour(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (owner, owner_token) = app.player("Otto", "Cali").await;
    let (_, ana) = app.player("Ana", "Cali").await;
    let (_, bob) = app.player("Bob", "Cali").await;
    let video = seed_public_video(&db, owner, "clip").await;
    let other = seed_public_video(&db, owner, "other").await;

    assert_eq!(view(&app, video, Some(&ana), None).await, 204);
    assert_eq!(view(&app, video, Some(&ana), None).await, 204);
    assert_eq!(views_count(&db, video).await, 1, "same account twice");
    assert_eq!(view(&app, video, Some(&bob), None).await, 204);
    assert_eq!(views_count(&db, video).await, 2, "another account");
    assert_eq!(view(&app, video, None, None).await, 204);
    assert_eq!(view(&app, video, None, None).await, 204);
    assert_eq!(view(&app, video, Some("not-a-token"), None).await, 204);
    assert_eq!(views_count(&db, video).await, 3, "anonymous, one address");
    assert_eq!(view(&app, other, Some(&ana), None).await, 204);
    assert_eq!(views_count(&db, other).await, 1, "per video");

    an_hour_passes(&db).await;
    assert_eq!(view(&app, video, Some(&ana), None).await, 204);
    assert_eq!(view(&app, video, None, None).await, 204);
    assert_eq!(view(&app, video, None, None).await, 204);
    assert_eq!(views_count(&db, video).await, 5, "a new hour counts again");

    // Shown on the public list and on the owner's detail.
    let list = body(app.get("/api/public/videos", None).await).await;
    let item = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == video)
        .unwrap();
    assert_eq!(item["views"], 5);
    let detail = body(
        app.get(&format!("/api/videos/{video}"), Some(&owner_token))
            .await,
    )
    .await;
    assert_eq!(detail["views"], 5);

    // Only public videos are viewed.
    let private = seed_video(&db, owner, "processed").await;
    assert_eq!(view(&app, private, Some(&ana), None).await, 404);
    assert_eq!(view(&app, 987_654, None, None).await, 404);
    assert_eq!(view(&app, 0, None, None).await, 422);
    assert_eq!(views_count(&db, private).await, 0);

    // The past hours' rows decide nothing any more and can go.
    let pruned = db::views::prune(&db).await.unwrap();
    assert_eq!(
        pruned, 4,
        "the hour-old rows of ana, bob, the address and `other`"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM video_views")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 2, "this hour's rows stay");
}

#[sqlx::test(migrations = "../../migrations")]
async fn anonymous_viewers_are_told_apart_by_the_rate_limiters_address(db: PgPool) {
    let app = TestApp::spawn_with(db.clone(), |c| {
        c.limits.trusted_proxies = vec!["127.0.0.1".parse::<Cidr>().unwrap()];
    })
    .await;
    let (owner, _) = app.player("Otto", "Cali").await;
    let video = seed_public_video(&db, owner, "clip").await;
    for addr in ["198.51.100.1", "198.51.100.2", "198.51.100.1"] {
        assert_eq!(view(&app, video, None, Some(addr)).await, 204);
    }
    assert_eq!(views_count(&db, video).await, 2);
}

async fn vote(app: &TestApp, video: i64, token: &str) {
    let r = app
        .post(&format!("/api/public/videos/{video}/vote"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn trending(app: &TestApp, query: &str) -> Vec<(i64, i64)> {
    app.state.cache.invalidate(Namespace::Trending).await;
    let r = app.get(&format!("/api/public/trending{query}"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_i64().unwrap(),
                v["votes_in_window"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[sqlx::test(migrations = "../../migrations")]
async fn trending_counts_the_votes_of_the_window(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (owner, _) = app.player("Otto", "Cali").await;
    let mut fans = Vec::new();
    for name in ["Ana", "Bob", "Cid"] {
        fans.push(app.player(name, "Cali").await.1);
    }
    let [a, b, c, d] = [
        seed_public_video(&db, owner, "a").await,
        seed_public_video(&db, owner, "b").await,
        seed_public_video(&db, owner, "c").await,
        seed_public_video(&db, owner, "d").await,
    ];
    for fan in &fans {
        vote(&app, a, fan).await;
    }
    vote(&app, b, &fans[0]).await;
    vote(&app, c, &fans[0]).await;
    // b and c tie on votes: more views first.
    view(&app, c, Some(&fans[1]), None).await;

    let all = trending(&app, "").await;
    assert_eq!(all, [(a, 3), (c, 1), (b, 1)], "d has no vote: not trending");
    let first = body(app.get("/api/public/trending?limit=1", None).await).await;
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["title"], "a");
    assert_eq!(first[0]["votes"], 3);
    assert_eq!(first[0]["views"], 0);
    assert_eq!(first[0]["owner_name"], "Otto Tester");
    assert_eq!(trending(&app, "?limit=2").await, [(a, 3), (c, 1)]);

    // Two of a's votes were 25 hours ago: out of a 24-hour window, inside 48 hours.
    sqlx::query(
        "UPDATE votes SET created_at = now() - interval '25 hours'
          WHERE video_id = $1 AND player_id <> (SELECT min(player_id) FROM votes WHERE video_id = $1)",
    )
    .bind(a)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("UPDATE votes SET created_at = now() - interval '2 hours' WHERE video_id = $1")
        .bind(b)
        .execute(&db)
        .await
        .unwrap();
    // One vote each now: c has a view, then the older video first.
    assert_eq!(trending(&app, "").await, [(c, 1), (a, 1), (b, 1)]);
    assert_eq!(
        trending(&app, "?window_hours=48").await,
        [(a, 3), (c, 1), (b, 1)]
    );
    assert_eq!(trending(&app, "?window_hours=1").await, [(c, 1), (a, 1)]);
    // Votes that do not count (a suspended voter's) do not trend either.
    sqlx::query("UPDATE votes SET counted = false WHERE video_id = $1")
        .bind(c)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(trending(&app, "?window_hours=1").await, [(a, 1)]);
    assert!(
        !trending(&app, "?window_hours=168")
            .await
            .iter()
            .any(|(id, _)| *id == d)
    );

    for bad in [
        "window_hours=0",
        "window_hours=169",
        "limit=0",
        "limit=51",
        "limit=x",
    ] {
        let r = app.get(&format!("/api/public/trending?{bad}"), None).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap()
}

/// What `series` should hold: the rows' times counted per hour.
fn assert_series(series: &Value, times: &[DateTime<Utc>], label: &str) {
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 48, "{label}");
    let hours: Vec<DateTime<Utc>> = series
        .iter()
        .map(|h| h["hour"].as_str().unwrap().parse().unwrap())
        .collect();
    for pair in hours.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            Duration::hours(1),
            "{label}: consecutive hours"
        );
    }
    let now = hour_of(Utc::now());
    assert!(
        hours[47] == now || hours[47] == now - Duration::hours(1),
        "{label}"
    );
    let mut expected: HashMap<DateTime<Utc>, i64> = HashMap::new();
    for t in times.iter().filter(|t| **t >= hours[0]) {
        *expected.entry(hour_of(*t)).or_default() += 1;
    }
    for (hour, entry) in hours.iter().zip(series) {
        let want = expected.get(hour).copied().unwrap_or(0);
        assert_eq!(entry["count"], want, "{label} at {hour}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn stats_add_up_on_a_seeded_database(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await; // Bogotá
    let (ana, ana_t) = app.player("Ana", "Cali").await;
    let (bob, bob_t) = app.player("Bob", "CALI").await;
    let (_, cid_t) = app.player("Cid", "Medellín").await;
    let (_, dan_t) = app.player("Dan", "Pasto").await;

    let ana1 = seed_public_video(&db, ana, "a1").await;
    let ana2 = seed_public_video(&db, ana, "a2").await;
    let bob1 = seed_public_video(&db, bob, "b1").await;
    for status in ["uploaded", "uploaded", "processing", "processed", "failed"] {
        seed_video(&db, bob, status).await;
    }
    let hidden = seed_public_video(&db, bob, "hidden").await;
    for (video, fans) in [
        (ana1, vec![&bob_t, &cid_t, &dan_t]),
        (ana2, vec![&cid_t]),
        (bob1, vec![&ana_t, &dan_t]),
        (hidden, vec![&cid_t]),
    ] {
        for fan in fans {
            vote(&app, video, fan).await;
        }
    }
    sqlx::query(
        "UPDATE videos SET status = 'hidden', hidden_from = 'public', hidden_reason = 'test',
                           hidden_at = now()
          WHERE id = $1",
    )
    .bind(hidden)
    .execute(&db)
    .await
    .unwrap();
    // Spread over time: an upload 5 hours ago, one 60 hours ago (out of the series),
    // a vote 3 hours ago, one 50 hours ago, and one that does not count.
    for (id, ago) in [(ana2, 5), (bob1, 60)] {
        sqlx::query(
            "UPDATE videos SET uploaded_at = now() - make_interval(hours => $2) WHERE id = $1",
        )
        .bind(id)
        .bind(ago)
        .execute(&db)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE votes SET created_at = now() - interval '3 hours' WHERE video_id = $1")
        .bind(bob1)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE votes SET created_at = now() - interval '50 hours' WHERE video_id = $1")
        .bind(ana2)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE votes SET counted = false WHERE video_id = $1")
        .bind(hidden)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE videos SET views_count = $2 WHERE id = $1")
        .bind(ana1)
        .bind(40_i64)
        .execute(&db)
        .await
        .unwrap();
    view(&app, bob1, None, None).await;

    let r = app.get("/api/admin/stats", Some(&organizer)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let s = body(r).await;
    assert_eq!(s["players"], 5);
    assert_eq!(
        s["videos"],
        serde_json::json!({"uploaded": 2, "processing": 1, "processed": 1, "public": 3,
                           "failed": 1, "hidden": 1})
    );
    assert_eq!(
        s["votes"], 6,
        "the hidden video's uncounted vote is left out"
    );
    assert_eq!(s["views"], 41);

    let uploads: Vec<DateTime<Utc>> = sqlx::query_scalar("SELECT uploaded_at FROM videos")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(uploads.len(), 9);
    assert_series(&s["uploads_per_hour"], &uploads, "uploads");
    let total: i64 = s["uploads_per_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 8, "the upload of 60 hours ago is out of the series");
    let votes: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT created_at FROM votes WHERE counted")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_series(&s["votes_per_hour"], &votes, "votes");

    // Cali (Ana + Bob, any case): 4 votes on Ana's public videos, 2 on Bob's; the hidden
    // video's vote is not in the rankings.
    let cities: Vec<(String, i64, i64)> = s["top_cities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["city"].as_str().unwrap().to_lowercase(),
                c["players"].as_i64().unwrap(),
                c["votes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cities,
        [
            ("cali".to_owned(), 2, 6),
            ("bogotá".to_owned(), 1, 0),
            ("medellín".to_owned(), 1, 0),
            ("pasto".to_owned(), 1, 0),
        ]
    );
}

/// PostgreSQL crashed while fans watch: views sent while it is down are `503` with the
/// JSON error body, never `204`; once it is back, views count again with nobody touching
/// the service, and every `204` is a counted view.
#[tokio::test]
async fn views_while_postgres_is_down_are_503_and_count_again_after() {
    let mut pg = PrivatePostgres::start();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect(&pg.url())
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    let app = TestApp::spawn_with(pool.clone(), |c| {
        c.limits.enabled = false;
        c.limits.trusted_proxies = vec!["127.0.0.1".parse::<Cidr>().unwrap()];
    })
    .await;
    let (ana, _) = app.player("Ana", "Cali").await;
    let clip = seed_public_video(&pool, ana, "Rabona").await;
    let mut counted = 0;
    for i in 0..20 {
        let from = format!("198.51.100.{i}");
        assert_eq!(
            view(&app, clip, None, Some(&from)).await,
            StatusCode::NO_CONTENT
        );
        counted += 1;
    }

    pg.stop();
    for i in 20..24 {
        let r = app
            .client
            .post(app.url(&format!("/api/public/videos/{clip}/view")))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(body(r).await["code"], "service-unavailable");
    }

    pg.spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut after = 0;
    for i in 24..250 {
        let status = view(&app, clip, None, Some(&format!("198.51.100.{i}"))).await;
        match status {
            StatusCode::NO_CONTENT => {
                counted += 1;
                after += 1;
                if after == 5 {
                    break;
                }
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "views never counted again"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(after, 5);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM video_views WHERE video_id = $1")
        .bind(clip)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((views_count(&pool, clip).await, rows), (counted, counted));
}
