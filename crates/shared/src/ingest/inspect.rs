//! Inspection of an upload, wherever it lies: a spooled file, or an object in storage
//! read through ranged reads and ffprobe on a presigned URL.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{Accepted, HEAD_BYTES, InspectError, Rejection};
use crate::{
    config::{MediaConfig, UploadLimits},
    media::{
        self, MediaError,
        sniff::{self, DataReferenceError},
    },
    storage::ObjectStore,
};

/// Largest `moov` box read to check its data references. A 60 s clip at 120 fps has an
/// index of about 100 KB; a `moov` this large is not a phone clip.
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;

/// What ffprobe's log says when it could not reach a URL: storage's failure, not the file's.
const TRANSPORT_FAILURES: &[&str] = &[
    "HTTP error",
    "Server returned 5",
    "Server returned 403",
    "Connection refused",
    "Connection timed out",
    "Connection reset",
    "Input/output error",
    "Failed to resolve",
];

/// An upload to inspect.
#[derive(Clone, Copy)]
pub enum Inspectable<'a> {
    /// A local file whose first bytes (up to [`HEAD_BYTES`]) are `head`.
    File {
        /// The file.
        path: &'a Path,
        /// Its first bytes, kept while it was spooled.
        head: &'a [u8],
        /// Its size.
        size: u64,
    },
    /// An object in storage.
    Stored {
        /// The store.
        storage: &'a dyn ObjectStore,
        /// The object.
        key: &'a str,
        /// Its size.
        size: u64,
    },
}

/// Random access to the bytes of an upload.
enum Reader<'a> {
    File(tokio::fs::File),
    Stored(&'a dyn ObjectStore, &'a str),
}

impl Reader<'_> {
    async fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, InspectError> {
        match self {
            Self::File(file) => {
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(MediaError::Io)?;
                let mut bytes = Vec::new();
                (&mut *file)
                    .take(len)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(MediaError::Io)?;
                Ok(bytes)
            }
            Self::Stored(storage, key) => Ok(storage.read_range(key, offset, len).await?),
        }
    }
}

/// Walks the top-level boxes of the ISO-BMFF file at `path`: see [`inspect`].
pub async fn check_box_structure(path: &Path) -> Result<(), InspectError> {
    let file = tokio::fs::File::open(path).await.map_err(MediaError::Io)?;
    let len = file.metadata().await.map_err(MediaError::Io)?.len();
    check_boxes(&mut Reader::File(file), len).await
}

/// Each top-level box size must fit in the file and the last one must end exactly at its
/// end, and every data reference in `moov` must be self-contained. Reads only box headers
/// (16 bytes each) and the `moov` box: a handful of small ranged reads for a stored object.
async fn check_boxes(reader: &mut Reader<'_>, len: u64) -> Result<(), InspectError> {
    let mut pos = 0u64;
    let mut boxes = 0u32;
    let mut seen_moov = false;
    while pos < len {
        if len - pos < 8 {
            return Err(Rejection::Corrupt(format!("{} stray bytes at the end", len - pos)).into());
        }
        let header = reader.read_at(pos, 16.min(len - pos)).await?;
        let n = header.len();
        if n < 8 {
            return Err(Rejection::Corrupt("the file ends inside a box header".into()).into());
        }
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = &header[4..8];
        let (size, header_len) = match size32 {
            0 => (len - pos, 8), // box extends to the end of the file
            1 if n == 16 => (
                u64::from_be_bytes(header[8..16].try_into().unwrap_or([0; 8])),
                16,
            ),
            1 => {
                return Err(Rejection::Corrupt("a 64-bit box header is cut short".into()).into());
            }
            s => (u64::from(s), 8),
        };
        if size < header_len {
            return Err(
                Rejection::Corrupt(format!("box #{boxes} has an impossible size {size}")).into(),
            );
        }
        if size > len - pos {
            return Err(Rejection::Corrupt(format!(
                "box '{}' needs {} bytes but only {} remain",
                String::from_utf8_lossy(kind),
                size,
                len - pos
            ))
            .into());
        }
        if kind == b"moov" {
            seen_moov = true;
            check_moov(reader, pos + header_len, size - header_len).await?;
        }
        pos += size;
        boxes += 1;
    }
    if !seen_moov {
        return Err(Rejection::Corrupt(
            "no 'moov' box (the file was cut short or never finished)".into(),
        )
        .into());
    }
    Ok(())
}

/// Reads the `moov` payload at `start` and checks its data references.
async fn check_moov(reader: &mut Reader<'_>, start: u64, len: u64) -> Result<(), InspectError> {
    if len > MAX_MOOV_BYTES {
        return Err(Rejection::Corrupt(format!(
            "the 'moov' box is {} MB, more than a video index can be",
            len / (1024 * 1024)
        ))
        .into());
    }
    let moov = reader.read_at(start, len).await?;
    if (moov.len() as u64) < len {
        return Err(Rejection::Corrupt("the 'moov' box is cut short".into()).into());
    }
    sniff::check_data_references(&moov).map_err(|e| match e {
        DataReferenceError::External(_) => Rejection::ExternalMedia(e.to_string()),
        DataReferenceError::Malformed(what) => Rejection::Corrupt(what),
    })?;
    Ok(())
}

/// Inspects an upload: the cheap checks on its bytes, then ffprobe, then the limits.
pub async fn inspect(
    media_cfg: &MediaConfig,
    limits: &UploadLimits,
    upload: Inspectable<'_>,
) -> Result<Accepted, InspectError> {
    let (mut reader, size, head) = match upload {
        Inspectable::File { path, head, size } => {
            let file = tokio::fs::File::open(path).await.map_err(MediaError::Io)?;
            (Reader::File(file), size, head.to_vec())
        }
        Inspectable::Stored { storage, key, size } => {
            let head = storage.read_range(key, 0, HEAD_BYTES as u64).await?;
            (Reader::Stored(storage, key), size, head)
        }
    };
    if size == 0 {
        return Err(Rejection::Empty.into());
    }
    if size > limits.max_bytes {
        return Err(Rejection::TooLarge {
            limit: limits.max_bytes,
        }
        .into());
    }
    if !sniff::looks_like_mp4(&head) {
        return Err(Rejection::NotMp4.into());
    }
    check_boxes(&mut reader, size).await?;
    let probed = match upload {
        Inspectable::File { path, .. } => media::ffprobe::probe(media_cfg, path).await,
        Inspectable::Stored { storage, key, .. } => {
            // Valid long enough for a probe that runs into its time limit.
            let valid_for = media_cfg.probe_timeout + std::time::Duration::from_secs(60);
            let source = storage.media_source(key, valid_for).await?;
            media::ffprobe::probe_source(media_cfg, &source)
                .await
                .map_err(|e| without_source(e, &source.as_arg(), key))
        }
    };
    let probe = match probed {
        Ok(probe) => probe,
        Err(e) if e.is_client_error() => {
            return Err(Rejection::Unreadable {
                message: e.player_message(),
                cause: e.to_string(),
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    media::validate::check_upload(&probe, limits).map_err(Rejection::Rule)?;
    let (width, height) = probe
        .video
        .as_ref()
        .map(|v| super::display_size(v.width, v.height, v.rotation))
        .unwrap_or_default();
    Ok(Accepted {
        probe,
        width,
        height,
    })
}

/// ffprobe's error with the source (a presigned URL: a secret) replaced by the key, and
/// a failure to reach storage told apart from a file it could not read (`503`, not `400`).
fn without_source(err: MediaError, source: &str, key: &str) -> MediaError {
    let scrub = |text: &str| {
        // The query string (the signature) can appear on its own in ffprobe's log too.
        let mut clean = text.replace(source, key);
        if let Some((_, query)) = source.split_once('?') {
            clean = clean.replace(query, "...");
        }
        clean
    };
    match err {
        MediaError::Failed { stderr_tail, .. }
            if TRANSPORT_FAILURES.iter().any(|t| stderr_tail.contains(t)) =>
        {
            MediaError::Io(std::io::Error::other(format!(
                "ffprobe could not read the stored upload: {}",
                scrub(&stderr_tail)
            )))
        }
        MediaError::Failed {
            program,
            status,
            stderr_tail,
        } => MediaError::Failed {
            program,
            status,
            stderr_tail: scrub(&stderr_tail),
        },
        MediaError::Probe(text) => MediaError::Probe(scrub(&text)),
        MediaError::InvalidInput(text) => MediaError::InvalidInput(scrub(&text)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn presigned_urls_never_reach_an_error_and_transport_failures_are_ours() {
        let url = "http://s3/b/uploaded/x.mp4?X-Amz-Signature=abc&X-Amz-Credential=k";
        let failed = |tail: &str| MediaError::Failed {
            program: "ffprobe".into(),
            status: std::process::ExitStatus::from_raw(1 << 8),
            stderr_tail: tail.into(),
        };
        let corrupt = without_source(
            failed(&format!("{url}: Invalid data found when processing input")),
            url,
            "uploaded/x.mp4",
        );
        assert!(corrupt.is_client_error());
        let text = corrupt.to_string();
        assert!(
            !text.contains("Signature") && text.contains("uploaded/x.mp4"),
            "{text}"
        );
        let down = without_source(
            failed(&format!("{url}: Connection refused")),
            url,
            "uploaded/x.mp4",
        );
        assert!(!down.is_client_error());
        assert!(!down.to_string().contains("Signature"), "{down}");
    }
}
