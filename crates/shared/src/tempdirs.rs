//! TEMPORARY STUB (replaced by the media-bounds branch).
use std::path::Path;
/// Stub.
pub fn owned_tempdir(base: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(base)
}
/// Stub.
pub fn sweep_dead(_base: &Path, _prefix: &str) -> std::io::Result<usize> {
    Ok(0)
}
