//! Command-line interface and the `web` / `charts` commands built on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::{self, Criteria, Summary, WebSettings, WebSummary};
use crate::stats::{LatencySummary, verdict};
use crate::target::{check_base_url, parse_duration};
use crate::web::{self, Mix, Profile, WebConfig, WebRun};
use crate::{charts, votes, worker};

/// Default output root: `load-tests/results` of this checkout.
pub const DEFAULT_RESULTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
/// More users than this is almost certainly a typo, and would exhaust the client.
const MAX_USERS: u32 = 10_000;

/// Load-test harness for the skillreel web API and worker queue.
#[derive(Debug, Parser)]
#[command(name = "skillreel-load", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive the HTTP API with virtual users.
    Web(WebArgs),
    /// Inject processing jobs straight into the queue and watch the workers drain it.
    Worker(worker::WorkerArgs),
    /// Vote night: a flood of unique votes, with rankings readers and a visibility probe.
    Votes(votes::VotesArgs),
    /// Redraw the PNG charts of a results folder from its CSV/JSON files.
    Charts {
        /// A folder written by a previous run.
        results_dir: PathBuf,
    },
}

/// Web scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// 5 users for 1 minute: is everything wired up?
    Smoke,
    /// 0 → N users over the ramp-up, then hold: where does latency break?
    Ramp,
    /// N users for 5 minutes: is the throughput stable?
    Sustained,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Smoke => "smoke",
            Scenario::Ramp => "ramp",
            Scenario::Sustained => "sustained",
        }
    }
}

/// Flags of `web`.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Scenario to run.
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// API under test (loopback only unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// Allow a base URL that is not loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Users at full load [smoke: 5; required for ramp and sustained].
    #[arg(long)]
    pub users: Option<u32>,
    /// Run length for smoke [1m] and sustained [5m] (e.g. 10s, 2m).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Ramp: time to go from 0 to --users.
    #[arg(long, value_parser = parse_duration, default_value = "3m")]
    pub ramp_up: Duration,
    /// Ramp: time to hold --users after the ramp.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub hold: Duration,
    /// Smoke and sustained: users arrive evenly over this time before the --duration at
    /// full load starts [0: all at once]. Each arrival signs up and logs in (two bcrypt
    /// hashes), so a large N arriving at once measures a login storm, not the steady load.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Stop after this many requests, whatever the time.
    #[arg(long, default_value_t = 200_000)]
    pub max_requests: u64,
    /// Shortest pause between two actions of a user.
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    pub think_min: Duration,
    /// Longest pause between two actions of a user.
    #[arg(long, value_parser = parse_duration, default_value = "1500ms")]
    pub think_max: Duration,
    /// Action weights.
    #[arg(long, default_value = web::DEFAULT_MIX)]
    pub mix: Mix,
    /// MP4 to upload (20–60 s, ≥1080p, ≤100 MB); without it uploads are skipped.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Before the run, upload and publish clips until this many public videos
    /// exist, so votes have targets (needs --clip and a running worker).
    #[arg(long, default_value_t = 0)]
    pub seed_videos: u32,
    /// How long seeding waits for the worker to process its uploads.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub seed_timeout: Duration,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
    /// Seed for the users' random choices [random].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Root folder of the results.
    #[arg(long, default_value = DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// Suffix for the results folder name (e.g. the machine size).
    #[arg(long)]
    pub label: Option<String>,
}

impl WebArgs {
    /// Resolves the scenario defaults and checks the flags.
    pub fn profile(&self) -> Result<Profile> {
        let users = match (self.scenario, self.users) {
            (Scenario::Smoke, users) => users.unwrap_or(5),
            (_, Some(users)) => users,
            (scenario, None) => bail!("--users is required for --scenario {}", scenario.name()),
        };
        if users == 0 || users > MAX_USERS {
            bail!("--users must be 1..={MAX_USERS}, got {users}");
        }
        let profile = match self.scenario {
            Scenario::Ramp => {
                if self.duration.is_some() || !self.warmup.is_zero() {
                    bail!("--scenario ramp takes --ramp-up and --hold, not --duration or --warmup");
                }
                Profile {
                    users,
                    ramp_up: self.ramp_up,
                    hold: self.hold,
                }
            }
            Scenario::Smoke | Scenario::Sustained => {
                let default = if self.scenario == Scenario::Smoke {
                    60
                } else {
                    300
                };
                let hold = self.duration.unwrap_or(Duration::from_secs(default));
                Profile {
                    users,
                    ramp_up: self.warmup,
                    hold,
                }
            }
        };
        if profile.total().is_zero() {
            bail!("the scenario would last zero seconds");
        }
        Ok(profile)
    }

    /// Builds the run configuration (reads the clip).
    pub fn config(&self) -> Result<WebConfig> {
        if self.max_requests == 0 {
            bail!("--max-requests must be at least 1");
        }
        if self.think_max < self.think_min {
            bail!("--think-max must not be below --think-min");
        }
        let clip = self.clip.as_deref().map(read_clip).transpose()?;
        Ok(WebConfig {
            base_url: check_base_url(&self.base_url, self.allow_remote)?,
            profile: self.profile()?,
            max_requests: self.max_requests,
            think_min: self.think_min,
            think_max: self.think_max,
            mix: self.mix.clone(),
            clip,
            request_timeout: self.request_timeout,
            seed: self.seed.unwrap_or_else(rand::random),
        })
    }
}

fn read_clip(path: &Path) -> Result<Bytes> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading --clip {}", path.display()))?;
    // Every MP4 starts with an `ftyp` box; catching a wrong file here beats a
    // run full of 400s.
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        bail!("--clip {} is not an MP4 file", path.display());
    }
    Ok(Bytes::from(bytes))
}

/// `web`: runs the scenario, writes the results folder, prints the verdict.
/// Returns the results folder.
pub async fn run_web(args: &WebArgs) -> Result<PathBuf> {
    let config = args.config()?;
    if config.clip.is_none() && config.mix.weight(web::Action::Upload) > 0 {
        println!("no --clip given: uploads will be skipped (counted as skipped in the summary)");
    }
    println!(
        "{} scenario: {} users, ramp {} s, hold {} s, at most {} requests, against {}",
        args.scenario.name(),
        config.profile.users,
        config.profile.ramp_up.as_secs_f64(),
        config.profile.hold.as_secs_f64(),
        config.max_requests,
        config.base_url
    );

    let seed = match (args.seed_videos, &config.clip) {
        (0, _) => None,
        (_, None) => bail!("--seed-videos needs --clip"),
        (want, Some(clip)) => {
            println!("seeding: making sure {want} public videos exist…");
            let run_id = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
            let seed =
                web::ensure_public_videos(&config.base_url, clip, want, &run_id, args.seed_timeout)
                    .await?;
            println!(
                "seeding: {} existed, {} uploaded, {} published",
                seed.existing, seed.uploaded, seed.published
            );
            Some(seed)
        }
    };
    let run = web::run(config.clone()).await?;
    let name = match &args.label {
        Some(label) => format!("{}-{label}", args.scenario.name()),
        None => args.scenario.name().to_string(),
    };
    let dir = report::create_run_dir(&args.results_dir, &name, run.started_at)?;
    let summary = WebSummary {
        seed,
        ..web_summary(args, &config, &run)
    };
    report::write_csv(
        &dir.join(report::TIMESERIES_FILE),
        &report::traffic_rows(&run.stats),
    )?;
    report::write_csv(&dir.join(report::ENDPOINTS_FILE), &summary.endpoints)?;
    report::write_summary(&dir, &Summary::Web(Box::new(summary.clone())))?;
    charts::web_charts(
        &dir,
        &summary.scenario,
        &report::traffic_rows(&run.stats),
        charts::load_font(),
    )?;

    print_web_summary(&summary);
    println!("results: {}", dir.display());
    Ok(dir)
}

/// Assembles `summary.json` from a finished run.
pub fn web_summary(args: &WebArgs, config: &WebConfig, run: &WebRun) -> WebSummary {
    let endpoints = report::endpoint_rows(&run.stats);
    let latency = LatencySummary::from_histogram(&run.stats.overall_latency());
    let requests = run.stats.total_requests();
    let error_rate = run.stats.error_rate();
    let all = endpoints
        .last()
        .expect("endpoint_rows ends with the all row");
    WebSummary {
        scenario: args.scenario.name().to_string(),
        label: args.label.clone(),
        base_url: config.base_url.to_string(),
        started_at: run.started_at,
        elapsed_s: run.elapsed.as_secs_f64(),
        stop_reason: run.stop_reason,
        settings: WebSettings {
            users: config.profile.users,
            ramp_up_s: config.profile.ramp_up.as_secs_f64(),
            hold_s: config.profile.hold.as_secs_f64(),
            max_requests: config.max_requests,
            think_min_ms: config.think_min.as_millis() as u64,
            think_max_ms: config.think_max.as_millis() as u64,
            mix: config.mix.to_string(),
            clip: args.clip.as_ref().map(|p| p.display().to_string()),
            clip_bytes: config.clip.as_ref().map(|c| c.len() as u64),
            request_timeout_s: config.request_timeout.as_secs_f64(),
            seed: config.seed,
        },
        seed: None,
        requests,
        started_requests: run.started_requests,
        unfinished_requests: run.unfinished_requests(),
        ok: all.ok,
        expected: all.expected,
        errors: all.errors,
        error_rate,
        throughput_rps: requests as f64 / run.elapsed.as_secs_f64().max(1e-3),
        peak_users: run
            .stats
            .seconds
            .iter()
            .map(|s| s.active_users)
            .max()
            .unwrap_or(0),
        latency,
        statuses: run
            .stats
            .endpoints
            .iter()
            .map(|(e, s)| (e.as_str().to_string(), s.statuses.clone()))
            .collect(),
        endpoints,
        skipped: run.skipped.clone(),
        criteria: Criteria::default(),
        verdict: verdict(requests, latency.map(|l| l.p95_ms), error_rate),
    }
}

fn print_web_summary(s: &WebSummary) {
    println!(
        "\n{:<14} {:>8} {:>7} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "endpoint",
        "requests",
        "errors",
        "expected",
        "err%",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for row in &s.endpoints {
        println!(
            "{:<14} {:>8} {:>7} {:>8} {:>7.2} {:>9} {:>9} {:>9} {:>9}",
            row.endpoint,
            row.requests,
            row.errors,
            row.expected,
            row.error_rate * 100.0,
            ms(row.p50_ms),
            ms(row.p95_ms),
            ms(row.p99_ms),
            ms(row.max_ms)
        );
    }
    for (reason, count) in s.skipped.iter().filter(|(_, c)| **c > 0) {
        println!("skipped {reason}: {count}");
    }
    println!(
        "\n{:.1} s, stopped by {:?}, {:.1} req/s, peak {} users, {} unfinished",
        s.elapsed_s, s.stop_reason, s.throughput_rps, s.peak_users, s.unfinished_requests
    );
    let why = if s.verdict.pass {
        String::new()
    } else {
        format!(" ({})", s.verdict.reasons.join("; "))
    };
    println!(
        "{}: p95 {} ms (limit {} ms), errors {:.2} % (limit {:.0} %){why}",
        s.verdict.label(),
        ms(s.latency.map(|l| l.p95_ms)),
        s.criteria.p95_limit_ms,
        s.error_rate * 100.0,
        s.criteria.max_error_rate * 100.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<WebArgs, clap::Error> {
        let mut argv = vec!["skillreel-load", "web"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Web(web) => Ok(web),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn smoke_defaults_to_five_users_for_a_minute() {
        let profile = parse(&["--scenario", "smoke"]).unwrap().profile().unwrap();
        assert_eq!(
            profile,
            Profile {
                users: 5,
                ramp_up: Duration::ZERO,
                hold: Duration::from_secs(60)
            }
        );
        let short = parse(&["--scenario", "smoke", "--duration", "7s"])
            .unwrap()
            .profile()
            .unwrap();
        assert_eq!(short.total(), Duration::from_secs(7));
    }

    #[test]
    fn ramp_and_sustained_need_users_and_take_their_own_phases() {
        assert!(parse(&["--scenario", "ramp"]).unwrap().profile().is_err());
        assert!(
            parse(&["--scenario", "sustained"])
                .unwrap()
                .profile()
                .is_err()
        );
        let ramp = parse(&[
            "--scenario",
            "ramp",
            "--users",
            "50",
            "--ramp-up",
            "30s",
            "--hold",
            "1m",
        ])
        .unwrap()
        .profile()
        .unwrap();
        assert_eq!(
            ramp,
            Profile {
                users: 50,
                ramp_up: Duration::from_secs(30),
                hold: Duration::from_secs(60)
            }
        );
        let default_ramp = parse(&["--scenario", "ramp", "--users", "9"])
            .unwrap()
            .profile()
            .unwrap();
        assert_eq!(default_ramp.total(), Duration::from_secs(480));
        assert!(
            parse(&["--scenario", "ramp", "--users", "9", "--duration", "1m"])
                .unwrap()
                .profile()
                .is_err()
        );
        let sustained = parse(&["--scenario", "sustained", "--users", "20"])
            .unwrap()
            .profile()
            .unwrap();
        assert_eq!(sustained.hold, Duration::from_secs(300));
        assert_eq!(
            sustained.ramp_up,
            Duration::ZERO,
            "everyone at once by default"
        );
        let warmed = parse(&["--scenario", "sustained", "--users", "20", "--warmup", "1m"])
            .unwrap()
            .profile()
            .unwrap();
        assert_eq!(
            (warmed.ramp_up, warmed.total()),
            (Duration::from_secs(60), Duration::from_secs(360))
        );
        assert!(
            parse(&["--scenario", "smoke", "--users", "0"])
                .unwrap()
                .profile()
                .is_err()
        );
    }

    #[test]
    fn config_refuses_remote_hosts_and_bad_bounds() {
        let remote = parse(&["--scenario", "smoke", "--base-url", "http://10.1.2.3:8000"]).unwrap();
        assert!(remote.config().is_err());
        let allowed = parse(&[
            "--scenario",
            "smoke",
            "--base-url",
            "http://10.1.2.3:8000",
            "--allow-remote",
        ])
        .unwrap();
        assert!(allowed.config().is_ok());
        assert!(
            parse(&["--scenario", "smoke", "--max-requests", "0"])
                .unwrap()
                .config()
                .is_err()
        );
        assert!(
            parse(&[
                "--scenario",
                "smoke",
                "--think-min",
                "2s",
                "--think-max",
                "1s"
            ])
            .unwrap()
            .config()
            .is_err()
        );
        assert!(parse(&["--scenario", "smoke", "--mix", "dance=1"]).is_err());
    }

    #[test]
    fn clip_must_look_like_an_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake.mp4");
        std::fs::write(&fake, b"definitely not a video").unwrap();
        assert!(read_clip(&fake).is_err());
        let mp4 = dir.path().join("real.mp4");
        std::fs::write(&mp4, b"\0\0\0\x18ftypisom\0\0\0\0").unwrap();
        assert_eq!(read_clip(&mp4).unwrap().len(), 16);
    }
}
