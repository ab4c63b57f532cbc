//! Live status of videos: workers publish every state change and progress step on one
//! Redis pub/sub channel; every web process holds one subscription to it ([`Hub`]) and
//! fans the messages out in-process to the streams of its clients ([`stream`]).
//!
//! PostgreSQL stays the source of truth. A stream starts from the row (read *after* its
//! in-process subscription exists, so nothing published in between is missed), and reads
//! the row again whenever pub/sub may have dropped something: every
//! `EVENTS_FALLBACK_POLL_SECS` while the subscription is down, every
//! `EVENTS_RECHECK_SECS` while it is up (a worker whose own Redis connection failed
//! publishes nothing), and at once after the subscription comes back. Pub/sub only makes
//! the stream fast; it is never needed for it to reach its final state.
//!
//! Every event carries the whole state (`{id, status, progress, error?}`), so a skipped
//! or repeated event is harmless, and a sequence number ([`VideoEvent::seq`]) derived
//! from the state itself, so every web instance numbers the same state alike and a
//! client can resume on any instance with `Last-Event-ID`.

mod hub;
pub mod stream;

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

pub use self::hub::{Hub, Subscription};
use crate::{
    config::{EventsConfig, RedisConfig},
    db::videos::Video,
    domain::VideoStatus,
    slots::{Full, Limits, Slot, Slots},
};

/// The pub/sub channel of video events under `prefix` (`REDIS_PREFIX`).
pub fn channel(redis: &RedisConfig) -> String {
    redis.key("events:videos")
}

/// The state of a video as a stream shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoEvent {
    /// Video id.
    pub id: i64,
    /// Status.
    pub status: VideoStatus,
    /// Percent done, to a tenth (`processing`; `100` once processed), else `null`.
    #[serde(default)]
    pub progress: Option<f32>,
    /// Why processing failed (`failed`), or why the last attempt failed (`uploaded`
    /// again, a retry pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Processing attempts started (orders a retry after the attempt it follows).
    #[serde(skip)]
    pub attempts: i32,
}

/// A percentage to a tenth, within 0..=100 (what ffmpeg reports has more digits than
/// anyone reads).
pub fn round_progress(percent: f32) -> f32 {
    (percent.clamp(0.0, 100.0) * 10.0).round() / 10.0
}

/// The place of a status in the order of [`VideoEvent::seq`] within one attempt.
fn phase(status: VideoStatus) -> u64 {
    match status {
        VideoStatus::Processing => 1,
        // `uploaded` again after a failed attempt comes after that attempt's progress.
        VideoStatus::Uploaded => 2,
        VideoStatus::Processed | VideoStatus::Failed => 3,
        // Hiding and restoring happen after processing, and a stream reports neither.
        VideoStatus::Public | VideoStatus::Hidden => 4,
    }
}

impl VideoEvent {
    /// The event of a row.
    pub fn of(video: &Video) -> Self {
        let status = video.status();
        Self {
            id: video.id,
            status,
            progress: match status {
                VideoStatus::Processing => Some(round_progress(video.progress.unwrap_or(0.0))),
                VideoStatus::Processed | VideoStatus::Public | VideoStatus::Hidden => Some(100.0),
                VideoStatus::Uploaded | VideoStatus::Failed => None,
            },
            error: video
                .error
                .clone()
                .filter(|_| matches!(status, VideoStatus::Uploaded | VideoStatus::Failed)),
            attempts: video.attempts,
        }
    }

    /// A number that grows with every step of the video's life, the same on every web
    /// instance: `attempts`, then the phase of the status within the attempt, then the
    /// progress in tenths of a percent. A claim counts an attempt and every later step
    /// only moves forward, so a lower number is always older news.
    pub fn seq(&self) -> u64 {
        let attempts = u64::try_from(self.attempts.max(0)).unwrap_or(0);
        // Tenths of a percent, 0..=1000: the cast cannot truncate a meaningful value.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let tenths = (self.progress.unwrap_or(0.0).clamp(0.0, 100.0) * 10.0).round() as u64;
        attempts * 10_000 + phase(self.status) * 2_000 + tenths
    }

    /// Whether nothing more will happen that a status stream reports: `processed`,
    /// `public`, `failed` or `hidden`.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status,
            VideoStatus::Processed
                | VideoStatus::Public
                | VideoStatus::Failed
                | VideoStatus::Hidden
        )
    }
}

/// On the wire (pub/sub), the event plus what orders it.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(flatten)]
    event: VideoEvent,
    attempts: i32,
}

impl VideoEvent {
    fn to_wire(&self) -> String {
        serde_json::to_string(&Wire {
            event: self.clone(),
            attempts: self.attempts,
        })
        .expect("a video event serialises")
    }

    fn from_wire(payload: &[u8]) -> Option<Self> {
        let wire: Wire = serde_json::from_slice(payload).ok()?;
        Some(Self {
            attempts: wire.attempts,
            ..wire.event
        })
    }
}

/// How long a worker waits for Redis to take a message: an event is a convenience
/// (streams read PostgreSQL too), never worth holding a job up for.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// Publishes video events (workers).
#[derive(Clone)]
pub struct Publisher {
    conn: ConnectionManager,
    channel: String,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Publishes on [`channel`] over `conn`.
    pub fn new(conn: ConnectionManager, redis: &RedisConfig) -> Self {
        Self {
            conn,
            channel: channel(redis),
        }
    }

    /// Publishes `event`, best effort: a failure is logged and otherwise ignored, since
    /// every stream also reads the row.
    pub async fn publish(&self, event: &VideoEvent) {
        let mut conn = self.conn.clone();
        let sent = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(event.to_wire())
                .query_async::<i64>(&mut conn),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(video.id = event.id, error = %e, "could not publish a video event")
            }
            Err(_) => tracing::debug!(video.id = event.id, "publishing a video event timed out"),
        }
    }
}

/// Seconds a client refused a stream is told to wait (`Retry-After`).
const RETRY_AFTER_SECS: u64 = 5;

/// Why a stream was not opened. A stream holds a socket, a task and a little memory for
/// minutes, so a flood of them could exhaust file descriptors or memory while costing
/// the client nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The process already serves its maximum of streams (`503`).
    #[error("the service is serving too many live status streams; try again in a few seconds")]
    Busy,
    /// The player already has their maximum of streams open on this instance (`429`).
    #[error("you already have {limit} live status streams open; close one first")]
    PlayerBusy {
        /// The per-player limit.
        limit: usize,
    },
}

impl Refused {
    /// Stable kebab-case code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy => "event-streams-busy",
            Self::PlayerBusy { .. } => "too-many-event-streams",
        }
    }

    /// Seconds to wait before trying again.
    pub fn retry_after(&self) -> u64 {
        RETRY_AFTER_SECS
    }
}

impl From<Full> for Refused {
    fn from(full: Full) -> Self {
        match full {
            Full::Key { limit } => Self::PlayerBusy { limit },
            Full::Total { .. } => Self::Busy,
        }
    }
}

impl From<&EventsConfig> for Limits {
    fn from(config: &EventsConfig) -> Self {
        Self {
            total: config.max_streams,
            per_key: config.max_streams_per_player,
        }
    }
}

/// The live status streams open in this process, per player:
/// `StreamSlots::new(&config)` is bounded by `EVENTS_MAX_STREAMS` and
/// `EVENTS_MAX_STREAMS_PER_PLAYER` (per-process counts, see [`crate::slots`]).
pub type StreamSlots = Slots<i64, Refused>;

/// One open stream; its slot is given back on drop, however the stream ends.
pub type StreamSlot = Slot<i64>;

impl StreamSlots {
    /// Streams open now.
    pub fn open(&self) -> usize {
        self.held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: VideoStatus, attempts: i32, progress: Option<f32>) -> VideoEvent {
        VideoEvent {
            id: 1,
            status,
            progress,
            error: None,
            attempts,
        }
    }

    #[test]
    fn seq_grows_through_a_life_with_a_retry() {
        use VideoStatus::*;
        let life = [
            event(Uploaded, 0, None),
            event(Processing, 1, Some(0.0)),
            event(Processing, 1, Some(42.5)),
            event(Processing, 1, Some(100.0)),
            event(Uploaded, 1, None),
            event(Processing, 2, Some(0.0)),
            event(Processing, 2, Some(99.9)),
            event(Processed, 2, Some(100.0)),
            event(Public, 2, Some(100.0)),
        ];
        for pair in life.windows(2) {
            assert!(pair[0].seq() < pair[1].seq(), "{pair:?}");
        }
        assert!(event(Failed, 3, None).seq() > event(Processing, 3, Some(100.0)).seq());
    }

    #[test]
    fn the_wire_keeps_the_order_and_the_json_shows_the_state() {
        let e = VideoEvent {
            error: Some("boom".into()),
            ..event(VideoStatus::Uploaded, 2, None)
        };
        let back = VideoEvent::from_wire(e.to_wire().as_bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.seq(), e.seq());
        let shown = serde_json::to_value(&e).unwrap();
        assert_eq!(
            shown,
            serde_json::json!({"id": 1, "status": "uploaded", "progress": null, "error": "boom"})
        );
        assert!(VideoEvent::from_wire(b"{\"id\": 1}").is_none());
    }

    #[test]
    fn only_processed_public_failed_and_hidden_are_final() {
        use VideoStatus::*;
        let finals: Vec<_> = [Uploaded, Processing, Processed, Public, Failed, Hidden]
            .into_iter()
            .filter(|s| event(*s, 1, None).is_final())
            .collect();
        assert_eq!(finals, [Processed, Public, Failed, Hidden]);
    }

    fn slots(total: usize, per_player: usize) -> StreamSlots {
        StreamSlots::new(&EventsConfig {
            max_streams: total,
            max_streams_per_player: per_player,
            ..EventsConfig::default()
        })
    }

    #[test]
    fn players_and_the_process_are_bounded_and_slots_come_back() {
        let s = slots(3, 2);
        let a = s.try_acquire(1).unwrap();
        let _b = s.try_acquire(1).unwrap();
        assert_eq!(
            s.try_acquire(1).unwrap_err(),
            Refused::PlayerBusy { limit: 2 }
        );
        let _c = s.try_acquire(2).unwrap();
        let refused = s.try_acquire(3).unwrap_err();
        assert_eq!(refused, Refused::Busy);
        assert_eq!(refused.code(), "event-streams-busy");
        drop(a);
        let _d = s.try_acquire(3).unwrap();
        assert_eq!(s.open(), 3);
    }
}
