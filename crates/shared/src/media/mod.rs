//! Media handling: container sniffing, ffprobe, the FFmpeg pipeline and its assets.
//!
//! Every `ffmpeg`/`ffprobe` process is started through [`ffmpeg`], the one wrapper
//! that enforces a timeout, kills the child on drop and types its errors; its children
//! also die with the process that started them (`spawn`).

pub mod assets;
mod error;
pub mod ffmpeg;
pub mod ffprobe;
pub mod pipeline;
pub mod reference;
pub mod renditions;
pub mod sniff;
pub mod source;
mod spawn;
pub mod stitch;
pub mod testclip;
pub mod validate;

pub use error::MediaError;
pub use source::MediaSource;

/// Media settings for unit tests (nothing is run with them).
#[cfg(test)]
pub(crate) fn test_config() -> crate::config::MediaConfig {
    crate::config::MediaConfig {
        ffmpeg_path: "ffmpeg".into(),
        ffprobe_path: "ffprobe".into(),
        assets_dir: "/assets".into(),
        logo_path: None,
        intro_path: None,
        outro_path: None,
        preset: "veryfast".into(),
        crf: 23,
        threads: None,
        max_output_secs: 30.0,
        probe_timeout: std::time::Duration::from_secs(20),
        job_timeout: std::time::Duration::from_secs(900),
        temp_dir: "/tmp".into(),
    }
}
