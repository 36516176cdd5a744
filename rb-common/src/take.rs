//! Taking a snapshot of a named set as a library call: what `rb-snapshot SET` does — the
//! checks of the set's name and specs, the snapshot under the lock, the notes on stderr and
//! the `snapshot` document on stdout — so that `rb-flag snapshot` and `rb-nginx snapshot`
//! take their sets exactly as `rb-snapshot` does without building its command line. The
//! engine itself is [`crate::snapshot`]; this module is the behaviour around it.

use crate::config::Config;
use crate::doc::{Changed, Out};
use crate::error::{Result, usage};
use crate::manifest::Summary;
use crate::snapshot::{self, Request};
use crate::store::Store;
use crate::ui::{count, note};

/// How to take a snapshot: `rb-snapshot`'s `--dry-run`, `--no-link` and `--message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TakeOptions {
    /// Print the document of the snapshot it would take (without hashes); write nothing.
    pub dry_run: bool,
    /// Copy every file instead of hard-linking those unchanged since the set's previous
    /// snapshot (`--no-link`).
    pub no_link: bool,
    /// Why it is taken, kept in the manifest (one line).
    pub message: Option<String>,
    /// Print the whole manifest, every entry, instead of the summary (`--manifest`).
    pub manifest: bool,
}

/// `rb-snapshot SET`: takes a snapshot of the configured (or built-in) set `set` and prints
/// its document, with the notes `rb-snapshot` prints.
pub fn take_set(store: &Store, config: &Config, set: &str, opts: &TakeOptions, out: &mut Out) -> Result<()> {
    let req = set_request(store, config, set, opts)?;
    take(store, &req, opts.manifest, out)
}

/// The request for the named set `set`: refused when the name is a path (an ad-hoc set
/// needs `--name`), with the set's specs and excludes.
pub fn set_request(store: &Store, config: &Config, set: &str, opts: &TakeOptions) -> Result<Request> {
    if !config.sets.contains_key(set) && (set.contains('/') || store.root.join(set).exists()) {
        return Err(usage(format!("{set} is a path, not a set name"))
            .hint(format!("to back up paths, name the set: rb-snapshot --name NAME {set}")));
    }
    let exclude = config.sets.get(set).map(|s| s.exclude.clone()).unwrap_or_default();
    let specs = crate::nginx::set_specs(config, set, &store.root)?;
    request(set, specs, exclude, opts, true)
}

/// A checked request: each spec is one the engine takes, the message one line of text.
/// `move_latest` is false for an ad-hoc set, a side copy that is never what `latest` means.
pub fn request(
    set: &str,
    specs: Vec<String>,
    exclude: Vec<String>,
    opts: &TakeOptions,
    move_latest: bool,
) -> Result<Request> {
    for spec in &specs {
        snapshot::check_spec(spec)?;
    }
    if let Some(m) = &opts.message
        && (m.trim().is_empty() || m.contains('\n'))
    {
        return Err(usage("--message needs one line of text (why the snapshot is taken)"));
    }
    Ok(Request {
        set: set.to_string(),
        specs,
        dry_run: opts.dry_run,
        link: !opts.no_link,
        exclude,
        message: opts.message.clone(),
        move_latest,
    })
}

/// Takes the snapshot `req` asks for (under the store's lock unless a dry run), notes what it
/// took on stderr and prints its document — the summary, or with `whole` the manifest with
/// every entry: after a real one through [`Out::emit_after_change`], so a stdout gone away
/// is exit 3 naming the snapshot.
pub fn take(store: &Store, req: &Request, whole: bool, out: &mut Out) -> Result<()> {
    if req.dry_run && whole {
        let manifest = snapshot::describe(store, req)?;
        said(req, &Summary::from(&manifest));
        return out.emit(&manifest);
    }
    let summary = if req.dry_run {
        snapshot::take(store, req)?
    } else {
        // Paths that lead out of the root are refused here, before the lock touches the store.
        snapshot::resolve(store, req)?;
        let _lock = store.lock()?;
        snapshot::take(store, req)?
    };
    said(req, &summary);
    if req.dry_run {
        return out.emit(&summary);
    }
    let changed = Changed::new(format!("snapshot {} was taken", summary.id), "rb-snapshot list shows it");
    match whole {
        // The manifest with every entry is read back from the store, where it now is.
        true => match store.load(&summary.id) {
            Ok(snap) => out.emit_after_change(&snap.manifest, &changed),
            Err(e) => Err(changed.failed_after(&e)),
        },
        false => out.emit_after_change(&summary, &changed),
    }
}

/// The notes on stderr of a snapshot taken (or that would be).
fn said(req: &Request, summary: &Summary) {
    for path in &summary.missing {
        note(&format!("{path}: not there, recorded as missing"));
    }
    let verb = if req.dry_run { "would take" } else { "took" };
    note(&format!(
        "{verb} {}: {}, {}{}",
        summary.id,
        count(summary.files as usize, "file", "files"),
        count(summary.bytes as usize, "byte", "bytes"),
        if req.dry_run { " (dry run: nothing written)" } else { "" }
    ));
}
