//! rb-snapshot: layout, manifest, sums, latest, list, verify, dry run, ad-hoc sets.

use rb_tests::docs::{Manifest, Node};
use rb_tests::{STAMP, Scenario};

fn config_id() -> String {
    format!("config_{STAMP}")
}

#[test]
fn config_snapshot_keeps_files_in_place_with_manifest_sums_and_latest() {
    let s = Scenario::helpdesk();
    let run = s.cmd("rb-snapshot").run().success();
    let m: Manifest = run.doc();
    assert_eq!(m.id, config_id());
    assert_eq!(m.set, "config");
    assert_eq!(m.created, "2025-10-13T12:00:00+00:00");
    assert_eq!((m.files, m.missing.len(), m.verified, m.dry_run), (20, 0, true, false));
    // nginx/nginx.conf grows into what it includes and names (its include glob recorded).
    assert_eq!(m.globs, ["nginx/conf.d/*.conf", "docker-compose*.yml"]);
    let files: Vec<&str> =
        m.entries.iter().filter(|e| matches!(e.node, Node::File { .. })).map(|e| e.path.as_str()).collect();
    assert_eq!(
        files,
        [
            "core/config/settings/__init__.py",
            "core/config/settings/base.py",
            "core/config/settings/development.py",
            "core/config/settings/production.py",
            "core/config/settings/staging.py",
            "deploy/aws/cloudformation.yaml",
            "deploy/aws/ecs-task-definition.json",
            "deploy/render/render.yaml",
            "docker-compose.production.yml",
            "docker-compose.staging.yml",
            "docker-compose.yml",
            "nginx/conf.d/helpdesk.conf",
            "nginx/conf.d/upstream.conf",
            "nginx/htpasswd",
            "nginx/mime.types",
            "nginx/nginx.conf",
            "nginx/snippets/headers.conf",
            "nginx/snippets/proxy.conf",
            "nginx/ssl/helpdesk.crt",
            "nginx/ssl/helpdesk.key",
        ]
    );
    // Files in their project-relative places, byte for byte, with modes and mtimes.
    let snap = s.tree().under(&format!("backups/{}", m.id)).without(&[".rb"]);
    let live = s.live();
    for (path, digest) in &snap.0 {
        if !digest.starts_with("dir") {
            assert_eq!(Some(digest), live.0.get(path), "{path}");
        }
    }
    // The manifest on disk is the document printed.
    assert_eq!(s.read(&format!("backups/{}/.rb/manifest.json", m.id)), run.stdout());
    // sha256sum -c from inside the snapshot folder.
    s.program("sha256sum")
        .args(["-c", "--strict", ".rb/SHA256SUMS"])
        .current_dir(s.path(&format!("backups/{}", m.id)))
        .run()
        .success();
    assert_eq!(std::fs::read_link(s.path("backups/latest")).unwrap().to_str(), Some(m.id.as_str()));
    let events = s.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "event");
    assert_eq!(events[0]["tool"], "rb-snapshot");
    assert_eq!(events[0]["message"], "SNAPSHOT SUCCESS");
    assert_eq!(events[0]["snapshot"], config_id());
    // Nothing but the snapshot, the link, the log and the lock in the store.
    let store: Vec<String> = s.tree().under("backups").0.into_keys().filter(|p| !p.contains('/')).collect();
    assert_eq!(store, [".rb", &config_id(), "latest", "rollback.log"]);
    assert!(
        !s.exists("backups/.rb/tmp")
            || std::fs::read_dir(s.path("backups/.rb/tmp")).unwrap().next().is_none()
    );
}

#[test]
fn a_listed_file_that_is_missing_is_reported_not_an_error() {
    let s = Scenario::helpdesk();
    s.remove("deploy/render/render.yaml");
    let m: Manifest = s
        .cmd("rb-snapshot")
        .run()
        .success()
        .stderr_has("deploy/render/render.yaml: not there, recorded as missing")
        .doc();
    assert_eq!(m.missing, ["deploy/render/render.yaml"]);
    assert_eq!(m.files, 19);
}

#[test]
fn modes_mtimes_symlinks_empty_dirs_and_odd_names_are_recorded() {
    let s = Scenario::new();
    s.write("data/run.sh", "#!/bin/sh\necho hi\n").chmod("data/run.sh", 0o750);
    s.write("data/secret.key", "k").chmod("data/secret.key", 0o600);
    s.write("data/with space/ünïcødé.txt", "utf-8 name\n");
    s.mkdir("data/empty");
    s.symlink("data/link", "with space/ünïcødé.txt");
    s.symlink("data/dangling", "../nowhere");
    s.touch("data/run.sh", 1_700_000_000, 123_456_789);
    s.touch("data/link", 1_600_000_000, 5);
    let m: Manifest = s.cmd("rb-snapshot").args(["--name", "data", "data"]).run().success().doc();
    assert_eq!(m.id, format!("data_{STAMP}"));
    assert_eq!(m.paths, ["data/"]);
    let copy = s.tree().under(&format!("backups/{}", m.id)).without(&[".rb"]);
    assert_eq!(copy, s.live().only("data"));
    let link = m.entries.iter().find(|e| e.path == "data/link").unwrap();
    assert_eq!(link.node, Node::Symlink { target: "with space/ünïcødé.txt".into() });
    assert_eq!(link.mtime.secs, 1_600_000_000);
    assert_eq!(link.mtime.nanos, 5);
    s.program("sha256sum")
        .args(["-c", "--strict", ".rb/SHA256SUMS"])
        .current_dir(s.path(&format!("backups/{}", m.id)))
        .run()
        .success();
}

#[test]
fn dry_run_writes_nothing() {
    let s = Scenario::helpdesk();
    let before = s.tree();
    let m: Manifest = s.cmd("rb-snapshot").arg("--dry-run").run().success().stderr_has("dry run").doc();
    assert!(m.dry_run);
    assert_eq!(m.files, 20);
    assert!(!m.verified, "a dry run reads no content, so it verifies nothing");
    s.tree().assert_same(&before);
}

#[test]
fn ids_never_clash_and_list_is_oldest_first() {
    let s = Scenario::helpdesk();
    let first: Manifest = s.cmd("rb-snapshot").run().success().doc();
    let second: Manifest = s.cmd("rb-snapshot").run().success().doc();
    let older: Manifest = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-12T08:00:00Z").run().success().doc();
    let nginx: Manifest =
        s.cmd("rb-snapshot").arg("nginx").env("RB_NOW", "2025-10-13T12:00:01Z").run().success().doc();
    assert_eq!(first.id, config_id());
    assert_eq!(second.id, format!("config_{STAMP}-2"));
    assert_eq!(older.id, "config_20251012_080000");
    let ids = |args: &[&str]| -> Vec<String> {
        s.cmd("rb-snapshot")
            .args(args.iter().copied())
            .run()
            .success()
            .docs::<Manifest>()
            .into_iter()
            .map(|m| m.id)
            .collect()
    };
    assert_eq!(ids(&["list"]), [older.id.clone(), first.id.clone(), second.id.clone(), nginx.id.clone()]);
    assert_eq!(ids(&["list", "config"]), [older.id, first.id, second.id]);
    // latest follows the newest snapshot taken, whatever its set.
    assert_eq!(std::fs::read_link(s.path("backups/latest")).unwrap().to_str(), Some(nginx.id.as_str()));
}

#[test]
fn verify_names_every_damaged_or_missing_file() {
    let s = Scenario::helpdesk();
    let m: Manifest = s.cmd("rb-snapshot").run().success().doc();
    let v: Manifest = s.cmd("rb-snapshot").args(["verify", "latest"]).run().success().doc();
    assert_eq!(v, m);
    let dir = format!("backups/{}", m.id);
    s.append(&format!("{dir}/nginx/nginx.conf"), "# tampered\n");
    s.remove(&format!("{dir}/docker-compose.yml"));
    s.cmd("rb-snapshot")
        .args(["verify", &m.id])
        .run()
        .code_is(1)
        .stderr_is(&[
            "rb-snapshot: damaged: docker-compose.yml: missing from the snapshot",
            "rb-snapshot: damaged: nginx/nginx.conf: 678 bytes in the snapshot, 667 recorded",
            &format!(
                "rb-snapshot: error: snapshot {} is damaged: 2 files (docker-compose.yml, nginx/nginx.conf)",
                m.id
            ),
        ])
        .stdout_is_empty();
}

#[test]
fn ad_hoc_set_of_the_seed_test_procedure() {
    let s = Scenario::helpdesk();
    s.append("core/config/settings/development.py", "# TEST CONFIGURATION\n");
    let m: Manifest = s
        .cmd("rb-snapshot")
        .args(["--name", "test_config", "core/config/settings/development.py"])
        .run()
        .success()
        .doc();
    assert_eq!(m.id, format!("test_config_{STAMP}"));
    assert_eq!(m.files, 1);
    s.append("core/config/settings/development.py", "# MODIFIED CONFIGURATION\n");
    s.cmd("rb-restore").arg(&m.id).run().success();
    assert!(s.read("core/config/settings/development.py").ends_with("# TEST CONFIGURATION\n"));
}

#[test]
fn sets_from_rollback_toml() {
    let s = Scenario::helpdesk();
    s.write("rollback.toml", "[sets.deploy]\npaths = [\"deploy/\"]\n");
    let m: Manifest = s.cmd("rb-snapshot").arg("deploy").run().success().doc();
    assert_eq!(m.files, 3);
    s.cmd("rb-snapshot").arg("nosuch").run().code_is(1).one_line_error("no set named \"nosuch\"");
    s.write("rollback.toml", "[sets.deploy]\npath = [\"deploy/\"]\n");
    s.cmd("rb-snapshot").arg("deploy").run().code_is(2).one_line_error("rollback.toml");
}

#[test]
fn help_and_version_go_to_stdout() {
    let s = Scenario::new();
    for tool in ["rb-snapshot", "rb-restore"] {
        let help = s.cmd(tool).arg("--help").run().success();
        assert!(help.stdout().contains("Examples:"), "{}", help.stdout());
        assert!(help.stderr().is_empty());
        let version = s.cmd(tool).arg("--version").run().success();
        assert_eq!(version.stdout(), format!("{tool} {}\n", env!("CARGO_PKG_VERSION")));
        s.cmd(tool).arg("--no-such-flag").run().code_is(2).stdout_is_empty();
    }
}
