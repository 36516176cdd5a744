//! `rb-secret`: roll secrets back by version, values never on a command line.
//!
//! The seed's `secrets_rollback.sh aws DB_PASSWORD "$OLD"` puts the secret on two command
//! lines (readable by every user in `/proc/*/cmdline`), needs the old value at hand although
//! Secrets Manager and Vault keep every version, and its `env` backend runs `export` in a
//! child, which changes nothing. Here a rollback names a version: on AWS the `AWSCURRENT`
//! stage moves to it (the value never passes through rb), on Vault that version's data is
//! written back as a new version (in memory only), with env backups a new backup is written.
//! A new value comes on stdin and reaches the AWS CLI on its stdin (`file:///dev/stdin`):
//! never an argument, never a file a killed run could leave behind.

pub mod aws;
pub mod cli;
pub mod env;
pub mod vault;

use rb_common::cli as common;
use rb_common::config::{Config, FILE};
use rb_common::doc::{Changed, Document, Out};
use rb_common::error::{Result, failed, usage};
use rb_common::store::{Event, Store};
use serde::{Deserialize, Serialize};

pub use cli::Cli;
use cli::Command;

/// `[secrets]` in rollback.toml.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// `aws`, `vault` or `env`.
    pub backend: SecretsBackend,
    /// The AWS CLI command (`["aws", "--profile", "prod"]`).
    pub aws: Vec<String>,
    /// An endpoint for the AWS CLI (tests: a moto server).
    pub endpoint_url: Option<String>,
    /// What every name gets in front (`helpdesk/`).
    pub prefix: String,
    /// Vault's KV v2 mount.
    pub vault_mount: String,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            backend: SecretsBackend::Aws,
            aws: vec!["aws".to_string()],
            endpoint_url: None,
            prefix: "helpdesk/".to_string(),
            vault_mount: "secret".to_string(),
        }
    }
}

/// A secret in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretInfo {
    /// Its full name (with the prefix).
    pub name: String,
    /// When it was created, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When it last changed, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<String>,
}

/// One version of a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Version {
    /// Its id: a version id (aws), a number (vault), an env backup id (env).
    pub id: String,
    /// When it was created, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Its stages (aws: `AWSCURRENT`, `AWSPREVIOUS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// True for the version in use.
    pub current: bool,
}

/// The `secret` document. Never a value unless `revealed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretDoc {
    /// `aws`, `vault` or `env`.
    pub backend: String,
    /// `list`, `versions`, `rollback`, `set` or `get`.
    pub action: String,
    /// The secret's full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `list`: the secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretInfo>,
    /// `versions`: newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<Version>,
    /// `rollback`/`set`: the version current before (`rollback --to` it undoes the change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// `rollback`/`set`: the version current after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// `get`: the version read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `get`: the value, or `********` unless `--reveal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `env`: how to load the new backup into a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
    /// True when `value` is the real value.
    pub revealed: bool,
    /// True when nothing was changed because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for SecretDoc {
    const KIND: &'static str = "secret";
    const SOURCE: &'static str = "rb-secret";
}

/// What a masked value is shown as.
pub const MASK: &str = "********";

/// Where secrets are kept.
pub trait Secrets {
    /// `aws`, `vault` or `env`.
    fn name(&self) -> &'static str;
    /// The name as the backend knows it (with the prefix).
    fn full(&self, name: &str) -> String;
    /// The secrets under the prefix.
    fn list(&self) -> Result<Vec<SecretInfo>>;
    /// A secret's versions, newest first, exactly one of them current.
    fn versions(&self, name: &str) -> Result<Vec<Version>>;
    /// The version `rollback` of `name` goes to without `--to`.
    fn previous(&self, _name: &str, versions: &[Version]) -> Option<Version> {
        let current = versions.iter().position(|v| v.current)?;
        versions.get(current + 1).cloned()
    }
    /// A version's value (the current one when `None`): its id and the value.
    fn value(&self, name: &str, version: Option<&str>) -> Result<(String, String)>;
    /// Makes `to` current instead of `from`; returns the id that is current after.
    fn rollback(&self, name: &str, from: &Version, to: &Version) -> Result<String>;
    /// Stores a new value; returns its version id. `before` is the version current before.
    fn set(&self, name: &str, value: &str, before: Option<&str>) -> Result<String>;
    /// True when `set` may create the secret (so an unknown one has no `before`).
    fn creates(&self) -> bool {
        false
    }
    /// For `env`: how to load what was written.
    fn load_hint(&self, _after: &str) -> Option<String> {
        None
    }
}

/// Where secrets live, as `--backend` or `[secrets] backend` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsBackend {
    /// AWS Secrets Manager ([`aws`]).
    Aws,
    /// Vault's KV v2 ([`vault`]).
    Vault,
    /// rb-envfile's environment backups ([`mod@env`]).
    Env,
    /// A name that is none of these: refused when a backend is needed, with the names there
    /// are (as before, not while `rollback.toml` is read).
    #[serde(untagged)]
    Unknown(String),
}

impl SecretsBackend {
    /// The backend `name` names (`--backend`), read as `[secrets] backend` is.
    pub fn named(name: &str) -> SecretsBackend {
        use serde::de::{IntoDeserializer, value::Error};
        SecretsBackend::deserialize(IntoDeserializer::<Error>::into_deserializer(name))
            .unwrap_or_else(|_| SecretsBackend::Unknown(name.to_string()))
    }
}

impl std::fmt::Display for SecretsBackend {
    /// As `--backend` takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretsBackend::Aws => "aws",
            SecretsBackend::Vault => "vault",
            SecretsBackend::Env => "env",
            SecretsBackend::Unknown(name) => name,
        })
    }
}

/// The backend `--backend` or `[secrets]` names.
pub fn backend(store: &Store, config: &Config, chosen: Option<&str>) -> Result<Box<dyn Secrets>> {
    let secrets: SecretsConfig = config.section("secrets")?;
    match chosen.map_or_else(|| secrets.backend.clone(), SecretsBackend::named) {
        SecretsBackend::Aws => Ok(Box::new(aws::Aws::new(store, secrets)?)),
        SecretsBackend::Vault => Ok(Box::new(vault::Vault::new(secrets)?)),
        SecretsBackend::Env => Ok(Box::new(env::EnvSecrets::new(store.clone()))),
        SecretsBackend::Unknown(other) => {
            Err(usage(format!("unknown secrets backend {other:?}: the backends are aws, vault and env"))
                .hint(format!("--backend, or [secrets] backend in {FILE}")))
        }
    }
}

/// Runs `rb-secret` with parsed arguments, writing the `secret` document to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    let backend = backend(&store, &config, cli.backend.as_deref())?;
    let b = backend.as_ref();
    let doc = |action: &str| SecretDoc {
        backend: b.name().to_string(),
        action: action.to_string(),
        ..SecretDoc::default()
    };
    match cli.command {
        Command::List => {
            let secrets = b.list()?;
            common::note(&common::count(secrets.len(), "secret", "secrets"));
            out.emit(&SecretDoc { secrets, ..doc("list") })
        }
        Command::Versions { name, format } => {
            let versions = b.versions(&name)?;
            if format.table() {
                let mut table = rb_common::table::Table::new(&["VERSION", "CREATED", "STAGES", "CURRENT"]);
                for v in &versions {
                    table.row(vec![
                        v.id.clone(),
                        v.created.clone().unwrap_or_default(),
                        v.stages.join(","),
                        if v.current { "*".to_string() } else { String::new() },
                    ]);
                }
                return out.raw(table.render().as_bytes());
            }
            out.emit(&SecretDoc { name: Some(b.full(&name)), versions, ..doc("versions") })
        }
        Command::Get { name, version, reveal } => {
            let (id, value) = b.value(&name, version.as_deref())?;
            let value = if reveal { value } else { MASK.to_string() };
            out.emit(&SecretDoc {
                name: Some(b.full(&name)),
                version: Some(id),
                value: Some(value),
                revealed: reveal,
                ..doc("get")
            })
        }
        Command::Rollback { name, to, dry_run, diff } => {
            rollback(&store, b, &name, &to, (dry_run, diff), doc("rollback"), out)
        }
        Command::Set { name, from_file } => {
            let value = read_value(from_file.as_deref())?;
            let before = match b.versions(&name) {
                Ok(v) => Some(current(&v, &b.full(&name))?.id),
                Err(_) if b.creates() => None,
                Err(e) => return Err(e),
            };
            let lock = store.lock()?;
            let result = b.set(&name, &value, before.as_deref());
            log(&store, "secret-set", &b.full(&name), before.as_deref(), &result);
            drop(lock);
            let after = result?;
            common::note(&format!("{} has a new version {after}", b.full(&name)));
            let undo = match &before {
                Some(v) => format!("`rb-secret rollback {name} --to {v}` puts the version before back"),
                None => format!(
                    "{} did not exist before; rb-secret versions {name} lists its versions",
                    b.full(&name)
                ),
            };
            let changed = Changed::new(format!("{} has a new version {after}", b.full(&name)), undo);
            out.emit_after_change(
                &SecretDoc {
                    name: Some(b.full(&name)),
                    before,
                    load: b.load_hint(&after),
                    after: Some(after),
                    ..doc("set")
                },
                &changed,
            )
        }
    }
}

/// `rb-secret rollback NAME [--to VERSION]`: makes the version before (or `to`) current,
/// under the lock, and prints the `secret` document (`doc`, filled in) naming both.
fn rollback(
    store: &Store,
    b: &dyn Secrets,
    name: &str,
    to: &str,
    (dry_run, diff): (bool, bool),
    doc: SecretDoc,
    out: &mut Out,
) -> Result<()> {
    let versions = b.versions(name)?;
    let current = current(&versions, &b.full(name))?;
    let target = if to == "previous" {
        b.previous(name, &versions).ok_or_else(|| {
            failed(format!("{} has no version before the current one ({})", b.full(name), current.id))
        })?
    } else {
        versions.iter().find(|v| v.id == to).cloned().ok_or_else(|| {
            failed(format!("{} has no version {to:?}", b.full(name)))
                .hint(format!("rb-secret versions {name} lists them"))
        })?
    };
    if target.id == current.id {
        return Err(usage(format!("{} is already the current version of {}", target.id, b.full(name))));
    }
    if to == "previous" {
        refuse_toggle(store, &b.full(name), &current.id, &target.id)?;
    }
    if diff {
        let what = |v: &Version| {
            let stages = if v.stages.is_empty() { String::new() } else { format!(" {}", v.stages.join(",")) };
            format!("{}{stages} ({})", v.id, v.created.as_deref().unwrap_or("?"))
        };
        common::note(&format!("{}: {} → {}", b.full(name), what(&current), what(&target)));
    }
    let mut d = SecretDoc { name: Some(b.full(name)), before: Some(current.id.clone()), ..doc };
    if dry_run {
        common::note(&format!("dry run: would make {} current instead of {}", target.id, current.id));
        return out.emit(&SecretDoc { after: Some(target.id), dry_run: true, ..d });
    }
    let lock = store.lock()?;
    let result = b.rollback(name, &current, &target);
    log(store, "secret-rollback", &b.full(name), Some(&current.id), &result);
    drop(lock);
    let after = result?;
    common::note(&format!(
        "{} is now at {after} (was {}); `rb-secret rollback {name} --to {}` undoes it",
        b.full(name),
        current.id,
        current.id
    ));
    d.load = b.load_hint(&after);
    d.after = Some(after.clone());
    out.emit_after_change(
        &d,
        &Changed::new(
            format!("{} is now at {after} (was {})", b.full(name), current.id),
            format!("`rb-secret rollback {name} --to {}` undoes it", current.id),
        ),
    )
}

/// Refuses `previous` when it would only undo the last rollback of this secret (which made
/// `current` current instead of `target`): run twice, "roll back" would toggle the bad
/// version back in. `--to` says it on purpose.
fn refuse_toggle(store: &Store, full: &str, current: &str, target: &str) -> Result<()> {
    let log = std::fs::read_to_string(store.dir.join("rollback.log")).unwrap_or_default();
    let set = format!("secret {full}");
    let last = log
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["set"] == set.as_str() && e["ok"] == true);
    if let Some(e) = last
        && e["action"] == "secret-rollback"
        && e["snapshot"] == current
        && e["undo"] == target
    {
        return Err(failed(format!(
            "the last rollback of {full} made {current} current instead of {target}: `previous` would put {target} back"
        ))
        .hint(format!("if that is what you want, say so: --to {target}")));
    }
    Ok(())
}

/// Logs a change with the versions before (`undo`) and after (`snapshot`), never a value.
fn log(store: &Store, action: &str, name: &str, before: Option<&str>, result: &Result<String>) {
    let event = match result {
        Ok(after) => Event::new(action, true).snapshot(after),
        Err(e) => Event::new(action, false).error(e),
    };
    store.log_or_warn(event.set(&format!("secret {name}")).undo(before));
}

/// The one current version.
fn current(versions: &[Version], name: &str) -> Result<Version> {
    let current: Vec<&Version> = versions.iter().filter(|v| v.current).collect();
    match current.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(failed(format!("{name} has no current version"))),
        many => Err(failed(format!(
            "{name} has {} versions marked current ({}): fix that first",
            many.len(),
            many.iter().map(|v| v.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The new value: a file as it is, or stdin with one trailing newline dropped (`echo` adds
/// one). Never empty, always UTF-8 (a secret string).
fn read_value(file: Option<&std::path::Path>) -> Result<String> {
    use std::io::IsTerminal;
    use std::io::Read;
    let mut bytes = Vec::new();
    if file.is_none() && std::io::stdin().is_terminal() {
        return Err(usage("give the value on stdin (a pipe), not typed at a terminal, where it would stay on the screen")
            .hint("printf %s \"$VALUE\" | rb-secret set NAME, or --from-file F; `rb-secret rollback NAME` needs no value at all"));
    }
    match file {
        Some(f) => bytes = std::fs::read(f).map_err(|e| failed(format!("reading {}: {e}", f.display())))?,
        None => {
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| failed(format!("reading stdin: {e}")))?;
            if bytes.ends_with(b"\n") {
                bytes.pop();
            }
        }
    }
    if bytes.is_empty() {
        return Err(usage("no value: give the new value on stdin (or --from-file F)").hint(
            "printf %s \"$VALUE\" | rb-secret set NAME; `rb-secret rollback NAME` needs no value at all",
        ));
    }
    String::from_utf8(bytes).map_err(|_| usage("the value is not UTF-8 text, which a secret string must be"))
}

/// A time the backends give (epoch seconds, or RFC 3339 text) as RFC 3339.
pub fn time(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => {
            let secs = n.as_f64()?;
            chrono::DateTime::from_timestamp(secs as i64, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_is_read_by_name_from_the_command_line_and_the_config() {
        assert_eq!(SecretsBackend::named("vault"), SecretsBackend::Vault);
        assert_eq!(SecretsBackend::named("gcp"), SecretsBackend::Unknown("gcp".into()));
        let config = Config::parse("[secrets]\nbackend = \"env\"\n", "rollback.toml").unwrap();
        let secrets: SecretsConfig = config.section("secrets").unwrap();
        assert_eq!(secrets.backend, SecretsBackend::Env);
        assert_eq!(SecretsBackend::named("carrier-pigeon").to_string(), "carrier-pigeon");
    }
}
