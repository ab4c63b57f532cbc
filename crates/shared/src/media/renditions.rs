//! The poster and the hover preview of a video, cut from the player's clip inside the
//! pipeline's one ffmpeg run (no second decode).
//!
//! This module only knows a labelled video stream and where the player's clip sits in
//! it ([`ClipWindow`]); [`super::pipeline`] decides which stream that is. Today it is the
//! concatenated output, with the clip starting after the intro: a branch split off the
//! clip *before* `concat` makes ffmpeg 5.1 decode the clip far ahead of the intro and
//! queue every frame in front of `concat` (1.5 GB resident for a 30 s clip, measured),
//! because an output that has not produced a frame yet is always served first. Once the
//! bumpers are joined by stream copy the clip is the whole stream and the window starts
//! at 0; nothing here changes.
//!
//! - **Poster**: [`POSTER_WIDTH`]x[`POSTER_HEIGHT`] JPEG. The clip is sampled at
//!   [`POSTER_SAMPLE_FPS`], scaled down, and ffmpeg's `thumbnail` filter picks the frame
//!   whose colour histogram is closest to the average of up to [`POSTER_CANDIDATES`]
//!   samples: a representative frame, not a fade-in, a flash or a black frame. It is
//!   taken after the logo overlay, so the poster is a frame of the video that plays.
//! - **Preview**: [`PREVIEW_SECS`] of the middle of the clip, 640x360, silent H.264 MP4
//!   with `+faststart` (plays in a muted, looping `<video>` everywhere), its bit rate
//!   capped so the file stays under [`PREVIEW_MAX_BYTES`] whatever the picture.

use std::path::{Path, PathBuf};

/// Width of the poster and the preview.
pub const POSTER_WIDTH: u32 = 640;
/// Height of the poster and the preview (16:9, like the processed video).
pub const POSTER_HEIGHT: u32 = 360;
/// Frames per second of the clip considered for the poster.
pub const POSTER_SAMPLE_FPS: u32 = 2;
/// Most samples the `thumbnail` filter compares (30 s at 2 fps: the whole clip). It holds
/// them all in memory: 60 frames of 640x360 are about 20 MB.
pub const POSTER_CANDIDATES: u32 = 60;
/// Longest preview, seconds.
pub const PREVIEW_SECS: f64 = 3.0;
/// Largest preview file the bit-rate cap allows (with room for the MP4 index).
pub const PREVIEW_MAX_BYTES: u64 = 500 * 1000;
/// Preview bit-rate cap, kbit/s: with a VBV buffer of the same size, 3 s can hold at most
/// (3 + 1) s · 800 kbit/s = 400 kB of video.
const PREVIEW_MAXRATE_KBPS: u32 = 800;
/// Margin kept from both ends of the clip when choosing the poster, seconds.
const EDGE_GUARD_SECS: f64 = 0.2;
/// Label of the poster's output pad in the filter graph.
pub const POSTER_PAD: &str = "poster";
/// Label of the preview's output pad in the filter graph.
pub const PREVIEW_PAD: &str = "preview";

/// Where the player's clip sits in the stream the renditions are cut from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipWindow {
    /// Time of the clip's first frame in that stream, seconds.
    pub start_secs: f64,
    /// Length of the clip, seconds.
    pub secs: f64,
}

impl ClipWindow {
    /// When the preview starts, in the stream's time: the middle [`PREVIEW_SECS`] of the
    /// clip (the set-up at the start and the walk-off at the end are the least telling).
    pub fn preview_start(&self) -> f64 {
        self.start_secs + ((self.secs - PREVIEW_SECS) / 2.0).max(0.0)
    }

    /// Length of the preview: [`PREVIEW_SECS`], or the whole clip when shorter.
    pub fn preview_secs(&self) -> f64 {
        self.secs.clamp(0.0, PREVIEW_SECS)
    }
}

/// Files the renditions are written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionPaths {
    /// The poster (JPEG).
    pub poster: PathBuf,
    /// The preview (MP4).
    pub preview: PathBuf,
}

/// Filter chains that read the pad `[input]` (a 16:9 stream at the output frame rate, in
/// which the clip occupies `clip`) and end in `[poster]` and `[preview]`.
pub fn filter_chains(input: &str, clip: ClipWindow) -> String {
    let (w, h) = (POSTER_WIDTH, POSTER_HEIGHT);
    let secs = |s: f64| format!("{s:.3}");
    // The poster window stays a little inside the clip: one frame more or less of
    // bumper (rounding of the bumper's length to whole frames) can never be a candidate.
    let poster_start = clip.start_secs + EDGE_GUARD_SECS;
    let poster_end = (clip.start_secs + clip.secs - EDGE_GUARD_SECS).max(poster_start);
    let preview_start = clip.preview_start();
    let preview_end = preview_start + clip.preview_secs();
    [
        format!("[{input}]split=3[poster_first][poster_src][preview_src]"),
        // ffmpeg 5.1 prints no progress until every output has written its header, and
        // `thumbnail` gives its frame only at the end: the poster output first gets the
        // clip's first frame, which the chosen one then overwrites (`-update 1`).
        format!("[poster_first]trim=end_frame=1,scale={w}:{h}[poster_early]"),
        // Sampling first keeps the scale and the histograms to 2 frames a second.
        format!(
            "[poster_src]trim=start={}:end={},fps={POSTER_SAMPLE_FPS},scale={w}:{h},\
             thumbnail=n={POSTER_CANDIDATES}[poster_best]",
            secs(poster_start),
            secs(poster_end)
        ),
        format!("[poster_early][poster_best]concat=n=2:v=1:a=0[{POSTER_PAD}]"),
        // `trim` drops frames outside the window before they are scaled.
        format!(
            "[preview_src]trim=start={}:end={},setpts=PTS-STARTPTS,scale={w}:{h}[{PREVIEW_PAD}]",
            secs(preview_start),
            secs(preview_end)
        ),
    ]
    .join(";")
}

/// Output options for the two pads of [`filter_chains`], to append after the main output;
/// the preview's encoder gets `threads` ([`crate::config::MediaConfig::threads`]).
pub fn output_args(paths: &RenditionPaths, threads: Option<u32>) -> Vec<String> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let rate = format!("{PREVIEW_MAXRATE_KBPS}k");
    let mut args: Vec<String> = [
        "-map",
        &format!("[{POSTER_PAD}]"),
        // Both frames reach the file as they come: a constant-rate output would drop the
        // chosen frame as too far from the placeholder.
        "-fps_mode",
        "passthrough",
        "-map_metadata",
        "-1",
        "-c:v",
        "mjpeg",
        // JPEG quality scale 2 (best) – 31; 3 is visually clean at about 30–60 kB.
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    args.push(path(&paths.poster));
    args.extend(
        [
            "-map",
            &format!("[{PREVIEW_PAD}]"),
            "-an",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-c:v",
            "libx264",
            // A 3 s, 640x360 encode: the fast presets cost little and keep it small.
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-maxrate",
            &rate,
            "-bufsize",
            &rate,
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ]
        .iter()
        .map(|a| (*a).to_owned()),
    );
    args.extend(super::pipeline::thread_args("-threads", threads));
    args.extend(["-f".to_owned(), "mp4".to_owned(), path(&paths.preview)]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn preview_is_the_middle_of_the_clip_and_never_longer_than_3_s() {
        let clip = ClipWindow {
            start_secs: 2.5,
            secs: 30.0,
        };
        assert_eq!(clip.preview_start(), 2.5 + 13.5);
        assert_eq!(clip.preview_secs(), 3.0);
        let short = ClipWindow {
            start_secs: 0.0,
            secs: 2.0,
        };
        assert_eq!(short.preview_start(), 0.0);
        assert_eq!(short.preview_secs(), 2.0);
    }

    #[test]
    fn chains_cut_only_the_clip_window() {
        let graph = filter_chains(
            "out",
            ClipWindow {
                start_secs: 2.5,
                secs: 30.0,
            },
        );
        assert!(graph.starts_with("[out]split=3"), "{graph}");
        assert!(
            graph.contains("[poster_early][poster_best]concat=n=2:v=1:a=0[poster]"),
            "{graph}"
        );
        assert!(
            graph.contains("trim=start=2.700:end=32.300,fps=2,scale=640:360"),
            "{graph}"
        );
        assert!(graph.contains("thumbnail=n=60[poster_best]"), "{graph}");
        assert!(
            graph.contains("trim=start=16.000:end=19.000,setpts=PTS-STARTPTS,scale=640:360"),
            "{graph}"
        );
        assert!(graph.ends_with("[preview]"), "{graph}");
    }

    #[test]
    fn poster_is_one_jpeg_and_preview_a_silent_capped_mp4() {
        let args = output_args(
            &RenditionPaths {
                poster: "/job/poster.jpg".into(),
                preview: "/job/preview.mp4".into(),
            },
            Some(1),
        );
        assert_eq!(value_after(&args, "-map"), ["[poster]", "[preview]"]);
        // The placeholder frame is overwritten by the chosen one: no frame limit.
        assert!(value_after(&args, "-frames:v").is_empty());
        assert_eq!(value_after(&args, "-update"), ["1"]);
        assert_eq!(value_after(&args, "-fps_mode"), ["passthrough"]);
        assert_eq!(value_after(&args, "-c:v"), ["mjpeg", "libx264"]);
        assert!(args.iter().any(|a| a == "-an"));
        assert_eq!(value_after(&args, "-maxrate"), ["800k"]);
        assert_eq!(value_after(&args, "-bufsize"), ["800k"]);
        assert_eq!(value_after(&args, "-movflags"), ["+faststart"]);
        assert_eq!(value_after(&args, "-threads"), ["1"]);
        let poster = args.iter().position(|a| a == "/job/poster.jpg").unwrap();
        let preview = args.iter().position(|a| a == "/job/preview.mp4").unwrap();
        assert!(poster < preview && preview == args.len() - 1);
    }
}
