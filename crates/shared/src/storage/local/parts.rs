//! Multipart uploads of the local store, shaped like S3's.
//!
//! The parts of an upload live in `<root>/.multipart/<upload id>/`, a hidden directory
//! (no key can name it and [`ObjectStore::list`](crate::storage::ObjectStore::list)
//! skips it), one file per part named `part-<n>.<etag>`: each part is written to a
//! temporary file and renamed into place, so a listing never shows half a part, and the
//! ETag (a digest of the bytes, as S3's is) travels in the name, so it is never out of
//! step with them. Completion concatenates the parts into a hidden sibling of the
//! object and renames it into place.
//!
//! Clients send parts to a route of the web service, `PUT {UPLOADS_ROUTE}<id>/parts/<n>`,
//! through URLs signed like the media URLs; [`LocalStore::verify_part`] checks them.

use std::{io::ErrorKind, path::PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{LocalStore, hex, is_absent};
use crate::storage::{
    MultipartRef, PartTarget, PlayableUrl, StorageError, StoredPart, multipart::bare_etag,
};

/// Hidden directory of the store holding the parts of unfinished uploads.
const MULTIPART_DIR: &str = ".multipart";

/// Route prefix of the web service under which parts are received:
/// `PUT {UPLOADS_ROUTE}{upload id}/parts/{part number}?expires=..&sig=..`.
pub const UPLOADS_ROUTE: &str = "/api/videos/uploads/";

/// Why a part was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PartWriteError {
    /// The body is longer than the part can be.
    #[error("the part is larger than its {limit} bytes")]
    TooLarge {
        /// The part's size.
        limit: u64,
    },
    /// Reading the request body failed (client gone, or a body time limit).
    #[error("the part's bytes stopped arriving: {0}")]
    Body(String),
    /// The upload is unknown (aborted, completed) or the disk failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The message a part URL signs. It starts with `/`, which no storage key can, so a
/// part signature never opens a media URL.
fn part_message(public_id: &str, part_number: u32) -> String {
    format!("{UPLOADS_ROUTE}{public_id}/parts/{part_number}")
}

fn part_prefix(part_number: u32) -> String {
    format!("part-{part_number:05}.")
}

impl LocalStore {
    /// The directory of an upload's parts; the id must be one this store made.
    fn upload_dir(&self, backend_id: &str) -> Result<PathBuf, StorageError> {
        let ours = backend_id.len() == 32 && backend_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !ours {
            return Err(StorageError::InvalidKey(backend_id.to_owned()));
        }
        Ok(self.root.join(MULTIPART_DIR).join(backend_id))
    }

    /// Whether `sig` signs part `part_number` of `public_id` until `expires` (not past).
    pub fn verify_part(&self, public_id: &str, part_number: u32, expires: u64, sig: &str) -> bool {
        self.verify(&part_message(public_id, part_number), expires, sig)
    }

    pub(super) async fn create_upload(&self) -> Result<String, StorageError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        tokio::fs::create_dir_all(self.upload_dir(&id)?).await?;
        Ok(id)
    }

    pub(super) fn sign_part(
        &self,
        upload: &MultipartRef<'_>,
        part_number: u32,
        expires: u64,
    ) -> PartTarget {
        let message = part_message(upload.public_id, part_number);
        let sig = hex(&self.signature(&message, expires));
        PartTarget {
            url: PlayableUrl::ServicePath(format!("{message}?expires={expires}&sig={sig}")),
            method: "PUT",
            headers: Vec::new(),
        }
    }

    /// Streams `body` into part `part_number` of the upload `backend_id`, refusing it as
    /// soon as it passes `limit` bytes; replaces an earlier copy of the part.
    pub async fn put_part<S, E>(
        &self,
        backend_id: &str,
        part_number: u32,
        limit: u64,
        mut body: S,
    ) -> Result<StoredPart, PartWriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dir = self.upload_dir(backend_id)?;
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Err(StorageError::NotFound(backend_id.to_owned()).into());
        }
        let tmp = dir.join(format!(
            ".{part_number}.{}.partial",
            uuid::Uuid::new_v4().simple()
        ));
        let written = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(StorageError::from)?;
            let mut digest = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| PartWriteError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(PartWriteError::TooLarge { limit });
                }
                digest.update(&chunk);
                file.write_all(&chunk).await.map_err(StorageError::from)?;
            }
            file.sync_all().await.map_err(StorageError::from)?;
            Ok((size, hex(&digest.finalize()[..16])))
        }
        .await;
        let (size, etag) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let name = format!("{}{etag}", part_prefix(part_number));
        if let Err(e) = tokio::fs::rename(&tmp, dir.join(&name)).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            // The directory went away meanwhile: the upload was aborted or completed.
            return Err(if is_absent(&e) {
                StorageError::NotFound(backend_id.to_owned())
            } else {
                e.into()
            }
            .into());
        }
        self.remove_other_copies(&dir, part_number, &name).await?;
        Ok(StoredPart {
            part_number,
            size,
            etag: format!("\"{etag}\""),
        })
    }

    async fn remove_other_copies(
        &self,
        dir: &std::path::Path,
        part_number: u32,
        keep: &str,
    ) -> Result<(), StorageError> {
        let prefix = part_prefix(part_number);
        let mut entries = tokio::fs::read_dir(dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name != keep {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }

    pub(super) async fn stored_parts(
        &self,
        upload: &MultipartRef<'_>,
    ) -> Result<Vec<StoredPart>, StorageError> {
        let dir = self.upload_dir(upload.backend_id)?;
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if is_absent(&e) => {
                return Err(StorageError::NotFound(upload.backend_id.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        // Two copies of a part exist only for the moment a re-sent part replaces the
        // first; the newer is the one that stays.
        let mut found: Vec<(StoredPart, std::time::SystemTime)> = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((number, etag)) = name
                .strip_prefix("part-")
                .and_then(|rest| rest.split_once('.'))
            else {
                continue;
            };
            let Ok(part_number) = number.parse::<u32>() else {
                continue;
            };
            let meta = match entry.metadata().await {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            let part = StoredPart {
                part_number,
                size: meta.len(),
                etag: format!("\"{etag}\""),
            };
            let modified = meta.modified()?;
            match found.iter_mut().find(|(p, _)| p.part_number == part_number) {
                Some(slot) if slot.1 < modified => *slot = (part, modified),
                Some(_) => {}
                None => found.push((part, modified)),
            }
        }
        let mut parts: Vec<StoredPart> = found.into_iter().map(|(p, _)| p).collect();
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    pub(super) async fn assemble(
        &self,
        upload: &MultipartRef<'_>,
        parts: &[StoredPart],
    ) -> Result<(), StorageError> {
        let dir = self.upload_dir(upload.backend_id)?;
        let dest = self.path_of(upload.key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = Self::temp_sibling(&dest);
        let result = async {
            let mut out = tokio::fs::File::create(&tmp).await?;
            for part in parts {
                let name = format!("{}{}", part_prefix(part.part_number), bare_etag(&part.etag));
                let mut src = match tokio::fs::File::open(dir.join(name)).await {
                    Ok(src) => src,
                    Err(e) if is_absent(&e) => {
                        return Err(StorageError::NotFound(format!(
                            "part {} of upload {}",
                            part.part_number, upload.backend_id
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                tokio::io::copy(&mut src, &mut out).await?;
            }
            out.sync_all().await?;
            tokio::fs::rename(&tmp, &dest).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
            return result;
        }
        self.remove_upload(upload.backend_id).await
    }

    pub(super) async fn remove_upload(&self, backend_id: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_dir_all(self.upload_dir(backend_id)?).await {
            Err(e) if !is_absent(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }
}
