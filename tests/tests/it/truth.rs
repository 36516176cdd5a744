//! Telling the truth after a change: a stdout that fails once something changed is exit 3
//! naming the undo (already in the store), for every tool; before a change it is exit 1 with
//! nothing changed.

use rb_common::snapshot::Manifest;
use rb_deploy::DeployState;
use rb_flag::FlagsDoc;
use rb_migrate::MigrationState;
use rb_tests::{Cmd, Scenario, bin};
use serde_json::json;

const SNAP: &str = "config_20251013_120000";

#[test]
fn a_stdout_gone_before_a_change_is_exit_1_with_nothing_changed() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").run().success();
    s.append("nginx/nginx.conf", "# broken\n");
    let before = s.tree();
    s.cmd("rb-snapshot")
        .arg("--dry-run")
        .run_stdout_closed()
        .code_is(1)
        .one_line_error("writing the snapshot document to stdout: Broken pipe");
    s.cmd("rb-restore")
        .args(["--dry-run", SNAP])
        .run_stdout_closed()
        .code_is(1)
        .one_line_error("writing the restore document to stdout: Broken pipe");
    s.cmd("rb-snapshot").arg("list").run_stdout_closed().code_is(1).one_line_error("Broken pipe");
    s.tree().assert_same(&before);
}

#[test]
fn a_stdout_gone_after_a_snapshot_restore_capture_or_secret_is_exit_3_naming_the_undo() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error(&format!("snapshot {SNAP} was taken, but writing the snapshot document to stdout"))
        .stderr_has("rb-snapshot: hint: rb-snapshot list shows it");
    assert!(s.exists(&format!("backups/{SNAP}/.rb/manifest.json")));

    s.append("nginx/nginx.conf", "# broken\n");
    s.cmd("rb-restore")
        .arg(SNAP)
        .env("RB_NOW", "2025-10-13T12:05:00Z")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error(&format!("{SNAP} was restored, but writing the restore document to stdout"))
        .stderr_has("rb-restore: hint: `rb-restore undo_20251013_120500` puts back what was replaced");
    assert!(!s.read("nginx/nginx.conf").contains("# broken"));
    assert!(s.exists("backups/undo_20251013_120500/.rb/manifest.json"));
    assert!(!s.exists("backups/.rb/journal.json"));

    s.cmd("rb-envfile")
        .args(["capture", "DB_PASSWORD"])
        .env("DB_PASSWORD", "old")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error("env_20251013_120000 was written, but writing the envfile document to stdout")
        .stderr_has("rb-envfile: hint: rb-envfile show latest shows it");
    assert!(s.exists("backups/env_20251013_120000.env"));

    s.cmd("rb-secret")
        .args(["--backend", "env", "set", "DB_PASSWORD"])
        .stdin("new")
        .env("RB_NOW", "2025-10-13T12:10:00Z")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error("has a new version env_20251013_121000, but writing the secret document to stdout")
        .stderr_has("rb-secret: hint: `rb-secret rollback DB_PASSWORD --to env_20251013_120000`");
    assert!(s.exists("backups/env_20251013_121000.env"));
    s.cmd("rb-secret")
        .args(["--backend", "env", "rollback", "DB_PASSWORD", "--to", "env_20251013_120000"])
        .env("RB_NOW", "2025-10-13T12:15:00Z")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error(
            "is now at env_20251013_121500 (was env_20251013_121000), but writing the secret document",
        )
        .stderr_has("`rb-secret rollback DB_PASSWORD --to env_20251013_121000` undoes it");
}

#[test]
fn a_stdout_gone_after_a_migration_or_flag_change_is_exit_3_and_its_undo_is_in_the_store() {
    let s = Scenario::django();
    s.cmd("rb-migrate")
        .args(["rollback", "features", "0001"])
        .run_stdout_closed()
        .code_is(3)
        .one_line_error("rolled back features: 2 steps")
        .stderr_has(
            "rb-migrate: hint: `rb-migrate apply < backups/migration_20251013_120000.json` goes back",
        );
    let state = |s: &Scenario| -> MigrationState { s.cmd("rb-migrate").arg("status").run().success().doc() };
    let at = |st: &MigrationState| st.app("features").unwrap().position();
    assert_eq!(at(&state(&s)), "0001_initial");
    // The kept document is the undo.
    let kept = s.read("backups/migration_20251013_120000.json");
    s.cmd("rb-migrate").arg("apply").stdin(kept).run().success();
    assert_eq!(at(&state(&s)), "0003_seed_flags");

    s.cmd("rb-flag")
        .args(["set", "new_dashboard", "active"])
        .env("RB_NOW", "2025-10-13T12:05:00Z")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error("the flags were changed, but writing the flags document to stdout")
        .stderr_has("rb-flag: hint: `rb-flag restore < backups/flags_20251013_120500.json` puts back the values before");
    let now: FlagsDoc = s.cmd("rb-flag").args(["list", "new_dashboard"]).run().success().doc();
    assert_eq!(now.flags["new_dashboard"], "active");
    let undo = s.read("backups/flags_20251013_120500.json");
    s.cmd("rb-flag").arg("restore").stdin(undo).run().success();
    let back: FlagsDoc = s.cmd("rb-flag").args(["list", "new_dashboard"]).run().success().doc();
    assert_eq!(back.flags["new_dashboard"], "inactive");
}

fn docker(s: &Scenario, cmd: Cmd) -> Cmd {
    cmd.env("STANDIN_DOCKER_STATE", s.base.join("docker.json").display().to_string())
        .env("STANDIN_DOCKER_LOG", s.base.join("docker.log").display().to_string())
}

#[test]
fn a_stdout_gone_after_a_deploy_rollback_is_exit_3_naming_the_way_back() {
    let s = Scenario::helpdesk();
    std::os::unix::fs::symlink(bin("standin-docker"), s.base.join("bin/docker")).unwrap();
    let record = s.base.join("render.jsonl");
    let http = rb_tests::standin::Standin::start(
        "standin-render",
        &["rnd_key", "srv-helpdesk", &json!([]).to_string(), record.to_str().unwrap()],
        record.clone(),
    );
    s.write(
        "rollback.toml",
        format!(
            "[health]\nurl = \"http://127.0.0.1:{}/health/\"\ntimeout_s = 1.5\ninterval_s = 0.2\n\n[deploy]\ntimeout_s = 2\ninterval_s = 0.1\n",
            http.port
        ),
    );
    let snap: Manifest = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    docker(&s, s.program("docker")).args(["compose", "up", "-d"]).run().success();
    s.write(
        "docker-compose.yml",
        s.read("docker-compose.yml").replace("helpdesk/web:1.4.2", "helpdesk/web:1.5.0"),
    );
    docker(&s, s.program("docker")).args(["compose", "up", "-d"]).run().success();
    let status: DeployState = docker(&s, s.cmd("rb-deploy")).arg("status").run().success().doc();
    let before = status.current.unwrap().id;
    docker(&s, s.cmd("rb-deploy"))
        .args(["rollback", "--target", "docker", "--to", &snap.id])
        .env("RB_NOW", "2025-10-13T12:02:00Z")
        .run_stdout_closed()
        .code_is(3)
        .one_line_error(&format!(
            "docker runs {} (was {before}), but writing the deploy-state document",
            snap.id
        ))
        .stderr_has(&format!(
            "rb-deploy: hint: `rb-deploy rollback --target docker --to {before}` goes back"
        ));
    assert!(s.read("docker-compose.yml").contains("helpdesk/web:1.4.2"));
}
