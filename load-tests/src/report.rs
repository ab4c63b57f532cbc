//! Run output: the results folder, `summary.json`, `timeseries.csv` and
//! `endpoints.csv`, written after a run and read back by `charts`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::stats::{
    self, Endpoint, EndpointStats, LatencySummary, MAX_ERROR_RATE, P95_LIMIT_MS, RunStats,
    SecondStats, Verdict,
};
use crate::votes::VotesSummary;
use crate::web::{SeedReport, StopReason};
use crate::worker::WorkerSummary;

/// File names inside a results folder.
pub const SUMMARY_FILE: &str = "summary.json";
/// Per-second series (web runs: traffic; worker runs: queue; votes runs: answers).
pub const TIMESERIES_FILE: &str = "timeseries.csv";
/// Per-endpoint totals of a web run.
pub const ENDPOINTS_FILE: &str = "endpoints.csv";

/// Creates `<root>/<UTC timestamp>-<name>/` and returns it.
pub fn create_run_dir(root: &Path, name: &str, now: DateTime<Utc>) -> Result<PathBuf> {
    let dir = root.join(format!("{}-{name}", now.format("%Y%m%dT%H%M%SZ")));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `summary.json`: either kind of run, tagged by `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Summary {
    /// A web scenario.
    Web(Box<WebSummary>),
    /// A worker scenario.
    Worker(Box<WorkerSummary>),
    /// The vote-night scenario.
    Votes(Box<VotesSummary>),
}

/// The settings a web run used, recorded so a result can be reproduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSettings {
    /// Users at full load.
    pub users: u32,
    /// Ramp-up length, seconds.
    pub ramp_up_s: f64,
    /// Hold length, seconds.
    pub hold_s: f64,
    /// Request cap.
    pub max_requests: u64,
    /// Think time bounds, milliseconds.
    pub think_min_ms: u64,
    /// Think time bounds, milliseconds.
    pub think_max_ms: u64,
    /// Action weights.
    pub mix: String,
    /// Uploaded clip, if any.
    pub clip: Option<String>,
    /// Its size.
    pub clip_bytes: Option<u64>,
    /// Per-request timeout, seconds.
    pub request_timeout_s: f64,
    /// RNG seed.
    pub seed: u64,
}

/// The thresholds a run was judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// p95 latency ceiling.
    pub p95_limit_ms: f64,
    /// Error-rate ceiling (fraction).
    pub max_error_rate: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            p95_limit_ms: P95_LIMIT_MS,
            max_error_rate: MAX_ERROR_RATE,
        }
    }
}

/// `summary.json` of a web run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebSummary {
    /// smoke, ramp or sustained.
    pub scenario: String,
    /// Free-form tag from `--label`.
    pub label: Option<String>,
    /// API under test.
    pub base_url: String,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Run length, seconds.
    pub elapsed_s: f64,
    /// Why the run ended.
    pub stop_reason: StopReason,
    /// Inputs.
    pub settings: WebSettings,
    /// Public videos prepared before the run (`--seed-videos`).
    pub seed: Option<SeedReport>,
    /// Requests that finished.
    pub requests: u64,
    /// Requests started (≥ finished).
    pub started_requests: u64,
    /// Started but abandoned at the end.
    pub unfinished_requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Contract-expected rejections (repeated/own votes).
    pub expected: u64,
    /// Errors.
    pub errors: u64,
    /// errors / requests.
    pub error_rate: f64,
    /// Finished requests per second over the run.
    pub throughput_rps: f64,
    /// Most users running at once.
    pub peak_users: u64,
    /// Over all requests (`None` if none finished).
    pub latency: Option<LatencySummary>,
    /// Per endpoint.
    pub endpoints: Vec<EndpointRow>,
    /// Status (or failure kind) counts per endpoint.
    pub statuses: BTreeMap<String, BTreeMap<String, u64>>,
    /// Actions skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Thresholds.
    pub criteria: Criteria,
    /// PASS/FAIL.
    pub verdict: Verdict,
}

/// One line of `endpoints.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRow {
    /// Endpoint name (see [`Endpoint::as_str`]), or `all`.
    pub endpoint: String,
    /// Finished requests.
    pub requests: u64,
    /// 2xx.
    pub ok: u64,
    /// Expected rejections.
    pub expected: u64,
    /// Errors.
    pub errors: u64,
    /// errors / requests.
    pub error_rate: f64,
    /// Latency percentiles, empty when no request finished.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Slowest.
    pub max_ms: Option<f64>,
    /// Mean.
    pub mean_ms: Option<f64>,
}

impl EndpointRow {
    fn new(endpoint: &str, stats: &EndpointStats) -> Self {
        let latency = LatencySummary::from_histogram(&stats.latency);
        Self {
            endpoint: endpoint.to_string(),
            requests: stats.requests,
            ok: stats.ok,
            expected: stats.expected,
            errors: stats.errors,
            error_rate: stats::ratio(stats.errors, stats.requests),
            p50_ms: latency.map(|l| l.p50_ms),
            p95_ms: latency.map(|l| l.p95_ms),
            p99_ms: latency.map(|l| l.p99_ms),
            max_ms: latency.map(|l| l.max_ms),
            mean_ms: latency.map(|l| l.mean_ms),
        }
    }
}

/// One line of a web run's `timeseries.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficRow {
    /// Seconds since the start.
    pub second: u64,
    /// Users running.
    pub active_users: u64,
    /// Requests finished in this second (= throughput, requests/s).
    pub requests: u64,
    /// Errors among them.
    pub errors: u64,
    /// Latency percentiles of this second's requests; empty for an idle second.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Slowest.
    pub max_ms: Option<f64>,
}

impl TrafficRow {
    fn new(second: usize, stats: &SecondStats) -> Self {
        let latency = LatencySummary::from_histogram(&stats.latency);
        Self {
            second: second as u64,
            active_users: stats.active_users,
            requests: stats.requests,
            errors: stats.errors,
            p50_ms: latency.map(|l| l.p50_ms),
            p95_ms: latency.map(|l| l.p95_ms),
            p99_ms: latency.map(|l| l.p99_ms),
            max_ms: latency.map(|l| l.max_ms),
        }
    }
}

/// Endpoint rows in report order, followed by an `all` row.
pub fn endpoint_rows(stats: &RunStats) -> Vec<EndpointRow> {
    let mut rows: Vec<EndpointRow> = Endpoint::ALL
        .iter()
        .filter_map(|e| {
            stats
                .endpoints
                .get(e)
                .map(|s| EndpointRow::new(e.as_str(), s))
        })
        .collect();
    let mut all = EndpointStats {
        latency: stats.overall_latency(),
        ..EndpointStats::default()
    };
    for s in stats.endpoints.values() {
        all.requests += s.requests;
        all.ok += s.ok;
        all.expected += s.expected;
        all.errors += s.errors;
    }
    rows.push(EndpointRow::new("all", &all));
    rows
}

/// One row per second of the run.
pub fn traffic_rows(stats: &RunStats) -> Vec<TrafficRow> {
    stats
        .seconds
        .iter()
        .enumerate()
        .map(|(second, s)| TrafficRow::new(second, s))
        .collect()
}

/// Writes `rows` as CSV with a header line.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    for row in rows {
        writer
            .serialize(row)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    writer.flush()?;
    Ok(())
}

/// Reads a CSV written by [`write_csv`].
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("parsing {}", path.display()))
}

/// Writes `summary.json`.
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<()> {
    let path = dir.join(SUMMARY_FILE);
    let json = serde_json::to_string_pretty(summary)?;
    fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Reads `summary.json`.
pub fn read_summary(dir: &Path) -> Result<Summary> {
    let path = dir.join(SUMMARY_FILE);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use crate::stats::Recorder;

    fn sample_stats() -> RunStats {
        let start = Instant::now();
        let rec = Recorder::starting_at(start);
        let ms = Duration::from_millis;
        for i in 0..20u64 {
            rec.record(Endpoint::Rankings, Ok(200), ms(10 + i), start + ms(i * 100));
        }
        rec.record(Endpoint::Vote, Ok(403), ms(30), start + ms(2500));
        rec.record(Endpoint::Upload, Err("timeout"), ms(1000), start + ms(3200));
        rec.sample_users(start + ms(500), 3);
        rec.snapshot()
    }

    #[test]
    fn endpoint_rows_add_up_to_the_all_row() {
        let rows = endpoint_rows(&sample_stats());
        let names: Vec<&str> = rows.iter().map(|r| r.endpoint.as_str()).collect();
        assert_eq!(names, vec!["rankings", "vote", "upload", "all"]);
        let all = rows.last().unwrap();
        assert_eq!(
            (all.requests, all.ok, all.expected, all.errors),
            (22, 20, 1, 1)
        );
        assert!((all.error_rate - 1.0 / 22.0).abs() < 1e-12);
        assert_eq!(rows[2].error_rate, 1.0);
        assert!((all.max_ms.unwrap() - 1000.0).abs() < 1.0);
    }

    #[test]
    fn csv_round_trip_keeps_rows_including_idle_seconds() {
        let stats = sample_stats();
        let dir = tempfile::tempdir().unwrap();

        let traffic = traffic_rows(&stats);
        assert_eq!(traffic.len(), 4);
        assert_eq!(traffic[0].active_users, 3);
        assert_eq!(traffic[2].requests, 1);
        let path = dir.path().join(TIMESERIES_FILE);
        write_csv(&path, &traffic).unwrap();
        let back: Vec<TrafficRow> = read_csv(&path).unwrap();
        assert_eq!(back, traffic);

        let endpoints = endpoint_rows(&stats);
        let path = dir.path().join(ENDPOINTS_FILE);
        write_csv(&path, &endpoints).unwrap();
        let back: Vec<EndpointRow> = read_csv(&path).unwrap();
        assert_eq!(back, endpoints);

        // An idle second is written with empty latency cells, not zeros.
        let idle = TrafficRow::new(9, &SecondStats::default());
        write_csv(&path, std::slice::from_ref(&idle)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().nth(1), Some("9,0,0,0,,,,"));
        assert_eq!(read_csv::<TrafficRow>(&path).unwrap(), vec![idle]);
    }

    #[test]
    fn run_dir_is_named_by_time_and_scenario() {
        let root = tempfile::tempdir().unwrap();
        let when = DateTime::parse_from_rfc3339("2026-11-22T21:30:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let dir = create_run_dir(root.path(), "ramp", when).unwrap();
        assert!(dir.is_dir());
        assert_eq!(dir.file_name().unwrap(), "20261122T213005Z-ramp");
    }
}
