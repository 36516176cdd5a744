//! Dedup (unchanged files hard-linked from the set's previous snapshot) and retention (prune).

use std::os::unix::fs::MetadataExt;

use rb_tests::Scenario;
use rb_tests::docs::Manifest;

fn ino(s: &Scenario, rel: &str) -> u64 {
    std::fs::metadata(s.path(rel)).unwrap().ino()
}

#[test]
fn unchanged_files_are_linked_from_the_previous_snapshot_never_from_the_live_tree() {
    let s = Scenario::helpdesk();
    let first: Manifest = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T11:00:00Z").run().success().doc();
    s.append("nginx/nginx.conf", "# changed\n");
    s.chmod("core/config/settings/staging.py", 0o640);
    let second: Manifest = s.cmd("rb-snapshot").run().success().doc();
    for e in second.entries.iter().filter(|e| matches!(e.node, rb_tests::docs::Node::File { .. })) {
        let now = ino(&s, &format!("backups/{}/{}", second.id, e.path));
        let then = ino(&s, &format!("backups/{}/{}", first.id, e.path));
        assert_ne!(now, ino(&s, &e.path), "{} shares an inode with the live tree", e.path);
        let changed = e.path == "nginx/nginx.conf" || e.path == "core/config/settings/staging.py";
        assert_eq!(now == then, !changed, "{}: linked = {}", e.path, now == then);
    }
    // Hashes are reused, and the snapshot still verifies on its own.
    let same = |m: &Manifest, p: &str| m.entries.iter().find(|e| e.path == p).unwrap().node.clone();
    assert_eq!(same(&first, "docker-compose.yml"), same(&second, "docker-compose.yml"));
    s.cmd("rb-snapshot").args(["verify", &second.id]).run().success();
    s.program("sha256sum")
        .args(["-c", "--quiet", ".rb/SHA256SUMS"])
        .current_dir(s.path(&format!("backups/{}", second.id)))
        .run()
        .success();
    // --no-link copies everything.
    let third: Manifest = s.cmd("rb-snapshot").arg("--no-link").run().success().doc();
    let base = "core/config/settings/base.py";
    assert_ne!(
        ino(&s, &format!("backups/{}/{base}", third.id)),
        ino(&s, &format!("backups/{}/{base}", second.id))
    );
}

#[test]
fn prune_keeps_the_newest_per_set_and_latest() {
    let s = Scenario::helpdesk();
    let mut config = Vec::new();
    for hour in 1..=4 {
        let m: Manifest =
            s.cmd("rb-snapshot").env("RB_NOW", format!("2025-10-13T0{hour}:00:00Z")).run().success().doc();
        config.push(m.id);
    }
    let nginx: Manifest =
        s.cmd("rb-snapshot").arg("nginx").env("RB_NOW", "2025-10-13T00:30:00Z").run().success().doc();
    // latest points to the newest taken: nginx's (taken last, though with an earlier time).
    s.program("/bin/bash")
        .args([
            "-c",
            "mkdir -p backups/config_20250101_000000 && cp nginx/nginx.conf backups/config_20250101_000000/",
        ])
        .run()
        .success();
    let before = s.tree();
    let dry: rb_tests::docs::PruneDoc =
        s.cmd("rb-snapshot").args(["prune", "--keep", "2", "--dry-run"]).run().success().doc();
    s.tree().assert_same(&before);
    assert_eq!(dry.removed, [config[0].clone(), config[1].clone()]);
    let done: rb_tests::docs::PruneDoc =
        s.cmd("rb-snapshot").args(["prune", "--keep", "1"]).run().success().doc();
    assert_eq!(done.removed, [config[0].clone(), config[1].clone(), config[2].clone()]);
    assert!(done.kept.contains(&nginx.id) && done.kept.contains(&config[3]));
    let left: Vec<String> = s
        .cmd("rb-snapshot")
        .arg("list")
        .run()
        .success()
        .docs::<Manifest>()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        left,
        ["config_20250101_000000".to_string(), nginx.id.clone(), config[3].clone()],
        "the seed's backup is never pruned"
    );
    s.cmd("rb-snapshot").args(["verify", &config[3]]).run().success();
    s.cmd("rb-snapshot").args(["prune", "--keep", "0"]).run().code_is(2).one_line_error("--keep 0");
}

#[test]
fn prune_never_removes_what_latest_or_a_pending_restore_needs() {
    let s = Scenario::helpdesk();
    let old: Manifest = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T01:00:00Z").run().success().doc();
    s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T02:00:00Z").run().success();
    s.append("nginx/nginx.conf", "# broken\n");
    // A restore of the old snapshot, stopped half-way: it and its undo are needed.
    let crashed = s.cmd("rb-restore").arg(&old.id).env("FAILPOINTS", "restore-step=1*off->return").run();
    assert_eq!(crashed.code(), None, "binaries built with failpoints? (make test)");
    let plan: rb_tests::docs::PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "--keep", "1", "--dry-run"])
        .run()
        .success()
        .stderr_has("an interrupted restore needs it")
        .doc();
    assert!(plan.kept.contains(&old.id), "{plan:?}");
    // …and a real prune is refused while the restore is pending.
    s.cmd("rb-snapshot").args(["prune", "--keep", "1"]).run().code_is(3).one_line_error("is pending");
    s.cmd("rb-restore").arg("--abort").run().success();
    // latest (the 02:00 snapshot) is kept by --keep 1 anyway; point latest at the old one.
    std::fs::remove_file(s.path("backups/latest")).unwrap();
    std::os::unix::fs::symlink(&old.id, s.path("backups/latest")).unwrap();
    let done: rb_tests::docs::PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "--keep", "1", "config"])
        .run()
        .success()
        .stderr_has("`latest` points to it")
        .doc();
    assert!(done.kept.contains(&old.id));
}
