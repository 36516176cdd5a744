//! Running the project's Django: `python manage.py …` as an argument vector, with
//! `[django]`'s interpreter, settings and environment, and fixed Python programs through
//! `manage.py shell -c` that take their request as JSON on stdin.
//!
//! The seed pastes values into Python source (`filter(name='$FEATURE_NAME')`). Here the
//! program text is a constant of rb's; names and values travel as JSON data on stdin, never
//! as code or as arguments.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, DjangoConfig, FILE};
use crate::error::{Result, failed};
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
