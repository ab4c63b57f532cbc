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
pub mod testclip;
pub mod validate;

pub use error::MediaError;
pub use source::MediaSource;
