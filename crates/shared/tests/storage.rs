//! Both storage backends against real components: a temporary directory, and the
//! moto S3 emulator started by `scripts/moto.sh`.
//!
//! The S3 tests need `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
//! in the environment and fail (never skip) without them. Each creates its own bucket.

#[path = "storage/fake_s3.rs"]
mod fake_s3;
#[path = "storage/local.rs"]
mod local;
#[path = "storage/media_source.rs"]
mod media_source;
#[path = "storage/s3.rs"]
mod s3;
#[path = "storage/s3_wire.rs"]
mod s3_wire;

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use sha2::{Digest, Sha256};
use skillreel_shared::{
    config::{StorageBackend, StorageConfig},
    storage::{ObjectStore, StorageError},
};

const BIG: usize = 20 * 1024 * 1024;

fn config(
    backend: StorageBackend,
    dir: &Path,
    bucket: &str,
    endpoint: Option<String>,
) -> StorageConfig {
    StorageConfig {
        backend,
        local_dir: dir.to_path_buf(),
        bucket: bucket.to_owned(),
        region: "us-east-1".to_owned(),
        force_path_style: endpoint.is_some(),
        endpoint_url: endpoint,
        expected_bucket_owner: None,
        media_public_base_url: None,
        presign_expiry: Duration::from_secs(600),
        url_signing_key: "test-signing-key".to_owned().into(),
    }
}

/// Writes `len` pseudo-random bytes (xorshift, so runs are reproducible).
fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut state = seed | 1;
    let mut left = len;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word = state.to_le_bytes();
        let n = left.min(8);
        out.write_all(&word[..n]).unwrap();
        left -= n;
    }
    out.flush().unwrap();
    path
}

fn sha256_file(path: &Path) -> Vec<u8> {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return hasher.finalize().to_vec();
        }
        hasher.update(&buf[..n]);
    }
}

/// Stores `src` under `key`, reads it back and checks the bytes are unchanged.
async fn assert_round_trip(store: &dyn ObjectStore, dir: &Path, key: &str, src: &Path) {
    store.put_file(key, src, "video/mp4").await.unwrap();
    assert!(src.exists(), "the caller keeps its source file");
    let back = dir.join(format!("back-{}", uuid::Uuid::new_v4()));
    store.get_to_file(key, &back).await.unwrap();
    assert_eq!(
        std::fs::metadata(&back).unwrap().len(),
        std::fs::metadata(src).unwrap().len()
    );
    assert_eq!(
        sha256_file(&back),
        sha256_file(src),
        "bytes of {key} changed"
    );
}

/// Delete/exists/list/missing-key behaviour every backend shares.
async fn assert_object_lifecycle(store: &dyn ObjectStore, dir: &Path) {
    let src = random_file(dir, "small.bin", 1000, 7);
    for key in ["uploaded/a.mp4", "uploaded/b.mp4", "processed/a.mp4"] {
        store.put_file(key, &src, "video/mp4").await.unwrap();
    }
    assert!(store.exists("uploaded/a.mp4").await.unwrap());
    assert!(!store.exists("uploaded/zzz.mp4").await.unwrap());
    assert!(
        !store.exists("uploaded").await.unwrap(),
        "a prefix is not an object"
    );
    assert_eq!(
        store.list("uploaded/").await.unwrap(),
        ["uploaded/a.mp4", "uploaded/b.mp4"]
    );
    assert_eq!(store.list("processed/").await.unwrap(), ["processed/a.mp4"]);
    assert_eq!(store.list("uploaded/b").await.unwrap(), ["uploaded/b.mp4"]);
    assert_eq!(store.list("").await.unwrap().len(), 3);
    assert!(store.list("nothing/").await.unwrap().is_empty());

    store.delete("uploaded/a.mp4").await.unwrap();
    assert!(!store.exists("uploaded/a.mp4").await.unwrap());
    store.delete("uploaded/a.mp4").await.unwrap();
    assert_eq!(store.list("uploaded/").await.unwrap(), ["uploaded/b.mp4"]);

    // A prefix, or a path under an object, names no object (S3 semantics).
    assert!(!store.exists("uploaded/b.mp4/x").await.unwrap());
    store.delete("uploaded").await.unwrap();
    store.delete("uploaded/b.mp4/x").await.unwrap();
    assert_eq!(store.list("uploaded/").await.unwrap(), ["uploaded/b.mp4"]);
    let err = store
        .get_to_file("uploaded", &dir.join("prefix.out"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");

    let dest = dir.join("missing.out");
    let err = store
        .get_to_file("uploaded/a.mp4", &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::NotFound(ref k) if k == "uploaded/a.mp4"),
        "{err:?}"
    );
    assert!(!dest.exists(), "a failed download leaves no file");
}

async fn assert_bad_keys_rejected(store: &dyn ObjectStore, dir: &Path) {
    let src = random_file(dir, "bad.bin", 10, 3);
    for key in [
        "../escape.mp4",
        "uploaded/../../escape.mp4",
        "/etc/passwd",
        "uploaded//x.mp4",
        "",
    ] {
        let put = store.put_file(key, &src, "video/mp4").await;
        assert!(
            matches!(put, Err(StorageError::InvalidKey(_))),
            "put {key:?}: {put:?}"
        );
        let get = store.get_to_file(key, &dir.join("out")).await;
        assert!(
            matches!(get, Err(StorageError::InvalidKey(_))),
            "get {key:?}: {get:?}"
        );
        assert!(
            matches!(store.delete(key).await, Err(StorageError::InvalidKey(_))),
            "delete {key:?}"
        );
        assert!(
            matches!(store.exists(key).await, Err(StorageError::InvalidKey(_))),
            "exists {key:?}"
        );
        assert!(
            matches!(
                store.playable_url(key).await,
                Err(StorageError::InvalidKey(_))
            ),
            "url {key:?}"
        );
    }
    assert!(!dir.parent().unwrap().join("escape.mp4").exists());
}

/// The emulator endpoint; fails the test with instructions when the S3
/// emulator environment is missing, so S3 tests never pass silently.
fn emulator_endpoint() -> String {
    let missing: Vec<_> = [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]
    .into_iter()
    .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
    .collect();
    assert!(
        missing.is_empty(),
        "S3 storage tests need an S3 emulator: run scripts/moto.sh and export \
         AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
         (missing: {missing:?})"
    );
    std::env::var("AWS_ENDPOINT_URL").unwrap()
}
