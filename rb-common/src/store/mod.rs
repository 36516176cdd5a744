//! The backups store: snapshot ids, finding a snapshot (`latest`, an id, a path), the lock,
//! the audit log, and publishing new snapshots.
//!
//! Layout (`docs/design.md`, "The store"):
//!
//! ```text
//! backups/
//!   config_20251013_120000/   a snapshot (files + .rb/manifest.json + .rb/SHA256SUMS)
//!   undo_20251013_120501/     what a restore replaced
//!   latest -> config_…        newest complete snapshot that is not an undo
//!   rollback.log              audit log, JSON Lines `event` documents
//!   .rb/lock                  the lock; .rb/tmp/ snapshots being built
//! ```
//!
//! The seed's own backups (flattened `config_X/`, `nginx_X/`, `docker-compose_X.yml`, a
//! hand-made `latest/` folder) sit in the same folder and are read as legacy snapshots by
//! [`crate::legacy`].

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::doc::{self, Document};
use crate::error::{Context, Error, Result, failed, partial, usage};
use crate::fsx;
use crate::journal;
pub mod legacy;

use crate::lock::Lock;
use crate::manifest::{Entry, MANIFEST, META_DIR, Manifest, UNDO_SET};
pub use crate::manifest::{check_id, check_manifest, check_xattr_names, parse_id};
use crate::paths;
use legacy::LegacyKind;

/// How a snapshot removed by a prune is named in `.rb/tmp/` until it is deleted.
const PRUNED: &str = ".pruned";

/// The store folder's name under the project root.
pub const DEFAULT_DIR: &str = "backups";
/// The audit log's name in the store.
pub const LOG: &str = "rollback.log";
/// The link to the newest snapshot.
pub const LATEST: &str = "latest";
/// The argument naming the newest snapshot tagged [`GOOD`] (accepted wherever `latest` is).
pub const LATEST_GOOD: &str = "latest-good";
/// The tag `latest-good` looks for.
pub const GOOD: &str = "good";
/// A snapshot's tags, one a line, in its `.rb` folder (never in the manifest: tags change
/// after a snapshot is taken, and the manifest and its sums never do).
pub const TAGS: &str = "tags";
/// The first line of an environment file rb-envfile wrote; the old scripts' `env > file`
/// backups have the same names and no such line, and prune never touches them.
pub const ENVFILE_HEADER: &str = "# rb-envfile 1";
/// The file in the store's `.rb` folder that names the project root it belongs to.
pub const ROOT_MARKER: &str = "root";
/// The journal of a restore in progress, in the store's `.rb` folder.
pub const JOURNAL: &str = "journal.json";
/// The journal of a migration rollback in progress (rb-migrate's `migration-rollback`
/// document, written before its first step), in the store's `.rb` folder.
pub const MIGRATION_JOURNAL: &str = "migration.json";

/// A snapshot found in the store: its manifest and where its files are.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The manifest (synthesized for legacy backups).
    pub manifest: Manifest,
    /// The snapshot's folder (or, for a legacy single-file backup, that file).
    pub dir: PathBuf,
    /// For legacy backups: where each file entry's content is, by entry path.
    pub sources: std::collections::BTreeMap<String, PathBuf>,
    /// For legacy backups: what the folder holds that rb does not know where to put.
    pub ignored: Vec<String>,
    /// The paths a restore of it is limited to ([`crate::restore::narrow`], `--only`);
    /// empty for the whole snapshot.
    pub only: Vec<String>,
    /// Set when only the manifest's head was loaded ([`Load::Head`]): the manifest file whose
    /// entries [`Snapshot::each_entry`] reads as it goes; `manifest.entries` is then empty.
    pub streamed: Option<PathBuf>,
}

/// How much of a manifest [`Store::load_as`] keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Everything, entries too.
    Whole,
    /// Its fields but the entries, which stay in the file ([`Snapshot::each_entry`]): a
    /// restore of 100,000 files does not hold 100,000 entries. A legacy backup's synthesized
    /// manifest is always whole.
    Head,
}

impl Snapshot {
    /// Calls `each` with every entry, in path order: from memory, or read from the manifest
    /// file as it goes when only the head was loaded, checked again on the way (order, paths,
    /// nothing below a non-folder: what the planner relies on; the load checked the rest). A
    /// snapshot pruned since it was loaded is "no snapshot X" (exit 1).
    pub fn each_entry(&self, each: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
        let Some(path) = &self.streamed else {
            return self.manifest.entries.iter().try_for_each(each);
        };
        // Named as the load names it: relative to where rb runs, when it is below.
        let shown = paths::shown(path);
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.check_present()?;
                return Err(failed(format!("reading {shown}: {e}")));
            }
            Err(e) => return Err(failed(format!("reading {shown}: {e}"))),
        };
        let mut checker = crate::manifest::Checker::default();
        let (head, _) = crate::manifest::stream::read_stored(file, &shown, &mut |e| {
            checker.entry(&e).map_err(|e| e.context(&shown))?;
            each(&e)
        })?;
        if head.id != self.manifest.id {
            return Err(failed(format!("{shown} names snapshot {:?}, not {}", head.id, self.manifest.id)));
        }
        Ok(())
    }

    /// This snapshot with its entries in memory (read from the manifest file when only its
    /// head was loaded), for what looks entries up: `--only`, `--diff`.
    pub fn with_entries(&self) -> Result<std::borrow::Cow<'_, Snapshot>> {
        if self.streamed.is_none() {
            return Ok(std::borrow::Cow::Borrowed(self));
        }
        let mut entries = Vec::new();
        self.each_entry(&mut |e| {
            entries.push(e.clone());
            Ok(())
        })?;
        let manifest = Manifest { entries, ..self.manifest.clone() };
        Ok(std::borrow::Cow::Owned(Snapshot { manifest, streamed: None, ..self.clone() }))
    }

    /// The file holding the content of entry `rel`.
    pub fn source(&self, rel: &str) -> PathBuf {
        self.sources.get(rel).cloned().unwrap_or_else(|| paths::under(&self.dir, rel))
    }

    /// Refuses (exit 1, "no snapshot X") a snapshot that is no longer in the store: a prune
    /// (which renames a snapshot out of the store whole, under the lock) removed it after it
    /// was loaded. A reader whose files went missing asks this first, so that a pruned
    /// snapshot is never reported damaged.
    pub fn check_present(&self) -> Result<()> {
        let there = if self.manifest.legacy {
            fs::symlink_metadata(&self.dir).is_ok()
        } else {
            self.dir.join(META_DIR).join(MANIFEST).is_file()
        };
        if there {
            return Ok(());
        }
        let store = self.dir.parent().map(paths::shown).unwrap_or_default();
        Err(failed(format!(
            "no snapshot {} in {store}: it was removed (by rb-snapshot prune?) while this ran; nothing was changed",
            self.manifest.id
        ))
        .hint("rb-snapshot list shows what there is"))
    }
}

/// A test-only pause: with the `failpoints` feature, `FAILPOINTS=NAME=return(PATH)` makes
/// the process create `PATH.waiting` and wait (up to a minute) until PATH exists, so a test
/// can run something else at exactly this point. Without the feature it does nothing.
pub fn pause_point(name: &str) {
    #[cfg(feature = "failpoints")]
    fail::eval(name, |arg| {
        let Some(path) = arg.map(PathBuf::from) else { return };
        let _ = fs::write(path.with_extension("waiting"), b"");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !path.exists() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let _ = name;
}

/// How a store listing found a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Made by rb: it has a manifest.
    Rb,
    /// Made by the seed's scripts.
    Legacy(LegacyKind),
}

/// One snapshot in a listing, before its manifest is read.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// The set, from the id.
    pub set: String,
    /// `YYYYMMDD_HHMMSS` from the id, for ordering.
    pub stamp: String,
    /// The clash suffix (`-2` → 2; 1 when there is none).
    pub suffix: u32,
    /// Who made it.
    pub origin: Origin,
}

/// What a prune keeps of each set (or kind of file): the newest `keep`, and those taken
/// within `within` of now. One that either rule keeps is kept (as restic's `--keep-last` and
/// `--keep-within` combine).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Keep the newest N.
    pub keep: Option<usize>,
    /// Keep those younger than this.
    pub within: Option<chrono::Duration>,
}

/// What a prune removes and keeps: names of store entries (a snapshot folder's id, or a
/// file's name such as `db_20251013_120000.sqlite3`).
#[derive(Debug, Clone, Default)]
pub struct PrunePlan {
    /// Names to remove, oldest first within each set.
    pub remove: Vec<String>,
    /// Names kept.
    pub keep: Vec<String>,
    /// Names kept although the rules would remove them, with why.
    pub protected: Vec<(String, String)>,
    /// Bytes the removal frees: files whose every hard link is removed with it.
    pub freed: u64,
}

/// A file rb writes into the store beside the snapshots, which a prune covers.
#[derive(Debug, Clone)]
pub struct RbFile {
    /// Its name in the store (`db_20251013_120000.sqlite3`).
    pub name: String,
    /// Its id: the name without the extension.
    pub id: String,
    /// What kind: `db`, `env`, `flags`, `report`, `migration`.
    pub set: String,
    /// `YYYYMMDD_HHMMSS` from the id.
    pub stamp: String,
    /// The clash suffix.
    pub suffix: u32,
}

/// The files rb writes into the store, by prefix and extension: database backups
/// (rb-migrate), environment files (rb-envfile, only with [`ENVFILE_HEADER`]), feature-flag
/// states (rb-flag), reports (rb-emergency) and migration documents (rb-migrate).
const RB_FILES: &[(&str, &str)] = &[
    ("db", "sqlite3"),
    ("db", "dump"),
    ("env", "env"),
    ("flags", "json"),
    ("report", "json"),
    ("migration", "json"),
];

/// Checks a tag: letters, digits, `.`, `_`, `-`, at most 64, not starting with `-`.
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && !tag.starts_with('-')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        return Ok(());
    }
    Err(usage(format!("{tag:?} is not a tag: tags are letters, digits, `.`, `_` and `-` (such as good)")))
}

/// Refuses (exit 2) to tag a backup of the old scripts: its folder has no `.rb/` of rb's.
pub fn check_taggable(snap: &Snapshot) -> Result<()> {
    if !snap.manifest.legacy {
        return Ok(());
    }
    Err(usage(format!("{} was made by the old scripts: rb tags only its own snapshots", snap.manifest.id))
        .hint("take a snapshot with rb-snapshot and tag that"))
}

/// Every string in a JSON value: what a journal refers to (snapshot, undo and backup ids).
fn strings(value: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::String(s) => {
            out.insert(s.clone());
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The store and the project root it backs up.
#[derive(Debug, Clone)]
pub struct Store {
    /// The project root: every path in a snapshot is relative to it.
    pub root: PathBuf,
    /// The backups folder.
    pub dir: PathBuf,
    /// The tool that uses it, for events.
    pub tool: String,
    warned_latest: Cell<bool>,
}

/// An audit-log record: `{"rb":1,"kind":"event",…}` in `rollback.log`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    /// When, RFC 3339.
    pub time: String,
    /// The tool (`rb-restore`).
    pub tool: String,
    /// What it did (`snapshot`, `restore`, `undo`).
    pub action: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// `ROLLBACK SUCCESS` / `ROLLBACK FAILED` for rollbacks, `SNAPSHOT SUCCESS` / `SNAPSHOT
    /// FAILED` for backups, so the seed's `grep "ROLLBACK SUCCESS"` counts rollbacks only.
    pub message: String,
    /// The set concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// The snapshot taken or restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The undo snapshot of a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The report of a run that had one (rb-emergency: `report_<time>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The process that did it.
    pub pid: u32,
}

impl Document for Event {
    const KIND: &'static str = "event";
    const SOURCE: &'static str = "the audit log backups/rollback.log";
}

impl Event {
    /// An event for `action`; `time` and `tool` are filled in by [`Store::log`].
    pub fn new(action: &str, ok: bool) -> Self {
        Event {
            time: String::new(),
            tool: String::new(),
            action: action.to_string(),
            ok,
            message: if ok { "ROLLBACK SUCCESS" } else { "ROLLBACK FAILED" }.to_string(),
            set: None,
            snapshot: None,
            undo: None,
            error: None,
            report: None,
            pid: std::process::id(),
        }
    }

    /// The event of an action that ended with `error`, or without one: `ok` and the
    /// `ROLLBACK` message follow from it, and the error is recorded. Callers with a `Result`
    /// pass `result.as_ref().err()`.
    pub fn ended(action: &str, error: Option<&Error>) -> Self {
        match error {
            None => Event::new(action, true),
            Some(e) => Event::new(action, false).error(e),
        }
    }

    /// Replaces the message with `success` or `failure`, as the event is ok or not: a backup
    /// (`SNAPSHOT SUCCESS`) or a reload is not a rollback.
    #[must_use]
    pub fn messages(self, success: &str, failure: &str) -> Self {
        let m = if self.ok { success } else { failure };
        self.message(m)
    }

    /// Replaces the message.
    #[must_use]
    pub fn message(mut self, m: &str) -> Self {
        self.message = m.to_string();
        self
    }

    /// Names the set.
    #[must_use]
    pub fn set(mut self, s: &str) -> Self {
        self.set = Some(s.to_string());
        self
    }

    /// Names the snapshot.
    #[must_use]
    pub fn snapshot(mut self, id: &str) -> Self {
        self.snapshot = Some(id.to_string());
        self
    }

    /// Names the undo snapshot.
    #[must_use]
    pub fn undo(mut self, id: Option<&str>) -> Self {
        self.undo = id.map(str::to_string);
        self
    }

    /// Names the report.
    #[must_use]
    pub fn report(mut self, id: &str) -> Self {
        self.report = Some(id.to_string());
        self
    }

    /// Records the error.
    #[must_use]
    pub fn error(mut self, e: &Error) -> Self {
        self.error = Some(e.message().to_string());
        self
    }
}

impl Store {
    /// A store at `dir` for the project at `root`, used by `tool`.
    pub fn new(root: PathBuf, dir: PathBuf, tool: &str) -> Self {
        Store { root, dir, tool: tool.to_string(), warned_latest: Cell::new(false) }
    }

    /// The store as the user would type it: relative to the root when inside it.
    pub fn shown(&self) -> String {
        match self.dir.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => self.dir.display().to_string(),
        }
    }

    /// The store's path relative to the root when the store is inside the project (the
    /// default `backups`): snapshots and restores never reach into it.
    pub fn rel_in_root(&self) -> Option<String> {
        let dir = match self.dir.canonicalize() {
            Ok(d) => d,
            Err(_) => match (self.dir.parent().and_then(|p| p.canonicalize().ok()), self.dir.file_name()) {
                (Some(parent), Some(name)) => parent.join(name),
                _ => self.dir.clone(),
            },
        };
        let rel = dir.strip_prefix(&self.root).ok()?.to_str()?;
        (!rel.is_empty()).then(|| rel.to_string())
    }

    fn meta_dir(&self) -> PathBuf {
        self.dir.join(META_DIR)
    }

    /// Takes the store's lock for a change (creating the store if needed): exit 4 if another
    /// process holds it, exit 3 while an interrupted restore is pending (its journal names
    /// what to do: `rb-restore --resume` or `--abort`).
    pub fn lock(&self) -> Result<Lock> {
        let lock = self.lock_even_if_pending()?;
        if let Some(why) = self.journal_damage() {
            return Err(self.damaged_journal(&why, crate::error::Kind::Partial));
        }
        if let Some(pending) = self.pending()? {
            return Err(partial(
                format!(
                    "an interrupted restore of {} is pending ({}/{META_DIR}/{JOURNAL}); nothing else changes until it is finished or undone",
                    pending.0,
                    self.shown()
                ),
                format!(
                    "run `rb-restore --resume` to finish it, or `rb-restore --abort` to put back what was there (from {}){}",
                    pending.1,
                    pending.2.map(|a| format!("; then {a}")).unwrap_or_default()
                ),
            ));
        }
        if self.migration_journal_path().exists() {
            return Err(partial(
                format!(
                    "an interrupted migration rollback is pending ({}/{META_DIR}/{MIGRATION_JOURNAL}); nothing else changes until it is finished or undone",
                    self.shown()
                ),
                "run `rb-migrate rollback --resume` to finish it, or `rb-migrate rollback --abort` to go back to where it started (rb-migrate status says where it stopped)",
            ));
        }
        Ok(lock)
    }

    /// Where the journal of a migration rollback in progress is.
    pub fn migration_journal_path(&self) -> PathBuf {
        self.meta_dir().join(MIGRATION_JOURNAL)
    }

    /// Takes the lock whether or not a restore is pending: for `--resume` and `--abort`.
    pub fn lock_even_if_pending(&self) -> Result<Lock> {
        let since = clock::rfc3339(&clock::now()?);
        let meta = self.meta_dir();
        self.check_trusted()?;
        fsx::create_dirs(&meta)?;
        fsx::check_trusted(&meta, &format!("{}/{META_DIR}", self.shown()))?;
        let lock = Lock::acquire(&meta.join("lock"), &self.tool, &since)?;
        let marker = meta.join(ROOT_MARKER);
        if !marker.exists() {
            fsx::atomic_write(&marker, format!("{}\n", self.root.display()).as_bytes(), fsx::Mode(0o644))?;
        }
        Ok(lock)
    }

    /// Refuses (exit 2) a store given with `--store` / `RB_STORE` that belongs to another
    /// project root than this one: its paths would land in the wrong folder. A store in its
    /// default place (`ROOT/backups`) always belongs to its root, even after a move.
    pub fn check_root(&self) -> Result<()> {
        if self.dir == self.root.join(DEFAULT_DIR) {
            return Ok(());
        }
        let Ok(recorded) = fs::read_to_string(self.meta_dir().join(ROOT_MARKER)) else { return Ok(()) };
        let recorded = recorded.trim_end_matches('\n');
        if Path::new(recorded) != self.root {
            return Err(usage(format!(
                "the store {} belongs to the project at {recorded}, not {}",
                self.dir.display(),
                self.root.display()
            ))
            .hint(format!("run from {recorded}, or pass --root {recorded}")));
        }
        Ok(())
    }

    /// Refuses (exit 2), when run as root, a store folder that another user can change.
    pub fn check_trusted(&self) -> Result<()> {
        fsx::check_trusted(&self.dir, &self.shown())
    }

    /// Where the journal of a restore in progress is.
    pub fn journal_path(&self) -> PathBuf {
        self.meta_dir().join(JOURNAL)
    }

    /// The snapshot and undo ids of a pending (interrupted) restore, and what must follow it
    /// (the journal's `after`), if there is one. A journal that cannot say them (damaged) is
    /// pending too, with the newest undo and its snapshot: what `--abort UNDO_ID` puts back.
    pub fn pending(&self) -> Result<Option<(String, String, Option<String>)>> {
        match self.journal() {
            Ok(None) => Ok(None),
            Ok(Some(j)) => Ok(Some((j.snapshot, j.undo, j.after))),
            Err(e) if !self.journal_path().exists() => Err(e),
            Err(_) => {
                let (undo, of) = self.newest_undo().unwrap_or_default();
                let unknown = || "?".to_string();
                Ok(Some((of.unwrap_or_else(unknown), if undo.is_empty() { unknown() } else { undo }, None)))
            }
        }
    }

    /// The journal of a pending restore, read and typed ([`crate::journal::read`]): `None` when
    /// there is none; an error (kind Failed) saying what is wrong with one that is damaged.
    /// Its paths are not checked here: the restore engine checks them before it acts.
    pub fn journal(&self) -> Result<Option<journal::Journal>> {
        journal::read(&self.journal_path(), &format!("{}/{META_DIR}/{JOURNAL}", self.shown()))
    }

    /// Why the journal of a restore cannot be read, when it is there and cannot (emptied,
    /// cut short, not a journal).
    pub fn journal_damage(&self) -> Option<String> {
        match self.journal() {
            Err(e) if self.journal_path().exists() => Some(e.message().to_string()),
            _ => None,
        }
    }

    /// The error for a restore journal that cannot be read (`why`): it cannot say what to
    /// finish or undo, so the way out is the newest undo snapshot, named.
    pub fn damaged_journal(&self, why: &str, kind: crate::error::Kind) -> Error {
        Error::new(
            kind,
            format!("the journal of an interrupted restore is damaged ({why}): it cannot say what to finish or undo"),
        )
        .hint(self.abort_hint())
    }

    /// What puts back the newest undo snapshot: the way out of a journal that cannot be read.
    /// The undo is taken just before its journal is written, and nothing else changes the
    /// store while a journal stands, so the newest undo is the interrupted restore's.
    pub fn abort_hint(&self) -> String {
        match self.newest_undo() {
            Some((undo, of)) => {
                format!(
                    "`rb-restore --abort {undo}` puts back the newest undo{} exactly, then removes the files the restore staged and the journal",
                    of.map(|o| format!(" (taken before restoring {o})")).unwrap_or_default()
                )
            }
            None => format!(
                "there is no undo snapshot in {}, so no restore changed anything: remove {}/{META_DIR}/{JOURNAL}",
                self.shown(),
                self.shown()
            ),
        }
    }

    /// The newest undo snapshot's id and the snapshot it was taken before restoring.
    fn newest_undo(&self) -> Option<(String, Option<String>)> {
        let undo = self.list().ok()?.into_iter().rev().find(|l| l.set == UNDO_SET)?;
        let of = self.load(&undo.id).ok().and_then(|s| s.manifest.undo_for);
        Some((undo.id, of))
    }

    /// Appends `event` to the audit log; a log that cannot be written is a warning, never a
    /// reason to misreport what was done.
    pub fn log_or_warn(&self, event: Event) {
        if let Err(e) = self.log(event) {
            crate::ui::warn(&format!("could not write the audit log: {}", e.message()));
        }
    }

    /// Appends `event` to the audit log, filling in the time and the tool.
    pub fn log(&self, mut event: Event) -> Result<()> {
        event.time = clock::rfc3339(&clock::now()?);
        event.tool = self.tool.clone();
        let line = doc::to_line(&event)?;
        fsx::append_line(&self.dir.join(LOG), &line)
    }

    /// The first free id for `set` at `now`: `set_STAMP`, then `set_STAMP-2`, … never an
    /// existing one (a folder, or a single-file backup `ID.yml`, `ID.py`, `ID.env`, `ID.sqlite3`, `ID.dump`, `ID.json`).
    pub fn next_id(&self, set: &str, now: &DateTime<Local>) -> Result<String> {
        let base = format!("{set}_{}", clock::stamp(now));
        let taken = |id: &str| {
            fs::symlink_metadata(self.dir.join(id)).is_ok()
                || ["yml", "py", "env", "sqlite3", "dump", "json"]
                    .iter()
                    .any(|ext| fs::symlink_metadata(self.dir.join(format!("{id}.{ext}"))).is_ok())
        };
        if !taken(&base) {
            return Ok(base);
        }
        (2..10_000)
            .map(|n| format!("{base}-{n}"))
            .find(|id| !taken(id))
            .ok_or_else(|| failed(format!("no free snapshot id for {base} in {}", self.shown())))
    }

    /// A fresh build folder for snapshot `id`, after clearing what killed runs left behind
    /// (safe: only the lock holder builds, and the caller holds it). A leftover that cannot be
    /// removed never blocks a build: what a prune could not delete is the next prune's, and
    /// any other is skipped with a warning (the build's own name is fresh).
    pub fn tmp_path(&self, id: &str) -> Result<PathBuf> {
        let tmp = self.meta_dir().join("tmp");
        if tmp.exists() {
            for stale in fs::read_dir(&tmp).ctx(|| format!("listing {}", tmp.display()))? {
                let stale = stale.ctx(|| format!("listing {}", tmp.display()))?;
                let name = stale.file_name();
                if name.to_str().is_some_and(|n| n.contains(PRUNED)) {
                    continue;
                }
                let path = stale.path();
                if let Err(e) = fsx::remove_any(&path) {
                    if name.to_str() == Some(id) {
                        return Err(e);
                    }
                    crate::ui::warn(&format!("left behind by a killed run, not removable: {}", e.message()));
                }
            }
        }
        fsx::create_dirs(&tmp)?;
        Ok(tmp.join(id))
    }

    /// Renames a complete build folder into place as snapshot `id` and syncs the store.
    pub fn publish(&self, built: &Path, id: &str) -> Result<()> {
        let to = self.dir.join(id);
        if fs::symlink_metadata(&to).is_ok() {
            return Err(failed(format!("{}/{id} appeared while it was being built", self.shown())));
        }
        fs::rename(built, &to).ctx(|| format!("renaming the new snapshot to {}", to.display()))?;
        fsx::sync_dir(&self.dir)
    }

    /// Points `latest` at snapshot `id`, atomically (a new link renamed over the old one).
    /// A `latest` that is a real folder (made by hand, as the seed's emergency procedure
    /// does) is left alone, with a warning.
    pub fn point_latest(&self, id: &str) -> Result<()> {
        let link = self.dir.join(LATEST);
        if let Ok(meta) = fs::symlink_metadata(&link)
            && !meta.file_type().is_symlink()
        {
            self.warn_legacy_latest();
            return Ok(());
        }
        let tmp = self.meta_dir().join("tmp").join(format!("latest.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        symlink(id, &tmp).ctx(|| format!("creating {}", tmp.display()))?;
        fs::rename(&tmp, &link).ctx(|| format!("replacing {}", link.display()))?;
        fsx::sync_dir(&self.dir)
    }

    fn warn_legacy_latest(&self) {
        if !self.warned_latest.replace(true) {
            crate::ui::warn(&format!(
                "{}/latest is a folder made by hand; rb reads it as a legacy snapshot and does not replace it",
                self.shown()
            ));
        }
    }

    /// What `rb-snapshot prune [SET]` removes: of each set of rb snapshots and each kind of
    /// file rb writes ([`Store::rb_files`]), all but what `rules` keep, except the snapshot
    /// `latest` points to, tagged snapshots, and what a pending restore or migration journal
    /// refers to. The old scripts' backups are never removed.
    pub fn prune_plan(&self, rules: Retention, set: Option<&str>) -> Result<PrunePlan> {
        let mut protect: Vec<(String, String)> = Vec::new();
        if let Ok(target) = fs::read_link(self.dir.join(LATEST))
            && let Some(t) = target.to_str()
        {
            protect.push((t.to_string(), "`latest` points to it".into()));
        }
        if let Some((snapshot, undo, _)) = self.pending()? {
            protect.push((snapshot, "an interrupted restore needs it".into()));
            protect.push((undo, "an interrupted restore needs it".into()));
        }
        // rb-migrate's journal is its own document: every id it names is kept.
        if let Ok(text) = fs::read_to_string(self.migration_journal_path()) {
            let mut refs = Default::default();
            strings(&serde_json::from_str(&text).unwrap_or_default(), &mut refs);
            let what = "an interrupted migration rollback needs it";
            protect.extend(refs.into_iter().map(|r| (r, what.to_string())));
        }
        // (set, stamp, suffix, name, id, is a snapshot folder)
        let mut items: Vec<(String, String, u32, String, String, bool)> = Vec::new();
        for l in self.list()? {
            if l.origin == Origin::Rb {
                items.push((l.set, l.stamp, l.suffix, l.id.clone(), l.id, true));
            }
        }
        for f in self.rb_files()? {
            items.push((f.set, f.stamp, f.suffix, f.name, f.id, false));
        }
        items.retain(|i| set.is_none_or(|s| s == i.0));
        items.sort();
        let young = match rules.within {
            Some(d) => Some(clock::stamp(&(clock::now()? - d))),
            None => None,
        };
        let mut plan = PrunePlan::default();
        let mut by_set: std::collections::BTreeMap<String, Vec<_>> = Default::default();
        for i in items {
            by_set.entry(i.0.clone()).or_default().push(i);
        }
        for (_, listed) in by_set {
            let old = rules.keep.map_or(listed.len(), |k| listed.len().saturating_sub(k));
            for (n, (_, stamp, _, name, id, folder)) in listed.into_iter().enumerate() {
                let kept = n >= old || young.as_ref().is_some_and(|y| stamp >= *y);
                if kept {
                    plan.keep.push(name);
                    continue;
                }
                let tags = if folder { self.tags(&id) } else { Vec::new() };
                let why = protect
                    .iter()
                    .find(|(p, _)| *p == id || *p == name)
                    .map(|(_, why)| why.clone())
                    .or_else(|| (!tags.is_empty()).then(|| format!("tagged {}", tags.join(", "))));
                match why {
                    Some(why) => {
                        plan.protected.push((name.clone(), why));
                        plan.keep.push(name);
                    }
                    None => plan.remove.push(name),
                }
            }
        }
        plan.freed = self.freed_by(&plan.remove).last().copied().unwrap_or(0);
        Ok(plan)
    }

    /// The bytes removing the first k+1 of the store entries `names` frees, for each k: the
    /// size of each regular file in them whose every hard link is among them (a file that a
    /// kept snapshot links is not freed).
    pub fn freed_by(&self, names: &[String]) -> Vec<u64> {
        use std::os::unix::fs::MetadataExt;
        // (dev, ino) → (links seen, links there are, size, the last name holding one)
        let mut seen: std::collections::HashMap<(u64, u64), (u64, u64, u64, usize)> = Default::default();
        for (i, name) in names.iter().enumerate() {
            for entry in walkdir::WalkDir::new(self.dir.join(name)).into_iter().flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_file() {
                    let e = seen.entry((meta.dev(), meta.ino())).or_insert((0, meta.nlink(), meta.len(), i));
                    e.0 += 1;
                    e.3 = i;
                }
            }
        }
        let mut at = vec![0u64; names.len()];
        for (n, links, len, last) in seen.into_values() {
            if n >= links {
                at[last] += len;
            }
        }
        at.iter()
            .scan(0u64, |sum, b| {
                *sum += b;
                Some(*sum)
            })
            .collect()
    }

    /// The files rb wrote into the store beside its snapshots, oldest first: database
    /// backups, environment files that carry [`ENVFILE_HEADER`] (not the old scripts' `env >
    /// file` backups of the same names), flag states, reports and migration documents.
    pub fn rb_files(&self) -> Result<Vec<RbFile>> {
        let mut out = Vec::new();
        for (name, entry) in self.entries()? {
            let Some((id, ext)) = name.rsplit_once('.') else { continue };
            let Some((set, stamp, suffix)) = parse_id(id) else { continue };
            if !RB_FILES.contains(&(set, ext)) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            if set == "env" && !self.is_rb_envfile(&entry.path()) {
                continue;
            }
            out.push(RbFile {
                name: name.to_string(),
                id: id.to_string(),
                set: set.to_string(),
                stamp: stamp.to_string(),
                suffix,
            });
        }
        out.sort_by(|a, b| (&a.stamp, a.suffix, &a.name).cmp(&(&b.stamp, b.suffix, &b.name)));
        Ok(out)
    }

    fn is_rb_envfile(&self, path: &Path) -> bool {
        use std::io::Read;
        let mut head = [0u8; ENVFILE_HEADER.len()];
        fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
            && head == ENVFILE_HEADER.as_bytes()
    }

    /// The tags of snapshot `id` (its `.rb/tags`, one a line), sorted; none when it has no
    /// such file.
    pub fn tags(&self, id: &str) -> Vec<String> {
        read_tags(&self.dir.join(id))
    }

    /// Adds `add` to and removes `remove` from the tags of rb snapshot `snap` (the caller
    /// holds the lock), writing `.rb/tags` atomically; returns the tags it has now.
    pub fn retag(&self, snap: &Snapshot, add: &[String], remove: &[String]) -> Result<Vec<String>> {
        for t in add.iter().chain(remove) {
            check_tag(t)?;
        }
        check_taggable(snap)?;
        // A prune may have removed it between the caller's load and its lock.
        snap.check_present()?;
        let mut tags = read_tags(&snap.dir);
        tags.retain(|t| !remove.contains(t));
        tags.extend(add.iter().cloned());
        tags.sort();
        tags.dedup();
        let path = snap.dir.join(META_DIR).join(TAGS);
        if tags.is_empty() {
            fsx::remove_any(&path)?;
        } else {
            let text: String = tags.iter().map(|t| format!("{t}\n")).collect();
            fsx::atomic_write(&path, text.as_bytes(), fsx::Mode(0o644))?;
        }
        fsx::sync_dir(&snap.dir.join(META_DIR))?;
        Ok(tags)
    }

    /// The newest rb snapshot tagged [`GOOD`], of `set` (any set but undo when `None`).
    pub fn latest_good(&self, set: Option<&str>) -> Result<Snapshot> {
        self.latest_good_as(set, Load::Whole)
    }

    fn latest_good_as(&self, set: Option<&str>, how: Load) -> Result<Snapshot> {
        let good = self
            .list()?
            .into_iter()
            .rev()
            .filter(|l| l.origin == Origin::Rb && set.map_or(l.set != UNDO_SET, |s| l.set == s))
            .find(|l| self.tags(&l.id).iter().any(|t| t == GOOD))
            .ok_or_else(|| {
                let what = set.map(|s| format!(" of set {s}")).unwrap_or_default();
                failed(format!("no snapshot{what} tagged {GOOD} in {}", self.shown()))
                    .hint(format!("`rb-snapshot tag ID {GOOD}` tags one; rb-snapshot list shows the tags"))
            })?;
        self.load_as(&good.id, how)
    }

    /// Removes snapshot `id` (or a file rb wrote, by its name) from the store: renamed out of sight into `.rb/tmp/` first
    /// (atomic: from then on it is not in the store), then deleted, so it is never seen
    /// half-removed. The caller holds the lock. A failed rename is an error (the snapshot is
    /// still there); a deletion that fails after it is returned as `Ok(Some(why))`: the
    /// folder left in `.rb/tmp/` blocks nothing, and the next prune deletes it
    /// ([`Store::clear_pruned`]).
    pub fn remove_snapshot(&self, id: &str) -> Result<Option<String>> {
        check_id(id)?;
        let tmp = self.meta_dir().join("tmp");
        fsx::create_dirs(&tmp)?;
        let mut gone = tmp.join(format!("{id}{PRUNED}"));
        let mut n = 2;
        while fs::symlink_metadata(&gone).is_ok() {
            gone = tmp.join(format!("{id}{PRUNED}-{n}"));
            n += 1;
        }
        fs::rename(self.dir.join(id), &gone)
            .ctx(|| format!("moving {}/{id} out of the store", self.shown()))?;
        fsx::sync_dir(&self.dir)?;
        let shown = format!(
            "{}/{META_DIR}/tmp/{}",
            self.shown(),
            gone.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        );
        let removed = if gone.is_dir() { fs::remove_dir_all(&gone) } else { fs::remove_file(&gone) };
        Ok(removed
            .ctx(|| format!("the files of {id} (moved to {shown}) could not be deleted"))
            .err()
            .map(|e| e.message().to_string()))
    }

    /// Deletes what earlier prunes moved out of the store and could not delete
    /// (`.rb/tmp/*.pruned`); returns why, for each that still cannot be deleted. The caller
    /// holds the lock.
    pub fn clear_pruned(&self) -> Vec<String> {
        let tmp = self.meta_dir().join("tmp");
        let Ok(entries) = fs::read_dir(&tmp) else { return Vec::new() };
        let mut left = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((id, _)) = name.split_once(PRUNED) else { continue };
            let shown = format!("{}/{META_DIR}/tmp/{name}", self.shown());
            let path = entry.path();
            let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            if let Err(e) = removed.ctx(|| {
                format!("the files of {id} (moved to {shown} by an earlier prune) could not be deleted")
            }) {
                left.push(e.message().to_string());
            }
        }
        left.sort();
        left
    }

    /// The store folder's entries whose names are UTF-8 (rb writes no other), with their
    /// names; none when the store does not exist yet.
    fn entries(&self) -> Result<Vec<(String, fs::DirEntry)>> {
        let listing = match fs::read_dir(&self.dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(failed(format!("listing {}: {e}", self.shown()))),
        };
        let mut out = Vec::new();
        for entry in listing {
            let entry = entry.ctx(|| format!("listing {}", self.shown()))?;
            if let Some(name) = entry.file_name().to_str() {
                out.push((name.to_string(), entry));
            }
        }
        Ok(out)
    }

    /// Every complete snapshot in the store, oldest first (by the time in the id, then the
    /// clash suffix). Folders being built, the log and the lock are not snapshots.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        for (name, _) in self.entries()? {
            if let Some(listed) = self.classify(&name) {
                out.push(listed);
            }
        }
        out.sort_by(|a, b| (&a.stamp, a.suffix, &a.id).cmp(&(&b.stamp, b.suffix, &b.id)));
        Ok(out)
    }

    /// What the store entry `name` is, if it is a complete snapshot.
    fn classify(&self, name: &str) -> Option<Listed> {
        let path = self.dir.join(name);
        let (id, kind) = if let Some(kind) = legacy::kind_of_file(name) {
            (name.rsplit_once('.').map_or(name, |(stem, _)| stem), kind)
        } else {
            let meta = fs::symlink_metadata(&path).ok()?;
            if !meta.is_dir() {
                return None;
            }
            if path.join(META_DIR).join(MANIFEST).is_file() {
                let (set, stamp, suffix) = parse_id(name)?;
                return Some(Listed {
                    id: name.to_string(),
                    set: set.to_string(),
                    stamp: stamp.to_string(),
                    suffix,
                    origin: Origin::Rb,
                });
            }
            if path.join(META_DIR).exists() {
                return None; // an rb snapshot without its manifest: incomplete, never legacy
            }
            (name, legacy::kind_of_dir(name)?)
        };
        let (set, stamp, suffix) = parse_id(id)?;
        Some(Listed {
            id: id.to_string(),
            set: kind.set().unwrap_or(set).to_string(),
            stamp: stamp.to_string(),
            suffix,
            origin: Origin::Legacy(kind),
        })
    }

    /// Loads snapshot `id`: an rb snapshot's manifest (checked), or a legacy backup.
    pub fn load(&self, id: &str) -> Result<Snapshot> {
        self.load_as(id, Load::Whole)
    }

    /// [`Store::load`], keeping as much of the manifest as `how` says.
    pub fn load_as(&self, id: &str, how: Load) -> Result<Snapshot> {
        check_id(id)?;
        self.check_trusted()?;
        if id == LATEST {
            return self.latest_as(None, how);
        }
        if id == LATEST_GOOD {
            return self.latest_good_as(None, how);
        }
        if parse_id(id).is_none() {
            let e = usage(format!(
                "{id:?} is not a snapshot id: ids are <set>_<YYYYMMDD_HHMMSS>, as config_20251013_120000"
            ));
            let stamp = id.len() == 15
                && id.as_bytes()[8] == b'_'
                && id.bytes().filter(u8::is_ascii_digit).count() == 14;
            return Err(if stamp {
                e.hint(format!("a config snapshot of that time is config_{id}"))
            } else {
                e.hint("rb-snapshot list shows the ids there are")
            });
        }
        let dir = self.dir.join(id);
        let manifest_path = dir.join(META_DIR).join(MANIFEST);
        if manifest_path.is_file() {
            return self.load_manifest(id, &dir, &manifest_path, how);
        }
        if let Some(listed) = self
            .classify(id)
            .or_else(|| self.classify(&format!("{id}.yml")))
            .or_else(|| self.classify(&format!("{id}.py")))
            && let Origin::Legacy(kind) = listed.origin
        {
            return legacy::load(self, &listed.id, kind);
        }
        if dir.exists() {
            return Err(failed(format!(
                "{}/{id} has no {META_DIR}/{MANIFEST}: an incomplete snapshot, or not a snapshot",
                self.shown()
            ))
            .hint("rb-snapshot list shows the complete ones"));
        }
        Err(failed(format!("no snapshot {id} in {}", self.shown()))
            .hint("rb-snapshot list shows what there is"))
    }

    /// The folder of rb snapshot `id`, once it, its `.rb` and its manifest are checked to be
    /// writable by no one but their owner and root (when rb runs as root).
    pub fn trusted_dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        self.check_trusted()?;
        let dir = self.dir.join(id);
        fsx::check_trusted(&dir, &format!("{}/{id}", self.shown()))?;
        fsx::check_trusted(&dir.join(META_DIR), &format!("{}/{id}/{META_DIR}", self.shown()))?;
        let path = dir.join(META_DIR).join(MANIFEST);
        fsx::check_trusted(&path, &format!("{}/{id}/{META_DIR}/{MANIFEST}", self.shown()))?;
        Ok(dir)
    }

    fn load_manifest(&self, id: &str, dir: &Path, path: &Path, how: Load) -> Result<Snapshot> {
        let shown = format!("{}/{id}/{META_DIR}/{MANIFEST}", self.shown());
        self.trusted_dir(id)?;
        let read = |each: &mut dyn FnMut(Entry) -> Result<()>| -> Result<Manifest> {
            // Read as it is parsed: the text of a large manifest is never held.
            let file = fs::File::open(path).ctx(|| format!("reading {shown}"))?;
            crate::manifest::stream::read_stored(file, &shown, each).map(|(m, _)| m)
        };
        let mut entries = Vec::new();
        let mut checker = crate::manifest::Checker::default();
        let mut manifest = read(&mut |e| match how {
            Load::Whole => {
                entries.push(e);
                Ok(())
            }
            Load::Head => checker.entry(&e).map_err(|e| e.context(&shown)),
        })?;
        if manifest.id != id {
            return Err(failed(format!("{shown} names snapshot {:?}, not {id}", manifest.id)));
        }
        let streamed = match how {
            Load::Whole => {
                entries.shrink_to_fit();
                manifest.entries = entries;
                check_manifest(&manifest).map_err(|e| e.context(&shown))?;
                None
            }
            Load::Head => {
                if checker.has_links() {
                    read(&mut |e| {
                        checker.target(&e);
                        Ok(())
                    })?;
                }
                checker.finish(&manifest).map_err(|e| e.context(&shown))?;
                Some(path.to_path_buf())
            }
        };
        pause_point("snapshot-loaded");
        manifest.tags = read_tags(dir);
        Ok(Snapshot {
            manifest,
            dir: dir.to_path_buf(),
            sources: Default::default(),
            ignored: Vec::new(),
            only: Vec::new(),
            streamed,
        })
    }

    /// The newest complete snapshot of `set` (any set but undo when `None`): the `latest`
    /// link when there is one and no set is asked for, a hand-made `latest/` folder as a
    /// legacy snapshot, else the newest in the listing.
    pub fn latest(&self, set: Option<&str>) -> Result<Snapshot> {
        self.latest_as(set, Load::Whole)
    }

    fn latest_as(&self, set: Option<&str>, how: Load) -> Result<Snapshot> {
        let link = self.dir.join(LATEST);
        if set.is_none()
            && let Ok(meta) = fs::symlink_metadata(&link)
        {
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&link).ctx(|| format!("reading {}/latest", self.shown()))?;
                let target = paths::utf8(&target)?;
                return self.load_as(target, how).map_err(|e| e.context(format!("{}/latest", self.shown())));
            }
            if meta.is_dir() {
                // A hand-made folder is "latest" only while no rb snapshot is newer than it.
                let made = meta.modified().ok().map(|t| clock::stamp(&DateTime::<Local>::from(t)));
                let newer =
                    self.list()?.into_iter().rev().find(|l| l.origin == Origin::Rb && self.may_be_latest(l));
                match (made, newer) {
                    (Some(made), Some(newer)) if newer.stamp > made => {
                        crate::ui::warn(&format!(
                            "{}/latest is a folder made by hand at {made}, older than {}; using {}",
                            self.shown(),
                            newer.id,
                            newer.id
                        ));
                        return self.load_as(&newer.id, how);
                    }
                    _ => {
                        self.warn_legacy_latest();
                        return legacy::load(self, LATEST, LegacyKind::LatestDir);
                    }
                }
            }
        }
        let newest = self
            .list()?
            .into_iter()
            .rev()
            .find(|l| match set {
                Some(s) => l.set == s,
                None => self.may_be_latest(l),
            })
            .ok_or_else(|| {
                let what = set.map(|s| format!(" of set {s}")).unwrap_or_default();
                failed(format!("no snapshot{what} in {}", self.shown())).hint("take one with rb-snapshot")
            })?;
        self.load_as(&newest.id, how)
    }

    /// Whether `l` can be what `latest` means when no set is named: not an undo, not an
    /// ad-hoc (`--name`) snapshot. A manifest that cannot be read says nothing here: loading
    /// it reports why.
    fn may_be_latest(&self, l: &Listed) -> bool {
        l.set != UNDO_SET
            && !(l.origin == Origin::Rb && self.load_as(&l.id, Load::Head).is_ok_and(|s| s.manifest.adhoc))
    }

    /// Resolves a command-line argument: `latest`, an id, or the path of a snapshot folder
    /// inside the store.
    pub fn resolve(&self, arg: &str, set: Option<&str>) -> Result<Snapshot> {
        self.resolve_as(arg, set, Load::Whole)
    }

    /// [`Store::resolve`], keeping as much of the manifest as `how` says.
    pub fn resolve_as(&self, arg: &str, set: Option<&str>, how: Load) -> Result<Snapshot> {
        if arg == LATEST {
            return self.latest_as(set, how);
        }
        if arg == LATEST_GOOD {
            return self.latest_good_as(set, how);
        }
        if !arg.contains('/') {
            return self.load_as(arg, how);
        }
        let trimmed = arg.trim_end_matches('/');
        let path = Path::new(trimmed);
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().ctx(|| "reading the current folder")?.join(path)
        };
        let parent = full.parent().and_then(|p| p.canonicalize().ok());
        let store = self.dir.canonicalize().ok();
        let name = full.file_name().and_then(|n| n.to_str());
        match (parent, store, name) {
            (Some(p), Some(s), Some(name)) if p == s && name != ".." && name != "." => {
                self.load_as(name, how)
            }
            _ => Err(usage(format!("{arg} is not a snapshot in the store {}", self.shown()))
                .hint("give a snapshot id, `latest`, or a folder directly inside the store")),
        }
    }
}

/// The tags in `dir/.rb/tags`, sorted, without blanks.
fn read_tags(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join(META_DIR).join(TAGS)).unwrap_or_default();
    let mut tags: Vec<String> =
        text.lines().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect();
    tags.sort();
    tags.dedup();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_ends_as_its_error_says() {
        let ok = Event::ended("restore", None);
        assert!(ok.ok && ok.error.is_none() && ok.message == "ROLLBACK SUCCESS");
        let bad =
            Event::ended("restore", Some(&failed("it broke"))).messages("RELOAD SUCCESS", "RELOAD FAILED");
        assert!(!bad.ok && bad.message == "RELOAD FAILED");
        assert_eq!(bad.error.as_deref(), Some("it broke"));
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("config_20251013_120000"), Some(("config", "20251013_120000", 1)));
        assert_eq!(parse_id("test_config_20251013_120000-3"), Some(("test_config", "20251013_120000", 3)));
        assert_eq!(
            parse_id("docker-compose_20251013_120000"),
            Some(("docker-compose", "20251013_120000", 1))
        );
        for bad in ["config", "config_2025", "_20251013_120000", "config_20251013-120000", "latest"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
        assert!(check_id("../x").is_err());
        assert!(check_id(".rb").is_err());
        assert!(check_id("config_20251013_120000").is_ok());
    }

    #[test]
    fn durations_and_tags() {
        assert_eq!(crate::clock::parse_duration("7d").ok(), chrono::Duration::try_days(7));
        assert_eq!(crate::clock::parse_duration("2w").ok(), chrono::Duration::try_weeks(2));
        assert_eq!(crate::clock::parse_duration("90s").ok(), chrono::Duration::try_seconds(90));
        for bad in ["", "7", "d", "7 days", "0d", "-1d", "1y", "99999999999999999999d"] {
            assert!(crate::clock::parse_duration(bad).is_err(), "{bad}");
        }
        for good in ["good", "v2.4", "pre_deploy-1"] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }
}
