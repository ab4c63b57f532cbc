//! Runs the job's media step on one file, as a job does — `media::pipeline::process`
//! with the worker's media settings and assets, poster and preview included — and
//! prints what it cost (`scripts/bench/media.sh`).
//!
//! ```text
//! process_clip <clip.mp4> <out-dir>
//! ```
//! Writes `<out-dir>/processed.mp4`, `poster.jpg` and `preview.mp4`, then prints one
//! line: `cpu_s=<user+system seconds of this process and its ffmpeg/ffprobe children
//! during the call> wall_s=<seconds> output_secs=<probed duration>`. The worker makes
//! its assets once at start, so they are made (or found) before the measurement starts.
//! Media settings come from the environment like the worker's (`FFMPEG_PRESET`,
//! `MEDIA_ASSETS_DIR`, ...).

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, bail};
use skillreel_shared::{
    config::Config,
    media::{assets, pipeline, renditions::RenditionPaths},
};

/// User + system CPU seconds of this process and of its children it has waited for
/// (`utime stime cutime cstime` of proc(5)).
fn cpu_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The fields after the command name, which may itself hold spaces, start at `state`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("parsing /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields
        .get(11..=14)
        .context("short /proc/self/stat")?
        .iter()
        .map(|f| f.parse::<f64>())
        .sum::<Result<f64, _>>()
        .context("parsing CPU ticks")?;
    // USER_HZ is 100 on every Linux the worker runs on.
    Ok(ticks / 100.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let [clip, out_dir] = argv.as_slice() else {
        bail!("usage: process_clip <clip.mp4> <out-dir>");
    };
    // Only the media settings are used; the test source supplies a throwaway JWT secret.
    let config = Config::from_source(&skillreel_shared::testing::env_with_test_secret)
        .context("reading the configuration")?;
    let media = &config.media;
    let assets = assets::ensure(media).await?;
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let renditions = RenditionPaths {
        poster: out_dir.join("poster.jpg"),
        preview: out_dir.join("preview.mp4"),
    };
    let output = out_dir.join("processed.mp4");
    let cpu_before = cpu_secs()?;
    let started = Instant::now();
    let report = pipeline::process(
        media,
        &assets,
        PathBuf::from(clip),
        &output,
        Some(&renditions),
        |_| {},
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_secs()? - cpu_before;
    println!(
        "cpu_s={cpu:.2} wall_s={wall:.2} output_secs={:.3}",
        report.output_secs
    );
    Ok(())
}
