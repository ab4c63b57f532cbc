//! Vote-night scenario: a flood of unique votes, black-box over HTTP, with live
//! rankings read meanwhile and a probe timing how soon a vote shows in them.
//!
//! The run seeds its own voters and public videos straight into PostgreSQL
//! (`DATABASE_URL`), signs its voters' access tokens with the web's key (`JWT_SECRET`,
//! through `skillreel_shared::auth`, as the web verifies them), then `--connections`
//! keep-alive connections vote in closed loop over a shuffled list of every (voter,
//! video) pair, each pair once (`200`), plus `--duplicates` re-sent pairs (`400`). It
//! counts the rows and counters afterwards and deletes what it seeded (`--keep` keeps
//! it). It works against any implementation of the vote path: it only needs the HTTP
//! contract and the tables' columns.

mod args;
mod conn;
mod flood;
mod probe;
mod seed;
mod summary;
mod tally;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use reqwest::Url;
use secrecy::ExposeSecret;
use skillreel_shared::auth::Tokens;
use skillreel_shared::config::{self, Config};
use skillreel_shared::db;
use sqlx::PgPool;

use crate::report::{self, Summary};
use crate::target::{check_backend_url, check_base_url};
pub use args::{Owners, VotesArgs, parse_share};
use conn::Target;
use flood::{FloodRun, FloodSetup};
pub use flood::{Plan, VotesStop};
pub use probe::ProbeReport;
use probe::ProbeSetup;
pub use seed::{Recount, Removed};
use seed::{SeedSpec, Seeded};
use summary::Traffic;
pub use summary::{
    Pairs, TABLE_HEADER, VoteSecond, VotesSettings, VotesSummary, Window, table_line,
};
use tally::Class;
pub use tally::Percentiles;

/// `votes`: seeds, floods, recounts, cleans up, writes the results folder, prints the
/// table line. Returns the results folder.
pub async fn run_votes(args: &VotesArgs) -> Result<PathBuf> {
    args.check()?;
    let base_url = check_base_url(&args.base_url, args.allow_remote)?;
    let target = Target::resolve(&base_url).await?;
    config::load_dotenv();
    let mut config = Config::from_env().context("reading the configuration")?;
    check_backend_url(
        "DATABASE_URL",
        config.database.url.expose_secret(),
        args.allow_remote,
    )?;
    config.database.max_connections = 2;
    let db = db::connect(&config.database)
        .await
        .context("connecting to PostgreSQL")?;
    // The web checks a token's signature and `exp` only: make them outlast the run.
    let tokens = Tokens::new(
        &config.auth.jwt_secret,
        args.duration + Duration::from_secs(3600),
    );
    let shuffle_seed = args.seed.unwrap_or_else(rand::random);
    let run_id = format!(
        "{}{:04x}",
        Utc::now().format("%Y%m%d%H%M%S%3f"),
        rand::random::<u16>()
    );
    let spec = SeedSpec {
        voters: args.voters,
        videos: args.videos,
        owners: args.owner_count(),
        probe_voters: args.probe_voters(),
    };
    println!(
        "votes: {} voters × {} videos ({} owners), {} connections, duplicates {}, {} readers, probe {}, against {base_url}",
        args.voters,
        args.videos,
        args.owners.name(),
        args.connections,
        args.duplicates,
        args.readers,
        if args.no_probe {
            "off".to_string()
        } else {
            format!("every {} ms", args.probe_interval.as_millis())
        }
    );
    let seeded = seed::seed(&db, &run_id, spec).await?;
    let measured = measure(args, target, &tokens, &db, &seeded, shuffle_seed).await;
    // Clean up even after a failure halfway, so no run leaves its rows behind.
    let removed = if args.keep {
        None
    } else {
        Some(seed::clean_up(&db, &seeded).await?)
    };
    let Measured {
        run,
        recount,
        harness_cpu_s,
        web_cpu_s,
        reader_paths,
    } = measured?;

    let window = Window::new(
        args.warmup,
        run.exhausted_at.or(run.stopped_at),
        run.elapsed,
    );
    let (sent, expected_ok) = (run.sent as u64, run.expected_ok as u64);
    let summary = VotesSummary {
        label: args.label.clone(),
        base_url: base_url.to_string(),
        run_id,
        started_at: run.started_at,
        settings: VotesSettings {
            voters: args.voters,
            videos: args.videos,
            owners: args.owners.name().to_string(),
            owner_count: args.owner_count(),
            connections: args.connections,
            duplicates: args.duplicates,
            readers: args.readers,
            reader_paths,
            probe_interval_ms: (!args.no_probe).then_some(args.probe_interval.as_millis() as u64),
            warmup_s: args.warmup.as_secs_f64(),
            duration_s: args.duration.as_secs_f64(),
            max_requests: args.max_requests,
            request_timeout_s: args.request_timeout.as_secs_f64(),
            seed: shuffle_seed,
        },
        stop_reason: run.stop_reason,
        elapsed_s: run.elapsed.as_secs_f64(),
        started_requests: run.started_requests,
        window,
        pairs: Pairs {
            unique: run.unique as u64,
            duplicates: run.duplicates as u64,
            sent,
            expected_ok,
            expected_rejected: sent - expected_ok,
        },
        votes: Traffic::new(&run.votes, &window, Some(Class::Ok)),
        readers: (args.readers > 0).then(|| Traffic::new(&run.reads, &window, None)),
        probe: run.probe.clone(),
        harness_cpu_s,
        web_cpu_s,
        recount,
        removed,
    };
    let name = match &args.label {
        Some(label) => format!("votes-{}-{label}", args.owners.name()),
        None => format!("votes-{}", args.owners.name()),
    };
    let dir = report::create_run_dir(&args.results_dir, &name, run.started_at)?;
    report::write_csv(
        &dir.join(report::TIMESERIES_FILE),
        &summary::seconds(&run.votes, &run.reads),
    )?;
    report::write_summary(&dir, &Summary::Votes(Box::new(summary.clone())))?;
    print_summary(&summary);
    println!("results: {}", dir.display());
    Ok(dir)
}

/// What [`measure`] returns.
struct Measured {
    run: FloodRun,
    recount: Recount,
    /// CPU seconds of the harness during the flood.
    harness_cpu_s: Option<f64>,
    /// CPU seconds of `--web-pid` during the flood.
    web_cpu_s: Option<f64>,
    /// What the readers read.
    reader_paths: Vec<String>,
}

/// Builds the flood from the seeded rows, runs it, and recounts.
async fn measure(
    args: &VotesArgs,
    target: Target,
    tokens: &Tokens,
    db: &PgPool,
    seeded: &Seeded,
    shuffle_seed: u64,
) -> Result<Measured> {
    let vote_path = |video: i64| target.uri(&format!("/api/public/videos/{video}/vote"));
    let vote_uris = seeded
        .videos
        .iter()
        .map(|v| vote_path(*v))
        .collect::<Result<Vec<_>>>()?;
    let mut reader_paths = vec!["/api/public/rankings".to_string()];
    if let Some(city) = &args.reader_city {
        let city = if city == "seeded" { &seeded.city } else { city };
        reader_paths.push(rankings_of(city));
    }
    let reader_uris = reader_paths
        .iter()
        .map(|p| target.uri(p))
        .collect::<Result<Vec<_>>>()?;
    let probe = if args.no_probe {
        None
    } else {
        Some(ProbeSetup {
            vote_uri: vote_path(seeded.probe_video)?,
            voter_auth: seed::bearer_tokens(tokens, &seeded.probe_voters)?,
            rankings_uri: target.uri(&rankings_of(&seeded.probe_city))?,
            owner_name: seeded.probe_owner_name.clone(),
            interval: args.probe_interval,
        })
    };
    let setup = FloodSetup {
        target,
        plan: Plan::new(args.voters, args.videos, args.duplicates, shuffle_seed),
        vote_uris,
        voter_auth: seed::bearer_tokens(tokens, &seeded.voters)?,
        connections: args.connections,
        readers: args.readers,
        reader_uris,
        probe,
        duration: args.duration,
        max_requests: args.max_requests,
        request_timeout: args.request_timeout,
    };
    let cpu_before = (
        summary::cpu_seconds(None),
        args.web_pid.and_then(|pid| summary::cpu_seconds(Some(pid))),
    );
    let run = flood::run(setup).await?;
    let used = |before: Option<f64>, pid: Option<u32>| {
        Some(summary::cpu_seconds(pid)? - before?).map(|s| (s * 100.0).round() / 100.0)
    };
    let harness_cpu_s = used(cpu_before.0, None);
    let web_cpu_s = args.web_pid.and_then(|pid| used(cpu_before.1, Some(pid)));
    let recount = seed::recount(db, seeded).await?;
    Ok(Measured {
        run,
        recount,
        harness_cpu_s,
        web_cpu_s,
        reader_paths,
    })
}

/// The path of a city's ranking.
fn rankings_of(city: &str) -> String {
    let mut url = Url::parse("http://localhost/api/public/rankings").expect("a valid URL");
    url.query_pairs_mut().append_pair("city", city);
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

fn print_summary(s: &VotesSummary) {
    println!("\n{TABLE_HEADER}\n{}", table_line(s));
    let window = if s.window.steady {
        format!("{:.1}–{:.1} s", s.window.from_s, s.window.to_s)
    } else {
        "whole flood (too short for a steady window)".to_string()
    };
    println!(
        "stopped by {:?} after {:.1} s; votes/s over {window}; {} connections opened for {} vote connections",
        s.stop_reason, s.elapsed_s, s.votes.connects, s.settings.connections
    );
    let cpu = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "CPU seconds during the flood: harness {}, web {}",
        cpu(s.harness_cpu_s),
        cpu(s.web_cpu_s)
    );
    println!("vote statuses: {:?}", s.votes.statuses);
    if let Some(r) = &s.readers {
        println!("reader statuses: {:?}", r.statuses);
    }
    if let Some(p) = &s.probe {
        println!(
            "probe: {} votes ok, {} failed, {} seen, {} missed, {} ranking reads",
            p.votes_ok, p.votes_failed, p.seen, p.missed, p.polls
        );
    }
    let r = &s.recount;
    let verdict = if s.counts_match() { "OK" } else { "MISMATCH" };
    println!(
        "counts {verdict}: {} sent → expected {} × 200 and {} × 400; got {} and {}; \
         {} vote rows, Σ votes_count {}, Σ owners' public_votes {}",
        s.pairs.sent,
        s.pairs.expected_ok,
        s.pairs.expected_rejected,
        s.votes.ok,
        s.votes.rejected,
        r.vote_rows,
        r.videos_votes_count,
        r.owners_public_votes
    );
    match s.removed {
        Some(removed) => println!(
            "cleaned up {} players and {} videos (their votes with them)",
            removed.players, removed.videos
        ),
        None => println!("kept the seeded rows (run id {})", s.run_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn city_rankings_are_url_encoded() {
        assert_eq!(
            rankings_of("Votes 2026 & co"),
            "/api/public/rankings?city=Votes+2026+%26+co"
        );
    }
}
