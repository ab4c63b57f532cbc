//! A worker killed mid-job leaves no ffmpeg running: the test binary re-executes itself
//! as the "worker", which starts a long ffmpeg run through the wrapper, and is SIGKILLed.

use std::{path::Path, time::Duration, time::Instant};

use skillreel_shared::media::ffmpeg;

use super::processes_with;

/// Set in a re-executed copy of this test binary: that copy plays a worker that starts a
/// long ffmpeg run (this variable's value is its marker) and is then SIGKILLed.
const ORPHAN_HELPER: &str = "SKILLREEL_TEST_ORPHAN_HELPER";

/// Full name of the test below, to run it alone in the re-executed copy.
const THIS_TEST: &str = "orphans::ffmpeg_dies_with_the_process_that_started_it";

/// `/proc/<pid>/status` field, if the process exists.
fn proc_status(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
}

/// Running: it exists and is not a zombie (nobody may reap an orphan in a container).
fn is_running(pid: u32) -> bool {
    proc_status(pid, "State:").is_some_and(|state| !state.starts_with('Z'))
}

/// The helper's part: an endless ffmpeg run, until the test kills this process.
async fn run_until_killed(marker: &str) {
    // Silent from the start (no banner, no log, no stats): an ffmpeg that writes to the
    // dead helper's pipe dies of SIGPIPE, which would hide a missing parent-death signal.
    // Real runs are not always that lucky: they may write nothing for a while.
    let args = [
        "-y",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "quiet",
        "-nostats",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "null",
        marker,
    ];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let result = ffmpeg::run(Path::new("ffmpeg"), &args, Duration::from_secs(600), |_| {}).await;
    panic!("the endless run ended before the helper was killed: {result:?}");
}

#[tokio::test]
async fn ffmpeg_dies_with_the_process_that_started_it() {
    if let Ok(marker) = std::env::var(ORPHAN_HELPER) {
        return run_until_killed(&marker).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("orphan-run").to_string_lossy().into_owned();
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", THIS_TEST, "--test-threads=1"])
        .env(ORPHAN_HELPER, &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ffmpeg_pid = loop {
        if let [pid] = processes_with(&marker)[..] {
            break pid;
        }
        assert!(Instant::now() < deadline, "the helper never started ffmpeg");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        proc_status(ffmpeg_pid, "PPid:"),
        Some(helper.id().to_string()),
        "ffmpeg is the helper's child"
    );
    // What the OOM killer or `systemctl kill` does to a worker: no chance to clean up.
    helper.kill().unwrap();
    helper.wait().unwrap();
    let killed = Instant::now();
    while is_running(ffmpeg_pid) {
        if killed.elapsed() > Duration::from_secs(1) {
            let pid = rustix::process::Pid::from_raw(ffmpeg_pid as i32).unwrap();
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            panic!("ffmpeg (pid {ffmpeg_pid}) outlived its parent by more than 1 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
