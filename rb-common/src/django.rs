//! Running the project's Django: `python manage.py …` as an argument vector, with
//! `[django]`'s interpreter, settings and environment, and fixed Python programs through
//! `manage.py shell -c` that take their request as JSON on stdin.
//!
//! The seed pastes values into Python source (`filter(name='$FEATURE_NAME')`). Here the
//! program text is a constant of rb's; names and values travel as JSON data on stdin, never
//! as code or as arguments.

use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, DjangoConfig, FILE};
use crate::error::{Context, Error, Result, failed};
use crate::exec::{self, Output};

/// The project's Django, ready to run.
#[derive(Debug, Clone)]
pub struct Django {
    python: String,
    manage: String,
    env: Vec<(String, String)>,
    root: PathBuf,
    /// The `[django]` settings.
    pub config: DjangoConfig,
}

impl Django {
    /// Finds the interpreter and `manage.py` (a clear error for either missing, naming the
    /// setting).
    pub fn new(config: &Config, root: &Path) -> Result<Django> {
        let django = config.django()?;
        let python = match &django.python {
            Some(p) => {
                exec::find(p, root, &format!("django.python in {FILE}"))?;
                p.clone()
            }
            None => ["python", "python3"]
                .into_iter()
                .find(|p| which::which(p).is_ok())
                .ok_or_else(|| {
                    failed("no Python found: neither `python` nor `python3` is on PATH")
                        .hint(format!("set django.python in {FILE} to the project's interpreter (its virtualenv's bin/python)"))
                })?
                .to_string(),
        };
        let manage = django.manage.clone().unwrap_or_else(|| "manage.py".to_string());
        if !root.join(&manage).is_file() {
            return Err(failed(format!("{manage} not found in {} (Django's manage.py)", root.display()))
                .hint(format!("run rb in the project root (--root), or set django.manage in {FILE}")));
        }
        // rb's runs leave no __pycache__ in the project (the settings folder is a snapshot set).
        let mut env = vec![("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string())];
        if let Some(settings) = &django.settings {
            env.push(("DJANGO_SETTINGS_MODULE".to_string(), settings.clone()));
        }
        env.extend(django.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(Django { python, manage, env, root: root.to_path_buf(), config: django })
    }

    /// The project root Django runs in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The environment every run gets (`[django] settings` and `env`).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![self.python.clone(), self.manage.clone()];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// `python manage.py ARGS…`, whatever its exit code.
    pub fn manage(&self, args: &[&str]) -> Result<Output> {
        exec::run_with(&self.argv(args), &self.root, &format!("django.python in {FILE}"), &self.env, None)
    }

    /// `python manage.py ARGS…`, which must succeed: Django's own last words are carried into
    /// the error, all of its output into the details.
    pub fn manage_ok(&self, args: &[&str]) -> Result<Output> {
        let out = self.manage(args)?;
        if out.ok() {
            return Ok(out);
        }
        Err(failed(format!("`manage.py {}` failed ({}): {}", args.join(" "), out.status(), out.summary()))
            .details(out.lines()))
    }

    /// Runs the fixed `program` through `manage.py shell --no-imports -v 0 -c`, with `request`
    /// as JSON on stdin, and reads its answer: the last stdout line, JSON.
    pub fn call<Q: Serialize, A: DeserializeOwned>(&self, program: &str, request: &Q) -> Result<A> {
        let input = serde_json::to_vec(request).map_err(|e| failed(format!("encoding a request: {e}")))?;
        let argv = self.argv(&["shell", "--no-imports", "-v", "0", "-c", program]);
        let out =
            exec::run_with(&argv, &self.root, &format!("django.python in {FILE}"), &self.env, Some(&input))?;
        if !out.ok() {
            return Err(failed(format!("`manage.py shell` failed ({}): {}", out.status(), out.summary()))
                .details(out.lines()));
        }
        let last = out.stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
        serde_json::from_str(last).map_err(|e| {
            failed(format!("`manage.py shell` answered something rb cannot read ({e})")).details(out.lines())
        })
    }
}

/// The Python side of a [`Session`]: the token protocol, dying with rb, the request loop. A
/// tool's program is this prelude followed by its handlers and `serve({...})`.
pub const SESSION_PRELUDE: &str = include_str!("session.py");

/// One Python process serving a tool's requests for a whole command (`manage.py shell -c
/// PRELUDE+PROGRAM`): Django is set up once, however many questions the command asks. Its
/// answers are the stdout lines that start with this run's token (settings and management
/// commands print to stdout too); its progress lines are shown on stderr; its stderr goes to a
/// temporary file, so a grandchild that keeps it open cannot hold rb. It runs in its own
/// process group, killed with it when the session is dropped, and it dies with rb
/// (`PR_SET_PDEATHSIG`): spawn it from the main thread, whose end that signal follows.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    token: String,
    stderr: std::fs::File,
    noise: Vec<String>,
    timeout: Duration,
    setting: String,
}

/// What a session's request answers.
#[derive(serde::Deserialize)]
struct Answer<A> {
    ok: Option<A>,
    error: Option<String>,
    traceback: Option<String>,
}

impl Django {
    /// Starts a [`Session`] of `program` (handlers after [`SESSION_PRELUDE`]); each request
    /// waits at most `timeout` for its answer (`[django] timeout_s`).
    pub fn session(&self, program: &str, timeout: Duration) -> Result<Session> {
        let source = format!("{SESSION_PRELUDE}\n{program}");
        let argv = self.argv(&["shell", "--no-imports", "-v", "0", "-c", &source]);
        let setting = format!("django.python in {FILE}");
        let token = session_token()?;
        let stderr =
            tempfile::tempfile().ctx(|| "creating a temporary file for Python's stderr".to_string())?;
        let mut env = self.env.clone();
        env.push(("RB_SESSION_TOKEN".to_string(), token.clone()));
        env.push(("RB_SESSION_PARENT".to_string(), std::process::id().to_string()));
        env.push(("PYTHONUNBUFFERED".to_string(), "1".to_string()));
        let mut child = exec::spawn_piped(&argv, &self.root, &setting, &env, &stderr)?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| failed("Python's stdout was not piped"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Session { child, stdin, lines, token, stderr, noise: Vec::new(), timeout, setting })
    }
}

impl Session {
    /// Sends one request (`{"op": …, …}`) and waits for its answer, showing progress lines on
    /// stderr through `progress` as they come.
    pub fn call<Q: Serialize, A: DeserializeOwned>(
        &mut self,
        request: &Q,
        progress: &mut dyn FnMut(&str),
    ) -> Result<A> {
        let mut line = serde_json::to_vec(request).map_err(|e| failed(format!("encoding a request: {e}")))?;
        line.push(b'\n');
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&line).and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("closed")),
        };
        if written.is_err() {
            return Err(self.died());
        }
        let deadline = Instant::now() + self.timeout;
        let prefix = format!("{} ", self.token);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(failed(format!(
                        "Django did not answer within {} s ([django] timeout_s in {FILE}): it was stopped",
                        self.timeout.as_secs()
                    )));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.died()),
            };
            let Some(message) = line.strip_prefix(&prefix) else {
                self.noise.push(line);
                continue;
            };
            let value: serde_json::Value = serde_json::from_str(message)
                .map_err(|e| failed(format!("Django's session answered something rb cannot read ({e})")))?;
            if let Some(text) = value.get("progress").and_then(|p| p.as_str()) {
                progress(text);
                continue;
            }
            let answer: Answer<A> = serde_json::from_value(value)
                .map_err(|e| failed(format!("Django's session answered something rb cannot read ({e})")))?;
            return match (answer.ok, answer.error) {
                (Some(ok), None) => Ok(ok),
                (_, error) => Err(failed(error.unwrap_or_else(|| "no answer".to_string())).details(
                    answer.traceback.map(|t| t.lines().map(String::from).collect()).unwrap_or_default(),
                )),
            };
        }
    }

    /// The error for a Python that went away: its exit status and its last words.
    fn died(&mut self) -> Error {
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        let said = self.stderr_text();
        let lines: Vec<String> =
            said.lines().chain(self.noise.iter().map(String::as_str)).map(String::from).collect();
        let last: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let tail = last[last.len().saturating_sub(3)..].join(" / ");
        failed(format!(
            "Django's session ended ({status}){}",
            if tail.is_empty() { String::new() } else { format!(": {tail}") }
        ))
        .details(lines)
        .hint(format!("is {} the project's Python, with Django installed?", self.setting))
    }

    fn stderr_text(&mut self) -> String {
        let mut text = String::new();
        let _ = self.stderr.rewind();
        let _ = self.stderr.read_to_string(&mut text);
        text
    }

    fn kill(&mut self) {
        exec::kill_group(&mut self.child);
    }

    /// Ends the session: stdin closed, the process waited for.
    pub fn close(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait().ctx(|| "waiting for Django's session".to_string())?;
        if !status.success() {
            return Err(self.died());
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            // Give it a moment to leave on its own (stdin closed), then end it.
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill();
        }
    }
}

/// A token no program output will carry by chance: 16 random bytes, hex.
fn session_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .ctx(|| "reading /dev/urandom".to_string())?;
    Ok(format!("rb-{}", hex::encode(bytes)))
}
