//! `rb-snapshot`: take, list and verify snapshots. The engine is `rb_common::snapshot`; this
//! crate turns the command line into a request and the result into documents.

pub mod cli;

use std::path::Path;

use rb_common::config::{self, Config};
use rb_common::doc::{Changed, Out};
use rb_common::error::{Result, failed, usage};
use rb_common::manifest::Summary;
use rb_common::restore::{check_file, damaged};
use rb_common::snapshot::{self, Manifest, Node};
use rb_common::store::{Retention, Store};
use rb_common::take::{self, TakeOptions};
use rb_common::{cli as common, paths};

pub use cli::Cli;

/// Runs `rb-snapshot` with parsed arguments, writing documents to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    match &cli.command {
        Some(cli::Command::List { set, format, manifest }) => {
            list(&store, &config, set.as_deref(), *format, *manifest, out)
        }
        Some(cli::Command::Diff { from, to, set, quick, format }) => {
            diff(&store, from, to.as_deref(), set.as_deref(), *quick, *format, out)
        }
        Some(cli::Command::Verify { id, set, manifest }) => {
            verify(&store, id, set.as_deref(), *manifest, out)
        }
        Some(cli::Command::Prune { keep, keep_within, set, dry_run }) => {
            prune(&store, *keep, keep_within.as_deref(), set.as_deref(), *dry_run, out)
        }
        Some(cli::Command::Tag { id, tags, remove }) => tag(&store, id, tags, *remove, out),
        None => take(&store, &config, &cli, out),
    }
}

/// The set name and specs the command line asks for.
fn request(store: &Store, config: &Config, cli: &Cli) -> Result<snapshot::Request> {
    let opts = TakeOptions {
        dry_run: cli.dry_run,
        no_link: cli.no_link,
        message: cli.message.clone(),
        manifest: cli.manifest,
    };
    match &cli.name {
        Some(name) => {
            config::check_set_name(name)?;
            if config.sets.contains_key(name) {
                return Err(usage(format!("{name} is a configured set; an ad-hoc set needs another name"))
                    .hint(format!("rb-snapshot {name} backs up the configured set")));
            }
            if cli.args.is_empty() {
                return Err(usage(format!("--name {name} needs the paths to back up")));
            }
            let specs = cli.args.iter().map(|a| spec_of(&store.root, a)).collect::<Result<Vec<_>>>()?;
            // An ad-hoc snapshot is a side copy, never what `latest` means.
            take::request(name, specs, Vec::new(), &opts, false)
        }
        None => {
            if cli.args.len() > 1 {
                return Err(usage(format!("one set at a time, got {}", cli.args.join(" ")))
                    .hint("to back up paths, name the set: rb-snapshot --name NAME PATH…"));
            }
            let set = cli.args.first().map_or("config", String::as_str);
            take::set_request(store, config, set, &opts)
        }
    }
}

/// A path from the command line as a spec: an absolute path inside the root becomes
/// relative; a folder keeps (or gets) its trailing `/`.
fn spec_of(root: &Path, arg: &str) -> Result<String> {
    let path = Path::new(arg);
    let rel = if path.is_absolute() {
        paths::relative_to(root, path)?
    } else {
        arg.trim_start_matches("./").trim_end_matches('/').to_string()
    };
    let dir = arg.ends_with('/') || root.join(&rel).is_dir();
    Ok(if dir && !rel.is_empty() { format!("{rel}/") } else { rel })
}

fn take(store: &Store, config: &Config, cli: &Cli, out: &mut Out) -> Result<()> {
    take::take(store, &request(store, config, cli)?, cli.manifest, out)
}

fn list(
    store: &Store,
    config: &Config,
    set: Option<&str>,
    format: rb_common::table::Format,
    whole: bool,
    out: &mut Out,
) -> Result<()> {
    let mut unreadable = 0;
    let as_table = format.table();
    let mut table =
        rb_common::table::Table::new(&["ID", "SET", "CREATED", "FILES", "BYTES", "KIND", "TAGS", "MESSAGE"]);
    let listed: Vec<_> = store.list()?.into_iter().filter(|l| set.is_none_or(|s| s == l.set)).collect();
    if let Some(set) = set
        && listed.is_empty()
        && !config.sets.contains_key(set)
        && set != snapshot::UNDO_SET
    {
        config.set(set)?; // the error that lists the sets there are
    }
    for listed in listed {
        match store.load(&listed.id) {
            Ok(snap) => {
                let m = &snap.manifest;
                let how = if m.legacy { "old-script backup, no hashes" } else { "hashed" };
                if as_table {
                    table.row(vec![
                        m.id.clone(),
                        m.set.clone(),
                        m.created.clone(),
                        m.files.to_string(),
                        m.bytes.to_string(),
                        how.to_string(),
                        m.tags.join(","),
                        m.message.clone().unwrap_or_default(),
                    ]);
                    continue;
                }
                let tags =
                    if m.tags.is_empty() { String::new() } else { format!(" [{}]", m.tags.join(", ")) };
                let message = m.message.as_ref().map(|t| format!(": {t}")).unwrap_or_default();
                common::note(&format!(
                    "{}  {}  {} files, {} bytes, {how}{tags}{message}",
                    m.id, m.created, m.files, m.bytes
                ));
                match whole {
                    true => out.emit(m)?,
                    false => out.emit(&Summary::from(m))?,
                }
            }
            Err(e) => {
                common::warn(&format!("{}: {}", listed.id, e.message()));
                unreadable += 1;
            }
        }
    }
    if as_table {
        out.raw(table.render().as_bytes())?;
    }
    if unreadable > 0 {
        return Err(failed(format!(
            "{} could not be read",
            common::count(unreadable, "snapshot", "snapshots")
        )));
    }
    Ok(())
}

/// The `prune` document: what was (or, with `dry_run`, would be) removed and kept, by name
/// in the store (a snapshot's id, a file's name such as `db_20251013_120000.sqlite3`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PruneDoc {
    /// How many of each set were kept (`--keep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
    /// What younger than this was kept (`--keep-within`, as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<String>,
    /// The set pruned, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// The snapshots and files removed, oldest first within each set.
    pub removed: Vec<String>,
    /// The rb snapshots and files kept.
    pub kept: Vec<String>,
    /// The bytes the removal frees (or would): files whose every hard link was removed.
    pub freed_bytes: u64,
    /// True when nothing was removed because `--dry-run` was given.
    pub dry_run: bool,
}

impl rb_common::doc::Document for PruneDoc {
    const KIND: &'static str = "prune";
    const SOURCE: &'static str = "rb-snapshot prune";
}

/// "3 snapshots and 26 files" for removed names (a file's name has an extension).
fn what(names: &[String]) -> String {
    let files = names.iter().filter(|n| n.contains('.')).count();
    let snaps = names.len() - files;
    match (snaps, files) {
        (_, 0) => common::count(snaps, "snapshot", "snapshots"),
        (0, _) => common::count(files, "file", "files"),
        _ => format!(
            "{} and {}",
            common::count(snaps, "snapshot", "snapshots"),
            common::count(files, "file", "files")
        ),
    }
}

fn prune(
    store: &Store,
    keep: Option<usize>,
    within: Option<&str>,
    set: Option<&str>,
    dry_run: bool,
    out: &mut Out,
) -> Result<()> {
    if keep == Some(0) {
        return Err(usage("--keep 0 would remove every snapshot; keep at least 1"));
    }
    let rules = Retention { keep, within: within.map(rb_common::clock::parse_duration).transpose()? };
    let lock = if dry_run { None } else { Some(store.lock()?) };
    let plan = store.prune_plan(rules, set)?;
    for (id, why) in &plan.protected {
        common::note(&format!("keeping {id}: {why}"));
    }
    let doc = |removed: Vec<String>, freed_bytes: u64| PruneDoc {
        keep,
        keep_within: within.map(str::to_string),
        set: set.map(str::to_string),
        removed,
        kept: plan.keep.clone(),
        freed_bytes,
        dry_run,
    };
    if dry_run {
        common::note(&format!(
            "would remove {}, freeing {}; kept {}",
            what(&plan.remove),
            common::count(plan.freed as usize, "byte", "bytes"),
            plan.keep.len()
        ));
        return out.emit(&doc(plan.remove.clone(), plan.freed));
    }
    let freed_at = store.freed_by(&plan.remove);
    // What earlier prunes could not delete first: a prune run again finishes the last one.
    let mut left = store.clear_pruned();
    let mut removed = Vec::new();
    let mut stuck = None;
    for id in &plan.remove {
        match store.remove_snapshot(id) {
            Ok(why) => {
                removed.push(id.clone());
                left.extend(why);
            }
            Err(e) => {
                stuck = Some(e);
                break;
            }
        }
    }
    let problems: Vec<String> =
        left.iter().cloned().chain(stuck.as_ref().map(|e| e.message().to_string())).collect();
    let event = rb_common::store::Event::new("prune", problems.is_empty()).set(set.unwrap_or("*"));
    store.log_or_warn(match problems.first() {
        None => event.message("PRUNE SUCCESS"),
        Some(p) => event.message("PRUNE FAILED").error(&failed(p.clone())),
    });
    drop(lock);
    let n = removed.len();
    let freed = n.checked_sub(1).map_or(0, |i| freed_at[i]);
    common::note(&format!(
        "removed {}, freeing {}; kept {}",
        what(&removed),
        common::count(freed as usize, "byte", "bytes"),
        plan.keep.len()
    ));
    let doc = doc(removed, freed);
    if let Some(e) = stuck
        && n == 0
        && left.is_empty()
    {
        return Err(e.context("nothing was removed"));
    }
    if !problems.is_empty() {
        // The document says what was removed; the error what is left.
        let _ = out.emit(&doc);
        let done = if n == 0 {
            "no snapshot was removed".to_string()
        } else {
            format!("{} were removed from the store", what(&doc.removed))
        };
        return Err(rb_common::error::partial(
            format!("{done}, but {}", problems.join("; ")),
            format!(
                "fix the cause and run `rb-snapshot prune` again: it deletes what is left (in {}/.rb/tmp/, where it blocks nothing)",
                store.shown()
            ),
        ));
    }
    if n == 0 {
        return out.emit(&doc);
    }
    out.emit_after_change(
        &doc,
        &Changed::new(
            format!("{} were removed", what(&doc.removed)),
            "a pruned snapshot cannot be put back; rb-snapshot list shows what is kept",
        ),
    )
}

fn diff(
    store: &Store,
    from: &str,
    to: Option<&str>,
    set: Option<&str>,
    quick: bool,
    format: rb_common::table::Format,
    out: &mut Out,
) -> Result<()> {
    let a = store.resolve(from, set)?;
    let d = match to {
        Some(to) => {
            let b = store.resolve(to, set)?;
            rb_common::changes::between(&a, &b)?
        }
        None => {
            rb_common::legacy::note_left_alone(&a);
            rb_common::changes::against_live(store, &a, quick)?
        }
    };
    common::note(&format!(
        "{} -> {}: {} added, {} removed, {} modified, {} changed in metadata only",
        d.from,
        d.to,
        d.added.len(),
        d.removed.len(),
        d.modified.len(),
        d.meta.len()
    ));
    if format.table() {
        let mut table = rb_common::table::Table::new(&["CHANGE", "PATH"]);
        for (mark, path) in d.marked() {
            table.row(vec![mark.to_string(), paths::escaped(path).into_owned()]);
        }
        return out.raw(table.render().as_bytes());
    }
    out.emit(&d)
}

fn tag(store: &Store, id: &str, tags: &[String], remove: bool, out: &mut Out) -> Result<()> {
    for t in tags {
        rb_common::store::check_tag(t)?;
    }
    // Resolved before the lock, so that a wrong id leaves the store as it was.
    let snap = store.resolve(id, None)?;
    rb_common::store::check_taggable(&snap)?;
    let _lock = store.lock()?;
    let id = &snap.manifest.id.clone();
    let (add, drop): (&[String], &[String]) = if remove { (&[], tags) } else { (tags, &[]) };
    let now = store.retag(&snap, add, drop)?;
    store.log_or_warn(
        rb_common::store::Event::new("tag", true).snapshot(id).set(&snap.manifest.set).message("TAG SUCCESS"),
    );
    let shown = if now.is_empty() { "no tags".to_string() } else { format!("tags {}", now.join(", ")) };
    common::note(&format!("{id}: {shown}"));
    let mut m = snap.manifest;
    m.tags = now;
    out.emit_after_change(
        &Summary::from(&m),
        &Changed::new(
            format!("the tags of {id} were changed"),
            format!("rb-snapshot list shows them; `rb-snapshot tag {id} --remove TAG` takes one off"),
        ),
    )
}

fn verify(store: &Store, id: &str, set: Option<&str>, whole: bool, out: &mut Out) -> Result<()> {
    let snap = store.resolve(id, set)?;
    let m: &Manifest = &snap.manifest;
    if m.legacy {
        return Err(failed(format!(
            "{} was made by the old scripts and has no hashes to verify against",
            m.id
        ))
        .hint("take a new snapshot with rb-snapshot to get one that can be verified"));
    }
    let mut problems = Vec::new();
    for e in &m.entries {
        let at = rb_common::paths::under(&snap.dir, &e.path);
        let problem = match &e.node {
            Node::File { size, sha256, .. } => check_file(&at, *size, sha256.as_deref()),
            Node::Dir { .. } => {
                (!at.is_dir() || at.is_symlink()).then(|| "folder missing from the snapshot".to_string())
            }
            Node::Symlink { target } => match std::fs::read_link(&at) {
                Ok(t) if t.as_os_str() == rb_common::paths::os(target).as_os_str() => None,
                Ok(_) => Some("symlink points elsewhere than recorded".into()),
                Err(_) => Some("symlink missing from the snapshot".into()),
            },
            // Fifos and device nodes are kept in the manifest only.
            Node::Fifo { .. } | Node::Char { .. } | Node::Block { .. } => None,
        };
        if let Some(p) = problem {
            problems.push(format!("{}: {p}", rb_common::paths::escaped(&e.path)));
        }
    }
    if !problems.is_empty() {
        snap.check_present()?;
    }
    damaged(&m.id, problems, "")?;
    common::note(&format!("{}: {} entries verified", m.id, m.entries.len()));
    match whole {
        true => out.emit(m),
        false => out.emit(&Summary::from(m)),
    }
}
