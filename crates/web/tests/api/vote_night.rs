//! Vote night: floods of votes, and the servers under them failing mid-flood.
//!
//! Black-box over HTTP and the database, so the same tests hold whatever the vote path
//! does inside (one transaction per vote, or batches): a `200` is a stored vote, one
//! row per player and video, duplicates `400`, a dead database `503` and never a false
//! `200`, and afterwards every counter equals a recount from the rows.

use std::{
    collections::{BTreeSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use skillreel_shared::{db, testing::servers::PrivatePostgres};
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::{sync::Notify, time::Instant};

use crate::{
    flood::{
        Answer, Ballot, Player, by_pair, flood_client, insert_crowd, rankings, rankings_catch_up,
        recount_matches, resend_all, send_all, shuffled, signer, stored, vote,
    },
    helpers::{TestApp, WebProcess, seed_public_video, seed_video},
};

/// Seeds `per_owner[i]` public videos for `owners[i]`; `(owner id, video id)` each.
async fn public_videos(db: &PgPool, owners: &[Player], per_owner: &[usize]) -> Vec<(i64, i64)> {
    let mut videos = Vec::new();
    for (owner, n) in owners.iter().zip(per_owner) {
        for i in 0..*n {
            let id = seed_public_video(db, owner.id, &format!("{} clip {i}", owner.name)).await;
            videos.push((owner.id, id));
        }
    }
    videos
}

/// Every fan's ballot for every video.
fn every_pair(fans: &[Player], videos: &[(i64, i64)]) -> Vec<Ballot> {
    fans.iter()
        .flat_map(|f| videos.iter().map(|(_, v)| Ballot::new(f, *v)))
        .collect()
}

#[sqlx::test(migrations = "../../migrations")]
async fn concurrent_floods_with_duplicates_store_each_pair_once(db: PgPool) {
    let app = TestApp::spawn_with(db.clone(), |c| c.limits.enabled = false).await;
    let owners = insert_crowd(&db, &app.state.tokens, "Owner", 4).await;
    let fans = insert_crowd(&db, &app.state.tokens, "Fan", 40).await;
    // The first owner is the favourite: three of the ten videos, and every fan votes
    // for each of them, so every one of those votes touches the same player row.
    let public = public_videos(&db, &owners, &[3, 3, 2, 2]).await;
    let favourite = owners[0].id;
    let hidden = seed_video(&db, owners[3].id, "processed").await;
    let missing = hidden + 1000;

    let mut once = Vec::new();
    let mut own = Vec::new();
    let mut not_found = Vec::new();
    for (i, fan) in fans.iter().enumerate() {
        for (j, (owner, video)) in public.iter().enumerate() {
            if *owner == favourite || (i + j) % 3 != 0 {
                once.push(Ballot::new(fan, *video));
            }
        }
        not_found.push(Ballot::new(fan, hidden));
    }
    for owner in &owners {
        for (owner_id, video) in &public {
            let ballot = Ballot::new(owner, *video);
            if *owner_id == owner.id {
                own.push(ballot);
            } else {
                once.push(ballot);
            }
        }
        not_found.push(Ballot::new(owner, hidden));
        not_found.push(Ballot::new(owner, missing));
    }
    // Every ballot two or three times, all mixed, 64 in flight.
    let attempts: Vec<Ballot> = once
        .iter()
        .chain(&own)
        .chain(&not_found)
        .enumerate()
        .flat_map(|(k, b)| std::iter::repeat_n(b.clone(), 2 + k % 2))
        .collect();
    let sent = attempts.len();
    // The ranking is read before and throughout, so its cached answers must give way.
    let unvoted = rankings(&app.client, &app.base).await;
    assert_eq!(unvoted.len(), owners.len());
    assert!(unvoted.iter().all(|(_, votes)| *votes == 0), "{unvoted:?}");
    let flooding = Arc::new(AtomicBool::new(true));
    let reader = tokio::spawn({
        let (client, base, flooding) = (app.client.clone(), app.base.clone(), flooding.clone());
        async move {
            while flooding.load(Ordering::SeqCst) {
                rankings(&client, &base).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let answers = send_all(&app.client, &app.base, shuffled(attempts), 64).await;
    flooding.store(false, Ordering::SeqCst);
    reader.await.unwrap();
    assert_eq!(answers.len(), sent);
    let answers = by_pair(&answers);

    let already = Answer::refused(400, "already-voted");
    for ballot in &once {
        let got = &answers[&ballot.key()];
        let stored = got.iter().filter(|a| **a == Answer::Stored).count();
        assert_eq!(stored, 1, "{ballot:?}: {got:?}");
        assert!(
            got.iter().all(|a| *a == Answer::Stored || *a == already),
            "{ballot:?}: {got:?}"
        );
    }
    for (ballots, expected) in [
        (&own, Answer::refused(403, "forbidden")),
        (&not_found, Answer::refused(404, "not-found")),
    ] {
        for ballot in ballots {
            let got = &answers[&ballot.key()];
            assert!(got.iter().all(|a| *a == expected), "{ballot:?}: {got:?}");
        }
    }
    let eligible: BTreeSet<_> = once.iter().map(Ballot::key).collect();
    assert_eq!(stored(&db).await, eligible, "exactly the eligible pairs");
    recount_matches(&db).await;
    rankings_catch_up(&app.client, &app.base, &db).await;
}

/// `200`s after which the web instance is killed.
const KILL_AFTER: usize = 300;

#[sqlx::test(migrations = "../../migrations")]
async fn a_web_instance_killed_mid_flood_loses_no_acknowledged_vote(db: PgPool) {
    let tokens = signer();
    let owners = insert_crowd(&db, &tokens, "Star", 5).await;
    let fans = insert_crowd(&db, &tokens, "Fan", 60).await;
    let videos = public_videos(&db, &owners, &[4; 5]).await;
    let ballots = shuffled(every_pair(&fans, &videos));
    let mut web = WebProcess::spawn(&db, &[("RATE_LIMITS", "off")]).await;
    let base = format!("http://{}", web.addr);
    let client = flood_client();

    // 48 in flight; once KILL_AFTER votes are acknowledged the process gets SIGKILL,
    // and ballots not yet sent by then stay unsent.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let killed = Arc::new(AtomicBool::new(false));
    let flood = tokio::spawn({
        let (ballots, base, client) = (ballots.clone(), base.clone(), client.clone());
        let (acknowledged, enough, killed) = (acknowledged.clone(), enough.clone(), killed.clone());
        async move {
            futures::stream::iter(ballots)
                .map(|b| {
                    let (acknowledged, enough, killed) = (&acknowledged, &enough, &killed);
                    let (client, base) = (&client, &base);
                    async move {
                        if killed.load(Ordering::SeqCst) {
                            return (b, None);
                        }
                        let answer = vote(client, base, &b).await;
                        if answer == Answer::Stored
                            && acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER
                        {
                            enough.notify_one();
                        }
                        (b, Some(answer))
                    }
                })
                .buffer_unordered(48)
                .collect::<Vec<_>>()
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("the flood never reached the kill point");
    web.child.start_kill().unwrap();
    web.child.wait().await.unwrap();
    killed.store(true, Ordering::SeqCst);
    let answers = flood.await.unwrap();

    let refused: Vec<_> = answers
        .iter()
        .filter(|(_, a)| matches!(a, Some(Answer::Refused(..))))
        .collect();
    assert!(refused.is_empty(), "first votes refused: {refused:?}");
    let acked: BTreeSet<_> = answers
        .iter()
        .filter(|(_, a)| *a == Some(Answer::Stored))
        .map(|(b, _)| b.key())
        .collect();
    let attempted: BTreeSet<_> = answers
        .iter()
        .filter(|(_, a)| a.is_some())
        .map(|(b, _)| b.key())
        .collect();
    let lost = answers
        .iter()
        .filter(|(_, a)| *a == Some(Answer::Lost))
        .count();
    assert!(acked.len() >= KILL_AFTER);
    assert!(lost > 0, "no request was cut by the kill");
    let rows = stored(&db).await;
    let missing: Vec<_> = acked.difference(&rows).collect();
    assert!(missing.is_empty(), "acknowledged, not stored: {missing:?}");
    // A vote whose answer the kill cut off may be stored; one never sent may not.
    let unsent: Vec<_> = rows.difference(&attempted).collect();
    assert!(unsent.is_empty(), "stored, never sent: {unsent:?}");
    recount_matches(&db).await;

    // Another instance on the same database: every ballot once more.
    let web = WebProcess::spawn(&db, &[("RATE_LIMITS", "off")]).await;
    let base = format!("http://{}", web.addr);
    rankings(&client, &base).await;
    resend_all(&client, &base, &db, &ballots).await;
    recount_matches(&db).await;
    rankings_catch_up(&client, &base, &db).await;
}

/// One attempt of the PostgreSQL outage flood.
#[derive(Debug)]
struct Attempt {
    key: (i64, i64),
    started: Instant,
    finished: Instant,
    answer: Answer,
}

/// Votes from `workers` tasks until every ballot is answered `200` or
/// `400 already-voted`; any other answer puts the ballot back at the end of the queue,
/// as a client would retry it. Every attempt is recorded; `acknowledged` counts `200`s.
fn flood_until_answered(
    base: &str,
    ballots: Vec<Ballot>,
    workers: usize,
    acknowledged: &Arc<AtomicUsize>,
) -> (Vec<tokio::task::JoinHandle<()>>, Arc<Mutex<Vec<Attempt>>>) {
    let client = flood_client();
    let unanswered = Arc::new(AtomicUsize::new(ballots.len()));
    let queue = Arc::new(Mutex::new(VecDeque::from(ballots)));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let handles = (0..workers)
        .map(|_| {
            let (client, base) = (client.clone(), base.to_owned());
            let (queue, unanswered) = (queue.clone(), unanswered.clone());
            let (attempts, acknowledged) = (attempts.clone(), acknowledged.clone());
            tokio::spawn(async move {
                while unanswered.load(Ordering::SeqCst) > 0 {
                    let next = queue.lock().unwrap().pop_front();
                    let Some(ballot) = next else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let started = Instant::now();
                    let answer = vote(&client, &base, &ballot).await;
                    let finished = Instant::now();
                    let answered =
                        answer == Answer::Stored || answer == Answer::refused(400, "already-voted");
                    if answer == Answer::Stored {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                    attempts.lock().unwrap().push(Attempt {
                        key: ballot.key(),
                        started,
                        finished,
                        answer,
                    });
                    if answered {
                        unanswered.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        queue.lock().unwrap().push_back(ballot);
                    }
                }
            })
        })
        .collect();
    (handles, attempts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_flood_never_answers_a_false_200() {
    let mut pg = PrivatePostgres::start();
    // Requests give up waiting for a connection after 2 s: the outage below is 3 s.
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&pg.url())
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    let app = TestApp::spawn_with(pool.clone(), |c| c.limits.enabled = false).await;
    let owners = insert_crowd(&pool, &app.state.tokens, "Star", 4).await;
    let fans = insert_crowd(&pool, &app.state.tokens, "Fan", 30).await;
    let videos = public_videos(&pool, &owners, &[5; 4]).await;
    let ballots = shuffled(every_pair(&fans, &videos));
    rankings(&app.client, &app.base).await;

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let (workers, attempts) = flood_until_answered(&app.base, ballots.clone(), 48, &acknowledged);
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "the flood never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::block_in_place(|| pg.stop());
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarting = Instant::now();
    tokio::task::block_in_place(|| pg.spawn());
    // Nobody touches the service: the pool finds the server again by itself.
    tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(workers))
        .await
        .expect("votes did not succeed again after PostgreSQL came back");

    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let unavailable = Answer::refused(503, "service-unavailable");
    // Sent after the server died and answered before it was back: nothing can have
    // been stored, so the only honest answer is 503.
    let while_down: Vec<_> = attempts
        .iter()
        .filter(|a| a.started >= stopped && a.finished <= restarting)
        .collect();
    assert!(
        !while_down.is_empty(),
        "no vote was answered during the outage"
    );
    for a in &while_down {
        assert_eq!(a.answer, unavailable, "while PostgreSQL was down: {a:?}");
    }
    let already = Answer::refused(400, "already-voted");
    for a in &attempts {
        assert!(
            a.answer == Answer::Stored || a.answer == already || a.answer == unavailable,
            "{a:?}"
        );
    }
    // Per pair: one 200 at most; a 400 only after an attempt whose answer was lost
    // (its vote was stored, the crash took the answer).
    let mut per_pair: std::collections::BTreeMap<_, Vec<&Attempt>> = Default::default();
    for a in &attempts {
        per_pair.entry(a.key).or_default().push(a);
    }
    for (key, tries) in &per_pair {
        let acks = tries.iter().filter(|a| a.answer == Answer::Stored).count();
        assert!(acks <= 1, "{key:?}: {tries:?}");
        assert_ne!(
            tries[0].answer, already,
            "{key:?} was stored before it was sent"
        );
    }
    let acked: BTreeSet<_> = attempts
        .iter()
        .filter(|a| a.answer == Answer::Stored)
        .map(|a| a.key)
        .collect();
    let rows = stored(&pool).await;
    let missing: Vec<_> = acked.difference(&rows).collect();
    assert!(missing.is_empty(), "acknowledged, not stored: {missing:?}");
    let all: BTreeSet<_> = ballots.iter().map(Ballot::key).collect();
    assert_eq!(rows, all);
    recount_matches(&pool).await;
    rankings_catch_up(&app.client, &app.base, &pool).await;
    assert!(
        attempts
            .iter()
            .any(|a| a.started >= restarting && a.answer == Answer::Stored),
        "no vote was stored after the restart"
    );
}
