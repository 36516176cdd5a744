//! The snapshot engine: what a snapshot records (the manifest), and taking one.
//!
//! A snapshot is a folder in the store holding the files at their project-relative places
//! (so `cp -r backups/config_X/* ./` still works by hand) plus `.rb/manifest.json`, the
//! `snapshot` document, and `.rb/SHA256SUMS`, which `sha256sum -c` checks from inside the
//! folder. It is built under `backups/.rb/tmp/` and renamed into place only when complete and
//! synced, so a snapshot that is visible is whole.
//!
//! What a manifest means for a restore: every entry is put back as recorded; a folder entry
//! means the folder's whole content was captured, so a restore removes what is in it now and
//! was not then (unless the entry is `shallow`: only the folder's own mode and mtime); a
//! `missing` path did not exist and is removed; a glob's matches that are not entries are
//! removed too. That is "restored exactly"; `rb-restore --keep-extra` merges instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::clock;
use crate::error::{Context, ErrContext, Result, failed, usage};
use crate::fsx::{self, Mode, Mtime};
use crate::paths::{self};
use crate::store::{Event, Store};

pub use crate::manifest::{
    Entry, Exclude, MANIFEST, META_DIR, Manifest, Node, SUMS, Special, UNDO_SET, check_spec, entry_of,
    is_glob, is_socket, sums_text, totals, walk, write_sums,
};

/// One path to record: the whole of it, or (for a folder) only the folder itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Project-relative path.
    pub path: String,
    /// Record only the folder's mode and mtime, not its content.
    pub shallow: bool,
}

/// A set's paths resolved against the live tree.
#[derive(Debug, Default)]
pub struct Expanded {
    /// What exists, to record.
    pub items: Vec<Item>,
    /// Literal paths that do not exist.
    pub missing: Vec<String>,
    /// The glob specs.
    pub globs: Vec<String>,
}

/// Expands glob `spec` against the live tree: matching paths, relative and sorted.
pub fn glob_matches(root: &Path, spec: &str) -> Result<Vec<String>> {
    let root_text = paths::utf8(root)?;
    let pattern = format!("{}/{spec}", glob::Pattern::escape(root_text));
    let walker = glob::glob(&pattern).map_err(|e| usage(format!("glob {spec:?}: {e}")))?;
    // The glob crate matches names that are not UTF-8 too (lossily); they are taken as found.
    let mut out = Vec::new();
    for hit in walker {
        let hit = hit.ctx(|| format!("expanding {spec:?}"))?;
        let rel = paths::relative_to(root, &hit)?;
        paths::check_ancestors(root, &rel)?;
        out.push(rel);
    }
    out.sort();
    Ok(out)
}

/// Resolves a set's specs against the live tree under `root`. The folders above each path
/// are recorded too, shallow (their own mode and mtime), so that a restore leaves them
/// exactly as they were as well: a restore changes their entries, and with them their mtimes.
/// Paths `exclude` excludes are left out (a literal one as if it were not named).
pub fn expand(root: &Path, specs: &[String], store: Option<&str>, exclude: &Exclude) -> Result<Expanded> {
    let in_store = |rel: &str| store.is_some_and(|s| rel == s || paths::is_under(rel, s));
    let mut x = Expanded::default();
    let mut items: BTreeMap<String, bool> = BTreeMap::new(); // path -> shallow
    // A folder above is recorded only when it is a real folder: one reached through a
    // symlink (inside the root, or `check_ancestors` refuses it) is not the snapshot's to keep.
    let real_dir = |rel: &str| fs::symlink_metadata(root.join(paths::os(rel))).is_ok_and(|m| m.is_dir());
    let add = |rel: &str, items: &mut BTreeMap<String, bool>| {
        items.insert(rel.to_string(), false);
        let mut at = rel;
        while let Some(parent) = paths::parent(at) {
            if real_dir(parent) {
                items.entry(parent.to_string()).or_insert(true);
            }
            at = parent;
        }
    };
    for spec in specs {
        let rel = check_spec(spec)?;
        if in_store(rel) {
            return Err(usage(format!(
                "{spec:?} is inside the store {}; rb does not back up its backups",
                store.unwrap_or_default()
            )));
        }
        if is_glob(rel) {
            x.globs.push(rel.to_string());
            for hit in glob_matches(root, rel)?
                .into_iter()
                .filter(|h| !in_store(h) && !exclude.excludes_live(root, h))
            {
                add(&hit, &mut items);
            }
            continue;
        }
        paths::check_ancestors(root, rel)?;
        match fs::symlink_metadata(root.join(rel)) {
            Ok(meta) if exclude.excludes(rel, meta.is_dir()) => {}
            Ok(_) => add(rel, &mut items),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => x.missing.push(rel.to_string()),
            Err(e) => return Err(failed(format!("reading {rel}: {e}"))),
        }
    }
    // The folders that do exist above a missing path: removing it later changes them.
    for rel in &x.missing {
        let mut at = rel.as_str();
        while let Some(parent) = paths::parent(at) {
            if real_dir(parent) {
                items.entry(parent.to_string()).or_insert(true);
            }
            at = parent;
        }
    }
    x.items = items.into_iter().map(|(path, shallow)| Item { path, shallow }).collect();
    x.missing.sort();
    x.missing.dedup();
    Ok(x)
}

/// An earlier snapshot of the same set to hard-link unchanged files from (as `rsync
/// --link-dest` and restic do): a file whose size, mtime, mode, owner, inode and ctime are
/// what that snapshot recorded has not changed since, so its copy and hash are reused.
pub struct LinkDest<'a> {
    /// The earlier snapshot's folder.
    pub dir: &'a Path,
    /// Its entries, sorted by path (as a stored manifest's are): found by binary search,
    /// without an index of their own.
    pub entries: &'a [Entry],
}

impl<'a> LinkDest<'a> {
    /// Link from `manifest`, stored in `dir`.
    pub fn new(dir: &'a Path, manifest: &'a Manifest) -> Self {
        LinkDest { dir, entries: &manifest.entries }
    }

    /// The hash of the earlier copy of `now`, if the live file is unchanged since.
    fn unchanged(&self, now: &Entry) -> Option<&'a str> {
        let at = self.entries.binary_search_by(|e| e.path.as_str().cmp(&now.path)).ok()?;
        let then = &self.entries[at];
        let Node::File { mode: m, size: s, sha256: Some(hash) } = &then.node else { return None };
        let Node::File { mode, size, .. } = &now.node else { return None };
        let same = (m, s) == (mode, size)
            && then.mtime == now.mtime
            && (then.uid, then.gid, then.ino, then.ctime) == (now.uid, now.gid, now.ino, now.ctime)
            && now.ino.is_some();
        same.then_some(hash.as_str())
    }
}

/// A file to put into a snapshot being built (paths are made when it is done: on a large
/// tree, holding two full paths per file costs more memory than the manifest).
struct FileJob<'a> {
    rel: String,
    mode: Mode,
    mtime: Mtime,
    size: u64,
    /// The earlier snapshot's hash, when the file can be linked from it.
    linked: Option<&'a str>,
    /// The file of this snapshot it is a hard link of, if any.
    link_to: Option<String>,
}

/// Records `items` under `root`. With `dest`, puts each into `dest` at its relative path
/// (files copied and hashed in one read, on every core, or hard-linked from `link` when
/// unchanged; modes, mtimes and symlinks kept); without, only reads metadata (a dry run).
/// `skip` is never entered (the store), nor what `exclude` excludes. Returns the entries
/// sorted by path, each path once.
pub fn capture<'a>(
    root: &Path,
    items: &[Item],
    dest: Option<&Path>,
    skip: Option<&str>,
    exclude: &Exclude,
    link: Option<&LinkDest<'a>>,
) -> Result<Vec<Entry>> {
    // A plain list, sorted once at the end: a map's nodes cost more than the entries (100,000
    // files). Each path is recorded once because an item already inside a folder walked
    // whole is not walked again.
    let mut entries: Vec<Entry> = Vec::new();
    let mut walked_whole: HashSet<&str> = HashSet::new();
    let mut dir_times: Vec<(PathBuf, Mode, Mtime)> = Vec::new();
    let mut jobs: Vec<FileJob<'a>> = Vec::new();
    // Files with more than one link, to find those of the set that share an inode.
    let mut inodes: Vec<(String, u64, u64)> = Vec::new();
    // Parents before children, so a folder recorded whole covers what is listed inside it.
    let mut items: Vec<&Item> = items.iter().collect();
    items.sort_by(|a, b| a.path.cmp(&b.path));
    for item in items {
        let mut at = Some(item.path.as_str());
        let mut covered = false;
        while let Some(p) = at {
            covered |= walked_whole.contains(p);
            at = paths::parent(p);
        }
        if covered {
            continue;
        }
        if !item.shallow {
            walked_whole.insert(&item.path);
        }
        if let Some(dest) = dest {
            ensure_parents(dest, &item.path)?;
        }
        let mut visit = |actual: &Path, rel: &str, meta: &fs::Metadata| -> Result<()> {
            let entry = entry_of(actual, rel, meta, item.shallow && rel == item.path)?;
            {
                use std::os::unix::fs::MetadataExt;
                if meta.is_file() && meta.nlink() > 1 {
                    inodes.push((rel.to_string(), meta.dev(), meta.ino()));
                }
            }
            if let Some(dest) = dest {
                let to = dest.join(paths::os(rel));
                match &entry.node {
                    Node::File { mode, size, .. } => jobs.push(FileJob {
                        rel: rel.to_string(),
                        mode: *mode,
                        mtime: entry.mtime,
                        size: *size,
                        linked: link.and_then(|l| l.unchanged(&entry)),
                        link_to: None,
                    }),
                    Node::Dir { mode, .. } => {
                        // A shallow folder may already be there as the parent of an item.
                        if !to.is_dir() {
                            fs::DirBuilder::new()
                                .mode(0o700)
                                .create(&to)
                                .ctx(|| format!("creating {}", to.display()))?;
                        }
                        dir_times.push((to, *mode, entry.mtime));
                    }
                    Node::Symlink { target } => {
                        symlink(paths::os(target), &to)
                            .ctx(|| format!("creating the symlink {}", to.display()))?;
                        fsx::set_symlink_mtime(&to, entry.mtime)?;
                    }
                    // Only the manifest keeps a fifo or device node: a device node in the
                    // store would be one more way into the device.
                    Node::Fifo { .. } | Node::Char { .. } | Node::Block { .. } => {}
                }
            }
            entries.push(entry);
            Ok(())
        };
        walk(&root.join(paths::os(&item.path)), &item.path, item.shallow, skip, exclude, &mut visit)?;
    }
    // Hard links within the set: every file after the first of an inode (in path order)
    // records it, and its copy in the store is a link to that first copy.
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    // Never expected (see above), but a path twice would make the manifest unreadable.
    entries.dedup_by(|a, b| a.path == b.path);
    let find = |entries: &[Entry], rel: &str| entries.binary_search_by(|e| e.path.as_str().cmp(rel)).ok();
    let links = shared_inodes(&mut entries, inodes);
    for job in &mut jobs {
        job.link_to = links.get(&job.rel).cloned();
    }
    let total: u64 = jobs.iter().map(|j| j.size).sum();
    let progress = crate::ui::Progress::new("backing up", jobs.len() as u64, total);
    if let Some(dest) = dest {
        let earlier = link.map(|l| l.dir);
        let (linked, copied): (Vec<&FileJob>, Vec<&FileJob>) = jobs.iter().partition(|j| j.link_to.is_some());
        let free = fsx::free_space(dest);
        let done: Vec<Result<fsx::Digest256>> =
            copied.par_iter().map(|job| put_file(job, root, dest, earlier, &progress)).collect();
        for (job, result) in copied.iter().zip(done) {
            let digest =
                result.map_err(|e| copy_error(e, free, copied.iter().map(|j| j.size).sum(), &job.rel))?;
            if let Some(Entry { node: Node::File { size, sha256, .. }, .. }) =
                find(&entries, &job.rel).map(|i| &mut entries[i])
            {
                *size = digest.size;
                *sha256 = Some(digest.sha256);
            }
        }
        // The other names of an inode: links to its first copy, with its size and hash.
        for job in linked {
            let to = job.link_to.as_deref().unwrap_or_default();
            let (from, at) = (dest.join(paths::os(to)), dest.join(paths::os(&job.rel)));
            fs::hard_link(&from, &at).ctx(|| format!("linking {} to {}", at.display(), from.display()))?;
            let node = find(&entries, to).map(|i| entries[i].node.clone());
            if let (
                Some(Node::File { size: s, sha256: h, .. }),
                Some(Entry { node: Node::File { size, sha256, .. }, .. }),
            ) = (node, find(&entries, &job.rel).map(|i| &mut entries[i]))
            {
                *size = s;
                *sha256 = h;
            }
            progress.add(job.size);
        }
        progress.finish();
    }
    // Folders last and deepest first: writing inside a folder changes its mtime, and a
    // read-only folder could not be filled.
    dir_times.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode, mtime) in dir_times {
        // Never a set-id folder in the store either (its real mode is in the manifest).
        fsx::set_mode(&dir, Mode(mode.0 & 0o777))?;
        fsx::set_mtime(&dir, mtime)?;
    }
    entries.shrink_to_fit();
    Ok(entries)
}

/// Puts one file into the snapshot: a hard link to the earlier copy when it is unchanged
/// (falling back to a copy if the link cannot be made), else a copy hashed on the way.
/// The files of `entries` (sorted by path) that share an inode with an earlier one, from
/// `inodes` (path, device, inode of every file with more than one link): each is marked with
/// the first name of its inode, and the map from its path to that name is returned.
fn shared_inodes(entries: &mut [Entry], mut inodes: Vec<(String, u64, u64)>) -> HashMap<String, String> {
    let find = |entries: &[Entry], rel: &str| entries.binary_search_by(|e| e.path.as_str().cmp(rel)).ok();
    inodes.sort();
    let mut first: HashMap<(u64, u64), String> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    for (rel, dev, ino) in inodes {
        match first.get(&(dev, ino)) {
            Some(to) => {
                links.insert(rel, to.clone());
            }
            None => {
                first.insert((dev, ino), rel);
            }
        }
    }
    for (rel, to) in &links {
        if let Some(e) = find(entries, rel).map(|i| &mut entries[i]) {
            e.link = Some(to.clone());
        }
    }
    links
}

/// The error of a copy into the store that failed at `rel`: one that found the store full
/// says how much all the copies needed (`need`) and how much was `free`, not only where it
/// stopped.
fn copy_error(e: crate::error::Error, free: Option<u64>, need: u64, rel: &str) -> crate::error::Error {
    match (e.is_full(), free) {
        (true, Some(free)) => failed(format!(
            "its copies need {} and {} was free (it stopped at the copy of {})",
            indicatif::HumanBytes(need),
            indicatif::HumanBytes(free),
            paths::escaped(rel)
        ))
        .full(),
        _ => e,
    }
}

fn put_file(
    job: &FileJob,
    root: &Path,
    dest: &Path,
    earlier: Option<&Path>,
    progress: &crate::ui::Progress,
) -> Result<fsx::Digest256> {
    fail::fail_point!("snapshot-file", |_| std::process::abort());
    // A snapshot being built stops at any stopping signal: it is not stored.
    crate::signals::check(0)?;
    let rel = paths::os(&job.rel);
    let to = dest.join(&rel);
    let safe = fsx::store_mode(job.mode);
    // An earlier copy is shared only if it is as safe as a new one (an older rb kept set-id
    // bits in the store).
    if let (Some(hash), Some(earlier)) = (&job.linked, earlier)
        && fs::symlink_metadata(earlier.join(&rel)).is_ok_and(|m| Mode::of(&m) == safe)
        && fs::hard_link(earlier.join(&rel), &to).is_ok()
    {
        progress.add(job.size);
        return Ok(fsx::Digest256 { size: job.size, sha256: hash.to_string() });
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

/// What to take: a set name, its specs, and for undo snapshots what they undo.
#[derive(Debug, Clone)]
pub struct Request {
    /// The set name (becomes the id's prefix).
    pub set: String,
    /// The paths and globs as the set names them.
    pub specs: Vec<String>,
    /// Only describe what would be taken.
    pub dry_run: bool,
    /// Hard-link files unchanged since the set's previous snapshot (`--no-link` turns it off).
    pub link: bool,
    /// The set's `exclude` globs: never recorded (and recorded in the manifest as such).
    pub exclude: Vec<String>,
    /// Why it is taken (`--message`), kept in the manifest.
    pub message: Option<String>,
    /// Whether `latest` moves to it: not for an ad-hoc (`--name`) snapshot.
    pub move_latest: bool,
}

/// Resolves what `req` would record, refusing (exit 2, nothing touched) paths that leave
/// the root or reach into the store, and a set none of whose paths exist (the wrong folder).
pub fn resolve(store: &Store, req: &Request) -> Result<Expanded> {
    let x = expand(&store.root, &req.specs, store.rel_in_root().as_deref(), &Exclude::new(&req.exclude)?)?;
    if x.items.is_empty() {
        return Err(usage(format!(
            "none of the paths of set {} exist under {}: is that the project root?",
            req.set,
            store.root.display()
        ))
        .hint("run from the project root, or pass --root DIR"));
    }
    Ok(x)
}

/// Takes a snapshot of `req` into the store (the caller holds the lock), or describes it
/// for a dry run. Logs the event and moves `latest` when `req.move_latest` (not for an
/// ad-hoc `--name` snapshot).
pub fn take(store: &Store, req: &Request) -> Result<Manifest> {
    let now = clock::now()?;
    let store_rel = store.rel_in_root();
    let x = resolve(store, req)?;
    let mut manifest = Manifest {
        id: String::new(),
        set: req.set.clone(),
        created: clock::rfc3339(&now),
        paths: req.specs.clone(),
        globs: x.globs,
        exclude: req.exclude.clone(),
        entries: Vec::new(),
        missing: x.missing,
        files: 0,
        bytes: 0,
        verified: !req.dry_run,
        legacy: false,
        undo_for: None,
        dry_run: req.dry_run,
        xattrs: true,
        message: req.message.clone(),
        adhoc: !req.move_latest,
        tags: Vec::new(),
    };
    if req.dry_run {
        manifest.id = store.next_id(&req.set, &now)?;
        let exclude = Exclude::new(&manifest.exclude)?;
        manifest.entries = capture(&store.root, &x.items, None, store_rel.as_deref(), &exclude, None)?;
        (manifest.files, manifest.bytes) = totals(&manifest.entries);
        return Ok(manifest);
    }
    // The set's newest rb snapshot, to link unchanged files from.
    let previous = match req.link {
        true => store
            .list()?
            .into_iter()
            .rev()
            .find(|l| l.set == req.set && l.origin == crate::store::Origin::Rb)
            .and_then(|l| store.load(&l.id).ok()),
        false => None,
    };
    let link = previous.as_ref().map(|p| LinkDest::new(&p.dir, &p.manifest));
    let result = write_snapshot(store, &now, manifest, &x.items, link.as_ref());
    let event = match &result {
        Ok(m) => Event::new("snapshot", true).snapshot(&m.id).message("SNAPSHOT SUCCESS"),
        Err(e) => Event::new("snapshot", false).message("SNAPSHOT FAILED").error(e),
    };
    store.log_or_warn(event.set(&req.set));
    let manifest = result?;
    if !req.move_latest {
        return Ok(manifest);
    }
    store.point_latest(&manifest.id).map_err(|e| {
        crate::error::partial(
            format!(
                "snapshot {} was taken, but `latest` could not be moved to it: {}",
                manifest.id,
                e.message()
            ),
            format!("name it by id: {}", manifest.id),
        )
    })?;
    Ok(manifest)
}

/// Builds a snapshot of `items` under a temporary name, writes its manifest and sums, syncs
/// and renames it into the store. Used for set snapshots and for undo snapshots.
pub fn write_snapshot(
    store: &Store,
    now: &chrono::DateTime<chrono::Local>,
    mut manifest: Manifest,
    items: &[Item],
    link: Option<&LinkDest>,
) -> Result<Manifest> {
    manifest.id = store.next_id(&manifest.set, now)?;
    let tmp = store.tmp_path(&manifest.id)?;
    let _critical = crate::signals::Critical::open();
    let built = (|| {
        fs::DirBuilder::new().mode(0o755).create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let exclude = Exclude::new(&manifest.exclude)?;
        manifest.entries =
            capture(&store.root, items, Some(&tmp), store.rel_in_root().as_deref(), &exclude, link)?;
        (manifest.files, manifest.bytes) = totals(&manifest.entries);
        let meta = tmp.join(META_DIR);
        fs::create_dir(&meta).ctx(|| format!("creating {}", meta.display()))?;
        let file = fs::File::create(meta.join(MANIFEST)).ctx(|| "writing the manifest")?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        crate::doc::write_doc(&mut out, &manifest).within(|| "writing the manifest")?;
        std::io::Write::flush(&mut out).ctx(|| "writing the manifest")?;
        // An unchanged set has the same sums as its previous snapshot: link them too.
        let sums = meta.join(SUMS);
        let file = fs::File::create(&sums).ctx(|| "writing SHA256SUMS")?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        write_sums(&manifest.entries, &mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .ctx(|| "writing SHA256SUMS")?;
        drop(out);
        let earlier = link.map(|l| l.dir.join(META_DIR).join(SUMS));
        if let Some(earlier) = earlier
            && fsx::same_content(&earlier, &sums)
        {
            let linked = sums.with_extension("link");
            if fs::hard_link(&earlier, &linked).is_ok() {
                fs::rename(&linked, &sums).ctx(|| "linking SHA256SUMS")?;
            }
        }
        fsx::sync_fs(&tmp)?;
        store.publish(&tmp, &manifest.id)
    })();
    if let Err(e) = built {
        let _ = fsx::remove_any(&tmp);
        if e.is_full() {
            // The store filled, not the live tree: say so, and that nothing is left behind.
            return Err(failed(format!(
                "the store {} is full: writing {}: {}; it was removed, nothing was changed",
                store.shown(),
                manifest.id,
                e.message()
            ))
            .full()
            .hint("free space on the store's file system (`rb-snapshot prune` removes old snapshots), or keep the store on a larger one (--store DIR)"));
        }
        if crate::signals::count() > 0 {
            return Err(crate::error::failed(format!(
                "{}: the partial copy is removed, nothing was stored or changed",
                e.message()
            )));
        }
        return Err(e);
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_escape_like_coreutils() {
        let file = |p: &str| Entry {
            path: p.into(),
            node: Node::File { mode: Mode(0o644), size: 0, sha256: Some("ab".into()) },
            mtime: Mtime { secs: 0, nanos: 0 },
            uid: None,
            gid: None,
            ino: None,
            ctime: None,
            xattrs: Default::default(),
            link: None,
            sparse: false,
        };
        assert_eq!(sums_text(&[file("a b"), file("x\\y\nz")]), b"ab  a b\n\\ab  x\\\\y\\nz\n");
    }

    #[test]
    fn excludes_names_at_any_depth_paths_from_the_root_and_folders_with_a_slash() {
        let x = Exclude::new(&["logs/".into(), "*.pid".into(), "nginx/temp/*".into()]).unwrap();
        assert!(x.excludes("nginx/logs", true));
        assert!(x.excludes("nginx/logs/access.log", false));
        assert!(!x.excludes("nginx/logs", false), "logs/ is for folders");
        assert!(x.excludes("nginx/run/nginx.pid", false));
        assert!(x.excludes("nginx/temp/client_body/1", false));
        assert!(!x.excludes("other/nginx/temp/a", false), "a glob with a / starts at the root");
        assert!(!x.excludes("nginx/nginx.conf", false));
        assert!(Exclude::new(&["../x".into()]).is_err());
        assert!(Exclude::new(&["/etc".into()]).is_err());
        assert!(Exclude::new(&["a/[".into()]).is_err());
    }

    #[test]
    fn entries_round_trip_as_json() {
        let e = Entry {
            path: "d".into(),
            node: Node::Dir { mode: Mode(0o755), shallow: false },
            mtime: Mtime { secs: 1, nanos: 5 },
            uid: None,
            gid: None,
            ino: None,
            ctime: None,
            xattrs: Default::default(),
            link: None,
            sparse: false,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"path":"d","type":"dir","mode":"0755","mtime":"1970-01-01T00:00:01.000000005Z"}"#
        );
        assert_eq!(serde_json::from_str::<Entry>(&text).unwrap(), e);
    }
}
