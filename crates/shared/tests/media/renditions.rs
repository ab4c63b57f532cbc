//! Poster and preview of `pipeline::process`: from the clip, not from a bumper, not
//! black — on a clip whose first third is black, so a poster or preview taken from the
//! clip's start (or from the intro) fails.

use std::path::PathBuf;

use skillreel_shared::{
    media::{
        assets, ffprobe, pipeline,
        renditions::{PREVIEW_MAX_BYTES, PREVIEW_SECS, RenditionPaths},
    },
    testing::pixels::Frame,
};

use super::{cache_dir, config};

/// 12 s of 1280x720 at 30 fps: 4 s black, then 8 s of the moving `testsrc2` pattern.
async fn black_start_clip() -> PathBuf {
    let dest = cache_dir()
        .join("clips")
        .join("black-4s-then-pattern-8s.mp4");
    if dest.exists() {
        return dest;
    }
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let tmp = dest.with_extension(format!("{}.tmp.mp4", std::process::id()));
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin", "-f", "lavfi", "-i"])
        .arg(
            "color=c=black:s=1280x720:r=30:d=4[b];testsrc2=s=1280x720:r=30:d=8[t];\
             [b][t]concat=n=2:v=1:a=0[out0]",
        )
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&tmp)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "generating the clip");
    std::fs::rename(&tmp, &dest).unwrap();
    dest
}

#[tokio::test]
async fn poster_and_preview_come_from_the_clip_not_its_black_start_or_a_bumper() {
    let cfg = config();
    let assets = assets::ensure(&cfg).await.unwrap();
    let input = black_start_clip().await;
    let dir = tempfile::tempdir().unwrap();
    let paths = RenditionPaths {
        poster: dir.path().join("poster.jpg"),
        preview: dir.path().join("preview.mp4"),
    };
    let output = dir.path().join("out.mp4");
    pipeline::process(&cfg, &assets, &input, &output, Some(&paths), |_| {})
        .await
        .unwrap();

    let poster = ffprobe::probe(&cfg, &paths.poster).await.unwrap();
    let video = poster.video.as_ref().expect("the poster is a picture");
    assert_eq!(video.codec, "mjpeg");
    assert_eq!(video.display_size(), (640, 360));

    let preview = ffprobe::probe(&cfg, &paths.preview).await.unwrap();
    let video = preview.video.as_ref().expect("the preview has video");
    assert_eq!(video.codec, "h264");
    assert_eq!(video.display_size(), (640, 360));
    assert!(!preview.has_audio, "silent preview");
    assert!(
        preview.duration_secs > 2.9 && preview.duration_secs <= PREVIEW_SECS + 0.05,
        "preview of {} s",
        preview.duration_secs
    );
    let size = std::fs::metadata(&paths.preview).unwrap().len();
    assert!(size <= PREVIEW_MAX_BYTES, "preview of {size} bytes");

    let bumpers = [
        ("intro", Frame::at(&assets.intro, 1.0).await),
        ("outro", Frame::at(&assets.outro, 1.0).await),
    ];
    let pictures = [
        ("poster", Frame::at(&paths.poster, 0.0).await),
        ("preview start", Frame::at(&paths.preview, 0.0).await),
        ("preview end", Frame::at(&paths.preview, 2.9).await),
    ];
    for (what, picture) in &pictures {
        // Black is ~0 here; the pattern averages over 100.
        assert!(
            picture.mean() > 40.0,
            "{what} is black: mean {}",
            picture.mean()
        );
        for (bumper, b) in &bumpers {
            let d = picture.mad(b);
            assert!(d > 40.0, "{what} looks like the {bumper}: MAD {d:.1}");
        }
    }
    // The poster shows the processed video's picture (logo included): close to the
    // processed frame at the same point of the pattern section.
    let processed_mid = Frame::at(&output, assets.intro_secs + 8.0).await;
    assert!(
        pictures[0].1.mad(&processed_mid) < 60.0,
        "the poster is not a frame of the processed clip"
    );
}
