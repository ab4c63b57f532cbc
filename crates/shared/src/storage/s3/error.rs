//! How the S3 store turns SDK errors into [`StorageError`]s: one place for every call of
//! [`S3Store`], whole-object ([`super`]) or part by part ([`super::parts`]).

use std::time::Duration;

use aws_sdk_s3::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    presigning::PresigningConfig,
    primitives::ByteStreamError,
};

use super::S3Store;
use crate::storage::StorageError;

impl S3Store {
    /// The call `op` on `key` failed: a `Backend` error naming the call, the object and
    /// S3's answer.
    pub(super) fn error<E>(
        &self,
        op: &str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        StorageError::Backend(format!(
            "S3 {op} s3://{}/{key}: {}",
            self.bucket,
            describe(&err)
        ))
    }

    /// The lookup `op` of `key` (or of an upload under it) failed: `NotFound` when S3
    /// says the object or upload is not there (a 404: `NoSuchKey`, `NoSuchUpload`, or a
    /// HEAD's bodiless `NotFound`), otherwise as [`S3Store::error`]. A missing bucket is
    /// a broken configuration, not a missing object, so it stays a `Backend` error.
    pub(super) fn lookup_error<E>(
        &self,
        op: &str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if is_missing(&err) {
            StorageError::NotFound(key.to_owned())
        } else {
            self.error(op, key, err)
        }
    }

    /// The body of a `GetObject` of `key` broke off.
    pub(super) fn body_error(&self, key: &str, err: &ByteStreamError) -> StorageError {
        StorageError::Backend(format!(
            "S3 GetObject s3://{}/{key}: body: {}",
            self.bucket,
            DisplayErrorContext(err)
        ))
    }
}

/// Presigning settings for a URL of `key` valid for `expiry`.
pub(super) fn presigning(key: &str, expiry: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(expiry)
        .map_err(|e| StorageError::Backend(format!("S3 presign {key}: {e}")))
}

/// Reading the local file for an upload failed.
pub(super) fn byte_stream_io(err: ByteStreamError) -> StorageError {
    StorageError::Io(std::io::Error::other(err))
}

/// Whether S3 answered that what the call names is not there.
fn is_missing<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 404)
        && err.code() != Some("NoSuchBucket")
}

/// A one-line account of an SDK error. A service error shows S3's code, message
/// and HTTP status (the full context would dump the raw response into the log);
/// anything else (connection refused, timeout) shows the whole cause chain.
pub(super) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            format!(
                "{}: {} (HTTP {})",
                e.code().unwrap_or("no error code"),
                e.message().unwrap_or("no message"),
                ctx.raw().status().as_u16()
            )
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::{
        error::ErrorMetadata, operation::get_object::GetObjectError, primitives::SdkBody,
    };

    use super::*;

    fn answer(status: u16, code: Option<&str>) -> SdkError<GetObjectError, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message("told by S3");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(
            GetObjectError::generic(meta.build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn a_404_is_a_missing_object_unless_the_bucket_is_missing() {
        assert!(is_missing(&answer(404, Some("NoSuchKey"))));
        assert!(is_missing(&answer(404, Some("NoSuchUpload"))));
        assert!(is_missing(&answer(404, Some("NotFound"))));
        assert!(!is_missing(&answer(404, Some("NoSuchBucket"))));
        assert!(!is_missing(&answer(403, Some("AccessDenied"))));
        assert!(!is_missing(&answer(500, None)));
        let timeout: SdkError<GetObjectError, HttpResponse> =
            SdkError::timeout_error("no answer in time");
        assert!(!is_missing(&timeout));
    }

    #[test]
    fn a_service_error_is_told_in_one_line() {
        assert_eq!(
            describe(&answer(403, Some("AccessDenied"))),
            "AccessDenied: told by S3 (HTTP 403)"
        );
        assert_eq!(
            describe(&answer(500, None)),
            "no error code: told by S3 (HTTP 500)"
        );
    }
}
