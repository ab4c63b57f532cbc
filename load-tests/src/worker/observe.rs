//! What the harness learns about injected jobs by polling their rows, and the
//! throughput figures derived from it. Pure bookkeeping, so it is unit-tested
//! without a database.
//!
//! Times are seconds since the first job was enqueued. A job's start is the first
//! poll that saw it `processing` (polls are 250 ms apart, so a start is late by at
//! most that much); its end is the row's own `processed_at`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a job stands, as far as the harness can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting in the queue (`uploaded`), including between retries.
    Waiting,
    /// A worker holds it.
    Processing,
    /// Done (`processed`, or `public` if someone published it meanwhile).
    Processed,
    /// Given up (`failed`).
    Failed,
    /// The row is gone (deleted during the run).
    Gone,
}

impl JobState {
    fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Processed | JobState::Failed | JobState::Gone
        )
    }
}

#[derive(Debug, Clone)]
struct Job {
    state: JobState,
    enqueued_s: f64,
    started_s: Option<f64>,
    finished_s: Option<f64>,
}

/// Counts of injected jobs per state at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Waiting.
    pub waiting: u64,
    /// Processing.
    pub processing: u64,
    /// Processed.
    pub processed: u64,
    /// Failed or gone.
    pub failed: u64,
}

/// Per-job timings of a worker run.
#[derive(Debug, Default)]
pub struct Tracker {
    jobs: BTreeMap<i64, Job>,
}

impl Tracker {
    /// Notes that job `id` was enqueued at `at_s`.
    pub fn enqueued(&mut self, id: i64, at_s: f64) {
        self.jobs.insert(
            id,
            Job {
                state: JobState::Waiting,
                enqueued_s: at_s,
                started_s: None,
                finished_s: None,
            },
        );
    }

    /// Applies one poll result: job `id` seen in `state` at `now_s`; `finished_s` is
    /// the row's `processed_at` when it has one.
    pub fn observe(&mut self, id: i64, state: JobState, now_s: f64, finished_s: Option<f64>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.state.is_terminal() {
            return;
        }
        if state == JobState::Processing && job.started_s.is_none() {
            job.started_s = Some(now_s);
        }
        if state.is_terminal() {
            job.finished_s = Some(finished_s.unwrap_or(now_s));
        }
        job.state = state;
    }

    /// Ids of the jobs not yet finished.
    pub fn pending_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.jobs
            .iter()
            .filter(|(_, j)| !j.state.is_terminal())
            .map(|(id, _)| *id)
    }

    /// Whether every job reached a final state.
    pub fn all_done(&self) -> bool {
        self.jobs.values().all(|j| j.state.is_terminal())
    }

    /// Jobs per state now.
    pub fn counts(&self) -> StateCounts {
        let mut c = StateCounts::default();
        for job in self.jobs.values() {
            match job.state {
                JobState::Waiting => c.waiting += 1,
                JobState::Processing => c.processing += 1,
                JobState::Processed => c.processed += 1,
                JobState::Failed | JobState::Gone => c.failed += 1,
            }
        }
        c
    }

    /// Throughput and timing figures over the processed jobs.
    pub fn throughput(&self) -> Throughput {
        let done: Vec<&Job> = self
            .jobs
            .values()
            .filter(|j| j.state == JobState::Processed)
            .collect();
        let mut service: Vec<f64> = done
            .iter()
            .filter_map(|j| Some(j.finished_s? - j.started_s?))
            .map(|s| s.max(0.0))
            .collect();
        service.sort_by(f64::total_cmp);
        let turnaround: Vec<f64> = done
            .iter()
            .filter_map(|j| Some(j.finished_s? - j.enqueued_s))
            .collect();
        let last_finish = done.iter().filter_map(|j| j.finished_s).fold(0.0, f64::max);
        let processed = done.len() as u64;
        Throughput {
            processed,
            videos_per_min: (last_finish > 0.0).then(|| processed as f64 * 60.0 / last_finish),
            makespan_s: (processed > 0).then_some(last_finish),
            mean_service_s: mean(&service),
            p50_service_s: quantile(&service, 0.50),
            p95_service_s: quantile(&service, 0.95),
            max_service_s: service.last().copied(),
            mean_turnaround_s: mean(&turnaround),
            // Busy time over elapsed time: how many jobs ran side by side on average,
            // which should approach workers × WORKER_CONCURRENCY when they keep up.
            effective_parallelism: (last_finish > 0.0 && !service.is_empty())
                .then(|| service.iter().sum::<f64>() / last_finish),
        }
    }
}

/// Figures of a worker run; `None` where nothing was processed to measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Jobs processed.
    pub processed: u64,
    /// Processed jobs per minute, from the first enqueue to the last completion.
    pub videos_per_min: Option<f64>,
    /// First enqueue to last completion.
    pub makespan_s: Option<f64>,
    /// Mean time a worker spent on a job (first seen processing → processed_at).
    pub mean_service_s: Option<f64>,
    /// Median service time.
    pub p50_service_s: Option<f64>,
    /// 95th percentile service time.
    pub p95_service_s: Option<f64>,
    /// Longest service time.
    pub max_service_s: Option<f64>,
    /// Mean time from enqueue to processed (queueing + service).
    pub mean_turnaround_s: Option<f64>,
    /// Sum of service times / makespan.
    pub effective_parallelism: Option<f64>,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn a_single_worker_draining_three_jobs() {
        let mut t = Tracker::default();
        for id in 1..=3 {
            t.enqueued(id, 0.0);
        }
        // Job n runs from 10(n-1) to 10n; polls see each start a little late.
        for (id, start) in [(1, 0.0), (2, 10.0), (3, 20.0)] {
            t.observe(id, JobState::Processing, start + 0.25, None);
            t.observe(id, JobState::Processing, start + 5.0, None);
            assert_eq!(t.counts().processing, 1);
            t.observe(id, JobState::Processed, start + 10.1, Some(start + 10.0));
        }
        assert!(t.all_done());
        assert_eq!(t.pending_ids().count(), 0);
        let th = t.throughput();
        assert_eq!(th.processed, 3);
        assert!(close(th.makespan_s, 30.0));
        assert!(close(th.videos_per_min, 6.0));
        assert!(close(th.mean_service_s, 9.75));
        assert!(close(th.p95_service_s, 9.75));
        assert!(close(th.mean_turnaround_s, 20.0));
        assert!(close(th.effective_parallelism, 29.25 / 30.0));
    }

    #[test]
    fn failures_and_unfinished_jobs_are_not_throughput() {
        let mut t = Tracker::default();
        for id in 1..=4 {
            t.enqueued(id, 1.0);
        }
        t.observe(1, JobState::Processing, 2.0, None);
        t.observe(1, JobState::Processed, 8.0, Some(7.0));
        t.observe(2, JobState::Failed, 9.0, None);
        t.observe(3, JobState::Processing, 9.0, None);
        // A finished job stays finished even if a stale poll says otherwise.
        t.observe(1, JobState::Processing, 9.5, None);
        // Unknown ids (not injected by this run) are ignored.
        t.observe(99, JobState::Processed, 9.5, Some(9.0));

        assert!(!t.all_done());
        assert_eq!(t.pending_ids().collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(
            t.counts(),
            StateCounts {
                waiting: 1,
                processing: 1,
                processed: 1,
                failed: 1
            }
        );
        let th = t.throughput();
        assert_eq!(th.processed, 1);
        assert!(close(th.mean_service_s, 5.0));
        assert!(close(th.mean_turnaround_s, 6.0));
        assert!(close(th.videos_per_min, 60.0 / 7.0));
    }

    #[test]
    fn nothing_processed_means_no_figures() {
        let mut t = Tracker::default();
        t.enqueued(1, 0.0);
        let th = t.throughput();
        assert_eq!(th.processed, 0);
        assert_eq!(
            (th.videos_per_min, th.mean_service_s, th.makespan_s),
            (None, None, None)
        );
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(10.0));
        assert_eq!(quantile(&v, 0.95), Some(19.0));
        assert_eq!(quantile(&v, 1.0), Some(20.0));
        assert_eq!(quantile(&[3.0], 0.95), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
