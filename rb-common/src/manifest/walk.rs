//! Walking what a snapshot records, in the manifest's own order: every path is visited in
//! byte order of its text, so entries can be written as they are met (no list of them all,
//! no sort at the end) and merged with a stored manifest read the same way.
//!
//! That order is not a plain depth-first walk: `a-c` sorts between `a` and `a/b` ('-' is
//! below '/'). So inside each folder a child folder has two places — its own entry under its
//! name, what is in it under its name and a `/` — and the folder's list is walked in the order
//! of those keys. Everything below `a/` starts with `a/`, so what sorts before that key sorts
//! before all of it, and what sorts after, after.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Exclude, is_socket};
use crate::error::{Context, Result};
use crate::paths;

/// One path to record: the whole of it, or (for a folder) only the folder itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Project-relative path.
    pub path: String,
    /// Record only the folder's mode and mtime, not its content.
    pub shallow: bool,
}

/// What [`walk`] and [`walk_items`] never enter, and what they tell the visitor.
struct Walk<'a, 'v> {
    /// The project root, where chosen items are found.
    root: &'a Path,
    skip: Option<&'a str>,
    exclude: &'a Exclude,
    visit: &'v mut dyn FnMut(&Path, &str, &fs::Metadata, bool) -> Result<()>,
}

/// One place in a folder's walk: an entry, or what is below a folder.
enum Place<'i> {
    /// A path to visit, with its metadata, shallow or not.
    Entry(PathBuf, fs::Metadata, bool),
    /// Everything inside a folder walked whole.
    Inside(PathBuf),
    /// Only the chosen items below a folder (the set's paths inside a folder recorded shallow,
    /// or inside a folder not recorded at all).
    Chosen(Vec<&'i Item>),
}

/// Walks `base` (project path `rel`) without following symlinks, calling `visit(actual, rel,
/// meta)` for it and, for a folder unless `shallow`, everything inside, in path order.
/// `skip` is a path never entered (the store, when it is inside the tree), and so is what
/// `exclude` excludes. A socket is passed over with a warning naming it (see [`is_socket`]).
pub fn walk(
    base: &Path,
    rel: &str,
    shallow: bool,
    skip: Option<&str>,
    exclude: &Exclude,
    visit: &mut dyn FnMut(&Path, &str, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    let meta = fs::symlink_metadata(base).ctx(|| format!("reading {}", paths::escaped(rel)))?;
    let mut visit = |actual: &Path, rel: &str, meta: &fs::Metadata, _: bool| visit(actual, rel, meta);
    let mut w = Walk { root: Path::new(""), skip, exclude, visit: &mut visit };
    let mut places = vec![(rel.to_string(), Place::Entry(base.to_path_buf(), meta.clone(), shallow))];
    if meta.is_dir() && !shallow {
        places.push((format!("{rel}/"), Place::Inside(base.to_path_buf())));
    }
    w.places(places)
}

/// Walks the `items` of a set under `root` as one tree, calling `visit(actual, rel, meta,
/// shallow)` for each path in path order: a folder item recorded whole with everything in
/// it (an item inside it is covered by it), a shallow one alone. As [`walk`] for `skip`,
/// `exclude` and sockets.
pub fn walk_items(
    root: &Path,
    items: &[Item],
    skip: Option<&str>,
    exclude: &Exclude,
    visit: &mut dyn FnMut(&Path, &str, &fs::Metadata, bool) -> Result<()>,
) -> Result<()> {
    let mut chosen: Vec<&Item> = items.iter().collect();
    // A path named both whole and shallow is recorded whole.
    chosen.sort_by(|a, b| a.path.cmp(&b.path).then(a.shallow.cmp(&b.shallow)));
    chosen.dedup_by(|a, b| a.path == b.path);
    let mut w = Walk { root, skip, exclude, visit };
    w.chosen(None, &chosen)
}

impl Walk<'_, '_> {
    /// Visits `places` (keys and what is there) in the order of their keys.
    fn places(&mut self, mut places: Vec<(String, Place<'_>)>) -> Result<()> {
        places.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, place) in places {
            match place {
                Place::Entry(actual, meta, shallow) => {
                    if is_socket(&meta) {
                        crate::ui::warn(&format!(
                            "{} is a socket: it is not kept (the program that listens on it makes a new one)",
                            paths::escaped(&key)
                        ));
                        continue;
                    }
                    (self.visit)(&actual, &key, &meta, shallow)?;
                }
                Place::Inside(actual) => self.inside(&actual, key.trim_end_matches('/'))?,
                Place::Chosen(items) => self.chosen(Some(key.trim_end_matches('/')), &items)?,
            }
        }
        Ok(())
    }

    /// Everything inside the folder `actual` (project path `rel`).
    fn inside(&mut self, actual: &Path, rel: &str) -> Result<()> {
        let shown = paths::escaped(rel);
        let mut places = Vec::new();
        for child in fs::read_dir(actual).ctx(|| format!("listing {shown}"))? {
            let child = child.ctx(|| format!("listing {shown}"))?;
            let child_rel = format!("{rel}/{}", paths::from_os(&child.file_name()));
            if self.skip == Some(child_rel.as_str()) {
                continue;
            }
            let meta = child.metadata().ctx(|| format!("reading {}", paths::escaped(&child_rel)))?;
            if self.exclude.excludes(&child_rel, meta.is_dir()) {
                continue;
            }
            if meta.is_dir() {
                places.push((format!("{child_rel}/"), Place::Inside(child.path())));
            }
            places.push((child_rel, Place::Entry(child.path(), meta, false)));
        }
        self.places(places)
    }

    /// The chosen `items` (sorted, each path once) below `under` (the root when `None`).
    fn chosen(&mut self, under: Option<&str>, items: &[&Item]) -> Result<()> {
        // Each next component below `under`, with every item at or below it.
        let mut groups: std::collections::BTreeMap<&str, Vec<&Item>> = Default::default();
        for item in items {
            let start = under.map_or(0, |u| u.len() + 1);
            let end = item.path[start..].find('/').map_or(item.path.len(), |n| start + n);
            groups.entry(&item.path[..end]).or_default().push(item);
        }
        let mut places = Vec::new();
        for (rel, group) in groups {
            let actual = self.root.join(paths::os(rel));
            let below: Vec<&Item> = group.iter().copied().filter(|i| i.path != rel).collect();
            match group.iter().find(|i| i.path == rel) {
                Some(item) => {
                    let meta =
                        fs::symlink_metadata(&actual).ctx(|| format!("reading {}", paths::escaped(rel)))?;
                    if meta.is_dir() && !item.shallow {
                        places.push((format!("{rel}/"), Place::Inside(actual.clone())));
                    } else if !below.is_empty() {
                        places.push((format!("{rel}/"), Place::Chosen(below)));
                    }
                    places.push((rel.to_string(), Place::Entry(actual, meta, item.shallow)));
                }
                None => places.push((format!("{rel}/"), Place::Chosen(below))),
            }
        }
        self.places(places)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for d in ["a", "a/b", "a-c", "x", "x/y", "x/y/z", "x/q"] {
            fs::create_dir_all(t.path().join(d)).unwrap();
        }
        for f in ["a/b/1", "a/b.txt", "a-c/2", "a.txt", "x/y/z/3", "x/y-1", "x/q/4", "x/y.conf"] {
            fs::write(t.path().join(f), f).unwrap();
        }
        t
    }

    fn seen(root: &Path, items: &[(&str, bool)]) -> Vec<String> {
        let items: Vec<Item> = items.iter().map(|(p, s)| Item { path: p.to_string(), shallow: *s }).collect();
        let mut out = Vec::new();
        walk_items(root, &items, None, &Exclude::default(), &mut |_, rel, _, shallow| {
            out.push(format!("{rel}{}", if shallow { " (shallow)" } else { "" }));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_walk_meets_paths_in_the_order_of_their_text() {
        let t = tree();
        let got = seen(t.path(), &[("a", false), ("a-c", false), ("a.txt", false)]);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted);
        assert_eq!(got, ["a", "a-c", "a-c/2", "a.txt", "a/b", "a/b.txt", "a/b/1"]);
    }

    #[test]
    fn items_inside_shallow_folders_merge_into_one_order_and_covered_ones_are_met_once() {
        let t = tree();
        let got = seen(
            t.path(),
            &[
                ("x", true),
                ("x/y", true),
                ("x/y/z", false),
                ("x/y-1", false),
                ("x/q", false),
                ("x/q/4", false),
            ],
        );
        assert_eq!(got, ["x (shallow)", "x/q", "x/q/4", "x/y (shallow)", "x/y-1", "x/y/z", "x/y/z/3"]);
        // Not a shallow parent: items below a path that is not an item are still met.
        assert_eq!(seen(t.path(), &[("x/y.conf", false), ("x/q", false)]), ["x/q", "x/q/4", "x/y.conf"]);
        assert_eq!(seen(t.path(), &[("a", true), ("a", false)]), ["a", "a/b", "a/b.txt", "a/b/1"]);
    }

    #[test]
    fn names_that_are_not_utf8_sort_as_the_manifest_holds_them() {
        use std::os::unix::ffi::OsStrExt;
        let t = tempfile::tempdir().unwrap();
        for name in [&b"caf\xe9"[..], b"caf\x80", "café".as_bytes(), b"caf-x", b"caf.d", "caf😀".as_bytes()]
        {
            fs::write(t.path().join(std::ffi::OsStr::from_bytes(name)), "x").unwrap();
        }
        fs::create_dir(t.path().join("caf")).unwrap();
        fs::write(t.path().join("caf/in"), "x").unwrap();
        let rel = |n: &[u8]| paths::from_os(std::ffi::OsStr::from_bytes(n)).into_owned();
        let items: Vec<(String, bool)> =
            [&b"caf\xe9"[..], b"caf\x80", "café".as_bytes(), b"caf-x", b"caf.d", "caf😀".as_bytes(), b"caf"]
                .iter()
                .map(|n| (rel(n), false))
                .collect();
        let items: Vec<(&str, bool)> = items.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let got = seen(t.path(), &items);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted);
        assert_eq!(got.len(), 8);
    }

    #[test]
    fn one_path_walks_in_the_same_order() {
        let t = tree();
        let mut got = Vec::new();
        walk(&t.path().join("x"), "x", false, Some("x/q"), &Exclude::default(), &mut |_, rel, _| {
            got.push(rel.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, ["x", "x/y", "x/y-1", "x/y.conf", "x/y/z", "x/y/z/3"]);
    }
}
