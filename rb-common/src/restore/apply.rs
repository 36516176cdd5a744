//! Applying a plan's steps: removals, new folders, every new file staged as a temporary file in
//! its target folder, one `syncfs`, every staged file renamed into place, metadata last, one
//! more `syncfs`; and cleaning up staged files a killed run left.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result, failed};
use crate::fsx::{self, Mode};
use crate::journal::{Step, Steps};
use crate::manifest::{Manifest, Node, Special};
use crate::paths;
use crate::signals;

use super::STAGING_PREFIX;

/// A test-only crash point: with the `failpoints` feature, `FAILPOINTS=restore-step=N*off->return`
/// aborts the process (as `kill -9` would: no destructors, no cleanup) at the N+1th point.
/// Without the feature it compiles to nothing.
pub fn crash_point() {
    fail::fail_point!("restore-step", |_| std::process::abort());
}

/// Runs `steps` against the live tree under `root`; a snapshot copy named relative (as the
/// journal names them) is in `store_dir`. Every step is idempotent, so a restore killed
/// anywhere can run the same steps again (`--resume`). A stopping signal beyond the `seen`
/// first ones ends it at the next step (see [`crate::signals`]); what was staged and not yet
/// renamed is removed on the way out.
pub fn apply(root: &Path, store_dir: &Path, steps: &Steps, seen: usize) -> Result<()> {
    apply_counting(root, store_dir, steps, seen, &mut false)
}

/// [`apply`], setting `changed` once the first staged file is renamed into place.
pub(super) fn apply_counting(
    root: &Path,
    store_dir: &Path,
    steps: &Steps,
    seen: usize,
    changed: &mut bool,
) -> Result<()> {
    let mut staged = Staged::new(store_dir)?;
    for step in steps.iter() {
        crash_point();
        signals::check(seen)?;
        match &step? {
            Step::Remove { path } => fsx::remove_any(&paths::under(root, path))?,
            Step::MkDir { path } => match fs::create_dir(paths::under(root, path)) {
                Err(e)
                    if !(e.kind() == std::io::ErrorKind::AlreadyExists
                        && paths::under(root, path).is_dir()) =>
                {
                    return Err(failed(format!("creating {path}: {e}")));
                }
                _ => {}
            },
            Step::Write { path, owner, src, mode, mtime, size, sha256, xattrs } => {
                let src = match src.is_relative() {
                    true => std::borrow::Cow::Owned(store_dir.join(src)),
                    false => std::borrow::Cow::Borrowed(src),
                };
                let tmp = stage_file(root, path, &src, *mode, *owner, *size, sha256.as_deref())?;
                if let Some(xattrs) = xattrs {
                    fsx::write_xattrs(&tmp, xattrs, owner.is_some())?;
                }
                fsx::set_mtime(&tmp, *mtime)?;
                staged.push(tmp)?;
            }
            Step::Link { path, owner, target, mtime } => {
                let tmp = stage_link(root, path, target)?;
                set_owner(&tmp, *owner)?;
                fsx::set_symlink_mtime(&tmp, *mtime)?;
                staged.push(tmp)?;
            }
            Step::MkNod { path, owner, kind, mode, rdev, mtime } => {
                let tmp = stage_node(root, path, *kind, *rdev)?;
                // The owner before the mode (chown clears set-id bits); mknod took the umask.
                set_owner(&tmp, *owner)?;
                fsx::set_mode(&tmp, *mode)?;
                fsx::set_mtime(&tmp, *mtime)?;
                staged.push(tmp)?;
            }
            Step::Meta { .. } | Step::DirMeta { .. } | Step::HardLink { .. } => {}
        }
    }
    if staged.count > 0 {
        fsx::sync_fs(root)?;
    }
    // The targets in the order they were staged: the steps that stage, read again.
    let targets = steps.iter().filter_map(|step| match step {
        Ok(Step::Write { path, .. } | Step::Link { path, .. } | Step::MkNod { path, .. }) => {
            Some(Ok(paths::under(root, &path)))
        }
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    });
    staged.rename_all(targets, &mut || {
        crash_point();
        signals::check(seen)?;
        *changed = true;
        Ok(())
    })?;
    // Hard links once the files they share an inode with are in place.
    for step in steps.iter() {
        if let Step::HardLink { path, to } = &step? {
            crash_point();
            signals::check(seen)?;
            hard_link(root, path, to)?;
        }
    }
    // Owner, mode, extended attributes, mtime, in that order: chown clears set-id bits and
    // capabilities, and chmod rewrites an ACL's mask.
    for step in steps.iter() {
        match &step? {
            Step::Meta { path, owner, mode: Some(mode), mtime, xattrs }
            | Step::DirMeta { path, owner, mode, mtime, xattrs } => {
                crash_point();
                signals::check(seen)?;
                set_owner(&paths::under(root, path), *owner)?;
                fsx::set_mode(&paths::under(root, path), *mode)?;
                if let Some(xattrs) = xattrs {
                    fsx::write_xattrs(
                        &paths::under(root, path),
                        xattrs,
                        rustix::process::geteuid().is_root(),
                    )?;
                }
                fsx::set_mtime(&paths::under(root, path), *mtime)?;
            }
            Step::Meta { path, owner, mode: None, mtime, .. } => {
                crash_point();
                signals::check(seen)?;
                set_owner(&paths::under(root, path), *owner)?;
                fsx::set_symlink_mtime(&paths::under(root, path), *mtime)?;
            }
            _ => {}
        }
    }
    crash_point();
    fsx::sync_fs(root)
}

/// The files staged next to their targets and not yet renamed into place, named in a nameless
/// temporary file rather than a list in memory (a full restore stages every file of its set).
/// Dropped before each is renamed, it removes those left, as `tempfile::TempPath` does.
struct Staged {
    /// The names, each ended by a NUL, written as each file is staged (unbuffered: what is
    /// staged is always named on disk, for the drop to find).
    names: std::sync::Arc<File>,
    /// How many were staged.
    count: usize,
    /// How many of them are renamed into place (the first ones).
    renamed: usize,
    /// The length of the names written.
    bytes: u64,
}

impl Staged {
    /// Names kept in the store's `.rb/tmp` (or `.rb`), else in the system's temporary folder.
    fn new(store_dir: &Path) -> Result<Staged> {
        let file = crate::journal::spill_file(Some(store_dir))?;
        Ok(Staged { names: std::sync::Arc::new(file), count: 0, renamed: 0, bytes: 0 })
    }

    /// One more staged file, kept until it is renamed (or this is dropped).
    fn push(&mut self, tmp: tempfile::TempPath) -> Result<()> {
        let path = tmp.keep().map_err(|e| failed(format!("keeping a staged file: {}", e.error)))?;
        let mut name = path.into_os_string().into_vec();
        name.push(0);
        if let Err(e) = (&*self.names).write_all(&name) {
            let _ = fs::remove_file(std::ffi::OsStr::from_bytes(&name[..name.len() - 1]));
            return Err(failed(format!("writing the names of staged files: {e}")));
        }
        self.count += 1;
        self.bytes += name.len() as u64;
        Ok(())
    }

    /// The staged names in order, from the first not yet renamed (read with `pread`: the
    /// writer's offset is left alone).
    fn names(&self) -> impl Iterator<Item = std::io::Result<PathBuf>> + use<> {
        let at = crate::journal::ReadAt { file: Some(self.names.clone()), pos: 0, end: self.bytes };
        let names = BufReader::with_capacity(1 << 16, at).split(0);
        names.map(|n| n.map(|n| PathBuf::from(OsString::from_vec(n)))).skip(self.renamed)
    }

    /// Renames every staged file to its target (`targets`, in the same order), calling
    /// `before` ahead of each rename.
    fn rename_all(
        &mut self,
        targets: impl Iterator<Item = Result<PathBuf>>,
        before: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        for (name, target) in self.names().zip(targets) {
            let name = name.ctx(|| "reading the names of staged files")?;
            let target = target?;
            before()?;
            fs::rename(&name, &target)
                .map_err(|e| failed(format!("renaming into {}: {e}", target.display())))?;
            self.renamed += 1;
        }
        match self.renamed == self.count {
            true => Ok(()),
            false => Err(failed("the staged files and the restore's steps do not match")),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.renamed < self.count {
            for name in self.names().map_while(std::io::Result::ok) {
                let _ = fs::remove_file(&name);
            }
        }
    }
}

/// Removes what a killed restore left staged (`.rb-tmp.*` next to the targets of `steps`),
/// returning the paths removed.
pub(super) fn clean_staging(root: &Path, steps: &Steps) -> Result<Vec<String>> {
    let mut dirs = BTreeSet::new();
    for step in steps.iter() {
        if let Step::Write { path, .. }
        | Step::Link { path, .. }
        | Step::MkNod { path, .. }
        | Step::HardLink { path, .. } = &step?
        {
            dirs.insert(staging_dir(root, path));
        }
    }
    clean_staging_in(root, dirs)
}

/// Removes every `.rb-tmp.*` directly in `dirs` (folders, not followed through a symlink),
/// returning the paths removed, relative to `root`.
pub(super) fn clean_staging_in(root: &Path, dirs: BTreeSet<PathBuf>) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for dir in dirs {
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
            if entry.file_name().to_str().is_some_and(|n| n.starts_with(STAGING_PREFIX)) {
                fsx::remove_any(&entry.path())?;
                let path = entry.path();
                removed.push(paths::shown(path.strip_prefix(root).unwrap_or(&path)));
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Every folder a restore of `snaps` could have staged a file in: each folder they record
/// and the folder of every path they record or name as missing.
pub(super) fn staging_dirs(root: &Path, snaps: &[&Manifest]) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for m in snaps {
        for e in &m.entries {
            dirs.insert(staging_dir(root, &e.path));
            if matches!(e.node, Node::Dir { .. }) {
                dirs.insert(root.join(&e.path));
            }
        }
        for rel in &m.missing {
            dirs.insert(staging_dir(root, rel));
        }
    }
    dirs
}

pub(super) fn staging_dir(root: &Path, rel: &str) -> PathBuf {
    match paths::parent(rel) {
        Some(p) => paths::under(root, p),
        None => root.to_path_buf(),
    }
}

/// Copies a snapshot file into a temporary file next to its target, checking its hash on
/// the way; the temporary file is removed if anything fails before it is renamed.
pub(super) fn stage_file(
    root: &Path,
    rel: &str,
    src: &Path,
    mode: Mode,
    owner: Option<(u32, u32)>,
    size: u64,
    sha256: Option<&str>,
) -> Result<tempfile::TempPath> {
    let dir = staging_dir(root, rel);
    let tmp = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(&dir)
        .ctx(|| format!("creating a temporary file in {}", dir.display()))?;
    let file = tmp.as_file();
    let digest = fsx::copy_into(src, file)?;
    if digest.size != size || sha256.is_some_and(|h| h != digest.sha256) {
        return Err(failed(format!("{rel}: the snapshot's copy changed while it was being restored")));
    }
    // The owner before the mode: chown clears set-id bits.
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))
            .ctx(|| format!("setting the owner of {rel}"))?;
    }
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode.0))
        .ctx(|| format!("setting the mode of {rel}"))?;
    Ok(tmp.into_temp_path())
}

/// Gives `path` (a symlink itself, never what it points to) the owner, when there is one.
pub(super) fn set_owner(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .ctx(|| format!("setting the owner of {}", path.display())),
        None => Ok(()),
    }
}

/// Makes `rel` a hard link of `to` (both under `root`): a link under a temporary name next
/// to it, renamed over it. Nothing to do when it already is one.
pub(super) fn hard_link(root: &Path, rel: &str, to: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (target, from) = (paths::under(root, rel), paths::under(root, to));
    let first = fs::symlink_metadata(&from).ctx(|| format!("reading {to}, which {rel} is a hard link of"))?;
    if fs::symlink_metadata(&target).is_ok_and(|m| (m.dev(), m.ino()) == (first.dev(), first.ino())) {
        return Ok(());
    }
    let dir = staging_dir(root, rel);
    for n in 0..1000u32 {
        let tmp = dir.join(format!("{STAGING_PREFIX}hardlink.{}.{n}", std::process::id()));
        match fs::hard_link(&from, &tmp) {
            Ok(()) => {
                let tmp = tempfile::TempPath::try_from_path(tmp)
                    .ctx(|| format!("naming a temporary link in {}", dir.display()))?;
                return tmp
                    .persist(&target)
                    .map_err(|e| failed(format!("renaming into {}: {}", target.display(), e.error)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(format!("linking {rel} to {to}: {e}"))),
        }
    }
    Err(failed(format!("no free temporary name in {}", dir.display())))
}

/// Makes a fifo or device node under a temporary name next to its target.
pub(super) fn stage_node(root: &Path, rel: &str, kind: Special, rdev: u64) -> Result<tempfile::TempPath> {
    use rustix::fs::FileType;
    let dir = staging_dir(root, rel);
    let (file_type, what) = match kind {
        Special::Fifo => (FileType::Fifo, "fifo"),
        Special::Char => (FileType::CharacterDevice, "character device"),
        Special::Block => (FileType::BlockDevice, "block device"),
    };
    for n in 0..1000u32 {
        let tmp = dir.join(format!("{STAGING_PREFIX}node.{}.{n}", std::process::id()));
        match rustix::fs::mknodat(
            rustix::fs::CWD,
            &tmp,
            file_type,
            rustix::fs::Mode::from_raw_mode(0o600),
            rdev,
        ) {
            Ok(()) => {
                return tempfile::TempPath::try_from_path(tmp)
                    .ctx(|| format!("naming a temporary node in {}", dir.display()));
            }
            Err(e) if e == rustix::io::Errno::EXIST => continue,
            Err(e) => return Err(failed(format!("making the {what} {} again: {e}", paths::escaped(rel)))),
        }
    }
    Err(failed(format!("no free temporary name in {}", dir.display())))
}

/// Makes a symlink under a temporary name next to its target.
pub(super) fn stage_link(root: &Path, rel: &str, target: &str) -> Result<tempfile::TempPath> {
    let dir = staging_dir(root, rel);
    for n in 0..1000u32 {
        let tmp = dir.join(format!("{STAGING_PREFIX}link.{}.{n}", std::process::id()));
        match symlink(paths::os(target), &tmp) {
            Ok(()) => {
                let path = tempfile::TempPath::try_from_path(tmp)
                    .ctx(|| format!("naming a temporary symlink in {}", dir.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(format!("creating a symlink in {}: {e}", dir.display()))),
        }
    }
    Err(failed(format!("no free temporary name in {}", dir.display())))
}
