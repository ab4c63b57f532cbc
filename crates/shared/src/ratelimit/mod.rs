//! Rate limits shared by every web instance, kept in Redis.
//!
//! Two mechanisms, each one small Lua script run atomically by Redis on Redis' clock:
//!
//! - **Per client address** ([`Rule`]): GCRA ("N per period", bursts of up to N, then
//!   one more every period/N). One key per rule and client, holding one timestamp that
//!   expires when the client is back to a full burst. The client address is resolved by
//!   [`client::client_addr`]; IPv6 clients are limited per /64, the block one
//!   subscriber usually holds.
//! - **Per account** ([`RateLimiter::login_attempt`]): a fixed window of failed logins
//!   per e-mail. Every attempt counts until it succeeds, so guesses sent in parallel
//!   cannot pass the limit while their hashes are checked; past the limit the account
//!   answers `429` until the window ends, whatever the password. A success clears the
//!   window. Keyed by a hash of the lower-cased e-mail, so unknown e-mails behave
//!   exactly like known ones (nothing reveals which accounts exist) and no address is
//!   written to Redis.
//!
//! Each instance remembers refusals until they end and, for the generous global cap
//! only, takes events from Redis in batches ([`local`]), so a busy client costs one
//! round trip per batch instead of one per request; neither lets a client past a limit.
//!
//! When Redis cannot answer within [`REDIS_BUDGET`], the limiter lets the request
//! through (logged at most every 30 s): an outage of the limiter's store must not take
//! logins and votes down with it. After a failure the limiter does not ask Redis again
//! for [`REDIS_PAUSE`], so a Redis that hangs (a partition, a frozen process) costs one
//! request per instance per pause the budget's wait, not every request.

pub mod client;
pub mod local;
pub mod slots;

use std::{
    net::IpAddr,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use redis::{Script, aio::ConnectionManager};
use sha2::{Digest, Sha256};

use crate::config::{RedisConfig, limits::Rate, limits::RateLimitConfig};

static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/gcra.lua")));
static FAILURES: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/failures.lua")));

/// How long a limit check may wait for Redis before the request goes through unchecked.
pub const REDIS_BUDGET: Duration = Duration::from_millis(250);

/// How long the limiter leaves Redis alone after it failed to answer.
pub const REDIS_PAUSE: Duration = Duration::from_secs(1);

/// The instant [`RateLimiter`]'s pauses are measured from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn since_epoch_ms(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(*EPOCH).as_millis()).unwrap_or(u64::MAX)
}

/// A per-client limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `POST /api/auth/login`.
    Login,
    /// `POST /api/auth/signup`.
    Signup,
    /// `POST /api/public/videos/{id}/vote`.
    Vote,
    /// `POST /api/videos/upload`.
    Upload,
    /// Every other request (health checks excepted).
    Global,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Signup => "signup",
            Self::Vote => "vote",
            Self::Upload => "upload",
            Self::Global => "global",
        }
    }

    /// The `code` of the `429` body.
    pub fn code(self) -> &'static str {
        match self {
            Self::Login => "too-many-logins",
            Self::Signup => "too-many-signups",
            Self::Vote => "too-many-votes",
            Self::Upload => "too-many-uploads",
            Self::Global => "too-many-requests",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Login => "login attempts",
            Self::Signup => "sign-ups",
            Self::Vote => "votes",
            Self::Upload => "uploads",
            Self::Global => "requests",
        }
    }

    /// Events taken from Redis at once: a batch for the global cap (1 % of it, at most
    /// 64), single events for the strict per-route limits.
    fn batch(self, rate: Rate) -> u32 {
        match self {
            Self::Global => (rate.limit / 100).clamp(1, 64),
            _ => 1,
        }
    }

    fn rate(self, config: &RateLimitConfig) -> Rate {
        match self {
            Self::Login => config.login,
            Self::Signup => config.signup,
            Self::Vote => config.vote,
            Self::Upload => config.upload,
            Self::Global => config.global,
        }
    }
}

/// A refused request: what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// Machine-readable code of the limit.
    pub code: &'static str,
    /// Player-readable message.
    pub detail: String,
    /// Whole seconds until a retry can succeed (at least 1).
    pub retry_after: u64,
}

impl Limited {
    fn new(code: &'static str, detail: String, wait_ms: i64) -> Self {
        // Whole seconds, rounded up: a client that waits `Retry-After` is let in.
        let ms = u64::try_from(wait_ms).unwrap_or(0);
        Self {
            code,
            detail,
            retry_after: ms.div_ceil(1000).max(1),
        }
    }
}

/// Checks and counts requests against the limits. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    prefix: String,
    config: Arc<RateLimitConfig>,
    local: Arc<local::LocalState>,
    last_warning: Arc<Mutex<Option<Instant>>>,
    /// Until when (ms after [`EPOCH`]) Redis is left alone after a failure.
    paused_until_ms: Arc<AtomicU64>,
}

impl RateLimiter {
    /// A limiter over `redis`, its keys under the service's prefix.
    pub fn new(
        redis: ConnectionManager,
        redis_config: &RedisConfig,
        config: RateLimitConfig,
    ) -> Self {
        Self {
            redis,
            prefix: redis_config.key("rl"),
            config: Arc::new(config),
            local: Arc::default(),
            last_warning: Arc::default(),
            paused_until_ms: Arc::default(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Counts one request of `client` against `rule`; `Err` when it is over the limit.
    pub async fn hit(&self, rule: Rule, client: IpAddr) -> Result<(), Limited> {
        if !self.config.enabled {
            return Ok(());
        }
        let rate = rule.rate(&self.config);
        let refused = |wait: Duration| {
            let detail = format!(
                "Too many {} from this address (limit {} per {}); try again later",
                rule.what(),
                rate.limit,
                describe(rate.period)
            );
            Limited::new(rule.code(), detail, duration_ms(wait))
        };
        let key = format!(
            "{}:{}:{}",
            self.prefix,
            rule.name(),
            client::subject(client)
        );
        match self.local.take(&key, Instant::now()) {
            local::Known::Allowed => return Ok(()),
            local::Known::Refused(wait) => return Err(refused(wait)),
            local::Known::Unknown => {}
        }
        // Microseconds, so rates up to a million a second per client stay exact.
        let period_us = i64::try_from(rate.period.as_micros()).unwrap_or(i64::MAX);
        let interval_us = (period_us / i64::from(rate.limit)).max(1);
        let mut invocation = GCRA.key(&key);
        invocation
            .arg(interval_us)
            .arg(period_us)
            .arg(rule.batch(rate));
        let Some((taken, wait_us)) = self.run::<(u32, i64)>(invocation).await else {
            return Ok(());
        };
        let now = Instant::now();
        if taken == 0 {
            let wait = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0).max(1));
            self.local.refuse(&key, wait, now);
            return Err(refused(wait));
        }
        self.local.keep(&key, taken - 1, now);
        Ok(())
    }

    /// Counts a login attempt on the account of `email`; `Err` while the account is
    /// locked after too many failures. Call [`Self::login_succeeded`] after a success.
    pub async fn login_attempt(&self, email: &str) -> Result<(), Limited> {
        if !self.config.enabled {
            return Ok(());
        }
        let rate = self.config.account_failures;
        let mut invocation = FAILURES.key(self.account_key(email));
        invocation.arg(rate.limit).arg(duration_ms(rate.period));
        let wait = self.run::<i64>(invocation).await.unwrap_or(0);
        if wait > 0 {
            let detail = format!(
                "Too many failed logins for this account (limit {} per {}); try again later",
                rate.limit,
                describe(rate.period)
            );
            return Err(Limited::new("too-many-login-failures", detail, wait));
        }
        Ok(())
    }

    /// Clears the failure window of `email` after a successful login.
    pub async fn login_succeeded(&self, email: &str) {
        if !self.config.enabled || self.paused() {
            return;
        }
        let mut conn = self.redis.clone();
        let mut del = redis::cmd("DEL");
        del.arg(self.account_key(email));
        match tokio::time::timeout(REDIS_BUDGET, del.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("timed out"),
        }
    }

    fn account_key(&self, email: &str) -> String {
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:account:{hex}", self.prefix)
    }

    /// Runs a limit script; `None` (let the request through) when Redis fails.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        if self.paused() {
            return None;
        }
        let mut conn = self.redis.clone();
        match tokio::time::timeout(REDIS_BUDGET, invocation.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }

    /// Whether Redis failed less than [`REDIS_PAUSE`] ago.
    fn paused(&self) -> bool {
        since_epoch_ms(Instant::now()) < self.paused_until_ms.load(Ordering::Relaxed)
    }

    /// Leaves Redis alone for [`REDIS_PAUSE`] and warns (at most every 30 s).
    fn failed(&self, error: &str) {
        let until = since_epoch_ms(Instant::now() + REDIS_PAUSE);
        self.paused_until_ms.fetch_max(until, Ordering::Relaxed);
        self.warn(error);
    }

    fn warn(&self, error: &str) {
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
            *last = Some(Instant::now());
            tracing::warn!(error, "rate limits unchecked: Redis did not answer");
        }
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// `15 min`, `1 h`, `30 s`.
fn describe(period: Duration) -> String {
    let s = period.as_secs();
    match s {
        s if s % 3600 == 0 && s > 3600 => format!("{} h", s / 3600),
        3600 => "hour".to_owned(),
        60 => "minute".to_owned(),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(Limited::new("x", String::new(), 1).retry_after, 1);
        assert_eq!(Limited::new("x", String::new(), 1000).retry_after, 1);
        assert_eq!(Limited::new("x", String::new(), 1001).retry_after, 2);
        assert_eq!(Limited::new("x", String::new(), 0).retry_after, 1);
    }

    #[test]
    fn periods_read_naturally() {
        assert_eq!(describe(Duration::from_secs(900)), "15 min");
        assert_eq!(describe(Duration::from_secs(3600)), "hour");
        assert_eq!(describe(Duration::from_secs(60)), "minute");
        assert_eq!(describe(Duration::from_secs(7200)), "2 h");
        assert_eq!(describe(Duration::from_secs(45)), "45 s");
    }
}
