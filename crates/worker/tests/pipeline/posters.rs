//! Poster and hover preview: cut from the player's clip in the pipeline's ffmpeg run,
//! served like the processed video, removed with it. The checks are called from the
//! end-to-end tests (`e2e.rs`) on both storage backends, so no extra processing is paid
//! for; the test here covers a store that fails halfway.

use serde_json::Value;
use skillreel_shared::{
    media::{
        assets,
        renditions::{PREVIEW_MAX_BYTES, PREVIEW_SECS},
    },
    testing::pixels::Frame,
};

use crate::helpers::{System, facts};

/// A frame of each bumper (the picture a poster taken from the wrong place would show).
pub async fn bumper_frames(sys: &System) -> Vec<(&'static str, Frame)> {
    let assets = assets::ensure(&sys.config.media).await.unwrap();
    vec![
        ("intro", Frame::at(&assets.intro, 1.0).await),
        ("outro", Frame::at(&assets.outro, 1.0).await),
    ]
}

/// GETs `url` (a URL from the API, relative for the local backend): status and
/// content type, and the body saved to a file.
async fn fetch(sys: &System, url: &str, name: &str) -> (u16, String, std::path::PathBuf) {
    let r = sys.client.get(sys.url(url)).send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let path = sys
        .dir
        .path()
        .join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&path, r.bytes().await.unwrap())
        .await
        .unwrap();
    (status, content_type, path)
}

/// The checks on one processed video's `thumbnail_url` and `preview_url` (from `video`,
/// an API body): both load with the right type; the poster is a 640x360 JPEG, the
/// preview a silent MP4 of at most 3 s and 500 kB; neither shows a bumper or black.
pub async fn check(sys: &System, video: &Value, bumpers: &[(&str, Frame)]) {
    let id = &video["video_id"];
    let poster_url = video["thumbnail_url"]
        .as_str()
        .unwrap_or_else(|| panic!("video {id} has no thumbnail_url: {video}"));
    let preview_url = video["preview_url"]
        .as_str()
        .unwrap_or_else(|| panic!("video {id} has no preview_url: {video}"));

    let (status, content_type, poster) = fetch(sys, poster_url, "poster.jpg").await;
    assert_eq!(status, 200, "poster of {id}");
    assert_eq!(content_type, "image/jpeg", "poster of {id}");
    let f = facts(&poster).await;
    assert_eq!(f.codec, "mjpeg", "{f:?}");
    assert_eq!((f.width, f.height), (640, 360), "{f:?}");

    let (status, content_type, preview) = fetch(sys, preview_url, "preview.mp4").await;
    assert_eq!(status, 200, "preview of {id}");
    assert_eq!(content_type, "video/mp4", "preview of {id}");
    let size = std::fs::metadata(&preview).unwrap().len();
    assert!(size <= PREVIEW_MAX_BYTES, "preview of {id}: {size} bytes");
    let f = facts(&preview).await;
    assert_eq!(f.codec, "h264", "{f:?}");
    assert_eq!((f.width, f.height), (640, 360), "{f:?}");
    assert_eq!(f.audio_streams, 0, "silent preview: {f:?}");
    assert!(
        f.duration > 1.0 && f.duration <= PREVIEW_SECS + 0.05,
        "preview of {id}: {f:?}"
    );

    let pictures = [
        ("poster", Frame::at(&poster, 0.0).await),
        ("preview start", Frame::at(&preview, 0.0).await),
        ("preview end", Frame::at(&preview, f.duration - 0.1).await),
    ];
    for (what, picture) in &pictures {
        assert!(
            picture.mean() > 25.0,
            "{what} of {id} is (nearly) black: mean {}",
            picture.mean()
        );
        for (bumper, bumper_frame) in bumpers {
            let mad = picture.mad(bumper_frame);
            // The test clip (testsrc2) and the bumpers (one flat colour and the logo)
            // differ by 100+ per channel; a bumper frame through JPEG/H.264 by < 10.
            assert!(
                mad > 40.0,
                "{what} of {id} looks like the {bumper} (MAD {mad:.1})"
            );
        }
    }
}

/// Storage keys of a video's poster and preview, from its row.
pub async fn keys(sys: &System, id: i64) -> (String, String) {
    sqlx::query_as("SELECT thumbnail_key, preview_key FROM videos WHERE id = $1")
        .bind(id)
        .fetch_one(&sys.db)
        .await
        .unwrap()
}

/// A store that fails after the poster went up (the preview's directory is a file, so
/// every attempt fails there) ends `failed` with no poster, preview or video left behind.
#[sqlx::test(migrations = "../../migrations")]
async fn a_failed_store_leaves_no_poster_behind(db: sqlx::PgPool) {
    let mut sys = System::start(db, skillreel_shared::config::StorageBackend::Local).await;
    let blocker = sys
        .config
        .storage
        .local_dir
        .join("processed")
        .join("previews");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"not a directory").unwrap();
    let token = sys.player("Gus").await;
    let id = sys
        .upload(
            &token,
            &crate::helpers::clip(1920, 1080, 21.0).await,
            "blocked",
        )
        .await;
    let _worker = sys.start_worker().await;
    let d = sys
        .wait_status(&token, id, &["failed"], std::time::Duration::from_secs(180))
        .await;
    assert!(d["attempts"].as_i64().unwrap() >= 1, "{d}");
    assert_eq!(d["thumbnail_url"], Value::Null, "{d}");
    // Only the blocking file itself: the poster stored before the preview failed is gone.
    assert_eq!(sys.objects("processed/").await, ["processed/previews"]);
}
