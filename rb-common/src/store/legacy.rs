//! The seed's backups, read in place as snapshots without hashes.
//!
//! The old procedures made these by hand or by script, and rb must restore them:
//!
//! | in the store | made by | restored to |
//! | --- | --- | --- |
//! | `config_X/settings/` | `cp -r core/config/settings/ backups/config_X/` | `core/config/settings/` (exactly) |
//! | `config_X/nginx.conf` | `cp nginx/nginx.conf backups/config_X/` | `nginx/nginx.conf` |
//! | `config_X/docker-compose*.yml` | `cp docker-compose*.yml backups/config_X/` | `./` |
//! | `nginx_X/nginx.conf`, `nginx_X/ssl/` | the nginx backup | `nginx/nginx.conf`, `nginx/ssl/` |
//! | `docker-compose_X.yml` | the deployment backup | `docker-compose.yml` |
//! | `latest/` (a folder) | copied by hand for `cp -r backups/latest/* ./` | `./`, merged |
//!
//! They carry no hashes, so their documents say `"verified": false`. What a legacy folder
//! holds that the seed never put there is listed as ignored, with a warning, not guessed at.
//! A part the backup does not have (an nginx backup without `ssl/`) is left alone on restore.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::{Snapshot, Store};
use crate::error::{Context, Result};
use crate::manifest::{self, Entry, Manifest, Node};

/// Which kind of seed-made backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyKind {
    /// `backups/config_X/`, flattened.
    ConfigDir,
    /// `backups/nginx_X/`.
    NginxDir,
    /// `backups/docker-compose_X.yml`.
    ComposeFile,
    /// `backups/feature_flags_X.py` (the "environment feature flags" backup).
    FlagsFile,
    /// A hand-made `backups/latest/` folder.
    LatestDir,
}

impl LegacyKind {
    /// The set this kind of backup belongs to, when the id's prefix is not it.
    pub fn set(self) -> Option<&'static str> {
        match self {
            LegacyKind::ComposeFile => Some("compose"),
            LegacyKind::FlagsFile => Some(FLAGS_SET),
            LegacyKind::LatestDir => Some("legacy"),
            _ => None,
        }
    }
}

/// The kind of a store folder without a manifest, judged by its name.
pub fn kind_of_dir(name: &str) -> Option<LegacyKind> {
    match manifest::parse_id(name)?.0 {
        "config" => Some(LegacyKind::ConfigDir),
        "nginx" => Some(LegacyKind::NginxDir),
        _ => None,
    }
}

pub use crate::config::{FLAGS_FILE, FLAGS_SET};

/// The kind of a store file, judged by its name (`docker-compose_X.yml`, `feature_flags_X.py`).
pub fn kind_of_file(name: &str) -> Option<LegacyKind> {
    let (stem, kind) = match (name.strip_suffix(".yml"), name.strip_suffix(".py")) {
        (Some(stem), _) => (stem, LegacyKind::ComposeFile),
        (_, Some(stem)) => (stem, LegacyKind::FlagsFile),
        _ => return None,
    };
    let want = if kind == LegacyKind::ComposeFile { "docker-compose" } else { FLAGS_SET };
    (manifest::parse_id(stem)?.0 == want).then_some(kind)
}

/// The file name in the store of a single-file legacy backup `id` of `kind`.
pub fn file_name(id: &str, kind: LegacyKind) -> Option<String> {
    match kind {
        LegacyKind::ComposeFile => Some(format!("{id}.yml")),
        LegacyKind::FlagsFile => Some(format!("{id}.py")),
        _ => None,
    }
}

/// Reads the legacy backup `id` of `kind` as a snapshot.
pub fn load(store: &Store, id: &str, kind: LegacyKind) -> Result<Snapshot> {
    let dir = match file_name(id, kind) {
        Some(file) => store.dir.join(file),
        None => store.dir.join(id),
    };
    let mut b = Builder { entries: BTreeMap::new(), sources: BTreeMap::new(), ignored: Vec::new() };
    let (set, paths): (&str, Vec<&str>) = match kind {
        LegacyKind::ComposeFile => {
            b.add(&dir, "docker-compose.yml", false)?;
            ("compose", vec!["docker-compose.yml"])
        }
        LegacyKind::FlagsFile => {
            b.add(&dir, FLAGS_FILE, false)?;
            (FLAGS_SET, vec![FLAGS_FILE])
        }
        LegacyKind::LatestDir => {
            for (name, path) in children(&dir)? {
                b.add(&path, &name, true)?;
            }
            ("legacy", vec!["./"])
        }
        LegacyKind::ConfigDir | LegacyKind::NginxDir => {
            for (name, path) in children(&dir)? {
                let to = match (kind, name.as_str()) {
                    (LegacyKind::ConfigDir, "settings") => Some("core/config/settings".to_string()),
                    (_, "nginx.conf") => Some("nginx/nginx.conf".to_string()),
                    (LegacyKind::NginxDir, "ssl") => Some("nginx/ssl".to_string()),
                    (LegacyKind::ConfigDir, n) if n.starts_with("docker-compose") && n.ends_with(".yml") => {
                        Some(n.to_string())
                    }
                    _ => None,
                };
                match to {
                    Some(to) => b.add(&path, &to, false)?,
                    None => b.ignored.push(name),
                }
            }
            if kind == LegacyKind::ConfigDir {
                ("config", vec!["core/config/settings/", "nginx/nginx.conf", "docker-compose*.yml"])
            } else {
                ("nginx", vec!["nginx/nginx.conf", "nginx/ssl/"])
            }
        }
    };
    if b.entries.is_empty() && kind != LegacyKind::LatestDir {
        return Err(crate::error::failed(format!(
            "{}/{id} holds nothing the old scripts put in a {set} backup",
            store.shown()
        )));
    }
    for name in &b.ignored {
        crate::ui::warn(&format!(
            "{}/{id}/{name}: the old scripts never put this in a {set} backup; it is ignored",
            store.shown()
        ));
    }
    let entries: Vec<Entry> = b.entries.into_values().collect();
    let (files, bytes) = manifest::totals(&entries);
    let created = match manifest::parse_id(id) {
        Some((_, stamp, _)) => crate::clock::from_stamp(stamp),
        None => fs::metadata(&dir)
            .ok()
            .and_then(|m| m.modified().ok())
            .map(|t| crate::clock::rfc3339(&chrono::DateTime::<chrono::Local>::from(t))),
    }
    .unwrap_or_default();
    let manifest = Manifest {
        id: id.to_string(),
        set: set.to_string(),
        created,
        paths: paths.into_iter().map(str::to_string).collect(),
        globs: Vec::new(),
        exclude: Vec::new(),
        entries,
        missing: Vec::new(),
        files,
        bytes,
        verified: false,
        legacy: true,
        undo_for: None,
        dry_run: false,
        xattrs: false,
        message: None,
        adhoc: false,
        tags: Vec::new(),
    };
    manifest::check_manifest(&manifest)?;
    Ok(Snapshot { manifest, dir, sources: b.sources, ignored: b.ignored, only: Vec::new(), streamed: None })
}

fn children(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for child in fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))? {
        let child = child.ctx(|| format!("listing {}", dir.display()))?;
        let name = child.file_name();
        let name = crate::paths::from_os(&name).into_owned();
        if !name.starts_with('.') {
            out.push((name, child.path()));
        }
    }
    out.sort();
    Ok(out)
}

struct Builder {
    entries: BTreeMap<String, Entry>,
    sources: BTreeMap<String, std::path::PathBuf>,
    ignored: Vec<String>,
}

impl Builder {
    /// Records `actual` (and what is in it) as project path `rel`; folders are shallow (merged)
    /// when `merge`, exact otherwise.
    fn add(&mut self, actual: &Path, rel: &str, merge: bool) -> Result<()> {
        let mut visit = |path: &Path, rel: &str, meta: &fs::Metadata| -> Result<()> {
            let entry = manifest::entry_of(path, rel, meta, merge && meta.is_dir())?;
            if matches!(entry.node, Node::File { .. }) {
                self.sources.insert(rel.to_string(), path.to_path_buf());
            }
            self.entries.insert(rel.to_string(), entry);
            Ok(())
        };
        manifest::walk(actual, rel, false, None, &manifest::Exclude::default(), &mut visit)
    }
}
/// The paths of its set that an old-script backup does not have (an nginx backup without
/// `ssl/`): a restore leaves them as they are. Empty for an rb snapshot.
pub fn left_alone(m: &Manifest) -> Vec<String> {
    if !m.legacy {
        return Vec::new();
    }
    m.paths
        .iter()
        .filter(|p| !p.contains(['*', '?', '[']) && *p != "./")
        .filter(|p| {
            let p = p.trim_end_matches('/');
            !m.entries
                .iter()
                .any(|e| e.path == p || e.path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        })
        .cloned()
        .collect()
}

/// Says, on stderr, what [`left_alone`] finds in `snap`.
pub fn note_left_alone(snap: &Snapshot) {
    for path in left_alone(&snap.manifest) {
        crate::ui::note(&format!(
            "{} (made by the old scripts) has no {path}: {path} is left as it is",
            snap.manifest.id
        ));
    }
}
