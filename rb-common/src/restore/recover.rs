//! A restore that was stopped: its journal written and read back (checked as the input it
//! is), `--resume` running the same steps again, `--abort` and a failed restore putting the
//! undo snapshot back.

use std::fs;
use std::path::Path;

use crate::error::{Context, ErrContext, Error, Kind, Result, failed, partial, usage};
use crate::exec;
use crate::fsx::{self, Mode};
use crate::journal::{Journal, RestoreDoc, Step, Steps, step_path};
use crate::lock::Lock;
use crate::manifest::{self, UNDO_SET};
use crate::paths;
use crate::signals;
use crate::store::{Snapshot, Store};

use super::plan::plan;
use super::verify::{run_check, verify_sources};
use super::{Checking, FinalCheck, Options, doc_for, log, preview};

use super::apply::{apply, apply_counting, clean_staging, clean_staging_in, crash_point, staging_dirs};

pub(super) fn write_journal(store: &Store, journal: &Journal) -> Result<()> {
    let path = store.journal_path();
    fsx::atomic_write_with(&path, Mode(0o644), &mut |w| {
        crate::doc::write_doc(w, journal).within(|| format!("writing {}", path.display()))
    })
}

pub(super) fn read_journal(store: &Store) -> Result<Journal> {
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
pub(super) fn srcs_in_store(store: &Store, steps: &Steps) -> Result<Steps> {
    steps.map(Some(&store.dir), &mut |mut step| {
        if let Step::Write { src, .. } = &mut step
            && let Ok(rel) = src.strip_prefix(&store.dir)
        {
            *src = rel.to_path_buf();
        }
        step
    })
}

/// Checks a journal as the input it is: every path relative, without `..`, not in rb's
/// `.rb` or the store, not reached through a symlink that leads out of the root; every
/// snapshot copy inside the store; modes, owners and extended attributes as a manifest's.
/// A journal that fails is refused (exit 2) before any of it runs.
pub(super) fn check_journal(store: &Store, journal: &Journal) -> Result<()> {
    crate::store::check_id(&journal.snapshot)?;
    crate::store::check_id(&journal.undo)?;
    let store_rel = store.rel_in_root();
    let store_dir = store.dir.canonicalize().unwrap_or_else(|_| store.dir.clone());
    for (n, step) in journal.steps.iter().enumerate() {
        let step = &step?;
        let path = step_path(step);
        let what = format!("step {} ({path:?})", n + 1);
        let rel = |p: &str| -> Result<()> {
            paths::check_rel(p, "path")?;
            if p == manifest::META_DIR || p.starts_with(".rb/") {
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
pub(super) fn leads_out(root: &Path, rel: &str) -> Result<()> {
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

pub(super) fn clear_journal(store: &Store) -> Result<()> {
    let path = store.journal_path();
    fs::remove_file(&path).ctx(|| format!("removing {}", path.display()))?;
    crash_point();
    fsx::sync_dir(path.parent().unwrap_or(&store.dir))
}

/// Runs a journaled restore's steps and verify command, then removes the journal. On a
/// failure the undo goes back (exit 1), or the journal stays pending (exit 3). The document
/// returned is the journal's, moved out (its lists can name every file of the set).
pub(super) fn finish(store: &Store, owned: Journal, then: FinalCheck<'_>, seen: usize) -> Result<RestoreDoc> {
    let journal = &owned;
    crash_point();
    let mut changed = false;
    if let Err(e) = apply_counting(&store.root, &store.dir, &journal.steps, seen, &mut changed)
        .and_then(|()| signals::check(seen))
    {
        return Err(put_back(store, journal, e, "the restore failed", changed));
    }
    if let Some(check) = &journal.check {
        crate::ui::note(&format!("checking the restored files with `{}`", exec::display(&check.argv)));
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
    let Journal { mut doc, check, .. } = owned;
    if let Some(check) = check {
        doc.check = Some(exec::display(&check.argv));
    }
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
    let result = clean_staging(&store.root, &journal.steps).and_then(|_| {
        finish(store, journal.clone(), &mut |c| run_check(c.check, &store.root).map(|_| ()), seen)
    });
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
pub(super) fn say_after(journal: &Journal, result: &Result<RestoreDoc>) {
    if let (Some(after), Ok(_)) = (&journal.after, result) {
        crate::ui::warn(&format!(
            "this restore of {} was started by a tool that had more to do: run {after} now",
            journal.snapshot
        ));
    }
}

/// After a failed restore: restores the undo snapshot exactly and removes the journal.
/// Returns the error to report: exit 1 when everything was put back, exit 3 (journal kept)
/// when even that failed.
/// `changed` is false when the failure came before the first file was renamed into place.
pub(super) fn put_back(store: &Store, journal: &Journal, cause: Error, what: &str, changed: bool) -> Error {
    let details = cause.detail_lines().to_vec();
    match revert(store, journal) {
        // Everything is as it was: the undo would undo nothing, and on a full store its
        // space is what the next attempt needs.
        Ok(_) => {
            if let Err(e) = store.remove_snapshot(&journal.undo) {
                crate::ui::warn(&format!(
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
pub(super) fn revert(store: &Store, journal: &Journal) -> Result<RestoreDoc> {
    let undo = store.load(&journal.undo)?;
    let cleaned = clean_staging(&store.root, &journal.steps)?;
    put_undo_back(store, &undo, cleaned)
}

/// Restores `undo` exactly and removes the journal; the document lists what changed and the
/// staged files `cleaned` before it.
pub(super) fn put_undo_back(store: &Store, undo: &Snapshot, cleaned: Vec<String>) -> Result<RestoreDoc> {
    let mut plan = plan(store, undo, Options::default())?;
    // Started after a first signal, it stops only at the next one.
    let seen = signals::count();
    verify_sources(undo, &plan)?;
    apply(&store.root, &store.dir, &plan.steps, seen)?;
    clear_journal(store)?;
    Ok(RestoreDoc { cleaned, ..doc_for(undo, &mut plan, Options::default(), false) })
}
