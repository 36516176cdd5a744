//! The layers of `rb-common` hold: every module uses only modules listed before it in the
//! `// layers:` line of `src/lib.rs` (lower layers, or earlier in its own), so no import runs
//! in a circle. A module is a file of `src/` or a folder with its `mod.rs`; its submodules are
//! part of it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules in order, from the `// layers:` line of lib.rs.
fn order() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let line =
        lib.lines().find_map(|l| l.strip_prefix("// layers:")).expect("lib.rs has a `// layers:` line");
    line.split_whitespace().filter(|w| *w != "|").map(str::to_string).collect()
}

/// Rust text without comments and string literals (so a doc link or a message is not an import).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => escaped = false,
                    }
                }
                out.push_str("\"\"");
            }
            c => out.push(c),
        }
    }
    out
}

/// The top-level modules `text` names through `crate::`: `crate::a::b`, `crate::{a, b::c}`.
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut level = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain([',']) {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        let name: String =
                            item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        if !name.is_empty() {
                            found.push(name);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.push(name);
        }
    }
    found
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which module a file of `src/` belongs to: `store/legacy.rs` is part of `store`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
    first.strip_suffix(".rs").unwrap_or(first).to_string()
}

#[test]
fn every_import_points_down_the_layer_table() {
    let order = order();
    let rank: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut wrong = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in &all {
        let module = module_of(file);
        if module == "lib" {
            continue;
        }
        seen.insert(module.clone());
        let Some(&me) = rank.get(module.as_str()) else {
            wrong.push(format!("{module} ({}) is not in lib.rs's layer table", file.display()));
            continue;
        };
        for used in uses(&code(&std::fs::read_to_string(file).unwrap())) {
            match rank.get(used.as_str()) {
                Some(&them) if them < me => {}
                Some(_) if used == module => {}
                Some(_) => wrong.push(format!("{} uses {used}, which is not below {module}", file.display())),
                None => {
                    wrong.push(format!("{} uses {used}, which is not in the layer table", file.display()))
                }
            }
        }
    }
    for m in &order {
        assert!(seen.contains(m), "the layer table names {m}, which is not a module");
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn the_reader_sees_groups_paths_and_not_comments() {
    let text = "use crate::a::{x, y};\nuse crate::{b, c::{d, e}, f as g};\n// crate::h\nlet s = \"crate::i\"; crate::j::k();";
    assert_eq!(uses(&code(text)), vec!["a", "b", "c", "f", "j"]);
}
