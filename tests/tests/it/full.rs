//! A full store: `ENOSPC` while writing an undo or a snapshot says it was the store that
//! filled, how much was needed and that nothing changed, and leaves nothing behind; a restore
//! that fails and is put back removes the undo it no longer needs.

use std::path::PathBuf;
use std::process::Command;

use rb_tests::Scenario;
use rb_tests::docs::Summary;

/// A tmpfs mounted on the project's `backups/` (the store), unmounted when dropped.
struct SmallStore(PathBuf);

impl SmallStore {
    fn mount(s: &Scenario, size: &str) -> SmallStore {
        s.mkdir("backups");
        let at = s.path("backups");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(&at)
            .status()
            .unwrap();
        assert!(ok.success(), "mounting a tmpfs on {} (this test runs as root)", at.display());
        SmallStore(at)
    }
}

impl Drop for SmallStore {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The whole tree but the store's bookkeeping (lock, log, the folder snapshots are built in,
/// which must be empty).
fn state(s: &Scenario) -> rb_tests::Tree {
    let building = std::fs::read_dir(s.path("backups/.rb/tmp")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(building, 0, "something was left half-built in backups/.rb/tmp");
    s.tree().without(&["backups/.rb/lock", "backups/rollback.log", "backups/.rb/tmp"])
}

/// A project with one set, `data`: the folder `data/` with two small files.
fn data_set() -> Scenario {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\"]\n");
    s.mkdir("data");
    s.write("data/f1", "one\n").write("data/f2", "two\n");
    s
}

#[test]
fn a_store_that_fills_while_writing_the_undo_says_so_and_changes_nothing() {
    let s = data_set();
    let _store = SmallStore::mount(&s, "1m");
    let snap: Summary = s.cmd("rb-snapshot").arg("data").run().success().doc();
    // Since: f2 grew to 3 MiB, more than the store has room for.
    s.write("data/f2", vec![b'x'; 3 << 20]);
    let before = state(&s);

    let run = s.cmd("rb-restore").arg(&snap.id).run().code_is(1);
    let run = run.one_line_error(
        "rb-restore: error: the store backups is full: writing undo_20251013_120000: its copies need 3.00 MiB and",
    );
    run.stderr_has("was free (it stopped at the copy of data/f2); it was removed, nothing was changed")
        .stderr_has("rb-restore: hint: free space on the store's file system (`rb-snapshot prune` removes old snapshots)");
    state(&s).assert_same(&before);
    assert_eq!(s.events().last().unwrap()["message"], "ROLLBACK FAILED");

    // A snapshot that does not fit says the same, and leaves nothing half-built.
    let run = s.cmd("rb-snapshot").arg("data").run().code_is(1);
    run.one_line_error("rb-snapshot: error: the store backups is full: writing data_20251013_120000-2: its copies need 3.00 MiB and")
        .stderr_has("it was removed, nothing was changed");
    state(&s).assert_same(&before);

    // With room again, the same restore goes through.
    s.write("data/f2", "two, edited\n");
    s.cmd("rb-restore").arg(&snap.id).run().success();
    assert_eq!(s.read("data/f2"), "two\n");
}
