//! Where ffmpeg reads an upload from: a file on this machine, or an HTTP(S) URL it
//! reads with range requests (a presigned S3 GET), so a job never waits for a full
//! copy of the original before ffmpeg starts.

use std::path::{Path, PathBuf};

/// The upload a job reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A file on this machine: local storage's own file (read in place) or a copy.
    File(PathBuf),
    /// An `http://` or `https://` URL ffmpeg opens itself (seeking with `Range`).
    Url(String),
}

impl MediaSource {
    /// The argument that follows `-i`.
    pub fn as_arg(&self) -> String {
        match self {
            Self::File(path) => path.to_string_lossy().into_owned(),
            Self::Url(url) => url.clone(),
        }
    }

    /// The protocols ffmpeg may open for this source (`-protocol_whitelist`): a file
    /// cannot make ffmpeg fetch a URL, and a URL cannot make it open a local file.
    pub fn protocol_whitelist(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            Self::Url(_) => "http,https,tcp,tls",
        }
    }

    /// Whether ffmpeg reads over the network (a failure may be the network's).
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Url(_))
    }

    /// Input options and the input itself: `-protocol_whitelist … -i <source>`.
    pub fn input_args(&self) -> [String; 4] {
        [
            "-protocol_whitelist".into(),
            self.protocol_whitelist().into(),
            "-i".into(),
            self.as_arg(),
        ]
    }
}

impl From<&Path> for MediaSource {
    fn from(path: &Path) -> Self {
        Self::File(path.to_path_buf())
    }
}

impl From<PathBuf> for MediaSource {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl From<&PathBuf> for MediaSource {
    fn from(path: &PathBuf) -> Self {
        Self::File(path.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_urls_open_only_their_own_protocols() {
        let file = MediaSource::from(Path::new("/job/in.mp4"));
        assert_eq!(
            file.input_args(),
            ["-protocol_whitelist", "file", "-i", "/job/in.mp4"]
        );
        assert!(!file.is_remote());
        let url =
            MediaSource::Url("https://bucket.s3.example/uploaded/x.mp4?X-Amz-Signature=1".into());
        assert_eq!(url.protocol_whitelist(), "http,https,tcp,tls");
        assert!(url.is_remote());
    }
}
