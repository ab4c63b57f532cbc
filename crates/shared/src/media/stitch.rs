//! Bumpers joined by stream copy: the intro and outro are encoded once per asset
//! version with exactly the parameters a job encodes the player's clip with, and each
//! processed video is `intro + clip + outro` concatenated without re-encoding. A job
//! decodes and encodes only the player's frames.
//!
//! What makes the parts joinable:
//!
//! - **identical parameter sets**: x264's `stitchable` option stops it from tuning the
//!   SPS/PPS to the content (it fixes the initial quantiser, among others), and every part
//!   gets the same preset, CRF, frame size, frame rate, pixel format, colour description
//!   and time base, so the three `avcC` records are byte for byte the same. A job checks
//!   this (the SHA-256 of the clip's parameter sets against the bumpers', [`params_hash`])
//!   before it joins; a mismatch falls back to the one-pass render;
//! - **every part starts with an IDR frame** (each is its own encode), so decoding can
//!   start at each join and nothing before it is referenced;
//! - **one time base** ([`TRACK_TIMESCALE`]), so the concat demuxer's offsets are whole
//!   ticks and the frame timestamps run on at 1/30 s across each join.
//!
//! The encoded bumpers live in `MEDIA_ASSETS_DIR/joints/`, named by a hash of the source
//! file's bytes, the encoding arguments and the FFmpeg version: changing any of them
//! (a new intro, another CRF, an ffmpeg upgrade) makes a new file, never a stale one.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{
    MediaError, assets, ffmpeg,
    pipeline::{OUTPUT_FPS, OUTPUT_HEIGHT, OUTPUT_WIDTH},
};
use crate::config::MediaConfig;

/// MP4 time base of every part: 512 ticks per frame at [`OUTPUT_FPS`] (ffmpeg's own
/// choice for 30 fps), pinned so bumpers and clips agree whatever ffmpeg would pick.
pub const TRACK_TIMESCALE: u32 = OUTPUT_FPS * 512;

/// Colour description written into every part: HD video is BT.709, and the parts must
/// say the same thing for their parameter sets to match.
const COLOR: &str = "bt709";

/// Sub-directory of `MEDIA_ASSETS_DIR` holding the encoded bumpers.
const JOINTS_DIR: &str = "joints";

/// Filter chain fitting the stream `[input]` into the output frame as `[label]`:
/// constant frame rate (before scaling, so a 60 fps upload scales half the frames),
/// scaled until it touches the frame without distortion, centred with black bars,
/// square pixels, 4:2:0, tagged BT.709 TV range.
pub fn fit(input: &str, label: &str) -> String {
    let (w, h) = (OUTPUT_WIDTH, OUTPUT_HEIGHT);
    format!(
        "[{input}]setpts=PTS-STARTPTS,fps={OUTPUT_FPS},\
         scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
         pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p,\
         setparams=range=tv:color_primaries={COLOR}:color_trc={COLOR}:colorspace={COLOR}[{label}]"
    )
}

/// Output options keeping only the video of `[out]`: no audio, no subtitle or data
/// tracks, no metadata or chapters (phones put GPS positions and device names there).
pub fn video_only() -> Vec<String> {
    [
        "-map",
        "[out]",
        "-an",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect()
}

/// Encoder options shared by every part of a processed video (bumpers and clips).
pub fn encode_args(cfg: &MediaConfig) -> Vec<String> {
    [
        "-c:v",
        "libx264",
        "-preset",
        &cfg.preset,
        "-crf",
        &cfg.crf.to_string(),
        "-pix_fmt",
        "yuv420p",
        "-x264-params",
        "stitchable=1",
        "-color_range",
        "tv",
        "-color_primaries",
        COLOR,
        "-color_trc",
        COLOR,
        "-colorspace",
        COLOR,
        "-video_track_timescale",
        &TRACK_TIMESCALE.to_string(),
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect()
}

/// A bumper encoded for joining.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    /// The encoded file.
    pub path: PathBuf,
    /// Its length as probed (whole frames), seconds.
    pub secs: f64,
}

/// Encodes `bumper` (its first `secs`) for joining, once: later calls with the same
/// bytes, settings and ffmpeg find the file and only probe it.
pub async fn prepare(
    cfg: &MediaConfig,
    bumper: &Path,
    secs: f64,
    name: &str,
) -> Result<Joint, MediaError> {
    let args = |output: &Path| {
        let mut args: Vec<String> = vec![
            "-y".into(),
            "-nostdin".into(),
            "-t".into(),
            format!("{secs:.3}"),
            "-i".into(),
            bumper.to_string_lossy().into_owned(),
            "-filter_complex".into(),
            fit("0:v", "out"),
        ];
        args.extend(video_only());
        args.extend(encode_args(cfg));
        // The input cut alone can overshoot by a frame: `fps` repeats a slower source's
        // last frame for its whole duration.
        args.extend([
            "-t".into(),
            format!("{secs:.3}"),
            "-f".into(),
            "mp4".into(),
            output.to_string_lossy().into_owned(),
        ]);
        args
    };
    let key = cache_key(cfg, bumper, &args(Path::new("-"))).await?;
    let dest = cfg
        .assets_dir
        .join(JOINTS_DIR)
        .join(format!("{name}-{key}.mp4"));
    let path = assets::render_once(&cfg.ffmpeg_path, &dest, cfg.job_timeout, args).await?;
    let secs = super::ffprobe::probe(cfg, &path).await?.duration_secs;
    Ok(Joint { path, secs })
}

/// First 16 hex digits of SHA-256 over the FFmpeg version line, the arguments and the
/// bumper's bytes.
async fn cache_key(
    cfg: &MediaConfig,
    bumper: &Path,
    args: &[String],
) -> Result<String, MediaError> {
    // ffprobe's version line names the FFmpeg build (ffmpeg and ffprobe ship together);
    // asking ffprobe keeps a start-up with existing joints free of ffmpeg runs.
    let version = ffmpeg::capture(&cfg.ffprobe_path, &["-version"], cfg.probe_timeout).await?;
    let mut hash = Sha256::new();
    hash.update(version.split(|b| *b == b'\n').next().unwrap_or_default());
    for arg in args {
        hash.update(arg.as_bytes());
        hash.update([0]);
    }
    let mut file = tokio::fs::File::open(bumper).await?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let digest = hash.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// SHA-256 of the H.264 parameter sets (`avcC`) of the first video stream of `file`, as
/// ffprobe reports it: two parts join cleanly only if theirs are equal.
pub async fn params_hash(cfg: &MediaConfig, file: &Path) -> Result<String, MediaError> {
    let args = [
        "-v".as_ref(),
        "error".as_ref(),
        "-show_data_hash".as_ref(),
        "sha256".as_ref(),
        "-select_streams".as_ref(),
        "v:0".as_ref(),
        "-show_entries".as_ref(),
        "stream=extradata_hash".as_ref(),
        "-of".as_ref(),
        "default=noprint_wrappers=1:nokey=1".as_ref(),
        file.as_os_str(),
    ];
    let out = ffmpeg::capture(&cfg.ffprobe_path, &args, cfg.probe_timeout).await?;
    let hash = String::from_utf8_lossy(&out).trim().to_owned();
    if hash.is_empty() {
        return Err(MediaError::InvalidInput(
            "the encoded part has no H.264 parameter sets".into(),
        ));
    }
    Ok(hash)
}

/// The concat demuxer's list of `parts`, in order. Paths are quoted; one that holds a
/// line break cannot be written in the list and is refused.
pub fn concat_list(parts: &[&Path]) -> Result<String, MediaError> {
    let mut list = String::from("ffconcat version 1.0\n");
    for part in parts {
        let path = part.to_string_lossy();
        if path.contains(['\n', '\r']) {
            return Err(MediaError::InvalidInput(
                "a media path contains a line break".into(),
            ));
        }
        // Inside single quotes only the quote itself needs escaping: close, escaped
        // quote, reopen.
        list.push_str(&format!("file '{}'\n", path.replace('\'', r"'\''")));
    }
    Ok(list)
}

/// Arguments of the joining run: the parts listed in `list`, copied (not re-encoded)
/// into `output` with its index first (`+faststart`).
pub fn join_args(list: &Path, output: &Path) -> Vec<String> {
    [
        "-y",
        "-nostdin",
        "-f",
        "concat",
        // The list holds absolute paths of our own files (temp dir and assets).
        "-safe",
        "0",
        "-protocol_whitelist",
        "file",
        "-i",
        &list.to_string_lossy(),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        &output.to_string_lossy(),
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_quotes_paths_and_refuses_line_breaks() {
        let list =
            concat_list(&[Path::new("/a/intro.mp4"), Path::new("/tmp/it's/clip.mp4")]).unwrap();
        assert_eq!(
            list,
            "ffconcat version 1.0\nfile '/a/intro.mp4'\nfile '/tmp/it'\\''s/clip.mp4'\n"
        );
        assert!(concat_list(&[Path::new("/a/b\nfile '/etc/passwd'")]).is_err());
    }

    #[test]
    fn every_part_is_tagged_and_timed_alike() {
        let chain = fit("1:v", "main");
        assert!(
            chain.starts_with("[1:v]setpts=PTS-STARTPTS,fps=30,"),
            "{chain}"
        );
        assert!(chain.contains("colorspace=bt709[main]"), "{chain}");
        let cfg = crate::media::test_config();
        let args = encode_args(&cfg);
        let joined = args.join(" ");
        assert!(joined.contains("-x264-params stitchable=1"), "{joined}");
        assert!(joined.contains("-video_track_timescale 15360"), "{joined}");
    }

    #[test]
    fn joining_copies_the_video_only() {
        let args = join_args(Path::new("/job/list.txt"), Path::new("/job/out.mp4"));
        let joined = args.join(" ");
        assert!(joined.contains("-f concat -safe 0 -protocol_whitelist file -i /job/list.txt"));
        assert!(joined.contains("-map 0:v:0 -c copy"));
        assert!(joined.ends_with("-movflags +faststart -f mp4 /job/out.mp4"));
    }
}
