//! The upload rules applied to a probed file: an MP4 with a video stream, a duration in
//! range and at least 1080p (the shorter displayed side), all limits from configuration.

use super::ffprobe::ProbeInfo;
use crate::config::UploadLimits;

/// Why an upload is refused, in words that tell the player what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UploadRejection {
    /// Stable kebab-case code for clients, e.g. `duration-out-of-range`.
    pub code: &'static str,
    /// Human-readable message naming the rule and the value found.
    pub message: String,
}

impl UploadRejection {
    fn new(code: &'static str, message: String) -> Self {
        Self { code, message }
    }
}

/// Checks a probed upload against `limits`, reporting the first rule it breaks.
pub fn check_upload(info: &ProbeInfo, limits: &UploadLimits) -> Result<(), UploadRejection> {
    if !info.is_mp4_family() {
        return Err(UploadRejection::new(
            "not-mp4",
            format!(
                "the file is not an MP4 video (detected container: {})",
                info.format_name
            ),
        ));
    }
    let Some(video) = &info.video else {
        return Err(UploadRejection::new(
            "no-video-stream",
            "the file has no video stream".into(),
        ));
    };
    let secs = info.duration_secs;
    if !(limits.min_duration_secs..=limits.max_duration_secs).contains(&secs) {
        return Err(UploadRejection::new(
            "duration-out-of-range",
            format!(
                "duration {secs:.1} s is outside {}–{} s",
                limits.min_duration_secs, limits.max_duration_secs
            ),
        ));
    }
    let (width, height) = video.display_size();
    if width.min(height) < limits.min_short_side {
        let min = limits.min_short_side;
        return Err(UploadRejection::new(
            "resolution-too-low",
            format!(
                "resolution {width}x{height} is below {min}p (the shorter side must be at least {min} px)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ffprobe::VideoStream;

    fn info(width: u32, height: u32, rotation: i32, secs: f64) -> ProbeInfo {
        ProbeInfo {
            format_name: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_secs: secs,
            video: Some(VideoStream {
                codec: "h264".into(),
                width,
                height,
                rotation,
            }),
            has_audio: true,
        }
    }

    fn rejection(info: &ProbeInfo) -> UploadRejection {
        check_upload(info, &UploadLimits::default()).unwrap_err()
    }

    #[test]
    fn accepts_1080p_in_both_orientations_within_limits() {
        let limits = UploadLimits::default();
        assert_eq!(check_upload(&info(1920, 1080, 0, 45.0), &limits), Ok(()));
        assert_eq!(check_upload(&info(1080, 1920, 0, 20.0), &limits), Ok(()));
        assert_eq!(check_upload(&info(1920, 1080, 90, 60.0), &limits), Ok(()));
        assert_eq!(check_upload(&info(3840, 2160, 0, 30.0), &limits), Ok(()));
    }

    #[test]
    fn duration_outside_the_range_names_both() {
        let short = rejection(&info(1920, 1080, 0, 8.0));
        assert_eq!(short.code, "duration-out-of-range");
        assert_eq!(short.message, "duration 8.0 s is outside 20–60 s");
        assert_eq!(
            rejection(&info(1920, 1080, 0, 61.0)).message,
            "duration 61.0 s is outside 20–60 s"
        );
        assert_eq!(
            rejection(&info(1920, 1080, 0, 19.99)).code,
            "duration-out-of-range"
        );
    }

    #[test]
    fn low_resolution_names_the_size_found() {
        let r = rejection(&info(1280, 720, 0, 30.0));
        assert_eq!(r.code, "resolution-too-low");
        assert_eq!(
            r.message,
            "resolution 1280x720 is below 1080p (the shorter side must be at least 1080 px)"
        );
        // A rotated 1920x1072 stream is displayed 1072x1920: the shorter side is still short.
        let rotated = rejection(&info(1920, 1072, 90, 30.0));
        assert_eq!(
            rotated.message,
            "resolution 1072x1920 is below 1080p (the shorter side must be at least 1080 px)"
        );
    }

    #[test]
    fn missing_video_and_foreign_containers_are_refused() {
        let mut audio_only = info(0, 0, 0, 30.0);
        audio_only.video = None;
        let r = rejection(&audio_only);
        assert_eq!(
            (r.code, r.message.as_str()),
            ("no-video-stream", "the file has no video stream")
        );
        let mut webm = info(1920, 1080, 0, 30.0);
        webm.format_name = "matroska,webm".into();
        assert_eq!(rejection(&webm).code, "not-mp4");
    }

    #[test]
    fn limits_come_from_configuration() {
        let limits = UploadLimits {
            min_duration_secs: 5.0,
            max_duration_secs: 10.0,
            min_short_side: 720,
            ..Default::default()
        };
        assert_eq!(check_upload(&info(1280, 720, 0, 8.0), &limits), Ok(()));
        assert_eq!(
            check_upload(&info(1280, 720, 0, 12.5), &limits)
                .unwrap_err()
                .message,
            "duration 12.5 s is outside 5–10 s"
        );
    }
}
