//! The one error type of the media module, its retry classification and the message a
//! player sees for it.

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

/// ffmpeg's exit code after it caught SIGINT/SIGTERM ("Exiting normally, received
/// signal 15."): stopped from outside, like a run killed by a signal. ffmpeg and ffprobe
/// exit with 1 when the input is at fault.
const FFMPEG_SIGNALLED_EXIT: i32 = 255;

/// Said to a player when the machine, not the file, is at fault.
const OUR_SIDE: &str =
    "the video could not be processed because of a problem on our side; please try again later";

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
                status
                    .code()
                    .is_none_or(|code| code == FFMPEG_SIGNALLED_EXIT)
                    || TRANSIENT_MARKERS.iter().any(|m| stderr_tail.contains(m))
            }
            Self::Probe(_) | Self::InvalidInput(_) => false,
        }
    }

    /// A short explanation for the player, in plain sentences: what went wrong and, where
    /// it helps, what to do. Never contains tool output, paths or addresses — the
    /// [`Display`](std::fmt::Display) form keeps those for the log.
    pub fn player_message(&self) -> String {
        let message = match self {
            Self::Timeout(_) => "processing the video took too long",
            Self::Failed { stderr_tail, .. } if !self.is_retryable() => {
                if stderr_tail.contains("moov atom not found") {
                    "the video could not be decoded: the file is incomplete \
                     (the recording or the upload was cut short)"
                } else {
                    "the video could not be decoded: the file is damaged or uses an \
                     unsupported format"
                }
            }
            Self::Probe(_) => "the video could not be read: the file is damaged or is not a video",
            Self::InvalidInput(_) => "the video has no picture that can be processed",
            Self::Spawn { .. } | Self::Failed { .. } | Self::Io(_) => OUR_SIDE,
        };
        message.to_owned()
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

    /// The end of ffmpeg's log for an unreadable upload, as the wrapper keeps it.
    const UNREADABLE_TAIL: &str = "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5601b6bdd840] \
        stream 0, offset 0x30: partial file\n\
        [h264 @ 0x55d0c7a3f2c0] Invalid NAL unit size (1634 > 1058).\n\
        [h264 @ 0x55d0c7a3f2c0] Error splitting the input into NAL units.\n\
        /var/tmp/skillreel-job-4242-8812-Ab12Cd/source.mp4: Invalid data found when processing input";

    #[test]
    fn unreadable_files_are_final_whatever_the_log_says() {
        for tail in [UNREADABLE_TAIL, "moov atom not found", ""] {
            let err = failed(1 << 8, tail);
            assert!(!err.is_retryable(), "{tail}");
            assert!(err.is_client_error(), "{tail}");
        }
        // Exit code 69 (output rate exceeded) and other codes: still the run's own failure.
        assert!(!failed(69 << 8, "").is_retryable());
    }

    #[test]
    fn stopped_or_starved_runs_are_retried() {
        // Killed by SIGKILL / SIGTERM, or ffmpeg caught SIGTERM and exited with 255.
        assert!(failed(9, "").is_retryable());
        assert!(failed(15, "").is_retryable());
        assert!(failed(255 << 8, "Exiting normally, received signal 15.").is_retryable());
        assert!(failed(1 << 8, "av_malloc: Cannot allocate memory").is_retryable());
        let spawn = MediaError::Spawn {
            program: "/usr/bin/ffmpeg".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(spawn.is_retryable());
        assert!(!spawn.is_client_error());
    }

    #[test]
    fn player_messages_hide_paths_addresses_and_logs() {
        let errors = [
            failed(1 << 8, UNREADABLE_TAIL),
            failed(
                1 << 8,
                "[mov @ 0x55d0] moov atom not found\n/tmp/upload-1.mp4: Invalid data",
            ),
            failed(9, UNREADABLE_TAIL),
            failed(1 << 8, "/tmp/x: No space left on device"),
            MediaError::Timeout(Duration::from_secs(900)),
            MediaError::Spawn {
                program: "/usr/bin/ffprobe".into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            },
            MediaError::Probe("expected value at line 1 column 1".into()),
            MediaError::Io(std::io::Error::other(
                "/var/tmp/skillreel-job-1/out.mp4: EIO",
            )),
            MediaError::InvalidInput("the input has no video stream".into()),
        ];
        for err in &errors {
            let message = err.player_message();
            assert!(
                !message.contains('/') && !message.contains("0x") && !message.contains('@'),
                "{message:?} leaks tool output (from {err})"
            );
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
        }
        assert!(errors[0].player_message().contains("damaged"));
        assert!(errors[1].player_message().contains("incomplete"));
        assert!(errors[2].player_message().contains("our side"));
        assert_eq!(
            errors[4].player_message(),
            "processing the video took too long"
        );
        // The raw error keeps the detail for the log.
        assert!(errors[0].to_string().contains("Invalid NAL unit size"));
    }
}
