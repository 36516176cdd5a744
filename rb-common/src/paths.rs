//! Path safety: every path in a document or a set is relative, normalized and stays inside
//! the project root.
//!
//! A restore writes where documents tell it to, and documents arrive on stdin. So a path is
//! checked as text (no `..`, no absolute path, no empty or `.` component) and then against the
//! live tree: a folder on the way that is a symlink leading out of the root is refused,
//! because writing "inside" it would write elsewhere.
//!
//! Names that are not UTF-8 are kept, never converted lossily. Inside rb a path is a `String`
//! in which each byte that is not part of valid UTF-8 is one character of the last 256 code
//! points of Unicode's plane 16 (private use; a real name's characters from there are
//! written as their UTF-8 bytes the same way, so the mapping is one to one): [`from_os`]
//! makes that text, [`os`] gives the bytes back for the file system, [`escaped`]
//! print it as `\xNN` escapes. In documents such a path is written escaped in `path` with
//! the raw bytes in hex in `path_hex` beside it, and every reader takes `path_hex` when it is
//! there ([`flat`], [`one`], [`list`]).

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Context, Result, failed, usage};

/// The configuration's file name at the project root (read by `config`; named in messages
/// from below it, such as a program's time limit).
pub const CONFIG_FILE: &str = "rollback.toml";

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

/// A path as UTF-8 text, or an error naming it (escaped), for the few places that need real
/// text (a glob pattern, a snapshot id); names in a tree go through [`from_os`] instead.
pub fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        failed(format!("{} is not UTF-8; rb needs UTF-8 here", escaped(&from_os(path.as_os_str()))))
    })
}

/// The first code point that stands for a raw byte: byte `b` is `ESCAPE + b`.
const ESCAPE: u32 = 0x10_FF00;

fn is_escape(c: char) -> bool {
    c as u32 >= ESCAPE
}

fn push_byte(out: &mut String, b: u8) {
    out.push(char::from_u32(ESCAPE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER));
}

/// rb's text for a name or path from the file system: itself when it is UTF-8, else each
/// byte that is not valid UTF-8 as one escape character (see the module docs). Lossless.
pub fn from_os(name: &OsStr) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(is_escape) => Cow::Borrowed(text),
        _ => Cow::Owned(from_bytes(bytes)),
    }
}

/// [`from_os`] of raw bytes.
pub fn from_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf).bytes().for_each(|b| push_byte(&mut out, b));
            } else {
                out.push(c);
            }
        }
        chunk.invalid().iter().for_each(|b| push_byte(&mut out, *b));
    }
    out
}

/// True when `rel` stands for a name that is not UTF-8 (it holds escape characters).
pub fn is_odd(rel: &str) -> bool {
    // Every escape character's UTF-8 starts with 0xF4; most paths have none.
    rel.as_bytes().contains(&0xF4) && rel.chars().any(is_escape)
}

/// The raw bytes `rel` stands for.
pub fn raw(rel: &str) -> Cow<'_, [u8]> {
    if !is_odd(rel) {
        return Cow::Borrowed(rel.as_bytes());
    }
    let mut out = Vec::with_capacity(rel.len());
    for c in rel.chars() {
        if is_escape(c) {
            out.push((c as u32 - ESCAPE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Cow::Owned(out)
}

/// The file-system name of rb's text `rel`, to join to a folder: `root.join(paths::os(rel))`.
pub fn os(rel: &str) -> Cow<'_, Path> {
    match raw(rel) {
        Cow::Borrowed(b) => Cow::Borrowed(Path::new(OsStr::from_bytes(b))),
        Cow::Owned(b) => Cow::Owned(PathBuf::from(OsString::from_vec(b))),
    }
}

/// `root.join(rel)` with rb's text `rel` turned back into its file-system bytes ([`os`]).
pub fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(os(rel))
}

/// `rel` for a person to read: itself when it is UTF-8, else with each byte that is not
/// valid UTF-8 as `\xNN` (and a backslash as `\\`, so the escapes are unambiguous).
pub fn escaped(rel: &str) -> Cow<'_, str> {
    if !is_odd(rel) {
        return Cow::Borrowed(rel);
    }
    let bytes = raw(rel);
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    Cow::Owned(out)
}

/// How a path that is not UTF-8 is written in a document: escaped, with its bytes in hex.
#[derive(Serialize, Deserialize)]
struct Wire {
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
}

impl Wire {
    fn of(rel: &str) -> Wire {
        match is_odd(rel) {
            true => Wire { path: escaped(rel).into_owned(), path_hex: Some(hex::encode(raw(rel))) },
            false => Wire { path: rel.to_string(), path_hex: None },
        }
    }

    fn text<E: serde::de::Error>(self) -> std::result::Result<String, E> {
        match self.path_hex {
            Some(h) => hex::decode(&h)
                .map(|b| from_bytes(&b))
                .map_err(|e| E::custom(format!("path_hex of {:?}: {e}", self.path))),
            None => Ok(self.path),
        }
    }
}

/// A path or name read from a document: a string, or (not UTF-8) `{"path", "path_hex"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneWire {
    Text(String),
    Odd(Wire),
}

impl OneWire {
    fn text<E: serde::de::Error>(self) -> std::result::Result<String, E> {
        match self {
            OneWire::Text(t) => Ok(t),
            OneWire::Odd(w) => w.text(),
        }
    }
}

/// Serde for a path field written flat in its object (`#[serde(flatten, with = "paths::flat")]`):
/// `"path"`, and `"path_hex"` beside it when the name is not UTF-8.
pub mod flat {
    use super::*;

    /// Writes `path` (and `path_hex`).
    pub fn serialize<S: Serializer>(rel: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
        Wire::of(rel).serialize(s)
    }

    /// Reads `path`, or the bytes of `path_hex` when present.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
        Wire::deserialize(d)?.text()
    }
}

/// Serde for one path value (`#[serde(with = "paths::one")]`): a string, or for a name that
/// is not UTF-8 an object `{"path": escaped, "path_hex": bytes}`.
pub mod one {
    use super::*;

    /// Writes the string, or the object.
    pub fn serialize<S: Serializer>(rel: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
        match is_odd(rel) {
            true => Wire::of(rel).serialize(s),
            false => s.serialize_str(rel),
        }
    }

    /// Reads either.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
        OneWire::deserialize(d)?.text()
    }
}

/// Serde for a file-system path (`#[serde(with = "paths::fs_path")]`), written as [`one`]
/// writes rb's text of it.
pub mod fs_path {
    use super::*;

    /// Writes the path as a string, or not UTF-8, as `{"path", "path_hex"}`.
    pub fn serialize<S: Serializer>(path: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
        one::serialize(&from_os(path.as_os_str()), s)
    }

    /// Reads either form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<PathBuf, D::Error> {
        Ok(os(&one::deserialize(d)?).into_owned())
    }
}

/// Serde for a list of paths (`#[serde(with = "paths::list")]`), each as [`one`] writes it.
pub mod list {
    use super::*;

    /// Writes each path as a string or, not UTF-8, as `{"path", "path_hex"}`.
    pub fn serialize<S: Serializer>(list: &[String], s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for rel in list {
            match is_odd(rel) {
                true => seq.serialize_element(&Wire::of(rel))?,
                false => seq.serialize_element(rel)?,
            }
        }
        seq.end()
    }

    /// Reads either form of each.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
        Vec::<OneWire>::deserialize(d)?.into_iter().map(OneWire::text).collect()
    }
}

/// `rel` relative to `root`, as a normalized string, or an error if it is not under `root`.
pub fn relative_to(root: &Path, path: &Path) -> Result<String> {
    let rest = path
        .strip_prefix(root)
        .map_err(|_| usage(format!("{} is outside the project root {}", path.display(), root.display())))?;
    let mut parts = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(p) => parts.push(from_os(p).into_owned()),
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
        at.push(os(part));
        let shown = escaped(&parts[..=i].join("/")).into_owned();
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
                    "{shown} is a symlink to a file, but {} needs it to be a folder",
                    escaped(rel)
                )));
            }
        } else if !meta.is_dir() {
            return Err(failed(format!("{shown} is a file, but {} needs it to be a folder", escaped(rel))));
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

    #[test]
    fn names_that_are_not_utf8_round_trip() {
        for bytes in
            [&b"caf\xe9.txt"[..], b"\xff\xfe", "plain ü".as_bytes(), "\u{10FF41}x".as_bytes(), b"a\\b\x80"]
        {
            let text = from_bytes(bytes);
            assert_eq!(&*raw(&text), bytes, "{text:?}");
            assert_eq!(is_odd(&text), std::str::from_utf8(bytes).is_err() || bytes[0] == 0xF4, "{text:?}");
            assert_eq!(os(&text).as_os_str().as_bytes(), bytes);
        }
        assert_eq!(escaped(&from_bytes(b"caf\xe9\\x")), "caf\\xe9\\\\x");
        assert_eq!(escaped("plain"), "plain");
        let odd = from_bytes(b"d/caf\xe9");
        let json = serde_json::to_string(&Wire::of(&odd)).unwrap();
        assert_eq!(json, r#"{"path":"d/caf\\xe9","path_hex":"642f636166e9"}"#);
        assert_eq!(serde_json::from_str::<Wire>(&json).unwrap().text::<serde_json::Error>().unwrap(), odd);
    }
}
