//! Access tokens (JWT, HS256) and password hashing (bcrypt).
//!
//! bcrypt is CPU-bound by design (≈ 250 ms at cost 12), so hashing runs on the
//! blocking pool behind a semaphore: a burst of logins can use at most
//! `bcrypt_max_concurrency` threads and never stalls the async runtime.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::AuthConfig;

/// Claims carried by an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Player id.
    pub sub: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expiry (unix seconds).
    pub exp: u64,
}

/// Why a token or password operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is missing, malformed, forged, uses another algorithm, or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Signing failed (should not happen with HS256).
    #[error("could not sign token: {0}")]
    Sign(String),
    /// bcrypt failed or its worker thread died.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Issues and checks access tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tokens {
    /// Builds the signer from the configured secret and lifetime.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            ttl,
        }
    }

    /// Token lifetime in seconds (the `expires_in` of a login).
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// Signs a token for `player_id`.
    pub fn issue(&self, player_id: i64) -> Result<String, AuthError> {
        let iat = now_secs();
        let claims = Claims {
            sub: player_id.to_string(),
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    /// Verifies signature, algorithm (HS256 only) and expiry; returns the player id.
    pub fn verify(&self, token: &str) -> Result<i64, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // A token is good until `exp`, not a minute longer.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| AuthError::InvalidToken)?;
        data.claims.sub.parse().map_err(|_| AuthError::InvalidToken)
    }
}

/// Hashes and verifies passwords off the async runtime with bounded concurrency.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Hash of a random password, verified against when the e-mail is unknown so
    /// that both failures take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Builds a hasher; computes one dummy hash (blocking, at start-up).
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let dummy = bcrypt::hash(uuid::Uuid::new_v4().to_string(), config.bcrypt_cost)
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(Self {
            cost: config.bcrypt_cost,
            permits: Arc::new(Semaphore::new(config.bcrypt_max_concurrency)),
            dummy_hash: dummy.into(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .map_err(|e| AuthError::Hash(e.to_string()))
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost)).await
    }

    /// Verifies `password` against `hash`; with `None` (unknown account) it burns the
    /// same time against a dummy hash and returns `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self.run(move || bcrypt::verify(password, &hash)).await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn tokens(ttl: u64) -> Tokens {
        Tokens::new(
            &SecretString::from("a-test-secret-that-is-long-enough-000"),
            Duration::from_secs(ttl),
        )
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn issued_tokens_verify() {
        let t = tokens(60);
        assert_eq!(t.verify(&t.issue(42).unwrap()).unwrap(), 42);
    }

    #[test]
    fn forged_expired_and_alg_none_tokens_fail() {
        let t = tokens(60);
        let other = Tokens::new(
            &SecretString::from("another-secret-another-secret-0000"),
            Duration::from_secs(60),
        );
        assert!(
            t.verify(&other.issue(1).unwrap()).is_err(),
            "foreign signature"
        );

        let exp = now_secs() - 10;
        let claims = serde_json::json!({"sub": "1", "iat": exp - 60, "exp": exp});
        let expired =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &t.encoding).unwrap();
        assert!(t.verify(&expired).is_err(), "expired");

        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&serde_json::json!({"sub": "1", "iat": now_secs(), "exp": now_secs() + 60}))
        );
        assert!(t.verify(&none).is_err(), "alg none");
        assert!(t.verify("not.a.token").is_err());
        assert!(t.verify("").is_err());
    }

    #[tokio::test]
    async fn hashing_round_trips_and_unknown_accounts_fail() {
        let cfg = AuthConfig {
            jwt_secret: SecretString::from("x"),
            token_ttl: Duration::from_secs(60),
            bcrypt_cost: 4,
            bcrypt_max_concurrency: 1,
        };
        let h = PasswordHasher::new(&cfg).unwrap();
        let hash = h.hash("correct horse".into()).await.unwrap();
        assert!(
            h.verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!h.verify("anything".into(), None).await.unwrap());
    }
}
