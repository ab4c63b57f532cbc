//! State shared by all virtual users of a run, and the one place requests are sent,
//! so every request is counted against the budget, timed and recorded the same way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use tokio_util::sync::CancellationToken;

use super::{Mix, WebConfig};
use crate::stats::{Endpoint, Recorder};
use crate::target::endpoint_url;

/// An HTTP answer with its whole body read.
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Run-wide state; users hold it behind an `Arc`.
pub(super) struct Shared {
    client: Client,
    base_url: Url,
    pub recorder: Recorder,
    /// Fired when the run must stop (time up or request budget spent).
    pub cancel: CancellationToken,
    pub mix: Mix,
    pub clip: Option<Bytes>,
    pub think_min: Duration,
    pub think_max: Duration,
    pub seed: u64,
    /// Makes e-mail addresses unique across runs against the same database.
    pub run_id: String,
    max_requests: u64,
    issued: AtomicU64,
    active: AtomicU64,
    skipped_votes: AtomicU64,
    skipped_uploads: AtomicU64,
}

impl Shared {
    pub fn new(config: &WebConfig, recorder: Recorder) -> reqwest::Result<Self> {
        let client = Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(Self {
            client,
            base_url: config.base_url.clone(),
            recorder,
            cancel: CancellationToken::new(),
            mix: config.mix.clone(),
            clip: config.clip.clone(),
            think_min: config.think_min,
            think_max: config.think_max.max(config.think_min),
            seed: config.seed,
            run_id: format!(
                "{}{:04x}",
                chrono::Utc::now().format("%Y%m%d%H%M%S"),
                config.seed & 0xffff
            ),
            max_requests: config.max_requests,
            issued: AtomicU64::new(0),
            active: AtomicU64::new(0),
            skipped_votes: AtomicU64::new(0),
            skipped_uploads: AtomicU64::new(0),
        })
    }

    /// A request builder for `method path` on the API under test.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, endpoint_url(&self.base_url, path))
    }

    /// Sends `request`, records it under `endpoint`, and returns the answer.
    ///
    /// Returns `None` without sending when the run is stopping or the request
    /// budget is spent (spending the last unit stops the run), and also when the
    /// request got no HTTP answer (recorded as an error).
    pub async fn send(&self, endpoint: Endpoint, request: RequestBuilder) -> Option<Answer> {
        if self.cancel.is_cancelled() {
            return None;
        }
        if self.issued.fetch_add(1, Ordering::Relaxed) >= self.max_requests {
            self.cancel.cancel();
            return None;
        }
        let sent = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            // Latency includes the body: a slow listing is slow for the player too.
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(Answer { status, body })
        }
        .await;
        let finished = Instant::now();
        let status = match &result {
            Ok(answer) => Ok(answer.status.as_u16()),
            Err(e) => Err(failure_kind(e)),
        };
        self.recorder
            .record(endpoint, status, finished - sent, finished);
        if let Err(e) = &result {
            tracing::debug!(endpoint = endpoint.as_str(), error = %e, "request failed");
        }
        if self.issued.load(Ordering::Relaxed) >= self.max_requests {
            // Stop everyone now rather than when some user next tries to send.
            self.cancel.cancel();
        }
        result.ok()
    }

    /// Requests started so far (never more than the budget).
    pub fn started_requests(&self) -> u64 {
        self.issued.load(Ordering::Relaxed).min(self.max_requests)
    }

    /// Marks a user as running until the returned guard drops.
    pub fn user_started(&self) -> ActiveUser<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveUser(&self.active)
    }

    /// Users currently running.
    pub fn active_users(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Notes a vote skipped because the user had seen no public video yet.
    pub fn skip_vote(&self) {
        self.skipped_votes.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes an upload skipped because no `--clip` was given.
    pub fn skip_upload(&self) {
        self.skipped_uploads.fetch_add(1, Ordering::Relaxed);
    }

    /// Skipped actions by reason, for the summary.
    pub fn skipped(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([
            (
                "vote_no_public_video".to_string(),
                self.skipped_votes.load(Ordering::Relaxed),
            ),
            (
                "upload_no_clip".to_string(),
                self.skipped_uploads.load(Ordering::Relaxed),
            ),
        ])
    }
}

/// Decrements the active-user gauge when a user task ends, however it ends.
pub(super) struct ActiveUser<'a>(&'a AtomicU64);

impl Drop for ActiveUser<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Short label for a request that got no HTTP answer.
fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    }
}
