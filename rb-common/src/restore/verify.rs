//! Checking before and after: every snapshot copy a restore will write against its recorded
//! hash, before anything changes; the set's verify command after everything is in place.

use std::fs;
use std::path::Path;

use crate::error::{Result, failed};
use crate::exec;
use crate::fsx::{self};
use crate::journal::{Check, Step};
use crate::store::Snapshot;

use super::plan::Plan;

/// Checks the content of every file the plan will write against the snapshot's hashes,
/// reading them all before anything changes. Every damaged or missing file is named.
pub fn verify_sources(snap: &Snapshot, plan: &Plan) -> Result<()> {
    let mut problems = Vec::new();
    for step in plan.steps.iter() {
        let Step::Write { path, src, size, sha256, .. } = step? else { continue };
        if let Some(problem) = check_file(&src, size, sha256.as_deref()) {
            problems.push(format!("{path}: {problem}"));
        }
    }
    if !problems.is_empty() {
        snap.check_present()?;
    }
    damaged(&snap.manifest.id, problems, "; nothing was changed")
}

/// What is wrong with a snapshot file, if anything: missing, another size, another hash.
pub fn check_file(src: &Path, size: u64, sha256: Option<&str>) -> Option<String> {
    match fs::symlink_metadata(src) {
        Err(_) => return Some("missing from the snapshot".into()),
        Ok(m) if !m.is_file() => return Some("not a regular file in the snapshot".into()),
        Ok(_) => {}
    }
    let want = sha256?;
    match fsx::hash_file(src) {
        Err(e) => Some(e.message().to_string()),
        Ok(d) if d.size != size => Some(format!("{} bytes in the snapshot, {size} recorded", d.size)),
        Ok(d) if d.sha256 != want => Some("content differs from its recorded SHA-256".into()),
        Ok(_) => None,
    }
}

/// The error for a damaged snapshot (`problems` are `path: what`), or `Ok` when there are
/// none. `tail` ends the message (what that means for the state).
pub fn damaged(id: &str, problems: Vec<String>, tail: &str) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    let noun = if n == 1 { "file" } else { "files" };
    let list = problems.iter().map(|p| p.split(':').next().unwrap_or(p)).collect::<Vec<_>>().join(", ");
    Err(failed(format!("snapshot {id} is damaged: {n} {noun} ({list}){tail}"))
        .details(problems.into_iter().map(|p| format!("damaged: {p}")).collect()))
}

/// Runs a verify command (if any) in `root`: its output when it exits 0, else an error whose
/// message ends with its last lines and whose details are everything it said.
pub fn run_check(check: Option<&Check>, root: &Path) -> Result<Option<exec::Output>> {
    let Some(check) = check else { return Ok(None) };
    let out = exec::run(&check.argv, root, &check.setting)?;
    if out.ok() {
        return Ok(Some(out));
    }
    Err(failed(format!("`{}` failed ({}): {}", exec::display(&check.argv), out.status(), out.summary()))
        .details(out.lines()))
}
