//! What a picture shows, read with ffmpeg: a whole frame of any image or video as RGB,
//! to tell a clip from a bumper or from black, and the mean colour of a block, to find a
//! bumper, the logo or a black bar where it belongs (the media tests of `shared` and
//! `worker`).

use std::path::Path;

/// Width every [`Frame`] is scaled to, whatever the source (the poster's size).
pub const WIDTH: u32 = 640;
/// Height every [`Frame`] is scaled to.
pub const HEIGHT: u32 = 360;

/// One frame, scaled to [`WIDTH`]x[`HEIGHT`], as RGB with one byte per channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Vec<u8>);

impl Frame {
    /// The frame at `t` seconds of `path` (an image or a video). Panics, with ffmpeg's
    /// message, when there is no frame there.
    pub async fn at(path: &Path, t: f64) -> Self {
        // No seek for t = 0: ffmpeg 5.1 returns no frame at all for `-ss 0` on a JPEG.
        let seek = (t > 0.0).then_some(t);
        let what = format!("the frame at {t} s of {}", path.display());
        let filter = format!("scale={WIDTH}:{HEIGHT}");
        Self(rgb(path, seek, &filter, (WIDTH * HEIGHT * 3) as usize, &what).await)
    }

    /// Mean channel value, 0–255: about 0 for black; a portrait clip between its black
    /// bars still makes 40 or more.
    pub fn mean(&self) -> f64 {
        self.0.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / self.0.len() as f64
    }

    /// Mean absolute difference per channel with `other`, 0–255: a frame and itself
    /// through JPEG or H.264 differ by less than 10, two different pictures by far more.
    pub fn mad(&self, other: &Frame) -> f64 {
        assert_eq!(self.0.len(), other.0.len(), "frames of one size");
        let sum: u64 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        sum as f64 / self.0.len() as f64
    }
}

/// Mean colour (RGB) of the `w`x`h` block at (`x`, `y`) of the frame at `t` seconds of
/// `path`, at the source's own size.
pub async fn region_rgb(path: &Path, t: f64, x: u32, y: u32, w: u32, h: u32) -> [u8; 3] {
    let what = format!("a block at {t} s of {}", path.display());
    // `area` averages the whole block into the one pixel.
    let filter = format!("crop={w}:{h}:{x}:{y},scale=1:1:flags=area");
    let px = rgb(path, Some(t), &filter, 3, &what).await;
    [px[0], px[1], px[2]]
}

/// Like [`region_rgb`], of frame number `n` (from 0) decoded from the start: ffmpeg's
/// `-ss` lands a frame or two late in files with an edit list (x264's B-frame delay),
/// too coarse next to a bumper join.
pub async fn frame_region_rgb(path: &Path, n: usize, x: u32, y: u32, w: u32, h: u32) -> [u8; 3] {
    let what = format!("a block of frame {n} of {}", path.display());
    let filter = format!("select=eq(n\\,{n}),crop={w}:{h}:{x}:{y},scale=1:1:flags=area");
    let px = rgb(path, None, &filter, 3, &what).await;
    [px[0], px[1], px[2]]
}

/// One frame of `path` (at `seek` seconds, else the first `filter` passes) through
/// `filter`, as `len` bytes of RGB. Panics with ffmpeg's message otherwise.
async fn rgb(path: &Path, seek: Option<f64>, filter: &str, len: usize, what: &str) -> Vec<u8> {
    let mut command = tokio::process::Command::new("ffmpeg");
    command.args(["-v", "error", "-nostdin"]);
    if let Some(t) = seek {
        command.args(["-ss", &format!("{t:.3}")]);
    }
    let out = command
        .arg("-i")
        .arg(path)
        .args(["-frames:v", "1", "-vf", filter])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .await
        .expect("running ffmpeg");
    assert!(
        out.status.success(),
        "reading {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), len, "{what}: one frame of {len} bytes");
    out.stdout
}

/// Whether two colours are within `tolerance` on every channel (H.264 and 4:2:0 move a
/// flat colour by a few steps).
pub fn near(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_mad_count_every_channel() {
        let black = Frame(vec![0; 6]);
        let grey = Frame(vec![0, 0, 0, 200, 200, 200]);
        assert_eq!(black.mean(), 0.0);
        assert_eq!(grey.mean(), 100.0);
        assert_eq!(grey.mad(&black), 100.0);
        assert_eq!(grey.mad(&grey), 0.0);
    }

    #[test]
    fn near_holds_every_channel_to_the_tolerance() {
        assert!(near([30, 58, 138], [10, 78, 118], 20));
        assert!(!near([30, 58, 138], [30, 58, 159], 20));
        assert!(near([0, 255, 0], [0, 255, 0], 0));
    }
}
