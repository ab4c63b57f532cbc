//! Rounds and results: the competition's dates (`/api/admin/competition`,
//! `/api/public/competition`), uploads and votes refused once they close, reopening, the
//! audit of every change, and the CSV of the standings against the public ranking.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, body, seed_public_video};

async fn put_competition(app: &TestApp, token: &str, dates: &Value) -> Response {
    app.client
        .put(app.url("/api/admin/competition"))
        .bearer_auth(token)
        .json(dates)
        .send()
        .await
        .unwrap()
}

/// Sets both dates; `None` opens.
async fn set_dates(
    app: &TestApp,
    token: &str,
    uploads: Option<DateTime<Utc>>,
    voting: Option<DateTime<Utc>>,
) -> Value {
    let r = put_competition(
        app,
        token,
        &json!({"uploads_close_at": uploads, "voting_close_at": voting}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

async fn count(db: &PgPool, table: &'static str) -> i64 {
    let sql = match table {
        "votes" => "SELECT count(*) FROM votes",
        "audit_log" => "SELECT count(*) FROM audit_log",
        "resumable_uploads" => "SELECT count(*) FROM resumable_uploads",
        other => panic!("no count query for {other}"),
    };
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

async fn assert_code(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(body(r).await["code"], code);
}

async fn start_upload(app: &TestApp, token: &str) -> Response {
    app.post_json(
        "/api/videos/uploads",
        &json!({"title": "late clip", "filename": "clip.mp4", "size": 1000, "content_type": "video/mp4"}),
        Some(token),
    )
    .await
}

fn date(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().map(|s| s.parse().unwrap())
}

#[sqlx::test(migrations = "../../migrations")]
async fn closed_uploads_refuse_both_routes_before_the_body_and_reopen(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await;
    let (_, player) = app.player("Pia", "Cali").await;
    // Started while uploads are open: its completion comes after the close.
    let r = start_upload(&app, &player).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let early = body(r).await["upload_id"].as_str().unwrap().to_owned();

    let closed = set_dates(
        &app,
        &organizer,
        Some(Utc::now() - Duration::minutes(1)),
        None,
    )
    .await;
    assert_eq!(closed["uploads_open"], false);
    assert_eq!(closed["voting_open"], true);

    let r = app
        .upload_bytes(&player, vec![0u8; 64 * 1024], Some("late"))
        .await;
    assert_code(r, StatusCode::FORBIDDEN, "uploads-closed").await;
    // Refused before the body is looked at: not even its content type.
    let r = app
        .client
        .post(app.url("/api/videos/upload"))
        .bearer_auth(&player)
        .header("content-type", "text/plain")
        .body("not a form")
        .send()
        .await
        .unwrap();
    assert_code(r, StatusCode::FORBIDDEN, "uploads-closed").await;
    let r = start_upload(&app, &player).await;
    assert_code(r, StatusCode::FORBIDDEN, "uploads-closed").await;
    let r = app
        .post_json(
            &format!("/api/videos/uploads/{early}/complete"),
            &json!({"parts": [{"part_number": 1, "etag": "x"}]}),
            Some(&player),
        )
        .await;
    assert_code(r, StatusCode::FORBIDDEN, "uploads-closed").await;
    // Still 401 without a token, before anything else.
    let r = app
        .client
        .post(app.url("/api/videos/uploads"))
        .json(&json!({"title": "t", "filename": "a.mp4", "size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.video_rows().await, 0);
    assert_eq!(
        count(&db, "resumable_uploads").await,
        1,
        "only the early one"
    );
    assert_eq!(app.objects("uploaded/").await, 0);
    assert_eq!(app.queued().await, 0);
    let spool = std::fs::read_dir(&app.state.config.media.temp_dir).unwrap();
    assert_eq!(spool.count(), 0, "nothing spooled");

    // A date in the future reopens; so does null.
    let open = set_dates(
        &app,
        &organizer,
        Some(Utc::now() + Duration::hours(1)),
        None,
    )
    .await;
    assert_eq!(open["uploads_open"], true);
    assert_eq!(
        start_upload(&app, &player).await.status(),
        StatusCode::CREATED
    );
    set_dates(
        &app,
        &organizer,
        Some(Utc::now() - Duration::seconds(1)),
        None,
    )
    .await;
    assert_code(
        start_upload(&app, &player).await,
        StatusCode::FORBIDDEN,
        "uploads-closed",
    )
    .await;
    set_dates(&app, &organizer, None, None).await;
    // The classic route reads the body again: these bytes are no MP4.
    let r = app
        .upload_bytes(&player, vec![0u8; 1024], Some("open"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .post_json(
            &format!("/api/videos/uploads/{early}/complete"),
            &json!({"parts": [{"part_number": 1, "etag": "x"}]}),
            Some(&player),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the early upload is still there"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn closed_voting_refuses_votes_and_reopening_counts_them(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await;
    let (owner, _) = app.player("Otto", "Cali").await;
    let (_, fan) = app.player("Fan", "Cali").await;
    let video = seed_public_video(&db, owner, "clip").await;
    let path = format!("/api/public/videos/{video}/vote");
    let vote = || app.post(&path, &fan);

    let closed = set_dates(
        &app,
        &organizer,
        None,
        Some(Utc::now() - Duration::minutes(5)),
    )
    .await;
    assert_eq!(closed["voting_open"], false);
    assert_eq!(closed["uploads_open"], true);
    assert_code(vote().await, StatusCode::FORBIDDEN, "voting-closed").await;
    assert_eq!(count(&db, "votes").await, 0);
    let public = body(app.get("/api/public/competition", None).await).await;
    assert_eq!(public["voting_open"], false);

    set_dates(&app, &organizer, None, Some(Utc::now() + Duration::days(1))).await;
    assert_eq!(vote().await.status(), StatusCode::OK);
    assert_eq!(count(&db, "votes").await, 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn everyone_can_read_the_dates(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_, organizer) = app.organizer().await;
    let c = body(app.get("/api/public/competition", None).await).await;
    assert_eq!(
        c,
        json!({"uploads_close_at": null, "voting_close_at": null,
               "uploads_open": true, "voting_open": true})
    );

    let uploads: DateTime<Utc> = "2031-05-01T12:00:00+02:00".parse().unwrap();
    let r = put_competition(
        &app,
        &organizer,
        &json!({"uploads_close_at": "2031-05-01T12:00:00+02:00",
                "voting_close_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let c = body(app.get("/api/public/competition", None).await).await;
    assert_eq!(date(&c["uploads_close_at"]), Some(uploads));
    assert_eq!(
        date(&c["voting_close_at"]),
        Some("2020-01-01T00:00:00Z".parse().unwrap())
    );
    assert_eq!(c["uploads_open"], true);
    assert_eq!(c["voting_open"], false);
    let admin = body(app.get("/api/admin/competition", Some(&organizer)).await).await;
    assert_eq!(admin, c);
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_dates_are_422_and_every_change_is_audited(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (organizer_id, organizer) = app.organizer().await;
    for bad in [
        json!({"uploads_close_at": "tomorrow", "voting_close_at": null}),
        json!({"uploads_close_at": null, "voting_close_at": "2026-13-01T00:00:00Z"}),
        json!({"uploads_close_at": "2026-12-20T10:00:00", "voting_close_at": null}),
        json!({"uploads_close_at": 5, "voting_close_at": null}),
        json!({"uploads_close_at": null}),
        json!({"uploads_close_at": format!("2026-12-20T10:00:00.{}Z", "1".repeat(80)), "voting_close_at": null}),
    ] {
        let r = put_competition(&app, &organizer, &bad).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(
        count(&db, "audit_log").await,
        0,
        "a refused change is no action"
    );

    let first: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    let second: DateTime<Utc> = "2030-02-01T00:00:00Z".parse().unwrap();
    set_dates(&app, &organizer, Some(first), None).await;
    set_dates(&app, &organizer, Some(second), Some(second)).await;

    let log = body(app.get("/api/admin/audit", Some(&organizer)).await).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    let (latest, earliest) = (&log[0], &log[1]);
    for entry in [latest, earliest] {
        assert_eq!(entry["action"], "set-competition");
        assert_eq!(entry["target_type"], "competition");
        assert_eq!(entry["actor_id"], organizer_id);
        assert_eq!(entry["actor_email"], "organizer@example.com");
    }
    let details = &earliest["details"];
    assert_eq!(details["before"]["uploads_close_at"], Value::Null);
    assert_eq!(date(&details["after"]["uploads_close_at"]), Some(first));
    let details = &latest["details"];
    assert_eq!(date(&details["before"]["uploads_close_at"]), Some(first));
    assert_eq!(details["before"]["voting_close_at"], Value::Null);
    assert_eq!(date(&details["after"]["uploads_close_at"]), Some(second));
    assert_eq!(date(&details["after"]["voting_close_at"]), Some(second));
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        row.is_empty() && field.is_empty(),
        "the last record lacks its CRLF"
    );
    rows
}

async fn csv(app: &TestApp, token: &str, query: &str) -> Vec<Vec<String>> {
    let r = app
        .get(&format!("/api/admin/rankings.csv{query}"), Some(token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(
        rows[0],
        [
            "position",
            "player",
            "email",
            "city",
            "votes",
            "public_videos"
        ]
    );
    rows[1..].to_vec()
}

async fn set_votes(db: &PgPool, video: i64, votes: i32) {
    sqlx::query("UPDATE videos SET votes_count = $2 WHERE id = $1")
        .bind(video)
        .bind(votes)
        .execute(db)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_csv_is_the_public_ranking_row_for_row(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (_, organizer) = app.organizer().await;
    // (first, last, city, votes per public video)
    let players: [(&str, &str, &str, &[i32]); 7] = [
        ("Ana", "O\"Neil, Jr", "Cali", &[5, 2]),
        ("=HYPERLINK(\"x\")", "Tester", "Cali", &[7]),
        ("Bea", "Tie", "Bogotá", &[7]),
        ("Cid", "Tie", "bogotá", &[3, 4]),
        ("Dan", "Zero", "Medellín", &[0]),
        ("Eve", "Hidden", "Cali", &[]),
        ("+Gus", "@home", "-Pasto", &[1]),
    ];
    let mut emails = std::collections::HashMap::new();
    for (i, (first, last, city, votes)) in players.iter().enumerate() {
        let email = format!("p{i}@example.com");
        let id = app.signup(first, last, &email, city).await;
        emails.insert(format!("{first} {last}"), (email, votes.len()));
        for v in votes.iter() {
            let video = seed_public_video(&db, id, "clip").await;
            set_votes(&db, video, *v).await;
        }
    }

    for query in [
        "",
        "?city=cali",
        "?city=BOGOTÁ",
        "?city=-Pasto",
        "?city=Nowhere",
    ] {
        let rows = csv(&app, &organizer, query).await;
        let page = body(
            app.get(
                &format!("/api/public/rankings?limit=100{}", query.replace('?', "&")),
                None,
            )
            .await,
        )
        .await;
        let page = page.as_array().unwrap();
        assert_eq!(rows.len(), page.len(), "{query}");
        for (row, public) in rows.iter().zip(page) {
            assert_eq!(row[0], public["position"].to_string(), "{query}");
            let name = public["username"].as_str().unwrap();
            let (email, videos) = &emails[name];
            let spreadsheet_safe = |s: &str| {
                if s.starts_with(['=', '+', '-', '@']) {
                    format!("'{s}")
                } else {
                    s.to_owned()
                }
            };
            assert_eq!(row[1], spreadsheet_safe(name), "{query}");
            assert_eq!(&row[2], email);
            assert_eq!(row[3], spreadsheet_safe(public["city"].as_str().unwrap()));
            assert_eq!(row[4], public["votes"].to_string());
            assert_eq!(row[5], videos.to_string());
        }
    }
    let all = csv(&app, &organizer, "").await;
    assert_eq!(
        all.len(),
        6,
        "every player with a public video, none without"
    );
    // 7 votes each: the earlier sign-up first, as in the public ranking.
    assert_eq!(all[0][1], "Ana O\"Neil, Jr");
    assert_eq!(all[1][1], "'=HYPERLINK(\"x\") Tester");
    assert_eq!(all[2][1], "Bea Tie");
    assert_eq!(all[3][1], "Cid Tie");
    assert_eq!(all[5][1], "Dan Zero");
    let bogota = csv(&app, &organizer, "?city=bogotá").await;
    assert_eq!(bogota.len(), 2);
    assert_eq!(bogota[1][0], "2");

    let r = app
        .get("/api/admin/rankings.csv?city=%01", Some(&organizer))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
