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
//!
//! PostgreSQL being down degrades to the last good answer: every answer loaded is also
//! kept in Redis under a key without the generation, for `stale_ttl` (a day by
//! default). When a load fails, or does not answer within `stale_after` (500 ms), while
//! such an answer exists, that answer is served instead, marked [`Cached::stale`]; it
//! then stands in locally for `local_ttl` like a fresh one, so during an outage each
//! instance tries the database once per key and `local_ttl`, and waiting requests are
//! not queued behind one another's timeouts. A load that was only too slow is not
//! dropped: it finishes in the background and stores its answer, so a database that
//! answers every query in more than `stale_after` (a busy evening) still refreshes the
//! public pages, a load's time later, instead of serving the same old answer for ever.
//! Only a key never loaded before (a cold key) waits for the load and shares its error.

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
    /// `GET /api/public/trending`: votes do not invalidate it (it follows them and the
    /// moving window within `CACHE_REDIS_TTL_SECS`); moderation actions do.
    Trending,
}

impl Namespace {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rankings => "rankings",
            Self::PublicVideos => "public-videos",
            Self::Trending => "trending",
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
    stale: bool,
}

/// An answer of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// The answer's bytes.
    pub value: Bytes,
    /// `true` when the load failed (or was too slow) and this is the last good answer.
    pub stale: bool,
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

    fn last_good_key(&self, ns: Namespace, key: &str) -> String {
        format!("{}:cache:{}:last-good:{key}", self.prefix, ns.as_str())
    }

    fn local_get(&self, ns: Namespace, key: &str) -> Option<Cached> {
        let map = self.local.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(ns, key.to_owned()))
            .filter(|e| e.stored.elapsed() < self.config.local_ttl)
            .map(|e| Cached {
                value: e.value.clone(),
                stale: e.stale,
            })
    }

    /// Stores an answer locally and returns it.
    fn local_put(&self, ns: Namespace, key: &str, value: Bytes, stale: bool) -> Cached {
        let mut map = self.local.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_LOCAL_ENTRIES {
            map.clear();
        }
        map.insert(
            (ns, key.to_owned()),
            Entry {
                stored: Instant::now(),
                value: value.clone(),
                stale,
            },
        );
        Cached { value, stale }
    }

    /// Returns the cached value for `key`, or computes it with `load`, stores it in
    /// both levels and returns it. When `load` fails or is slower than `stale_after`
    /// and an earlier answer exists, that answer is returned instead, marked stale.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        ns: Namespace,
        key: &str,
        load: F,
    ) -> Result<Cached, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
        E: std::fmt::Debug + Send + 'static,
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
        let last_good_key = self.last_good_key(ns, key);
        // One round trip for the fresh entry and the answer to fall back on.
        let (fresh, last_good) = match &redis_key {
            Some(rk) => conn
                .mget::<_, (Option<Vec<u8>>, Option<Vec<u8>>)>(&[rk, &last_good_key])
                .await
                .unwrap_or_default(),
            None => (None, None),
        };
        if let Some(hit) = fresh {
            return Ok(self.local_put(ns, key, Bytes::from(hit), false));
        }
        let value = match last_good {
            // A cold key has nothing to fall back on: wait for the load, share its error.
            None => load().await?,
            Some(last_good) => {
                let mut pending = Box::pin(load());
                match tokio::time::timeout(self.config.stale_after, &mut pending).await {
                    Ok(Ok(value)) => value,
                    Ok(Err(e)) => {
                        tracing::warn!(error = ?e, namespace = ns.as_str(), "cache: load failed, serving the last good answer");
                        return Ok(self.local_put(ns, key, Bytes::from(last_good), true));
                    }
                    Err(_) => {
                        tracing::warn!(
                            namespace = ns.as_str(),
                            stale_after_ms = self.config.stale_after.as_millis(),
                            "cache: load too slow, serving the last good answer while it finishes"
                        );
                        // The next read after `local_ttl` finds its answer in Redis.
                        let cache = self.clone();
                        tokio::spawn(async move {
                            match pending.await {
                                Ok(value) => {
                                    cache.store(redis_key, &last_good_key, &value).await;
                                }
                                Err(e) => {
                                    tracing::warn!(error = ?e, namespace = ns.as_str(), "cache: a slow load failed");
                                }
                            }
                        });
                        return Ok(self.local_put(ns, key, Bytes::from(last_good), true));
                    }
                }
            }
        };
        self.store(redis_key, &last_good_key, &value).await;
        Ok(self.local_put(ns, key, value, false))
    }

    /// Stores a loaded answer in Redis: fresh under its generation's key (when Redis
    /// answered the generation) and as the last good answer.
    async fn store(&self, redis_key: Option<String>, last_good_key: &str, value: &Bytes) {
        let Some(rk) = redis_key else { return };
        let ttl = self.config.redis_ttl.as_secs().max(1);
        let last_good_ttl = self.config.stale_ttl.as_secs().max(1);
        let stored = redis::pipe()
            .set_ex(&rk, value.as_ref(), ttl)
            .ignore()
            .set_ex(last_good_key, value.as_ref(), last_good_ttl)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "cache: could not store entry");
        }
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
