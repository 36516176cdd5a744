//! The shape of the workspace: each tool is a layer over rb-common and nothing else, and every
//! Python program a tool ships is a `.py` file that compiles.
//!
//! A tool that builds another tool's `Cli` field by field breaks whenever that command line
//! grows a flag, and ties their releases together; what two tools share belongs in
//! rb-common. rb-emergency (which runs the other tools' steps by design), rb-gen (which
//! renders every tool's `Cli`) and the tests crate are the exceptions.

use std::path::{Path, PathBuf};
use std::process::Command;

use rb_tests::repo;
use serde_json::Value;

/// The packages that may depend on other tools.
const MAY_USE_TOOLS: &[&str] = &["rb-emergency", "rb-gen", "rb-tests"];

#[test]
fn no_tool_depends_on_another_tool() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let tools: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(tools.contains(&"rb-common") && tools.contains(&"rb-snapshot"), "{tools:?}");
    let mut offenders = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        if !name.starts_with("rb-") || MAY_USE_TOOLS.contains(&name) {
            continue;
        }
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if dep_name.starts_with("rb-") && dep_name != "rb-common" {
                let kind = dep["kind"].as_str().unwrap_or("normal");
                offenders.push(format!("{name} depends on {dep_name} ({kind})"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a tool may depend on rb-common only (what tools share belongs there): {}",
        offenders.join("; ")
    );
}

/// Every `.py` file under `dir`, recursively.
fn python_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            python_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "py") {
            found.push(path);
        }
    }
}

#[test]
fn every_python_program_compiles() {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let path = entry.unwrap().path();
        let is_crate = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("rb-"));
        if is_crate && path.join("src").is_dir() {
            python_files(&path.join("src"), &mut files);
        }
    }
    files.sort();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    assert!(names.iter().any(|n| n.ends_with("rb-flag/src/django.py")), "{names:?}");
    let venv = repo().join(".venv/bin/python");
    let python = if venv.is_file() { venv } else { PathBuf::from("python3") };
    // Compiled into a temporary folder: py_compile's default writes __pycache__ next to the
    // sources.
    let scratch = tempfile::tempdir().unwrap();
    let program = "import os, py_compile, sys\n\
        for i, f in enumerate(sys.argv[2:]):\n    \
        py_compile.compile(f, cfile=os.path.join(sys.argv[1], f'{i}.pyc'), doraise=True)\n";
    let out = Command::new(&python).arg("-c").arg(program).arg(scratch.path()).args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{} could not compile every program of {names:?}: {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
