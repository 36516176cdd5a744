//! Path safety: every path in a document or a set is relative, normalized and stays inside
//! the project root.
//!
//! A restore writes where documents tell it to, and documents arrive on stdin. So a path is
//! checked as text (no `..`, no absolute path, no empty or `.` component, UTF-8 only) and then
//! against the live tree: a folder on the way that is a symlink leading out of the root is
//! refused, because writing "inside" it would write elsewhere.

use std::path::{Component, Path, PathBuf};

use crate::error::{Context, Result, failed, usage};

/// A path as the user would type it: relative to the current folder when under it.
pub fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

/// Checks that `rel` is a normalized relative path (`a/b/c`, no trailing slash).
pub fn check_rel(rel: &str, what: &str) -> Result<()> {
    let bad = |why: &str| usage(format!("{what} {rel:?} {why}"));
    if rel.is_empty() {
        return Err(bad("is empty"));
    }
    if rel.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if rel.starts_with('/') {
        return Err(bad("is absolute; paths are relative to the project root"));
    }
    for part in rel.split('/') {
        match part {
            "" => return Err(bad("has an empty component")),
            "." => return Err(bad("has a `.` component")),
            ".." => return Err(bad("leaves the project root (`..`)")),
            _ => {}
        }
    }
    Ok(())
}

/// A path as UTF-8 text, or an error naming it: rb never converts names lossily.
pub fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| failed(format!("{} is not UTF-8; rb only handles UTF-8 file names", path.display())))
}

/// `rel` relative to `root`, as a normalized string, or an error if it is not under `root`.
pub fn relative_to(root: &Path, path: &Path) -> Result<String> {
    let rest = path
        .strip_prefix(root)
        .map_err(|_| usage(format!("{} is outside the project root {}", path.display(), root.display())))?;
    let mut parts = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(p) => parts.push(utf8(Path::new(p))?.to_string()),
            Component::CurDir => {}
            _ => return Err(usage(format!("{} is not a plain path under the root", path.display()))),
        }
    }
    Ok(parts.join("/"))
}

/// The parent of a normalized relative path, or `None` at the top level.
pub fn parent(rel: &str) -> Option<&str> {
    rel.rfind('/').map(|at| &rel[..at])
}

/// True if `ancestor` is a proper ancestor of `rel` (`a` of `a/b`, not of `ab`).
pub fn is_under(rel: &str, ancestor: &str) -> bool {
    rel.len() > ancestor.len() && rel.starts_with(ancestor) && rel.as_bytes()[ancestor.len()] == b'/'
}

/// Checks the folders on the way to `rel` in the live tree: each one that exists must be a
/// folder, and one that is a symlink must resolve inside the root. Missing folders are fine
/// (the restore creates them).
pub fn check_ancestors(root: &Path, rel: &str) -> Result<()> {
    let canonical_root = root.canonicalize().ctx(|| format!("resolving the root {}", root.display()))?;
    let mut at = PathBuf::from(root);
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        at.push(part);
        let shown = parts[..=i].join("/");
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(failed(format!("reading {shown}: {e}"))),
        };
        if meta.file_type().is_symlink() {
            let target = at.canonicalize().ctx(|| format!("resolving the symlink {shown}"))?;
            if !target.starts_with(&canonical_root) {
                return Err(usage(format!(
                    "{shown} is a symlink to {}, outside the project root; rb does not write through it",
                    target.display()
                )));
            }
            if !target.is_dir() {
                return Err(failed(format!(
                    "{shown} is a symlink to a file, but {rel} needs it to be a folder"
                )));
            }
        } else if !meta.is_dir() {
            return Err(failed(format!("{shown} is a file, but {rel} needs it to be a folder")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_paths() {
        for ok in ["a", "a/b", "a b/ü.py", ".hidden/x"] {
            check_rel(ok, "path").unwrap();
        }
        for bad in ["", "/etc/passwd", "a/../b", "..", "a//b", "./a", "a/", "a\0b"] {
            assert!(check_rel(bad, "path").is_err(), "{bad:?}");
        }
        assert!(is_under("a/b", "a"));
        assert!(!is_under("ab", "a"));
        assert!(!is_under("a", "a"));
        assert_eq!(parent("a/b/c"), Some("a/b"));
        assert_eq!(parent("a"), None);
    }
}
