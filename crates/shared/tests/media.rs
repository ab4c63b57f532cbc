//! The media module against the real ffmpeg/ffprobe: generated clips go through the
//! pipeline and the output is checked by probing it, reading its box layout and
//! sampling pixels.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use skillreel_shared::{
    config::{MediaConfig, UploadLimits},
    media::{
        MediaError,
        assets::{self, Assets, INTRO_COLOR, LOGO_COLOR, OUTRO_COLOR},
        ffmpeg, ffprobe,
        pipeline::{self, LOGO_MARGIN},
        sniff, testclip,
        testclip::ClipSpec,
        validate,
    },
    testing::pixels,
};

#[path = "media/joins.rs"]
mod joins;
#[path = "media/orphans.rs"]
mod orphans;
#[path = "media/renditions.rs"]
mod renditions;

/// Clips and default assets are cached here across test runs.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("skillreel-media")
}

fn config() -> MediaConfig {
    MediaConfig {
        ffmpeg_path: "ffmpeg".into(),
        ffprobe_path: "ffprobe".into(),
        assets_dir: cache_dir().join("assets"),
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

async fn clip(width: u32, height: u32, secs: f64, audio: bool) -> PathBuf {
    let spec = ClipSpec {
        width,
        height,
        secs,
        audio,
    };
    testclip::generate(Path::new("ffmpeg"), &spec, &cache_dir().join("clips"))
        .await
        .unwrap()
}

/// Types of the top-level ISO-BMFF boxes, in file order.
fn top_level_boxes(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        boxes.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        let size = match size {
            0 => (bytes.len() - at) as u64,
            1 => u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()),
            n => n,
        };
        at += usize::try_from(size).unwrap();
    }
    boxes
}

/// Mean RGB of the 4x4 block at (`x`, `y`) of the frame shown at `secs`.
async fn pixel(video: &Path, secs: f64, x: u32, y: u32) -> [u8; 3] {
    pixels::region_rgb(video, secs, x, y, 4, 4).await
}

fn assert_color(found: [u8; 3], expected: [u8; 3], what: &str) {
    assert!(
        pixels::near(found, expected, 24),
        "{what}: found {found:?}, expected about {expected:?}"
    );
}

/// Pids of live processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            pids.push(pid);
        }
    }
    pids
}

struct Processed {
    output: PathBuf,
    info: ffprobe::ProbeInfo,
    assets: Assets,
    _dir: tempfile::TempDir,
}

async fn process(input: &Path) -> Processed {
    let cfg = config();
    let assets = assets::ensure(&cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = pipeline::process(&cfg, &assets, input, &output, None, move |p| {
        let _ = tx.send(p);
    })
    .await
    .unwrap();
    let mut progress = Vec::new();
    while let Ok(p) = rx.try_recv() {
        progress.push(p);
    }
    assert_eq!(
        progress.last(),
        Some(&100.0),
        "progress ends at 100 %: {progress:?}"
    );
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {progress:?}"
    );
    let info = ffprobe::probe(&cfg, &output).await.unwrap();
    assert!((report.output_secs - info.duration_secs).abs() < 1e-6);
    Processed {
        output,
        info,
        assets,
        _dir: dir,
    }
}

fn assert_uniform_output(done: &Processed, source_secs: f64) {
    let video = done.info.video.as_ref().expect("output has video");
    assert_eq!(video.codec, "h264");
    assert_eq!(video.display_size(), (1280, 720));
    assert!(!done.info.has_audio, "output must have no audio");
    let expected = source_secs.min(30.0) + done.assets.intro_secs + done.assets.outro_secs;
    assert!(
        (done.info.duration_secs - expected).abs() <= 0.3,
        "duration {} s, expected {expected} s",
        done.info.duration_secs
    );
    let boxes = top_level_boxes(&done.output);
    let position = |t: &str| {
        boxes
            .iter()
            .position(|b| b == t)
            .unwrap_or_else(|| panic!("no {t} in {boxes:?}"))
    };
    assert!(
        position("moov") < position("mdat"),
        "faststart puts moov first: {boxes:?}"
    );
}

#[tokio::test]
async fn landscape_upload_is_cut_branded_and_bumpered() {
    let input = clip(1920, 1080, 45.0, true).await;
    let head = std::fs::read(&input).unwrap();
    assert!(sniff::looks_like_mp4(&head[..64]));
    let source = ffprobe::probe(&config(), &input).await.unwrap();
    assert_eq!(
        validate::check_upload(&source, &UploadLimits::default()),
        Ok(())
    );

    let done = process(&input).await;
    assert_uniform_output(&done, 45.0);
    let out = &done.output;
    assert_color(pixel(out, 0.5, 100, 100).await, INTRO_COLOR, "intro");
    let (logo_w, logo_h) = assets::LOGO_SIZE;
    let logo_x = 1280 - LOGO_MARGIN - logo_w / 2;
    let logo_y = 720 - LOGO_MARGIN - logo_h / 2;
    let middle = done.assets.intro_secs + 15.0;
    assert_color(
        pixel(out, middle, logo_x, logo_y).await,
        LOGO_COLOR,
        "watermark",
    );
    let last = done.info.duration_secs - 1.0;
    assert_color(pixel(out, last, 100, 100).await, OUTRO_COLOR, "outro");
}

#[tokio::test]
async fn portrait_upload_is_pillarboxed() {
    let input = clip(1080, 1920, 25.0, false).await;
    let done = process(&input).await;
    assert_uniform_output(&done, 25.0);
    let middle = done.assets.intro_secs + 10.0;
    assert_color(
        pixel(&done.output, middle, 0, 360).await,
        [0, 0, 0],
        "left bar",
    );
    assert_color(
        pixel(&done.output, middle, 1276, 360).await,
        [0, 0, 0],
        "right bar",
    );
    let centre = pixel(&done.output, middle, 638, 358).await;
    assert!(
        centre.iter().any(|c| *c > 40),
        "the picture itself is not black: {centre:?}"
    );
}

#[tokio::test]
async fn rotated_landscape_stream_is_shown_as_portrait() {
    let landscape = clip(1920, 1080, 4.0, false).await;
    let dir = tempfile::tempdir().unwrap();
    let rotated = dir.path().join("rotated.mp4");
    let args = [
        "-y",
        "-nostdin",
        "-i",
        &landscape.to_string_lossy(),
        "-c",
        "copy",
    ]
    .into_iter()
    .chain(["-metadata:s:v:0", "rotate=90", &rotated.to_string_lossy()])
    .map(str::to_owned)
    .collect::<Vec<_>>();
    ffmpeg::run(Path::new("ffmpeg"), &args, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    let probed = ffprobe::probe(&config(), &rotated).await.unwrap();
    assert_eq!(probed.video.unwrap().display_size(), (1080, 1920));

    let done = process(&rotated).await;
    assert_uniform_output(&done, 4.0);
    let middle = done.assets.intro_secs + 2.0;
    assert_color(
        pixel(&done.output, middle, 0, 360).await,
        [0, 0, 0],
        "left bar",
    );
    assert_color(
        pixel(&done.output, middle, 1276, 360).await,
        [0, 0, 0],
        "right bar",
    );
}

#[tokio::test]
async fn corrupt_inputs_fail_without_retry() {
    let cfg = config();
    let assets = assets::ensure(&cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read(clip(1920, 1080, 4.0, false).await).unwrap();
    // Without faststart the index (moov) is at the end, so a cut-off upload has none.
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &source[..source.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(
        &garbage,
        b"\x00\x00\x00\x20ftypisom not really a video at all",
    )
    .unwrap();
    for input in [&truncated, &garbage] {
        let err = pipeline::process(
            &cfg,
            &assets,
            input,
            &dir.path().join("out.mp4"),
            None,
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(
            !err.is_retryable(),
            "{} gave a retryable error: {err:?}",
            input.display()
        );
        assert!(err.is_client_error());
    }
}

#[tokio::test]
async fn a_run_past_its_timeout_is_killed() {
    let mut cfg = config();
    let assets = assets::ensure(&cfg).await.unwrap();
    let input = clip(1920, 1080, 45.0, true).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("timed-out.mp4");
    cfg.job_timeout = Duration::from_secs(1);
    let err = pipeline::process(&cfg, &assets, &input, &output, None, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::Timeout(d) if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(
        processes_with(&output.to_string_lossy()),
        Vec::<u32>::new(),
        "ffmpeg left running"
    );
}

#[tokio::test]
async fn dropping_the_future_kills_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    // The null muxer writes nothing, but the name makes this process findable.
    let marker = dir
        .path()
        .join("endless-run")
        .to_string_lossy()
        .into_owned();
    let args = [
        "-y",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "null",
        &marker,
    ];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut run = Box::pin(ffmpeg::run(
        Path::new("ffmpeg"),
        &args,
        Duration::from_secs(120),
        move |secs| {
            let _ = tx.send(secs);
        },
    ));
    tokio::select! {
        result = &mut run => panic!("an endless run finished: {result:?}"),
        first = rx.recv() => assert!(first.is_some()),
    }
    assert_eq!(
        processes_with(&marker).len(),
        1,
        "ffmpeg is running while the future lives"
    );
    drop(run);
    assert_eq!(
        processes_with(&marker),
        Vec::<u32>::new(),
        "ffmpeg outlived its future"
    );
}

#[tokio::test]
async fn default_assets_are_generated_once_and_recognisable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MediaConfig {
        assets_dir: dir.path().join("assets"),
        ..config()
    };
    // Two makers at once, as two worker processes starting together would be.
    let (a, b) = tokio::join!(assets::ensure(&cfg), assets::ensure(&cfg));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!((a.intro_secs, a.outro_secs), (2.5, 2.5));
    let modified = std::fs::metadata(&a.intro).unwrap().modified().unwrap();
    assert_eq!(assets::ensure(&cfg).await.unwrap(), a);
    assert_eq!(
        std::fs::metadata(&a.intro).unwrap().modified().unwrap(),
        modified,
        "reused, not remade"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&cfg.assets_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 4, "no temporary files left: {leftovers:?}");
    // The bumpers encoded for joining, and nothing half-written beside them.
    let joints: Vec<_> = std::fs::read_dir(cfg.assets_dir.join("joints"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(joints.len(), 2, "{joints:?}");
    assert_eq!(a.intro_joint.secs, 2.5);

    let logo = a.logo.to_string_lossy();
    let rgba = |x: u32, y: u32| {
        let crop = format!("crop=1:1:{x}:{y}");
        let args = [
            "-v", "error", "-i", &logo, "-vf", &crop, "-f", "rawvideo", "-pix_fmt", "rgba", "-",
        ];
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        async move {
            ffmpeg::capture(Path::new("ffmpeg"), &args, Duration::from_secs(30))
                .await
                .unwrap()
        }
    };
    assert_eq!(rgba(1, 1).await[3], 0, "the logo's border is transparent");
    let centre = rgba(110, 40).await;
    assert_eq!((&centre[..3], centre[3]), (LOGO_COLOR.as_slice(), 255));
    let info = ffprobe::probe(&cfg, &a.outro).await.unwrap();
    assert_eq!(info.video.unwrap().display_size(), (1280, 720));
    assert_color(
        pixel(&a.outro, 1.0, 100, 100).await,
        OUTRO_COLOR,
        "default outro",
    );
}

#[tokio::test]
async fn replacement_assets_are_used_and_long_bumpers_cut() {
    let dir = tempfile::tempdir().unwrap();
    let long_intro = clip(1280, 720, 4.0, false).await;
    let cfg = MediaConfig {
        assets_dir: dir.path().join("assets"),
        intro_path: Some(long_intro.clone()),
        ..config()
    };
    let assets = assets::ensure(&cfg).await.unwrap();
    assert_eq!(assets.intro, long_intro);
    assert_eq!(assets.intro_secs, assets::MAX_BUMPER_SECS);

    let not_an_image = dir.path().join("logo.png");
    std::fs::write(&not_an_image, "plain text").unwrap();
    let cfg = MediaConfig {
        logo_path: Some(not_an_image),
        ..cfg
    };
    let err = assets::ensure(&cfg).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn sized_clips_are_valid_uploads_of_the_requested_size() {
    let target = 16 * 1024 * 1024;
    let sized = testclip::generate_sized(Path::new("ffmpeg"), target, &cache_dir().join("clips"))
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&sized).unwrap().len(), target);
    let head = std::fs::read(&sized).unwrap();
    assert!(sniff::looks_like_mp4(&head[..64]));
    let info = ffprobe::probe(&config(), &sized).await.unwrap();
    assert_eq!(
        validate::check_upload(&info, &UploadLimits::default()),
        Ok(())
    );
    assert!(info.has_audio);
}
