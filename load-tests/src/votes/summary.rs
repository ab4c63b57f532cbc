//! The figures of a votes run: `summary.json`, `timeseries.csv`, the printed table
//! line, and the arithmetic behind them (steady window, CPU seconds).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::flood::VotesStop;
use super::probe::ProbeReport;
use super::seed::{Recount, Removed};
use super::tally::{Class, Percentiles, TICK, Tally};

/// The settings a votes run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VotesSettings {
    /// Seeded voters.
    pub voters: u32,
    /// Seeded public videos.
    pub videos: u32,
    /// `distinct` or `one`.
    pub owners: String,
    /// Players owning the videos.
    pub owner_count: u32,
    /// Vote connections.
    pub connections: u32,
    /// Share of pairs re-sent.
    pub duplicates: f64,
    /// Ranking readers.
    pub readers: u32,
    /// What the readers read in turn.
    pub reader_paths: Vec<String>,
    /// Time between probe votes; none without the probe.
    pub probe_interval_ms: Option<u64>,
    /// Start of the steady window.
    pub warmup_s: f64,
    /// Time cap.
    pub duration_s: f64,
    /// Request budget.
    pub max_requests: u64,
    /// Per-request timeout.
    pub request_timeout_s: f64,
    /// Shuffle seed.
    pub seed: u64,
}

/// The time over which votes/s is measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Seconds after the start.
    pub from_s: f64,
    /// Seconds after the start.
    pub to_s: f64,
    /// False when the run was too short for a window of at least 1 s after the warm-up:
    /// then the figures are over the whole flood.
    pub steady: bool,
}

impl Window {
    /// From the warm-up to the moment the plan ran out or a stop was called (after
    /// that, fewer connections are busy). Needs at least one second; otherwise the
    /// whole flood.
    pub fn new(warmup: Duration, end: Option<Duration>, elapsed: Duration) -> Self {
        let from = warmup.as_millis().div_ceil(TICK.as_millis());
        let to = end.unwrap_or(elapsed).as_millis() / TICK.as_millis();
        let per_s = (1000 / TICK.as_millis()) as f64;
        if to > from && (to - from) as f64 / per_s >= 1.0 {
            Self {
                from_s: from as f64 / per_s,
                to_s: to as f64 / per_s,
                steady: true,
            }
        } else {
            Self {
                from_s: 0.0,
                to_s: elapsed.as_secs_f64(),
                steady: false,
            }
        }
    }

    /// Answers of `class` per second in this window.
    pub fn rate(&self, tally: &Tally, class: Option<Class>) -> f64 {
        let length = (self.to_s - self.from_s).max(1e-3);
        let count = if self.steady {
            let from = (self.from_s / TICK.as_secs_f64()).round() as usize;
            let to = (self.to_s / TICK.as_secs_f64()).round() as usize;
            match class {
                Some(class) => tally.in_ticks(class, from, to),
                None => [Class::Ok, Class::Rejected, Class::Other]
                    .iter()
                    .map(|c| tally.in_ticks(*c, from, to))
                    .sum(),
            }
        } else {
            match class {
                Some(Class::Ok) => tally.status(200),
                Some(Class::Rejected) => tally.status(400),
                Some(Class::Other) => tally.requests() - tally.status(200) - tally.status(400),
                None => tally.requests(),
            }
        };
        count as f64 / length
    }
}

/// Counts and latencies of one kind of request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Finished requests.
    pub requests: u64,
    /// `200`.
    pub ok: u64,
    /// `400` (for votes: already voted).
    pub rejected: u64,
    /// `5xx`.
    pub server_errors: u64,
    /// Requests without an HTTP answer.
    pub failures: u64,
    /// Abandoned in flight at the end.
    pub unfinished: u64,
    /// Per status code or failure kind.
    pub statuses: BTreeMap<String, u64>,
    /// Per second in the window (`200`s only for votes; every answer for readers).
    pub per_s: f64,
    /// Of answered requests.
    pub latency: Option<Percentiles>,
    /// TCP connections opened.
    pub connects: u64,
}

impl Traffic {
    /// Summarises a tally; `per_s` counts `rate_of` answers in `window`.
    pub fn new(tally: &Tally, window: &Window, rate_of: Option<Class>) -> Self {
        Self {
            requests: tally.requests(),
            ok: tally.status(200),
            rejected: tally.status(400),
            server_errors: tally.server_errors(),
            failures: tally.failures(),
            unfinished: tally.unfinished,
            statuses: tally.statuses(),
            per_s: window.rate(tally, rate_of),
            latency: Percentiles::of(&tally.latency),
            connects: tally.connects,
        }
    }
}

/// Pairs planned and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairs {
    /// Distinct pairs planned (voters × videos).
    pub unique: u64,
    /// Re-sent pairs planned.
    pub duplicates: u64,
    /// Requests sent from the plan.
    pub sent: u64,
    /// `200`s those should get: distinct pairs among them.
    pub expected_ok: u64,
    /// `400`s they should get: the rest.
    pub expected_rejected: u64,
}

/// `summary.json` of a votes run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VotesSummary {
    /// Free-form tag from `--label`.
    pub label: Option<String>,
    /// API under test.
    pub base_url: String,
    /// Id in every seeded e-mail address (`load.votes.<run_id>.…`).
    pub run_id: String,
    /// Wall-clock start of the flood.
    pub started_at: DateTime<Utc>,
    /// Inputs.
    pub settings: VotesSettings,
    /// Why the flood ended.
    pub stop_reason: VotesStop,
    /// First vote to the end of the last vote task, seconds.
    pub elapsed_s: f64,
    /// Requests started (votes, reads and probe; at most `--max-requests`).
    pub started_requests: u64,
    /// Where votes/s and reads/s are measured.
    pub window: Window,
    /// Pairs planned, sent and the answers they should get.
    pub pairs: Pairs,
    /// Vote answers; `per_s` is `200`s per second.
    pub votes: Traffic,
    /// Ranking reads; `None` without readers.
    pub readers: Option<Traffic>,
    /// Visibility lag; `None` with `--no-probe`.
    pub probe: Option<ProbeReport>,
    /// CPU seconds this harness used during the flood.
    pub harness_cpu_s: Option<f64>,
    /// CPU seconds of `--web-pid` during the flood.
    pub web_cpu_s: Option<f64>,
    /// Rows and counters in the database after the flood.
    pub recount: Recount,
    /// What was deleted at the end; `None` with `--keep`.
    pub removed: Option<Removed>,
}

impl VotesSummary {
    /// Whether the answers are exactly what the plan implies: every distinct pair sent
    /// answered `200` once, every re-sent one `400`, nothing else, and the database
    /// holds one row per `200` with counters equal to the rows.
    pub fn counts_match(&self) -> bool {
        self.votes.ok == self.pairs.expected_ok
            && self.votes.rejected == self.pairs.expected_rejected
            && self.votes.requests == self.pairs.sent
            && self.recount.vote_rows == self.votes.ok as i64
            && self.recount.consistent
    }
}

/// One line of a votes run's `timeseries.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteSecond {
    /// Seconds since the start.
    pub second: u64,
    /// Votes answered `200` in this second.
    pub votes_ok: u64,
    /// Votes answered `400`.
    pub votes_rejected: u64,
    /// Votes answered otherwise or not at all.
    pub votes_other: u64,
    /// Ranking reads finished.
    pub reads: u64,
    /// Reads not answered `200`.
    pub read_errors: u64,
}

/// Per-second rows from the 100 ms ticks.
pub fn seconds(votes: &Tally, reads: &Tally) -> Vec<VoteSecond> {
    let per_s = (1000 / TICK.as_millis()) as usize;
    let ticks = votes.ticks.len().max(reads.ticks.len());
    (0..ticks.div_ceil(per_s))
        .map(|s| {
            let (from, to) = (s * per_s, (s + 1) * per_s);
            VoteSecond {
                second: s as u64,
                votes_ok: votes.in_ticks(Class::Ok, from, to),
                votes_rejected: votes.in_ticks(Class::Rejected, from, to),
                votes_other: votes.in_ticks(Class::Other, from, to),
                reads: [Class::Ok, Class::Rejected, Class::Other]
                    .iter()
                    .map(|c| reads.in_ticks(*c, from, to))
                    .sum(),
                read_errors: reads.in_ticks(Class::Rejected, from, to)
                    + reads.in_ticks(Class::Other, from, to),
            }
        })
        .collect()
}

/// CPU seconds (user + system, all threads) of a process so far, from
/// `/proc/<pid>/stat`; `None` for the harness itself.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    parse_cpu_seconds(&std::fs::read_to_string(path).ok()?)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds. The counters are in
/// USER_HZ, which Linux fixes at 100 per second for user space.
fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Header of [`table_line`].
pub const TABLE_HEADER: &str = "owners    votes/s      200     400  other   5xx  p50 ms  p90 ms  p99 ms  max ms  reads/s  r.p50  r.p99  lag p50  lag max  cpu s  secs";

/// The run in one line under [`TABLE_HEADER`].
pub fn table_line(s: &VotesSummary) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let votes = s.votes.latency;
    let reads = s.readers.as_ref().and_then(|r| r.latency);
    let lag = s.probe.as_ref().and_then(|p| p.lag);
    let other = s.votes.requests - s.votes.ok - s.votes.rejected;
    format!(
        "{:<8} {:>8.0} {:>8} {:>7} {:>6} {:>5} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>8} {:>8} {:>6} {:>5.1}",
        s.settings.owners,
        s.votes.per_s,
        s.votes.ok,
        s.votes.rejected,
        other,
        s.votes.server_errors,
        ms(votes.map(|l| l.p50_ms)),
        ms(votes.map(|l| l.p90_ms)),
        ms(votes.map(|l| l.p99_ms)),
        ms(votes.map(|l| l.max_ms)),
        s.readers
            .as_ref()
            .map_or("-".to_string(), |r| format!("{:.0}", r.per_s)),
        ms(reads.map(|l| l.p50_ms)),
        ms(reads.map(|l| l.p99_ms)),
        ms(lag.map(|l| l.p50_ms)),
        ms(lag.map(|l| l.max_ms)),
        s.harness_cpu_s
            .map_or("-".to_string(), |c| format!("{c:.1}")),
        s.elapsed_s
    )
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_window_runs_from_the_warmup_to_the_end_of_the_plan() {
        let s = Duration::from_secs_f64;
        let w = Window::new(s(1.0), Some(s(9.46)), s(9.8));
        assert_eq!((w.from_s, w.to_s, w.steady), (1.0, 9.4, true));
        let w = Window::new(s(0.25), None, s(3.0));
        assert_eq!((w.from_s, w.to_s, w.steady), (0.3, 3.0, true));
        // Too short for one second after the warm-up: the whole flood.
        let w = Window::new(s(1.0), Some(s(1.5)), s(1.7));
        assert_eq!((w.from_s, w.to_s, w.steady), (0.0, 1.7, false));
    }

    #[test]
    fn rates_count_answers_inside_the_window_only() {
        let start = Instant::now() - Duration::from_millis(1250);
        let mut tally = Tally::default();
        for _ in 0..30 {
            tally.record(start, Instant::now(), Ok(200));
        }
        tally.record(start, Instant::now(), Ok(400));
        let all = tally.ticks.len();
        let inside = Window {
            from_s: 0.0,
            to_s: all as f64 * 0.1,
            steady: true,
        };
        assert!((inside.rate(&tally, Some(Class::Ok)) - 30.0 / inside.to_s).abs() < 1e-9);
        assert!((inside.rate(&tally, None) - 31.0 / inside.to_s).abs() < 1e-9);
        let before = Window {
            from_s: 0.0,
            to_s: 1.0,
            steady: true,
        };
        assert_eq!(before.rate(&tally, Some(Class::Ok)), 0.0);
        let whole = Window {
            from_s: 0.0,
            to_s: 2.0,
            steady: false,
        };
        assert_eq!(whole.rate(&tally, Some(Class::Ok)), 15.0);
        assert_eq!(whole.rate(&tally, Some(Class::Rejected)), 0.5);

        let rows = seconds(&tally, &Tally::default());
        assert_eq!(rows.iter().map(|r| r.votes_ok).sum::<u64>(), 30);
        assert_eq!(rows.iter().map(|r| r.votes_rejected).sum::<u64>(), 1);
        assert_eq!(rows[0].votes_ok, 0, "nothing finished in the first second");
    }

    #[test]
    fn cpu_seconds_come_from_proc_stat() {
        let line = "4242 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 130 0 0 20 0 3 0";
        assert_eq!(parse_cpu_seconds(line), Some(3.8));
        assert_eq!(parse_cpu_seconds("garbage"), None);
        assert!(cpu_seconds(None).is_some_and(|s| s >= 0.0));
    }
}
