//! File-system primitives that keep state whole: hashing copies, atomic replacement,
//! metadata (mode, nanosecond mtimes, symlinks), and syncing.
//!
//! Every write that replaces something goes to a temporary file in the target's own folder
//! and is renamed over it, so a file is always either its old or its new self. Data is made
//! durable with `syncfs` once per batch rather than `fsync` per file: the same guarantee at
//! the rename boundary for a fraction of the cost on trees of thousands of files.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use filetime::FileTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::{Context, Result, failed};

/// Size of the copy buffer: large enough to amortize syscalls, small enough for many threads.
const CHUNK: usize = 256 * 1024;

/// A modification time with nanoseconds, written in documents as RFC 3339 UTC
/// (`2025-10-13T12:00:00.123456789Z`), exact both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mtime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Mtime {
    /// The mtime of `meta` (from `symlink_metadata` for links).
    pub fn of(meta: &fs::Metadata) -> Self {
        Mtime { secs: meta.mtime(), nanos: meta.mtime_nsec() as u32 }
    }

    fn filetime(self) -> FileTime {
        FileTime::from_unix_time(self.secs, self.nanos)
    }
}

impl fmt::Display for Mtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::<Utc>::from_timestamp(self.secs, self.nanos) {
            Some(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => write!(f, "@{}.{:09}", self.secs, self.nanos),
        }
    }
}

impl Serialize for Mtime {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mtime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let t = DateTime::parse_from_rfc3339(&text)
            .map_err(|e| serde::de::Error::custom(format!("mtime {text:?}: {e}")))?;
        Ok(Mtime { secs: t.timestamp(), nanos: t.timestamp_subsec_nanos() })
    }
}

/// Permission bits (`0o7777`), written in documents as an octal string (`"0644"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// The permission bits of `meta`.
    pub fn of(meta: &fs::Metadata) -> Self {
        Mode(meta.mode() & 0o7777)
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:04o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match u32::from_str_radix(&text, 8) {
            Ok(m) if m <= 0o7777 => Ok(Mode(m)),
            _ => Err(serde::de::Error::custom(format!("mode {text:?} is not octal permission bits"))),
        }
    }
}

/// Size and SHA-256 (lowercase hex) of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest256 {
    /// Bytes read.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// Reads `src` once, hashing it and, when `dst` is given, writing the same bytes to it.
pub fn hash_copy(src: &Path, mut dst: Option<&mut dyn Write>) -> Result<Digest256> {
    let mut input = File::open(src).ctx(|| format!("reading {}", src.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(format!("reading {}: {e}", src.display()))),
        };
        hasher.update(&buf[..n]);
        if let Some(out) = dst.as_deref_mut() {
            out.write_all(&buf[..n]).ctx(|| format!("writing the copy of {}", src.display()))?;
        }
        size += n as u64;
    }
    Ok(Digest256 { size, sha256: hex::encode(hasher.finalize()) })
}

/// Hashes a file without copying it.
pub fn hash_file(path: &Path) -> Result<Digest256> {
    hash_copy(path, None)
}

/// Creates `dst` (which must not exist) as a copy of `src`, returning the copy's digest. The
/// new file is created 0600 and given `mode` only once complete, so a secret is never
/// readable by others half-way.
pub fn copy_new(src: &Path, dst: &Path, mode: Mode, mtime: Mtime) -> Result<Digest256> {
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .ctx(|| format!("creating {}", dst.display()))?;
    let digest = hash_copy(src, Some(&mut out))?;
    set_mode_file(&out, dst, mode)?;
    filetime::set_file_handle_times(&out, Some(mtime.filetime()), Some(mtime.filetime()))
        .ctx(|| format!("setting the mtime of {}", dst.display()))?;
    Ok(digest)
}

fn set_mode_file(file: &File, shown: &Path, mode: Mode) -> Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode.0))
        .ctx(|| format!("setting the mode of {}", shown.display()))
}

/// Sets the permission bits of a file or folder (never through a symlink: callers pass
/// paths whose type they just checked).
pub fn set_mode(path: &Path, mode: Mode) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode.0))
        .ctx(|| format!("setting the mode of {}", path.display()))
}

/// Sets the mtime (and atime, to the same value) of a file or folder.
pub fn set_mtime(path: &Path, mtime: Mtime) -> Result<()> {
    filetime::set_file_times(path, mtime.filetime(), mtime.filetime())
        .ctx(|| format!("setting the mtime of {}", path.display()))
}

/// Sets the mtime of a symlink itself, not of what it points to.
pub fn set_symlink_mtime(path: &Path, mtime: Mtime) -> Result<()> {
    filetime::set_symlink_file_times(path, mtime.filetime(), mtime.filetime())
        .ctx(|| format!("setting the mtime of the symlink {}", path.display()))
}

/// Flushes everything written on the file system that holds `path` (`syncfs(2)`).
pub fn sync_fs(path: &Path) -> Result<()> {
    let dir = File::open(path).ctx(|| format!("opening {} to sync it", path.display()))?;
    rustix::fs::syncfs(&dir).ctx(|| format!("syncing the file system of {}", path.display()))
}

/// Makes a folder's entries (a rename into it, say) durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path).and_then(|d| d.sync_all()).ctx(|| format!("syncing the folder {}", path.display()))
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same folder, synced, given
/// `mode` (whatever the umask), renamed over the target, and the folder synced.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: Mode) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".rb-tmp.")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .ctx(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).ctx(|| format!("writing {}", path.display()))?;
    set_mode_file(tmp.as_file(), path, mode)?;
    tmp.as_file().sync_all().ctx(|| format!("syncing {}", path.display()))?;
    tmp.persist(path).map_err(|e| failed(format!("replacing {}: {}", path.display(), e.error)))?;
    sync_dir(dir)
}

/// Creates `dir` and any missing parents with mode 0755 whatever the umask: a store that
/// other users could write to would let them plant a backup (or an environment file that
/// someone later sources).
pub fn create_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .ctx(|| format!("setting the mode of {}", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(failed(format!("creating {}: {e}", dir.display()))),
    }
}

/// Why a file that holds secrets is exposed, if it is: readable or writable by others, or
/// owned by another user than the one running rb.
pub fn exposed(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Some(format!("is open to other users (mode {mode:04o})"));
    }
    let me = rustix::process::geteuid().as_raw();
    (meta.uid() != me).then(|| format!("belongs to uid {}, not to this user (uid {me})", meta.uid()))
}

/// Appends one line to `path` (created 0644 if missing) and syncs it: the audit log.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .ctx(|| format!("opening {}", path.display()))?;
    f.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| f.sync_data())
        .ctx(|| format!("appending to {}", path.display()))
}

/// Removes a file, symlink or whole folder; a path already gone is not an error, so a
/// resumed restore can repeat the step.
pub fn remove_any(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failed(format!("reading {}: {e}", path.display()))),
    };
    let result = if meta.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(failed(format!("removing {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_round_trips_with_nanoseconds() {
        for m in [Mtime { secs: 1_760_356_800, nanos: 123_456_789 }, Mtime { secs: 0, nanos: 0 }] {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Mtime>(&text).unwrap(), m, "{text}");
        }
        assert_eq!(
            serde_json::to_string(&Mtime { secs: 1_760_356_800, nanos: 0 }).unwrap(),
            "\"2025-10-13T12:00:00Z\""
        );
    }

    #[test]
    fn mode_is_octal_text() {
        assert_eq!(serde_json::to_string(&Mode(0o644)).unwrap(), "\"0644\"");
        assert_eq!(serde_json::from_str::<Mode>("\"0600\"").unwrap(), Mode(0o600));
        assert!(serde_json::from_str::<Mode>("\"0999\"").is_err());
    }
}
