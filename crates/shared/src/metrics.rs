//! Prometheus metrics of the web service and the worker (text exposition format).

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Route template (`/api/videos/{id}`), never the raw path, to bound cardinality.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of bytes received on a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template, e.g. `/api/videos/upload`.
    pub route: String,
}

/// Labels of a finished job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// `processed`, `skipped`, `retry`, `failed`, `handed_back` or `error`.
    pub outcome: &'static str,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
    .into_iter()
}

/// Metrics of the web service.
#[derive(Clone)]
pub struct WebMetrics {
    registry: Arc<Registry>,
    /// Requests by method, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by method, route and status.
    pub latency: Family<RequestLabels, Histogram>,
    /// Requests being served.
    pub in_flight: Gauge<i64, AtomicI64>,
    /// Live status streams open (set when scraped).
    pub event_streams: Gauge<i64, AtomicI64>,
    /// 1 while the process's Redis subscription to video events is up (set when scraped).
    pub events_subscribed: Gauge<i64, AtomicI64>,

    /// Request body bytes read by the upload routes (classic and resumable), by route:
    /// what uploads cost a web instance in bandwidth.
    pub upload_body_bytes: Family<RouteLabels, Counter>,
    /// Votes per batch written by the vote batcher (group commit).
    pub vote_batch_size: Histogram,
    /// Views per batch written by the view batcher (group commit).
    pub view_batch_size: Histogram,
}

impl std::fmt::Debug for WebMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebMetrics")
    }
}

impl Default for WebMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("skillreel_http");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let in_flight = Gauge::<i64, AtomicI64>::default();
        let upload_body_bytes = Family::<RouteLabels, Counter>::default();
        registry.register("requests", "HTTP requests served", requests.clone());
        registry.register(
            "upload_body_bytes",
            "Request body bytes read by the upload routes",
            upload_body_bytes.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "requests_in_flight",
            "HTTP requests being served",
            in_flight.clone(),
        );
        let event_streams = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "event_streams",
            "Live status streams open",
            event_streams.clone(),
        );
        let events_subscribed = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "events_subscribed",
            "1 while the Redis subscription to video events is up",
            events_subscribed.clone(),
        );
        let vote_batch_size = Histogram::new([
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
        ]);
        registry.register(
            "vote_batch_size",
            "Votes per batch written by the vote batcher",
            vote_batch_size.clone(),
        );
        let view_batch_size = Histogram::new([
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
        ]);
        registry.register(
            "view_batch_size",
            "Views per batch written by the view batcher",
            view_batch_size.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            in_flight,
            event_streams,
            events_subscribed,

            upload_body_bytes,
            vote_batch_size,
            view_batch_size,
        }
    }
}

impl WebMetrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// Records one batch of `votes` written by the vote batcher.
    pub fn vote_batch(&self, votes: usize) {
        self.vote_batch_size.observe(votes as f64);
    }

    /// Records one batch of `views` written by the view batcher.
    pub fn view_batch(&self, views: usize) {
        self.view_batch_size.observe(views as f64);
    }

    /// Counts `bytes` of request body read on `route`.
    pub fn upload_bytes(&self, route: &str, bytes: u64) {
        self.upload_body_bytes
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .inc_by(bytes);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

/// Metrics of a worker process.
#[derive(Clone)]
pub struct WorkerMetrics {
    registry: Arc<Registry>,
    /// Finished jobs by outcome.
    pub jobs: Family<JobLabels, Counter>,
    /// Wall time of a job (claim to result).
    pub job_duration: Histogram,
    /// ffmpeg speed: seconds of output produced per second of wall time.
    pub ffmpeg_speed: Histogram,
    /// Jobs waiting in the queue (ready + scheduled), sampled.
    pub queue_depth: Gauge<i64, AtomicI64>,
    /// Retries scheduled.
    pub retries: Counter<u64, AtomicU64>,
    /// Jobs running in this process.
    pub running: Gauge<i64, AtomicI64>,
    /// Jobs handed to this process by the queue (a re-delivery counts again).
    pub deliveries: Counter<u64, AtomicU64>,
    /// Jobs put back at the front of the queue after their worker died, or re-created
    /// after Redis lost them.
    pub recovered: Counter<u64, AtomicU64>,
    /// 1 while a backend this worker needs (Redis, PostgreSQL) is unreachable.
    pub degraded: Gauge<i64, AtomicI64>,
    /// Jobs whose run over a presigned URL failed as if the upload were unusable and that
    /// were run again from a downloaded copy.
    pub source_fallbacks: Counter<u64, AtomicU64>,
}

impl std::fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerMetrics")
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("skillreel");
        let jobs = Family::<JobLabels, Counter>::default();
        let job_duration =
            Histogram::new([1.0, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0, 600.0, 900.0]);
        let ffmpeg_speed = Histogram::new([0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]);
        let queue_depth = Gauge::<i64, AtomicI64>::default();
        let retries = Counter::<u64, AtomicU64>::default();
        let running = Gauge::<i64, AtomicI64>::default();
        let deliveries = Counter::<u64, AtomicU64>::default();
        let recovered = Counter::<u64, AtomicU64>::default();
        let degraded = Gauge::<i64, AtomicI64>::default();
        let source_fallbacks = Counter::<u64, AtomicU64>::default();
        registry.register(
            "worker_source_fallback",
            "Runs over a presigned URL that failed and were redone from a downloaded copy",
            source_fallbacks.clone(),
        );
        registry.register(
            "job_deliveries",
            "Jobs handed to this worker by the queue",
            deliveries.clone(),
        );
        registry.register(
            "jobs_recovered",
            "Jobs re-queued at the front after their worker died or Redis lost them",
            recovered.clone(),
        );
        registry.register(
            "worker_degraded",
            "1 while Redis or PostgreSQL is unreachable from this worker",
            degraded.clone(),
        );
        registry.register("jobs", "Finished video jobs by outcome", jobs.clone());
        registry.register(
            "job_duration_seconds",
            "Wall time of a video job",
            job_duration.clone(),
        );
        registry.register(
            "ffmpeg_speed_ratio",
            "Output seconds produced per wall-clock second",
            ffmpeg_speed.clone(),
        );
        registry.register(
            "queue_depth",
            "Video jobs waiting (ready + scheduled)",
            queue_depth.clone(),
        );
        registry.register(
            "job_retries",
            "Retries scheduled after a failed attempt",
            retries.clone(),
        );
        registry.register(
            "jobs_running",
            "Jobs running in this worker",
            running.clone(),
        );
        Self {
            registry: Arc::new(registry),
            jobs,
            job_duration,
            ffmpeg_speed,
            queue_depth,
            retries,
            running,
            deliveries,
            recovered,
            degraded,
            source_fallbacks,
        }
    }
}

impl WorkerMetrics {
    /// Counts one finished job.
    pub fn job_finished(&self, outcome: &'static str, seconds: f64) {
        self.jobs.get_or_create(&JobLabels { outcome }).inc();
        self.job_duration.observe(seconds);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_metrics_render_counts_and_histograms() {
        let m = WebMetrics::default();
        m.observe("GET", "/api/public/rankings", 200, 0.003);
        m.observe("GET", "/api/public/rankings", 200, 0.004);
        let text = m.render();
        assert!(
            text.contains(r#"skillreel_http_requests_total{method="GET",route="/api/public/rankings",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains("skillreel_http_request_duration_seconds_bucket"),
            "{text}"
        );
        m.upload_bytes("/api/videos/upload", 1000);
        m.upload_bytes("/api/videos/upload", 24);
        assert!(
            m.render().contains(
                r#"skillreel_http_upload_body_bytes_total{route="/api/videos/upload"} 1024"#
            ),
            "{}",
            m.render()
        );
    }

    #[test]
    fn worker_metrics_render() {
        let m = WorkerMetrics::default();
        m.job_finished("processed", 12.0);
        m.queue_depth.set(3);
        let text = m.render();
        assert!(
            text.contains(r#"skillreel_jobs_total{outcome="processed"} 1"#),
            "{text}"
        );
        assert!(text.contains("skillreel_queue_depth 3"), "{text}");
        assert!(
            text.contains("skillreel_worker_source_fallback_total 0"),
            "{text}"
        );
        m.source_fallbacks.inc();
        assert!(
            m.render()
                .contains("skillreel_worker_source_fallback_total 1"),
            "{}",
            m.render()
        );
    }
}
