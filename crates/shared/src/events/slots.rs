//! How many live status streams one web process keeps open, in all and per player.
//!
//! A stream holds a socket, a task and a little memory for minutes, so a flood of them
//! could exhaust file descriptors or memory while costing the client nothing. The counts
//! are per process, like the upload slots (`crate::inflight`): what they protect is per
//! process, and an in-process count cannot leak a slot when a process dies.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::config::EventsConfig;

/// Seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 5;

/// Why a stream was not opened.
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

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_player: HashMap<i64, usize>,
}

/// The streams open in this process. Cheap to clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    max_total: usize,
    max_per_player: usize,
    counts: Arc<Mutex<Counts>>,
}

impl StreamSlots {
    /// Slots bounded by `EVENTS_MAX_STREAMS` and `EVENTS_MAX_STREAMS_PER_PLAYER`.
    pub fn new(config: &EventsConfig) -> Self {
        Self {
            max_total: config.max_streams,
            max_per_player: config.max_streams_per_player,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for a stream of `player`, held until the guard drops. The player's
    /// own limit is checked first, so a player at it is told so even when the process
    /// is full too.
    pub fn try_acquire(&self, player: i64) -> Result<StreamSlot, Refused> {
        let mut counts = self.lock();
        let mine = counts.per_player.get(&player).copied().unwrap_or(0);
        if mine >= self.max_per_player {
            return Err(Refused::PlayerBusy {
                limit: self.max_per_player,
            });
        }
        if counts.total >= self.max_total {
            return Err(Refused::Busy);
        }
        counts.total += 1;
        counts.per_player.insert(player, mine + 1);
        Ok(StreamSlot {
            slots: self.clone(),
            player,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Every update is one step, so the counts stay whole even if a holder panicked.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, player: i64) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_player.get_mut(&player) {
            *n -= 1;
            if *n == 0 {
                counts.per_player.remove(&player);
            }
        }
    }
}

/// One open stream; its slot is given back on drop, however the stream ends.
#[derive(Debug)]
#[must_use = "the slot is released when this guard drops"]
pub struct StreamSlot {
    slots: StreamSlots,
    player: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.slots.release(self.player);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
