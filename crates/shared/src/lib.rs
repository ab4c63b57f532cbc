//! Code shared by the web service and the worker: configuration, domain rules,
//! database access, object storage, the job queue and the media pipeline.
//! Nothing here knows about HTTP.

pub mod auth;
pub mod batch;
pub mod cache;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod inflight;
pub mod ingest;
pub mod media;
pub mod metrics;
pub mod moderation;
pub mod queue;
pub mod ratelimit;
pub mod slots;
pub mod storage;
pub mod telemetry;
pub mod tempdirs;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod views;
pub mod votes;
