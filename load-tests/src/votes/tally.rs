//! Counting without sharing: every task keeps its own [`Tally`] (status counts, an HDR
//! latency histogram, answers per 100 ms tick) and the run merges them at the end, so
//! recording a request costs no lock and no allocation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::conn::Failure;
use crate::stats::new_histogram;

/// Width of a time bucket: fine enough to cut the steady window to 0.1 s.
pub const TICK: Duration = Duration::from_millis(100);

/// How an answer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `200`.
    Ok,
    /// `400`: for votes, a pair voted before (the contract's answer to a duplicate).
    Rejected,
    /// Anything else, answered or not.
    Other,
}

impl Class {
    /// Classifies a status (`None`: no HTTP answer).
    pub fn of(status: Option<u16>) -> Self {
        match status {
            Some(200) => Class::Ok,
            Some(400) => Class::Rejected,
            _ => Class::Other,
        }
    }
}

/// What one task (or, merged, a whole group of tasks) saw.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Answers per status code (index = code).
    statuses: Vec<u64>,
    /// Requests without an answer, per [`Failure`] kind (index = discriminant).
    failures: [u64; 4],
    /// Latency of answered requests, µs.
    pub latency: Histogram<u64>,
    /// Per [`TICK`] since the start: answers that were `[ok, rejected, other]`.
    pub ticks: Vec<[u32; 3]>,
    /// Requests abandoned in flight at the end of the run.
    pub unfinished: u64,
    /// TCP connections opened.
    pub connects: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            statuses: vec![0; 600],
            failures: [0; 4],
            latency: new_histogram(3),
            ticks: Vec::new(),
            unfinished: 0,
            connects: 0,
        }
    }
}

impl Tally {
    /// Records a request sent at `sent` that just finished; `start` is the run's time 0.
    pub fn record(&mut self, start: Instant, sent: Instant, outcome: Result<u16, Failure>) {
        let finished = Instant::now();
        let status = match outcome {
            Ok(status) => {
                match self.statuses.get_mut(usize::from(status)) {
                    Some(count) => *count += 1,
                    // Not an HTTP status; a broken server, counted as a transport failure.
                    None => self.failures[Failure::Transport as usize] += 1,
                }
                let us = (finished - sent).as_micros().max(1) as u64;
                let _ = self.latency.record(us.min(self.latency.high()));
                Some(status)
            }
            Err(failure) => {
                self.failures[failure as usize] += 1;
                None
            }
        };
        let tick =
            ((finished.saturating_duration_since(start)).as_millis() / TICK.as_millis()) as usize;
        if self.ticks.len() <= tick {
            self.ticks.resize(tick + 1, [0; 3]);
        }
        let slot = match Class::of(status) {
            Class::Ok => 0,
            Class::Rejected => 1,
            Class::Other => 2,
        };
        self.ticks[tick][slot] += 1;
    }

    /// Adds `other` into this tally.
    pub fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.statuses.iter_mut().zip(&other.statuses) {
            *mine += theirs;
        }
        for (mine, theirs) in self.failures.iter_mut().zip(other.failures) {
            *mine += theirs;
        }
        self.latency
            .add(&other.latency)
            .expect("histograms of the same bounds merge");
        if self.ticks.len() < other.ticks.len() {
            self.ticks.resize(other.ticks.len(), [0; 3]);
        }
        for (mine, theirs) in self.ticks.iter_mut().zip(&other.ticks) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
        self.unfinished += other.unfinished;
        self.connects += other.connects;
    }

    /// Counts by status code or failure kind (`"200"`, `"400"`, `"timeout"`…).
    pub fn statuses(&self) -> BTreeMap<String, u64> {
        let answered = self
            .statuses
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code.to_string(), *n));
        let failed = Failure::ALL
            .iter()
            .zip(self.failures)
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| (f.as_str().to_string(), n));
        answered.chain(failed).collect()
    }

    /// Answers with this status.
    pub fn status(&self, code: u16) -> u64 {
        self.statuses.get(usize::from(code)).copied().unwrap_or(0)
    }

    /// `5xx` answers.
    pub fn server_errors(&self) -> u64 {
        self.statuses[500..600].iter().sum()
    }

    /// Requests that finished, answered or not.
    pub fn requests(&self) -> u64 {
        self.statuses.iter().sum::<u64>() + self.failures.iter().sum::<u64>()
    }

    /// Requests that got no HTTP answer.
    pub fn failures(&self) -> u64 {
        self.failures.iter().sum()
    }

    /// Answers of `class` finishing in ticks `[from, to)`.
    pub fn in_ticks(&self, class: Class, from: usize, to: usize) -> u64 {
        let slot = match class {
            Class::Ok => 0,
            Class::Rejected => 1,
            Class::Other => 2,
        };
        self.ticks
            .iter()
            .take(to)
            .skip(from)
            .map(|t| u64::from(t[slot]))
            .sum()
    }
}

/// Latency percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Percentiles {
    /// Summarises a µs histogram; `None` when empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_classes_per_tick_and_merge_exactly() {
        let start = Instant::now() - Duration::from_millis(250);
        let mut a = Tally::default();
        a.record(start, Instant::now(), Ok(200));
        a.record(start, Instant::now(), Ok(400));
        a.record(start, Instant::now(), Ok(503));
        let mut b = Tally::default();
        b.record(start, Instant::now(), Ok(200));
        b.record(start, Instant::now(), Err(Failure::Timeout));
        b.unfinished = 2;
        a.merge(&b);
        assert_eq!(a.requests(), 5);
        assert_eq!((a.status(200), a.status(400), a.server_errors()), (2, 1, 1));
        assert_eq!(a.failures(), 1);
        assert_eq!(a.unfinished, 2);
        assert_eq!(a.latency.len(), 4, "only answered requests have a latency");
        let statuses = a.statuses();
        assert_eq!(statuses["200"], 2);
        assert_eq!(statuses["timeout"], 1);
        assert!(!statuses.contains_key("connect"));
        // Everything landed in the tick of 0.2–0.3 s (or a later one on a slow machine).
        assert!(a.ticks.len() >= 3);
        let all = a.ticks.len();
        assert_eq!(a.in_ticks(Class::Ok, 0, all), 2);
        assert_eq!(a.in_ticks(Class::Rejected, 0, all), 1);
        assert_eq!(a.in_ticks(Class::Other, 0, all), 2);
        assert_eq!(a.in_ticks(Class::Ok, 0, 2), 0);
    }

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut h = new_histogram(3);
        for us in 1..=1000 {
            h.record(us * 100).unwrap();
        }
        let p = Percentiles::of(&h).unwrap();
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p90_ms - 90.0).abs() < 0.1, "{p:?}");
        assert!((p.p99_ms - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
        assert!(Percentiles::of(&new_histogram(3)).is_none());
    }
}
