//! The local directory backend.

use std::{
    collections::HashMap,
    time::{SystemTime, UNIX_EPOCH},
};

use skillreel_shared::storage::{PlayableUrl, from_config, local::LocalStore};
use tempfile::TempDir;

use super::*;

fn local(dir: &TempDir) -> LocalStore {
    LocalStore::new(&config(
        StorageBackend::Local,
        &dir.path().join("store"),
        "",
        None,
    ))
    .unwrap()
}

/// Splits `/media/<key>?expires=..&sig=..` into its parts.
fn parse_service_path(url: &PlayableUrl) -> (String, u64, String) {
    let PlayableUrl::ServicePath(path) = url else {
        panic!("expected a service path, got {url:?}")
    };
    let (route, query) = path.split_once('?').unwrap();
    let params: HashMap<&str, &str> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let key = route.strip_prefix("/media/").unwrap().to_owned();
    (
        key,
        params["expires"].parse().unwrap(),
        params["sig"].to_owned(),
    )
}

#[tokio::test]
async fn round_trips_small_and_large_files() {
    let tmp = TempDir::new().unwrap();
    let store = local(&tmp);
    let small = random_file(tmp.path(), "small.mp4", 4321, 1);
    let big = random_file(tmp.path(), "big.mp4", BIG, 2);
    assert_round_trip(&store, tmp.path(), "uploaded/small.mp4", &small).await;
    assert_round_trip(&store, tmp.path(), "processed/big.mp4", &big).await;
    // Replacing an object keeps only the new bytes.
    assert_round_trip(&store, tmp.path(), "uploaded/small.mp4", &big).await;
    let leftovers: Vec<_> = std::fs::read_dir(store.root().join("uploaded"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "small.mp4")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[tokio::test]
async fn delete_exists_list_and_missing_keys() {
    let tmp = TempDir::new().unwrap();
    assert_object_lifecycle(&local(&tmp), tmp.path()).await;
}

#[tokio::test]
async fn rejects_keys_that_escape_or_are_hidden() {
    let tmp = TempDir::new().unwrap();
    let store = local(&tmp);
    assert_bad_keys_rejected(&store, tmp.path()).await;
    assert!(matches!(
        store.path_of("uploaded/.x.partial"),
        Err(StorageError::InvalidKey(_))
    ));
    assert_eq!(
        store.path_of("uploaded/x.mp4").unwrap(),
        store.root().join("uploaded/x.mp4")
    );
}

#[tokio::test]
async fn signed_urls_verify_and_reject_tampering() {
    let tmp = TempDir::new().unwrap();
    let store = local(&tmp);
    let url = store.playable_url("processed/v 1.mp4").await.unwrap();
    let (path_key, expires, sig) = parse_service_path(&url);
    assert_eq!(
        path_key, "processed/v%201.mp4",
        "the key is percent-encoded in the path"
    );
    let key = "processed/v 1.mp4";
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 590..=now + 610).contains(&expires),
        "expires {expires} is not now + 600 s"
    );

    assert!(store.verify(key, expires, &sig));
    assert!(
        !store.verify("processed/other.mp4", expires, &sig),
        "signature bound to the key"
    );
    assert!(
        !store.verify(key, expires + 1, &sig),
        "signature bound to the expiry"
    );
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    assert!(!store.verify(key, expires, std::str::from_utf8(&flipped).unwrap()));
    assert!(
        !store.verify(key, expires, &sig[..sig.len() - 2]),
        "truncated signature"
    );
    assert!(!store.verify(key, expires, "not-hex"));
    assert!(!store.verify(key, expires, ""));

    let (_, past, past_sig) =
        parse_service_path(&PlayableUrl::ServicePath(store.signed_path(key, now - 1)));
    assert!(
        !store.verify(key, past, &past_sig),
        "expired signatures are rejected"
    );

    let mut other = config(StorageBackend::Local, &tmp.path().join("store"), "", None);
    other.url_signing_key = "another-key".to_owned().into();
    assert!(
        !LocalStore::new(&other).unwrap().verify(key, expires, &sig),
        "signature bound to the signing key"
    );
}

#[tokio::test]
async fn health_needs_a_writable_root() {
    let tmp = TempDir::new().unwrap();
    let store = local(&tmp);
    store.health().await.unwrap();
    assert!(
        std::fs::read_dir(store.root()).unwrap().next().is_none(),
        "health leaves no probe file"
    );
    std::fs::remove_dir_all(store.root()).unwrap();
    assert!(store.health().await.is_err());
}

#[tokio::test]
async fn from_config_builds_the_local_store() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("created/by/from_config");
    let store = from_config(&config(StorageBackend::Local, &root, "", None))
        .await
        .unwrap();
    assert!(root.is_dir());
    let src = random_file(tmp.path(), "f.mp4", 100, 5);
    assert_round_trip(store.as_ref(), tmp.path(), "uploaded/f.mp4", &src).await;
    assert!(root.join("uploaded/f.mp4").is_file());
}
