//! The documents the tools print, as the tests expect them: the tests' own copy of the
//! contract, not the production types.
//!
//! Every struct names every field its document has and refuses any other
//! (`deny_unknown_fields`), so a field renamed, added or dropped in a tool fails the tests
//! instead of passing through a shared type. Optional fields are `Option` (or empty
//! collections, or `false`) with `#[serde(default)]`: the tools omit them rather than write
//! `null`. [`from_line`] checks the envelope (`rb` and `kind`) and reads the body; [`to_line`]
//! writes one for a tool's stdin.
//!
//! Paths are read as rb shows them: a name that is not UTF-8 arrives as
//! `{"path": escaped, "path_hex": bytes}` and is kept as its escaped text ([`escaped`]), after
//! checking that the hex is the bytes that text stands for.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The document format version the tools write.
pub const FORMAT: u64 = 1;

/// What `show`/`get` print instead of a value unless `--reveal` (rb-envfile, rb-secret).
pub const MASK: &str = "********";

/// A document kind the tests read.
pub trait Document: DeserializeOwned {
    /// The `kind` field's value.
    const KIND: &'static str;
}

/// Reads one line as a document of kind `T`: an object with `rb` 1 and `kind` `T::KIND`,
/// whose other fields are exactly `T`'s.
pub fn from_line<T: Document>(line: &str) -> Result<T, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}: {line}"))?;
    from_value(value)
}

/// [`from_line`] of a parsed value.
pub fn from_value<T: Document>(value: Value) -> Result<T, String> {
    let Value::Object(mut object) = value else {
        return Err(format!("expected a JSON object, got {value}"));
    };
    match object.remove("rb") {
        Some(Value::Number(n)) if n.as_u64() == Some(FORMAT) => {}
        other => return Err(format!("expected \"rb\":{FORMAT}, got {other:?}")),
    }
    match object.remove("kind") {
        Some(Value::String(k)) if k == T::KIND => {}
        other => return Err(format!("expected \"kind\":{:?}, got {other:?}", T::KIND)),
    }
    serde_json::from_value(Value::Object(object)).map_err(|e| format!("a `{}` document: {e}", T::KIND))
}

/// One line (without its newline) holding `doc` with its envelope, fields in `T`'s order.
pub fn to_line<T: Document + Serialize>(doc: &T) -> String {
    let body = serde_json::to_string(doc).unwrap();
    let rest = body.strip_prefix('{').expect("a document is an object");
    let sep = if rest == "}" { "" } else { "," };
    format!("{{\"rb\":{FORMAT},\"kind\":\"{}\"{sep}{rest}", T::KIND)
}

/// How rb shows a file name given as bytes: itself when it is UTF-8, else each byte that is
/// not valid UTF-8 as `\xNN` and a backslash as `\\` (so the escapes are unambiguous).
pub fn escaped(bytes: &[u8]) -> String {
    if let Some(text) = plain(bytes) {
        return text.to_string();
    }
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The name as text when rb writes it as a plain string: UTF-8 without the characters from
/// U+10FF00 up, which rb uses inside to stand for bytes that are not UTF-8.
fn plain(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().filter(|t| !t.chars().any(|c| c as u32 >= 0x10_FF00))
}

/// The escaped text of a `{"path", "path_hex"}` pair, checked: the hex is the bytes the text
/// stands for, and they are not a name rb writes as a plain string.
fn odd_path(path: String, path_hex: &str) -> Result<String, String> {
    let bytes = hex::decode(path_hex).map_err(|e| format!("path_hex of {path:?}: {e}"))?;
    if plain(&bytes).is_some() {
        return Err(format!("{path:?} has a path_hex but is UTF-8: it is written as a plain string"));
    }
    let shown = escaped(&bytes);
    match shown == path {
        true => Ok(shown),
        false => Err(format!("path {path:?} but its path_hex stands for {shown:?}")),
    }
}

/// A path that is not UTF-8, as documents write it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OddPath {
    path: String,
    path_hex: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OnePath {
    Text(String),
    Odd(OddPath),
}

impl OnePath {
    fn text<E: serde::de::Error>(self) -> Result<String, E> {
        match self {
            OnePath::Text(t) => Ok(t),
            OnePath::Odd(o) => odd_path(o.path, &o.path_hex).map_err(E::custom),
        }
    }
}

/// A list of paths, each a string or `{"path", "path_hex"}`, read as escaped text.
fn path_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<OnePath>::deserialize(d)?.into_iter().map(OnePath::text).collect()
}

/// One path, a string or `{"path", "path_hex"}`, read as escaped text.
fn one_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    OnePath::deserialize(d)?.text()
}

// ---------------------------------------------------------------------------------------------
// rb-snapshot, rb-restore

/// The whole manifest: `.rb/manifest.json` in the store, and the `snapshot` document that
/// `rb-snapshot --manifest` prints.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub set: String,
    pub created: String,
    #[serde(deserialize_with = "path_list")]
    pub paths: Vec<String>,
    #[serde(default)]
    pub globs: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub entries: Vec<Entry>,
    #[serde(default, deserialize_with = "path_list")]
    pub missing: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    pub verified: bool,
    #[serde(default)]
    pub legacy: bool,
    #[serde(default)]
    pub undo_for: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub xattrs: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub adhoc: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Document for Manifest {
    const KIND: &'static str = "snapshot";
}

/// The `snapshot` document as the tools print it by default: a summary, no entries.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub id: String,
    pub set: String,
    pub created: String,
    #[serde(deserialize_with = "path_list")]
    pub paths: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// How many entries the manifest in the store has.
    pub entries: u64,
    #[serde(default, deserialize_with = "path_list")]
    pub missing: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    pub verified: bool,
    #[serde(default)]
    pub legacy: bool,
    #[serde(default)]
    pub undo_for: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub adhoc: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Document for Summary {
    const KIND: &'static str = "snapshot";
}

/// Permission bits, written as octal text (`"0644"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.len() == 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            true => Ok(Mode(u32::from_str_radix(&text, 8).unwrap())),
            false => Err(D::Error::custom(format!("mode {text:?} is not four octal digits"))),
        }
    }
}

/// A time with nanoseconds, written as RFC 3339 UTC (`2025-10-13T12:00:00.123456789Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mtime {
    pub secs: i64,
    pub nanos: u32,
}

impl<'de> Deserialize<'de> for Mtime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if !text.ends_with('Z') {
            return Err(D::Error::custom(format!("mtime {text:?} is not UTC")));
        }
        let t = chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|e| D::Error::custom(format!("mtime {text:?}: {e}")))?;
        Ok(Mtime { secs: t.timestamp(), nanos: t.timestamp_subsec_nanos() })
    }
}

/// What an entry is, with its type's own fields (`"type"` and those fields, flat in the entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { mode: Mode, size: u64, sha256: Option<String> },
    Dir { mode: Mode, shallow: bool },
    Symlink { target: String },
    Fifo { mode: Mode },
    Char { mode: Mode, rdev: u64 },
    Block { mode: Mode, rdev: u64 },
}

/// One recorded file-system object of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "FlatEntry")]
pub struct Entry {
    /// As rb shows it ([`escaped`] for a name that is not UTF-8).
    pub path: String,
    pub node: Node,
    pub mtime: Mtime,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub ino: Option<u64>,
    pub ctime: Option<Mtime>,
    /// Values in hex.
    pub xattrs: BTreeMap<String, String>,
    pub link: Option<String>,
    pub sparse: bool,
}

/// An entry as the JSON has it: path and type-specific fields flat beside the others (serde
/// cannot refuse unknown fields through `flatten`, hence this and a conversion).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatEntry {
    path: String,
    #[serde(default)]
    path_hex: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    shallow: Option<bool>,
    #[serde(default, deserialize_with = "some_path")]
    target: Option<String>,
    #[serde(default)]
    rdev: Option<u64>,
    mtime: Mtime,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    gid: Option<u32>,
    #[serde(default)]
    ino: Option<u64>,
    #[serde(default)]
    ctime: Option<Mtime>,
    #[serde(default)]
    xattrs: BTreeMap<String, String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    sparse: Option<bool>,
}

fn some_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    one_path(d).map(Some)
}

impl TryFrom<FlatEntry> for Entry {
    type Error = String;

    fn try_from(e: FlatEntry) -> Result<Entry, String> {
        let path = match e.path_hex {
            Some(hex) => odd_path(e.path, &hex)?,
            None => e.path,
        };
        let what = |field: &str| format!("{path}: a {} entry has no {field}", e.kind);
        let only = |allowed: &[&str]| -> Result<(), String> {
            let present = [
                ("mode", e.mode.is_some()),
                ("size", e.size.is_some()),
                ("sha256", e.sha256.is_some()),
                ("shallow", e.shallow.is_some()),
                ("target", e.target.is_some()),
                ("rdev", e.rdev.is_some()),
            ];
            match present.iter().find(|(name, there)| *there && !allowed.contains(name)) {
                Some((name, _)) => Err(format!("{path}: a {} entry with a {name} field", e.kind)),
                None => Ok(()),
            }
        };
        let mode = || e.mode.ok_or_else(|| what("mode"));
        let rdev = || e.rdev.ok_or_else(|| what("rdev"));
        let node = match e.kind.as_str() {
            "file" => {
                only(&["mode", "size", "sha256"])?;
                Node::File {
                    mode: mode()?,
                    size: e.size.ok_or_else(|| what("size"))?,
                    sha256: e.sha256.clone(),
                }
            }
            "dir" => {
                only(&["mode", "shallow"])?;
                if e.shallow == Some(false) {
                    return Err(format!("{path}: \"shallow\":false is omitted, not written"));
                }
                Node::Dir { mode: mode()?, shallow: e.shallow.unwrap_or(false) }
            }
            "symlink" => {
                only(&["target"])?;
                Node::Symlink { target: e.target.clone().ok_or_else(|| what("target"))? }
            }
            "fifo" => {
                only(&["mode"])?;
                Node::Fifo { mode: mode()? }
            }
            "char" => {
                only(&["mode", "rdev"])?;
                Node::Char { mode: mode()?, rdev: rdev()? }
            }
            "block" => {
                only(&["mode", "rdev"])?;
                Node::Block { mode: mode()?, rdev: rdev()? }
            }
            other => return Err(format!("{path}: unknown entry type {other:?}")),
        };
        if e.sparse == Some(false) {
            return Err(format!("{path}: \"sparse\":false is omitted, not written"));
        }
        Ok(Entry {
            path,
            node,
            mtime: e.mtime,
            uid: e.uid,
            gid: e.gid,
            ino: e.ino,
            ctime: e.ctime,
            xattrs: e.xattrs,
            link: e.link,
            sparse: e.sparse.unwrap_or(false),
        })
    }
}

/// The `restore` document (`rb-restore`; inside `nginx` documents too, without envelope).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RestoreDoc {
    pub snapshot: String,
    pub set: String,
    #[serde(default)]
    pub undo: Option<String>,
    #[serde(deserialize_with = "path_list")]
    pub created: Vec<String>,
    #[serde(deserialize_with = "path_list")]
    pub modified: Vec<String>,
    #[serde(deserialize_with = "path_list")]
    pub removed: Vec<String>,
    pub verified: bool,
    #[serde(default)]
    pub check: Option<String>,
    pub dry_run: bool,
    #[serde(default, deserialize_with = "path_list")]
    pub only: Vec<String>,
    #[serde(default)]
    pub aborted: Option<String>,
    #[serde(default)]
    pub cleaned: Vec<String>,
}

impl Document for RestoreDoc {
    const KIND: &'static str = "restore";
}

/// The `snapshot-diff` document (`rb-snapshot diff`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotDiff {
    pub from: String,
    pub to: String,
    #[serde(deserialize_with = "path_list")]
    pub added: Vec<String>,
    #[serde(deserialize_with = "path_list")]
    pub removed: Vec<String>,
    #[serde(deserialize_with = "path_list")]
    pub modified: Vec<String>,
    #[serde(deserialize_with = "path_list")]
    pub meta: Vec<String>,
    pub verified: bool,
}

impl Document for SnapshotDiff {
    const KIND: &'static str = "snapshot-diff";
}

impl SnapshotDiff {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty() && self.meta.is_empty()
    }
}

/// The `prune` document (`rb-snapshot prune`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PruneDoc {
    #[serde(default)]
    pub keep: Option<usize>,
    #[serde(default)]
    pub keep_within: Option<String>,
    #[serde(default)]
    pub set: Option<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
    pub freed_bytes: u64,
    pub dry_run: bool,
}

impl Document for PruneDoc {
    const KIND: &'static str = "prune";
}

/// An `event` of the audit log, `backups/rollback.log` (one a line, from every tool).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub time: String,
    pub tool: String,
    pub action: String,
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub set: Option<String>,
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub undo: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub report: Option<String>,
    pub pid: u32,
}

impl Document for Event {
    const KIND: &'static str = "event";
}

// ---------------------------------------------------------------------------------------------
// rb-nginx

/// The `nginx` document (`rb-nginx test`, `reload`, `restore`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NginxDoc {
    pub action: String,
    pub ok: bool,
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub restore: Option<RestoreDoc>,
    pub steps: Vec<NginxStep>,
    pub dry_run: bool,
}

impl Document for NginxDoc {
    const KIND: &'static str = "nginx";
}

/// One step of an [`NginxDoc`].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NginxStep {
    pub step: String,
    pub ok: bool,
    #[serde(default)]
    pub command: Option<String>,
    pub detail: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// rb-envfile

/// The `envfile` document (`rb-envfile`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvDoc {
    pub id: String,
    pub path: String,
    pub names: Vec<String>,
    pub unset: Vec<String>,
    #[serde(default)]
    pub skipped: Vec<String>,
    #[serde(default)]
    pub values: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub diff: Option<EnvDiff>,
    pub legacy: bool,
    pub revealed: bool,
    pub dry_run: bool,
}

impl Document for EnvDoc {
    const KIND: &'static str = "envfile";
}

/// `rb-envfile diff`: what changed since a backup.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    #[serde(default)]
    pub values: Vec<EnvChange>,
}

/// A variable with both values (`rb-envfile diff --reveal`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvChange {
    pub name: String,
    #[serde(default)]
    pub backup: Option<String>,
    #[serde(default)]
    pub current: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// rb-migrate

/// One migration of an app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    pub name: String,
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
}

/// An app's migrations, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppState {
    pub app: String,
    pub migrations: Vec<Migration>,
}

impl AppState {
    /// The last applied migration, or `zero` when none is.
    pub fn position(&self) -> String {
        self.migrations
            .iter()
            .rev()
            .find(|m| m.applied)
            .map_or_else(|| "zero".to_string(), |m| m.name.clone())
    }
}

/// The `migration-state` document (`rb-migrate status`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MigrationState {
    pub apps: Vec<AppState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl Document for MigrationState {
    const KIND: &'static str = "migration-state";
}

impl MigrationState {
    /// The app labelled `app`.
    pub fn app(&self, app: &str) -> Result<&AppState, String> {
        self.apps.iter().find(|a| a.app == app).ok_or_else(|| format!("no app {app:?} in {self:?}"))
    }
}

/// One step of a migration plan or rollback.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    pub migration: String,
    pub app: String,
    pub name: String,
    pub direction: String,
    pub irreversible: bool,
    pub data_only: bool,
    pub operations: Vec<String>,
    pub faked: bool,
    pub atomic: bool,
    #[serde(default)]
    pub loss: Vec<Loss>,
}

/// Data a reversal loses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Loss {
    pub operation: String,
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub rows: Option<u64>,
    pub why: String,
}

/// A step that failed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    #[serde(default)]
    pub migration: Option<String>,
    #[serde(default)]
    pub operation: Option<String>,
    pub error: String,
}

/// `plan --rehearse`: the plan run in a transaction that was rolled back.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rehearsal {
    pub ok: bool,
    pub engine: String,
    #[serde(default)]
    pub failed: Option<Failure>,
}

/// The `migration-plan` document (`rb-migrate plan`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MigrationPlan {
    pub app: String,
    pub target: String,
    pub steps: Vec<PlanStep>,
    pub irreversible: Vec<String>,
    #[serde(default)]
    pub not_atomic: Vec<String>,
    #[serde(default)]
    pub rehearsal: Option<Rehearsal>,
}

impl Document for MigrationPlan {
    const KIND: &'static str = "migration-plan";
}

/// A database backup taken before migrating.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DbBackup {
    pub id: String,
    pub path: String,
    pub engine: String,
}

/// The `migration-rollback` document (`rb-migrate rollback`, `apply`, `restore-db`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MigrationRollback {
    pub action: String,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    pub before: MigrationState,
    #[serde(default)]
    pub after: Option<MigrationState>,
    pub steps: Vec<PlanStep>,
    pub faked: Vec<String>,
    #[serde(default)]
    pub backup: Option<DbBackup>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub failed: Option<Failure>,
    #[serde(default)]
    pub restored: Option<DbBackup>,
    pub dry_run: bool,
}

impl Document for MigrationRollback {
    const KIND: &'static str = "migration-rollback";
}

// ---------------------------------------------------------------------------------------------
// rb-flag

/// The `flags` document (`rb-flag`); for `set`/`restore`, the values before the change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FlagsDoc {
    pub backend: String,
    pub action: String,
    pub flags: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    pub dry_run: bool,
}

impl Document for FlagsDoc {
    const KIND: &'static str = "flags";
}

// ---------------------------------------------------------------------------------------------
// rb-secret

/// The `secret` document (`rb-secret`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretDoc {
    pub backend: String,
    pub action: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub secrets: Vec<SecretInfo>,
    #[serde(default)]
    pub versions: Vec<SecretVersion>,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub load: Option<String>,
    pub revealed: bool,
    pub dry_run: bool,
}

impl Document for SecretDoc {
    const KIND: &'static str = "secret";
}

/// A secret in a listing.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretInfo {
    pub name: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub changed: Option<String>,
}

/// One version of a secret.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretVersion {
    pub id: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub stages: Vec<String>,
    pub current: bool,
}

// ---------------------------------------------------------------------------------------------
// rb-deploy

/// The `deploy-state` document (`rb-deploy`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeployState {
    pub target: String,
    pub action: String,
    #[serde(default)]
    pub current: Option<Revision>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub differs: Vec<String>,
    #[serde(default)]
    pub revisions: Vec<Revision>,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub health: Option<Health>,
    pub dry_run: bool,
}

impl Document for DeployState {
    const KIND: &'static str = "deploy-state";
}

/// A revision one can deploy.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    pub id: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    pub current: bool,
}

/// A container of the docker stack.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub service: String,
    pub id: String,
    pub image: String,
    pub image_id: String,
    pub state: String,
    #[serde(default)]
    pub health: Option<String>,
    #[serde(default)]
    pub config_hash: String,
}

impl Container {
    /// Runs, and is healthy where it has a health check.
    pub fn ready(&self) -> bool {
        self.state == "running" && self.health.as_deref().is_none_or(|h| h == "healthy")
    }
}

/// The health check at the end of a change.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub url: String,
    pub ok: bool,
    pub attempts: u32,
    pub last: String,
}

// ---------------------------------------------------------------------------------------------
// rb-emergency

/// The `report` document (`rb-emergency`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    #[serde(default)]
    pub id: Option<String>,
    pub action: String,
    pub ok: bool,
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub undo: Option<String>,
    pub steps: Vec<ReportStep>,
    #[serde(default)]
    pub metrics: Option<Value>,
    pub dry_run: bool,
}

impl Document for Report {
    const KIND: &'static str = "report";
}

/// One step of a [`Report`].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReportStep {
    pub name: String,
    pub action: String,
    pub status: String,
    pub duration_ms: u64,
    #[serde(default)]
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESTORE: &str = r#"{"rb":1,"kind":"restore","snapshot":"config_X","set":"config","created":[],"modified":["a"],"removed":[{"path":"data/caf\\xe9.txt","path_hex":"646174612f636166e92e747874"}],"verified":true,"dry_run":false}"#;

    #[test]
    fn a_document_is_read_with_its_envelope_and_odd_paths_escaped() {
        let doc: RestoreDoc = from_line(RESTORE).unwrap();
        assert_eq!(doc.removed, [escaped(b"data/caf\xe9.txt")]);
        assert_eq!(doc.removed, ["data/caf\\xe9.txt"]);
        assert_eq!(doc.undo, None);
    }

    #[test]
    fn a_field_the_tests_do_not_know_fails_them() {
        let extra = RESTORE.replacen("\"verified\"", "\"renamed\":true,\"verified\"", 1);
        let e = from_line::<RestoreDoc>(&extra).unwrap_err();
        assert!(e.contains("unknown field `renamed`"), "{e}");
        let entry = r#"{"rb":1,"kind":"snapshot","id":"x","set":"x","created":"c","paths":[],"entries":[{"path":"a","type":"file","mode":"0644","size":1,"mtime":"2025-10-13T12:00:00Z","colour":1}],"files":1,"bytes":1,"verified":true}"#;
        let e = from_line::<Manifest>(entry).unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn the_envelope_is_checked() {
        assert!(from_line::<PruneDoc>(RESTORE).unwrap_err().contains("\"kind\":\"prune\""));
        let v2 = RESTORE.replacen("\"rb\":1", "\"rb\":2", 1);
        assert!(from_line::<RestoreDoc>(&v2).unwrap_err().contains("\"rb\":1"));
        let bad_hex = RESTORE.replacen("636166e9", "636166e8", 1);
        assert!(from_line::<RestoreDoc>(&bad_hex).is_err());
    }

    #[test]
    fn to_line_writes_the_envelope_first() {
        let doc = FlagsDoc { backend: "django".into(), action: "list".into(), ..FlagsDoc::default() };
        let line = to_line(&doc);
        assert_eq!(
            line,
            r#"{"rb":1,"kind":"flags","backend":"django","action":"list","flags":{},"dry_run":false}"#
        );
        assert_eq!(from_line::<FlagsDoc>(&line).unwrap(), doc);
    }
}
