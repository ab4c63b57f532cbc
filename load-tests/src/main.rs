//! `skillreel-load` command: see `load-tests/README.md`.

use anyhow::Result;
use clap::Parser;
use skillreel_load::charts;
use skillreel_load::cli::{self, Cli, Command};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Web(args) => {
            cli::run_web(&args).await?;
        }
        Command::Worker(args) => {
            skillreel_load::worker::run_worker(&args).await?;
        }
        Command::Votes(args) => {
            skillreel_load::votes::run_votes(&args).await?;
        }
        Command::Charts { results_dir } => {
            for file in charts::regenerate(&results_dir)? {
                println!("{}", file.display());
            }
        }
    }
    Ok(())
}
