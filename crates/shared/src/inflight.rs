//! Admission of uploads: how many may stream at once in this process, in all and per
//! player.
//!
//! Every upload holds a spool file, a socket and some memory for as long as its body
//! streams, so a process admits at most `UPLOAD_MAX_IN_FLIGHT` of them and a player at
//! most `UPLOAD_MAX_IN_FLIGHT_PER_PLAYER`. The counts are per process, not shared
//! between web instances: what they protect (file descriptors, disk, memory) is per
//! process too, and an in-process count costs no round trip and cannot leak a slot when
//! a process dies.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::config::UploadLimits;

/// Seconds a refused client is told to wait (`Retry-After`): an upload slot frees up
/// as soon as any upload in flight ends, which is typically seconds away.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Why an upload was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The process already streams its maximum of uploads (`503`).
    #[error("the service is receiving too many uploads right now; try again in a few seconds")]
    Busy {
        /// The per-process limit.
        limit: usize,
    },
    /// The player already streams their maximum of uploads (`429`).
    #[error("you already have {limit} uploads in progress; wait for one to finish")]
    PlayerBusy {
        /// The per-player limit.
        limit: usize,
    },
}

impl Refused {
    /// Stable kebab-case code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy { .. } => "uploads-busy",
            Self::PlayerBusy { .. } => "too-many-uploads-in-flight",
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

/// The uploads in flight in this process. Cheap to clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct UploadSlots {
    max_total: usize,
    max_per_player: usize,
    counts: Arc<Mutex<Counts>>,
}

impl UploadSlots {
    /// Slots bounded by `UPLOAD_MAX_IN_FLIGHT` and `UPLOAD_MAX_IN_FLIGHT_PER_PLAYER`.
    pub fn new(limits: &UploadLimits) -> Self {
        Self {
            max_total: limits.max_in_flight,
            max_per_player: limits.max_in_flight_per_player,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for an upload of `player`, held until the returned guard drops.
    /// The player's limit is checked first: a player at their own limit is told so
    /// (`429`) even when the process is full too.
    pub fn try_acquire(&self, player: i64) -> Result<UploadSlot, Refused> {
        let mut counts = self.lock();
        let mine = counts.per_player.get(&player).copied().unwrap_or(0);
        if mine >= self.max_per_player {
            return Err(Refused::PlayerBusy {
                limit: self.max_per_player,
            });
        }
        if counts.total >= self.max_total {
            return Err(Refused::Busy {
                limit: self.max_total,
            });
        }
        counts.total += 1;
        counts.per_player.insert(player, mine + 1);
        Ok(UploadSlot {
            slots: self.clone(),
            player,
        })
    }

    /// Uploads in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update is one step.
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

/// One admitted upload; its slot is given back on drop, however the upload ends.
#[derive(Debug)]
#[must_use = "the slot is released when this guard drops"]
pub struct UploadSlot {
    slots: UploadSlots,
    player: i64,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.slots.release(self.player);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(total: usize, per_player: usize) -> UploadSlots {
        UploadSlots::new(&UploadLimits {
            max_in_flight: total,
            max_in_flight_per_player: per_player,
            ..UploadLimits::default()
        })
    }

    #[test]
    fn a_player_at_their_limit_is_refused_and_others_are_not() {
        let s = slots(3, 1);
        let first = s.try_acquire(1).unwrap();
        assert_eq!(
            s.try_acquire(1).unwrap_err(),
            Refused::PlayerBusy { limit: 1 }
        );
        let _other = s.try_acquire(2).unwrap();
        drop(first);
        let _again = s.try_acquire(1).unwrap();
        assert_eq!(s.in_flight(), 2);
    }

    #[test]
    fn the_process_limit_holds_across_players() {
        let s = slots(2, 2);
        let a = s.try_acquire(1).unwrap();
        let _b = s.try_acquire(2).unwrap();
        let refused = s.try_acquire(3).unwrap_err();
        assert_eq!(refused, Refused::Busy { limit: 2 });
        assert_eq!(refused.code(), "uploads-busy");
        assert!(refused.retry_after() > 0);
        drop(a);
        let _c = s.try_acquire(3).unwrap();
    }

    #[test]
    fn slots_are_given_back_and_forgotten() {
        let s = slots(4, 2);
        let held: Vec<_> = (0..2).map(|_| s.try_acquire(7).unwrap()).collect();
        assert_eq!(s.in_flight(), 2);
        drop(held);
        assert_eq!(s.in_flight(), 0);
        assert!(s.lock().per_player.is_empty());
    }
}
