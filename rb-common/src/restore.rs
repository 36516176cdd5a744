//! The restore engine: plan what a snapshot changes in the live tree, verify, keep an undo,
//! apply atomically, check, and put everything back if any of it fails.
//!
//! Parse → plan → act. [`plan`] compares the manifest with the live tree and produces a list
//! of idempotent [`Step`]s plus what the undo snapshot must hold; nothing is written. Then
//! [`restore`]: the hash of every file it will write is checked before any is written, the
//! undo snapshot is taken (whole paths that will be replaced or removed, folders whose mode
//! or mtime will change, and the paths that do not exist yet), and [`apply`] runs the steps:
//! removals, new folders, every new file staged as a temporary file in its target folder,
//! one `syncfs`, every staged file renamed into place, metadata last, one more `syncfs`. If a
//! step or the set's verify command fails, the undo goes back and the exit is 1; if even that
//! fails, exit 3 says how to finish.
//!
//! The steps are plain data (serde) and idempotent: they are written to a [`Journal`] in the
//! store, synced, before the first change, and the journal is removed only when everything is
//! in place. A restore killed anywhere leaves the journal, which blocks every other change
//! until [`resume`] runs the same steps again or [`abort`] restores the undo snapshot.
//!
//! What "exact" means here: entries come back as recorded (owners too when running as root);
//! a folder recorded whole loses what was added to it since; a `missing` path or a glob match
//! the snapshot did not have is removed — except that an undo removes a folder its restore
//! created only once nothing else is in it. A folder recorded shallow (above the set's paths)
//! gets its mode and mtime back and never changes type; a symlink there is followed only if it
//! stays inside the root.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::doc::Document;
use crate::error::{Context, ErrContext, Error, Kind, Result, failed, partial, usage};
use crate::exec;
use crate::fsx::{self, Mode, Mtime, Xattrs};
use crate::lock::Lock;
use crate::paths;
use crate::signals;
use crate::snapshot::{self, Entry, Item, Manifest, Node, Special, UNDO_SET};
use crate::store::{Event, Snapshot, Store};

/// How to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Merge, as `cp -r` did: remove nothing the snapshot does not have.
    pub keep_extra: bool,
    /// Trust rsync's quick check (same size and mtime means same content) instead of
    /// comparing each live file's SHA-256 with the manifest: for huge trees, and then the
    /// restore's document says `verified: false`.
    pub quick: bool,
    /// What must follow this restore that `--resume` and `--abort` cannot do, recorded in the
    /// journal and said when they run (rb-nginx: "`rb-nginx reload`").
    pub after: Option<&'static str>,
}

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

/// What the undo snapshot must hold so that restoring it reverses the plan exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoSpec {
    /// Paths that will be replaced or removed: recorded whole.
    pub full: Vec<String>,
    /// Folders whose own mode or mtime will change: recorded shallow.
    pub shallow: Vec<String>,
    /// Paths the restore will create: restoring the undo removes them.
    pub missing: Vec<String>,
}

/// The plan of a restore: the steps in order, the report lists, and the undo's content.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Paths that will be created.
    pub created: Vec<String>,
    /// Paths whose content, type, mode or mtime will change.
    pub modified: Vec<String>,
    /// Paths that will be removed.
    pub removed: Vec<String>,
    /// What the undo snapshot records.
    pub undo: UndoSpec,
    /// Sockets the restore removes or replaces: they cannot be kept in the undo.
    pub sockets: Vec<String>,
}

impl Plan {
    /// True when the live tree already matches the snapshot.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
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

#[derive(Debug)]
enum Live {
    Missing,
    File(fs::Metadata),
    Dir(fs::Metadata),
    Link(fs::Metadata, String),
    /// A fifo or device node.
    Special(fs::Metadata, Special),
    /// A socket: removed where the snapshot has anything else (it cannot be kept).
    Socket,
}

fn lstat(root: &Path, rel: &str) -> Result<Live> {
    let path = paths::under(root, rel);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Live::Missing),
        Err(e) => return Err(failed(format!("reading {}: {e}", paths::escaped(rel)))),
    };
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        let target = fs::read_link(&path).ctx(|| format!("reading the symlink {}", paths::escaped(rel)))?;
        Live::Link(meta, paths::from_os(target.as_os_str()).into_owned())
    } else if ft.is_dir() {
        Live::Dir(meta)
    } else if ft.is_file() {
        Live::File(meta)
    } else if let Some(kind) = Special::of(&meta) {
        Live::Special(meta, kind)
    } else {
        Live::Socket
    })
}

struct Planner<'a> {
    root: &'a Path,
    /// Running as root: owners are compared and restored.
    own: bool,
    /// The store's path under the root, when it is inside it: never part of a restore.
    store: Option<String>,
    snap: &'a Snapshot,
    opts: Options,
    desired: BTreeMap<&'a str, &'a Entry>,
    /// The manifest's `exclude` globs: what they match is never modified or removed.
    exclude: snapshot::Exclude,
    /// Paths removed (with everything under them): their descendants count as missing.
    gone: HashSet<String>,
    /// Paths created by this restore.
    made: HashSet<String>,
    /// Folders whose entries change (something created, renamed or removed in them).
    touched: BTreeSet<String>,
    removes: Vec<Step>,
    mkdirs: Vec<Step>,
    writes: Vec<Step>,
    metas: Vec<Step>,
    dir_metas: Vec<Step>,
    links: Vec<Step>,
    /// Files whose content is written (a new inode), so their hard links must be made again.
    written: HashSet<String>,
    plan: Plan,
}

impl Planner<'_> {
    /// The owner to give entry `e`, when owners are managed.
    fn owner(&self, e: &Entry) -> Option<(u32, u32)> {
        if self.own { e.uid.zip(e.gid) } else { None }
    }

    /// True when owners are managed and `meta`'s differs from `e`'s.
    fn owner_differs(&self, e: &Entry, meta: &fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.owner(e).is_some_and(|(u, g)| (meta.uid(), meta.gid()) != (u, g))
    }

    /// The extended attributes to give entry `e`, when the manifest records them.
    fn xattrs(&self, e: &Entry) -> Option<Xattrs> {
        self.snap.manifest.xattrs.then(|| e.xattrs.clone())
    }

    /// True when the manifest records extended attributes and the live ones of `rel` differ
    /// (capabilities compared only when running as root, who alone restores them).
    fn xattrs_differ(&self, e: &Entry, rel: &str) -> Result<bool> {
        if !self.snap.manifest.xattrs {
            return Ok(false);
        }
        let live = fsx::read_xattrs(&paths::under(self.root, rel))?;
        let managed = |x: &Xattrs| -> Xattrs {
            x.iter()
                .filter(|(n, _)| self.own || *n != fsx::CAPABILITY)
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect()
        };
        Ok(managed(&live) != managed(&e.xattrs))
    }

    /// Plans entry `e`, a hard link of the earlier entry `to`: nothing when the live file
    /// already shares `to`'s inode (and `to` keeps it), else a link made again.
    /// `rel` differs from `e` in its metadata only: kept whole in the undo, then its owner,
    /// mode (`None`: a symlink's, which has none), attributes and mtime set again.
    fn meta_only(&mut self, e: &Entry, rel: &str, mode: Option<Mode>, xattrs: Option<Xattrs>) {
        self.plan.undo.full.push(rel.to_string());
        self.plan.modified.push(rel.to_string());
        let owner = self.owner(e);
        self.metas.push(Step::Meta { path: rel.to_string(), owner, mode, mtime: e.mtime, xattrs });
    }

    fn hard_link(&mut self, e: &Entry, to: &str, live: Live) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let rel = e.path.as_str();
        if let Live::File(meta) = &live
            && !self.written.contains(to)
            && let Live::File(first) = self.live(to)?
            && (first.dev(), first.ino()) == (meta.dev(), meta.ino())
        {
            return Ok(());
        }
        match live {
            Live::Missing => {
                self.plan.created.push(rel.to_string());
                self.created(rel);
            }
            Live::Dir(_) => {
                self.remove(rel);
                self.plan.modified.push(rel.to_string());
                self.made.insert(rel.to_string());
            }
            _ => {
                self.plan.undo.full.push(rel.to_string());
                self.plan.modified.push(rel.to_string());
            }
        }
        self.touch_parent(rel);
        self.links.push(Step::HardLink { path: rel.to_string(), to: to.to_string() });
        Ok(())
    }

    fn is_gone(&self, rel: &str) -> bool {
        let mut at = rel;
        while let Some(parent) = paths::parent(at) {
            if self.gone.contains(parent) || self.made.contains(parent) {
                return true;
            }
            at = parent;
        }
        self.gone.contains(rel)
    }

    fn live(&self, rel: &str) -> Result<Live> {
        if self.is_gone(rel) { Ok(Live::Missing) } else { lstat(self.root, rel) }
    }

    fn touch_parent(&mut self, rel: &str) {
        if let Some(parent) = paths::parent(rel) {
            self.touched.insert(parent.to_string());
        }
    }

    /// Records that `rel` will not exist any more (it is kept whole in the undo).
    fn remove(&mut self, rel: &str) {
        self.removes.push(Step::Remove { path: rel.to_string() });
        self.gone.insert(rel.to_string());
        self.plan.undo.full.push(rel.to_string());
        self.touch_parent(rel);
    }

    /// Records that `rel` will be created: restoring the undo removes it (a folder only
    /// once it holds nothing else, so what others put there since is never lost).
    fn created(&mut self, rel: &str) {
        self.plan.undo.missing.push(rel.to_string());
        self.made.insert(rel.to_string());
        self.touch_parent(rel);
    }

    /// Makes sure the folders above `rel` that are not entries exist, creating what is missing.
    fn ensure_parents(&mut self, rel: &str) -> Result<()> {
        paths::check_ancestors(self.root, rel)?;
        let parts: Vec<&str> = rel.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if self.desired.contains_key(dir.as_str()) || self.made.contains(&dir) {
                continue;
            }
            if let Live::Missing = self.live(&dir)? {
                self.mkdirs.push(Step::MkDir { path: dir.clone() });
                self.plan.created.push(dir.clone());
                self.created(&dir);
            }
        }
        Ok(())
    }

    fn entry(&mut self, e: &Entry) -> Result<()> {
        let rel = e.path.as_str();
        // Under a folder recorded whole, the folder is made a real one first; anywhere else
        // the way there is checked (a symlink that leads out is refused).
        let parent_is_full =
            paths::parent(rel).is_some_and(|p| self.desired.get(p).is_some_and(|d| d.is_full_dir()));
        if !parent_is_full {
            self.ensure_parents(rel)?;
        }
        let live = self.live(rel)?;
        if let Live::Socket = live {
            self.plan.sockets.push(rel.to_string());
        }
        if let Node::Dir { shallow: true, .. } = e.node {
            // Only the folder's own mode and mtime were recorded: never change its type.
            match &live {
                Live::Link(..) => {
                    // A symlinked folder inside the root stays as it is; one that leads out
                    // is refused by the check of its children's way.
                    return Ok(());
                }
                Live::File(_) => {
                    return Err(failed(format!(
                        "{} is a file now, but the snapshot has a folder there; move it away first",
                        paths::escaped(rel)
                    )));
                }
                _ => {}
            }
        }
        if let (Node::File { .. }, Some(to)) = (&e.node, &e.link) {
            return self.hard_link(e, to, live);
        }
        let same_type = match (&e.node, &live) {
            (Node::File { .. }, Live::File(_))
            | (Node::Dir { .. }, Live::Dir(_))
            | (Node::Symlink { .. }, Live::Link(..)) => true,
            // Another device number is another device: made again.
            (node, Live::Special(meta, kind)) => {
                use std::os::unix::fs::MetadataExt;
                node.special().is_some_and(|(k, _, rdev)| k == *kind && rdev == meta.rdev())
            }
            _ => false,
        };
        let exists = !matches!(live, Live::Missing);
        if exists && !same_type {
            self.remove(rel);
            self.plan.modified.push(rel.to_string());
            return self.create(e, false);
        }
        match (&e.node, live) {
            (_, Live::Missing) => {
                self.plan.created.push(rel.to_string());
                self.create(e, true)
            }
            (Node::File { mode, size, sha256 }, Live::File(meta)) => {
                // A legacy backup's mtimes are when `cp` ran, not the files' own: compare
                // content, and leave a file whose content and mode match alone.
                let legacy = self.snap.manifest.legacy;
                let same = if !self.opts.quick || legacy {
                    // Another size is another content: no need to read it.
                    if meta.len() != *size && !legacy {
                        false
                    } else {
                        let live_hash = fsx::hash_file(&paths::under(self.root, rel))?;
                        let want = match sha256 {
                            Some(h) => h.clone(),
                            None => fsx::hash_file(&self.snap.source(rel))?.sha256,
                        };
                        live_hash.sha256 == want && live_hash.size == *size
                    }
                } else {
                    meta.len() == *size && Mtime::of(&meta) == e.mtime
                };
                if !same {
                    self.plan.undo.full.push(rel.to_string());
                    self.plan.modified.push(rel.to_string());
                    self.write(e);
                } else if Mode::of(&meta) != *mode
                    || (!legacy && Mtime::of(&meta) != e.mtime)
                    || self.owner_differs(e, &meta)
                    || self.xattrs_differ(e, rel)?
                {
                    let xattrs = self.xattrs(e);
                    self.meta_only(e, rel, Some(*mode), xattrs);
                }
                Ok(())
            }
            (Node::Symlink { target }, Live::Link(meta, live_target)) => {
                if *target != live_target {
                    self.plan.undo.full.push(rel.to_string());
                    self.plan.modified.push(rel.to_string());
                    self.write(e);
                } else if Mtime::of(&meta) != e.mtime || self.owner_differs(e, &meta) {
                    self.meta_only(e, rel, None, None);
                }
                Ok(())
            }
            (Node::Dir { shallow, .. }, Live::Dir(_)) => {
                if !*shallow && !self.opts.keep_extra {
                    self.extras_in(rel)?;
                }
                Ok(())
            }
            (node, Live::Special(meta, _)) => {
                let mode = node.special().map(|(_, mode, _)| mode);
                if mode != Some(Mode::of(&meta))
                    || Mtime::of(&meta) != e.mtime
                    || self.owner_differs(e, &meta)
                {
                    self.meta_only(e, rel, mode, None);
                }
                Ok(())
            }
            _ => unreachable!("type mismatches were handled above"),
        }
    }

    /// Plans the creation of entry `e` where nothing is (any more).
    fn create(&mut self, e: &Entry, report_undo_missing: bool) -> Result<()> {
        let rel = e.path.as_str();
        if report_undo_missing {
            self.created(rel);
        } else {
            self.made.insert(rel.to_string());
            self.touch_parent(rel);
        }
        match &e.node {
            Node::Dir { mode, .. } => {
                self.mkdirs.push(Step::MkDir { path: rel.to_string() });
                let owner = self.owner(e);
                self.dir_metas.push(Step::DirMeta {
                    path: rel.to_string(),
                    owner,
                    mode: *mode,
                    mtime: e.mtime,
                    xattrs: self.xattrs(e),
                });
            }
            _ => self.write(e),
        }
        Ok(())
    }

    fn write(&mut self, e: &Entry) {
        let rel = e.path.clone();
        self.touch_parent(&rel);
        let owner = self.owner(e);
        let xattrs = self.xattrs(e);
        match &e.node {
            Node::File { mode, size, sha256 } => {
                self.written.insert(rel.clone());
                self.writes.push(Step::Write {
                    src: self.snap.source(&rel),
                    path: rel,
                    owner,
                    mode: *mode,
                    mtime: e.mtime,
                    size: *size,
                    sha256: sha256.clone(),
                    xattrs,
                })
            }
            Node::Symlink { target } => {
                self.writes.push(Step::Link { path: rel, owner, target: target.clone(), mtime: e.mtime });
            }
            Node::Fifo { .. } | Node::Char { .. } | Node::Block { .. } => {
                if let Some((kind, mode, rdev)) = e.node.special() {
                    self.writes.push(Step::MkNod { path: rel, owner, kind, mode, rdev, mtime: e.mtime });
                }
            }
            Node::Dir { .. } => unreachable!("folders are created, not written"),
        }
    }

    /// Plans the removal of what is in folder `rel` now and is not in the snapshot.
    fn extras_in(&mut self, rel: &str) -> Result<()> {
        let mut extra = Vec::new();
        let shown = paths::escaped(rel);
        for child in fs::read_dir(paths::under(self.root, rel)).ctx(|| format!("listing {shown}"))? {
            let child = child.ctx(|| format!("listing {shown}"))?;
            let name = child.file_name();
            let child_rel = format!("{rel}/{}", paths::from_os(&name));
            if child.file_type().is_ok_and(|t| std::os::unix::fs::FileTypeExt::is_socket(&t)) {
                self.plan.sockets.push(child_rel.clone());
            }
            let is_dir = child.file_type().is_ok_and(|t| t.is_dir());
            if !self.desired.contains_key(child_rel.as_str())
                && self.store.as_deref() != Some(child_rel.as_str())
                && !self.exclude.excludes(&child_rel, is_dir)
            {
                extra.push(child_rel);
            }
        }
        extra.sort();
        for child in extra {
            self.remove(&child);
            self.plan.removed.push(child);
        }
        Ok(())
    }

    /// Plans the removal of a path outside the entries that the snapshot says should not
    /// exist (a `missing` path or a glob match it did not have).
    fn unwanted(&mut self, rel: &str) -> Result<()> {
        if self.desired.contains_key(rel)
            || self.is_gone(rel)
            || self.in_store(rel)
            || self.exclude.excludes_live(self.root, rel)
        {
            return Ok(());
        }
        let mut at = rel;
        while let Some(parent) = paths::parent(at) {
            if self.desired.get(parent).is_some_and(|e| e.is_full_dir()) {
                return Ok(()); // a full folder's extras are already handled
            }
            at = parent;
        }
        // Nothing to remove below a file, and nothing is removed through a symlink that
        // leads out of the root.
        if paths::check_ancestors(self.root, rel).is_err() {
            return Ok(());
        }
        match lstat(self.root, rel)? {
            Live::Missing => {}
            Live::Dir(_) if self.snap.manifest.set == UNDO_SET => self.created_folder(rel)?,
            _ => {
                self.remove(rel);
                self.plan.removed.push(rel.to_string());
            }
        }
        Ok(())
    }

    /// For an undo: a folder the restore created is removed only when everything in it goes
    /// too; what others put there since is kept, with a warning.
    fn created_folder(&mut self, rel: &str) -> Result<()> {
        let mut kept = Vec::new();
        let shown = paths::escaped(rel);
        for child in fs::read_dir(paths::under(self.root, rel)).ctx(|| format!("listing {shown}"))? {
            let child = child.ctx(|| format!("listing {shown}"))?;
            let name = child.file_name();
            let child_rel = format!("{rel}/{}", paths::from_os(&name));
            if !self.is_gone(&child_rel) {
                kept.push(child_rel);
            }
        }
        if kept.is_empty() {
            self.remove(rel);
            self.plan.removed.push(rel.to_string());
        } else {
            crate::cli::warn(&format!(
                "{} was created by the restore being undone, and is kept: it now also holds {}",
                paths::escaped(rel),
                kept.iter().map(|k| paths::escaped(k)).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(())
    }

    fn in_store(&self, rel: &str) -> bool {
        self.store.as_deref().is_some_and(|s| rel == s || paths::is_under(rel, s))
    }

    /// Folder metadata and the shallow part of the undo, once all changes are known.
    fn finish_dirs(&mut self) -> Result<()> {
        let desired: Vec<&Entry> = self.desired.values().copied().collect();
        for e in desired {
            let Node::Dir { mode, .. } = e.node else { continue };
            if self.made.contains(&e.path) || self.is_gone(&e.path) {
                continue;
            }
            if let Live::Dir(meta) = lstat(self.root, &e.path)? {
                let legacy = self.snap.manifest.legacy;
                let differs = Mode::of(&meta) != mode
                    || (!legacy && Mtime::of(&meta) != e.mtime)
                    || self.owner_differs(e, &meta)
                    || self.xattrs_differ(e, &e.path)?;
                // A folder whose mtime moved because of what this restore changes inside it
                // is not news; one that changes on its own account is reported.
                if Mode::of(&meta) != mode || (differs && !self.touched.contains(&e.path)) {
                    self.plan.modified.push(e.path.clone());
                }
                if differs || self.touched.contains(&e.path) {
                    let owner = self.owner(e);
                    let xattrs = self.xattrs(e);
                    self.dir_metas.push(Step::DirMeta {
                        path: e.path.clone(),
                        owner,
                        mode,
                        mtime: e.mtime,
                        xattrs,
                    });
                    self.plan.undo.shallow.push(e.path.clone());
                }
            }
        }
        let touched: Vec<String> = self.touched.iter().cloned().collect();
        for dir in touched {
            if self.desired.contains_key(dir.as_str()) || self.made.contains(&dir) || self.is_gone(&dir) {
                continue;
            }
            if let Live::Dir(_) = lstat(self.root, &dir)? {
                self.plan.undo.shallow.push(dir);
            }
        }
        Ok(())
    }
}

/// `snap` limited to the paths `only` names (`rb-restore ID --only PATH…`, as restic's
/// `--include`): each a file or folder of the set (an entry, a path under a folder recorded
/// whole, a `missing` path, or a glob's match), given relative to the root (or absolute
/// inside it). The result holds the entries at and under those paths, and as `missing` the
/// live paths there that the snapshot did not have (a restore removes them); the folders above
/// them are left as they are (created if missing). So a plan of it, and the check of the
/// snapshot's files before anything is written, cover those paths only. A path that is not in
/// the set is refused (exit 2).
pub fn narrow(root: &Path, snap: &Snapshot, only: &[String]) -> Result<Snapshot> {
    let m = &snap.manifest;
    let at_or_under = |rel: &str, p: &str| rel == p || paths::is_under(rel, p);
    let mut asked: Vec<String> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for arg in only {
        let rel = if Path::new(arg).is_absolute() {
            paths::relative_to(root, Path::new(arg))?
        } else {
            arg.trim_start_matches("./").trim_end_matches('/').to_string()
        };
        paths::check_rel(&rel, "--only path")?;
        let has_entries = m.entries.iter().any(|e| at_or_under(&e.path, &rel));
        let unrecorded = m.entries.iter().any(|e| e.is_full_dir() && paths::is_under(&rel, &e.path))
            || m.missing.iter().any(|p| at_or_under(&rel, p))
            || m.globs.iter().filter_map(|g| glob::Pattern::new(g).ok()).any(|g| {
                let opts = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
                std::iter::successors(Some(rel.as_str()), |p| paths::parent(p))
                    .any(|p| g.matches_with(p, opts))
            });
        let above_missing = m.missing.iter().any(|p| paths::is_under(p, &rel));
        if !(has_entries || unrecorded || above_missing) {
            return Err(usage(format!(
                "{} is not in snapshot {} (set {}): --only takes its files and folders",
                paths::escaped(&rel),
                m.id,
                m.set
            ))
            .hint(format!("rb-snapshot diff {} lists what differs", m.id)));
        }
        // Added since to a folder recorded whole, a glob's match it did not have, or a path it
        // recorded as missing: the part's restore removes it.
        if !has_entries && unrecorded {
            removed.push(rel.clone());
        }
        if snapshot::Exclude::new(&m.exclude)?.excludes_live(root, &rel) {
            return Err(usage(format!(
                "{} is excluded from set {} (exclude {:?} in snapshot {}): a restore never touches it",
                paths::escaped(&rel),
                m.set,
                m.exclude,
                m.id
            )));
        }
        asked.push(rel);
    }
    let wanted = |rel: &str| asked.iter().any(|p| at_or_under(rel, p));
    let mut part = snap.clone();
    let pm = &mut part.manifest;
    pm.entries.retain(|e| wanted(&e.path));
    let kept: HashSet<String> = pm.entries.iter().map(|e| e.path.clone()).collect();
    for e in &mut pm.entries {
        // A hard link of a file left out is written as a copy: never linked to a live file.
        if e.link.as_ref().is_some_and(|to| !kept.contains(to)) {
            e.link = None;
        }
    }
    let mut missing: Vec<String> = m.missing.iter().filter(|p| wanted(p)).cloned().collect();
    missing.extend(removed);
    for g in &m.globs {
        missing
            .extend(snapshot::glob_matches(root, g)?.into_iter().filter(|h| wanted(h) && !kept.contains(h)));
    }
    missing.sort();
    missing.dedup();
    pm.missing = missing;
    pm.globs = Vec::new();
    (pm.files, pm.bytes) = snapshot::totals(&pm.entries);
    asked.sort();
    asked.dedup();
    part.only = asked;
    Ok(part)
}

/// Compares the snapshot with the live tree under `root` and plans the restore. Reads only
/// metadata and the live files whose size matches (only metadata with `quick`); changes
/// nothing.
pub fn plan(store: &Store, snap: &Snapshot, opts: Options) -> Result<Plan> {
    let root = store.root.as_path();
    let m = &snap.manifest;
    let store_rel = store.rel_in_root();
    if let Some(inside) = &store_rel {
        let hit = m
            .entries
            .iter()
            .map(|e| &e.path)
            .chain(&m.missing)
            .find(|p| *p == inside || paths::is_under(p, inside));
        if let Some(hit) = hit {
            return Err(usage(format!(
                "{} names {hit}, inside the store {inside}; a restore never writes there",
                m.id
            )));
        }
    }
    let mut p = Planner {
        root,
        own: rustix::process::geteuid().is_root(),
        store: store_rel,
        snap,
        opts,
        desired: m.entries.iter().map(|e| (e.path.as_str(), e)).collect(),
        exclude: snapshot::Exclude::new(&m.exclude)?,
        gone: HashSet::new(),
        made: HashSet::new(),
        touched: BTreeSet::new(),
        removes: Vec::new(),
        mkdirs: Vec::new(),
        writes: Vec::new(),
        metas: Vec::new(),
        dir_metas: Vec::new(),
        links: Vec::new(),
        written: HashSet::new(),
        plan: Plan::default(),
    };
    for e in &m.entries {
        p.entry(e)?;
    }
    if !opts.keep_extra {
        // Deepest first, so that an undo's created folder is judged after what is in it.
        for rel in m.missing.iter().rev() {
            p.unwanted(rel)?;
        }
        for glob in &m.globs {
            for hit in snapshot::glob_matches(root, glob)? {
                p.unwanted(&hit)?;
            }
        }
    }
    p.finish_dirs()?;
    // Deepest folders first: setting a parent's mtime before a child's would be undone.
    p.dir_metas.sort_by(|a, b| step_path(b).cmp(step_path(a)));
    p.mkdirs.sort_by(|a, b| step_path(a).cmp(step_path(b)));
    let mut plan = p.plan;
    // Moved, not cloned: a plan of 100,000 files holds its steps once.
    plan.steps =
        [p.removes, p.mkdirs, p.writes, p.links, p.metas, p.dir_metas].into_iter().flatten().collect();
    for list in [
        &mut plan.created,
        &mut plan.modified,
        &mut plan.removed,
        &mut plan.undo.shallow,
        &mut plan.undo.missing,
        &mut plan.sockets,
    ] {
        list.sort();
        list.dedup();
    }
    Ok(plan)
}

fn step_path(s: &Step) -> &str {
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

/// Checks the content of every file the plan will write against the snapshot's hashes,
/// reading them all before anything changes. Every damaged or missing file is named.
pub fn verify_sources(snap: &Snapshot, plan: &Plan) -> Result<()> {
    let mut problems = Vec::new();
    for step in &plan.steps {
        let Step::Write { path, src, size, sha256, .. } = step else { continue };
        if let Some(problem) = check_file(src, *size, sha256.as_deref()) {
            problems.push(format!("{path}: {problem}"));
        }
    }
    if !problems.is_empty() {
        snap.check_present()?;
    }
    damaged(&snap.manifest.id, problems, "; nothing was changed")
}

/// What is wrong with a snapshot file, if anything: missing, another size, another hash.
pub fn check_file(src: &Path, size: u64, sha256: Option<&str>) -> Option<String> {
    match fs::symlink_metadata(src) {
        Err(_) => return Some("missing from the snapshot".into()),
        Ok(m) if !m.is_file() => return Some("not a regular file in the snapshot".into()),
        Ok(_) => {}
    }
    let want = sha256?;
    match fsx::hash_file(src) {
        Err(e) => Some(e.message().to_string()),
        Ok(d) if d.size != size => Some(format!("{} bytes in the snapshot, {size} recorded", d.size)),
        Ok(d) if d.sha256 != want => Some("content differs from its recorded SHA-256".into()),
        Ok(_) => None,
    }
}

/// The error for a damaged snapshot (`problems` are `path: what`), or `Ok` when there are
/// none. `tail` ends the message (what that means for the state).
pub fn damaged(id: &str, problems: Vec<String>, tail: &str) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    let noun = if n == 1 { "file" } else { "files" };
    let list = problems.iter().map(|p| p.split(':').next().unwrap_or(p)).collect::<Vec<_>>().join(", ");
    Err(failed(format!("snapshot {id} is damaged: {n} {noun} ({list}){tail}"))
        .details(problems.into_iter().map(|p| format!("damaged: {p}")).collect()))
}

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
pub fn apply(root: &Path, store_dir: &Path, steps: &[Step], seen: usize) -> Result<()> {
    apply_counting(root, store_dir, steps, seen, &mut false)
}

/// [`apply`], setting `changed` once the first staged file is renamed into place.
fn apply_counting(
    root: &Path,
    store_dir: &Path,
    steps: &[Step],
    seen: usize,
    changed: &mut bool,
) -> Result<()> {
    let mut staged: Vec<(tempfile::TempPath, PathBuf)> = Vec::new();
    for step in steps {
        crash_point();
        signals::check(seen)?;
        match step {
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
                staged.push((tmp, paths::under(root, path)));
            }
            Step::Link { path, owner, target, mtime } => {
                let tmp = stage_link(root, path, target)?;
                set_owner(&tmp, *owner)?;
                fsx::set_symlink_mtime(&tmp, *mtime)?;
                staged.push((tmp, paths::under(root, path)));
            }
            Step::MkNod { path, owner, kind, mode, rdev, mtime } => {
                let tmp = stage_node(root, path, *kind, *rdev)?;
                // The owner before the mode (chown clears set-id bits); mknod took the umask.
                set_owner(&tmp, *owner)?;
                fsx::set_mode(&tmp, *mode)?;
                fsx::set_mtime(&tmp, *mtime)?;
                staged.push((tmp, paths::under(root, path)));
            }
            Step::Meta { .. } | Step::DirMeta { .. } | Step::HardLink { .. } => {}
        }
    }
    if !staged.is_empty() {
        fsx::sync_fs(root)?;
    }
    for (tmp, target) in staged {
        crash_point();
        signals::check(seen)?;
        *changed = true;
        tmp.persist(&target)
            .map_err(|e| failed(format!("renaming into {}: {}", target.display(), e.error)))?;
    }
    // Hard links once the files they share an inode with are in place.
    for step in steps {
        if let Step::HardLink { path, to } = step {
            crash_point();
            signals::check(seen)?;
            hard_link(root, path, to)?;
        }
    }
    // Owner, mode, extended attributes, mtime, in that order: chown clears set-id bits and
    // capabilities, and chmod rewrites an ACL's mask.
    for step in steps {
        match step {
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

/// The prefix of the temporary files a restore stages next to their targets.
pub const STAGING_PREFIX: &str = ".rb-tmp.";

/// Removes what a killed restore left staged (`.rb-tmp.*` next to the targets of `steps`),
/// returning the paths removed.
fn clean_staging(root: &Path, steps: &[Step]) -> Result<Vec<String>> {
    let mut dirs = BTreeSet::new();
    for step in steps {
        if let Step::Write { path, .. }
        | Step::Link { path, .. }
        | Step::MkNod { path, .. }
        | Step::HardLink { path, .. } = step
        {
            dirs.insert(staging_dir(root, path));
        }
    }
    clean_staging_in(root, dirs)
}

/// Removes every `.rb-tmp.*` directly in `dirs` (folders, not followed through a symlink),
/// returning the paths removed, relative to `root`.
fn clean_staging_in(root: &Path, dirs: BTreeSet<PathBuf>) -> Result<Vec<String>> {
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
fn staging_dirs(root: &Path, snaps: &[&Manifest]) -> BTreeSet<PathBuf> {
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

fn staging_dir(root: &Path, rel: &str) -> PathBuf {
    match paths::parent(rel) {
        Some(p) => paths::under(root, p),
        None => root.to_path_buf(),
    }
}

/// Copies a snapshot file into a temporary file next to its target, checking its hash on
/// the way; the temporary file is removed if anything fails before it is renamed.
fn stage_file(
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
fn set_owner(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .ctx(|| format!("setting the owner of {}", path.display())),
        None => Ok(()),
    }
}

/// Makes `rel` a hard link of `to` (both under `root`): a link under a temporary name next
/// to it, renamed over it. Nothing to do when it already is one.
fn hard_link(root: &Path, rel: &str, to: &str) -> Result<()> {
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
fn stage_node(root: &Path, rel: &str, kind: Special, rdev: u64) -> Result<tempfile::TempPath> {
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
fn stage_link(root: &Path, rel: &str, target: &str) -> Result<tempfile::TempPath> {
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

/// Runs a verify command (if any) in `root`: its output when it exits 0, else an error whose
/// message ends with its last lines and whose details are everything it said.
pub fn run_check(check: Option<&Check>, root: &Path) -> Result<Option<exec::Output>> {
    let Some(check) = check else { return Ok(None) };
    let out = exec::run(&check.argv, root, &check.setting)?;
    if out.ok() {
        return Ok(Some(out));
    }
    Err(failed(format!("`{}` failed ({}): {}", exec::display(&check.argv), out.status(), out.summary()))
        .details(out.lines()))
}

/// Takes the undo snapshot for `plan`: what the restore of `snap` will replace.
pub fn take_undo(store: &Store, snap: &Snapshot, plan: &Plan) -> Result<Manifest> {
    let now = clock::now()?;
    let mut items: Vec<Item> =
        plan.undo.full.iter().map(|p| Item { path: p.clone(), shallow: false }).collect();
    items.extend(plan.undo.shallow.iter().map(|p| Item { path: p.clone(), shallow: true }));
    let mut listed: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
    listed.extend(plan.undo.missing.iter().cloned());
    listed.sort();
    let manifest = Manifest {
        id: String::new(),
        set: UNDO_SET.to_string(),
        created: clock::rfc3339(&now),
        paths: listed,
        globs: Vec::new(),
        exclude: Vec::new(),
        entries: Vec::new(),
        missing: plan.undo.missing.clone(),
        files: 0,
        bytes: 0,
        verified: true,
        legacy: false,
        undo_for: Some(snap.manifest.id.clone()),
        dry_run: false,
        xattrs: true,
        message: None,
        adhoc: false,
        tags: Vec::new(),
    };
    snapshot::write_snapshot(store, &now, manifest, &items, None)
}

fn doc_for(snap: &Snapshot, plan: &Plan, opts: Options, dry_run: bool) -> RestoreDoc {
    let m = &snap.manifest;
    RestoreDoc {
        snapshot: m.id.clone(),
        set: m.set.clone(),
        undo: None,
        created: plan.created.clone(),
        modified: plan.modified.clone(),
        removed: plan.removed.clone(),
        verified: m.verified && !opts.quick,
        check: None,
        dry_run,
        only: snap.only.clone(),
        aborted: None,
        cleaned: Vec::new(),
    }
}

/// What restoring `snap` would change, with the snapshot's files verified: the `--dry-run`
/// document. Changes nothing and needs no lock.
pub fn preview(store: &Store, snap: &Snapshot, opts: Options) -> Result<RestoreDoc> {
    let plan = plan(store, snap, opts)?;
    verify_sources(snap, &plan)?;
    // Read without the lock: a prune may have removed it meanwhile.
    snap.check_present()?;
    for socket in &plan.sockets {
        crate::cli::warn(&format!(
            "{} is a socket: the restore would remove it, and cannot keep it in the undo (the program that listens on it makes a new one)",
            paths::escaped(socket)
        ));
    }
    Ok(doc_for(snap, &plan, opts, true))
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
    pub steps: Vec<Step>,
    /// The process that started it.
    pub pid: u32,
    /// When it started, RFC 3339.
    pub started: String,
}

impl Document for Journal {
    const KIND: &'static str = "journal";
    const SOURCE: &'static str = "rb-restore (backups/.rb/journal.json)";
}

fn write_journal(store: &Store, journal: &Journal) -> Result<()> {
    let path = store.journal_path();
    fsx::atomic_write_with(&path, Mode(0o644), &mut |w| {
        crate::doc::write_doc(w, journal).within(|| format!("writing {}", path.display()))
    })
}

fn read_journal(store: &Store) -> Result<Journal> {
    let path = store.journal_path();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failed("no interrupted restore to finish or undo: there is no journal"));
        }
        Err(e) => return Err(failed(format!("reading {}: {e}", path.display()))),
    };
    let shown = format!("{}/.rb/journal.json", store.shown());
    fsx::check_trusted(&path, &shown)?;
    let journal: Journal = crate::doc::from_line(text.trim_end(), &shown)
        .map_err(|e| store.damaged_journal(e.message(), Kind::Partial))?;
    check_journal(store, &journal).map_err(|e| {
        e.context(&shown)
            .hint("the journal was changed by hand or by someone else; nothing was done")
            .hint(store.abort_hint())
    })?;
    Ok(journal)
}

/// The steps with their snapshot copies named relative to the store, for the journal: a store
/// moved or copied with its project still finds them ([`apply`] joins them to the store's
/// folder). A journal of an older rb names them absolute, inside the store.
fn srcs_in_store(store: &Store, mut steps: Vec<Step>) -> Vec<Step> {
    for step in &mut steps {
        if let Step::Write { src, .. } = step
            && let Ok(rel) = src.strip_prefix(&store.dir)
        {
            *src = rel.to_path_buf();
        }
    }
    steps
}

/// Checks a journal as the input it is: every path relative, without `..`, not in rb's
/// `.rb` or the store, not reached through a symlink that leads out of the root; every
/// snapshot copy inside the store; modes, owners and extended attributes as a manifest's.
/// A journal that fails is refused (exit 2) before any of it runs.
fn check_journal(store: &Store, journal: &Journal) -> Result<()> {
    crate::store::check_id(&journal.snapshot)?;
    crate::store::check_id(&journal.undo)?;
    let store_rel = store.rel_in_root();
    let store_dir = store.dir.canonicalize().unwrap_or_else(|_| store.dir.clone());
    for (n, step) in journal.steps.iter().enumerate() {
        let path = step_path(step);
        let what = format!("step {} ({path:?})", n + 1);
        let rel = |p: &str| -> Result<()> {
            paths::check_rel(p, "path")?;
            if p == snapshot::META_DIR || p.starts_with(".rb/") {
                return Err(usage(format!("{p:?} is inside rb's reserved .rb folder")));
            }
            if let Some(s) = &store_rel
                && (p == s || paths::is_under(p, s))
            {
                return Err(usage(format!("{p:?} is inside the store {s}")));
            }
            leads_out(&store.root, p)
        };
        rel(path).map_err(|e| e.context(&what))?;
        let (owner, mode, xattrs) = match step {
            Step::Write { src, owner, mode, xattrs, .. } => {
                let plain = src
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::RootDir));
                let inside = plain
                    && if src.is_relative() {
                        src.components().next().is_some()
                    } else {
                        src.canonicalize()
                            .map_or_else(|_| src.starts_with(&store.dir), |c| c.starts_with(&store_dir))
                    };
                if !inside {
                    return Err(usage(format!(
                        "{what}: its copy {} is not in the store {}",
                        src.display(),
                        store.shown()
                    )));
                }
                (*owner, Some(*mode), xattrs.as_ref())
            }
            Step::Link { owner, .. } => (*owner, None, None),
            Step::MkNod { owner, mode, .. } => (*owner, Some(*mode), None),
            Step::Meta { owner, mode, xattrs, .. } => (*owner, *mode, xattrs.as_ref()),
            Step::DirMeta { owner, mode, xattrs, .. } => (*owner, Some(*mode), xattrs.as_ref()),
            Step::HardLink { to, .. } => {
                rel(to).map_err(|e| e.context(&what))?;
                (None, None, None)
            }
            Step::Remove { .. } | Step::MkDir { .. } => (None, None, None),
        };
        if let Some(mode) = mode {
            mode.check(&what)?;
        }
        if let Some((uid, gid)) = owner {
            fsx::check_id(uid, &what)?;
            fsx::check_id(gid, &what)?;
        }
        if let Some(x) = xattrs {
            crate::store::check_xattr_names(x.keys(), &what)?;
        }
    }
    Ok(())
}

/// Refuses (exit 2) a path whose folders on the way include a symlink that resolves outside
/// the root. Unlike [`paths::check_ancestors`], a folder that is a file or missing is fine:
/// mid-restore, the steps before this one make it right.
fn leads_out(root: &Path, rel: &str) -> Result<()> {
    let canonical_root = root.canonicalize().ctx(|| format!("resolving the root {}", root.display()))?;
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        at.push(part);
        let Ok(meta) = fs::symlink_metadata(&at) else { return Ok(()) };
        if meta.file_type().is_symlink()
            && let Ok(target) = at.canonicalize()
            && !target.starts_with(&canonical_root)
        {
            return Err(usage(format!(
                "{} is a symlink to {}, outside the project root",
                parts[..=i].join("/"),
                target.display()
            )));
        }
    }
    Ok(())
}

fn clear_journal(store: &Store) -> Result<()> {
    let path = store.journal_path();
    fs::remove_file(&path).ctx(|| format!("removing {}", path.display()))?;
    crash_point();
    fsx::sync_dir(path.parent().unwrap_or(&store.dir))
}

fn log(store: &Store, action: &str, result: &Result<RestoreDoc>, set: &str, id: &str, undo: Option<&str>) {
    let event = match result {
        Ok(_) => Event::new(action, true),
        Err(e) => Event::new(action, false).error(e),
    };
    store.log_or_warn(event.set(set).snapshot(id).undo(undo));
}

/// Restores `snap` into the store's root, as the module docs describe, and logs the
/// outcome. The caller holds the store's lock. `check` is the set's verify command.
pub fn restore(
    store: &Store,
    lock: &Lock,
    snap: &Snapshot,
    opts: Options,
    check: Option<&Check>,
) -> Result<RestoreDoc> {
    restore_then(store, lock, snap, opts, check, &mut |c| run_check(c.check, &store.root).map(|_| ()))
}

/// What the check that ends a restore is given.
#[derive(Debug, Clone, Copy)]
pub struct Checking<'a> {
    /// The set's verify command, if any.
    pub check: Option<&'a Check>,
    /// False when the files already matched the snapshot and nothing was written.
    pub changed: bool,
}

/// The check that ends a restore: given the set's verify command (if any) once the files
/// are in place, while the journal still stands. [`restore`]'s runs the command; rb-nginx's
/// runs `nginx -t` itself, then reloads nginx. If it fails, the undo goes back. `--resume`
/// runs the plain command again.
pub type Then<'a> = &'a mut dyn FnMut(Checking<'_>) -> Result<()>;

/// [`restore`], with `then` as the check. When nothing needs to change, `then` still runs
/// (with `changed: false`; the document has no undo), so "done" is always "verified".
pub fn restore_then(
    store: &Store,
    _lock: &Lock,
    snap: &Snapshot,
    opts: Options,
    check: Option<&Check>,
    then: Then<'_>,
) -> Result<RestoreDoc> {
    let m = &snap.manifest;
    let mut undo_id = None;
    // From here a signal stops at a safe point instead of ending the process.
    let _critical = signals::Critical::open();
    let seen = signals::count();
    let result = (|| {
        // Loaded before the lock was taken: a prune may have removed it since.
        snap.check_present()?;
        let plan = plan(store, snap, opts)?;
        verify_sources(snap, &plan)?;
        let mut doc = doc_for(snap, &plan, opts, false);
        if plan.is_empty() {
            then(Checking { check, changed: false })?;
            doc.check = check.map(|c| exec::display(&c.argv));
            return Ok(doc);
        }
        let undo = take_undo(store, snap, &plan)?;
        undo_id = Some(undo.id.clone());
        doc.undo = Some(undo.id.clone());
        let journal = Journal {
            snapshot: m.id.clone(),
            undo: undo.id,
            doc,
            check: check.cloned(),
            after: opts.after.map(str::to_string),
            steps: srcs_in_store(store, plan.steps),
            pid: std::process::id(),
            started: clock::rfc3339(&clock::now()?),
        };
        if let Err(e) = write_journal(store, &journal) {
            // Nothing was changed: the undo is not needed (and a full store gets its space back).
            let _ = store.remove_snapshot(&journal.undo);
            return Err(e);
        }
        finish(store, &journal, then, seen)
    })();
    let action = if m.set == UNDO_SET { "undo" } else { "restore" };
    log(store, action, &result, &m.set, &m.id, undo_id.as_deref());
    result
}

/// Runs a journaled restore's steps and verify command, then removes the journal. On a
/// failure the undo goes back (exit 1), or the journal stays pending (exit 3).
fn finish(store: &Store, journal: &Journal, then: Then<'_>, seen: usize) -> Result<RestoreDoc> {
    crash_point();
    let mut changed = false;
    if let Err(e) = apply_counting(&store.root, &store.dir, &journal.steps, seen, &mut changed)
        .and_then(|()| signals::check(seen))
    {
        return Err(put_back(store, journal, e, "the restore failed", changed));
    }
    let mut doc = journal.doc.clone();
    if let Some(check) = &journal.check {
        crate::cli::note(&format!("checking the restored files with `{}`", exec::display(&check.argv)));
        doc.check = Some(exec::display(&check.argv));
    }
    if let Err(e) = then(Checking { check: journal.check.as_ref(), changed: true }) {
        return Err(put_back(store, journal, e, "the restored files failed their check", true));
    }
    clear_journal(store).map_err(|e| {
        partial(
            format!(
                "{} was restored and checked, but its journal could not be removed: {}",
                journal.snapshot,
                e.message()
            ),
            "remove the cause, then `rb-restore --resume` finishes it (nothing is written again)",
        )
    })?;
    Ok(doc)
}

/// Finishes an interrupted restore from its journal (`rb-restore --resume`): cleans what was
/// left staged, runs every step again (each is idempotent), then the verify command. Killed
/// itself, it can run again.
pub fn resume(store: &Store, _lock: &Lock, dry_run: bool) -> Result<RestoreDoc> {
    let journal = read_journal(store)?;
    if dry_run {
        return Ok(RestoreDoc { dry_run: true, ..journal.doc });
    }
    let _critical = signals::Critical::open();
    let seen = signals::count();
    let result = clean_staging(&store.root, &journal.steps)
        .and_then(|_| finish(store, &journal, &mut |c| run_check(c.check, &store.root).map(|_| ()), seen));
    say_after(&journal, &result);
    log(store, "resume", &result, &journal.doc.set, &journal.snapshot, Some(&journal.undo));
    result
}

/// Undoes an interrupted restore (`rb-restore --abort [UNDO]`): restores its undo snapshot
/// exactly, which also removes what the restore created, removes what it left staged, then
/// removes the journal. Killed itself, it can run again. Returns the `restore` document of the
/// undo snapshot, with `aborted` naming the restore undone.
///
/// A journal that cannot be read cannot say which undo to put back: without `undo` that is
/// exit 2 naming the newest undo in the store; with it, that undo goes back exactly and every
/// `.rb-tmp.*` in the folders of it and of the snapshot it was taken for is removed.
pub fn abort(store: &Store, _lock: &Lock, undo: Option<&str>, dry_run: bool) -> Result<RestoreDoc> {
    if fs::symlink_metadata(store.journal_path()).is_err() {
        let e = failed("no interrupted restore to finish or undo: there is no journal");
        return Err(match undo {
            Some(u) => {
                e.hint(format!("`rb-restore {u}` restores that undo snapshot as a restore of its own"))
            }
            None => e,
        });
    }
    let journal = match (read_journal(store), undo) {
        (Ok(j), Some(u)) if j.undo != u => {
            return Err(usage(format!(
                "the interrupted restore of {} has the undo {}, not {u}",
                j.snapshot, j.undo
            ))
            .hint("`rb-restore --abort` puts back the undo its journal names"));
        }
        (Ok(j), _) => Some(j),
        (Err(e), None) => {
            return Err(e.with_kind(Kind::Usage));
        }
        (Err(_), Some(_)) => None,
    };
    let undo_id = journal.as_ref().map_or_else(|| undo.unwrap_or_default().to_string(), |j| j.undo.clone());
    let undo_snap = store.load(&undo_id)?;
    if undo_snap.manifest.set != UNDO_SET {
        return Err(usage(format!(
            "{undo_id} is a snapshot of set {}, not an undo: --abort puts back what a restore replaced",
            undo_snap.manifest.set
        ))
        .hint("rb-snapshot list undo shows the undo snapshots"));
    }
    let of = journal
        .as_ref()
        .map(|j| j.snapshot.clone())
        .or_else(|| undo_snap.manifest.undo_for.clone())
        .unwrap_or_else(|| "?".to_string());
    if dry_run {
        let doc = preview(store, &undo_snap, Options::default())?;
        return Ok(RestoreDoc { aborted: Some(of), ..doc });
    }
    let _critical = signals::Critical::open();
    let result = match &journal {
        Some(j) => revert(store, j),
        None => {
            let original = undo_snap.manifest.undo_for.as_deref().and_then(|id| store.load(id).ok());
            let mut manifests = vec![&undo_snap.manifest];
            manifests.extend(original.as_ref().map(|o| &o.manifest));
            let dirs = staging_dirs(&store.root, &manifests);
            clean_staging_in(&store.root, dirs).and_then(|cleaned| put_undo_back(store, &undo_snap, cleaned))
        }
    }
    .map(|doc| RestoreDoc { aborted: Some(of.clone()), ..doc })
    .map_err(|e: Error| {
        let again = if journal.is_some() { String::new() } else { format!(" {undo_id}") };
        partial(
            format!("undoing the interrupted restore of {of} failed: {}", e.message()),
            format!("fix the cause and run `rb-restore --abort{again}` again; the journal is kept"),
        )
    });
    if let Some(j) = &journal {
        say_after(j, &result);
    }
    let set = journal.as_ref().map_or(UNDO_SET, |j| j.doc.set.as_str());
    log(store, "abort", &result, set, &of, Some(&undo_id));
    result
}

/// After `--resume` or `--abort` of a restore that had more to do than they can (rb-nginx
/// reloads nginx): says what to run now.
fn say_after(journal: &Journal, result: &Result<RestoreDoc>) {
    if let (Some(after), Ok(_)) = (&journal.after, result) {
        crate::cli::warn(&format!(
            "this restore of {} was started by a tool that had more to do: run {after} now",
            journal.snapshot
        ));
    }
}

/// After a failed restore: restores the undo snapshot exactly and removes the journal.
/// Returns the error to report: exit 1 when everything was put back, exit 3 (journal kept)
/// when even that failed.
/// `changed` is false when the failure came before the first file was renamed into place.
fn put_back(store: &Store, journal: &Journal, cause: Error, what: &str, changed: bool) -> Error {
    let details = cause.detail_lines().to_vec();
    match revert(store, journal) {
        // Everything is as it was: the undo would undo nothing, and on a full store its
        // space is what the next attempt needs.
        Ok(_) => {
            if let Err(e) = store.remove_snapshot(&journal.undo) {
                crate::cli::warn(&format!(
                    "{} is no longer needed but could not be removed: {}",
                    journal.undo,
                    e.message()
                ));
            }
            if !changed {
                return failed(format!(
                    "{what} before any file was changed: {}; what was staged is removed, nothing changed",
                    cause.message()
                ))
                .details(details);
            }
            failed(format!(
                "{what}: {}; everything was put back as it was (from {}, then removed: nothing is left to undo)",
                cause.message(),
                journal.undo
            ))
            .details(details)
        }
        Err(e) => partial(
            format!(
                "{what}: {}; putting back {} also failed: {}; the files may be partly restored",
                cause.message(),
                journal.undo,
                e.message()
            ),
            "run `rb-restore --abort` to put back what was there, or `rb-restore --resume` to finish the restore",
        )
        .details(details),
    }
}

/// Restores a journal's undo snapshot exactly (which also removes what the restore created),
/// cleaning anything left staged first, then removes the journal: what `--abort` and a failed
/// restore both do. Idempotent, so it can run again after being killed.
fn revert(store: &Store, journal: &Journal) -> Result<RestoreDoc> {
    let undo = store.load(&journal.undo)?;
    let cleaned = clean_staging(&store.root, &journal.steps)?;
    put_undo_back(store, &undo, cleaned)
}

/// Restores `undo` exactly and removes the journal; the document lists what changed and the
/// staged files `cleaned` before it.
fn put_undo_back(store: &Store, undo: &Snapshot, cleaned: Vec<String>) -> Result<RestoreDoc> {
    let plan = plan(store, undo, Options::default())?;
    // Started after a first signal, it stops only at the next one.
    let seen = signals::count();
    verify_sources(undo, &plan)?;
    apply(&store.root, &store.dir, &plan.steps, seen)?;
    clear_journal(store)?;
    Ok(RestoreDoc { cleaned, ..doc_for(undo, &plan, Options::default(), false) })
}

/// The snapshot a document on stdin names: a `snapshot` (restore it) or a `restore`
/// (restore its undo). The document must match the stored manifest.
pub fn from_stdin(store: &Store) -> Result<Snapshot> {
    let tool = crate::cli::tool();
    let (value, origin) = crate::doc::read_one_stdin(
        &format!("{tool} restores one snapshot (or the undo of one restore)"),
        &format!(
            "give a snapshot id or `latest`, or pipe one document: rb-snapshot list | tail -n 1 | {tool}"
        ),
    )?;
    match crate::doc::check_envelope(&value, &origin)? {
        RestoreDoc::KIND => {
            let done: RestoreDoc = crate::doc::from_value(value, &origin)?;
            let undo = done.undo.ok_or_else(|| {
                failed(format!(
                    "{origin}: that restore of {} changed nothing (or was a dry run): there is no undo to restore",
                    done.snapshot
                ))
            })?;
            store.load(&undo)
        }
        _ => {
            let wanted: Manifest = crate::doc::from_value(value, &origin).map_err(|e| {
                e.hint(format!("{tool} takes a `snapshot` document (rb-snapshot) or a `restore` document"))
            })?;
            if wanted.dry_run {
                return Err(failed(format!(
                    "{origin}: snapshot {} is from a --dry-run and was never written",
                    wanted.id
                )));
            }
            crate::store::check_id(&wanted.id)?;
            let snap = store.load(&wanted.id)?;
            if snap.manifest.entries != wanted.entries || snap.manifest.missing != wanted.missing {
                return Err(usage(format!(
                    "{origin}: the document differs from {}/{}/.rb/manifest.json",
                    store.shown(),
                    wanted.id
                ))
                .hint("restore by id to use the stored manifest"));
            }
            Ok(snap)
        }
    }
}
