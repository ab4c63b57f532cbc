//! S3 backend through aws-sdk-s3; also any S3-compatible emulator (moto, MinIO)
//! through an endpoint override and path-style addressing.
//!
//! Credentials come from the SDK's default provider chain (environment
//! variables, profile, instance role). Every call pins `ExpectedBucketOwner`
//! when it is configured, except presigned URLs (see [`S3Store::playable_url`]).
//! Files are streamed from and to disk: a single `PutObject` below
//! [`MULTIPART_THRESHOLD`], a multipart upload with parts of [`PART_SIZE`]
//! read from the file one at a time above it.
//!
//! Multipart uploads whose parts clients send straight to the bucket, and ranged reads,
//! are in [`parts`]; how SDK errors become [`StorageError`]s in [`error`].

mod error;
mod parts;
mod source;

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::{
    Client,
    config::{RequestChecksumCalculation, ResponseChecksumValidation},
    primitives::{ByteStream, Length},
    types::{CompletedMultipartUpload, CompletedPart},
};
use tokio::io::AsyncWriteExt;

use self::error::{byte_stream_io, describe};
use super::{
    MultipartRef, ObjectStore, PROCESSED_PREFIX, PartTarget, PlayableUrl, StorageError, StoredPart,
    validate_key,
};
use crate::{config::StorageConfig, media::MediaSource};

/// Files of at least this size are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Size of one part of a multipart upload (S3 requires at least 5 MiB).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3 accepts at most this many parts per upload.
const MAX_PARTS: u64 = 10_000;

/// Objects stored in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    expected_owner: Option<String>,
    public_base_url: Option<String>,
    presign_expiry: Duration,
}

impl S3Store {
    /// Builds a client from the default AWS configuration chain and the storage settings.
    /// No request is made; [`ObjectStore::health`] checks the bucket.
    pub async fn new(config: &StorageConfig) -> Result<Self, StorageError> {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .load()
            .await;
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.force_path_style)
            // Emulators (and older S3-compatible servers) reject the CRC trailers
            // the SDK now adds by default; S3 itself does not need them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &config.endpoint_url {
            s3 = s3.endpoint_url(endpoint);
        }
        Ok(Self {
            client: Client::from_conf(s3.build()),
            bucket: config.bucket.clone(),
            expected_owner: config.expected_bucket_owner.clone(),
            public_base_url: config.media_public_base_url.clone(),
            presign_expiry: config.presign_expiry,
        })
    }

    /// The underlying client, configured like every call of this store
    /// (operations and tests: creating buckets, inspecting objects).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket holding the objects.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put_single(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path).await.map_err(byte_stream_io)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(())
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let upload_id = self.start_multipart(key, content_type).await?;
        let result = self.upload_parts(key, path, size, &upload_id).await;
        if result.is_err() {
            // Parts of an unfinished upload are billed until aborted.
            if let Err(abort) = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .set_expected_bucket_owner(self.expected_owner.clone())
                .send()
                .await
            {
                tracing::warn!(
                    storage.key = key,
                    error = %describe(&abort),
                    "could not abort a failed multipart upload"
                );
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        let part_size = PART_SIZE.max(size.div_ceil(MAX_PARTS));
        let mut parts = Vec::new();
        let mut offset = 0;
        while offset < size {
            let len = part_size.min(size - offset);
            let part_number = i32::try_from(parts.len() + 1).expect("at most MAX_PARTS parts");
            // Each part streams its own slice of the file, so memory stays bounded
            // by the read buffer whatever the file size; the body can be re-read on retry.
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(byte_stream_io)?;
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number)
                .content_length(i64::try_from(len).expect("part size fits i64"))
                .body(body)
                .set_expected_bucket_owner(self.expected_owner.clone())
                .send()
                .await
                .map_err(|e| self.error("UploadPart", key, e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(uploaded.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += len;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.error("CompleteMultipartUpload", key, e))?;
        Ok(())
    }

    async fn download(&self, key: &str, dest: &Path) -> Result<(), StorageError> {
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.lookup_error("GetObject", key, e))?;
        let mut body = response.body;
        let mut file = tokio::fs::File::create(dest).await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.body_error(key, &e))?;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let size = tokio::fs::metadata(path).await?.len();
        if size < MULTIPART_THRESHOLD {
            self.put_single(key, path, content_type).await
        } else {
            self.put_multipart(key, path, size, content_type).await
        }
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<(), StorageError> {
        validate_key(key)?;
        let result = self.download(key, dest).await;
        if matches!(result, Err(ref e) if !matches!(e, StorageError::NotFound(_))) {
            // Never leave a truncated download for the caller to mistake for the object.
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        // S3 answers 204 for a missing key too, which is the idempotence we want.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", key, e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match self.lookup_error("HeadObject", key, e) {
                StorageError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    /// A public/CDN URL for processed objects when a public base is configured,
    /// otherwise a presigned GET. The presigned request deliberately omits
    /// `ExpectedBucketOwner`: it would become a signed header that a browser
    /// following the URL does not send, which voids the signature.
    async fn playable_url(&self, key: &str) -> Result<PlayableUrl, StorageError> {
        validate_key(key)?;
        if let Some(base) = &self.public_base_url
            && key.starts_with(PROCESSED_PREFIX)
        {
            return Ok(PlayableUrl::Absolute(format!("{base}/{key}")));
        }
        Ok(PlayableUrl::Absolute(self.presigned_get(key).await?))
    }

    async fn health(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| match self.lookup_error("HeadBucket", "", e) {
                StorageError::NotFound(_) => {
                    StorageError::Backend(format!("S3 bucket {} does not exist", self.bucket))
                }
                other => other,
            })?;
        Ok(())
    }

    async fn size(&self, key: &str) -> Result<u64, StorageError> {
        validate_key(key)?;
        self.object_size(key).await
    }

    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        validate_key(key)?;
        self.range(key, offset, len).await
    }

    async fn media_source(
        &self,
        key: &str,
        valid_for: Duration,
    ) -> Result<MediaSource, StorageError> {
        validate_key(key)?;
        self.presigned_media_get(key, valid_for).await
    }

    async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        validate_key(key)?;
        self.start_multipart(key, content_type).await
    }

    async fn part_target(
        &self,
        upload: &MultipartRef<'_>,
        part_number: u32,
        expires: u64,
    ) -> Result<PartTarget, StorageError> {
        validate_key(upload.key)?;
        self.presign_part(upload, part_number, expires).await
    }

    async fn list_parts(&self, upload: &MultipartRef<'_>) -> Result<Vec<StoredPart>, StorageError> {
        validate_key(upload.key)?;
        self.parts_of(upload).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartRef<'_>,
        parts: &[StoredPart],
    ) -> Result<(), StorageError> {
        validate_key(upload.key)?;
        self.finish_multipart(upload, parts).await
    }

    async fn abort_multipart(&self, upload: &MultipartRef<'_>) -> Result<(), StorageError> {
        validate_key(upload.key)?;
        self.drop_multipart(upload).await
    }
}
