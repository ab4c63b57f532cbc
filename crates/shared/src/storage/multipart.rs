//! Multipart uploads whose parts a client sends straight to storage.
//!
//! The shape is S3's (`CreateMultipartUpload`, `UploadPart`, `ListParts`,
//! `CompleteMultipartUpload`, `AbortMultipartUpload`), which the local store mimics, so
//! one resumable-upload process ([`crate::ingest::resumable`]) drives either backend.

use super::PlayableUrl;

/// S3's smallest part (all but the last part of an upload must be at least this big).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The names of one multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartRef<'a> {
    /// The object the parts become.
    pub key: &'a str,
    /// The backend's id of the upload ([`super::ObjectStore::create_multipart`]).
    pub backend_id: &'a str,
    /// The id clients know it by (the local store signs its part URLs with it).
    pub public_id: &'a str,
}

/// Where and how a client sends one part's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTarget {
    /// A presigned S3 URL, or a signed path of the web service (local store).
    pub url: PlayableUrl,
    /// HTTP method, `PUT` for both backends.
    pub method: &'static str,
    /// Headers the client must send with the bytes (signed into the URL).
    pub headers: Vec<(String, String)>,
}

/// One part as storage holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    /// 1-based part number.
    pub part_number: u32,
    /// Bytes.
    pub size: u64,
    /// The part's ETag, with its double quotes as S3 sends it.
    pub etag: String,
}

/// An ETag without its surrounding double quotes (clients send either form back).
pub fn bare_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_with_or_without_quotes() {
        assert_eq!(bare_etag("\"abc\""), "abc");
        assert_eq!(bare_etag("abc"), "abc");
        assert_eq!(bare_etag(" \"abc\" "), "abc");
    }
}
