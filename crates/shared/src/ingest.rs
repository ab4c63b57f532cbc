//! Inspection of an uploaded file before it is accepted.
//!
//! In order, cheapest first: the container from the first bytes (MP4/ISO-BMFF),
//! the top-level box structure (a truncated file ends inside a box), then ffprobe
//! (a video stream, duration, resolution) against the configured limits.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{
    config::{MediaConfig, UploadLimits},
    media::{self, ffprobe::ProbeInfo},
};

/// Why an upload is refused; every variant is the client's fault (`400`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// No bytes.
    #[error("the file is empty")]
    Empty,
    /// Not an MP4 container.
    #[error("the file is not an MP4 video (expected an ISO-BMFF 'ftyp' header)")]
    NotMp4,
    /// The box structure is broken or cut short.
    #[error("the MP4 file is corrupt or truncated: {0}")]
    Corrupt(String),
    /// ffprobe could not read it.
    #[error("the video could not be read: {0}")]
    Unreadable(String),
    /// A rule on duration, resolution or streams.
    #[error("{0}")]
    Rule(String),
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

/// Walks the top-level boxes of an ISO-BMFF file: each size must fit in the file and
/// the last one must end exactly at its end. Reads only box headers (16 bytes each).
pub async fn check_box_structure(path: &Path) -> Result<(), Rejection> {
    let io = |e: std::io::Error| Rejection::Corrupt(e.to_string());
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    let mut pos = 0u64;
    let mut boxes = 0u32;
    let mut seen_moov = false;
    while pos < len {
        if len - pos < 8 {
            return Err(Rejection::Corrupt(format!(
                "{} stray bytes at the end",
                len - pos
            )));
        }
        file.seek(std::io::SeekFrom::Start(pos)).await.map_err(io)?;
        let mut header = [0u8; 16];
        let n = usize::try_from((len - pos).min(16)).unwrap_or(16);
        file.read_exact(&mut header[..n]).await.map_err(io)?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = &header[4..8];
        let size = match size32 {
            0 => len - pos, // box extends to the end of the file
            1 if n == 16 => u64::from_be_bytes(header[8..16].try_into().unwrap_or([0; 8])),
            1 => {
                return Err(Rejection::Corrupt(
                    "a 64-bit box header is cut short".into(),
                ));
            }
            s => u64::from(s),
        };
        if size < 8 {
            return Err(Rejection::Corrupt(format!(
                "box #{boxes} has an impossible size {size}"
            )));
        }
        if pos + size > len {
            return Err(Rejection::Corrupt(format!(
                "box '{}' needs {} bytes but only {} remain",
                String::from_utf8_lossy(kind),
                size,
                len - pos
            )));
        }
        seen_moov |= kind == b"moov";
        pos += size;
        boxes += 1;
    }
    if !seen_moov {
        return Err(Rejection::Corrupt(
            "no 'moov' box (the file was cut short or never finished)".into(),
        ));
    }
    Ok(())
}

/// Inspects the file at `path` whose first bytes are `head`.
pub async fn inspect(
    media_cfg: &MediaConfig,
    limits: &UploadLimits,
    path: &Path,
    head: &[u8],
    size: u64,
) -> Result<Accepted, Rejection> {
    if size == 0 {
        return Err(Rejection::Empty);
    }
    if !media::sniff::looks_like_mp4(head) {
        return Err(Rejection::NotMp4);
    }
    check_box_structure(path).await?;
    let probe = media::ffprobe::probe(media_cfg, path)
        .await
        .map_err(|e| Rejection::Unreadable(e.to_string()))?;
    media::validate::check_upload(&probe, limits).map_err(|r| Rejection::Rule(r.message))?;
    let (width, height) = probe
        .video
        .as_ref()
        .map(|v| display_size(v.width, v.height, v.rotation))
        .unwrap_or_default();
    Ok(Accepted {
        probe,
        width,
        height,
    })
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
        check_box_structure(&p).await
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
