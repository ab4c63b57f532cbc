//! Multipart uploads whose parts clients send straight to the bucket through presigned
//! `UploadPart` URLs, and ranged reads (an upload is inspected where it lies).
//!
//! Presigned requests leave out `ExpectedBucketOwner` for the reason given at
//! [`S3Store::playable_url`](super::S3Store): it would be a signed header the client
//! does not send. Every call the service makes itself pins it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{S3Store, error::presigning};
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
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
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
        let presigning = presigning(upload.key, Duration::from_secs(secs))?;
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(upload.key)
            .upload_id(upload.backend_id)
            .part_number(i32::try_from(part_number).unwrap_or(i32::MAX))
            .presigned(presigning)
            .await
            .map_err(|e| self.error("presign UploadPart", upload.key, e))?;
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
            let answer = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(upload.key)
                .upload_id(upload.backend_id)
                .set_part_number_marker(marker.take())
                .set_expected_bucket_owner(self.expected_owner.clone())
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                Err(e) => {
                    // moto (5.2.5) names the reply <ListPartsResponse> where S3 says
                    // <ListPartsResult>; aws-sdk-s3 refuses the root, so the same document
                    // is read here (all parts are on its one page: at most 20 per upload).
                    let listed = e
                        .raw_response()
                        .filter(|r| r.status().as_u16() == 200)
                        .and_then(|r| r.body().bytes())
                        .and_then(|body| parts_from_xml(&String::from_utf8_lossy(body)));
                    return match listed {
                        Some(mut listed) => {
                            listed.sort_by_key(|p| p.part_number);
                            Ok(listed)
                        }
                        None => Err(self.lookup_error("ListParts", upload.key, e)),
                    };
                }
            };
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
            .map_err(|e| self.error("CompleteMultipartUpload", upload.key, e))?;
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
            Err(e) => match self.lookup_error("AbortMultipartUpload", upload.key, e) {
                // Already aborted or completed: nothing is left to drop.
                StorageError::NotFound(_) => Ok(()),
                other => Err(other),
            },
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
            Err(e) => Err(self.lookup_error("HeadObject", key, e)),
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
            .map_err(|e| self.lookup_error("GetObject", key, e))?;
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| self.body_error(key, &e))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// A presigned GET valid for the configured expiry, never the public/CDN base.
    pub(super) async fn presigned_get(&self, key: &str) -> Result<String, StorageError> {
        self.presigned_get_for(key, self.presign_expiry).await
    }

    /// A presigned GET of `key` valid for `expiry` (at most 7 days, SigV4's limit).
    pub(super) async fn presigned_get_for(
        &self,
        key: &str,
        expiry: Duration,
    ) -> Result<String, StorageError> {
        let presigning = presigning(key, expiry)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| self.error("presign GetObject", key, e))?;
        Ok(request.uri().to_owned())
    }
}

/// The parts of a ListParts reply, read without regard to its root element's name.
fn parts_from_xml(xml: &str) -> Option<Vec<StoredPart>> {
    if !xml.contains("<ListParts") {
        return None;
    }
    xml.split("<Part>")
        .skip(1)
        .map(|part| {
            let field = |name: &str| {
                let (_, rest) = part.split_once(&format!("<{name}>"))?;
                rest.split_once(&format!("</{name}>"))
                    .map(|(value, _)| value)
            };
            Some(StoredPart {
                part_number: field("PartNumber")?.trim().parse().ok()?,
                size: field("Size")?.trim().parse().ok()?,
                etag: field("ETag")?
                    .replace("&quot;", "\"")
                    .replace("&#34;", "\""),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_parts_reply_is_read_whatever_its_root() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<ListPartsResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>
<PartNumberMarker>0</PartNumberMarker><IsTruncated>false</IsTruncated>
<Part><PartNumber>1</PartNumber><ETag>"aa"</ETag><Size>5242880</Size></Part>
<Part><PartNumber>2</PartNumber><ETag>&quot;bb&quot;</ETag><Size>10</Size></Part>
</ListPartsResponse>"#;
        assert_eq!(
            parts_from_xml(xml).unwrap(),
            [
                StoredPart {
                    part_number: 1,
                    size: 5_242_880,
                    etag: "\"aa\"".into()
                },
                StoredPart {
                    part_number: 2,
                    size: 10,
                    etag: "\"bb\"".into()
                }
            ]
        );
        assert_eq!(parts_from_xml("<Error><Code>x</Code></Error>"), None);
        assert_eq!(
            parts_from_xml("<ListPartsResult><Part><PartNumber>x</PartNumber></Part>"),
            None
        );
    }
}
