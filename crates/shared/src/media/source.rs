//! Where ffmpeg reads an upload from: a file on this machine, or an HTTP(S) URL it
//! reads with range requests (a presigned S3 GET), so a job never waits for a full
//! copy of the original before ffmpeg starts.
//!
//! A presigned URL is a secret (its query string is the signature, and with temporary
//! credentials the session token): [`redact`] takes it out of any text that may reach a
//! log, and neither `Debug` nor `Display` of a [`MediaSource`] shows it.

use std::{
    borrow::Cow,
    fmt,
    path::{Path, PathBuf},
};

/// ffmpeg's HTTP input options (ffmpeg 5.1, `ffmpeg -h protocol=http`) for a URL source:
/// a dropped connection, a network error or an S3 `5xx` reconnects at the same offset
/// instead of ending the input (a short read would otherwise end the clip early or fail
/// the job); a read that stalls for 30 s counts as dropped; ffmpeg gives up once the
/// reconnect back-off (0, 1, 3, 7 s…) would exceed 10 s, so a dead network fails the run
/// in seconds rather than at the job timeout.
const HTTP_INPUT_OPTIONS: [&str; 10] = [
    "-reconnect",
    "1",
    "-reconnect_on_network_error",
    "1",
    "-reconnect_on_http_error",
    "5xx",
    "-reconnect_delay_max",
    "10",
    "-rw_timeout",
    "30000000",
];

/// For an `https://` URL: ffmpeg does not check the server's certificate unless told to
/// (it then uses the system's trust store). Only for https: ffmpeg refuses an option
/// that no protocol of the input used ("Option tls_verify not found").
const HTTPS_INPUT_OPTIONS: [&str; 2] = ["-tls_verify", "1"];

/// What replaces a URL's query string in redacted text.
const REDACTED: &str = "<redacted>";

/// Query parameters of a presigned S3 URL whose values must never be shown, in case one
/// appears in a log line without its URL.
const SECRET_PARAMS: &[&str] = &[
    "X-Amz-Signature=",
    "X-Amz-Security-Token=",
    "X-Amz-Credential=",
    "Signature=",
    "AWSAccessKeyId=",
];

/// The upload a job reads.
#[derive(Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A file on this machine: local storage's own file (read in place) or a copy.
    File(PathBuf),
    /// An `http://` or `https://` URL ffmpeg opens itself (seeking with `Range`).
    Url(String),
}

impl MediaSource {
    /// The argument that follows `-i`. A secret when the source is a URL: never log it.
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

    /// Input options and the input itself: `-protocol_whitelist … [HTTP options] -i
    /// <source>`; the HTTP reconnect and timeout options only for a URL, certificate
    /// checks only for an `https://` one. ffmpeg and ffprobe both take them.
    pub fn input_args(&self) -> Vec<String> {
        let mut args = vec![
            "-protocol_whitelist".to_owned(),
            self.protocol_whitelist().to_owned(),
        ];
        if let Self::Url(url) = self {
            args.extend(HTTP_INPUT_OPTIONS.map(str::to_owned));
            if url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
            {
                args.extend(HTTPS_INPUT_OPTIONS.map(str::to_owned));
            }
        }
        args.extend(["-i".to_owned(), self.as_arg()]);
        args
    }
}

/// Shows the path, or the URL without its query string.
impl fmt::Display for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(&redact(url)),
        }
    }
}

/// Written by hand so a presigned URL never reaches a log through `{:?}`.
impl fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Url(_) => f.debug_tuple("Url").field(&self.to_string()).finish(),
        }
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

/// `text` with the query string of every `http://`/`https://` URL in it replaced by
/// `<redacted>`, and the value of any presigning parameter found on its own too. For
/// anything that may reach a log or an error: ffmpeg and ffprobe print their input's
/// URL in most error lines.
pub fn redact(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("http://")
        && !lower.contains("https://")
        && !SECRET_PARAMS
            .iter()
            .any(|p| lower.contains(&p.to_ascii_lowercase()))
    {
        return Cow::Borrowed(text);
    }
    Cow::Owned(redact_params(&redact_queries(text)))
}

/// Cuts the query string of every URL; a URL ends at whitespace or a quote.
fn redact_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        let (before, url_on) = rest.split_at(start);
        out.push_str(before);
        let end = url_on
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | '`'))
            .unwrap_or(url_on.len());
        let (url, after) = url_on.split_at(end);
        match url.split_once('?') {
            Some((base, _query)) => {
                out.push_str(base);
                out.push('?');
                out.push_str(REDACTED);
            }
            None => out.push_str(url),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Byte offset of the next `http://` or `https://` (any case) in `text`.
fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("http://"), lower.find("https://")]
        .into_iter()
        .flatten()
        .min()
}

/// Replaces the value of every [`SECRET_PARAMS`] parameter (up to `&`, whitespace or a
/// quote) with `<redacted>`.
fn redact_params(text: &str) -> String {
    let mut out = text.to_owned();
    for param in SECRET_PARAMS {
        let mut from = 0;
        loop {
            let lower = out.to_ascii_lowercase();
            let Some(at) = lower[from..].find(&param.to_ascii_lowercase()) else {
                break;
            };
            let value_start = from + at + param.len();
            let value_end = out[value_start..]
                .find(|c: char| c == '&' || c.is_whitespace() || matches!(c, '\'' | '"'))
                .map_or(out.len(), |i| value_start + i);
            if out[value_start..value_end] != *REDACTED {
                out.replace_range(value_start..value_end, REDACTED);
            }
            from = value_start + REDACTED.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESIGNED: &str = "https://bucket.s3.eu-west-1.amazonaws.com/uploaded/x.mp4?\
        X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXXX%2F20261202%2Feu-west-1\
        &X-Amz-Security-Token=IQoJsecrettoken&X-Amz-Signature=0badc0ffee";

    #[test]
    fn a_file_opens_only_files_and_gets_no_network_options() {
        let file = MediaSource::from(Path::new("/job/in.mp4"));
        assert_eq!(
            file.input_args(),
            ["-protocol_whitelist", "file", "-i", "/job/in.mp4"]
        );
        assert!(!file.is_remote());
        assert_eq!(file.to_string(), "/job/in.mp4");
    }

    #[test]
    fn a_url_opens_only_network_protocols_and_reconnects() {
        let url = MediaSource::Url(PRESIGNED.into());
        assert!(url.is_remote());
        let args = url.input_args();
        assert_eq!(&args[..2], ["-protocol_whitelist", "http,https,tcp,tls"]);
        // The input comes last, right after `-i`, so every option applies to it.
        assert_eq!(&args[args.len() - 2..], ["-i", PRESIGNED]);
        let option = |name: &str| {
            let at = args.iter().position(|a| a == name)?;
            args.get(at + 1).map(String::as_str)
        };
        assert_eq!(option("-reconnect"), Some("1"));
        assert_eq!(option("-reconnect_on_network_error"), Some("1"));
        assert_eq!(option("-reconnect_on_http_error"), Some("5xx"));
        assert_eq!(option("-reconnect_delay_max"), Some("10"));
        assert_eq!(option("-rw_timeout"), Some("30000000"));
        assert_eq!(option("-tls_verify"), Some("1"));
        // Options and values alternate: nothing is left without its value.
        assert_eq!(args.len() % 2, 0, "{args:?}");
        // Plain http (the emulator): no TLS option, which ffmpeg would refuse as unused.
        let plain =
            MediaSource::Url("http://127.0.0.1:5055/b/uploaded/x.mp4?X-Amz-Signature=1".into());
        let args = plain.input_args();
        assert!(!args.iter().any(|a| a == "-tls_verify"), "{args:?}");
        assert!(args.iter().any(|a| a == "-reconnect"), "{args:?}");
    }

    #[test]
    fn display_and_debug_never_show_the_signature() {
        let url = MediaSource::Url(PRESIGNED.into());
        for shown in [url.to_string(), format!("{url:?}")] {
            for secret in ["0badc0ffee", "IQoJsecrettoken", "ASIAXXX", "X-Amz-"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(
                shown.contains("https://bucket.s3.eu-west-1.amazonaws.com/uploaded/x.mp4?"),
                "{shown}"
            );
        }
    }

    #[test]
    fn redaction_cuts_every_query_and_keeps_the_rest() {
        let log = format!(
            "[tcp @ 0x55] Connection to tcp://s3:443 failed\n{PRESIGNED}: Server returned 403 \
             Forbidden (access denied)\nOpening '{PRESIGNED}' for reading"
        );
        let clean = redact(&log);
        for secret in ["0badc0ffee", "IQoJsecrettoken", "ASIAXXX"] {
            assert!(!clean.contains(secret), "{clean}");
        }
        assert!(clean.contains("Server returned 403 Forbidden"), "{clean}");
        assert!(
            clean.contains("Opening 'https://bucket.s3.eu-west-1.amazonaws.com/uploaded/x.mp4?<redacted>' for reading"),
            "{clean}"
        );
        // moto and SigV2-style URLs, upper-case schemes, parameters without their URL.
        let v2 = "HTTP://127.0.0.1:5055/b/k.mp4?AWSAccessKeyId=test&Signature=8PH7%2F&Expires=1";
        assert_eq!(redact(v2), "HTTP://127.0.0.1:5055/b/k.mp4?<redacted>");
        let bare = "retrying with X-Amz-Signature=abc&X-Amz-Date=1 and signature=def";
        assert_eq!(
            redact(bare),
            "retrying with X-Amz-Signature=<redacted>&X-Amz-Date=1 and signature=<redacted>"
        );
        // Text without URLs or parameters is not copied.
        assert!(matches!(redact("moov atom not found"), Cow::Borrowed(_)));
        assert_eq!(
            redact("/job/in.mp4: Invalid data"),
            "/job/in.mp4: Invalid data"
        );
    }
}
