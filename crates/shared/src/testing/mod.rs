//! Helpers for the test suites of every crate (feature `testing`, enabled only as a
//! dev-dependency): a per-process signing key, and running a service binary in a bare
//! environment to see how it starts or refuses to.

use std::{path::Path, process::Stdio, sync::OnceLock, time::Duration};

use tokio::process::Command;

use crate::config::{EnvSource, Source};

/// A signing key of this test process: long enough, random, never a committed value.
pub fn test_secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    })
}

/// A configuration source: the environment, with [`test_secret`] as `JWT_SECRET` and no
/// separate URL-signing key or development mode.
pub fn env_with_test_secret(name: &str) -> Option<String> {
    match name {
        "JWT_SECRET" => Some(test_secret().to_owned()),
        "URL_SIGNING_KEY" | "SKILLREEL_ENV" => None,
        other => EnvSource.get(other),
    }
}

/// `bin` with only `vars` (and `PATH`) in its environment, run in `dir` (an empty
/// directory, so no `.env` is found).
pub fn bare_command(bin: &str, dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `bin` in a bare environment to its exit (at most 60 s); returns whether it
/// succeeded and everything it printed.
pub async fn run_to_exit(bin: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        bare_command(bin, dir.path(), vars).output(),
    )
    .await
    .expect("the binary should stop at once")
    .expect("running the binary");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

pub mod pixels;
pub mod servers;
pub mod sse;
pub mod tls;
