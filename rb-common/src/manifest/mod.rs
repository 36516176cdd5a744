//! What a snapshot records: the manifest (`.rb/manifest.json`, the `snapshot` document), its
//! entries and their kinds, the ids of snapshots, and the checks every manifest read from the
//! store or from stdin passes before rb acts on it.
//!
//! What a manifest means for a restore: every entry is put back as recorded; a folder entry
//! means the folder's whole content was captured, so a restore removes what is in it now and
//! was not then (unless the entry is `shallow`: only the folder's own mode and mtime); a
//! `missing` path did not exist and is removed; a glob's matches that are not entries are
//! removed too. That is "restored exactly"; `rb-restore --keep-extra` merges instead.
//!
//! Plain data and pure checks, no store and no engine: the configuration, the store and both
//! engines build on it.

pub mod stream;
mod walk;

pub use walk::{Item, walk, walk_items};

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::doc::Document;
use crate::error::{Context, Result, failed, usage};
use crate::fsx::{self, Mode, Mtime};
use crate::paths::{self, check_rel};

/// The folder inside a snapshot that holds rb's own files.
pub const META_DIR: &str = ".rb";

/// The manifest's name inside [`META_DIR`].
pub const MANIFEST: &str = "manifest.json";

/// The checksum list's name inside [`META_DIR`].
pub const SUMS: &str = "SHA256SUMS";

/// The set name of the snapshots a restore takes of what it replaces.
pub const UNDO_SET: &str = "undo";

/// The `snapshot` document: what one snapshot holds. It is also the manifest on disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The snapshot id, `<set>_<YYYYMMDD_HHMMSS>` (a clash gets `-2`, `-3`, …); also its folder name.
    pub id: String,
    /// The set it is a snapshot of (`config`, `nginx`, an ad-hoc name, or `undo`).
    pub set: String,
    /// When it was taken, RFC 3339 with the local offset.
    pub created: String,
    /// The paths and globs the set named, as given.
    #[serde(with = "paths::list")]
    pub paths: Vec<String>,
    /// The globs among `paths`: a restore removes their current matches that are not entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globs: Vec<String>,
    /// The set's `exclude` globs when it was taken: those paths were not recorded, and a
    /// restore of this snapshot neither modifies nor removes them ([`Exclude`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Every file, folder and symlink recorded, sorted by path.
    pub entries: Vec<Entry>,
    /// Paths the set named that did not exist; a restore removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "paths::list")]
    pub missing: Vec<String>,
    /// Number of regular files.
    pub files: u64,
    /// Total size of the regular files in bytes.
    pub bytes: u64,
    /// True when every file has a SHA-256 to check (false for the old scripts' backups).
    pub verified: bool,
    /// True for a backup the seed's scripts made, read in place.
    #[serde(default, skip_serializing_if = "is_false")]
    pub legacy: bool,
    /// For an undo snapshot: the snapshot whose restore it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_for: Option<String>,
    /// True when this describes what would be taken (`--dry-run`); nothing was written.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// True when the entries record their extended attributes (ACLs, capabilities, `user.*`;
    /// an entry without `xattrs` has none). Manifests of older rb lack it: restoring one
    /// leaves extended attributes as they are.
    #[serde(default, skip_serializing_if = "is_false")]
    pub xattrs: bool,
    /// Why it was taken (`rb-snapshot --message "before 2.4 deploy"`), as kubectl's
    /// change-cause. Tags are not here: they change after the snapshot is taken, so they live
    /// in `.rb/tags` beside the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True for an ad-hoc snapshot (`rb-snapshot --name NAME PATH…`): never what `latest`
    /// means unless its set is named.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adhoc: bool,
    /// The snapshot's tags, from `.rb/tags` (filled in by a listing; never written to the
    /// manifest file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Document for Manifest {
    const KIND: &'static str = "snapshot";
    const SOURCE: &'static str = "rb-snapshot";
}

/// The `snapshot` document as the tools print it: what a snapshot is — its id, set, counts,
/// what was missing, why it was taken and its tags — without its entries. The manifest with
/// every entry stays in the store (`.rb/manifest.json`); `--manifest` prints it instead. A
/// restore given this document restores the snapshot its `id` names, from the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// The snapshot id (its folder in the store).
    pub id: String,
    /// Its set.
    pub set: String,
    /// When it was taken, RFC 3339 with the local offset.
    pub created: String,
    /// The paths and globs the set named, as given.
    #[serde(with = "paths::list")]
    pub paths: Vec<String>,
    /// The set's `exclude` globs when it was taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// How many entries (files, folders, symlinks, …) the manifest records.
    pub entries: u64,
    /// Paths the set named that did not exist; a restore removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "paths::list")]
    pub missing: Vec<String>,
    /// Number of regular files.
    pub files: u64,
    /// Total size of the regular files in bytes.
    pub bytes: u64,
    /// True when every file has a SHA-256 to check (false for the old scripts' backups).
    pub verified: bool,
    /// True for a backup the seed's scripts made, read in place.
    #[serde(default, skip_serializing_if = "is_false")]
    pub legacy: bool,
    /// For an undo snapshot: the snapshot whose restore it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_for: Option<String>,
    /// True when this describes what would be taken (`--dry-run`); nothing was written.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Why it was taken (`--message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True for an ad-hoc snapshot (`--name`): never what `latest` means.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adhoc: bool,
    /// Its tags (`rb-snapshot tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Document for Summary {
    const KIND: &'static str = "snapshot";
    const SOURCE: &'static str = "rb-snapshot";
}

impl From<&Manifest> for Summary {
    fn from(m: &Manifest) -> Summary {
        Summary::cloned(m, m.entries.len() as u64)
    }
}

impl Summary {
    /// The summary of `m`, a manifest no longer needed whose entries were counted as they
    /// streamed by (`entries`): its lists are moved, not copied (an undo's `missing` can name
    /// every file of a tree).
    pub fn of_head(m: Manifest, entries: u64) -> Summary {
        Summary {
            id: m.id,
            set: m.set,
            created: m.created,
            paths: m.paths,
            exclude: m.exclude,
            entries,
            missing: m.missing,
            files: m.files,
            bytes: m.bytes,
            verified: m.verified,
            legacy: m.legacy,
            undo_for: m.undo_for,
            dry_run: m.dry_run,
            message: m.message,
            adhoc: m.adhoc,
            tags: m.tags,
        }
    }

    /// The summary of `m` when it is still needed whole (its fields cloned, `entries` counted).
    fn cloned(m: &Manifest, entries: u64) -> Summary {
        Summary {
            id: m.id.clone(),
            set: m.set.clone(),
            created: m.created.clone(),
            paths: m.paths.clone(),
            exclude: m.exclude.clone(),
            entries,
            missing: m.missing.clone(),
            files: m.files,
            bytes: m.bytes,
            verified: m.verified,
            legacy: m.legacy,
            undo_for: m.undo_for.clone(),
            dry_run: m.dry_run,
            message: m.message.clone(),
            adhoc: m.adhoc,
            tags: m.tags.clone(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One recorded file-system object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Project-relative path, normalized (`core/config/settings/base.py`). A name that is not
    /// UTF-8 is written escaped (`caf\\xe9.py`) with its bytes in hex in `path_hex` beside
    /// it, which readers take instead ([`paths::flat`]).
    #[serde(flatten, with = "paths::flat")]
    pub path: String,
    /// What it is, with its type-specific fields.
    #[serde(flatten)]
    pub node: Node,
    /// Modification time, nanoseconds exact.
    pub mtime: Mtime,
    /// The owner's user id (restored when rb runs as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The owner's group id (restored when rb runs as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// A file's inode number, to tell the next snapshot it is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ino: Option<u64>,
    /// A file's ctime (any change to it moves it), to tell the next snapshot it is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime: Option<Mtime>,
    /// The extended attributes of a file or folder that rb keeps (`user.*`, the POSIX ACLs
    /// `system.posix_acl_access`/`_default`, `security.capability`), values in hex. Only here:
    /// the copy in the store has none, so it never carries a capability.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: fsx::Xattrs,
    /// For a file that is a hard link of another file of the set: that file's path (the
    /// first of them in path order). A restore makes it a link again, not a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A file with holes (sparse): its copies keep them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sparse: bool,
}

/// The type of an [`Entry`] and what goes with it; `"type"` in JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Node {
    /// A regular file.
    File {
        /// Permission bits, octal text.
        mode: Mode,
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the content, lowercase hex; absent in legacy snapshots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// A folder.
    Dir {
        /// Permission bits, octal text.
        mode: Mode,
        /// Only the folder itself was recorded, not its content: a restore sets its mode and
        /// mtime and leaves what is inside alone.
        #[serde(default, skip_serializing_if = "is_false")]
        shallow: bool,
    },
    /// A symbolic link, recorded as a link (never followed).
    Symlink {
        /// The link's target, as `readlink` gives it (not UTF-8: `{"path", "path_hex"}`).
        #[serde(with = "paths::one")]
        target: String,
    },
    /// A named pipe: made again empty, with its mode (nothing is kept in the store).
    Fifo {
        /// Permission bits, octal text.
        mode: Mode,
    },
    /// A character device node: made again with its device number (root only).
    Char {
        /// Permission bits, octal text.
        mode: Mode,
        /// The device number (`st_rdev`).
        rdev: u64,
    },
    /// A block device node: made again with its device number (root only).
    Block {
        /// Permission bits, octal text.
        mode: Mode,
        /// The device number (`st_rdev`).
        rdev: u64,
    },
}

impl Node {
    /// For a fifo or device node: its file type, mode and device number, to make it again.
    pub fn special(&self) -> Option<(Special, Mode, u64)> {
        match *self {
            Node::Fifo { mode } => Some((Special::Fifo, mode, 0)),
            Node::Char { mode, rdev } => Some((Special::Char, mode, rdev)),
            Node::Block { mode, rdev } => Some((Special::Block, mode, rdev)),
            _ => None,
        }
    }
}

/// The kinds of special file a snapshot records (sockets cannot be kept: their program
/// makes them again).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Special {
    /// A named pipe.
    Fifo,
    /// A character device.
    Char,
    /// A block device.
    Block,
}

impl Special {
    /// The kind of special file `meta` is, if it is one rb records.
    pub fn of(meta: &fs::Metadata) -> Option<Special> {
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        if ft.is_fifo() {
            Some(Special::Fifo)
        } else if ft.is_char_device() {
            Some(Special::Char)
        } else if ft.is_block_device() {
            Some(Special::Block)
        } else {
            None
        }
    }
}

/// True for a Unix socket: never recorded (it cannot be copied, and the program that listens
/// on it makes a new one when it starts), so a restore removes one and names it.
pub fn is_socket(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_socket()
}

impl Entry {
    /// True for a folder whose whole content was recorded.
    pub fn is_full_dir(&self) -> bool {
        matches!(self.node, Node::Dir { shallow: false, .. })
    }
}

/// A set's `exclude` globs, compiled: paths a snapshot never records and a restore never
/// modifies or removes. A glob without a `/` (but a trailing one) matches a name at any
/// depth, as in `.gitignore`; one with a `/` matches the project-relative path from the root;
/// a trailing `/` matches folders only. What is inside a match is excluded with it.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    /// (pattern, matches the whole path rather than a name, folders only)
    globs: Vec<(glob::Pattern, bool, bool)>,
}

impl Exclude {
    /// Compiles `specs`, refusing (exit 2) one that is empty, absolute, has `..` or is not a glob.
    pub fn new(specs: &[String]) -> Result<Exclude> {
        let mut globs = Vec::new();
        for spec in specs {
            let dir_only = spec.ends_with('/');
            let body = spec.strip_suffix('/').unwrap_or(spec);
            if body.is_empty() || body.starts_with('/') || body.split('/').any(|p| p == ".." || p.is_empty())
            {
                return Err(usage(format!(
                    "exclude {spec:?}: a glob relative to the root (`logs/`, `*.pid`, `nginx/temp/*`)"
                )));
            }
            let pattern = glob::Pattern::new(body).map_err(|e| usage(format!("exclude {spec:?}: {e}")))?;
            globs.push((pattern, body.contains('/'), dir_only));
        }
        Ok(Exclude { globs })
    }

    /// True when there is nothing to exclude.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// True when `rel` (a folder when `is_dir`) or a folder above it is excluded.
    pub fn excludes(&self, rel: &str, is_dir: bool) -> bool {
        if self.globs.is_empty() {
            return false;
        }
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        // `rel` itself, then each folder above it (a folder: trailing-`/` globs apply).
        let mut at = Some(rel);
        let mut dir = is_dir;
        while let Some(path) = at {
            let name = path.rsplit('/').next().unwrap_or(path);
            let hit = self.globs.iter().any(|(g, whole, dir_only)| {
                (!dir_only || dir) && g.matches_with(if *whole { path } else { name }, opts)
            });
            if hit {
                return true;
            }
            at = paths::parent(path);
            dir = true;
        }
        false
    }

    /// [`Exclude::excludes`] for a path of the live tree under `root` (read with `lstat`: a
    /// symlink to a folder is not a folder).
    pub fn excludes_live(&self, root: &Path, rel: &str) -> bool {
        !self.globs.is_empty()
            && self.excludes(rel, fs::symlink_metadata(root.join(paths::os(rel))).is_ok_and(|m| m.is_dir()))
    }
}

/// True if `spec` is a glob rather than a literal path.
pub fn is_glob(spec: &str) -> bool {
    spec.contains(['*', '?', '['])
}

/// Checks a set's path or glob as text: relative, no `..`, a trailing `/` allowed.
pub fn check_spec(spec: &str) -> Result<&str> {
    let rel = spec.strip_suffix('/').unwrap_or(spec);
    check_rel(rel, "path")?;
    if rel == META_DIR || rel.starts_with(".rb/") {
        return Err(usage(format!("{spec:?}: `.rb` at the project root is reserved for rb's own files")));
    }
    Ok(rel)
}

/// The entry for a file-system object, without a hash (added by the caller that reads it).
pub fn entry_of(actual: &Path, rel: &str, meta: &fs::Metadata, shallow: bool) -> Result<Entry> {
    use std::os::unix::fs::MetadataExt;
    let ft = meta.file_type();
    let mode = Mode::of(meta);
    let node = if ft.is_symlink() {
        let target = fs::read_link(actual).ctx(|| format!("reading the symlink {}", paths::escaped(rel)))?;
        Node::Symlink { target: paths::from_os(target.as_os_str()).into_owned() }
    } else if ft.is_dir() {
        Node::Dir { mode, shallow }
    } else if ft.is_file() {
        Node::File { mode, size: meta.len(), sha256: None }
    } else {
        match Special::of(meta) {
            Some(Special::Fifo) => Node::Fifo { mode },
            Some(Special::Char) => Node::Char { mode, rdev: meta.rdev() },
            Some(Special::Block) => Node::Block { mode, rdev: meta.rdev() },
            None => {
                return Err(failed(format!(
                    "{} is a socket; rb does not record sockets",
                    paths::escaped(rel)
                )));
            }
        }
    };
    let file = matches!(node, Node::File { .. });
    let xattrs = match ft.is_file() || ft.is_dir() {
        true => fsx::read_xattrs(actual)?,
        false => fsx::Xattrs::new(),
    };
    Ok(Entry {
        path: rel.to_string(),
        node,
        mtime: Mtime::of(meta),
        uid: Some(meta.uid()),
        gid: Some(meta.gid()),
        ino: file.then(|| meta.ino()),
        ctime: file.then(|| Mtime { secs: meta.ctime(), nanos: meta.ctime_nsec() as u32 }),
        xattrs,
        link: None,
        sparse: file && fsx::has_holes(meta),
    })
}

/// Counts files and bytes of `entries`.
pub fn totals(entries: &[Entry]) -> (u64, u64) {
    entries.iter().fold((0, 0), |(n, b), e| match e.node {
        Node::File { size, .. } => (n + 1, b + size),
        _ => (n, b),
    })
}

/// The `.rb/SHA256SUMS` text, in `sha256sum`'s format (names with a backslash or newline
/// escaped as GNU coreutils does, so `sha256sum -c` reads every line; names that are not
/// UTF-8 as their raw bytes, as `sha256sum` writes them).
pub fn sums_text(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = write_sums(entries, &mut out);
    out
}

/// Writes [`sums_text`] to `out` line by line (never the whole text in memory).
pub fn write_sums(entries: &[Entry], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for e in entries {
        if let Node::File { sha256: Some(h), .. } = &e.node {
            let name = paths::raw(&e.path);
            if name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
                let mut line = Vec::with_capacity(name.len() + 70);
                line.push(b'\\');
                line.extend_from_slice(h.as_bytes());
                line.extend_from_slice(b"  ");
                for b in name.iter() {
                    match b {
                        b'\\' => line.extend_from_slice(b"\\\\"),
                        b'\n' => line.extend_from_slice(b"\\n"),
                        b'\r' => line.extend_from_slice(b"\\r"),
                        b => line.push(*b),
                    }
                }
                line.push(b'\n');
                out.write_all(&line)?;
            } else {
                out.write_all(h.as_bytes())?;
                out.write_all(b"  ")?;
                out.write_all(&name)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// True for a SHA-256 as a manifest writes it: 64 hex digits.
pub fn is_sha256(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An id split into its parts: `test_config_20251013_120000-2` → (`test_config`,
/// `20251013_120000`, 2).
pub fn parse_id(id: &str) -> Option<(&str, &str, u32)> {
    let (body, suffix) = match id.rsplit_once('-') {
        Some((body, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && body.len() > 16 => {
            (body, n.parse().ok()?)
        }
        _ => (id, 1),
    };
    if body.len() < 17 || !body.is_char_boundary(body.len() - 16) {
        return None;
    }
    let (set, stamp) = body.split_at(body.len() - 16);
    let stamp = stamp.strip_prefix('_')?;
    let b = stamp.as_bytes();
    let ok = b.len() == 15 && b[8] == b'_' && b.iter().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit());
    (ok && !set.is_empty()).then_some((set, stamp, suffix))
}

/// Checks that `id` is a plain name that cannot leave the store.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id.contains('\0') || id.starts_with('.') {
        return Err(usage(format!("{id:?} is not a snapshot id (such as config_20251013_120000)")));
    }
    Ok(())
}

/// Checks what an entry asks a restore to set: a mode within the permission bits, owner ids
/// that are ids, and only the extended attributes rb restores.
fn check_entry_meta(e: &Entry) -> Result<()> {
    let what = format!("entry {:?}", paths::escaped(&e.path));
    if let Node::File { mode, .. }
    | Node::Dir { mode, .. }
    | Node::Fifo { mode }
    | Node::Char { mode, .. }
    | Node::Block { mode, .. } = &e.node
    {
        mode.check(&what)?;
    }
    for id in e.uid.iter().chain(&e.gid) {
        fsx::check_id(*id, &what)?;
    }
    check_xattr_names(e.xattrs.keys(), &what)
}

/// Refuses extended attributes rb does not restore (`trusted.*`, `security.selinux`, …).
pub fn check_xattr_names<'a>(names: impl IntoIterator<Item = &'a String>, what: &str) -> Result<()> {
    match names.into_iter().find(|n| !fsx::is_kept_xattr(n)) {
        Some(n) => Err(usage(format!("{what} has the extended attribute {n:?}, which rb does not restore"))),
        None => Ok(()),
    }
}

/// Checks every path in a manifest (relative, inside the root, no entry below a non-folder),
/// so that a manifest cannot make a restore write outside the root.
pub fn check_manifest(m: &Manifest) -> Result<()> {
    let mut checker = Checker::default();
    for e in &m.entries {
        checker.entry(e)?;
    }
    if checker.has_links() {
        m.entries.iter().for_each(|e| checker.target(e));
    }
    checker.finish(m)
}

/// The checks of [`check_manifest`], an entry at a time, for a manifest read as a stream:
/// memory grows with the hard links it has, not with its entries. Every entry goes to
/// [`Checker::entry`] in file order; when [`Checker::has_links`], every entry once more to
/// [`Checker::target`]; then [`Checker::finish`] with the manifest's other fields.
#[derive(Debug, Default)]
pub struct Checker {
    /// The first file without a SHA-256 (only a legacy or dry-run manifest may have one).
    unhashed: Option<String>,
    /// The previous entry's path: entries are sorted, so that a folder is always planned
    /// before what is in it (and none appears twice).
    prev: Option<String>,
    /// The non-folders an entry could still be below: in sorted path text, what is below
    /// `a` (`a/…`) comes after `a`, but names such as `a-c` or `a.txt` can come between.
    open: Vec<String>,
    /// The files hard links name, each with the first link that names it, until the second
    /// pass finds it a file of the snapshot.
    links: BTreeMap<String, String>,
}

impl Checker {
    /// Checks the next entry.
    pub fn entry(&mut self, e: &Entry) -> Result<()> {
        if let Node::File { sha256: None, .. } = e.node
            && self.unhashed.is_none()
        {
            self.unhashed = Some(e.path.clone());
        }
        paths::check_rel(&e.path, "entry").map_err(|e| e.with_kind(crate::error::Kind::Usage))?;
        if e.path == META_DIR || e.path.starts_with(".rb/") {
            return Err(usage(format!("entry {:?} is inside rb's reserved .rb folder", e.path)));
        }
        match &self.prev {
            Some(prev) if *prev == e.path => return Err(usage(format!("entry {:?} appears twice", e.path))),
            Some(prev) if *prev > e.path => {
                return Err(usage(format!("entries are not sorted by path: {prev:?} before {:?}", e.path)));
            }
            _ => {}
        }
        if let Node::File { sha256: Some(h), .. } = &e.node
            && !is_sha256(h)
        {
            return Err(usage(format!("entry {:?} has a malformed sha256", e.path)));
        }
        check_entry_meta(e)?;
        // A non-folder whose `name/` range the entries have passed can hold nothing more.
        let path = e.path.as_str();
        self.open.retain(|f| !passed(f, path));
        if let Some(f) = self.open.iter().find(|f| paths::is_under(path, f)) {
            return Err(usage(format!("entry {path:?} is inside {f:?}, which is not a folder")));
        }
        if !matches!(e.node, Node::Dir { .. }) {
            self.open.push(e.path.clone());
        }
        if let Some(to) = &e.link {
            if !(to.as_str() < path && matches!(e.node, Node::File { .. })) {
                return Err(not_a_first_name(path, to));
            }
            self.links.entry(to.clone()).or_insert_with(|| e.path.clone());
        }
        self.prev = Some(e.path.clone());
        Ok(())
    }

    /// True when hard links name files that the second pass ([`Checker::target`]) must find.
    pub fn has_links(&self) -> bool {
        !self.links.is_empty()
    }

    /// The second pass: an entry that hard links name is found, when it is a file that is no
    /// link itself.
    pub fn target(&mut self, e: &Entry) {
        if matches!(e.node, Node::File { .. }) && e.link.is_none() {
            self.links.remove(&e.path);
        }
    }

    /// Checks the manifest's own fields (`head`: its id, `missing` paths and globs) and
    /// refuses it when a hard link names anything but an earlier file of it.
    pub fn finish(self, head: &Manifest) -> Result<()> {
        if let Some(path) = self.unhashed
            && !head.legacy
            && !head.dry_run
        {
            return Err(usage(format!("entry {path:?} has no sha256")));
        }
        if let Some((to, path)) = self.links.into_iter().next() {
            return Err(not_a_first_name(&path, &to));
        }
        check_id(&head.id)?;
        for p in &head.missing {
            paths::check_rel(p, "missing path")?;
        }
        for g in &head.globs {
            check_spec(g)?;
        }
        Ok(())
    }
}

/// True when sorted path text has passed everything below `folder`: `p` is after `folder/`
/// and not below it.
pub fn passed(folder: &str, p: &str) -> bool {
    match p.strip_prefix(folder) {
        // `folder` itself, below it (`/`), or a name such as `folder-c` that sorts before it.
        Some(rest) => rest.as_bytes().first().is_some_and(|&b| b > b'/'),
        // Another name: differing within `folder`'s length, it sorts after all of `folder/`.
        None => p > folder,
    }
}

fn not_a_first_name(path: &str, to: &str) -> crate::error::Error {
    usage(format!("entry {path:?} is a hard link of {to:?}, which is not an earlier file of the snapshot"))
}

#[cfg(test)]
mod tests {
    use super::passed;

    #[test]
    fn sorted_path_text_passes_a_folder_only_after_everything_below_it() {
        let cases = [
            ("a", "a", false),
            ("a", "a-c", false),   // sorts between `a` and `a/…`
            ("a", "a.txt", false), // so does this
            ("a", "a/b", false),
            ("a", "a/b/c", false),
            ("a", "a0", true),
            ("a", "b", true),
            ("a/b", "a/c", true),
            ("a/b", "a/b-c/d", false),
            ("a/b", "a/a", false),
        ];
        for (folder, p, want) in cases {
            assert_eq!(passed(folder, p), want, "passed({folder:?}, {p:?})");
        }
    }
}
