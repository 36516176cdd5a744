//! Backups made by the seed's own commands, read in place as legacy snapshots.

use rb_tests::Scenario;
use rb_tests::docs::{RestoreDoc, Summary};

const TS: &str = "20251001_090000";

/// Runs the seed's commands (with a fixed timestamp: the seed's `$(date …)` on every line
/// could straddle a second) in the scenario's project.
fn seed(s: &Scenario, script: &str) {
    s.program("/bin/bash").args(["-euc", script]).env("TS", TS).run().success();
}

fn seed_config_backup(s: &Scenario) {
    seed(
        s,
        "mkdir -p backups/config_$TS
         cp -r core/config/settings/ backups/config_$TS/
         cp nginx/nginx.conf backups/config_$TS/
         cp docker-compose*.yml backups/config_$TS/",
    );
}

#[test]
fn a_seed_config_backup_is_listed_and_restored_where_the_seed_put_it() {
    let s = Scenario::helpdesk();
    seed_config_backup(&s);
    let listed: Vec<Summary> = s.cmd("rb-snapshot").arg("list").run().success().docs();
    assert_eq!(listed.len(), 1);
    let m = &listed[0];
    assert_eq!(
        (m.id.as_str(), m.set.as_str(), m.verified, m.legacy),
        (&*format!("config_{TS}"), "config", false, true)
    );
    assert_eq!(m.files, 9);
    assert_eq!(m.created, "2025-10-01T09:00:00+00:00");

    let good = s.live();
    s.append("core/config/settings/base.py", "# broken\n");
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    s.append("nginx/nginx.conf", "# broken\n");
    s.write("docker-compose.yml", "services: {}\n");
    s.append("deploy/render/render.yaml", "# not in the seed's backup\n");
    let broken = s.live();
    let done: RestoreDoc = s
        .cmd("rb-restore")
        .arg(format!("config_{TS}"))
        .run()
        .success()
        .stderr_has("has no hashes (made by the old scripts)")
        .doc();
    assert!(!done.verified);
    assert_eq!(done.removed, ["core/config/settings/local.py"]);
    assert!(done.modified.contains(&"nginx/nginx.conf".to_string()));
    // Contents as they were; deploy/ is not in the seed's config backup, so it stays as it is.
    let restored = s.live();
    let expected = {
        let mut t = good.contents();
        t.insert("deploy/render/render.yaml".into(), broken.contents()["deploy/render/render.yaml"].clone());
        t
    };
    assert_eq!(restored.contents(), expected);
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    s.live().assert_same(&broken);
}

#[test]
fn a_seed_backup_cannot_be_verified_and_says_why() {
    let s = Scenario::helpdesk();
    seed_config_backup(&s);
    s.cmd("rb-snapshot")
        .args(["verify", &format!("config_{TS}")])
        .run()
        .code_is(1)
        .one_line_error("was made by the old scripts and has no hashes to verify against");
}

#[test]
fn a_seed_nginx_backup_keeps_the_key_private() {
    let s = Scenario::helpdesk();
    seed(
        &s,
        "mkdir -p backups/nginx_$TS
         cp nginx/nginx.conf backups/nginx_$TS/
         cp -r nginx/ssl/ backups/nginx_$TS/",
    );
    let good = s.live().only("nginx").contents();
    s.write("nginx/ssl/helpdesk.key", "stolen and replaced\n").chmod("nginx/ssl/helpdesk.key", 0o644);
    s.append("nginx/nginx.conf", "# broken\n");
    s.cmd("rb-restore").arg(format!("nginx_{TS}")).run().success();
    assert_eq!(s.live().only("nginx").contents(), good);
    assert!(good["nginx/ssl/helpdesk.key"].starts_with("file 0600"));
}

#[test]
fn a_seed_nginx_backup_without_ssl_leaves_the_live_ssl_alone() {
    let s = Scenario::helpdesk();
    seed(&s, "mkdir -p backups/nginx_$TS && cp nginx/nginx.conf backups/nginx_$TS/");
    s.write("nginx/ssl/new.pem", "new cert\n");
    s.append("nginx/nginx.conf", "# broken\n");
    let ssl = s.live().only("nginx/ssl");
    let done: RestoreDoc = s.cmd("rb-restore").arg(format!("nginx_{TS}")).run().success().doc();
    assert_eq!(done.modified, ["nginx/nginx.conf"]);
    assert!(done.removed.is_empty());
    s.live().only("nginx/ssl").assert_same(&ssl);
}

#[test]
fn a_hand_made_latest_folder_is_merged_and_never_replaced() {
    let s = Scenario::helpdesk();
    seed(
        &s,
        "mkdir -p backups/latest/core/config && cp -r core/config/settings backups/latest/core/config/ && cp docker-compose.yml backups/latest/",
    );
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    s.write("docker-compose.yml", "services: {}\n");
    let done: RestoreDoc = s
        .cmd("rb-restore")
        .arg("latest")
        .run()
        .success()
        .stderr_has("backups/latest is a folder made by hand")
        .doc();
    assert_eq!(done.snapshot, "latest");
    assert_eq!(done.modified, ["docker-compose.yml"]);
    assert!(done.removed.is_empty(), "the seed's `cp -r backups/latest/* ./` merges, and so does rb");
    assert!(s.exists("core/config/settings/local.py"));
    let latest = s.tree().only("backups/latest");
    s.cmd("rb-snapshot").run().success().stderr_has("does not replace it");
    s.tree().only("backups/latest").assert_same(&latest);
}

#[test]
fn a_seed_compose_backup_file_restores_docker_compose_yml() {
    let s = Scenario::helpdesk();
    seed(&s, "mkdir -p backups && cp docker-compose.yml backups/docker-compose_$TS.yml");
    let good = s.read("docker-compose.yml");
    s.write("docker-compose.yml", "services: {}\n");
    let done: RestoreDoc = s.cmd("rb-restore").arg(format!("docker-compose_{TS}")).run().success().doc();
    assert_eq!(done.set, "compose");
    assert_eq!(s.read("docker-compose.yml"), good);
}

#[test]
fn what_the_seed_never_put_in_a_backup_is_ignored_with_a_warning() {
    let s = Scenario::helpdesk();
    seed_config_backup(&s);
    s.write(&format!("backups/config_{TS}/notes.txt"), "operator notes\n");
    s.cmd("rb-restore").args(["--dry-run", &format!("config_{TS}")]).run().success().stderr_has(&format!(
        "backups/config_{TS}/notes.txt: the old scripts never put this in a config backup; it is ignored"
    ));
}
