//! Pure parsing of what AWS returns: the two secrets and SSM parameter names. Kept apart
//! from the network code so every rule here is unit-tested without an emulator.

use std::fmt::Write as _;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::config::{ConfigError, secrets::MIN_SECRET_BYTES as MIN_JWT_SECRET_BYTES};

/// A [`ConfigError::Secret`] naming the secret.
pub(super) fn secret_error(id: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Secret {
        name: id.to_owned(),
        reason: reason.into(),
    }
}

/// Makes the prefix absolute with exactly one trailing slash, so names and messages agree.
pub(super) fn normalize_prefix(raw: &str) -> String {
    let inner = raw.trim().trim_matches('/');
    if inner.is_empty() {
        "/".to_owned()
    } else {
        format!("/{inner}/")
    }
}

/// The variable a parameter sets: its last path segment, upper-cased.
pub(super) fn variable_name(parameter: &str) -> Option<String> {
    let segment = parameter.rsplit('/').next()?;
    let variable: String = segment
        .chars()
        .map(|c| {
            if c == '-' || c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    let valid = variable
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && variable
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    valid.then_some(variable)
}

/// The database secret, in the shape RDS documents for its rotation functions.
pub(super) struct DatabaseSecret {
    username: String,
    password: SecretString,
    host: String,
    port: u16,
    dbname: String,
}

impl DatabaseSecret {
    /// Parses the secret by hand rather than through a typed serde struct: serde's type
    /// errors quote the offending value, which could be the password.
    pub(super) fn parse(id: &str, raw: &str) -> Result<Self, ConfigError> {
        let shape = "expected a JSON object {username, password, host, port, dbname}";
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| secret_error(id, format!("is not valid JSON ({e}); {shape}")))?;
        let object = value.as_object().ok_or_else(|| secret_error(id, shape))?;
        let port = match object.get("port") {
            None | Some(Value::Null) => 5432,
            Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            Some(_) => 0,
        };
        if port == 0 {
            return Err(secret_error(id, "field `port` must be a port number"));
        }
        Ok(Self {
            username: string_field(id, object, "username")?,
            password: string_field(id, object, "password")?.into(),
            host: string_field(id, object, "host")?,
            port,
            dbname: string_field(id, object, "dbname")?,
        })
    }

    pub(super) fn url(&self, sslmode: &str, root_cert: Option<&str>) -> String {
        // A bare IPv6 address needs brackets to be told apart from the port.
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let root_cert = root_cert
            .map(|file| format!("&sslrootcert={}", percent_encode(file.trim())))
            .unwrap_or_default();
        format!(
            "postgres://{}:{}@{host}:{}/{}?sslmode={sslmode}{root_cert}",
            percent_encode(&self.username),
            percent_encode(self.password.expose_secret()),
            self.port,
            percent_encode(&self.dbname),
        )
    }
}

fn string_field(id: &str, object: &Map<String, Value>, field: &str) -> Result<String, ConfigError> {
    match object.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        None | Some(Value::Null) => Err(secret_error(id, format!("field `{field}` is missing"))),
        Some(_) => Err(secret_error(
            id,
            format!("field `{field}` must be a non-empty string"),
        )),
    }
}

pub(super) fn parse_jwt_secret(id: &str, raw: &str) -> Result<SecretString, ConfigError> {
    let raw = raw.trim();
    let key = if raw.starts_with('{') {
        let value: Value = serde_json::from_str(raw).map_err(|e| {
            secret_error(
                id,
                format!(
                    "looks like JSON but does not parse ({e}); expected {{\"jwt_secret\": \"…\"}}"
                ),
            )
        })?;
        match value.get("jwt_secret") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => {
                return Err(secret_error(id, "field `jwt_secret` is missing"));
            }
            Some(_) => return Err(secret_error(id, "field `jwt_secret` must be a string")),
        }
    } else {
        raw.to_owned()
    };
    if key.len() < MIN_JWT_SECRET_BYTES {
        return Err(secret_error(
            id,
            format!(
                "the signing key is {} bytes; at least {MIN_JWT_SECRET_BYTES} are required",
                key.len()
            ),
        ));
    }
    Ok(key.into())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, which is always safe
/// inside the user-info and path of a URL.
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use secrecy::ExposeSecret;
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::*;

    fn reason(err: ConfigError) -> String {
        match err {
            ConfigError::Secret { name, reason } => format!("{name}: {reason}"),
            other => panic!("expected a secret error, got {other:?}"),
        }
    }

    #[test]
    fn database_url_is_encoded_and_parses_back() {
        let raw = r#"{"username":"app user@x","password":"p@ss:w/rd%?#","host":"db.internal",
                      "port":"6432","dbname":"skill reel","engine":"postgres"}"#;
        let url = DatabaseSecret::parse("db", raw)
            .unwrap()
            .url("require", None);
        assert_eq!(
            url,
            "postgres://app%20user%40x:p%40ss%3Aw%2Frd%25%3F%23@db.internal:6432/skill%20reel?sslmode=require"
        );
        let options = PgConnectOptions::from_str(&url).unwrap();
        assert_eq!(options.get_username(), "app user@x");
        assert_eq!(options.get_host(), "db.internal");
        assert_eq!(options.get_port(), 6432);
        assert_eq!(options.get_database(), Some("skill reel"));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn database_port_defaults_and_ipv6_gets_brackets() {
        let raw = r#"{"username":"u","password":"p","host":"::1","dbname":"d"}"#;
        assert_eq!(
            DatabaseSecret::parse("db", raw)
                .unwrap()
                .url("prefer", None),
            "postgres://u:p@[::1]:5432/d?sslmode=prefer"
        );
    }

    #[test]
    fn the_database_ca_bundle_joins_the_url() {
        let raw = r#"{"username":"u","password":"p","host":"db","dbname":"d"}"#;
        let secret = DatabaseSecret::parse("db", raw).unwrap();
        let url = secret.url("verify-full", Some("/etc/skillreel/rds ca.pem"));
        assert_eq!(
            url,
            "postgres://u:p@db:5432/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fskillreel%2Frds%20ca.pem"
        );
        let options = PgConnectOptions::from_str(&url).unwrap();
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
    }

    #[test]
    fn malformed_database_secrets_name_the_field_but_not_the_value() {
        let missing = reason(
            DatabaseSecret::parse("db/x", r#"{"username":"u","host":"h","dbname":"d"}"#)
                .err()
                .unwrap(),
        );
        assert!(
            missing.contains("db/x") && missing.contains("`password` is missing"),
            "{missing}"
        );
        let bad_port = reason(
            DatabaseSecret::parse(
                "db",
                r#"{"username":"u","password":"p","host":"h","dbname":"d","port":"hunter2"}"#,
            )
            .err()
            .unwrap(),
        );
        assert!(
            bad_port.contains("`port`") && !bad_port.contains("hunter2"),
            "{bad_port}"
        );
        let not_json = reason(
            DatabaseSecret::parse("db", "hunter2-not-json")
                .err()
                .unwrap(),
        );
        assert!(
            not_json.contains("not valid JSON") && !not_json.contains("hunter2"),
            "{not_json}"
        );
        let not_object = reason(DatabaseSecret::parse("db", "[1]").err().unwrap());
        assert!(not_object.contains("JSON object"), "{not_object}");
    }

    #[test]
    fn jwt_secret_is_plain_or_json_and_long_enough() {
        let key = "k".repeat(40);
        assert_eq!(
            parse_jwt_secret("j", &format!(" {key}\n"))
                .unwrap()
                .expose_secret(),
            key
        );
        let json = format!(r#"{{"jwt_secret":"{key}"}}"#);
        assert_eq!(parse_jwt_secret("j", &json).unwrap().expose_secret(), key);
        assert!(
            reason(parse_jwt_secret("j", r#"{"secret":"x"}"#).err().unwrap())
                .contains("`jwt_secret` is missing")
        );
        let short = reason(parse_jwt_secret("j", "tooshort").err().unwrap());
        assert!(
            short.contains("8 bytes") && !short.contains("tooshort"),
            "{short}"
        );
    }

    #[test]
    fn parameter_names_map_to_variables() {
        assert_eq!(
            variable_name("/skillreel/s3_bucket").as_deref(),
            Some("S3_BUCKET")
        );
        assert_eq!(
            variable_name("/skillreel/limits/upload-max-bytes").as_deref(),
            Some("UPLOAD_MAX_BYTES")
        );
        assert_eq!(variable_name("/skillreel/1st"), None);
        assert_eq!(variable_name("/skillreel/a b"), None);
    }

    #[test]
    fn prefixes_are_normalized() {
        assert_eq!(normalize_prefix("/skillreel/"), "/skillreel/");
        assert_eq!(normalize_prefix("skillreel/prod"), "/skillreel/prod/");
        assert_eq!(normalize_prefix("/"), "/");
    }
}
