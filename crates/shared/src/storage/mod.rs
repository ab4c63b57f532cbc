//! Object storage: originals under `uploaded/`, results under `processed/`.
//!
//! One small trait, [`ObjectStore`], with two real backends: [`local::LocalStore`]
//! (a directory, the zero-config default) and [`s3::S3Store`] (aws-sdk-s3; also
//! any S3-compatible emulator through an endpoint override).
//!
//! Both also take multipart uploads whose parts a client sends straight to them
//! ([`multipart`]): S3 through presigned `UploadPart` URLs, the local store through a
//! signed route of the web service.

pub mod local;
pub mod multipart;
pub mod s3;

use std::{path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    config::{StorageBackend, StorageConfig},
    media::MediaSource,
};

pub use self::multipart::{MultipartRef, PartTarget, StoredPart};

/// Key prefix of original uploads.
pub const UPLOADED_PREFIX: &str = "uploaded/";
/// Key prefix of processed videos.
pub const PROCESSED_PREFIX: &str = "processed/";

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("object {0} not found")]
    NotFound(String),
    /// The key is not acceptable (empty, absolute, `..`).
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// Local file I/O failed.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The backend (S3) answered with an error or could not be reached.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl StorageError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Backend(_) | Self::Io(_))
    }
}

/// A URL a browser can play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayableUrl {
    /// An absolute URL (presigned S3 GET or a public/CDN base).
    Absolute(String),
    /// A path of the web service (local backend), e.g. `/media/processed/x.mp4?expires=..&sig=..`;
    /// the web layer prefixes `PUBLIC_BASE_URL` when configured.
    ServicePath(String),
}

/// Object storage used by the web service and the worker.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores the file at `path` under `key`, streaming it (never read whole into memory).
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError>;
    /// Downloads `key` into the file `dest`, streaming.
    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<(), StorageError>;
    /// Deletes `key`; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Whether `key` exists.
    async fn exists(&self, key: &str) -> Result<bool, StorageError>;
    /// Keys under `prefix` (tests and operations; not on a hot path).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// A URL a browser can play, valid for the configured expiry.
    async fn playable_url(&self, key: &str) -> Result<PlayableUrl, StorageError>;
    /// Cheap liveness check of the backend (readiness probe).
    async fn health(&self) -> Result<(), StorageError>;

    /// Size of the object `key` in bytes.
    async fn size(&self, key: &str) -> Result<u64, StorageError>;
    /// Up to `len` bytes of `key` from `offset` (fewer at the end of the object).
    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError>;
    /// Where ffmpeg reads `key` without a copy: the local store's own file, read in
    /// place ([`StorageError::NotFound`] when missing), or a presigned GET valid for
    /// `valid_for` that ffmpeg reads with Range requests (not checked for existence: a
    /// missing object is ffmpeg's `404`). A URL is a secret: never log it.
    async fn media_source(
        &self,
        key: &str,
        valid_for: Duration,
    ) -> Result<MediaSource, StorageError>;

    /// Starts a multipart upload of `key`; returns the backend's id of it.
    async fn create_multipart(&self, key: &str, content_type: &str)
    -> Result<String, StorageError>;
    /// Where a client sends part `part_number` of the upload, valid until `expires`
    /// (unix seconds).
    async fn part_target(
        &self,
        upload: &MultipartRef<'_>,
        part_number: u32,
        expires: u64,
    ) -> Result<PartTarget, StorageError>;
    /// The parts stored so far, by part number.
    async fn list_parts(&self, upload: &MultipartRef<'_>) -> Result<Vec<StoredPart>, StorageError>;
    /// Assembles `parts` (ascending part numbers, the ETags [`ObjectStore::list_parts`]
    /// gave) into the upload's object and drops the upload.
    async fn complete_multipart(
        &self,
        upload: &MultipartRef<'_>,
        parts: &[StoredPart],
    ) -> Result<(), StorageError>;
    /// Drops the upload and its parts; an unknown upload is not an error.
    async fn abort_multipart(&self, upload: &MultipartRef<'_>) -> Result<(), StorageError>;
}

/// Shared handle to the configured store.
pub type Storage = Arc<dyn ObjectStore>;

/// Builds the store selected by the configuration.
pub async fn from_config(config: &StorageConfig) -> Result<Storage, StorageError> {
    Ok(match config.backend {
        StorageBackend::Local => Arc::new(local::LocalStore::new(config)?),
        StorageBackend::S3 => Arc::new(s3::S3Store::new(config).await?),
    })
}

/// Rejects keys that could escape a directory or address nothing.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        Err(StorageError::InvalidKey(key.to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_are_rejected() {
        for bad in [
            "",
            "/etc/passwd",
            "uploaded/../x",
            "a//b",
            "./a",
            "a\\b",
            "uploaded/",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(validate_key("uploaded/0190-abc.mp4").is_ok());
    }
}
