//! One Redis subscription per web process, fanned out to its streams in-process.
//!
//! The relay task keeps a subscription to the events channel, reconnecting with backoff
//! after any failure, and pings Redis over it so a server that stopped answering (a
//! partition, SIGSTOP) is noticed as surely as one that closed the socket. Each message
//! goes to the `broadcast` channel of its video, if a stream of this process watches
//! that video; the others are dropped at the cost of one map lookup.
//!
//! Every change of the link (up or down) is announced on a `watch` channel, so streams
//! switch between relying on pub/sub and polling PostgreSQL, and read their row again
//! when the subscription comes back (what was published while it was down is lost).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{debug, info, warn};

use super::VideoEvent;
use crate::config::RedisConfig;

/// Events buffered per watched video for a stream that is slow to write them out; a
/// stream that falls further behind reads the row instead (the newest state is all it
/// needs).
const PER_VIDEO_BUFFER: usize = 16;

/// How often the subscription connection is pinged, and how long an answer may take.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest pause between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// State of the process's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    /// Whether the subscription is up now.
    pub live: bool,
    /// Counts every change, so a stream notices a drop and return it slept through.
    pub generation: u64,
}

struct Inner {
    videos: Mutex<HashMap<i64, broadcast::Sender<VideoEvent>>>,
    link: watch::Sender<Link>,
    closing: CancellationToken,
}

impl Inner {
    fn videos(&self) -> std::sync::MutexGuard<'_, HashMap<i64, broadcast::Sender<VideoEvent>>> {
        // Every update is one insert or remove: the map stays whole if a holder panicked.
        self.videos.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn dispatch(&self, event: VideoEvent) {
        if let Some(sender) = self.videos().get(&event.id) {
            // No receiver left is fine: the last one is removing the entry.
            let _ = sender.send(event);
        }
    }

    fn set_live(&self, live: bool) {
        self.link.send_modify(|link| {
            link.live = live;
            link.generation += 1;
        });
    }
}

/// The process's relay of video events. Cheap to clone; the relay task stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
    _stop: Arc<DropGuard>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("link", &*self.inner.link.borrow())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Starts the relay of the events channel of `redis` (needs a Tokio runtime), on a
    /// connection of its own: a subscribed connection can do nothing else. Returns at
    /// once: the subscription comes up in the background, and streams poll PostgreSQL
    /// until it does. Fails only on a malformed URL or CA file.
    pub fn start(redis: &RedisConfig) -> redis::RedisResult<Self> {
        use secrecy::ExposeSecret;
        let client = crate::tls::redis_client(redis.url.expose_secret(), redis.ca_file.as_deref())?;
        Ok(Self::with_client(client, super::channel(redis)))
    }

    fn with_client(client: redis::Client, channel: String) -> Self {
        let (link, _) = watch::channel(Link::default());
        let inner = Arc::new(Inner {
            videos: Mutex::default(),
            link,
            closing: CancellationToken::new(),
        });
        let stop = CancellationToken::new();
        tokio::spawn(relay(client, channel, Arc::clone(&inner), stop.clone()));
        Self {
            inner,
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// Starts receiving the events of `video_id` (before its row is read: see the
    /// module docs of [`super`]).
    pub fn subscribe(&self, video_id: i64) -> Subscription {
        let mut videos = self.inner.videos();
        let receiver = videos
            .entry(video_id)
            .or_insert_with(|| broadcast::channel(PER_VIDEO_BUFFER).0)
            .subscribe();
        Subscription {
            receiver,
            link: self.inner.link.subscribe(),
            closing: self.inner.closing.clone(),
            inner: Arc::clone(&self.inner),
            video_id,
        }
    }

    /// The subscription's state now.
    pub fn link(&self) -> Link {
        *self.inner.link.borrow()
    }

    /// Ends every stream (at shutdown: an open stream would hold the drain of in-flight
    /// requests for as long as it lasts; clients reconnect to another instance).
    pub fn close(&self) {
        self.inner.closing.cancel();
    }

    /// Videos watched by at least one stream of this process.
    pub fn watched(&self) -> usize {
        self.inner.videos().len()
    }
}

/// One stream's view of the hub: the events of its video and the state of the link.
pub struct Subscription {
    pub(super) receiver: broadcast::Receiver<VideoEvent>,
    pub(super) link: watch::Receiver<Link>,
    pub(super) closing: CancellationToken,
    inner: Arc<Inner>,
    video_id: i64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut videos = self.inner.videos();
        // Under the lock no one can subscribe meanwhile; this receiver still counts.
        if videos
            .get(&self.video_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            videos.remove(&self.video_id);
        }
    }
}

/// Keeps the subscription until `stop`, reconnecting with backoff (250 ms doubling to
/// [`MAX_BACKOFF`]).
async fn relay(client: redis::Client, channel: String, inner: Arc<Inner>, stop: CancellationToken) {
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        match subscribe(&client, &channel).await {
            Ok((sink, stream)) => {
                if failures > 0 {
                    info!(channel = %channel, "video events subscription restored");
                }
                failures = 0;
                inner.set_live(true);
                let why = pump(sink, stream, &inner, &stop).await;
                inner.set_live(false);
                if stop.is_cancelled() {
                    return;
                }
                warn!(channel = %channel, reason = why, "video events subscription lost; streams poll PostgreSQL meanwhile");
            }
            Err(e) => debug!(channel = %channel, error = %e, "subscribing to video events failed"),
        }
        failures = failures.saturating_add(1);
        let pause =
            Duration::from_millis(250u64.saturating_mul(1 << failures.min(5))).min(MAX_BACKOFF);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
    let connect = async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok((sink, stream))
    };
    tokio::time::timeout(PING_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "subscribing timed out",
            )))
        })
}

/// Relays messages until the connection fails or stops answering pings; says why.
async fn pump(
    mut sink: redis::aio::PubSubSink,
    mut stream: redis::aio::PubSubStream,
    inner: &Inner,
    stop: &CancellationToken,
) -> &'static str {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    loop {
        tokio::select! {
            () = stop.cancelled() => return "stopping",
            message = stream.next() => match message {
                Some(message) => match super::VideoEvent::from_wire(message.get_payload_bytes()) {
                    Some(event) => inner.dispatch(event),
                    None => debug!("ignored a malformed video event"),
                },
                None => return "connection closed",
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return "ping failed",
                    Err(_) => return "ping timed out",
                }
            }
        }
    }
}
