//! The `docker` target: the compose files, from a snapshot of the `compose` set (or the seed's
//! `backups/docker-compose_<time>.yml`), put back through the restore engine.
//!
//! The snapshot's `docker-compose.yml` is checked with `compose config --quiet` before
//! anything stops. Then, as the restore's check (the journal still standing): `up -d` (with
//! `down` first only for `--recreate`), a wait until every service runs and is healthy
//! (`compose ps --format json`), and the health check. If any of it fails the engine puts
//! the previous files back, and `up -d` runs again with them.

use std::path::{Path, PathBuf};

use rb_common::config::FILE;
use rb_common::error::{Result, failed, partial};
use rb_common::exec::{self, Output};
use rb_common::health::Health;
use rb_common::lock::Lock;
use rb_common::restore::{self, Options};
use rb_common::store::Store;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{DeployConfig, Revision, Target, Wait};

/// The compose file `up -d` reads.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// The snapshot set of the compose files.
pub const SET: &str = "compose";

/// docker compose in the project root.
pub struct Docker {
    config: DeployConfig,
    store: Store,
    recreate: bool,
}

fn hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn images(text: &str) -> String {
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image:"))
        .map(|i| i.trim().trim_matches('"'))
        .collect();
    if images.is_empty() { "no images (built locally?)".to_string() } else { images.join(", ") }
}

impl Docker {
    /// The configured compose command; a missing one is an error naming the setting.
    pub fn new(store: &Store, config: DeployConfig, recreate: bool) -> Result<Docker> {
        let program = config.compose.first().cloned().unwrap_or_default();
        exec::find(&program, &store.root, &format!("deploy.compose in {FILE}"))?;
        Ok(Docker { config, store: store.clone(), recreate })
    }

    fn compose(&self, file: Option<&Path>, args: &[&str]) -> Result<Output> {
        let mut argv = self.config.compose.clone();
        argv.extend(["--project-directory".to_string(), self.store.root.display().to_string()]);
        if let Some(f) = file {
            argv.extend(["-f".to_string(), f.display().to_string()]);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        exec::run(&argv, &self.store.root, &format!("deploy.compose in {FILE}"))
    }

    fn compose_ok(&self, file: Option<&Path>, args: &[&str]) -> Result<Output> {
        let out = self.compose(file, args)?;
        if out.ok() {
            return Ok(out);
        }
        Err(failed(format!("`compose {}` failed ({}): {}", args.join(" "), out.status(), out.summary()))
            .details(out.lines()))
    }

    /// The snapshot's copy of the compose file.
    fn file_of(&self, id: &str) -> Result<PathBuf> {
        let snap = self.store.load(id)?;
        let path = snap.source(COMPOSE_FILE);
        if !path.is_file() {
            return Err(failed(format!("{id} has no {COMPOSE_FILE}")));
        }
        Ok(path)
    }

    /// Waits until every service of the compose file runs (and is healthy, where it has a
    /// health check).
    fn wait_running(&self, wait: Wait) -> Result<()> {
        let services: Vec<String> =
            self.compose_ok(None, &["config", "--services"])?.stdout.lines().map(String::from).collect();
        let mut ready_once = false;
        let mut not_ready: Vec<String> = Vec::new();
        let ready = wait.poll(|| {
            let out = self.compose_ok(None, &["ps", "--format", "json"])?;
            // One JSON object a line (compose ≥ 2.21) or one array (before).
            let rows: Vec<Value> = match serde_json::from_str::<Value>(out.stdout.trim()) {
                Ok(Value::Array(rows)) => rows,
                _ => out.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect(),
            };
            // Every container of every service (replicas too) must run, and be healthy where it
            // has a health check.
            not_ready = services
                .iter()
                .flat_map(|service| {
                    let mine: Vec<&Value> =
                        rows.iter().filter(|r| r["Service"].as_str() == Some(service)).collect();
                    if mine.is_empty() {
                        return vec![format!("{service} (not created)")];
                    }
                    mine.into_iter()
                        .filter_map(|r| {
                            let state = r["State"].as_str().unwrap_or("?");
                            let health = r["Health"].as_str().unwrap_or("");
                            let ready = state == "running" && (health.is_empty() || health == "healthy");
                            (!ready).then(|| {
                                if health.is_empty() {
                                    format!("{service} ({state})")
                                } else {
                                    format!("{service} ({state}, {health})")
                                }
                            })
                        })
                        .collect()
                })
                .collect();
            // Ready twice in a row: a container that dies right after starting is not "up".
            let twice = not_ready.is_empty() && ready_once;
            ready_once = not_ready.is_empty();
            Ok(twice.then_some(()))
        })?;
        if ready.is_none() {
            return Err(failed(format!(
                "not every service runs {}s after `up -d`: {}",
                wait.timeout.as_secs_f64(),
                not_ready.join(", ")
            )));
        }
        Ok(())
    }

    fn up(&self, wait: Wait) -> Result<()> {
        if self.recreate {
            self.compose_ok(None, &["down"])?;
        }
        self.compose_ok(None, &["up", "-d"])?;
        self.wait_running(wait)
    }
}

impl Target for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn current(&self) -> Result<Revision> {
        let path = self.store.root.join(COMPOSE_FILE);
        let text = std::fs::read(&path).map_err(|e| failed(format!("reading {}: {e}", path.display())))?;
        Ok(Revision {
            id: hash(&text),
            created: None,
            detail: Some(images(&String::from_utf8_lossy(&text))),
            current: true,
        })
    }

    fn history(&self) -> Result<Vec<Revision>> {
        self.revisions(false)
    }

    fn resolve(&self, to: &str, current: &Revision) -> Result<Revision> {
        self.resolve_in(to, current)
    }

    fn deploy(
        &self,
        lock: &Lock,
        to: &Revision,
        current: &Revision,
        wait: Wait,
        healthy: &mut dyn FnMut() -> Result<Health>,
    ) -> Result<Health> {
        self.deploy_now(lock, to, current, wait, healthy)
    }
}

impl Docker {
    /// The compose snapshots, newest first; with `undos`, also the undo snapshots that hold
    /// a compose file (what a rollback replaced: `--to` its hash goes back).
    fn revisions(&self, undos: bool) -> Result<Vec<Revision>> {
        let live = self.current()?.id;
        let mut out = Vec::new();
        for listed in self
            .store
            .list()?
            .into_iter()
            .rev()
            .filter(|l| l.set == SET || (undos && l.set == rb_common::snapshot::UNDO_SET))
        {
            let Ok(file) = self.file_of(&listed.id) else { continue };
            let text = std::fs::read(&file).unwrap_or_default();
            let created = self.store.load(&listed.id).ok().map(|s| s.manifest.created);
            out.push(Revision {
                id: listed.id,
                created,
                detail: Some(format!("{} ({})", hash(&text), images(&String::from_utf8_lossy(&text)))),
                current: hash(&text) == live,
            });
        }
        Ok(out)
    }

    fn resolve_in(&self, to: &str, current: &Revision) -> Result<Revision> {
        let history = self.revisions(true)?;
        let found = match to {
            "previous" => history
                .iter()
                .filter(|r| !r.id.starts_with("undo_"))
                .find(|r| !r.current)
                .cloned()
                .ok_or_else(|| {
                    failed(format!("no compose snapshot differs from the running {COMPOSE_FILE}"))
                        .hint("rb-snapshot compose takes one before a deploy; rb-deploy history lists them")
                })?,
            sha if sha.starts_with("sha256:") => history
                .iter()
                .find(|r| r.detail.as_deref().is_some_and(|d| d.starts_with(sha)))
                .cloned()
                .ok_or_else(|| failed(format!("no compose snapshot holds the {COMPOSE_FILE} {sha}")))?,
            id => history.iter().find(|r| r.id == id).cloned().ok_or_else(|| {
                failed(format!("no compose snapshot {id:?} in {}", self.store.shown()))
                    .hint("rb-deploy history --target docker lists them")
            })?,
        };
        if found.current {
            return Ok(current.clone());
        }
        // Checked before anything stops: a bad backup must not cost an outage.
        let file = self.file_of(&found.id)?;
        let checked = self.compose(Some(&file), &["config", "--quiet"])?;
        if !checked.ok() {
            return Err(failed(format!(
                "{} holds a compose file that `compose config` refuses: {}; nothing was stopped",
                found.id,
                checked.summary()
            ))
            .details(checked.lines()));
        }
        Ok(found)
    }

    fn deploy_now(
        &self,
        lock: &Lock,
        to: &Revision,
        _current: &Revision,
        wait: Wait,
        healthy: &mut dyn FnMut() -> Result<Health>,
    ) -> Result<Health> {
        let snap = self.store.load(&to.id)?;
        let opts = Options { keep_extra: false, quick: false, after: Some("`docker compose up -d`") };
        let mut health = None;
        let mut started = false;
        let result = restore::restore_then(&self.store, lock, &snap, opts, None, &mut |_| {
            started = true;
            self.up(wait)?;
            health = Some(healthy()?);
            Ok(())
        });
        match result {
            Ok(_) => health.ok_or_else(|| failed("the health check did not run")),
            Err(e)
                if started
                    && e.kind() == rb_common::error::Kind::Failed
                    && self.store.pending()?.is_none() =>
            {
                // The previous files are back: run them again (never `down`: they ran before).
                match self.compose_ok(None, &["up", "-d"]).and_then(|_| self.wait_running(wait)) {
                    Ok(()) => Err(failed(format!("{}; the previous compose files are back up", e.message()))),
                    Err(again) => Err(partial(
                        format!(
                            "{}; the previous compose files are back on disk, but `up -d` with them failed too: {}",
                            e.message(),
                            again.message()
                        ),
                        "look at `docker compose ps`; run `docker compose up -d` once the cause is fixed",
                    )),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// What [`check_staged`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staged {
    /// Every compose file of the snapshot passed `compose config`: the commands run.
    Checked(Vec<String>),
    /// They could not be checked here, and why (no compose, or one that does not answer).
    Skipped(String),
}

/// Checks the compose files a restore of `snap` would put back, before anything stops: each
/// is copied to a staging folder and read by `compose --project-directory ROOT -f STAGED
/// config --quiet` (an override file `docker-compose.*.yml` on top of the main
/// `docker-compose.yml`, the snapshot's or else the live one, as compose merges them), so a
/// file compose refuses is found while the old one still runs. `None` when the snapshot holds
/// no compose file. A compose file compose refuses is an error naming it (exit 1: the caller
/// has stopped and changed nothing yet).
pub fn check_staged(
    compose: &[String],
    root: &Path,
    snap: &rb_common::store::Snapshot,
) -> Result<Option<Staged>> {
    let setting = format!("deploy.compose in {FILE}");
    let is_compose = |p: &str| {
        !p.contains('/') && p.starts_with("docker-compose") && (p.ends_with(".yml") || p.ends_with(".yaml"))
    };
    let files: Vec<&str> = snap
        .manifest
        .entries
        .iter()
        .filter(|e| matches!(e.node, rb_common::snapshot::Node::File { .. }) && is_compose(&e.path))
        .map(|e| e.path.as_str())
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let Some(program) = compose.first() else {
        return Err(rb_common::error::usage(format!("{FILE}: [deploy] compose is empty")));
    };
    if exec::find(program, root, &setting).is_err() {
        return Ok(Some(Staged::Skipped(format!("`{program}` is not installed here ({setting})"))));
    }
    let mut version = compose.to_vec();
    version.push("version".to_string());
    if !exec::run(&version, root, &setting)?.ok() {
        return Ok(Some(Staged::Skipped(format!(
            "`{}` does not answer here (no compose plugin?; {setting})",
            exec::display(&version)
        ))));
    }
    let staging = tempfile::Builder::new()
        .prefix("rb-compose-staged.")
        .tempdir()
        .map_err(|e| failed(format!("creating a staging folder for compose config: {e}")))?;
    for f in &files {
        let to = staging.path().join(f);
        std::fs::copy(snap.source(f), &to).map_err(|e| failed(format!("staging {f}: {e}")))?;
    }
    let main = if files.contains(&COMPOSE_FILE) {
        Some(staging.path().join(COMPOSE_FILE))
    } else {
        Some(root.join(COMPOSE_FILE)).filter(|p| p.is_file())
    };
    // The main file first: a fault there is its own, not each override's.
    let mut files = files;
    files.sort_by_key(|f| *f != COMPOSE_FILE);
    let mut runs: Vec<(&str, Vec<PathBuf>)> = Vec::new();
    for f in &files {
        let staged = staging.path().join(f);
        match &main {
            Some(m) if *f != COMPOSE_FILE => runs.push((f, vec![m.clone(), staged])),
            _ => runs.push((f, vec![staged])),
        }
    }
    let mut checked = Vec::new();
    for (name, chain) in runs {
        let mut argv = compose.to_vec();
        argv.extend(["--project-directory".to_string(), root.display().to_string()]);
        for f in &chain {
            argv.extend(["-f".to_string(), f.display().to_string()]);
        }
        argv.extend(["config".to_string(), "--quiet".to_string()]);
        let out = exec::run(&argv, root, &setting)?.replaced(&format!("{}/", staging.path().display()), "");
        if !out.ok() {
            return Err(failed(format!(
                "{}'s {name} fails `{} config` ({}): {}; nothing was stopped or changed",
                snap.manifest.id,
                exec::display(compose),
                out.status(),
                out.summary()
            ))
            .details(out.lines()));
        }
        checked.push(name.to_string());
    }
    Ok(Some(Staged::Checked(checked)))
}
