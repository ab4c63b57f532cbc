//! The S3 backend against the moto emulator (one fresh bucket per test).

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::{StreamExt, TryStreamExt};
use skillreel_shared::storage::{
    PlayableUrl, from_config,
    s3::{MULTIPART_THRESHOLD, PART_SIZE, S3Store},
};
use tempfile::TempDir;

use super::*;

/// moto's fixed account id, the owner of every bucket it creates.
const MOTO_ACCOUNT: &str = "123456789012";

/// A store on a fresh bucket of the emulator, and a scratch directory.
async fn s3_with(tune: impl FnOnce(&mut StorageConfig)) -> (S3Store, TempDir) {
    let tmp = TempDir::new().unwrap();
    let bucket = format!("skillreel-test-{}", uuid::Uuid::new_v4().simple());
    let mut cfg = config(
        StorageBackend::S3,
        tmp.path(),
        &bucket,
        Some(emulator_endpoint()),
    );
    tune(&mut cfg);
    let store = S3Store::new(&cfg).await.unwrap();
    store
        .client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    (store, tmp)
}

async fn s3() -> (S3Store, TempDir) {
    s3_with(|_| {}).await
}

/// Empties and removes the test bucket so the long-running emulator does not
/// accumulate tens of MiB per run.
async fn drop_bucket(store: &S3Store) {
    let keys = store.list("").await.unwrap();
    for chunk in keys.chunks(1000) {
        let ids = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
            .collect();
        let delete = Delete::builder().set_objects(Some(ids)).build().unwrap();
        store
            .client()
            .delete_objects()
            .bucket(store.bucket())
            .delete(delete)
            .send()
            .await
            .unwrap();
    }
    store
        .client()
        .delete_bucket()
        .bucket(store.bucket())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn round_trips_a_small_file_in_one_put() {
    let (store, tmp) = s3().await;
    let src = random_file(tmp.path(), "small.mp4", 12_345, 11);
    assert_round_trip(&store, tmp.path(), "uploaded/small.mp4", &src).await;
    let head = store
        .client()
        .head_object()
        .bucket(store.bucket())
        .key("uploaded/small.mp4")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("video/mp4"));
    assert!(
        !head.e_tag().unwrap().contains('-'),
        "a small file is not a multipart upload"
    );
    drop_bucket(&store).await;
}

#[tokio::test]
async fn round_trips_a_large_file_through_multipart_upload() {
    assert!(BIG as u64 > MULTIPART_THRESHOLD);
    let (store, tmp) = s3().await;
    let src = random_file(tmp.path(), "big.mp4", BIG, 12);
    assert_round_trip(&store, tmp.path(), "processed/big.mp4", &src).await;
    let head = store
        .client()
        .head_object()
        .bucket(store.bucket())
        .key("processed/big.mp4")
        .send()
        .await
        .unwrap();
    // A multipart ETag ends in `-<number of parts>`.
    let parts = (BIG as u64).div_ceil(PART_SIZE);
    assert!(
        head.e_tag().unwrap().ends_with(&format!("-{parts}\"")),
        "ETag {:?}",
        head.e_tag()
    );
    assert_eq!(head.content_type(), Some("video/mp4"));
    let pending = store
        .client()
        .list_multipart_uploads()
        .bucket(store.bucket())
        .send()
        .await
        .unwrap();
    assert!(
        pending.uploads().is_empty(),
        "no multipart upload left open"
    );
    drop_bucket(&store).await;
}

#[tokio::test]
async fn delete_exists_list_and_missing_keys() {
    let (store, tmp) = s3().await;
    assert_object_lifecycle(&store, tmp.path()).await;
    assert_bad_keys_rejected(&store, tmp.path()).await;
    drop_bucket(&store).await;
}

#[tokio::test]
async fn list_follows_pagination() {
    let (store, _tmp) = s3().await;
    // ListObjectsV2 returns at most 1000 keys per page.
    let keys: Vec<String> = (0..1005).map(|i| format!("uploaded/{i:05}.mp4")).collect();
    futures::stream::iter(&keys)
        .map(|key| {
            store
                .client()
                .put_object()
                .bucket(store.bucket())
                .key(key)
                .send()
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(store.list("uploaded/").await.unwrap(), keys);
    drop_bucket(&store).await;
}

#[tokio::test]
async fn presigned_url_downloads_the_same_bytes() {
    // The pinned owner must not leak into the presigned request (a browser
    // would not send the header, voiding the signature).
    let (store, tmp) = s3_with(|c| c.expected_bucket_owner = Some(MOTO_ACCOUNT.to_owned())).await;
    let src = random_file(tmp.path(), "v.mp4", 300_000, 21);
    store
        .put_file("processed/v.mp4", &src, "video/mp4")
        .await
        .unwrap();
    let PlayableUrl::Absolute(url) = store.playable_url("processed/v.mp4").await.unwrap() else {
        panic!("S3 URLs are absolute")
    };
    assert!(
        url.starts_with(&emulator_endpoint()) && url.contains("X-Amz-Signature="),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=600"), "{url}");

    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(Sha256::digest(&body).to_vec(), sha256_file(&src));

    // moto does not check signatures, so what a browser must send is checked here:
    // the host header only.
    assert!(
        url.contains("X-Amz-SignedHeaders=host&") || url.ends_with("X-Amz-SignedHeaders=host"),
        "{url}"
    );
    drop_bucket(&store).await;
}

#[tokio::test]
async fn public_base_serves_processed_keys_only() {
    let (store, _tmp) =
        s3_with(|c| c.media_public_base_url = Some("https://cdn.example".to_owned())).await;
    assert_eq!(
        store.playable_url("processed/v.mp4").await.unwrap(),
        PlayableUrl::Absolute("https://cdn.example/processed/v.mp4".to_owned())
    );
    let PlayableUrl::Absolute(original) = store.playable_url("uploaded/v.mp4").await.unwrap()
    else {
        panic!("S3 URLs are absolute")
    };
    assert!(
        original.contains("X-Amz-Signature="),
        "originals are never public: {original}"
    );
    drop_bucket(&store).await;
}

#[tokio::test]
async fn health_checks_the_bucket() {
    let (store, tmp) = s3().await;
    store.health().await.unwrap();
    let missing = config(
        StorageBackend::S3,
        tmp.path(),
        "skillreel-test-no-such-bucket",
        Some(emulator_endpoint()),
    );
    let err = S3Store::new(&missing)
        .await
        .unwrap()
        .health()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("skillreel-test-no-such-bucket"),
        "{err}"
    );
    assert!(err.is_transient());
    drop_bucket(&store).await;
}

#[tokio::test]
async fn from_config_builds_the_s3_store() {
    let (store, tmp) = s3().await;
    let cfg = config(
        StorageBackend::S3,
        tmp.path(),
        store.bucket(),
        Some(emulator_endpoint()),
    );
    let built = from_config(&cfg).await.unwrap();
    built.health().await.unwrap();
    let src = random_file(tmp.path(), "f.mp4", 100, 5);
    assert_round_trip(built.as_ref(), tmp.path(), "uploaded/f.mp4", &src).await;
    assert!(
        store.exists("uploaded/f.mp4").await.unwrap(),
        "from_config used the configured bucket"
    );
    assert!(
        !tmp.path().join("uploaded").exists(),
        "nothing went to the local directory"
    );
    drop_bucket(&store).await;
}

#[tokio::test]
async fn pinned_owner_works_against_the_emulator() {
    let (store, tmp) = s3_with(|c| c.expected_bucket_owner = Some(MOTO_ACCOUNT.to_owned())).await;
    store.health().await.unwrap();
    assert_object_lifecycle(&store, tmp.path()).await;
    let big = random_file(tmp.path(), "big.mp4", BIG, 31);
    assert_round_trip(&store, tmp.path(), "processed/big.mp4", &big).await;
    drop_bucket(&store).await;
}

/// A multipart upload whose parts a client sends to presigned URLs: listed, assembled,
/// read back by ranges; an aborted one is gone.
#[tokio::test]
async fn presigned_parts_are_listed_assembled_and_aborted() {
    use skillreel_shared::storage::{MultipartRef, multipart::MIN_PART_SIZE};
    let (store, _tmp) = s3().await;
    let key = "uploaded/parts.mp4";
    let backend_id = store.create_multipart(key, "video/mp4").await.unwrap();
    let upload = MultipartRef {
        key,
        backend_id: &backend_id,
        public_id: "p",
    };
    let first = vec![7u8; MIN_PART_SIZE as usize];
    let second = b"the last part".to_vec();
    let client = reqwest::Client::new();
    for (n, bytes) in [(1, &first), (2, &second)] {
        let target = store.part_target(&upload, n, u64::MAX).await.unwrap();
        let PlayableUrl::Absolute(url) = target.url else {
            panic!("S3 part URLs are absolute")
        };
        let mut put = client.put(url).body(bytes.clone());
        for (name, value) in &target.headers {
            put = put.header(name, value);
        }
        let r = put.send().await.unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let parts = store.list_parts(&upload).await.unwrap();
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.part_number, p.size))
            .collect::<Vec<_>>(),
        [(1, MIN_PART_SIZE), (2, second.len() as u64)]
    );
    store.complete_multipart(&upload, &parts).await.unwrap();
    let size = first.len() + second.len();
    assert_eq!(store.size(key).await.unwrap(), size as u64);
    let tail = store
        .read_range(key, first.len() as u64 - 2, 100)
        .await
        .unwrap();
    assert_eq!(tail, [&[7u8, 7][..], &second[..]].concat());
    // Completed: nothing is pending, and aborting again is no error.
    assert!(matches!(
        store.list_parts(&upload).await,
        Err(StorageError::NotFound(_))
    ));
    store.abort_multipart(&upload).await.unwrap();

    let other = store
        .create_multipart("uploaded/gone.mp4", "video/mp4")
        .await
        .unwrap();
    let gone = MultipartRef {
        key: "uploaded/gone.mp4",
        backend_id: &other,
        public_id: "q",
    };
    store.abort_multipart(&gone).await.unwrap();
    assert!(matches!(
        store.list_parts(&gone).await,
        Err(StorageError::NotFound(_))
    ));
    drop_bucket(&store).await;
}
