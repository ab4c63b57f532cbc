//! Temporary files and directories that name their owner, so that whatever a killed
//! process left behind can be removed by the next one to start — and only that.
//!
//! An owned entry is called `<prefix><pid>-<start time>-<random>[<suffix>]`, where the
//! start time is field 22 of `/proc/<pid>/stat` (clock ticks after boot). Several web
//! and worker processes may share a host and a `TEMP_DIR`: [`sweep_dead`] removes an
//! entry only when no live process has both its pid and its start time, so a live
//! owner's files are never touched and a recycled pid is not taken for the owner.
//! Processes in other PID namespaces (containers) must not share a `TEMP_DIR`: their
//! pids mean nothing here.
//!
//! Entries with the prefix but without the pid format (left by versions before this
//! layout) cannot be attributed; they are removed once older than [`UNATTRIBUTED_MAX_AGE`].

use std::{
    fs,
    io::{self, ErrorKind},
    path::Path,
    time::{Duration, SystemTime},
};

/// Age past which an entry without an owner in its name is taken as abandoned. Longer
/// than any job may run (`JOB_TIMEOUT_SECS` defaults to 15 minutes).
pub const UNATTRIBUTED_MAX_AGE: Duration = Duration::from_secs(3600);

/// Creates a directory `<base>/<prefix><pid>-<start time>-<random>` owned by this
/// process; it is removed when the returned handle is dropped.
pub fn owned_tempdir(base: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&owned_prefix(prefix)?)
        .tempdir_in(base)
}

/// Creates a file `<base>/<prefix><pid>-<start time>-<random><suffix>` owned by this
/// process; it is removed when the returned handle (or its `TempPath`) is dropped.
pub fn owned_tempfile(
    base: &Path,
    prefix: &str,
    suffix: &str,
) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&owned_prefix(prefix)?)
        .suffix(suffix)
        .tempfile_in(base)
}

/// Removes the entries of `base` named with `prefix` whose owner is no longer running
/// (see the module documentation); returns how many were removed.
///
/// A missing `base` has nothing to sweep. An entry that cannot be removed is logged and
/// skipped, so one stubborn file does not keep the others.
pub fn sweep_dead(base: &Path, prefix: &str) -> io::Result<usize> {
    let entries = match fs::read_dir(base) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let abandoned = match parse_owner(rest) {
            Some(owner) => !is_running(owner),
            None => older_than(&entry, UNATTRIBUTED_MAX_AGE),
        };
        if !abandoned {
            continue;
        }
        let path = entry.path();
        let result = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => removed += 1,
            // Another process sweeping the same directory got there first.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove an abandoned temporary entry");
            }
        }
    }
    Ok(removed)
}

/// A process as named in an entry: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    pid: u32,
    start_time: u64,
}

fn owned_prefix(prefix: &str) -> io::Result<String> {
    let pid = std::process::id();
    let start_time = process_stat(pid)
        .map(|(_, start)| start)
        .ok_or_else(|| io::Error::other("cannot read this process's start time from /proc"))?;
    Ok(format!("{prefix}{pid}-{start_time}-"))
}

/// `<pid>-<start time>-<random…>` → the owner; `None` for any other form.
fn parse_owner(rest: &str) -> Option<Owner> {
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    let start_time = parts.next()?.parse().ok()?;
    parts.next().filter(|random| !random.is_empty())?;
    Some(Owner { pid, start_time })
}

/// Whether `owner` is still running: a process with that pid exists, started at that
/// time, and is not a zombie (a zombie has exited and will never use its files again).
fn is_running(owner: Owner) -> bool {
    process_stat(owner.pid)
        .is_some_and(|(state, start)| start == owner.start_time && !matches!(state, 'Z' | 'X'))
}

/// State letter and start time (field 22) of `pid` from `/proc/<pid>/stat`.
fn process_stat(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces and
    // parentheses, so fields are counted from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `fields` now starts at field 4; field 22 is 18 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some((state, start_time))
}

fn older_than(entry: &fs::DirEntry, age: Duration) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed > age)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "skillreel-test-";

    fn own_start_time() -> u64 {
        process_stat(std::process::id()).unwrap().1
    }

    fn make_dir(base: &Path, name: &str) -> std::path::PathBuf {
        let dir = base.join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("partial.mp4"), b"data").unwrap();
        dir
    }

    fn set_age(path: &Path, age: Duration) {
        let file = fs::File::open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn names_carry_pid_and_start_time() {
        let base = tempfile::tempdir().unwrap();
        let dir = owned_tempdir(base.path(), PREFIX).unwrap();
        let name = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
        let owner = parse_owner(name.strip_prefix(PREFIX).unwrap()).unwrap();
        assert_eq!(
            owner,
            Owner {
                pid: std::process::id(),
                start_time: own_start_time()
            }
        );
        let file = owned_tempfile(base.path(), PREFIX, ".mp4").unwrap();
        let name = file.path().file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(".mp4"), "{name}");
        assert!(name.starts_with(&format!("{PREFIX}{}-", std::process::id())));
    }

    #[test]
    fn only_entries_of_dead_owners_are_swept() {
        let base = tempfile::tempdir().unwrap();
        let ours = owned_tempdir(base.path(), PREFIX).unwrap();
        let our_file = owned_tempfile(base.path(), PREFIX, ".mp4").unwrap();

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = make_dir(base.path(), &format!("{PREFIX}{dead_pid}-12345-abcdef"));
        let dead_file = base
            .path()
            .join(format!("{PREFIX}{dead_pid}-12345-ghijkl.mp4"));
        fs::write(&dead_file, b"x").unwrap();
        // Our pid, another start time: a previous process that had the same pid.
        let recycled = make_dir(
            base.path(),
            &format!(
                "{PREFIX}{}-{}-abcdef",
                std::process::id(),
                own_start_time() + 1
            ),
        );
        let other_prefix = make_dir(base.path(), &format!("other-{dead_pid}-12345-abcdef"));

        assert_eq!(sweep_dead(base.path(), PREFIX).unwrap(), 3);
        assert!(ours.path().is_dir(), "a live owner's directory stays");
        assert!(our_file.path().is_file(), "a live owner's file stays");
        assert!(
            !dead.exists() && !dead_file.exists(),
            "a dead owner's entries go"
        );
        assert!(!recycled.exists(), "a recycled pid is not the owner");
        assert!(other_prefix.exists(), "other prefixes are not touched");
        assert_eq!(sweep_dead(base.path(), PREFIX).unwrap(), 0);
    }

    #[test]
    fn unattributed_entries_go_only_when_old() {
        let base = tempfile::tempdir().unwrap();
        let fresh = make_dir(base.path(), &format!("{PREFIX}a1b2c3"));
        let old = make_dir(base.path(), &format!("{PREFIX}d4e5f6"));
        set_age(&old, UNATTRIBUTED_MAX_AGE + Duration::from_secs(60));
        let old_file = base.path().join(format!("{PREFIX}12-x.mp4"));
        fs::write(&old_file, b"x").unwrap();
        set_age(&old_file, Duration::from_secs(2 * 3600));

        assert_eq!(sweep_dead(base.path(), PREFIX).unwrap(), 2);
        assert!(fresh.exists());
        assert!(!old.exists() && !old_file.exists());
    }

    #[test]
    fn a_missing_base_has_nothing_to_sweep() {
        let base = tempfile::tempdir().unwrap();
        assert_eq!(sweep_dead(&base.path().join("nope"), PREFIX).unwrap(), 0);
    }

    #[test]
    fn owners_are_parsed_strictly() {
        assert_eq!(
            parse_owner("42-1000-xyz"),
            Some(Owner {
                pid: 42,
                start_time: 1000
            })
        );
        assert_eq!(parse_owner("42-1000-xyz-more.mp4").map(|o| o.pid), Some(42));
        assert_eq!(parse_owner("42-1000-"), None);
        assert_eq!(parse_owner("42-1000"), None);
        assert_eq!(parse_owner("abc-1000-xyz"), None);
        assert_eq!(parse_owner("a1B2c3"), None);
    }
}
