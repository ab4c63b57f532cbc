//! Unit tests of reading the configuration.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

/// The configuration from `pairs`, with a valid `JWT_SECRET` unless `pairs` sets one.
fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.entry("JWT_SECRET".to_owned())
        .or_insert_with(|| "j".repeat(secrets::MIN_SECRET_BYTES));
    Config::from_source(&move |k: &str| map.get(k).cloned())
}

#[test]
fn defaults_work_on_one_machine() {
    let c = from(&[]).unwrap();
    assert_eq!(c.http.port, 8000);
    assert_eq!(c.storage.backend, StorageBackend::Local);
    assert_eq!(c.upload, UploadLimits::default());
    assert_eq!(c.auth.token_ttl, Duration::from_secs(3600));
    assert_eq!(c.media.max_output_secs, 30.0);
    assert!(!c.storage.force_path_style);
    assert_eq!(c.redis.queue_name(), "skillreel:jobs:process-video");
    assert_eq!(c.environment, Environment::Production);
    assert_eq!(c.http.metrics_addr.as_deref(), Some("127.0.0.1:9101"));
    assert_eq!(c.worker.metrics_addr.as_deref(), Some("127.0.0.1:9100"));
}

#[test]
fn metrics_listeners_can_move_or_be_turned_off() {
    let c = from(&[
        ("WEB_METRICS_ADDR", "off"),
        ("WORKER_METRICS_ADDR", "10.0.0.5:9200"),
    ])
    .unwrap();
    assert_eq!(c.http.metrics_addr, None);
    assert_eq!(c.worker.metrics_addr.as_deref(), Some("10.0.0.5:9200"));
}

#[test]
fn signing_keys_are_checked_when_the_configuration_is_read() {
    let err = Config::from_source(&|_: &str| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("JWT_SECRET"), "{err}");
    let err = from(&[("JWT_SECRET", "abc")]).unwrap_err().to_string();
    assert!(err.contains("JWT_SECRET"), "{err}");
    let dev = |name: &str| (name == "SKILLREEL_ENV").then(|| "development".to_owned());
    let c = Config::from_source(&dev).unwrap();
    assert_eq!(c.environment, Environment::Development);
}

#[test]
fn endpoint_override_turns_on_path_style() {
    let c = from(&[
        ("STORAGE_BACKEND", "s3"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ])
    .unwrap();
    assert_eq!(c.storage.backend, StorageBackend::S3);
    assert_eq!(
        c.storage.endpoint_url.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert!(c.storage.force_path_style);
}

#[test]
fn invalid_values_name_the_variable() {
    let err = from(&[("PORT", "eighty")]).unwrap_err().to_string();
    assert!(err.contains("PORT"), "{err}");
    let err = from(&[("STORAGE_BACKEND", "ftp")]).unwrap_err().to_string();
    assert!(
        err.contains("STORAGE_BACKEND") && err.contains("ftp"),
        "{err}"
    );
}

#[test]
fn upload_bounds_are_configurable() {
    let c = from(&[("UPLOAD_MAX_LONG_SIDE", "7680"), ("UPLOAD_MAX_FPS", "240")]).unwrap();
    assert_eq!((c.upload.max_long_side, c.upload.max_fps), (7680, 240.0));
    let defaults = from(&[]).unwrap().upload;
    assert_eq!((defaults.max_long_side, defaults.max_fps), (4096, 120.0));
    let err = from(&[("UPLOAD_MAX_FPS", "fast")]).unwrap_err().to_string();
    assert!(err.contains("UPLOAD_MAX_FPS"), "{err}");
}

#[test]
fn signing_key_defaults_to_jwt_secret() {
    let key = "k".repeat(40);
    let c = from(&[("JWT_SECRET", &key)]).unwrap();
    assert_eq!(c.storage.url_signing_key.expose_secret(), key);
}

#[test]
fn slow_client_limits_are_configurable_and_never_zero() {
    let d = from(&[]).unwrap();
    assert_eq!(d.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(d.http.body_timeout, Duration::from_secs(10));
    assert_eq!(d.upload.idle_timeout, Duration::from_secs(30));
    assert_eq!(d.upload.max_receive_time, Duration::from_secs(600));
    assert_eq!(
        (d.upload.max_in_flight, d.upload.max_in_flight_per_player),
        (16, 2)
    );
    let c = from(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "65"),
        ("UPLOAD_IDLE_SECS", "5"),
        ("UPLOAD_MAX_SECS", "60"),
        ("UPLOAD_MAX_IN_FLIGHT", "64"),
        ("UPLOAD_MAX_IN_FLIGHT_PER_PLAYER", "1"),
    ])
    .unwrap();
    assert_eq!(c.http.header_read_timeout, Duration::from_secs(65));
    assert_eq!(c.upload.idle_timeout, Duration::from_secs(5));
    assert_eq!(c.upload.max_receive_time, Duration::from_secs(60));
    assert_eq!(
        (c.upload.max_in_flight, c.upload.max_in_flight_per_player),
        (64, 1)
    );
    for name in [
        "HTTP_HEADER_READ_TIMEOUT_SECS",
        "HTTP_BODY_TIMEOUT_SECS",
        "UPLOAD_IDLE_SECS",
        "UPLOAD_MAX_SECS",
        "UPLOAD_MAX_IN_FLIGHT",
        "UPLOAD_MAX_IN_FLIGHT_PER_PLAYER",
    ] {
        let err = from(&[(name, "0")]).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}
