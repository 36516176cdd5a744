//! `rollback.toml`: the project's settings, every key optional, every default the seed's.
//!
//! This module reads the sections that `rb-common` itself uses (`[sets.*]`); the other tools'
//! sections (`[nginx]`, `[django]`, …) are kept as raw TOML in [`Config::other`] for those
//! tools to read with their own types. Commands are argument vectors, never shell text, and
//! secrets are never values here, only names of environment variables that hold them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, failed, usage};
use crate::journal::{Check, CheckKind};

/// The set of the feature-flags settings file, and where the seed's backups of it go back.
pub const FLAGS_SET: &str = "feature_flags";
/// The feature-flags settings file (`cp backups/feature_flags_X.py core/config/settings/`).
pub const FLAGS_FILE: &str = "core/config/settings/feature_flags.py";

/// The file name at the project root.
pub use crate::paths::CONFIG_FILE as FILE;

/// The project's nginx configuration, as the seed keeps it.
pub const NGINX_CONF: &str = "nginx/nginx.conf";

/// A named list of paths and globs, and how to check a restore of it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// Paths relative to the root. A trailing `/` names a folder, restored exactly; `*`, `?`
    /// and `[…]` make a glob, whose matches are the set's files at snapshot time.
    pub paths: Vec<String>,
    /// A command run (in the root) after a restore of this set; if it fails the restore is
    /// put back. E.g. `["python", "manage.py", "check", "--deploy"]`.
    #[serde(default)]
    pub verify: Option<Vec<String>>,
    /// Globs of paths inside the set's paths that are never snapshotted, modified or removed
    /// by a restore (`["logs/", "*.pid"]`). A glob without a `/` matches a name at any depth
    /// (as in `.gitignore`), one with a `/` the project-relative path; a trailing `/` matches
    /// folders only; whatever is inside a match is excluded with it. Recorded in the manifest,
    /// so a restore of that snapshot leaves them alone even if this list changed since.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The whole file, with the built-in defaults filled in.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Every set: the built-in ones, overridden or extended by the file.
    pub sets: BTreeMap<String, SetConfig>,
    /// The sets the file itself defines: taken as written, never computed (see
    /// [`crate::nginx::set_specs`]).
    pub written: BTreeSet<String>,
    /// The sections other tools read (`nginx`, `env`, `django`, …), as TOML.
    pub other: toml::Table,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    sets: BTreeMap<String, SetConfig>,
    #[serde(flatten)]
    other: toml::Table,
}

/// The seed's "Files to Backup" lists. The `nginx` set's (and `config`'s `nginx/nginx.conf`)
/// grow at snapshot time into the files nginx reads: [`crate::nginx::set_specs`].
pub fn default_sets() -> BTreeMap<String, SetConfig> {
    let set = |paths: &[&str]| SetConfig {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        verify: None,
        exclude: Vec::new(),
    };
    BTreeMap::from([
        (
            "config".to_string(),
            set(&[
                "core/config/settings/",
                "nginx/nginx.conf",
                "docker-compose*.yml",
                "deploy/aws/cloudformation.yaml",
                "deploy/aws/ecs-task-definition.json",
                "deploy/render/render.yaml",
            ]),
        ),
        ("nginx".to_string(), set(&["nginx/nginx.conf", "nginx/ssl/"])),
        ("compose".to_string(), set(&["docker-compose*.yml"])),
        (FLAGS_SET.to_string(), set(&[FLAGS_FILE])),
    ])
}

impl Config {
    /// Reads `root/rollback.toml` if it exists; the defaults otherwise.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config { sets: default_sets(), ..Config::default() });
            }
            Err(e) => return Err(failed(format!("reading {}: {e}", path.display()))),
        };
        let config = Self::parse(&text, FILE)?;
        crate::exec::set_default_timeout(config.exec()?.timeout()?);
        Ok(config)
    }

    /// Parses the text of a `rollback.toml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!(" line {l}")).unwrap_or_default();
            usage(format!("{origin}{at}: {}", e.message().trim()))
        })?;
        if let Some(unknown) = file.other.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(usage(format!(
                "{origin}: unknown section [{unknown}]; the sections are [{}]",
                SECTIONS.join("], [")
            )));
        }
        let mut sets = default_sets();
        let written = file.sets.keys().cloned().collect();
        for (name, set) in file.sets {
            check_set_name(&name).map_err(|e| e.context(origin))?;
            if set.paths.is_empty() {
                return Err(usage(format!("{origin}: [sets.{name}] has no paths")));
            }
            crate::manifest::Exclude::new(&set.exclude)
                .map_err(|e| e.context(format!("{origin}: [sets.{name}] exclude")))?;
            sets.insert(name, set);
        }
        Ok(Config { sets, written, other: file.other })
    }

    /// The section `[name]` read as `T`: its defaults when the file has no such section, a
    /// usage error naming the section when it does not fit.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T> {
        match self.other.get(name) {
            None => Ok(T::default()),
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| usage(format!("{FILE}: [{name}]: {}", e.message().trim()))),
        }
    }

    /// `[exec]`, with its defaults.
    pub fn exec(&self) -> Result<ExecConfig> {
        self.section("exec")
    }

    /// `[django]`, with its defaults.
    pub fn django(&self) -> Result<DjangoConfig> {
        self.section("django")
    }

    /// `[nginx]`, with its defaults, checked.
    pub fn nginx(&self) -> Result<NginxConfig> {
        let nginx: NginxConfig = self.section("nginx")?;
        if nginx.command.is_empty() {
            return Err(usage(format!("{FILE}: [nginx] command is empty")));
        }
        check_seconds("[nginx] reload_timeout_s", nginx.reload_timeout_s, 3600.0)?;
        Ok(nginx)
    }

    /// The command that checks a restore of `set`: the set's `verify` when it has one (an
    /// empty list means none), else the configured `nginx -t` for the `nginx` set, and for a
    /// set holding `nginx/nginx.conf` (`config`) once `[nginx]` is configured. An undo
    /// snapshot has none: it puts back whatever was there.
    pub fn check_for(&self, set: &str) -> Result<Option<Check>> {
        if set == crate::manifest::UNDO_SET {
            return Ok(None);
        }
        match self.sets.get(set).and_then(|s| s.verify.clone()) {
            Some(argv) if argv.is_empty() => Ok(None),
            Some(argv) => Ok(Some(Check {
                argv,
                setting: format!("sets.{set}.verify in {FILE}"),
                kind: CheckKind::Verify,
            })),
            None if set == "nginx" => Ok(Some(self.nginx()?.test_check())),
            None if self.other.contains_key("nginx")
                && self.sets.get(set).is_some_and(|s| s.paths.iter().any(|p| p == NGINX_CONF)) =>
            {
                Ok(Some(self.nginx()?.test_check()))
            }
            None => Ok(None),
        }
    }

    /// The command that checks a restore of snapshot `m`: [`Config::check_for`] its set, and
    /// for the undo of an nginx restore the nginx set's (`nginx -t`), as its snapshot had.
    pub fn check_for_snapshot(&self, m: &crate::manifest::Manifest) -> Result<Option<Check>> {
        let undoes = m.undo_for.as_deref().and_then(crate::manifest::parse_id).map(|(set, _, _)| set);
        match undoes {
            Some(set) if m.set == crate::manifest::UNDO_SET && set == "nginx" => self.check_for(set),
            _ => self.check_for(&m.set),
        }
    }

    /// The set called `name`, or an error listing the sets there are.
    pub fn set(&self, name: &str) -> Result<&SetConfig> {
        self.sets.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.sets.keys().map(String::as_str).collect();
            failed(format!("no set named {name:?}; the sets are: {}", known.join(", ")))
                .hint(format!("add [sets.{name}] to {FILE}, or take an ad-hoc set with --name"))
        })
    }
}

/// `[nginx]`: how nginx is reached and how a reload is confirmed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NginxConfig {
    /// The nginx command; rb appends `-t`, `-T` or `-s reload`. A private prefix:
    /// `["nginx", "-p", "/srv/helpdesk/nginx/", "-c", "nginx.conf"]`; in a container:
    /// `["docker", "compose", "exec", "-T", "nginx", "nginx"]`.
    pub command: Vec<String>,
    /// The running master's pid file [default: what the configuration's `pid` directive
    /// names, as `nginx -T` shows it, else nginx's built-in path].
    pub pid_file: Option<String>,
    /// The error log the master writes to [default: the configuration's top-level
    /// `error_log`]. A reload the master rejects is seen there at once instead of when
    /// `reload_timeout_s` runs out.
    pub error_log: Option<String>,
    /// How long to wait, in seconds, for the master to replace its workers.
    pub reload_timeout_s: f64,
}

impl Default for NginxConfig {
    fn default() -> Self {
        NginxConfig {
            command: vec!["nginx".to_string()],
            pid_file: None,
            error_log: None,
            reload_timeout_s: 10.0,
        }
    }
}

impl NginxConfig {
    /// `nginx -t` as a verify command.
    pub fn test_check(&self) -> Check {
        let mut argv = self.command.clone();
        argv.push("-t".to_string());
        Check { argv, setting: format!("nginx.command in {FILE}"), kind: CheckKind::Nginx }
    }
}

/// `[exec]`: how every external program is run.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// How long any external program (nginx, manage.py, aws, docker, pg_dump, a verify
    /// command, a service's stop/start/status, a check) may run, in seconds, before it and its
    /// process group are killed [default 120]. A section with a limit of its own (`[django]
    /// timeout_s`) overrides it for its programs.
    pub timeout_s: Option<f64>,
}

impl ExecConfig {
    /// `timeout_s`, checked, with its default.
    pub fn timeout(&self) -> Result<std::time::Duration> {
        let s = self.timeout_s.unwrap_or(crate::exec::DEFAULT_TIMEOUT_S);
        check_seconds("[exec] timeout_s", s, 7.0 * 86400.0)?;
        Ok(std::time::Duration::from_secs_f64(s))
    }
}

/// `[django]`: how Django's `manage.py` is run (rb-migrate, rb-flag).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DjangoConfig {
    /// The Python interpreter [default: `python`, else `python3`, on PATH].
    pub python: Option<String>,
    /// `manage.py`, relative to the root [default: `manage.py`].
    pub manage: Option<String>,
    /// `DJANGO_SETTINGS_MODULE` for every run [default: what the environment or manage.py says].
    pub settings: Option<String>,
    /// More environment for every run (names and values that are not secrets).
    pub env: BTreeMap<String, String>,
    /// The command that dumps a database that is not SQLite to stdout (`["pg_dump",
    /// "--format=custom", "helpdesk"]`), run before a migration rollback [default for
    /// PostgreSQL: `pg_dump --format=custom` of Django's database].
    pub backup: Option<Vec<String>>,
    /// How long one request to Django (a whole migration run) may take, in seconds [default
    /// 3600]; also the limit of a database dump or restore (`pg_dump`, `pg_restore`, `psql`).
    pub timeout_s: Option<f64>,
    /// PostgreSQL's `lock_timeout` for a migration run, in seconds: how long a step may wait
    /// behind the app's locks before the run fails and rolls back [default 5].
    pub lock_timeout_s: Option<f64>,
}

impl DjangoConfig {
    /// `timeout_s`, checked, with its default.
    pub fn timeout(&self) -> Result<std::time::Duration> {
        let s = self.timeout_s.unwrap_or(3600.0);
        check_seconds("[django] timeout_s", s, 7.0 * 86400.0)?;
        Ok(std::time::Duration::from_secs_f64(s))
    }

    /// [`DjangoConfig::timeout`] as the limit of a program (a database dump or restore).
    pub fn exec_timeout(&self) -> Result<crate::exec::Timeout> {
        Ok(crate::exec::Timeout::new(self.timeout()?, format!("[django] timeout_s in {FILE}")))
    }

    /// `lock_timeout_s`, checked, with its default.
    pub fn lock_timeout(&self) -> Result<std::time::Duration> {
        let s = self.lock_timeout_s.unwrap_or(5.0);
        check_seconds("[django] lock_timeout_s", s, 86400.0)?;
        Ok(std::time::Duration::from_secs_f64(s))
    }
}

/// The sections a `rollback.toml` may have: `sets` here, the others for their tools.
pub const SECTIONS: &[&str] = &[
    "sets",
    "exec",
    "nginx",
    "env",
    "django",
    "flags",
    "secrets",
    "deploy",
    "health",
    "emergency",
    "drill",
    "diff",
];

/// Refuses a number of seconds that is not finite, more than 0 and at most `max`; `what`
/// names the setting (`[nginx] reload_timeout_s`).
pub fn check_seconds(what: &str, v: f64, max: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 && v <= max {
        return Ok(());
    }
    Err(usage(format!("{FILE}: {what} = {v}: give seconds, more than 0 and at most {max}")))
}

/// Names that cannot be set names: they mean something else on the command line or in ids.
const RESERVED: &[&str] = &["latest", "latest-good", "undo", "list", "verify", "prune", "tag"];

/// A set name is a word of letters, digits, `_` and `-`, not starting with `-`, and not one
/// of the reserved words.
pub fn check_set_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if name.is_empty() || !ok_chars || name.starts_with('-') {
        return Err(usage(format!(
            "{name:?} is not a set name (letters, digits, `_` and `-`, not starting with `-`)"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(usage(format!("{name:?} is reserved and cannot name a set")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_and_adds_sets() {
        let c = Config::parse(
            "[sets.config]\npaths = [\"a/\"]\nverify = [\"true\"]\n[sets.extra]\npaths = [\"b\"]\n[nginx]\ncommand = [\"nginx\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.set("config").unwrap().paths, ["a/"]);
        assert_eq!(c.set("extra").unwrap().paths, ["b"]);
        assert_eq!(c.set("nginx").unwrap().paths, ["nginx/nginx.conf", "nginx/ssl/"]);
        assert!(c.other.contains_key("nginx"));
        assert!(Config::parse("[sets.x]\npath = [\"a\"]\n", "t").is_err());
        assert!(Config::parse("[sets.latest]\npaths = [\"a\"]\n", "t").is_err());
    }
}
