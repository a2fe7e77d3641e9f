//! The run-directory rule: a new run never touches an existing run's files, and one
//! directory is used by one process at a time.
//!
//! A directory holds a run once the run has finished an epoch: it has a checkpoint or
//! metrics.jsonl ([`results`]). `netc train` without `--resume` refuses such a directory;
//! `--overwrite` removes netc's files first ([`clear`]), and only them, so a directory
//! shared with other files loses nothing else. What a run that never finished an epoch
//! leaves (config.json, TensorBoard steps, temporary files) cannot be resumed, and the next
//! run replaces it. Every training
//! process, resumed or not, holds [`RunLock`] on `DIR/.lock` while it runs: an OS advisory
//! lock (`flock` on Unix), which the kernel drops when the process ends however it ends, so the
//! lock of a killed run never blocks the next one. The `.lock` file itself stays (it
//! records the last holder's pid): deleting it on exit would let a third process lock a
//! new file while a second still holds the old one.

use std::path::{Path, PathBuf};

/// The files and folders a training run writes into its directory, the [`results`] first
/// (`atomic_file`'s temporary files end in `.tmp` and are matched separately).
pub const RUN_FILES: [&str; 8] = [
    "best.safetensors",
    "best.json",
    "last.safetensors",
    "last.json",
    "metrics.jsonl",
    "config.json",
    "test.json",
    "tensorboard",
];

/// The lock file of a run directory.
pub const LOCK_FILE: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error(
        "`{dir}` is in use by another netc process{}; two runs in one directory would overwrite each other's checkpoints",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked { dir: String, pid: Option<u32> },
    #[error("cannot use run directory `{dir}`: {message}")]
    Io { dir: String, message: String },
}

/// Exclusive use of a run directory, until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    // Closing the file releases the lock.
    _file: std::fs::File,
}

impl RunLock {
    /// Create `dir` if needed and lock it, or report who holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, RunDirError> {
        let io = |e: std::io::Error| RunDirError::Io {
            dir: dir.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            let pid = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            return Err(RunDirError::Locked {
                dir: dir.display().to_string(),
                pid,
            });
        }
        use std::io::{Seek, Write};
        file.set_len(0).map_err(io)?;
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RunLock { _file: file })
    }
}

/// Take the advisory lock without waiting: Ok(false) when another process holds it.
/// (std's lock is `flock` on Unix and `LockFileEx` on Windows.)
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The files whose presence means `dir` holds a run: checkpoints (either layout) and
/// metrics.jsonl.
pub fn results(dir: &Path) -> Vec<PathBuf> {
    RUN_FILES[..5]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect()
}

/// netc's run files present in `dir`, in [`RUN_FILES`] order, then temporary files.
pub fn existing_run_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = RUN_FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect();
    let mut temps: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
        .collect();
    temps.sort();
    found.extend(temps);
    found
}

/// Remove netc's run files from `dir` (`--overwrite`), nothing else: from `tensorboard/`
/// only netc's event files (`*.netc`), and the folder only if that empties it.
pub fn clear(dir: &Path) -> Result<(), RunDirError> {
    let fail = |p: &Path, e: std::io::Error| RunDirError::Io {
        dir: dir.display().to_string(),
        message: format!("cannot remove `{}`: {e}", p.display()),
    };
    for p in existing_run_files(dir) {
        if !p.is_dir() {
            std::fs::remove_file(&p).map_err(|e| fail(&p, e))?;
            continue;
        }
        let entries = std::fs::read_dir(&p).map_err(|e| fail(&p, e))?;
        for e in entries.flatten() {
            let f = e.path();
            if f.is_file() && f.extension().is_some_and(|x| x == "netc") {
                std::fs::remove_file(&f).map_err(|e| fail(&f, e))?;
            }
        }
        // Not empty: someone else's event files live there too.
        let _ = std::fs::remove_dir(&p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_and_freed_by_dropping_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        // flock locks belong to open files, so a second open in this process conflicts
        // just as another process would.
        match RunLock::acquire(dir.path()) {
            Err(RunDirError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn clear_removes_run_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("tensorboard")).unwrap();
        for f in [
            "last.safetensors",
            "metrics.jsonl",
            "x.safetensors.tmp",
            "notes.txt",
            "tensorboard/events.out.tfevents.1.2.netc",
            "tensorboard/events.out.tfevents.1.torch",
        ] {
            std::fs::write(d.join(f), "x").unwrap();
        }
        assert_eq!(existing_run_files(d).len(), 4);
        assert_eq!(
            results(d),
            vec![d.join("last.safetensors"), d.join("metrics.jsonl")]
        );
        clear(d).unwrap();
        assert_eq!(existing_run_files(d), vec![d.join("tensorboard")]);
        assert!(d.join("notes.txt").is_file());
        assert!(d.join("tensorboard/events.out.tfevents.1.torch").is_file());
    }
}
