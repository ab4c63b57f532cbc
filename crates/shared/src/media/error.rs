//! The one error type of the media module and its retry classification.

use std::{process::ExitStatus, time::Duration};

/// Messages in an ffmpeg/ffprobe error log that point at the machine, not at the input:
/// the same command may well succeed later or on another worker.
const TRANSIENT_MARKERS: &[&str] = &[
    "No space left on device",
    "Cannot allocate memory",
    "Resource temporarily unavailable",
    "Input/output error",
    "Too many open files",
];

/// An ffmpeg/ffprobe run, or the media work around it, failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The binary could not be started (missing, not executable, no process slots).
    #[error("could not start {program}: {source}")]
    Spawn {
        /// Binary that failed to start.
        program: String,
        /// Underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// The run took longer than its limit; the process was killed.
    #[error("media process timed out after {0:?}")]
    Timeout(Duration),
    /// The process exited unsuccessfully.
    #[error("{program} failed ({status}): {stderr_tail}")]
    Failed {
        /// Binary that failed.
        program: String,
        /// Exit status (a signal when the process was killed from outside).
        status: ExitStatus,
        /// Last lines of its error log.
        stderr_tail: String,
    },
    /// ffprobe output could not be understood.
    #[error("unreadable probe output: {0}")]
    Probe(String),
    /// File I/O around a run failed (temp files, renames, reading outputs).
    #[error("media I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The input is not something the pipeline can work on (e.g. no video stream).
    #[error("invalid media input: {0}")]
    InvalidInput(String),
}

impl MediaError {
    /// Whether running the same work again later may succeed.
    ///
    /// Retryable: spawn failures, timeouts, I/O errors, and failed runs that were killed by
    /// a signal (OOM killer, shutdown) or report resource exhaustion (disk full, out of
    /// memory, device I/O errors).
    /// Not retryable: a run that failed on its own because of the input (corrupt or truncated
    /// file, unsupported codec), unreadable probe output and invalid input — the same bytes
    /// give the same failure every time, so retrying only wastes worker time.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Spawn { .. } | Self::Timeout(_) | Self::Io(_) => true,
            Self::Failed {
                status,
                stderr_tail,
                ..
            } => {
                status.code().is_none() || TRANSIENT_MARKERS.iter().any(|m| stderr_tail.contains(m))
            }
            Self::Probe(_) | Self::InvalidInput(_) => false,
        }
    }

    /// Whether the input file is at fault (a player's upload is corrupt or unusable), as
    /// opposed to the machine: the web layer answers `400` for these and `5xx` otherwise.
    pub fn is_client_error(&self) -> bool {
        !self.is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn failed(raw_status: i32, tail: &str) -> MediaError {
        MediaError::Failed {
            program: "ffmpeg".into(),
            status: ExitStatus::from_raw(raw_status),
            stderr_tail: tail.into(),
        }
    }

    #[test]
    fn input_failures_are_final_and_machine_failures_retry() {
        // Exit code 1 (raw wait status 1 << 8) on a corrupt file: deterministic.
        assert!(!failed(1 << 8, "moov atom not found").is_retryable());
        assert!(failed(1 << 8, "moov atom not found").is_client_error());
        // Killed by SIGKILL (raw status 9): the machine, not the input.
        assert!(failed(9, "").is_retryable());
        assert!(failed(1 << 8, "Error writing trailer: No space left on device").is_retryable());
        assert!(MediaError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(!MediaError::InvalidInput("no video".into()).is_retryable());
        assert!(!MediaError::Probe("bad json".into()).is_retryable());
        assert!(MediaError::Io(std::io::Error::other("disk")).is_retryable());
    }
}
