//! Planning a restore: compare a manifest with the live tree and produce the idempotent
//! [`Step`]s that make the tree match it, the lists the document reports, and what the undo
//! snapshot must hold. Nothing is written here.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use crate::error::{Context, Result, failed, usage};
use crate::fsx::{self, Mode, Mtime, Xattrs};
use crate::journal::{Step, Steps, StepsWriter, step_path};
use crate::manifest::{self, Entry, Node, Special, UNDO_SET};
use crate::paths;
use crate::snapshot;
use crate::store::{Snapshot, Store};

use super::Options;

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
    /// Steps in execution order (kept in a temporary file in the store, not in memory).
    pub steps: Steps,
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

/// True when the live object is what `node` records, so it can be updated in place; another
/// device number is another device, made again.
fn same_type(node: &Node, live: &Live) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (node, live) {
        (Node::File { .. }, Live::File(_))
        | (Node::Dir { .. }, Live::Dir(_))
        | (Node::Symlink { .. }, Live::Link(..)) => true,
        (node, Live::Special(meta, kind)) => {
            node.special().is_some_and(|(k, _, rdev)| k == *kind && rdev == meta.rdev())
        }
        _ => false,
    }
}

struct Planner<'a> {
    root: &'a Path,
    /// Running as root: owners are compared and restored.
    own: bool,
    /// The store's path under the root, when it is inside it: never part of a restore.
    store: Option<String>,
    snap: &'a Snapshot,
    opts: Options,
    /// The snapshot's folders by path: only folders are looked up while planning, and the
    /// other entries stream past once ([`Snapshot::each_entry`]).
    folders: BTreeMap<String, Entry>,
    /// The `missing` paths and glob matches that are entries after all (never removed).
    listed: HashSet<String>,
    /// Folders recorded whole whose live content is being compared, each with the paths in
    /// it that no entry seen so far has: what is left once the entries pass the folder is
    /// extra, and goes.
    pending: BTreeMap<String, BTreeSet<String>>,
    /// The manifest's `exclude` globs: what they match is never modified or removed.
    exclude: manifest::Exclude,
    /// Paths removed (with everything under them): their descendants count as missing.
    gone: HashSet<String>,
    /// Folders created by this restore (only folders are ever asked about: nothing is below
    /// a file, so a set of every created file would only cost memory).
    made: HashSet<String>,
    /// Folders whose entries change (something created, renamed or removed in them).
    touched: BTreeSet<String>,
    removes: Vec<Step>,
    mkdirs: Vec<Step>,
    /// The writes, the one list as long as the set: kept in a temporary file as planned.
    writes: StepsWriter,
    /// The first error of keeping [`Planner::writes`] (returned when the plan is done).
    spill_error: Option<crate::error::Error>,
    metas: Vec<Step>,
    dir_metas: Vec<Step>,
    links: Vec<Step>,
    /// The files other entries are hard links of.
    targets: HashSet<String>,
    /// Those of [`Planner::targets`] whose content is written (a new inode), so their hard
    /// links must be made again.
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

    /// `rel` differs from `e` in its metadata only: kept whole in the undo, then its owner,
    /// mode (`None`: a symlink's, which has none), attributes and mtime set again.
    fn meta_only(&mut self, e: &Entry, rel: &str, mode: Option<Mode>, xattrs: Option<Xattrs>) {
        self.plan.undo.full.push(rel.to_string());
        self.plan.modified.push(rel.to_string());
        let owner = self.owner(e);
        self.metas.push(Step::Meta { path: rel.to_string(), owner, mode, mtime: e.mtime, xattrs });
    }

    /// `rel` is replaced by the snapshot's `e`: kept whole in the undo, then written.
    fn replace(&mut self, e: &Entry) {
        self.plan.undo.full.push(e.path.clone());
        self.plan.modified.push(e.path.clone());
        self.write(e);
    }

    /// Plans entry `e`, a hard link of the earlier entry `to`: nothing when the live file
    /// already shares `to`'s inode (and `to` keeps it), else a link made again.
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
                self.created(rel, false);
            }
            Live::Dir(_) => {
                self.remove(rel);
                self.plan.modified.push(rel.to_string());
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

    /// Keeps a write step (the first error is kept for the end of the plan).
    fn spill(&mut self, step: Step) {
        if self.spill_error.is_none()
            && let Err(e) = self.writes.push(&step)
        {
            self.spill_error = Some(e);
        }
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
    fn created(&mut self, rel: &str, folder: bool) {
        self.plan.undo.missing.push(rel.to_string());
        if folder {
            self.made.insert(rel.to_string());
        }
        self.touch_parent(rel);
    }

    /// Makes sure the folders above `rel` that are not entries exist, creating what is missing.
    fn ensure_parents(&mut self, rel: &str) -> Result<()> {
        paths::check_ancestors(self.root, rel)?;
        let parts: Vec<&str> = rel.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            // An entry above another is a folder (the manifest was checked).
            if self.folders.contains_key(dir.as_str()) || self.made.contains(&dir) {
                continue;
            }
            if let Live::Missing = self.live(&dir)? {
                self.mkdirs.push(Step::MkDir { path: dir.clone() });
                self.plan.created.push(dir.clone());
                self.created(&dir, true);
            }
        }
        Ok(())
    }

    fn entry(&mut self, e: &Entry) -> Result<()> {
        let rel = e.path.as_str();
        self.pass(rel);
        // Under a folder recorded whole, the folder is made a real one first; anywhere else
        // the way there is checked (a symlink that leads out is refused).
        let parent_is_full =
            paths::parent(rel).is_some_and(|p| self.folders.get(p).is_some_and(|d| d.is_full_dir()));
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
        match live {
            Live::Missing => {
                self.plan.created.push(rel.to_string());
                self.create(e, true)
            }
            live if !same_type(&e.node, &live) => {
                self.remove(rel);
                self.plan.modified.push(rel.to_string());
                self.create(e, false)
            }
            live => self.update(e, live),
        }
    }

    /// Plans entry `e` where the live `rel` is of its type: its content, else its metadata.
    fn update(&mut self, e: &Entry, live: Live) -> Result<()> {
        let rel = e.path.as_str();
        match (&e.node, live) {
            (Node::File { mode, .. }, Live::File(meta)) => {
                if !self.same_content(e, &meta)? {
                    self.replace(e);
                } else if Mode::of(&meta) != *mode
                    || (!self.snap.manifest.legacy && Mtime::of(&meta) != e.mtime)
                    || self.owner_differs(e, &meta)
                    || self.xattrs_differ(e, rel)?
                {
                    let xattrs = self.xattrs(e);
                    self.meta_only(e, rel, Some(*mode), xattrs);
                }
            }
            (Node::Symlink { target }, Live::Link(meta, live_target)) => {
                if *target != live_target {
                    self.replace(e);
                } else if Mtime::of(&meta) != e.mtime || self.owner_differs(e, &meta) {
                    self.meta_only(e, rel, None, None);
                }
            }
            (Node::Dir { shallow, .. }, Live::Dir(_)) => {
                if !*shallow && !self.opts.keep_extra {
                    self.open_folder(rel)?;
                }
            }
            (node, Live::Special(meta, _)) => {
                let mode = node.special().map(|(_, mode, _)| mode);
                if mode != Some(Mode::of(&meta))
                    || Mtime::of(&meta) != e.mtime
                    || self.owner_differs(e, &meta)
                {
                    self.meta_only(e, rel, mode, None);
                }
            }
            _ => unreachable!("a live path of another type is replaced, not updated"),
        }
        Ok(())
    }

    /// True when the live file of entry `e` (`meta`) holds its content: compared by hash, but
    /// by size and mtime alone with `--quick` (rsync's quick check). A legacy backup's mtimes
    /// are when `cp` ran, not the files' own, so its content is always compared.
    fn same_content(&self, e: &Entry, meta: &fs::Metadata) -> Result<bool> {
        let Node::File { size, sha256, .. } = &e.node else { return Ok(false) };
        let legacy = self.snap.manifest.legacy;
        if self.opts.quick && !legacy {
            return Ok(meta.len() == *size && Mtime::of(meta) == e.mtime);
        }
        // Another size is another content: no need to read it.
        if meta.len() != *size && !legacy {
            return Ok(false);
        }
        let live = fsx::hash_file(&paths::under(self.root, &e.path))?;
        let want = match sha256 {
            Some(h) => h.clone(),
            None => fsx::hash_file(&self.snap.source(&e.path))?.sha256,
        };
        Ok(live.sha256 == want && live.size == *size)
    }

    /// Plans the creation of entry `e` where nothing is (any more).
    fn create(&mut self, e: &Entry, report_undo_missing: bool) -> Result<()> {
        let rel = e.path.as_str();
        let folder = matches!(e.node, Node::Dir { .. });
        if report_undo_missing {
            self.created(rel, folder);
        } else {
            if folder {
                self.made.insert(rel.to_string());
            }
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
                if self.targets.contains(rel.as_str()) {
                    self.written.insert(rel.clone());
                }
                self.spill(Step::Write {
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
                self.spill(Step::Link { path: rel, owner, target: target.clone(), mtime: e.mtime });
            }
            Node::Fifo { .. } | Node::Char { .. } | Node::Block { .. } => {
                if let Some((kind, mode, rdev)) = e.node.special() {
                    self.spill(Step::MkNod { path: rel, owner, kind, mode, rdev, mtime: e.mtime });
                }
            }
            Node::Dir { .. } => unreachable!("folders are created, not written"),
        }
    }

    /// Starts comparing folder `rel`, recorded whole, with what it holds now: every path in
    /// it but the store and what the set excludes waits in [`Planner::pending`] for its entry.
    fn open_folder(&mut self, rel: &str) -> Result<()> {
        let mut live = BTreeSet::new();
        let shown = paths::escaped(rel);
        for child in fs::read_dir(paths::under(self.root, rel)).ctx(|| format!("listing {shown}"))? {
            let child = child.ctx(|| format!("listing {shown}"))?;
            let name = child.file_name();
            let child_rel = format!("{rel}/{}", paths::from_os(&name));
            if child.file_type().is_ok_and(|t| std::os::unix::fs::FileTypeExt::is_socket(&t)) {
                self.plan.sockets.push(child_rel.clone());
            }
            let is_dir = child.file_type().is_ok_and(|t| t.is_dir());
            if self.store.as_deref() != Some(child_rel.as_str()) && !self.exclude.excludes(&child_rel, is_dir)
            {
                live.insert(child_rel);
            }
        }
        if !live.is_empty() {
            self.pending.insert(rel.to_string(), live);
        }
        Ok(())
    }

    /// The entries have reached `rel` (in path order): neither it nor a folder on its way is
    /// extra (a manifest can have `etc/x/y` below a whole `etc` without `etc/x`), and what is
    /// left in the folders they have passed is removed.
    fn pass(&mut self, rel: &str) {
        let done: Vec<String> = self.pending.keys().filter(|f| manifest::passed(f, rel)).cloned().collect();
        for folder in done {
            self.extras(&folder);
        }
        let mut at = rel;
        while let Some(parent) = paths::parent(at) {
            if let Some(live) = self.pending.get_mut(parent) {
                live.remove(at);
            }
            at = parent;
        }
    }

    /// Plans the removal of what is in folder `rel` now and is not in the snapshot.
    fn extras(&mut self, rel: &str) {
        for child in self.pending.remove(rel).unwrap_or_default() {
            self.remove(&child);
            self.plan.removed.push(child);
        }
    }

    /// Plans the removal of a path outside the entries that the snapshot says should not
    /// exist (a `missing` path or a glob match it did not have).
    fn unwanted(&mut self, rel: &str) -> Result<()> {
        if self.listed.contains(rel)
            || self.is_gone(rel)
            || self.in_store(rel)
            || self.exclude.excludes_live(self.root, rel)
        {
            return Ok(());
        }
        let mut at = rel;
        while let Some(parent) = paths::parent(at) {
            if self.folders.get(parent).is_some_and(|e| e.is_full_dir()) {
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
            crate::ui::warn(&format!(
                "{} was created by the restore being undone, and is kept: it now also holds {}",
                paths::escaped(rel),
                kept.iter().map(|k| paths::escaped(k)).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(())
    }

    fn in_store(&self, rel: &str) -> bool {
        in_store(self.store.as_deref(), rel)
    }

    /// Folder metadata and the shallow part of the undo, once all changes are known.
    fn finish_dirs(&mut self) -> Result<()> {
        let folders = std::mem::take(&mut self.folders);
        for e in folders.values() {
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
            if folders.contains_key(dir.as_str()) || self.made.contains(&dir) || self.is_gone(&dir) {
                continue;
            }
            if let Live::Dir(_) = lstat(self.root, &dir)? {
                self.plan.undo.shallow.push(dir);
            }
        }
        Ok(())
    }
}

/// True when `rel` is the store (at `store` under the root, if it is inside it) or in it.
fn in_store(store: Option<&str>, rel: &str) -> bool {
    store.is_some_and(|s| rel == s || paths::is_under(rel, s))
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
    // The entries are looked up here: a snapshot loaded without them reads them now.
    let snap = &*snap.with_entries()?;
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
        if manifest::Exclude::new(&m.exclude)?.excludes_live(root, &rel) {
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
    (pm.files, pm.bytes) = manifest::totals(&pm.entries);
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
    let inside_store = |p: &str| in_store(store_rel.as_deref(), p);
    let refuse = |hit: &str| {
        let inside = store_rel.as_deref().unwrap_or_default();
        usage(format!("{} names {hit}, inside the store {inside}; a restore never writes there", m.id))
    };
    if let Some(hit) = m.missing.iter().find(|p| inside_store(p)) {
        return Err(refuse(hit));
    }
    // What the snapshot does not want, to be removed unless it is an entry after all.
    let mut hits = Vec::new();
    if !opts.keep_extra {
        for glob in &m.globs {
            hits.extend(snapshot::glob_matches(root, glob)?);
        }
    }
    let mut unwanted: Vec<&str> = m.missing.iter().chain(&hits).map(String::as_str).collect();
    unwanted.sort_unstable();
    unwanted.dedup();
    // A first pass over the entries: the folders, what hard links name, and which of the
    // unwanted paths are entries. Memory grows with those, not with the files.
    let mut folders = BTreeMap::new();
    let mut targets = HashSet::new();
    let mut listed = HashSet::new();
    snap.each_entry(&mut |e| {
        if inside_store(&e.path) {
            return Err(refuse(&e.path));
        }
        if matches!(e.node, Node::Dir { .. }) {
            folders.insert(e.path.clone(), e.clone());
        }
        if let Some(to) = &e.link {
            targets.insert(to.clone());
        }
        if unwanted.binary_search(&e.path.as_str()).is_ok() {
            listed.insert(e.path.clone());
        }
        Ok(())
    })?;
    let mut p = Planner {
        root,
        own: rustix::process::geteuid().is_root(),
        store: store_rel.clone(),
        snap,
        opts,
        folders,
        listed,
        pending: BTreeMap::new(),
        exclude: manifest::Exclude::new(&m.exclude)?,
        gone: HashSet::new(),
        made: HashSet::new(),
        touched: BTreeSet::new(),
        removes: Vec::new(),
        mkdirs: Vec::new(),
        writes: StepsWriter::new(Some(&store.dir))?,
        spill_error: None,
        metas: Vec::new(),
        dir_metas: Vec::new(),
        links: Vec::new(),
        targets,
        written: HashSet::new(),
        plan: Plan::default(),
    };
    snap.each_entry(&mut |e| p.entry(e))?;
    for folder in p.pending.keys().cloned().collect::<Vec<_>>() {
        p.extras(&folder);
    }
    if !opts.keep_extra {
        // Deepest first, so that an undo's created folder is judged after what is in it.
        for rel in m.missing.iter().rev() {
            p.unwanted(rel)?;
        }
        for hit in &hits {
            p.unwanted(hit)?;
        }
    }
    p.finish_dirs()?;
    // Deepest folders first: setting a parent's mtime before a child's would be undone.
    p.dir_metas.sort_by(|a, b| step_path(b).cmp(step_path(a)));
    p.mkdirs.sort_by(|a, b| step_path(a).cmp(step_path(b)));
    let mut plan = p.plan;
    if let Some(e) = p.spill_error {
        return Err(e);
    }
    // The steps in their order, in one temporary file: the writes are copied as written.
    let mut steps = StepsWriter::new(Some(&store.dir))?;
    for step in p.removes.iter().chain(&p.mkdirs) {
        steps.push(step)?;
    }
    steps.append(&p.writes.finish()?)?;
    for step in p.links.iter().chain(&p.metas).chain(&p.dir_metas) {
        steps.push(step)?;
    }
    plan.steps = steps.finish()?;
    for list in [
        &mut plan.created,
        &mut plan.modified,
        &mut plan.removed,
        &mut plan.undo.shallow,
        &mut plan.undo.missing,
        &mut plan.sockets,
    ] {
        // In place: a stable sort takes a scratch buffer as long as the list (and equal paths
        // are equal).
        list.sort_unstable();
        list.dedup();
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::snapshot::Request;

    /// What a plan says, in the words of the `restore` document and the journal's steps.
    #[derive(Debug, PartialEq, Eq)]
    struct Said {
        created: Vec<&'static str>,
        modified: Vec<&'static str>,
        removed: Vec<&'static str>,
        steps: Vec<&'static str>,
    }

    struct Case {
        name: &'static str,
        /// What is done to the live tree after the snapshot.
        change: fn(&Path),
        opts: Options,
        exclude: &'static [&'static str],
        want: Said,
    }

    const NOTHING: Said = Said { created: vec![], modified: vec![], removed: vec![], steps: vec![] };

    fn quick() -> Options {
        Options { quick: true, ..Options::default() }
    }

    /// The set `etc/` of a small project: two files, a symlink and a folder.
    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir_all(etc.join("sites")).unwrap();
        fs::write(etc.join("a.conf"), "listen 80;\n").unwrap();
        fs::write(etc.join("sites/b.conf"), "server_name b;\n").unwrap();
        symlink("sites/b.conf", etc.join("current")).unwrap();
        dir
    }

    /// Takes the snapshot, applies `case.change`, and plans its restore.
    fn plan_of(case: &Case) -> Said {
        let dir = project();
        let root = dir.path().canonicalize().unwrap();
        let store = Store::new(root.clone(), root.join("backups"), "rb-test");
        let req = Request {
            set: "config".to_string(),
            specs: vec!["etc/".to_string()],
            dry_run: false,
            link: false,
            exclude: case.exclude.iter().map(|s| s.to_string()).collect(),
            message: None,
            move_latest: true,
        };
        let m = crate::snapshot::take(&store, &req).unwrap();
        let snap = store.resolve(&m.id, None).unwrap();
        (case.change)(&root);
        let p = plan(&store, &snap, case.opts).unwrap();
        let leak = |v: Vec<String>| -> Vec<&'static str> {
            v.into_iter().map(|s| &*Box::leak(s.into_boxed_str())).collect()
        };
        let steps = p
            .steps
            .iter()
            .map(|s| match s.unwrap() {
                Step::Remove { .. } => "remove",
                Step::MkDir { .. } => "mkdir",
                Step::Write { .. } => "write",
                Step::Link { .. } => "link",
                Step::Meta { .. } => "meta",
                Step::DirMeta { .. } => "dir-meta",
                Step::MkNod { .. } => "mknod",
                Step::HardLink { .. } => "hard-link",
            })
            .collect();
        Said { created: leak(p.created), modified: leak(p.modified), removed: leak(p.removed), steps }
    }

    /// An edit that keeps the size and puts the mtime back: only a content check sees it.
    fn same_size_same_mtime(root: &Path) {
        let f = root.join("etc/a.conf");
        let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&f).unwrap());
        fs::write(&f, "listen 81;\n").unwrap();
        filetime::set_file_mtime(&f, mtime).unwrap();
    }

    #[test]
    fn the_planner_says_what_each_change_of_the_live_tree_takes() {
        let cases = [
            Case { name: "unchanged", change: |_| {}, opts: Options::default(), exclude: &[], want: NOTHING },
            Case {
                name: "an edit that keeps size and mtime is found by content",
                change: same_size_same_mtime,
                opts: Options::default(),
                exclude: &[],
                // (The staged copy changes the folder's mtime: it is set back last.)
                want: Said { modified: vec!["etc/a.conf"], steps: vec!["write", "dir-meta"], ..NOTHING },
            },
            Case {
                name: "--quick trusts size and mtime, as rsync does",
                change: same_size_same_mtime,
                opts: quick(),
                exclude: &[],
                want: NOTHING,
            },
            Case {
                name: "a removed file comes back",
                change: |r| fs::remove_file(r.join("etc/a.conf")).unwrap(),
                opts: Options::default(),
                exclude: &[],
                want: Said { created: vec!["etc/a.conf"], steps: vec!["write", "dir-meta"], ..NOTHING },
            },
            Case {
                name: "a file added to a folder recorded whole goes",
                change: |r| fs::write(r.join("etc/sites/new.conf"), "x\n").unwrap(),
                opts: Options::default(),
                exclude: &[],
                want: Said {
                    removed: vec!["etc/sites/new.conf"],
                    steps: vec!["remove", "dir-meta"],
                    ..NOTHING
                },
            },
            Case {
                // The entries stream past in path order: `etc/sites-x.conf` comes between
                // `etc/sites` and what is in it, and both folders' extras are found.
                name: "extras in a folder and beside it, with a name that sorts between",
                change: |r| {
                    fs::write(r.join("etc/sites/new.conf"), "x\n").unwrap();
                    fs::write(r.join("etc/sites-x.conf"), "x\n").unwrap();
                },
                opts: Options::default(),
                exclude: &[],
                want: Said {
                    removed: vec!["etc/sites-x.conf", "etc/sites/new.conf"],
                    steps: vec!["remove", "remove", "dir-meta", "dir-meta"],
                    ..NOTHING
                },
            },
            Case {
                name: "--keep-extra keeps it, and the folder's mtime goes back",
                change: |r| fs::write(r.join("etc/sites/new.conf"), "x\n").unwrap(),
                opts: Options { keep_extra: true, ..Options::default() },
                exclude: &[],
                want: Said { modified: vec!["etc/sites"], steps: vec!["dir-meta"], ..NOTHING },
            },
            Case {
                name: "what the set excludes is never removed; the folder's mtime goes back",
                change: |r| fs::write(r.join("etc/nginx.pid"), "42\n").unwrap(),
                opts: Options::default(),
                exclude: &["*.pid"],
                want: Said { modified: vec!["etc"], steps: vec!["dir-meta"], ..NOTHING },
            },
            Case {
                name: "a mode change is metadata only: no copy is written",
                change: |r| {
                    fs::set_permissions(r.join("etc/a.conf"), fs::Permissions::from_mode(0o600)).unwrap()
                },
                opts: Options::default(),
                exclude: &[],
                want: Said { modified: vec!["etc/a.conf"], steps: vec!["meta"], ..NOTHING },
            },
            Case {
                name: "a folder where a file was is removed and the file written",
                change: |r| {
                    fs::remove_file(r.join("etc/a.conf")).unwrap();
                    fs::create_dir(r.join("etc/a.conf")).unwrap();
                },
                opts: Options::default(),
                exclude: &[],
                want: Said {
                    modified: vec!["etc/a.conf"],
                    steps: vec!["remove", "write", "dir-meta"],
                    ..NOTHING
                },
            },
            Case {
                name: "a symlink pointed elsewhere is made again",
                change: |r| {
                    fs::remove_file(r.join("etc/current")).unwrap();
                    symlink("a.conf", r.join("etc/current")).unwrap();
                },
                opts: Options::default(),
                exclude: &[],
                want: Said { modified: vec!["etc/current"], steps: vec!["link", "dir-meta"], ..NOTHING },
            },
        ];
        let mut wrong = Vec::new();
        for case in &cases {
            let said = plan_of(case);
            if said != case.want {
                wrong.push(format!("{}:\n  want {:?}\n  got  {said:?}", case.name, case.want));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
