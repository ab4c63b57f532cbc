//! The `ProcessVideo` job: original → FFmpeg pipeline → `processed/`.
//!
//! Idempotent: the claim in Postgres (`db::videos::claim`) lets exactly one worker
//! move a video forward; the output key is derived from the original's key, so a
//! re-run overwrites rather than duplicates; a lost claim (video deleted, or taken
//! over after this worker looked dead) discards the output.

use std::{sync::Arc, time::Duration};

use skillreel_shared::{
    db::{self, videos::Video},
    domain::VideoStatus,
    media::{self, MediaError},
    queue::ProcessVideo,
    storage::{PROCESSED_PREFIX, StorageError, UPLOADED_PREFIX},
};
use tokio::sync::watch;
use tracing::{info, instrument, warn};

use crate::JobContext;

/// How often progress and the heartbeat are written to Postgres.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// What a job run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The processed video is stored and the row says `processed`.
    Processed,
    /// Nothing to do (deleted, already done, or held by another worker).
    Skipped(&'static str),
    /// The attempt failed; the video went back to `uploaded` and a retry is queued.
    RetryScheduled(Duration),
    /// The last attempt failed; the row says `failed` with the reason.
    Failed,
    /// The worker is stopping: the video went back to `uploaded` and was re-queued.
    HandedBack,
}

/// Failure of one attempt.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Postgres failed; the job is returned to apalis, which retries it.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// FFmpeg/ffprobe failed.
    #[error("{0}")]
    Media(#[from] MediaError),
    /// The claim was lost mid-run.
    #[error("the video was deleted or taken over while processing")]
    ClaimLost,
}

impl JobError {
    /// Whether a later attempt cannot succeed (the data itself is gone or unusable).
    fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Storage(StorageError::NotFound(_) | StorageError::InvalidKey(_))
                | Self::Media(MediaError::InvalidInput(_) | MediaError::Probe(_))
        )
    }

    /// The reason shown to the player in `error`.
    fn player_message(&self) -> String {
        match self {
            Self::Media(e) => format!("video processing failed: {e}"),
            Self::Storage(StorageError::NotFound(_)) => {
                "the original upload is missing from storage".into()
            }
            Self::Storage(_) => "storage was unavailable".into(),
            Self::Db(_) => "the database was unavailable".into(),
            Self::ClaimLost => "processing was interrupted".into(),
        }
    }
}

/// Storage key of the processed file of `original_key`.
pub fn processed_key(original_key: &str) -> String {
    let stem = original_key
        .strip_prefix(UPLOADED_PREFIX)
        .unwrap_or(original_key);
    format!("{PROCESSED_PREFIX}{stem}")
}

/// Delay before retry number `attempt` (1-based): `backoff · 2^(attempt-1)`, capped at 10 min.
pub fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(Duration::from_secs(600))
}

/// Runs one job to an [`Outcome`]. Errors returned here are infrastructure failures
/// (Postgres down) that apalis should retry; media and storage failures are handled.
#[instrument(skip_all, fields(video.id = job.video_id, task.id = %job.task_id))]
pub async fn run(ctx: &Arc<JobContext>, job: &ProcessVideo) -> Result<Outcome, JobError> {
    let worker = ctx.worker_name.as_str();
    let Some(video) =
        db::videos::claim(&ctx.db, job.video_id, worker, ctx.config.worker.stale_after).await?
    else {
        let reason = match db::videos::find(&ctx.db, job.video_id).await? {
            None => "video deleted",
            Some(v) if matches!(v.status(), VideoStatus::Processed | VideoStatus::Public) => {
                "already processed"
            }
            Some(v) if v.status() == VideoStatus::Failed => "already failed",
            Some(_) => "held by another worker",
        };
        info!(reason, "job skipped");
        return Ok(Outcome::Skipped(reason));
    };
    info!(attempt = video.attempts, "processing started");

    let result = tokio::select! {
        r = attempt(ctx, &video) => r,
        () = ctx.hard_stop.cancelled() => {
            // Shutdown grace is over: the attempt's future is dropped here, which kills
            // ffmpeg and removes the temp directory; the video goes back to the queue.
            db::videos::release(&ctx.db, video.id, worker, None).await?;
            if let Err(e) = ctx.queue.enqueue(job.clone()).await {
                warn!(error = %e, "could not re-queue a handed-back job; the reconciler will");
            }
            info!("job handed back at shutdown");
            return Ok(Outcome::HandedBack);
        }
    };
    match result {
        Ok(()) => {
            info!("processing finished");
            Ok(Outcome::Processed)
        }
        Err(JobError::ClaimLost) => {
            info!("claim lost; output discarded");
            Ok(Outcome::Skipped("claim lost"))
        }
        Err(e) => {
            let attempts = u32::try_from(video.attempts).unwrap_or(u32::MAX);
            let message = e.player_message();
            if e.is_permanent() || attempts >= ctx.config.worker.max_attempts {
                warn!(error = %e, attempts, "processing failed for good");
                db::videos::mark_failed(&ctx.db, video.id, worker, &message).await?;
                Ok(Outcome::Failed)
            } else {
                let delay = backoff_delay(ctx.config.worker.backoff, attempts);
                warn!(error = %e, attempts, retry_in_ms = delay.as_millis() as u64, "attempt failed; retrying");
                db::videos::release(&ctx.db, video.id, worker, Some(&message)).await?;
                if let Err(qe) = ctx.queue.enqueue_after(job.clone(), delay).await {
                    warn!(error = %qe, "could not schedule the retry; the reconciler will");
                }
                Ok(Outcome::RetryScheduled(delay))
            }
        }
    }
}

/// One attempt: fetch, transcode with heartbeats, store, mark processed.
async fn attempt(ctx: &Arc<JobContext>, video: &Video) -> Result<(), JobError> {
    let worker = ctx.worker_name.as_str();
    let dir = tempfile::Builder::new()
        .prefix("skillreel-job-")
        .tempdir_in(&ctx.config.media.temp_dir)
        .map_err(MediaError::Io)?;
    let input = dir.path().join("input.mp4");
    let output = dir.path().join("output.mp4");
    ctx.storage.get_to_file(&video.original_key, &input).await?;

    let (progress_tx, progress_rx) = watch::channel(0f32);
    let transcode =
        media::pipeline::process(&ctx.config.media, &ctx.assets, &input, &output, move |p| {
            let _ = progress_tx.send(p);
        });
    tokio::select! {
        r = transcode => {
            let report = r?;
            let wall = report.elapsed.as_secs_f64();
            if wall > 0.0 {
                ctx.metrics.ffmpeg_speed.observe(report.output_secs / wall);
            }
        }
        lost = heartbeats(ctx, video.id, worker, progress_rx) => { return Err(lost); }
    }

    let key = processed_key(&video.original_key);
    ctx.storage.put_file(&key, &output, "video/mp4").await?;
    if !db::videos::mark_processed(&ctx.db, video.id, worker, &key).await? {
        // Deleted while we worked: leave no stray output behind.
        remove_output(ctx, &key).await;
        return Err(JobError::ClaimLost);
    }
    Ok(())
}

/// Writes progress every second; returns only when the claim is lost.
async fn heartbeats(
    ctx: &Arc<JobContext>,
    id: i64,
    worker: &str,
    mut progress: watch::Receiver<f32>,
) -> JobError {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        let p = *progress.borrow_and_update();
        match db::videos::heartbeat(&ctx.db, id, worker, p).await {
            Ok(true) => {}
            Ok(false) => return JobError::ClaimLost,
            // A Postgres blip must not kill a long transcode; the next beat retries.
            Err(e) => warn!(error = %e, "heartbeat failed"),
        }
    }
}

async fn remove_output(ctx: &Arc<JobContext>, key: &str) {
    if let Err(e) = ctx.storage.delete(key).await {
        warn!(error = %e, key, "could not remove stray output");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_key_follows_the_original() {
        assert_eq!(
            processed_key("uploaded/0190abc.mp4"),
            "processed/0190abc.mp4"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_secs(5);
        assert_eq!(backoff_delay(b, 1), Duration::from_secs(5));
        assert_eq!(backoff_delay(b, 2), Duration::from_secs(10));
        assert_eq!(backoff_delay(b, 3), Duration::from_secs(20));
        assert_eq!(backoff_delay(b, 30), Duration::from_secs(600));
    }

    #[test]
    fn missing_originals_are_permanent_and_media_failures_are_not() {
        assert!(JobError::Storage(StorageError::NotFound("k".into())).is_permanent());
        assert!(!JobError::Storage(StorageError::Backend("x".into())).is_permanent());
        assert!(!JobError::Media(MediaError::Timeout(Duration::from_secs(1))).is_permanent());
    }
}
