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

pub mod cli;
pub mod parse;

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::FILE;
use rb_common::django::Django;
use rb_common::doc::{self, Document, Out};
use rb_common::error::{Context, Result, failed, partial, usage};
use rb_common::exec;
use rb_common::fsx;
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

    /// The migration before `name` in this app, or `zero`.
    fn before(&self, name: &str) -> String {
        let i = self.migrations.iter().position(|m| m.name == name).unwrap_or(0);
        if i == 0 { ZERO.to_string() } else { self.migrations[i - 1].name.clone() }
    }
}

/// The `migration-state` document: every app, every migration, applied or not.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationState {
    /// The apps, as Django lists them.
    pub apps: Vec<AppState>,
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
    /// True when Django cannot undo it (a `RunPython` or `RunSQL` without a reverse).
    pub irreversible: bool,
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
            out.emit(&plan(&django, &state, &app, &target)?)
        }
        Command::Rollback { app, target, fake_irreversible, no_backup, dry_run } => {
            let how = How { fake_irreversible, backup: !no_backup, dry_run };
            rollback(&store, &django, &app, &target, how, out)
        }
        Command::Apply { latest, no_backup, dry_run } => {
            apply(&store, &django, latest, How { fake_irreversible: false, backup: !no_backup, dry_run }, out)
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct How {
    fake_irreversible: bool,
    backup: bool,
    dry_run: bool,
}

/// `showmigrations`, for `apps` (all when empty).
pub fn status(django: &Django, apps: &[String]) -> Result<MigrationState> {
    let mut args = vec!["showmigrations", "--no-color"];
    args.extend(apps.iter().map(String::as_str));
    let out = django.manage_ok(&args)?;
    Ok(MigrationState { apps: parse::showmigrations(&out.stdout)? })
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
            return Ok(a.before(&last.name));
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

/// `migrate APP TARGET --plan`, each step's direction from `state`.
pub fn plan(django: &Django, state: &MigrationState, app: &str, target: &str) -> Result<MigrationPlan> {
    let out = django.manage_ok(&["migrate", app, target, "--plan", "--no-color"])?;
    let mut steps = parse::plan(&out.stdout)?;
    for step in &mut steps {
        let applied = state
            .apps
            .iter()
            .find(|a| a.app == step.app)
            .and_then(|a| a.migrations.iter().find(|m| m.name == step.name))
            .is_some_and(|m| m.applied);
        step.direction = if applied { "backward" } else { "forward" }.to_string();
        // Only an undo can be irreversible.
        step.irreversible &= applied;
    }
    let irreversible = steps.iter().filter(|s| s.irreversible).map(|s| s.migration.clone()).collect();
    Ok(MigrationPlan { app: app.to_string(), target: target.to_string(), steps, irreversible })
}

fn rollback(store: &Store, django: &Django, app: &str, target: &str, how: How, out: &mut Out) -> Result<()> {
    let before = status(django, &[])?;
    let target = resolve(&before, app, target)?;
    let mut plan = plan(django, &before, app, &target)?;
    if let Some(step) = plan.steps.iter().find(|s| s.direction == "forward") {
        return Err(usage(format!(
            "{app} is at {}, before {target}: migrating to it applies {}, which is a roll-forward, not a rollback",
            before.app(app)?.position(),
            step.migration
        ))
        .hint("rb-migrate apply rolls forward"));
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
    if how.dry_run {
        common::note(&format!(
            "dry run: would undo {} migrations of {app}; nothing was run",
            plan.steps.len()
        ));
        return out.emit(&doc);
    }
    let _lock = store.lock()?;
    if how.backup {
        doc.backup = Some(backup(store, django)?);
    } else {
        common::warn("no database backup (--no-backup): what the rollback drops is gone");
    }
    let result = if doc.faked.is_empty() {
        django.manage_ok(&["migrate", app, &target, "--no-input", "--no-color"]).map(|_| ())
    } else {
        step_by_step(django, &before, &doc.steps)
    };
    let after = status(django, &[]);
    let reached = after.as_ref().ok().and_then(|a| a.app(app).ok()).map(AppState::position);
    doc.after = after.ok();
    let outcome = match (result, reached) {
        (Ok(()), Some(at)) if at == target => Ok(()),
        (Ok(()), at) => Err(format!(
            "{app} is at {} afterwards, not {target}",
            at.as_deref().unwrap_or("an unknown state")
        )),
        (Err(e), _) => Err(e.message().to_string()),
    };
    finish(store, doc, outcome, out)
}

/// Runs the plan one migration at a time, faking the irreversible ones.
fn step_by_step(django: &Django, before: &MigrationState, steps: &[PlanStep]) -> Result<()> {
    for step in steps {
        let to = before.app(&step.app)?.before(&step.name);
        let mut args = vec!["migrate", step.app.as_str(), to.as_str(), "--no-input", "--no-color"];
        if step.faked {
            args.push("--fake");
            common::note(&format!("marking {} unapplied without running it (--fake)", step.migration));
        }
        django.manage_ok(&args).map_err(|e| e.context(format!("at {}", step.migration)))?;
    }
    Ok(())
}

/// Logs the outcome and prints the document; a failure after something ran is exit 3, with
/// the way back.
fn finish(
    store: &Store,
    doc: MigrationRollback,
    outcome: std::result::Result<(), String>,
    out: &mut Out,
) -> Result<()> {
    let what = doc.app.clone().unwrap_or_else(|| "the database".to_string());
    let event = match &outcome {
        Ok(()) => Event::new(&format!("migrate-{}", doc.action), true),
        Err(e) => Event::new(&format!("migrate-{}", doc.action), false).error(&failed(e.clone())),
    };
    store.log_or_warn(event.set("django").snapshot(doc.backup.as_ref().map_or("", |b| b.id.as_str())));
    let emitted = out.emit(&doc);
    match outcome {
        Ok(()) => {
            common::note(&format!(
                "{} {what}: {} steps{}; `rb-migrate apply` of this document goes back",
                if doc.action == "rollback" { "rolled back" } else { "migrated" },
                doc.steps.len(),
                doc.backup
                    .as_ref()
                    .map(|b| format!(", the database backed up in {}", b.path))
                    .unwrap_or_default()
            ));
            emitted
        }
        Err(e) => Err(partial(
            format!(
                "migrating {what} failed: {e}; the database may be partly migrated (the document's `after` says where it is)"
            ),
            match &doc.backup {
                Some(b) => format!(
                    "pipe the document to `rb-migrate apply` to go back to where it started, or restore {}",
                    b.path
                ),
                None => "pipe the document to `rb-migrate apply` to go back to where it started".to_string(),
            },
        )),
    }
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
    vendor: String,
    #[serde(default)]
    backed_up: bool,
}

/// Backs the database up into the store (the caller holds the lock): SQLite through its
/// online backup, another engine through `[django] backup`; 0600, complete or absent.
fn backup(store: &Store, django: &Django) -> Result<DbBackup> {
    let info: DbAnswer = django.call(DB_PROGRAM, &serde_json::json!({ "path": null }))?;
    let now = clock::now()?;
    let id = store.next_id("db", &now)?;
    let tmp = store.tmp_path(&id)?;
    let ext = if info.vendor == "sqlite" { "sqlite3" } else { "dump" };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .ctx(|| format!("creating {}", tmp.display()))?;
    if info.vendor == "sqlite" {
        drop(file);
        let done: DbAnswer = django.call(DB_PROGRAM, &serde_json::json!({ "path": tmp }))?;
        if !done.backed_up {
            return Err(failed("the SQLite backup did not run"));
        }
    } else {
        let Some(command) = django.config.backup.clone().filter(|c| !c.is_empty()) else {
            return Err(failed(format!(
                "the database is {}, not SQLite, and no backup command is set: unapplying migrations drops columns and tables with their data",
                info.engine
            ))
            .hint(format!("set [django] backup = [\"pg_dump\", \"--format=custom\", …] in {FILE} (it writes the dump to stdout), or give --no-backup")));
        };
        let setting = format!("django.backup in {FILE}");
        let ran = exec::run_to_file(&command, &store.root, &setting, file)?;
        if !ran.ok() {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(format!(
                "`{}` failed ({}): {}",
                exec::display(&command),
                ran.status(),
                ran.summary()
            )));
        }
    }
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ctx(|| format!("syncing {}", tmp.display()))?;
    let path = store.dir.join(format!("{id}.{ext}"));
    std::fs::rename(&tmp, &path).ctx(|| format!("moving the backup to {}", path.display()))?;
    fsx::sync_dir(&store.dir)?;
    let shown = shown(&path);
    common::note(&format!("backed up the database ({}) to {shown}", info.engine));
    Ok(DbBackup { id, path: shown, engine: info.engine })
}

fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

/// The state a document on stdin asks for: a `migration-state`, or a `migration-rollback`'s
/// `before`.
fn wanted_state() -> Result<MigrationState> {
    let docs = doc::read_stdin_values()?;
    let [(value, origin)] = <[_; 1]>::try_from(docs).map_err(|docs: Vec<_>| {
        usage(format!("{} documents on stdin; rb-migrate apply reads one", docs.len()))
            .hint("rb-migrate rollback … > undo.json; rb-migrate apply < undo.json (or --latest)")
    })?;
    match doc::check_envelope(&value, &origin)? {
        MigrationRollback::KIND => Ok(doc::from_value::<MigrationRollback>(value, &origin)?.before),
        _ => doc::from_value::<MigrationState>(value, &origin).map_err(|e| {
            e.hint("rb-migrate apply reads a `migration-state` or a `migration-rollback` document")
        }),
    }
}

fn apply(store: &Store, django: &Django, latest: bool, how: How, out: &mut Out) -> Result<()> {
    let wanted = if latest { None } else { Some(wanted_state()?) };
    let before = status(django, &[])?;
    // Each app whose position differs, with its plan: an irreversible undo is refused here too.
    let mut moves: Vec<(String, String)> = Vec::new();
    let mut steps = Vec::new();
    match &wanted {
        None => {
            let out = django.manage_ok(&["migrate", "--plan", "--no-color"])?;
            steps = parse::plan(&out.stdout)?;
            for s in &mut steps {
                s.direction = "forward".to_string();
            }
        }
        Some(wanted) => {
            for app in &wanted.apps {
                let target = app.position();
                if before.app(&app.app)?.position() == target {
                    continue;
                }
                let p = plan(django, &before, &app.app, &target)?;
                if !p.irreversible.is_empty() {
                    return Err(failed(format!(
                        "moving {} to {target} would undo {}, which cannot be undone; nothing was run",
                        app.app,
                        p.irreversible.join(", ")
                    )));
                }
                steps.extend(p.steps);
                moves.push((app.app.clone(), target));
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
        common::note("every app is already where the document says: nothing to do");
        doc.after = Some(before);
        return out.emit(&doc);
    }
    if how.dry_run {
        return out.emit(&doc);
    }
    let _lock = store.lock()?;
    if how.backup {
        doc.backup = Some(backup(store, django)?);
    }
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
    finish(store, doc, outcome, out)
}
