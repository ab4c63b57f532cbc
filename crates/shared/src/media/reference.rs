//! The straightforward one-pass render of the processing spec: one ffmpeg run that
//! decodes intro, upload and outro, fits each into the output frame, lays the logo over
//! the upload, joins the three with the `concat` filter and encodes all of it.
//!
//! This was the job's command until the bumpers were pre-encoded and joined by stream
//! copy ([`super::pipeline`]). It stays as the yardstick: the tests measure the job's
//! output against this render with SSIM, and the media benchmark
//! (`scripts/bench/media.sh`) compares the cost of both.

use std::path::Path;

use super::{
    MediaSource,
    assets::Assets,
    pipeline::{LOGO_MARGIN, LOGO_MAX_WIDTH, OUTPUT_FPS, OUTPUT_HEIGHT, OUTPUT_WIDTH},
    stitch,
};
use crate::config::MediaConfig;

/// Fits input `index` into the output frame: constant frame rate, scaled until it
/// touches the frame, centred with black bars, square pixels, 4:2:0.
fn fit(index: u8, label: &str) -> String {
    let (w, h) = (OUTPUT_WIDTH, OUTPUT_HEIGHT);
    format!(
        "[{index}:v]setpts=PTS-STARTPTS,fps={OUTPUT_FPS},\
         scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
         pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p[{label}]"
    )
}

/// The filter graph: inputs `0` intro, `1` upload, `2` outro, `3` logo; output `[out]`.
pub fn filter_graph() -> String {
    [
        fit(0, "intro"),
        fit(1, "main"),
        fit(2, "outro"),
        format!("[3:v]scale='min(iw,{LOGO_MAX_WIDTH})':-1,format=rgba[logo]"),
        format!("[main][logo]overlay=W-w-{LOGO_MARGIN}:H-h-{LOGO_MARGIN}[marked]"),
        "[intro][marked][outro]concat=n=3:v=1:a=0[out]".to_owned(),
    ]
    .join(";")
}

/// The whole command (without the program) rendering `input` into `output`.
pub fn build_args(
    cfg: &MediaConfig,
    assets: &Assets,
    input: &MediaSource,
    output: &Path,
) -> Vec<String> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let secs = |s: f64| format!("{s:.3}");
    let mut args: Vec<String> = vec![
        "-y".into(),
        "-nostdin".into(),
        "-t".into(),
        secs(assets.intro_secs),
        "-i".into(),
        path(&assets.intro),
        "-t".into(),
        secs(cfg.max_output_secs),
        "-f".into(),
        "mov".into(),
    ];
    args.extend(input.input_args());
    args.extend([
        "-t".into(),
        secs(assets.outro_secs),
        "-i".into(),
        path(&assets.outro),
        "-i".into(),
        path(&assets.logo),
        "-filter_complex".into(),
        filter_graph(),
    ]);
    args.extend(stitch::video_only());
    args.extend([
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        cfg.preset.clone(),
        "-crf".into(),
        cfg.crf.to_string(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-movflags".into(),
        "+faststart".into(),
        "-f".into(),
        "mp4".into(),
        path(output),
    ]);
    args
}
