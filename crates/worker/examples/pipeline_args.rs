//! Prints the worker's ffmpeg arguments for one clip, one per line, so a benchmark can
//! run exactly the job's command with and without the poster and preview outputs
//! (`scripts/bench/posters.sh`).
//!
//! ```text
//! pipeline_args <clip.mp4> <out-dir> with|without
//! ```
//! Media settings come from the environment like the worker's (`FFMPEG_PRESET`,
//! `MEDIA_ASSETS_DIR`, ...); default assets are generated on first use.

use std::path::PathBuf;

use anyhow::{Context, bail};
use skillreel_shared::{
    config::Config,
    media::{assets, ffprobe, pipeline, renditions::RenditionPaths},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let [clip, out_dir, mode] = argv.as_slice() else {
        bail!("usage: pipeline_args <clip.mp4> <out-dir> with|without");
    };
    let with = match mode.as_str() {
        "with" => true,
        "without" => false,
        other => bail!("mode must be `with` or `without`, not {other:?}"),
    };
    // Only the media settings are used; the test source supplies a throwaway JWT secret
    // so no real one is needed to print a command.
    let config = Config::from_source(&skillreel_shared::testing::env_with_test_secret)
        .context("reading the configuration")?;
    let media = &config.media;
    let assets = assets::ensure(media).await?;
    let clip = PathBuf::from(clip);
    let out_dir = PathBuf::from(out_dir);
    let source = ffprobe::probe(media, &clip).await?;
    let paths = RenditionPaths {
        poster: out_dir.join("poster.jpg"),
        preview: out_dir.join("preview.mp4"),
    };
    let renditions = with.then_some(pipeline::Renditions {
        paths: &paths,
        clip_secs: source.duration_secs,
    });
    let args = pipeline::build_args(
        media,
        &assets,
        &clip,
        &out_dir.join("processed.mp4"),
        renditions,
    );
    for arg in args {
        println!("{arg}");
    }
    Ok(())
}
