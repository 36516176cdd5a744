//! Recording a set's paths: the walk in path order ([`walk_items`]), each file copied into the
//! snapshot being built and hashed in the same read, and every entry handed on in batches, in
//! path order, to whoever writes the manifest. Memory holds one batch, the folders being
//! listed, one path per folder (to give it its mtime last) and the first name of each inode
//! with more than one link, not the set's entries: 100,000 files cost what 10,000 do.

use std::collections::HashMap;
use std::fs;
use std::iter::Peekable;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Context, Result, failed};
use crate::fsx::{self, Mode, Mtime};
use crate::manifest::{Entry, Exclude, Item, MANIFEST, META_DIR, Node, entry_of, stream, walk_items};
use crate::paths;

/// How many entries are recorded before their files are copied (on every core) and they are
/// handed on.
const BATCH: usize = 512;

/// An earlier snapshot of the same set to hard-link unchanged files from (as `rsync
/// --link-dest` and restic do): a file whose size, mtime, mode, owner, inode and ctime are
/// what that snapshot recorded has not changed since, so its copy and hash are reused. Its
/// manifest is read alongside the walk (both are in path order), never held whole.
pub struct LinkDest {
    /// The earlier snapshot's folder.
    pub dir: PathBuf,
    entries: Peekable<stream::Entries>,
}

impl LinkDest {
    /// Link from the snapshot stored in `dir` (its manifest is read as the walk goes).
    pub fn open(dir: &Path) -> Result<LinkDest> {
        let entries = stream::Entries::open(&dir.join(META_DIR).join(MANIFEST))?;
        Ok(LinkDest { dir: dir.to_path_buf(), entries: entries.peekable() })
    }

    /// The hash of the earlier copy of `now`, if the live file is unchanged since. Called in
    /// path order; an earlier manifest out of order only finds fewer files to link.
    fn unchanged(&mut self, now: &Entry) -> Option<String> {
        while self.entries.next_if(|e| e.path < now.path).is_some() {}
        let then = self.entries.next_if(|e| e.path == now.path)?;
        let Node::File { mode: m, size: s, sha256: Some(hash) } = then.node else { return None };
        let Node::File { mode, size, .. } = &now.node else { return None };
        let same = (m, s) == (*mode, *size)
            && then.mtime == now.mtime
            && (then.uid, then.gid, then.ino, then.ctime) == (now.uid, now.gid, now.ino, now.ctime)
            && now.ino.is_some()
            && crate::manifest::is_sha256(&hash);
        same.then_some(hash)
    }
}

/// What a capture counted, as it handed the entries on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Entries of every kind.
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Where a capture's entries go, a batch at a time, in path order.
pub type Sink<'s> = dyn FnMut(&[Entry]) -> Result<()> + 's;

/// Records `items` under `root`, handing every entry to `sink` in path order (each path once)
/// and returning the counts. With `dest`, puts each into `dest` at its relative path (files
/// copied and hashed in one read, on every core, or hard-linked from `link` when unchanged;
/// modes, mtimes and symlinks kept); without, only reads metadata (a dry run: no hashes).
/// `skip` is never entered (the store), nor what `exclude` excludes.
pub fn capture(
    root: &Path,
    items: &[Item],
    dest: Option<&Path>,
    skip: Option<&str>,
    exclude: &Exclude,
    link: Option<&mut LinkDest>,
    sink: &mut Sink<'_>,
) -> Result<Counted> {
    let mut c = Capture {
        root,
        dest,
        link,
        sink,
        batch: Vec::with_capacity(BATCH),
        jobs: Vec::new(),
        inodes: HashMap::new(),
        dir_times: Vec::new(),
        counted: Counted::default(),
        progress: crate::ui::Progress::open("backing up"),
        free: dest.and_then(fsx::free_space),
        need: (items, skip, exclude),
    };
    if let Some(dest) = dest {
        for item in items {
            ensure_parents(dest, &item.path)?;
        }
    }
    walk_items(root, items, skip, exclude, &mut |actual, rel, meta, shallow| {
        c.visit(actual, rel, meta, shallow)
    })?;
    c.flush()?;
    c.progress.finish();
    // Folders last and deepest first: writing inside a folder changes its mtime, and a
    // read-only folder could not be filled.
    c.dir_times.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode, mtime) in &c.dir_times {
        // Never a set-id folder in the store either (its real mode is in the manifest).
        fsx::set_mode(dir, Mode(mode.0 & 0o777))?;
        fsx::set_mtime(dir, *mtime)?;
    }
    Ok(c.counted)
}

/// A capture under way.
struct Capture<'a, 's> {
    root: &'a Path,
    dest: Option<&'a Path>,
    link: Option<&'a mut LinkDest>,
    sink: &'a mut Sink<'s>,
    /// The entries recorded and not yet handed on, in path order.
    batch: Vec<Entry>,
    /// The batch's files to put into the snapshot.
    jobs: Vec<FileJob>,
    /// The first name (in path order) of each inode with more than one link, and once it is
    /// copied its size and hash: the other names are links to that copy.
    inodes: HashMap<(u64, u64), (String, Option<fsx::Digest256>)>,
    /// The snapshot's folders, to give their mode and mtime once they are filled.
    dir_times: Vec<(PathBuf, Mode, Mtime)>,
    counted: Counted,
    progress: crate::ui::Progress,
    /// The space free in the store when it began, for the error of a full one.
    free: Option<u64>,
    /// What to walk again, to say how much the copies needed, if the store fills.
    need: (&'a [Item], Option<&'a str>, &'a Exclude),
}

/// A file to put into the snapshot being built.
struct FileJob {
    /// Its entry's place in the batch.
    at: usize,
    mtime: Mtime,
    /// The earlier snapshot's hash, when the file can be linked from it.
    linked: Option<String>,
    /// Its inode, when it is not the first name of it (a hard link of an earlier file).
    link_of: Option<(u64, u64)>,
    /// Its inode, when it is the first name of an inode with other names.
    first_of: Option<(u64, u64)>,
}

impl Capture<'_, '_> {
    fn visit(&mut self, actual: &Path, rel: &str, meta: &fs::Metadata, shallow: bool) -> Result<()> {
        let mut entry = entry_of(actual, rel, meta, shallow)?;
        let (mut link_of, mut first_of) = (None, None);
        if meta.is_file() && meta.nlink() > 1 {
            let inode = (meta.dev(), meta.ino());
            match self.inodes.get(&inode) {
                Some((first, _)) => {
                    entry.link = Some(first.clone());
                    link_of = Some(inode);
                }
                None => {
                    self.inodes.insert(inode, (rel.to_string(), None));
                    first_of = Some(inode);
                }
            }
        }
        if let Some(dest) = self.dest {
            let to = dest.join(paths::os(rel));
            match &entry.node {
                Node::File { .. } => {
                    let linked = match (&mut self.link, link_of) {
                        (Some(l), None) => l.unchanged(&entry),
                        _ => None,
                    };
                    self.jobs.push(FileJob {
                        at: self.batch.len(),
                        mtime: entry.mtime,
                        linked,
                        link_of,
                        first_of,
                    });
                }
                Node::Dir { mode, .. } => {
                    // A shallow folder may already be there as the parent of an item.
                    if !to.is_dir() {
                        fs::DirBuilder::new()
                            .mode(0o700)
                            .create(&to)
                            .ctx(|| format!("creating {}", to.display()))?;
                    }
                    self.dir_times.push((to, *mode, entry.mtime));
                }
                Node::Symlink { target } => {
                    symlink(paths::os(target), &to)
                        .ctx(|| format!("creating the symlink {}", to.display()))?;
                    fsx::set_symlink_mtime(&to, entry.mtime)?;
                }
                // Only the manifest keeps a fifo or device node: a device node in the store
                // would be one more way into the device.
                Node::Fifo { .. } | Node::Char { .. } | Node::Block { .. } => {}
            }
        }
        self.batch.push(entry);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Copies the batch's files (on every core), links the other names of their inodes, and
    /// hands the batch on.
    fn flush(&mut self) -> Result<()> {
        if let Some(dest) = self.dest {
            let (root, earlier, progress) =
                (self.root, self.link.as_ref().map(|l| l.dir.as_path()), &self.progress);
            let batch = &self.batch;
            let done: Vec<Result<fsx::Digest256>> = self
                .jobs
                .par_iter()
                .filter(|j| j.link_of.is_none())
                .map(|job| put_file(job, &batch[job.at], root, dest, earlier, progress))
                .collect();
            let copied = self.jobs.iter().filter(|j| j.link_of.is_none());
            for (job, result) in copied.zip(done) {
                let digest = match result {
                    Ok(d) => d,
                    Err(e) => return Err(self.copy_error(e, &self.batch[job.at].path)),
                };
                if let Some(inode) = job.first_of
                    && let Some((_, d)) = self.inodes.get_mut(&inode)
                {
                    *d = Some(digest.clone());
                }
                set_digest(&mut self.batch[job.at], digest);
            }
            // The other names of an inode: links to its first copy, with its size and hash.
            for job in self.jobs.iter().filter(|j| j.link_of.is_some()) {
                let Some((first, Some(digest))) = job.link_of.and_then(|i| self.inodes.get(&i)) else {
                    return Err(failed(format!("the first copy of {} is missing", self.batch[job.at].path)));
                };
                let (from, at) =
                    (dest.join(paths::os(first)), dest.join(paths::os(&self.batch[job.at].path)));
                fs::hard_link(&from, &at)
                    .ctx(|| format!("linking {} to {}", at.display(), from.display()))?;
                self.progress.add(digest.size);
                let digest = digest.clone();
                set_digest(&mut self.batch[job.at], digest);
            }
        }
        for e in &self.batch {
            self.counted.entries += 1;
            if let Node::File { size, .. } = e.node {
                self.counted.files += 1;
                self.counted.bytes += size;
            }
        }
        (self.sink)(&self.batch)?;
        self.batch.clear();
        self.jobs.clear();
        Ok(())
    }

    /// The error of a copy into the store that failed at `rel`: one that found the store full
    /// says how much all the copies need (a walk of the set again, reading only metadata) and
    /// how much was free, not only where it stopped.
    fn copy_error(&self, e: crate::error::Error, rel: &str) -> crate::error::Error {
        let (items, skip, exclude) = self.need;
        match (e.is_full(), self.free) {
            (true, Some(free)) => failed(format!(
                "its copies need {} and {} was free (it stopped at the copy of {})",
                indicatif::HumanBytes(set_bytes(self.root, items, skip, exclude)),
                indicatif::HumanBytes(free),
                paths::escaped(rel)
            ))
            .full(),
            _ => e,
        }
    }
}

/// Gives a file entry the size and hash of its copy.
fn set_digest(entry: &mut Entry, digest: fsx::Digest256) {
    if let Node::File { size, sha256, .. } = &mut entry.node {
        *size = digest.size;
        *sha256 = Some(digest.sha256);
    }
}

/// The bytes the files of `items` take, each inode once.
fn set_bytes(root: &Path, items: &[Item], skip: Option<&str>, exclude: &Exclude) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0;
    // Quietly: the first walk already warned of what it passes over.
    let _ = crate::ui::capture(|| {
        walk_items(root, items, skip, exclude, &mut |_, _, meta, _| {
            if meta.is_file() && (meta.nlink() == 1 || seen.insert((meta.dev(), meta.ino()))) {
                bytes += meta.len();
            }
            Ok(())
        })
    });
    bytes
}

/// Puts one file into the snapshot: a hard link to the earlier copy when it is unchanged
/// (falling back to a copy if the link cannot be made), else a copy hashed on the way.
fn put_file(
    job: &FileJob,
    entry: &Entry,
    root: &Path,
    dest: &Path,
    earlier: Option<&Path>,
    progress: &crate::ui::Progress,
) -> Result<fsx::Digest256> {
    fail::fail_point!("snapshot-file", |_| std::process::abort());
    // A snapshot being built stops at any stopping signal: it is not stored.
    crate::signals::check(0)?;
    let Node::File { mode, size, .. } = entry.node else {
        return Err(failed(format!("{} is not a file", paths::escaped(&entry.path))));
    };
    let rel = paths::os(&entry.path);
    let to = dest.join(&rel);
    let safe = fsx::store_mode(mode);
    // An earlier copy is shared only if it is as safe as a new one (an older rb kept set-id
    // bits in the store).
    if let (Some(hash), Some(earlier)) = (&job.linked, earlier)
        && fs::symlink_metadata(earlier.join(&rel)).is_ok_and(|m| Mode::of(&m) == safe)
        && fs::hard_link(earlier.join(&rel), &to).is_ok()
    {
        progress.add(size);
        return Ok(fsx::Digest256 { size, sha256: hash.clone() });
    }
    let digest = fsx::copy_new(&root.join(&rel), &to, safe, job.mtime)?;
    progress.add(digest.size);
    Ok(digest)
}

/// Creates the folders above `rel` inside a snapshot being built (0755; they are not entries).
fn ensure_parents(dest: &Path, rel: &str) -> Result<()> {
    if let Some(parent) = paths::parent(rel) {
        let dir = dest.join(paths::os(parent));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .ctx(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}
