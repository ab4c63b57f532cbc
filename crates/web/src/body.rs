//! Time limits on receiving a request body.
//!
//! [`time_limits`] wraps a request's body so that reading it fails once the client has
//! sent nothing for the idle limit, or once the body is still arriving at the overall
//! deadline, whichever comes first. The failure surfaces through whatever reads the body
//! (axum's `Json`, `Multipart`, …) as that extractor's own error, whose shape says nothing
//! reliable about the cause, so the limits also record which one fired in a
//! [`BodyTimer`] the caller keeps and checks when reading fails.
//!
//! Idle time is only the time spent waiting for the client: while the handler is busy
//! (writing a chunk to disk, say) the clock does not run, so a slow disk is never blamed
//! on the client.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    BoxError,
    body::{Body, Bytes},
    extract::Request,
};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;

/// Which limit cut a body off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyTimeout {
    /// The client sent nothing for this long.
    #[error("the request body sent nothing for {} s", .0.as_secs())]
    Idle(Duration),
    /// The body was still arriving after this long.
    #[error("the request body was not received within {} s", .0.as_secs())]
    Total(Duration),
}

impl From<BodyTimeout> for ApiError {
    fn from(timeout: BodyTimeout) -> Self {
        Self::RequestTimeout(format!("{timeout}; the request was cut off"))
    }
}

/// Records which limit, if any, cut the body off. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BodyTimer(Arc<OnceLock<BodyTimeout>>);

impl BodyTimer {
    /// The limit that cut the body off, if one did.
    pub fn fired(&self) -> Option<BodyTimeout> {
        self.0.get().copied()
    }
}

/// Replaces `req`'s body with one that fails after `idle` without data or `total` in
/// all; the returned timer tells whether that is why reading it failed.
pub fn time_limits(req: Request, idle: Duration, total: Duration) -> (Request, BodyTimer) {
    let timer = BodyTimer::default();
    let now = Instant::now();
    let (parts, inner) = req.into_parts();
    let body = TimedBody {
        inner,
        idle,
        total,
        waiting: None,
        deadline: Box::pin(tokio::time::sleep_until(now + total)),
        timer: timer.clone(),
    };
    (Request::from_parts(parts, Body::new(body)), timer)
}

struct TimedBody {
    inner: Body,
    idle: Duration,
    total: Duration,
    /// Set while waiting for the client: fires when it has been silent for `idle`.
    waiting: Option<Pin<Box<Sleep>>>,
    deadline: Pin<Box<Sleep>>,
    timer: BodyTimer,
}

impl TimedBody {
    fn fail(&mut self, timeout: BodyTimeout) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let _ = self.timer.0.set(timeout);
        Poll::Ready(Some(Err(Box::new(timeout))))
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(timeout) = this.timer.fired() {
            return this.fail(timeout);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.fail(BodyTimeout::Total(this.total));
        }
        let idle = this.idle;
        let waiting = this
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        ready!(waiting.as_mut().poll(cx));
        this.fail(BodyTimeout::Idle(idle))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Replaces `req`'s body with one that adds every data byte read from it to `count`
/// (the upload routes' bandwidth metric).
pub fn count_bytes(req: Request, count: impl Fn(u64) + Send + Sync + 'static) -> Request {
    let (parts, inner) = req.into_parts();
    let body = CountedBody {
        inner,
        count: Box::new(count),
    };
    Request::from_parts(parts, Body::new(body))
}

struct CountedBody {
    inner: Body,
    count: Box<dyn Fn(u64) + Send + Sync>,
}

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            (this.count)(data.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::StreamExt;
    use http_body_util::BodyExt;

    use super::*;

    /// A body that sends `chunks`, each after `gap`, then stays silent forever.
    fn trickle(chunks: usize, gap: Duration) -> Body {
        let stream = futures::stream::iter(0..chunks)
            .then(move |_| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, Infallible>(Bytes::from_static(b"x"))
            })
            .chain(futures::stream::pending());
        Body::from_stream(stream)
    }

    async fn read(body: Body, idle: Duration, total: Duration) -> (usize, BodyTimer) {
        let req = Request::new(body);
        let (req, timer) = time_limits(req, idle, total);
        let mut body = req.into_body();
        let mut got = 0;
        while let Some(Ok(frame)) = body.frame().await {
            got += frame.into_data().map_or(0, |d| d.len());
        }
        (got, timer)
    }

    #[tokio::test]
    async fn a_silent_body_fails_after_the_idle_limit() {
        let idle = Duration::from_millis(300);
        let (got, timer) = read(
            trickle(3, Duration::from_millis(50)),
            idle,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(got, 3);
        assert_eq!(timer.fired(), Some(BodyTimeout::Idle(idle)));
    }

    #[tokio::test]
    async fn a_never_idle_trickle_fails_at_the_deadline() {
        let total = Duration::from_secs(1);
        let (got, timer) = read(
            trickle(1000, Duration::from_millis(50)),
            Duration::from_millis(300),
            total,
        )
        .await;
        assert!(got < 1000, "{got}");
        assert_eq!(timer.fired(), Some(BodyTimeout::Total(total)));
    }

    #[tokio::test]
    async fn counted_bodies_count_what_is_read() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let total = std::sync::Arc::new(AtomicU64::new(0));
        let seen = total.clone();
        let req = count_bytes(Request::new(trickle(5, Duration::ZERO)), move |n| {
            seen.fetch_add(n, Ordering::Relaxed);
        });
        let mut body = req.into_body();
        for _ in 0..5 {
            body.frame().await.unwrap().unwrap();
        }
        assert_eq!(total.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn a_body_within_its_limits_is_untouched() {
        let req = Request::new(Body::from("hello"));
        let (req, timer) = time_limits(req, Duration::from_secs(1), Duration::from_secs(1));
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hello");
        assert_eq!(timer.fired(), None);
    }
}
