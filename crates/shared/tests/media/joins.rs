//! The bumpers joined by stream copy: clean joins (one frame every 1/30 s, no frame
//! lost or repeated, a key frame where each part starts, the right picture on each side
//! of a join), the same picture as the one-pass render (SSIM), and the one-pass
//! fallback when a clip's parameter sets cannot be joined.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use skillreel_shared::{
    config::MediaConfig,
    media::{MediaSource, assets, ffmpeg, pipeline, reference, stitch},
};

use super::{assert_color, clip, config, pixel};

/// Mean RGB of the 4x4 block at (`x`, `y`) of frame number `n` (from 0).
async fn pixel_of_frame(video: &Path, n: usize, x: u32, y: u32) -> [u8; 3] {
    skillreel_shared::testing::pixels::frame_region_rgb(video, n, x, y, 4, 4).await
}

/// `(pts in seconds, key frame)` of every video frame, in presentation order.
async fn frames(video: &Path) -> Vec<(f64, bool)> {
    let input = video.to_string_lossy();
    let args = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=pts_time,key_frame",
        "-of",
        "csv=p=0",
        &input,
    ];
    let out = ffmpeg::capture(Path::new("ffprobe"), &args, Duration::from_secs(60))
        .await
        .unwrap();
    let mut frames: Vec<(f64, bool)> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|line| {
            // `key_frame,pts_time` (ffprobe's own field order), maybe a trailing field.
            let mut fields = line.split(',');
            let key = fields.next()?.trim() == "1";
            let pts = fields.next()?.trim().parse::<f64>().ok()?;
            Some((pts, key))
        })
        .collect();
    frames.sort_by(|a, b| a.0.total_cmp(&b.0));
    frames
}

/// SSIM of `video` against `reference`: the mean over all frames and the lowest mean of
/// any second, from ffmpeg's per-frame statistics.
async fn ssim(video: &Path, reference: &Path) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("ssim.log");
    let graph = format!("[0:v][1:v]ssim=stats_file={}", stats.display());
    let args = [
        "-v",
        "error",
        "-nostdin",
        "-i",
        &video.to_string_lossy(),
        "-i",
        &reference.to_string_lossy(),
        "-lavfi",
        &graph,
        "-f",
        "null",
        "-",
    ]
    .map(str::to_owned);
    ffmpeg::run(Path::new("ffmpeg"), &args, Duration::from_secs(300), |_| {})
        .await
        .unwrap();
    let mut per_second: BTreeMap<u64, (f64, u32)> = BTreeMap::new();
    let mut all = (0.0, 0u32);
    for line in std::fs::read_to_string(&stats).unwrap().lines() {
        // `n:1 Y:0.98 U:0.99 V:0.99 All:0.985 (18.3)`
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .and_then(|v| v.parse::<f64>().ok())
        };
        let (Some(n), Some(value)) = (field("n:"), field("All:")) else {
            continue;
        };
        let second = ((n - 1.0) / f64::from(pipeline::OUTPUT_FPS)) as u64;
        let entry = per_second.entry(second).or_default();
        *entry = (entry.0 + value, entry.1 + 1);
        all = (all.0 + value, all.1 + 1);
    }
    assert!(all.1 > 0, "no SSIM statistics");
    let worst = per_second
        .values()
        .map(|(sum, n)| sum / f64::from(*n))
        .fold(f64::INFINITY, f64::min);
    (all.0 / f64::from(all.1), worst)
}

#[tokio::test]
async fn joins_are_seamless_and_show_the_right_picture_on_each_side() {
    let input = clip(1920, 1080, 21.0, false).await;
    let done = super::process(&input).await;
    let fps = f64::from(pipeline::OUTPUT_FPS);
    let frame = 1.0 / fps;
    let (intro, outro) = (done.assets.intro_secs, done.assets.outro_secs);
    let clip_end = intro + 21.0;

    let frames = frames(&done.output).await;
    let expected = ((intro + 21.0 + outro) * fps).round() as usize;
    assert_eq!(
        frames.len(),
        expected,
        "one frame every 1/30 s, none lost or repeated"
    );
    assert!(frames[0].0.abs() < 1e-3, "starts at 0: {:?}", frames[0]);
    for pair in frames.windows(2) {
        let step = pair[1].0 - pair[0].0;
        assert!(
            (step - frame).abs() < 1e-3,
            "timestamps jump from {} to {}",
            pair[0].0,
            pair[1].0
        );
    }
    // Each part is its own encode, so each starts with a key frame: a player seeking to
    // a join decodes from there.
    for join in [intro, clip_end] {
        let at = frames
            .iter()
            .find(|(pts, _)| (pts - join).abs() < frame / 2.0)
            .unwrap_or_else(|| panic!("no frame at {join}"));
        assert!(at.1, "the frame at {join} s is a key frame");
    }

    // The last intro frame is the intro, the first clip frame is not; likewise at the
    // outro (pixels away from the logos).
    let out = &done.output;
    let intro_frames = (intro * fps).round() as usize;
    let outro_from = (clip_end * fps).round() as usize;
    let differs =
        |found: [u8; 3], from: [u8; 3]| found.iter().zip(from).any(|(f, e)| f.abs_diff(e) > 40);
    let last_intro = pixel_of_frame(out, intro_frames - 1, 100, 100).await;
    assert_color(last_intro, assets::INTRO_COLOR, "last intro frame");
    let first_clip = pixel_of_frame(out, intro_frames, 100, 100).await;
    assert!(
        differs(first_clip, assets::INTRO_COLOR),
        "the first clip frame is not the intro: {first_clip:?}"
    );
    let last_clip = pixel_of_frame(out, outro_from - 1, 100, 100).await;
    assert!(
        differs(last_clip, assets::OUTRO_COLOR),
        "the last clip frame is not the outro: {last_clip:?}"
    );
    let first_outro = pixel_of_frame(out, outro_from, 100, 100).await;
    assert_color(first_outro, assets::OUTRO_COLOR, "first outro frame");
}

#[tokio::test]
async fn the_joined_video_looks_like_the_one_pass_render() {
    let cfg = config();
    let input = clip(1920, 1080, 25.0, false).await;
    let done = super::process(&input).await;
    let dir = tempfile::tempdir().unwrap();
    let one_pass = dir.path().join("one-pass.mp4");
    let args = reference::build_args(
        &cfg,
        &done.assets,
        &MediaSource::from(input.as_path()),
        &one_pass,
    );
    ffmpeg::run(&cfg.ffmpeg_path, &args, cfg.job_timeout, |_| {})
        .await
        .unwrap();
    let (overall, worst_second) = ssim(&done.output, &one_pass).await;
    assert!(
        overall >= 0.97,
        "SSIM {overall:.4} against the one-pass render"
    );
    assert!(
        worst_second >= 0.95,
        "SSIM {worst_second:.4} in the worst second against the one-pass render"
    );
    // The parts were joined, not rendered again: their parameter sets are the bumpers'.
    let params = stitch::params_hash(&cfg, &done.output).await.unwrap();
    assert_eq!(params, done.assets.joint_params);
}

/// Processes a 4 s 720p clip with `cfg` and `assets`; the report, the folder holding
/// `out.mp4` (alone) and that file.
async fn render_4s(
    cfg: &MediaConfig,
    assets: &assets::Assets,
) -> (pipeline::ProcessReport, tempfile::TempDir, PathBuf) {
    let input = clip(1280, 720, 4.0, false).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    let report = pipeline::process(cfg, assets, &input, &output, None, |_| {})
        .await
        .unwrap();
    (report, dir, output)
}

#[tokio::test]
async fn a_clip_that_cannot_be_joined_is_rendered_in_one_pass() {
    // Bumpers encoded with one preset, the clip with another: different parameter sets
    // (reference frames, transform size), which must never be joined by copy.
    let joints = config();
    let assets = assets::ensure(&joints).await.unwrap();
    let mut cfg = config();
    cfg.preset = "superfast".into();
    let (report, dir, output) = render_4s(&cfg, &assets).await;
    assert!(!report.joined, "parameter sets differ: no join by copy");
    let expected = 4.0 + assets.intro_secs + assets.outro_secs;
    assert!((report.output_secs - expected).abs() <= 0.1, "{report:?}");
    assert_color(
        pixel(&output, 0.5, 100, 100).await,
        assets::INTRO_COLOR,
        "intro",
    );
    let outro_at = report.output_secs - 1.0;
    assert_color(
        pixel(&output, outro_at, 100, 100).await,
        assets::OUTRO_COLOR,
        "outro",
    );
    // Only the output is left behind: the clip and the join list are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["out.mp4"]);
}

#[tokio::test]
async fn a_job_on_one_thread_still_joins_by_copy() {
    // `FFMPEG_THREADS=1` (for fleets that drain backlogs) changes x264's threading,
    // never the parameter sets: the bumpers made with ffmpeg's own thread count still
    // join the clip by copy.
    let assets = assets::ensure(&config()).await.unwrap();
    let mut cfg = config();
    cfg.threads = Some(1);
    let (report, _dir, output) = render_4s(&cfg, &assets).await;
    assert!(
        report.joined,
        "one thread must not stop the join: {report:?}"
    );
    let expected = 4.0 + assets.intro_secs + assets.outro_secs;
    assert!((report.output_secs - expected).abs() <= 0.1, "{report:?}");
    let params = stitch::params_hash(&cfg, &output).await.unwrap();
    assert_eq!(params, assets.joint_params);
}
