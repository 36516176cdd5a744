//! `rb-restore`: put a snapshot back. The engine is `rb_common::restore`; this crate finds the
//! snapshot the user means (argument or stdin document), the set's verify command, and prints
//! the `restore` document.

pub mod cli;

use rb_common::cli as common;
use rb_common::doc::{Changed, Out};
use rb_common::error::{Result, usage};
use rb_common::restore::{self, Options, RestoreDoc};

pub use cli::Cli;

/// Runs `rb-restore` with parsed arguments, writing the `restore` document to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    if cli.resume || cli.abort.is_some() {
        let lock = store.lock_even_if_pending()?;
        let doc = match &cli.abort {
            None => restore::resume(&store, &lock, cli.dry_run)?,
            Some(undo) => restore::abort(&store, &lock, undo.as_deref(), cli.dry_run)?,
        };
        summary(&doc);
        return emit_after_change(out, &doc);
    }
    let snap = match &cli.snapshot {
        Some(arg) => store.resolve(arg, cli.set.as_deref())?,
        None => restore::from_stdin(&store)?,
    };
    if let Some(set) = &cli.set
        && *set != snap.manifest.set
    {
        return Err(usage(format!(
            "{} is a snapshot of set {}, not {set}",
            snap.manifest.id, snap.manifest.set
        )));
    }
    rb_common::legacy::note_left_alone(&snap);
    let snap = match cli.only.is_empty() {
        true => snap,
        false => restore::narrow(&store.root, &snap, &cli.only)?,
    };
    let opts = Options { keep_extra: cli.keep_extra, quick: cli.quick, after: None };
    if cli.dry_run || cli.diff {
        // One plan (it hashes every live file) for the diff and the dry run's document.
        let doc = restore::preview(&store, &snap, opts)?;
        if cli.diff {
            rb_common::diff::show(&store, &config, &snap, &doc)?;
        }
        if cli.dry_run {
            summary(&doc);
            return out.emit(&doc);
        }
    }
    let check = config.check_for_snapshot(&snap.manifest)?;
    // Bad input (a path that leads out of the root) and a verify program that is not there
    // are found here, before anything changes; the restore plans again under the lock.
    restore::plan(&store, &snap, opts)?;
    if let Some(check) = &check {
        rb_common::exec::find(&check.argv[0], &store.root, &check.setting)?;
    }
    let lock = store.lock()?;
    let doc = restore::restore(&store, &lock, &snap, opts, check.as_ref())?;
    summary(&doc);
    if doc.undo.is_some() && check.as_ref().is_some_and(|c| c.setting.starts_with("nginx.command")) {
        common::note(
            "nginx -t passed, but nginx was not reloaded: `rb-nginx reload` makes it run these files",
        );
    }
    emit_after_change(out, &doc)
}

/// Prints the document of a restore: one that changed files goes through
/// [`Out::emit_after_change`], so a stdout gone away is exit 3 naming the undo.
fn emit_after_change(out: &mut Out, doc: &RestoreDoc) -> Result<()> {
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

fn summary(doc: &RestoreDoc) {
    let only = match doc.only.is_empty() {
        true => String::new(),
        false => format!(
            " (only {})",
            doc.only.iter().map(|p| rb_common::paths::escaped(p)).collect::<Vec<_>>().join(", ")
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
        common::note(&match (doc.dry_run, changed) {
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
        common::note(&format!(
            "dry run of {}{only}: {counts} if restored; nothing was changed",
            doc.snapshot
        ));
    } else if let Some(undo) = &doc.undo {
        common::note(&format!(
            "restored {}{only}: {counts}; `rb-restore {undo}` puts back what was replaced",
            doc.snapshot
        ));
    } else {
        common::note(&format!("nothing to change: the files already match {}{only}", doc.snapshot));
    }
    if !doc.verified {
        common::warn(&format!(
            "{} has no hashes (made by the old scripts); its files could not be verified",
            doc.snapshot
        ));
    }
}
