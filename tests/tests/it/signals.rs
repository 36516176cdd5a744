//! SIGINT and SIGTERM during a restore or a snapshot: stop at the next safe point, never
//! like `kill -9`. Before the first rename the staged files go and nothing changed (exit 1);
//! after it the undo goes back (exit 1); a second signal stops that too, with the journal
//! standing (exit 3) for `--abort`. A test-only failpoint (`sleep`) holds the run at a known
//! step while the signal is sent; the binaries need `--features rb-common/failpoints`.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use rb_tests::{Scenario, Tree};

const FILES: usize = 200;

/// A crash point in the renames of [`broken_data`]'s restore: the first point starts the
/// steps, then one per step is staged (FILES files and the 11 folders' metadata), then one per
/// rename.
const HELD_IN_RENAMES: usize = 1 + FILES + 11 + 12;

/// A `data` set of FILES files, snapshotted, then every file rewritten: a restore writes
/// FILES files. Returns the live tree as broken (what an interrupted restore must leave).
fn broken_data() -> (Scenario, Tree) {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\"]\n");
    for i in 0..FILES {
        s.write(&format!("data/d{:02}/f{i:04}.txt", i % 10), format!("good {i}\n"));
    }
    s.cmd("rb-snapshot").arg("data").run().success();
    for i in 0..FILES {
        s.write(&format!("data/d{:02}/f{i:04}.txt", i % 10), format!("broken {i}\n").repeat(3));
    }
    let broken = s.live();
    (s, broken)
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(ok.success(), "kill {sig} failed");
}

/// Waits for `rel` to appear under the project (the run has reached that far).
fn wait_for(s: &Scenario, rel: &str) {
    let t = Instant::now();
    while !s.exists(rel) {
        assert!(t.elapsed() < Duration::from_secs(30), "{rel} never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `sig` once the run has written `reached` and `after_ms` more have passed (it is then
/// held at a failpoint).
fn interrupt(s: &Scenario, child: &Child, reached: &str, after_ms: u64, sig: &str) {
    wait_for(s, reached);
    std::thread::sleep(Duration::from_millis(after_ms));
    signal(child, sig);
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sigint_before_the_first_rename_removes_what_was_staged_and_changes_nothing() {
    let (s, broken) = broken_data();
    // Point 1 starts the steps; the 51st is the 50th file being staged: held there 3 s.
    let child = s
        .cmd("rb-restore")
        .arg("latest")
        .env("FAILPOINTS", "restore-step=51*off->1*sleep(3000)->off")
        .spawn();
    interrupt(&s, &child, "backups/.rb/journal.json", 500, "-INT");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("rb-restore: warning: SIGINT: stopping at the next safe point"), "{err}");
    assert!(
        err.contains("rb-restore: error: the restore failed before any file was changed: interrupted by SIGINT; what was staged is removed, nothing changed"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    s.live().assert_same(&broken);
    rb_tests::no_restore_leftovers(&s);
}

#[test]
fn sigterm_after_the_first_rename_puts_the_undo_back() {
    let (s, broken) = broken_data();
    // 1 + FILES + (one per folder: 11) staging points, then a dozen renames: held there 3 s.
    let hold = format!("restore-step={}*off->1*sleep(3000)->off", HELD_IN_RENAMES);
    let child = s.cmd("rb-restore").arg("latest").env("FAILPOINTS", hold).spawn();
    interrupt(&s, &child, "backups/.rb/journal.json", 800, "-TERM");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rb-restore: error: the restore failed: interrupted by SIGTERM; everything was put back as it was (from undo_"),
        "{err}"
    );
    s.live().assert_same(&broken);
    rb_tests::no_restore_leftovers(&s);
    // Everything is as it was: the undo it no longer needs is gone from the store too.
    assert!(s.cmd("rb-snapshot").args(["list", "undo"]).run().success().stdout().is_empty());
    let events = s.events();
    assert_eq!(events.last().unwrap()["message"], "ROLLBACK FAILED");
}

#[test]
fn a_second_signal_stops_the_putting_back_and_leaves_the_journal_for_abort() {
    let (s, broken) = broken_data();
    // From a dozen renames on, every step is held 1 s: the put-back too.
    let hold = format!("restore-step={HELD_IN_RENAMES}*off->sleep(1000)");
    let child = s.cmd("rb-restore").arg("latest").env("FAILPOINTS", hold).spawn();
    interrupt(&s, &child, "backups/.rb/journal.json", 800, "-INT");
    // The held rename ends, the put-back starts and is held at its first step.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("rb-restore: warning: SIGINT again: stopping now"), "{err}");
    assert!(err.contains("also failed: interrupted by SIGINT; the files may be partly restored"), "{err}");
    assert!(err.contains("rb-restore: hint: run `rb-restore --abort` to put back what was there"), "{err}");
    assert!(s.exists("backups/.rb/journal.json"));
    // While it stands, other changes are refused; --abort puts back exactly what was there.
    s.cmd("rb-snapshot").arg("data").run().code_is(3);
    s.cmd("rb-restore").arg("--abort").run().success();
    let live = s.live();
    live.assert_same(&broken);
    rb_tests::no_restore_leftovers(&s);
}

#[test]
fn sigint_during_a_snapshot_stores_nothing() {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\"]\n");
    for i in 0..FILES {
        s.write(&format!("data/f{i:04}.txt"), format!("file {i}\n"));
    }
    let before = s.tree();
    // From the 20th file on, each copy is held 300 ms.
    let child =
        s.cmd("rb-snapshot").arg("data").env("FAILPOINTS", "snapshot-file=20*off->sleep(300)").spawn();
    interrupt(&s, &child, "backups/.rb/tmp", 800, "-INT");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("interrupted by SIGINT: the partial copy is removed, nothing was stored or changed"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // Only the lock file and the empty tmp folder may differ from before.
    let tmp: Vec<_> = std::fs::read_dir(s.path("backups/.rb/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "left in the store's tmp: {tmp:?}");
    s.tree().without(&["backups"]).assert_same(&before.without(&["backups"]));
    assert!(s.cmd("rb-snapshot").args(["list", "data"]).run().success().stdout().is_empty());
}
