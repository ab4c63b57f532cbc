//! Where a job reads the original: where it lies (the local store's own file, or a
//! presigned S3 GET ffmpeg reads with Range requests), never a copy made first, except
//! when a run over HTTP looks like the file's fault: then one download decides.

use std::{path::Path, sync::Arc, time::Duration};

use skillreel_shared::{
    db::videos::Video,
    media::{self, MediaError, MediaSource, pipeline::ProcessReport, renditions::RenditionPaths},
};
use tokio::sync::watch;
use tracing::warn;

use super::JobError;
use crate::JobContext;

/// How much longer than a job can read its input (one probe, one ffmpeg run) a presigned
/// URL of the original stays valid.
const URL_MARGIN: Duration = Duration::from_secs(300);

/// How much shorter than intro + clip + outro an output read over HTTP may be before it
/// counts as cut short (a video stream a little shorter than its container is normal).
const SHORT_OUTPUT_SLACK_SECS: f64 = 1.0;

/// Runs the pipeline on the original of `video` into `output` and `renditions`.
///
/// Over HTTP, a run that fails as if the file were unusable (`!is_retryable()`: exit 1 on
/// what ffmpeg read, but also a `403`, `404` or refused connection), or that succeeds with
/// an output shorter than the upload (ffmpeg takes a read that fails for good, once its
/// reconnects give up, as the end of its input and exits 0), may be the network's doing
/// as well as the bytes'. Only the bytes can tell: the original is downloaded into `dir`
/// once and that run decides. Each such fallback is counted.
pub(super) async fn process_upload(
    ctx: &JobContext,
    video: &Video,
    dir: &Path,
    output: &Path,
    renditions: &RenditionPaths,
    progress: &Arc<watch::Sender<f32>>,
) -> Result<ProcessReport, JobError> {
    let cfg = &ctx.config.media;
    let source = ctx
        .storage
        .media_source(
            &video.original_key,
            cfg.probe_timeout + cfg.job_timeout + URL_MARGIN,
        )
        .await?;
    let remote = source.is_remote();
    let first = transcode(ctx, source, output, renditions, progress).await;
    if !remote {
        return Ok(first?);
    }
    let expected = expected_output_secs(ctx, video);
    match &first {
        Err(e) if !e.is_retryable() => {
            warn!(error = %e, "the upload failed when read over HTTP; retrying from a downloaded copy");
        }
        Ok(report) if report.output_secs + SHORT_OUTPUT_SLACK_SECS < expected => {
            warn!(
                output_secs = report.output_secs,
                expected_secs = expected,
                "the output is shorter than the upload when read over HTTP; retrying from a downloaded copy"
            );
        }
        _ => return Ok(first?),
    }
    ctx.metrics.source_fallbacks.inc();
    let input = dir.join("input.mp4");
    ctx.storage.get_to_file(&video.original_key, &input).await?;
    Ok(transcode(ctx, input.into(), output, renditions, progress).await?)
}

/// The processed video's length: the bumpers and the upload cut to `MEDIA_MAX_SECS`, as
/// measured when the upload was accepted.
fn expected_output_secs(ctx: &JobContext, video: &Video) -> f64 {
    video
        .source_duration_secs
        .min(ctx.config.media.max_output_secs)
        + ctx.assets.intro_secs
        + ctx.assets.outro_secs
}

/// One run of the pipeline on `source`. Progress only ever moves forward, also when a
/// second run (from a downloaded copy) starts again from zero.
async fn transcode(
    ctx: &JobContext,
    source: MediaSource,
    output: &Path,
    renditions: &RenditionPaths,
    progress: &Arc<watch::Sender<f32>>,
) -> Result<ProcessReport, MediaError> {
    let progress = Arc::clone(progress);
    media::pipeline::process(
        &ctx.config.media,
        &ctx.assets,
        source,
        output,
        Some(renditions),
        move |p| {
            progress.send_if_modified(|shown| {
                let ahead = p > *shown;
                if ahead {
                    *shown = p;
                }
                ahead
            });
        },
    )
    .await
}
