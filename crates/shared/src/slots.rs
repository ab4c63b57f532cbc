//! Capped counts of what this process holds open, in all and per key (a player): the
//! uploads streaming in ([`crate::inflight`]) and the live status streams going out
//! ([`crate::events`]).
//!
//! The counts are per process, not shared between instances: what they protect (file
//! descriptors, sockets, disk, memory) is per process too, and an in-process count costs
//! no round trip and cannot leak a slot when a process dies.

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    marker::PhantomData,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// How many slots may be held at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// In all, in this process.
    pub total: usize,
    /// By one key.
    pub per_key: usize,
}

/// Why a slot was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The key already holds [`Limits::per_key`] slots.
    Key {
        /// The per-key limit.
        limit: usize,
    },
    /// The process already holds [`Limits::total`] slots.
    Total {
        /// The process limit.
        limit: usize,
    },
}

struct Counts<K> {
    total: usize,
    per_key: HashMap<K, usize>,
}

type Shared<K> = Arc<Mutex<Counts<K>>>;

fn lock<K>(counts: &Shared<K>) -> MutexGuard<'_, Counts<K>> {
    // Every update is one step, so the counts stay whole even if a holder panicked.
    counts.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The slots of one resource, keyed by `K`; a refusal is told as `R` (the resource's own
/// error, with its message and code). Cheap to clone; clones share the counts.
pub struct Slots<K, R> {
    limits: Limits,
    counts: Shared<K>,
    refusal: PhantomData<fn() -> R>,
}

impl<K, R> Clone for Slots<K, R> {
    fn clone(&self) -> Self {
        Self {
            limits: self.limits,
            counts: Arc::clone(&self.counts),
            refusal: PhantomData,
        }
    }
}

impl<K, R> fmt::Debug for Slots<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("limits", &self.limits)
            .field("held", &lock(&self.counts).total)
            .finish()
    }
}

impl<K: Hash + Eq + Copy, R: From<Full>> Slots<K, R> {
    /// Slots bounded by `limits`.
    pub fn new(limits: impl Into<Limits>) -> Self {
        Self {
            limits: limits.into(),
            counts: Arc::new(Mutex::new(Counts {
                total: 0,
                per_key: HashMap::new(),
            })),
            refusal: PhantomData,
        }
    }

    /// Takes a slot for `key`, held until the returned guard drops. The key's own limit
    /// is checked first: a player at it is told so (`429`) even when the process is
    /// full too.
    pub fn try_acquire(&self, key: K) -> Result<Slot<K>, R> {
        let mut counts = lock(&self.counts);
        let mine = counts.per_key.get(&key).copied().unwrap_or(0);
        if mine >= self.limits.per_key {
            return Err(Full::Key {
                limit: self.limits.per_key,
            }
            .into());
        }
        if counts.total >= self.limits.total {
            return Err(Full::Total {
                limit: self.limits.total,
            }
            .into());
        }
        counts.total += 1;
        counts.per_key.insert(key, mine + 1);
        Ok(Slot {
            counts: Arc::clone(&self.counts),
            key,
        })
    }

    /// Slots held now.
    pub fn held(&self) -> usize {
        lock(&self.counts).total
    }

    /// Keys holding at least one slot.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        lock(&self.counts).per_key.len()
    }
}

/// One held slot; given back on drop, however its holder ends.
#[must_use = "the slot is released when this guard drops"]
pub struct Slot<K: Hash + Eq> {
    counts: Shared<K>,
    key: K,
}

impl<K: Hash + Eq + fmt::Debug> fmt::Debug for Slot<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").field("key", &self.key).finish()
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(total: usize, per_key: usize) -> Slots<i64, Full> {
        Slots::new(Limits { total, per_key })
    }

    #[test]
    fn the_key_limit_is_told_first_and_slots_come_back() {
        let s = slots(1, 1);
        let a = s.try_acquire(1).unwrap();
        assert_eq!(s.try_acquire(1).unwrap_err(), Full::Key { limit: 1 });
        assert_eq!(s.try_acquire(2).unwrap_err(), Full::Total { limit: 1 });
        assert_eq!((s.held(), s.keys()), (1, 1));
        drop(a);
        assert_eq!((s.held(), s.keys()), (0, 0));
        let _b = s.clone().try_acquire(2).unwrap();
        assert_eq!(s.held(), 1, "clones share the counts");
    }
}
