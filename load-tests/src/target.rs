//! Which hosts the harness may load, and parsing of the time flags.
//!
//! Load traffic is only allowed to loopback by default: a mistyped `--base-url`
//! must not turn into a flood against somebody else's server. `--allow-remote`
//! lifts the restriction for deliberate runs against a deployed environment.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Url;

/// True for `localhost` and loopback IP literals (`127.0.0.0/8`, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// Parses and vets the base URL of the API under test.
///
/// Refuses anything but `http(s)://` and, unless `allow_remote`, any host that is not
/// loopback. Names other than `localhost` are refused even if they resolve to
/// loopback, because resolution could change between the check and the run.
pub fn check_base_url(raw: &str, allow_remote: bool) -> Result<Url> {
    let url = Url::parse(raw).with_context(|| format!("invalid --base-url {raw:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--base-url must be http:// or https://, got {raw:?}");
    }
    let host = url
        .host_str()
        .with_context(|| format!("--base-url {raw:?} has no host"))?;
    check_host(host, "--base-url", allow_remote)?;
    Ok(url)
}

/// Refuses a non-loopback `host` unless `allow_remote`; `what` names the setting
/// in the error message.
pub fn check_host(host: &str, what: &str, allow_remote: bool) -> Result<()> {
    if !allow_remote && !is_loopback_host(host) {
        bail!(
            "{what} points at {host:?}, which is not loopback; \
             pass --allow-remote to load a remote host on purpose"
        );
    }
    Ok(())
}

/// Refuses a back-end URL (`DATABASE_URL`, `REDIS_URL`…) whose host is not loopback
/// unless `allow_remote`; a URL without a host (a Unix socket) is local by definition.
pub fn check_backend_url(what: &str, url: &str, allow_remote: bool) -> Result<()> {
    let parsed = Url::parse(url).with_context(|| format!("{what} is not a URL"))?;
    if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
        check_host(host, what, allow_remote)?;
    }
    Ok(())
}

/// Joins an API path (starting with `/`) onto the base URL, keeping any path prefix
/// the base carries (an implementation mounted under `/v1` still works).
pub fn endpoint_url(base: &Url, path: &str) -> String {
    format!("{}{}", base.as_str().trim_end_matches('/'), path)
}

/// Parses `500ms`, `90s`, `3m`, `1h` or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (try 500ms, 90s, 3m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {raw:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{raw:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1",
            "127.3.2.1",
            "localhost",
            "LOCALHOST",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "example.com",
            "localhost.example.com",
            "[::2]",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn base_url_is_refused_off_loopback_unless_allowed() {
        assert!(check_base_url("http://127.0.0.1:8000", false).is_ok());
        assert!(check_base_url("http://[::1]:8000/", false).is_ok());
        assert!(check_base_url("http://localhost:9/v1", false).is_ok());
        let err = check_base_url("http://api.example.com", false).unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(check_base_url("http://api.example.com", true).is_ok());
        assert!(check_base_url("ftp://127.0.0.1", false).is_err());
        assert!(check_base_url("not a url", false).is_err());
    }

    #[test]
    fn paths_join_onto_base_with_or_without_prefix() {
        let plain = check_base_url("http://127.0.0.1:8000", false).unwrap();
        assert_eq!(
            endpoint_url(&plain, "/api/videos"),
            "http://127.0.0.1:8000/api/videos"
        );
        let prefixed = check_base_url("http://127.0.0.1:8000/v1/", false).unwrap();
        assert_eq!(
            endpoint_url(&prefixed, "/api/videos"),
            "http://127.0.0.1:8000/v1/api/videos"
        );
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
