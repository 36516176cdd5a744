//! Talking to a running nginx: `nginx -t`, `nginx -s reload`, and seeing whether the master
//! took the new configuration.
//!
//! `nginx -s reload` only sends SIGHUP: it exits 0 even when the master then rejects the new
//! configuration (a `listen` on a port another process holds passes `nginx -t` and fails at
//! reload) and goes on with its old workers. A reload is therefore confirmed by watching the
//! master (its pid file, then `/proc`): it is taken when the master has started worker
//! processes that were not there before the signal; it is rejected when the master writes
//! `[emerg]` to its error log after the signal (if `error_log` is configured), exits, or starts
//! no new workers within `reload_timeout_s`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rb_common::config::{FILE, NginxConfig};
use rb_common::error::{Result, failed};
use rb_common::exec::{self, Output};
use serde::{Deserialize, Serialize};

/// One step of an `nginx` document: what was done, whether it worked, and what nginx said.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    /// `restore`, `test`, `reload`, `revert` or `reload-previous`.
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
    /// The command run, when the step ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// What happened, in a sentence.
    pub detail: String,
    /// nginx's own lines (its stderr, or its error log since the reload signal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

impl Step {
    /// A step that worked.
    pub fn ok(step: &str, detail: impl Into<String>) -> Step {
        Step { step: step.to_string(), ok: true, command: None, detail: detail.into(), messages: Vec::new() }
    }

    /// A step that failed.
    pub fn failed(step: &str, detail: impl Into<String>) -> Step {
        Step { ok: false, ..Step::ok(step, detail) }
    }

    fn command(mut self, argv: &[String]) -> Step {
        self.command = Some(exec::display(argv));
        self
    }

    fn messages(mut self, messages: Vec<String>) -> Step {
        self.messages = messages;
        self
    }
}

/// The nginx that `[nginx]` in rollback.toml points to, for a project at `root`.
#[derive(Debug, Clone)]
pub struct Nginx {
    /// The settings.
    pub config: NginxConfig,
    /// The project root: relative paths in the settings are relative to it, and commands run
    /// in it.
    pub root: PathBuf,
}

impl Nginx {
    /// The nginx of these settings.
    pub fn new(config: NginxConfig, root: &Path) -> Nginx {
        Nginx { config, root: root.to_path_buf() }
    }

    fn argv(&self, extra: &[&str]) -> Vec<String> {
        let mut argv = self.config.command.clone();
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    }

    /// Fails, naming the setting, when the nginx program is not there.
    pub fn check_program(&self) -> Result<()> {
        let program =
            self.config.command.first().ok_or_else(|| {
                rb_common::error::usage(format!("nginx.command in {FILE} is an empty command"))
            })?;
        exec::find(program, &self.root, &format!("nginx.command in {FILE}")).map(|_| ())
    }

    /// The `test` step from what `nginx -t` said (`None`: it was not run).
    pub fn test_step(&self, output: &Output) -> Step {
        let argv = self.argv(&["-t"]);
        let step = if output.ok() {
            Step::ok("test", "the configuration on disk passed nginx -t")
        } else {
            Step::failed("test", format!("nginx -t refused the configuration on disk ({})", output.status()))
        };
        step.command(&argv).messages(output.lines())
    }

    /// Runs `nginx -t`.
    pub fn test(&self) -> Result<Step> {
        let check = self.config.test_check();
        let output = exec::run(&check.argv, &self.root, &check.setting)?;
        Ok(self.test_step(&output))
    }

    fn pid_file(&self) -> PathBuf {
        self.root.join(&self.config.pid_file)
    }

    /// The running master's pid, from its pid file; an error saying nginx is not running
    /// otherwise.
    pub fn master(&self) -> Result<u32> {
        let file = self.pid_file();
        let setting = format!("nginx.pid_file in {FILE}");
        let text = fs::read_to_string(&file).map_err(|e| {
            failed(format!("nginx is not running: its pid file {} cannot be read ({e})", file.display()))
                .hint(format!("start nginx, or point {setting} at the pid file its `pid` directive names"))
        })?;
        let pid: u32 = text.trim().parse().map_err(|_| {
            failed(format!("nginx's pid file {} does not hold a pid: {:?}", file.display(), text.trim()))
        })?;
        if !is_nginx(pid) {
            return Err(failed(format!(
                "nginx is not running: its pid file {} names pid {pid}, which is not an nginx process",
                file.display()
            ))
            .hint(format!("start nginx, or point {setting} at the running master's pid file")));
        }
        Ok(pid)
    }

    /// Sends `-s reload` and waits until the master has either started new workers (`Ok`
    /// with an ok step) or rejected the configuration (a failed step). `Err` only when the
    /// nginx program cannot be started at all.
    pub fn reload(&self, step_name: &str) -> Result<Step> {
        let argv = self.argv(&["-s", "reload"]);
        let master = match self.master() {
            Ok(pid) => pid,
            Err(e) => return Ok(Step::failed(step_name, e.message()).command(&argv)),
        };
        let before = workers(master);
        let log = self.config.error_log.as_ref().map(|l| self.root.join(l));
        let offset = log.as_ref().and_then(|l| fs::metadata(l).ok()).map_or(0, |m| m.len());
        let sent = exec::run(&argv, &self.root, &format!("nginx.command in {FILE}"))?;
        let mut messages = sent.lines();
        if !sent.ok() {
            return Ok(Step::failed(step_name, format!("nginx -s reload failed ({})", sent.status()))
                .command(&argv)
                .messages(messages));
        }
        let timeout = Duration::from_secs_f64(self.config.reload_timeout_s.max(0.1));
        let start = Instant::now();
        let mut rejected_at: Option<(Instant, u64)> = None;
        loop {
            if !is_nginx(master) {
                messages.extend(log.as_deref().map(|l| log_errors(l, offset)).unwrap_or_default());
                return Ok(Step::failed(
                    step_name,
                    format!("the nginx master (pid {master}) exited after the reload signal"),
                )
                .command(&argv)
                .messages(messages));
            }
            let now = workers(master);
            let new: Vec<u32> = now.difference(&before).copied().collect();
            if !new.is_empty() {
                return Ok(Step::ok(
                    step_name,
                    format!(
                        "the nginx master (pid {master}) took the configuration: new workers {} replace {}",
                        list(&new),
                        if before.is_empty() {
                            "none".to_string()
                        } else {
                            list(&before.iter().copied().collect::<Vec<_>>())
                        }
                    ),
                )
                .command(&argv)
                .messages(messages));
            }
            // The master logs [emerg] and keeps its workers when it rejects the new
            // configuration; wait until it has said everything (the log stops growing).
            if let Some(log) = &log {
                let len = fs::metadata(log).map_or(0, |m| m.len());
                match rejected_at {
                    Some((since, seen)) if seen == len && since.elapsed() > Duration::from_millis(700) => {
                        messages.extend(log_errors(log, offset));
                        return Ok(rejected(step_name, master, &argv, messages));
                    }
                    Some((_, seen)) if seen != len => rejected_at = Some((Instant::now(), len)),
                    None if !log_errors(log, offset).is_empty() => rejected_at = Some((Instant::now(), len)),
                    _ => {}
                }
            }
            if start.elapsed() > timeout {
                messages.extend(log.as_deref().map(|l| log_errors(l, offset)).unwrap_or_default());
                let mut step = rejected(step_name, master, &argv, messages);
                step.detail = format!(
                    "the nginx master (pid {master}) started no new workers within {}s of the reload signal: it is still running the configuration it had",
                    self.config.reload_timeout_s
                );
                return Ok(step);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn rejected(step_name: &str, master: u32, argv: &[String], messages: Vec<String>) -> Step {
    Step::failed(
        step_name,
        format!(
            "the nginx master (pid {master}) rejected the configuration at reload and kept its old workers"
        ),
    )
    .command(argv)
    .messages(messages)
}

fn list(pids: &[u32]) -> String {
    pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// True when `pid` is a live (not zombie) process called `nginx`.
fn is_nginx(pid: u32) -> bool {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim() == "nginx" && stat_field(pid, 0).is_some_and(|state| state != "Z")
}

/// The processes whose parent is `master` (its workers and cache processes), from `/proc`.
fn workers(master: u32) -> BTreeSet<u32> {
    let Ok(dir) = fs::read_dir("/proc") else { return BTreeSet::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent(*pid) == Some(master))
        .collect()
}

/// The parent pid from `/proc/PID/stat` (`pid (comm) state ppid …`; comm may hold spaces
/// and parentheses, so the fields are counted after the last `)`).
fn parent(pid: u32) -> Option<u32> {
    stat_field(pid, 1)?.parse().ok()
}

/// Field `n` of `/proc/PID/stat` counted from the state (0).
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n).map(str::to_string)
}

/// The `[emerg]`, `[alert]` and `[crit]` lines the error log got after `offset` (from the
/// start if it was rotated or truncated since).
fn log_errors(log: &Path, offset: u64) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = fs::File::open(log) else { return Vec::new() };
    let len = file.metadata().map_or(0, |m| m.len());
    let from = if len < offset { 0 } else { offset };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).and_then(|_| file.read_to_end(&mut bytes)).is_err() {
        return Vec::new();
    }
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.contains("[emerg]") || l.contains("[alert]") || l.contains("[crit]"))
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_this_process() {
        let me = std::process::id();
        assert_eq!(parent(me), Some(std::os::unix::process::parent_id()));
        assert!(workers(me).is_empty() || !workers(me).contains(&me));
    }

    #[test]
    fn error_lines_since_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("error.log");
        fs::write(&log, "old [emerg] line\n").unwrap();
        let offset = fs::metadata(&log).unwrap().len();
        let mut text = fs::read_to_string(&log).unwrap();
        text.push_str("x [notice] signal\ny [emerg] bind() failed\n");
        fs::write(&log, text).unwrap();
        assert_eq!(log_errors(&log, offset), ["y [emerg] bind() failed"]);
        fs::write(&log, "z [alert] new\n").unwrap();
        assert_eq!(log_errors(&log, offset), ["z [alert] new"]);
    }
}
