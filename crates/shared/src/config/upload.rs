//! Upload limits: what a file must be, and how long and how many uploads may stream.

use std::time::Duration;

use super::{ConfigError, Source, parse, positive, positive_secs};

/// Limits applied to uploads.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadLimits {
    /// Largest accepted file in bytes.
    pub max_bytes: u64,
    /// Shortest accepted duration in seconds.
    pub min_duration_secs: f64,
    /// Longest accepted duration in seconds.
    pub max_duration_secs: f64,
    /// Minimum length of the shorter side, pixels.
    pub min_short_side: u32,
    /// Maximum length of the longer side, pixels: decoding cost grows with the frame area.
    pub max_long_side: u32,
    /// Highest average frame rate; the declared frame count may not exceed what the
    /// duration holds at this rate (see `media::validate`).
    pub max_fps: f64,
    /// An upload body that sends nothing for this long is cut off (`408`).
    pub idle_timeout: Duration,
    /// An upload body still arriving after this long is cut off (`408`), however steadily
    /// it trickles in.
    pub max_receive_time: Duration,
    /// Uploads streaming at once in one web process; beyond it `503`.
    pub max_in_flight: usize,
    /// Uploads of one player streaming at once in one web process; beyond it `429`.
    pub max_in_flight_per_player: usize,
    /// How long a resumable upload may take from its start to its completion.
    pub resumable_ttl: Duration,
    /// Unfinished, unexpired resumable uploads one player may have; beyond it `429`.
    pub max_pending_per_player: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            min_duration_secs: 20.0,
            max_duration_secs: 60.0,
            min_short_side: 1080,
            max_long_side: 4096,
            max_fps: 120.0,
            idle_timeout: Duration::from_secs(30),
            max_receive_time: Duration::from_secs(600),
            max_in_flight: 16,
            max_in_flight_per_player: 2,
            resumable_ttl: Duration::from_secs(24 * 3600),
            max_pending_per_player: 5,
        }
    }
}

impl UploadLimits {
    /// Reads the `UPLOAD_*` variables.
    pub(super) fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            max_bytes: parse(src, "UPLOAD_MAX_BYTES", d.max_bytes)?,
            min_duration_secs: parse(src, "UPLOAD_MIN_DURATION_SECS", d.min_duration_secs)?,
            max_duration_secs: parse(src, "UPLOAD_MAX_DURATION_SECS", d.max_duration_secs)?,
            min_short_side: parse(src, "UPLOAD_MIN_SHORT_SIDE", d.min_short_side)?,
            max_long_side: parse(src, "UPLOAD_MAX_LONG_SIDE", d.max_long_side)?,
            max_fps: parse(src, "UPLOAD_MAX_FPS", d.max_fps)?,
            idle_timeout: positive_secs(src, "UPLOAD_IDLE_SECS", 30)?,
            max_receive_time: positive_secs(src, "UPLOAD_MAX_SECS", 600)?,
            max_in_flight: positive(src, "UPLOAD_MAX_IN_FLIGHT", d.max_in_flight)?,
            max_in_flight_per_player: positive(
                src,
                "UPLOAD_MAX_IN_FLIGHT_PER_PLAYER",
                d.max_in_flight_per_player,
            )?,
            resumable_ttl: positive_secs(src, "UPLOAD_RESUMABLE_TTL_SECS", 24 * 3600)?,
            max_pending_per_player: positive(
                src,
                "UPLOAD_MAX_PENDING_PER_PLAYER",
                d.max_pending_per_player,
            )?,
        })
    }
}
