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

use rb_common::config::{FILE, NGINX_CONF, NginxConfig};
use rb_common::error::{Result, failed, usage};
use rb_common::exec::{self, Output};
use rb_common::nginx::{config_files, top_level};
use rb_common::wait::{Poll, Progress, Wait};
use serde::{Deserialize, Serialize};

/// One step of an `nginx` document: what was done, whether it worked, and what nginx said.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NginxStep {
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

impl NginxStep {
    /// A step that worked.
    pub fn ok(step: &str, detail: impl Into<String>) -> NginxStep {
        NginxStep {
            step: step.to_string(),
            ok: true,
            command: None,
            detail: detail.into(),
            messages: Vec::new(),
        }
    }

    /// A step that failed.
    pub fn failed(step: &str, detail: impl Into<String>) -> NginxStep {
        NginxStep { ok: false, ..NginxStep::ok(step, detail) }
    }

    fn command(mut self, argv: &[String]) -> NginxStep {
        self.command = Some(exec::display(argv));
        self
    }

    fn messages(mut self, messages: Vec<String>) -> NginxStep {
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
    pub fn test_step(&self, output: &Output) -> NginxStep {
        let argv = self.argv(&["-t"]);
        let step = if output.ok() {
            NginxStep::ok("test", "the configuration on disk passed nginx -t")
        } else {
            NginxStep::failed(
                "test",
                format!("nginx -t refused the configuration on disk ({})", output.status()),
            )
        };
        step.command(&argv).messages(output.lines())
    }

    /// Runs `nginx -t`.
    pub fn test(&self) -> Result<NginxStep> {
        let check = self.config.test_check();
        let output = exec::run(&check.argv, &self.root, &check.setting)?;
        Ok(self.test_step(&output))
    }

    fn run(&self, extra: &[&str]) -> Result<Output> {
        exec::run(&self.argv(extra), &self.root, &format!("nginx.command in {FILE}"))
    }

    /// Where this nginx keeps its pid file and error log, and the files it reads: from
    /// `nginx -T` (or, when the files on disk do not pass it, the project's nginx.conf), the
    /// prefix (`-p`, else `nginx -V`), and the settings, which win.
    pub fn runtime(&self) -> Result<Runtime> {
        let dump = self.run(&["-T"])?;
        let files = if dump.ok() { config_files(&dump.stdout) } else { Vec::new() };
        let main = match files.first() {
            Some((_, text)) => Some(text.clone()),
            None => fs::read_to_string(self.root.join(NGINX_CONF)).ok(),
        };
        let (pid, log) = main.as_deref().map(top_level).unwrap_or_default();
        let mut built_in = None;
        let mut built = |key: &str| -> Result<Option<String>> {
            if built_in.is_none() {
                built_in = Some(self.run(&["-V"])?.stderr);
            }
            Ok(built_in.as_deref().and_then(|v| configure_arg(v, key)))
        };
        let prefix = match self.flag("-p") {
            Some(p) => Some(self.root.join(p)),
            None => built("--prefix")?.map(PathBuf::from),
        };
        let at_prefix = |path: String| match &prefix {
            Some(p) if Path::new(&path).is_relative() => p.join(path),
            _ => PathBuf::from(path),
        };
        let pid_file = match (&self.config.pid_file, pid) {
            (Some(set), _) => self.root.join(set),
            (None, Some(pid)) => at_prefix(pid),
            (None, None) => at_prefix(built("--pid-path")?.unwrap_or_else(|| "logs/nginx.pid".to_string())),
        };
        let error_log = match (&self.config.error_log, log) {
            (Some(set), _) => Some(self.root.join(set)),
            (None, Some(log))
                if log != "stderr" && !log.starts_with("syslog:") && !log.starts_with("memory:") =>
            {
                Some(at_prefix(log))
            }
            _ => None,
        };
        Ok(Runtime { pid_file, error_log, files })
    }

    /// The value after `flag` in the command (`-p PREFIX`).
    fn flag(&self, flag: &str) -> Option<String> {
        let args = &self.config.command;
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
    }

    /// Refuses (exit 2) a command whose nginx reads another main configuration than the
    /// project's `nginx/nginx.conf` (the default `nginx` reads `/etc/nginx/nginx.conf`): its
    /// `-t` would test, and its reload load, another file than the one restored. Compared
    /// by content, so a file mounted into a container matches.
    pub fn check_target(&self, runtime: &Runtime) -> Result<()> {
        let Ok(live) = fs::read_to_string(self.root.join(NGINX_CONF)) else { return Ok(()) };
        let Some((main, _)) = runtime.files.first() else { return Ok(()) };
        if runtime.files.iter().any(|(_, t)| t.trim_end() == live.trim_end()) {
            return Ok(());
        }
        Err(usage(format!(
            "`{}` reads {main}, not this project's {NGINX_CONF} (their contents differ): its -t would test another file",
            exec::display(&self.config.command)
        ))
        .hint(format!(
            "point nginx.command in {FILE} at it, e.g. command = [\"nginx\", \"-c\", \"{}\"]",
            self.root.join(NGINX_CONF).display()
        )))
    }

    /// The running master's pid, from its pid file; an error saying nginx is not running
    /// otherwise.
    pub fn master(&self, runtime: &Runtime) -> Result<u32> {
        let file = &runtime.pid_file;
        let hint = format!(
            "start nginx; if it runs with another pid file, set nginx.pid_file in {FILE}; if it runs where rb cannot see its processes (a container), use --no-reload and reload it there"
        );
        let text = fs::read_to_string(file).map_err(|e| {
            failed(format!("nginx is not running: its pid file {} cannot be read ({e})", file.display()))
                .hint(hint.clone())
        })?;
        let pid: Option<u32> = text.trim().parse().ok();
        match pid {
            Some(pid) if is_nginx(pid) => Ok(pid),
            Some(pid) => Err(failed(format!(
                "nginx is not running: its pid file {} names pid {pid}, which is not a running nginx",
                file.display()
            ))
            .hint(hint)),
            None => Err(failed(format!(
                "nginx is not running: its pid file {} holds no pid ({:?})",
                file.display(),
                text.trim()
            ))
            .hint(hint)),
        }
    }

    /// Sends `-s reload` and waits until the master has replaced its workers (an ok step:
    /// new workers started and every old one gone or shutting down) or rejected the
    /// configuration (a failed step). `Err` only when the nginx program cannot be started.
    pub fn reload(&self, runtime: &Runtime, step_name: &str) -> Result<NginxStep> {
        let argv = self.argv(&["-s", "reload"]);
        let master = match self.master(runtime) {
            Ok(pid) => pid,
            Err(e) => return Ok(NginxStep::failed(step_name, e.message()).command(&argv)),
        };
        let before = workers(master);
        let log = runtime.error_log.as_deref();
        let offset = log.and_then(|l| fs::metadata(l).ok()).map_or(0, |m| m.len());
        let sent = self.run(&["-s", "reload"])?;
        let mut messages = sent.lines();
        if !sent.ok() {
            return Ok(NginxStep::failed(step_name, format!("nginx -s reload failed ({})", sent.status()))
                .command(&argv)
                .messages(messages));
        }
        let errors = |messages: &mut Vec<String>| {
            messages.extend(log.map(|l| log_errors(l, offset, master)).unwrap_or_default());
        };
        let wait = Wait::new(Duration::from_secs_f64(self.config.reload_timeout_s), RELOAD_INTERVAL);
        // A reload takes a moment; one that takes longer is said, every 5 s.
        let progress = Progress::notes(|_| {
            format!("waiting for the nginx master (pid {master}) to take the configuration")
        })
        .after(Duration::from_secs(2))
        .every(Duration::from_secs(5));
        let mut rejected_at: Option<(Instant, u64)> = None;
        let mut new: Vec<u32> = Vec::new();
        let outcome = wait.poll(&progress, || {
            if !is_nginx(master) {
                errors(&mut messages);
                return Ok(Poll::Done(
                    NginxStep::failed(
                        step_name,
                        format!(
                            "the nginx master (pid {master}) exited after the reload signal: nginx is not running"
                        ),
                    )
                    .command(&argv)
                    .messages(std::mem::take(&mut messages)),
                ));
            }
            let now = workers(master);
            new = now.difference(&before).copied().collect();
            // Taken: new workers run, and every old one is gone or shutting down, so the next
            // request is served by the new configuration.
            if !new.is_empty() && before.iter().all(|pid| !now.contains(pid) || shutting_down(*pid)) {
                let old: Vec<u32> = before.iter().copied().collect();
                return Ok(Poll::Done(
                    NginxStep::ok(
                        step_name,
                        format!(
                            "the nginx master (pid {master}) took the configuration: new workers {} replace {}",
                            list(&new),
                            if old.is_empty() { "none".to_string() } else { list(&old) }
                        ),
                    )
                    .command(&argv)
                    .messages(std::mem::take(&mut messages)),
                ));
            }
            // The master logs [emerg] and keeps its workers when it rejects the new
            // configuration; wait until it has said everything (its log stops growing).
            if let Some(log) = log {
                let len = fs::metadata(log).map_or(0, |m| m.len());
                match rejected_at {
                    Some((since, seen))
                        if seen == len
                            && since.elapsed() > Duration::from_millis(700)
                            && workers(master).difference(&before).next().is_none() =>
                    {
                        errors(&mut messages);
                        return Ok(Poll::Done(rejected(step_name, master, &argv, std::mem::take(&mut messages))));
                    }
                    Some((_, seen)) if seen != len => rejected_at = Some((Instant::now(), len)),
                    None if !log_errors(log, offset, master).is_empty() => {
                        rejected_at = Some((Instant::now(), len))
                    }
                    _ => {}
                }
            }
            Ok(Poll::Pending(String::new()))
        })?;
        if let Some(step) = outcome {
            return Ok(step);
        }
        errors(&mut messages);
        let mut step = rejected(step_name, master, &argv, messages);
        step.detail = if new.is_empty() {
            format!(
                "the nginx master (pid {master}) started no new workers within {}s of the reload signal: the reload did not take",
                self.config.reload_timeout_s
            )
        } else {
            format!(
                "the nginx master (pid {master}) started new workers {} but old ones were still serving after {}s",
                list(&new),
                self.config.reload_timeout_s
            )
        };
        Ok(step)
    }
}

/// How often a reload is looked at, at most: a reload usually takes a few milliseconds.
const RELOAD_INTERVAL: Duration = Duration::from_millis(50);

/// Where a running nginx keeps its state, and what it reads.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// The master's pid file.
    pub pid_file: PathBuf,
    /// The error log the master writes to, when it is a file.
    pub error_log: Option<PathBuf>,
    /// Every file `nginx -T` showed, main configuration first, with its text (empty when the
    /// files on disk did not pass `-T`).
    pub files: Vec<(String, String)>,
}

/// `--key=value` from `nginx -V`'s configure arguments.
fn configure_arg(version: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    version.split_whitespace().find_map(|w| w.strip_prefix(&prefix)).map(str::to_string)
}

/// True when a worker has been told to finish (nginx retitles it "… is shutting down").
fn shutting_down(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("shutting down"))
}

fn rejected(step_name: &str, master: u32, argv: &[String], messages: Vec<String>) -> NginxStep {
    NginxStep::failed(
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

/// The `[emerg]`, `[alert]` and `[crit]` lines the master (`PID#TID:`) wrote to the error
/// log after `offset` (from the start if it was rotated or truncated since); workers' lines
/// (a failing upstream) are not about the reload.
fn log_errors(log: &Path, offset: u64, master: u32) -> Vec<String> {
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
        .filter(|l| l.contains(&format!("] {master}#")))
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
    fn configure_arguments() {
        assert_eq!(
            configure_arg(
                "configure arguments: --prefix=/usr/share/nginx --pid-path=/run/nginx.pid",
                "--pid-path"
            )
            .as_deref(),
            Some("/run/nginx.pid")
        );
    }

    #[test]
    fn error_lines_since_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("error.log");
        fs::write(&log, "old [emerg] 7#7: line\n").unwrap();
        let offset = fs::metadata(&log).unwrap().len();
        let mut text = fs::read_to_string(&log).unwrap();
        text.push_str("x [notice] 7#7: signal\ny [emerg] 7#7: bind() failed\nw [crit] 8#8: upstream\n");
        fs::write(&log, text).unwrap();
        assert_eq!(log_errors(&log, offset, 7), ["y [emerg] 7#7: bind() failed"]);
        fs::write(&log, "z [alert] 7#7: new\n").unwrap();
        assert_eq!(log_errors(&log, offset, 7), ["z [alert] 7#7: new"]);
    }
}
