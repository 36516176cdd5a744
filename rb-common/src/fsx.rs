//! File-system primitives that keep state whole: hashing copies, atomic replacement,
//! metadata (mode, nanosecond mtimes, symlinks), and syncing.
//!
//! Every write that replaces something goes to a temporary file in the target's own folder
//! and is renamed over it, so a file is always either its old or its new self. Data is made
//! durable with `syncfs` once per batch rather than `fsync` per file: the same guarantee at
//! the rename boundary for a fraction of the cost on trees of thousands of files.

use std::collections::BTreeMap;
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
        // Only octal here; more than permission bits is refused by the checks of the
        // document that holds it (`Mode::check`), as bad input (exit 2).
        match u32::from_str_radix(&text, 8) {
            Ok(m) => Ok(Mode(m)),
            _ => Err(serde::de::Error::custom(format!("mode {text:?} is not octal permission bits"))),
        }
    }
}

impl Mode {
    /// Refuses (exit 2) a mode with more than the permission bits (`0o7777`), naming `what`.
    pub fn check(self, what: &str) -> Result<()> {
        if self.0 > 0o7777 {
            return Err(crate::error::usage(format!(
                "{what} has mode {:o}, more than permission bits (at most 7777)",
                self.0
            )));
        }
        Ok(())
    }
}

/// Refuses (exit 2) an owner id that `chown` would read as "leave it" (`4294967295`, -1).
pub fn check_id(id: u32, what: &str) -> Result<()> {
    if id == u32::MAX {
        return Err(crate::error::usage(format!("{what} has owner id {id}, which is not an id (-1)")));
    }
    Ok(())
}

/// Refuses (exit 2), when rb runs as root, a store folder or file that a user other than root
/// can change: one who could would choose what root restores, and where. `shown` names it.
pub fn check_trusted(path: &Path, shown: &str) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failed(format!("reading {shown}: {e}"))),
    };
    let mode = meta.mode() & 0o7777;
    let why = if meta.uid() != 0 {
        format!("belongs to uid {}", meta.uid())
    } else if mode & 0o022 != 0 {
        format!("can be written by other users (mode {mode:04o})")
    } else {
        return Ok(());
    };
    Err(crate::error::usage(format!(
        "{shown} {why}; run as root, rb refuses a store another user can change"
    ))
    .hint(format!("make it root's and not writable by others (chown root {shown}; chmod go-w {shown}), after checking what is in it")))
}

/// Size and SHA-256 (lowercase hex) of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest256 {
    /// Bytes read.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// The mode a copy in the store gets: never set-id or sticky, and not executable by group or
/// others when the original is set-id. The store is written by root; a root-owned set-id copy of
/// a file any user could put in a backed-up folder would be a root shell for that user. The
/// manifest keeps the real mode; a restore puts it back.
pub fn store_mode(mode: Mode) -> Mode {
    let mut bits = mode.0 & 0o777;
    if mode.0 & 0o6000 != 0 {
        bits &= !0o011;
    }
    Mode(bits)
}

/// Bytes written in documents as lowercase hex (an extended attribute's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(&text).map(Hex).map_err(|e| serde::de::Error::custom(format!("hex value: {e}")))
    }
}

/// Extended attributes by name: what `rsync -X`/`-A` keep.
pub type Xattrs = BTreeMap<String, Hex>;

/// The capability xattr: cleared by every chown, restored only by root.
pub const CAPABILITY: &str = "security.capability";

/// True for the extended attributes rb records and restores: `user.*`, the POSIX ACLs
/// (`system.posix_acl_access`, `system.posix_acl_default`) and file capabilities. Others
/// (`security.selinux`, `trusted.*`) belong to the system's policy, not to the files.
pub fn is_kept_xattr(name: &str) -> bool {
    name.starts_with("user.")
        || name == CAPABILITY
        || name == "system.posix_acl_access"
        || name == "system.posix_acl_default"
}

fn xattr_error(e: rustix::io::Errno) -> bool {
    // No xattr support on this file system, or none for this kind of file.
    e == rustix::io::Errno::NOTSUP || e == rustix::io::Errno::NODATA
}

/// The kept extended attributes of a file or folder (never follows a symlink; a symlink has
/// none that rb keeps). A file system without xattrs gives none.
pub fn read_xattrs(path: &Path) -> Result<Xattrs> {
    let shown = || path.display().to_string();
    let mut out = Xattrs::new();
    let mut names = vec![0u8; 1024];
    let len = loop {
        match rustix::fs::llistxattr(path, &mut names[..]) {
            Ok(n) => break n,
            Err(e) if e == rustix::io::Errno::RANGE => {
                names.resize(names.len() * 4, 0);
            }
            Err(e) if xattr_error(e) => return Ok(out),
            Err(e) => return Err(failed(format!("listing the extended attributes of {}: {e}", shown()))),
        }
    };
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else { continue };
        if !is_kept_xattr(name) {
            continue;
        }
        let mut value = vec![0u8; 256];
        let n = loop {
            match rustix::fs::lgetxattr(path, name, &mut value[..]) {
                Ok(n) => break Some(n),
                Err(e) if e == rustix::io::Errno::RANGE => {
                    value.resize(value.len() * 4, 0);
                }
                Err(e) if xattr_error(e) => break None, // removed since it was listed
                Err(e) => {
                    return Err(failed(format!("reading the extended attribute {name} of {}: {e}", shown())));
                }
            }
        };
        if let Some(n) = n {
            value.truncate(n);
            out.insert(name.to_string(), Hex(value));
        }
    }
    Ok(out)
}

/// Gives `path` (a file or folder, never a symlink) exactly the kept extended attributes
/// `want`: sets those that differ, removes the others. `caps`: whether capabilities are
/// managed (only root may set them). Call after the owner and the mode: chown clears
/// capabilities, and chmod rewrites an ACL's mask.
pub fn write_xattrs(path: &Path, want: &Xattrs, caps: bool) -> Result<()> {
    let have = read_xattrs(path)?;
    let managed = |name: &str| caps || name != CAPABILITY;
    for (name, _) in have.iter().filter(|(n, _)| managed(n) && !want.contains_key(*n)) {
        match rustix::fs::lremovexattr(path, name.as_str()) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::NODATA => {}
            Err(e) => {
                return Err(failed(format!(
                    "removing the extended attribute {name} of {}: {e}",
                    path.display()
                )));
            }
        }
    }
    for (name, value) in want.iter().filter(|(n, _)| managed(n)) {
        if have.get(name) == Some(value) {
            continue;
        }
        rustix::fs::lsetxattr(path, name.as_str(), &value.0, rustix::fs::XattrFlags::empty()).map_err(
            |e| failed(format!("setting the extended attribute {name} of {}: {e}", path.display())),
        )?;
    }
    Ok(())
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

/// True if `meta`'s file has holes: fewer blocks allocated than its size needs.
pub fn has_holes(meta: &fs::Metadata) -> bool {
    meta.blocks().saturating_mul(512) < meta.len()
}

/// Copies `src` into the empty file `dst`, hashing it on the way, and keeps its holes: when
/// `src` is sparse only its data (`SEEK_DATA`/`SEEK_HOLE`) is read and written, and the holes
/// are hashed as the zeros they read as. Returns the digest of the whole content.
pub fn copy_into(src: &Path, dst: &File) -> Result<Digest256> {
    let input = File::open(src).ctx(|| format!("reading {}", src.display()))?;
    let meta = input.metadata().ctx(|| format!("reading {}", src.display()))?;
    if !has_holes(&meta) {
        drop(input);
        let mut out = dst;
        return hash_copy(src, Some(&mut out));
    }
    use std::os::unix::fs::FileExt;
    let len = meta.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let zeros = vec![0u8; CHUNK];
    let next = |pos: u64, whence: fn(u64) -> rustix::fs::SeekFrom| match rustix::fs::seek(&input, whence(pos))
    {
        Ok(at) => Ok(at.min(len)),
        Err(e) if e == rustix::io::Errno::NXIO => Ok(len),
        Err(e) => Err(failed(format!("reading {}: {e}", src.display()))),
    };
    let mut pos = 0u64;
    while pos < len {
        let data = next(pos, rustix::fs::SeekFrom::Data)?;
        let mut hole = data - pos;
        while hole > 0 {
            let n = hole.min(CHUNK as u64) as usize;
            hasher.update(&zeros[..n]);
            hole -= n as u64;
        }
        if data >= len {
            break;
        }
        let end = next(data, rustix::fs::SeekFrom::Hole)?;
        let mut at = data;
        while at < end {
            let want = ((end - at) as usize).min(CHUNK);
            let n = match input.read_at(&mut buf[..want], at) {
                Ok(0) => {
                    return Err(failed(format!("reading {}: it shrank while being copied", src.display())));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(failed(format!("reading {}: {e}", src.display()))),
            };
            hasher.update(&buf[..n]);
            dst.write_all_at(&buf[..n], at).ctx(|| format!("writing the copy of {}", src.display()))?;
            at += n as u64;
        }
        pos = end;
    }
    dst.set_len(len).ctx(|| format!("writing the copy of {}", src.display()))?;
    Ok(Digest256 { size: len, sha256: hex::encode(hasher.finalize()) })
}

/// True when the files `a` and `b` can both be read and hold the same bytes (compared a chunk
/// at a time, never whole in memory).
pub fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut a), Ok(mut b)) = (File::open(a), File::open(b)) else { return false };
    if !matches!((a.metadata(), b.metadata()), (Ok(x), Ok(y)) if x.len() == y.len()) {
        return false;
    }
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = match a.read(&mut x) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return true;
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}

/// Hashes a file without copying it.
pub fn hash_file(path: &Path) -> Result<Digest256> {
    hash_copy(path, None)
}

/// Creates `dst` (which must not exist) as a copy of `src` (holes kept), returning the copy's
/// digest. The new file is created 0600 and given `mode` only once complete, so a secret is
/// never readable by others half-way. No extended attribute is copied.
pub fn copy_new(src: &Path, dst: &Path, mode: Mode, mtime: Mtime) -> Result<Digest256> {
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .ctx(|| format!("creating {}", dst.display()))?;
    let digest = copy_into(src, &out)?;
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

/// Sets the mtime (and atime, to the same value) of a file, folder, fifo or device node, by
/// path (`utimensat`, never opening it: opening a fifo waits for a writer).
pub fn set_mtime(path: &Path, mtime: Mtime) -> Result<()> {
    filetime::set_symlink_file_times(path, mtime.filetime(), mtime.filetime())
        .ctx(|| format!("setting the mtime of {}", path.display()))
}

/// Sets the mtime of a symlink itself, not of what it points to.
pub fn set_symlink_mtime(path: &Path, mtime: Mtime) -> Result<()> {
    filetime::set_symlink_file_times(path, mtime.filetime(), mtime.filetime())
        .ctx(|| format!("setting the mtime of the symlink {}", path.display()))
}

/// The space an unprivileged writer has left on the file system that holds `path`, in bytes
/// (`statvfs`), when it can be read.
pub fn free_space(path: &Path) -> Option<u64> {
    rustix::fs::statvfs(path).ok().map(|v| v.f_bavail.saturating_mul(v.f_frsize))
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
    atomic_write_with(path, mode, &mut |w| w.write_all(bytes).ctx(|| format!("writing {}", path.display())))
}

/// [`atomic_write`] of what `write` writes, streamed through a buffer: a large document (a
/// journal of 100,000 steps) is never held whole in memory.
pub fn atomic_write_with(
    path: &Path,
    mode: Mode,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".rb-tmp.")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .ctx(|| format!("creating a temporary file in {}", dir.display()))?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        write(&mut out)?;
        out.flush().ctx(|| format!("writing {}", path.display()))?;
    }
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
        assert!(serde_json::from_str::<Mode>("\"17777\"").unwrap().check("x").is_err());
        assert!(store_mode(Mode(0o4755)) == Mode(0o744) && store_mode(Mode(0o1777)) == Mode(0o777));
    }
}
