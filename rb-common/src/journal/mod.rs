//! The journal of a restore in progress, and what it holds: the steps, the verify command
//! and the document the restore will print.
//!
//! The journal (`backups/.rb/journal.json`) is written and synced after the undo snapshot is in
//! the store and before the first change, and removed when everything is in place. It is read
//! back here, typed, by everything that needs it: the restore engine (`--resume`, `--abort`)
//! and the store (what a pending restore protects, what blocks a change). What it says is
//! input like any other document: the restore engine checks every path before it acts.

mod steps;

pub use steps::{Iter, Steps, StepsWriter};
pub(crate) use steps::{ReadAt, spill_file};

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::doc::Document;
use crate::error::{ErrContext, Result, failed};
use crate::fsx::{self, Mode, Mtime, Xattrs};
use crate::manifest::Special;
use crate::paths;

/// One idempotent change to the live tree. Paths are relative to the root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Remove a file, symlink or whole folder (already gone is fine).
    Remove {
        /// What to remove.
        #[serde(with = "paths::one")]
        path: String,
    },
    /// Create a folder (already there is fine); its mode comes with a later `DirMeta`.
    MkDir {
        /// The folder.
        #[serde(with = "paths::one")]
        path: String,
    },
    /// Put a file's content in place from the snapshot, checked against its hash on the way.
    Write {
        /// Where it goes.
        #[serde(with = "paths::one")]
        path: String,
        /// Its owner `[uid, gid]`, when rb runs as root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<(u32, u32)>,
        /// Where its content is in the snapshot (in the journal: relative to the store).
        #[serde(with = "paths::fs_path")]
        src: PathBuf,
        /// Its mode.
        mode: Mode,
        /// Its mtime.
        mtime: Mtime,
        /// Its size.
        size: u64,
        /// Its SHA-256, when the snapshot has one.
        sha256: Option<String>,
        /// Its extended attributes, exactly (absent: leave them as they are, for manifests
        /// that did not record them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        xattrs: Option<Xattrs>,
    },
    /// Put a symlink in place.
    Link {
        /// Where it goes.
        #[serde(with = "paths::one")]
        path: String,
        /// Its owner `[uid, gid]`, when rb runs as root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<(u32, u32)>,
        /// What it points to.
        #[serde(with = "paths::one")]
        target: String,
        /// Its own mtime.
        mtime: Mtime,
    },
    /// Fix a file's or symlink's mode and mtime whose content is already right.
    Meta {
        /// The file or link.
        #[serde(with = "paths::one")]
        path: String,
        /// Its owner `[uid, gid]`, when rb runs as root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<(u32, u32)>,
        /// The mode (none for a symlink).
        mode: Option<Mode>,
        /// The mtime.
        mtime: Mtime,
        /// Its extended attributes, exactly (absent: leave them as they are, for manifests
        /// that did not record them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        xattrs: Option<Xattrs>,
    },
    /// Set a folder's mode and mtime, after everything inside it is done.
    DirMeta {
        /// The folder.
        #[serde(with = "paths::one")]
        path: String,
        /// Its owner `[uid, gid]`, when rb runs as root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<(u32, u32)>,
        /// Its mode.
        mode: Mode,
        /// Its mtime.
        mtime: Mtime,
        /// Its extended attributes, exactly (absent: leave them as they are, for manifests
        /// that did not record them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        xattrs: Option<Xattrs>,
    },
    /// Make a fifo or device node (under a temporary name, renamed into place).
    MkNod {
        /// Where it goes.
        #[serde(with = "paths::one")]
        path: String,
        /// Its owner `[uid, gid]`, when rb runs as root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<(u32, u32)>,
        /// What it is.
        kind: Special,
        /// Its mode.
        mode: Mode,
        /// Its device number (0 for a fifo).
        #[serde(default)]
        rdev: u64,
        /// Its mtime.
        mtime: Mtime,
    },
    /// Make `path` a hard link of `to` (a file of the set put in place before it).
    HardLink {
        /// The other name of the inode.
        #[serde(with = "paths::one")]
        path: String,
        /// The file it shares its inode with.
        #[serde(with = "paths::one")]
        to: String,
    },
}

/// The `restore` document: what a restore did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestoreDoc {
    /// The snapshot restored.
    pub snapshot: String,
    /// Its set.
    pub set: String,
    /// The undo snapshot holding what was replaced: `rb-restore <undo>` reverses this
    /// restore. Absent for a dry run or when nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
    /// Paths created (each a string, or for a name that is not UTF-8 `{"path", "path_hex"}`).
    #[serde(with = "paths::list")]
    pub created: Vec<String>,
    /// Paths whose content, type, mode or mtime changed.
    #[serde(with = "paths::list")]
    pub modified: Vec<String>,
    /// Paths removed (kept in the undo snapshot, but for sockets, which cannot be kept).
    #[serde(with = "paths::list")]
    pub removed: Vec<String>,
    /// True when every file written was checked against the snapshot's SHA-256 (false for a
    /// legacy backup, which has none).
    pub verified: bool,
    /// The set's verify command that passed after the files were in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// True when nothing was changed because `--dry-run` was given.
    pub dry_run: bool,
    /// For `rb-restore --only`: the paths the restore was limited to (nothing else was
    /// compared, checked or changed).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "paths::list")]
    pub only: Vec<String>,
    /// For `rb-restore --abort`: the snapshot whose interrupted restore was undone; `snapshot`
    /// is then its undo, put back, and the lists say what putting it back changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// For `rb-restore --abort`: the temporary files (`.rb-tmp.*`) the interrupted restore had
    /// staged, removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleaned: Vec<String>,
}

impl Document for RestoreDoc {
    const KIND: &'static str = "restore";
    const SOURCE: &'static str = "rb-restore";
}

/// The path a step changes.
pub fn step_path(s: &Step) -> &str {
    match s {
        Step::Remove { path }
        | Step::MkDir { path }
        | Step::Write { path, .. }
        | Step::Link { path, .. }
        | Step::Meta { path, .. }
        | Step::DirMeta { path, .. }
        | Step::MkNod { path, .. }
        | Step::HardLink { path, .. } => path,
    }
}

/// The set's verify command, if it has one: its argv and the setting that gave it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Check {
    /// The command.
    pub argv: Vec<String>,
    /// Where it was configured (`sets.config.verify in rollback.toml`).
    pub setting: String,
    /// What it is: a set's own verify command, or `nginx -t`.
    #[serde(default, skip_serializing_if = "CheckKind::is_verify")]
    pub kind: CheckKind,
}

/// What a [`Check`] is, for what is said after it passed (`nginx -t` does not reload).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A set's `verify` command.
    #[default]
    Verify,
    /// `nginx -t`, from `[nginx] command`.
    Nginx,
}

impl CheckKind {
    fn is_verify(&self) -> bool {
        *self == CheckKind::Verify
    }
}

/// The journal of a restore in progress (`backups/.rb/journal.json`): written and synced
/// after the undo snapshot is in the store and before the first change; removed when every
/// file is in place, synced, and the verify command passed. While it exists every other
/// change to the store refuses (exit 3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Journal {
    /// The snapshot being restored.
    pub snapshot: String,
    /// The undo snapshot: `--abort` restores it.
    pub undo: String,
    /// The restore's document, as it will be printed when done.
    pub doc: RestoreDoc,
    /// The set's verify command, run again by `--resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    /// What must follow a `--resume` or `--abort` that they cannot do themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Every step with its target state, in order: `--resume` runs them all again.
    pub steps: Steps,
    /// The process that started it.
    pub pid: u32,
    /// When it started, RFC 3339.
    pub started: String,
}

impl Document for Journal {
    const KIND: &'static str = "journal";
    const SOURCE: &'static str = "rb-restore (backups/.rb/journal.json)";
}

/// Reads the journal at `path` (`shown` names it in messages): `None` when there is none, an
/// error of kind Failed whose message says what is wrong when it is not a journal.
pub fn read(path: &Path, shown: &str) -> Result<Option<Journal>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(format!("reading {}: {e}", path.display()))),
    };
    crate::doc::from_line(text.trim_end(), shown).map(Some)
}

/// Writes `journal` to `path` atomically and synced.
pub fn write(path: &Path, journal: &Journal) -> Result<()> {
    fsx::atomic_write_with(path, Mode(0o644), &mut |w| {
        crate::doc::write_doc(w, journal).within(|| format!("writing {}", path.display()))
    })
}
