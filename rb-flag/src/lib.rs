//! `rb-flag`: feature flags set all-or-nothing, as data never code, with the values they
//! replace printed.
//!
//! The seed's `feature_flags_rollback.sh` pastes the flag's name and value into Python source
//! (`filter(name='$FEATURE_NAME')`): a quote breaks it, a crafted value runs code, and an
//! unknown flag "succeeds" having changed nothing. Here a [`Backend`] takes names and values
//! as data: the `django` one through a fixed program of rb's run by `manage.py shell`, reading
//! JSON on stdin, in one transaction; the `http` one through the platform's API. `set` and
//! `restore` print the values they replace, which `restore` takes back.

pub mod cli;
pub mod django;
pub mod http;

use std::collections::BTreeMap;

use rb_common::cli as common;
use rb_common::config::{Config, FILE};
use rb_common::doc::{self, Document, Out};
use rb_common::error::{Result, failed, usage};
use rb_common::legacy::FLAGS_SET;
use rb_common::store::{Event, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cli::Cli;
use cli::Command;

/// `[flags]` in rollback.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlagsConfig {
    /// `django` or `http`.
    pub backend: String,
    /// The Django model, as `module.Class`.
    pub model: String,
    /// Its field holding the flag's name (unique).
    pub name_field: String,
    /// Its field holding the value.
    pub value_field: String,
    /// The API's base URL (`http`).
    pub url: String,
    /// The environment variable holding the API token (`http`): its name, never the token.
    pub token_env: String,
    /// Seconds to wait for the API.
    pub timeout_s: f64,
}

impl Default for FlagsConfig {
    fn default() -> Self {
        FlagsConfig {
            backend: "django".to_string(),
            model: "apps.features.models.Feature".to_string(),
            name_field: "name".to_string(),
            value_field: "status".to_string(),
            url: "https://api.helpdesk.com".to_string(),
            token_env: "RB_FLAGS_TOKEN".to_string(),
            timeout_s: 30.0,
        }
    }
}

/// The `flags` document: flags and values. For `set` and `restore`, the values before the
/// change — the undo, which `rb-flag restore` takes back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlagsDoc {
    /// `django` or `http`.
    pub backend: String,
    /// `list`, `set` or `restore`.
    pub action: String,
    /// Each flag's value (for `set`/`restore`: the value it had before).
    pub flags: BTreeMap<String, Value>,
    /// Flags that did not exist before (created by `set --create`): restoring this document
    /// removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// The flags that were (or would be) changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// True when nothing was changed because `--dry-run` was given.
    pub dry_run: bool,
}

impl Document for FlagsDoc {
    const KIND: &'static str = "flags";
    const SOURCE: &'static str = "rb-flag";
}

/// What a change replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replaced {
    /// The values the changed flags had.
    pub before: BTreeMap<String, Value>,
    /// The flags that did not exist.
    pub absent: Vec<String>,
}

/// Where flags live.
pub trait Backend {
    /// The backend's name for documents.
    fn name(&self) -> &'static str;
    /// Every flag (or those named; an unknown named one is an error, exit 1).
    fn list(&self, names: &[String]) -> Result<BTreeMap<String, Value>>;
    /// Sets `changes` and removes `remove`, all or nothing. An unknown flag is an error (exit
    /// 1, nothing changed) unless `create`. `dry_run` checks and reports without changing.
    fn set(
        &self,
        changes: &[(String, Value)],
        remove: &[String],
        create: bool,
        dry_run: bool,
    ) -> Result<Replaced>;
}

/// The backend `[flags]` configures.
pub fn backend(config: &Config, root: &std::path::Path) -> Result<Box<dyn Backend>> {
    let flags: FlagsConfig = config.section("flags")?;
    match flags.backend.as_str() {
        "django" => Ok(Box::new(django::DjangoFlags::new(config, root, flags)?)),
        "http" => Ok(Box::new(http::HttpFlags::new(flags)?)),
        other => Err(usage(format!(
            "{FILE}: [flags] backend = {other:?}: the backends are \"django\" and \"http\""
        ))),
    }
}

/// Runs `rb-flag` with parsed arguments, writing documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    match cli.command {
        Command::Snapshot { file: _, dry_run } => rb_snapshot::run(
            rb_snapshot::Cli {
                command: None,
                args: vec![FLAGS_SET.to_string()],
                name: None,
                dry_run,
                no_link: false,
                store: cli.store,
            },
            out,
        ),
        Command::Restore { file: Some(id), dry_run } => rb_restore::run(
            rb_restore::Cli {
                snapshot: Some(id),
                set: Some(FLAGS_SET.to_string()),
                dry_run,
                keep_extra: false,
                checksum: false,
                quick: false,
                resume: false,
                abort: false,
                store: cli.store,
            },
            out,
        ),
        Command::List { names } => {
            let (store, config) = cli.store.open()?;
            let backend = backend(&config, &store.root)?;
            let flags = backend.list(&names)?;
            common::note(&format!("{} flags", flags.len()));
            out.emit(&FlagsDoc {
                backend: backend.name().to_string(),
                action: "list".to_string(),
                flags,
                ..FlagsDoc::default()
            })
        }
        Command::Set { pairs, create, dry_run } => {
            if pairs.len() % 2 != 0 {
                return Err(usage(format!(
                    "set takes NAME VALUE pairs; {} is left without a value",
                    pairs[pairs.len() - 1]
                )));
            }
            let (store, config) = cli.store.open()?;
            let backend = backend(&config, &store.root)?;
            let changes: Vec<(String, Value)> =
                pairs.chunks(2).map(|p| (p[0].clone(), backend_value(backend.as_ref(), &p[1]))).collect();
            change(&store, backend.as_ref(), "set", &changes, &[], create, dry_run, out)
        }
        Command::Restore { file: None, dry_run } => {
            let (store, config) = cli.store.open()?;
            let wanted = read_doc()?;
            let backend = backend(&config, &store.root)?;
            check_undo(&wanted, backend.as_ref())?;
            let changes: Vec<(String, Value)> = wanted.flags.into_iter().collect();
            change(&store, backend.as_ref(), "restore", &changes, &wanted.absent, true, dry_run, out)
        }
    }
}

/// A value from the command line: a string for `django`; for `http`, JSON when it parses
/// as JSON (`false`, `3`), else a string.
fn backend_value(backend: &dyn Backend, text: &str) -> Value {
    if backend.name() == "http" {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
    } else {
        Value::String(text.to_string())
    }
}

/// A document to restore must be a real change's record, of this backend, and say one thing
/// of each flag.
fn check_undo(doc: &FlagsDoc, backend: &dyn Backend) -> Result<()> {
    if doc.dry_run {
        return Err(usage(
            "the document is from a --dry-run: nothing was changed then, so there is nothing to undo",
        ));
    }
    if doc.backend != backend.name() {
        return Err(usage(format!(
            "the document is from the {} backend, and [flags] backend is {}: its values would not mean the same",
            doc.backend,
            backend.name()
        )));
    }
    if let Some(name) = doc.absent.iter().find(|n| doc.flags.contains_key(*n)) {
        return Err(usage(format!("the document both sets and removes {name:?}")));
    }
    Ok(())
}

fn read_doc() -> Result<FlagsDoc> {
    let (value, origin) = doc::read_one_stdin(
        "rb-flag restore reads one `flags` document",
        "rb-flag set … > undo.json; rb-flag restore < undo.json",
    )?;
    doc::from_value(value, &origin)
}

/// Sets flags under the lock, logs, and prints the values they replaced.
#[allow(clippy::too_many_arguments)]
fn change(
    store: &Store,
    backend: &dyn Backend,
    action: &str,
    changes: &[(String, Value)],
    remove: &[String],
    create: bool,
    dry_run: bool,
    out: &mut Out,
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in changes {
        if name.is_empty() {
            return Err(usage("a flag name cannot be empty"));
        }
        if !seen.insert(name) {
            return Err(usage(format!("{name} is given twice")));
        }
    }
    if changes.is_empty() && remove.is_empty() {
        return Err(usage("the document names no flags"));
    }
    // Checked (and the values it replaces read) without changing anything; then, under the
    // lock, those values are written to the store before the change: the undo survives
    // whatever happens next.
    let preview = backend.set(changes, remove, create, true)?;
    let changed: Vec<String> = changes.iter().map(|(n, _)| n.clone()).chain(remove.iter().cloned()).collect();
    let doc = |replaced: Replaced, dry_run: bool| FlagsDoc {
        backend: backend.name().to_string(),
        action: action.to_string(),
        flags: replaced.before,
        absent: replaced.absent,
        changed: changed.clone(),
        dry_run,
    };
    if dry_run {
        common::note(&format!("dry run: would change {}; nothing was changed", changed.join(", ")));
        return out.emit(&doc(preview, true));
    }
    let lock = store.lock()?;
    let undo_id = store.next_id("flags", &rb_common::clock::now()?)?;
    let undo_path = store.dir.join(format!("{undo_id}.json"));
    let line = doc::to_line(&doc(preview, false))?;
    rb_common::fsx::atomic_write(&undo_path, format!("{line}\n").as_bytes(), rb_common::fsx::Mode(0o644))?;
    let undo_shown = format!("{}/{undo_id}.json", store.shown());
    let result = backend.set(changes, remove, create, false).map_err(|e| {
        e.hint(format!(
            "the values before are in {undo_shown}: `rb-flag restore < {undo_shown}` puts them back"
        ))
    });
    let event = match &result {
        Ok(_) => Event::new(&format!("flag-{action}"), true),
        Err(e) => Event::new(&format!("flag-{action}"), false).error(e),
    };
    store.log_or_warn(event.set("flags").snapshot(&undo_id));
    drop(lock);
    let replaced = result?;
    common::note(&format!(
        "changed {}; the values before are in {undo_shown} and in this document (rb-flag restore < it undoes)",
        changed.join(", ")
    ));
    out.emit(&doc(replaced, false)).map_err(|e| {
        rb_common::error::partial(
            format!("the flags were changed, but {}", e.message()),
            format!("`rb-flag restore < {undo_shown}` puts back the values before"),
        )
    })
}

/// A value as the `django` backend stores it: strings as they are, anything else as JSON text.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The error for unknown flags.
pub fn unknown(names: &[String]) -> rb_common::error::Error {
    failed(format!(
        "no flag named {}; nothing was changed",
        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    ))
    .hint("rb-flag list shows the flags there are; --create makes a new one")
}
