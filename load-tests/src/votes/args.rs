//! Flags of `votes`, and their bounds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use crate::cli::DEFAULT_RESULTS_DIR;
use crate::target::parse_duration;

/// More probe voters than this would take a very long run; the probe then stops early.
const MAX_PROBE_VOTERS: u32 = 20_000;
/// Bounds that catch typos before they seed millions of rows.
const MAX_PAIRS: u64 = 50_000_000;
const MAX_TASKS: u32 = 10_000;

/// Who owns the seeded videos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Owners {
    /// One player per video: votes spread over many rows.
    Distinct,
    /// One favourite player owns every video: every vote touches the same player row.
    One,
}

impl Owners {
    /// Name in results folders and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Owners::Distinct => "distinct",
            Owners::One => "one",
        }
    }
}

/// Flags of `votes`.
#[derive(Debug, Clone, Args)]
pub struct VotesArgs {
    /// API under test (plain http; loopback only unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// Allow a base URL or DATABASE_URL that is not loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Voters to seed.
    #[arg(long, default_value_t = 1000)]
    pub voters: u32,
    /// Public videos to seed.
    #[arg(long, default_value_t = 100)]
    pub videos: u32,
    /// Who owns the videos: one player per video, or one player for all.
    #[arg(long, value_enum, default_value = "distinct")]
    pub owners: Owners,
    /// Keep-alive connections voting in closed loop.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Share of pairs sent a second time (each expects 400), e.g. 0.2.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub duplicates: f64,
    /// Connections reading GET /api/public/rankings in closed loop meanwhile.
    #[arg(long, default_value_t = 0)]
    pub readers: u32,
    /// Readers alternate the global ranking with this city's (`seeded`: the city of
    /// the seeded players, whose totals the flood moves).
    #[arg(long)]
    pub reader_city: Option<String>,
    /// Time between two probe votes.
    #[arg(long, value_parser = parse_duration, default_value = "250ms")]
    pub probe_interval: Duration,
    /// No visibility probe.
    #[arg(long)]
    pub no_probe: bool,
    /// votes/s is measured from this point to the moment the pairs run out.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Stop after this long even if pairs remain.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub duration: Duration,
    /// Stop after this many requests (votes, reads and probe together).
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
    /// Seed of the sending order [random].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also report the CPU seconds this process (the web service) uses during the flood.
    #[arg(long)]
    pub web_pid: Option<u32>,
    /// Keep the seeded players, videos and votes.
    #[arg(long)]
    pub keep: bool,
    /// Root folder of the results.
    #[arg(long, default_value = DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// Suffix for the results folder name.
    #[arg(long)]
    pub label: Option<String>,
}

/// Parses a non-negative share such as `0.2` (at most 10: ten resends per pair).
pub fn parse_share(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(share) if share.is_finite() && (0.0..=10.0).contains(&share) => Ok(share),
        _ => Err(format!("{raw:?} is not a share between 0 and 10")),
    }
}

impl VotesArgs {
    /// Checks the bounds of the flags.
    pub fn check(&self) -> Result<()> {
        if self.voters == 0 || self.videos == 0 {
            bail!("--voters and --videos must be at least 1");
        }
        if u64::from(self.voters) * u64::from(self.videos) > MAX_PAIRS {
            bail!("--voters × --videos must stay under {MAX_PAIRS} pairs");
        }
        if !(1..=MAX_TASKS).contains(&self.connections) || self.readers > MAX_TASKS {
            bail!("--connections must be 1..={MAX_TASKS} and --readers at most {MAX_TASKS}");
        }
        if self.reader_city.is_some() && self.readers == 0 {
            bail!("--reader-city needs --readers");
        }
        if self.max_requests == 0 || self.duration.is_zero() || self.probe_interval.is_zero() {
            bail!("--max-requests, --duration and --probe-interval must be above zero");
        }
        Ok(())
    }

    /// Players owning the videos.
    pub fn owner_count(&self) -> u32 {
        match self.owners {
            Owners::Distinct => self.videos,
            Owners::One => 1,
        }
    }

    /// Probe voters to seed: one per probe vote `--duration` allows, and one to spare.
    pub fn probe_voters(&self) -> u32 {
        if self.no_probe {
            return 0;
        }
        let votes = self.duration.as_secs_f64() / self.probe_interval.as_secs_f64();
        (votes.ceil() as u32)
            .saturating_add(1)
            .min(MAX_PROBE_VOTERS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> VotesArgs {
        let mut argv = vec!["skillreel-load", "votes"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Votes(votes) => votes,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_vote_night_of_the_issue() {
        let args = parse(&[]);
        args.check().unwrap();
        assert_eq!(
            (args.voters, args.videos, args.connections),
            (1000, 100, 64)
        );
        assert_eq!((args.owners, args.owner_count()), (Owners::Distinct, 100));
        assert_eq!(parse(&["--owners", "one"]).owner_count(), 1);
        assert_eq!(args.duplicates, 0.0);
        // 10 minutes at 4 probe votes a second, and one to spare.
        assert_eq!(args.probe_voters(), 2401);
        assert_eq!(parse(&["--no-probe"]).probe_voters(), 0);
        assert_eq!(
            parse(&["--duration", "100h"]).probe_voters(),
            MAX_PROBE_VOTERS
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["--voters", "0"]).check().is_err());
        assert!(parse(&["--connections", "0"]).check().is_err());
        assert!(
            parse(&["--voters", "100000", "--videos", "1000"])
                .check()
                .is_err()
        );
        assert!(parse(&["--reader-city", "seeded"]).check().is_err());
        assert!(
            parse(&["--reader-city", "seeded", "--readers", "2"])
                .check()
                .is_ok()
        );
        let mut argv = vec!["skillreel-load", "votes", "--duplicates", "-1"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv[3] = "0.25";
        assert!(Cli::try_parse_from(&argv).is_ok());
    }
}
