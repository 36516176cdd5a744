//! `rb-emergency drill`: the seed's "Testing Rollback Procedures", made real. Each procedure
//! is rehearsed — snapshot, change, roll back, verify exact — in a throw-away copy of the
//! project (never the live tree, never live services), through the tools' own library calls.
//! A procedure whose backend cannot be exercised here is reported `not-configured`, never
//! `passed`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rb_common::cli as common;
use rb_common::config::Config;
use rb_common::django::Django;
use rb_common::doc::Out;
use rb_common::error::{Result, failed, usage};
use rb_common::exec;
use rb_common::restore::{self, Options};
use rb_common::snapshot::{self, Request};
use rb_common::store::Store;
use rb_flag::Given;

use crate::{Report, ReportStep, StepStatus};

/// The seed's test names, in its order.
pub const TESTS: &[&str] = &[
    "configuration_rollback",
    "database_migration_rollback",
    "environment_rollback",
    "secrets_rollback",
    "feature_flags_rollback",
    "deployment_rollback",
    "nginx_rollback",
];

/// The seed's report file, written by `--report` in the project root.
pub const REPORT_FILE: &str = "rollback_procedures_test_report.json";

/// `[drill]` in rollback.toml: which test backends a drill may use.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillConfig {
    /// The secrets backend to rehearse when the configured one would touch live secrets
    /// (`env`).
    pub secrets: Option<String>,
}

enum Outcome {
    Passed(String),
    NotConfigured(String),
}

/// A copy of the project in a temporary folder, with its own store.
struct Sandbox {
    _dir: tempfile::TempDir,
    store: Store,
    config: Config,
}

/// Folders never copied: the store, version control, virtualenvs, build output, caches.
const SKIP: &[&str] = &[".git", ".venv", "venv", "target", "node_modules", "__pycache__"];

fn sandbox(live: &Store) -> Result<Sandbox> {
    let dir = tempfile::Builder::new()
        .prefix("rb-drill.")
        .tempdir()
        .map_err(|e| failed(format!("a temporary folder: {e}")))?;
    let root = dir.path().join("project");
    copy_tree(&live.root, &root, &live.dir)?;
    let config = Config::load(&root)?;
    let store = Store::new(root.clone(), root.join("backups"), "rb-emergency");
    Ok(Sandbox { _dir: dir, store, config })
}

fn copy_tree(from: &Path, to: &Path, store: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| failed(format!("creating {}: {e}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(|e| failed(format!("reading {}: {e}", from.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path == store || SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let target = to.join(&name);
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| failed(format!("{}: {e}", path.display())))?;
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&path).map_err(|e| failed(format!("{}: {e}", path.display())))?;
            std::os::unix::fs::symlink(link, &target)
                .map_err(|e| failed(format!("{}: {e}", target.display())))?;
        } else if meta.is_dir() {
            copy_tree(&path, &target, store)?;
        } else if meta.is_file() {
            std::fs::copy(&path, &target).map_err(|e| failed(format!("copying {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// Every regular file under the `paths` of a set, with its content and mode: what "exact"
/// compares.
fn digest(root: &Path, paths: &[String]) -> BTreeMap<String, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = Vec::new();
    for p in paths {
        for hit in glob::glob(&root.join(p.trim_end_matches('/')).display().to_string())
            .into_iter()
            .flatten()
            .flatten()
        {
            stack.push(hit);
        }
    }
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        } else if let (Ok(bytes), Ok(meta)) = (std::fs::read(&p), std::fs::metadata(&p)) {
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            out.insert(rel, (bytes, meta.permissions().mode()));
        }
    }
    out
}

/// Snapshot a set, change its first file and add one to it, restore, compare.
fn set_round_trip(sb: &Sandbox, set: &str, check: Option<&restore::Check>) -> Result<String> {
    let paths = rb_common::nginx::set_specs(&sb.config, set, &sb.store.root)?;
    let before = digest(&sb.store.root, &paths);
    let Some(first) = before.keys().next().cloned() else {
        return Err(failed(format!("the set {set} holds no file in this project")));
    };
    let lock = sb.store.lock()?;
    let manifest = snapshot::take(
        &sb.store,
        &Request {
            set: set.to_string(),
            specs: paths.clone(),
            dry_run: false,
            link: true,
            exclude: sb.config.sets.get(set).map(|s| s.exclude.clone()).unwrap_or_default(),
            message: None,
            move_latest: true,
        },
    )?;
    let path = sb.store.root.join(&first);
    let mut changed = std::fs::read(&path).map_err(|e| failed(format!("{first}: {e}")))?;
    changed.extend_from_slice(b"\n# changed by rb-emergency drill\n");
    std::fs::write(&path, changed).map_err(|e| failed(format!("{first}: {e}")))?;
    let snap = sb.store.load(&manifest.id)?;
    let done = restore::restore(&sb.store, &lock, &snap, Options::default(), check)?;
    let after = digest(&sb.store.root, &paths);
    if after != before {
        let differs: Vec<&String> = before.keys().filter(|k| after.get(*k) != before.get(*k)).collect();
        return Err(failed(format!("after the rollback these differ from the snapshot: {differs:?}")));
    }
    Ok(format!(
        "{} of {set}, {} modified and put back exactly",
        common::count(before.len(), "file", "files"),
        done.modified.len()
    ))
}

fn configuration(sb: &Sandbox) -> Result<Outcome> {
    set_round_trip(sb, "config", None).map(Outcome::Passed)
}

fn nginx(sb: &Sandbox) -> Result<Outcome> {
    let nginx = sb.config.nginx()?;
    let program = nginx.command[0].clone();
    if !program.ends_with("nginx") || exec::find(&program, &sb.store.root, "nginx.command").is_err() {
        return Ok(Outcome::NotConfigured(format!(
            "`{program}` is not an nginx this machine can run on the copy"
        )));
    }
    let conf = sb.store.root.join("nginx/nginx.conf");
    if !conf.is_file() {
        return Ok(Outcome::NotConfigured("the project has no nginx/nginx.conf".to_string()));
    }
    let prefix = sb.store.root.join(".rb-drill-nginx");
    std::fs::create_dir_all(prefix.join("logs")).map_err(|e| failed(e.to_string()))?;
    let argv = vec![
        program,
        "-t".to_string(),
        "-p".to_string(),
        format!("{}/", prefix.display()),
        "-c".to_string(),
        conf.display().to_string(),
    ];
    let check = restore::Check {
        argv,
        setting: "nginx.command in rollback.toml (on the drill's copy)".to_string(),
        kind: restore::CheckKind::Nginx,
    };
    set_round_trip(sb, "nginx", Some(&check))
        .map(|d| Outcome::Passed(format!("{d}; nginx -t passed on the copy")))
}

fn environment(sb: &Sandbox) -> Result<Outcome> {
    let values: Vec<(String, Vec<u8>)> = vec![
        ("RB_DRILL_PLAIN".into(), b"plain".to_vec()),
        ("RB_DRILL_QUOTES".into(), b"it's \"quoted\" $(not run) `nor this`".to_vec()),
        ("RB_DRILL_LINES".into(), b"line one\nline two\ttabbed\\".to_vec()),
        ("RB_DRILL_EMPTY".into(), Vec::new()),
    ];
    let env = rb_common::envfile::EnvFile {
        vars: values.clone(),
        unset: vec!["RB_DRILL_UNSET".into()],
        all: false,
        legacy: false,
    };
    let lock = sb.store.lock()?;
    let id = sb.store.next_id(rb_common::envfile::SET, &rb_common::clock::now()?)?;
    rb_common::envfile::write(
        &sb.store,
        &env,
        &id,
        &rb_common::clock::now()?,
        "written by rb-emergency drill",
        "drill",
    )?;
    drop(lock);
    let back = rb_common::envfile::read(&sb.store, &id)?.env;
    if back.vars != values {
        return Err(failed("the environment backup did not read back exactly"));
    }
    // And bash, sourcing it, sees the same values.
    let file = sb.store.dir.join(format!("{id}.env"));
    let mut script = format!("set -e; RB_DRILL_UNSET=x; source '{}'; ", file.display());
    script.push_str(r#"[ -z "${RB_DRILL_UNSET+x}" ] || exit 3; printf '%s\0' "$RB_DRILL_PLAIN" "$RB_DRILL_QUOTES" "$RB_DRILL_LINES" "$RB_DRILL_EMPTY""#);
    let out = exec::run(&["bash".to_string(), "-c".to_string(), script], &sb.store.root, "bash")?;
    let want: String = values.iter().map(|(_, v)| format!("{}\0", String::from_utf8_lossy(v))).collect();
    if !out.ok() || out.stdout != want {
        return Err(failed(format!(
            "bash, sourcing {id}.env, did not get the captured values ({})",
            out.status()
        )));
    }
    Ok(Outcome::Passed(format!(
        "{} values (quotes, $(…), newlines, empty) read back by rb-envfile and by bash",
        values.len()
    )))
}

fn secrets(sb: &Sandbox) -> Result<Outcome> {
    use rb_secret::Secrets;
    let configured: rb_secret::SecretsConfig = sb.config.section("secrets")?;
    let drill: DrillConfig = sb.config.section("drill")?;
    if configured.backend != rb_secret::SecretsBackend::Env && drill.secrets.as_deref() != Some("env") {
        return Ok(Outcome::NotConfigured(format!(
            "the {} backend would change live secrets; `[drill] secrets = \"env\"` rehearses the env backend instead",
            configured.backend
        )));
    }
    let backend = rb_secret::env::EnvSecrets::new(sb.store.clone());
    let lock = sb.store.lock()?;
    backend.set("RB_DRILL_SECRET", "first", None)?;
    backend.set("RB_DRILL_SECRET", "second", None)?;
    let versions = backend.versions("RB_DRILL_SECRET")?;
    let current = versions.iter().find(|v| v.current).cloned().ok_or_else(|| failed("no current version"))?;
    let previous =
        backend.previous("RB_DRILL_SECRET", &versions).ok_or_else(|| failed("no previous version"))?;
    backend.rollback("RB_DRILL_SECRET", &current, &previous)?;
    drop(lock);
    let (_, value) = backend.value("RB_DRILL_SECRET", None)?;
    if value != "first" {
        return Err(failed(format!("after the rollback the secret reads {value:?}, not the first value")));
    }
    Ok(Outcome::Passed("set, set, rollback to the previous version on the env backend".to_string()))
}

/// The copy's Django, only when the database it opens is a SQLite file inside the copy
/// (never the live database, whatever `manage`, the settings or the environment say).
fn django(sb: &Sandbox) -> std::result::Result<Django, String> {
    let dj = Django::new(&sb.config, &sb.store.root).map_err(|e| e.message().to_string())?;
    let state = rb_migrate::status(&dj, &[]).map_err(|e| e.message().to_string())?;
    let db = state.database.unwrap_or_default();
    if state.vendor.as_deref() != Some("sqlite") || !Path::new(&db).starts_with(&sb.store.root) {
        return Err(format!(
            "Django's database ({db}) is not a SQLite file in the drill's copy: it would be the live one"
        ));
    }
    Ok(dj)
}

fn feature_flags(sb: &Sandbox) -> Result<Outcome> {
    if let Err(why) = django(sb) {
        return Ok(Outcome::NotConfigured(why));
    }
    let backend = rb_flag::backend(&sb.config, &sb.store.root)?;
    if backend.name() != "django" {
        return Ok(Outcome::NotConfigured(format!(
            "the {} backend is not drilled (it would change the live API)",
            backend.name()
        )));
    }
    let before = backend.list(&[])?;
    // Values the value field holds (a BooleanField's `true`, an IntegerField's number),
    // each different from what the flag has.
    let Some(field) = backend.value_field()? else {
        return Ok(Outcome::NotConfigured("the flags backend does not say what its values are".to_string()));
    };
    let lock = sb.store.lock()?;
    let name = "rb_drill_flag".to_string();
    let mut changes: Vec<(String, Given)> = vec![(name.clone(), Given::Value(field.other_than(None)))];
    if let Some((first, value)) = before.iter().next() {
        changes.push((first.clone(), Given::Value(field.other_than(Some(value)))));
    }
    let replaced = backend.set(&changes, &[], true, false)?;
    let undo: Vec<(String, Given)> = replaced.before.into_iter().map(|(n, v)| (n, Given::Value(v))).collect();
    backend.set(&undo, &replaced.absent, true, false)?;
    drop(lock);
    let after = backend.list(&[])?;
    if after != before {
        return Err(failed("after restoring the undo, the flags differ from before"));
    }
    Ok(Outcome::Passed(format!(
        "{} flags: set (one created), restored from the undo, identical",
        before.len()
    )))
}

fn database_migration(sb: &Sandbox) -> Result<Outcome> {
    let dj = match django(sb) {
        Ok(dj) => dj,
        Err(why) => return Ok(Outcome::NotConfigured(why)),
    };
    let before = rb_migrate::status(&dj, &[])?;
    // An app whose last step back is reversible and concerns it alone.
    let mut tried = Vec::new();
    for app in &before.apps {
        if app.migrations.iter().filter(|m| m.applied).count() < 2 {
            continue;
        }
        let Ok(target) = rb_migrate::resolve(&before, &app.app, "previous") else { continue };
        let plan = rb_migrate::plan_of(&dj, &app.app, &target)?;
        if !plan.irreversible.is_empty() || plan.steps.iter().any(|s| s.app != app.app) {
            tried.push(app.app.clone());
            continue;
        }
        let (mut out, captured) = Out::capture();
        rb_migrate::rollback_app(&sb.store, &dj, &app.app, "previous", &mut out)?;
        let done: rb_migrate::MigrationRollback = captured.last()?;
        let (mut out, _) = Out::capture();
        rb_migrate::apply_state(&sb.store, &dj, done.before.clone(), &mut out)?;
        let after = rb_migrate::status(&dj, &[])?;
        if after.apps != before.apps {
            return Err(failed(format!(
                "after rolling {} back and forward, the migration state differs",
                app.app
            )));
        }
        return Ok(Outcome::Passed(format!(
            "{} rolled back one step ({} backed up) and forward again, on a copy of the database",
            app.app,
            done.backup.map(|b| b.path).unwrap_or_default()
        )));
    }
    Ok(Outcome::NotConfigured(format!(
        "no app has a reversible last step of its own (tried {})",
        tried.join(", ")
    )))
}

fn deployment(sb: &Sandbox) -> Result<Outcome> {
    let deploy: rb_deploy::DeployConfig = sb.config.section("deploy")?;
    if deploy.target != rb_deploy::Backend::Docker.as_str() {
        return Ok(Outcome::NotConfigured(format!(
            "the {} target is not drilled (it would change the live deployment)",
            deploy.target
        )));
    }
    let mut argv = match rb_deploy::docker::compose_command(&deploy.compose, &sb.store.root) {
        Ok(compose) => compose,
        Err(e) => {
            return Ok(Outcome::NotConfigured(format!("{}: compose files cannot be checked", e.message())));
        }
    };
    argv.extend([
        "--project-directory".to_string(),
        sb.store.root.display().to_string(),
        "config".to_string(),
        "--quiet".to_string(),
    ]);
    let checked = exec::run(&argv, &sb.store.root, "deploy.compose")?;
    if !checked.ok() {
        return Err(failed(format!(
            "`compose config` refuses the project's compose file: {}",
            checked.summary()
        )));
    }
    set_round_trip(sb, "compose", None).map(|d| Outcome::Passed(format!("{d}; compose config passed")))
}

/// Runs the drills named in `tests` (all when empty) and prints the `report` document; with
/// `write_file`, also writes it to `rollback_procedures_test_report.json` in the root.
pub fn drill(live: &Store, tests: &[String], write_file: bool, out: &mut Out) -> Result<()> {
    for t in tests {
        if !TESTS.contains(&t.as_str()) {
            return Err(usage(format!("no drill named {t:?}; the drills are: {}", TESTS.join(", "))));
        }
    }
    let chosen: Vec<&str> = if tests.is_empty() {
        TESTS.to_vec()
    } else {
        TESTS.iter().copied().filter(|t| tests.iter().any(|x| x == t)).collect()
    };
    let mut steps = Vec::new();
    for name in chosen {
        let start = Instant::now();
        // A fresh copy for each: one drill's changes never leak into the next.
        let outcome = sandbox(live).and_then(|sb| match name {
            "configuration_rollback" => configuration(&sb),
            "database_migration_rollback" => database_migration(&sb),
            "environment_rollback" => environment(&sb),
            "secrets_rollback" => secrets(&sb),
            "feature_flags_rollback" => feature_flags(&sb),
            "deployment_rollback" => deployment(&sb),
            _ => nginx(&sb),
        });
        let (status, detail) = match outcome {
            Ok(Outcome::Passed(d)) => (StepStatus::Passed, d),
            Ok(Outcome::NotConfigured(d)) => (StepStatus::NotConfigured, d),
            Err(e) => (StepStatus::Failed, e.message().to_string()),
        };
        let ms = start.elapsed().as_millis() as u64;
        common::note(&format!("[{status}] {name} ({:.1}s): {detail}", ms as f64 / 1000.0));
        steps.push(ReportStep {
            name: name.to_string(),
            action: "snapshot, change, roll back, verify exact (on a copy)".to_string(),
            status,
            duration_ms: ms,
            detail,
        });
    }
    let failed_count = steps.iter().filter(|s| s.status == StepStatus::Failed).count();
    let report = Report { action: "drill".to_string(), ok: failed_count == 0, steps, ..Report::default() };
    if write_file {
        let line = rb_common::doc::to_line(&report)?;
        rb_common::fsx::atomic_write(
            &live.root.join(REPORT_FILE),
            format!("{line}\n").as_bytes(),
            rb_common::fsx::Mode(0o644),
        )?;
        common::note(&format!("wrote {REPORT_FILE}"));
    }
    out.emit(&report)?;
    if failed_count > 0 {
        return Err(failed(format!("{failed_count} drills failed: see the report")));
    }
    Ok(())
}
