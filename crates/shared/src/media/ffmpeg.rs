//! The one wrapper through which every `ffmpeg` and `ffprobe` process runs.
//!
//! Two entry points, both with a hard time limit and both killing the child when the
//! limit passes or when the calling future is dropped (a cancelled job, a worker
//! shutting down) — no ffmpeg outlives the work it was started for:
//!
//! * [`run`] drives a long ffmpeg run through `ffmpeg-sidecar` and reports its progress
//!   (output position in seconds) to a callback;
//! * [`capture`] runs a short command (ffprobe, a frame grab) with
//!   `tokio::process` and returns its standard output.

use std::{
    collections::VecDeque,
    ffi::OsStr,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use ffmpeg_sidecar::{
    child::FfmpegChild,
    command::FfmpegCommand,
    event::{FfmpegEvent, LogLevel},
    iter::FfmpegIterator,
    log_parser::parse_time_str,
};

pub use super::error::MediaError;
use super::{source::redact, spawn};

/// Lines of error output kept for [`MediaError::Failed`].
const STDERR_TAIL_LINES: usize = 12;

/// How often the run loop polls for the exit status once ffmpeg has closed its log.
const REAP_POLL: Duration = Duration::from_millis(10);

/// A finished, successful ffmpeg run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Last output position ffmpeg reported, in seconds.
    pub last_position_secs: f64,
}

/// The child shared between the run loop (which reaps it) and the guard (which kills it).
/// `None` once one of them has taken care of it.
type SharedChild = Arc<Mutex<Option<FfmpegChild>>>;

/// Kills and reaps the child unless the run loop already reaped it. Lives in the async
/// future, so a timeout, an error or a dropped future all end the process.
struct KillOnDrop {
    child: SharedChild,
    program: String,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let taken = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = taken {
            let pid = child.as_inner().id();
            tracing::warn!(program = %self.program, pid, "killing unfinished media process");
            // Killing an already exited child fails harmlessly; waiting reaps it either way
            // and returns at once because SIGKILL cannot be ignored.
            let _ = child.kill();
            let _ = child.as_inner_mut().wait();
        }
    }
}

/// Runs `ffmpeg` with `args`, calling `on_progress` with the output position in seconds
/// each time ffmpeg reports progress.
///
/// The run is limited to `timeout`; past it, or when the returned future is dropped,
/// ffmpeg is killed. `on_progress` runs on a blocking thread, hence `Send + 'static`.
pub async fn run<F>(
    ffmpeg: &Path,
    args: &[String],
    timeout: Duration,
    on_progress: F,
) -> Result<RunSummary, MediaError>
where
    F: FnMut(f64) + Send + 'static,
{
    let program = ffmpeg.display().to_string();
    let started = Instant::now();
    // An input may be a presigned URL: its query string never reaches the log.
    tracing::debug!(program = %program, args = %redact(&args.join(" ")), "starting ffmpeg");
    let mut command = FfmpegCommand::new_with_path(ffmpeg);
    command.args(args);
    spawn::die_with_parent(command.as_inner_mut());
    let name = program.clone();
    // The guard is made on the spawner thread, so a child whose caller went away while
    // it was being started is killed there too.
    let started_child = spawn::on_spawner(move || start(command, name)).await;
    let (events, guard) = started_child.map_err(|source| MediaError::Spawn {
        program: program.clone(),
        source,
    })??;
    let shared = Arc::clone(&guard.child);
    // ffmpeg-sidecar reads the log with blocking std threads; the loop consuming it
    // must not occupy an async worker thread.
    let task = tokio::task::spawn_blocking(move || drive(events, &shared, on_progress));
    let (status, last_position_secs, stderr_tail) = match tokio::time::timeout(timeout, task).await
    {
        Err(_elapsed) => return Err(MediaError::Timeout(timeout)),
        Ok(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Ok(Err(join)) => return Err(MediaError::Io(std::io::Error::other(join.to_string()))),
        Ok(Ok(outcome)) => outcome?,
    };
    if !status.success() {
        return Err(MediaError::Failed {
            program,
            status,
            stderr_tail,
        });
    }
    let elapsed = started.elapsed();
    tracing::debug!(program = %program, elapsed_ms = elapsed.as_millis() as u64, "ffmpeg finished");
    Ok(RunSummary {
        elapsed,
        last_position_secs,
    })
}

/// Starts ffmpeg and its log reader; runs on the spawner thread.
fn start(
    mut command: FfmpegCommand,
    program: String,
) -> Result<(FfmpegIterator, KillOnDrop), MediaError> {
    let mut child = command.spawn().map_err(|source| MediaError::Spawn {
        program: program.clone(),
        source,
    })?;
    let events = child.iter();
    let guard = KillOnDrop {
        child: Arc::new(Mutex::new(Some(child))),
        program,
    };
    // Only possible when stderr was not piped; the guard ends the process.
    let events = events.map_err(|err| MediaError::Io(std::io::Error::other(err.to_string())))?;
    Ok((events, guard))
}

/// Consumes ffmpeg's events until its log closes, then reaps it. Returns the exit status,
/// the last reported position and the tail of the error log.
fn drive<F>(
    events: FfmpegIterator,
    child: &Mutex<Option<FfmpegChild>>,
    mut on_progress: F,
) -> Result<(ExitStatus, f64, String), MediaError>
where
    F: FnMut(f64),
{
    let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
    let mut position = 0.0;
    for event in events {
        match event {
            FfmpegEvent::Progress(progress) => {
                // The first report can carry a negative placeholder time; skip it.
                if let Some(secs) = parse_time_str(&progress.time).filter(|s| *s >= 0.0) {
                    position = secs;
                    on_progress(secs);
                }
            }
            FfmpegEvent::Log(
                LogLevel::Warning | LogLevel::Error | LogLevel::Fatal | LogLevel::Unknown,
                line,
            ) => {
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            _ => {}
        }
    }
    let tail = redact(&Vec::from(tail).join("\n")).into_owned();
    // The log is closed, so ffmpeg is exiting. Poll instead of a blocking `wait` so the
    // guard can always take the lock at once.
    loop {
        let mut slot = child.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(running) = slot.as_mut() else {
            return Err(MediaError::Io(std::io::Error::other("ffmpeg was killed")));
        };
        if let Some(status) = running.as_inner_mut().try_wait()? {
            slot.take();
            return Ok((status, position, tail));
        }
        drop(slot);
        std::thread::sleep(REAP_POLL);
    }
}

/// Runs a short command (ffprobe, a frame grab) and returns its standard output.
///
/// Limited to `timeout`; the child is killed when the limit passes or the future is
/// dropped. A non-zero exit is [`MediaError::Failed`] with the end of its stderr.
pub async fn capture<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    timeout: Duration,
) -> Result<Vec<u8>, MediaError> {
    let name = program.display().to_string();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    spawn::die_with_parent(command.as_std_mut());
    let spawn_error = |source| MediaError::Spawn {
        program: name.clone(),
        source,
    };
    let child = spawn::on_spawner(move || command.spawn())
        .await
        .map_err(spawn_error)?
        .map_err(spawn_error)?;
    // On timeout the `wait_with_output` future, which owns the child, is dropped and
    // `kill_on_drop` ends the process.
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| MediaError::Timeout(timeout))??;
    if !output.status.success() {
        return Err(MediaError::Failed {
            program: name,
            status: output.status,
            stderr_tail: tail_lines(&String::from_utf8_lossy(&output.stderr)),
        });
    }
    Ok(output.stdout)
}

/// The last lines of an error log, with the query string of any URL (a presigned input)
/// taken out: the tail ends up in errors and logs.
fn tail_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    redact(&lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        let text: String = (1..=20).map(|i| format!("line {i}\n\n")).collect();
        let tail = tail_lines(&text);
        assert_eq!(tail.lines().count(), STDERR_TAIL_LINES);
        assert!(
            tail.starts_with("line 9\n") && tail.ends_with("line 20"),
            "{tail}"
        );
    }

    #[tokio::test]
    async fn a_missing_binary_is_a_retryable_spawn_error() {
        let err = capture(
            Path::new("/nonexistent/ffprobe"),
            &["-version"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MediaError::Spawn { .. }), "{err:?}");
        assert!(err.is_retryable());
        let err = run(
            Path::new("/nonexistent/ffmpeg"),
            &[],
            Duration::from_secs(5),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MediaError::Spawn { .. }), "{err:?}");
    }
}
