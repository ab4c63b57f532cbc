//! The visibility probe: how long after a `200` a vote shows in the rankings.
//!
//! The probe owner is the only ranked player of a city of its own, with one public
//! video. Every `--probe-interval` (250 ms) the next probe voter votes for that video;
//! once the `200` arrives the probe reads `GET /api/public/rankings?city=<its city>`
//! every 20 ms until the owner's total reaches the number of probe votes answered `200`
//! so far. The lag is the time from that `200` to the answer that showed it (so it
//! includes one ranking read, and is measured to 20 ms plus that read). A vote not
//! visible after [`GIVE_UP`] counts as missed. Each probe voter votes once: a pair
//! can be voted only once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde::{Deserialize, Serialize};

use super::conn::Conn;
use super::flood::Flood;
use super::tally::Percentiles;
use crate::stats::new_histogram;

/// Time between two ranking reads while waiting for a vote to show.
pub const POLL: Duration = Duration::from_millis(20);
/// A vote not visible after this long is counted as missed.
pub const GIVE_UP: Duration = Duration::from_secs(10);

/// What the probe sends.
pub struct ProbeSetup {
    /// `POST` target of the probe video's vote.
    pub vote_uri: Uri,
    /// One `Authorization` per probe voter.
    pub voter_auth: Vec<HeaderValue>,
    /// The probe city's ranking.
    pub rankings_uri: Uri,
    /// The probe owner's name as the ranking shows it.
    pub owner_name: String,
    /// Time between two probe votes.
    pub interval: Duration,
}

/// What the probe measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Probe votes answered `200`.
    pub votes_ok: u64,
    /// Probe votes answered otherwise, or not at all.
    pub votes_failed: u64,
    /// Votes seen in the ranking (one lag sample each).
    pub seen: u64,
    /// Votes not seen within the give-up time. `votes_ok − seen − missed` waits were cut
    /// short by the end of the run (request budget spent, or in-flight requests abandoned).
    pub missed: u64,
    /// Ranking reads made by the probe.
    pub polls: u64,
    /// Lag from the `200` to the ranking read that showed the vote.
    pub lag: Option<Percentiles>,
}

/// How waiting for one vote ended.
enum Wait {
    Seen(Duration),
    Missed,
    /// The flood is over and the remaining requests were given up, or the budget is spent.
    Abandoned,
}

/// Runs the probe until the flood's votes are over (or its voters run out).
pub(super) async fn run(flood: Arc<Flood>, setup: ProbeSetup) -> ProbeReport {
    let mut conn = Conn::new(flood.target.clone(), flood.timeout);
    let mut lags = new_histogram(3);
    let mut report = ProbeReport {
        votes_ok: 0,
        votes_failed: 0,
        seen: 0,
        missed: 0,
        polls: 0,
        lag: None,
    };
    let mut tick = tokio::time::interval(setup.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    for (n, auth) in setup.voter_auth.iter().enumerate() {
        // The first probe vote goes at once, so even the shortest flood has a sample.
        if n > 0 {
            tokio::select! {
                _ = tick.tick() => {}
                () = flood.aux_stop.cancelled() => break,
            }
        }
        if !flood.take_budget() {
            break;
        }
        let answer = tokio::select! {
            answer = conn.send(Method::POST, &setup.vote_uri, Some(auth)) => answer,
            () = flood.abandon.cancelled() => break,
        };
        if !answer.is_ok_and(|a| a.status == 200) {
            report.votes_failed += 1;
            continue;
        }
        let acked = Instant::now();
        report.votes_ok += 1;
        match wait_until_seen(&flood, &setup, &mut conn, &mut report, acked).await {
            Wait::Seen(lag) => {
                report.seen += 1;
                let _ = lags.record((lag.as_micros() as u64).max(1));
            }
            Wait::Missed => report.missed += 1,
            Wait::Abandoned => break,
        }
    }
    report.lag = Percentiles::of(&lags);
    report
}

/// Reads the probe city's ranking every [`POLL`] until the owner has `votes_ok` votes.
async fn wait_until_seen(
    flood: &Flood,
    setup: &ProbeSetup,
    conn: &mut Conn,
    report: &mut ProbeReport,
    acked: Instant,
) -> Wait {
    let expected = report.votes_ok as i64;
    loop {
        if !flood.take_budget() {
            return Wait::Abandoned;
        }
        let answer = tokio::select! {
            answer = conn.send(Method::GET, &setup.rankings_uri, None) => answer,
            () = flood.abandon.cancelled() => return Wait::Abandoned,
        };
        report.polls += 1;
        let shown = answer
            .ok()
            .filter(|a| a.status == 200)
            .and_then(|a| votes_of(&a.body, &setup.owner_name));
        if shown.is_some_and(|votes| votes >= expected) {
            return Wait::Seen(acked.elapsed());
        }
        if acked.elapsed() >= GIVE_UP {
            return Wait::Missed;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = flood.abandon.cancelled() => return Wait::Abandoned,
        }
    }
}

/// The votes of `owner` in a ranking page (0 when not listed); `None` if the body is
/// not a ranking.
fn votes_of(body: &[u8], owner: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Entry {
        username: String,
        votes: i64,
    }
    let entries: Vec<Entry> = serde_json::from_slice(body).ok()?;
    Some(
        entries
            .iter()
            .find(|e| e.username == owner)
            .map_or(0, |e| e.votes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_found_in_a_ranking_page() {
        let page = br#"[{"position":1,"username":"Votes Probe1","city":"Probe x","votes":3},
                        {"position":2,"username":"Someone Else","city":"Probe x","votes":9}]"#;
        assert_eq!(votes_of(page, "Votes Probe1"), Some(3));
        assert_eq!(votes_of(page, "Nobody"), Some(0));
        assert_eq!(votes_of(b"[]", "Votes Probe1"), Some(0));
        assert_eq!(votes_of(b"{\"detail\":\"down\"}", "Votes Probe1"), None);
    }
}
