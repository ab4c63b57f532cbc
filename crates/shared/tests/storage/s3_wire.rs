//! What the S3 backend puts on the wire, checked against a fake server for what
//! the emulator cannot show.

use skillreel_shared::storage::s3::{MULTIPART_THRESHOLD, S3Store};
use tempfile::TempDir;

use super::fake_s3::{self, FakeS3};

use super::*;

/// moto 5.2 accepts but ignores `ExpectedBucketOwner`, so a mismatch cannot be
/// shown to be refused there; this checks instead that every call sends it.
#[tokio::test]
async fn every_call_pins_the_expected_bucket_owner() {
    emulator_endpoint();
    let server = FakeS3::start(fake_s3::ok).await;
    let tmp = TempDir::new().unwrap();
    let mut cfg = config(
        StorageBackend::S3,
        tmp.path(),
        "pinned",
        Some(server.endpoint.clone()),
    );
    cfg.expected_bucket_owner = Some("111122223333".to_owned());
    let store = S3Store::new(&cfg).await.unwrap();

    store.health().await.unwrap();
    assert!(store.exists("uploaded/x.mp4").await.unwrap());
    store.delete("uploaded/x.mp4").await.unwrap();
    store
        .get_to_file("uploaded/x.mp4", &tmp.path().join("x"))
        .await
        .unwrap();

    let lines = server.request_lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (line, start) in lines.iter().zip([
        "head /pinned",
        "head /pinned/uploaded/x.mp4",
        "delete",
        "get",
    ]) {
        assert!(line.starts_with(start), "{line} is not {start}");
    }
    for head in server.heads() {
        assert!(
            head.contains("x-amz-expected-bucket-owner: 111122223333"),
            "not pinned:\n{head}"
        );
    }
}

/// Answers like S3 would when the first part of a multipart upload is refused.
fn refuse_parts(head: &str) -> String {
    let line = head.lines().next().unwrap();
    if line.starts_with("post ") && line.contains("?uploads") {
        fake_s3::xml(
            "200 OK",
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
             <UploadId>upload-1</UploadId></InitiateMultipartUploadResult>",
        )
    } else if line.starts_with("put ") && line.contains("partnumber=") {
        fake_s3::xml(
            "400 Bad Request",
            "<Error><Code>InvalidArgument</Code><Message>part refused</Message></Error>",
        )
    } else {
        "HTTP/1.1 204 No Content\r\n\r\n".to_owned()
    }
}

#[tokio::test]
async fn failed_multipart_upload_is_aborted() {
    emulator_endpoint();
    let server = FakeS3::start(refuse_parts).await;
    let tmp = TempDir::new().unwrap();
    let store = S3Store::new(&config(
        StorageBackend::S3,
        tmp.path(),
        "b",
        Some(server.endpoint.clone()),
    ))
    .await
    .unwrap();
    let src = tmp.path().join("big.mp4");
    // Sparse: large enough for the multipart path without writing 17 MiB.
    std::fs::File::create(&src)
        .unwrap()
        .set_len(MULTIPART_THRESHOLD + 1)
        .unwrap();

    let err = store
        .put_file("processed/big.mp4", &src, "video/mp4")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::Backend(ref m) if m.contains("UploadPart") && m.contains("part refused")),
        "{err:?}"
    );
    let lines = server.request_lines();
    assert!(
        lines[0].starts_with("post /b/processed/big.mp4?uploads"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("put /b/processed/big.mp4?") && lines[1].contains("partnumber=1"),
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("delete /b/processed/big.mp4?")
            && lines.last().unwrap().contains("uploadid=upload-1"),
        "the upload is aborted: {lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("post ") && l.contains("uploadid=")),
        "never completed: {lines:?}"
    );
}
