//! Per-client shares of a scarce resource on one instance (the bcrypt threads).
//!
//! Sign-up and login spend ~250 ms of CPU each on bcrypt, behind a bounded queue
//! (`BCRYPT_MAX_WAITING`). Without shares, one client sending logins fast enough keeps
//! that queue full and every other player's login fails with `503`. With at most
//! `HASHES_PER_CLIENT` in flight per client, one client holds a bounded part of it.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

/// Counts what each client has in flight.
#[derive(Debug)]
pub struct ClientSlots {
    per_client: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One slot, given back on drop.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ClientSlots>,
    client: IpAddr,
}

impl ClientSlots {
    /// At most `per_client` slots per client (at least 1).
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client: per_client.max(1),
            held: Mutex::default(),
        })
    }

    /// A slot for `client`, or `None` when it already holds its share.
    pub fn try_acquire(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(client).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: Arc::clone(self),
            client,
        })
    }

    /// Clients holding at least one slot.
    pub fn clients(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_share_and_gives_it_back() {
        let slots = ClientSlots::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = slots.try_acquire(a).unwrap();
        let _a2 = slots.try_acquire(a).unwrap();
        assert!(slots.try_acquire(a).is_none(), "a third slot for a");
        let _b1 = slots.try_acquire(b).expect("b is not affected by a");
        drop(a1);
        assert!(slots.try_acquire(a).is_some(), "a slot came back");
        drop(_b1);
        assert_eq!(slots.clients(), 1);
    }
}
