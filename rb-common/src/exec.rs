//! Running external programs: an argument vector, never shell text, and never without a
//! time limit.
//!
//! The seed's scripts interpolate values into `sh` and Python source; rb starts programs with
//! an argv through duct, finds them with `which` (a missing one is an error that names it and
//! the setting that points to it), captures their output, and carries their trimmed stderr
//! into the error when they fail.
//!
//! Three rules keep a program from holding rb (a measured hang: a service's start command
//! whose daemon kept rb's stderr pipe open made `rb-emergency run` wait forever, its journal
//! standing):
//!
//! - Output goes to anonymous temporary files, read after the program exits, never to pipes:
//!   a daemon it leaves behind may keep them open, and rb does not wait for that.
//! - Every program runs in a process group of its own, so a terminal's Ctrl-C reaches rb
//!   alone and rb decides.
//! - Every run has a [`Timeout`]: `[exec] timeout_s` in `rollback.toml` (default 120 s, set
//!   once for the process by [`crate::config::Config::load`] through [`set_default_timeout`]),
//!   or a section's own where it has one (`[django] timeout_s` for database dumps and
//!   restores). On expiry the program and its process group are killed and the error names
//!   the program and the setting. A group left behind by a program that exited in time (a
//!   service's daemon) is never killed: it is what the program was asked to start.
//!
//! A program outlives rb only when it is meant to: if rb itself is interrupted (SIGINT,
//! SIGTERM, SIGHUP: a Ctrl-C, now rb's alone) while one runs, rb kills that program's group,
//! then ends or stops at its next safe point ([`crate::signals`]).
//!
//! `rb-envfile exec` does not come here: its command is the user's program, run as env(1)
//! runs one, with no limit.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Result, failed, usage};

/// What a finished program said.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Output {
    /// True when it exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The last lines of stderr (or stdout if stderr is empty), trimmed and joined with ` / `,
    /// for a one-line error.
    pub fn summary(&self) -> String {
        let text = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let tail = &lines[lines.len().saturating_sub(5)..];
        if tail.is_empty() { "(no output)".to_string() } else { tail.join(" / ") }
    }

    /// Every non-empty line it wrote, stderr first, trimmed at the end.
    pub fn lines(&self) -> Vec<String> {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// The same output with every `from` replaced by `to` (a staging folder's path by the
    /// project-relative name it stands for).
    pub fn replaced(mut self, from: &str, to: &str) -> Output {
        self.stdout = self.stdout.replace(from, to);
        self.stderr = self.stderr.replace(from, to);
        self
    }

    /// `exit 1` or `killed by a signal`.
    pub fn status(&self) -> String {
        match self.code {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        }
    }
}

/// `[exec] timeout_s`'s default, in seconds.
pub const DEFAULT_TIMEOUT_S: f64 = 120.0;

/// The process-wide limit of [`Timeout::exec`], in milliseconds.
static DEFAULT_MS: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT_S as u64 * 1000);

/// Sets the limit every run without a timeout of its own gets (`[exec] timeout_s`); called
/// once, when `rollback.toml` is read.
pub fn set_default_timeout(limit: Duration) {
    DEFAULT_MS.store(limit.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// How long a program may run, and the setting that says so (named when it runs out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout {
    /// The limit.
    pub limit: Duration,
    /// Where it is configured: `[exec] timeout_s in rollback.toml`.
    pub setting: String,
}

impl Timeout {
    /// `[exec] timeout_s`: the limit of every program without one of its own.
    pub fn exec() -> Timeout {
        Timeout {
            limit: Duration::from_millis(DEFAULT_MS.load(Ordering::Relaxed)),
            setting: format!("[exec] timeout_s in {}", crate::paths::CONFIG_FILE),
        }
    }

    /// A section's own limit: `limit`, configured by `setting`.
    pub fn new(limit: Duration, setting: impl Into<String>) -> Timeout {
        Timeout { limit, setting: setting.into() }
    }
}

/// Finds `program` on `PATH` (or, when it contains a `/`, relative to `dir`). `setting` names
/// where the command was configured, for the error.
pub fn find(program: &str, dir: &Path, setting: &str) -> Result<PathBuf> {
    if program.contains('/') {
        let path = dir.join(program);
        if path.is_file() {
            return Ok(path);
        }
        return Err(failed(format!("program {program} not found (set by {setting})")));
    }
    which::which(program)
        .map_err(|_| failed(format!("program `{program}` not found on PATH (set by {setting})")))
}

/// Runs `argv` in `dir` with stdin closed and output captured, within `[exec] timeout_s`. A
/// non-zero exit is not an error here: callers decide what it means. `setting` names the
/// configuration that gave `argv`.
pub fn run(argv: &[String], dir: &Path, setting: &str) -> Result<Output> {
    run_with(argv, dir, setting, &[], None)
}

/// [`run`] with extra environment variables and, if given, `input` on stdin (a request that
/// must not be an argument: it would show in `/proc/*/cmdline`).
pub fn run_with(
    argv: &[String],
    dir: &Path,
    setting: &str,
    env: &[(String, String)],
    input: Option<&[u8]>,
) -> Result<Output> {
    run_within(argv, dir, setting, env, input, &Timeout::exec())
}

/// [`run_with`] within `timeout` instead of `[exec] timeout_s`.
pub fn run_within(
    argv: &[String],
    dir: &Path,
    setting: &str,
    env: &[(String, String)],
    input: Option<&[u8]>,
    timeout: &Timeout,
) -> Result<Output> {
    execute(argv, dir, setting, env, input, None, timeout)
}

/// Runs `argv` in `dir` (with `env` added) within `timeout`, with its stdout written to
/// `file` (a dump, which may be binary) and its stderr captured; `Output.stdout` is empty.
pub fn run_to_file(
    argv: &[String],
    dir: &Path,
    setting: &str,
    env: &[(String, String)],
    file: File,
    timeout: &Timeout,
) -> Result<Output> {
    execute(argv, dir, setting, env, None, Some(file), timeout)
}

fn temp_file() -> Result<File> {
    tempfile::tempfile().map_err(|e| failed(format!("creating a temporary file for a program's output: {e}")))
}

fn clone(file: &File) -> Result<File> {
    file.try_clone().map_err(|e| failed(format!("duplicating a file handle: {e}")))
}

fn read_back(mut file: File) -> Result<String> {
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(|e| failed(format!("reading a program's output back: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn execute(
    argv: &[String],
    dir: &Path,
    setting: &str,
    env: &[(String, String)],
    input: Option<&[u8]>,
    stdout: Option<File>,
    timeout: &Timeout,
) -> Result<Output> {
    use std::os::unix::process::CommandExt;
    let (path, args) = resolve(argv, dir, setting)?;
    let captured = stdout.is_none();
    let out_file = match stdout {
        Some(f) => f,
        None => temp_file()?,
    };
    let err_file = temp_file()?;
    let mut cmd = duct::cmd(&path, args)
        .dir(dir)
        .stdout_file(clone(&out_file)?)
        .stderr_file(clone(&err_file)?)
        .unchecked()
        .before_spawn(|c| {
            c.process_group(0);
            Ok(())
        });
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd = match input {
        Some(bytes) => cmd.stdin_bytes(bytes.to_vec()),
        None => cmd.stdin_null(),
    };
    crate::signals::install();
    let handle = cmd.start().map_err(|e| failed(format!("starting {}: {e}", path.display())))?;
    // Its pid is its process group's id (process_group(0)).
    let _running: Vec<crate::signals::Running> =
        handle.pids().into_iter().map(crate::signals::Running::new).collect();
    let waited = handle.wait_timeout(timeout.limit);
    let status = match waited {
        Ok(Some(out)) => out.status,
        Ok(None) => {
            handle.pids().into_iter().for_each(crate::signals::kill_group);
            let _ = handle.kill();
            let _ = handle.wait();
            return Err(failed(format!(
                "`{}` did not finish within {} ({}): it and its process group were killed",
                display(argv),
                seconds(timeout.limit),
                timeout.setting
            ))
            .hint(format!("if it needs longer, raise {}", timeout.setting)));
        }
        Err(e) => return Err(failed(format!("waiting for {}: {e}", path.display()))),
    };
    Ok(Output {
        code: status.code(),
        stdout: if captured { read_back(out_file)? } else { String::new() },
        stderr: read_back(err_file)?,
    })
}

/// `1s`, `2.5s`: a limit as the error shows it.
fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Starts `argv` in `dir` (with `env` added) with stdin and stdout piped and stderr written
/// to `stderr` (a file, not a pipe: a grandchild that keeps it open cannot hold rb), in a
/// process group of its own, so that a terminal's Ctrl-C reaches rb alone and rb decides.
/// The caller keeps the time: a long-lived session answers each request within its own
/// limit (`[django] timeout_s`) and is killed with [`kill_group`].
pub fn spawn_piped(
    argv: &[String],
    dir: &Path,
    setting: &str,
    env: &[(String, String)],
    stderr: &std::fs::File,
) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let (path, args) = resolve(argv, dir, setting)?;
    let stderr = stderr.try_clone().map_err(|e| failed(format!("duplicating a file handle: {e}")))?;
    let mut cmd = std::process::Command::new(&path);
    cmd.args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .process_group(0);
    cmd.spawn().map_err(|e| failed(format!("starting {}: {e}", path.display())))
}

/// Kills `child` and its process group (what it started), and reaps it.
pub fn kill_group(child: &mut std::process::Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn resolve<'a>(argv: &'a [String], dir: &Path, setting: &str) -> Result<(PathBuf, &'a [String])> {
    let Some((program, args)) = argv.split_first() else {
        return Err(usage(format!("{setting} is an empty command")));
    };
    Ok((find(program, dir, setting)?, args))
}

/// `python manage.py check`: an argv shown as a command line for messages (quoted where a word
/// has spaces), never executed as such.
pub fn display(argv: &[String]) -> String {
    argv.iter()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("{a:?}") } else { a.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    // A daemon that holds the output, and a run out of time killed with its group, are
    // tested against the built binaries in tests/tests/it/hang.rs (rb never starts a shell).

    #[test]
    fn input_goes_to_stdin() {
        let out = run_with(&argv(&["cat"]), Path::new("/"), "t", &[], Some(b"request")).unwrap();
        assert_eq!(out.stdout, "request");
    }
}
