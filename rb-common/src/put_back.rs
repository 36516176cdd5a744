//! Restoring a snapshot as a library call: what `rb-restore ID --set SET` does — the set
//! check, `--dry-run` and `--diff`, the verify command found before anything changes, the
//! restore under the lock, the summary on stderr and the `restore` document on stdout — so
//! that `rb-flag restore ID` restores exactly as `rb-restore` does without building its
//! command line. The engine itself is [`crate::restore`]; this module is the behaviour
//! around it.

use crate::config::Config;
use crate::doc::{Changed, Out};
use crate::error::{Result, usage};
use crate::restore::{self, CheckKind, Options, RestoreDoc};
use crate::store::{Snapshot, Store};
use crate::ui::{note, warn};

/// How to restore: `rb-restore`'s `--dry-run`, `--diff`, `--only`, `--keep-extra` and
/// `--quick`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Print what would be created, modified and removed; change nothing.
    pub dry_run: bool,
    /// Show each file's change as a unified diff on stderr first.
    pub diff: bool,
    /// Restore only these files or folders of the set.
    pub only: Vec<String>,
    /// Remove nothing the snapshot does not have.
    pub keep_extra: bool,
    /// Trust size and mtime instead of comparing every live file's SHA-256.
    pub quick: bool,
}

/// `rb-restore ID [--set SET]`: restores the snapshot `id` names (an id, `latest`,
/// `latest-good` or its folder in the store; with `set`, one of that set) and prints the
/// `restore` document, with the notes `rb-restore` prints.
pub fn restore_id(
    store: &Store,
    config: &Config,
    id: &str,
    set: Option<&str>,
    opts: &RestoreOptions,
    out: &mut Out,
) -> Result<()> {
    let snap = store.resolve(id, set)?;
    restore_snapshot(store, config, snap, set, opts, out)
}

/// Restores `snap` (found by id or read from a document), refused when `set` names another
/// set than the snapshot's.
pub fn restore_snapshot(
    store: &Store,
    config: &Config,
    snap: Snapshot,
    set: Option<&str>,
    opts: &RestoreOptions,
    out: &mut Out,
) -> Result<()> {
    if let Some(set) = set
        && set != snap.manifest.set
    {
        return Err(usage(format!(
            "{} is a snapshot of set {}, not {set}",
            snap.manifest.id, snap.manifest.set
        )));
    }
    crate::store::legacy::note_left_alone(&snap);
    let snap = match opts.only.is_empty() {
        true => snap,
        false => restore::narrow(&store.root, &snap, &opts.only)?,
    };
    let engine = Options { keep_extra: opts.keep_extra, quick: opts.quick, after: None };
    if opts.dry_run || opts.diff {
        // One plan (it hashes every live file) for the diff and the dry run's document.
        let doc = restore::preview(store, &snap, engine)?;
        if opts.diff {
            crate::diff::show(store, config, &snap, &doc)?;
        }
        if opts.dry_run {
            summary(&doc);
            return out.emit(&doc);
        }
    }
    let check = config.check_for_snapshot(&snap.manifest)?;
    // Bad input (a path that leads out of the root) and a verify program that is not there
    // are found here, before anything changes; the restore plans again under the lock.
    restore::plan(store, &snap, engine)?;
    if let Some(check) = &check {
        crate::exec::find(&check.argv[0], &store.root, &check.setting)?;
    }
    let lock = store.lock()?;
    let doc = restore::restore(store, &lock, &snap, engine, check.as_ref())?;
    summary(&doc);
    if doc.undo.is_some() && check.as_ref().is_some_and(|c| c.kind == CheckKind::Nginx) {
        note("nginx -t passed, but nginx was not reloaded: `rb-nginx reload` makes it run these files");
    }
    emit_after_change(out, &doc)
}

/// Prints the document of a restore: one that changed files goes through
/// [`Out::emit_after_change`], so a stdout gone away is exit 3 naming the undo.
pub fn emit_after_change(out: &mut Out, doc: &RestoreDoc) -> Result<()> {
    if let (Some(of), false) = (&doc.aborted, doc.dry_run) {
        return out.emit_after_change(
            doc,
            &Changed::new(
                format!("the interrupted restore of {of} was undone ({} is back)", doc.snapshot),
                format!("the files are as they were before it; `rb-restore {of}` restores {of} again"),
            ),
        );
    }
    match &doc.undo {
        Some(undo) => out.emit_after_change(
            doc,
            &Changed::new(
                format!("{} was restored", doc.snapshot),
                format!("`rb-restore {undo}` puts back what was replaced"),
            ),
        ),
        None => out.emit(doc),
    }
}

/// The one-line summary of a restore (or of a dry run, or of an `--abort`) on stderr, and a
/// warning when its files could not be verified.
pub fn summary(doc: &RestoreDoc) {
    let only = match doc.only.is_empty() {
        true => String::new(),
        false => format!(
            " (only {})",
            doc.only.iter().map(|p| crate::paths::escaped(p)).collect::<Vec<_>>().join(", ")
        ),
    };
    let counts = format!(
        "{} created, {} modified, {} removed",
        doc.created.len(),
        doc.modified.len(),
        doc.removed.len()
    );
    let cleaned = match doc.cleaned.len() {
        0 => String::new(),
        1 => format!("; removed 1 staged file ({})", doc.cleaned[0]),
        n => format!("; removed {n} staged files (.rb-tmp.*)"),
    };
    if let Some(of) = &doc.aborted {
        let undo = &doc.snapshot;
        let changed = !(doc.created.is_empty() && doc.modified.is_empty() && doc.removed.is_empty());
        note(&match (doc.dry_run, changed) {
            (true, _) => format!(
                "dry run of --abort: putting back {undo} would undo the interrupted restore of {of}: {counts}; nothing was changed"
            ),
            (false, true) => format!(
                "undid the interrupted restore of {of}: put back {undo}: {counts}{cleaned}; the journal is removed"
            ),
            (false, false) => format!(
                "undid the interrupted restore of {of}: the files already matched {undo} (it had changed none of them){cleaned}; the journal is removed"
            ),
        });
    } else if doc.dry_run {
        note(&format!("dry run of {}{only}: {counts} if restored; nothing was changed", doc.snapshot));
    } else if let Some(undo) = &doc.undo {
        note(&format!(
            "restored {}{only}: {counts}; `rb-restore {undo}` puts back what was replaced",
            doc.snapshot
        ));
    } else {
        note(&format!("nothing to change: the files already match {}{only}", doc.snapshot));
    }
    if !doc.verified {
        warn(&format!(
            "{} has no hashes (made by the old scripts); its files could not be verified",
            doc.snapshot
        ));
    }
}
