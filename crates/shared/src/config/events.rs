//! Live status streams (`GET /api/videos/{id}/events`): how long they live, how often
//! they prove they are alive, how they fall back to PostgreSQL, and how many may be open.

use std::time::Duration;

use super::{ConfigError, Source, positive, positive_secs};

/// Settings of the live status streams ([`crate::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// A comment line is sent after this much silence, so proxies and load balancers
    /// (ALB: 60 s idle timeout) keep the connection open.
    pub keep_alive: Duration,
    /// A stream that has not reached a final state ends after this long; the client
    /// reconnects (with `Last-Event-ID`) and is authorised again.
    pub max_duration: Duration,
    /// While the Redis subscription is down, every stream reads its video's row this often.
    pub fallback_poll: Duration,
    /// While the subscription is up, every stream still reads its row this often, in case
    /// a worker could not publish (its own Redis connection down) or a message was lost.
    pub recheck: Duration,
    /// Streams open at once in one web process; beyond it `503`.
    pub max_streams: usize,
    /// Streams of one player open at once in one web process; beyond it `429`.
    pub max_streams_per_player: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            max_duration: Duration::from_secs(300),
            fallback_poll: Duration::from_secs(2),
            recheck: Duration::from_secs(15),
            max_streams: 1000,
            max_streams_per_player: 8,
        }
    }
}

impl EventsConfig {
    /// Reads the `EVENTS_*` variables.
    pub(super) fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            keep_alive: positive_secs(src, "EVENTS_KEEPALIVE_SECS", d.keep_alive.as_secs())?,
            max_duration: positive_secs(src, "EVENTS_MAX_STREAM_SECS", d.max_duration.as_secs())?,
            fallback_poll: positive_secs(
                src,
                "EVENTS_FALLBACK_POLL_SECS",
                d.fallback_poll.as_secs(),
            )?,
            recheck: positive_secs(src, "EVENTS_RECHECK_SECS", d.recheck.as_secs())?,
            max_streams: positive(src, "EVENTS_MAX_STREAMS", d.max_streams)?,
            max_streams_per_player: positive(
                src,
                "EVENTS_MAX_STREAMS_PER_PLAYER",
                d.max_streams_per_player,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<EventsConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EventsConfig::from_source(&move |name: &str| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_overridden_and_zero_is_refused() {
        assert_eq!(read(&[]).unwrap(), EventsConfig::default());
        let c = read(&[
            ("EVENTS_KEEPALIVE_SECS", "1"),
            ("EVENTS_MAX_STREAMS_PER_PLAYER", "3"),
        ])
        .unwrap();
        assert_eq!(c.keep_alive, Duration::from_secs(1));
        assert_eq!(c.max_streams_per_player, 3);
        for name in [
            "EVENTS_KEEPALIVE_SECS",
            "EVENTS_MAX_STREAM_SECS",
            "EVENTS_FALLBACK_POLL_SECS",
            "EVENTS_RECHECK_SECS",
            "EVENTS_MAX_STREAMS",
            "EVENTS_MAX_STREAMS_PER_PLAYER",
        ] {
            let err = read(&[(name, "0")]).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
