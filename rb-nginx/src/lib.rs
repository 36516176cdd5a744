//! `rb-nginx`: restore nginx configuration that is tested, reloaded and confirmed — or put
//! back.
//!
//! The seed's `nginx_rollback.sh` copies the backup over the live files, then runs `nginx -t
//! && nginx -s reload`, and prints "Nginx rollback completed" whatever happened: a bad backup
//! stays on disk, and a reload the master rejects goes unnoticed. Here a restore goes through
//! the engine (undo snapshot, journal, atomic files) and its check, run while the journal
//! still stands, is `nginx -t` and then a reload confirmed by new worker processes
//! ([`control`]). If the test fails, the undo goes back and nginx is never signalled; if the
//! reload is rejected, the undo goes back and the previous files are reloaded. Every command
//! prints an `nginx` document with each step, its verdict and nginx's own messages.

pub mod cli;
pub mod control;

use rb_common::cli as common;
use rb_common::config::Config;
use rb_common::doc::{Changed, Document, Out};
use rb_common::error::{Error, Result, failed, partial, usage};
use rb_common::restore::{self, Options, RestoreDoc};
use rb_common::snapshot::UNDO_SET;
use rb_common::store::{Event, Snapshot, Store};
use rb_common::take::TakeOptions;
use serde::{Deserialize, Serialize};

pub use cli::Cli;
use cli::Command;
pub use control::{Nginx, NginxStep, Runtime};

/// The set `rb-nginx snapshot` takes and `latest` means.
pub const SET: &str = "nginx";

/// The `nginx` document: what `rb-nginx test`, `reload` or `restore` did, step by step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NginxDoc {
    /// `test`, `reload` or `restore`.
    pub action: String,
    /// True when every step worked: the configuration on disk passed `nginx -t` and (unless
    /// not asked for) the running nginx took it.
    pub ok: bool,
    /// The snapshot restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// What the restore changed (its `undo` puts it back), when it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreDoc>,
    /// Each step in order.
    pub steps: Vec<NginxStep>,
    /// True when nothing was changed or run because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for NginxDoc {
    const KIND: &'static str = "nginx";
    const SOURCE: &'static str = "rb-nginx";
}

impl NginxDoc {
    fn new(action: &str, steps: Vec<NginxStep>) -> NginxDoc {
        let ok = steps.iter().all(|s| s.ok);
        NginxDoc { action: action.to_string(), ok, snapshot: None, restore: None, steps, dry_run: false }
    }
}

/// Runs `rb-nginx` with parsed arguments, writing documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    match cli.command {
        Command::Snapshot { dry_run, no_link, manifest } => {
            let (store, config) = cli.store.open()?;
            let opts = TakeOptions { dry_run, no_link, manifest, ..TakeOptions::default() };
            rb_common::take::take_set(&store, &config, SET, &opts, out)
        }
        Command::Test => {
            let (store, config) = cli.store.open()?;
            let nginx = checked(&store, &config)?.0;
            let step = nginx.test()?;
            let error = (!step.ok).then(|| step_error(&step, "nothing was changed"));
            conclude(out, NginxDoc::new("test", vec![step]), error)
        }
        Command::Reload => {
            let (store, config) = cli.store.open()?;
            reload(&store, &config, out)
        }
        Command::Restore { snapshot, dry_run, diff, no_reload, checksum } => {
            let (store, config) = cli.store.open()?;
            let snap = match &snapshot {
                Some(arg) => store.resolve(arg, Some(SET))?,
                None => restore::from_stdin(&store)?,
            };
            check_set(&snap)?;
            let _ = checksum; // accepted as before: comparing by content is the default now
            let opts = Options { keep_extra: false, quick: false, after: Some("`rb-nginx reload`") };
            let how = RestoreOptions { opts, reload: !no_reload };
            if dry_run || diff {
                // One plan (it hashes every live file) for the diff and the dry run's document.
                if dry_run {
                    rb_common::legacy::note_left_alone(&snap);
                }
                let doc = restore::preview(&store, &snap, opts)?;
                if diff {
                    rb_common::diff::show(&store, &config, &snap, &doc)?;
                }
                if dry_run {
                    return preview(&snap, doc, how, out);
                }
            }
            restore_snapshot(&store, &config, &snap, how, out)
        }
    }
}

/// How to restore: the engine's options, and whether to reload.
#[derive(Debug, Clone, Copy)]
struct RestoreOptions {
    opts: Options,
    reload: bool,
}

/// The configured nginx and where it runs, refused (before anything changes) when the
/// program is missing or reads another configuration than the project's.
fn checked(store: &Store, config: &Config) -> Result<(Nginx, Runtime)> {
    let nginx = Nginx::new(config.nginx()?, &store.root);
    nginx.check_program()?;
    let runtime = nginx.runtime()?;
    nginx.check_target(&runtime)?;
    Ok((nginx, runtime))
}

/// rb-nginx restores nginx snapshots (and their undos, and the old scripts' nginx backups);
/// another set's files are rb-restore's.
fn check_set(snap: &Snapshot) -> Result<()> {
    let m = &snap.manifest;
    let nginx_undo = m.set == UNDO_SET
        && m.undo_for.as_deref().and_then(rb_common::store::parse_id).is_some_and(|(set, _, _)| set == SET);
    if m.set == SET || nginx_undo {
        return Ok(());
    }
    Err(usage(format!("{} is a snapshot of set {}, not of nginx's files", m.id, m.set))
        .hint(format!("rb-restore {} restores it (and tests nginx.conf if the set holds it)", m.id)))
}

/// Prints the document, then returns the error that goes with it (if any): a failed step
/// still shows what was done.
fn conclude(out: &mut Out, doc: NginxDoc, error: Option<Error>) -> Result<()> {
    let emitted = out.emit(&doc);
    match error {
        Some(e) => Err(e),
        None => emitted,
    }
}

/// The one-line error for a failed step, ending with what that means for the files. It
/// quotes nginx's last complaints (not its `[notice]` chatter); the details carry it all.
fn step_error(step: &NginxStep, outcome: &str) -> Error {
    let complaints: Vec<&String> = step.messages.iter().filter(|m| !m.contains("[notice]")).collect();
    let said = complaints.iter().rev().take(3).rev().map(|m| m.as_str()).collect::<Vec<_>>().join(" / ");
    let said = if said.is_empty() { String::new() } else { format!(": {said}") };
    failed(format!("{}{said}; {outcome}", step.detail)).details(step.messages.clone())
}

fn reload(store: &Store, config: &Config, out: &mut Out) -> Result<()> {
    let (nginx, runtime) = checked(store, config)?;
    let _lock = store.lock()?;
    let test = nginx.test()?;
    let mut steps = vec![test.clone()];
    let error = if test.ok {
        let reload = nginx.reload(&runtime, "reload")?;
        steps.push(reload.clone());
        (!reload.ok).then(|| step_error(&reload, "nothing was changed"))
    } else {
        Some(step_error(&test, "nginx was not reloaded"))
    };
    let event = Event::ended("reload", error.as_ref()).messages("RELOAD SUCCESS", "RELOAD FAILED");
    store.log_or_warn(event.set(SET));
    if error.is_none() {
        common::note("nginx reloaded: its workers run the configuration on disk");
        return out.emit_after_change(
            &NginxDoc::new("reload", steps),
            &Changed::new(
                "nginx was reloaded",
                "its workers run the configuration on disk; rb-nginx test checks it",
            ),
        );
    }
    conclude(out, NginxDoc::new("reload", steps), error)
}

fn counts(doc: &RestoreDoc) -> String {
    format!("{} created, {} modified, {} removed", doc.created.len(), doc.modified.len(), doc.removed.len())
}

fn preview(snap: &Snapshot, doc: RestoreDoc, how: RestoreOptions, out: &mut Out) -> Result<()> {
    let then = if how.reload { "test and reload" } else { "test" };
    let step = NginxStep::ok(
        "restore",
        format!("would restore {}: {}; would then {then}", snap.manifest.id, counts(&doc)),
    );
    common::note(&format!("dry run: {}; nothing was changed", step.detail));
    let mut nginx_doc = NginxDoc::new("restore", vec![step]);
    nginx_doc.snapshot = Some(snap.manifest.id.clone());
    nginx_doc.restore = Some(doc);
    nginx_doc.dry_run = true;
    out.emit(&nginx_doc)
}

fn restore_snapshot(
    store: &Store,
    config: &Config,
    snap: &Snapshot,
    how: RestoreOptions,
    out: &mut Out,
) -> Result<()> {
    rb_common::legacy::note_left_alone(snap);
    // Bad input, a missing or misdirected nginx, and an nginx that is not running are found
    // before anything changes; the restore plans again under the lock.
    restore::plan(store, snap, how.opts)?;
    let (nginx, runtime) = checked(store, config)?;
    if how.reload {
        nginx
            .master(&runtime)
            .map_err(|e| e.hint("to restore and test the files without a reload: --no-reload"))?;
    }
    let lock = store.lock()?;
    let check = nginx.config.test_check();
    let mut steps: Vec<NginxStep> = Vec::new();
    let mut changed = false;
    let result = restore::restore_then(store, &lock, snap, how.opts, Some(&check), &mut |c| {
        changed = c.changed;
        let id = &snap.manifest.id;
        steps.push(if c.changed {
            NginxStep::ok("restore", format!("the files of {id} were written"))
        } else {
            NginxStep::ok("restore", format!("nothing to change: the files already match {id}"))
        });
        let test = nginx.test()?;
        steps.push(test.clone());
        if !test.ok {
            return Err(step_error(&test, "nginx was not reloaded"));
        }
        if !how.reload {
            return Ok(());
        }
        let reload = nginx.reload(&runtime, "reload")?;
        steps.push(reload.clone());
        if reload.ok { Ok(()) } else { Err(step_error(&reload, "nginx was not left running them")) }
    });
    let id = &snap.manifest.id;
    let mut doc = NginxDoc::new("restore", Vec::new());
    doc.snapshot = Some(id.clone());
    match result {
        Ok(done) => {
            if let Some(undo) = &done.undo {
                steps[0].detail = format!("restored {id}: {}; the undo is {undo}", counts(&done));
                let what =
                    if how.reload { "tested, reloaded and confirmed" } else { "tested (not reloaded)" };
                common::note(&format!(
                    "restored {id}, {what}; `rb-nginx restore {undo}` puts back what was replaced"
                ));
            }
            doc.restore = Some(done.clone());
            doc.steps = steps;
            doc.ok = true;
            match &done.undo {
                Some(undo) => out.emit_after_change(
                    &doc,
                    &Changed::new(
                        format!("{id} was restored"),
                        format!("`rb-nginx restore {undo}` puts back what was replaced"),
                    ),
                ),
                None => out.emit(&doc),
            }
        }
        Err(e) => {
            let reverted = changed && !steps.is_empty() && store.pending()?.is_none();
            failed_restore(&nginx, &runtime, steps, e, reverted, doc, out)
        }
    }
}

/// After a failed check: the steps that ran, the revert the engine did (or could not do),
/// and — if a reload was attempted — a reload of the previous files.
fn failed_restore(
    nginx: &Nginx,
    runtime: &Runtime,
    mut steps: Vec<NginxStep>,
    e: Error,
    reverted: bool,
    mut doc: NginxDoc,
    out: &mut Out,
) -> Result<()> {
    doc.ok = false;
    let reloaded = steps.iter().any(|s| s.step == "reload");
    let written = steps.first().is_some_and(|s| s.detail.contains("were written"));
    if !written {
        // Nothing was written (refused before the journal, or the files already matched).
        doc.steps = steps;
        return conclude(out, doc, Some(e));
    }
    if !reverted {
        steps.push(NginxStep::failed("revert", format!("the files were not put back: {}", e.message())));
        doc.steps = steps;
        let running = if reloaded {
            "nginx's master may be running the restored files; check with `rb-nginx test` and `rb-nginx reload`"
        } else {
            "nginx was not reloaded"
        };
        let e = partial(
            format!("{}; {running}", e.message()),
            "run `rb-restore --abort` to put the files back, then `rb-nginx reload`",
        )
        .details(e.detail_lines().to_vec());
        return conclude(out, doc, Some(e));
    }
    steps.push(NginxStep::ok("revert", "the files were put back as they were (from the undo snapshot)"));
    if reloaded {
        let again = nginx.reload(runtime, "reload-previous")?;
        steps.push(again.clone());
        if !again.ok {
            doc.steps = steps;
            let e = partial(
                format!(
                    "{}; the previous files are back on disk, but reloading them failed too: {}",
                    e.message(),
                    again.detail
                ),
                "see what nginx runs with `rb-nginx test` and `rb-nginx reload` once the cause is fixed",
            )
            .details(e.detail_lines().to_vec());
            return conclude(out, doc, Some(e));
        }
    }
    doc.steps = steps;
    conclude(out, doc, Some(e))
}
