//! One change at a time per store: an exclusive `flock` on `backups/.rb/lock`.
//!
//! The lock is an advisory lock held by an open file, so it dies with its process: a killed
//! rollback never leaves a stale lock behind. The file's content names the holder (tool, pid,
//! since when) for the error the second caller sees; the file itself stays between runs
//! (removing it would race with a waiter that opened it).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result, failed, locked};

/// Holds the store's lock until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock at `path` without waiting; exit 4 naming the holder if it is taken.
    pub fn acquire(path: &Path, tool: &str, since: &str) -> Result<Lock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .ctx(|| format!("opening the lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who =
                    if holder.is_empty() { "another rb process".to_string() } else { holder.to_string() };
                return Err(locked(format!("another rollback holds the lock: {who}"))
                    .hint("wait for it to finish; the lock is released when that process ends"));
            }
            Err(TryLockError::Error(e)) => {
                return Err(failed(format!("locking {}: {e}", path.display())));
            }
        }
        let pid = std::process::id();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{tool} (pid {pid}) since {since}"))
            .ctx(|| format!("writing the lock {}", path.display()))?;
        Ok(Lock { _file: file, path: path.to_path_buf() })
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
