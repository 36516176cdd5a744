//! The database side of rb-migrate: one Python session for the whole command (the state,
//! the plan, the run, SQLite's backups), and the backups themselves — checked before a
//! rollback may rely on them — with `restore-db`, which puts one back.
//!
//! A PostgreSQL backup is `pg_dump --format=custom` (or `[django] backup`), listed with
//! `pg_restore --list` and its `dbname:` compared with Django's database: a plain SQL dump
//! cannot be listed, and `echo` is no backup. A SQLite backup is SQLite's online backup,
//! passing `PRAGMA integrity_check`. Credentials reach pg_dump, pg_restore and psql in
//! `PGPASSWORD` (or `.pgpass`), never on a command line.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::FILE;
use rb_common::django::{Django, Session};
use rb_common::error::{Context, Result, failed, usage};
use rb_common::exec;
use rb_common::fsx;
use rb_common::paths::shown;
use rb_common::store::Store;
use serde::{Deserialize, Serialize};

use crate::{DbBackup, Failure, MigrationState, PlanStep};

/// rb-migrate's requests, served by one Python process (after rb-common's session prelude).
pub const PROGRAM: &str = include_str!("migrate.py");

/// The project's database, through one Django session.
pub struct Db {
    session: Session,
    /// How Django was reached (for pg_dump's environment and messages).
    pub django: Django,
}

#[derive(Deserialize)]
struct Inspected {
    vendor: String,
    database: String,
    unknown: Vec<String>,
    apps: Vec<crate::AppState>,
}

#[derive(Deserialize)]
struct Planned {
    steps: Vec<PlanStep>,
}

/// One `manage.py migrate` call of a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Call {
    /// The app (none: every app, `migrate` alone).
    pub app: Option<String>,
    /// The target migration or `zero` (none: the app's latest).
    pub target: Option<String>,
    /// Mark unapplied/applied without running (`--fake`).
    pub fake: bool,
}

/// What a run answered.
#[derive(Debug, Clone, Deserialize)]
pub struct Ran {
    /// Every step passed (and, for a real run in one transaction, was committed).
    pub ok: bool,
    /// The step that failed, its operation and the database's own error.
    pub failed: Option<Failure>,
    /// PostgreSQL refused one transaction ("pending trigger events"): run per migration.
    #[serde(default)]
    pub pending_trigger_events: bool,
}

/// How to reach the database from outside Django (pg_dump, pg_restore, psql).
#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    /// `sqlite`, `postgresql`, …
    pub vendor: String,
    /// Django's ENGINE.
    pub engine: String,
    /// The database NAME.
    pub name: String,
    host: String,
    port: String,
    user: String,
    password: String,
}

impl Connection {
    /// libpq's environment: PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD when Django has
    /// a password (otherwise `.pgpass` or the server's trust decide).
    pub fn pg_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("PGDATABASE".to_string(), self.name.clone())];
        for (k, v) in [
            ("PGHOST", &self.host),
            ("PGPORT", &self.port),
            ("PGUSER", &self.user),
            ("PGPASSWORD", &self.password),
        ] {
            if !v.is_empty() {
                env.push((k.to_string(), v.clone()));
            }
        }
        env
    }
}

#[derive(Deserialize)]
struct Integrity {
    integrity: String,
}

fn show_progress(text: &str) {
    common::note(text);
}

impl Db {
    /// Starts the session (Django set up once for the whole command).
    pub fn open(django: &Django) -> Result<Db> {
        let session = django.session(PROGRAM, django.config.timeout()?)?;
        Ok(Db { session, django: django.clone() })
    }

    fn call<A: serde::de::DeserializeOwned>(&mut self, request: serde_json::Value) -> Result<A> {
        self.session.call(&request, &mut show_progress)
    }

    /// The state of `apps` (all when empty).
    pub fn state(&mut self, apps: &[String]) -> Result<MigrationState> {
        let answer: Inspected = self.call(serde_json::json!({ "op": "state", "apps": apps }))?;
        if let Some(app) = answer.unknown.first() {
            return Err(failed(format!("no app labelled {app:?} has migrations"))
                .hint("rb-migrate status lists the apps there are"));
        }
        Ok(MigrationState { apps: answer.apps, vendor: Some(answer.vendor), database: Some(answer.database) })
    }

    /// Django's plan for migrating each app to its target, with what each reversal loses.
    /// Counting the rows at stake reads the tables; it takes no lock that blocks the app.
    pub fn plan(&mut self, targets: &[(String, String)]) -> Result<Vec<PlanStep>> {
        let answer: Planned = self.call(serde_json::json!({ "op": "plan", "targets": targets }))?;
        Ok(answer.steps)
    }

    /// Runs `calls` (`total` migrations in all, for progress): in one transaction when
    /// `one_transaction`, rolled back at the end when `rehearse`.
    pub fn run(
        &mut self,
        calls: &[Call],
        total: usize,
        one_transaction: bool,
        rehearse: bool,
    ) -> Result<Ran> {
        let lock_timeout_ms = self.django.config.lock_timeout()?.as_millis() as u64;
        self.call(serde_json::json!({
            "op": "run", "calls": calls, "total": total, "one_transaction": one_transaction,
            "rehearse": rehearse, "lock_timeout_ms": lock_timeout_ms,
        }))
    }

    /// How to reach the database from pg_dump and psql.
    pub fn connection(&mut self) -> Result<Connection> {
        self.call(serde_json::json!({ "op": "database" }))
    }

    /// Ends the session.
    pub fn close(self) -> Result<()> {
        self.session.close()
    }
}

/// How the database will be backed up, decided before anything runs (and shown by a dry run).
#[derive(Debug, Clone)]
pub enum BackupMethod {
    /// `--no-backup`.
    None,
    /// SQLite's online backup.
    Sqlite,
    /// A dump command writing to stdout (PostgreSQL: checked with `pg_restore --list`).
    Dump(Vec<String>),
}

/// Decides the backup: SQLite's online backup, `[django] backup`, or for PostgreSQL
/// `pg_dump --format=custom`; another engine without `[django] backup` is refused.
pub fn backup_plan(db: &mut Db, state: &MigrationState, wanted: bool) -> Result<BackupMethod> {
    if !wanted {
        common::warn("no database backup (--no-backup): what this drops is gone");
        return Ok(BackupMethod::None);
    }
    match (state.vendor.as_deref(), db.django.config.backup.clone().filter(|c| !c.is_empty())) {
        (Some("sqlite"), _) => Ok(BackupMethod::Sqlite),
        (_, Some(command)) => Ok(BackupMethod::Dump(command)),
        (Some("postgresql"), None) => {
            let argv = ["pg_dump", "--format=custom", "--no-password"].map(String::from).to_vec();
            exec::find(&argv[0], db.django.root(), "the default backup (pg_dump, from postgresql-client)")?;
            Ok(BackupMethod::Dump(argv))
        }
        (vendor, None) => Err(failed(format!(
            "the database is {}, not SQLite or PostgreSQL, and no backup command is set: unapplying migrations drops columns and tables with their data; nothing was run",
            vendor.unwrap_or("unknown")
        ))
        .hint(format!("set [django] backup = [\"…dump command…\"] in {FILE} (it writes the dump to stdout), or give --no-backup"))),
    }
}

/// Backs the database up into the store (the caller holds the lock), 0600, complete and
/// checked or absent: SQLite passes `PRAGMA integrity_check`; a PostgreSQL dump lists with
/// `pg_restore --list` and names Django's database.
pub fn backup(store: &Store, db: &mut Db, how: &BackupMethod) -> Result<Option<DbBackup>> {
    let ext = match how {
        BackupMethod::None => return Ok(None),
        BackupMethod::Sqlite => "sqlite3",
        BackupMethod::Dump(_) => "dump",
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
        let conn = db.connection()?;
        if let BackupMethod::Dump(command) = how {
            dump(store, db, &conn, command, file, &tmp)?;
        } else {
            drop(file);
            let done: Integrity = db.call(serde_json::json!({ "op": "backup_sqlite", "path": tmp }))?;
            if done.integrity != "ok" {
                return Err(failed(format!(
                    "the SQLite copy fails PRAGMA integrity_check: {}",
                    done.integrity
                )));
            }
        }
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ctx(|| format!("syncing {}", tmp.display()))?;
        Ok(conn.engine)
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

fn dump(
    store: &Store,
    db: &Db,
    conn: &Connection,
    command: &[String],
    file: std::fs::File,
    tmp: &Path,
) -> Result<()> {
    let setting = if db.django.config.backup.is_some() {
        format!("django.backup in {FILE}")
    } else {
        "the default backup (pg_dump)".to_string()
    };
    let mut env = db.django.env().to_vec();
    if conn.vendor == "postgresql" {
        env.extend(conn.pg_env());
    }
    let limit = db.django.config.exec_timeout()?;
    let ran = exec::run_to_file(command, &store.root, &setting, &env, file, &limit)?;
    if !ran.ok() {
        return Err(failed(format!(
            "`{}` failed ({}): {}",
            exec::display(command),
            ran.status(),
            ran.summary()
        )));
    }
    if std::fs::metadata(tmp).map_or(0, |m| m.len()) == 0 {
        return Err(failed(format!("`{}` wrote nothing: no backup", exec::display(command))));
    }
    if conn.vendor == "postgresql" {
        check_pg_dump(store, tmp, &conn.name, &env)
            .map_err(|e| e.context(format!("`{}`", exec::display(command))))?;
    }
    Ok(())
}

/// The entries of a PostgreSQL archive (`pg_restore --list`), refused unless it is one of
/// Django's database: a plain SQL dump, or anything else, cannot be restored by rb.
fn check_pg_dump(
    store: &Store,
    file: &Path,
    database: &str,
    env: &[(String, String)],
) -> Result<Vec<String>> {
    let argv = vec!["pg_restore".to_string(), "--list".to_string(), file.display().to_string()];
    let listed = exec::run_with(&argv, &store.root, "pg_restore (from postgresql-client)", env, None)?;
    if !listed.ok() {
        return Err(failed(format!(
            "its output is not a PostgreSQL archive that pg_restore can list ({}): rb needs --format=custom (or directory)",
            listed.summary()
        ))
        .hint(format!("set [django] backup = [\"pg_dump\", \"--format=custom\"] in {FILE}, or leave it unset for that default")));
    }
    let named = listed
        .stdout
        .lines()
        .find_map(|l| l.trim_start_matches(';').trim().strip_prefix("dbname:"))
        .map(str::trim);
    if named != Some(database) {
        return Err(failed(format!(
            "the dump is of database {:?}, not Django's {database:?}",
            named.unwrap_or("?")
        )));
    }
    Ok(listed.stdout.lines().map(String::from).collect())
}

/// Where a database backup of the store is: `db_X.sqlite3` or `db_X.dump`.
pub fn find_backup(store: &Store, id: &str) -> Result<(PathBuf, &'static str)> {
    let Some(stamp) = id.strip_prefix("db_") else {
        return Err(usage(format!("{id:?} is not a database backup id (db_YYYYMMDD_HHMMSS)")));
    };
    if stamp.is_empty() || !stamp.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(usage(format!("{id:?} is not a database backup id (db_YYYYMMDD_HHMMSS)")));
    }
    for ext in ["sqlite3", "dump"] {
        let path = store.dir.join(format!("{id}.{ext}"));
        if path.is_file() {
            return Ok((path, ext));
        }
    }
    Err(failed(format!("no database backup {id} in {}", store.shown()))
        .hint("the migration-rollback document's `backup` names it; ls backups/db_*"))
}

/// Puts the backup at `path` back so that the database equals it: SQLite page by page through
/// its online backup; PostgreSQL in one psql transaction that drops what the dump does not
/// have (tables, views, sequences created since) and restores the dump with `--clean`.
pub fn restore_backup(store: &Store, db: &mut Db, path: &Path, ext: &str) -> Result<()> {
    let conn = db.connection()?;
    match (ext, conn.vendor.as_str()) {
        ("sqlite3", "sqlite") => {
            let _: Integrity = db.call(serde_json::json!({ "op": "restore_sqlite", "path": path }))?;
            Ok(())
        }
        ("dump", "postgresql") => restore_pg(store, db, &conn, path),
        (ext, vendor) => Err(usage(format!("a .{ext} backup cannot be restored into a {vendor} database"))),
    }
}

fn restore_pg(store: &Store, db: &Db, conn: &Connection, path: &Path) -> Result<()> {
    let mut env = db.django.env().to_vec();
    env.extend(conn.pg_env());
    let listing = check_pg_dump(store, path, &conn.name, &env)?;
    let mut kept: Vec<String> = Vec::new();
    let mut schemas: Vec<String> = vec!["public".to_string()];
    for line in &listing {
        if line.starts_with(';') {
            continue;
        }
        let Some((_, rest)) = line.split_once("; ") else { continue };
        let words: Vec<&str> = rest.split_whitespace().collect();
        // `tableoid oid TYPE… SCHEMA NAME OWNER`
        for kind in ["TABLE", "VIEW", "SEQUENCE", "MATERIALIZED VIEW"] {
            let kw: Vec<&str> = kind.split(' ').collect();
            if words.len() >= 2 + kw.len() + 3 && words[2..2 + kw.len()] == kw[..] {
                let schema = words[2 + kw.len()];
                let name = words[3 + kw.len()..words.len() - 1].join(" ");
                kept.push(format!("{schema}.{name}"));
                if !schemas.iter().any(|s| s == schema) {
                    schemas.push(schema.to_string());
                }
            }
        }
    }
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let array = |v: &[String]| {
        format!("ARRAY[{}]::text[]", v.iter().map(|s| literal(s)).collect::<Vec<_>>().join(","))
    };
    let prelude = format!(
        "DO $rb$\nDECLARE r record;\nBEGIN\n  FOR r IN SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n    WHERE n.nspname = ANY({}) AND c.relkind IN ('r','p','v','m','S')\n      AND NOT (n.nspname || '.' || c.relname) = ANY({})\n      AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a','i')))\n  LOOP\n    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE', CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.nspname, r.relname);\n  END LOOP;\nEND $rb$;\n",
        array(&schemas),
        array(&kept)
    );
    let work = tempfile::Builder::new()
        .prefix("rb-restore-db.")
        .tempdir()
        .ctx(|| "creating a temporary folder".to_string())?;
    let (pre, sql) = (work.path().join("drop-new.sql"), work.path().join("restore.sql"));
    std::fs::write(&pre, prelude).ctx(|| format!("writing {}", pre.display()))?;
    let out = std::fs::File::create(&sql).ctx(|| format!("creating {}", sql.display()))?;
    let argv: Vec<String> = ["pg_restore", "--clean", "--if-exists", "--file=-"]
        .iter()
        .map(|s| s.to_string())
        .chain([path.display().to_string()])
        .collect();
    let limit = db.django.config.exec_timeout()?;
    let ran =
        exec::run_to_file(&argv, &store.root, "pg_restore (from postgresql-client)", &env, out, &limit)?;
    if !ran.ok() {
        return Err(failed(format!(
            "`pg_restore` could not read the dump ({}): {}",
            ran.status(),
            ran.summary()
        )));
    }
    let psql: Vec<String> =
        ["psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1", "--no-password"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("--file={}", pre.display()), format!("--file={}", sql.display())])
            .collect();
    let ran = exec::run_within(&psql, &store.root, "psql (from postgresql-client)", &env, None, &limit)?;
    if !ran.ok() {
        return Err(failed(format!(
            "restoring {} failed ({}): {}; psql ran it in one transaction, so the database is as it was",
            shown(path),
            ran.status(),
            ran.summary()
        )));
    }
    Ok(())
}
