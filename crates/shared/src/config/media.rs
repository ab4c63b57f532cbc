//! Media processing: the ffmpeg/ffprobe binaries, the assets, the encoder settings and
//! the limits of one job's runs.

use std::{path::PathBuf, time::Duration};

use super::{ConfigError, Source, parse, secs, string};

/// FFmpeg pipeline settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// `ffmpeg` binary.
    pub ffmpeg_path: PathBuf,
    /// `ffprobe` binary.
    pub ffprobe_path: PathBuf,
    /// Directory where the default logo and bumpers are generated.
    pub assets_dir: PathBuf,
    /// Replacement logo (PNG with alpha).
    pub logo_path: Option<PathBuf>,
    /// Replacement intro bumper.
    pub intro_path: Option<PathBuf>,
    /// Replacement outro bumper.
    pub outro_path: Option<PathBuf>,
    /// x264 preset.
    pub preset: String,
    /// x264 CRF.
    pub crf: u8,
    /// Threads of a job's ffmpeg run (decoder, filters, x264); `None`: ffmpeg's own choice
    /// (every core), the default. `FFMPEG_THREADS`.
    pub threads: Option<u32>,
    /// Seconds of the source kept.
    pub max_output_secs: f64,
    /// Limit for one ffprobe run.
    pub probe_timeout: Duration,
    /// Limit for one ffmpeg run (and one whole job).
    pub job_timeout: Duration,
    /// Scratch space for uploads and jobs.
    pub temp_dir: PathBuf,
}

impl MediaConfig {
    /// Reads the media variables.
    pub(super) fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            ffmpeg_path: string(src, "FFMPEG_PATH", "ffmpeg").into(),
            ffprobe_path: string(src, "FFPROBE_PATH", "ffprobe").into(),
            assets_dir: string(src, "MEDIA_ASSETS_DIR", "./var/assets").into(),
            logo_path: src.get("LOGO_PATH").map(Into::into),
            intro_path: src.get("INTRO_PATH").map(Into::into),
            outro_path: src.get("OUTRO_PATH").map(Into::into),
            preset: string(src, "FFMPEG_PRESET", "veryfast"),
            crf: parse(src, "FFMPEG_CRF", 23)?,
            threads: threads(src.get("FFMPEG_THREADS").as_deref())?,
            max_output_secs: parse(src, "MEDIA_MAX_SECS", 30.0)?,
            probe_timeout: secs(src, "PROBE_TIMEOUT_SECS", 20)?,
            job_timeout: secs(src, "JOB_TIMEOUT_SECS", 900)?,
            temp_dir: src
                .get("TEMP_DIR")
                .map_or_else(std::env::temp_dir, Into::into),
        })
    }
}

/// `FFMPEG_THREADS`: `auto` (the default), ffmpeg's own choice (a thread or more per
/// core), or a number of threads from 1 to 64 for every run. `auto` stays the default
/// because a lone job finishes soonest on every core; one thread a run drains a backlog of
/// two jobs at a time on 2 cores 6–9 % faster but makes a lone job take 1.65× as long
/// (docs/PERFORMANCE.md §8, docs/DECISIONS.md).
fn threads(value: Option<&str>) -> Result<Option<u32>, ConfigError> {
    match value.map(str::trim) {
        None | Some("" | "auto") => Ok(None),
        Some(n) => match n.parse::<u32>() {
            Ok(n) if (1..=64).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                name: "FFMPEG_THREADS".into(),
                reason: format!("expected `auto` or a number of threads from 1 to 64, got `{n}`"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_leaves_the_threads_to_ffmpeg() {
        for auto in [None, Some(""), Some("auto"), Some(" auto ")] {
            assert_eq!(threads(auto).unwrap(), None, "{auto:?}");
        }
    }

    #[test]
    fn explicit_threads_are_kept_and_nonsense_refused() {
        assert_eq!(threads(Some("1")).unwrap(), Some(1));
        assert_eq!(threads(Some(" 3 ")).unwrap(), Some(3));
        assert_eq!(threads(Some("64")).unwrap(), Some(64));
        for bad in ["0", "-1", "65", "two", "1.5"] {
            let err = threads(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("FFMPEG_THREADS"), "{bad}: {err}");
        }
    }
}
