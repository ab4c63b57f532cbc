//! Real MP4 clips generated with ffmpeg for tests and benchmarks (of this crate and of
//! the web and worker crates), cached on disk so a suite pays for each clip once.
//!
//! Two kinds:
//!
//! * quick clips ([`generate`], [`cached`]): a moving `testsrc2` pattern (plus a sine tone
//!   when asked), encoded with x264 `ultrafast` at [`CLIP_FPS`] to stay quick on a small CI
//!   machine. They compress to almost nothing and decode several times faster than real
//!   footage, so they say nothing about the cost of processing;
//! * phone-like clips ([`generate_phone`], [`cached_phone`]): what a phone records, for the
//!   media benchmarks — sensor-like temporal noise, H.264 High at ~14 Mbit/s, AAC, 30 or
//!   60 fps, landscape or portrait. See [`PhoneClip`].

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::io::AsyncWriteExt;

use super::{MediaError, assets::render_once};

/// Directory where test suites cache generated clips: `SKILLREEL_TEST_CACHE`, else
/// `<temp dir>/skillreel-test-media` (created when missing).
pub fn cache_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::var_os("SKILLREEL_TEST_CACHE")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || std::env::temp_dir().join("skillreel-test-media"),
            PathBuf::from,
        );
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A cached clip with audio, made with the `ffmpeg` on `PATH`, in [`cache_dir`].
pub async fn cached(width: u32, height: u32, secs: f64) -> Result<PathBuf, MediaError> {
    let spec = ClipSpec {
        width,
        height,
        secs,
        audio: true,
    };
    generate(Path::new("ffmpeg"), &spec, &cache_dir()?).await
}

/// Frame rate of generated clips; low, because generation time matters more than motion.
pub const CLIP_FPS: u32 = 15;

/// Limit for generating one clip (a 60 s 1080p clip takes well under a minute).
const GENERATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Largest `free` box written by [`generate_sized`]; box sizes are 32-bit.
const MAX_PADDING_BOX: u64 = 1 << 30;

/// What clip to make.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSpec {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Duration in seconds.
    pub secs: f64,
    /// Whether to add an AAC sine-tone track.
    pub audio: bool,
}

impl ClipSpec {
    fn file_name(&self) -> String {
        let millis = (self.secs * 1000.0).round() as u64;
        let audio = if self.audio { "av" } else { "v" };
        format!("clip-{}x{}-{millis}ms-{audio}.mp4", self.width, self.height)
    }
}

/// Makes (or reuses from `dir`) an H.264 MP4 matching `spec`.
pub async fn generate(ffmpeg: &Path, spec: &ClipSpec, dir: &Path) -> Result<PathBuf, MediaError> {
    let secs = format!("{:.3}", spec.secs);
    let mut args: Vec<String> = vec![
        "-y".into(),
        "-nostdin".into(),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
    ];
    args.push(format!(
        "testsrc2=size={}x{}:rate={CLIP_FPS}:duration={secs}",
        spec.width, spec.height
    ));
    if spec.audio {
        args.extend(["-f".into(), "lavfi".into(), "-i".into()]);
        args.push(format!(
            "sine=frequency=440:sample_rate=48000:duration={secs}"
        ));
        args.extend([
            "-map".into(),
            "1:a".into(),
            "-c:a".into(),
            "aac".into(),
            "-b:a".into(),
            "96k".into(),
        ]);
    }
    let video = [
        "-map",
        "0:v",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "38",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
    ];
    args.extend(video.iter().map(|a| (*a).to_owned()));
    render_once(
        ffmpeg,
        &dir.join(spec.file_name()),
        GENERATE_TIMEOUT,
        |tmp| {
            args.push(tmp.to_string_lossy().into_owned());
            args
        },
    )
    .await
}

/// A cached, silent clip of one solid colour at any size and frame rate, made with the
/// `ffmpeg` on `PATH` in [`cache_dir`]: a solid picture compresses to almost nothing,
/// so clips that are huge in pixels or frames (to test the upload bounds) stay small
/// and quick to make.
pub async fn cached_solid(
    width: u32,
    height: u32,
    fps: u32,
    secs: f64,
) -> Result<PathBuf, MediaError> {
    let millis = (secs * 1000.0).round() as u64;
    let dest = cache_dir()?.join(format!("solid-{width}x{height}-{fps}fps-{millis}ms.mp4"));
    let source = format!("color=c=0x336699:s={width}x{height}:r={fps}:d={secs:.3}");
    let args = [
        "-y",
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        &source,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        // One thread keeps x264's memory for an 8192x8192 frame near 1 GB.
        "-threads",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
    ];
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    render_once(Path::new("ffmpeg"), &dest, GENERATE_TIMEOUT, |tmp| {
        args.push(tmp.to_string_lossy().into_owned());
        args
    })
    .await
}

/// Makes (or reuses from `dir`) a valid 1920x1080, 30 s MP4 (with audio) of exactly
/// `target_bytes` bytes, or of the base clip's size when that is larger (about 10 MB).
///
/// The size comes from top-level `free` boxes appended after the real clip: players and
/// ffprobe skip them, so the file stays a valid upload, and making 100 MB takes as long as
/// writing 100 MB — much quicker than encoding that much noise.
pub async fn generate_sized(
    ffmpeg: &Path,
    target_bytes: u64,
    dir: &Path,
) -> Result<PathBuf, MediaError> {
    let dest = dir.join(format!("sized-{target_bytes}.mp4"));
    if tokio::fs::metadata(&dest).await.is_ok_and(|m| m.len() > 0) {
        return Ok(dest);
    }
    let base_spec = ClipSpec {
        width: 1920,
        height: 1080,
        secs: 30.0,
        audio: true,
    };
    let base = generate(ffmpeg, &base_spec, dir).await?;
    let tmp = dir.join(format!(
        ".sized-{target_bytes}.{}.partial",
        uuid::Uuid::new_v4().simple()
    ));
    let result = write_padded(&base, &tmp, target_bytes).await;
    match result {
        Ok(()) => tokio::fs::rename(&tmp, &dest).await?,
        Err(err) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(err);
        }
    }
    Ok(dest)
}

/// Copies `base` to `dest` and appends `free` boxes up to `target_bytes` (a remainder too
/// small for a box header, under 8 bytes, is left out).
/// Orientation a phone was held in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// 1920x1080 coded and shown.
    Landscape,
    /// Shown as 1080x1920 but stored as phones do: 1920x1080 coded, with a 90° rotation
    /// in the display matrix, which ffmpeg applies while decoding.
    Portrait,
}

/// A phone-like clip: `testsrc2` at 1920x1080 through `noise=alls=12:allf=t` (noise that
/// changes every frame, as a sensor's does, so the encoder cannot coast on a static
/// pattern), encoded as a phone's hardware encoder does: H.264 High, no B-frames, a
/// keyframe every second, [`PHONE_VIDEO_BITRATE`] average capped at [`PHONE_MAXRATE`],
/// plus a stereo 48 kHz AAC track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneClip {
    /// How the phone was held.
    pub orientation: Orientation,
    /// Frames per second (phones record 30 or 60).
    pub fps: u32,
    /// Duration in whole seconds.
    pub secs: u32,
}

/// Average video bitrate of [`PhoneClip`]s, bits/s (phones record 1080p30 at 12–17 Mbit/s).
pub const PHONE_VIDEO_BITRATE: u32 = 14_000_000;
/// Highest video bitrate of [`PhoneClip`]s over one second, bits/s.
pub const PHONE_MAXRATE: u32 = 17_000_000;
/// Limit for generating one phone clip: on a small, busy machine the noise and the
/// encode run at about realtime, and a 60 s 60 fps clip is twice the work of realtime.
const PHONE_GENERATE_TIMEOUT: Duration = Duration::from_secs(1800);

impl PhoneClip {
    /// A 30 fps landscape clip of `secs` seconds.
    pub fn landscape(secs: u32) -> Self {
        Self {
            orientation: Orientation::Landscape,
            fps: 30,
            secs,
        }
    }

    /// A 30 fps portrait clip of `secs` seconds.
    pub fn portrait(secs: u32) -> Self {
        Self {
            orientation: Orientation::Portrait,
            ..Self::landscape(secs)
        }
    }

    /// The same clip at `fps` frames per second.
    pub fn at_fps(self, fps: u32) -> Self {
        Self { fps, ..self }
    }

    /// The file name in the cache; `v1` changes whenever the encoding does, so a clip
    /// made by an older generator is never reused.
    fn file_name(&self) -> String {
        let turn = match self.orientation {
            Orientation::Landscape => "",
            Orientation::Portrait => "-rot90",
        };
        format!(
            "phone-v1-1920x1080{turn}-{}fps-{}s.mp4",
            self.fps, self.secs
        )
    }

    /// The arguments encoding the landscape clip into `out` (without the program).
    fn encode_args(&self, out: &Path) -> Vec<String> {
        let (fps, secs) = (self.fps, self.secs);
        let video =
            format!("testsrc2=size=1920x1080:rate={fps}:duration={secs},noise=alls=12:allf=t");
        let audio = format!("sine=frequency=440:sample_rate=48000:duration={secs}");
        let (bitrate, maxrate) = (PHONE_VIDEO_BITRATE.to_string(), PHONE_MAXRATE.to_string());
        let gop = fps.to_string();
        let args = [
            "-y",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            &video,
            "-f",
            "lavfi",
            "-i",
            &audio,
            "-map",
            "0:v",
            "-c:v",
            "libx264",
            // CABAC and the 8x8 transform (High profile) like a phone's encoder; no
            // B-frames and a fixed one-second GOP, as phones write.
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-bf",
            "0",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            // A one-second buffer keeps every second near the cap, as a hardware
            // encoder's rate control does.
            "-b:v",
            &bitrate,
            "-maxrate",
            &maxrate,
            "-bufsize",
            &maxrate,
            "-pix_fmt",
            "yuv420p",
            "-map",
            "1:a",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push(out.to_string_lossy().into_owned());
        args
    }
}

/// Makes (or reuses from `dir`) the phone-like clip `spec`. Slow: about realtime on a
/// small machine (a 45 s clip takes a minute), so callers keep `dir` between runs.
///
/// A portrait clip is its landscape twin (made first, and kept) remuxed with a 90°
/// display rotation: ffmpeg 5.1 writes the rotation from the `rotate` stream tag only
/// when the stream is copied, not when it is encoded.
pub async fn generate_phone(
    ffmpeg: &Path,
    spec: &PhoneClip,
    dir: &Path,
) -> Result<PathBuf, MediaError> {
    let landscape = PhoneClip {
        orientation: Orientation::Landscape,
        ..*spec
    };
    let coded = render_once(
        ffmpeg,
        &dir.join(landscape.file_name()),
        PHONE_GENERATE_TIMEOUT,
        |tmp| landscape.encode_args(tmp),
    )
    .await?;
    if spec.orientation == Orientation::Landscape {
        return Ok(coded);
    }
    let coded = coded.to_string_lossy().into_owned();
    render_once(
        ffmpeg,
        &dir.join(spec.file_name()),
        GENERATE_TIMEOUT,
        |tmp| {
            let args = [
                "-y",
                "-nostdin",
                "-i",
                &coded,
                "-map",
                "0",
                "-c",
                "copy",
                "-metadata:s:v:0",
                "rotate=90",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
            ];
            let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            args.push(tmp.to_string_lossy().into_owned());
            args
        },
    )
    .await
}

/// A cached phone-like clip (see [`generate_phone`]), made with the `ffmpeg` on `PATH`
/// in [`cache_dir`].
pub async fn cached_phone(spec: &PhoneClip) -> Result<PathBuf, MediaError> {
    generate_phone(Path::new("ffmpeg"), spec, &cache_dir()?).await
}

async fn write_padded(base: &Path, dest: &Path, target_bytes: u64) -> Result<(), MediaError> {
    let base_len = tokio::fs::copy(base, dest).await?;
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(dest)
        .await?;
    let zeros = vec![0u8; 1 << 20];
    let mut missing = target_bytes.saturating_sub(base_len);
    while missing >= 8 {
        let box_len = missing.min(MAX_PADDING_BOX);
        let header_len = u32::try_from(box_len).expect("box length is capped at 1 GiB");
        file.write_all(&header_len.to_be_bytes()).await?;
        file.write_all(b"free").await?;
        let mut body = box_len - 8;
        while body > 0 {
            let chunk = body.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..chunk]).await?;
            body -= chunk as u64;
        }
        missing -= box_len;
    }
    file.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::MediaConfig,
        media::{ffmpeg, ffprobe},
    };

    #[test]
    fn file_names_identify_the_spec() {
        let spec = ClipSpec {
            width: 1920,
            height: 1080,
            secs: 45.0,
            audio: true,
        };
        assert_eq!(spec.file_name(), "clip-1920x1080-45000ms-av.mp4");
        let silent = ClipSpec {
            audio: false,
            secs: 2.5,
            ..spec
        };
        assert_eq!(silent.file_name(), "clip-1920x1080-2500ms-v.mp4");
    }

    #[test]
    fn phone_clip_names_identify_the_spec() {
        assert_eq!(
            PhoneClip::landscape(45).file_name(),
            "phone-v1-1920x1080-30fps-45s.mp4"
        );
        assert_eq!(
            PhoneClip::portrait(60).at_fps(60).file_name(),
            "phone-v1-1920x1080-rot90-60fps-60s.mp4"
        );
    }

    fn media_config() -> MediaConfig {
        MediaConfig {
            ffmpeg_path: "ffmpeg".into(),
            ffprobe_path: "ffprobe".into(),
            assets_dir: std::env::temp_dir(),
            logo_path: None,
            intro_path: None,
            outro_path: None,
            preset: "veryfast".into(),
            crf: 23,
            max_output_secs: 30.0,
            probe_timeout: Duration::from_secs(30),
            job_timeout: Duration::from_secs(900),
            temp_dir: std::env::temp_dir(),
        }
    }

    /// What ffprobe says of the video stream beyond the pipeline's own probe: profile,
    /// average bitrate (bits/s), B-frames, and the times of its keyframes.
    async fn video_facts(path: &Path) -> (String, f64, u64, Vec<f64>) {
        let ffprobe = |entries: &'static str| {
            let args = [
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                entries,
                "-of",
                "json",
            ]
            .map(std::ffi::OsString::from);
            let mut args = args.to_vec();
            args.push(path.as_os_str().to_owned());
            async move {
                let out = ffmpeg::capture(Path::new("ffprobe"), &args, Duration::from_secs(60))
                    .await
                    .expect("ffprobe");
                serde_json::from_slice::<serde_json::Value>(&out).expect("ffprobe JSON")
            }
        };
        let stream = &ffprobe("stream=profile,bit_rate,has_b_frames").await["streams"][0];
        let text = |key: &str| stream[key].as_str().unwrap_or_default().to_owned();
        let packets = ffprobe("packet=pts_time,flags").await;
        let keyframes = packets["packets"]
            .as_array()
            .expect("packets")
            .iter()
            .filter(|p| p["flags"].as_str().is_some_and(|f| f.starts_with('K')))
            .map(|p| text_f64(&p["pts_time"]))
            .collect();
        (
            text("profile"),
            text_f64(&stream["bit_rate"]),
            stream["has_b_frames"].as_u64().expect("has_b_frames"),
            keyframes,
        )
    }

    fn text_f64(value: &serde_json::Value) -> f64 {
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a number as text")
    }

    /// Short clips made by the same code as the benchmark's 45 s ones (the benchmark
    /// checks the bitrate of its own clip again), probed as the pipeline probes uploads.
    #[tokio::test]
    async fn phone_clips_look_like_a_phone_recording() {
        let cfg = media_config();
        for (spec, display) in [
            (PhoneClip::landscape(4), (1920, 1080)),
            (PhoneClip::portrait(4), (1080, 1920)),
            (PhoneClip::landscape(3).at_fps(60), (1920, 1080)),
        ] {
            let path = cached_phone(&spec).await.expect("generating the clip");
            let info = ffprobe::probe(&cfg, &path).await.expect("probing the clip");
            let video = info.video.as_ref().expect("a video stream");
            assert_eq!(
                (video.codec.as_str(), video.width, video.height),
                ("h264", 1920, 1080),
                "{spec:?} is coded as 1920x1080 H.264"
            );
            assert_eq!(video.display_size(), display, "{spec:?}");
            let turn = if spec.orientation == Orientation::Portrait {
                90
            } else {
                0
            };
            assert_eq!(video.rotation, turn, "{spec:?}");
            assert_eq!(video.fps, Some(f64::from(spec.fps)), "{spec:?}");
            assert!(info.has_audio, "{spec:?} has AAC audio");
            assert!(
                (info.duration_secs - f64::from(spec.secs)).abs() < 0.1,
                "{spec:?} lasts {} s",
                info.duration_secs
            );
            let (profile, bitrate, b_frames, keyframes) = video_facts(&path).await;
            assert_eq!((profile.as_str(), b_frames), ("High", 0), "{spec:?}");
            assert!(
                (12e6..=17e6).contains(&bitrate),
                "{spec:?}: {bitrate} bit/s is outside 12–17 Mbit/s"
            );
            let every_second = keyframes.len() == spec.secs as usize
                && keyframes
                    .iter()
                    .enumerate()
                    .all(|(i, t)| (t - i as f64).abs() < 1e-3);
            assert!(every_second, "{spec:?}: keyframes at {keyframes:?}");
        }
    }

    #[tokio::test]
    async fn padding_reaches_the_target_with_well_formed_boxes() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.bin");
        std::fs::write(&base, [7u8; 100]).unwrap();
        let dest = dir.path().join("padded.bin");
        write_padded(&base, &dest, 3 * 1024 * 1024 + 5)
            .await
            .unwrap();
        let bytes = std::fs::read(&dest).unwrap();
        assert_eq!(bytes.len(), 3 * 1024 * 1024 + 5);
        assert_eq!(&bytes[..100], &[7u8; 100]);
        let size = u32::from_be_bytes(bytes[100..104].try_into().unwrap()) as usize;
        assert_eq!(
            (size, &bytes[104..108]),
            (bytes.len() - 100, b"free".as_slice())
        );
    }
}
