//! Files written whole or not at all, and the test hook that makes a chosen write fail.
//!
//! [`write`] puts the bytes in a temporary file beside the target, flushes it to disk and
//! renames it over the target, so a reader — or a process started after a crash, a kill or
//! a full disk at any point — finds either the old file or the new one, never a mix.
//!
//! `NETC_FAIL_WRITE=N` makes the Nth write point of the process fail with an error, as a
//! full disk would. The write points are the two steps of every [`write`] (the temporary
//! file, the rename) and every other file operation the trainer must survive losing
//! ([`write_point`]); tests/cli_train.rs fails each in turn and checks that `--resume`
//! still reproduces an uninterrupted run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Replace `path` with `bytes` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        write_point(path)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // Without this a power cut after the rename could leave a renamed but empty file.
        f.sync_all()?;
        write_point(path)?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path);
        Ok(())
    })();
    if result.is_err() {
        // Best effort: a stale temporary file is harmless (the next write truncates it),
        // only untidy.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file [`write`] uses for `path`: `NAME.tmp` beside it.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Make the rename itself durable (the directory entry). Not every platform or file
/// system lets a directory be opened and synced; the rename is atomic either way.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// A file operation that the `NETC_FAIL_WRITE` hook may fail. Free when the variable is
/// unset.
pub fn write_point(path: &Path) -> io::Result<()> {
    static FAIL_AT: OnceLock<Option<u64>> = OnceLock::new();
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let fail_at = FAIL_AT.get_or_init(|| {
        std::env::var("NETC_FAIL_WRITE")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let Some(n) = *fail_at else {
        return Ok(());
    };
    let k = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if k == n {
        return Err(io::Error::other(format!(
            "injected failure of write point {k} (NETC_FAIL_WRITE={n}) at `{}`",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "old").unwrap();
        super::write(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!super::temp_path(&path).exists());
    }
}
