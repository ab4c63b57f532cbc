//! Shared state of the web service.

use std::sync::Arc;

use anyhow::Context;
use skillreel_shared::{
    auth::{PasswordHasher, Tokens},
    cache::PublicCache,
    config::{Config, StorageBackend},
    db,
    events::{Hub, StreamSlots},
    inflight::UploadSlots,
    ingest,
    metrics::WebMetrics,
    queue::{self, JobQueue},
    ratelimit::{RateLimiter, slots::ClientSlots},
    storage::{self, Storage, local::LocalStore},
    views::ViewBatcher,
    votes::VoteBatcher,
};
use sqlx::PgPool;

use crate::routes::admin::stats::StatsCache;

/// Everything a handler needs: one shared [`Services`]. Cloning it (axum does, for every
/// extractor and middleware of every request) copies a pointer, not the services'
/// strings, keys and connection settings.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
#[derive(Clone)]
pub struct Services {
    /// PostgreSQL pool.
    pub db: PgPool,
    /// Redis connection (reconnects by itself).
    pub redis: redis::aio::ConnectionManager,
    /// Object storage.
    pub storage: Storage,
    /// The local store when it is the backend, to serve `/media/...` with Range support.
    pub local_media: Option<Arc<LocalStore>>,
    /// Job queue.
    pub queue: JobQueue,
    /// Cache of public reads.
    pub cache: PublicCache,
    /// Votes, written in batches (group commit).
    pub votes: VoteBatcher,
    /// Views, written in batches (group commit).
    pub views: ViewBatcher,
    /// Token signer.
    pub tokens: Tokens,
    /// Password hasher.
    pub hasher: PasswordHasher,
    /// Rate limits (shared with the other instances through Redis).
    pub limiter: RateLimiter,
    /// Sign-ups and logins in flight per client on this instance.
    pub hash_slots: Arc<ClientSlots>,
    /// Prometheus metrics.
    pub metrics: WebMetrics,
    /// Uploads streaming now, bounded per process and per player.
    pub uploads: UploadSlots,
    /// The process's one subscription to video events, fanned out to its streams.
    pub events: Hub,
    /// Live status streams open now, bounded per process and per player.
    pub event_streams: StreamSlots,
    /// Configuration.
    pub config: Arc<Config>,
    /// The organizers' statistics, reused for a couple of seconds.
    pub stats: StatsCache,
}

impl AppState {
    /// Connects to every dependency named in `config`.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config.database)
            .await
            .context("connecting to PostgreSQL")?;
        Self::with_pool(config, db).await
    }

    /// Like [`AppState::connect`] with an existing pool (tests hand in a per-test database).
    ///
    /// Also removes the upload spool files that web processes killed mid-upload left in
    /// `TEMP_DIR` (those of running processes, which may share it, are kept).
    pub async fn with_pool(config: Config, db: PgPool) -> anyhow::Result<Self> {
        sweep_spool(&config);
        let redis = queue::connect(&config.redis)
            .await
            .context("connecting to Redis")?;
        let storage = storage::from_config(&config.storage)
            .await
            .context("opening object storage")?;
        let local_media = match config.storage.backend {
            StorageBackend::Local => Some(Arc::new(
                LocalStore::new(&config.storage).context("opening local storage")?,
            )),
            StorageBackend::S3 => None,
        };
        let hasher = PasswordHasher::new(&config.auth).context("initialising bcrypt")?;
        let cache = PublicCache::new(redis.clone(), &config.redis.prefix, config.cache.clone());
        let metrics = WebMetrics::default();
        let votes = VoteBatcher::start(db.clone(), &config.votes, cache.clone(), metrics.clone());
        let views = ViewBatcher::start(db.clone(), &config.votes, metrics.clone());
        Ok(Self(Arc::new(Services {
            queue: JobQueue::new(redis.clone(), &config.redis),
            cache,
            votes,
            views,
            limiter: RateLimiter::new(redis.clone(), &config.redis, config.limits.clone()),
            hash_slots: ClientSlots::new(config.limits.hashes_per_client),
            tokens: Tokens::new(&config.auth.jwt_secret, config.auth.token_ttl),
            hasher,
            db,
            redis,
            storage,
            local_media,
            metrics,
            uploads: UploadSlots::new(&config.upload),
            events: Hub::start(&config.redis).context("the Redis URL of the events relay")?,
            event_streams: StreamSlots::new(&config.events),
            config: Arc::new(config),
            stats: StatsCache::default(),
        })))
    }

    /// The same services with another job queue (tests point it at a Redis of their own).
    pub fn with_queue(&self, queue: JobQueue) -> Self {
        let mut services = (*self.0).clone();
        services.queue = queue;
        Self(Arc::new(services))
    }
}

fn sweep_spool(config: &Config) {
    let dir = &config.media.temp_dir;
    match ingest::sweep_spool(dir) {
        Ok(0) => {}
        Ok(removed) => {
            tracing::info!(removed, dir = %dir.display(), "removed upload spool files of stopped web processes");
        }
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "could not sweep the upload spool");
        }
    }
}
