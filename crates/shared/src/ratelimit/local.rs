//! What an instance remembers between calls to Redis, per limited key: events already
//! counted in Redis and not used yet (a batch), or a refusal and when it ends.
//!
//! Both only save round trips; neither lets a client past its limit. A batch is taken
//! (counted) in Redis before any of it is used, so the limit holds across instances;
//! the price is that a batch not used within [`BATCH_TTL`] is lost, which costs a
//! client at most one batch per instance per minute of its budget. A refusal is remembered until
//! the time Redis said: a GCRA key only moves forward, so nothing is allowed before.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// How long unused events of a batch stay usable.
pub const BATCH_TTL: Duration = Duration::from_secs(60);

/// Entries kept before expired ones are first swept.
const SWEEP_ABOVE: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Held {
    /// Events counted and not used yet; 0 = refused.
    events: u32,
    until: Instant,
}

/// What the instance knows without asking Redis.
#[derive(Debug, PartialEq, Eq)]
pub enum Known {
    /// One event of a batch was used.
    Allowed,
    /// Refused for this long still.
    Refused(Duration),
    /// Ask Redis.
    Unknown,
}

/// Per-key batches and refusals of one instance.
#[derive(Debug, Default)]
pub struct LocalState {
    held: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    keys: HashMap<String, Held>,
    /// Size at which expired entries are swept next: twice what a sweep left, so
    /// sweeping costs O(1) per insert however many clients are active.
    sweep_at: usize,
}

impl LocalState {
    /// Uses one event of `key`'s batch, or tells the refusal, if either is current.
    pub fn take(&self, key: &str, now: Instant) -> Known {
        let mut table = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let held = &mut table.keys;
        let Some(h) = held.get_mut(key) else {
            return Known::Unknown;
        };
        if now >= h.until {
            held.remove(key);
            return Known::Unknown;
        }
        if h.events == 0 {
            return Known::Refused(h.until - now);
        }
        h.events -= 1;
        if h.events == 0 {
            held.remove(key);
        }
        Known::Allowed
    }

    /// Keeps `events` counted in Redis for later requests of `key`.
    pub fn keep(&self, key: &str, events: u32, now: Instant) {
        if events == 0 {
            return;
        }
        self.insert(key, now, |prev| Held {
            events: events + prev.map_or(0, |p| p.events),
            until: now + BATCH_TTL,
        });
    }

    /// Remembers that `key` is refused for `wait`.
    pub fn refuse(&self, key: &str, wait: Duration, now: Instant) {
        self.insert(key, now, |_| Held {
            events: 0,
            until: now + wait,
        });
    }

    fn insert(&self, key: &str, now: Instant, make: impl FnOnce(Option<Held>) -> Held) {
        let mut table = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if table.keys.len() >= table.sweep_at.max(SWEEP_ABOVE) {
            table.keys.retain(|_, h| h.until > now);
            table.sweep_at = table.keys.len() * 2;
        }
        let prev = table
            .keys
            .get(key)
            .copied()
            .filter(|h| h.until > now && h.events > 0);
        table.keys.insert(key.to_owned(), make(prev));
    }

    /// Keys remembered (tests).
    pub fn len(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_used_up_then_expire() {
        let s = LocalState::default();
        let t0 = Instant::now();
        assert_eq!(s.take("k", t0), Known::Unknown);
        s.keep("k", 2, t0);
        assert_eq!(s.take("k", t0), Known::Allowed);
        assert_eq!(s.take("k", t0), Known::Allowed);
        assert_eq!(s.take("k", t0), Known::Unknown, "used up");
        s.keep("k", 5, t0);
        assert_eq!(s.take("k", t0 + BATCH_TTL), Known::Unknown, "expired");
        assert!(s.is_empty());
    }

    #[test]
    fn refusals_last_until_redis_said() {
        let s = LocalState::default();
        let t0 = Instant::now();
        s.refuse("k", Duration::from_millis(500), t0);
        assert_eq!(
            s.take("k", t0 + Duration::from_millis(100)),
            Known::Refused(Duration::from_millis(400))
        );
        assert_eq!(s.take("k", t0 + Duration::from_millis(500)), Known::Unknown);
        assert_eq!(s.take("other", t0), Known::Unknown);
    }

    #[test]
    fn expired_entries_are_swept() {
        let s = LocalState::default();
        let t0 = Instant::now();
        for i in 0..SWEEP_ABOVE {
            s.keep(&format!("k{i}"), 3, t0);
        }
        s.keep("late", 3, t0 + BATCH_TTL * 2);
        assert_eq!(s.len(), 1);
    }
}
