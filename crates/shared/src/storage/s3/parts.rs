//! Multipart uploads whose parts clients send straight to the bucket through presigned
//! `UploadPart` URLs, and ranged reads (an upload is inspected where it lies).
//!
//! Presigned requests leave out `ExpectedBucketOwner` for the reason given at
//! [`S3Store::playable_url`](super::S3Store): it would be a signed header the client
//! does not send. Every call the service makes itself pins it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::{
    presigning::PresigningConfig,
    types::{CompletedMultipartUpload, CompletedPart},
};

use super::S3Store;
use crate::storage::{MultipartRef, PartTarget, PlayableUrl, StorageError, StoredPart};

/// Shortest validity given to a presigned part URL, so a URL asked for just before the
/// upload expires is still usable for one part.
const MIN_PART_URL_SECS: u64 = 60;

impl S3Store {
    pub(super) async fn start_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.backend("CreateMultipartUpload", key, e))?;
        created.upload_id().map(str::to_owned).ok_or_else(|| {
            StorageError::Backend(format!("S3 CreateMultipartUpload {key}: no upload id"))
        })
    }

    pub(super) async fn presign_part(
        &self,
        upload: &MultipartRef<'_>,
        part_number: u32,
        expires: u64,
    ) -> Result<PartTarget, StorageError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let secs = expires.saturating_sub(now).clamp(
            MIN_PART_URL_SECS,
            self.presign_expiry.as_secs().max(MIN_PART_URL_SECS),
        );
        let presigning = PresigningConfig::expires_in(Duration::from_secs(secs))
            .map_err(|e| StorageError::Backend(format!("S3 presign {}: {e}", upload.key)))?;
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(upload.key)
            .upload_id(upload.backend_id)
            .part_number(i32::try_from(part_number).unwrap_or(i32::MAX))
            .presigned(presigning)
            .await
            .map_err(|e| self.backend("presign UploadPart", upload.key, e))?;
        let headers = request
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Ok(PartTarget {
            url: PlayableUrl::Absolute(request.uri().to_owned()),
            method: "PUT",
            headers,
        })
    }

    pub(super) async fn parts_of(
        &self,
        upload: &MultipartRef<'_>,
    ) -> Result<Vec<StoredPart>, StorageError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(upload.key)
                .upload_id(upload.backend_id)
                .set_part_number_marker(marker.take())
                .set_expected_bucket_owner(self.expected_owner.clone())
                .send()
                .await
                .map_err(|e| {
                    if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                        StorageError::NotFound(upload.key.to_owned())
                    } else {
                        self.backend("ListParts", upload.key, e)
                    }
                })?;
            parts.extend(page.parts().iter().filter_map(|p| {
                Some(StoredPart {
                    part_number: u32::try_from(p.part_number()?).ok()?,
                    size: u64::try_from(p.size()?).ok()?,
                    etag: p.e_tag()?.to_owned(),
                })
            }));
            match (page.is_truncated(), page.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    pub(super) async fn finish_multipart(
        &self,
        upload: &MultipartRef<'_>,
        parts: &[StoredPart],
    ) -> Result<(), StorageError> {
        let completed = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(upload.key)
            .upload_id(upload.backend_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.backend("CompleteMultipartUpload", upload.key, e))?;
        Ok(())
    }

    pub(super) async fn drop_multipart(
        &self,
        upload: &MultipartRef<'_>,
    ) -> Result<(), StorageError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(upload.key)
            .upload_id(upload.backend_id)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already aborted or completed: nothing is left to drop.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(()),
            Err(e) => Err(self.backend("AbortMultipartUpload", upload.key, e)),
        }
    }

    pub(super) async fn object_size(&self, key: &str) -> Result<u64, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
        {
            Ok(head) => Ok(head
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0)),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => {
                Err(StorageError::NotFound(key.to_owned()))
            }
            Err(e) => Err(self.backend("HeadObject", key, e)),
        }
    }

    pub(super) async fn range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let last = offset.saturating_add(len - 1);
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={offset}-{last}"))
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_no_such_key() => StorageError::NotFound(key.to_owned()),
                _ => self.backend("GetObject", key, e),
            })?;
        let bytes = response.body.collect().await.map_err(|e| {
            StorageError::Backend(format!(
                "S3 GetObject s3://{}/{key}: body: {}",
                self.bucket,
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ))
        })?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// A presigned GET for ffprobe, never the public/CDN base (originals are private).
    pub(super) async fn presigned_get(&self, key: &str) -> Result<String, StorageError> {
        let presigning = PresigningConfig::expires_in(self.presign_expiry)
            .map_err(|e| StorageError::Backend(format!("S3 presign {key}: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| self.backend("presign GetObject", key, e))?;
        Ok(request.uri().to_owned())
    }
}
