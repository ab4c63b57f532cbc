//! skillreel-load: a load-test harness for the skillreel web API and worker queue.
//!
//! A lean tool rather than a framework: tokio tasks are the virtual users, reqwest
//! sends the requests, HDR histograms hold the latencies, and every run writes a
//! self-contained results folder (`summary.json`, CSVs, PNG charts).
//! See `load-tests/README.md` for the scenarios and flags.

pub mod charts;
pub mod cli;
pub mod report;
pub mod stats;
pub mod target;
pub mod votes;
pub mod web;
pub mod worker;
