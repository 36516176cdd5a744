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

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::clock;
use crate::error::{Context, Result, failed, usage};
use crate::fsx;
use crate::manifest::stream;
use crate::paths;
use crate::store::{Event, Store};

mod capture;

pub use crate::manifest::{
    Entry, Exclude, Item, MANIFEST, META_DIR, Manifest, Node, SUMS, Special, Summary, UNDO_SET, check_spec,
    entry_of, is_glob, is_socket, sums_text, totals, walk, write_sums,
};
pub use capture::{Counted, LinkDest, Sink, capture};

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
        // `.rb` at the root is rb's own (a glob such as `*` matches dot files too).
        if rel == META_DIR || rel.starts_with(".rb/") {
            continue;
        }
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

/// The manifest `req` starts from, without its id and entries.
fn head(req: &Request, now: &chrono::DateTime<chrono::Local>, x: &Expanded) -> Manifest {
    Manifest {
        id: String::new(),
        set: req.set.clone(),
        created: clock::rfc3339(now),
        paths: req.specs.clone(),
        globs: x.globs.clone(),
        exclude: req.exclude.clone(),
        entries: Vec::new(),
        missing: x.missing.clone(),
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
    }
}

/// What `req` would take, with every entry (without hashes): `--dry-run --manifest`. Reads
/// metadata only; changes nothing.
pub fn describe(store: &Store, req: &Request) -> Result<Manifest> {
    let now = clock::now()?;
    let x = resolve(store, req)?;
    let mut manifest = head(&Request { dry_run: true, ..req.clone() }, &now, &x);
    manifest.id = store.next_id(&req.set, &now)?;
    let exclude = Exclude::new(&manifest.exclude)?;
    let mut entries = Vec::new();
    let counted =
        capture(&store.root, &x.items, None, store.rel_in_root().as_deref(), &exclude, None, &mut |b| {
            entries.extend_from_slice(b);
            Ok(())
        })?;
    (manifest.entries, manifest.files, manifest.bytes) = (entries, counted.files, counted.bytes);
    Ok(manifest)
}

/// Takes a snapshot of `req` into the store (the caller holds the lock), or counts what it
/// would take for a dry run, and returns its summary (the manifest with every entry is in
/// the store). Logs the event and moves `latest` when `req.move_latest` (not for an ad-hoc
/// `--name` snapshot).
pub fn take(store: &Store, req: &Request) -> Result<Summary> {
    let now = clock::now()?;
    let x = resolve(store, req)?;
    let mut manifest = head(req, &now, &x);
    if req.dry_run {
        manifest.id = store.next_id(&req.set, &now)?;
        let exclude = Exclude::new(&manifest.exclude)?;
        let skip = store.rel_in_root();
        let counted = capture(&store.root, &x.items, None, skip.as_deref(), &exclude, None, &mut |_| Ok(()))?;
        (manifest.files, manifest.bytes) = (counted.files, counted.bytes);
        return Ok(Summary::of_head(manifest, counted.entries));
    }
    // The set's newest rb snapshot, to link unchanged files from: its manifest is read as
    // the walk goes, never whole (one that cannot be read links fewer files, no more).
    let mut link = match req.link {
        true => store
            .list()?
            .into_iter()
            .rev()
            .find(|l| l.set == req.set && l.origin == crate::store::Origin::Rb)
            .and_then(|l| store.trusted_dir(&l.id).ok())
            .and_then(|dir| LinkDest::open(&dir).ok()),
        false => None,
    };
    let result = write_snapshot(store, &now, manifest, &x.items, link.as_mut());
    let event = match &result {
        Ok(m) => Event::new("snapshot", true).snapshot(&m.id).message("SNAPSHOT SUCCESS"),
        Err(e) => Event::new("snapshot", false).message("SNAPSHOT FAILED").error(e),
    };
    store.log_or_warn(event.set(&req.set));
    let summary = result?;
    if !req.move_latest {
        return Ok(summary);
    }
    store.point_latest(&summary.id).map_err(|e| {
        crate::error::partial(
            format!(
                "snapshot {} was taken, but `latest` could not be moved to it: {}",
                summary.id,
                e.message()
            ),
            format!("name it by id: {}", summary.id),
        )
    })?;
    Ok(summary)
}

/// Builds a snapshot of `items` under a temporary name, writing its manifest and sums as the
/// entries come (never all of them in memory), syncs and renames it into the store; returns
/// its summary. `manifest` is the head (no id, no entries).
pub fn write_snapshot(
    store: &Store,
    now: &chrono::DateTime<chrono::Local>,
    manifest: Manifest,
    items: &[Item],
    link: Option<&mut LinkDest>,
) -> Result<Summary> {
    write(store, now, manifest, items, link, false)
}

/// [`write_snapshot`] for an undo, whose `missing` paths (what its restore created) are its
/// `paths` but its items: `manifest.missing` is left empty and made from `paths` once they are
/// written, moved rather than copied (a full restore of 100,000 files creates 100,000). Returns
/// the undo's id.
pub fn write_undo(
    store: &Store,
    now: &chrono::DateTime<chrono::Local>,
    manifest: Manifest,
    items: &[Item],
) -> Result<String> {
    debug_assert!(manifest.missing.is_empty());
    write(store, now, manifest, items, None, true).map(|s| s.id)
}

fn write(
    store: &Store,
    now: &chrono::DateTime<chrono::Local>,
    mut manifest: Manifest,
    items: &[Item],
    mut link: Option<&mut LinkDest>,
    missing_from_paths: bool,
) -> Result<Summary> {
    manifest.id = store.next_id(&manifest.set, now)?;
    let tmp = store.tmp_path(&manifest.id)?;
    let _critical = crate::signals::Critical::open();
    let built = (|| {
        fs::DirBuilder::new().mode(0o755).create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let exclude = Exclude::new(&manifest.exclude)?;
        let meta = tmp.join(META_DIR);
        fs::create_dir(&meta).ctx(|| format!("creating {}", meta.display()))?;
        let file = fs::File::create(meta.join(MANIFEST)).ctx(|| "writing the manifest")?;
        let mut out = stream::Writer::begin(BufWriter::with_capacity(1 << 16, file), &manifest)?;
        let sums = meta.join(SUMS);
        let file = fs::File::create(&sums).ctx(|| "writing SHA256SUMS")?;
        let mut sums_out = BufWriter::with_capacity(1 << 16, file);
        let skip = store.rel_in_root();
        let earlier = link.as_ref().map(|l| l.dir.join(META_DIR).join(SUMS));
        let counted = capture(
            &store.root,
            items,
            Some(&tmp),
            skip.as_deref(),
            &exclude,
            link.as_deref_mut(),
            &mut |batch| {
                for e in batch {
                    out.push(e)?;
                }
                write_sums(batch, &mut sums_out).ctx(|| "writing SHA256SUMS")
            },
        )?;
        (manifest.files, manifest.bytes) = (counted.files, counted.bytes);
        if missing_from_paths {
            // `paths` come before the entries and are written; `missing` come after.
            let mut recorded: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
            recorded.sort_unstable();
            manifest.missing = std::mem::take(&mut manifest.paths)
                .into_iter()
                .filter(|p| recorded.binary_search(&p.as_str()).is_err())
                .collect();
        }
        out.end(&manifest)?;
        sums_out.flush().ctx(|| "writing SHA256SUMS")?;
        drop(sums_out);
        // An unchanged set has the same sums as its previous snapshot: link them too.
        if let Some(earlier) = earlier
            && fsx::same_content(&earlier, &sums)
        {
            let linked = sums.with_extension("link");
            if fs::hard_link(&earlier, &linked).is_ok() {
                fs::rename(&linked, &sums).ctx(|| "linking SHA256SUMS")?;
            }
        }
        fsx::sync_fs(&tmp)?;
        store.publish(&tmp, &manifest.id)?;
        Ok(counted.entries)
    })();
    let e: crate::error::Error = match built {
        Ok(entries) => return Ok(Summary::of_head(manifest, entries)),
        Err(e) => e,
    };
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
        return Err(failed(format!(
            "{}: the partial copy is removed, nothing was stored or changed",
            e.message()
        )));
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsx::{Mode, Mtime};

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
