//! `rb-migrate`: Django migration rollbacks that are planned, all or nothing, backed up and
//! undoable.
//!
//! The seed's `migration_rollback.sh` runs `manage.py migrate APP zero` when no number is
//! given, and runs blind: a step that cannot be undone — or whose undo meets data it cannot
//! hold — stops Django half-way, with the steps before it already undone. Here a rollback
//! reads the state and Django's own plan, refuses an irreversible step before anything runs,
//! lists what the reversal loses, backs the database up into the store (checked), journals
//! itself, and runs the whole plan in one transaction where the database allows it
//! (PostgreSQL, SQLite): every step passes and is committed, or nothing changed. Its document
//! keeps the state it started from, which `rb-migrate apply` rolls forward to.
//!
//! Everything a command needs from Django happens in one Python process ([`db::Db`], over
//! rb-common's session), which dies with rb: state and plan come from Django's migration
//! loader and executor, not from parsing what `showmigrations` prints.

pub mod cli;
pub mod db;

use rb_common::cli as common;
use rb_common::django::Django;
use rb_common::doc::{self, Changed, Document, Out};
use rb_common::error::{Kind, Result, failed, partial, usage};
use rb_common::fsx;
use rb_common::lock::Lock;
use rb_common::store::{Event, Store};
use serde::{Deserialize, Serialize};

pub use cli::Cli;
use cli::Command;
use db::{BackupMethod, Call, Db};

/// One migration of an app and whether it is applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Migration {
    /// Its name (`0002_ticket_priority`).
    pub name: String,
    /// Whether the database has it.
    pub applied: bool,
    /// The migrations of the same app it follows (more than one: a merge).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
}

/// An app's migrations, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppState {
    /// The app label (`tickets`).
    pub app: String,
    /// Its migrations in the order `showmigrations` lists them.
    pub migrations: Vec<Migration>,
}

impl AppState {
    /// The last applied migration, or `zero` when none is.
    pub fn position(&self) -> String {
        self.migrations.iter().rev().find(|m| m.applied).map_or_else(|| ZERO.to_string(), |m| m.name.clone())
    }

    /// The migration `name` follows in this app (`zero` for the first); an error for an
    /// unknown name or a merge, where "the one before" is not one migration.
    fn before(&self, name: &str) -> Result<String> {
        let m = self
            .migrations
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| failed(format!("{} has no migration {name:?}", self.app)))?;
        match m.parents.as_slice() {
            [] => Ok(ZERO.to_string()),
            [one] => Ok(one.clone()),
            many => Err(failed(format!(
                "{}.{name} merges {}: one migration at a time cannot go back through it",
                self.app,
                many.join(" and ")
            ))),
        }
    }
}

/// The `migration-state` document: every app, every migration, applied or not.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationState {
    /// The apps, by label.
    pub apps: Vec<AppState>,
    /// The database's vendor (`sqlite`, `postgresql`, …), when read from Django.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The database (a SQLite file's path, or a database name), when read from Django.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl Document for MigrationState {
    const KIND: &'static str = "migration-state";
    const SOURCE: &'static str = "rb-migrate status";
}

impl MigrationState {
    /// The app labelled `app`, or an error listing the apps there are.
    pub fn app(&self, app: &str) -> Result<&AppState> {
        self.apps.iter().find(|a| a.app == app).ok_or_else(|| {
            let known: Vec<&str> = self.apps.iter().map(|a| a.app.as_str()).collect();
            failed(format!("no app labelled {app:?} has migrations; the apps are: {}", known.join(", ")))
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanStep {
    /// `app.name`.
    pub migration: String,
    /// The app label.
    pub app: String,
    /// The migration's name.
    pub name: String,
    /// `backward` (unapply) or `forward` (apply).
    pub direction: String,
    /// True when Django cannot undo it (a `RunPython` or `RunSQL` without a reverse, also
    /// inside a `SeparateDatabaseAndState`, or an operation that says it is not reversible).
    pub irreversible: bool,
    /// True when every operation is `RunPython`/`RunSQL` (data, not schema): only such a step
    /// can be faked without leaving schema changes behind.
    #[serde(default)]
    pub data_only: bool,
    /// Django's description of each operation.
    pub operations: Vec<String>,
    /// True when it was (or would be) marked unapplied without running (`--fake-irreversible`).
    #[serde(default)]
    pub faked: bool,
    /// False when Django runs part of it outside a transaction (`atomic = False`): then the
    /// plan cannot run in one transaction.
    #[serde(default = "yes")]
    pub atomic: bool,
    /// What undoing it loses that `apply` will not bring back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loss: Vec<Loss>,
}

fn yes() -> bool {
    true
}

/// Data a reversal loses: a table or column dropped with rows in it, or a no-op reverse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Loss {
    /// Django's description of the operation.
    pub operation: String,
    /// The table at stake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The column at stake (a reversed AddField).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Its rows (non-NULL values, for a column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Why it is lost, in a sentence.
    pub why: String,
}

/// A step that failed: the migration, the operation and the database's own error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// `app.name`, when known.
    #[serde(default)]
    pub migration: Option<String>,
    /// Django's description of the operation, when known.
    #[serde(default)]
    pub operation: Option<String>,
    /// The error (`value too long for type character varying(100)`).
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.migration, &self.operation) {
            (Some(m), Some(o)) => write!(f, "{m} ({o}): {}", self.error),
            (Some(m), None) => write!(f, "{m}: {}", self.error),
            _ => f.write_str(&self.error),
        }
    }
}

/// A plan run in a transaction that was rolled back (`plan --rehearse`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rehearsal {
    /// Every step passed.
    pub ok: bool,
    /// The database's vendor.
    pub engine: String,
    /// The step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
}

/// The `migration-plan` document: what migrating an app to a target would run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationPlan {
    /// The app.
    pub app: String,
    /// The resolved target: a migration name or `zero`.
    pub target: String,
    /// Each step in the order Django would run it.
    pub steps: Vec<PlanStep>,
    /// The steps Django cannot undo (`app.name`).
    pub irreversible: Vec<String>,
    /// The steps that cannot run inside one transaction (`atomic = False`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_atomic: Vec<String>,
    /// The plan run in a transaction that was rolled back (`--rehearse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Rehearsal>,
}

impl Document for MigrationPlan {
    const KIND: &'static str = "migration-plan";
    const SOURCE: &'static str = "rb-migrate plan";
}

/// A database backup taken before migrating.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DbBackup {
    /// Its id (`db_20251013_120000`).
    pub id: String,
    /// The file, relative to the current folder when under it.
    pub path: String,
    /// Django's database engine.
    pub engine: String,
}

/// The `migration-rollback` document: a rollback (or `apply`, or `restore-db`) that ran or
/// would run. Written to `backups/.rb/migration.json` before a rollback's first step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationRollback {
    /// `rollback`, `apply` or `restore-db`.
    pub action: String,
    /// The app rolled back (absent for `apply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The resolved target (absent for `apply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The state it started from: `rb-migrate apply` of this document goes back to it.
    pub before: MigrationState,
    /// The state it left (absent for a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<MigrationState>,
    /// The steps, in order.
    pub steps: Vec<PlanStep>,
    /// The steps marked unapplied without running (`app.name`).
    #[serde(default)]
    pub faked: Vec<String>,
    /// The database backup taken first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<DbBackup>,
    /// `one-transaction` (all or nothing) or `per-migration` (Django's own transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The step that failed, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
    /// The backup put back (`restore-db`, or `--restore-on-failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<DbBackup>,
    /// True when nothing was run because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for MigrationRollback {
    const KIND: &'static str = "migration-rollback";
    const SOURCE: &'static str = "rb-migrate rollback";
}

impl MigrationRollback {
    /// The document as it is printed and kept: `before` and `after` list only the apps it
    /// touched — the app rolled back, each app a step moves, any whose position changed —
    /// not every contrib app, so `rb-migrate apply` of it moves those back and leaves the
    /// others as they are. A `restore-db` touched the whole database and lists every app.
    fn touched(mut self) -> MigrationRollback {
        if self.action == "restore-db" {
            return self;
        }
        let mut keep: std::collections::BTreeSet<String> = self.steps.iter().map(|s| s.app.clone()).collect();
        keep.extend(self.app.clone());
        if let Some(after) = &self.after {
            for a in &after.apps {
                if self
                    .before
                    .apps
                    .iter()
                    .find(|b| b.app == a.app)
                    .is_none_or(|b| b.position() != a.position())
                {
                    keep.insert(a.app.clone());
                }
            }
        }
        self.before.apps.retain(|a| keep.contains(&a.app));
        if let Some(after) = &mut self.after {
            after.apps.retain(|a| keep.contains(&a.app));
        }
        self
    }
}

/// `rb-migrate rollback APP TARGET` as a library call (rb-emergency's drills): the checks,
/// the backup, the migration; the `migration-rollback` document goes to `out`.
pub fn rollback_app(store: &Store, django: &Django, app: &str, target: &str, out: &mut Out) -> Result<()> {
    let mut db = Db::open(django)?;
    recover(store, &mut db)?;
    let how = MoveOptions { backup: true, ..MoveOptions::default() };
    let done = rollback(store, &mut db, app, target, how, out);
    close(db, done)
}

/// A migration rollback that was interrupted, as `rb-emergency status` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Interrupted {
    /// The app it rolls back.
    pub app: String,
    /// The target it was going to.
    pub target: String,
    /// Where it stopped, in words (or why that could not be read).
    pub stopped: String,
    /// The one command that finishes it, and the one that goes back.
    pub resume: String,
    /// The command that goes back to where it started.
    pub abort: String,
    /// The backup taken before it ran (`rb-migrate restore-db ID` puts it back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// Reads the migration journal without changing anything: `None` when no migration rollback
/// is pending. Where it stopped comes from Django; when Django cannot say, `stopped` says why.
pub fn interrupted(store: &Store, django: Result<Django>) -> Result<Option<Interrupted>> {
    let Some(doc) = read_journal(store)? else { return Ok(None) };
    let now = django.and_then(|d| {
        let mut db = Db::open(&d)?;
        let state = db.state(&[]);
        close(db, state)
    });
    let stopped = match now {
        Ok(now) if now.apps == doc.before.apps => {
            "it changed nothing (its transaction was rolled back); the next rb-migrate command removes its journal".to_string()
        }
        Ok(now) => stopped_at(&doc, &now),
        Err(e) => format!("where it stopped could not be read: {}", e.message()),
    };
    Ok(Some(Interrupted {
        app: doc.app.clone().unwrap_or_else(|| "?".to_string()),
        target: doc.target.clone().unwrap_or_else(|| "?".to_string()),
        stopped,
        resume: "rb-migrate rollback --resume".to_string(),
        abort: "rb-migrate rollback --abort".to_string(),
        backup: doc.backup.map(|b| b.id),
    }))
}

/// `rb-migrate apply` of `wanted` as a library call: every app back to where `wanted` says.
pub fn apply_state(store: &Store, django: &Django, wanted: MigrationState, out: &mut Out) -> Result<()> {
    let mut db = Db::open(django)?;
    recover(store, &mut db)?;
    let how = MoveOptions { with_dependents: true, backup: true, ..MoveOptions::default() };
    let done = apply(store, &mut db, Some(wanted), how, out);
    close(db, done)
}

/// The state of `apps` (all when empty), through a session of its own.
pub fn status(django: &Django, apps: &[String]) -> Result<MigrationState> {
    let mut db = Db::open(django)?;
    let state = db.state(apps);
    close(db, state)
}

/// [`plan`] through a session of its own.
pub fn plan_of(django: &Django, app: &str, target: &str) -> Result<MigrationPlan> {
    let mut db = Db::open(django)?;
    let p = plan(&mut db, app, target);
    close(db, p)
}

/// The target that means "no migration applied".
pub const ZERO: &str = "zero";

/// Runs `rb-migrate` with parsed arguments, writing documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    let django = Django::new(&config, &store.root)?;
    django.config.timeout()?;
    django.config.lock_timeout()?;
    let mut db = Db::open(&django)?;
    let done = command(&store, &mut db, cli.command, out);
    close(db, done)
}

/// Ends the session; its own failure matters only when the command itself succeeded.
fn close<T>(db: Db, done: Result<T>) -> Result<T> {
    match (done, db.close()) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
    }
}

fn command(store: &Store, db: &mut Db, command: Command, out: &mut Out) -> Result<()> {
    let pending = recover(store, db)?;
    match command {
        Command::Status { apps, format } => {
            let state = db.state(&apps)?;
            if !format.table() {
                return out.emit(&state);
            }
            let mut table = rb_common::table::Table::new(&["APP", "AT", "APPLIED", "NOT APPLIED"]);
            for a in &state.apps {
                let applied = a.migrations.iter().filter(|m| m.applied).count();
                let pending: Vec<&str> =
                    a.migrations.iter().filter(|m| !m.applied).map(|m| m.name.as_str()).collect();
                table.row(vec![
                    a.app.clone(),
                    a.position(),
                    format!("{applied}/{}", a.migrations.len()),
                    pending.join(", "),
                ]);
            }
            out.raw(table.render().as_bytes())
        }
        Command::Plan { app, target, rehearse } => {
            let state = db.state(&[])?;
            let target = resolve(&state, &app, &target)?;
            let mut p = plan(db, &app, &target)?;
            if rehearse {
                p.rehearsal = Some(rehearse_plan(db, &state, &p)?);
            }
            out.emit(&p)
        }
        Command::Rollback { resume: true, .. } => resume(store, db, pending, out),
        Command::Rollback { abort: true, .. } => abort(store, db, pending, out),
        Command::Rollback {
            app,
            target,
            fake_irreversible,
            with_dependents,
            no_backup,
            restore_on_failure,
            dry_run,
            diff,
            ..
        } => {
            let (Some(app), Some(target)) = (app, target) else {
                return Err(usage("rollback needs APP and TARGET (or --resume / --abort)"));
            };
            let how = MoveOptions {
                fake_irreversible,
                with_dependents,
                backup: !no_backup,
                restore_on_failure,
                dry_run,
                diff,
                recovering: false,
            };
            rollback(store, db, &app, &target, how, out)
        }
        Command::Apply { latest, no_backup, dry_run } => {
            let how =
                MoveOptions { with_dependents: true, backup: !no_backup, dry_run, ..MoveOptions::default() };
            let wanted = if latest { None } else { Some(wanted_state()?) };
            apply(store, db, wanted, how, out)
        }
        Command::RestoreDb { id, dry_run } => restore_db(store, db, &id, dry_run, out),
    }
}

/// What a migration rollback or apply (a move of the apps to other migrations) may do.
#[derive(Debug, Clone, Copy, Default)]
struct MoveOptions {
    fake_irreversible: bool,
    with_dependents: bool,
    backup: bool,
    restore_on_failure: bool,
    dry_run: bool,
    /// `--abort`'s roll-forward: it runs while the migration journal stands.
    recovering: bool,
    /// `--diff`: say each app's position before → after first.
    diff: bool,
}

/// What migrating `app` to `target` would run, from Django's executor.
pub fn plan(db: &mut Db, app: &str, target: &str) -> Result<MigrationPlan> {
    let steps = db.plan(&[(app.to_string(), target.to_string())])?;
    let irreversible = steps.iter().filter(|s| s.irreversible).map(|s| s.migration.clone()).collect();
    let not_atomic = steps.iter().filter(|s| !s.atomic).map(|s| s.migration.clone()).collect();
    Ok(MigrationPlan {
        app: app.to_string(),
        target: target.to_string(),
        steps,
        irreversible,
        not_atomic,
        rehearsal: None,
    })
}

/// True when the database's schema changes roll back with their transaction.
fn transactional(state: &MigrationState) -> bool {
    matches!(state.vendor.as_deref(), Some("sqlite" | "postgresql"))
}

/// The `migrate` calls that carry out a rollback's steps: one call to the target, or, when a
/// step is faked, one call per step to the migration it follows (linear there: checked).
fn rollback_calls(before: &MigrationState, app: &str, target: &str, steps: &[PlanStep]) -> Result<Vec<Call>> {
    if !steps.iter().any(|s| s.faked) {
        return Ok(vec![Call { app: Some(app.to_string()), target: Some(target.to_string()), fake: false }]);
    }
    steps
        .iter()
        .map(|s| {
            let to = before.app(&s.app)?.before(&s.name)?;
            Ok(Call { app: Some(s.app.clone()), target: Some(to), fake: s.faked })
        })
        .collect()
}

fn rehearse_plan(db: &mut Db, state: &MigrationState, p: &MigrationPlan) -> Result<Rehearsal> {
    let engine = state.vendor.clone().unwrap_or_default();
    if !transactional(state) {
        return Err(usage(format!(
            "the database is {engine}: its schema changes do not roll back with a transaction, so a rehearsal would change it"
        )));
    }
    if p.steps.is_empty() {
        return Ok(Rehearsal { ok: true, engine, failed: None });
    }
    common::note(&format!(
        "rehearsing {} in a transaction that is rolled back (it holds the tables' locks while it runs)",
        common::count(p.steps.len(), "step", "steps")
    ));
    let calls = rollback_calls(state, &p.app, &p.target, &p.steps)?;
    let ran = db.run(&calls, p.steps.len(), true, true)?;
    let after = db.state(&[])?;
    if after.apps != state.apps {
        return Err(partial(
            "the rehearsal changed the migration state, which a rolled-back transaction cannot do",
            "rb-migrate status shows where the database is",
        ));
    }
    Ok(Rehearsal { ok: ran.ok, engine, failed: ran.failed })
}

fn warn_loss(steps: &[PlanStep]) {
    for step in steps {
        for loss in &step.loss {
            common::warn(&format!("{}: {} — {}", step.migration, loss.operation, loss.why));
        }
    }
}

fn rollback(
    store: &Store,
    db: &mut Db,
    app: &str,
    target: &str,
    how: MoveOptions,
    out: &mut Out,
) -> Result<()> {
    let before = db.state(&[])?;
    let target = resolve(&before, app, target)?;
    let mut plan = plan(db, app, &target)?;
    if let Some(step) = plan.steps.iter().find(|s| s.direction == "forward") {
        return Err(usage(format!(
            "{app} is at {}, before {target}: migrating to it applies {}, which is a roll-forward, not a rollback",
            before.app(app)?.position(),
            step.migration
        ))
        .hint("rb-migrate apply rolls forward"));
    }
    let others: Vec<&str> =
        plan.steps.iter().filter(|s| s.app != app).map(|s| s.migration.as_str()).collect();
    if !others.is_empty() && !how.with_dependents {
        return Err(failed(format!(
            "rolling {app} back to {target} also undoes other apps' migrations that depend on it: {}; nothing was run",
            others.join(", ")
        ))
        .hint("--with-dependents undoes them too (rb-migrate plan shows every step)"));
    }
    if !plan.irreversible.is_empty() && !how.fake_irreversible {
        return Err(failed(format!(
            "rolling {app} back to {target} would undo {}, which cannot be undone (Django would stop there, with the steps before it already undone); nothing was run",
            plan.irreversible.join(", ")
        ))
        .hint("--fake-irreversible marks such steps unapplied without running them (what they did to the data stays)"));
    }
    for step in &mut plan.steps {
        step.faked = step.irreversible;
        if step.faked && !step.data_only {
            return Err(failed(format!(
                "{} cannot be undone and also changes the schema ({}): faking it would leave those changes in the database; nothing was run",
                step.migration,
                step.operations.join("; ")
            )));
        }
        if step.faked {
            // One migration at a time needs to know the one before: refused at a merge.
            before.app(&step.app)?.before(&step.name)?;
        }
    }
    let faked: Vec<String> = plan.steps.iter().filter(|s| s.faked).map(|s| s.migration.clone()).collect();
    let mut doc = MigrationRollback {
        action: "rollback".to_string(),
        app: Some(app.to_string()),
        target: Some(target.clone()),
        before: before.clone(),
        after: None,
        steps: plan.steps.clone(),
        faked,
        backup: None,
        mode: None,
        failed: None,
        restored: None,
        dry_run: how.dry_run,
    };
    if plan.steps.is_empty() {
        common::note(&format!("{app} is already at {target}: nothing to do"));
        doc.after = Some(before);
        return out.emit(&doc.touched());
    }
    if how.diff {
        let undone: Vec<&str> = doc.steps.iter().map(|s| s.migration.as_str()).collect();
        common::note(&format!(
            "{app}: {} → {target}, undoing {}",
            before.app(app).map(AppState::position).unwrap_or_default(),
            if undone.is_empty() { "nothing".to_string() } else { undone.join(", ") }
        ));
    }
    warn_loss(&doc.steps);
    doc.mode = Some(mode(&before, &doc.steps).to_string());
    let backup_how = db::backup_plan(db, &before, how.backup)?;
    if how.dry_run {
        common::note(&format!(
            "dry run: would undo {} {} ({}); nothing was run",
            plan.steps.len(),
            plural(plan.steps.len(), "migration", "migrations"),
            doc.mode.as_deref().unwrap_or_default()
        ));
        return out.emit(&doc.touched());
    }
    let calls = rollback_calls(&before, app, &target, &doc.steps)?;
    let lock = locked_unchanged(store, db, &before, how.recovering)?;
    execute(store, db, doc, &calls, &backup_how, how, lock, out)
}

/// `one-transaction` where the database's schema changes roll back and every step is
/// atomic; `per-migration` otherwise.
fn mode(before: &MigrationState, steps: &[PlanStep]) -> &'static str {
    if transactional(before) && steps.iter().all(|s| s.atomic) { ONE } else { PER }
}

const ONE: &str = "one-transaction";
const PER: &str = "per-migration";

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Backs up, journals (rollbacks), runs the calls in the document's mode, reads the state
/// back and concludes (the caller holds the lock).
#[allow(clippy::too_many_arguments)]
fn execute(
    store: &Store,
    db: &mut Db,
    mut doc: MigrationRollback,
    calls: &[Call],
    backup_how: &BackupMethod,
    how: MoveOptions,
    lock: Lock,
    out: &mut Out,
) -> Result<()> {
    doc.backup = db::backup(store, db, backup_how)?;
    let journaled = doc.action == "rollback";
    if journaled {
        write_journal(store, &doc)?;
    }
    let one = doc.mode.as_deref() == Some(ONE);
    let total = doc.steps.len();
    let mut ran = run_or_failure(db, calls, total, one);
    if one && !ran.ok && ran.pending_trigger_events {
        common::warn(
            "PostgreSQL refused one transaction (pending trigger events): running one migration at a time",
        );
        doc.mode = Some(PER.to_string());
        ran = run_or_failure(db, calls, total, false);
    }
    doc.failed = ran.failed.clone();
    let after = match db.state(&[]) {
        Ok(a) => Ok(a),
        // The session may have died (a timeout): a new one reads the state.
        Err(_) => Db::open(&db.django).and_then(|fresh| {
            *db = fresh;
            db.state(&[])
        }),
    };
    let missed = match &after {
        Err(e) => Some(e.message().to_string()),
        Ok(after) => missed(&doc, after),
    };
    doc.after = after.ok();
    let outcome = match (ran.ok, ran.failed.as_ref(), missed) {
        (false, Some(f), _) => Err(f.to_string()),
        (false, None, _) => Err("the run failed".to_string()),
        (true, _, Some(m)) => Err(m),
        (true, _, None) => Ok(()),
    };
    conclude(store, db, doc, outcome, how, lock, out)
}

fn run_or_failure(db: &mut Db, calls: &[Call], total: usize, one: bool) -> db::Ran {
    db.run(calls, total, one, false).unwrap_or_else(|e| db::Ran {
        ok: false,
        failed: Some(Failure { migration: None, operation: None, error: e.message().to_string() }),
        pending_trigger_events: false,
    })
}

/// What is not where the document asked: a step's migration still applied (rollback), an app
/// not at its target.
fn missed(doc: &MigrationRollback, after: &MigrationState) -> Option<String> {
    let applied = |s: &PlanStep| {
        after.app(&s.app).ok().and_then(|a| a.migrations.iter().find(|m| m.name == s.name)).map(|m| m.applied)
    };
    for s in &doc.steps {
        let wanted = s.direction == "forward";
        if applied(s) != Some(wanted) {
            return Some(format!(
                "{} is {}",
                s.migration,
                if wanted { "still unapplied" } else { "still applied" }
            ));
        }
    }
    if let (Some(app), Some(target)) = (&doc.app, &doc.target) {
        let at = after.app(app).map(AppState::position).unwrap_or_default();
        if &at != target {
            return Some(format!("{app} is at {at}, not {target}"));
        }
    }
    None
}

/// Takes the lock, then checks that the state is still the one planned from (another
/// rollback may have moved it meanwhile). Checks run unlocked, so a refusal writes nothing.
fn locked_unchanged(store: &Store, db: &mut Db, planned: &MigrationState, recovering: bool) -> Result<Lock> {
    let lock = if recovering { lock_for_recovery(store)? } else { store.lock()? };
    if db.state(&[])?.apps != planned.apps {
        return Err(failed(
            "the migration state changed while this was being planned (another rollback?); nothing was run",
        )
        .hint("run it again"));
    }
    Ok(lock)
}

/// Logs the outcome, clears the journal when the state is known, and prints the document. A
/// failure after which the state is what it was changed nothing: exit 1. Any other failure
/// after something ran is exit 3 with the journal standing and the ways back — or, with
/// `--restore-on-failure`, the backup put back (exit 1 once the state reads as before).
fn conclude(
    store: &Store,
    db: &mut Db,
    mut doc: MigrationRollback,
    outcome: std::result::Result<(), String>,
    how: MoveOptions,
    lock: Lock,
    out: &mut Out,
) -> Result<()> {
    let what = doc.app.clone().unwrap_or_else(|| "the database".to_string());
    let unchanged = doc.after.as_ref().is_some_and(|a| a.apps == doc.before.apps);
    let mut restored = false;
    if outcome.is_err()
        && !unchanged
        && how.restore_on_failure
        && let Some(backup) = doc.backup.clone()
    {
        common::warn(&format!("--restore-on-failure: putting {} back", backup.path));
        let put_back = db::find_backup(store, &backup.id)
            .and_then(|(path, ext)| db::restore_backup(store, db, &path, ext))
            .and_then(|()| db.state(&[]));
        match put_back {
            Ok(state) => {
                restored = state.apps == doc.before.apps;
                doc.after = Some(state);
                doc.restored = Some(backup);
            }
            Err(e) => common::warn(&format!("could not put the backup back: {}", e.message())),
        }
    }
    // `--abort`'s roll-forward leaves the journal to `abort`, which removes it once the
    // database reads as where the rollback started.
    if !how.recovering && (outcome.is_ok() || unchanged || restored) {
        remove_journal(store)?;
    }
    let action = format!("migrate-{}", doc.action);
    let event = Event::ended(&action, outcome.as_ref().err().map(|e| failed(e.clone())).as_ref());
    store.log_or_warn(event.set("django").snapshot(doc.backup.as_ref().map_or("", |b| b.id.as_str())));
    // What was done, kept in the store before it is printed: the undo survives a stdout that
    // has gone away.
    let doc = doc.touched();
    let kept = match &outcome {
        Ok(()) => keep_document(store, &doc)?,
        Err(_) => String::new(),
    };
    drop(lock);
    let Err(e) = outcome else {
        let done = format!(
            "{} {what}: {} {} ({}){}",
            if doc.action == "rollback" { "rolled back" } else { "migrated" },
            doc.steps.len(),
            plural(doc.steps.len(), "step", "steps"),
            doc.mode.as_deref().unwrap_or(PER),
            doc.backup
                .as_ref()
                .map(|b| format!(", the database backed up in {}", b.path))
                .unwrap_or_default()
        );
        common::note(&format!("{done}; `rb-migrate apply` of this document goes back"));
        return out.emit_after_change(
            &doc,
            &Changed::new(
                done,
                format!("`rb-migrate apply < {kept}` goes back (the document is kept there)"),
            ),
        );
    };
    // The error below says what the state is; a stdout gone away does not change that.
    let _ = out.emit(&doc);
    if unchanged {
        return Err(failed(format!(
            "migrating {what} failed at {e}; nothing was changed (the transaction was rolled back)"
        )));
    }
    if restored {
        return Err(failed(format!(
            "migrating {what} failed at {e}; the backup {} was put back (--restore-on-failure): the database is as it was before the rollback",
            doc.backup.as_ref().map_or("", |b| b.path.as_str())
        )));
    }
    let back = doc.backup.as_ref().map(|b| {
        format!(", or `rb-migrate restore-db {}` puts the backup back (rows written since are lost)", b.id)
    });
    let how_back = if doc.action == "rollback" || how.recovering {
        format!(
            "`rb-migrate rollback --resume` finishes it, `rb-migrate rollback --abort` goes back to where it started{}",
            back.unwrap_or_default()
        )
    } else {
        format!(
            "pipe the document to `rb-migrate apply` to go back to where it started{}",
            back.unwrap_or_default()
        )
    };
    Err(partial(
        format!(
            "migrating {what} failed at {e}; the database is partly migrated (the document's `after` says where it is)"
        ),
        how_back,
    ))
}

/// Writes a finished change's document to the store as `migration_<time>.json` (the caller
/// holds the lock) and returns its path as shown: `rb-migrate apply < it` goes back.
fn keep_document(store: &Store, doc: &MigrationRollback) -> Result<String> {
    let id = store.next_id("migration", &rb_common::clock::now()?)?;
    let path = store.dir.join(format!("{id}.json"));
    let line = rb_common::doc::to_line(doc)?;
    fsx::atomic_write(&path, format!("{line}\n").as_bytes(), fsx::Mode(0o644))?;
    Ok(format!("{}/{id}.json", store.shown()))
}

fn write_journal(store: &Store, doc: &MigrationRollback) -> Result<()> {
    let line = doc::to_line(doc)?;
    fsx::atomic_write(&store.migration_journal_path(), line.as_bytes(), fsx::Mode(0o600))
}

fn read_journal(store: &Store) -> Result<Option<MigrationRollback>> {
    let path = store.migration_journal_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(format!("reading {}: {e}", path.display()))),
    };
    let origin = rb_common::paths::shown(&path);
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        usage(format!("{origin}: {e}"))
            .hint("restore the database with rb-migrate restore-db, then remove the file")
    })?;
    doc::from_value::<MigrationRollback>(value, &origin).map(Some)
}

fn remove_journal(store: &Store) -> Result<()> {
    let path = store.migration_journal_path();
    match std::fs::remove_file(&path) {
        Ok(()) => fsx::sync_dir(path.parent().unwrap_or(&store.dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(failed(format!("removing {}: {e}", path.display()))),
    }
}

/// Where an interrupted rollback stopped, in words.
fn stopped_at(doc: &MigrationRollback, now: &MigrationState) -> String {
    let undone = doc
        .steps
        .iter()
        .filter(|s| {
            now.app(&s.app)
                .ok()
                .and_then(|a| a.migrations.iter().find(|m| m.name == s.name))
                .is_some_and(|m| !m.applied)
        })
        .count();
    let app = doc.app.as_deref().unwrap_or("?");
    let at = now.app(app).map(AppState::position).unwrap_or_default();
    format!("{undone} of {} undone, {app} is at {at}", common::count(doc.steps.len(), "step", "steps"))
}

/// Looks at a migration journal left by an earlier run: one whose database reads as it did
/// before changed nothing (its transaction was rolled back) and is removed, said once; any
/// other is reported with where it stopped, and returned. A journal whose run still holds
/// the lock is left alone.
fn recover(store: &Store, db: &mut Db) -> Result<Option<MigrationRollback>> {
    let Some(doc) = read_journal(store)? else { return Ok(None) };
    let lock = match store.lock_even_if_pending() {
        Ok(lock) => lock,
        Err(e) if e.kind() == Kind::Locked => return Ok(Some(doc)),
        Err(e) => return Err(e),
    };
    let now = db.state(&[])?;
    let what = format!(
        "the migration rollback of {} to {}",
        doc.app.as_deref().unwrap_or("?"),
        doc.target.as_deref().unwrap_or("?")
    );
    if now.apps == doc.before.apps {
        remove_journal(store)?;
        drop(lock);
        common::note(&format!(
            "{what} was interrupted before it changed anything (its transaction was rolled back): nothing changed, its journal is removed"
        ));
        return Ok(None);
    }
    common::warn(&format!(
        "{what} was interrupted: {}; `rb-migrate rollback --resume` finishes it, `rb-migrate rollback --abort` goes back to where it started{}",
        stopped_at(&doc, &now),
        doc.backup.as_ref().map(|b| format!(" (or `rb-migrate restore-db {}`)", b.id)).unwrap_or_default()
    ));
    Ok(Some(doc))
}

/// Takes the lock for `--resume`/`--abort`/`restore-db`: a pending migration journal is what
/// they are for, a pending restore still refuses.
fn lock_for_recovery(store: &Store) -> Result<Lock> {
    let lock = store.lock_even_if_pending()?;
    if store.pending()?.is_some() {
        drop(lock);
        return store.lock();
    }
    Ok(lock)
}

fn no_journal() -> rb_common::Error {
    failed("no migration rollback was interrupted: there is nothing to resume or abort")
        .hint("rb-migrate status shows the state")
}

/// `rollback --resume`: the journal's rollback again, from where it stopped.
fn resume(store: &Store, db: &mut Db, pending: Option<MigrationRollback>, out: &mut Out) -> Result<()> {
    let journal = pending.ok_or_else(no_journal)?;
    let (Some(app), Some(target)) = (journal.app.clone(), journal.target.clone()) else {
        return Err(usage("the journal names no app and target"));
    };
    let lock = lock_for_recovery(store)?;
    let before = db.state(&[])?;
    let mut plan = plan(db, &app, &target)?;
    for step in &mut plan.steps {
        step.faked = journal.faked.contains(&step.migration);
        if step.irreversible && !step.faked {
            return Err(failed(format!(
                "{} cannot be undone and the journal did not fake it",
                step.migration
            )));
        }
    }
    let mut doc = journal.clone();
    doc.steps = plan.steps.clone();
    doc.after = None;
    doc.failed = None;
    if plan.steps.is_empty() {
        remove_journal(store)?;
        let done = format!(
            "{app} is already at {target}: the interrupted rollback is finished, its journal removed"
        );
        common::note(&done);
        doc.after = Some(before);
        return out
            .emit_after_change(&doc.touched(), &Changed::new(done, "rb-migrate status shows the state"));
    }
    doc.mode = Some(mode(&before, &doc.steps).to_string());
    let calls = rollback_calls(&before, &app, &target, &doc.steps)?;
    // The journal keeps its `before` (where the rollback started) and its backup.
    let how = MoveOptions::default();
    let one = doc.mode.as_deref() == Some(ONE);
    let ran = run_or_failure(db, &calls, doc.steps.len(), one);
    doc.failed = ran.failed.clone();
    let after = db.state(&[]);
    let missed = match &after {
        Err(e) => Some(e.message().to_string()),
        Ok(a) => missed(&doc, a),
    };
    doc.after = after.ok();
    let outcome = match (ran.failed.as_ref(), missed) {
        (Some(f), _) => Err(f.to_string()),
        (None, Some(m)) => Err(m),
        (None, None) => Ok(()),
    };
    conclude(store, db, doc, outcome, how, lock, out)
}

/// `rollback --abort`: roll forward to the journal's `before`. The journal stands until the
/// database reads as `before` again, so a kill during the roll-forward leaves it to look at.
fn abort(store: &Store, db: &mut Db, pending: Option<MigrationRollback>, out: &mut Out) -> Result<()> {
    let journal = pending.ok_or_else(no_journal)?;
    let how =
        MoveOptions { with_dependents: true, backup: false, recovering: true, ..MoveOptions::default() };
    apply(store, db, Some(journal.before.clone()), how, out)?;
    // Already there (nothing ran) or rolled forward: the rollback is over.
    let lock = lock_for_recovery(store)?;
    if db.state(&[])?.apps == journal.before.apps {
        remove_journal(store)?;
    }
    drop(lock);
    Ok(())
}

/// A target as the user gave it, made exact: `zero`, `previous` (the migration before the
/// last applied one), a name, or a unique prefix of one.
pub fn resolve(state: &MigrationState, app: &str, target: &str) -> Result<String> {
    let a = state.app(app)?;
    match target {
        ZERO => return Ok(ZERO.to_string()),
        "previous" => {
            let last = a.migrations.iter().rev().find(|m| m.applied).ok_or_else(|| {
                failed(format!("no migration of {app} is applied: there is nothing to roll back"))
            })?;
            let before = a.before(&last.name)?;
            if before == ZERO {
                return Err(usage(format!(
                    "the migration before {app}.{} is none: `previous` would be `zero`, which drops {app}'s tables",
                    last.name
                ))
                .hint(format!("if that is what you want, say so: rb-migrate rollback {app} zero")));
            }
            return Ok(before);
        }
        _ => {}
    }
    if a.migrations.iter().any(|m| m.name == target) {
        return Ok(target.to_string());
    }
    let matches: Vec<&str> =
        a.migrations.iter().filter(|m| m.name.starts_with(target)).map(|m| m.name.as_str()).collect();
    match matches.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(failed(format!(
            "{app} has no migration {target:?}; its migrations are: {}",
            a.migrations.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
        many => Err(usage(format!("{target:?} matches several migrations of {app}: {}", many.join(", ")))
            .hint("give more of the name")),
    }
}

/// The state a document on stdin asks for: a `migration-state`, or a `migration-rollback`'s
/// `before`.
fn wanted_state() -> Result<MigrationState> {
    let (value, origin) = doc::read_one_stdin(
        "rb-migrate apply reads one `migration-state` or `migration-rollback` document",
        "rb-migrate rollback … > undo.json; rb-migrate apply < undo.json (or --latest)",
    )?;
    match doc::check_envelope(&value, &origin)? {
        MigrationRollback::KIND => Ok(doc::from_value::<MigrationRollback>(value, &origin)?.before),
        _ => doc::from_value::<MigrationState>(value, &origin).map_err(|e| {
            e.hint("rb-migrate apply reads a `migration-state` or a `migration-rollback` document")
        }),
    }
}

fn apply(
    store: &Store,
    db: &mut Db,
    wanted: Option<MigrationState>,
    how: MoveOptions,
    out: &mut Out,
) -> Result<()> {
    let latest = wanted.is_none();
    let before = db.state(&[])?;
    if let Some(wanted) = &wanted {
        check_document(&before, wanted)?;
    }
    // Each app whose position differs, with its plan: an irreversible undo is refused here too.
    let mut calls: Vec<Call> = Vec::new();
    let mut steps: Vec<PlanStep> = Vec::new();
    let add = |new: Vec<PlanStep>, steps: &mut Vec<PlanStep>| {
        for step in new {
            if !steps.iter().any(|s| s.migration == step.migration) {
                steps.push(step);
            }
        }
    };
    match &wanted {
        None => {
            for app in &before.apps {
                if app.migrations.iter().any(|m| !m.applied) {
                    let leaf = app.migrations.last().map(|m| m.name.clone()).unwrap_or_default();
                    add(db.plan(&[(app.app.clone(), leaf)])?, &mut steps);
                }
            }
            calls.push(Call { app: None, target: None, fake: false });
        }
        Some(wanted) => {
            for app in &wanted.apps {
                let target = app.position();
                if before.app(&app.app)?.position() == target {
                    continue;
                }
                let p = plan(db, &app.app, &target)?;
                if !p.irreversible.is_empty() {
                    return Err(failed(format!(
                        "moving {} to {target} would undo {}, which cannot be undone; nothing was run",
                        app.app,
                        p.irreversible.join(", ")
                    )));
                }
                add(p.steps, &mut steps);
                calls.push(Call { app: Some(app.app.clone()), target: Some(target), fake: false });
            }
            let left: Vec<&str> = before
                .apps
                .iter()
                .filter(|a| !wanted.apps.iter().any(|w| w.app == a.app))
                .map(|a| a.app.as_str())
                .collect();
            if !left.is_empty() {
                common::note(&format!("not in the document, left as they are: {}", left.join(", ")));
            }
        }
    }
    let mut doc = MigrationRollback {
        action: "apply".to_string(),
        app: None,
        target: None,
        before: before.clone(),
        after: None,
        steps,
        faked: Vec::new(),
        backup: None,
        mode: None,
        failed: None,
        restored: None,
        dry_run: how.dry_run,
    };
    if doc.steps.is_empty() {
        common::note(if latest {
            "every migration is applied: nothing to do"
        } else {
            "every app is already where the document says: nothing to do"
        });
        doc.after = Some(before);
        return out.emit(&doc.touched());
    }
    warn_loss(&doc.steps);
    doc.mode = Some(mode(&before, &doc.steps).to_string());
    let backup_how = db::backup_plan(db, &before, how.backup)?;
    if how.dry_run {
        return out.emit(&doc.touched());
    }
    let lock = locked_unchanged(store, db, &before, how.recovering)?;
    execute(store, db, doc, &calls, &backup_how, how, lock, out)
}

/// `restore-db ID`: the current database backed up (the undo), then the backup put back so
/// that the database equals it.
fn restore_db(store: &Store, db: &mut Db, id: &str, dry_run: bool, out: &mut Out) -> Result<()> {
    let (path, ext) = db::find_backup(store, id)?;
    let before = db.state(&[])?;
    let restored =
        DbBackup { id: id.to_string(), path: rb_common::paths::shown(&path), engine: String::new() };
    let mut doc = MigrationRollback {
        action: "restore-db".to_string(),
        app: None,
        target: None,
        before: before.clone(),
        after: None,
        steps: Vec::new(),
        faked: Vec::new(),
        backup: None,
        mode: None,
        failed: None,
        restored: Some(restored),
        dry_run,
    };
    let backup_how = db::backup_plan(db, &before, true)?;
    if dry_run {
        common::note(&format!(
            "dry run: would back up the database, then put {} back; nothing was changed",
            rb_common::paths::shown(&path)
        ));
        return out.emit(&doc);
    }
    let lock = lock_for_recovery(store)?;
    doc.backup = db::backup(store, db, &backup_how)?;
    let done = db::restore_backup(store, db, &path, ext);
    let after = db.state(&[]);
    let event = Event::ended("migrate-restore-db", done.as_ref().err());
    store.log_or_warn(event.set("django").snapshot(id));
    if let Err(e) = done {
        return Err(e.context(format!("restoring {id}")));
    }
    doc.after = Some(after?);
    // The database is the backup now: a rollback that was interrupted is over.
    if read_journal(store).ok().flatten().is_some() {
        remove_journal(store)?;
        common::note(
            "the interrupted migration rollback's journal is removed: the database is the backup now",
        );
    }
    drop(lock);
    let undo = format!(
        "what it was is in {} (`rb-migrate restore-db {}` undoes this)",
        doc.backup.as_ref().map_or("", |b| b.path.as_str()),
        doc.backup.as_ref().map_or("", |b| b.id.as_str())
    );
    common::note(&format!("the database is back to {id}; {undo}"));
    out.emit_after_change(&doc, &Changed::new(format!("the database is back to {id}"), undo))
}

/// A document for `apply` must be of this project: its apps exist, their migrations are
/// the project's (so no name can reach `manage.py` as anything but a migration).
fn check_document(now: &MigrationState, wanted: &MigrationState) -> Result<()> {
    for app in &wanted.apps {
        let here = now.app(&app.app).map_err(|e| {
            usage(format!(
                "the document names app {:?}, which this project does not have: {}",
                app.app,
                e.message()
            ))
        })?;
        if let Some(m) = app.migrations.iter().find(|m| !here.migrations.iter().any(|h| h.name == m.name)) {
            return Err(usage(format!(
                "the document names migration {:?} of {}, which this project does not have: is it from another project?",
                m.name, app.app
            )));
        }
    }
    Ok(())
}
