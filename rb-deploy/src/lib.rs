//! `rb-deploy`: deployment rollbacks that are validated first, waited for, health-checked and
//! undoable.
//!
//! The seed's `deployment_rollback.sh docker FILE` runs `docker-compose down` before it knows
//! the old file is valid (a bad backup means an outage); `aws` passes a file name where ECS
//! wants a task definition revision; nothing waits for the rollback to become healthy, and
//! "completed" is printed whatever happened. Here each [`Target`] resolves and checks the
//! revision before anything changes, switches, waits until stable within a timeout, and then
//! the health check ([`rb_common::health`]) decides the exit code. The document names the
//! revision before, which `--to` takes to undo.

pub mod cli;
pub mod docker;
pub mod ecs;
pub mod render;

use std::time::Duration;

use rb_common::cli as common;
use rb_common::config::{Config, FILE, check_seconds};
use rb_common::doc::{self, Changed, Document, Out};
use rb_common::error::{Error, Kind, Result, failed, partial, usage};
use rb_common::health::{self, Health, HealthConfig};
use rb_common::lock::Lock;
use rb_common::store::{Event, Store};
use rb_common::wait::Progress;
pub use rb_common::wait::Wait;
use serde::{Deserialize, Serialize};

pub use cli::Cli;
use cli::Command;

/// `[deploy]` in rollback.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeployConfig {
    /// `docker`, `ecs` or `render`: a [`Backend`]'s name, kept as written so that a tool that
    /// only reads `[deploy]` (rb-emergency) is not refused over it; [`target`] checks it.
    pub target: String,
    /// The compose command (`["docker", "compose"]` or `["docker-compose"]`) [default:
    /// whichever of the two answers `version`, v2 first].
    pub compose: Vec<String>,
    /// The compose project name (`-p`) [default: compose's own, from the folder's name or
    /// `COMPOSE_PROJECT_NAME`].
    pub project: Option<String>,
    /// The docker command, for `docker ps`, `docker inspect` and `docker image tag`.
    pub docker: Vec<String>,
    /// The AWS CLI command.
    pub aws: Vec<String>,
    /// The ECS cluster.
    pub cluster: String,
    /// The ECS service.
    pub service: String,
    /// The task definition family.
    pub family: String,
    /// The Render service id (`srv-…`).
    pub render_service: Option<String>,
    /// Render's API.
    pub render_api: String,
    /// The environment variable holding Render's API key: its name, never the key.
    pub render_token_env: String,
    /// Seconds to wait for a deployment to become stable.
    pub timeout_s: f64,
    /// Seconds between polls.
    pub interval_s: f64,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            target: Backend::Docker.as_str().to_string(),
            compose: Vec::new(),
            project: None,
            docker: vec!["docker".to_string()],
            aws: vec!["aws".to_string()],
            cluster: "helpdesk-cluster".to_string(),
            service: "helpdesk-service".to_string(),
            family: "helpdesk-task".to_string(),
            render_service: None,
            render_api: "https://api.render.com".to_string(),
            render_token_env: "RENDER_API_KEY".to_string(),
            timeout_s: 300.0,
            interval_s: 2.0,
        }
    }
}

impl DeployConfig {
    fn wait(&self) -> Wait {
        Wait::new(Duration::from_secs_f64(self.timeout_s), Duration::from_secs_f64(self.interval_s))
    }
}

/// The progress of a deployment's wait: `waiting for <what>: <state> (3s of 300s)`.
pub fn waiting_for(what: &str) -> Progress<'static> {
    let what = what.to_string();
    Progress::notes(move |state| format!("waiting for {what}: {state}"))
}

/// A revision one can deploy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revision {
    /// Its id: `sha256:…` of the compose file or a compose snapshot id (docker),
    /// `family:N` (ecs), a deploy id (render).
    pub id: String,
    /// When it was made, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// What it is (images, status, commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// True for what runs now.
    pub current: bool,
}

/// The `deploy-state` document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeployState {
    /// `docker`, `ecs` or `render`.
    pub target: Backend,
    /// `status`, `history`, `rollback` or `restore`.
    pub action: String,
    /// `status`: what runs now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Revision>,
    /// `status` of docker: the containers that run (or ran) the stack, as the engine says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<docker::Container>,
    /// `status` of docker: how what runs differs from the compose file on disk (a file edited
    /// but not deployed, a service not running or unhealthy); empty when they agree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differs: Vec<String>,
    /// `history`: newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
    /// `rollback`/`restore`: what ran before (`--to` it undoes the change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// `rollback`/`restore`: what runs after (or would, for a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The health check at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// True when nothing was changed because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for DeployState {
    const KIND: &'static str = "deploy-state";
    const SOURCE: &'static str = "rb-deploy";
}

/// A kind of deployment: where the app runs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// docker compose on this host.
    #[default]
    Docker,
    /// An AWS ECS service.
    Ecs,
    /// A Render service.
    Render,
}

impl Backend {
    /// Every backend, in the order the messages name them.
    pub const ALL: [Backend; 3] = [Backend::Docker, Backend::Ecs, Backend::Render];

    /// Its name, as `--target` and `[deploy] target` take it.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Ecs => "ecs",
            Backend::Render => "render",
        }
    }

    /// The backend `name` names, or a usage error that lists them.
    pub fn named(name: &str) -> Result<Backend> {
        Backend::ALL.into_iter().find(|b| b.as_str() == name).ok_or_else(|| {
            usage(format!("unknown deployment target {name:?}: the targets are docker, ecs and render"))
                .hint(format!("--target, or [deploy] target in {FILE}"))
        })
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the app is deployed.
pub trait Target {
    /// Which kind of deployment it is.
    fn backend(&self) -> Backend;
    /// `docker`, `ecs` or `render`.
    fn name(&self) -> &'static str {
        self.backend().as_str()
    }
    /// What runs now.
    fn current(&self) -> Result<Revision>;
    /// The `status` document: what runs now, and (docker) the containers themselves.
    fn status(&self) -> Result<DeployState> {
        Ok(DeployState {
            target: self.backend(),
            action: "status".to_string(),
            current: Some(self.current()?),
            ..DeployState::default()
        })
    }
    /// What one could go back to, newest first.
    fn history(&self) -> Result<Vec<Revision>>;
    /// `to` made exact (`previous` resolved), checked to exist and be deployable: nothing
    /// changes before this passes.
    fn resolve(&self, to: &str, current: &Revision) -> Result<Revision>;
    /// Deploys `to`, waits until stable, runs `healthy`; on any failure puts back what ran
    /// (when it can) and says so in the error. The caller holds the lock.
    fn deploy(
        &self,
        lock: &Lock,
        to: &Revision,
        current: &Revision,
        wait: Wait,
        healthy: &mut dyn FnMut() -> Result<Health>,
    ) -> Result<Health>;
}

/// The target `--target` or `[deploy] target` names.
pub fn target(
    store: &Store,
    config: &Config,
    chosen: Option<&str>,
    recreate: bool,
) -> Result<Box<dyn Target>> {
    let deploy: DeployConfig = config.section("deploy")?;
    match Backend::named(chosen.unwrap_or(&deploy.target))? {
        Backend::Docker => Ok(Box::new(docker::Docker::new(store, deploy, recreate)?)),
        Backend::Ecs => Ok(Box::new(ecs::Ecs::new(store, deploy)?)),
        Backend::Render => Ok(Box::new(render::Render::new(deploy)?)),
    }
}

fn settings(config: &Config, timeout: Option<f64>) -> Result<(DeployConfig, HealthConfig)> {
    let mut deploy: DeployConfig = config.section("deploy")?;
    if let Some(t) = timeout {
        deploy.timeout_s = t;
    }
    check_seconds("[deploy] timeout_s (or --timeout)", deploy.timeout_s, 86_400.0)?;
    check_seconds("[deploy] interval_s", deploy.interval_s, 3600.0)?;
    let health: HealthConfig = config.section("health")?;
    health.check()?;
    Ok((deploy, health))
}

/// Runs `rb-deploy` with parsed arguments, writing `deploy-state` documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    let (deploy, health) = settings(&config, cli.timeout)?;
    let recreate = matches!(cli.command, Command::Rollback { recreate: true, .. });
    // `restore` takes its target from the document (a --target must agree).
    let wanted = if matches!(cli.command, Command::Restore { .. }) { Some(wanted()?) } else { None };
    if let (Some(w), Some(t)) = (&wanted, &cli.target)
        && w.target.as_str() != t
    {
        return Err(usage(format!("the document is about {}, not {t}", w.target)));
    }
    let chosen = wanted.as_ref().map(|w| w.target.as_str().to_string()).or(cli.target.clone());
    let t = target(&store, &config, chosen.as_deref(), recreate)?;
    let doc = |action: &str| DeployState {
        target: t.backend(),
        action: action.to_string(),
        ..DeployState::default()
    };
    match cli.command {
        Command::Status => {
            let state = t.status()?;
            if !state.differs.is_empty() {
                common::warn(&format!(
                    "what runs is not what {} says: {}",
                    docker::COMPOSE_FILE,
                    state.differs.join("; ")
                ));
            }
            out.emit(&state)
        }
        Command::History { format } => {
            let revisions = t.history()?;
            if !format.table() {
                return out.emit(&DeployState { revisions, ..doc("history") });
            }
            let mut table = rb_common::table::Table::new(&["REVISION", "CREATED", "CURRENT", "DETAIL"]);
            for r in &revisions {
                table.row(vec![
                    r.id.clone(),
                    r.created.clone().unwrap_or_default(),
                    if r.current { "*".to_string() } else { String::new() },
                    r.detail.clone().unwrap_or_default(),
                ]);
            }
            out.raw(table.render().as_bytes())
        }
        Command::Rollback { to, dry_run, diff, .. } => {
            rollback(&store, t.as_ref(), &to, deploy.wait(), &health, (dry_run, diff), "rollback", out)
        }
        Command::Restore { dry_run, diff } => {
            let wanted = wanted.ok_or_else(|| usage("no document"))?;
            let to = match (&wanted.current, &wanted.before) {
                (Some(c), _) => c.id.clone(),
                (None, Some(b)) => b.clone(),
                _ => {
                    return Err(usage(
                        "the document says neither what ran (`current`) nor what ran before (`before`)",
                    ));
                }
            };
            rollback(&store, t.as_ref(), &to, deploy.wait(), &health, (dry_run, diff), "restore", out)
        }
    }
}

fn wanted() -> Result<DeployState> {
    let (value, origin) = doc::read_one_stdin(
        "rb-deploy restore reads one `deploy-state` document",
        "rb-deploy status > before.json; …; rb-deploy restore < before.json",
    )?;
    doc::from_value(value, &origin)
}

#[allow(clippy::too_many_arguments)]
fn rollback(
    store: &Store,
    t: &dyn Target,
    to: &str,
    wait: Wait,
    health: &HealthConfig,
    (dry_run, diff): (bool, bool),
    action: &str,
    out: &mut Out,
) -> Result<()> {
    let current = t.current()?;
    let target = t.resolve(to, &current)?;
    if diff {
        let what = |r: &Revision| match &r.detail {
            Some(d) => format!("{} ({d})", r.id),
            None => r.id.clone(),
        };
        common::note(&format!("{}: {} → {}", t.name(), what(&current), what(&target)));
    }
    let mut doc = DeployState {
        target: t.backend(),
        action: action.to_string(),
        before: Some(current.id.clone()),
        after: Some(target.id.clone()),
        dry_run,
        ..DeployState::default()
    };
    if dry_run {
        common::note(&format!(
            "dry run: would deploy {} instead of {}, then check {}",
            target.id, current.id, health.url
        ));
        return out.emit(&doc);
    }
    if target.current {
        // Already there: nothing to change; the health check still says whether it is well.
        common::note(&format!("{} runs {} already: nothing to change", t.name(), target.id));
        let h = health::poll(health);
        let ok = h.ok;
        doc.health = Some(h.clone());
        let _ = out.emit(&doc);
        return if ok {
            Ok(())
        } else {
            Err(failed(format!(
                "nothing was changed, but the health check {} did not pass ({})",
                h.url, h.last
            )))
        };
    }
    let lock = store.lock()?;
    // Checked unlocked (a refusal writes nothing); under the lock, what runs must still be
    // what was planned from.
    if t.current()?.id != current.id {
        return Err(failed(
            "what runs changed while this was being planned (another rollback?); nothing was changed",
        )
        .hint("run it again"));
    }
    let mut last = None;
    let result = t.deploy(&lock, &target, &current, wait, &mut || {
        common::note(&format!("checking {}", health.url));
        let h = health::poll(health);
        last = Some(h.clone());
        if h.ok {
            Ok(h)
        } else {
            Err(failed(format!(
                "the health check {} did not pass after {} tries ({})",
                h.url, h.attempts, h.last
            )))
        }
    });
    let event = Event::ended(&format!("deploy-{action}"), result.as_ref().err());
    store.log_or_warn(event.set(&format!("deploy {}", t.name())).snapshot(&target.id));
    drop(lock);
    doc.health = last;
    match result {
        Ok(_) => {
            common::note(&format!(
                "{} runs {} (was {}), stable and healthy; `rb-deploy rollback --target {} --to {}` goes back",
                t.name(),
                target.id,
                current.id,
                t.name(),
                current.id
            ));
            out.emit_after_change(
                &doc,
                &Changed::new(
                    format!("{} runs {} (was {})", t.name(), target.id, current.id),
                    format!("`rb-deploy rollback --target {} --to {}` goes back", t.name(), current.id),
                ),
            )
        }
        Err(e) => {
            if e.kind() == Kind::Failed {
                doc.after = Some(current.id.clone());
            }
            // The document shows what was tried and what runs now; the error says why.
            let _ = out.emit(&doc);
            Err(e)
        }
    }
}

/// The error for a deployment that changed and then did not work out.
pub fn not_settled(target: Backend, what: String, back_to: &str) -> Error {
    partial(
        what,
        format!("`rb-deploy rollback --target {target} --to {back_to}` goes back to what ran before"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_is_named_as_written() {
        for b in Backend::ALL {
            assert_eq!(Backend::named(b.as_str()).unwrap(), b);
            assert_eq!(serde_json::to_string(&b).unwrap(), format!("\"{b}\""));
        }
        let e = Backend::named("k8s").unwrap_err();
        assert_eq!(e.message(), "unknown deployment target \"k8s\": the targets are docker, ecs and render");
    }
}
