//! Local directory backend, the zero-config default.
//!
//! Every object is a file under [`StorageConfig::local_dir`], named by its key.
//! Writes go to a hidden temporary file in the target directory and are renamed
//! into place, so a reader never sees a partial object. Hidden names (a key
//! segment starting with `.`) are therefore reserved and rejected as keys.
//!
//! Playable URLs point at a route of the web service, `/media/<key>`, carrying
//! an expiry and an HMAC-SHA256 signature that [`LocalStore::verify`] checks.
//!
//! Multipart uploads (parts sent by clients to a signed route of the web service) are
//! in [`parts`].

mod parts;

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub use self::parts::{PartWriteError, UPLOADS_ROUTE};
use super::{
    MultipartRef, ObjectStore, PartTarget, PlayableUrl, StorageError, StoredPart, validate_key,
};
use crate::{config::StorageConfig, media::MediaSource};

type HmacSha256 = Hmac<Sha256>;

/// Route prefix of the web service that serves local objects.
pub const MEDIA_ROUTE: &str = "/media/";

/// Objects stored as files in a directory.
pub struct LocalStore {
    root: PathBuf,
    signing_key: SecretString,
    url_expiry: Duration,
}

impl std::fmt::Debug for LocalStore {
    // Written by hand so the signing key can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("root", &self.root)
            .field("url_expiry", &self.url_expiry)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// Opens the store, creating its root directory when missing.
    pub fn new(config: &StorageConfig) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&config.local_dir)?;
        Ok(Self {
            root: config.local_dir.clone(),
            signing_key: config.url_signing_key.clone(),
            url_expiry: config.presign_expiry,
        })
    }

    /// Root directory of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key` (whether or not it exists), for serving it with
    /// HTTP Range support. Rejects keys that could leave the root directory.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        if key.split('/').any(|seg| seg.starts_with('.')) {
            return Err(StorageError::InvalidKey(key.to_owned()));
        }
        Ok(self.root.join(key))
    }

    /// The signed service path of `key`, valid until the unix time `expires`.
    pub fn signed_path(&self, key: &str, expires: u64) -> String {
        format!(
            "{MEDIA_ROUTE}{}?expires={expires}&sig={}",
            encode_path(key),
            hex(&self.signature(key, expires))
        )
    }

    /// Whether `sig` (hex) is the signature of `key` until `expires` and that time
    /// has not passed. The comparison runs in constant time.
    pub fn verify(&self, key: &str, expires: u64, sig: &str) -> bool {
        if expires < unix_now() {
            return false;
        }
        let Some(sig) = unhex(sig) else { return false };
        self.mac(key, expires).verify_slice(&sig).is_ok()
    }

    fn signature(&self, key: &str, expires: u64) -> Vec<u8> {
        self.mac(key, expires).finalize().into_bytes().to_vec()
    }

    fn mac(&self, key: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.signing_key.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        // The expiry is digits only, so splitting at the last newline recovers
        // both parts: no two (key, expires) pairs share a message.
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// A hidden sibling of `dest`, unique per call, for write-then-rename.
    fn temp_sibling(dest: &Path) -> PathBuf {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dest.with_file_name(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()))
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = Self::temp_sibling(&dest);
        let result = async {
            tokio::fs::copy(path, &tmp).await?;
            // Flush the data before it becomes visible under its key, so a crash
            // cannot leave a named but truncated object.
            tokio::fs::File::open(&tmp).await?.sync_all().await?;
            tokio::fs::rename(&tmp, &dest).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(result?)
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<(), StorageError> {
        let src = self.path_of(key)?;
        match tokio::fs::metadata(&src).await {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(StorageError::NotFound(key.to_owned())),
            Err(e) if is_absent(&e) => return Err(StorageError::NotFound(key.to_owned())),
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = tokio::fs::copy(&src, dest).await {
            // Never leave a truncated copy for the caller to mistake for the object.
            let _ = tokio::fs::remove_file(dest).await;
            // A delete between the check and the copy is still a missing object.
            let gone = e.kind() == ErrorKind::NotFound
                && !tokio::fs::try_exists(&src).await.unwrap_or(true);
            return Err(if gone {
                StorageError::NotFound(key.to_owned())
            } else {
                e.into()
            });
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            // Like S3: a key naming a directory, or under a file, is no object.
            Err(e) if !is_absent(&e) && e.kind() != ErrorKind::IsADirectory => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match tokio::fs::metadata(self.path_of(key)?).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // Walk only the directory the prefix names, not the whole tree.
        let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path_of(dir_part)?
        };
        let mut keys = Vec::new();
        let mut pending = vec![(start, dir_part.to_owned())];
        while let Some((dir, dir_key)) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let key = if dir_key.is_empty() {
                    name
                } else {
                    format!("{dir_key}/{name}")
                };
                let kind = entry.file_type().await?;
                if kind.is_dir() {
                    pending.push((entry.path(), key));
                } else if kind.is_file() && key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn playable_url(&self, key: &str) -> Result<PlayableUrl, StorageError> {
        self.path_of(key)?;
        let expires = unix_now() + self.url_expiry.as_secs();
        Ok(PlayableUrl::ServicePath(self.signed_path(key, expires)))
    }

    async fn health(&self) -> Result<(), StorageError> {
        let probe = self
            .root
            .join(format!(".health.{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }

    async fn size(&self, key: &str) -> Result<u64, StorageError> {
        match tokio::fs::metadata(self.path_of(key)?).await {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(StorageError::NotFound(key.to_owned())),
            Err(e) if is_absent(&e) => Err(StorageError::NotFound(key.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = match tokio::fs::File::open(self.path_of(key)?).await {
            Ok(file) => file,
            Err(e) if is_absent(&e) => return Err(StorageError::NotFound(key.to_owned())),
            Err(e) => return Err(e.into()),
        };
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let mut bytes = Vec::new();
        file.take(len).read_to_end(&mut bytes).await?;
        Ok(bytes)
    }

    async fn media_source(
        &self,
        key: &str,
        _valid_for: Duration,
    ) -> Result<MediaSource, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(MediaSource::File(path)),
            Ok(_) => Err(StorageError::NotFound(key.to_owned())),
            Err(e) if is_absent(&e) => Err(StorageError::NotFound(key.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_multipart(
        &self,
        key: &str,
        _content_type: &str,
    ) -> Result<String, StorageError> {
        self.path_of(key)?;
        self.create_upload().await
    }

    async fn part_target(
        &self,
        upload: &MultipartRef<'_>,
        part_number: u32,
        expires: u64,
    ) -> Result<PartTarget, StorageError> {
        Ok(self.sign_part(upload, part_number, expires))
    }

    async fn list_parts(&self, upload: &MultipartRef<'_>) -> Result<Vec<StoredPart>, StorageError> {
        self.stored_parts(upload).await
    }

    async fn complete_multipart(
        &self,
        upload: &MultipartRef<'_>,
        parts: &[StoredPart],
    ) -> Result<(), StorageError> {
        self.assemble(upload, parts).await
    }

    async fn abort_multipart(&self, upload: &MultipartRef<'_>) -> Result<(), StorageError> {
        self.remove_upload(upload.backend_id).await
    }
}

/// The path does not exist, possibly because one of its parents is a file.
fn is_absent(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// Percent-encodes everything but unreserved characters and `/`, so any valid
/// key makes a well-formed URL path.
fn encode_path(key: &str) -> String {
    use std::fmt::Write;
    key.bytes()
        .fold(String::with_capacity(key.len()), |mut out, b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff").as_deref(), Some(&bytes[..]));
        assert_eq!(unhex("0001ABFF").as_deref(), Some(&bytes[..]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(encode_path("processed/a b?.mp4"), "processed/a%20b%3F.mp4");
        assert_eq!(
            encode_path("uploaded/0190-x_y~z.mp4"),
            "uploaded/0190-x_y~z.mp4"
        );
    }
}
