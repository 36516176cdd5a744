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

mod apply;
mod plan;
mod recover;
mod verify;

pub use crate::journal::{Check, CheckKind, Journal, RestoreDoc, Step};
pub use apply::{apply, crash_point};
pub use plan::{Plan, UndoSpec, narrow, plan};
pub use recover::{abort, resume};
pub use verify::{check_file, damaged, run_check, verify_sources};

use recover::{finish, srcs_in_store, write_journal};

use crate::clock;
use crate::doc::Document;
use crate::error::{Result, failed, usage};
use crate::exec;
use crate::lock::Lock;
use crate::manifest::{Manifest, Summary, UNDO_SET};
use crate::paths;
use crate::signals;
use crate::snapshot::{self, Item};
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

/// The prefix of the temporary files a restore stages next to their targets.
pub const STAGING_PREFIX: &str = ".rb-tmp.";

/// Takes the undo snapshot for `plan`: what the restore of `snap` will replace. Returns its id.
pub fn take_undo(store: &Store, snap: &Snapshot, plan: &mut Plan) -> Result<String> {
    let now = clock::now()?;
    let mut items: Vec<Item> =
        plan.undo.full.iter().map(|p| Item { path: p.clone(), shallow: false }).collect();
    items.extend(plan.undo.shallow.iter().map(|p| Item { path: p.clone(), shallow: true }));
    // Its paths are what it records and what the restore creates (its `missing`, made from
    // these paths as they are written: the plan's list is moved, not copied).
    let mut listed = std::mem::take(&mut plan.undo.missing);
    listed.extend(items.iter().map(|i| i.path.clone()));
    // In place: a stable sort takes a scratch buffer as long as the list.
    listed.sort_unstable();
    let manifest = Manifest {
        id: String::new(),
        set: UNDO_SET.to_string(),
        created: clock::rfc3339(&now),
        paths: listed,
        globs: Vec::new(),
        exclude: Vec::new(),
        entries: Vec::new(),
        missing: Vec::new(),
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
    snapshot::write_undo(store, &now, manifest, &items)
}

/// The `restore` document of `plan`: its lists are moved out of the plan, not copied (a full
/// restore of 100,000 files names every one).
fn doc_for(snap: &Snapshot, plan: &mut Plan, opts: Options, dry_run: bool) -> RestoreDoc {
    let m = &snap.manifest;
    RestoreDoc {
        snapshot: m.id.clone(),
        set: m.set.clone(),
        undo: None,
        created: std::mem::take(&mut plan.created),
        modified: std::mem::take(&mut plan.modified),
        removed: std::mem::take(&mut plan.removed),
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
    let mut plan = plan(store, snap, opts)?;
    verify_sources(snap, &plan)?;
    // Read without the lock: a prune may have removed it meanwhile.
    snap.check_present()?;
    for socket in &plan.sockets {
        crate::ui::warn(&format!(
            "{} is a socket: the restore would remove it, and cannot keep it in the undo (the program that listens on it makes a new one)",
            paths::escaped(socket)
        ));
    }
    Ok(doc_for(snap, &mut plan, opts, true))
}

fn log(store: &Store, action: &str, result: &Result<RestoreDoc>, set: &str, id: &str, undo: Option<&str>) {
    let event = Event::ended(action, result.as_ref().err());
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
pub type FinalCheck<'a> = &'a mut dyn FnMut(Checking<'_>) -> Result<()>;

/// [`restore`], with `then` as the check. When nothing needs to change, `then` still runs
/// (with `changed: false`; the document has no undo), so "done" is always "verified".
pub fn restore_then(
    store: &Store,
    _lock: &Lock,
    snap: &Snapshot,
    opts: Options,
    check: Option<&Check>,
    then: FinalCheck<'_>,
) -> Result<RestoreDoc> {
    let m = &snap.manifest;
    let mut undo_id = None;
    // From here a signal stops at a safe point instead of ending the process.
    let _critical = signals::Critical::open();
    let seen = signals::count();
    let result = (|| {
        // Loaded before the lock was taken: a prune may have removed it since.
        snap.check_present()?;
        let mut plan = plan(store, snap, opts)?;
        verify_sources(snap, &plan)?;
        let mut doc = doc_for(snap, &mut plan, opts, false);
        if plan.is_empty() {
            then(Checking { check, changed: false })?;
            doc.check = check.map(|c| exec::display(&c.argv));
            return Ok(doc);
        }
        let undo = take_undo(store, snap, &mut plan)?;
        undo_id = Some(undo.clone());
        doc.undo = Some(undo.clone());
        let journal = Journal {
            snapshot: m.id.clone(),
            undo,
            doc,
            check: check.cloned(),
            after: opts.after.map(str::to_string),
            steps: srcs_in_store(store, &plan.steps)?,
            pid: std::process::id(),
            started: clock::rfc3339(&clock::now()?),
        };
        if let Err(e) = write_journal(store, &journal) {
            // Nothing was changed: the undo is not needed (and a full store gets its space back).
            let _ = store.remove_snapshot(&journal.undo);
            return Err(e);
        }
        finish(store, journal, then, seen)
    })();
    let action = if m.set == UNDO_SET { "undo" } else { "restore" };
    log(store, action, &result, &m.set, &m.id, undo_id.as_deref());
    result
}

/// The snapshot a document on stdin names: a `snapshot` (restore it) or a `restore`
/// (restore its undo). The document must match the stored manifest.
pub fn from_stdin(store: &Store) -> Result<Snapshot> {
    let tool = crate::ui::tool();
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
        // A summary (what rb-snapshot prints) names the snapshot; its set and counts must agree.
        _ if value.get("entries").is_some_and(|e| !e.is_array()) => {
            let wanted: Summary = crate::doc::from_value(value, &origin).map_err(|e| e.hint(takes(tool)))?;
            stored(store, &origin, &wanted.id, wanted.dry_run, |m| {
                let s = Summary::from(m);
                (&s.set, s.entries, s.files, s.bytes, &s.missing)
                    == (&wanted.set, wanted.entries, wanted.files, wanted.bytes, &wanted.missing)
            })
        }
        // A whole manifest (`--manifest`): every entry must agree.
        _ => {
            let wanted: Manifest = crate::doc::from_value(value, &origin).map_err(|e| e.hint(takes(tool)))?;
            stored(store, &origin, &wanted.id, wanted.dry_run, |m| {
                m.entries == wanted.entries && m.missing == wanted.missing
            })
        }
    }
}

fn takes(tool: &str) -> String {
    format!("{tool} takes a `snapshot` document (rb-snapshot) or a `restore` document")
}

/// The snapshot `id` a `snapshot` document from `origin` names, from the store: refused when
/// the document is a dry run's (exit 1) or when `agrees` says it differs from the stored
/// manifest (exit 2).
fn stored(
    store: &Store,
    origin: &str,
    id: &str,
    dry_run: bool,
    agrees: impl Fn(&Manifest) -> bool,
) -> Result<Snapshot> {
    if dry_run {
        return Err(failed(format!("{origin}: snapshot {id} is from a --dry-run and was never written")));
    }
    crate::store::check_id(id)?;
    let snap = store.load(id)?;
    if !agrees(&snap.manifest) {
        return Err(usage(format!(
            "{origin}: the document differs from {}/{id}/.rb/manifest.json",
            store.shown()
        ))
        .hint("restore by id to use the stored manifest"));
    }
    Ok(snap)
}
