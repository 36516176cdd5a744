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

pub mod attempt;
pub mod cli;
pub mod drill;

use rb_common::cli as common;
use rb_common::clock;
use rb_common::config::{Config, FILE};
use rb_common::doc::{Document, Out};
use rb_common::error::{Result, failed};
use rb_common::exec;
use rb_common::health::{self, HealthConfig};
use rb_common::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use attempt::RunOptions;
use attempt::StepLog;
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

/// One step of a report: planned, done, or (after a failure) the state things were left in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportStep {
    /// What it is (`stop nginx`, `restore`, `health`).
    pub name: String,
    /// The command run, or the action.
    pub action: String,
    /// How it went, or what it found.
    pub status: StepStatus,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What happened.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A step's `status`, written as its lowercase name (`not-configured` for a drill whose
/// target is not configured).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// In a plan: yet to run.
    #[default]
    Planned,
    /// It worked.
    Ok,
    /// It did not: the run stops here (or `status` reports not healthy).
    Failed,
    /// It could not run here, said why; not a failure.
    Skipped,
    /// It did not work, and that changes nothing (a notification).
    Warning,
    /// Final state or status: the service runs.
    Running,
    /// Final state: the service does not run.
    Stopped,
    /// Final state: the service's status command could not answer.
    Unknown,
    /// Final state of the files: a restore is pending in the journal.
    Pending,
    /// Final state of the files: no restore is pending.
    Settled,
    /// `status`: a migration rollback was interrupted.
    Interrupted,
    /// A drill passed.
    Passed,
    /// A drill whose target is not configured here.
    NotConfigured,
}

impl StepStatus {
    /// Its name, as written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Planned => "planned",
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Warning => "warning",
            StepStatus::Running => "running",
            StepStatus::Stopped => "stopped",
            StepStatus::Unknown => "unknown",
            StepStatus::Pending => "pending",
            StepStatus::Settled => "settled",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Passed => "passed",
            StepStatus::NotConfigured => "not-configured",
        }
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the name as written in the report (`step.status == "ok"`).
impl PartialEq<&str> for StepStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
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
    pub steps: Vec<ReportStep>,
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
            let options = RunOptions { yes, dry_run, diff, no_revert };
            attempt::emergency_run((&store, &config, &emergency, &health), from.as_deref(), options, out)
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
    let mut log = StepLog { steps: Vec::new() };
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
    log.steps.push(ReportStep {
        name: "health".to_string(),
        action: format!("GET {}", health.url),
        status: if h.ok { StepStatus::Ok } else { StepStatus::Failed },
        detail: h.last.clone(),
        ..ReportStep::default()
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
        log.steps.push(ReportStep {
            name: "migration".to_string(),
            action: "the store's migration journal".to_string(),
            status: StepStatus::Interrupted,
            detail,
            ..ReportStep::default()
        });
    }
    // Who holds the lock, read without taking it (a shared try-lock fails while it is held).
    let lock_file = store.dir.join(".rb").join("lock");
    let holder = std::fs::File::open(&lock_file).ok().and_then(|f| match f.try_lock_shared() {
        Ok(()) => None,
        Err(_) => Some(std::fs::read_to_string(&lock_file).unwrap_or_default().trim().to_string()),
    });
    // The audit log.
    let RollbackCounts { per_tool, per_day, last_failure } = count_rollbacks(store, since)?;
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
        out.raw(status_table(&report).as_bytes())?;
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

/// The rollbacks in the audit log, successful and failed, per tool and per day, within
/// `since` seconds of now when given; an emergency run counts once.
struct RollbackCounts {
    per_tool: std::collections::BTreeMap<String, (u64, u64)>,
    per_day: std::collections::BTreeMap<String, (u64, u64)>,
    /// The last one that failed: when, which tool, why.
    last_failure: Value,
}

fn count_rollbacks(store: &Store, since: Option<i64>) -> Result<RollbackCounts> {
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
    Ok(RollbackCounts { per_tool, per_day, last_failure })
}

/// `status --format table`: one row per check, then the rollbacks logged.
fn status_table(report: &Report) -> String {
    let mut table = rb_common::table::Table::new(&["CHECK", "STATUS", "DETAIL"]);
    for step in &report.steps {
        table.row(vec![step.name.clone(), step.status.to_string(), step.detail.clone()]);
    }
    let m = report.metrics.as_ref().map(|m| &m["rollbacks"]);
    table.row(vec![
        "rollbacks".to_string(),
        "logged".to_string(),
        m.map(|r| format!("{} ({} ok, {} failed)", r["total"], r["success"], r["failed"]))
            .unwrap_or_default(),
    ]);
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_status_is_written_as_its_name() {
        let all = [
            StepStatus::Planned,
            StepStatus::Ok,
            StepStatus::Failed,
            StepStatus::Skipped,
            StepStatus::Warning,
            StepStatus::Running,
            StepStatus::Stopped,
            StepStatus::Unknown,
            StepStatus::Pending,
            StepStatus::Settled,
            StepStatus::Interrupted,
            StepStatus::Passed,
            StepStatus::NotConfigured,
        ];
        for status in all {
            let text = serde_json::to_string(&status).unwrap();
            assert_eq!(text, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<StepStatus>(&text).unwrap(), status);
            assert!(status == status.as_str());
        }
        assert_eq!(StepStatus::NotConfigured.as_str(), "not-configured");
    }
}
