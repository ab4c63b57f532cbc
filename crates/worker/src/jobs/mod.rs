//! Jobs run by the worker.

pub mod process_video;
