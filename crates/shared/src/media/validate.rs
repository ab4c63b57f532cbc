//! The upload rules applied to a probed file: an MP4 with a video stream, a duration in
//! range, at least 1080p (the shorter displayed side), and upper bounds on what decoding
//! it costs — the longer side, the frame rate and the declared frame count — all limits
//! from configuration.
//!
//! The frame count bound: a file may declare (`nb_frames`) at most what its duration
//! holds at the highest accepted frame rate, plus [`FRAME_COUNT_SLACK`] and one more
//! second, for edit lists and rounding. A clip claiming millions of frames in 30 s makes
//! ffmpeg decode all of them, whatever its duration says.

use super::ffprobe::ProbeInfo;
use crate::config::UploadLimits;

/// Relative slack on the frame count allowed by the duration and the frame-rate limit.
pub const FRAME_COUNT_SLACK: f64 = 0.1;

/// Most frames a clip of `secs` may declare under `max_fps` (see the module docs).
pub fn max_frames(secs: f64, max_fps: f64) -> u64 {
    let frames = (secs * max_fps * (1.0 + FRAME_COUNT_SLACK)).floor() + max_fps.ceil();
    // Saturating float-to-int conversion: absurd limits mean no limit.
    frames as u64
}

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
    if width.max(height) > limits.max_long_side {
        return Err(UploadRejection::new(
            "resolution-too-high",
            format!(
                "resolution {width}x{height} is above the limit (the longer side may be at most {} px)",
                limits.max_long_side
            ),
        ));
    }
    if let Some(fps) = video.fps.filter(|fps| *fps > limits.max_fps) {
        return Err(UploadRejection::new(
            "frame-rate-too-high",
            format!(
                "frame rate {fps:.1} fps is above the limit of {} fps",
                limits.max_fps
            ),
        ));
    }
    let allowed = max_frames(secs, limits.max_fps);
    if let Some(frames) = video.frames.filter(|frames| *frames > allowed) {
        return Err(UploadRejection::new(
            "frame-count-implausible",
            format!(
                "the file declares {frames} frames for {secs:.1} s, more than {allowed} \
                 (the limit of {} fps allows)",
                limits.max_fps
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
        timed(width, height, rotation, secs, 30.0)
    }

    /// A clip at `fps` declaring as many frames as its duration holds at that rate.
    fn timed(width: u32, height: u32, rotation: i32, secs: f64, fps: f64) -> ProbeInfo {
        ProbeInfo {
            format_name: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_secs: secs,
            video: Some(VideoStream {
                codec: "h264".into(),
                width,
                height,
                rotation,
                fps: Some(fps),
                frames: Some((secs * fps).round() as u64),
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
    fn oversized_frames_are_refused_by_their_longer_side() {
        let limits = UploadLimits::default();
        // 4K DCI (4096 px) and a portrait 2160x3840 phone clip are fine.
        assert_eq!(check_upload(&info(4096, 2160, 0, 30.0), &limits), Ok(()));
        assert_eq!(check_upload(&info(3840, 2160, 90, 30.0), &limits), Ok(()));
        let r = rejection(&info(8192, 8192, 0, 21.0));
        assert_eq!(r.code, "resolution-too-high");
        assert_eq!(
            r.message,
            "resolution 8192x8192 is above the limit (the longer side may be at most 4096 px)"
        );
        assert_eq!(
            rejection(&info(1080, 4104, 0, 21.0)).code,
            "resolution-too-high"
        );
    }

    #[test]
    fn frame_rates_up_to_the_limit_pass() {
        let limits = UploadLimits::default();
        for fps in [24.0, 29.97, 30.0, 59.94, 60.0, 120.0] {
            assert_eq!(
                check_upload(&timed(1920, 1080, 0, 30.0, fps), &limits),
                Ok(()),
                "{fps}"
            );
        }
        let r = rejection(&timed(1920, 1080, 0, 30.0, 240.0));
        assert_eq!(r.code, "frame-rate-too-high");
        assert_eq!(
            r.message,
            "frame rate 240.0 fps is above the limit of 120 fps"
        );
    }

    #[test]
    fn unknown_rate_and_count_are_not_held_against_a_clip() {
        let mut clip = info(1920, 1080, 0, 30.0);
        let video = clip.video.as_mut().unwrap();
        (video.fps, video.frames) = (None, None);
        assert_eq!(check_upload(&clip, &UploadLimits::default()), Ok(()));
    }

    #[test]
    fn a_frame_count_the_duration_cannot_hold_is_refused() {
        // 30 s at 120 fps is 3600 frames; 10 % slack and one second: 4080.
        assert_eq!(max_frames(30.0, 120.0), 4080);
        let mut clip = timed(1920, 1080, 0, 30.0, 30.0);
        clip.video.as_mut().unwrap().frames = Some(4080);
        assert_eq!(check_upload(&clip, &UploadLimits::default()), Ok(()));
        clip.video.as_mut().unwrap().frames = Some(3_000_000);
        let r = rejection(&clip);
        assert_eq!(r.code, "frame-count-implausible");
        assert_eq!(
            r.message,
            "the file declares 3000000 frames for 30.0 s, more than 4080 (the limit of 120 fps allows)"
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
            max_long_side: 1280,
            max_fps: 25.0,
            ..Default::default()
        };
        assert_eq!(
            check_upload(&timed(1280, 720, 0, 8.0, 24.0), &limits),
            Ok(())
        );
        assert_eq!(
            check_upload(&info(1280, 720, 0, 12.5), &limits)
                .unwrap_err()
                .message,
            "duration 12.5 s is outside 5–10 s"
        );
        assert_eq!(
            check_upload(&info(1920, 1080, 0, 8.0), &limits)
                .unwrap_err()
                .code,
            "resolution-too-high"
        );
        assert_eq!(
            check_upload(&timed(1280, 720, 0, 8.0, 30.0), &limits)
                .unwrap_err()
                .code,
            "frame-rate-too-high"
        );
    }
}
