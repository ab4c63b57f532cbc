//! Rate limits and the client address (see [`crate::ratelimit`]).
//!
//! | variable | meaning |
//! |---|---|
//! | `RATE_LIMITS` | `on` or `off`; `off` only for load tests and benchmarks [`on`] |
//! | `RATE_LIMIT_ACCOUNT_FAILURES` | failed logins per account (e-mail) before it is locked until the window ends [`10/15m`] |
//! | `RATE_LIMIT_LOGIN` | login attempts per client address [`30/1m`] |
//! | `RATE_LIMIT_SIGNUP` | sign-up attempts per client address [`20/1h`] |
//! | `RATE_LIMIT_VOTE` | vote attempts per client address [`120/1h`] |
//! | `RATE_LIMIT_UPLOAD` | upload starts per client address [`20/1h`] |
//! | `RATE_LIMIT_GLOBAL` | every other request per client address, `/health/*` excepted [`1200/1m`] |
//! | `HASHES_PER_CLIENT` | sign-ups and logins one client address may have in flight at once on an instance, so one client cannot fill the hashing queue [`2`] |
//! | `TRUSTED_PROXIES` | comma-separated CIDRs of proxies whose `X-Forwarded-For` is believed [empty] |
//!
//! A rate is `N/<period>` with the period in `s`, `m` or `h` (`30/1m`, `10/15m`, `20/1h`).

use std::{net::IpAddr, str::FromStr, time::Duration};

use super::{ConfigError, Source, parse, positive};

/// `limit` events per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per period (also the burst).
    pub limit: u32,
    /// Length of the period.
    pub period: Duration,
}

impl Rate {
    /// `limit` per `period`.
    pub const fn new(limit: u32, period: Duration) -> Self {
        Self { limit, period }
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("expected `N/<period>` such as `30/1m`, `10/15m` or `20/1h`, got `{s}`");
        let (limit, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let (count, unit) = period.split_at(period.len().saturating_sub(1));
        let count: u64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let secs = match unit {
            "s" => count,
            "m" => count * 60,
            "h" => count * 3600,
            _ => return Err(bad()),
        };
        if limit == 0 || secs == 0 {
            return Err(format!(
                "a rate needs a limit and a period above 0, got `{s}`"
            ));
        }
        Ok(Self::new(limit, Duration::from_secs(secs)))
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has a prefix length outside 0–{max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// Rate limits of the web edge.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `RATE_LIMITS=off` turns every limit off.
    pub enabled: bool,
    /// Failed logins per account.
    pub account_failures: Rate,
    /// Login attempts per client.
    pub login: Rate,
    /// Sign-up attempts per client.
    pub signup: Rate,
    /// Votes per client.
    pub vote: Rate,
    /// Upload starts per client.
    pub upload: Rate,
    /// Everything else per client.
    pub global: Rate,
    /// Sign-ups and logins one client may have in flight on an instance.
    pub hashes_per_client: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        Self {
            enabled: true,
            account_failures: Rate::new(10, Duration::from_secs(15 * MIN)),
            login: Rate::new(30, Duration::from_secs(MIN)),
            signup: Rate::new(20, Duration::from_secs(HOUR)),
            vote: Rate::new(120, Duration::from_secs(HOUR)),
            upload: Rate::new(20, Duration::from_secs(HOUR)),
            global: Rate::new(1200, Duration::from_secs(MIN)),
            hashes_per_client: 2,
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// Reads the limits from `src`.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        let enabled = match src.get("RATE_LIMITS").as_deref().map(str::trim) {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "RATE_LIMITS".into(),
                    reason: format!("expected `on` or `off`, got `{other}`"),
                });
            }
        };
        let trusted_proxies = src
            .get("TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.parse::<Cidr>().map_err(|reason| ConfigError::Invalid {
                    name: "TRUSTED_PROXIES".into(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            enabled,
            account_failures: parse(src, "RATE_LIMIT_ACCOUNT_FAILURES", d.account_failures)?,
            login: parse(src, "RATE_LIMIT_LOGIN", d.login)?,
            signup: parse(src, "RATE_LIMIT_SIGNUP", d.signup)?,
            vote: parse(src, "RATE_LIMIT_VOTE", d.vote)?,
            upload: parse(src, "RATE_LIMIT_UPLOAD", d.upload)?,
            global: parse(src, "RATE_LIMIT_GLOBAL", d.global)?,
            hashes_per_client: positive(src, "HASHES_PER_CLIENT", d.hashes_per_client)?,
            trusted_proxies,
        })
    }

    /// Whether `peer` is one of the trusted proxies.
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(
            "10/15m".parse::<Rate>().unwrap(),
            Rate::new(10, Duration::from_secs(900))
        );
        assert_eq!(
            "20/h".parse::<Rate>().unwrap(),
            Rate::new(20, Duration::from_secs(3600))
        );
        assert_eq!(
            " 5 / 30s ".parse::<Rate>().unwrap(),
            Rate::new(5, Duration::from_secs(30))
        );
        for bad in ["10", "0/1m", "10/0m", "10/1d", "x/1m", "10/m1"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn cidrs_match_their_networks() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.3.4".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.2".parse().unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()));
        assert!(!one.contains("127.0.0.3".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn off_and_bad_values() {
        let off = |n: &str| (n == "RATE_LIMITS").then(|| "off".to_owned());
        assert!(!RateLimitConfig::from_source(&off).unwrap().enabled);
        let bad = |n: &str| (n == "TRUSTED_PROXIES").then(|| "10.0.0.0/8, bogus".to_owned());
        let err = RateLimitConfig::from_source(&bad).unwrap_err().to_string();
        assert!(err.contains("TRUSTED_PROXIES"), "{err}");
        let proxies =
            |n: &str| (n == "TRUSTED_PROXIES").then(|| "10.0.0.0/8, 127.0.0.2".to_owned());
        let cfg = RateLimitConfig::from_source(&proxies).unwrap();
        assert!(cfg.enabled);
        assert!(cfg.is_trusted("127.0.0.2".parse().unwrap()));
        assert!(!cfg.is_trusted("127.0.0.3".parse().unwrap()));
    }
}
