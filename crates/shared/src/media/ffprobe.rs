//! ffprobe: what a media file contains, parsed into types.
//!
//! [`probe`] runs `ffprobe -v error -print_format json -show_format -show_streams` through
//! the [`ffmpeg`] wrapper; [`ProbeInfo::from_json`] turns that output into a
//! [`ProbeInfo`] and is unit-tested against real ffprobe output committed under
//! `tests/fixtures/ffprobe/`.

use std::{ffi::OsStr, path::Path};

use serde::Deserialize;

use super::{MediaError, MediaSource, ffmpeg};
use crate::config::MediaConfig;

/// What a media file contains, as far as the pipeline cares.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInfo {
    /// Demuxer names, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format_name: String,
    /// Container duration in seconds (the video stream's when the container has none).
    pub duration_secs: f64,
    /// The first real video stream (cover art excluded), if any.
    pub video: Option<VideoStream>,
    /// Whether any audio stream is present.
    pub has_audio: bool,
}

/// A video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// Codec name, e.g. `h264`.
    pub codec: String,
    /// Coded width in pixels (before rotation).
    pub width: u32,
    /// Coded height in pixels (before rotation).
    pub height: u32,
    /// Display rotation in degrees, normalised into `0..360`; 0 if none.
    ///
    /// Taken from the display-matrix side data (ffprobe's `rotation`) or, for files from
    /// older muxers, the legacy `rotate` tag. Its sign convention differs between sources
    /// and ffmpeg versions, so only whether it is a quarter turn is meaningful — which is
    /// all the pipeline needs: ffmpeg applies the rotation itself while decoding.
    pub rotation: i32,
    /// Average frame rate (ffprobe's `avg_frame_rate`), if known.
    pub fps: Option<f64>,
    /// Number of frames the container declares (`nb_frames`), if it declares one.
    pub frames: Option<u64>,
}

impl VideoStream {
    /// Width and height as displayed: swapped for a quarter-turn rotation, so a
    /// 1920x1080 stream rotated by 90° is a 1080x1920 portrait video.
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation % 180 == 0 {
            (self.width, self.height)
        } else {
            (self.height, self.width)
        }
    }
}

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawFormat {
    format_name: String,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration: Option<String>,
    avg_frame_rate: Option<String>,
    nb_frames: Option<String>,
    #[serde(default)]
    disposition: RawDisposition,
    #[serde(default)]
    tags: RawTags,
    #[serde(default)]
    side_data_list: Vec<RawSideData>,
}

#[derive(Deserialize, Default)]
struct RawDisposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize, Default)]
struct RawTags {
    rotate: Option<String>,
}

#[derive(Deserialize)]
struct RawSideData {
    rotation: Option<f64>,
}

impl RawStream {
    fn rotation(&self) -> Result<i32, MediaError> {
        let degrees = match self.side_data_list.iter().find_map(|s| s.rotation) {
            Some(degrees) => degrees.round() as i32,
            None => match &self.tags.rotate {
                Some(tag) => tag.trim().parse::<i32>().map_err(|_| {
                    MediaError::Probe(format!("rotate tag {tag:?} is not a number"))
                })?,
                None => 0,
            },
        };
        Ok(degrees.rem_euclid(360))
    }

    /// `avg_frame_rate` as a number; `None` when unknown (`0/0`).
    ///
    /// The average is what the stream really holds (frames over duration); the other
    /// rate ffprobe prints, `r_frame_rate`, is a timebase guess that variable-frame-rate
    /// phone clips inflate.
    fn fps(&self) -> Result<Option<f64>, MediaError> {
        let Some(raw) = self.avg_frame_rate.as_deref() else {
            return Ok(None);
        };
        let bad = || MediaError::Probe(format!("avg_frame_rate {raw:?} is not a rate"));
        let (num, den) = raw.split_once('/').unwrap_or((raw, "1"));
        let num: f64 = num.trim().parse().map_err(|_| bad())?;
        let den: f64 = den.trim().parse().map_err(|_| bad())?;
        Ok((num > 0.0 && den > 0.0).then(|| num / den))
    }

    fn frames(&self) -> Result<Option<u64>, MediaError> {
        match self.nb_frames.as_deref() {
            None | Some("N/A") => Ok(None),
            Some(text) => text
                .trim()
                .parse()
                .map(|n: u64| (n > 0).then_some(n))
                .map_err(|_| MediaError::Probe(format!("nb_frames {text:?} is not a number"))),
        }
    }
}

fn seconds(field: &str, raw: Option<&str>) -> Result<Option<f64>, MediaError> {
    match raw {
        None | Some("N/A") => Ok(None),
        Some(text) => text
            .parse::<f64>()
            .map(Some)
            .map_err(|_| MediaError::Probe(format!("{field} {text:?} is not a number"))),
    }
}

impl ProbeInfo {
    /// Parses the JSON printed by `ffprobe -print_format json -show_format -show_streams`.
    pub fn from_json(json: &str) -> Result<Self, MediaError> {
        let raw: RawProbe =
            serde_json::from_str(json).map_err(|e| MediaError::Probe(e.to_string()))?;
        let format = raw
            .format
            .ok_or_else(|| MediaError::Probe("no format section (not a media file)".into()))?;
        let video_raw = raw
            .streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0);
        let video = match video_raw {
            None => None,
            Some(s) => Some(VideoStream {
                codec: s.codec_name.clone().unwrap_or_default(),
                width: s
                    .width
                    .ok_or_else(|| MediaError::Probe("video stream without width".into()))?,
                height: s
                    .height
                    .ok_or_else(|| MediaError::Probe("video stream without height".into()))?,
                rotation: s.rotation()?,
                fps: s.fps()?,
                frames: s.frames()?,
            }),
        };
        let stream_duration = match video_raw {
            Some(s) => seconds("stream duration", s.duration.as_deref())?,
            None => None,
        };
        let duration_secs = seconds("duration", format.duration.as_deref())?
            .or(stream_duration)
            .unwrap_or(0.0);
        Ok(Self {
            format_name: format.format_name,
            duration_secs,
            video,
            has_audio: raw
                .streams
                .iter()
                .any(|s| s.codec_type.as_deref() == Some("audio")),
        })
    }

    /// Whether the demuxer that read the file is the ISO-BMFF (MP4/QuickTime) one.
    pub fn is_mp4_family(&self) -> bool {
        self.format_name
            .split(',')
            .any(|name| name == "mp4" || name == "mov")
    }
}

/// Probes the file at `path` with `cfg.ffprobe_path`, limited to `cfg.probe_timeout`.
///
/// A file ffprobe cannot read (corrupt, truncated, not media) is a non-retryable
/// [`MediaError::Failed`].
pub async fn probe(cfg: &MediaConfig, path: &Path) -> Result<ProbeInfo, MediaError> {
    probe_args(cfg, &[path.as_os_str()]).await
}

/// Probes an upload wherever it is read from (see [`MediaSource`]), opening only the
/// source's own protocols, with the same input options (HTTP reconnects) as ffmpeg.
pub async fn probe_source(
    cfg: &MediaConfig,
    source: &MediaSource,
) -> Result<ProbeInfo, MediaError> {
    let input = source.input_args();
    let args: Vec<&OsStr> = input.iter().map(OsStr::new).collect();
    probe_args(cfg, &args).await
}

async fn probe_args(cfg: &MediaConfig, input: &[&OsStr]) -> Result<ProbeInfo, MediaError> {
    let mut args: Vec<&OsStr> = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    args.extend_from_slice(input);
    let stdout = ffmpeg::capture(&cfg.ffprobe_path, &args, cfg.probe_timeout).await?;
    let json = String::from_utf8(stdout).map_err(|e| MediaError::Probe(e.to_string()))?;
    ProbeInfo::from_json(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ProbeInfo {
        let path = format!(
            "{}/tests/fixtures/ffprobe/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let json = std::fs::read_to_string(&path).unwrap();
        ProbeInfo::from_json(&json).unwrap()
    }

    #[test]
    fn landscape_with_audio() {
        let info = fixture("landscape");
        assert_eq!(info.format_name, "mov,mp4,m4a,3gp,3g2,mj2");
        assert!(info.is_mp4_family());
        assert!((info.duration_secs - 2.0).abs() < 1e-9);
        assert!(info.has_audio);
        let video = info.video.unwrap();
        assert_eq!(
            (
                video.codec.as_str(),
                video.width,
                video.height,
                video.rotation
            ),
            ("h264", 1920, 1080, 0)
        );
        assert_eq!(video.display_size(), (1920, 1080));
        assert_eq!((video.fps, video.frames), (Some(15.0), Some(30)));
    }

    #[test]
    fn portrait_without_audio() {
        let info = fixture("portrait");
        assert!(!info.has_audio);
        assert_eq!(info.video.unwrap().display_size(), (1080, 1920));
    }

    #[test]
    fn audio_only_has_no_video() {
        let info = fixture("audio_only");
        assert!(info.has_audio);
        assert_eq!(info.video, None);
        assert!((info.duration_secs - 2.0).abs() < 1e-9);
    }

    #[test]
    fn rotated_stream_is_displayed_as_portrait() {
        let video = fixture("rotated").video.unwrap();
        assert_eq!((video.width, video.height), (1920, 1080));
        assert_eq!(video.rotation, 90);
        assert_eq!(video.display_size(), (1080, 1920));
    }

    #[test]
    fn legacy_rotate_tag_and_negative_side_data_are_normalised() {
        let json = |stream: &str| {
            format!(
                r#"{{"streams":[{{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,{stream}}}],"format":{{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"21.5"}}}}"#
            )
        };
        let tagged = ProbeInfo::from_json(&json(r#""tags":{"rotate":"90"}"#)).unwrap();
        assert_eq!(tagged.video.as_ref().unwrap().rotation, 90);
        assert_eq!(tagged.video.unwrap().display_size(), (1080, 1920));
        let matrix = ProbeInfo::from_json(&json(
            r#""side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]"#,
        ))
        .unwrap();
        assert_eq!(matrix.video.as_ref().unwrap().rotation, 270);
        assert_eq!(matrix.video.unwrap().display_size(), (1080, 1920));
        assert!((matrix.duration_secs - 21.5).abs() < 1e-9);
        let flipped =
            ProbeInfo::from_json(&json(r#""side_data_list":[{"rotation":180}]"#)).unwrap();
        assert_eq!(flipped.video.unwrap().display_size(), (1920, 1080));
    }

    #[test]
    fn cover_art_is_not_the_video_stream() {
        let json = r#"{"streams":[{"codec_type":"audio","codec_name":"aac"},{"codec_type":"video","codec_name":"mjpeg","width":600,"height":600,"disposition":{"attached_pic":1}}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"30.0"}}"#;
        let info = ProbeInfo::from_json(json).unwrap();
        assert_eq!(info.video, None);
        assert!(info.has_audio);
    }

    #[test]
    fn garbage_and_missing_format_are_probe_errors() {
        assert!(matches!(
            ProbeInfo::from_json("not json"),
            Err(MediaError::Probe(_))
        ));
        assert!(matches!(
            ProbeInfo::from_json(r#"{"streams":[]}"#),
            Err(MediaError::Probe(_))
        ));
        let bad_duration = r#"{"streams":[],"format":{"format_name":"mp4","duration":"soon"}}"#;
        assert!(matches!(
            ProbeInfo::from_json(bad_duration),
            Err(MediaError::Probe(_))
        ));
    }

    #[test]
    fn frame_rate_and_count_are_optional() {
        let json = |fields: &str| {
            format!(
                r#"{{"streams":[{{"codec_type":"video","width":1920,"height":1080{fields}}}],"format":{{"format_name":"mp4","duration":"30"}}}}"#
            )
        };
        let video = |fields: &str| ProbeInfo::from_json(&json(fields)).map(|i| i.video.unwrap());
        let ntsc = video(r#","avg_frame_rate":"30000/1001","nb_frames":"899""#).unwrap();
        assert!((ntsc.fps.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(ntsc.frames, Some(899));
        let unknown = video(r#","avg_frame_rate":"0/0","nb_frames":"N/A""#).unwrap();
        assert_eq!((unknown.fps, unknown.frames), (None, None));
        assert_eq!(video("").unwrap().fps, None);
        assert!(matches!(
            video(r#","avg_frame_rate":"fast""#),
            Err(MediaError::Probe(_))
        ));
        assert!(matches!(
            video(r#","nb_frames":"-3""#),
            Err(MediaError::Probe(_))
        ));
    }

    #[test]
    fn missing_duration_falls_back_to_the_video_stream() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1280,"height":720,"duration":"4.25"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"N/A"}}"#;
        assert!((ProbeInfo::from_json(json).unwrap().duration_secs - 4.25).abs() < 1e-9);
    }
}
