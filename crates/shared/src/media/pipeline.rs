//! The processing pipeline: the player's clip is decoded and encoded once, then joined
//! to the pre-encoded bumpers by stream copy.
//!
//! Two ffmpeg runs per job:
//!
//! 1. **the clip** ([`build_args`]): the upload (decoding stops after
//!    `max_output_secs`) is brought to [`OUTPUT_FPS`] and fitted into
//!    [`OUTPUT_WIDTH`]x[`OUTPUT_HEIGHT`] without stretching (black bars fill the rest),
//!    the logo is laid over its bottom-right corner, and the result is encoded with the
//!    bumpers' exact parameters ([`stitch::encode_args`]); the same decode feeds the
//!    poster and the hover preview ([`super::renditions`]);
//! 2. **the join** ([`stitch::join_args`]): intro, clip and outro are concatenated
//!    without re-encoding into an audio-less MP4 whose index comes first
//!    (`+faststart`), so browsers start playing at once.
//!
//! If the clip's H.264 parameter sets differ from the bumpers' (which [`stitch`] is built
//! to prevent), the join would not decode cleanly: the job then renders the video with
//! the one-pass command of [`super::reference`] instead. See `docs/MEDIA.md`.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::{
    MediaError, MediaSource,
    assets::Assets,
    ffmpeg, ffprobe, reference,
    renditions::{self, ClipWindow, RenditionPaths},
    stitch,
};
use crate::config::MediaConfig;

/// Width of every processed video.
pub const OUTPUT_WIDTH: u32 = 1280;
/// Height of every processed video.
pub const OUTPUT_HEIGHT: u32 = 720;
/// Frame rate of every processed video (bumpers and upload alike, as joining requires).
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
    /// Whether the bumpers were joined by stream copy (`false`: the one-pass fallback).
    pub joined: bool,
}

/// Label of the stream the renditions are cut from.
const RENDITIONS_SRC: &str = "clip_renditions";

/// The filter graph of [`build_args`] (inputs `0` upload, `1` logo); its output pad is
/// `[out]`. With `renditions` (the clip's length), the watermarked clip is also split into
/// the poster and preview chains, whose pads are [`renditions::POSTER_PAD`] and
/// [`renditions::PREVIEW_PAD`].
pub fn filter_graph(renditions: Option<f64>) -> String {
    let mut chains = vec![
        stitch::fit("0:v", "main"),
        // Converted with the BT.709 matrix the output is tagged with, so the brand colour
        // survives (the default conversion is BT.601).
        format!(
            "[1:v]scale='min(iw,{LOGO_MAX_WIDTH})':-1:out_color_matrix=bt709:out_range=tv,\
             format=yuva420p[logo]"
        ),
    ];
    let overlay = format!("[main][logo]overlay=W-w-{LOGO_MARGIN}:H-h-{LOGO_MARGIN}");
    match renditions {
        None => chains.push(format!("{overlay}[out]")),
        Some(secs) => {
            chains.push(format!("{overlay},split=2[out][{RENDITIONS_SRC}]"));
            let window = ClipWindow {
                start_secs: 0.0,
                secs,
            };
            chains.push(renditions::filter_chains(RENDITIONS_SRC, window));
        }
    }
    chains.join(";")
}

/// The poster and preview to write in the same run.
#[derive(Debug, Clone, Copy)]
pub struct Renditions<'a> {
    /// Where to write them.
    pub paths: &'a RenditionPaths,
    /// Length of the upload, seconds (cut to `max_output_secs` here).
    pub clip_secs: f64,
}

/// The exact ffmpeg arguments (without the program) of the clip run: `input` decoded,
/// fitted, watermarked and encoded into `clip` for joining, and into the poster and
/// preview when `renditions` is given.
///
/// Paths are passed as (lossily converted) UTF-8; the worker only ever passes its own
/// temporary paths.
pub fn build_args(
    cfg: &MediaConfig,
    assets: &Assets,
    input: &MediaSource,
    clip: &Path,
    renditions: Option<Renditions<'_>>,
) -> Vec<String> {
    let mut args: Vec<String> = vec!["-y".into(), "-nostdin".into()];
    // The filter graph's threads (global), the decoder's (input) and x264's (output).
    args.extend(thread_args("-filter_complex_threads", cfg.threads));
    args.extend([
        // Progress ten times a second rather than ffmpeg's two: a job at 20x realtime
        // still moves the player's live progress bar in steps of a few percent.
        "-stats_period".into(),
        "0.1".into(),
        // Input 0: the upload. `-t` before `-i` stops decoding at the limit instead of
        // decoding everything and discarding the rest; `-f mov` pins the MP4 demuxer so a
        // crafted upload cannot steer ffmpeg into another (e.g. playlist) format.
        "-t".into(),
        format!("{:.3}", cfg.max_output_secs),
        "-f".into(),
        "mov".into(),
    ]);
    args.extend(thread_args("-threads", cfg.threads));
    args.extend(input.input_args());
    // Input 1: logo, a still image the overlay repeats.
    args.extend(["-i".into(), assets.logo.to_string_lossy().into_owned()]);
    let window = renditions.map(|r| r.clip_secs.min(cfg.max_output_secs));
    args.extend(["-filter_complex".into(), filter_graph(window)]);
    args.extend(stitch::video_only());
    args.extend(stitch::encode_args(cfg));
    args.extend(thread_args("-threads", cfg.threads));
    // Also cut on output: `fps` repeats a slower source's last frame for its whole
    // duration, which could overshoot the limit by a frame.
    args.extend([
        "-t".into(),
        format!("{:.3}", cfg.max_output_secs),
        "-f".into(),
        "mp4".into(),
        clip.to_string_lossy().into_owned(),
    ]);
    if let Some(r) = renditions {
        args.extend(renditions::output_args(r.paths, cfg.threads));
    }
    args
}

/// `flag n` when the run's threads are set ([`MediaConfig::threads`]), else nothing
/// (ffmpeg's own choice).
pub fn thread_args(flag: &str, threads: Option<u32>) -> Vec<String> {
    threads
        .map(|n| vec![flag.to_owned(), n.to_string()])
        .unwrap_or_default()
}

/// Progress in percent of `expected` seconds of output.
fn percent(position_secs: f64, expected_secs: f64) -> f32 {
    if expected_secs <= 0.0 {
        return 0.0;
    }
    (position_secs / expected_secs * 100.0).clamp(0.0, 100.0) as f32
}

/// Intermediate files of one run, next to `output`: the encoded clip and the join list.
fn intermediates(output: &Path) -> (PathBuf, PathBuf) {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (
        output.with_file_name(format!("{name}.clip.mp4")),
        output.with_file_name(format!("{name}.join.txt")),
    )
}

/// Processes `input` into `output` (and into the poster and preview at `renditions`,
/// when given), each ffmpeg run limited to `cfg.job_timeout`.
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
    let clip_secs = source.duration_secs.min(cfg.max_output_secs);
    let expected = clip_secs + assets.intro_secs + assets.outro_secs;
    // Shared so the final 100 % can be reported after ffmpeg's own reports.
    let on_progress = Arc::new(Mutex::new(on_progress));
    let reporter = Arc::clone(&on_progress);
    let renditions = renditions.map(|paths| Renditions {
        paths,
        clip_secs: source.duration_secs,
    });
    let (clip, list) = intermediates(output);
    let args = build_args(cfg, assets, &input, &clip, renditions);
    let intro_secs = assets.intro_secs;
    ffmpeg::run(&cfg.ffmpeg_path, &args, cfg.job_timeout, move |secs| {
        // The clip plays after the intro; the join adds the rest in a blink.
        let p = percent(intro_secs + secs, expected).min(99.0);
        (reporter.lock().unwrap_or_else(PoisonError::into_inner))(p);
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
    let joined = join(cfg, assets, &input, &clip, &list, output).await;
    let _ = tokio::fs::remove_file(&clip).await;
    let _ = tokio::fs::remove_file(&list).await;
    let joined = joined?;
    let result = ffprobe::probe(cfg, output).await?;
    (on_progress.lock().unwrap_or_else(PoisonError::into_inner))(100.0);
    let elapsed = started.elapsed();
    tracing::info!(
        output_secs = result.duration_secs,
        elapsed_ms = elapsed.as_millis() as u64,
        joined,
        "video processed"
    );
    Ok(ProcessReport {
        output_secs: result.duration_secs,
        elapsed,
        joined,
    })
}

/// Joins intro, `clip` and outro into `output` by stream copy; if the clip's parameter
/// sets differ from the bumpers', renders `output` in one pass instead. Returns whether
/// it joined.
async fn join(
    cfg: &MediaConfig,
    assets: &Assets,
    input: &MediaSource,
    clip: &Path,
    list: &Path,
    output: &Path,
) -> Result<bool, MediaError> {
    let params = stitch::params_hash(cfg, clip).await?;
    if params == assets.joint_params {
        let parts = [
            assets.intro_joint.path.as_path(),
            clip,
            assets.outro_joint.path.as_path(),
        ];
        tokio::fs::write(list, stitch::concat_list(&parts)?).await?;
        let args = stitch::join_args(list, output);
        ffmpeg::run(&cfg.ffmpeg_path, &args, cfg.job_timeout, |_| {}).await?;
        return Ok(true);
    }
    tracing::warn!(
        clip = %params,
        bumpers = %assets.joint_params,
        "the clip cannot be joined to the bumpers by copy; rendering in one pass"
    );
    let args = reference::build_args(cfg, assets, input, output);
    ffmpeg::run(&cfg.ffmpeg_path, &args, cfg.job_timeout, |_| {}).await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::media::{stitch::Joint, test_config};

    fn assets() -> Assets {
        Assets {
            logo: PathBuf::from("/assets/logo.png"),
            intro: PathBuf::from("/assets/intro.mp4"),
            outro: PathBuf::from("/assets/outro.mp4"),
            intro_secs: 2.5,
            outro_secs: 2.0,
            intro_joint: Joint {
                path: "/assets/joints/intro.mp4".into(),
                secs: 2.5,
            },
            outro_joint: Joint {
                path: "/assets/joints/outro.mp4".into(),
                secs: 2.0,
            },
            joint_params: "SHA256:00".into(),
        }
    }

    fn value_after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    fn clip_args(renditions: Option<Renditions<'_>>) -> Vec<String> {
        build_args(
            &test_config(),
            &assets(),
            &MediaSource::from(Path::new("/job/in.mp4")),
            Path::new("/job/clip.mp4"),
            renditions,
        )
    }

    #[test]
    fn only_the_upload_and_the_logo_are_decoded() {
        let args = clip_args(None);
        assert_eq!(
            value_after(&args, "-i"),
            ["/job/in.mp4", "/assets/logo.png"]
        );
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
        assert_eq!(args.last().map(String::as_str), Some("/job/clip.mp4"));
    }

    #[test]
    fn the_clip_is_silent_h264_encoded_like_the_bumpers() {
        let mut cfg = test_config();
        cfg.preset = "ultrafast".into();
        cfg.crf = 28;
        let args = build_args(
            &cfg,
            &assets(),
            &MediaSource::from(Path::new("in.mp4")),
            Path::new("clip.mp4"),
            None,
        );
        assert!(args.iter().any(|a| a == "-an"));
        assert_eq!(value_after(&args, "-map"), ["[out]"]);
        assert_eq!(value_after(&args, "-map_metadata"), ["-1"]);
        // Exactly the bumpers' encoder options, in the same order.
        let encode = stitch::encode_args(&cfg);
        let at = args.iter().position(|a| a == "-c:v").unwrap();
        assert_eq!(&args[at..at + encode.len()], encode.as_slice());
        assert_eq!(value_after(&args, "-preset"), ["ultrafast"]);
        assert_eq!(value_after(&args, "-crf"), ["28"]);
    }

    #[test]
    fn threads_bound_the_decoder_the_filters_and_both_encoders() {
        let mut cfg = test_config();
        let paths = RenditionPaths {
            poster: "/job/poster.jpg".into(),
            preview: "/job/preview.mp4".into(),
        };
        let args = |cfg: &MediaConfig| {
            build_args(
                cfg,
                &assets(),
                &MediaSource::from(Path::new("in.mp4")),
                Path::new("clip.mp4"),
                Some(Renditions {
                    paths: &paths,
                    clip_secs: 30.0,
                }),
            )
        };
        // ffmpeg's own choice: no thread options at all.
        let auto = args(&cfg);
        assert!(!auto.iter().any(|a| a.contains("threads")), "{auto:?}");
        cfg.threads = Some(1);
        let one = args(&cfg);
        let at = |flag: &str, after: usize| {
            one.iter()
                .skip(after)
                .position(|a| a == flag)
                .map(|p| p + after)
        };
        let first_input = at("-i", 0).unwrap();
        let global = at("-filter_complex_threads", 0).unwrap();
        assert!(global < first_input && one[global + 1] == "1", "{one:?}");
        // Input option of the upload, output option of the clip and of the preview.
        assert_eq!(value_after(&one, "-threads"), ["1", "1", "1"]);
        let decoder = at("-threads", 0).unwrap();
        assert!(decoder < first_input, "{one:?}");
        let clip_out = one.iter().position(|a| a == "clip.mp4").unwrap();
        let encoder = at("-threads", decoder + 1).unwrap();
        assert!(
            at("-c:v", 0).unwrap() < encoder && encoder < clip_out,
            "{one:?}"
        );
        let preview = at("-threads", encoder + 1).unwrap();
        assert!(clip_out < preview, "{one:?}");
    }

    #[test]
    fn graph_fits_and_watermarks_the_upload() {
        let graph = filter_graph(None);
        let chain = graph.split(';').next().unwrap();
        assert!(chain.starts_with("[0:v]"), "{chain}");
        for part in [
            "fps=30",
            "scale=1280:720:force_original_aspect_ratio=decrease",
            "pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=black",
            "setsar=1",
        ] {
            assert!(chain.contains(part), "{chain} lacks {part}");
        }
        assert!(
            graph.ends_with("[main][logo]overlay=W-w-24:H-h-24[out]"),
            "{graph}"
        );
    }

    #[test]
    fn renditions_hang_off_the_watermarked_clip_from_its_start() {
        let paths = RenditionPaths {
            poster: "/job/poster.jpg".into(),
            preview: "/job/preview.mp4".into(),
        };
        let args = clip_args(Some(Renditions {
            paths: &paths,
            clip_secs: 45.0,
        }));
        let graph = &value_after(&args, "-filter_complex")[0];
        assert!(
            graph.contains("overlay=W-w-24:H-h-24,split=2[out][clip_renditions]"),
            "{graph}"
        );
        // The clip is the whole stream, cut to 30 s.
        assert!(graph.contains("trim=start=0.200:end=29.800"), "{graph}");
        assert_eq!(
            value_after(&args, "-map"),
            ["[out]", "[poster]", "[preview]"]
        );
        let plain = clip_args(None);
        let graph_at = args.iter().position(|a| a == "-filter_complex").unwrap() + 1;
        for (i, (a, b)) in args.iter().zip(&plain).enumerate() {
            assert!(i == graph_at || a == b, "argument {i}: {a} vs {b}");
        }
        assert_eq!(args.last().map(String::as_str), Some("/job/preview.mp4"));
    }

    #[test]
    fn intermediates_sit_next_to_the_output() {
        let (clip, list) = intermediates(Path::new("/job/output.mp4"));
        assert_eq!(clip, Path::new("/job/output.mp4.clip.mp4"));
        assert_eq!(list, Path::new("/job/output.mp4.join.txt"));
    }

    #[test]
    fn progress_is_a_clamped_percentage() {
        assert_eq!(percent(17.25, 34.5), 50.0);
        assert_eq!(percent(40.0, 34.5), 100.0);
        assert_eq!(percent(-1.0, 34.5), 0.0);
        assert_eq!(percent(3.0, 0.0), 0.0);
    }
}
