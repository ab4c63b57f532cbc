//! The one way a video gets in: inspect → store (or adopt) → record → enqueue.
//!
//! [`accept`] runs that process for both ways in: the classic multipart upload (a file
//! the web process spooled, stored once accepted) and the resumable direct upload
//! ([`resumable`]: parts sent straight to storage, assembled there, adopted where they
//! lie). Each step undoes the earlier ones when it fails, and the typed [`AcceptError`]
//! says whose fault it was, so a handler only parses and shapes.
//!
//! Inspection ([`inspect`]), in order, cheapest first: the container from the first
//! bytes (MP4/ISO-BMFF), the top-level box structure (a truncated file ends inside a
//! box) and the data references in `moov` (the media must be in the file), then ffprobe
//! (a video stream, duration, resolution, frame rate and count) against the configured
//! limits. A stored object is inspected where it lies, through ranged reads and ffprobe
//! on a presigned URL: never copied whole to decide.
//!
//! Uploads are spooled to [`spool_file`]s, named after the process that owns them so
//! that a starting web process can remove those of dead ones ([`sweep_spool`]).

mod accept;
mod inspect;
pub mod resumable;

use std::path::Path;

pub use self::{
    accept::{AcceptError, Created, Ingest, Source, accept},
    inspect::{Inspectable, check_box_structure, inspect},
};
use crate::{
    media::{MediaError, ffprobe::ProbeInfo, sniff, validate::UploadRejection},
    storage::StorageError,
    tempdirs,
};

/// Name prefix of upload spool files in `TEMP_DIR`.
pub const SPOOL_PREFIX: &str = "skillreel-upload-";

/// Bytes of a file's start that [`inspect`] sniffs (callers spooling a file keep these).
pub const HEAD_BYTES: usize = 64;

/// Why an upload is refused; every variant is the client's fault (`400`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// No bytes.
    #[error("the file is empty")]
    Empty,
    /// More bytes than the upload limit.
    #[error("The file exceeds the {} MB upload limit", .limit / (1024 * 1024))]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Not an MP4 container.
    #[error("the file is not an MP4 video (expected an ISO-BMFF 'ftyp' header)")]
    NotMp4,
    /// The box structure is broken or cut short.
    #[error("the MP4 file is corrupt or truncated: {0}")]
    Corrupt(String),
    /// The media of a track lives outside the file (a data reference).
    #[error(
        "{0}; upload a self-contained MP4 (export or share the clip again from your phone or editor)"
    )]
    ExternalMedia(String),
    /// ffprobe could not read it.
    #[error("{message}")]
    Unreadable {
        /// What the player is told ([`MediaError::player_message`]).
        message: String,
        /// The tool's own error, for the log only.
        cause: String,
    },
    /// A rule on duration, resolution, frame rate or streams.
    #[error("{0}")]
    Rule(UploadRejection),
}

impl Rejection {
    /// Stable kebab-case code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty-file",
            Self::TooLarge { .. } => "file-too-large",
            Self::NotMp4 => "not-mp4",
            Self::Corrupt(_) | Self::Unreadable { .. } => "corrupt-video",
            Self::ExternalMedia(_) => "external-data-reference",
            Self::Rule(rule) => rule.code,
        }
    }
}

/// Inspection did not accept the file.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file breaks a rule (`400`).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The file could not be inspected for a reason that is not its own: ffprobe could not
    /// start or timed out, or the spool file could not be read (`5xx`).
    #[error("the upload could not be inspected: {0}")]
    Media(#[from] MediaError),
    /// The stored object could not be read (`503`).
    #[error("the upload could not be read from storage: {0}")]
    Storage(#[from] StorageError),
}

/// What an accepted upload looks like.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// ffprobe's view of the file.
    pub probe: ProbeInfo,
    /// Display width (rotation applied).
    pub width: u32,
    /// Display height (rotation applied).
    pub height: u32,
}

/// Creates a spool file for an upload in `temp_dir`, owned by this process.
pub fn spool_file(temp_dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempdirs::owned_tempfile(temp_dir, SPOOL_PREFIX, ".mp4")
}

/// Removes the spool files of processes that are no longer running; returns how many.
pub fn sweep_spool(temp_dir: &Path) -> std::io::Result<usize> {
    tempdirs::sweep_dead(temp_dir, SPOOL_PREFIX)
}

/// Refuses a file whose first bytes (once there are [`sniff::MIN_HEAD_LEN`] of them) are
/// not an MP4's, so a streaming upload can stop reading a wrong file early.
pub fn sniff_head(head: &[u8]) -> Result<(), Rejection> {
    if head.len() >= sniff::MIN_HEAD_LEN && !sniff::looks_like_mp4(head) {
        Err(Rejection::NotMp4)
    } else {
        Ok(())
    }
}

/// Width and height as displayed, after rotation metadata.
pub fn display_size(width: u32, height: u32, rotation: i32) -> (u32, u32) {
    if rotation.rem_euclid(180) == 90 {
        (height, width)
    } else {
        (width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UploadLimits;

    fn mp4_box(kind: &[u8; 4], payload: usize) -> Vec<u8> {
        let mut b = ((payload + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend(std::iter::repeat_n(0u8, payload));
        b
    }

    async fn check(bytes: &[u8]) -> Result<(), Rejection> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.mp4");
        tokio::fs::write(&p, bytes).await.unwrap();
        match check_box_structure(&p).await {
            Ok(()) => Ok(()),
            Err(InspectError::Rejected(r)) => Err(r),
            Err(e) => panic!("not a rejection: {e}"),
        }
    }

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    /// A file whose only track's data reference is `kind` with `flags`.
    fn with_reference(kind: &[u8; 4], flags: u32) -> Vec<u8> {
        let mut dref = vec![0, 0, 0, 0, 0, 0, 0, 1];
        dref.extend(boxed(kind, &flags.to_be_bytes()));
        let mut moov = boxed(b"mvhd", &[0; 100]);
        let dinf = boxed(b"dinf", &boxed(b"dref", &dref));
        moov.extend(boxed(b"trak", &boxed(b"mdia", &boxed(b"minf", &dinf))));
        let mut file = mp4_box(b"ftyp", 16);
        file.extend(mp4_box(b"mdat", 1000));
        file.extend(boxed(b"moov", &moov));
        file
    }

    #[tokio::test]
    async fn media_outside_the_file_is_refused() {
        assert_eq!(check(&with_reference(b"url ", 1)).await, Ok(()));
        let err = check(&with_reference(b"alis", 0)).await.unwrap_err();
        assert_eq!(err.code(), "external-data-reference");
        assert_eq!(
            err.to_string(),
            "the video's media is stored outside the file (a QuickTime alias to another \
             file, 'alis'); upload a self-contained MP4 (export or share the clip again \
             from your phone or editor)"
        );
        let mut broken = with_reference(b"url ", 1);
        // The `dref` declares two entries but holds one.
        let at = broken.windows(4).position(|w| w == b"dref").unwrap();
        broken[at + 11] = 2;
        let err = check(&broken).await.unwrap_err();
        assert!(
            matches!(err, Rejection::Corrupt(ref m) if m.contains("dref")),
            "{err}"
        );
    }

    #[test]
    fn every_rejection_has_its_code() {
        let rule = crate::media::validate::check_upload(
            &ProbeInfo {
                format_name: "matroska,webm".into(),
                duration_secs: 30.0,
                video: None,
                has_audio: false,
            },
            &UploadLimits::default(),
        )
        .unwrap_err();
        assert_eq!(Rejection::Rule(rule).code(), "not-mp4");
        assert_eq!(Rejection::Empty.code(), "empty-file");
        let unreadable = Rejection::Unreadable {
            message: "the video could not be decoded".into(),
            cause: "ffprobe failed (exit status: 1): /tmp/x: Invalid data".into(),
        };
        assert_eq!(unreadable.code(), "corrupt-video");
        assert_eq!(unreadable.to_string(), "the video could not be decoded");
    }

    #[tokio::test]
    async fn complete_files_pass_and_truncated_ones_fail() {
        let mut file = mp4_box(b"ftyp", 16);
        file.extend(mp4_box(b"moov", 100));
        file.extend(mp4_box(b"mdat", 1000));
        assert_eq!(check(&file).await, Ok(()));
        let err = check(&file[..file.len() - 10]).await.unwrap_err();
        assert!(
            matches!(err, Rejection::Corrupt(ref m) if m.contains("mdat")),
            "{err}"
        );
        let mut no_moov = mp4_box(b"ftyp", 16);
        no_moov.extend(mp4_box(b"mdat", 10));
        assert!(check(&no_moov).await.is_err());
        let mut stray = file.clone();
        stray.extend([1, 2, 3]);
        assert!(check(&stray).await.is_err());
    }

    #[test]
    fn rotation_swaps_sides() {
        assert_eq!(display_size(1920, 1080, 90), (1080, 1920));
        assert_eq!(display_size(1920, 1080, -90), (1080, 1920));
        assert_eq!(display_size(1920, 1080, 180), (1920, 1080));
    }
}
