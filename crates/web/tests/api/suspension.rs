//! Suspensions through the API: the player refused, their videos hidden and their votes
//! uncounted, all restored when it is lifted, and a suspension in the middle of the
//! suspended player's vote flood.

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    flood::{Answer, Ballot, insert_crowd, recount_matches, send_all, shuffled, vote as cast},
    helpers::{TestApp, body, seed_public_video, seed_video},
    moderation::{admin_post, gallery, ranked, ranking, status_of, until, vote},
};

#[sqlx::test(migrations = "../../migrations")]
async fn a_suspension_refuses_the_player_hides_their_videos_and_uncounts_their_votes(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (organizer_id, organizer) = app.organizer().await;
    let email = "sid@example.com";
    let sid = app.signup("Sid", "Suspect", email, "Cali").await;
    let sid_token = app.login(email).await;
    let (rita, _) = app.player("Rita", "Cali").await;
    let (_, fan) = app.player("Fabio", "Cali").await;
    let sid_clip = seed_public_video(&db, sid, "sid clip").await;
    let sid_hidden_before = seed_public_video(&db, sid, "sid other clip").await;
    let sid_draft = seed_video(&db, sid, "processed").await;
    let rita_clips = [
        seed_public_video(&db, rita, "rita one").await,
        seed_public_video(&db, rita, "rita two").await,
    ];
    vote(&app, rita_clips[0], &sid_token).await;
    vote(&app, rita_clips[1], &sid_token).await;
    vote(&app, rita_clips[0], &fan).await;
    vote(&app, sid_clip, &fan).await;
    // Hidden one by one before the suspension: lifting it leaves this one hidden.
    let (status, _) = admin_post(
        &app,
        &format!("/api/admin/videos/{sid_hidden_before}/hide"),
        Some("copyright"),
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    until("Rita 3, Sid 1", || async {
        ranking(&app).await == ranked(&[("Rita Tester", 3), ("Sid Suspect", 1)])
    })
    .await;

    let suspend = format!("/api/admin/players/{sid}/suspend");
    let (status, suspended) = admin_post(&app, &suspend, Some("vote ring"), &organizer).await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    assert_eq!(suspended["id"], sid);
    assert_eq!(suspended["suspended"], true);
    assert_eq!(suspended["suspended_reason"], "vote ring");
    assert!(suspended["suspended_at"].is_string());
    assert_eq!(suspended["videos_affected"], 1);
    assert_eq!(suspended["votes_affected"], 2);

    // Refused at login and with the old token.
    let r = app
        .post_json(
            "/api/auth/login",
            &json!({"email": email, "password": "s3cret-pass"}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["code"], "account-suspended");
    let r = app.get("/api/videos", Some(&sid_token)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["code"], "account-suspended");

    // The votes Sid cast stop counting; Sid's public clip is hidden, the draft untouched.
    let counts: Vec<i32> =
        sqlx::query_scalar("SELECT votes_count FROM videos WHERE id = ANY($1) ORDER BY id")
            .bind(&rita_clips[..])
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(counts, [1, 0]);
    assert_eq!(status_of(&db, sid_clip).await, "hidden");
    assert_eq!(status_of(&db, sid_draft).await, "processed");
    until("Sid's clip gone, Rita's there", || async {
        let shown = gallery(&app).await;
        !shown.contains(&sid_clip) && rita_clips.iter().all(|c| shown.contains(c))
    })
    .await;
    until("Rita 1, Sid unranked", || async {
        ranking(&app).await == ranked(&[("Rita Tester", 1)])
    })
    .await;
    let queue = body(
        app.get("/api/admin/videos?status=hidden", Some(&organizer))
            .await,
    )
    .await;
    let clip = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == sid_clip)
        .unwrap();
    assert_eq!(clip["hidden_reason"], "owner suspended: vote ring");
    assert_eq!(clip["hidden_by_suspension"], true);
    assert_eq!(clip["owner"]["suspended"], true);
    recount_matches(&db).await;

    // What cannot be done meanwhile.
    for video in [sid_clip, sid_hidden_before] {
        let (status, error) = admin_post(
            &app,
            &format!("/api/admin/videos/{video}/restore"),
            None,
            &organizer,
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("owner-suspended"))
        );
    }
    let (status, error) = admin_post(&app, &suspend, Some("twice"), &organizer).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("already-suspended"))
    );
    let (status, error) = admin_post(
        &app,
        &format!("/api/admin/players/{organizer_id}/suspend"),
        Some("coup"),
        &organizer,
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("cannot-suspend-organizer"))
    );
    let nobody = rita + 1000;
    let (status, _) = admin_post(
        &app,
        &format!("/api/admin/players/{nobody}/suspend"),
        Some("x"),
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin_post(
        &app,
        &format!("/api/admin/players/{nobody}/unsuspend"),
        None,
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, error) = admin_post(
        &app,
        &format!("/api/admin/players/{rita}/unsuspend"),
        None,
        &organizer,
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::CONFLICT, Some("not-suspended"))
    );

    // Lifting it restores exactly what the suspension changed.
    let (status, lifted) = admin_post(
        &app,
        &format!("/api/admin/players/{sid}/unsuspend"),
        None,
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["suspended"], false);
    assert_eq!(lifted["suspended_at"], Value::Null);
    assert_eq!(lifted["videos_affected"], 1);
    assert_eq!(lifted["votes_affected"], 2);
    let r = app.get("/api/videos", Some(&sid_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.login(email).await;
    assert_eq!(status_of(&db, sid_clip).await, "public");
    assert_eq!(status_of(&db, sid_hidden_before).await, "hidden");
    until("Rita 3, Sid 1 again", || async {
        ranking(&app).await == ranked(&[("Rita Tester", 3), ("Sid Suspect", 1)])
    })
    .await;
    until("Sid's clip back", || async {
        gallery(&app).await.contains(&sid_clip)
    })
    .await;
    recount_matches(&db).await;
}

/// One player votes for many videos, many requests at once, while an organizer
/// suspends them (and other fans keep voting). Afterwards every counter equals the
/// recount of counted votes, none of the suspended player's votes counts, and the
/// suspension uncounted exactly the votes that were stored: none landed after it.
#[sqlx::test(migrations = "../../migrations")]
async fn a_suspension_in_the_middle_of_a_vote_flood_leaves_exact_counts(db: PgPool) {
    let app = TestApp::spawn_with(db.clone(), |c| c.limits.enabled = false).await;
    let (_, organizer) = app.organizer().await;
    let owners = insert_crowd(&db, &app.state.tokens, "Owner", 6).await;
    let fans = insert_crowd(&db, &app.state.tokens, "Fan", 6).await;
    let suspect = insert_crowd(&db, &app.state.tokens, "Suspect", 1)
        .await
        .remove(0);
    let mut videos = Vec::new();
    for owner in &owners {
        for i in 0..16 {
            videos.push(seed_public_video(&db, owner.id, &format!("{} {i}", owner.name)).await);
        }
    }
    let suspect_clip = seed_public_video(&db, suspect.id, "suspect clip").await;
    let fan_ballots: Vec<Ballot> = videos
        .iter()
        .chain([&suspect_clip])
        .flat_map(|v| fans.iter().map(|f| Ballot::new(f, *v)))
        .collect();
    let suspect_ballots: Vec<Ballot> =
        shuffled(videos.iter().map(|v| Ballot::new(&suspect, *v)).collect());

    let fans_flood = tokio::spawn({
        let (client, base) = (app.client.clone(), app.base.clone());
        async move { send_all(&client, &base, shuffled(fan_ballots), 16).await }
    });
    // The suspect's votes, 8 at a time; the suspension goes out at their third `200`.
    // The last `HELD_BACK` wait for the suspension's answer, so that some surely come
    // after it whatever the machine's speed; the others race with it.
    const HELD_BACK: usize = 16;
    let (third_vote, third_vote_in) = tokio::sync::oneshot::channel();
    let (suspension_done, suspension_seen) = tokio::sync::watch::channel(false);
    let suspect_flood = tokio::spawn({
        let (client, base) = (app.client.clone(), app.base.clone());
        let first = suspect_ballots.len() - HELD_BACK;
        async move {
            let mut third_vote = Some(third_vote);
            let mut answers = Vec::new();
            let mut stored = 0;
            let mut sending = futures::stream::iter(suspect_ballots.into_iter().enumerate())
                .map(|(i, b)| {
                    let (client, base) = (&client, &base);
                    let mut suspension_seen = suspension_seen.clone();
                    async move {
                        if i >= first {
                            suspension_seen.wait_for(|done| *done).await.unwrap();
                        }
                        let answer = cast(client, base, &b).await;
                        (b, answer)
                    }
                })
                .buffer_unordered(8);
            while let Some((ballot, answer)) = sending.next().await {
                if answer == Answer::Stored {
                    stored += 1;
                    if stored == 3
                        && let Some(signal) = third_vote.take()
                    {
                        signal.send(()).unwrap();
                    }
                }
                answers.push((ballot, answer));
            }
            answers
        }
    });
    third_vote_in.await.unwrap();
    let (status, suspended) = admin_post(
        &app,
        &format!("/api/admin/players/{}/suspend", suspect.id),
        Some("vote flood"),
        &organizer,
    )
    .await;
    suspension_done.send(true).unwrap();
    assert_eq!(status, StatusCode::OK, "{suspended}");
    let uncounted = suspended["votes_affected"].as_i64().unwrap();
    let suspect_answers = suspect_flood.await.unwrap();
    let fan_answers = fans_flood.await.unwrap();

    let refusal = Answer::refused(403, "account-suspended");
    let refused = suspect_answers
        .iter()
        .filter(|(_, a)| *a == refusal)
        .count();
    for (ballot, answer) in &suspect_answers {
        assert!(
            *answer == Answer::Stored || *answer == refusal,
            "{ballot:?}: {answer:?}"
        );
    }
    let not_found = Answer::refused(404, "not-found");
    for (ballot, answer) in &fan_answers {
        if ballot.video == suspect_clip {
            assert!(
                *answer == Answer::Stored || *answer == not_found,
                "{ballot:?}: {answer:?}"
            );
        } else {
            assert_eq!(*answer, Answer::Stored, "{ballot:?}");
        }
    }
    // The suspension came in the middle of the suspect's votes.
    assert!(
        uncounted >= 3 && refused >= HELD_BACK,
        "uncounted {uncounted}, refused {refused}"
    );
    let (stored, counted): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE counted) FROM votes WHERE player_id = $1",
    )
    .bind(suspect.id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((stored, counted), (uncounted, 0));
    assert_eq!(stored as usize + refused, videos.len());
    assert_eq!(status_of(&db, suspect_clip).await, "hidden");
    recount_matches(&db).await;

    let (status, lifted) = admin_post(
        &app,
        &format!("/api/admin/players/{}/unsuspend", suspect.id),
        None,
        &organizer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(lifted["votes_affected"], uncounted);
    assert_eq!(status_of(&db, suspect_clip).await, "public");
    recount_matches(&db).await;
}
