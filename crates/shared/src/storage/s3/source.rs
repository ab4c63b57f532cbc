//! The original as ffmpeg reads it from S3: a presigned GET it opens itself and reads
//! with Range requests, so a job starts on the object instead of on a full copy.
//!
//! The request leaves out `ExpectedBucketOwner` for the reason given at
//! [`S3Store::playable_url`](super::S3Store): ffmpeg would not send the signed header.
//! A GET needs only `s3:GetObject`, which the worker has for `uploaded/*` anyway.

use std::time::Duration;

use super::S3Store;
use crate::{media::MediaSource, storage::StorageError};

impl S3Store {
    /// A presigned GET of `key` valid for `valid_for` (at most 7 days, SigV4's limit).
    ///
    /// With temporary credentials (an instance role) S3 also refuses the URL once the
    /// credentials that signed it expire, which can come before `valid_for`: ffmpeg then
    /// gets a `403`, a failure the worker answers with a download through the SDK.
    pub(super) async fn presigned_media_get(
        &self,
        key: &str,
        valid_for: Duration,
    ) -> Result<MediaSource, StorageError> {
        let url = self.presigned_get_for(key, valid_for).await?;
        // The whitelist of a URL source lets ffmpeg open http(s) only.
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(StorageError::Backend(format!(
                "S3 presign GetObject {key}: the endpoint is not http(s)"
            )));
        }
        Ok(MediaSource::Url(url))
    }
}
