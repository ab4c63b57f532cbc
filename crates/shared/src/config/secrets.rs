//! Signing keys: `JWT_SECRET` (access tokens) and `URL_SIGNING_KEY` (local media URLs,
//! `JWT_SECRET` unless set).
//!
//! A signing key is never a default. Outside the development mode
//! (`SKILLREEL_ENV=development`) a process refuses to start unless `JWT_SECRET` is set to
//! at least [`MIN_SECRET_BYTES`] bytes and is not a value published in this repository
//! (the old `.env.example` value, the built-in development key, the benchmark scripts'
//! keys): anyone can read those, so anyone could forge tokens signed with them.
//!
//! In the development mode an unset `JWT_SECRET` falls back to the built-in development
//! key, with a warning; a set key still has to be long enough.

use secrecy::SecretString;

use super::{ConfigError, Source};

/// Shortest accepted signing key: HS256 wants at least its 256-bit output size.
pub const MIN_SECRET_BYTES: usize = 32;

/// Variable that selects the development mode.
pub const ENV_VARIABLE: &str = "SKILLREEL_ENV";

/// Signing key of the development mode, used only when `JWT_SECRET` is unset there.
const DEV_JWT_SECRET: &str = "skillreel-development-secret-change-me-0123456789";

/// Keys that were committed to this repository at some point. Everyone can read them,
/// so outside the development mode they are refused like a missing key.
const PUBLISHED: [&str; 4] = [
    DEV_JWT_SECRET,
    "change-me-to-a-long-random-string-of-at-least-32-bytes",
    "capacity-secret-capacity-secret-capacity",
    "bench-secret-bench-secret-bench-secret",
];

/// Where the process runs, from `SKILLREEL_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// Anything shared with other people: every secret must be set and strong.
    #[default]
    Production,
    /// One developer's machine: a missing `JWT_SECRET` falls back to a development key.
    Development,
}

impl Environment {
    /// Reads `SKILLREEL_ENV` (`production` or `development`; unset is `production`).
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        match src.get(ENV_VARIABLE).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(Self::Production),
            Some(v) if v == "production" => Ok(Self::Production),
            Some(v) if v == "development" => Ok(Self::Development),
            Some(other) => Err(ConfigError::Invalid {
                name: ENV_VARIABLE.to_owned(),
                reason: format!("expected `production` or `development`, got `{other}`"),
            }),
        }
    }
}

/// The two signing keys, checked.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    /// Key of access tokens.
    pub jwt: SecretString,
    /// Key of local media URL signatures.
    pub url: SecretString,
}

/// Reads and checks `JWT_SECRET` and `URL_SIGNING_KEY` for `env`.
pub fn signing_keys(src: &dyn Source, env: Environment) -> Result<SigningKeys, ConfigError> {
    let jwt = match src.get("JWT_SECRET") {
        Some(key) => checked("JWT_SECRET", key, env)?,
        None if env == Environment::Development => {
            tracing::warn!(
                "JWT_SECRET is not set: signing with the built-in development key \
                 (SKILLREEL_ENV=development); never expose this instance"
            );
            DEV_JWT_SECRET.to_owned()
        }
        None => {
            return Err(ConfigError::Missing {
                name: "JWT_SECRET".to_owned(),
                reason: format!(
                    "set it to at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand \
                     -hex 32`; scripts/up.sh writes one into .env), or set \
                     {ENV_VARIABLE}=development on a development machine"
                ),
            });
        }
    };
    let url = match src.get("URL_SIGNING_KEY") {
        Some(key) => checked("URL_SIGNING_KEY", key, env)?,
        None => jwt.clone(),
    };
    Ok(SigningKeys {
        jwt: jwt.into(),
        url: url.into(),
    })
}

/// The key if it is long enough and, outside development, not a published one. The
/// messages name the variable and never echo the value.
fn checked(name: &str, key: String, env: Environment) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: name.to_owned(),
        reason,
    };
    if key.len() < MIN_SECRET_BYTES {
        return Err(invalid(format!(
            "the signing key is {} bytes; at least {MIN_SECRET_BYTES} random bytes are required \
             (e.g. `openssl rand -hex 32`)",
            key.len()
        )));
    }
    if env == Environment::Production && PUBLISHED.contains(&key.as_str()) {
        return Err(invalid(
            "the signing key is a value published in the skillreel repository; generate a \
             random one (e.g. `openssl rand -hex 32`)"
                .to_owned(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    fn keys(pairs: &[(&str, &str)]) -> Result<SigningKeys, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let src = move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let env = Environment::from_source(&src)?;
        signing_keys(&src, env)
    }

    fn message(pairs: &[(&str, &str)]) -> String {
        keys(pairs).unwrap_err().to_string()
    }

    #[test]
    fn a_missing_key_stops_start_up_outside_development() {
        let err = message(&[]);
        assert!(
            err.contains("JWT_SECRET") && err.contains(ENV_VARIABLE),
            "{err}"
        );
        let err = message(&[(ENV_VARIABLE, "production")]);
        assert!(err.contains("JWT_SECRET"), "{err}");
    }

    #[test]
    fn development_falls_back_to_the_development_key() {
        let k = keys(&[(ENV_VARIABLE, "Development")]).unwrap();
        assert_eq!(k.jwt.expose_secret(), DEV_JWT_SECRET);
        assert_eq!(k.url.expose_secret(), DEV_JWT_SECRET);
    }

    #[test]
    fn short_keys_are_refused_in_every_mode_without_echoing_them() {
        for env in ["production", "development"] {
            let err = message(&[(ENV_VARIABLE, env), ("JWT_SECRET", "short-secret")]);
            assert!(
                err.contains("JWT_SECRET") && err.contains("12 bytes"),
                "{err}"
            );
            assert!(!err.contains("short-secret"), "{err}");
        }
        let err = message(&[("JWT_SECRET", GOOD), ("URL_SIGNING_KEY", "abc")]);
        assert!(err.contains("URL_SIGNING_KEY"), "{err}");
    }

    #[test]
    fn published_keys_are_refused_outside_development() {
        for published in PUBLISHED {
            let err = message(&[("JWT_SECRET", published)]);
            assert!(
                err.contains("JWT_SECRET") && err.contains("published"),
                "{err}"
            );
            assert!(keys(&[(ENV_VARIABLE, "development"), ("JWT_SECRET", published)]).is_ok());
        }
        let err = message(&[("JWT_SECRET", GOOD), ("URL_SIGNING_KEY", PUBLISHED[1])]);
        assert!(err.contains("URL_SIGNING_KEY"), "{err}");
    }

    #[test]
    fn a_good_key_signs_both_unless_the_url_key_is_set() {
        let k = keys(&[("JWT_SECRET", GOOD)]).unwrap();
        assert_eq!((k.jwt.expose_secret(), k.url.expose_secret()), (GOOD, GOOD));
        let other = "fedcba9876543210fedcba9876543210";
        let k = keys(&[("JWT_SECRET", GOOD), ("URL_SIGNING_KEY", other)]).unwrap();
        assert_eq!(k.url.expose_secret(), other);
    }

    #[test]
    fn unknown_environments_name_the_variable() {
        let err = message(&[(ENV_VARIABLE, "staging"), ("JWT_SECRET", GOOD)]);
        assert!(
            err.contains(ENV_VARIABLE) && err.contains("staging"),
            "{err}"
        );
    }
}
