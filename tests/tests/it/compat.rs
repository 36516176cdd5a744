//! compat/config_rollback.sh: the seed's argument and messages, rb's exactness and exit codes,
//! `--dry-run`, extra arguments and `RB_ROOT`.

use rb_tests::docs::Summary;
use rb_tests::{STAMP, Scenario, Tree, repo};

fn shim() -> std::path::PathBuf {
    repo().join("compat/config_rollback.sh")
}

#[test]
fn restores_an_rb_snapshot_by_timestamp_with_the_seed_messages() {
    let s = Scenario::helpdesk();
    let _: Summary = s.cmd("rb-snapshot").run().success().doc();
    let good = s.live();
    s.append("core/config/settings/base.py", "# broken\n");
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    let run = s.program(shim()).arg(STAMP).run().success();
    assert_eq!(
        run.stdout(),
        format!(
            "Rolling back configuration from backups/config_{STAMP}...\nConfiguration rollback completed\n"
        )
    );
    // rb-restore's document is on stderr, naming the undo.
    assert!(run.stderr().contains("\"kind\":\"restore\""), "{}", run.stderr());
    s.live().assert_same(&good);
    assert_eq!(s.events().last().unwrap()["message"], "ROLLBACK SUCCESS");
}

#[test]
fn a_missing_backup_is_the_seeds_message_and_exit_1() {
    let s = Scenario::helpdesk();
    let before = s.tree();
    s.program(shim()).arg("20250101_000000").run().code_is(1).stderr_is(&[]);
    let run = s.program(shim()).arg("20250101_000000").run();
    assert_eq!(run.stdout(), "Backup directory backups/config_20250101_000000 not found\n");
    let run = s.program(shim()).run().code_is(1);
    assert_eq!(run.stdout(), "Backup directory backups/config_ not found\n");
    s.tree().assert_same(&before);
}

#[test]
fn a_failed_restore_is_not_reported_completed() {
    let s = Scenario::helpdesk();
    let m: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append(&format!("backups/{}/nginx/nginx.conf", m.id), "# damaged\n");
    s.append("nginx/nginx.conf", "# live change\n");
    let before = s.live();
    let run = s.program(shim()).arg(STAMP).run().code_is(1).stderr_has("is damaged");
    assert!(!run.stdout().contains("completed"), "{}", run.stdout());
    s.live().assert_same(&before);
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
