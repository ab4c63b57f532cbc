//! Makes (or finds in the cache) a phone-like test clip and prints its path, so shell
//! benchmarks use the same clips as the Rust ones (`media::testclip::PhoneClip`).
//!
//! ```text
//! phone_clip landscape|portrait <secs> [fps=30]
//! ```
//! The cache is `SKILLREEL_TEST_CACHE` (else `<temp dir>/skillreel-test-media`); a clip
//! takes about its own duration to make on a small machine, once.

use anyhow::{Context, bail};
use skillreel_shared::media::testclip::{self, PhoneClip};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: phone_clip landscape|portrait <secs> [fps=30]";
    let (orientation, secs, fps) = match argv.as_slice() {
        [o, s] => (o, s, "30"),
        [o, s, f] => (o, s, f.as_str()),
        _ => bail!(usage),
    };
    let secs: u32 = secs.parse().context(usage)?;
    let fps: u32 = fps.parse().context(usage)?;
    let spec = match orientation.as_str() {
        "landscape" => PhoneClip::landscape(secs),
        "portrait" => PhoneClip::portrait(secs),
        _ => bail!(usage),
    }
    .at_fps(fps);
    println!("{}", testclip::cached_phone(&spec).await?.display());
    Ok(())
}
