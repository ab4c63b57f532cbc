//! Typed configuration for every component.
//!
//! Values come from the process environment (and a `.env` file when present) by
//! default, or from AWS Secrets Manager + SSM Parameter Store when
//! `CONFIG_SOURCE=aws` (see [`aws`]). Every setting has a default that works on
//! one machine with local PostgreSQL, Redis and a local storage directory.
//!
//! Environment variables (defaults in brackets):
//!
//! | variable | meaning |
//! |---|---|
//! | `CONFIG_SOURCE` | `env` or `aws` [`env`] |
//! | `SKILLREEL_ENV` | `production` or `development`; only `development` runs without a `JWT_SECRET` (see [`secrets`]) [`production`] |
//! | `HOST`, `PORT` | web bind address [`0.0.0.0`, `8000`] |
//! | `WEB_METRICS_ADDR` | where the web service serves `/metrics` (never on the public port), or `off` [`127.0.0.1:9101`] |
//! | `HTTP_HEADER_READ_TIMEOUT_SECS` | time a connection has to send a complete request head (also the idle time of a kept-alive HTTP/1 connection); then it is closed [`10`] |
//! | `HTTP_BODY_TIMEOUT_SECS` | time a JSON request body has to arrive; then `408` [`10`] |
//! | `PUBLIC_BASE_URL` | absolute origin used in local media URLs [unset: relative URLs] |
//! | `DATABASE_URL` | PostgreSQL URL [`postgres://postgres@127.0.0.1:5432/skillreel`] |
//! | `DATABASE_MAX_CONNECTIONS` | pool size per process [`16`] |
//! | `REDIS_URL` | Redis URL [`redis://127.0.0.1:6379`] |
//! | `REDIS_PREFIX` | prefix of every Redis key and of the queue name [`skillreel`] |
//! | `JWT_SECRET` | HS256 signing key, at least 32 random bytes; required [unset: start-up fails, except with `SKILLREEL_ENV=development`] |
//! | `JWT_TTL_SECS` | access token lifetime [`3600`] |
//! | `BCRYPT_COST` | bcrypt cost [`12`] |
//! | `BCRYPT_MAX_CONCURRENCY` | bcrypt hashes running at once [number of CPUs] |
//! | `BCRYPT_NICE` | scheduling niceness of the hashing threads, 0–19 [`5`] |
//! | `BCRYPT_MAX_WAITING` | hashes allowed to wait for a thread before sign-ups and logins get `503`; 0 = no limit [`32` per hashing thread] |
//! | `STORAGE_BACKEND` | `local` or `s3` [`local`] |
//! | `STORAGE_DIR` | root of the local store [`./var/storage`] |
//! | `S3_BUCKET`, `AWS_REGION` | bucket and region [`skillreel`, `us-east-1`] |
//! | `S3_ENDPOINT_URL` / `AWS_ENDPOINT_URL` | endpoint override for an emulator [unset] |
//! | `S3_FORCE_PATH_STYLE` | path-style addressing [`false`, `true` when an endpoint is set] |
//! | `S3_EXPECTED_BUCKET_OWNER` | pins `ExpectedBucketOwner` on every S3 call [unset] |
//! | `MEDIA_PUBLIC_BASE_URL` | serve processed files from this public/CDN base instead of presigning [unset] |
//! | `PRESIGN_EXPIRY_SECS` | lifetime of playable URLs [`3600`] |
//! | `URL_SIGNING_KEY` | key of local media URL signatures, at least 32 bytes [`JWT_SECRET`] |
//! | `UPLOAD_MAX_BYTES` | largest accepted upload [`104857600`] (100 MB) |
//! | `UPLOAD_MIN_DURATION_SECS`, `UPLOAD_MAX_DURATION_SECS` | accepted duration [`20`, `60`] |
//! | `UPLOAD_MIN_SHORT_SIDE` | minimum of the shorter side in pixels [`1080`] |
//! | `UPLOAD_MAX_LONG_SIDE` | maximum of the longer side in pixels [`4096`] |
//! | `UPLOAD_MAX_FPS` | highest average frame rate; also bounds the declared frame count to what the duration allows at this rate [`120`] |
//! | `UPLOAD_IDLE_SECS` | an upload body that sends nothing this long is cut off with `408` [`30`] |
//! | `UPLOAD_MAX_SECS` | an upload body still arriving after this long is cut off with `408` [`600`] |
//! | `UPLOAD_MAX_IN_FLIGHT` | uploads streaming at once per web process; beyond it `503` [`16`] |
//! | `UPLOAD_MAX_IN_FLIGHT_PER_PLAYER` | uploads of one player streaming at once per web process; beyond it `429` [`2`] |
//! | `UPLOAD_RESUMABLE_TTL_SECS` | a resumable upload not completed this long after its start expires (`410`) and is swept [`86400`] |
//! | `UPLOAD_MAX_PENDING_PER_PLAYER` | unfinished resumable uploads one player may have; beyond it `429` [`5`] |
//! | `TEMP_DIR` | where uploads and jobs keep temporary files [system temp dir] |
//! | `FFMPEG_PATH`, `FFPROBE_PATH` | binaries [`ffmpeg`, `ffprobe` on `PATH`] |
//! | `MEDIA_ASSETS_DIR` | where default logo/bumpers are generated [`./var/assets`] |
//! | `LOGO_PATH`, `INTRO_PATH`, `OUTRO_PATH` | replace the default assets [unset] |
//! | `FFMPEG_PRESET`, `FFMPEG_CRF` | x264 preset and CRF [`veryfast`, `23`] |
//! | `FFMPEG_THREADS` | threads of one job's ffmpeg run: `auto` (ffmpeg's choice, every core) or 1–64 [`auto`] |
//! | `MEDIA_MAX_SECS` | seconds of the source kept [`30`] |
//! | `PROBE_TIMEOUT_SECS`, `JOB_TIMEOUT_SECS` | ffprobe and whole-job time limits [`20`, `900`] |
//! | `WORKER_NAME` | unique worker name [`<hostname>-<pid>-<random>`] |
//! | `WORKER_CONCURRENCY` | jobs at once per worker [`1`] |
//! | `WORKER_MAX_ATTEMPTS` | attempts before `failed` [`3`] |
//! | `WORKER_BACKOFF_SECS` | first retry delay, doubled each attempt [`5`] |
//! | `RECONCILE_INTERVAL_SECS` | period of the recovery sweep (dead workers, lost jobs) [`2`] |
//! | `RECONCILE_STALE_SECS` | age after which an `uploaded` video without a queued job counts as lost [`15`] |
//! | `WORKER_LEASE_SECS` | silence (no Redis heartbeat, no database heartbeat) after which a worker counts as dead and its jobs run elsewhere [`8`] |
//! | `SHUTDOWN_GRACE_SECS` | time a stopping worker gives in-flight jobs [`60`] |
//! | `WORKER_METRICS_ADDR` | where the worker serves `/metrics`, or `off` [`127.0.0.1:9100`] |
//! | `CACHE_TTL_MS` | in-process cache lifetime of public lists and rankings [`1000`] |
//! | `CACHE_REDIS_TTL_SECS` | Redis lifetime of the same entries [`30`] |
//! | `CACHE_STALE_TTL_SECS` | how long the last good answer of each list/ranking is kept for database outages [`86400`] |
//! | `CACHE_STALE_AFTER_MS` | a load slower than this (or failing) serves the last good answer, marked `x-cache: stale` [`500`] |
//! | `LOG_FORMAT` | `json` or `pretty` [`pretty`] |
//! | `EVENTS_KEEPALIVE_SECS` | silence after which a live status stream sends a comment line [`15`] |
//! | `EVENTS_MAX_STREAM_SECS` | a live status stream not yet final ends after this; the client reconnects [`300`] |
//! | `EVENTS_FALLBACK_POLL_SECS` | while the Redis subscription is down, streams read their row this often [`2`] |
//! | `EVENTS_RECHECK_SECS` | while it is up, streams still read their row this often [`15`] |
//! | `EVENTS_MAX_STREAMS` | live status streams open at once per web process; beyond it `503` [`1000`] |
//! | `EVENTS_MAX_STREAMS_PER_PLAYER` | streams of one player open at once per web process; beyond it `429` [`8`] |
//! | `VOTE_BATCH_MAX` | most votes (and most views) one web instance writes in one statement [`256`] |
//! | `VOTE_BATCHES_IN_FLIGHT` | vote batches one web instance writes at once, and as many view batches [`2`] |
//! | `VOTE_CACHE_REFRESH_MS` | votes invalidate the public caches at most this often per instance [`250`] |
//! | `ADMIN_EMAILS` | e-mails of the organizers' accounts, comma-separated, any case (see [`organizers`]) [unset: no organizer] |
//!
//! Rate limits and `TRUSTED_PROXIES`: see [`limits`]. TLS to PostgreSQL and Redis
//! (`REDIS_CA_FILE`, `ALLOW_PLAINTEXT_BACKENDS`): see [`backends`].

pub mod aws;
pub mod backends;
mod events;
pub mod limits;
mod media;
pub mod organizers;
pub mod secrets;
mod upload;
mod votes;
mod worker;

use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;

pub use self::events::EventsConfig;
pub use self::media::MediaConfig;
pub use self::organizers::OrganizersConfig;
pub use self::votes::VotesConfig;
pub use self::worker::WorkerConfig;
pub use self::{limits::RateLimitConfig, secrets::Environment, upload::UploadLimits};

/// Everything a process needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Production or development (`SKILLREEL_ENV`).
    pub environment: Environment,
    /// HTTP listener of the web service.
    pub http: HttpConfig,
    /// PostgreSQL connection.
    pub database: DatabaseConfig,
    /// Redis connection and key namespace.
    pub redis: RedisConfig,
    /// Tokens and password hashing.
    pub auth: AuthConfig,
    /// Where videos are stored.
    pub storage: StorageConfig,
    /// Upload limits.
    pub upload: UploadLimits,
    /// FFmpeg pipeline settings.
    pub media: MediaConfig,
    /// Worker behaviour.
    pub worker: WorkerConfig,
    /// Caching of public reads.
    pub cache: CacheConfig,
    /// Rate limits and the client address ([`limits`]).
    pub limits: RateLimitConfig,
    /// Live status streams.
    pub events: EventsConfig,
    /// Vote batching.
    pub votes: VotesConfig,
    /// Who the organizers are.
    pub organizers: OrganizersConfig,
}

/// HTTP listener settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Bind host.
    pub host: String,
    /// Bind port; 0 picks a free one (tests).
    pub port: u16,
    /// Absolute origin prepended to local media URLs, e.g. `https://skillreel.example`.
    pub public_base_url: Option<String>,
    /// Where the web service serves `/metrics` (`None`: not served). Never the public
    /// listener: a load balancer would publish it.
    pub metrics_addr: Option<String>,
    /// An HTTP/1 connection that has not sent a complete request head this long after it
    /// opened (or after its previous response) is closed.
    pub header_read_timeout: Duration,
    /// A JSON request body still arriving after this long is answered `408`.
    pub body_timeout: Duration,
}

/// PostgreSQL settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Connection URL (contains the password, hence secret).
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
}

/// Redis settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Connection URL (`rediss://` for TLS).
    pub url: SecretString,
    /// CAs a `rediss://` server's certificate must chain to, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Prefix of every key this service writes, including the job queue.
    pub prefix: String,
}

impl RedisConfig {
    /// Name of the apalis queue holding video jobs.
    pub fn queue_name(&self) -> String {
        format!("{}:jobs:process-video", self.prefix)
    }

    /// A key in this service's namespace.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HS256 signing key.
    pub jwt_secret: SecretString,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// bcrypt cost factor.
    pub bcrypt_cost: u32,
    /// Hashes allowed to run at once, so a login burst cannot take every core.
    pub bcrypt_max_concurrency: usize,
    /// Niceness (0–19) of the hashing threads: above 0, request handling wins the CPU
    /// over password hashing when both want it.
    pub bcrypt_nice: i32,
    /// Hashes allowed to wait for a thread; past it sign-up and login answer `503` at
    /// once instead of queueing for longer than a client waits. 0 = no limit.
    pub bcrypt_max_waiting: usize,
}

/// Which object store to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// A directory on local disk.
    Local,
    /// An S3 bucket (or an S3-compatible emulator).
    S3,
}

/// Object storage settings.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Backend in use.
    pub backend: StorageBackend,
    /// Root directory of the local backend.
    pub local_dir: PathBuf,
    /// S3 bucket.
    pub bucket: String,
    /// AWS region.
    pub region: String,
    /// Endpoint override (emulators).
    pub endpoint_url: Option<String>,
    /// Path-style addressing (emulators).
    pub force_path_style: bool,
    /// Pins `ExpectedBucketOwner` on every S3 call.
    pub expected_bucket_owner: Option<String>,
    /// When set, processed videos are served from `<base>/<key>` instead of presigned URLs.
    pub media_public_base_url: Option<String>,
    /// Lifetime of presigned / signed URLs.
    pub presign_expiry: Duration,
    /// Key signing local media URLs (the JWT secret unless set otherwise).
    pub url_signing_key: SecretString,
}

/// Caching of public reads.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Lifetime of an entry in the in-process cache.
    pub local_ttl: Duration,
    /// Lifetime of an entry in Redis.
    pub redis_ttl: Duration,
    /// How long the last good answer of a key is kept for database outages.
    pub stale_ttl: Duration,
    /// How long a load may take, when a last good answer exists, before that answer is
    /// served instead.
    pub stale_after: Duration,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A setting could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds a value of the wrong form.
    #[error("configuration variable {name} has an invalid value: {reason}")]
    Invalid {
        /// Variable name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A required variable is not set.
    #[error("configuration variable {name} is required: {reason}")]
    Missing {
        /// Variable name.
        name: String,
        /// How to set it.
        reason: String,
    },
    /// A required AWS secret could not be read.
    #[error("AWS secret {name} could not be read: {reason}")]
    Secret {
        /// Secret name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// A required SSM parameter could not be read.
    #[error("SSM parameter {name} could not be read: {reason}")]
    Parameter {
        /// Parameter name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// Looks a variable up; empty counts as unset.
pub trait Source {
    /// The value of `name`, if set and non-empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvSource;

impl Source for EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

fn parse<T: std::str::FromStr>(src: &dyn Source, name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match src.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                reason: e.to_string(),
            }),
    }
}

fn secs(src: &dyn Source, name: &str, default: u64) -> Result<Duration, ConfigError> {
    parse(src, name, default).map(Duration::from_secs)
}

/// [`parse`], refusing 0: a limit or timeout of zero would refuse everything.
fn positive<T>(src: &dyn Source, name: &str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    let value = parse(src, name, default)?;
    if value == T::default() {
        return Err(ConfigError::Invalid {
            name: name.to_owned(),
            reason: "must be greater than 0".into(),
        });
    }
    Ok(value)
}

/// [`secs`], refusing 0.
fn positive_secs(src: &dyn Source, name: &str, default: u64) -> Result<Duration, ConfigError> {
    positive(src, name, default).map(Duration::from_secs)
}

fn string(src: &dyn Source, name: &str, default: &str) -> String {
    src.get(name).unwrap_or_else(|| default.to_owned())
}

/// A listen address, or `None` for `off`.
fn address(src: &dyn Source, name: &str, default: &str) -> Option<String> {
    match string(src, name, default).trim() {
        "off" => None,
        addr => Some(addr.to_owned()),
    }
}

/// Reads the log format from `LOG_FORMAT`.
pub fn log_format(src: &dyn Source) -> LogFormat {
    match src.get("LOG_FORMAT").as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Pretty,
    }
}

/// Loads `.env` (if present) into the environment; call once at start-up.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&EnvSource)
    }

    /// Reads the configuration from any key/value source (env, or AWS values merged over env).
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let environment = Environment::from_source(src)?;
        let keys = secrets::signing_keys(src, environment)?;
        let redis_url = string(src, "REDIS_URL", "redis://127.0.0.1:6379");
        let endpoint_url = src
            .get("S3_ENDPOINT_URL")
            .or_else(|| src.get("AWS_ENDPOINT_URL_S3"))
            .or_else(|| src.get("AWS_ENDPOINT_URL"));
        let storage_backend = match string(src, "STORAGE_BACKEND", "local").as_str() {
            "local" => StorageBackend::Local,
            "s3" => StorageBackend::S3,
            other => {
                return Err(ConfigError::Invalid {
                    name: "STORAGE_BACKEND".into(),
                    reason: format!("expected `local` or `s3`, got `{other}`"),
                });
            }
        };
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let bcrypt_threads = parse(src, "BCRYPT_MAX_CONCURRENCY", cpus)?.max(1);
        let bcrypt_nice: i32 = parse(src, "BCRYPT_NICE", 5)?;
        if !(0..=19).contains(&bcrypt_nice) {
            return Err(ConfigError::Invalid {
                name: "BCRYPT_NICE".into(),
                reason: format!("expected 0–19, got {bcrypt_nice}"),
            });
        }
        Ok(Self {
            environment,
            http: HttpConfig {
                host: string(src, "HOST", "0.0.0.0"),
                port: parse(src, "PORT", 8000)?,
                public_base_url: src
                    .get("PUBLIC_BASE_URL")
                    .map(|u| u.trim_end_matches('/').to_owned()),
                metrics_addr: address(src, "WEB_METRICS_ADDR", "127.0.0.1:9101"),
                header_read_timeout: positive_secs(src, "HTTP_HEADER_READ_TIMEOUT_SECS", 10)?,
                body_timeout: positive_secs(src, "HTTP_BODY_TIMEOUT_SECS", 10)?,
            },
            database: DatabaseConfig {
                url: string(
                    src,
                    "DATABASE_URL",
                    "postgres://postgres@127.0.0.1:5432/skillreel",
                )
                .into(),
                max_connections: parse(src, "DATABASE_MAX_CONNECTIONS", 16)?,
            },
            redis: RedisConfig {
                ca_file: backends::redis_ca_file(src, &redis_url)?,
                url: redis_url.into(),
                prefix: string(src, "REDIS_PREFIX", "skillreel"),
            },
            auth: AuthConfig {
                jwt_secret: keys.jwt,
                token_ttl: secs(src, "JWT_TTL_SECS", 3600)?,
                bcrypt_cost: parse(src, "BCRYPT_COST", 12)?,
                bcrypt_max_concurrency: bcrypt_threads,
                bcrypt_nice,
                bcrypt_max_waiting: parse(src, "BCRYPT_MAX_WAITING", 32 * bcrypt_threads)?,
            },
            storage: StorageConfig {
                backend: storage_backend,
                local_dir: string(src, "STORAGE_DIR", "./var/storage").into(),
                bucket: string(src, "S3_BUCKET", "skillreel"),
                region: src
                    .get("AWS_REGION")
                    .or_else(|| src.get("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                force_path_style: parse(src, "S3_FORCE_PATH_STYLE", endpoint_url.is_some())?,
                endpoint_url,
                expected_bucket_owner: src.get("S3_EXPECTED_BUCKET_OWNER"),
                media_public_base_url: src
                    .get("MEDIA_PUBLIC_BASE_URL")
                    .map(|u| u.trim_end_matches('/').to_owned()),
                presign_expiry: secs(src, "PRESIGN_EXPIRY_SECS", 3600)?,
                url_signing_key: keys.url,
            },
            upload: UploadLimits::from_source(src)?,
            media: MediaConfig::from_source(src)?,
            worker: WorkerConfig::from_source(src)?,
            cache: CacheConfig {
                local_ttl: Duration::from_millis(parse(src, "CACHE_TTL_MS", 1000)?),
                redis_ttl: secs(src, "CACHE_REDIS_TTL_SECS", 30)?,
                stale_ttl: secs(src, "CACHE_STALE_TTL_SECS", 86_400)?,
                stale_after: Duration::from_millis(parse(src, "CACHE_STALE_AFTER_MS", 500)?),
            },
            limits: RateLimitConfig::from_source(src)?,
            events: EventsConfig::from_source(src)?,
            votes: VotesConfig::from_source(src)?,
            organizers: OrganizersConfig::from_source(src)?,
        })
    }
}

#[cfg(test)]
mod tests;
