//! `rb-migrate`: Django migration rollbacks that are planned, refused when irreversible,
//! backed up and undoable.
//!
//! The seed's `migration_rollback.sh` runs `manage.py migrate APP zero` when no number is
//! given, and runs blind: an irreversible migration stops Django half-way, with the steps
//! before it already undone. Here a rollback reads the state (`showmigrations`), resolves the
//! target (a name, a unique prefix, `zero`, `previous`), reads Django's own plan (`migrate
//! --plan`) and refuses an irreversible step before anything runs; backs the database up into
//! the store; migrates; and checks that the app is where it was asked to be. Its document
//! keeps the state it started from, which `rb-migrate apply` rolls forward to.
//!
//! State and plan come from Django itself — its migration loader and executor, through a
//! fixed program run by `manage.py shell` ([`INSPECT`]) — not from parsing what
//! `showmigrations` and `migrate --plan` print: squashed migrations, operations whose undo is
//! missing inside a `SeparateDatabaseAndState`, and anything the settings print are then
//! read right.

pub mod cli;

use std::os::unix::fs::OpenOptionsExt;

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::FILE;
use rb_common::django::Django;
use rb_common::doc::{self, Document, Out};
use rb_common::error::{Context, Result, failed, partial, usage};
use rb_common::exec;
use rb_common::fsx;
use rb_common::paths::shown;
use rb_common::store::{Event, Store};
use serde::{Deserialize, Serialize};

pub use cli::Cli;
use cli::Command;

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

/// The `migration-rollback` document: a rollback (or `apply`) that ran or would run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationRollback {
    /// `rollback` or `apply`.
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
    /// True when nothing was run because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for MigrationRollback {
    const KIND: &'static str = "migration-rollback";
    const SOURCE: &'static str = "rb-migrate rollback";
}

/// `rb-migrate rollback APP TARGET` as a library call (rb-emergency's drills): the checks,
/// the backup, the migration; the `migration-rollback` document goes to `out`.
pub fn rollback_app(store: &Store, django: &Django, app: &str, target: &str, out: &mut Out) -> Result<()> {
    let how = How { fake_irreversible: false, with_dependents: false, backup: true, dry_run: false };
    rollback(store, django, app, target, how, out)
}

/// `rb-migrate apply` of `wanted` as a library call: every app back to where `wanted` says.
pub fn apply_state(store: &Store, django: &Django, wanted: MigrationState, out: &mut Out) -> Result<()> {
    let how = How { fake_irreversible: false, with_dependents: true, backup: true, dry_run: false };
    apply(store, django, Some(wanted), how, out)
}

/// The target that means "no migration applied".
pub const ZERO: &str = "zero";

/// Runs `rb-migrate` with parsed arguments, writing documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    let django = Django::new(&config, &store.root)?;
    match cli.command {
        Command::Status { apps } => out.emit(&status(&django, &apps)?),
        Command::Plan { app, target } => {
            let state = status(&django, &[])?;
            let target = resolve(&state, &app, &target)?;
            out.emit(&plan(&django, &app, &target)?)
        }
        Command::Rollback { app, target, fake_irreversible, with_dependents, no_backup, dry_run } => {
            let how = How { fake_irreversible, with_dependents, backup: !no_backup, dry_run };
            rollback(&store, &django, &app, &target, how, out)
        }
        Command::Apply { latest, no_backup, dry_run } => {
            let how = How { fake_irreversible: false, with_dependents: true, backup: !no_backup, dry_run };
            let wanted = if latest { None } else { Some(wanted_state()?) };
            apply(&store, &django, wanted, how, out)
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct How {
    fake_irreversible: bool,
    with_dependents: bool,
    backup: bool,
    dry_run: bool,
}

/// Reads the state (and, asked, a plan) from Django's own migration loader and executor.
/// Apps are listed by label; each app's migrations in graph order, with their parents in
/// the app; a squashed migration is applied when everything it replaces is (Django's rule).
pub const INSPECT: &str = r#"
import json, sys
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython, RunSQL, SeparateDatabaseAndState

request = json.load(sys.stdin)
executor = MigrationExecutor(connection)
loader, graph = executor.loader, executor.loader.graph
applied = loader.applied_migrations


def migrations(label):
    seen, names = set(), []
    for leaf in graph.leaf_nodes(label):
        for node in graph.forwards_plan(leaf):
            if node[0] == label and node not in seen:
                seen.add(node)
                names.append(node[1])
    return names


def parents(label, name):
    return sorted(p[1] for p in graph.node_map[(label, name)].parents if p[0] == label)


def reversible(op):
    if isinstance(op, SeparateDatabaseAndState):
        return all(reversible(o) for o in op.database_operations)
    return bool(getattr(op, "reversible", True))


labels = request["apps"] or sorted(loader.migrated_apps)
answer = {
    "vendor": connection.vendor,
    "database": str(connection.settings_dict["NAME"]),
    "unknown": [label for label in labels if label not in loader.migrated_apps],
    "apps": [
        {
            "app": label,
            "migrations": [
                {"name": n, "applied": (label, n) in applied, "parents": parents(label, n)} for n in migrations(label)
            ],
        }
        for label in labels
        if label in loader.migrated_apps
    ],
}
if request.get("plan"):
    app, target = request["plan"]
    answer["plan"] = [
        {
            "migration": f"{m.app_label}.{m.name}",
            "app": m.app_label,
            "name": m.name,
            "direction": "backward" if backwards else "forward",
            "irreversible": backwards and not all(reversible(op) for op in m.operations),
            "data_only": all(isinstance(op, (RunPython, RunSQL)) for op in m.operations),
            "operations": [op.describe() for op in m.operations],
        }
        for m, backwards in executor.migration_plan([(app, None if target == "zero" else target)])
    ]
print(json.dumps(answer))
"#;

#[derive(Deserialize)]
struct Inspected {
    vendor: String,
    database: String,
    unknown: Vec<String>,
    apps: Vec<AppState>,
    #[serde(default)]
    plan: Vec<PlanStep>,
}

fn inspect(django: &Django, apps: &[String], plan: Option<(&str, &str)>) -> Result<Inspected> {
    let request = serde_json::json!({ "apps": apps, "plan": plan });
    let answer: Inspected = django.call(INSPECT, &request)?;
    if let Some(app) = answer.unknown.first() {
        return Err(failed(format!("no app labelled {app:?} has migrations"))
            .hint("rb-migrate status lists the apps there are"));
    }
    Ok(answer)
}

/// The state of `apps` (all when empty).
pub fn status(django: &Django, apps: &[String]) -> Result<MigrationState> {
    let answer = inspect(django, apps, None)?;
    Ok(MigrationState { apps: answer.apps, vendor: Some(answer.vendor), database: Some(answer.database) })
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

/// What migrating `app` to `target` would run, from Django's executor.
pub fn plan(django: &Django, app: &str, target: &str) -> Result<MigrationPlan> {
    let steps = inspect(django, &[], Some((app, target)))?.plan;
    let irreversible = steps.iter().filter(|s| s.irreversible).map(|s| s.migration.clone()).collect();
    Ok(MigrationPlan { app: app.to_string(), target: target.to_string(), steps, irreversible })
}

fn rollback(store: &Store, django: &Django, app: &str, target: &str, how: How, out: &mut Out) -> Result<()> {
    let before = status(django, &[])?;
    let target = resolve(&before, app, target)?;
    let mut plan = plan(django, app, &target)?;
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
        dry_run: how.dry_run,
    };
    if plan.steps.is_empty() {
        common::note(&format!("{app} is already at {target}: nothing to do"));
        doc.after = Some(before);
        return out.emit(&doc);
    }
    let backup_how = backup_plan(django, &before, how.backup)?;
    if how.dry_run {
        common::note(&format!("dry run: would undo {} migrations; nothing was run", plan.steps.len()));
        return out.emit(&doc);
    }
    let lock = locked_unchanged(store, django, &before)?;
    doc.backup = backup(store, django, backup_how)?;
    let result = if doc.faked.is_empty() {
        django.manage_ok(&["migrate", app, &target, "--no-input", "--no-color"]).map(|_| ())
    } else {
        step_by_step(django, &before, &doc.steps)
    };
    let after = status(django, &[]);
    // Done means: every step's migration is unapplied, and the app is at the target.
    let missed = match &after {
        Err(e) => Some(e.message().to_string()),
        Ok(after) => doc
            .steps
            .iter()
            .find(|s| {
                after
                    .app(&s.app)
                    .ok()
                    .and_then(|a| a.migrations.iter().find(|m| m.name == s.name))
                    .is_none_or(|m| m.applied)
            })
            .map(|s| format!("{} is still applied", s.migration))
            .or_else(|| {
                let at = after.app(app).map(AppState::position).unwrap_or_default();
                (at != target).then(|| format!("{app} is at {at}, not {target}"))
            }),
    };
    doc.after = after.ok();
    let outcome = match (result, missed) {
        (Err(e), _) => Err(e.message().to_string()),
        (Ok(()), Some(m)) => Err(m),
        (Ok(()), None) => Ok(()),
    };
    finish(store, doc, outcome, lock, out)
}

/// Takes the lock, then checks that the state is still the one planned from (another
/// rollback may have moved it meanwhile). Checks run unlocked, so a refusal writes nothing.
fn locked_unchanged(
    store: &Store,
    django: &Django,
    planned: &MigrationState,
) -> Result<rb_common::lock::Lock> {
    let lock = store.lock()?;
    if status(django, &[])?.apps != planned.apps {
        return Err(failed(
            "the migration state changed while this was being planned (another rollback?); nothing was run",
        )
        .hint("run it again"));
    }
    Ok(lock)
}

/// Runs the plan one migration at a time, faking the irreversible ones: each step migrates
/// its app to the migration its step follows (the history is linear there: checked).
fn step_by_step(django: &Django, before: &MigrationState, steps: &[PlanStep]) -> Result<()> {
    for step in steps {
        let to = before.app(&step.app)?.before(&step.name)?;
        let mut args = vec!["migrate", step.app.as_str(), to.as_str(), "--no-input", "--no-color"];
        if step.faked {
            args.push("--fake");
            common::note(&format!("marking {} unapplied without running it (--fake)", step.migration));
        }
        django.manage_ok(&args).map_err(|e| e.context(format!("at {}", step.migration)))?;
    }
    Ok(())
}

/// Logs the outcome and prints the document. A failure after which the state is what it was
/// on a database whose schema changes roll back with their transaction (SQLite, PostgreSQL)
/// changed nothing: exit 1. Any other failure after something ran is exit 3, with the way
/// back.
fn finish(
    store: &Store,
    doc: MigrationRollback,
    outcome: std::result::Result<(), String>,
    lock: rb_common::lock::Lock,
    out: &mut Out,
) -> Result<()> {
    let what = doc.app.clone().unwrap_or_else(|| "the database".to_string());
    let action = format!("migrate-{}", doc.action);
    let event = match &outcome {
        Ok(()) => Event::new(&action, true),
        Err(e) => Event::new(&action, false).error(&failed(e.clone())),
    };
    store.log_or_warn(event.set("django").snapshot(doc.backup.as_ref().map_or("", |b| b.id.as_str())));
    drop(lock);
    let emitted = out.emit(&doc);
    let Err(e) = outcome else {
        common::note(&format!(
            "{} {what}: {} steps{}; `rb-migrate apply` of this document goes back",
            if doc.action == "rollback" { "rolled back" } else { "migrated" },
            doc.steps.len(),
            doc.backup
                .as_ref()
                .map(|b| format!(", the database backed up in {}", b.path))
                .unwrap_or_default()
        ));
        return emitted;
    };
    let transactional = matches!(doc.before.vendor.as_deref(), Some("sqlite" | "postgresql"));
    let unchanged = doc.after.as_ref().is_some_and(|a| a.apps == doc.before.apps);
    if unchanged && transactional {
        return Err(failed(format!(
            "migrating {what} failed: {e}; nothing was changed (the failed step was rolled back)"
        )));
    }
    let restore = doc.backup.as_ref().map(|b| match (&b.engine[..], &doc.before.database) {
        (engine, Some(db)) if engine.ends_with("sqlite3") => {
            format!(", or, with the app stopped, `sqlite3 {db} \".restore {}\"` puts the backup back", b.path)
        }
        _ => format!(", or restore the dump {}", b.path),
    });
    Err(partial(
        format!(
            "migrating {what} failed: {e}; the database may be partly migrated (the document's `after` says where it is)"
        ),
        format!(
            "pipe the document to `rb-migrate apply` to go back to where it started{}",
            restore.unwrap_or_default()
        ),
    ))
}

/// Asks Django which database it uses and, given a path, copies a SQLite one there with
/// SQLite's online backup (consistent while the app runs).
const DB_PROGRAM: &str = r#"
import json, sqlite3, sys
from django.db import connection
request = json.load(sys.stdin)
answer = {"engine": connection.settings_dict["ENGINE"], "vendor": connection.vendor}
if request.get("path") and connection.vendor == "sqlite":
    connection.ensure_connection()
    target = sqlite3.connect(request["path"])
    with target:
        connection.connection.backup(target)
    target.close()
    answer["backed_up"] = True
print(json.dumps(answer))
"#;

#[derive(Deserialize)]
struct DbAnswer {
    engine: String,
    #[serde(default)]
    backed_up: bool,
}

/// How the database will be backed up, decided before anything runs (and shown by a dry run).
#[derive(Debug, Clone)]
enum BackupHow {
    None,
    Sqlite,
    Dump(Vec<String>),
}

fn backup_plan(django: &Django, state: &MigrationState, wanted: bool) -> Result<BackupHow> {
    if !wanted {
        common::warn("no database backup (--no-backup): what this drops is gone");
        return Ok(BackupHow::None);
    }
    if state.vendor.as_deref() == Some("sqlite") {
        return Ok(BackupHow::Sqlite);
    }
    match django.config.backup.clone().filter(|c| !c.is_empty()) {
        Some(command) => Ok(BackupHow::Dump(command)),
        None => Err(failed(format!(
            "the database is {}, not SQLite, and no backup command is set: unapplying migrations drops columns and tables with their data; nothing was run",
            state.vendor.as_deref().unwrap_or("unknown")
        ))
        .hint(format!("set [django] backup = [\"pg_dump\", \"--format=custom\", …] in {FILE} (it writes the dump to stdout), or give --no-backup"))),
    }
}

/// Backs the database up into the store (the caller holds the lock): SQLite through its
/// online backup, another engine through `[django] backup`; 0600, complete or absent.
fn backup(store: &Store, django: &Django, how: BackupHow) -> Result<Option<DbBackup>> {
    let ext = match &how {
        BackupHow::None => return Ok(None),
        BackupHow::Sqlite => "sqlite3",
        BackupHow::Dump(_) => "dump",
    };
    let now = clock::now()?;
    let id = store.next_id("db", &now)?;
    let tmp = store.tmp_path(&id)?;
    let made = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .ctx(|| format!("creating {}", tmp.display()))?;
        let engine = match &how {
            BackupHow::Dump(command) => {
                let setting = format!("django.backup in {FILE}");
                let ran = exec::run_to_file(command, &store.root, &setting, django.env(), file)?;
                if !ran.ok() {
                    return Err(failed(format!(
                        "`{}` failed ({}): {}",
                        exec::display(command),
                        ran.status(),
                        ran.summary()
                    )));
                }
                if std::fs::metadata(&tmp).map_or(0, |m| m.len()) == 0 {
                    return Err(failed(format!("`{}` wrote nothing: no backup", exec::display(command))));
                }
                exec::display(command)
            }
            _ => {
                drop(file);
                let done: DbAnswer = django.call(DB_PROGRAM, &serde_json::json!({ "path": tmp }))?;
                if !done.backed_up {
                    return Err(failed("the SQLite backup did not run"));
                }
                done.engine
            }
        };
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ctx(|| format!("syncing {}", tmp.display()))?;
        Ok(engine)
    })();
    let engine = match made {
        Ok(engine) => engine,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context("backing up the database; nothing was run"));
        }
    };
    let path = store.dir.join(format!("{id}.{ext}"));
    std::fs::rename(&tmp, &path).ctx(|| format!("moving the backup to {}", path.display()))?;
    fsx::sync_dir(&store.dir)?;
    let shown = shown(&path);
    common::note(&format!("backed up the database to {shown}"));
    Ok(Some(DbBackup { id, path: shown, engine }))
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
    django: &Django,
    wanted: Option<MigrationState>,
    how: How,
    out: &mut Out,
) -> Result<()> {
    let latest = wanted.is_none();
    let before = status(django, &[])?;
    if let Some(wanted) = &wanted {
        check_document(&before, wanted)?;
    }
    // Each app whose position differs, with its plan: an irreversible undo is refused here too.
    let mut moves: Vec<(String, String)> = Vec::new();
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
                    add(plan(django, &app.app, &leaf)?.steps, &mut steps);
                }
            }
        }
        Some(wanted) => {
            for app in &wanted.apps {
                let target = app.position();
                if before.app(&app.app)?.position() == target {
                    continue;
                }
                let p = plan(django, &app.app, &target)?;
                if !p.irreversible.is_empty() {
                    return Err(failed(format!(
                        "moving {} to {target} would undo {}, which cannot be undone; nothing was run",
                        app.app,
                        p.irreversible.join(", ")
                    )));
                }
                add(p.steps, &mut steps);
                moves.push((app.app.clone(), target));
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
        dry_run: how.dry_run,
    };
    if doc.steps.is_empty() {
        common::note(if latest {
            "every migration is applied: nothing to do"
        } else {
            "every app is already where the document says: nothing to do"
        });
        doc.after = Some(before);
        return out.emit(&doc);
    }
    let backup_how = backup_plan(django, &before, how.backup)?;
    if how.dry_run {
        return out.emit(&doc);
    }
    let lock = locked_unchanged(store, django, &before)?;
    doc.backup = backup(store, django, backup_how)?;
    let result: Result<()> = match &wanted {
        None => django.manage_ok(&["migrate", "--no-input", "--no-color"]).map(|_| ()),
        Some(_) => moves.iter().try_for_each(|(app, target)| {
            django.manage_ok(&["migrate", app, target, "--no-input", "--no-color"]).map(|_| ())
        }),
    };
    let after = status(django, &[]);
    let missed: Option<String> = match (&wanted, &after) {
        (_, Err(e)) => Some(e.message().to_string()),
        (Some(wanted), Ok(after)) => wanted.apps.iter().find_map(|w| {
            let at = after.app(&w.app).map(AppState::position).unwrap_or_default();
            (at != w.position()).then(|| format!("{} is at {at}, not {}", w.app, w.position()))
        }),
        (None, Ok(after)) => after
            .apps
            .iter()
            .find(|a| a.migrations.iter().any(|m| !m.applied))
            .map(|a| format!("{} still has unapplied migrations", a.app)),
    };
    doc.after = after.ok();
    let outcome = match (result, missed) {
        (Err(e), _) => Err(e.message().to_string()),
        (Ok(()), Some(m)) => Err(m),
        (Ok(()), None) => Ok(()),
    };
    finish(store, doc, outcome, lock, out)
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
