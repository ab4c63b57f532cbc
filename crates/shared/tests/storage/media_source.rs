//! Where ffmpeg reads an upload from (`ObjectStore::media_source`): the local store's
//! own file, or a presigned GET of the emulator, read by the real ffprobe.

use skillreel_shared::{
    config::MediaConfig,
    media::{MediaSource, ffprobe, testclip},
    storage::{local::LocalStore, s3::S3Store},
};
use tempfile::TempDir;

use super::*;

/// A 3 s clip, cached next to the other test outputs.
async fn clip() -> PathBuf {
    let spec = testclip::ClipSpec {
        width: 320,
        height: 240,
        secs: 3.0,
        audio: false,
    };
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skillreel-media");
    testclip::generate(Path::new("ffmpeg"), &spec, &cache.join("clips"))
        .await
        .unwrap()
}

fn media_config() -> MediaConfig {
    MediaConfig {
        ffmpeg_path: "ffmpeg".into(),
        ffprobe_path: "ffprobe".into(),
        assets_dir: std::env::temp_dir(),
        logo_path: None,
        intro_path: None,
        outro_path: None,
        preset: "ultrafast".into(),
        crf: 30,
        threads: None,
        max_output_secs: 30.0,
        probe_timeout: Duration::from_secs(30),
        job_timeout: Duration::from_secs(600),
        temp_dir: std::env::temp_dir(),
    }
}

#[tokio::test]
async fn the_local_store_gives_its_own_file() {
    let tmp = TempDir::new().unwrap();
    let store = LocalStore::new(&config(
        StorageBackend::Local,
        &tmp.path().join("store"),
        "",
        None,
    ))
    .unwrap();
    let src = clip().await;
    store
        .put_file("uploaded/in-place.mp4", &src, "video/mp4")
        .await
        .unwrap();
    let source = store
        .media_source("uploaded/in-place.mp4", Duration::from_secs(60))
        .await
        .unwrap();
    // The stored object itself, not a copy of it.
    assert_eq!(
        source,
        MediaSource::File(store.path_of("uploaded/in-place.mp4").unwrap())
    );
    let info = ffprobe::probe_source(&media_config(), &source)
        .await
        .unwrap();
    assert!((info.duration_secs - 3.0).abs() < 0.2, "{info:?}");

    let missing = store
        .media_source("uploaded/nothing.mp4", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StorageError::NotFound(ref k) if k == "uploaded/nothing.mp4"),
        "{missing:?}"
    );
    let bad = store
        .media_source("uploaded/../x.mp4", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(bad, StorageError::InvalidKey(_)), "{bad:?}");
}

#[tokio::test]
async fn s3_gives_a_presigned_url_ffprobe_reads_and_never_shows() {
    let tmp = TempDir::new().unwrap();
    let endpoint = emulator_endpoint();
    let bucket = format!("skillreel-test-{}", uuid::Uuid::new_v4().simple());
    let store = S3Store::new(&config(
        StorageBackend::S3,
        tmp.path(),
        &bucket,
        Some(endpoint.clone()),
    ))
    .await
    .unwrap();
    store
        .client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let src = clip().await;
    store
        .put_file("uploaded/remote.mp4", &src, "video/mp4")
        .await
        .unwrap();

    // Longer than the store's own presign expiry (600 s here): the caller decides.
    let source = store
        .media_source("uploaded/remote.mp4", Duration::from_secs(1500))
        .await
        .unwrap();
    let MediaSource::Url(url) = &source else {
        panic!("expected a URL, got {source:?}")
    };
    // Path-style on the emulator's endpoint, valid for what was asked.
    assert!(
        url.starts_with(&format!("{endpoint}/{bucket}/uploaded/remote.mp4?")),
        "{source}"
    );
    assert!(url.contains("X-Amz-Expires=1500"), "{source}");
    assert!(url.contains("X-Amz-Signature="), "{source}");

    let info = ffprobe::probe_source(&media_config(), &source)
        .await
        .unwrap();
    assert!((info.duration_secs - 3.0).abs() < 0.2, "{info:?}");

    // A URL ffprobe cannot use: the error names the object but not the signature.
    let missing = store
        .media_source("uploaded/nothing.mp4", Duration::from_secs(60))
        .await
        .unwrap();
    let MediaSource::Url(missing_url) = &missing else {
        panic!("expected a URL")
    };
    let signature = missing_url.split("X-Amz-Signature=").nth(1).unwrap();
    let err = ffprobe::probe_source(&media_config(), &missing)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("404"), "{text}");
    assert!(text.contains("uploaded/nothing.mp4?<redacted>"), "{text}");
    assert!(
        !text.contains(signature) && !text.contains("X-Amz-"),
        "{text}"
    );
    let message = err.player_message();
    assert!(
        !message.contains("http") && !message.contains(signature),
        "{message}"
    );

    for key in store.list("").await.unwrap() {
        store.delete(&key).await.unwrap();
    }
    store
        .client()
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
}
