//! Prints the worker's ffmpeg arguments for one clip, one per line, so a benchmark can
//! run exactly the job's command with and without the poster and preview outputs
//! (`scripts/bench/posters.sh`), or the reference one-pass render
//! (`scripts/bench/media.sh`).
//!
//! ```text
//! pipeline_args <clip.mp4> <out-dir> with|without|branch|reference|assets
//! ```
//! `reference` prints `media::reference::build_args` writing `<out-dir>/reference.mp4`;
//! `assets` prints the paths of the intro, outro and logo the worker uses (generating
//! the defaults), one per line, for commands written out by hand.
//! `branch` prints a command that runs only the poster and preview chains on
//! `<out-dir>/processed.mp4` (a processed video of `<clip.mp4>`): their own cost
//! against a decode of the same file.
//! Media settings come from the environment like the worker's (`FFMPEG_PRESET`,
//! `MEDIA_ASSETS_DIR`, ...); default assets are generated on first use.

use std::path::PathBuf;

use anyhow::{Context, bail};
use skillreel_shared::{
    config::Config,
    media::{
        assets, ffprobe, pipeline, reference,
        renditions::{self, ClipWindow, RenditionPaths},
    },
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let [clip, out_dir, mode] = argv.as_slice() else {
        bail!("usage: pipeline_args <clip.mp4> <out-dir> with|without|branch|reference|assets");
    };
    if !["with", "without", "branch", "reference", "assets"].contains(&mode.as_str()) {
        bail!("mode must be `with`, `without`, `branch`, `reference` or `assets`, not {mode:?}");
    }
    // Only the media settings are used; the test source supplies a throwaway JWT secret
    // so no real one is needed to print a command.
    let config = Config::from_source(&skillreel_shared::testing::env_with_test_secret)
        .context("reading the configuration")?;
    let media = &config.media;
    let assets = assets::ensure(media).await?;
    let clip = PathBuf::from(clip);
    let out_dir = PathBuf::from(out_dir);
    let print = |lines: Vec<String>| lines.iter().for_each(|line| println!("{line}"));
    match mode.as_str() {
        "assets" => {
            let paths = [&assets.intro, &assets.outro, &assets.logo];
            print(paths.map(|p| p.to_string_lossy().into_owned()).to_vec());
            return Ok(());
        }
        "reference" => {
            let output = out_dir.join("reference.mp4");
            print(reference::build_args(
                media,
                &assets,
                &clip.as_path().into(),
                &output,
            ));
            return Ok(());
        }
        _ => {}
    }
    let with = mode != "without";
    let source = ffprobe::probe(media, &clip).await?;
    let paths = RenditionPaths {
        poster: out_dir.join("poster.jpg"),
        preview: out_dir.join("preview.mp4"),
    };
    if mode == "branch" {
        let processed = out_dir.join("processed.mp4");
        let window = ClipWindow {
            start_secs: assets.intro_secs,
            secs: source.duration_secs.min(media.max_output_secs),
        };
        let mut args: Vec<String> = vec!["-y".into(), "-nostdin".into(), "-i".into()];
        args.push(processed.to_string_lossy().into_owned());
        args.push("-filter_complex".into());
        args.push(renditions::filter_chains("0:v", window));
        args.extend(renditions::output_args(&paths, media.threads));
        for arg in args {
            println!("{arg}");
        }
        return Ok(());
    }
    let renditions = with.then_some(pipeline::Renditions {
        paths: &paths,
        clip_secs: source.duration_secs,
    });
    let args = pipeline::build_args(
        media,
        &assets,
        &clip.as_path().into(),
        &out_dir.join("processed.mp4"),
        renditions,
    );
    for arg in args {
        println!("{arg}");
    }
    Ok(())
}
