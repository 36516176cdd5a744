//! The `docker` target: the compose files, from a snapshot of the `compose` set (or the seed's
//! `backups/docker-compose_<time>.yml`), put back through the restore engine.
//!
//! The snapshot's `docker-compose.yml` is checked with `compose config --quiet` before
//! anything stops. Then, as the restore's check (the journal still standing): `up -d` (with
//! `down` first only for `--recreate`), a wait until every service runs and is healthy, and
//! the health check. If any of it fails the engine puts the previous files back, and `up -d`
//! runs again with them.
//!
//! Both compose CLIs work: `docker compose` (v2) and `docker-compose` (v1, Debian 12's 1.29),
//! whichever `[deploy] compose` names or, unset, whichever answers `version` (v2 first). What
//! runs is read from the engine, never from container names (v1 calls them `p_web_1`, v2
//! `p-web-1`) nor from `compose ps` output (v1 has no JSON, and lists stopped containers): the
//! ids `compose ps -q` gives, and the project's other containers by their
//! `com.docker.compose.project` label, through `docker inspect`. A service's configuration
//! hash (`compose config --hash='*'`) against its containers' `com.docker.compose.config-hash`
//! label says whether what runs is what the file says.

use std::path::{Path, PathBuf};

use rb_common::config::FILE;
use rb_common::error::{Result, failed, partial};
use rb_common::exec::{self, Output};
use rb_common::health::Health;
use rb_common::lock::Lock;
use rb_common::restore::{self, Options};
use rb_common::store::Store;
use rb_common::wait::Poll;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Backend, DeployConfig, DeployState, Revision, Target, Wait};

/// The compose file `up -d` reads.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// The snapshot set of the compose files.
pub const SET: &str = "compose";
/// In the store's `.rb/`: the image id each service ran, per compose file hash, as rb saw it
/// running and in step with the file (`status`, before and after a deploy).
pub const IMAGES: &str = "compose-images.json";

/// A service's image as it ran: the tag the file names and the id it pointed to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Pinned {
    image: String,
    image_id: String,
}

type Records = std::collections::BTreeMap<String, std::collections::BTreeMap<String, Pinned>>;

/// docker compose in the project root.
pub struct Docker {
    config: DeployConfig,
    /// The compose command in use (configured or detected).
    compose: Vec<String>,
    store: Store,
    recreate: bool,
}

/// One container of the stack, as `docker inspect` says.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Container {
    /// Its compose service (the `com.docker.compose.service` label).
    pub service: String,
    /// The container's id (12 hex digits).
    pub id: String,
    /// The image as the compose file names it (`helpdesk-web:1.4.2`).
    pub image: String,
    /// The id of the image it runs (`sha256:…`).
    pub image_id: String,
    /// `running`, `restarting`, `exited`, `created`, …
    pub state: String,
    /// `healthy`, `unhealthy` or `starting`, where the service has a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The configuration hash compose gave it (`com.docker.compose.config-hash`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_hash: String,
}

impl Container {
    /// Runs, and is healthy where it has a health check.
    pub fn ready(&self) -> bool {
        self.state == "running" && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    fn describe(&self) -> String {
        match &self.health {
            Some(h) => format!("{} ({}, {h})", self.service, self.state),
            None => format!("{} ({})", self.service, self.state),
        }
    }
}

/// The compose command: `configured` when given (found on PATH, or an error naming the
/// setting), else `docker compose` when it answers `version`, else `docker-compose`.
pub fn compose_command(configured: &[String], root: &Path) -> Result<Vec<String>> {
    let setting = format!("deploy.compose in {FILE}");
    if let Some(program) = configured.first() {
        exec::find(program, root, &setting)?;
        return Ok(configured.to_vec());
    }
    for candidate in [&["docker", "compose"][..], &["docker-compose"][..]] {
        let argv: Vec<String> = candidate.iter().map(|a| a.to_string()).collect();
        if which::which(&argv[0]).is_err() {
            continue;
        }
        let mut version = argv.clone();
        version.push("version".to_string());
        if exec::run(&version, root, &setting).is_ok_and(|o| o.ok()) {
            return Ok(argv);
        }
    }
    Err(failed("neither `docker compose` (v2) nor `docker-compose` (v1) answers `version`")
        .hint(format!("install Docker Compose, or name it in [deploy] compose in {FILE}")))
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
        let compose = compose_command(&config.compose, &store.root)?;
        let program = config.docker.first().cloned().unwrap_or_default();
        exec::find(&program, &store.root, &format!("deploy.docker in {FILE}"))?;
        Ok(Docker { config, compose, store: store.clone(), recreate })
    }

    fn compose(&self, file: Option<&Path>, args: &[&str]) -> Result<Output> {
        let mut argv = self.compose.clone();
        if let Some(p) = &self.config.project {
            argv.extend(["-p".to_string(), p.clone()]);
        }
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

    fn docker_ok(&self, args: &[&str]) -> Result<Output> {
        let mut argv = self.config.docker.clone();
        argv.extend(args.iter().map(|a| a.to_string()));
        let out = exec::run(&argv, &self.store.root, &format!("deploy.docker in {FILE}"))?;
        if out.ok() {
            return Ok(out);
        }
        Err(failed(format!("`docker {}` failed ({}): {}", args.join(" "), out.status(), out.summary()))
            .details(out.lines()))
    }

    /// The containers `ids` name, with their project label; one-off (`run`) containers left out.
    fn inspect(&self, ids: &[String]) -> Result<Vec<(String, Container)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["inspect"];
        args.extend(ids.iter().map(String::as_str));
        let out = self.docker_ok(&args)?;
        let rows: Vec<Value> = serde_json::from_str(out.stdout.trim())
            .map_err(|e| failed(format!("`docker inspect` answered something that is not JSON: {e}")))?;
        let label =
            |r: &Value, name: &str| r["Config"]["Labels"][name].as_str().unwrap_or_default().to_string();
        Ok(rows
            .iter()
            .filter(|r| label(r, "com.docker.compose.oneoff") != "True")
            .map(|r| {
                let id = r["Id"].as_str().unwrap_or_default();
                let state = r["State"]["Status"].as_str().unwrap_or("?").to_string();
                // A stopped container keeps its last health status: it says nothing now.
                let health =
                    r["State"]["Health"]["Status"].as_str().filter(|_| state == "running").map(String::from);
                let container = Container {
                    service: label(r, "com.docker.compose.service"),
                    id: id.get(..12).unwrap_or(id).to_string(),
                    image: r["Config"]["Image"].as_str().unwrap_or_default().to_string(),
                    image_id: r["Image"].as_str().unwrap_or_default().to_string(),
                    state,
                    health,
                    config_hash: label(r, "com.docker.compose.config-hash"),
                };
                (label(r, "com.docker.compose.project"), container)
            })
            .collect())
    }

    /// Every container of the stack, running or not, by service.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let listed = self.compose_ok(None, &["ps", "-q"])?;
        let ids: Vec<String> = listed.stdout.split_whitespace().map(String::from).collect();
        let mut found = self.inspect(&ids)?;
        // v2's `ps -q` lists running containers only: the project's others by its label.
        let filter = match found.first() {
            Some((project, _)) => format!("label=com.docker.compose.project={project}"),
            None => format!(
                "label=com.docker.compose.project.working_dir={}",
                std::fs::canonicalize(&self.store.root).unwrap_or_else(|_| self.store.root.clone()).display()
            ),
        };
        let others = self.docker_ok(&["ps", "-a", "-q", "--no-trunc", "--filter", &filter])?;
        let more: Vec<String> = others
            .stdout
            .split_whitespace()
            .filter(|id| !found.iter().any(|(_, c)| id.starts_with(&c.id)))
            .map(String::from)
            .collect();
        found.extend(self.inspect(&more)?);
        let mut containers: Vec<Container> = found.into_iter().map(|(_, c)| c).collect();
        containers.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
        Ok(containers)
    }

    /// Each service's configuration hash, as compose computes it from the live file.
    fn config_hashes(&self) -> Result<Vec<(String, String)>> {
        let out = self.compose_ok(None, &["config", "--hash=*"])?;
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(s, h)| (s.trim().to_string(), h.trim().to_string())))
            .collect())
    }

    /// How what runs differs from the file on disk: empty when every service of the file has
    /// containers of its configuration, running and healthy.
    fn differs(&self, containers: &[Container]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (service, hash) in self.config_hashes()? {
            let mine: Vec<&Container> = containers.iter().filter(|c| c.service == service).collect();
            if mine.is_empty() {
                out.push(format!("{service} has no container"));
                continue;
            }
            if mine.iter().any(|c| !c.config_hash.is_empty() && c.config_hash != hash) {
                out.push(format!(
                    "{service} runs another configuration than the file's (edited but not deployed?)"
                ));
            }
            out.extend(mine.iter().filter(|c| !c.ready()).map(|c| format!("{} is not ready", c.describe())));
        }
        Ok(out)
    }

    fn records_path(&self) -> PathBuf {
        self.store.dir.join(rb_common::snapshot::META_DIR).join(IMAGES)
    }

    fn records(&self) -> Records {
        std::fs::read_to_string(self.records_path())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Records which image ids the services of the file with `hash` run, when what runs is in
    /// step with it. Best effort: a record that cannot be written is a warning.
    fn record(&self, hash: &str, containers: &[Container]) {
        let mut records = self.records();
        let pinned: std::collections::BTreeMap<String, Pinned> = containers
            .iter()
            .filter(|c| !c.image_id.is_empty())
            .map(|c| (c.service.clone(), Pinned { image: c.image.clone(), image_id: c.image_id.clone() }))
            .collect();
        // No store yet (nothing to roll back to): nothing to record it for.
        let dir_exists = self.records_path().parent().is_some_and(Path::is_dir);
        if pinned.is_empty() || records.get(hash) == Some(&pinned) || !dir_exists {
            return;
        }
        records.insert(hash.to_string(), pinned);
        let written = serde_json::to_vec(&records).map_err(|e| failed(e.to_string())).and_then(|b| {
            rb_common::fsx::atomic_write(&self.records_path(), &b, rb_common::fsx::Mode(0o644))
        });
        if let Err(e) = written {
            rb_common::cli::warn(&format!("the images that run could not be recorded: {}", e.message()));
        }
    }

    /// The images the file `hash` ran with, as recorded: for each, whether its tag still
    /// points to the id it ran. An image gone from the engine is an error, before anything
    /// stops. Returns the tags to point back (`(tag, id)`).
    fn pins(&self, hash: &str) -> Result<Vec<(String, String)>> {
        let Some(pinned) = self.records().remove(hash) else { return Ok(Vec::new()) };
        let mut moved = Vec::new();
        for (service, p) in pinned {
            let now = self.docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.image]).ok();
            if now.as_ref().is_some_and(|o| o.stdout.trim() == p.image_id) {
                continue;
            }
            if self.docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.image_id]).is_err() {
                return Err(failed(format!(
                    "{service} ran {} as {}, which is gone from the engine; nothing was stopped",
                    p.image, p.image_id
                ))
                .hint("load or build that image again (`docker load`), or roll back to another revision"));
            }
            moved.push((p.image, p.image_id));
        }
        Ok(moved)
    }

    /// Points each moved tag back to the image it ran (`docker image tag ID TAG`).
    fn repin(&self, moved: &[(String, String)]) -> Result<()> {
        for (tag, id) in moved {
            rb_common::cli::note(&format!("{tag} points elsewhere now: tagging {id} as {tag} again"));
            self.docker_ok(&["image", "tag", id, tag])?;
        }
        Ok(())
    }

    /// Waits until every service of the compose file runs (and is healthy, where it has a
    /// health check), saying on stderr what it waits for.
    fn wait_running(&self, wait: Wait) -> Result<()> {
        let services: Vec<String> =
            self.compose_ok(None, &["config", "--services"])?.stdout.lines().map(String::from).collect();
        let mut ready_once = false;
        let mut not_ready: Vec<String> = Vec::new();
        let ready = wait.poll(&crate::waiting_for("every service to run"), || {
            let running = self.containers()?;
            // Every container of every service (replicas too) must run, and be healthy where it
            // has a health check.
            not_ready = services
                .iter()
                .flat_map(|service| {
                    let mine: Vec<&Container> = running.iter().filter(|c| &c.service == service).collect();
                    if mine.is_empty() {
                        return vec![format!("{service} (not created)")];
                    }
                    mine.into_iter().filter(|c| !c.ready()).map(Container::describe).collect()
                })
                .collect();
            // Ready twice in a row: a container that dies right after starting is not "up".
            let twice = not_ready.is_empty() && ready_once;
            ready_once = not_ready.is_empty();
            if twice {
                return Ok(Poll::Done(()));
            }
            Ok(Poll::Pending(if not_ready.is_empty() {
                "ready once, looking again".to_string()
            } else {
                not_ready.join(", ")
            }))
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
    fn backend(&self) -> Backend {
        Backend::Docker
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

    fn status(&self) -> Result<DeployState> {
        let containers = self.containers()?;
        let differs = self.differs(&containers)?;
        let current = self.current()?;
        if differs.is_empty() {
            self.record(&current.id, &containers);
        }
        Ok(DeployState {
            target: self.backend(),
            action: "status".to_string(),
            current: Some(current),
            containers,
            differs,
            ..DeployState::default()
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
            // On disk already; but if it is not what runs (or it runs unhealthy), `up -d` with it
            // is the rollback.
            let differs = self.differs(&self.containers()?)?;
            if differs.is_empty() {
                return Ok(current.clone());
            }
            rb_common::cli::note(&format!(
                "{} is already on disk, but what runs differs: {}; it is deployed again",
                found.id,
                differs.join("; ")
            ));
            return Ok(Revision { current: false, ..found });
        }
        // Checked before anything stops: a bad backup must not cost an outage.
        let file = self.file_of(&found.id)?;
        let moved = self.pins(&hash(&std::fs::read(&file).unwrap_or_default()))?;
        for (tag, id) in &moved {
            rb_common::cli::note(&format!(
                "{tag} no longer points to {id}, which {} ran: it will be tagged again",
                found.id
            ));
        }
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
        // What runs now, recorded (a later rollback to it re-tags what moved); then the images
        // the target ran with, tagged as they were.
        let containers = self.containers()?;
        if self.differs(&containers)?.is_empty() {
            self.record(&self.current()?.id, &containers);
        }
        let file = self.file_of(&to.id)?;
        let target_hash = hash(&std::fs::read(&file).unwrap_or_default());
        self.repin(&self.pins(&target_hash)?)?;
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
            Ok(_) => {
                if let Ok(containers) = self.containers() {
                    self.record(&target_hash, &containers);
                }
                health.ok_or_else(|| failed("the health check did not run"))
            }
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
    // Configured, or whichever compose answers; none here is a skipped check, said.
    let compose = match compose_command(compose, root) {
        Ok(c) => c,
        Err(e) => return Ok(Some(Staged::Skipped(format!("{} ({setting})", e.message())))),
    };
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
                exec::display(&compose),
                out.status(),
                out.summary()
            ))
            .details(out.lines()));
        }
        checked.push(name.to_string());
    }
    Ok(Some(Staged::Checked(checked)))
}
