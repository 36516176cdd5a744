//! `rb-emergency run`: a [`Plan`] made and checked before anything stops, then an [`Attempt`]
//! that carries it out — stop, restore, start, and after a failure revert — and concludes
//! with the `report` document, the audit event and the exit code.
//!
//! The attempt keeps what it stopped, what it started and what became of the files, so what
//! it puts back after a failure, and what it tells the human who takes over, follow from
//! what it did rather than from counting the steps it logged.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::{Config, FILE};
use rb_common::doc::{Changed, Out};
use rb_common::error::{Error, Kind, Result, failed, partial, usage};
use rb_common::exec;
use rb_common::health::{self, HealthConfig};
use rb_common::lock::Lock;
use rb_common::restore::{self, Check, Options};
use rb_common::store::{Event, Snapshot, Store};
use rb_common::wait::{Poll, Progress, Wait};
use serde_json::json;

use crate::{EmergencyConfig, Report, ReportStep, Service, StepStatus};

/// How `rb-emergency run` was asked to go about it (what to restore aside).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Runs without asking (`--yes`).
    pub yes: bool,
    /// Shows the plan and stops (`--dry-run`).
    pub dry_run: bool,
    /// Shows what the restore would change (`--diff`).
    pub diff: bool,
    /// Leaves everything as it is at the first failure (`--no-revert`).
    pub no_revert: bool,
}

/// Runs the emergency rollback of `from` (or the newest snapshot of `[emergency] set`):
/// plan, confirm, then one attempt from the first stop to the report.
pub fn emergency_run(
    settings: (&Store, &Config, &EmergencyConfig, &HealthConfig),
    from: Option<&str>,
    options: RunOptions,
    out: &mut Out,
) -> Result<()> {
    let plan = Plan::preflight(settings, from, options)?;
    if options.dry_run {
        common::note(&format!(
            "dry run: the plan to restore {}; nothing was stopped or changed",
            plan.snap.manifest.id
        ));
        return out.emit(&plan.report());
    }
    if !options.yes {
        confirm(&plan.steps)?;
    }
    let lock = plan.store.lock()?;
    let mut attempt = Attempt::begin(&plan)?;
    if attempt.stop() {
        attempt.restore(&lock);
    }
    attempt.revert();
    attempt.conclude(lock, out)
}

/// The rollback as it will run: the snapshot (every hash verified), the configuration check
/// of the restored files, every program found, what is restored tested on a staged copy, and
/// the steps shown before anything stops.
pub struct Plan<'a> {
    store: &'a Store,
    emergency: &'a EmergencyConfig,
    health: &'a HealthConfig,
    options: RunOptions,
    /// What is restored.
    snap: Snapshot,
    /// Run on the restored files before any service starts.
    check: Option<Check>,
    /// The report's steps before anything runs: those done already (verify, preflight), then
    /// those planned.
    steps: Vec<ReportStep>,
    /// How many of `steps` are done already.
    checked: usize,
}

impl<'a> Plan<'a> {
    /// Everything that can be known and checked before anything stops; an error here has
    /// stopped and changed nothing.
    pub fn preflight(
        (store, config, emergency, health): (&'a Store, &Config, &'a EmergencyConfig, &'a HealthConfig),
        from: Option<&str>,
        options: RunOptions,
    ) -> Result<Plan<'a>> {
        let snap = match from {
            // `latest-good` as `latest`: of the set the runbook restores.
            Some(id) if id == rb_common::store::LATEST_GOOD => store.latest_good(Some(&emergency.set))?,
            Some(id) => store.resolve(id, None)?,
            None => store.latest(Some(&emergency.set))?,
        };
        rb_common::legacy::note_left_alone(&snap);
        let preview = restore::preview(store, &snap, Options::default())?;
        if options.diff {
            rb_common::diff::show(store, config, &snap, &preview)?;
        }
        let counts = format!(
            "{} would be created, {} modified, {} removed",
            preview.created.len(),
            preview.modified.len(),
            preview.removed.len()
        );
        // nginx.conf is tested before nginx starts: the set's check, or — when nginx is among
        // the services or the snapshot holds its config — the configured (or default) `nginx -t`.
        let holds_nginx = snap.manifest.entries.iter().any(|e| e.path == rb_common::config::NGINX_CONF);
        let check = match config.check_for(&snap.manifest.set)? {
            Some(c) => Some(c),
            None if holds_nginx && emergency.services.iter().any(|s| s.name.contains("nginx")) => {
                Some(config.nginx()?.test_check())
            }
            None => None,
        };
        find_programs(store, emergency, check.as_ref())?;
        // What will be restored, tested on a staged copy: a snapshot nginx or compose refuses
        // must not cost an outage.
        let nginx_test = match &check {
            Some(c) if holds_nginx && c.argv == config.nginx()?.test_check().argv => {
                Some(config.nginx()?.command)
            }
            _ => None,
        };
        let deploy: rb_deploy::DeployConfig = config.section("deploy")?;
        let staged = staged_checks(store, &snap, &preview.removed, nginx_test.as_deref(), &deploy.compose)?;
        let shown_check = check.as_ref().map(|c| exec::display(&c.argv));
        let mut steps = planned_steps(&snap, emergency, health, &counts, shown_check.as_deref());
        let checked = 1 + staged.len();
        steps.splice(1..1, staged);
        Ok(Plan { store, emergency, health, options, snap, check, steps, checked })
    }

    /// The report of the plan itself, as `--dry-run` prints it.
    fn report(&self) -> Report {
        Report {
            action: "run".to_string(),
            snapshot: Some(self.snap.manifest.id.clone()),
            steps: self.steps.clone(),
            dry_run: self.options.dry_run,
            ok: true,
            ..Report::default()
        }
    }

    /// How long a service may take to stop or start.
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.emergency.timeout_s)
    }
}

/// Every program the plan runs, found, before anything stops.
fn find_programs(store: &Store, emergency: &EmergencyConfig, check: Option<&Check>) -> Result<()> {
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
    if let Some(c) = check {
        exec::find(&c.argv[0], &store.root, &c.setting)?;
    }
    Ok(())
}

/// What became of the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    /// The restore has not run (a stop failed, or it is yet to come).
    Untouched,
    /// The restore failed before it wrote anything.
    NotWritten,
    /// The snapshot's files are in place.
    Restored,
    /// Written, then put back by the restore engine when a later step failed.
    PutBack,
    /// Written, and putting them back failed.
    NotPutBack,
}

/// One run of a [`Plan`]: what it stopped, started and changed so far, and the steps it
/// logged. Each phase is one method; a failure is kept and ends the phases that follow.
pub struct Attempt<'p> {
    plan: &'p Plan<'p>,
    /// The report's id (`report_<time>`), also in the audit log.
    id: String,
    log: StepLog,
    /// Services this attempt stopped (or tried to), in order.
    stopped: Vec<&'p Service>,
    /// Services this attempt started (or tried to) on the restored files.
    started: Vec<&'p Service>,
    /// Services the revert started, or restarted, again.
    started_again: Vec<&'p Service>,
    files: Files,
    /// The undo snapshot of the restore, once it is done.
    undo: Option<String>,
    /// The first step that failed, and why.
    failure: Option<Error>,
    /// True when putting things back after the failure failed too.
    revert_failed: bool,
}

impl<'p> Attempt<'p> {
    /// Starts an attempt of `plan`; the caller holds the lock.
    pub fn begin(plan: &'p Plan<'p>) -> Result<Self> {
        let id = plan.store.next_id("report", &clock::now()?)?;
        common::note(&format!("emergency rollback {id}: restoring {}", plan.snap.manifest.id));
        Ok(Attempt {
            plan,
            id,
            log: StepLog { steps: plan.steps[..plan.checked].to_vec() },
            stopped: Vec::new(),
            started: Vec::new(),
            started_again: Vec::new(),
            files: Files::Untouched,
            undo: None,
            failure: None,
            revert_failed: false,
        })
    }

    /// Stops the services in order, each checked with its status command; false at the first
    /// that does not stop.
    pub fn stop(&mut self) -> bool {
        let plan = self.plan;
        for svc in &plan.emergency.services {
            let r = self.log.run(&format!("stop {}", svc.name), &exec::display(&svc.stop), || {
                command(plan.store, &svc.stop, &setting(svc))?;
                wait_status(plan.store, svc, false, plan.timeout())
            });
            self.stopped.push(svc);
            if let Err(e) = r {
                self.failure = Some(e);
                return false;
            }
        }
        true
    }

    /// Restores the snapshot through the engine. Unless `--no-revert`, the engine's check —
    /// run while its journal stands — is [`Attempt::start`], so a failure there puts the
    /// files back; with it, the files go in and the start runs outside the journal.
    pub fn restore(&mut self, lock: &Lock) {
        let plan = self.plan;
        let opts = Options {
            keep_extra: false,
            quick: false,
            after: Some("`rb-emergency status`, then start the services"),
        };
        // The restore's step goes before those its check logs.
        let at = self.log.steps.len();
        let mut written = false;
        let start = Instant::now();
        let result = if plan.options.no_revert {
            restore::restore_then(plan.store, lock, &plan.snap, opts, None, &mut |_| Ok(()))
        } else {
            restore::restore_then(plan.store, lock, &plan.snap, opts, plan.check.as_ref(), &mut |_| {
                // The check runs once the files are written.
                written = true;
                self.start()
            })
        };
        let ms = start.elapsed().as_millis() as u64;
        let step = |status: StepStatus, detail: String| ReportStep {
            name: "restore".to_string(),
            action: format!("restore {}", plan.snap.manifest.id),
            status,
            duration_ms: ms,
            detail,
        };
        match result {
            Ok(doc) => {
                self.files = Files::Restored;
                self.undo = doc.undo.clone();
                self.log.steps.insert(
                    at,
                    step(
                        StepStatus::Ok,
                        format!(
                            "{} created, {} modified, {} removed; the undo is {}",
                            doc.created.len(),
                            doc.modified.len(),
                            doc.removed.len(),
                            doc.undo.as_deref().unwrap_or("none (nothing changed)")
                        ),
                    ),
                );
                if plan.options.no_revert
                    && let Err(e) = self.start()
                {
                    self.failure = Some(e);
                }
            }
            Err(e) => {
                self.files = match (written, e.kind()) {
                    (false, _) => Files::NotWritten,
                    (true, Kind::Failed) => Files::PutBack,
                    (true, _) => Files::NotPutBack,
                };
                let restore_step = if written {
                    step(StepStatus::Ok, "written, then put back: a later step failed".to_string())
                } else {
                    step(StepStatus::Failed, e.message().to_string())
                };
                self.log.steps.insert(at, restore_step);
                self.failure = Some(e);
            }
        }
    }

    /// Brings the stack up on the restored files: the configuration test, the services in
    /// reverse order (each checked), the health check, the extra checks. The first failure
    /// ends it.
    pub fn start(&mut self) -> Result<()> {
        let plan = self.plan;
        if let Some(c) = &plan.check {
            self.log.run("test config", &exec::display(&c.argv), || {
                restore::run_check(Some(c), &plan.store.root).map(|_| String::new())
            })?;
        }
        for svc in plan.emergency.services.iter().rev() {
            self.started.push(svc);
            self.log.run(&format!("start {}", svc.name), &exec::display(&svc.start), || {
                command(plan.store, &svc.start, &setting(svc))?;
                wait_status(plan.store, svc, true, plan.timeout())
            })?;
        }
        self.log.run("health", &format!("GET {}", plan.health.url), || {
            let h = health::poll(plan.health);
            if h.ok {
                Ok(format!("{} after {} tries", h.last, h.attempts))
            } else {
                Err(failed(format!("{} did not answer 2xx after {} tries ({})", h.url, h.attempts, h.last)))
            }
        })?;
        for c in &plan.emergency.checks {
            self.log.run(&format!("check {}", c.name), &exec::display(&c.command), || {
                command(plan.store, &c.command, &format!("emergency.checks ({}) in {FILE}", c.name))
            })?;
        }
        Ok(())
    }

    /// After a failure (unless `--no-revert`): the engine put the files back; what this
    /// attempt started is restarted (it runs the restored files), what it stopped is started
    /// again.
    pub fn revert(&mut self) {
        if self.failure.is_none() || self.plan.options.no_revert {
            return;
        }
        let plan = self.plan;
        match self.files {
            Files::PutBack => self.log.steps.push(ReportStep {
                name: "revert files".to_string(),
                action: "restore the undo snapshot".to_string(),
                status: StepStatus::Ok,
                ..ReportStep::default()
            }),
            Files::NotPutBack => self.revert_failed = true,
            Files::Untouched | Files::NotWritten | Files::Restored => {}
        }
        for svc in self.stopped.clone().into_iter().rev() {
            let running = probe(plan.store, svc).unwrap_or(false);
            let restart = running && self.started.iter().any(|s| s.name == svc.name);
            if running && !restart {
                continue;
            }
            let verb = if restart { "restart" } else { "start" };
            self.started_again.push(svc);
            let r = self.log.run(&format!("revert: {verb} {}", svc.name), &exec::display(&svc.start), || {
                if restart {
                    command(plan.store, &svc.stop, &setting(svc))?;
                    wait_status(plan.store, svc, false, plan.timeout())?;
                }
                command(plan.store, &svc.start, &setting(svc))?;
                wait_status(plan.store, svc, true, plan.timeout())
            });
            self.revert_failed |= r.is_err();
        }
    }

    /// Where a failure leaves things to a human (a revert that failed, or `--no-revert`):
    /// what runs and what is on disk.
    fn final_state(&mut self) {
        let plan = self.plan;
        let has = |list: &[&Service], svc: &Service| list.iter().any(|s| s.name == svc.name);
        for svc in &plan.emergency.services {
            // "stopped" only when the status command says so, or rb stopped it and never
            // started it again; a status command that cannot answer is "unknown", named.
            let left_stopped =
                has(&self.stopped, svc) && !has(&self.started, svc) && !has(&self.started_again, svc);
            let (status, detail) = match probe(plan.store, svc) {
                Ok(true) => (StepStatus::Running, String::new()),
                Ok(false) => (StepStatus::Stopped, String::new()),
                Err(e) if left_stopped => (
                    StepStatus::Stopped,
                    format!(
                        "rb stopped it and did not start it again; its status command failed: {}",
                        e.message()
                    ),
                ),
                Err(e) => (StepStatus::Unknown, format!("its status command failed: {}", e.message())),
            };
            self.log.steps.push(ReportStep {
                name: format!("final state {}", svc.name),
                action: exec::display(&svc.status),
                status,
                detail,
                ..ReportStep::default()
            });
        }
        let pending = plan.store.pending().ok().flatten();
        self.log.steps.push(ReportStep {
            name: "final state files".to_string(),
            action: "the store's journal".to_string(),
            status: if pending.is_some() { StepStatus::Pending } else { StepStatus::Settled },
            detail: match pending {
                Some((s, u, _)) => format!(
                    "a restore of {s} is pending: `rb-restore --resume` or `rb-restore --abort` (undo {u})"
                ),
                None => format!(
                    "the files are those of {}",
                    if self.files == Files::PutBack { "before the rollback" } else { "the snapshot" }
                ),
            },
            ..ReportStep::default()
        });
    }

    /// Notifies, logs the event, keeps the report in the store, releases the lock, prints the
    /// report and returns what the exit code says: 0 done, 1 reverted, 3 left for a human.
    pub fn conclude(mut self, lock: Lock, out: &mut Out) -> Result<()> {
        let plan = self.plan;
        let id = self.id.clone();
        let snap = &plan.snap.manifest;
        let ok = self.failure.is_none();
        if !ok && (self.revert_failed || plan.options.no_revert) {
            self.final_state();
        }
        notify(plan.emergency, &mut self.log, ok, &snap.id);
        let report = Report {
            id: Some(id.clone()),
            action: "run".to_string(),
            ok,
            snapshot: Some(snap.id.clone()),
            undo: self.undo.clone(),
            steps: std::mem::take(&mut self.log.steps),
            metrics: None,
            dry_run: false,
        };
        plan.store.log_or_warn(
            Event::ended("emergency", self.failure.as_ref())
                .set(&snap.set)
                .snapshot(&snap.id)
                .undo(report.undo.as_deref())
                .report(&id),
        );
        let line = rb_common::doc::to_line(&report)?;
        if let Err(e) = rb_common::fsx::atomic_write(
            &plan.store.dir.join(format!("{id}.json")),
            format!("{line}\n").as_bytes(),
            rb_common::fsx::Mode(0o644),
        ) {
            common::warn(&format!("the report could not be written to the store: {}", e.message()));
        }
        drop(lock);
        let undo = report.undo.as_deref().unwrap_or("<undo>");
        let Some(e) = &self.failure else {
            common::note(&format!("emergency rollback {id} to {} done: services running, healthy", snap.id));
            return out.emit_after_change(
                &report,
                &Changed::new(
                    format!("emergency rollback {id} to {} is done", snap.id),
                    format!("the report is in backups/{id}.json; `rb-restore {undo}` puts the files back"),
                ),
            );
        };
        // The error below says what the state is; a stdout gone away does not change that.
        let _ = out.emit(&report);
        let step = report
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Failed)
            .map_or("a step".to_string(), |s| s.name.clone());
        Err(self.error(e, &step, undo))
    }

    /// The error of an attempt that failed at `step`: what was left, and the way on.
    fn error(&self, e: &Error, step: &str, undo: &str) -> Error {
        let id = &self.id;
        if self.plan.options.no_revert {
            return partial(
                format!(
                    "emergency rollback {id} stopped at `{step}`: {}; everything is left as it is (--no-revert)",
                    e.message()
                ),
                format!(
                    "the report backups/{id}.json says what runs and what is on disk; `rb-restore {undo}` puts the files back"
                ),
            );
        }
        if self.revert_failed {
            return partial(
                format!(
                    "emergency rollback {id} failed at `{step}`: {}; putting things back failed too: a human is needed",
                    e.message()
                ),
                format!("the report backups/{id}.json says what runs and what is on disk"),
            );
        }
        failed(format!(
            "emergency rollback {id} failed at `{step}`: {}; reverted: the files were put back and the services run them again",
            e.message()
        ))
    }
}

/// The steps of a report as they run, each printed as one progress line when it ends.
pub struct StepLog {
    /// The steps so far, in order.
    pub steps: Vec<ReportStep>,
}

impl StepLog {
    /// Runs `f` as the step `name` (running `action`), timing it and logging it as ok (with
    /// what it returned as the detail) or failed (with the error's message).
    pub fn run(&mut self, name: &str, action: &str, f: impl FnOnce() -> Result<String>) -> Result<()> {
        let start = Instant::now();
        let result = f();
        let ms = start.elapsed().as_millis() as u64;
        let (status, detail) = match &result {
            Ok(d) => (StepStatus::Ok, d.clone()),
            Err(e) => (StepStatus::Failed, e.message().to_string()),
        };
        common::note(&format!(
            "[{status}] {name} ({:.1}s){}",
            ms as f64 / 1000.0,
            if detail.is_empty() { String::new() } else { format!(": {detail}") }
        ));
        self.steps.push(ReportStep {
            name: name.to_string(),
            action: action.to_string(),
            status,
            duration_ms: ms,
            detail,
        });
        result.map(|_| ())
    }
}

/// Where a service's commands are configured, for the messages about them.
fn setting(svc: &Service) -> String {
    format!("emergency.services ({}) in {FILE}", svc.name)
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
    let out = exec::run(&svc.status, &store.root, &setting(svc))?;
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

/// The longest pause between two looks at a service's status.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

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

/// The plan's steps: verify (done), then every stop, the restore, the configuration test,
/// every start, the health check, the extra checks and the notification (planned).
fn planned_steps(
    snap: &Snapshot,
    emergency: &EmergencyConfig,
    health: &HealthConfig,
    counts: &str,
    check: Option<&str>,
) -> Vec<ReportStep> {
    let mut steps = vec![ReportStep {
        name: "verify".to_string(),
        action: format!("check every file of {} against its SHA-256", snap.manifest.id),
        status: StepStatus::Ok,
        detail: counts.to_string(),
        ..ReportStep::default()
    }];
    let planned = |name: String, action: String| ReportStep {
        name,
        action,
        status: StepStatus::Planned,
        ..ReportStep::default()
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
fn staged_checks(
    store: &Store,
    snap: &Snapshot,
    removed: &[String],
    nginx: Option<&[String]>,
    compose: &[String],
) -> Result<Vec<ReportStep>> {
    let mut steps = Vec::new();
    let skipped = |name: &str, action: String, why: String| {
        common::note(&format!("{name} skipped: {why}"));
        ReportStep {
            name: name.to_string(),
            action,
            status: StepStatus::Skipped,
            detail: why,
            ..ReportStep::default()
        }
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
                steps.push(ReportStep {
                    name: name.to_string(),
                    action,
                    status: StepStatus::Ok,
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
        Some(rb_deploy::docker::Staged::Checked(files)) => steps.push(ReportStep {
            name: name.to_string(),
            action,
            status: StepStatus::Ok,
            duration_ms: start.elapsed().as_millis() as u64,
            detail: format!("{} pass", files.join(", ")),
        }),
    }
    Ok(steps)
}

fn confirm(steps: &[ReportStep]) -> Result<()> {
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

/// Posts the outcome to the webhook (Slack-compatible `{"text": …}`), if its variable is set;
/// a failed notification is a warning, never a failed rollback.
fn notify(emergency: &EmergencyConfig, log: &mut StepLog, ok: bool, snapshot: &str) {
    let Some(url) = std::env::var(&emergency.webhook_env).ok().filter(|u| !u.is_empty()) else {
        log.steps.push(ReportStep {
            name: "notify".to_string(),
            action: format!("${} is not set", emergency.webhook_env),
            status: StepStatus::Skipped,
            ..ReportStep::default()
        });
        return;
    };
    let text = if ok {
        format!("Emergency rollback to {snapshot} completed: services running, health check passed.")
    } else {
        let failed_step =
            log.steps.iter().find(|s| s.status == StepStatus::Failed).map_or("?", |s| s.name.as_str());
        format!("Emergency rollback to {snapshot} FAILED at {failed_step}; see the report.")
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
    log.steps.push(ReportStep {
        name: "notify".to_string(),
        action: format!("POST to the webhook in ${}", emergency.webhook_env),
        status: if r.is_ok() { StepStatus::Ok } else { StepStatus::Warning },
        detail: r.err().unwrap_or_default(),
        ..ReportStep::default()
    });
}
