//! Wake-ups on enqueue: apalis' push script (and our own re-queue scripts) publish on
//! the queue's channel; a subscriber relays each message to a [`Notify`] that the
//! worker's fetch loop listens to (apalis' `poll_with_stream`). An idle worker so starts
//! a new job within milliseconds of the upload's `201` instead of at its next poll. The
//! poll stays as the fallback: a lost message delays a job by one poll interval at most.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream::BoxStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::JobQueue;

/// Keeps a subscription to the queue's wake-up channel until `stop`, reconnecting after
/// a Redis outage, and notifies `wake` for every message (and after every reconnect,
/// since messages sent while disconnected are lost).
pub async fn relay(queue: JobQueue, wake: Arc<Notify>, stop: CancellationToken) {
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        match queue.client().get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(queue.wake_channel()).await {
                Ok(()) => {
                    if failures > 0 {
                        info!(
                            channel = queue.wake_channel(),
                            "wake-up subscription restored"
                        );
                    }
                    failures = 0;
                    wake.notify_one();
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            msg = messages.next() => match msg {
                                Some(_) => wake.notify_one(),
                                None => break,
                            },
                        }
                    }
                    debug!("wake-up subscription closed");
                }
                Err(e) => debug!(error = %e, "subscribing to wake-ups failed"),
            },
            Err(e) => debug!(error = %e, "connecting for wake-ups failed"),
        }
        failures = failures.saturating_add(1);
        let pause = Duration::from_millis(250u64.saturating_mul(1 << failures.min(4)));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// A stream that yields once per wake-up (coalesced), for apalis' `poll_with_stream`.
pub fn stream(wake: Arc<Notify>) -> BoxStream<'static, ()> {
    futures::stream::unfold(wake, |wake| async move {
        wake.notified().await;
        Some(((), wake))
    })
    .boxed()
}
