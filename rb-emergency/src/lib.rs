//! `rb-emergency`: the whole-stack rollback as a plan that is shown, verified step by step,
//! and honest.
//!
//! The seed's `emergency_rollback.sh` stops every service before it knows it has something
//! to restore, merges `backups/latest/*` over the tree, ignores every exit code, waits a blind
//! `sleep 30`, and prints "EMERGENCY ROLLBACK COMPLETED" even when the health check failed.
//! Here the snapshot is verified (every hash) and every program found before anything stops;
//! each service stop and start is checked with its status command; the files go back through
//! the restore engine, whose check — run while its journal stands — starts the services, polls
//! the health check and runs the extra checks, so a failure puts the undo back; then what was
//! stopped is started again. The `report` document has one entry per step.

pub mod cli;
pub mod drill;

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::{Config, FILE};
use rb_common::doc::{Changed, Document, Out};
use rb_common::error::{Error, Kind, Result, failed, partial, usage};
use rb_common::exec;
use rb_common::health::{self, HealthConfig};
use rb_common::restore::{self, Options};
use rb_common::store::{Event, Snapshot, Store};
use rb_common::wait::{Poll, Progress, Wait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use cli::Cli;
use cli::Command;

/// A service the emergency rollback stops and starts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Its name, for the report.
    pub name: String,
    /// Stops it.
    pub stop: Vec<String>,
    /// Starts it.
    pub start: Vec<String>,
    /// Exits 0 while it runs.
    pub status: Vec<String>,
    /// Runs only when `status` also prints something (`docker compose ps --quiet` exits 0
    /// with nothing running).
    #[serde(default)]
    pub running_if_output: bool,
}

/// An extra check run after the health check.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckCommand {
    /// Its name, for the report.
    pub name: String,
    /// The command; exit 0 passes.
    pub command: Vec<String>,
}

/// `[emergency]` in rollback.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmergencyConfig {
    /// Stopped in this order, started in the reverse.
    pub services: Vec<Service>,
    /// Run after the health check.
    pub checks: Vec<CheckCommand>,
    /// The environment variable holding the webhook URL: its name, never the URL.
    pub webhook_env: String,
    /// The set whose newest snapshot is restored by default.
    pub set: String,
    /// Seconds to wait for a service's status to say it stopped or started.
    pub timeout_s: f64,
}

fn systemctl(name: &str) -> Service {
    let argv = |verb: &[&str]| {
        let mut v = vec!["systemctl".to_string()];
        v.extend(verb.iter().map(|s| s.to_string()));
        v.push(name.to_string());
        v
    };
    Service {
        name: name.to_string(),
        stop: argv(&["stop"]),
        start: argv(&["start"]),
        status: argv(&["is-active", "--quiet"]),
        running_if_output: false,
    }
}

impl Default for EmergencyConfig {
    fn default() -> Self {
        let compose = |args: &[&str]| {
            let mut v = vec!["docker".to_string(), "compose".to_string()];
            v.extend(args.iter().map(|s| s.to_string()));
            v
        };
        EmergencyConfig {
            // The seed's order: compose down, nginx, redis, postgresql; started in reverse.
            services: vec![
                Service {
                    name: "docker compose".to_string(),
                    stop: compose(&["down"]),
                    start: compose(&["up", "-d"]),
                    // Both CLIs: v1's `ps -q` lists stopped containers too.
                    status: compose(&["ps", "--services", "--filter", "status=running"]),
                    running_if_output: true,
                },
                systemctl("nginx"),
                systemctl("redis"),
                systemctl("postgresql"),
            ],
            checks: Vec::new(),
            webhook_env: "RB_SLACK_WEBHOOK".to_string(),
            set: "config".to_string(),
            timeout_s: 30.0,
        }
    }
}

/// One step of a report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    /// What it is (`stop nginx`, `restore`, `health`).
    pub name: String,
    /// The command run, or the action.
    pub action: String,
    /// `planned`, `ok`, `failed`, `skipped`.
    pub status: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What happened.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The `report` document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Its id (`report_<time>`), also in the audit log; absent for a dry run or `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `run` or `status`.
    pub action: String,
    /// True when every step passed (for `status`: every service runs and the app is healthy).
    pub ok: bool,
    /// The snapshot restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The undo snapshot: what the restore replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
    /// Each step in order.
    pub steps: Vec<Step>,
    /// `status`: the store and the audit log's counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// True when nothing was done because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for Report {
    const KIND: &'static str = "report";
    const SOURCE: &'static str = "rb-emergency";
}

/// Runs `rb-emergency` with parsed arguments, writing the `report` document to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    let mut emergency: EmergencyConfig = config.section("emergency")?;
    default_compose(&mut emergency, &config, &store.root);
    rb_common::config::check_seconds("[emergency] timeout_s", emergency.timeout_s, 3600.0)?;
    let health: HealthConfig = config.section("health")?;
    health.check()?;
    match cli.command {
        Command::Run { from, yes, dry_run, diff, no_revert } => {
            let how = How { yes, dry_run, diff, no_revert };
            emergency_run(&store, &config, &emergency, &health, from.as_deref(), how, out)
        }
        Command::Status { since, format } => {
            status(&store, &config, &emergency, &health, since.as_deref(), format, out)
        }
        Command::Drill { test, report } => drill::drill(&store, &test, report, out),
    }
}

/// The default services name `docker compose`; where only `docker-compose` (v1) answers, or
/// `[deploy] compose` names one, they use that instead. Configured services are left alone.
fn default_compose(emergency: &mut EmergencyConfig, config: &Config, root: &std::path::Path) {
    if emergency.services != EmergencyConfig::default().services {
        return;
    }
    let deploy: rb_deploy::DeployConfig = config.section("deploy").unwrap_or_default();
    let Ok(compose) = rb_deploy::docker::compose_command(&deploy.compose, root) else { return };
    let mut prefix = compose;
    if let Some(p) = &deploy.project {
        prefix.extend(["-p".to_string(), p.clone()]);
    }
    for svc in emergency.services.iter_mut().filter(|s| s.name == "docker compose") {
        for argv in [&mut svc.stop, &mut svc.start, &mut svc.status] {
            let rest: Vec<String> = argv.drain(2..).collect();
            *argv = prefix.iter().cloned().chain(rest).collect();
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct How {
    yes: bool,
    dry_run: bool,
    diff: bool,
    no_revert: bool,
}

/// Records steps and prints one progress line each.
struct Steps {
    steps: Vec<Step>,
}

impl Steps {
    fn run(&mut self, name: &str, action: &str, f: impl FnOnce() -> Result<String>) -> Result<()> {
        let start = Instant::now();
        let result = f();
        let ms = start.elapsed().as_millis() as u64;
        let (status, detail) = match &result {
            Ok(d) => ("ok", d.clone()),
            Err(e) => ("failed", e.message().to_string()),
        };
        common::note(&format!(
            "[{status}] {name} ({:.1}s){}",
            ms as f64 / 1000.0,
            if detail.is_empty() { String::new() } else { format!(": {detail}") }
        ));
        self.steps.push(Step {
            name: name.to_string(),
            action: action.to_string(),
            status: status.to_string(),
            duration_ms: ms,
            detail,
        });
        result.map(|_| ())
    }
}

/// Runs `argv` in the root; exit 0 or an error with its last words.
fn command(store: &Store, argv: &[String], setting: &str) -> Result<String> {
    let out = exec::run(argv, &store.root, setting)?;
    if out.ok() {
        return Ok(String::new());
    }
    Err(failed(format!("`{}` failed ({}): {}", exec::display(argv), out.status(), out.summary())))
}

/// Whether `svc` runs now, by its status command, or an error when that command cannot
/// answer: it could not be run, it ran out of time, a signal ended it, or its shell could not
/// run what it names (126, 127).
fn probe(store: &Store, svc: &Service) -> Result<bool> {
    let setting = format!("emergency.services ({}) in {FILE}", svc.name);
    let out = exec::run(&svc.status, &store.root, &setting)?;
    match out.code {
        None | Some(126) | Some(127) => Err(failed(format!(
            "`{}` failed ({}): {}",
            exec::display(&svc.status),
            out.status(),
            out.summary()
        ))),
        Some(_) => Ok(out.ok() && (!svc.running_if_output || !out.stdout.trim().is_empty())),
    }
}

/// Waits until `svc`'s status command says it runs (`running`) or not.
fn wait_status(store: &Store, svc: &Service, running: bool, timeout: Duration) -> Result<String> {
    let wait = Wait::new(timeout, STATUS_INTERVAL);
    let looked = wait.poll(&Progress::silent(), || {
        Ok(if probe(store, svc)? == running { Poll::Done(()) } else { Poll::Pending(String::new()) })
    })?;
    match looked {
        Some(()) => Ok(if running { "running".to_string() } else { "stopped".to_string() }),
        None => Err(failed(format!(
            "{} still {} {}s later (`{}`)",
            svc.name,
            if running { "does not run" } else { "runs" },
            timeout.as_secs_f64(),
            exec::display(&svc.status)
        ))),
    }
}

/// The longest pause between two looks at a service's status.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

fn plan(
    snap: &Snapshot,
    emergency: &EmergencyConfig,
    health: &HealthConfig,
    counts: &str,
    check: Option<&str>,
) -> Vec<Step> {
    let mut steps = vec![Step {
        name: "verify".to_string(),
        action: format!("check every file of {} against its SHA-256", snap.manifest.id),
        status: "ok".to_string(),
        detail: counts.to_string(),
        ..Step::default()
    }];
    let planned = |name: String, action: String| Step {
        name,
        action,
        status: "planned".to_string(),
        ..Step::default()
    };
    for svc in &emergency.services {
        steps.push(planned(format!("stop {}", svc.name), exec::display(&svc.stop)));
    }
    steps.push(planned("restore".to_string(), format!("restore {} through the engine", snap.manifest.id)));
    if let Some(check) = check {
        steps.push(planned("test config".to_string(), check.to_string()));
    }
    for svc in emergency.services.iter().rev() {
        steps.push(planned(format!("start {}", svc.name), exec::display(&svc.start)));
    }
    steps.push(planned(
        "health".to_string(),
        format!("GET {} until 2xx, {}s at most", health.url, health.timeout_s),
    ));
    for c in &emergency.checks {
        steps.push(planned(format!("check {}", c.name), exec::display(&c.command)));
    }
    steps.push(planned("notify".to_string(), format!("POST to the webhook in ${}", emergency.webhook_env)));
    steps
}

/// The checks of what will be restored, on a staged copy, before anything stops: the
/// snapshot's nginx files with `nginx -t` (when `nginx` is the configured nginx and the
/// restore's check is its `-t`), its compose files with `compose config` (when it holds any).
/// A refusal is exit 1 with nothing stopped; a check that cannot run here is a skipped step.
fn preflight(
    store: &Store,
    snap: &Snapshot,
    removed: &[String],
    nginx: Option<&[String]>,
    compose: &[String],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let skipped = |name: &str, action: String, why: String| {
        common::note(&format!("{name} skipped: {why}"));
        Step { name: name.to_string(), action, status: "skipped".to_string(), detail: why, ..Step::default() }
    };
    if let Some(command) = nginx {
        let name = "preflight nginx";
        let action = format!("`{} -t` on a staged copy of the snapshot's nginx/", exec::display(command));
        let start = Instant::now();
        match rb_common::nginx::test_staged(command, &store.root, snap, removed)? {
            rb_common::nginx::Staged::Skipped(why) => steps.push(skipped(name, action, why)),
            rb_common::nginx::Staged::Tested { output, absolute, .. } => {
                let as_is = if absolute.is_empty() {
                    String::new()
                } else {
                    let note = format!(
                        "the configuration names project files by absolute path, tested as they are now, not as the snapshot has them: {}",
                        absolute.join(", ")
                    );
                    common::warn(&note);
                    format!("; {note}")
                };
                if !output.ok() {
                    return Err(failed(format!(
                        "{}'s nginx configuration fails `nginx -t` ({}): {}{as_is}; nothing was stopped or changed",
                        snap.manifest.id,
                        output.status(),
                        output.summary()
                    ))
                    .details(output.lines()));
                }
                steps.push(Step {
                    name: name.to_string(),
                    action,
                    status: "ok".to_string(),
                    duration_ms: start.elapsed().as_millis() as u64,
                    detail: format!("{}{as_is}", output.summary()),
                });
            }
        }
    }
    let name = "preflight compose";
    let action =
        format!("`{} config --quiet` of the snapshot's compose files, staged", exec::display(compose));
    let start = Instant::now();
    match rb_deploy::docker::check_staged(compose, &store.root, snap)? {
        None => {}
        Some(rb_deploy::docker::Staged::Skipped(why)) => steps.push(skipped(name, action, why)),
        Some(rb_deploy::docker::Staged::Checked(files)) => steps.push(Step {
            name: name.to_string(),
            action,
            status: "ok".to_string(),
            duration_ms: start.elapsed().as_millis() as u64,
            detail: format!("{} pass", files.join(", ")),
        }),
    }
    Ok(steps)
}

fn confirm(steps: &[Step]) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(usage("not on a terminal, so nobody can confirm the plan: give --yes to run it")
            .hint("rb-emergency run --dry-run shows the plan"));
    }
    eprintln!("rb-emergency: the plan:");
    for s in steps {
        eprintln!("  {:<22} {}", s.name, s.action);
    }
    eprint!("rb-emergency: type `yes` to run it: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| failed(format!("reading the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(failed("not confirmed: nothing was done"));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn emergency_run(
    store: &Store,
    config: &Config,
    emergency: &EmergencyConfig,
    health: &HealthConfig,
    from: Option<&str>,
    how: How,
    out: &mut Out,
) -> Result<()> {
    // Before anything stops: the snapshot, verified; every program, found.
    let snap = match from {
        // `latest-good` as `latest`: of the set the runbook restores.
        Some(id) if id == rb_common::store::LATEST_GOOD => store.latest_good(Some(&emergency.set))?,
        Some(id) => store.resolve(id, None)?,
        None => store.latest(Some(&emergency.set))?,
    };
    rb_common::legacy::note_left_alone(&snap);
    let preview = restore::preview(store, &snap, Options::default())?;
    if how.diff {
        rb_common::diff::show(store, config, &snap, &preview)?;
    }
    let counts = format!(
        "{} would be created, {} modified, {} removed",
        preview.created.len(),
        preview.modified.len(),
        preview.removed.len()
    );
    // nginx.conf is tested before nginx starts: the set's check, or — when nginx is among the
    // services or the snapshot holds its config — the configured (or default) `nginx -t`.
    let holds_nginx = snap.manifest.entries.iter().any(|e| e.path == rb_common::config::NGINX_CONF);
    let check = match config.check_for(&snap.manifest.set)? {
        Some(c) => Some(c),
        None if holds_nginx && emergency.services.iter().any(|s| s.name.contains("nginx")) => {
            Some(config.nginx()?.test_check())
        }
        None => None,
    };
    for (argv, what) in emergency
        .services
        .iter()
        .flat_map(|s| [(&s.stop, &s.name), (&s.start, &s.name), (&s.status, &s.name)])
        .chain(emergency.checks.iter().map(|c| (&c.command, &c.name)))
    {
        let program =
            argv.first().ok_or_else(|| usage(format!("{FILE}: [emergency] {what}: an empty command")))?;
        exec::find(program, &store.root, &format!("emergency ({what}) in {FILE}"))?;
    }
    if let Some(c) = &check {
        exec::find(&c.argv[0], &store.root, &c.setting)?;
    }
    // What will be restored, tested on a staged copy: a snapshot nginx or compose refuses
    // must not cost an outage.
    let nginx_test = match &check {
        Some(c) if holds_nginx && c.argv == config.nginx()?.test_check().argv => {
            Some(config.nginx()?.command)
        }
        _ => None,
    };
    let deploy: rb_deploy::DeployConfig = config.section("deploy")?;
    let preflight = preflight(store, &snap, &preview.removed, nginx_test.as_deref(), &deploy.compose)?;
    let mut steps =
        plan(&snap, emergency, health, &counts, check.as_ref().map(|c| exec::display(&c.argv)).as_deref());
    let checked = 1 + preflight.len();
    steps.splice(1..1, preflight);
    let mut report = Report {
        action: "run".to_string(),
        snapshot: Some(snap.manifest.id.clone()),
        steps: steps.clone(),
        dry_run: how.dry_run,
        ok: true,
        ..Report::default()
    };
    if how.dry_run {
        common::note(&format!(
            "dry run: the plan to restore {}; nothing was stopped or changed",
            snap.manifest.id
        ));
        return out.emit(&report);
    }
    if !how.yes {
        confirm(&steps)?;
    }
    let lock = store.lock()?;
    let id = store.next_id("report", &clock::now()?)?;
    report.id = Some(id.clone());
    let timeout = Duration::from_secs_f64(emergency.timeout_s);
    let mut log = Steps { steps: steps[..checked].to_vec() };
    common::note(&format!("emergency rollback {id}: restoring {}", snap.manifest.id));

    // Stop, in order, each checked.
    let mut stopped: Vec<&Service> = Vec::new();
    let mut failure: Option<Error> = None;
    for svc in &emergency.services {
        let setting = format!("emergency.services ({}) in {FILE}", svc.name);
        let r = log.run(&format!("stop {}", svc.name), &exec::display(&svc.stop), || {
            command(store, &svc.stop, &setting)?;
            wait_status(store, svc, false, timeout)
        });
        stopped.push(svc);
        if let Err(e) = r {
            failure = Some(e);
            break;
        }
    }

    let mut files_reverted = None;
    // The services this attempt started: after a failure they run the restored files, so
    // they are restarted once the files are back.
    let started: std::cell::RefCell<Vec<&Service>> = std::cell::RefCell::new(Vec::new());
    if failure.is_none() {
        let start_all = |log: &mut Steps| -> Result<()> {
            for svc in emergency.services.iter().rev() {
                let setting = format!("emergency.services ({}) in {FILE}", svc.name);
                started.borrow_mut().push(svc);
                log.run(&format!("start {}", svc.name), &exec::display(&svc.start), || {
                    command(store, &svc.start, &setting)?;
                    wait_status(store, svc, true, timeout)
                })?;
            }
            log.run("health", &format!("GET {}", health.url), || {
                let h = health::poll(health);
                if h.ok {
                    Ok(format!("{} after {} tries", h.last, h.attempts))
                } else {
                    Err(failed(format!(
                        "{} did not answer 2xx after {} tries ({})",
                        h.url, h.attempts, h.last
                    )))
                }
            })?;
            for c in &emergency.checks {
                log.run(&format!("check {}", c.name), &exec::display(&c.command), || {
                    command(store, &c.command, &format!("emergency.checks ({}) in {FILE}", c.name))
                })?;
            }
            Ok(())
        };
        let test_config = |log: &mut Steps| -> Result<()> {
            match &check {
                Some(c) => log.run("test config", &exec::display(&c.argv), || {
                    restore::run_check(Some(c), &store.root).map(|_| String::new())
                }),
                None => Ok(()),
            }
        };
        let opts = Options {
            keep_extra: false,
            quick: false,
            after: Some("`rb-emergency status`, then start the services"),
        };
        let start = Instant::now();
        let result = if how.no_revert {
            // Nothing is put back: the files go in, then the rest runs outside the journal.
            restore::restore_then(store, &lock, &snap, opts, None, &mut |_| Ok(()))
        } else {
            restore::restore_then(store, &lock, &snap, opts, check.as_ref(), &mut |_| {
                test_config(&mut log)?;
                start_all(&mut log)
            })
        };
        let ms = start.elapsed().as_millis() as u64;
        let restore_step = |status: &str, detail: String| Step {
            name: "restore".to_string(),
            action: format!("restore {}", snap.manifest.id),
            status: status.to_string(),
            duration_ms: ms,
            detail,
        };
        let at = checked + emergency.services.len();
        match result {
            Ok(doc) => {
                report.undo = doc.undo.clone();
                log.steps.insert(
                    at.min(log.steps.len()),
                    restore_step(
                        "ok",
                        format!(
                            "{} created, {} modified, {} removed; the undo is {}",
                            doc.created.len(),
                            doc.modified.len(),
                            doc.removed.len(),
                            doc.undo.as_deref().unwrap_or("none (nothing changed)")
                        ),
                    ),
                );
                if how.no_revert
                    && let Err(e) = test_config(&mut log).and_then(|()| start_all(&mut log))
                {
                    failure = Some(e);
                }
            }
            Err(e) => {
                // The files were written only if the check ran (a step after the stops).
                let written = log.steps.len() > at;
                files_reverted = Some(written && e.kind() == Kind::Failed);
                log.steps.insert(
                    at.min(log.steps.len()),
                    restore_step(
                        if written { "ok" } else { "failed" },
                        if written {
                            "written, then put back: a later step failed".to_string()
                        } else {
                            e.message().to_string()
                        },
                    ),
                );
                failure = Some(e);
            }
        }
    }

    // At the first failed step: the engine put the files back; what this attempt started is
    // restarted (it runs the restored files), what was stopped is started again.
    let mut revert_failed = false;
    if failure.is_some() && !how.no_revert {
        match files_reverted {
            Some(true) => log.steps.push(Step {
                name: "revert files".to_string(),
                action: "restore the undo snapshot".to_string(),
                status: "ok".to_string(),
                ..Step::default()
            }),
            Some(false) => revert_failed = log.steps.iter().any(|s| s.name == "restore" && s.status == "ok"),
            None => {}
        }
        let started = started.borrow().clone();
        for svc in stopped.iter().rev() {
            let setting = format!("emergency.services ({}) in {FILE}", svc.name);
            let running = probe(store, svc).unwrap_or(false);
            let restart = running && started.iter().any(|s| s.name == svc.name);
            if running && !restart {
                continue;
            }
            let verb = if restart { "restart" } else { "start" };
            let r = log.run(&format!("revert: {verb} {}", svc.name), &exec::display(&svc.start), || {
                if restart {
                    command(store, &svc.stop, &setting)?;
                    wait_status(store, svc, false, timeout)?;
                }
                command(store, &svc.start, &setting)?;
                wait_status(store, svc, true, timeout)
            });
            revert_failed |= r.is_err();
        }
    }
    report.ok = failure.is_none();
    if failure.is_some() && (revert_failed || how.no_revert) {
        // What runs and what is on disk, for the human who takes over.
        let started = started.borrow().clone();
        for svc in &emergency.services {
            // "stopped" only when the status command says so, or rb stopped it and never
            // started it again; a status command that cannot answer is "unknown", named.
            let left_stopped = stopped.iter().any(|s| s.name == svc.name)
                && !started.iter().any(|s| s.name == svc.name)
                && !log.steps.iter().any(|s| s.name == format!("revert: start {}", svc.name));
            let (status, detail) = match probe(store, svc) {
                Ok(true) => ("running", String::new()),
                Ok(false) => ("stopped", String::new()),
                Err(e) if left_stopped => (
                    "stopped",
                    format!(
                        "rb stopped it and did not start it again; its status command failed: {}",
                        e.message()
                    ),
                ),
                Err(e) => ("unknown", format!("its status command failed: {}", e.message())),
            };
            log.steps.push(Step {
                name: format!("final state {}", svc.name),
                action: exec::display(&svc.status),
                status: status.to_string(),
                detail,
                ..Step::default()
            });
        }
        let pending = store.pending().ok().flatten();
        log.steps.push(Step {
            name: "final state files".to_string(),
            action: "the store's journal".to_string(),
            status: if pending.is_some() { "pending" } else { "settled" }.to_string(),
            detail: match pending {
                Some((s, u, _)) => format!(
                    "a restore of {s} is pending: `rb-restore --resume` or `rb-restore --abort` (undo {u})"
                ),
                None => format!(
                    "the files are those of {}",
                    if files_reverted == Some(true) { "before the rollback" } else { "the snapshot" }
                ),
            },
            ..Step::default()
        });
    }
    notify(emergency, &mut log, &report, &snap);
    report.steps = log.steps;
    let event = Event::ended("emergency", failure.as_ref());
    store.log_or_warn(
        event.set(&snap.manifest.set).snapshot(&snap.manifest.id).undo(report.undo.as_deref()).report(&id),
    );
    let line = rb_common::doc::to_line(&report)?;
    if let Err(e) = rb_common::fsx::atomic_write(
        &store.dir.join(format!("{id}.json")),
        format!("{line}\n").as_bytes(),
        rb_common::fsx::Mode(0o644),
    ) {
        common::warn(&format!("the report could not be written to the store: {}", e.message()));
    }
    drop(lock);
    let Some(e) = failure else {
        common::note(&format!(
            "emergency rollback {id} to {} done: services running, healthy",
            snap.manifest.id
        ));
        return out.emit_after_change(
            &report,
            &Changed::new(
                format!("emergency rollback {id} to {} is done", snap.manifest.id),
                format!(
                    "the report is in backups/{id}.json; `rb-restore {}` puts the files back",
                    report.undo.as_deref().unwrap_or("<undo>")
                ),
            ),
        );
    };
    // The error below says what the state is; a stdout gone away does not change that.
    let _ = out.emit(&report);
    let step =
        report.steps.iter().find(|s| s.status == "failed").map_or("a step".to_string(), |s| s.name.clone());
    if how.no_revert {
        return Err(partial(
            format!(
                "emergency rollback {id} stopped at `{step}`: {}; everything is left as it is (--no-revert)",
                e.message()
            ),
            format!(
                "the report backups/{id}.json says what runs and what is on disk; `rb-restore {}` puts the files back",
                report.undo.as_deref().unwrap_or("<undo>")
            ),
        ));
    }
    if revert_failed {
        return Err(partial(
            format!(
                "emergency rollback {id} failed at `{step}`: {}; putting things back failed too: a human is needed",
                e.message()
            ),
            format!("the report backups/{id}.json says what runs and what is on disk"),
        ));
    }
    Err(failed(format!(
        "emergency rollback {id} failed at `{step}`: {}; reverted: the files were put back and the services run them again",
        e.message()
    )))
}

/// Posts the outcome to the webhook (Slack-compatible `{"text": …}`), if its variable is set;
/// a failed notification is a warning, never a failed rollback.
fn notify(emergency: &EmergencyConfig, log: &mut Steps, report: &Report, snap: &Snapshot) {
    let Some(url) = std::env::var(&emergency.webhook_env).ok().filter(|u| !u.is_empty()) else {
        log.steps.push(Step {
            name: "notify".to_string(),
            action: format!("${} is not set", emergency.webhook_env),
            status: "skipped".to_string(),
            ..Step::default()
        });
        return;
    };
    let text = if report.ok {
        format!(
            "Emergency rollback to {} completed: services running, health check passed.",
            snap.manifest.id
        )
    } else {
        let failed_step = report
            .steps
            .iter()
            .chain(log.steps.iter())
            .find(|s| s.status == "failed")
            .map_or("?", |s| s.name.as_str());
        format!("Emergency rollback to {} FAILED at {failed_step}; see the report.", snap.manifest.id)
    };
    let agent = rb_common::http::agent(Duration::from_secs(5));
    let sent = agent.post(&url).send_json(json!({ "text": text }));
    let r = match sent {
        Ok(resp) if resp.status().is_success() => Ok(String::new()),
        Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
        Err(e) => Err(e.to_string()),
    };
    if let Err(why) = &r {
        common::warn(&format!("the notification failed ({why}); the rollback's outcome stands"));
    }
    log.steps.push(Step {
        name: "notify".to_string(),
        action: format!("POST to the webhook in ${}", emergency.webhook_env),
        status: if r.is_ok() { "ok" } else { "warning" }.to_string(),
        detail: r.err().unwrap_or_default(),
        ..Step::default()
    });
}

/// `90m`, `24h`, `7d` as seconds.
fn parse_since(text: &str) -> Result<i64> {
    clock::parse_duration(text).map(|d| d.num_seconds()).map_err(|e| e.context("--since"))
}

fn status(
    store: &Store,
    config: &Config,
    emergency: &EmergencyConfig,
    health: &HealthConfig,
    since: Option<&str>,
    format: rb_common::table::Format,
    out: &mut Out,
) -> Result<()> {
    let since = since.map(parse_since).transpose()?;
    let mut log = Steps { steps: Vec::new() };
    let mut ok = true;
    for svc in &emergency.services {
        let setting = format!("emergency.services ({}) in {FILE}", svc.name);
        let r = log.run(&format!("service {}", svc.name), &exec::display(&svc.status), || {
            let o = exec::run(&svc.status, &store.root, &setting)?;
            if o.ok() {
                Ok("running".to_string())
            } else {
                Err(failed(format!("not running ({})", o.status())))
            }
        });
        ok &= r.is_ok();
    }
    let h = health::poll(&HealthConfig { timeout_s: health.timeout_s.min(5.0), ..health.clone() });
    ok &= h.ok;
    log.steps.push(Step {
        name: "health".to_string(),
        action: format!("GET {}", health.url),
        status: if h.ok { "ok" } else { "failed" }.to_string(),
        detail: h.last.clone(),
        ..Step::default()
    });
    // The store.
    let mut per_set = std::collections::BTreeMap::<String, usize>::new();
    for l in store.list()? {
        *per_set.entry(l.set).or_default() += 1;
    }
    let latest = std::fs::read_link(store.dir.join("latest")).ok().map(|p| p.display().to_string());
    let pending = store.pending()?.map(|(s, u, _)| json!({ "snapshot": s, "undo": u }));
    ok &= pending.is_none();
    // A migration rollback that was interrupted: where it stopped, and the way out.
    let django = || rb_common::django::Django::new(config, &store.root);
    let migration = rb_migrate::interrupted(store, django())?;
    if let Some(m) = &migration {
        ok = false;
        let detail = format!(
            "the migration rollback of {} to {} was interrupted: {}; `{}` finishes it, `{}` goes back to where it started{}",
            m.app,
            m.target,
            m.stopped,
            m.resume,
            m.abort,
            m.backup.as_ref().map(|b| format!(" (or `rb-migrate restore-db {b}`)")).unwrap_or_default()
        );
        common::warn(&detail);
        log.steps.push(Step {
            name: "migration".to_string(),
            action: "the store's migration journal".to_string(),
            status: "interrupted".to_string(),
            detail,
            ..Step::default()
        });
    }
    // Who holds the lock, read without taking it (a shared try-lock fails while it is held).
    let lock_file = store.dir.join(".rb").join("lock");
    let holder = std::fs::File::open(&lock_file).ok().and_then(|f| match f.try_lock_shared() {
        Ok(()) => None,
        Err(_) => Some(std::fs::read_to_string(&lock_file).unwrap_or_default().trim().to_string()),
    });
    // The audit log.
    let now = clock::now()?;
    let text = std::fs::read_to_string(store.dir.join("rollback.log")).unwrap_or_default();
    let mut per_tool = std::collections::BTreeMap::<String, (u64, u64)>::new();
    let mut per_day = std::collections::BTreeMap::<String, (u64, u64)>::new();
    let mut last_failure = Value::Null;
    for event in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        let message = event["message"].as_str().unwrap_or_default();
        if message != "ROLLBACK SUCCESS" && message != "ROLLBACK FAILED" {
            continue;
        }
        // An emergency run is one rollback: its engine's own restore event is not another.
        if event["tool"] == "rb-emergency" && event["action"] != "emergency" {
            continue;
        }
        let time = event["time"].as_str().unwrap_or_default();
        if let (Some(s), Ok(t)) = (since, chrono::DateTime::parse_from_rfc3339(time))
            && (now.timestamp() - t.timestamp()) > s
        {
            continue;
        }
        let good = message == "ROLLBACK SUCCESS";
        let tool = per_tool.entry(event["tool"].as_str().unwrap_or("?").to_string()).or_default();
        let day = per_day.entry(time.get(..10).unwrap_or("?").to_string()).or_default();
        for slot in [tool, day] {
            if good { slot.0 += 1 } else { slot.1 += 1 }
        }
        if !good {
            last_failure = json!({ "time": time, "tool": event["tool"], "error": event["error"] });
        }
    }
    let counts = |m: std::collections::BTreeMap<String, (u64, u64)>| -> Value {
        m.into_iter()
            .map(|(k, (s, f))| (k, json!({ "success": s, "failed": f })))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let total_ok: u64 = per_tool.values().map(|v| v.0).sum();
    let total_failed: u64 = per_tool.values().map(|v| v.1).sum();
    let metrics = json!({
        "snapshots": per_set,
        "latest": latest,
        "pending": pending,
        "migration": migration,
        "lock_holder": holder,
        "rollbacks": { "total": total_ok + total_failed, "success": total_ok, "failed": total_failed },
        "per_tool": counts(per_tool),
        "per_day": counts(per_day),
        "last_failure": last_failure,
        "since": since.map(|s| format!("{s}s")),
    });
    let report = Report {
        action: "status".to_string(),
        ok,
        steps: log.steps,
        metrics: Some(metrics),
        ..Report::default()
    };
    if format.table() {
        let mut table = rb_common::table::Table::new(&["CHECK", "STATUS", "DETAIL"]);
        for step in &report.steps {
            table.row(vec![step.name.clone(), step.status.clone(), step.detail.clone()]);
        }
        let m = report.metrics.as_ref().map(|m| &m["rollbacks"]);
        table.row(vec![
            "rollbacks".to_string(),
            "logged".to_string(),
            m.map(|r| format!("{} ({} ok, {} failed)", r["total"], r["success"], r["failed"]))
                .unwrap_or_default(),
        ]);
        out.raw(table.render().as_bytes())?;
    } else {
        out.emit(&report)?;
    }
    if ok {
        Ok(())
    } else {
        Err(failed(
            "not healthy: see the report (a service not running, the health check, or a rollback left pending)",
        ))
    }
}
