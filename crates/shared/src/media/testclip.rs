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

mod phone;

pub use phone::{
    Orientation, PHONE_MAXRATE, PHONE_VIDEO_BITRATE, PhoneClip, cached_phone, generate_phone,
};

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
