//! The processing pipeline: one ffmpeg run turns an upload into the competition's
//! uniform, branded video.
//!
//! Inputs, in order: `0` intro bumper, `1` the upload (decoding stops after
//! `max_output_secs`), `2` outro bumper, `3` logo. Each video part is brought to
//! [`OUTPUT_FPS`] and fitted into [`OUTPUT_WIDTH`]x[`OUTPUT_HEIGHT`] without stretching
//! (black bars fill the rest), the logo is laid over the bottom-right corner of the
//! upload, and the three parts are concatenated into an audio-less H.264 MP4 whose
//! index comes first (`+faststart`) so browsers start playing at once. The same run can
//! also write the poster and hover preview of the clip ([`super::renditions`]). See
//! `docs/MEDIA.md` for the full command.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::{
    MediaError, MediaSource,
    assets::Assets,
    ffmpeg, ffprobe,
    renditions::{self, ClipWindow, RenditionPaths},
};
use crate::config::MediaConfig;

/// Width of every processed video.
pub const OUTPUT_WIDTH: u32 = 1280;
/// Height of every processed video.
pub const OUTPUT_HEIGHT: u32 = 720;
/// Frame rate of every processed video (bumpers and upload alike, as concat requires).
pub const OUTPUT_FPS: u32 = 30;
/// Gap between the logo and the right and bottom edges, pixels.
pub const LOGO_MARGIN: u32 = 24;
/// Widest the logo is shown; a larger replacement logo is scaled down to this.
pub const LOGO_MAX_WIDTH: u32 = 320;

/// What a successful run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessReport {
    /// Duration of the output as probed, seconds.
    pub output_secs: f64,
    /// Wall-clock time of the whole call (probes included).
    pub elapsed: Duration,
}

/// Fits input `index` into the output frame: constant frame rate, scaled down or up until
/// it touches the frame, centred with black bars, square pixels, 4:2:0.
fn fit(index: u8, label: &str) -> String {
    let (w, h) = (OUTPUT_WIDTH, OUTPUT_HEIGHT);
    format!(
        "[{index}:v]setpts=PTS-STARTPTS,fps={OUTPUT_FPS},\
         scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
         pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p[{label}]"
    )
}

/// Label of the stream the renditions are cut from (see [`renditions`] for why it is
/// the joined output rather than the clip's own branch).
const RENDITIONS_SRC: &str = "clip_renditions";

/// The filter graph of [`build_args`]; its output pad is `[out]`. With `renditions`
/// (where the clip sits in the output), the joined stream is also split into the
/// poster and preview chains, whose pads are [`renditions::POSTER_PAD`] and
/// [`renditions::PREVIEW_PAD`].
pub fn filter_graph(renditions: Option<ClipWindow>) -> String {
    let join = "[intro][marked][outro]concat=n=3:v=1:a=0";
    let mut chains = vec![
        fit(0, "intro"),
        fit(1, "main"),
        fit(2, "outro"),
        format!("[3:v]scale='min(iw,{LOGO_MAX_WIDTH})':-1,format=rgba[logo]"),
        format!("[main][logo]overlay=W-w-{LOGO_MARGIN}:H-h-{LOGO_MARGIN}[marked]"),
    ];
    match renditions {
        None => chains.push(format!("{join}[out]")),
        Some(clip) => {
            chains.push(format!("{join},split=2[out][{RENDITIONS_SRC}]"));
            chains.push(renditions::filter_chains(RENDITIONS_SRC, clip));
        }
    }
    chains.join(";")
}

/// The poster and preview to write in the same run.
#[derive(Debug, Clone, Copy)]
pub struct Renditions<'a> {
    /// Where to write them.
    pub paths: &'a RenditionPaths,
    /// Length of the clip as it appears in the output (the upload, cut to
    /// `max_output_secs`), seconds.
    pub clip_secs: f64,
}

/// The exact ffmpeg arguments (without the program) that turn `input` into `output`,
/// and into the poster and preview when `renditions` is given.
///
/// Paths are passed as (lossily converted) UTF-8; the worker only ever passes its own
/// temporary paths.
pub fn build_args(
    cfg: &MediaConfig,
    assets: &Assets,
    input: &MediaSource,
    output: &Path,
    renditions: Option<Renditions<'_>>,
) -> Vec<String> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let secs = |s: f64| format!("{s:.3}");
    let window = renditions.map(|r| ClipWindow {
        start_secs: assets.intro_secs,
        secs: r.clip_secs.min(cfg.max_output_secs),
    });
    let mut args: Vec<String> = vec![
        "-y".into(),
        "-nostdin".into(),
        // Progress ten times a second rather than ffmpeg's two: a job at 20× realtime
        // still moves the player's live progress bar in steps of a few percent.
        "-stats_period".into(),
        "0.1".into(),
        // Input 0: intro, cut to its allowed length.
        "-t".into(),
        secs(assets.intro_secs),
        "-i".into(),
        path(&assets.intro),
        // Input 1: the upload. `-t` before `-i` stops decoding at the limit instead of
        // decoding everything and discarding the rest; `-f mov` pins the MP4 demuxer so a
        // crafted upload cannot steer ffmpeg into another (e.g. playlist) format.
        "-t".into(),
        secs(cfg.max_output_secs),
        "-f".into(),
        "mov".into(),
    ];
    args.extend(input.input_args());
    args.extend([
        // Input 2: outro.
        "-t".into(),
        secs(assets.outro_secs),
        "-i".into(),
        path(&assets.outro),
        // Input 3: logo, a still image the overlay repeats.
        "-i".into(),
        path(&assets.logo),
        "-filter_complex".into(),
        filter_graph(window),
        "-map".into(),
        "[out]".into(),
        "-an".into(),
        // Players' phones put GPS positions and device names in metadata; none of it is kept.
        "-map_metadata".into(),
        "-1".into(),
        "-map_chapters".into(),
        "-1".into(),
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
    if let Some(r) = renditions {
        args.extend(renditions::output_args(r.paths));
    }
    args
}

/// Progress in percent of `expected` seconds of output.
fn percent(position_secs: f64, expected_secs: f64) -> f32 {
    if expected_secs <= 0.0 {
        return 0.0;
    }
    (position_secs / expected_secs * 100.0).clamp(0.0, 100.0) as f32
}

/// Processes `input` into `output` (and into the poster and preview at `renditions`,
/// when given) with one ffmpeg run limited to `cfg.job_timeout`.
///
/// `on_progress` receives the percentage (0..=100) of the expected output written so far,
/// and 100 once the output is complete. The input is probed first (so a corrupt file fails
/// fast and non-retryably, and the expected length is known) and the output afterwards (to
/// report its real duration).
pub async fn process(
    cfg: &MediaConfig,
    assets: &Assets,
    input: impl Into<MediaSource>,
    output: &Path,
    renditions: Option<&RenditionPaths>,
    on_progress: impl FnMut(f32) + Send + 'static,
) -> Result<ProcessReport, MediaError> {
    let started = Instant::now();
    let input = input.into();
    let source = ffprobe::probe_source(cfg, &input).await?;
    if source.video.is_none() {
        return Err(MediaError::InvalidInput(
            "the input has no video stream".into(),
        ));
    }
    let expected =
        source.duration_secs.min(cfg.max_output_secs) + assets.intro_secs + assets.outro_secs;
    // Shared so the final 100 % can be reported after ffmpeg's own reports.
    let on_progress = Arc::new(Mutex::new(on_progress));
    let reporter = Arc::clone(&on_progress);
    let renditions = renditions.map(|paths| Renditions {
        paths,
        clip_secs: source.duration_secs,
    });
    let args = build_args(cfg, assets, &input, output, renditions);
    ffmpeg::run(&cfg.ffmpeg_path, &args, cfg.job_timeout, move |secs| {
        (reporter.lock().unwrap_or_else(PoisonError::into_inner))(percent(secs, expected));
    })
    .await?;
    if let Some(r) = &renditions {
        // ffmpeg succeeds without writing an output whose chain got no frame (a video
        // stream far shorter than its container says): the same bytes would do it
        // again, so this is the input's fault, not a reason to retry.
        for file in [&r.paths.poster, &r.paths.preview] {
            let written = tokio::fs::metadata(file).await.is_ok_and(|m| m.len() > 0);
            if !written {
                return Err(MediaError::InvalidInput(
                    "the video has too few frames to make its poster and preview".into(),
                ));
            }
        }
    }
    let result = ffprobe::probe(cfg, output).await?;
    (on_progress.lock().unwrap_or_else(PoisonError::into_inner))(100.0);
    let elapsed = started.elapsed();
    tracing::info!(
        output_secs = result.duration_secs,
        elapsed_ms = elapsed.as_millis() as u64,
        "video processed"
    );
    Ok(ProcessReport {
        output_secs: result.duration_secs,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config() -> MediaConfig {
        MediaConfig {
            ffmpeg_path: "ffmpeg".into(),
            ffprobe_path: "ffprobe".into(),
            assets_dir: "/assets".into(),
            logo_path: None,
            intro_path: None,
            outro_path: None,
            preset: "veryfast".into(),
            crf: 23,
            max_output_secs: 30.0,
            probe_timeout: Duration::from_secs(20),
            job_timeout: Duration::from_secs(900),
            temp_dir: "/tmp".into(),
        }
    }

    fn assets() -> Assets {
        Assets {
            logo: PathBuf::from("/assets/logo.png"),
            intro: PathBuf::from("/assets/intro.mp4"),
            outro: PathBuf::from("/assets/outro.mp4"),
            intro_secs: 2.5,
            outro_secs: 2.0,
        }
    }

    fn value_after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn inputs_are_ordered_and_cut() {
        let args = build_args(
            &config(),
            &assets(),
            &MediaSource::from(Path::new("/job/in.mp4")),
            Path::new("/job/out.mp4"),
            None,
        );
        assert_eq!(
            value_after(&args, "-i"),
            [
                "/assets/intro.mp4",
                "/job/in.mp4",
                "/assets/outro.mp4",
                "/assets/logo.png"
            ]
        );
        assert_eq!(value_after(&args, "-t"), ["2.500", "30.000", "2.000"]);
        // Input options precede their input: the 30 s cut applies to the upload's decoding.
        let upload = args.iter().position(|a| a == "/job/in.mp4").unwrap();
        assert_eq!(
            &args[upload - 7..upload],
            [
                "-t",
                "30.000",
                "-f",
                "mov",
                "-protocol_whitelist",
                "file",
                "-i"
            ]
        );
        assert_eq!(args.last().map(String::as_str), Some("/job/out.mp4"));
    }

    #[test]
    fn output_is_silent_faststart_h264_with_configured_quality() {
        let mut cfg = config();
        cfg.preset = "ultrafast".into();
        cfg.crf = 28;
        let args = build_args(
            &cfg,
            &assets(),
            &MediaSource::from(Path::new("in.mp4")),
            Path::new("out.mp4"),
            None,
        );
        assert!(args.iter().any(|a| a == "-an"));
        assert_eq!(value_after(&args, "-map"), ["[out]"]);
        assert_eq!(value_after(&args, "-c:v"), ["libx264"]);
        assert_eq!(value_after(&args, "-preset"), ["ultrafast"]);
        assert_eq!(value_after(&args, "-crf"), ["28"]);
        assert_eq!(value_after(&args, "-pix_fmt"), ["yuv420p"]);
        assert_eq!(value_after(&args, "-movflags"), ["+faststart"]);
        assert_eq!(value_after(&args, "-map_metadata"), ["-1"]);
    }

    #[test]
    fn graph_fits_every_part_and_watermarks_only_the_upload() {
        let graph = filter_graph(None);
        for (index, label) in [(0, "intro"), (1, "main"), (2, "outro")] {
            let chain = graph
                .split(';')
                .find(|c| c.starts_with(&format!("[{index}:v]")))
                .unwrap();
            assert!(chain.ends_with(&format!("[{label}]")), "{chain}");
            for part in [
                "fps=30",
                "scale=1280:720:force_original_aspect_ratio=decrease",
                "pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=black",
                "setsar=1",
            ] {
                assert!(chain.contains(part), "{chain} lacks {part}");
            }
        }
        assert!(
            graph.contains("[main][logo]overlay=W-w-24:H-h-24[marked]"),
            "{graph}"
        );
        assert!(
            graph.ends_with("[intro][marked][outro]concat=n=3:v=1:a=0[out]"),
            "{graph}"
        );
    }

    #[test]
    fn renditions_hang_off_the_joined_stream_after_the_intro() {
        let paths = RenditionPaths {
            poster: "/job/poster.jpg".into(),
            preview: "/job/preview.mp4".into(),
        };
        let renditions = Renditions {
            paths: &paths,
            clip_secs: 45.0,
        };
        let args = build_args(
            &config(),
            &assets(),
            &MediaSource::from(Path::new("/job/in.mp4")),
            Path::new("/job/out.mp4"),
            Some(renditions),
        );
        let graph = &value_after(&args, "-filter_complex")[0];
        // The clip starts after the 2.5 s intro and is cut to 30 s.
        assert!(
            graph
                .contains("[intro][marked][outro]concat=n=3:v=1:a=0,split=2[out][clip_renditions]"),
            "{graph}"
        );
        assert!(graph.contains("trim=start=2.700:end=32.300"), "{graph}");
        assert_eq!(
            value_after(&args, "-map"),
            ["[out]", "[poster]", "[preview]"]
        );
        // The processed video's options come first, unchanged but for the graph.
        let plain = build_args(
            &config(),
            &assets(),
            &MediaSource::from(Path::new("/job/in.mp4")),
            Path::new("/job/out.mp4"),
            None,
        );
        let graph_at = args.iter().position(|a| a == "-filter_complex").unwrap() + 1;
        for (i, (a, b)) in args.iter().zip(&plain).enumerate() {
            assert!(i == graph_at || a == b, "argument {i}: {a} vs {b}");
        }
        assert_eq!(args[plain.len() - 1], "/job/out.mp4");
        assert_eq!(args.last().map(String::as_str), Some("/job/preview.mp4"));
    }

    #[test]
    fn progress_is_a_clamped_percentage() {
        assert_eq!(percent(17.25, 34.5), 50.0);
        assert_eq!(percent(40.0, 34.5), 100.0);
        assert_eq!(percent(-1.0, 34.5), 0.0);
        assert_eq!(percent(3.0, 0.0), 0.0);
    }
}
