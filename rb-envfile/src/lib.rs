//! `rb-envfile`: environment backups that round-trip every value, and restores that actually
//! restore.
//!
//! The seed backs up with `env > backups/env_TS.env` (every secret, world-readable under a
//! usual umask; a value with a newline or a quote does not survive) and restores with
//! `source` inside a child script, which runs the file as shell code and cannot change the
//! caller's environment at all. Here a backup is written atomically, 0600, in a format bash
//! can source and rb reads back exactly ([`mod@format`]); `export` prints the text for the calling
//! shell to `eval`, and `exec` runs one command with the environment restored.

pub mod cli;
pub mod format;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::{Config, FILE};
use rb_common::doc::{Changed, Document, Out};
use rb_common::error::{Context, Error, Kind, Result, failed, usage};
use rb_common::fsx::{self, Mode};
use rb_common::paths::shown;
use rb_common::store::{self, Event, Store};
use serde::{Deserialize, Serialize};

pub use cli::Cli;
use cli::Command;
pub use format::EnvFile;

/// The prefix of environment backup ids: `env_<YYYYMMDD_HHMMSS>`.
pub const SET: &str = "env";

/// The seed's "Environment Variables to Backup".
pub const DEFAULT_NAMES: &[&str] = &[
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "DB_HOST",
    "DB_PORT",
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "DEFAULT_FROM_EMAIL",
    "OPENAI_API_KEY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "SENDGRID_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "SENTRY_DSN",
    "CORS_ALLOWED_ORIGINS",
    "CSRF_TRUSTED_ORIGINS",
];

/// The shell's own variables, which `capture --all` leaves out.
pub const SHELL_OWN: &[&str] = &["PWD", "SHLVL", "_", "OLDPWD"];

/// `rb-envfile exec`'s code when it fails itself (env(1)'s).
pub const EXEC_FAILED: u8 = 125;

/// The exit code of a bad command line: 125 for `exec`, whose other codes are its
/// command's, 2 otherwise.
pub fn usage_code(args: &[OsString]) -> u8 {
    let words = args.iter().skip(1).take_while(|a| *a != "--");
    if words.into_iter().any(|a| a == "exec") { EXEC_FAILED } else { 2 }
}

/// What a masked value is shown as.
pub const MASK: &str = "********";

/// `[env]` in rollback.toml.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EnvConfig {
    /// The variables `capture` takes when none are named.
    pub names: Vec<String>,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig { names: DEFAULT_NAMES.iter().map(|n| n.to_string()).collect() }
    }
}

/// One name whose value differs between a backup and the environment (`--reveal` only
/// carries the values).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Change {
    /// The variable.
    pub name: String,
    /// Its value in the backup (absent: not set there, or masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Its value now (absent: not set now, or masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// What changed in the environment since a backup.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Diff {
    /// Set now, not in the backup (or listed there as unset).
    pub added: Vec<String>,
    /// In the backup, not set now.
    pub removed: Vec<String>,
    /// Set in both, with another value now.
    pub changed: Vec<String>,
    /// With `--reveal`: each name above with both values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Change>,
}

/// The `envfile` document: a backup's names (never a value unless `revealed`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnvDoc {
    /// The backup's id (`env_20251013_120000`), or the file's name without `.env`.
    pub id: String,
    /// The file, as given or relative to the current folder.
    pub path: String,
    /// The variables it holds, in order.
    pub names: Vec<String>,
    /// Names that were asked for and not set: restoring unsets them.
    pub unset: Vec<String>,
    /// Names in the environment that `capture --all` skipped (not shell names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// `show`: each variable's value, or the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
    /// `diff`: what changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// True for a seed-made `env > file` backup.
    pub legacy: bool,
    /// True when values are printed (`--reveal`).
    pub revealed: bool,
    /// True when nothing was written because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for EnvDoc {
    const KIND: &'static str = "envfile";
    const SOURCE: &'static str = "rb-envfile";
}

/// Runs `rb-envfile` with parsed arguments, writing documents (or, for `export`, shell text)
/// to `out`. `exec` does not return when it starts its command.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    match cli.command {
        Command::Capture { names, all, dry_run } => {
            let (store, config) = cli.store.open()?;
            capture(&store, &config, &names, all, dry_run, out)
        }
        Command::Show { backup, reveal } => {
            let (store, _) = cli.store.open()?;
            let (doc, env) = read(&store, &backup)?;
            let values = env
                .vars
                .iter()
                .map(|(n, v)| (n.clone(), if reveal { lossy(v) } else { MASK.to_string() }))
                .collect();
            out.emit(&EnvDoc { values: Some(values), revealed: reveal, ..doc })
        }
        Command::Diff { backup, reveal, exit_code } => {
            let (store, _) = cli.store.open()?;
            // With --exit-code, 1 means "differs": a backup that cannot be read is 2.
            let (doc, env) = read(&store, &backup).map_err(|e| {
                if exit_code && e.kind() == Kind::Failed { e.with_kind(Kind::Usage) } else { e }
            })?;
            let diff = diff(&env, &current_env(), reveal);
            let differs = !(diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty());
            common::note(&format!(
                "since {}: {} added, {} removed, {} changed",
                doc.id,
                diff.added.len(),
                diff.removed.len(),
                diff.changed.len()
            ));
            out.emit(&EnvDoc { diff: Some(diff), revealed: reveal, ..doc })?;
            if exit_code && differs {
                return Err(rb_common::error::quiet(Kind::Failed));
            }
            Ok(())
        }
        Command::Export { backup } => {
            let (store, _) = cli.store.open()?;
            let (doc, env) = read(&store, &backup)?;
            let text = format::shell_text(&env)?;
            common::note(&format!(
                "{}: {} set, {} unset",
                doc.id,
                common::count(env.vars.len(), "variable", "variables"),
                env.unset.len()
            ));
            out.raw(&text)
        }
        Command::Exec { backup, clear, command } => {
            let code = |e: Error| e.with_kind(Kind::Exit(EXEC_FAILED));
            let (store, _) = cli.store.open().map_err(code)?;
            let (_, env) = read(&store, &backup).map_err(code)?;
            Err(exec(&env, clear, &command))
        }
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// The names to capture: those given, `[env] names`, or the seed's list; all checked.
fn wanted(config: &Config, names: &[String]) -> Result<Vec<String>> {
    let (names, origin) = if names.is_empty() {
        (config.section::<EnvConfig>("env")?.names, format!("[env] names in {FILE}"))
    } else {
        (names.to_vec(), "the command line".to_string())
    };
    let mut seen = Vec::new();
    for name in names {
        format::check_name(&name).map_err(|e| e.context(&origin))?;
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    Ok(seen)
}

fn capture(
    store: &Store,
    config: &Config,
    names: &[String],
    all: bool,
    dry_run: bool,
    out: &mut Out,
) -> Result<()> {
    let mut env = EnvFile { all, ..EnvFile::default() };
    let mut skipped = Vec::new();
    if all {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        vars.sort();
        for (name, value) in vars {
            let name = name.to_string_lossy().into_owned();
            if SHELL_OWN.contains(&name.as_str()) {
                continue;
            }
            if format::is_name(&name) {
                env.vars.push((name, value.into_vec()));
            } else {
                common::warn(&format!("{name:?} is not a shell variable name; not captured"));
                skipped.push(name);
            }
        }
    } else {
        for name in wanted(config, names)? {
            match std::env::var_os(&name) {
                Some(value) => env.vars.push((name, value.into_vec())),
                None => env.unset.push(name),
            }
        }
    }
    if env.vars.is_empty() && env.unset.is_empty() {
        return Err(usage("nothing to capture: no variable names were given or configured")
            .hint(format!("name them (rb-envfile capture NAME…), or list them in [env] names in {FILE}")));
    }
    let now = clock::now()?;
    let lock = if dry_run { None } else { Some(store.lock()?) };
    let id = store.next_id(SET, &now)?;
    let path = store.dir.join(format!("{id}.env"));
    let doc = EnvDoc {
        id: id.clone(),
        path: shown(&path),
        names: env.vars.iter().map(|(n, _)| n.clone()).collect(),
        unset: env.unset.clone(),
        skipped,
        values: None,
        diff: None,
        legacy: false,
        revealed: false,
        dry_run,
    };
    if !dry_run {
        write(store, &env, &id, &now, "captured", "capture")?;
    }
    drop(lock);
    let verb = if dry_run { "would capture" } else { "captured" };
    common::note(&format!(
        "{verb} {} in {}{}",
        common::count(doc.names.len(), "variable", "variables"),
        doc.path,
        if doc.unset.is_empty() { String::new() } else { format!("; not set: {}", doc.unset.join(", ")) }
    ));
    if dry_run {
        return out.emit(&doc);
    }
    out.emit_after_change(&doc, &Changed::new(format!("{id} was written"), "rb-envfile show latest shows it"))
}

/// Writes `env` as backup `id` (0600, atomically) and logs it: `what` says how it was made
/// (`captured`, or rb-secret's `written by rb-secret set`), `action` names the event. The
/// caller holds the lock.
pub fn write(
    store: &Store,
    env: &EnvFile,
    id: &str,
    now: &chrono::DateTime<chrono::Local>,
    what: &str,
    action: &str,
) -> Result<()> {
    let path = store.dir.join(format!("{id}.env"));
    let comment = format!(
        "{what} {}: {} variables{}. Mode 0600: it holds secrets.\nRestore: text=$(rb-envfile export {id}) && eval \"$text\"   (or `source` this file in bash)",
        clock::rfc3339(now),
        env.vars.len(),
        if env.unset.is_empty() {
            String::new()
        } else {
            format!(", {} listed but not set", env.unset.len())
        },
    );
    let text = format::file_text(env, &comment)?;
    let written = fsx::atomic_write(&path, &text, Mode(0o600));
    let event = Event::ended(action, written.as_ref().err()).messages("SNAPSHOT SUCCESS", "SNAPSHOT FAILED");
    store.log_or_warn(event.set(SET).snapshot(id));
    written
}

/// The ids of the environment backups in the store, newest first.
pub fn backups(store: &Store) -> Vec<String> {
    let mut found: Vec<((String, u32), String)> = std::fs::read_dir(&store.dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let id = name.strip_suffix(".env")?.to_string();
            let (set, stamp, suffix) = store::parse_id(&id)?;
            let key = (stamp.to_string(), suffix);
            (set == SET).then_some((key, id))
        })
        .collect();
    found.sort();
    found.into_iter().rev().map(|(_, id)| id).collect()
}

/// Finds and reads the backup `arg` names: `latest`, an id, or a file path.
pub fn read(store: &Store, arg: &str) -> Result<(EnvDoc, EnvFile)> {
    let path = locate(store, arg)?;
    let bytes = std::fs::read(&path).map_err(|e| {
        let what = if path.is_dir() {
            "is a folder, not an environment backup".to_string()
        } else {
            format!("cannot be read: {e}")
        };
        failed(format!("{} {what}", path.display()))
    })?;
    let shown_path = shown(&path);
    if let Some(why) = fsx::exposed(&path) {
        common::warn(&format!("{shown_path} {why}: it holds secrets; `chmod 600 {shown_path}`"));
    }
    let mut env = format::parse(&bytes, &shown_path, &mut |w| common::warn(&w))?;
    if env.legacy {
        let own: Vec<String> =
            env.vars.iter().map(|(n, _)| n.clone()).filter(|n| SHELL_OWN.contains(&n.as_str())).collect();
        if !own.is_empty() {
            common::note(&format!("{shown_path}: leaving out the shell's own {}", own.join(", ")));
            env.vars.retain(|(n, _)| !SHELL_OWN.contains(&n.as_str()));
        }
    }
    let id = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".env").to_string())
        .unwrap_or_default();
    let doc = EnvDoc {
        id,
        path: shown_path,
        names: env.vars.iter().map(|(n, _)| n.clone()).collect(),
        unset: env.unset.clone(),
        skipped: Vec::new(),
        values: None,
        diff: None,
        legacy: env.legacy,
        revealed: false,
        dry_run: false,
    };
    Ok((doc, env))
}

fn locate(store: &Store, arg: &str) -> Result<PathBuf> {
    if arg == store::LATEST_GOOD {
        return Err(usage(format!(
            "environment backups carry no tags, so `{}` names none",
            store::LATEST_GOOD
        ))
        .hint("give `latest` or an id (env_YYYYMMDD_HHMMSS); rb-snapshot tag tags snapshots"));
    }
    if arg == store::LATEST {
        return match backups(store).first() {
            Some(id) => Ok(store.dir.join(format!("{id}.env"))),
            None => Err(failed(format!("no environment backup in {}", store.shown()))
                .hint("take one with rb-envfile capture")),
        };
    }
    if arg.contains('/') || arg.ends_with(".env") {
        let path = std::env::current_dir().ctx(|| "reading the current folder")?.join(arg);
        if !path.exists() {
            return Err(failed(format!("{arg}: no such file")));
        }
        return Ok(path);
    }
    match store::parse_id(arg) {
        Some((SET, _, _)) => {}
        _ => {
            return Err(usage(format!(
                "{arg:?} is not an environment backup id: ids are env_<YYYYMMDD_HHMMSS>, as env_20251013_120000"
            ))
            .hint("or give `latest`, or the path of a file"));
        }
    }
    let path = store.dir.join(format!("{arg}.env"));
    if !path.exists() {
        return Err(failed(format!(
            "no environment backup {arg} in {} ({} is not there)",
            store.shown(),
            shown(&path)
        ))
        .hint("ls backups/env_*.env shows the ones there are"));
    }
    Ok(path)
}

/// This process's environment, as names and bytes.
fn current_env() -> BTreeMap<String, Vec<u8>> {
    std::env::vars_os().map(|(n, v)| (n.to_string_lossy().into_owned(), v.into_vec())).collect()
}

/// What changed from `env` (a backup) to `now`. A backup of chosen names is compared on
/// those names; a `--all` (or seed `env >`) one on everything; never the shell's own
/// variables.
pub fn diff(env: &EnvFile, now: &BTreeMap<String, Vec<u8>>, reveal: bool) -> Diff {
    let mut d = Diff::default();
    let backup: BTreeMap<&str, &[u8]> = env.vars.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let mut names: Vec<&str> = backup.keys().copied().chain(env.unset.iter().map(String::as_str)).collect();
    if env.all {
        names.extend(now.keys().map(String::as_str));
    }
    names.retain(|n| !SHELL_OWN.contains(n));
    names.sort();
    names.dedup();
    for name in names {
        let (was, is) = (backup.get(name).copied(), now.get(name).map(Vec::as_slice));
        let list = match (was, is) {
            (None, Some(_)) => &mut d.added,
            (Some(_), None) => &mut d.removed,
            (Some(a), Some(b)) if a != b => &mut d.changed,
            _ => continue,
        };
        list.push(name.to_string());
        if reveal {
            d.values.push(Change { name: name.to_string(), backup: was.map(lossy), current: is.map(lossy) });
        }
    }
    d
}

/// Replaces this process with `command`, run with `env` restored; returns only on failure,
/// with env(1)'s codes: 127 when the command is not found, 126 when it cannot run.
fn exec(env: &EnvFile, clear: bool, command: &[String]) -> Error {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = command.split_first() else {
        return usage("exec needs a command after --").with_kind(Kind::Exit(EXEC_FAILED));
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    if clear {
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
    }
    for name in &env.unset {
        cmd.env_remove(name);
    }
    for (name, value) in &env.vars {
        cmd.env(name, OsStr::from_bytes(value));
    }
    let e = cmd.exec();
    let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    failed(format!("cannot run {program}: {e}")).with_kind(Kind::Exit(code))
}
