//! Where ffmpeg reads the upload (docs/MEDIA.md, "Where ffmpeg reads the upload"): in
//! place on local storage, through a presigned URL on S3, and from one downloaded copy
//! when a run over the URL fails as if the file were unusable.
//!
//! ffmpeg and ffprobe run through a spy: a shell script that records each call's
//! arguments and, before and after the real program runs, every file under `TEMP_DIR`
//! with its size and whether it is byte-identical to the original (`cmp`). A copy of the
//! original made by the job would be in the temp directory by the time ffprobe or ffmpeg
//! starts on it, so a snapshot at every start and end of a run sees it; no timing is
//! involved.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use skillreel_shared::config::StorageBackend;
use skillreel_worker::JobContext;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{System, clip};

/// One recorded ffmpeg/ffprobe call.
#[derive(Debug, Default)]
struct Call {
    program: String,
    args: Vec<String>,
    /// `(size, path)` of every file under `TEMP_DIR`, before and after the run.
    files: Vec<(u64, String)>,
    /// Files under `TEMP_DIR` byte-identical to the original, before or after the run.
    copies: Vec<String>,
}

impl Call {
    /// The argument after each `-i`.
    fn inputs(&self) -> Vec<&str> {
        self.args
            .windows(2)
            .filter(|w| w[0] == "-i")
            .map(|w| w[1].as_str())
            .collect()
    }
}

/// Replaces the system's ffmpeg and ffprobe with spies comparing `TEMP_DIR` against
/// `original` (a local file with the original's bytes). Returns the spies' log.
async fn spy_on_media(sys: &mut System, original: &Path) -> PathBuf {
    // The default assets are made with the real ffmpeg, before the spies take over.
    skillreel_shared::media::assets::ensure(&sys.config.media)
        .await
        .unwrap();
    let dir = sys.dir.path().join("spy");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("calls.log");
    let temp = sys.config.media.temp_dir.display().to_string();
    let original = original.display().to_string();
    let snapshot = format!(
        "find '{temp}' -type f -printf 'FILE %s %p\\n'\n\
         find '{temp}' -type f -size {size}c -exec cmp -s '{original}' {{}} \\; -printf 'COPY %p\\n'",
        size = std::fs::metadata(&original).unwrap().len()
    );
    for (name, real) in [
        ("ffmpeg", sys.config.media.ffmpeg_path.clone()),
        ("ffprobe", sys.config.media.ffprobe_path.clone()),
    ] {
        let spy = dir.join(name);
        let script = format!(
            "#!/bin/sh\n\
             {{ echo 'CALL {name}'; for a in \"$@\"; do printf 'ARG %s\\n' \"$a\"; done\n\
             {snapshot}\n}} >> '{log}'\n\
             '{real}' \"$@\"\n\
             rc=$?\n\
             {{ {snapshot}\n}} >> '{log}'\n\
             exit $rc\n",
            real = real.display(),
            log = log.display(),
        );
        std::fs::write(&spy, script).unwrap();
        std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
        match name {
            "ffmpeg" => sys.config.media.ffmpeg_path = spy,
            _ => sys.config.media.ffprobe_path = spy,
        }
    }
    log
}

fn calls(log: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut calls: Vec<Call> = Vec::new();
    for line in text.lines() {
        if let Some(program) = line.strip_prefix("CALL ") {
            calls.push(Call {
                program: program.to_owned(),
                ..Call::default()
            });
            continue;
        }
        let Some(call) = calls.last_mut() else {
            continue;
        };
        if let Some(arg) = line.strip_prefix("ARG ") {
            call.args.push(arg.to_owned());
        } else if let Some(file) = line.strip_prefix("FILE ") {
            let (size, path) = file.split_once(' ').unwrap();
            call.files.push((size.parse().unwrap(), path.to_owned()));
        } else if let Some(path) = line.strip_prefix("COPY ") {
            call.copies.push(path.to_owned());
        }
    }
    calls
}

/// The calls that read the upload (`is_upload` says which inputs are), in order.
fn upload_reads(calls: &[Call], is_upload: impl Fn(&str) -> bool) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.inputs().into_iter().any(&is_upload))
        .collect()
}

/// Starts an in-process worker and keeps its context, for its metrics.
pub async fn start_worker(sys: &mut System) -> Arc<JobContext> {
    let mut config = sys.config.clone();
    config.worker.name = format!("test-worker-{}", Uuid::new_v4().simple());
    let ctx = JobContext::connect(config, sys.db.clone())
        .await
        .expect("worker");
    let stop = CancellationToken::new();
    sys.worker_stop = Some(stop.clone());
    tokio::spawn(skillreel_worker::run(ctx.clone(), stop));
    ctx
}

async fn original_key(sys: &System, id: i64) -> String {
    sqlx::query_scalar("SELECT original_key FROM videos WHERE id = $1")
        .bind(id)
        .fetch_one(&sys.db)
        .await
        .unwrap()
}

fn assert_no_copy(calls: &[Call], original_size: u64) {
    for call in calls {
        assert!(
            call.copies.is_empty(),
            "{} ran with a copy of the original in TEMP_DIR: {:?}",
            call.program,
            call.copies
        );
        let same_size: Vec<_> = call
            .files
            .iter()
            .filter(|(size, _)| *size == original_size)
            .collect();
        assert!(
            same_size.is_empty(),
            "a file of the original's size in TEMP_DIR: {same_size:?}"
        );
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn local_storage_is_read_in_place(db: PgPool) {
    let mut sys = System::start(db, StorageBackend::Local).await;
    let token = sys.player("Ines").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 21.0).await, "in place")
        .await;
    let key = original_key(&sys, id).await;
    let stored = sys.config.storage.local_dir.join(&key);
    let size = std::fs::metadata(&stored).unwrap().len();
    let log = spy_on_media(&mut sys, &stored).await;
    let ctx = start_worker(&mut sys).await;
    let d = sys
        .wait_status(
            &token,
            id,
            &["processed", "failed"],
            Duration::from_secs(180),
        )
        .await;
    assert_eq!(d["status"], "processed", "{d}");

    let calls = calls(&log);
    let stored = stored.display().to_string();
    let reads = upload_reads(&calls, |input| input == stored);
    let programs: Vec<&str> = reads.iter().map(|c| c.program.as_str()).collect();
    assert!(
        programs.contains(&"ffprobe") && programs.contains(&"ffmpeg"),
        "ffprobe and ffmpeg read the stored file itself: {programs:?}"
    );
    assert_no_copy(&calls, size);
    assert_eq!(ctx.metrics.source_fallbacks.get(), 0);
    assert_eq!(sys.objects("processed/").await.len(), 3);
}

/// A system on S3 whose original for a fresh upload is spied on; returns the video id,
/// the player's token, the spies' log and the original's key.
async fn s3_upload(sys: &mut System, name: &str) -> (i64, String, PathBuf, String) {
    let token = sys.player(name).await;
    let clip = clip(1920, 1080, 21.0).await;
    let id = sys.upload(&token, &clip, name).await;
    let key = original_key(sys, id).await;
    assert_eq!(
        sys.web.storage.size(&key).await.unwrap(),
        std::fs::metadata(&clip).unwrap().len(),
        "the object holds the clip's bytes"
    );
    let log = spy_on_media(sys, &clip).await;
    (id, token, log, key)
}

#[sqlx::test(migrations = "../../migrations")]
async fn s3_uploads_are_read_through_a_presigned_url(db: PgPool) {
    let mut sys = System::start(db, StorageBackend::S3).await;
    let (id, token, log, key) = s3_upload(&mut sys, "Ugo").await;
    let size = sys.web.storage.size(&key).await.unwrap();
    let ctx = start_worker(&mut sys).await;
    let d = sys
        .wait_status(
            &token,
            id,
            &["processed", "failed"],
            Duration::from_secs(180),
        )
        .await;
    assert_eq!(d["status"], "processed", "{d}");

    let calls = calls(&log);
    let endpoint = sys.config.storage.endpoint_url.clone().unwrap();
    let object = format!("{endpoint}/{}/{key}?", sys.config.storage.bucket);
    let reads = upload_reads(&calls, |input| input.starts_with(&object));
    let programs: Vec<&str> = reads.iter().map(|c| c.program.as_str()).collect();
    assert!(
        programs.contains(&"ffprobe") && programs.contains(&"ffmpeg"),
        "ffprobe and ffmpeg read the presigned URL: {programs:?}"
    );
    for call in &reads {
        let url = call.inputs().into_iter().find(|i| i.starts_with(&object));
        assert!(url.unwrap().contains("X-Amz-Signature="), "{url:?}");
        assert!(
            call.args.iter().any(|a| a == "-reconnect"),
            "{:?}",
            call.args
        );
    }
    assert_no_copy(&calls, size);
    assert_eq!(
        ctx.metrics.source_fallbacks.get(),
        0,
        "no fallback download"
    );
    assert_eq!(sys.objects("processed/").await.len(), 3);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_corrupt_s3_upload_fails_after_one_download(db: PgPool) {
    let mut sys = System::start(db, StorageBackend::S3).await;
    let token = sys.player("Cora").await;
    let id = sys
        .upload(&token, &clip(1920, 1080, 21.0).await, "corrupt")
        .await;
    let key = original_key(&sys, id).await;
    // Accepted at upload, damaged in storage afterwards: what ffmpeg reads is not a video.
    let garbage = sys.dir.path().join("garbage.mp4");
    std::fs::write(
        &garbage,
        (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    sys.web
        .storage
        .put_file(&key, &garbage, "video/mp4")
        .await
        .unwrap();
    // What these bytes get as a local file: the usual message.
    let usual = skillreel_shared::media::ffprobe::probe(&sys.config.media, &garbage)
        .await
        .unwrap_err()
        .player_message();
    let log = spy_on_media(&mut sys, &garbage).await;
    let ctx = start_worker(&mut sys).await;
    let d = sys
        .wait_status(
            &token,
            id,
            &["processed", "failed"],
            Duration::from_secs(180),
        )
        .await;
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["attempts"], 1, "permanent: one attempt only: {d}");
    let error = d["error"].as_str().unwrap();
    assert_eq!(error, usual);
    assert!(
        error.starts_with("the video could not be decoded"),
        "{error}"
    );
    assert_eq!(
        ctx.metrics.source_fallbacks.get(),
        1,
        "one fallback download"
    );
    assert!(
        sys.objects("processed/").await.is_empty(),
        "no outputs left"
    );

    // The URL first, then one local copy in the job's temp directory, never the URL again.
    let calls = calls(&log);
    let object = format!("/{}/{key}?", sys.config.storage.bucket);
    let temp = sys.config.media.temp_dir.display().to_string();
    let sources: Vec<&str> = calls
        .iter()
        .flat_map(Call::inputs)
        .filter(|i| i.contains(&object) || i.starts_with(&temp))
        .collect();
    let first_local = sources.iter().position(|i| i.starts_with(&temp));
    let first_local = first_local.unwrap_or_else(|| panic!("no local run: {sources:?}"));
    assert!(first_local > 0, "the URL is read first: {sources:?}");
    assert!(
        sources[first_local..]
            .iter()
            .all(|i| *i == sources[first_local]),
        "one copy, then no URL: {sources:?}"
    );
    let copied = calls
        .iter()
        .find(|c| c.inputs().contains(&sources[first_local]))
        .unwrap();
    assert!(
        !copied.copies.is_empty() && copied.copies.iter().all(|c| c == sources[first_local]),
        "the local run reads a full copy of the object: {:?}",
        copied.copies
    );
}
