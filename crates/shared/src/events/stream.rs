//! One client's stream of a video's states: opened by [`open`], it yields the current
//! state, then every newer one, and ends after a final state (`processed`, `public`,
//! `failed`), when the video is deleted, after `EVENTS_MAX_STREAM_SECS`, or when the
//! process shuts down.
//!
//! Events come from the process's [`Hub`] and from reading the row (see [`super`] for
//! when). Whatever the source, an event is passed on only when it is newer than the last
//! one passed on ([`VideoEvent::seq`]): the sources may race and repeat each other, and
//! the client sees progress that never goes back.

use std::time::Duration;

use futures::Stream;
use sqlx::PgPool;
use tokio::{sync::broadcast::error::RecvError, time::Instant};

use super::{Hub, Refused, StreamSlot, StreamSlots, Subscription, VideoEvent};
use crate::{config::EventsConfig, db, domain::VideoStatus};

/// What kind of step an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The first event of a stream, or a change of status (or of attempt).
    Status,
    /// More progress within the same processing attempt.
    Progress,
}

impl Kind {
    /// The SSE `event:` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Progress => "progress",
        }
    }
}

/// One event of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Status change or progress.
    pub kind: Kind,
    /// The state.
    pub event: VideoEvent,
}

/// Why a stream was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No such video, or not the caller's: the two are not told apart.
    #[error("no such video")]
    NotFound,
    /// Too many streams open ([`StreamSlots`]).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The row could not be read.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a stream needs besides the video: the process's hub, slots and settings.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The process's relay.
    pub hub: &'a Hub,
    /// The process's stream slots.
    pub slots: &'a StreamSlots,
    /// The database.
    pub db: &'a PgPool,
    /// Timings.
    pub config: &'a EventsConfig,
}

/// Opens the stream of `video_id` for `owner`. `last_seen` is the client's
/// `Last-Event-ID`: states up to it are not sent again, except a final one (a stream
/// always ends with its final state, so a client that reconnects after missing the end
/// still learns it).
pub async fn open(
    ctx: Context<'_>,
    owner: i64,
    video_id: i64,
    last_seen: Option<u64>,
) -> Result<impl Stream<Item = Item> + Send + 'static, OpenError> {
    // Subscribed before the row is read: anything published after the read is caught.
    let subscription = ctx.hub.subscribe(video_id);
    let video = db::videos::find(ctx.db, video_id)
        .await?
        .filter(|v| v.owner_id == owner)
        .ok_or(OpenError::NotFound)?;
    let slot = ctx.slots.try_acquire(owner)?;
    let now = Instant::now();
    let watcher = Watcher {
        subscription,
        db: ctx.db.clone(),
        video_id,
        order: Order::after(last_seen.filter(|seen| plausible(*seen, &VideoEvent::of(&video)))),
        first: Some(VideoEvent::of(&video)),
        deadline: now + ctx.config.max_duration,
        next_read: now + interval(ctx.hub, ctx.config),
        recheck: ctx.config.recheck,
        fallback_poll: ctx.config.fallback_poll,
        _slot: slot,
    };
    Ok(futures::stream::unfold(watcher, Watcher::next))
}

/// Whether a client's `Last-Event-ID` can be one of ours, given the row: ids only grow
/// and the row is written before a status change is published, so an id ahead of the row
/// is someone else's — except progress of the same attempt, which is published as ffmpeg
/// reports it while the row gets it once a second. An implausible id is ignored (the
/// client gets the current state), so a client that mixes up its videos' ids is not left
/// without events.
fn plausible(seen: u64, row: &VideoEvent) -> bool {
    let current = row.seq();
    seen <= current || (row.status == VideoStatus::Processing && seen / 2_000 == current / 2_000)
}

fn interval(hub: &Hub, config: &EventsConfig) -> Duration {
    if hub.link().live {
        config.recheck
    } else {
        config.fallback_poll
    }
}

/// Up to `max`, different for every caller, so that streams woken by the same link
/// change do not all read PostgreSQL at the same instant.
fn jitter(max: Duration) -> Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
    #[allow(clippy::cast_possible_truncation)]
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(random % max_ms)
}

struct Watcher {
    subscription: Subscription,
    db: PgPool,
    video_id: i64,
    order: Order,
    /// The state read when the stream opened.
    first: Option<VideoEvent>,
    deadline: Instant,
    next_read: Instant,
    recheck: Duration,
    fallback_poll: Duration,
    _slot: StreamSlot,
}

/// Which events a stream passes on, and as what.
#[derive(Debug, Default)]
struct Order {
    /// The last event passed on.
    last: Option<VideoEvent>,
    /// The client's `Last-Event-ID`.
    floor: Option<u64>,
    /// A final state was passed on.
    done: bool,
}

impl Order {
    fn after(floor: Option<u64>) -> Self {
        Self {
            floor,
            ..Self::default()
        }
    }

    /// The event as a step of this stream, or `None` when it is no news.
    fn offer(&mut self, event: VideoEvent) -> Option<Item> {
        if self.done {
            return None;
        }
        let newer = match (&self.last, self.floor) {
            (Some(last), _) => event.seq() > last.seq(),
            (None, Some(floor)) => event.seq() > floor,
            (None, None) => true,
        };
        if !newer && !event.is_final() {
            return None;
        }
        let kind = match &self.last {
            Some(last)
                if last.status == VideoStatus::Processing
                    && event.status == VideoStatus::Processing
                    && last.attempts == event.attempts =>
            {
                Kind::Progress
            }
            _ => Kind::Status,
        };
        self.done = event.is_final();
        self.last = Some(event.clone());
        Some(Item { kind, event })
    }
}

/// What woke a stream up.
enum Wake {
    Event(VideoEvent),
    ReadRow,
    End,
    Nothing,
}

impl Watcher {
    fn poll_interval(&self) -> Duration {
        if self.subscription.link.borrow().live {
            self.recheck
        } else {
            self.fallback_poll
        }
    }

    /// The row as an event; `Ok(None)` once the video is deleted.
    async fn read_row(&mut self) -> Result<Option<VideoEvent>, sqlx::Error> {
        self.next_read = Instant::now() + self.poll_interval();
        Ok(db::videos::find(&self.db, self.video_id)
            .await?
            .map(|v| VideoEvent::of(&v)))
    }

    async fn next(mut self) -> Option<(Item, Self)> {
        if let Some(first) = self.first.take()
            && let Some(item) = self.order.offer(first)
        {
            return Some((item, self));
        }
        loop {
            if self.order.done {
                return None;
            }
            let wake = tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => Wake::End,
                () = self.subscription.closing.cancelled() => Wake::End,
                received = self.subscription.receiver.recv() => match received {
                    Ok(event) => Wake::Event(event),
                    // Fell behind: only the newest state matters, and the row has it.
                    Err(RecvError::Lagged(_)) => Wake::ReadRow,
                    // The hub keeps the sender while this subscription lives.
                    Err(RecvError::Closed) => Wake::End,
                },
                changed = self.subscription.link.changed() => {
                    if changed.is_err() {
                        Wake::End
                    } else {
                        // Up again: what was published while down is lost. Down: poll
                        // from now on. Either way, soon, but not all streams at once.
                        self.next_read = Instant::now() + jitter(Duration::from_secs(1));
                        Wake::Nothing
                    }
                },
                () = tokio::time::sleep_until(self.next_read) => Wake::ReadRow,
            };
            let event = match wake {
                Wake::Event(event) => event,
                Wake::End => return None,
                Wake::Nothing => continue,
                Wake::ReadRow => match self.read_row().await {
                    Ok(Some(event)) => event,
                    // Deleted: the stream ends; a reconnect gets 404.
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::debug!(video.id = self.video_id, error = %e, "could not read the video; retrying");
                        continue;
                    }
                },
            };
            if let Some(item) = self.order.offer(event) {
                return Some((item, self));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(status: VideoStatus, attempts: i32, progress: Option<f32>) -> VideoEvent {
        VideoEvent {
            id: 7,
            status,
            progress,
            error: None,
            attempts,
        }
    }

    #[test]
    fn kinds_and_order_of_a_stream() {
        use VideoStatus::*;
        let mut o = Order::after(Some(ev(Processing, 1, Some(40.0)).seq()));
        // What the client already has is not sent again...
        assert!(o.offer(ev(Processing, 1, Some(40.0))).is_none());
        let first = o.offer(ev(Processing, 1, Some(45.0))).unwrap();
        assert_eq!(
            first.kind,
            Kind::Status,
            "a stream's first event is a status"
        );
        assert_eq!(
            o.offer(ev(Processing, 1, Some(50.0))).unwrap().kind,
            Kind::Progress
        );
        // ...nor anything older than what was sent.
        assert!(o.offer(ev(Processing, 1, Some(47.0))).is_none());
        assert_eq!(o.offer(ev(Uploaded, 1, None)).unwrap().kind, Kind::Status);
        assert_eq!(
            o.offer(ev(Processing, 2, Some(0.0))).unwrap().kind,
            Kind::Status
        );
        let last = o.offer(ev(Processed, 2, Some(100.0))).unwrap();
        assert_eq!(last.kind, Kind::Status);
        assert!(o.done);
        assert!(o.offer(ev(Public, 2, Some(100.0))).is_none(), "ended");
    }

    #[test]
    fn only_ids_that_can_be_ours_are_honoured() {
        use VideoStatus::*;
        let row = ev(Processing, 2, Some(40.0));
        assert!(plausible(ev(Processing, 2, Some(30.0)).seq(), &row));
        assert!(plausible(ev(Uploaded, 1, None).seq(), &row));
        // Progress published a moment before the row got it.
        assert!(plausible(ev(Processing, 2, Some(43.0)).seq(), &row));
        // A later attempt, or a state the row has not reached: not ours.
        assert!(!plausible(ev(Processing, 3, Some(1.0)).seq(), &row));
        assert!(!plausible(ev(Processed, 2, Some(100.0)).seq(), &row));
        assert!(!plausible(
            ev(Processing, 1, Some(50.0)).seq(),
            &ev(Uploaded, 0, None)
        ));
    }

    #[test]
    fn a_final_state_is_sent_even_to_a_client_that_claims_it() {
        let done = ev(VideoStatus::Failed, 3, None);
        let mut o = Order::after(Some(done.seq()));
        assert_eq!(o.offer(done).map(|i| i.kind), Some(Kind::Status));
        assert!(o.done);
    }
}
