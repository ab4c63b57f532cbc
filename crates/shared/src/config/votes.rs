//! Votes: how a web instance batches them into PostgreSQL (group commit) and how often
//! the votes it registers refresh the public caches.

use std::time::Duration;

use super::{ConfigError, Source, positive};

/// Settings of the vote batcher ([`crate::votes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VotesConfig {
    /// Most votes written by one statement. A batch takes whatever arrived while the
    /// previous ones were being written, up to this.
    pub batch_max: usize,
    /// Batches written at once by one instance (each holds a database connection).
    pub in_flight: usize,
    /// The public caches (rankings, public lists) are invalidated at most this often
    /// because of votes; a vote shows in the rankings within this plus `CACHE_TTL_MS`.
    pub refresh_every: Duration,
}

impl Default for VotesConfig {
    fn default() -> Self {
        Self {
            batch_max: 256,
            in_flight: 2,
            refresh_every: Duration::from_millis(250),
        }
    }
}

impl VotesConfig {
    /// Reads the `VOTE_*` variables.
    pub(super) fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            batch_max: positive(src, "VOTE_BATCH_MAX", d.batch_max)?.min(10_000),
            in_flight: positive(src, "VOTE_BATCHES_IN_FLIGHT", d.in_flight)?,
            refresh_every: Duration::from_millis(positive(
                src,
                "VOTE_CACHE_REFRESH_MS",
                d.refresh_every.as_millis() as u64,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<VotesConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        VotesConfig::from_source(&move |name: &str| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_overridden_and_zero_is_refused() {
        assert_eq!(read(&[]).unwrap(), VotesConfig::default());
        let c = read(&[
            ("VOTE_BATCH_MAX", "64"),
            ("VOTE_BATCHES_IN_FLIGHT", "3"),
            ("VOTE_CACHE_REFRESH_MS", "100"),
        ])
        .unwrap();
        assert_eq!(c.batch_max, 64);
        assert_eq!(c.in_flight, 3);
        assert_eq!(c.refresh_every, Duration::from_millis(100));
        assert!(read(&[("VOTE_BATCH_MAX", "0")]).is_err());
        assert!(read(&[("VOTE_BATCHES_IN_FLIGHT", "0")]).is_err());
        assert!(read(&[("VOTE_CACHE_REFRESH_MS", "soon")]).is_err());
    }
}
