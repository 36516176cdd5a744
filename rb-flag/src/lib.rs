//! `rb-flag`: feature flags set all-or-nothing, as data never code, with the values they
//! replace printed.
//!
//! The seed's `feature_flags_rollback.sh` pastes the flag's name and value into Python source
//! (`filter(name='$FEATURE_NAME')`): a quote breaks it, a crafted value runs code, and an
//! unknown flag "succeeds" having changed nothing. Here a [`Backend`] takes names and values
//! as data: the `django` one through a fixed program of rb's run by `manage.py shell`, reading
//! JSON on stdin, in one transaction, each value typed by the model's value field (a
//! `BooleanField` takes `on`, an `IntegerField` `25`, documents carry `true` and `25`); the
//! `http` one through the platform's API, whose values are JSON. `set` and `restore` print
//! the values they replace, which `restore` takes back.

pub mod cli;
pub mod django;
pub mod http;

use std::collections::BTreeMap;

use rb_common::cli as common;
use rb_common::config::{Config, FILE};
use rb_common::doc::{self, Changed, Document, Out};
use rb_common::error::{Result, failed, usage};
use rb_common::legacy::FLAGS_SET;
use rb_common::put_back::RestoreOptions;
use rb_common::store::{Event, Store};
use rb_common::take::TakeOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cli::Cli;
use cli::Command;

/// `[flags]` in rollback.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlagsConfig {
    /// `django` or `http`.
    pub backend: FlagsBackend,
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
            backend: FlagsBackend::Django,
            model: "apps.features.models.Feature".to_string(),
            name_field: "name".to_string(),
            value_field: "status".to_string(),
            url: "https://api.helpdesk.com".to_string(),
            token_env: "RB_FLAGS_TOKEN".to_string(),
            timeout_s: 30.0,
        }
    }
}

/// Where flags live, as `[flags] backend` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagsBackend {
    /// A Django model, through `manage.py shell` ([`django`]).
    Django,
    /// The platform's API ([`http`]).
    Http,
    /// A name that is none of these: refused when a backend is needed, with the names there
    /// are (as before, not while `rollback.toml` is read).
    #[serde(untagged)]
    Unknown(String),
}

/// The `flags` document: flags and values. For `set` and `restore`, the values before the
/// change — the undo, which `rb-flag restore` takes back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlagsDoc {
    /// `django` or `http`.
    pub backend: String,
    /// `list`, `set` or `restore`.
    pub action: String,
    /// Each flag's value, as JSON of its type (`"active"`, `true`, `25`, `null` for NULL; for
    /// `set`/`restore`: the value it had before).
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

/// A value to set, as it was given: the backend reads it by what its flags hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// A word from the command line (`rb-flag set NAME WORD`): `on`, `25`, `null`, any text.
    Word(String),
    /// A value from a `flags` document (`rb-flag restore`), typed JSON or, in older
    /// documents, a string read as a word is.
    Value(Value),
}

impl std::fmt::Display for Given {
    /// As messages show it: a word quoted, a value as JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Given::Word(w) => write!(f, "{w:?}"),
            Given::Value(v) => write!(f, "{v}"),
        }
    }
}

/// The kinds of value a flag model's value field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// `BooleanField`: JSON `true`/`false`.
    Boolean,
    /// The `IntegerField` family: JSON numbers between `min` and `max`.
    Integer,
    /// `CharField`, `TextField`: JSON strings.
    Text,
}

/// What the `django` backend's value field holds, from its `get_internal_type()`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ValueField {
    /// Django's name for the type (`BooleanField`, `PositiveSmallIntegerField`…).
    #[serde(rename = "type")]
    pub type_name: String,
    /// What its values are.
    pub kind: ValueKind,
    /// Whether it has `null=True`: then `null` is a value.
    pub null: bool,
    /// The least integer it holds (integers only).
    #[serde(default)]
    pub min: Option<i64>,
    /// The greatest integer it holds (integers only).
    #[serde(default)]
    pub max: Option<i64>,
}

impl ValueField {
    /// What the field accepts, as the error for a value it cannot hold says it.
    pub fn accepts(&self) -> String {
        let (null, or_null) =
            if self.null { (" with null=True", ", or null") } else { ("", "; null only with null=True") };
        let what = match self.kind {
            ValueKind::Boolean => "true/false, on/off, yes/no or 1/0, in any case".to_string(),
            ValueKind::Integer => format!(
                "whole numbers from {} to {}",
                self.min.unwrap_or(i64::MIN),
                self.max.unwrap_or(i64::MAX)
            ),
            ValueKind::Text => "any text".to_string(),
        };
        format!("a {}{null} takes {what}{or_null}", self.type_name)
    }

    /// A value the field holds that is not `current` (`None`: any), for a rehearsal: the
    /// other boolean; an integer one step toward zero (away from a model's usual upper
    /// bound, such as a percentage's 100); another text.
    pub fn other_than(&self, current: Option<&Value>) -> Value {
        match self.kind {
            ValueKind::Boolean => Value::Bool(current != Some(&Value::Bool(true))),
            ValueKind::Integer => {
                let (min, max) = (self.min.unwrap_or(i64::MIN), self.max.unwrap_or(i64::MAX));
                let next = match current.and_then(Value::as_i64) {
                    Some(n) if n > 0 && n > min => n - 1,
                    Some(n) if n < max => n + 1,
                    Some(n) => n - 1,
                    None => 0,
                };
                Value::from(next.clamp(min, max))
            }
            ValueKind::Text => {
                let text = if current == Some(&Value::from("rb-drill")) { "rb-drill-2" } else { "rb-drill" };
                Value::from(text)
            }
        }
    }
}

/// Where flags live.
pub trait Backend {
    /// The backend's name for documents.
    fn name(&self) -> &'static str;
    /// What the flags' values are, when the backend knows (the `django` backend's value
    /// field); `None` for any JSON (the `http` backend).
    fn value_field(&self) -> Result<Option<ValueField>>;
    /// Every flag (or those named; an unknown named one is an error, exit 1), each value as
    /// JSON of its type.
    fn list(&self, names: &[String]) -> Result<BTreeMap<String, Value>>;
    /// Sets `changes` and removes `remove`, all or nothing. An unknown flag is an error (exit
    /// 1, nothing changed) unless `create`; a value the flag cannot hold is exit 2, nothing
    /// changed. `dry_run` checks and reports without changing.
    fn set(
        &self,
        changes: &[(String, Given)],
        remove: &[String],
        create: bool,
        dry_run: bool,
    ) -> Result<Replaced>;
}

/// The backend `[flags]` configures.
pub fn backend(config: &Config, root: &std::path::Path) -> Result<Box<dyn Backend>> {
    let flags: FlagsConfig = config.section("flags")?;
    match &flags.backend {
        FlagsBackend::Django => Ok(Box::new(django::DjangoFlags::new(config, root, flags)?)),
        FlagsBackend::Http => Ok(Box::new(http::HttpFlags::new(flags)?)),
        FlagsBackend::Unknown(other) => Err(usage(format!(
            "{FILE}: [flags] backend = {other:?}: the backends are \"django\" and \"http\""
        ))),
    }
}

/// Runs `rb-flag` with parsed arguments, writing documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    match cli.command {
        Command::Snapshot { file: _, dry_run } => {
            let (store, config) = cli.store.open()?;
            let opts = TakeOptions { dry_run, ..TakeOptions::default() };
            rb_common::take::take_set(&store, &config, FLAGS_SET, &opts, out)
        }
        Command::Restore { file: Some(id), dry_run } => {
            let (store, config) = cli.store.open()?;
            let opts = RestoreOptions { dry_run, ..RestoreOptions::default() };
            rb_common::put_back::restore_id(&store, &config, &id, Some(FLAGS_SET), &opts, out)
        }
        Command::List { names, format } => {
            let (store, config) = cli.store.open()?;
            let backend = backend(&config, &store.root)?;
            let flags = backend.list(&names)?;
            common::note(&common::count(flags.len(), "flag", "flags"));
            if format.table() {
                let mut table = rb_common::table::Table::new(&["FLAG", "VALUE"]);
                for (name, value) in &flags {
                    table.row(vec![name.clone(), value.to_string()]);
                }
                return out.raw(table.render().as_bytes());
            }
            out.emit(&FlagsDoc {
                backend: backend.name().to_string(),
                action: "list".to_string(),
                flags,
                ..FlagsDoc::default()
            })
        }
        Command::Set { pairs, create, dry_run, diff } => {
            if pairs.len() % 2 != 0 {
                return Err(usage(format!(
                    "set takes NAME VALUE pairs; {} is left without a value",
                    pairs[pairs.len() - 1]
                )));
            }
            let (store, config) = cli.store.open()?;
            let backend = backend(&config, &store.root)?;
            let changes: Vec<(String, Given)> =
                pairs.chunks(2).map(|p| (p[0].clone(), Given::Word(p[1].clone()))).collect();
            change(&store, backend.as_ref(), "set", &changes, &[], create, (dry_run, diff), out)
        }
        Command::Restore { file: None, dry_run } => {
            let (store, config) = cli.store.open()?;
            let wanted = read_doc()?;
            let backend = backend(&config, &store.root)?;
            check_undo(&wanted, backend.as_ref())?;
            let changes: Vec<(String, Given)> =
                wanted.flags.into_iter().map(|(name, value)| (name, Given::Value(value))).collect();
            change(&store, backend.as_ref(), "restore", &changes, &wanted.absent, true, (dry_run, false), out)
        }
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
    changes: &[(String, Given)],
    remove: &[String],
    create: bool,
    (dry_run, diff): (bool, bool),
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
    // Before → after, for a person (the document keeps the before values, the undo).
    let say_diff = |before: &Replaced, after: &dyn Fn(&str) -> String| {
        for name in &changed {
            let was = before.before.get(name).map_or_else(|| "(absent)".to_string(), Value::to_string);
            common::note(&format!("{name}: {was} → {}", after(name)));
        }
    };
    if diff && dry_run {
        let given = |name: &str| match changes.iter().find(|(n, _)| n == name).map(|(_, g)| g) {
            Some(Given::Word(w)) => format!("{w} (as given)"),
            Some(Given::Value(v)) => v.to_string(),
            None => "(removed)".to_string(),
        };
        say_diff(&preview, &given);
    }
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
    let event = Event::ended(&format!("flag-{action}"), result.as_ref().err());
    store.log_or_warn(event.set("flags").snapshot(&undo_id));
    drop(lock);
    let replaced = result?;
    if diff {
        let names: Vec<String> = changes.iter().map(|(n, _)| n.clone()).collect();
        let now = backend.list(&names).unwrap_or_default();
        let after = |name: &str| now.get(name).map_or_else(|| "(absent)".to_string(), Value::to_string);
        say_diff(&replaced, &after);
    }
    common::note(&format!(
        "changed {}; the values before are in {undo_shown} and in this document (rb-flag restore < it undoes)",
        changed.join(", ")
    ));
    out.emit_after_change(
        &doc(replaced, false),
        &Changed::new(
            "the flags were changed",
            format!("`rb-flag restore < {undo_shown}` puts back the values before"),
        ),
    )
}

/// The error for unknown flags.
pub fn unknown(names: &[String]) -> rb_common::error::Error {
    failed(format!(
        "no flag named {}; nothing was changed",
        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    ))
    .hint("rb-flag list shows the flags there are; --create makes a new one")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(kind: &str, nullable: bool, range: Option<(i64, i64)>) -> ValueField {
        let mut v = json!({ "type": "SomeField", "kind": kind, "null": nullable });
        if let Some((min, max)) = range {
            v["min"] = json!(min);
            v["max"] = json!(max);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_backend_is_read_by_name_and_an_unknown_one_kept_for_its_error() {
        let backend = |text: &str| {
            let config = rb_common::config::Config::parse(text, "rollback.toml").unwrap();
            config.section::<FlagsConfig>("flags").unwrap().backend
        };
        assert_eq!(backend(""), FlagsBackend::Django);
        assert_eq!(backend("[flags]\nbackend = \"http\"\n"), FlagsBackend::Http);
        assert_eq!(backend("[flags]\nbackend = \"HTTP\"\n"), FlagsBackend::Unknown("HTTP".into()));
    }

    #[test]
    fn a_rehearsal_value_differs_from_the_current_one_and_stays_in_range() {
        let b = field("boolean", true, None);
        assert_eq!(b.other_than(Some(&json!(true))), json!(false));
        assert_eq!(b.other_than(Some(&json!(false))), json!(true));
        assert_eq!(b.other_than(Some(&Value::Null)), json!(true));
        let positive = field("integer", false, Some((0, 32767)));
        assert_eq!(positive.other_than(Some(&json!(0))), json!(1));
        assert_eq!(positive.other_than(Some(&json!(100))), json!(99));
        assert_eq!(positive.other_than(Some(&json!(32767))), json!(32766));
        assert_eq!(positive.other_than(None), json!(0));
        let signed = field("integer", true, Some((-32768, 32767)));
        assert_eq!(signed.other_than(Some(&json!(-32768))), json!(-32767));
        assert_eq!(signed.other_than(Some(&Value::Null)), json!(0));
        let text = field("text", false, None);
        assert_eq!(text.other_than(Some(&json!("active"))), json!("rb-drill"));
        assert_eq!(text.other_than(Some(&json!("rb-drill"))), json!("rb-drill-2"));
    }

    #[test]
    fn what_a_field_accepts_says_its_type_and_null() {
        assert_eq!(
            field("integer", true, Some((0, 100))).accepts(),
            "a SomeField with null=True takes whole numbers from 0 to 100, or null"
        );
        assert_eq!(
            field("text", false, None).accepts(),
            "a SomeField takes any text; null only with null=True"
        );
    }
}
