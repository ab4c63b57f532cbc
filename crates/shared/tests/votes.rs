//! Votes in batches against a real PostgreSQL (`DATABASE_URL`; one database per test):
//! `cast_votes` answers every ballot of a batch and counts each pair once, concurrent
//! batches over one favourite player's videos neither deadlock nor lose a count, the
//! statement triggers keep the players' totals on every path, and the batcher groups a
//! flood into few batches while answering each vote from its own row. Views go through
//! the same group commit: a crowd is counted once per viewer with few batches, and view
//! batches of two instances and vote batches on the same videos neither deadlock nor
//! lose a count.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use skillreel_shared::{
    cache::PublicCache,
    config::{CacheConfig, VotesConfig},
    db::{
        views::{ViewOutcome, Viewer},
        votes::{self, VoteOutcome},
    },
    metrics::WebMetrics,
    views::ViewBatcher,
    votes::VoteBatcher,
};
use sqlx::PgPool;

async fn player(db: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO players (first_name, last_name, email, city, country, password_hash)
         VALUES ($1, 'Tester', $1 || '@example.com', 'Cali', 'Colombia', 'x') RETURNING id",
    )
    .bind(name)
    .fetch_one(db)
    .await
    .unwrap()
}

async fn video(db: &PgPool, owner: i64, status: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key, size_bytes,
                             source_duration_secs, source_width, source_height, processed_at, published_at)
         VALUES ($1, 'clip', $2, gen_random_uuid(), 'uploaded/' || gen_random_uuid(),
                 'processed/' || gen_random_uuid(), 1, 30, 1920, 1080, now(),
                 CASE WHEN $2 = 'public' THEN now() END) RETURNING id",
    )
    .bind(owner)
    .bind(status)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Every counter equals a recount from the rows: each video's `votes_count`, each
/// player's `public_votes` and `public_videos`.
async fn assert_counters_match_rows(db: &PgPool) {
    let videos: Vec<(i64, i32, i64)> = sqlx::query_as(
        "SELECT v.id, v.votes_count, (SELECT count(*) FROM votes WHERE video_id = v.id)
           FROM videos v ORDER BY v.id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (id, counted, rows) in videos {
        assert_eq!(i64::from(counted), rows, "video {id}");
    }
    let players: Vec<(i64, i64, i32, i64, i64)> = sqlx::query_as(
        "SELECT p.id, p.public_votes, p.public_videos,
                COALESCE((SELECT SUM(votes_count) FROM videos WHERE owner_id = p.id AND status = 'public'), 0)::BIGINT,
                (SELECT count(*) FROM videos WHERE owner_id = p.id AND status = 'public')
           FROM players p ORDER BY p.id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (id, votes, videos, recount_votes, recount_videos) in players {
        assert_eq!(
            (votes, i64::from(videos)),
            (recount_votes, recount_videos),
            "player {id}"
        );
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_batch_answers_every_ballot_and_counts_each_pair_once(db: PgPool) {
    let ana = player(&db, "ana").await;
    let bob = player(&db, "bob").await;
    let cy = player(&db, "cy").await;
    let public = video(&db, ana, "public").await;
    let other = video(&db, ana, "public").await;
    let hidden = video(&db, ana, "processed").await;
    let outcomes = votes::cast_batch(
        &db,
        &[
            (public, bob),
            (public, bob),
            (public, ana),
            (hidden, bob),
            (i64::MAX, bob),
            (other, i64::MAX),
            (other, cy),
            (public, cy),
        ],
    )
    .await
    .unwrap();
    use VoteOutcome::*;
    assert_eq!(
        outcomes,
        [
            Registered,
            AlreadyVoted,
            OwnVideo,
            NotFound,
            NotFound,
            UnknownPlayer,
            Registered,
            Registered
        ]
    );
    // A later batch meets the stored votes.
    let again = votes::cast_batch(&db, &[(other, cy), (other, bob)])
        .await
        .unwrap();
    assert_eq!(again, [AlreadyVoted, Registered]);
    let (public_votes, public_videos): (i64, i32) =
        sqlx::query_as("SELECT public_votes, public_videos FROM players WHERE id = $1")
            .bind(ana)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((public_votes, public_videos), (4, 2));
    assert_counters_match_rows(&db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn concurrent_batches_on_a_favourite_neither_deadlock_nor_lose_a_count(db: PgPool) {
    // One favourite owns 20 videos; 10 other owners one each. Batches overlap in pairs
    // (the same ballots sent by two writers) and in videos and owners, in shuffled order.
    let favourite = player(&db, "fav").await;
    let mut videos = Vec::new();
    for _ in 0..20 {
        videos.push(video(&db, favourite, "public").await);
    }
    for i in 0..10 {
        let owner = player(&db, &format!("owner{i}")).await;
        videos.push(video(&db, owner, "public").await);
    }
    let mut voters = Vec::new();
    for i in 0..60 {
        voters.push(player(&db, &format!("voter{i}")).await);
    }
    let pairs: Vec<(i64, i64)> = videos
        .iter()
        .flat_map(|v| voters.iter().map(move |p| (*v, *p)))
        .collect();
    // A fixed permutation per writer (a multiplicative stride), so every run is the same.
    let writers = 6;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let stride = [7, 11, 13, 17, 19, 23][w];
        let order: Vec<(i64, i64)> = (0..pairs.len())
            .map(|i| pairs[(i * stride + w * 31) % pairs.len()])
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut registered = Vec::new();
            for chunk in order.chunks(50) {
                // No retry here: a deadlock would fail the test.
                let outcomes = votes::cast_batch(&db, chunk).await.expect("batch written");
                for (ballot, outcome) in chunk.iter().zip(outcomes) {
                    assert!(
                        matches!(outcome, VoteOutcome::Registered | VoteOutcome::AlreadyVoted),
                        "{ballot:?}: {outcome:?}"
                    );
                    if outcome == VoteOutcome::Registered {
                        registered.push(*ballot);
                    }
                }
            }
            registered
        }));
    }
    let mut registered = Vec::new();
    for t in tasks {
        registered.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = registered.iter().copied().collect();
    assert_eq!(unique.len(), registered.len(), "a pair registered twice");
    assert_eq!(unique.len(), pairs.len(), "every pair registered once");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM votes")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows as usize, pairs.len());
    let favourite_votes: i64 = sqlx::query_scalar("SELECT public_votes FROM players WHERE id = $1")
        .bind(favourite)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(favourite_votes, 20 * 60);
    assert_counters_match_rows(&db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn statement_triggers_keep_the_totals_on_every_path(db: PgPool) {
    let ana = player(&db, "ana").await;
    let bob = player(&db, "bob").await;
    let voter = player(&db, "voter").await;
    // A bulk load: several rows of two owners in one statement, some public.
    sqlx::query(
        "INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key, size_bytes,
                             source_duration_secs, source_width, source_height, processed_at,
                             published_at, votes_count)
         SELECT o, 'bulk', s, gen_random_uuid(), 'uploaded/' || gen_random_uuid(),
                'processed/' || gen_random_uuid(), 1, 30, 1920, 1080, now(),
                CASE WHEN s = 'public' THEN now() END, n
           FROM (VALUES ($1::BIGINT, 'public', 3), ($1, 'public', 4), ($1, 'processed', 0),
                        ($2, 'public', 5)) t(o, s, n)",
    )
    .bind(ana)
    .bind(bob)
    .execute(&db)
    .await
    .unwrap();
    assert_counters_match_rows_except_votes(&db).await;
    let ana_public: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM videos WHERE owner_id = $1 AND status = 'public' ORDER BY id",
    )
    .bind(ana)
    .fetch_all(&db)
    .await
    .unwrap();
    // A vote batch, a status change of several rows at once, an owner change, a delete.
    votes::cast_batch(&db, &[(ana_public[0], voter), (ana_public[1], voter)])
        .await
        .unwrap();
    for sql in [
        "UPDATE videos SET status = 'processed', published_at = NULL WHERE owner_id = $1 AND status = 'public'",
        "UPDATE videos SET status = 'public', published_at = now() WHERE owner_id = $1 AND status = 'processed'",
        "UPDATE videos SET progress = 10, updated_at = now() WHERE owner_id = $1",
        "UPDATE videos SET owner_id = $2 WHERE id = (SELECT min(id) FROM videos WHERE owner_id = $1)",
        "DELETE FROM videos WHERE id = (SELECT max(id) FROM videos WHERE owner_id = $1)",
    ] {
        sqlx::query(sql)
            .bind(ana)
            .bind(bob)
            .execute(&db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_counters_match_rows_except_votes(&db).await;
    }
    let totals: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT public_votes, public_videos FROM players WHERE id IN ($1, $2) ORDER BY id",
    )
    .bind(ana)
    .bind(bob)
    .fetch_all(&db)
    .await
    .unwrap();
    // Ana's first clip (3 + 1 votes) moved to Bob, her last (no votes) deleted: she keeps
    // the second (4 + 1).
    assert_eq!(totals, [(5, 1), (9, 2)]);
}

/// Like [`assert_counters_match_rows`] for the players' totals only: a bulk load sets
/// `votes_count` without vote rows.
async fn assert_counters_match_rows_except_votes(db: &PgPool) {
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM players p,
                LATERAL (SELECT COALESCE(SUM(votes_count), 0)::BIGINT AS votes, count(*) AS videos
                           FROM videos WHERE owner_id = p.id AND status = 'public') r
          WHERE p.public_votes <> r.votes OR p.public_videos <> r.videos",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "players whose totals differ from a recount");
}

async fn public_cache() -> PublicCache {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = redis::aio::ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .expect("Redis must be reachable for this test");
    PublicCache::new(
        conn,
        &format!("votetest-{}", uuid::Uuid::new_v4()),
        CacheConfig {
            local_ttl: Duration::from_secs(1),
            redis_ttl: Duration::from_secs(5),
            stale_ttl: Duration::from_secs(5),
            stale_after: Duration::from_millis(300),
        },
    )
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_batcher_groups_a_flood_and_answers_each_vote_from_its_row(db: PgPool) {
    let owner = player(&db, "owner").await;
    let clip = video(&db, owner, "public").await;
    let mut voters = Vec::new();
    for i in 0..200 {
        voters.push(player(&db, &format!("v{i}")).await);
    }
    let metrics = WebMetrics::default();
    let config = VotesConfig {
        batch_max: 64,
        in_flight: 1,
        refresh_every: Duration::from_millis(100),
    };
    let batcher = VoteBatcher::start(db.clone(), &config, public_cache().await, metrics.clone());
    // Every voter twice (the second is a duplicate), one vote for the owner's own clip.
    let mut tasks = Vec::new();
    for (i, voter) in voters
        .iter()
        .chain(voters.iter())
        .chain([&owner])
        .enumerate()
    {
        let (batcher, voter) = (batcher.clone(), *voter);
        tasks.push(tokio::spawn(async move {
            (i, batcher.cast(clip, voter).await.expect("a vote outcome"))
        }));
    }
    let outcomes: Vec<(usize, VoteOutcome)> = join_all(tasks).await;
    let registered = outcomes
        .iter()
        .filter(|(_, o)| *o == VoteOutcome::Registered)
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|(_, o)| *o == VoteOutcome::AlreadyVoted)
        .count();
    assert_eq!((registered, duplicates), (200, 200));
    assert_eq!(
        outcomes.iter().find(|(i, _)| *i == 400).map(|(_, o)| *o),
        Some(VoteOutcome::OwnVideo)
    );
    assert_counters_match_rows(&db).await;
    // 401 votes, at most 64 per batch and one batch at a time: far fewer batches than votes.
    let rendered = metrics.render();
    let batches: u64 = rendered
        .lines()
        .find_map(|l| l.strip_prefix("skillreel_http_vote_batch_size_count "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the batch-size histogram is exported");
    assert!(
        (7..200).contains(&batches),
        "{batches} batches for 401 votes"
    );
}

async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_vote_answered_registered_is_visible_to_every_reader_at_once(db: PgPool) {
    // Group commit answers after the commit: a reader on another connection sees the row.
    let owner = player(&db, "owner").await;
    let clip = video(&db, owner, "public").await;
    let voter = player(&db, "voter").await;
    let batcher = VoteBatcher::start(
        db.clone(),
        &VotesConfig::default(),
        public_cache().await,
        WebMetrics::default(),
    );
    let other = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*db.connect_options()).clone())
        .await
        .unwrap();
    assert_eq!(
        batcher.cast(clip, voter).await.unwrap(),
        VoteOutcome::Registered
    );
    let (rows, counted): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM votes WHERE video_id = $1), votes_count FROM videos WHERE id = $1",
    )
    .bind(clip)
    .fetch_one(&other)
    .await
    .unwrap();
    assert_eq!((rows, counted), (1, 1));
}

/// Viewer `i`: an account for the first hundred, then client addresses.
fn viewer(i: u32) -> Viewer {
    if i < 100 {
        Viewer::Player(i64::from(i) + 1)
    } else {
        Viewer::Address(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }
}

/// `views_count` and the dedup rows of `clip`.
async fn views_of(db: &PgPool, clip: i64) -> (i64, i64) {
    sqlx::query_as(
        "SELECT views_count::BIGINT, (SELECT count(*) FROM video_views WHERE video_id = $1)
           FROM videos WHERE id = $1",
    )
    .bind(clip)
    .fetch_one(db)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_view_batcher_counts_a_crowd_once_per_viewer_in_few_batches(db: PgPool) {
    let owner = player(&db, "owner").await;
    let clip = video(&db, owner, "public").await;
    let unpublished = video(&db, owner, "processed").await;
    let metrics = WebMetrics::default();
    let config = VotesConfig {
        batch_max: 64,
        in_flight: 1,
        refresh_every: Duration::from_millis(100),
    };
    let batcher = ViewBatcher::start(db.clone(), &config, metrics.clone());
    // 400 viewers, each twice, plus views of a video nobody may see and of no video.
    let mut tasks = Vec::new();
    for (video, i) in (0..400)
        .chain(0..400)
        .map(|i| (clip, i))
        .chain((0..5).map(|i| (unpublished, i)))
        .chain((0..5).map(|i| (i64::MAX, i)))
    {
        let batcher = batcher.clone();
        tasks.push(tokio::spawn(async move {
            batcher
                .record(video, viewer(i))
                .await
                .expect("a view outcome")
        }));
    }
    let outcomes = join_all(tasks).await;
    let count = |o: ViewOutcome| outcomes.iter().filter(|x| **x == o).count();
    assert_eq!(
        (
            count(ViewOutcome::Counted),
            count(ViewOutcome::AlreadyCounted),
            count(ViewOutcome::NotFound)
        ),
        (400, 400, 10)
    );
    assert_eq!(views_of(&db, clip).await, (400, 400));
    assert_eq!(views_of(&db, unpublished).await, (0, 0));
    let batches: u64 = metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("skillreel_http_view_batch_size_count "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the batch-size histogram is exported");
    assert!(
        (13..400).contains(&batches),
        "{batches} batches for 810 views"
    );
    // The same crowd again within the hour: nothing more is counted.
    for i in [0, 99, 100, 399] {
        assert_eq!(
            batcher.record(clip, viewer(i)).await.unwrap(),
            ViewOutcome::AlreadyCounted
        );
    }
    assert_eq!(views_of(&db, clip).await, (400, 400));
}

#[sqlx::test(migrations = "../../migrations")]
async fn view_batches_of_two_instances_and_vote_batches_share_videos_without_deadlock(db: PgPool) {
    let owner = player(&db, "owner").await;
    let mut clips = Vec::new();
    for _ in 0..5 {
        clips.push(video(&db, owner, "public").await);
    }
    let mut voters = Vec::new();
    for i in 0..40 {
        voters.push(player(&db, &format!("v{i}")).await);
    }
    let config = VotesConfig {
        batch_max: 32,
        in_flight: 2,
        refresh_every: Duration::from_millis(100),
    };
    let instances = [
        ViewBatcher::start(db.clone(), &config, WebMetrics::default()),
        ViewBatcher::start(db.clone(), &config, WebMetrics::default()),
    ];
    let votes = VoteBatcher::start(
        db.clone(),
        &config,
        public_cache().await,
        WebMetrics::default(),
    );
    // Each of 300 viewers watches every clip, the clips in an order of its own, through
    // one instance or the other; meanwhile 40 voters vote for every clip.
    let mut views = Vec::new();
    for i in 0..300u32 {
        let batcher = instances[i as usize % 2].clone();
        let mut order = clips.clone();
        order.rotate_left(i as usize % clips.len());
        if i % 3 == 0 {
            order.reverse();
        }
        views.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for clip in order {
                outcomes.push(batcher.record(clip, viewer(i)).await);
            }
            outcomes
        }));
    }
    let mut ballots = Vec::new();
    for (i, voter) in voters.iter().enumerate() {
        let (votes, voter, mut order) = (votes.clone(), *voter, clips.clone());
        order.rotate_left(i % clips.len());
        ballots.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for clip in order {
                outcomes.push(votes.cast(clip, voter).await);
            }
            outcomes
        }));
    }
    for outcomes in join_all(views).await {
        for outcome in outcomes {
            assert_eq!(outcome.expect("no view fails"), ViewOutcome::Counted);
        }
    }
    for outcomes in join_all(ballots).await {
        for outcome in outcomes {
            assert_eq!(outcome.expect("no vote fails"), VoteOutcome::Registered);
        }
    }
    for clip in clips {
        assert_eq!(views_of(&db, clip).await, (300, 300), "clip {clip}");
    }
    assert_counters_match_rows(&db).await;
}
