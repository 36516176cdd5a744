//! What changed between two snapshots, or between a snapshot and the live tree: the
//! `snapshot-diff` document of `rb-snapshot diff`, as `restic diff` answers the first question
//! of an incident.
//!
//! Two snapshots are compared by their manifests, path by path: a path in one only is
//! `added` or `removed`; a file whose SHA-256 or size differs (or a path whose type, symlink
//! target or device differs) is `modified`; one whose content is the same but whose mode,
//! owner, mtime or extended attributes differ is `meta`. Against the live tree the restore
//! planner decides ([`crate::restore::plan`], by content unless `quick`), so `diff A` lists
//! exactly what `rb-restore A` would change, read the other way round.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::doc::Document;
use crate::error::Result;
use crate::fsx;
use crate::manifest::{Entry, Node};
use crate::paths;
use crate::restore::{self, Options, Step};
use crate::store::{Snapshot, Store};

/// `to` when the other side is the live tree.
pub const LIVE: &str = "live";

/// The `snapshot-diff` document: what changed from `from` to `to`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct SnapshotDiff {
    /// The older side: a snapshot id.
    pub from: String,
    /// The newer side: a snapshot id, or `live` for the files as they are now.
    pub to: String,
    /// Paths in `to` only.
    #[serde(with = "paths::list")]
    pub added: Vec<String>,
    /// Paths in `from` only.
    #[serde(with = "paths::list")]
    pub removed: Vec<String>,
    /// Paths whose content (or type, or symlink target) differs.
    #[serde(with = "paths::list")]
    pub modified: Vec<String>,
    /// Paths whose content is the same but whose mode, owner, mtime or extended attributes
    /// differ.
    #[serde(with = "paths::list")]
    pub meta: Vec<String>,
    /// True when file content was compared by SHA-256 (false with `--quick` against the live
    /// tree, or for a backup of the old scripts, which has no hashes).
    pub verified: bool,
}

impl Document for SnapshotDiff {
    const KIND: &'static str = "snapshot-diff";
    const SOURCE: &'static str = "rb-snapshot diff";
}

impl SnapshotDiff {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty() && self.meta.is_empty()
    }

    /// Every changed path with its mark (`+` added, `-` removed, `M` content, `m` metadata
    /// only), sorted by path: the rows of `--format table`.
    pub fn marked(&self) -> Vec<(&'static str, &str)> {
        let mut rows: Vec<(&'static str, &str)> = Vec::new();
        rows.extend(self.added.iter().map(|p| ("+", p.as_str())));
        rows.extend(self.removed.iter().map(|p| ("-", p.as_str())));
        rows.extend(self.modified.iter().map(|p| ("M", p.as_str())));
        rows.extend(self.meta.iter().map(|p| ("m", p.as_str())));
        rows.sort_by(|a, b| a.1.cmp(b.1));
        rows
    }
}

/// The content of entry `e` of `snap`, as a hash: the manifest's, or (a legacy backup has
/// none) the snapshot file's, read.
fn content_of(snap: &Snapshot, e: &Entry) -> Result<Option<String>> {
    match &e.node {
        Node::File { sha256: Some(h), .. } => Ok(Some(h.clone())),
        Node::File { sha256: None, .. } => Ok(Some(fsx::hash_file(&snap.source(&e.path))?.sha256)),
        _ => Ok(None),
    }
}

/// What differs between two manifests, by path.
pub fn between(a: &Snapshot, b: &Snapshot) -> Result<SnapshotDiff> {
    let from: BTreeMap<&str, &Entry> = a.manifest.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let to: BTreeMap<&str, &Entry> = b.manifest.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut d = SnapshotDiff {
        from: a.manifest.id.clone(),
        to: b.manifest.id.clone(),
        verified: a.manifest.verified && b.manifest.verified,
        ..SnapshotDiff::default()
    };
    d.removed = from.keys().filter(|p| !to.contains_key(*p)).map(|p| p.to_string()).collect();
    d.added = to.keys().filter(|p| !from.contains_key(*p)).map(|p| p.to_string()).collect();
    for (path, old) in &from {
        let Some(new) = to.get(path) else { continue };
        let content_differs = match (&old.node, &new.node) {
            (Node::File { size: s1, .. }, Node::File { size: s2, .. }) => {
                s1 != s2 || content_of(a, old)? != content_of(b, new)?
            }
            (Node::Dir { .. }, Node::Dir { .. }) => false,
            (Node::Symlink { target: t1 }, Node::Symlink { target: t2 }) => t1 != t2,
            (n1, n2) => match (n1.special(), n2.special()) {
                (Some((k1, _, r1)), Some((k2, _, r2))) => (k1, r1) != (k2, r2),
                _ => true,
            },
        };
        let mode = |n: &Node| match n {
            Node::File { mode, .. }
            | Node::Dir { mode, .. }
            | Node::Fifo { mode }
            | Node::Char { mode, .. }
            | Node::Block { mode, .. } => Some(*mode),
            Node::Symlink { .. } => None,
        };
        // The old scripts' copies have `cp`'s mtimes, not the files' own.
        let legacy = a.manifest.legacy || b.manifest.legacy;
        let meta_differs = mode(&old.node) != mode(&new.node)
            || (!legacy && old.mtime != new.mtime)
            || (old.uid, old.gid) != (new.uid, new.gid)
            || (a.manifest.xattrs && b.manifest.xattrs && old.xattrs != new.xattrs);
        if content_differs {
            d.modified.push(path.to_string());
        } else if meta_differs {
            d.meta.push(path.to_string());
        }
    }
    Ok(d)
}

/// What differs between `snap` and the live tree under the store's root, as the restore
/// planner sees it (content by SHA-256; size and mtime with `quick`). Changes nothing.
pub fn against_live(store: &Store, snap: &Snapshot, quick: bool) -> Result<SnapshotDiff> {
    let plan = restore::plan(store, snap, Options { keep_extra: false, quick, after: None })?;
    let mut rewritten: std::collections::HashSet<String> = std::collections::HashSet::new();
    for step in plan.steps.iter() {
        match step? {
            Step::Remove { path }
            | Step::Write { path, .. }
            | Step::Link { path, .. }
            | Step::MkNod { path, .. }
            | Step::HardLink { path, .. } => {
                rewritten.insert(path);
            }
            _ => {}
        }
    }
    let (modified, meta) = plan.modified.iter().cloned().partition(|p| rewritten.contains(p.as_str()));
    // The plan takes the live tree back to the snapshot: what it creates was removed since,
    // what it removes was added.
    Ok(SnapshotDiff {
        from: snap.manifest.id.clone(),
        to: LIVE.to_string(),
        added: plan.removed,
        removed: plan.created,
        modified,
        meta,
        verified: snap.manifest.verified && !quick,
    })
}
