//! Running external programs: an argument vector, never shell text.
//!
//! The seed's scripts interpolate values into `sh` and Python source; rb starts programs with
//! an argv through duct, finds them with `which` (a missing one is an error that names it and
//! the setting that points to it), captures their output, and carries their trimmed stderr
//! into the error when they fail.

use std::path::{Path, PathBuf};

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

    /// `exit 1` or `killed by a signal`.
    pub fn status(&self) -> String {
        match self.code {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        }
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

/// Runs `argv` in `dir` with stdin closed and output captured. A non-zero exit is not an error
/// here: callers decide what it means. `setting` names the configuration that gave `argv`.
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
    let (path, args) = resolve(argv, dir, setting)?;
    let mut cmd = duct::cmd(&path, args).dir(dir).stdout_capture().stderr_capture().unchecked();
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd = match input {
        Some(bytes) => cmd.stdin_bytes(bytes.to_vec()),
        None => cmd.stdin_null(),
    };
    let out = cmd.run().map_err(|e| failed(format!("starting {}: {e}", path.display())))?;
    Ok(Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs `argv` in `dir` (with `env` added) with its stdout written to `file` (a dump, which
/// may be binary) and its stderr captured; `Output.stdout` is empty.
pub fn run_to_file(
    argv: &[String],
    dir: &Path,
    setting: &str,
    env: &[(String, String)],
    file: std::fs::File,
) -> Result<Output> {
    let (path, args) = resolve(argv, dir, setting)?;
    let mut cmd = duct::cmd(&path, args);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd
        .dir(dir)
        .stdin_null()
        .stdout_file(file)
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| failed(format!("starting {}: {e}", path.display())))?;
    Ok(Output {
        code: out.status.code(),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Starts `argv` in `dir` (with `env` added) with stdin and stdout piped and stderr written
/// to `stderr` (a file, not a pipe: a grandchild that keeps it open cannot hold rb), in a
/// process group of its own, so that a terminal's Ctrl-C reaches rb alone and rb decides.
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
