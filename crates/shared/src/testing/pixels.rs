//! What a picture shows, read with ffmpeg: a frame of any image or video as RGB, to tell
//! a clip from a bumper or from black (the poster and preview tests of `shared` and
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
        let out = tokio::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin"])
            // No seek for t = 0: ffmpeg 5.1 returns no frame at all for `-ss 0` on a JPEG.
            .args(if t > 0.0 {
                vec!["-ss".to_owned(), format!("{t:.3}")]
            } else {
                vec![]
            })
            .arg("-i")
            .arg(path)
            .args(["-frames:v", "1", "-vf"])
            .arg(format!("scale={WIDTH}:{HEIGHT}"))
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .await
            .expect("running ffmpeg");
        assert!(
            out.status.success(),
            "reading the frame at {t} s of {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.stdout.len(),
            (WIDTH * HEIGHT * 3) as usize,
            "one frame at {t} s of {}",
            path.display()
        );
        Self(out.stdout)
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
}
