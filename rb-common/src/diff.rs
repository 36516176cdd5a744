//! What a restore changes, for a person to read: a unified diff of each file (`--diff`).
//!
//! The documents say which paths change; `--diff` shows how, on stderr, as `git diff` would:
//! the live file (`a/PATH`, what is there now) against what the restore writes (`b/PATH`). A
//! file that holds secrets never shows its content — one whose mode gives nothing to group or
//! others (0600, 0400), one under an `ssl/` folder, or one matching a `[diff] mask` glob in
//! `rollback.toml` — but a line `(secret file changed: sha256 a1b2… → c3d4…)`. A file that is
//! not text (a NUL byte, not UTF-8) is `Binary files … differ`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{Result, usage};
use crate::manifest::Node;
use crate::paths;
use crate::restore::RestoreDoc;
use crate::store::{Snapshot, Store};

/// `[diff]` in rollback.toml.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DiffConfig {
    /// Globs of project paths whose content is never shown (`["deploy/*.env", "**/secrets.py"]`).
    pub mask: Vec<String>,
}

/// Which files are shown only by their hashes.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    globs: Vec<glob::Pattern>,
}

impl Mask {
    /// The `[diff] mask` globs of `config` (a bad glob is exit 2 naming it).
    pub fn of(config: &Config) -> Result<Mask> {
        let diff: DiffConfig = config.section("diff")?;
        let globs = diff
            .mask
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| usage(format!("[diff] mask {g:?}: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mask { globs })
    }

    /// True when the content of `rel` (of mode `mode`) must not be shown.
    pub fn secret(&self, rel: &str, mode: Option<u32>) -> bool {
        mode.is_some_and(|m| m & 0o077 == 0)
            || rel.split('/').rev().skip(1).any(|dir| dir == "ssl")
            || self.globs.iter().any(|g| g.matches(rel))
    }
}

/// One side of a file's change: its bytes and mode, or absent.
struct Side {
    bytes: Option<Vec<u8>>,
    mode: Option<u32>,
    link: Option<String>,
}

impl Side {
    const NONE: Side = Side { bytes: None, mode: None, link: None };

    fn live(root: &Path, rel: &str) -> Side {
        let path = paths::under(root, rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Side {
                bytes: None,
                mode: None,
                link: fs::read_link(&path).ok().map(|t| t.to_string_lossy().into_owned()),
            },
            Ok(m) if m.is_file() => {
                Side { bytes: fs::read(&path).ok(), mode: Some(m.mode() & 0o7777), link: None }
            }
            _ => Side::NONE,
        }
    }

    fn snapshot(snap: &Snapshot, rel: &str) -> Side {
        match snap.manifest.entries.iter().find(|e| e.path == rel).map(|e| &e.node) {
            Some(Node::File { mode, .. }) => {
                Side { bytes: fs::read(snap.source(rel)).ok(), mode: Some(mode.0), link: None }
            }
            Some(Node::Symlink { target }) => Side { bytes: None, mode: None, link: Some(target.clone()) },
            _ => Side::NONE,
        }
    }
}

fn sha(bytes: &Option<Vec<u8>>) -> String {
    match bytes {
        Some(b) => {
            let h = hex::encode(Sha256::digest(b));
            format!("{}…", &h[..12])
        }
        None => "(none)".to_string(),
    }
}

fn text(bytes: &Option<Vec<u8>>) -> Option<&str> {
    match bytes {
        None => Some(""),
        Some(b) if b.contains(&0) => None,
        Some(b) => std::str::from_utf8(b).ok(),
    }
}

/// The diff of one path, `old` (live) against `new` (what the restore writes).
fn one(rel: &str, old: &Side, new: &Side, mask: &Mask) -> String {
    let shown = paths::escaped(rel);
    if old.link.is_some() || new.link.is_some() {
        let say = |s: &Side| match (&s.link, &s.bytes) {
            (Some(t), _) => format!("symlink to {t}"),
            (None, Some(_)) => "a file".to_string(),
            (None, None) => "nothing".to_string(),
        };
        return format!("{shown}: {} → {}\n", say(old), say(new));
    }
    if mask.secret(rel, old.mode) || mask.secret(rel, new.mode) {
        return format!("{shown}: (secret file changed: sha256 {} → {})\n", sha(&old.bytes), sha(&new.bytes));
    }
    let (a, b) = match (old.bytes.is_some(), new.bytes.is_some()) {
        (false, _) => ("/dev/null".to_string(), format!("b/{shown}")),
        (_, false) => (format!("a/{shown}"), "/dev/null".to_string()),
        _ => (format!("a/{shown}"), format!("b/{shown}")),
    };
    let (Some(before), Some(after)) = (text(&old.bytes), text(&new.bytes)) else {
        return format!("Binary files {a} and {b} differ\n");
    };
    let mut out = String::new();
    if old.mode.is_some() && new.mode.is_some() && old.mode != new.mode {
        out.push_str(&format!(
            "{shown}: mode {:04o} → {:04o}\n",
            old.mode.unwrap_or_default(),
            new.mode.unwrap_or_default()
        ));
    }
    if before != after {
        out.push_str(&similar::TextDiff::from_lines(before, after).unified_diff().header(&a, &b).to_string());
    }
    out
}

/// Prints on stderr (`--diff`) what restoring `snap` changes, file by file, as `doc` (its
/// preview, computed once by the caller) lists it, with `[diff] mask` from `config`;
/// `nothing would change` when nothing would.
pub fn show(store: &Store, config: &Config, snap: &Snapshot, doc: &RestoreDoc) -> Result<()> {
    use std::io::Write;
    let mask = Mask::of(config)?;
    // The diff looks entries up: a snapshot loaded without them reads them now.
    let snap = &*snap.with_entries()?;
    let text = restore(&store.root, snap, doc, &mask);
    let text = if text.is_empty() { format!("{}: nothing would change\n", crate::ui::tool()) } else { text };
    std::io::stderr()
        .write_all(text.as_bytes())
        .map_err(|e| crate::error::failed(format!("writing the diff: {e}")))
}

/// The unified diff of what restoring `snap` into `root` changes, as `doc` (its plan or its
/// outcome) lists it: created, modified and removed files, folders left out.
pub fn restore(root: &Path, snap: &Snapshot, doc: &RestoreDoc, mask: &Mask) -> String {
    let mut out = String::new();
    for rel in &doc.created {
        out.push_str(&one(rel, &Side::NONE, &Side::snapshot(snap, rel), mask));
    }
    for rel in &doc.modified {
        out.push_str(&one(rel, &Side::live(root, rel), &Side::snapshot(snap, rel), mask));
    }
    for rel in &doc.removed {
        out.push_str(&one(rel, &Side::live(root, rel), &Side::NONE, mask));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_files_ssl_and_masked_globs() {
        let mask = Mask { globs: vec![glob::Pattern::new("deploy/*.env").unwrap()] };
        assert!(mask.secret("core/settings.py", Some(0o600)));
        assert!(mask.secret("nginx/ssl/helpdesk.key", Some(0o644)));
        assert!(mask.secret("deploy/prod.env", Some(0o644)));
        assert!(!mask.secret("nginx/nginx.conf", Some(0o644)));
        assert!(!mask.secret("ssl", Some(0o644)), "a file named ssl is not under ssl/");
    }

    #[test]
    fn a_text_change_is_a_unified_diff_and_a_secret_only_its_hashes() {
        let old = Side { bytes: Some(b"a\nb\n".to_vec()), mode: Some(0o644), link: None };
        let new = Side { bytes: Some(b"a\nc\n".to_vec()), mode: Some(0o644), link: None };
        let mask = Mask::default();
        assert_eq!(one("x.py", &old, &new, &mask), "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
        let key = one("nginx/ssl/k.key", &old, &new, &mask);
        assert!(
            key.starts_with("nginx/ssl/k.key: (secret file changed: sha256 ") && !key.contains("\nb"),
            "{key}"
        );
    }
}
