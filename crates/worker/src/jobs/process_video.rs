//! The `ProcessVideo` job: original → FFmpeg pipeline → `processed/` (the video, its
//! poster under `processed/thumbnails/` and its hover preview under `processed/previews/`).
//!
//! ffmpeg reads the original where it lies: the local store's own file, or a presigned
//! S3 GET it reads with Range requests; a run over HTTP that fails as if the file were
//! unusable, or whose output is shorter than the upload, is run once more from a
//! downloaded copy, which decides (docs/MEDIA.md, "Where ffmpeg reads the upload"). The
//! three outputs are stored at once.
//!
//! Idempotent: the claim in Postgres (`db::videos::claim`) lets exactly one worker
//! move a video forward; the output keys are derived from the original's key, so a
//! re-run overwrites rather than duplicates; a lost claim (video deleted, or taken
//! over after this worker looked dead) discards the output.
//!
//! A job always ends in an [`Outcome`]: database outages are waited out (the claim and
//! the final state change retry until PostgreSQL answers), media and storage failures
//! are classified as permanent (one attempt, `failed`) or transient (retry with backoff).

mod source;

use std::{path::Path, sync::Arc, time::Duration};

use skillreel_shared::{
    db::{
        self,
        videos::{ProcessedKeys, Video},
    },
    domain::VideoStatus,
    events::{VideoEvent, round_progress},
    media::{MediaError, renditions::RenditionPaths},
    queue::ProcessVideo,
    storage::{PROCESSED_PREFIX, StorageError, UPLOADED_PREFIX},
};
use tokio::sync::watch;
use tracing::{info, instrument, warn};

use crate::JobContext;

/// How often progress and the heartbeat are written to Postgres.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// Smallest progress step announced to live status streams, percent (ffmpeg reports
/// about twice a second; each report that moves this far is published).
const PROGRESS_STEP: f32 = 1.0;

/// What a job run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The processed video is stored and the row says `processed`.
    Processed,
    /// Nothing to do (deleted, already done, or held by another worker).
    Skipped(&'static str),
    /// The attempt failed; the video went back to `uploaded` and is retried after this.
    RetryScheduled(Duration),
    /// The attempt failed for good; the row says `failed` with the reason.
    Failed,
    /// The worker is stopping: the job goes back to the front of the queue.
    HandedBack,
}

impl Outcome {
    /// Label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Skipped(_) => "skipped",
            Self::RetryScheduled(_) => "retry",
            Self::Failed => "failed",
            Self::HandedBack => "handed_back",
        }
    }
}

/// Failure of one attempt.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
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
    /// Whether a later attempt cannot succeed: the same bytes would fail the same way
    /// (ffmpeg cannot read them, a rule only visible at decode time), or the original
    /// is gone. Timeouts, killed processes, storage outages and I/O errors are transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Storage(e) => {
                matches!(e, StorageError::NotFound(_) | StorageError::InvalidKey(_))
            }
            Self::Media(e) => !e.is_retryable(),
            Self::ClaimLost => false,
        }
    }

    /// The reason shown to the player in `error`: written for a person, with no paths,
    /// addresses or tool output (those go to the log with the video id).
    pub fn player_message(&self) -> String {
        match self {
            Self::Media(e) => e.player_message(),
            Self::Storage(StorageError::NotFound(_) | StorageError::InvalidKey(_)) => {
                "the original upload is missing from storage".into()
            }
            Self::Storage(_) => "storage was temporarily unavailable".into(),
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

/// Stem shared by a video's outputs: the original's key without prefix and extension.
fn output_stem(original_key: &str) -> &str {
    let stem = original_key
        .strip_prefix(UPLOADED_PREFIX)
        .unwrap_or(original_key);
    stem.strip_suffix(".mp4").unwrap_or(stem)
}

/// Storage keys of everything processing `original_key` stores. The poster and the
/// preview live under `processed/` too, so every grant, CDN base and rule that covers
/// processed videos covers them (see docs/DECISIONS.md).
pub fn output_keys(original_key: &str) -> ProcessedKeys {
    let stem = output_stem(original_key);
    ProcessedKeys {
        processed: processed_key(original_key),
        thumbnail: format!("{PROCESSED_PREFIX}thumbnails/{stem}.jpg"),
        preview: format!("{PROCESSED_PREFIX}previews/{stem}.mp4"),
    }
}

/// Delay before retry number `attempt` (1-based): `backoff · 2^(attempt-1)`, capped at 10 min.
pub fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(Duration::from_secs(600))
}

/// Runs one job to its [`Outcome`].
#[instrument(skip_all, fields(video.id = job.video_id, task.id = %job.task_id))]
pub async fn run(ctx: &Arc<JobContext>, job: &ProcessVideo) -> Outcome {
    let worker = ctx.worker_name.as_str();
    let db = ctx.db.clone();
    let claim_lease = ctx.claim_lease();
    let Some(claimed) = ctx
        .health
        .database
        .until_ok(&ctx.hard_stop, || {
            db::videos::claim(&db, job.video_id, worker, claim_lease)
        })
        .await
    else {
        return Outcome::HandedBack;
    };
    let Some(video) = claimed else {
        let found = ctx
            .health
            .database
            .until_ok(&ctx.hard_stop, || db::videos::find(&db, job.video_id))
            .await;
        let reason = match found {
            None => return Outcome::HandedBack,
            Some(None) => "video deleted",
            // A hidden video was processed before an organizer hid it.
            Some(Some(v))
                if matches!(
                    v.status(),
                    VideoStatus::Processed | VideoStatus::Public | VideoStatus::Hidden
                ) =>
            {
                "already processed"
            }
            Some(Some(v)) if v.status() == VideoStatus::Failed => "already failed",
            Some(Some(_)) => "held by another worker",
        };
        info!(reason, "job skipped");
        return Outcome::Skipped(reason);
    };
    info!(attempt = video.attempts, "processing started");
    ctx.events.publish(&VideoEvent::of(&video)).await;

    let result = tokio::select! {
        r = attempt(ctx, &video) => r,
        () = ctx.hard_stop.cancelled() => {
            // Shutdown grace is over: the attempt's future is dropped here, which kills
            // ffmpeg and removes the temp directory; the video goes back to the queue.
            release(ctx, &video, None).await;
            info!("job handed back at shutdown");
            return Outcome::HandedBack;
        }
    };
    let keys = match result {
        Ok(keys) => keys,
        Err(JobError::ClaimLost) => {
            info!("claim lost; output discarded");
            return Outcome::Skipped("claim lost");
        }
        Err(e) => return failed_attempt(ctx, &video, &e).await,
    };
    let marked = ctx
        .health
        .database
        .until_ok(&ctx.hard_stop, || {
            db::videos::mark_processed(&db, video.id, worker, &keys)
        })
        .await;
    match marked {
        Some(true) => {
            info!("processing finished");
            announce(ctx, &video, VideoStatus::Processed, Some(100.0), None).await;
            Outcome::Processed
        }
        Some(false) => {
            // Deleted (or taken over) while we worked: leave no stray output behind.
            remove_outputs(ctx, &keys).await;
            info!("claim lost; output discarded");
            Outcome::Skipped("claim lost")
        }
        // Stopping with the database still down: the video stays claimed until the
        // lease runs out, then another worker redoes it.
        None => Outcome::HandedBack,
    }
}

async fn failed_attempt(ctx: &Arc<JobContext>, video: &Video, e: &JobError) -> Outcome {
    let attempts = u32::try_from(video.attempts).unwrap_or(u32::MAX);
    let message = e.player_message();
    let worker = ctx.worker_name.as_str();
    if e.is_permanent() || attempts >= ctx.config.worker.max_attempts {
        warn!(error = %e, attempts, permanent = e.is_permanent(), "processing failed for good");
        let db = ctx.db.clone();
        let marked = ctx
            .health
            .database
            .until_ok(&ctx.hard_stop, || {
                db::videos::mark_failed(&db, video.id, worker, &message)
            })
            .await;
        match marked {
            None => return Outcome::HandedBack,
            Some(true) => announce(ctx, video, VideoStatus::Failed, None, Some(&message)).await,
            Some(false) => {}
        }
        Outcome::Failed
    } else {
        let delay = backoff_delay(ctx.config.worker.backoff, attempts);
        warn!(error = %e, attempts, retry_in_ms = delay.as_millis() as u64, "attempt failed; retrying");
        release(ctx, video, Some(&message)).await;
        Outcome::RetryScheduled(delay)
    }
}

/// Gives the video back (`uploaded`), waiting out a database outage unless stopping;
/// when stopping with the database down, the lease hands it over later.
async fn release(ctx: &Arc<JobContext>, video: &Video, error: Option<&str>) {
    let worker = ctx.worker_name.as_str();
    let db = ctx.db.clone();
    // At shutdown the hard stop is already cancelled: allow a few seconds of retries.
    let stop = tokio_util::sync::CancellationToken::new();
    let limit = ctx.hard_stop.is_cancelled().then(|| {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stop.cancel();
        })
    });
    let released = ctx
        .health
        .database
        .until_ok(&stop, || db::videos::release(&db, video.id, worker, error))
        .await;
    if let Some(timer) = limit {
        timer.abort();
    }
    match released {
        None => warn!("could not hand the video back; its lease will"),
        Some(true) => {
            // The row keeps the earlier reason when this hand-back gives none.
            let error = error.or(video.error.as_deref());
            announce(ctx, video, VideoStatus::Uploaded, None, error).await;
        }
        Some(false) => {}
    }
}

/// Tells the web instances' live status streams; best effort, they read the row too.
async fn announce(
    ctx: &JobContext,
    video: &Video,
    status: VideoStatus,
    progress: Option<f32>,
    error: Option<&str>,
) {
    let event = VideoEvent {
        id: video.id,
        status,
        progress,
        error: error.map(str::to_owned),
        attempts: video.attempts,
    };
    ctx.events.publish(&event).await;
}

/// Publishes progress as ffmpeg reports it, in steps of [`PROGRESS_STEP`] or more;
/// never returns (the transcode ending ends it).
async fn publish_progress(
    ctx: &JobContext,
    video: &Video,
    mut progress: watch::Receiver<f32>,
) -> std::convert::Infallible {
    let mut published = 0.0f32;
    while progress.changed().await.is_ok() {
        let percent = round_progress(*progress.borrow_and_update());
        if percent - published >= PROGRESS_STEP {
            published = percent;
            announce(ctx, video, VideoStatus::Processing, Some(percent), None).await;
        }
    }
    std::future::pending().await
}

/// One attempt: transcode the original where it lies (with heartbeats), store. Returns
/// the stored keys.
async fn attempt(ctx: &Arc<JobContext>, video: &Video) -> Result<ProcessedKeys, JobError> {
    let worker = ctx.worker_name.as_str();
    let dir = skillreel_shared::tempdirs::owned_tempdir(&ctx.config.media.temp_dir, JOB_DIR_PREFIX)
        .map_err(MediaError::Io)?;
    let output = dir.path().join("output.mp4");
    // In the job's temp directory, so they go with it whatever happens.
    let renditions = RenditionPaths {
        poster: dir.path().join("poster.jpg"),
        preview: dir.path().join("preview.mp4"),
    };
    let (progress_tx, progress_rx) = watch::channel(0f32);
    let announced = progress_tx.subscribe();
    let progress = Arc::new(progress_tx);
    let work = source::process_upload(ctx, video, dir.path(), &output, &renditions, &progress);
    tokio::select! {
        r = work => {
            let report = r?;
            let wall = report.elapsed.as_secs_f64();
            if wall > 0.0 {
                ctx.metrics.ffmpeg_speed.observe(report.output_secs / wall);
            }
        }
        lost = heartbeats(ctx, video.id, worker, progress_rx) => { return Err(lost); }
        never = publish_progress(ctx, video, announced) => match never {},
    }

    let keys = output_keys(&video.original_key);
    store_outputs(ctx, &keys, &output, &renditions).await?;
    Ok(keys)
}

/// Stores the poster, the preview and the processed video at once. All three are stored
/// before the row says `processed`, so its URLs all load. Every upload runs to its end,
/// even when another fails (one cancelled half-way could leave a partial object or an
/// unfinished multipart upload); then a failure removes all three: a retry overwrites the
/// same keys, but a video that fails for good must not leave half of its outputs behind.
async fn store_outputs(
    ctx: &Arc<JobContext>,
    keys: &ProcessedKeys,
    output: &Path,
    renditions: &RenditionPaths,
) -> Result<(), StorageError> {
    let storage = &ctx.storage;
    let (poster, preview, video) = tokio::join!(
        storage.put_file(&keys.thumbnail, &renditions.poster, "image/jpeg"),
        storage.put_file(&keys.preview, &renditions.preview, "video/mp4"),
        storage.put_file(&keys.processed, output, "video/mp4"),
    );
    let stored = poster.and(preview).and(video);
    if stored.is_err() {
        remove_outputs(ctx, keys).await;
    }
    stored
}

/// Prefix of a job's temp directory under `TEMP_DIR` (owner pid and start time follow,
/// so a starting worker removes only dead workers' directories).
pub const JOB_DIR_PREFIX: &str = "skillreel-job-";

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
            Ok(true) => ctx.health.database.ok(),
            Ok(false) => return JobError::ClaimLost,
            // A Postgres outage must not kill a long transcode; the next beat retries.
            Err(e) => ctx.health.database.failed(&e),
        }
    }
}

async fn remove_outputs(ctx: &Arc<JobContext>, keys: &ProcessedKeys) {
    for key in keys.all() {
        if let Err(e) = ctx.storage.delete(key).await {
            warn!(error = %e, key, "could not remove stray output");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{os::unix::process::ExitStatusExt, process::ExitStatus};

    use super::*;

    #[test]
    fn output_key_follows_the_original() {
        assert_eq!(
            processed_key("uploaded/0190abc.mp4"),
            "processed/0190abc.mp4"
        );
    }

    #[test]
    fn poster_and_preview_keys_follow_the_original_under_processed() {
        let keys = output_keys("uploaded/0190abc.mp4");
        assert_eq!(keys.processed, "processed/0190abc.mp4");
        assert_eq!(keys.thumbnail, "processed/thumbnails/0190abc.jpg");
        assert_eq!(keys.preview, "processed/previews/0190abc.mp4");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_secs(5);
        assert_eq!(backoff_delay(b, 1), Duration::from_secs(5));
        assert_eq!(backoff_delay(b, 2), Duration::from_secs(10));
        assert_eq!(backoff_delay(b, 3), Duration::from_secs(20));
        assert_eq!(backoff_delay(b, 30), Duration::from_secs(600));
    }

    fn ffmpeg_failed(raw_status: i32, tail: &str) -> JobError {
        JobError::Media(MediaError::Failed {
            program: "ffmpeg".into(),
            status: ExitStatus::from_raw(raw_status),
            stderr_tail: tail.into(),
        })
    }

    #[test]
    fn unreadable_input_is_permanent_and_machine_trouble_is_retried() {
        // The input's fault: ffmpeg exits 1 on its own.
        assert!(ffmpeg_failed(1 << 8, "Invalid data found when processing input").is_permanent());
        assert!(JobError::Media(MediaError::InvalidInput("no video".into())).is_permanent());
        assert!(JobError::Storage(StorageError::NotFound("k".into())).is_permanent());
        // The machine's: killed by a signal, out of disk, timed out, storage down.
        assert!(!ffmpeg_failed(9, "").is_permanent());
        assert!(!ffmpeg_failed(1 << 8, "No space left on device").is_permanent());
        assert!(!JobError::Media(MediaError::Timeout(Duration::from_secs(1))).is_permanent());
        assert!(!JobError::Storage(StorageError::Backend("x".into())).is_permanent());
        assert!(!JobError::ClaimLost.is_permanent());
    }

    #[test]
    fn player_messages_carry_no_paths_or_tool_output() {
        let e = ffmpeg_failed(
            1 << 8,
            "[mov,mp4,m4a @ 0x55d0c8a4b2c0] moov atom not found\n/tmp/skillreel-job-1/input.mp4: Invalid data",
        );
        let msg = e.player_message();
        assert!(
            !msg.contains('/') && !msg.contains("0x") && !msg.contains("moov"),
            "{msg}"
        );
        let msg = JobError::Storage(StorageError::Backend("s3://bucket/uploaded/x: 500".into()))
            .player_message();
        assert!(!msg.contains('/'), "{msg}");
    }
}
