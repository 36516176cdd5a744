//! Cases found by review and by trying the tools as a new user: each is a way a rollback
//! could have hurt, checked so that it cannot come back.

use rb_tests::docs::{Manifest, RestoreDoc};
use rb_tests::{STAMP, Scenario, Tree};

#[test]
fn a_folder_above_the_set_that_became_a_symlink_inside_the_root_is_left_as_it_is() {
    let s = Scenario::helpdesk();
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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
fn the_store_is_never_part_of_a_set_or_a_restore() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").run().success();
    let all: Manifest = s.cmd("rb-snapshot").args(["--name", "everything", "*"]).run().success().doc();
    assert!(
        all.entries.iter().all(|e| !e.path.starts_with("backups")),
        "the store was backed up into itself"
    );
    let before = s.tree();
    s.cmd("rb-snapshot")
        .args(["--name", "x", "backups/"])
        .run()
        .code_is(2)
        .one_line_error("is inside the store backups");
    s.tree().assert_same(&before);
    // A manifest that names the store is refused before anything changes.
    let path = format!("backups/{}/.rb/manifest.json", all.id);
    let text = s.read(&path);
    s.write(&path, text.replacen("\"verified\":true", "\"missing\":[\"backups\"],\"verified\":true", 1));
    let before = s.tree();
    s.cmd("rb-restore")
        .arg(&all.id)
        .run()
        .code_is(2)
        .one_line_error("inside the store backups; a restore never writes there");
    s.tree().assert_same(&before);
}

#[test]
fn a_missing_path_below_what_is_now_a_file_is_nothing_to_remove() {
    let s = Scenario::helpdesk();
    s.remove("deploy/render");
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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
fn a_snapshot_from_the_wrong_folder_or_of_a_path_named_as_a_set_is_refused() {
    let s = Scenario::helpdesk();
    let before = s.tree();
    s.cmd("rb-snapshot")
        .current_dir(s.path("core"))
        .run()
        .code_is(2)
        .one_line_error("none of the paths of set config exist under");
    s.cmd("rb-snapshot").arg("core/config/settings/base.py").run().code_is(2).stderr_has(
        "hint: to back up paths, name the set: rb-snapshot --name NAME core/config/settings/base.py",
    );
    s.cmd("rb-snapshot")
        .args(["--name", "nginx", "core/urls.py"])
        .run()
        .code_is(2)
        .one_line_error("nginx is a configured set");
    s.cmd("rb-snapshot").args(["list", "ngnix"]).run().code_is(1).one_line_error("no set named \"ngnix\"");
    s.write("rollback.toml", "[set.config]\npaths = [\"core/\"]\n");
    let with_toml = s.tree();
    s.cmd("rb-snapshot").run().code_is(2).one_line_error("rollback.toml: unknown section [set]");
    s.write("rollback.toml", "[sets.config]\npaths = \"core/\"\n");
    s.cmd("rb-snapshot").run().code_is(2).one_line_error("rollback.toml line 2: invalid type");
    s.remove("rollback.toml");
    s.tree().assert_same(&before);
    drop(with_toml);
}

#[test]
fn a_reader_that_goes_away_after_a_restore_is_told_it_happened() {
    let s = Scenario::helpdesk();
    let snap: Manifest = s.cmd("rb-snapshot").run().success().doc();
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

#[test]
fn compat_dry_run_extra_arguments_and_rb_root() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").run().success();
    s.append("nginx/nginx.conf", "# broken\n");
    let shim = rb_tests::repo().join("compat/config_rollback.sh");
    let before = s.tree();
    let dry = s.program(&shim).args([STAMP, "--dry-run"]).run().success();
    assert!(dry.stdout().ends_with("Dry run completed: nothing was changed\n"), "{}", dry.stdout());
    s.tree().assert_same(&before);
    let bad = s.program(&shim).args([STAMP, "now"]).run().code_is(1);
    assert!(bad.stdout().starts_with("Usage: "), "{}", bad.stdout());
    s.tree().assert_same(&before);
    // From elsewhere, with RB_ROOT naming the project.
    let run = s
        .program(&shim)
        .arg(STAMP)
        .env("RB_ROOT", s.root.display().to_string())
        .current_dir(s.base.join("tmp"))
        .run()
        .success();
    assert!(run.stdout().ends_with("Configuration rollback completed\n"), "{}", run.stdout());
    assert!(!s.read("nginx/nginx.conf").contains("# broken"));
    let _ = Tree::of(&s.root);
}
