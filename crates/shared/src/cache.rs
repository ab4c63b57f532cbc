//! Two-level cache for public reads (rankings, public video lists).
//!
//! Level 1 is a small in-process map whose entries live `local_ttl` (1 s by
//! default); level 2 is Redis, shared by every web instance. A write that changes
//! what the public sees (a vote, a publication) bumps a per-namespace generation
//! counter in Redis: Redis keys embed the generation, so every instance stops
//! using old entries as soon as its local entry expires — within a second — and the
//! instance that took the write drops its local entries at once.
//!
//! Misses are single-flight per instance: concurrent requests for the same missing
//! key wait for one load instead of each running the query (after a vote, 64 waiting
//! ranking requests cost one query, not 64).
//!
//! Redis being down degrades to reading Postgres, never to an error.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use redis::{AsyncCommands, aio::ConnectionManager};

use crate::config::CacheConfig;

/// A family of cached values invalidated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `GET /api/public/rankings`.
    Rankings,
    /// `GET /api/public/videos`.
    PublicVideos,
}

impl Namespace {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rankings => "rankings",
            Self::PublicVideos => "public-videos",
        }
    }
}

/// Bound on local entries; past it the map is cleared (entries are cheap to refill).
const MAX_LOCAL_ENTRIES: usize = 4096;

/// Load locks: a key maps to one of these stripes, so two different keys rarely
/// wait for each other, and the lock set stays fixed in size.
const LOAD_STRIPES: usize = 64;

#[derive(Debug)]
struct Entry {
    stored: Instant,
    value: Bytes,
}

/// The cache. Cheap to clone.
#[derive(Clone)]
pub struct PublicCache {
    redis: ConnectionManager,
    prefix: Arc<str>,
    config: CacheConfig,
    local: Arc<RwLock<HashMap<(Namespace, String), Entry>>>,
    loading: Arc<[tokio::sync::Mutex<()>]>,
    stripe_hasher: RandomState,
}

impl std::fmt::Debug for PublicCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl PublicCache {
    /// Builds a cache over a Redis connection; keys start with `prefix`.
    pub fn new(redis: ConnectionManager, prefix: &str, config: CacheConfig) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            config,
            local: Arc::default(),
            loading: (0..LOAD_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            stripe_hasher: RandomState::new(),
        }
    }

    fn load_lock(&self, ns: Namespace, key: &str) -> &tokio::sync::Mutex<()> {
        let stripe = self.stripe_hasher.hash_one((ns, key)) as usize % self.loading.len();
        &self.loading[stripe]
    }

    fn generation_key(&self, ns: Namespace) -> String {
        format!("{}:cache:{}:generation", self.prefix, ns.as_str())
    }

    fn local_get(&self, ns: Namespace, key: &str) -> Option<Bytes> {
        let map = self.local.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(ns, key.to_owned()))
            .filter(|e| e.stored.elapsed() < self.config.local_ttl)
            .map(|e| e.value.clone())
    }

    fn local_put(&self, ns: Namespace, key: &str, value: Bytes) {
        let mut map = self.local.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_LOCAL_ENTRIES {
            map.clear();
        }
        map.insert(
            (ns, key.to_owned()),
            Entry {
                stored: Instant::now(),
                value,
            },
        );
    }

    /// Returns the cached value for `key`, or computes it with `load`, stores it in
    /// both levels and returns it.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        ns: Namespace,
        key: &str,
        load: F,
    ) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if let Some(hit) = self.local_get(ns, key) {
            return Ok(hit);
        }
        // Single flight: whoever gets the lock first loads; the others find its result.
        let _loading = self.load_lock(ns, key).lock().await;
        if let Some(hit) = self.local_get(ns, key) {
            return Ok(hit);
        }
        let mut conn = self.redis.clone();
        let generation: Option<u64> =
            match conn.get::<_, Option<u64>>(self.generation_key(ns)).await {
                Ok(g) => Some(g.unwrap_or(0u64)),
                Err(e) => {
                    tracing::warn!(error = %e, "cache: Redis unavailable, reading through");
                    None
                }
            };
        let redis_key =
            generation.map(|g| format!("{}:cache:{}:{g}:{key}", self.prefix, ns.as_str()));
        if let Some(rk) = &redis_key
            && let Ok(Some(hit)) = conn.get::<_, Option<Vec<u8>>>(rk).await
        {
            let hit = Bytes::from(hit);
            self.local_put(ns, key, hit.clone());
            return Ok(hit);
        }
        let value = load().await?;
        if let Some(rk) = redis_key {
            let ttl = self.config.redis_ttl.as_secs().max(1);
            if let Err(e) = conn.set_ex::<_, _, ()>(&rk, value.as_ref(), ttl).await {
                tracing::warn!(error = %e, "cache: could not store entry");
            }
        }
        self.local_put(ns, key, value.clone());
        Ok(value)
    }

    /// Invalidates a namespace everywhere: a new generation in Redis (other instances
    /// follow within `local_ttl`) and this instance's local entries at once.
    pub async fn invalidate(&self, ns: Namespace) {
        {
            let mut map = self.local.write().unwrap_or_else(|e| e.into_inner());
            map.retain(|(n, _), _| *n != ns);
        }
        let mut conn = self.redis.clone();
        if let Err(e) = conn.incr::<_, _, u64>(self.generation_key(ns), 1).await {
            tracing::warn!(error = %e, namespace = ns.as_str(), "cache: could not bump generation");
        }
    }

    /// Lifetime of local entries (how stale another instance can be).
    pub fn local_ttl(&self) -> Duration {
        self.config.local_ttl
    }
}
