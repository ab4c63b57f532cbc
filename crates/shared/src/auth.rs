//! Access tokens (JWT, HS256) and password hashing (bcrypt).
//!
//! bcrypt is CPU-bound by design (≈ 250 ms at cost 12), so hashing runs on a small
//! pool of its own: `bcrypt_max_concurrency` threads at a lower scheduling priority
//! (`bcrypt_nice`). A burst of logins therefore never stalls the async runtime, and
//! when the cores are contended the kernel runs the request-serving threads first: a
//! ranking read is not made to wait behind a password hash.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

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
    /// Too many hashes are already waiting (`bcrypt_max_waiting`): answering at once
    /// beats making the client wait longer than it would.
    #[error("too many sign-ins at once")]
    Busy,
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

/// A unit of work for the hashing pool.
type HashJob = Box<dyn FnOnce() + Send>;

/// The threads that run bcrypt. They live as long as some [`PasswordHasher`] clone does:
/// dropping the last sender closes the channel and every thread returns.
#[derive(Debug)]
struct HashPool {
    jobs: mpsc::Sender<HashJob>,
    /// Jobs submitted and not yet started.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

impl HashPool {
    /// Starts `threads` hashing threads at niceness `nice`; at most `max_waiting` jobs
    /// may wait for one of them (0 = no limit).
    fn start(threads: usize, nice: i32, max_waiting: usize) -> Result<Self, AuthError> {
        let (tx, rx) = mpsc::channel::<HashJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || {
                    lower_priority(nice);
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            // A panicking job loses its answer (its caller sees an
                            // error), not the thread.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(mpsc::RecvError) => return,
                        }
                    }
                })
                .map_err(|e| AuthError::Hash(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs: tx,
            waiting: Arc::default(),
            max_waiting,
        })
    }

    /// Queues `job`, or refuses with [`AuthError::Busy`] when `max_waiting` jobs already
    /// wait (0 = no limit).
    fn submit(&self, job: HashJob) -> Result<(), AuthError> {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        if self.max_waiting > 0 && queued >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(AuthError::Busy);
        }
        let waiting = Arc::clone(&self.waiting);
        self.jobs
            .send(Box::new(move || {
                waiting.fetch_sub(1, Ordering::SeqCst);
                job();
            }))
            .map_err(|_| AuthError::Hash("the hashing pool has stopped".into()))
    }
}

/// Makes the calling thread yield to normal-priority threads: on Linux `setpriority`
/// with a thread id changes that thread only. Failing to lower it costs latency, not
/// correctness, so it is logged and ignored.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(error = %e, nice, "could not lower the priority of a bcrypt thread");
    }
}

/// The nice value of the calling thread (for tests and diagnostics).
pub fn current_thread_nice() -> Option<i32> {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok()
}

/// Hashes and verifies passwords off the async runtime with bounded concurrency.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    cost: u32,
    pool: Arc<HashPool>,
    /// Hash of a random password, verified against when the e-mail is unknown so
    /// that both failures take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Builds a hasher and starts its threads; computes one dummy hash (blocking, at
    /// start-up).
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let dummy = bcrypt::hash(uuid::Uuid::new_v4().to_string(), config.bcrypt_cost)
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(Self {
            cost: config.bcrypt_cost,
            pool: Arc::new(HashPool::start(
                config.bcrypt_max_concurrency,
                config.bcrypt_nice,
                config.bcrypt_max_waiting,
            )?),
            dummy_hash: dummy.into(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let (tx, rx) = oneshot::channel();
        self.pool.submit(Box::new(move || {
            // The caller went away (client disconnected) while the job was queued:
            // skip the expensive part.
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(f());
        }))?;
        rx.await
            .map_err(|_| AuthError::Hash("a hashing thread died".into()))?
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
            bcrypt_nice: 0,
            bcrypt_max_waiting: 0,
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

    fn pool_config(threads: usize, nice: i32) -> AuthConfig {
        AuthConfig {
            jwt_secret: SecretString::from("x"),
            token_ttl: Duration::from_secs(60),
            bcrypt_cost: 4,
            bcrypt_max_concurrency: threads,
            bcrypt_nice: nice,
            bcrypt_max_waiting: 0,
        }
    }

    #[tokio::test]
    async fn hashing_threads_run_at_the_configured_niceness() {
        let base = current_thread_nice().unwrap();
        let nice = (base + 5).min(19);
        let h = PasswordHasher::new(&pool_config(1, nice)).unwrap();
        let seen = h.run(|| Ok(current_thread_nice())).await.unwrap().unwrap();
        assert_eq!(seen, nice);
        // The caller's own thread is left alone.
        assert_eq!(current_thread_nice().unwrap(), base);
    }

    #[tokio::test]
    async fn no_more_hashes_run_at_once_than_configured() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = PasswordHasher::new(&pool_config(2, 0)).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            h.run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        });
        for r in futures::future::join_all(jobs).await {
            r.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_request_skips_its_queued_hash() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = PasswordHasher::new(&pool_config(1, 0)).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        // Occupy the only thread, then queue a job and drop its future.
        let h2 = h.clone();
        let blocker = tokio::spawn(async move {
            h2.run(|| {
                std::thread::sleep(Duration::from_millis(150));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let ran2 = Arc::clone(&ran);
        {
            let mut queued = Box::pin(h.run(move || {
                ran2.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }));
            // Polling once submits the job; dropping the future abandons it.
            assert!(futures::poll!(queued.as_mut()).is_pending());
        }
        blocker.await.unwrap().unwrap();
        // A later job runs after the abandoned one was skipped.
        h.run(|| Ok(())).await.unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn past_the_waiting_limit_requests_are_refused_at_once() {
        let mut cfg = pool_config(1, 0);
        cfg.bcrypt_max_waiting = 2;
        let h = PasswordHasher::new(&cfg).unwrap();
        let slow = || {
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        };
        // One running, two waiting: the fourth is refused without waiting.
        let running = tokio::spawn({
            let h = h.clone();
            async move { h.run(slow).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.run(slow).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        assert!(matches!(h.run(slow).await, Err(AuthError::Busy)));
        assert!(started.elapsed() < Duration::from_millis(100));
        running.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        // Once the queue drained, hashing is accepted again.
        h.run(|| Ok(())).await.unwrap();
    }
}
