//! The competition's logo and intro/outro bumpers.
//!
//! Each can be replaced by configuration (`LOGO_PATH`, `INTRO_PATH`, `OUTRO_PATH`).
//! Whatever is not replaced is the project's own default, generated with ffmpeg into
//! `MEDIA_ASSETS_DIR` the first time it is needed — no binary assets in the repository
//! and no fonts required:
//!
//! * logo: a [`LOGO_SIZE`] PNG with alpha, an opaque [`LOGO_COLOR`] badge with a white bar,
//!   inside a fully transparent [`LOGO_BORDER`];
//! * intro / outro: 1280x720 H.264 clips of [`MAX_BUMPER_SECS`] in solid [`INTRO_COLOR`] /
//!   [`OUTRO_COLOR`] with the default logo centred.
//!
//! The colours are distinctive on purpose: tests find them by sampling pixels of the
//! processed video. Generation writes to a unique temporary name and renames, so two
//! processes starting at once both end up with complete files.

use std::path::{Path, PathBuf};

use super::{
    MediaError, ffmpeg, ffprobe,
    stitch::{self, Joint},
};
use crate::config::MediaConfig;

/// Brand colour of the default logo badge (orange), RGB.
pub const LOGO_COLOR: [u8; 3] = [0xFF, 0x7A, 0x00];
/// Background colour of the default intro bumper (deep blue), RGB.
pub const INTRO_COLOR: [u8; 3] = [0x1E, 0x3A, 0x8A];
/// Background colour of the default outro bumper (violet), RGB.
pub const OUTRO_COLOR: [u8; 3] = [0x7C, 0x3A, 0xED];
/// Size of the default logo in pixels, transparent border included.
pub const LOGO_SIZE: (u32, u32) = (220, 80);
/// Transparent border around the default logo's badge, pixels.
pub const LOGO_BORDER: u32 = 8;
/// Longest a bumper may play; longer replacements are cut. Two bumpers then add at
/// most 5 s, as the product contract requires. Also the length of the default bumpers.
pub const MAX_BUMPER_SECS: f64 = 2.5;

/// File names of the defaults; the version changes whenever their look changes, so an
/// old generated file is never mistaken for the current one.
const DEFAULT_LOGO: &str = "logo-v1.png";
const DEFAULT_INTRO: &str = "intro-v2.mp4";
const DEFAULT_OUTRO: &str = "outro-v2.mp4";

/// The assets one pipeline run uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Assets {
    /// Watermark image (PNG with alpha).
    pub logo: PathBuf,
    /// Bumper played before the video.
    pub intro: PathBuf,
    /// Bumper played after the video.
    pub outro: PathBuf,
    /// Seconds of the intro that are played (at most [`MAX_BUMPER_SECS`]).
    pub intro_secs: f64,
    /// Seconds of the outro that are played (at most [`MAX_BUMPER_SECS`]).
    pub outro_secs: f64,
    /// The intro encoded like a job's clip, joined to it by stream copy.
    pub intro_joint: Joint,
    /// The outro encoded like a job's clip.
    pub outro_joint: Joint,
    /// SHA-256 of the joints' H.264 parameter sets (equal for both); a clip whose own
    /// differ cannot be joined to them ([`stitch::params_hash`]).
    pub joint_params: String,
}

/// `[r, g, b]` as the `0xRRGGBB` form ffmpeg filters take.
pub fn ffmpeg_color(rgb: [u8; 3]) -> String {
    format!("0x{:02X}{:02X}{:02X}", rgb[0], rgb[1], rgb[2])
}

/// Returns the configured assets, generating the defaults into `cfg.assets_dir` once.
///
/// Replacement files are checked by probing them: the logo must be an image and each
/// bumper a video; their played length is probed too.
pub async fn ensure(cfg: &MediaConfig) -> Result<Assets, MediaError> {
    // The default bumpers show the default logo, so it is made whenever any default is.
    let badge = tokio::sync::OnceCell::new();
    let default_badge = || badge.get_or_try_init(|| default_logo(cfg));
    let logo = match &cfg.logo_path {
        Some(path) => {
            require_video(cfg, path, "logo").await?;
            path.clone()
        }
        None => default_badge().await?.clone(),
    };
    let intro = match &cfg.intro_path {
        Some(path) => path.clone(),
        None => default_bumper(cfg, DEFAULT_INTRO, INTRO_COLOR, default_badge().await?).await?,
    };
    let outro = match &cfg.outro_path {
        Some(path) => path.clone(),
        None => default_bumper(cfg, DEFAULT_OUTRO, OUTRO_COLOR, default_badge().await?).await?,
    };
    let intro_secs = bumper_secs(cfg, &intro, "intro").await?;
    let outro_secs = bumper_secs(cfg, &outro, "outro").await?;
    let intro_joint = stitch::prepare(cfg, &intro, intro_secs, "intro").await?;
    let outro_joint = stitch::prepare(cfg, &outro, outro_secs, "outro").await?;
    let joint_params = stitch::params_hash(cfg, &intro_joint.path).await?;
    let outro_params = stitch::params_hash(cfg, &outro_joint.path).await?;
    if outro_params != joint_params {
        // Same encoder, same options: only a broken ffmpeg gets here. Jobs still work
        // (every clip falls back to the one-pass render), so it is not fatal.
        tracing::warn!(
            intro = %joint_params,
            outro = %outro_params,
            "the encoded bumpers have different parameter sets; every job will render in one pass"
        );
    }
    Ok(Assets {
        logo,
        intro,
        outro,
        // What the viewer sees: the joints' whole frames.
        intro_secs: intro_joint.secs,
        outro_secs: outro_joint.secs,
        intro_joint,
        outro_joint,
        joint_params,
    })
}

async fn require_video(
    cfg: &MediaConfig,
    path: &Path,
    what: &str,
) -> Result<ffprobe::ProbeInfo, MediaError> {
    let info = ffprobe::probe(cfg, path).await?;
    // ffprobe guesses image formats from the extension and then reports a 0x0 stream
    // for a file that is not one: no usable picture either.
    if !info
        .video
        .as_ref()
        .is_some_and(|v| v.width > 0 && v.height > 0)
    {
        return Err(MediaError::InvalidInput(format!(
            "{what} {} has no readable image or video stream",
            path.display()
        )));
    }
    Ok(info)
}

async fn bumper_secs(cfg: &MediaConfig, path: &Path, what: &str) -> Result<f64, MediaError> {
    let secs = require_video(cfg, path, what)
        .await?
        .duration_secs
        .min(MAX_BUMPER_SECS);
    if secs <= 0.0 {
        return Err(MediaError::InvalidInput(format!(
            "{what} {} has no duration",
            path.display()
        )));
    }
    Ok(secs)
}

async fn default_logo(cfg: &MediaConfig) -> Result<PathBuf, MediaError> {
    let (width, height) = LOGO_SIZE;
    let (inner_w, inner_h) = (width - 2 * LOGO_BORDER, height - 2 * LOGO_BORDER);
    let badge = format!(
        "color=c={}:s={inner_w}x{inner_h}:d=1,format=rgba,\
         drawbox=x=16:y={bar_y}:w={bar_w}:h=6:color=white:t=fill,\
         pad={width}:{height}:{LOGO_BORDER}:{LOGO_BORDER}:color=black@0",
        ffmpeg_color(LOGO_COLOR),
        bar_y = inner_h - 12,
        bar_w = inner_w - 32,
    );
    render_once(
        &cfg.ffmpeg_path,
        &cfg.assets_dir.join(DEFAULT_LOGO),
        cfg.job_timeout,
        |tmp| {
            strings(&[
                "-y",
                "-nostdin",
                "-f",
                "lavfi",
                "-i",
                &badge,
                "-frames:v",
                "1",
                "-c:v",
                "png",
            ])
            .into_iter()
            .chain(strings(&["-f", "image2pipe"]))
            .chain([tmp.to_string_lossy().into_owned()])
            .collect()
        },
    )
    .await
}

async fn default_bumper(
    cfg: &MediaConfig,
    name: &str,
    rgb: [u8; 3],
    logo: &Path,
) -> Result<PathBuf, MediaError> {
    let background = format!(
        "color=c={}:s=1280x720:r=30:d={MAX_BUMPER_SECS}",
        ffmpeg_color(rgb)
    );
    let logo = logo.to_string_lossy().into_owned();
    render_once(
        &cfg.ffmpeg_path,
        &cfg.assets_dir.join(name),
        cfg.job_timeout,
        |tmp| {
            let mut args = strings(&[
                "-y",
                "-nostdin",
                "-f",
                "lavfi",
                "-i",
                &background,
                "-i",
                &logo,
            ]);
            args.extend(strings(&[
                "-filter_complex",
                // Composed in RGB, then converted with the BT.709 matrix the processed
                // videos are tagged with, so the colours play back as specified.
                "[0:v]format=rgba[bg];[bg][1:v]overlay=(W-w)/2:(H-h)/2:format=rgb,\
                 scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,\
                 setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709[v]",
                "-map",
                "[v]",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "18",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
            ]));
            args.push(tmp.to_string_lossy().into_owned());
            args
        },
    )
    .await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Makes `dest` with one ffmpeg run unless it already exists. ffmpeg writes to a unique
/// temporary name in the same directory (`args_for` receives it; the arguments must name
/// the output format, as the name has no usable extension), which is then renamed over
/// `dest`: a reader never sees a half-written file and concurrent makers do not clash.
pub(crate) async fn render_once(
    ffmpeg: &Path,
    dest: &Path,
    timeout: std::time::Duration,
    args_for: impl FnOnce(&Path) -> Vec<String>,
) -> Result<PathBuf, MediaError> {
    if tokio::fs::metadata(dest).await.is_ok_and(|m| m.len() > 0) {
        return Ok(dest.to_path_buf());
    }
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
    let result = ffmpeg::run(ffmpeg, &args_for(&tmp), timeout, |_| {}).await;
    let result = match result {
        Ok(_) => tokio::fs::rename(&tmp, dest)
            .await
            .map_err(MediaError::from),
        Err(err) => Err(err),
    };
    if result.is_err() {
        // Best effort: the temporary file may not exist if ffmpeg failed early.
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result.map(|()| dest.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_are_written_as_ffmpeg_hex() {
        assert_eq!(ffmpeg_color(LOGO_COLOR), "0xFF7A00");
        assert_eq!(ffmpeg_color([1, 2, 255]), "0x0102FF");
    }
}
