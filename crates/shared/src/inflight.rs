//! Admission of uploads: how many may stream at once in this process, in all and per
//! player.
//!
//! Every upload holds a spool file, a socket and some memory for as long as its body
//! streams, so a process admits at most `UPLOAD_MAX_IN_FLIGHT` of them and a player at
//! most `UPLOAD_MAX_IN_FLIGHT_PER_PLAYER` (per-process counts, see [`crate::slots`]).

use crate::{
    config::UploadLimits,
    slots::{Full, Limits, Slot, Slots},
};

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

impl From<Full> for Refused {
    fn from(full: Full) -> Self {
        match full {
            Full::Key { limit } => Self::PlayerBusy { limit },
            Full::Total { limit } => Self::Busy { limit },
        }
    }
}

impl From<&UploadLimits> for Limits {
    fn from(limits: &UploadLimits) -> Self {
        Self {
            total: limits.max_in_flight,
            per_key: limits.max_in_flight_per_player,
        }
    }
}

/// The uploads in flight in this process, per player: `UploadSlots::new(&limits)` is
/// bounded by `UPLOAD_MAX_IN_FLIGHT` and `UPLOAD_MAX_IN_FLIGHT_PER_PLAYER`.
pub type UploadSlots = Slots<i64, Refused>;

/// One admitted upload; its slot is given back on drop, however the upload ends.
pub type UploadSlot = Slot<i64>;

impl UploadSlots {
    /// Uploads in flight now.
    pub fn in_flight(&self) -> usize {
        self.held()
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
        assert_eq!(s.keys(), 0);
    }
}
