//! rb-restore: exact round trips, dry run, undo, stdin documents, verify commands, the lock,
//! symlinks that lead out, owners, `latest`, ids and stores that are refused, a reader that
//! goes away. Crashes and `kill -9` are in `restore_crash`.

use rb_tests::docs::{Manifest, RestoreDoc, Summary};
use rb_tests::{STAMP, Scenario};

/// Breaks the helpdesk config the ways a bad deploy does: content, mode, a deleted file, a
/// new file in the settings folder, a new compose file, a file that was missing.
fn break_config(s: &Scenario) {
    s.append("core/config/settings/base.py", "DEBUG = True  # broken\n");
    s.chmod("core/config/settings/production.py", 0o666);
    s.remove("docker-compose.staging.yml");
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    s.write("docker-compose.override.yml", "services: {}\n");
    s.remove("nginx/nginx.conf");
    s.symlink("nginx/nginx.conf", "/etc/nginx/nginx.conf");
}

#[test]
fn restore_is_exact_and_the_undo_puts_the_broken_state_back() {
    let s = Scenario::helpdesk();
    s.remove("deploy/render/render.yaml");
    let good = s.live();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    break_config(&s);
    s.write("deploy/render/render.yaml", "added since\n");
    let broken = s.live();

    let all = s.tree();
    let dry: RestoreDoc = s.cmd("rb-restore").args(["--dry-run", &snap.id]).run().success().doc();
    s.tree().assert_same(&all);
    assert!(dry.dry_run);
    assert_eq!(dry.undo, None);
    assert_eq!(dry.created, ["docker-compose.staging.yml"]);
    assert_eq!(
        dry.modified,
        ["core/config/settings/base.py", "core/config/settings/production.py", "nginx/nginx.conf"]
    );
    assert_eq!(
        dry.removed,
        ["core/config/settings/local.py", "deploy/render/render.yaml", "docker-compose.override.yml"]
    );

    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().stderr_has("puts back").doc();
    assert_eq!(
        (done.created.clone(), done.modified.clone(), done.removed.clone()),
        (dry.created, dry.modified, dry.removed)
    );
    assert!(!done.dry_run && done.verified);
    let undo = done.undo.clone().expect("an undo snapshot");
    assert_eq!(undo, format!("undo_{STAMP}"));
    s.live().assert_same(&good);

    // The undo is itself a snapshot: verifiable, and restoring it brings back the broken state,
    // removing what the restore created.
    s.cmd("rb-snapshot").args(["verify", &undo]).run().success();
    let back: RestoreDoc = s.cmd("rb-restore").arg(&undo).run().success().doc();
    assert_eq!(back.removed, ["docker-compose.staging.yml"]);
    s.live().assert_same(&broken);
    // …and its own undo redoes the restore.
    s.cmd("rb-restore").arg(back.undo.unwrap()).run().success();
    s.live().assert_same(&good);

    let events = s.events();
    let messages: Vec<&str> = events.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["SNAPSHOT SUCCESS", "ROLLBACK SUCCESS", "ROLLBACK SUCCESS", "ROLLBACK SUCCESS"]);
    assert_eq!(events[1]["undo"], undo.as_str());
    assert_eq!(events[2]["action"], "undo");
    // Undo snapshots never become latest.
    assert_eq!(std::fs::read_link(s.path("backups/latest")).unwrap().to_str(), Some(snap.id.as_str()));
}

#[test]
fn round_trip_of_modes_mtimes_symlinks_empty_dirs_and_odd_names() {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\", \"top.txt\"]\n");
    s.write("data/run.sh", "#!/bin/sh\n").chmod("data/run.sh", 0o755);
    s.write("data/secret.key", "key").chmod("data/secret.key", 0o600);
    s.write("data/with space/ünïcødé.txt", "utf-8\n");
    s.mkdir("data/empty");
    s.mkdir("data/locked").chmod("data/locked", 0o700);
    s.symlink("data/link", "with space/ünïcødé.txt");
    s.write("top.txt", "top\n");
    s.touch("data/run.sh", 1_700_000_000, 123_456_789);
    s.touch("data/with space", 1_650_000_000, 1);
    s.touch("data", 1_640_000_000, 999_999_999);
    let good = s.live().without(&["rollback.toml"]);
    s.cmd("rb-snapshot").arg("data").run().success();

    s.remove("data/with space");
    s.chmod("data/secret.key", 0o644);
    s.touch("data/run.sh", 1_800_000_000, 0);
    s.remove("data/empty");
    s.remove("data/link").symlink("data/link", "/etc/passwd");
    s.remove("data/locked").write("data/locked", "now a file");
    s.remove("top.txt").mkdir("top.txt/inside");
    s.write("data/new/deep/file", "new");
    let broken = s.live();

    let done: RestoreDoc = s.cmd("rb-restore").arg("latest").run().success().doc();
    s.live().without(&["rollback.toml"]).assert_same(&good);
    assert_eq!(done.removed, ["data/new"]);
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    s.live().assert_same(&broken);
}

#[test]
fn a_snapshot_document_on_stdin_and_a_restore_document_to_undo() {
    let s = Scenario::helpdesk();
    let taken = s.cmd("rb-snapshot").run().success();
    // Right after a snapshot, a dry run of it changes nothing.
    let dry: RestoreDoc = s.cmd("rb-restore").arg("--dry-run").stdin(taken.stdout()).run().success().doc();
    assert!(dry.created.is_empty() && dry.modified.is_empty() && dry.removed.is_empty());
    let same: RestoreDoc =
        s.cmd("rb-restore").stdin(taken.stdout()).run().success().stderr_has("nothing to change").doc();
    assert_eq!(same.undo, None);

    let good = s.live();
    break_config(&s);
    let broken = s.live();
    let restored = s.cmd("rb-restore").stdin(taken.stdout()).run().success();
    s.live().assert_same(&good);
    // The restore's own document, fed back, undoes it.
    s.cmd("rb-restore").stdin(restored.stdout()).run().success();
    s.live().assert_same(&broken);
}

#[test]
fn keep_extra_merges_like_cp_r() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    s.append("core/config/settings/base.py", "# broken\n");
    let done: RestoreDoc = s.cmd("rb-restore").args(["--keep-extra", &snap.id]).run().success().doc();
    assert_eq!(done.modified, ["core/config/settings/base.py"]);
    assert!(done.removed.is_empty());
    assert_eq!(s.read("core/config/settings/local.py"), "EXTRA = 1\n");
}

#[test]
fn a_same_size_edit_with_the_mtime_reset_is_restored_by_default_and_left_only_with_quick() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    let base = s.read("core/config/settings/base.py");
    s.write("core/config/settings/base.py", base.replace("DEBUG = False", "DEBUG = Falsy"));
    s.touch("core/config/settings/base.py", 1_760_000_000, 0);
    let edited = s.tree();
    // --quick trusts size and mtime, as rsync does, and says it did not verify.
    let quick: RestoreDoc = s.cmd("rb-restore").args(["--quick", &snap.id]).run().success().doc();
    assert!(quick.modified.is_empty() && quick.undo.is_none(), "{quick:?}");
    assert!(!quick.verified, "a quick check is not a verification");
    s.tree()
        .without(&["backups/rollback.log", "backups/.rb"])
        .assert_same(&edited.clone().without(&["backups/rollback.log", "backups/.rb"]));
    // By default the content is compared: the edit is found and undone.
    let dry: RestoreDoc = s.cmd("rb-restore").args(["--dry-run", &snap.id]).run().success().doc();
    assert_eq!(dry.modified, ["core/config/settings/base.py"]);
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["core/config/settings/base.py"]);
    assert!(done.verified);
    assert_eq!(s.read("core/config/settings/base.py"), base);
    // --checksum is still accepted (it is the default now) and finds nothing left to do.
    let again: RestoreDoc = s.cmd("rb-restore").args(["--checksum", &snap.id]).run().success().doc();
    assert!(again.modified.is_empty() && again.verified, "{again:?}");
    s.cmd("rb-restore").args(["--quick", "--checksum", &snap.id]).run().code_is(2);
}

#[test]
fn the_undo_removes_folders_the_restore_created() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.remove("deploy");
    let before = s.live();
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert!(done.created.contains(&"deploy".to_string()), "{:?}", done.created);
    assert_eq!(s.read("deploy/render/render.yaml").lines().next(), Some("services:"));
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    s.live().assert_same(&before);
}

#[test]
fn latest_with_a_set_picks_that_sets_newest() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").arg("nginx").env("RB_NOW", "2025-10-13T11:00:00Z").run().success();
    s.cmd("rb-snapshot").arg("config").run().success();
    s.append("nginx/nginx.conf", "# broken\n");
    let done: RestoreDoc = s.cmd("rb-restore").args(["latest", "--set", "nginx"]).run().success().doc();
    assert_eq!(done.snapshot, "nginx_20251013_110000");
    assert_eq!(done.modified, ["nginx/nginx.conf"]);
    s.cmd("rb-restore")
        .args(["config_20251013_120000", "--set", "nginx"])
        .run()
        .code_is(2)
        .one_line_error("is a snapshot of set config, not nginx");
}

#[test]
fn a_failing_verify_command_puts_everything_back() {
    let s = Scenario::helpdesk();
    s.write("check.sh", "#!/bin/sh\necho \"settings are broken: $(cat core/config/settings/base.py | wc -l) lines\" >&2\nexit 3\n")
        .chmod("check.sh", 0o755);
    s.write(
        "rollback.toml",
        "[sets.config]\npaths = [\"core/config/settings/\"]\nverify = [\"./check.sh\"]\n",
    );
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    // The check runs on the restored base.py: the snapshot's lines.
    let lines = s.read("core/config/settings/base.py").lines().count();
    s.append("core/config/settings/base.py", "# broken\n");
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    let before = s.live();
    s.cmd("rb-restore").arg(&snap.id).run().code_is(1).one_line_error(&format!(
        "`./check.sh` failed (exit 3): settings are broken: {lines} lines; everything was put back as it was (from undo_20251013_120000, then removed: nothing is left to undo)"
    ));
    s.live().assert_same(&before);
    // Nothing is left to undo, so the undo is not kept either: a full disk gets no fuller.
    assert!(!s.exists("backups/undo_20251013_120000"));
    let last = s.events().pop().unwrap();
    assert_eq!((last["message"].as_str(), last["ok"].as_bool()), (Some("ROLLBACK FAILED"), Some(false)));
    // A command that passes is named in the document.
    s.write("check.sh", "#!/bin/sh\nexit 0\n");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.check.as_deref(), Some("./check.sh"));
}

#[test]
fn a_missing_verify_program_is_named_with_its_setting() {
    let s = Scenario::helpdesk();
    s.write(
        "rollback.toml",
        "[sets.config]\npaths = [\"nginx/nginx.conf\"]\nverify = [\"no-such-checker\", \"--deploy\"]\n",
    );
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("nginx/nginx.conf", "# broken\n");
    let before = s.live();
    s.cmd("rb-restore").arg(&snap.id).run().code_is(1).one_line_error(
        "program `no-such-checker` not found on PATH (set by sets.config.verify in rollback.toml)",
    );
    s.live().assert_same(&before);
}

#[test]
fn a_second_change_while_one_runs_exits_4_naming_the_holder() {
    let s = Scenario::helpdesk();
    // The first restore's verify command waits for the test, holding the lock meanwhile.
    s.write(
        "wait.sh",
        "#!/bin/sh\ntouch \"$WAIT_DIR/started\"\nwhile [ ! -e \"$WAIT_DIR/go\" ]; do sleep 0.02; done\n",
    )
    .chmod("wait.sh", 0o755);
    s.write("rollback.toml", "[sets.config]\npaths = [\"nginx/nginx.conf\"]\nverify = [\"./wait.sh\"]\n");
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("nginx/nginx.conf", "# broken\n");
    let wait_dir = s.base.join("tmp");
    let first = s.cmd("rb-restore").arg(&snap.id).env("WAIT_DIR", wait_dir.display().to_string()).spawn();
    let pid = first.id();
    for _ in 0..1000 {
        if wait_dir.join("started").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(wait_dir.join("started").exists(), "the first restore never reached its verify command");
    // The second callers change nothing: compare the tree while the first one waits.
    let during = s.tree().without(&["backups/rollback.log"]);
    s.cmd("rb-restore").arg(&snap.id).run().code_is(4).one_line_error(&format!(
        "another rollback holds the lock: rb-restore (pid {pid}) since 2025-10-13T12:00:00+00:00"
    ));
    s.cmd("rb-snapshot").run().code_is(4).one_line_error("another rollback holds the lock");
    s.tree().without(&["backups/rollback.log"]).assert_same(&during);
    std::fs::write(wait_dir.join("go"), "").unwrap();
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_symlinked_folder_in_the_snapshot_is_replaced_never_written_through() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    let outside = s.outside();
    std::fs::write(outside.join("base.py"), "OUTSIDE\n").unwrap();
    s.remove("core/config/settings").symlink("core/config/settings", &outside);
    let outside_before = rb_tests::Tree::of(&outside);
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["core/config/settings"]);
    assert!(s.path("core/config/settings").is_dir() && !s.path("core/config/settings").is_symlink());
    rb_tests::Tree::of(&outside).assert_same(&outside_before);
    // The undo brings the link back, still without touching what it points to.
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    assert!(s.path("core/config/settings").is_symlink());
    rb_tests::Tree::of(&outside).assert_same(&outside_before);
}

#[test]
fn diff_shows_each_files_change_and_only_hashes_of_secrets() {
    let s = Scenario::helpdesk();
    s.write("rollback.toml", "[diff]\nmask = [\"deploy/aws/*.json\"]\n");
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("core/config/settings/base.py", "DEBUG = True\n");
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    s.write("nginx/ssl/helpdesk.key", "not the key\n");
    s.append("deploy/aws/ecs-task-definition.json", "\n");
    let before = s.tree();
    let run = s.cmd("rb-restore").args(["--dry-run", "--diff", &snap.id]).run().success();
    let err = run.stderr();
    // The live file (a/) against what the restore writes (b/); a file the restore removes.
    assert!(
        err.contains("--- a/core/config/settings/base.py\n+++ b/core/config/settings/base.py\n@@ -36,4 +36,3 @@\n         }\n     }\n USE_TZ = True\n-DEBUG = True\n"),
        "{err}"
    );
    assert!(
        err.contains("--- a/core/config/settings/local.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-EXTRA = 1\n"),
        "{err}"
    );
    // Secrets: the key (0600, under ssl/) and the masked file show their hashes, not a line.
    assert!(err.contains("nginx/ssl/helpdesk.key: (secret file changed: sha256 "), "{err}");
    assert!(err.contains("deploy/aws/ecs-task-definition.json: (secret file changed: sha256 "), "{err}");
    assert!(!err.contains("not the key"), "{err}");
    s.tree().assert_same(&before);
    // With a restore, the diff comes first and the files are put back.
    let done = s.cmd("rb-restore").args(["--diff", &snap.id]).run().success();
    assert!(done.stderr().contains("-DEBUG = True"), "{}", done.stderr());
    assert!(!s.read("core/config/settings/base.py").contains("DEBUG = True"));
    let again = s.cmd("rb-restore").args(["--dry-run", "--diff", &snap.id]).run().success();
    assert!(again.stderr().contains("rb-restore: nothing would change"), "{}", again.stderr());
    // A bad mask glob is a usage error, nothing changed.
    s.write("rollback.toml", "[diff]\nmask = [\"a[\"]\n");
    let tree = s.tree();
    s.cmd("rb-restore")
        .args(["--dry-run", "--diff", &snap.id])
        .run()
        .code_is(2)
        .one_line_error("[diff] mask \"a[\"");
    s.tree().assert_same(&tree);
}

#[test]
fn a_folder_above_the_set_that_became_a_symlink_inside_the_root_is_left_as_it_is() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    // nginx/ moved to nginx-v2/ and linked back: the key and cert must not disappear.
    std::fs::rename(s.path("nginx"), s.path("nginx-v2")).unwrap();
    s.symlink("nginx", "nginx-v2");
    s.append("nginx-v2/nginx.conf", "# broken\n");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["nginx/nginx.conf"]);
    assert!(s.path("nginx").is_symlink());
    assert!(s.exists("nginx-v2/ssl/helpdesk.key") && s.exists("nginx-v2/ssl/helpdesk.crt"));
    assert!(!s.read("nginx-v2/nginx.conf").contains("# broken"));
}

#[test]
fn a_hand_made_latest_folder_older_than_a_snapshot_is_not_latest() {
    let s = Scenario::helpdesk();
    s.write("backups/latest/nginx/nginx.conf", "OLD\n");
    s.touch("backups/latest", 1_700_000_000, 0);
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("nginx/nginx.conf", "# broken\n");
    let done: RestoreDoc = s
        .cmd("rb-restore")
        .arg("latest")
        .run()
        .success()
        .stderr_has(&format!("older than {}; using {}", snap.id, snap.id))
        .doc();
    assert_eq!(done.snapshot, snap.id);
    assert!(!s.read("nginx/nginx.conf").contains("OLD"));
}

#[test]
fn owners_come_back_when_rb_runs_as_root() {
    let s = Scenario::helpdesk();
    let root = std::process::Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let base = s.path("core/config/settings/base.py");
    if root {
        std::os::unix::fs::chown(&base, Some(65534), Some(65534)).unwrap();
    }
    s.chmod("core/config/settings/base.py", 0o640);
    let snap: Manifest = s.cmd("rb-snapshot").arg("--manifest").run().success().doc();
    let entry = snap.entries.iter().find(|e| e.path == "core/config/settings/base.py").unwrap();
    s.remove("core/config/settings/base.py").write("core/config/settings/base.py", "replaced by a deploy\n");
    s.cmd("rb-restore").arg(&snap.id).run().success();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&base).unwrap();
    assert_eq!((Some(meta.uid()), Some(meta.gid())), (entry.uid, entry.gid));
    if root {
        assert_eq!(
            meta.uid(),
            65534,
            "the owner of the settings file must come back, or the app cannot read it"
        );
    }
}

#[test]
fn a_missing_path_below_what_is_now_a_file_is_nothing_to_remove() {
    let s = Scenario::helpdesk();
    s.remove("deploy/render");
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    assert_eq!(snap.missing, ["deploy/render/render.yaml"]);
    s.write("deploy/render", "now a file\n");
    s.append("nginx/nginx.conf", "# broken\n");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    // deploy/ itself is a folder above the set's paths: only its mtime comes back.
    assert_eq!(done.modified, ["deploy", "nginx/nginx.conf"]);
    assert_eq!(s.read("deploy/render"), "now a file\n");
}

#[test]
fn a_missing_verify_program_is_found_before_anything_changes() {
    let s = Scenario::helpdesk();
    s.write(
        "rollback.toml",
        "[sets.config]\npaths = [\"nginx/nginx.conf\"]\nverify = [\"no-such-checker\"]\n",
    );
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("nginx/nginx.conf", "# broken\n");
    let before = s.tree();
    s.cmd("rb-restore")
        .arg(&snap.id)
        .run()
        .code_is(1)
        .one_line_error("program `no-such-checker` not found on PATH");
    s.tree().assert_same(&before);
}

#[test]
fn malformed_ids_are_bad_usage_and_a_bare_timestamp_gets_a_hint() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").run().success();
    let before = s.tree();
    s.cmd("rb-restore").arg("foo").run().code_is(2).one_line_error("\"foo\" is not a snapshot id");
    s.cmd("rb-restore")
        .arg(STAMP)
        .run()
        .code_is(2)
        .stderr_has(&format!("hint: a config snapshot of that time is config_{STAMP}"));
    s.tree().assert_same(&before);
}

#[test]
fn a_store_of_another_project_is_refused() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").run().success();
    let store = s.path("backups");
    // Run from core/ with the store named: paths would land in core/core/…
    let before = s.tree();
    s.cmd("rb-restore")
        .arg("latest")
        .env("RB_STORE", store.display().to_string())
        .current_dir(s.path("core"))
        .run()
        .code_is(2)
        .one_line_error(&format!("belongs to the project at {}", s.root.display()));
    s.cmd("rb-snapshot")
        .env("RB_STORE", store.display().to_string())
        .current_dir(s.path("core"))
        .run()
        .code_is(2);
    s.tree().assert_same(&before);
}

#[test]
fn an_undo_keeps_a_created_folder_that_now_holds_other_files() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.remove("deploy");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    // Someone adds work of their own in the recreated folder; then the rollback is undone.
    s.write("deploy/gcp/main.tf", "resource {}\n");
    let undone: RestoreDoc = s
        .cmd("rb-restore")
        .arg(done.undo.unwrap())
        .run()
        .success()
        .stderr_has(
            "deploy was created by the restore being undone, and is kept: it now also holds deploy/gcp",
        )
        .doc();
    assert!(undone.removed.contains(&"deploy/aws".to_string()));
    assert_eq!(s.read("deploy/gcp/main.tf"), "resource {}\n");
    assert!(!s.exists("deploy/aws") && !s.exists("deploy/render"));
}

#[test]
fn a_reader_that_goes_away_after_a_restore_is_told_it_happened() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("nginx/nginx.conf", "# broken\n");
    // stdout is a pipe whose reader is gone: the restore is done, so the exit is 3, not 0 or 1.
    let run = s
        .program("/bin/bash")
        .args(["-c", &format!("exec 1> >(exit 0); sleep 0.2; rb-restore {}; echo \"code=$?\" >&2", snap.id)])
        .run();
    let err = run.stderr();
    assert!(err.contains("code=3"), "{err}");
    assert!(err.contains("was restored, but writing the restore document to stdout"), "{err}");
    assert!(!s.read("nginx/nginx.conf").contains("# broken"));
}
