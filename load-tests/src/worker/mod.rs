//! Worker scenario: inject K processing jobs straight into the queue, bypassing the
//! web layer, then watch running workers drain it.
//!
//! Two shapes: a burst (all jobs at second 0: saturation, the drain rate is the
//! capacity) and a steady stream (`--rate` jobs per minute: a sustained load, where the
//! queue depth shows whether the workers keep up).
//!
//! The harness does not start workers; run them yourself with the
//! `WORKER_CONCURRENCY` under test (and the same environment as this command:
//! `DATABASE_URL`, `REDIS_URL`, `REDIS_PREFIX`, storage settings). Each second it
//! records the queue depth and how many jobs wait, run, are done or failed; at the
//! end it reports videos per minute and service times.

mod inject;
mod observe;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};
use skillreel_shared::config::{self, Config};
use skillreel_shared::media::testclip;
use skillreel_shared::queue::ProcessVideo;

use crate::charts;
use crate::cli::DEFAULT_RESULTS_DIR;
use crate::report::{self, Summary};
use crate::target::parse_duration;
use inject::{Backends, Clip};
pub use observe::{JobState, StateCounts, Throughput, Tracker};

/// How often job rows are polled; also the precision of service-time starts.
const POLL: Duration = Duration::from_millis(250);

/// Flags of `worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Jobs to inject.
    #[arg(long, default_value_t = 10)]
    pub jobs: u32,
    /// Size of the generated 1080p, 30 s clip (e.g. 50MB, 100MB).
    #[arg(long, value_parser = parse_size, default_value = "50MB")]
    pub clip_size: u64,
    /// Use this MP4 instead of generating one.
    #[arg(long, conflicts_with = "clip_size")]
    pub clip: Option<PathBuf>,
    /// Enqueue at this many jobs per minute, evenly spaced, instead of all at once
    /// (a sustained run); without it every job is enqueued at second 0 (saturation).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Stop watching after this long, finished or not.
    #[arg(long, value_parser = parse_duration, default_value = "30m")]
    pub timeout: Duration,
    /// WORKER_CONCURRENCY the workers run with (recorded in the summary only).
    #[arg(long)]
    pub worker_concurrency: Option<u32>,
    /// Number of worker processes running (recorded in the summary only).
    #[arg(long)]
    pub workers: Option<u32>,
    /// Keep the injected rows and files instead of deleting them at the end.
    #[arg(long)]
    pub keep: bool,
    /// Allow PostgreSQL, Redis or S3 that are not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// Root folder of the results (generated clips are cached in its `tmp/clips`).
    #[arg(long, default_value = DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// Suffix for the results folder name (e.g. c2-50mb).
    #[arg(long)]
    pub label: Option<String>,
}

/// Parses a positive jobs-per-minute rate.
pub fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{raw:?} is not a positive number of jobs per minute"
        )),
    }
}

/// When job `index` (0-based) is enqueued, seconds after the first: all at 0 for a
/// burst, `index · 60 / rate` for a steady stream.
pub fn enqueue_at(index: usize, rate: Option<f64>) -> f64 {
    rate.map_or(0.0, |per_min| index as f64 * 60.0 / per_min)
}

/// Parses `50MB`, `100MiB`, `2GB` or a bare byte count (MB = 10^6, MiB = 2^20).
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a size (try 50MB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("{raw:?} is too large"))
}

/// One line of a worker run's `timeseries.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    /// Seconds since the first enqueue.
    pub second: u64,
    /// Jobs in the Redis queue (ready + scheduled for retry).
    pub queue_depth: u64,
    /// Injected videos still `uploaded`.
    pub waiting: u64,
    /// Injected videos `processing`.
    pub processing: u64,
    /// Injected videos processed so far.
    pub processed: u64,
    /// Injected videos failed so far.
    pub failed: u64,
}

/// `summary.json` of a worker run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// Free-form tag from `--label`.
    pub label: Option<String>,
    /// Wall-clock time of the first enqueue.
    pub started_at: DateTime<Utc>,
    /// Jobs injected.
    pub jobs: u32,
    /// The clip every job processes.
    pub clip: String,
    /// Its size.
    pub clip_bytes: u64,
    /// Its duration.
    pub clip_duration_s: f64,
    /// Enqueue rate in jobs per minute (`--rate`); none for a burst.
    #[serde(default)]
    pub rate_per_min: Option<f64>,
    /// As given by `--worker-concurrency`.
    pub worker_concurrency: Option<u32>,
    /// As given by `--workers`.
    pub workers: Option<u32>,
    /// Seconds spent storing originals and inserting rows before the first enqueue.
    pub staging_s: f64,
    /// First enqueue until the end of watching.
    pub elapsed_s: f64,
    /// Why watching ended.
    pub stop_reason: WorkerStop,
    /// Final counts.
    pub failed: u64,
    /// Jobs neither processed nor failed at the end (never-enqueued ones included).
    pub unfinished: u64,
    /// Largest queue depth seen.
    pub max_queue_depth: u64,
    /// Throughput and service times.
    pub throughput: Throughput,
    /// Whether rows and files were kept.
    pub kept: bool,
}

/// `worker`: injects the jobs, watches them, writes the results folder.
pub async fn run_worker(args: &WorkerArgs) -> Result<PathBuf> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    config::load_dotenv();
    let config = Config::from_env().context("reading the configuration")?;
    inject::check_local(&config, args.allow_remote)?;
    let clip = prepare_clip(&config, args).await?;
    let backends = Backends::connect(&config).await?;

    let run_id = Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let owner = backends.create_owner(&run_id).await?;
    let measured = inject_and_watch(&backends, owner, &clip, args).await;
    // Clean up even after a failure halfway, so no run leaves gigabytes behind.
    if !args.keep {
        let removed = backends.clean_up(owner).await?;
        println!("cleaned up {removed} injected videos and their files");
    }
    let run = measured?;

    let counts = run.tracker.counts();
    let summary = WorkerSummary {
        label: args.label.clone(),
        started_at: run.started_at,
        jobs: args.jobs,
        clip: clip.path.display().to_string(),
        clip_bytes: clip.bytes,
        clip_duration_s: clip.duration_secs,
        rate_per_min: args.rate,
        worker_concurrency: args.worker_concurrency,
        workers: args.workers,
        staging_s: run.staging_s,
        elapsed_s: run.elapsed_s,
        stop_reason: run.stop_reason,
        failed: counts.failed,
        // Jobs still waiting, running, or (on a stream cut short) never enqueued.
        unfinished: u64::from(args.jobs).saturating_sub(counts.processed + counts.failed),
        max_queue_depth: run.rows.iter().map(|r| r.queue_depth).max().unwrap_or(0),
        throughput: run.tracker.throughput(),
        kept: args.keep,
    };
    let name = match &args.label {
        Some(label) => format!("worker-{label}"),
        None => "worker".to_string(),
    };
    let dir = report::create_run_dir(&args.results_dir, &name, run.started_at)?;
    report::write_csv(&dir.join(report::TIMESERIES_FILE), &run.rows)?;
    report::write_summary(&dir, &Summary::Worker(Box::new(summary.clone())))?;
    charts::worker_charts(&dir, &run.rows, charts::load_font())?;
    print_summary(&summary);
    println!("results: {}", dir.display());
    Ok(dir)
}

/// Why watching ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStop {
    /// Every job was processed or failed.
    Done,
    /// `--timeout` passed first.
    Timeout,
    /// Ctrl-C.
    Interrupted,
}

/// What [`inject_and_watch`] measured.
struct Measured {
    started_at: DateTime<Utc>,
    staging_s: f64,
    elapsed_s: f64,
    stop_reason: WorkerStop,
    tracker: Tracker,
    rows: Vec<QueueRow>,
}

async fn inject_and_watch(
    backends: &Backends,
    owner: i64,
    clip: &Clip,
    args: &WorkerArgs,
) -> Result<Measured> {
    println!(
        "staging {} copies of {} ({} bytes)…",
        args.jobs,
        clip.path.display(),
        clip.bytes
    );
    let staging = Instant::now();
    let mut jobs = Vec::with_capacity(args.jobs as usize);
    for n in 1..=args.jobs {
        jobs.push(backends.stage(owner, clip, n).await?);
    }
    let staging_s = staging.elapsed().as_secs_f64();

    // A burst enqueues everything now, before measuring; a stream enqueues each job
    // when its time comes, from the polling loop.
    let started_at = Utc::now();
    let start = Instant::now();
    let mut tracker = Tracker::default();
    let schedule: Vec<(f64, ProcessVideo)> = jobs
        .into_iter()
        .enumerate()
        .map(|(i, job)| (enqueue_at(i, args.rate), job))
        .collect();
    let watch = Watch {
        backends,
        owner,
        start,
        started_at,
        timeout: args.timeout,
    };
    let mut schedule = schedule.into_iter().peekable();
    watch.enqueue_due(&mut schedule, &mut tracker).await?;
    match args.rate {
        None => println!(
            "{} jobs enqueued; watching (timeout {:?})",
            tracker.counts().waiting,
            args.timeout
        ),
        Some(rate) => println!(
            "enqueueing {} jobs at {rate} per minute; watching (timeout {:?})",
            args.jobs, args.timeout
        ),
    }
    let (rows, stop_reason) = watch.run(&mut tracker, &mut schedule).await?;
    Ok(Measured {
        started_at,
        staging_s,
        elapsed_s: start.elapsed().as_secs_f64(),
        stop_reason,
        tracker,
        rows,
    })
}

async fn prepare_clip(config: &Config, args: &WorkerArgs) -> Result<Clip> {
    let path = match &args.clip {
        Some(path) => path.clone(),
        None => {
            let cache = args.results_dir.join("tmp").join("clips");
            std::fs::create_dir_all(&cache)
                .with_context(|| format!("creating {}", cache.display()))?;
            println!(
                "generating a {} byte 1080p clip in {}…",
                args.clip_size,
                cache.display()
            );
            testclip::generate_sized(&config.media.ffmpeg_path, args.clip_size, &cache)
                .await
                .context("generating the test clip")?
        }
    };
    Clip::probe(config, &path).await
}

/// Jobs not yet enqueued, with the second each one is due.
type Schedule = std::iter::Peekable<std::vec::IntoIter<(f64, ProcessVideo)>>;

/// The polling loop of a worker run.
struct Watch<'a> {
    backends: &'a Backends,
    owner: i64,
    start: Instant,
    started_at: DateTime<Utc>,
    timeout: Duration,
}

impl Watch<'_> {
    /// Enqueues every scheduled job whose time has come.
    async fn enqueue_due(&self, schedule: &mut Schedule, tracker: &mut Tracker) -> Result<()> {
        while let Some((_, job)) =
            schedule.next_if(|(at, _)| *at <= self.start.elapsed().as_secs_f64())
        {
            self.backends
                .queue
                .enqueue(job.clone())
                .await
                .context("enqueueing a job")?;
            tracker.enqueued(job.video_id, self.start.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Enqueues scheduled jobs as they fall due, polls job states every [`POLL`] and the
    /// queue depth every second until every job was enqueued and finished, `timeout`
    /// passed or Ctrl-C; returns one row per second.
    async fn run(
        &self,
        tracker: &mut Tracker,
        schedule: &mut Schedule,
    ) -> Result<(Vec<QueueRow>, WorkerStop)> {
        let mut rows: Vec<QueueRow> = Vec::new();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let interrupted = crate::web::interrupted();
        tokio::pin!(interrupted);
        loop {
            let ctrl_c = tokio::select! {
                _ = tick.tick() => false,
                _ = &mut interrupted => true,
            };
            self.enqueue_due(schedule, tracker).await?;
            let now_s = self.start.elapsed().as_secs_f64();
            self.poll(tracker, now_s).await?;

            let stop = if ctrl_c {
                Some(WorkerStop::Interrupted)
            } else if schedule.peek().is_none() && tracker.all_done() {
                Some(WorkerStop::Done)
            } else if self.start.elapsed() >= self.timeout {
                Some(WorkerStop::Timeout)
            } else {
                None
            };
            let second = now_s as u64;
            // One row per second; the final poll replaces its second's row.
            if stop.is_some() || rows.last().is_none_or(|r| r.second < second) {
                let depth = self
                    .backends
                    .queue
                    .depth()
                    .await
                    .context("reading the queue depth")?;
                let c = tracker.counts();
                if rows.last().is_some_and(|r| r.second == second) {
                    rows.pop();
                }
                rows.push(QueueRow {
                    second,
                    queue_depth: depth,
                    waiting: c.waiting,
                    processing: c.processing,
                    processed: c.processed,
                    failed: c.failed,
                });
                if second.is_multiple_of(10) || stop.is_some() {
                    println!(
                        "{second:>5} s  queue {depth:>4}  waiting {:>4}  processing {:>3}  processed {:>4}  failed {:>3}",
                        c.waiting, c.processing, c.processed, c.failed
                    );
                }
            }
            if let Some(stop) = stop {
                return Ok((rows, stop));
            }
        }
    }

    /// Reads the injected rows once and feeds their states to the tracker.
    async fn poll(&self, tracker: &mut Tracker, now_s: f64) -> Result<()> {
        let states = self.backends.states(self.owner).await?;
        for (id, state, processed_at) in &states {
            let finished_s = processed_at.map(|t| (t - self.started_at).as_seconds_f64());
            tracker.observe(*id, *state, now_s, finished_s);
        }
        // A row that vanished was deleted under us; count it as gone, not pending.
        let missing: Vec<i64> = tracker
            .pending_ids()
            .filter(|id| !states.iter().any(|(present, ..)| present == id))
            .collect();
        for id in missing {
            tracker.observe(id, JobState::Gone, now_s, None);
        }
        Ok(())
    }
}

fn print_summary(s: &WorkerSummary) {
    let t = &s.throughput;
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    println!(
        "\n{} jobs: {} processed, {} failed, {} unfinished{}",
        s.jobs,
        t.processed,
        s.failed,
        s.unfinished,
        match s.stop_reason {
            WorkerStop::Done => "",
            WorkerStop::Timeout => " (timed out)",
            WorkerStop::Interrupted => " (interrupted)",
        }
    );
    println!(
        "videos/min {}  mean service {} s (p50 {}, p95 {}, max {})  mean turnaround {} s  parallelism {}  max queue {}",
        f(t.videos_per_min),
        f(t.mean_service_s),
        f(t.p50_service_s),
        f(t.p95_service_s),
        f(t.max_service_s),
        f(t.mean_turnaround_s),
        f(t.effective_parallelism),
        s.max_queue_depth
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_enqueues_at_zero_and_a_stream_spaces_jobs_evenly() {
        assert_eq!(enqueue_at(0, None), 0.0);
        assert_eq!(enqueue_at(7, None), 0.0);
        assert_eq!(enqueue_at(0, Some(4.0)), 0.0);
        assert_eq!(enqueue_at(1, Some(4.0)), 15.0);
        assert_eq!(enqueue_at(10, Some(12.0)), 50.0);
    }

    #[test]
    fn rates_must_be_positive_numbers() {
        assert_eq!(parse_rate("6"), Ok(6.0));
        assert_eq!(parse_rate(" 2.5 "), Ok(2.5));
        for bad in ["0", "-1", "abc", "inf", "NaN", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("50MB"), Ok(50_000_000));
        assert_eq!(parse_size("100mb"), Ok(100_000_000));
        assert_eq!(parse_size("100MiB"), Ok(104_857_600));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("50 furlongs").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("99999999999999GB").is_err());
    }

    #[test]
    fn queue_rows_round_trip_through_csv() {
        let rows = vec![
            QueueRow {
                second: 0,
                queue_depth: 4,
                waiting: 4,
                processing: 0,
                processed: 0,
                failed: 0,
            },
            QueueRow {
                second: 1,
                queue_depth: 2,
                waiting: 2,
                processing: 2,
                processed: 0,
                failed: 0,
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(report::TIMESERIES_FILE);
        report::write_csv(&path, &rows).unwrap();
        assert_eq!(report::read_csv::<QueueRow>(&path).unwrap(), rows);
    }
}
