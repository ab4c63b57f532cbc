//! Phone-like test clips: what a phone records, for the media benchmarks (see
//! [`PhoneClip`]).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use super::{GENERATE_TIMEOUT, cache_dir};
use crate::media::{MediaError, assets::render_once};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::MediaConfig,
        media::{ffmpeg, ffprobe},
    };

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
            threads: None,
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
}
