//! Runs the `skillreel-load votes` binary briefly against the real web service
//! (in-process on a free loopback port, over a per-test PostgreSQL database and the
//! real Redis under its own prefix, rate limits off as in a benchmark), then checks
//! its summary against what the plan implies and the database holds.

use std::time::Duration;

use reqwest::Url;
use skillreel_load::report::{self, Summary};
use skillreel_load::votes::{Removed, VotesStop, VotesSummary};
use skillreel_shared::config::{Config, StorageBackend};
use skillreel_shared::testing::{env_with_test_secret, test_secret};
use skillreel_web::AppState;
use sqlx::PgPool;

/// Starts the web service on a free port over `db`; returns its base URL.
async fn start_web(db: PgPool, dir: &std::path::Path) -> String {
    let mut config = Config::from_source(&env_with_test_secret).expect("test configuration");
    config.redis.prefix = format!("skillreel-test-{}", uuid::Uuid::new_v4().simple());
    // Every vote comes from one address, as in a benchmark (RATE_LIMITS=off).
    config.limits.enabled = false;
    config.storage.backend = StorageBackend::Local;
    config.storage.local_dir = dir.join("store");
    config.media.temp_dir = dir.join("tmp");
    config.media.assets_dir = dir.join("assets");
    std::fs::create_dir_all(&config.media.temp_dir).unwrap();
    let state = AppState::with_pool(config, db).await.expect("web state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        skillreel_web::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    base
}

/// The URL of the test's own database, for the harness process.
fn database_url(db: &PgPool) -> String {
    let name = db
        .connect_options()
        .get_database()
        .expect("sqlx::test names its database")
        .to_string();
    let mut url = Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn count(db: &PgPool, sql: &'static str, bind: String) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_short_vote_night_counts_every_answer_and_leaves_nothing(db: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let base = start_web(db.clone(), dir.path()).await;
    let results = dir.path().join("results");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_skillreel-load"))
            .args(["votes", "--base-url", &base])
            .args(["--voters", "20", "--videos", "5", "--duplicates", "0.2"])
            .args([
                "--connections",
                "8",
                "--readers",
                "2",
                "--reader-city",
                "seeded",
            ])
            .args([
                "--probe-interval",
                "50ms",
                "--duration",
                "60s",
                "--results-dir",
            ])
            .arg(&results)
            .env("DATABASE_URL", database_url(&db))
            .env("JWT_SECRET", test_secret())
            .env_remove("SKILLREEL_ENV")
            .env_remove("URL_SIGNING_KEY")
            // An empty folder: no `.env` of the checkout is read.
            .current_dir(dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the run ends by itself")
    .expect("running skillreel-load");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("votes/s") && printed.contains("counts OK"),
        "{printed}"
    );

    let runs: Vec<_> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        runs[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("-votes-distinct")
    );
    let s: VotesSummary = match report::read_summary(&runs[0]).unwrap() {
        Summary::Votes(s) => *s,
        _ => panic!("not a votes summary"),
    };

    // Every pair once (200) and the 20 re-sent ones (400), nothing else.
    assert_eq!(s.stop_reason, VotesStop::PairsDone, "{printed}");
    assert_eq!(
        (s.pairs.unique, s.pairs.duplicates, s.pairs.sent),
        (100, 20, 120)
    );
    assert_eq!((s.pairs.expected_ok, s.pairs.expected_rejected), (100, 20));
    assert_eq!(
        (s.votes.requests, s.votes.ok, s.votes.rejected),
        (120, 100, 20)
    );
    assert_eq!((s.votes.server_errors, s.votes.failures), (0, 0));
    assert_eq!(
        s.votes.statuses.keys().collect::<Vec<_>>(),
        ["200", "400"],
        "{:?}",
        s.votes.statuses
    );
    assert!(s.votes.per_s > 0.0 && s.votes.latency.is_some());
    // Keep-alive held: no connection was reopened (a task that found the pairs gone
    // before its first vote opened none).
    assert!((1..=8).contains(&s.votes.connects), "{}", s.votes.connects);
    // The database saw the same: one row per 200, counters equal to the rows.
    assert_eq!(s.recount.vote_rows, 100);
    assert_eq!(
        (s.recount.videos_votes_count, s.recount.owners_public_votes),
        (100, 100)
    );
    assert!(s.recount.consistent && s.counts_match());

    // Readers read both rankings, all answered.
    let readers = s.readers.as_ref().expect("readers ran");
    assert!(readers.requests >= 2, "{readers:?}");
    assert_eq!(readers.ok, readers.requests, "{:?}", readers.statuses);
    assert_eq!(s.settings.reader_paths.len(), 2);
    assert!(s.settings.reader_paths[1].contains("city=Votes+"));

    // The probe saw its votes in the probe city's ranking.
    let probe = s.probe.as_ref().expect("the probe ran");
    assert!(probe.votes_ok >= 1 && probe.votes_failed == 0, "{probe:?}");
    assert_eq!((probe.seen, probe.missed), (probe.votes_ok, 0), "{probe:?}");
    assert!(probe.lag.is_some_and(|l| l.max_ms > 0.0), "{probe:?}");
    assert_eq!(s.recount.probe_rows, probe.votes_ok as i64);
    assert!(s.harness_cpu_s.is_some());

    // Everything seeded is gone: 20 voters, 5 owners, the probe owner and its voters
    // (60 s / 50 ms + 1), the 6 videos, and every vote with them.
    assert_eq!(
        s.removed,
        Some(Removed {
            players: 20 + 5 + 1 + 1201,
            videos: 6
        })
    );
    let run = &s.run_id;
    let players = "SELECT count(*) FROM players WHERE email LIKE $1";
    assert_eq!(count(&db, players, format!("load.votes.{run}.%")).await, 0);
    let videos = "SELECT count(*) FROM videos WHERE original_key LIKE $1";
    assert_eq!(
        count(&db, videos, format!("uploaded/load-votes-{run}-%")).await,
        0
    );
    let votes: i64 = sqlx::query_scalar("SELECT count(*) FROM votes")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(votes, 0);

    // The per-second series adds up to the totals.
    let rows: Vec<skillreel_load::votes::VoteSecond> =
        report::read_csv(&runs[0].join(report::TIMESERIES_FILE)).unwrap();
    assert_eq!(rows.iter().map(|r| r.votes_ok).sum::<u64>(), 100);
    assert_eq!(rows.iter().map(|r| r.votes_rejected).sum::<u64>(), 20);
    assert_eq!(rows.iter().map(|r| r.reads).sum::<u64>(), readers.requests);
}
