//! Starting media processes so that they die with the process that started them.
//!
//! Every child gets `PR_SET_PDEATHSIG = SIGKILL` ([`die_with_parent`]): when a worker is
//! SIGKILLed (OOM killer, `systemctl kill`, a crash), its ffmpeg/ffprobe children are
//! killed by the kernel instead of running on, orphaned, for seconds or minutes.
//!
//! The kernel sends that signal when the *thread* that forked the child exits, not the
//! process. Tokio's blocking-pool threads, and async worker threads of a runtime that is
//! shut down, come and go; a child forked on one of them would be killed mid-job when
//! that thread retires. So every media child is forked on one dedicated thread,
//! [`on_spawner`]'s, which is started on first use and never returns: its request
//! channel's sender lives in a `static`, so the receiving loop never ends, and the
//! thread exits only with the process — exactly when the children should die.

use std::{
    io,
    os::unix::process::CommandExt,
    panic::AssertUnwindSafe,
    sync::{Mutex, PoisonError, mpsc},
};

use rustix::process::{Signal, getpid, getppid, set_parent_process_death_signal};

/// Work run on the spawner thread.
type Job = Box<dyn FnOnce() + Send>;

/// Sender half of the spawner thread's queue; `None` until the thread is started.
static SPAWNER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);

/// Makes the child started from `command` receive SIGKILL when the thread that forks
/// it exits (see the module documentation for why that must be the spawner thread).
///
/// If this process died between the fork and the `prctl`, the signal would never come:
/// the child checks that its parent is still this process and otherwise fails before
/// `exec` (std then ends the child with `_exit` and `spawn` returns the error).
#[allow(unsafe_code)]
pub(crate) fn die_with_parent(command: &mut std::process::Command) {
    let parent = getpid();
    let hook = move || {
        // Only raw system calls here: this runs in the forked child before `exec`.
        set_parent_process_death_signal(Some(Signal::KILL))?;
        if getppid() != Some(parent) {
            return Err(io::Error::from(rustix::io::Errno::SRCH));
        }
        Ok(())
    };
    // SAFETY: the hook only makes two system calls (prctl, getppid) and builds an
    // `io::Error` from an errno, which does not allocate: all async-signal-safe, as
    // required between fork and exec.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Runs `spawn` (which should start a child process configured with
/// [`die_with_parent`]) on the long-lived spawner thread and returns its result.
///
/// The caller's Tokio runtime, if any, is entered while `spawn` runs, so
/// `tokio::process` works there. If the caller is gone by the time `spawn` has
/// finished (its future was dropped), the result is dropped on the spawner thread: a
/// result holding a child must therefore kill it on drop.
pub(crate) async fn on_spawner<R, F>(spawn: F) -> io::Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().ok();
    let (reply, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
        // An unclaimed result (`Err(value)`) is dropped here, inside the runtime.
        let _ = reply.send(spawn());
    });
    sender()?
        .send(job)
        .map_err(|_| io::Error::other("the media spawner thread has stopped"))?;
    result
        .await
        .map_err(|_| io::Error::other("the media spawner thread dropped a request"))
}

/// The spawner thread's queue, starting the thread on first use.
fn sender() -> io::Result<mpsc::Sender<Job>> {
    let mut slot = SPAWNER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(sender) = slot.as_ref() {
        return Ok(sender.clone());
    }
    let (sender, jobs) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("media-spawner".into())
        .spawn(move || {
            // Ends only if every sender is dropped, and one lives in `SPAWNER` for good.
            for job in jobs {
                // A panicking job must not take the thread (and every later spawn) down;
                // its caller sees the dropped reply as an error.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        })?;
    *slot = Some(sender.clone());
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_field(pid: u32, field: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[tokio::test]
    async fn children_are_forked_on_one_thread_and_get_the_death_signal() {
        let spawn_sleep = || async {
            on_spawner(|| {
                let mut command = std::process::Command::new("sleep");
                command.arg("30");
                die_with_parent(&mut command);
                (command.spawn(), rustix::thread::gettid())
            })
            .await
            .unwrap()
        };
        let (first, first_thread) = spawn_sleep().await;
        let (second, second_thread) = spawn_sleep().await;
        assert_eq!(first_thread, second_thread, "one spawner thread");
        assert_ne!(first_thread, rustix::thread::gettid());
        for child in [first, second] {
            let mut child = child.unwrap();
            // Alive with this process as its parent: the pre-exec hook let it through.
            assert_eq!(
                status_field(child.id(), "PPid:"),
                std::process::id().to_string()
            );
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    #[tokio::test]
    async fn a_panicking_request_does_not_stop_the_spawner() {
        let err = on_spawner(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(err.to_string().contains("dropped"), "{err}");
        assert_eq!(on_spawner(|| 7).await.unwrap(), 7);
    }
}
