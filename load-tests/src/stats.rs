//! Measurement: per-endpoint counters and latency histograms, per-second buckets,
//! and the pass/fail rule applied to a finished run.
//!
//! Latencies are recorded in microseconds into HDR histograms, so percentiles stay
//! accurate (to the configured significant digits) however many samples a run takes,
//! and histograms from different endpoints or seconds can be merged exactly.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram tracks (1 hour, in µs); anything slower is clamped,
/// which only happens if the request timeout is set absurdly high.
const MAX_TRACKED_US: u64 = 3_600_000_000;

/// The p95 latency a run may not exceed to pass (SPEC capacity target: 1 s).
pub const P95_LIMIT_MS: f64 = 1000.0;
/// The share of requests that may fail in a passing run.
pub const MAX_ERROR_RATE: f64 = 0.05;

/// The API operations a virtual user performs; each gets its own statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `POST /api/auth/signup`
    Signup,
    /// `POST /api/auth/login`
    Login,
    /// `GET /api/videos`
    MyVideos,
    /// `POST /api/videos/{id}/publish`
    Publish,
    /// `GET /api/public/videos`
    PublicVideos,
    /// `GET /api/public/rankings`
    Rankings,
    /// `POST /api/public/videos/{id}/vote`
    Vote,
    /// `POST /api/videos/upload`
    Upload,
}

impl Endpoint {
    /// Every endpoint, in report order.
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Signup,
        Endpoint::Login,
        Endpoint::MyVideos,
        Endpoint::Publish,
        Endpoint::PublicVideos,
        Endpoint::Rankings,
        Endpoint::Vote,
        Endpoint::Upload,
    ];

    /// Stable name used in CSV files, JSON and charts.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Signup => "signup",
            Endpoint::Login => "login",
            Endpoint::MyVideos => "my_videos",
            Endpoint::Publish => "publish",
            Endpoint::PublicVideos => "public_videos",
            Endpoint::Rankings => "rankings",
            Endpoint::Vote => "vote",
            Endpoint::Upload => "upload",
        }
    }
}

/// How a finished request counts towards the error rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// A non-2xx answer the API contract makes normal for this request
    /// (a repeated vote, a vote on one's own video); not an error.
    Expected,
    /// Any other status, or no HTTP answer at all (timeout, refused connection).
    Error,
}

/// Classifies a response; `status` is `None` when the request got no HTTP answer.
pub fn classify(endpoint: Endpoint, status: Option<u16>) -> Outcome {
    match status {
        Some(200..=299) => Outcome::Ok,
        // SPEC §2: 400 "already voted" and 403 "own video" are the API working as
        // designed; random voting hits them routinely.
        Some(400 | 403) if endpoint == Endpoint::Vote => Outcome::Expected,
        _ => Outcome::Error,
    }
}

/// Latency percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarises a microsecond histogram; `None` when it holds no samples.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        })
    }
}

/// Creates an empty latency histogram with `sigfig` significant digits.
pub fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, sigfig)
        .expect("static histogram bounds are valid")
}

/// Merges histograms into one (used for the overall latency of a run).
pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut total = new_histogram(3);
    // A 2-digit part's top bucket can reach slightly past the 3-digit range, so let
    // the total grow instead of rejecting it; lower-precision parts are re-bucketed.
    total.auto(true);
    for part in parts {
        total
            .add(part)
            .expect("an auto-resizing histogram accepts any u64 histogram");
    }
    total
}

/// Counters and latencies of one endpoint over a whole run.
#[derive(Debug, Clone)]
pub struct EndpointStats {
    /// Requests that finished (with or without an HTTP answer).
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Non-2xx answers that the contract makes normal (see [`Outcome::Expected`]).
    pub expected: u64,
    /// Everything else.
    pub errors: u64,
    /// Count per status code, or per transport failure kind (`timeout`, `connect`…).
    pub statuses: BTreeMap<String, u64>,
    /// Latency in µs.
    pub latency: Histogram<u64>,
}

impl Default for EndpointStats {
    fn default() -> Self {
        Self {
            requests: 0,
            ok: 0,
            expected: 0,
            errors: 0,
            statuses: BTreeMap::new(),
            latency: new_histogram(3),
        }
    }
}

/// What happened during one second of a run.
#[derive(Debug, Clone)]
pub struct SecondStats {
    /// Virtual users running at the end of the second.
    pub active_users: u64,
    /// Requests that finished in this second.
    pub requests: u64,
    /// Errors among them.
    pub errors: u64,
    /// Their latency in µs; two significant digits keep hundreds of buckets small.
    pub latency: Histogram<u64>,
}

impl Default for SecondStats {
    fn default() -> Self {
        Self {
            active_users: 0,
            requests: 0,
            errors: 0,
            latency: new_histogram(2),
        }
    }
}

/// Everything measured during a run, as copied out of a [`Recorder`].
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Per endpoint; only endpoints that were called appear.
    pub endpoints: BTreeMap<Endpoint, EndpointStats>,
    /// Index = seconds since the run started.
    pub seconds: Vec<SecondStats>,
}

impl RunStats {
    /// Finished requests over all endpoints.
    pub fn total_requests(&self) -> u64 {
        self.endpoints.values().map(|e| e.requests).sum()
    }

    /// Errors over all endpoints.
    pub fn total_errors(&self) -> u64 {
        self.endpoints.values().map(|e| e.errors).sum()
    }

    /// Errors / finished requests (0 when nothing finished).
    pub fn error_rate(&self) -> f64 {
        ratio(self.total_errors(), self.total_requests())
    }

    /// Latency over all endpoints.
    pub fn overall_latency(&self) -> Histogram<u64> {
        merge(self.endpoints.values().map(|e| &e.latency))
    }
}

/// `part / whole`, defined as 0 for an empty whole.
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Thread-safe sink that virtual users report finished requests to.
///
/// One mutex is plenty: a critical section is a few counter bumps, far cheaper than
/// the HTTP round trip that precedes it, even at thousands of requests per second.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    inner: Mutex<RunStats>,
}

impl Recorder {
    /// Starts the run clock now.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// Starts the run clock at `start` (lets tests place samples precisely).
    pub fn starting_at(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::new(RunStats::default()),
        }
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records a request that finished at `finished`; `status` is the HTTP status
    /// or a transport failure label such as `timeout`.
    pub fn record(
        &self,
        endpoint: Endpoint,
        status: Result<u16, &str>,
        latency: Duration,
        finished: Instant,
    ) -> Outcome {
        let outcome = classify(endpoint, status.ok());
        let label = match status {
            Ok(code) => code.to_string(),
            Err(kind) => kind.to_string(),
        };
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let second = self.second_of(finished);

        let mut stats = self.inner.lock().expect("recorder mutex poisoned");
        let ep = stats.endpoints.entry(endpoint).or_default();
        ep.requests += 1;
        match outcome {
            Outcome::Ok => ep.ok += 1,
            Outcome::Expected => ep.expected += 1,
            Outcome::Error => ep.errors += 1,
        }
        *ep.statuses.entry(label).or_default() += 1;
        ep.latency.saturating_record(us);

        let bucket = bucket_mut(&mut stats.seconds, second);
        bucket.requests += 1;
        if outcome == Outcome::Error {
            bucket.errors += 1;
        }
        bucket.latency.saturating_record(us);
        outcome
    }

    /// Notes how many virtual users were running at instant `at`.
    pub fn sample_users(&self, at: Instant, users: u64) {
        let second = self.second_of(at);
        let mut stats = self.inner.lock().expect("recorder mutex poisoned");
        bucket_mut(&mut stats.seconds, second).active_users = users;
    }

    /// Copies the current measurements out.
    pub fn snapshot(&self) -> RunStats {
        self.inner.lock().expect("recorder mutex poisoned").clone()
    }

    fn second_of(&self, at: Instant) -> usize {
        at.saturating_duration_since(self.start).as_secs() as usize
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket for `second`, growing the series with empty seconds as needed so
/// idle seconds still show up (as zero throughput) in the time series.
fn bucket_mut(seconds: &mut Vec<SecondStats>, second: usize) -> &mut SecondStats {
    if seconds.len() <= second {
        seconds.resize_with(second + 1, SecondStats::default);
    }
    &mut seconds[second]
}

/// The outcome of applying the pass criteria to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True when every criterion holds.
    pub pass: bool,
    /// One line per violated criterion (empty on a pass).
    pub reasons: Vec<String>,
}

impl Verdict {
    /// `PASS` or `FAIL`.
    pub fn label(&self) -> &'static str {
        if self.pass { "PASS" } else { "FAIL" }
    }
}

/// Applies the pass rule: p95 ≤ 1 s and error rate ≤ 5 %; a run that finished no
/// request measured nothing and fails.
pub fn verdict(requests: u64, p95_ms: Option<f64>, error_rate: f64) -> Verdict {
    let mut reasons = Vec::new();
    if requests == 0 {
        reasons.push("no request finished".to_string());
    }
    if let Some(p95) = p95_ms
        && p95 > P95_LIMIT_MS
    {
        reasons.push(format!("p95 {p95:.1} ms > {P95_LIMIT_MS} ms"));
    }
    if error_rate > MAX_ERROR_RATE {
        reasons.push(format!(
            "error rate {:.2} % > {:.0} %",
            error_rate * 100.0,
            MAX_ERROR_RATE * 100.0
        ));
    }
    Verdict {
        pass: reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= expected * rel
    }

    #[test]
    fn vote_rejections_are_expected_but_other_4xx_are_errors() {
        assert_eq!(classify(Endpoint::Vote, Some(200)), Outcome::Ok);
        assert_eq!(classify(Endpoint::Vote, Some(400)), Outcome::Expected);
        assert_eq!(classify(Endpoint::Vote, Some(403)), Outcome::Expected);
        assert_eq!(classify(Endpoint::Vote, Some(404)), Outcome::Error);
        assert_eq!(classify(Endpoint::Upload, Some(400)), Outcome::Error);
        assert_eq!(classify(Endpoint::Rankings, Some(403)), Outcome::Error);
        assert_eq!(classify(Endpoint::Signup, Some(201)), Outcome::Ok);
        assert_eq!(classify(Endpoint::Login, None), Outcome::Error);
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut h = new_histogram(3);
        // 1..=1000 ms, one sample each.
        for ms in 1..=1000u64 {
            h.record(ms * 1000).unwrap();
        }
        let s = LatencySummary::from_histogram(&h).unwrap();
        assert!(within(s.p50_ms, 500.0, 0.002), "p50 {}", s.p50_ms);
        assert!(within(s.p95_ms, 950.0, 0.002), "p95 {}", s.p95_ms);
        assert!(within(s.p99_ms, 990.0, 0.002), "p99 {}", s.p99_ms);
        assert!(within(s.max_ms, 1000.0, 0.002), "max {}", s.max_ms);
        assert!(within(s.mean_ms, 500.5, 0.002), "mean {}", s.mean_ms);
        assert!(LatencySummary::from_histogram(&new_histogram(3)).is_none());
    }

    #[test]
    fn merged_percentiles_weigh_every_sample() {
        // 90 fast samples on one endpoint and 10 slow ones on another: the merged
        // p95 must land among the slow ones, which averaging per-endpoint p95s
        // would not give.
        let mut fast = new_histogram(3);
        let mut slow = new_histogram(2);
        fast.record_n(10_000, 90).unwrap();
        slow.record_n(2_000_000, 10).unwrap();
        let merged = merge([&fast, &slow]);
        assert_eq!(merged.len(), 100);
        let s = LatencySummary::from_histogram(&merged).unwrap();
        assert!(within(s.p50_ms, 10.0, 0.01), "p50 {}", s.p50_ms);
        assert!(within(s.p95_ms, 2000.0, 0.01), "p95 {}", s.p95_ms);
    }

    #[test]
    fn recorder_counts_outcomes_and_buckets_by_second() {
        let start = Instant::now();
        let rec = Recorder::starting_at(start);
        let ms = Duration::from_millis;
        rec.record(Endpoint::Vote, Ok(200), ms(5), start + ms(100));
        rec.record(Endpoint::Vote, Ok(400), ms(5), start + ms(200));
        rec.record(Endpoint::Vote, Ok(500), ms(5), start + ms(1500));
        rec.record(
            Endpoint::Rankings,
            Err("timeout"),
            ms(900),
            start + ms(3100),
        );
        rec.sample_users(start + ms(3900), 7);

        let stats = rec.snapshot();
        let vote = &stats.endpoints[&Endpoint::Vote];
        assert_eq!(
            (vote.requests, vote.ok, vote.expected, vote.errors),
            (3, 1, 1, 1)
        );
        assert_eq!(vote.statuses["400"], 1);
        assert_eq!(stats.endpoints[&Endpoint::Rankings].statuses["timeout"], 1);
        assert_eq!(stats.total_requests(), 4);
        assert_eq!(stats.total_errors(), 2);
        assert!((stats.error_rate() - 0.5).abs() < 1e-9);

        let per_second: Vec<(u64, u64, u64)> = stats
            .seconds
            .iter()
            .map(|s| (s.requests, s.errors, s.active_users))
            .collect();
        assert_eq!(per_second, vec![(2, 0, 0), (1, 1, 0), (0, 0, 0), (1, 1, 7)]);
    }

    #[test]
    fn pass_rule_limits_p95_and_error_rate() {
        assert!(verdict(100, Some(999.0), 0.05).pass);
        assert!(verdict(100, Some(1000.0), 0.0).pass);
        let slow = verdict(100, Some(1000.5), 0.0);
        assert!(!slow.pass);
        assert_eq!(slow.reasons.len(), 1);
        assert!(!verdict(100, Some(10.0), 0.0501).pass);
        let both = verdict(100, Some(5000.0), 0.5);
        assert_eq!((both.pass, both.reasons.len()), (false, 2));
        assert_eq!(both.label(), "FAIL");
        assert!(!verdict(0, None, 0.0).pass);
        assert_eq!(verdict(1, Some(1.0), 0.0).label(), "PASS");
    }
}
