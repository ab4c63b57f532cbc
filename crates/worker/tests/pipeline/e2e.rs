use std::time::Duration;

use skillreel_shared::{
    config::StorageBackend,
    media::assets::{INTRO_COLOR, LOGO_COLOR, OUTRO_COLOR},
};
use sqlx::PgPool;

use crate::{
    helpers::{System, clip, facts, near, region_rgb, top_level_boxes},
    posters,
};

const BUMPERS: f64 = 5.0;

async fn landscape_and_portrait(backend: StorageBackend, db: PgPool) {
    let mut sys = System::start(db, backend).await;
    let token = sys.player("Ana").await;
    let landscape = clip(1920, 1080, 45.0).await;
    let portrait = clip(1080, 1920, 25.0).await;
    let wide = sys.upload(&token, &landscape, "Landscape").await;
    let tall = sys.upload(&token, &portrait, "Portrait").await;
    let worker = sys.start_worker().await;

    // While processing, the detail shows a percentage.
    let mut saw_progress = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let d = sys.detail(&token, wide).await;
        if d["status"] == "processing" && d["progress"].is_number() {
            saw_progress = true;
        }
        if d["status"] == "processed" {
            break;
        }
        assert!(d["status"] != "failed", "{d}");
        assert!(tokio::time::Instant::now() < deadline, "stuck: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(saw_progress, "progress was never shown");
    let tall_detail = sys
        .wait_status(&token, tall, &["processed"], Duration::from_secs(300))
        .await;
    let wide_detail = sys.detail(&token, wide).await;
    assert!(wide_detail["processed_at"].is_string());

    for (detail, source_secs) in [(&wide_detail, 45.0), (&tall_detail, 25.0)] {
        let out = sys
            .download(detail["processed_url"].as_str().unwrap())
            .await;
        let f = facts(&out).await;
        assert_eq!((f.width, f.height), (1280, 720), "{f:?}");
        assert_eq!(f.codec, "h264");
        assert_eq!(f.audio_streams, 0, "no audio");
        let expected = f64::min(source_secs, 30.0) + BUMPERS;
        assert!(
            (f.duration - expected).abs() < 0.5,
            "duration {} vs {expected}",
            f.duration
        );
        let boxes = top_level_boxes(&out);
        let moov = boxes.iter().position(|b| b == "moov").unwrap();
        let mdat = boxes.iter().position(|b| b == "mdat").unwrap();
        assert!(moov < mdat, "faststart: {boxes:?}");
        // bumpers at both ends
        assert!(
            near(region_rgb(&out, 0.5, 40, 40, 40, 40).await, INTRO_COLOR, 24),
            "intro"
        );
        assert!(
            near(
                region_rgb(&out, f.duration - 0.5, 40, 40, 40, 40).await,
                OUTRO_COLOR,
                24
            ),
            "outro"
        );
        // the logo in the bottom-right corner, mid-video
        let logo = region_rgb(&out, 2.5 + 5.0, 1136, 651, 20, 10).await;
        assert!(near(logo, LOGO_COLOR, 40), "logo pixels {logo:?}");
    }
    // Pillarbox: the portrait clip fills 405 px in the middle; the edges are black.
    let out = sys
        .download(tall_detail["processed_url"].as_str().unwrap())
        .await;
    for x in [20, 1240] {
        let bar = region_rgb(&out, 8.0, x, 300, 20, 100).await;
        assert!(near(bar, [0, 0, 0], 20), "bar at x={x}: {bar:?}");
    }
    let centre = region_rgb(&out, 8.0, 600, 200, 80, 300).await;
    assert!(!near(centre, [0, 0, 0], 20), "picture in the middle");

    // Poster and preview: from the clip, served like the processed video, in the detail
    // and the list.
    let bumpers = posters::bumper_frames(&sys).await;
    for detail in [&wide_detail, &tall_detail] {
        posters::check(&sys, detail, &bumpers).await;
    }
    let list: serde_json::Value = sys
        .client
        .get(sys.url("/api/videos"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for video in list.as_array().unwrap() {
        posters::check(&sys, video, &bumpers).await;
    }

    // Exactly one processed video, poster and preview per video; publishing works on
    // the result.
    let mut stored = sys.objects("processed/").await;
    stored.sort();
    let mut expected = Vec::new();
    for id in [wide, tall] {
        let (thumbnail, preview) = posters::keys(&sys, id).await;
        let processed: String =
            sqlx::query_scalar("SELECT processed_key FROM videos WHERE id = $1")
                .bind(id)
                .fetch_one(&sys.db)
                .await
                .unwrap();
        expected.extend([processed, thumbnail, preview]);
    }
    expected.sort();
    assert_eq!(stored, expected);
    let r = sys
        .client
        .post(sys.url(&format!("/api/videos/{wide}/publish")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let public: serde_json::Value = sys
        .client
        .get(sys.url("/api/public/videos"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = public.as_array().unwrap();
    assert_eq!(public.len(), 1, "{public:?}");
    posters::check(&sys, &public[0], &bumpers).await;

    // Deleting a video removes its poster and preview with the rest.
    let (thumbnail, preview) = posters::keys(&sys, tall).await;
    let r = sys
        .client
        .delete(sys.url(&format!("/api/videos/{tall}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for key in [&thumbnail, &preview] {
        assert!(
            !sys.web.storage.exists(key).await.unwrap(),
            "{key} left behind"
        );
    }
    assert_eq!(
        sys.objects("processed/").await.len(),
        3,
        "the published video's three"
    );

    sys.worker_stop.take().unwrap().cancel();
    worker.await.unwrap().unwrap();
    let leftovers = std::fs::read_dir(&sys.config.media.temp_dir)
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "temporary files removed");
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_storage_end_to_end(db: PgPool) {
    landscape_and_portrait(StorageBackend::Local, db).await;
}

#[sqlx::test(migrations = "../../migrations")]
async fn s3_storage_end_to_end(db: PgPool) {
    landscape_and_portrait(StorageBackend::S3, db).await;
}
