//! rb-nginx against Debian's real nginx: each test starts its own on a free loopback port with
//! a private prefix, serving a marker page, and stops it by its pid.

use std::net::TcpListener;

use rb_tests::docs::{Manifest, NginxDoc, RestoreDoc, Summary};
use rb_tests::nginx::TestNginx;
use rb_tests::{STAMP, Scenario, repo};

/// A helpdesk project with its own nginx serving "v1", and an nginx snapshot of that.
fn serving_v1() -> (Scenario, TestNginx, Summary) {
    let s = Scenario::helpdesk();
    let n = TestNginx::start(&s, "v1");
    let snap: Summary = s.cmd("rb-nginx").arg("snapshot").run().success().doc();
    assert_eq!(snap.set, "nginx");
    (s, n, snap)
}

/// A snapshot that passes `nginx -t` but cannot work: it also listens on a port the test
/// holds (keep the listener alive while it matters).
fn clashing_snapshot(s: &Scenario, n: &TestNginx) -> (TcpListener, Summary) {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    s.write("nginx/nginx.conf", n.conf_text("v3", Some(held_port)));
    let clash = s.cmd("rb-nginx").arg("snapshot").env("RB_NOW", "2025-10-13T12:10:00Z").run().success().doc();
    (held, clash)
}

fn steps(doc: &NginxDoc) -> Vec<(String, bool)> {
    doc.steps.iter().map(|s| (s.step.clone(), s.ok)).collect()
}

fn step<'d>(doc: &'d NginxDoc, name: &str) -> &'d rb_tests::docs::NginxStep {
    doc.steps.iter().find(|s| s.step == name).unwrap_or_else(|| panic!("no {name} step in {doc:?}"))
}

fn named(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(s, ok)| (s.to_string(), *ok)).collect()
}

#[test]
fn a_good_restore_is_tested_reloaded_and_served() {
    let (s, n, snap) = serving_v1();
    let good = s.live();
    // A change goes live through rb-nginx reload (tested, then confirmed by new workers).
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    s.append("nginx/ssl/helpdesk.key", "rotated\n");
    s.chmod("nginx/ssl/helpdesk.key", 0o644);
    let workers = n.workers();
    let doc: NginxDoc = s.cmd("rb-nginx").arg("reload").run().success().doc();
    assert_eq!(steps(&doc), named(&[("test", true), ("reload", true)]));
    assert!(step(&doc, "test").messages.iter().any(|m| m.contains("test is successful")), "{doc:?}");
    assert_eq!(n.get().as_deref(), Some("v2\n"));
    assert_ne!(n.workers(), workers);

    let run = s.cmd("rb-nginx").args(["restore", "latest"]).run().success();
    let doc: NginxDoc = run.doc();
    assert!(doc.ok && !doc.dry_run);
    assert_eq!(doc.snapshot.as_deref(), Some(snap.id.as_str()));
    assert_eq!(steps(&doc), named(&[("restore", true), ("test", true), ("reload", true)]));
    let restored = doc.restore.as_ref().unwrap();
    assert_eq!(restored.modified, ["nginx/nginx.conf", "nginx/ssl/helpdesk.key"]);
    assert!(step(&doc, "reload").detail.contains("new workers"), "{doc:?}");
    // Confirmed means served: the very next request gets the restored page.
    assert_eq!(n.get().as_deref(), Some("v1\n"));
    // Byte for byte, modes included: the key is 0600 again.
    s.live().without(&["rollback.toml"]).assert_same(&good.without(&["rollback.toml"]));
    let key = std::fs::metadata(s.path("nginx/ssl/helpdesk.key")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777, 0o600);
    let events = s.events();
    let last = events.last().unwrap();
    assert_eq!(
        (last["tool"].as_str(), last["message"].as_str()),
        (Some("rb-nginx"), Some("ROLLBACK SUCCESS"))
    );
    // The undo it names puts v2 back, through the same checks.
    let undo = restored.undo.clone().unwrap();
    s.cmd("rb-nginx").args(["restore", &undo]).run().success();
    n.wait_for("v2");
}

#[test]
fn a_snapshot_that_fails_nginx_t_changes_nothing_and_nginx_is_not_signalled() {
    let s = Scenario::helpdesk();
    let n = TestNginx::start(&s, "v1");
    s.write(
        "nginx/nginx.conf",
        n.conf_text("broken", None).replace("events {", "bogus_directive on;\nevents {"),
    );
    let bad: Summary = s.cmd("rb-nginx").arg("snapshot").run().success().doc();
    s.write("nginx/nginx.conf", n.conf_text("v1", None));
    let before = s.tree();
    let workers = n.workers();

    let run = s.cmd("rb-nginx").args(["restore", &bad.id]).run().code_is(1);
    let error: Vec<String> =
        run.stderr().lines().filter(|l| l.contains(": error: ")).map(String::from).collect();
    assert!(error.len() == 1 && error[0].contains("everything was put back as it was"), "{}", run.stderr());
    let doc: NginxDoc = run.doc();
    assert!(!doc.ok);
    assert_eq!(steps(&doc), named(&[("restore", true), ("test", false), ("revert", true)]));
    assert!(
        step(&doc, "test").messages.iter().any(|m| m.contains("unknown directive \"bogus_directive\"")),
        "nginx's own message is in the document: {doc:?}"
    );
    assert!(run.stderr().contains("unknown directive \"bogus_directive\""), "{}", run.stderr());
    // The live files are byte for byte what they were; the undo, with nothing left to undo,
    // is removed.
    s.live().assert_same(&before.clone().without(&["backups"]));
    assert_eq!(n.workers(), workers, "nginx was signalled");
    n.wait_for("v1");
    assert_eq!(s.events().last().unwrap()["message"], "ROLLBACK FAILED");
}

#[test]
fn a_reload_the_master_rejects_is_reverted_and_the_old_files_reloaded() {
    let (s, n, _) = serving_v1();
    let (held, clash) = clashing_snapshot(&s, &n);
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    s.cmd("rb-nginx").arg("reload").run().success();
    n.wait_for("v2");
    let before = s.live();

    let run =
        s.cmd("rb-nginx").args(["restore", &clash.id]).env("RB_NOW", "2025-10-13T12:20:00Z").run().code_is(1);
    let doc: NginxDoc = run.doc();
    assert_eq!(
        steps(&doc),
        named(&[
            ("restore", true),
            ("test", true),
            ("reload", false),
            ("revert", true),
            ("reload-previous", true)
        ])
    );
    let reload = step(&doc, "reload");
    assert!(reload.detail.contains("rejected"), "{reload:?}");
    assert!(reload.messages.iter().any(|m| m.contains("Address already in use")), "{reload:?}");
    assert!(run.stderr().contains("Address already in use"), "{}", run.stderr());
    s.live().assert_same(&before);
    n.wait_for("v2");
    drop(held);
}

#[test]
fn dry_run_changes_nothing_and_signals_nothing() {
    let (s, n, snap) = serving_v1();
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    s.write("nginx/ssl/extra.pem", "new\n");
    let before = s.tree();
    let workers = n.workers();
    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", "--dry-run", &snap.id]).run().success().doc();
    assert!(doc.dry_run && doc.ok);
    let r = doc.restore.unwrap();
    assert_eq!(
        (r.modified, r.removed),
        (vec!["nginx/nginx.conf".to_string()], vec!["nginx/ssl/extra.pem".to_string()])
    );
    s.tree().assert_same(&before);
    assert_eq!(n.workers(), workers);
    n.wait_for("v1");
}

#[test]
fn test_reports_the_verdict_and_nginx_messages() {
    let s = Scenario::helpdesk();
    let n = TestNginx::start(&s, "v1");
    let doc: NginxDoc = s.cmd("rb-nginx").arg("test").run().success().doc();
    assert!(doc.ok);
    assert!(doc.steps[0].command.as_deref().unwrap().ends_with(" -t"));
    assert!(doc.steps[0].messages.iter().any(|m| m.contains("syntax is ok")), "{doc:?}");

    s.append("nginx/nginx.conf", "}\n");
    let before = s.tree();
    let run = s.cmd("rb-nginx").arg("test").run().code_is(1).stderr_has("nginx -t refused");
    let doc: NginxDoc = run.doc();
    assert!(!doc.ok && !doc.steps[0].ok);
    assert!(doc.steps[0].messages.iter().any(|m| m.contains("unexpected \"}\"")), "{doc:?}");
    // A reload of a configuration that fails the test is refused before nginx is signalled.
    let workers = n.workers();
    s.cmd("rb-nginx").arg("reload").run().code_is(1).stderr_has("nginx was not reloaded");
    assert_eq!(n.workers(), workers);
    s.tree().without(&["backups"]).assert_same(&before.without(&["backups"]));
    assert_eq!(s.events().last().unwrap()["message"], "RELOAD FAILED");
}

#[test]
fn an_nginx_that_is_not_running_is_found_before_anything_changes() {
    let (s, n, snap) = serving_v1();
    n.stop();
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    let before = s.tree();
    s.cmd("rb-nginx").args(["restore", &snap.id]).run().code_is(1).one_line_error("nginx is not running");
    s.tree().assert_same(&before);
    // --no-reload restores and tests the files only.
    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", "--no-reload", &snap.id]).run().success().doc();
    assert_eq!(steps(&doc), named(&[("restore", true), ("test", true)]));
    assert_eq!(s.read("nginx/nginx.conf"), n.conf_text("v1", None));
}

#[test]
fn rb_restore_of_an_nginx_snapshot_is_checked_with_nginx_t() {
    let s = Scenario::helpdesk();
    let n = TestNginx::start(&s, "v1");
    s.append("nginx/nginx.conf", "bogus_directive on;\n");
    let bad: Summary = s.cmd("rb-snapshot").arg("nginx").run().success().doc();
    s.write("nginx/nginx.conf", n.conf_text("v1", None));
    let before = s.live();
    s.cmd("rb-restore")
        .arg(&bad.id)
        .run()
        .code_is(1)
        .stderr_has("unknown directive \"bogus_directive\"")
        .stderr_has("everything was put back");
    s.live().assert_same(&before);
    // An empty verify list turns the check off.
    s.append("rollback.toml", "[sets.nginx]\npaths = [\"nginx/nginx.conf\", \"nginx/ssl/\"]\nverify = []\n");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&bad.id).run().success().doc();
    assert_eq!(done.check, None);
}

#[test]
fn a_legacy_backup_without_ssl_restores_nginx_conf_and_leaves_ssl_alone() {
    let s = Scenario::helpdesk();
    let n = TestNginx::start(&s, "v1");
    s.program("bash")
        .args([
            "-c",
            "mkdir -p backups/nginx_20251001_090000 && cp nginx/nginx.conf backups/nginx_20251001_090000/",
        ])
        .run()
        .success();
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    s.cmd("rb-nginx").arg("reload").run().success();
    s.write("nginx/ssl/helpdesk.key", "a key made since\n");
    let ssl = s.live().only("nginx/ssl");
    let run = s.cmd("rb-nginx").args(["restore", "nginx_20251001_090000"]).run().success();
    assert!(run.stderr().contains("has no nginx/ssl/: nginx/ssl/ is left as it is"), "{}", run.stderr());
    n.wait_for("v1");
    s.live().only("nginx/ssl").assert_same(&ssl);
    assert_eq!(s.read("nginx/nginx.conf"), n.conf_text("v1", None));
}

#[test]
fn bad_input_is_refused_with_nothing_changed() {
    let (s, n, _) = serving_v1();
    let before = s.tree();
    let workers = n.workers();
    s.cmd("rb-nginx")
        .args(["restore", "nginx_20990101_000000"])
        .run()
        .code_is(1)
        .one_line_error("nginx_20990101_000000");
    s.cmd("rb-nginx")
        .args(["restore", "../elsewhere"])
        .run()
        .code_is(2)
        .one_line_error("not a snapshot in the store");
    s.cmd("rb-nginx").args(["restore"]).run().code_is(2).one_line_error("nothing on stdin");
    s.cmd("rb-nginx")
        .args(["restore"])
        .stdin("{\"rb\":1,\"kind\":\"flags\"}\n")
        .run()
        .code_is(2)
        .one_line_error("flags");
    s.cmd("rb-nginx").arg("frobnicate").run().code_is(2);
    s.write("rollback.toml", "[nginx]\ncomand = [\"nginx\"]\n");
    let before_toml = s.tree();
    s.cmd("rb-nginx").arg("test").run().code_is(2).one_line_error("[nginx]: unknown field `comand`");
    s.tree().assert_same(&before_toml);
    s.write("rollback.toml", "[nginx]\ncommand = [\"no-such-nginx\"]\n");
    s.cmd("rb-nginx")
        .args(["restore", "latest"])
        .run()
        .code_is(1)
        .one_line_error("`no-such-nginx` not found on PATH (set by nginx.command in rollback.toml)");
    s.write("rollback.toml", n.rollback_toml());
    s.tree().without(&["rollback.toml"]).assert_same(&before.without(&["rollback.toml"]));
    assert_eq!(n.workers(), workers);
}

#[test]
fn compat_nginx_rollback_sh_keeps_the_seed_messages_and_tells_the_truth() {
    let shim = repo().join("compat/nginx_rollback.sh");
    let (s, n, _) = serving_v1();
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    s.cmd("rb-nginx").arg("reload").run().success();
    let run = s.program(&shim).arg(STAMP).run().success();
    assert_eq!(
        run.stdout(),
        format!("Rolling back Nginx configuration from backups/nginx_{STAMP}...\nNginx rollback completed\n")
    );
    assert!(run.stderr().contains("\"kind\":\"nginx\""), "{}", run.stderr());
    n.wait_for("v1");

    let run = s.program(&shim).arg("20250101_000000").run().code_is(1);
    assert_eq!(run.stdout(), "Backup directory backups/nginx_20250101_000000 not found\n");

    // A seed-made backup that fails nginx -t: the seed printed "completed"; the shim exits 1
    // with the files as they were.
    s.write(
        "backups/nginx_20250102_000000/nginx.conf",
        n.conf_text("v9", None).replace("events {", "bogus_directive on;\nevents {"),
    );
    let before = s.live();
    let run = s.program(&shim).arg("20250102_000000").run().code_is(1);
    assert_eq!(run.stdout(), "Rolling back Nginx configuration from backups/nginx_20250102_000000...\n");
    assert!(run.stderr().contains("Nginx rollback FAILED (rb-nginx exit 1)"), "{}", run.stderr());
    s.live().assert_same(&before);
    n.wait_for("v1");
}

#[test]
fn a_rejected_reload_is_seen_by_its_timeout_when_there_is_no_error_log() {
    let (s, n, _) = serving_v1();
    let (held, clash) = clashing_snapshot(&s, &n);
    s.write("nginx/nginx.conf", n.conf_text("v1", None));
    s.append("rollback.toml", "error_log = \"/dev/null\"\n");
    s.write(
        "rollback.toml",
        s.read("rollback.toml").replace("reload_timeout_s = 10", "reload_timeout_s = 4"),
    );
    let before = s.live();
    let run = s.cmd("rb-nginx").args(["restore", &clash.id]).run().code_is(1);
    let doc: NginxDoc = run.doc();
    assert_eq!(
        steps(&doc),
        named(&[
            ("restore", true),
            ("test", true),
            ("reload", false),
            ("revert", true),
            ("reload-previous", true)
        ])
    );
    assert!(step(&doc, "reload").detail.contains("started no new workers within 4s"), "{doc:?}");
    // The wait said so while it waited.
    assert!(run.stderr().contains("to take the configuration (2s of 4s)"), "{}", run.stderr());
    s.live().assert_same(&before);
    assert_eq!(n.get().as_deref(), Some("v1\n"));
    drop(held);
}

#[test]
fn an_interrupted_restore_says_that_nginx_still_needs_a_reload() {
    let (s, n, snap) = serving_v1();
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    s.cmd("rb-nginx").arg("reload").run().success();
    // Killed right after its journal was written (a test-only crash point).
    let crashed =
        s.cmd("rb-nginx").args(["restore", &snap.id]).env("FAILPOINTS", "restore-step=0*off->return").run();
    assert_eq!(crashed.code(), None, "expected an abort (is `make test` building with failpoints?)");
    s.cmd("rb-nginx")
        .arg("reload")
        .run()
        .code_is(3)
        .stderr_has("an interrupted restore of")
        .stderr_has("then `rb-nginx reload`");
    s.cmd("rb-restore").arg("--resume").run().success().stderr_has("run `rb-nginx reload` now");
    assert_eq!(s.read("nginx/nginx.conf"), n.conf_text("v1", None));
    assert_eq!(n.get().as_deref(), Some("v2\n"), "rb-restore does not reload");
    s.cmd("rb-nginx").arg("reload").run().success();
    assert_eq!(n.get().as_deref(), Some("v1\n"));
}

#[test]
fn a_command_that_reads_another_configuration_is_refused() {
    let (s, n, snap) = serving_v1();
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    // Debian's default: `nginx` reads /etc/nginx/nginx.conf, not the project's file.
    s.write("rollback.toml", "[nginx]\ncommand = [\"nginx\"]\n");
    let before = s.tree();
    let workers = n.workers();
    for args in [&["test"][..], &["reload"], &["restore", &snap.id]] {
        s.cmd("rb-nginx")
            .args(args.iter().copied())
            .run()
            .code_is(2)
            .one_line_error("`nginx` reads /etc/nginx/nginx.conf, not this project's nginx/nginx.conf");
        s.tree().assert_same(&before);
    }
    assert_eq!(n.workers(), workers);
    s.write("rollback.toml", "[nginx]\nreload_timeout_s = 1e30\n");
    s.cmd("rb-nginx")
        .arg("test")
        .run()
        .code_is(2)
        .one_line_error("reload_timeout_s = 1000000000000000000000000000000");
}

#[test]
fn rb_nginx_restores_nginx_snapshots_only_and_rb_restore_says_it_did_not_reload() {
    let (s, n, snap) = serving_v1();
    let config: Summary = s.cmd("rb-snapshot").run().success().doc();
    let before = s.tree();
    s.cmd("rb-nginx")
        .args(["restore", &config.id])
        .run()
        .code_is(2)
        .one_line_error(&format!("{} is a snapshot of set config, not of nginx's files", config.id));
    s.tree().assert_same(&before);
    s.write("nginx/nginx.conf", n.conf_text("v2", None));
    let run = s.cmd("rb-restore").arg(&snap.id).run().success();
    assert!(run.stderr().contains("nginx was not reloaded: `rb-nginx reload`"), "{}", run.stderr());
    // With [nginx] configured, a config restore tests nginx.conf too (compat/config_rollback.sh).
    s.append("nginx/nginx.conf", "bogus_directive on;\n");
    let bad: Summary =
        s.cmd("rb-snapshot").arg("config").env("RB_NOW", "2025-10-13T12:10:00Z").run().success().doc();
    s.write("nginx/nginx.conf", n.conf_text("v1", None));
    let before = s.live();
    s.cmd("rb-restore").arg(&bad.id).run().code_is(1).stderr_has("unknown directive \"bogus_directive\"");
    s.live().assert_same(&before);
}

// The fixture's own layout, as a real nginx is laid out: nginx.conf includes mime.types and
// conf.d/*.conf; the site includes snippets, names its certificate and an htpasswd.

/// The paths the nginx set of the fixture's layout is computed to.
const SITE_SET: &[&str] = &[
    "nginx/nginx.conf",
    "nginx/conf.d/*.conf",
    "nginx/htpasswd",
    "nginx/mime.types",
    "nginx/snippets/headers.conf",
    "nginx/snippets/proxy.conf",
    "nginx/ssl/",
];

/// The fixture's site serving "v1", and an nginx snapshot of it.
fn site_v1() -> (Scenario, TestNginx, Manifest) {
    let s = Scenario::helpdesk();
    let n = TestNginx::start_site(&s, "v1", None);
    let snap: Manifest = s.cmd("rb-nginx").args(["snapshot", "--manifest"]).run().success().doc();
    (s, n, snap)
}

fn entry_paths(m: &Manifest) -> Vec<&str> {
    m.entries.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn the_snapshot_holds_every_file_nginx_reads_and_records_the_include_globs() {
    let (s, _n, snap) = site_v1();
    assert_eq!(snap.paths, SITE_SET);
    assert_eq!(snap.globs, ["nginx/conf.d/*.conf"]);
    let held = entry_paths(&snap);
    for file in [
        "nginx/nginx.conf",
        "nginx/mime.types",
        "nginx/conf.d/helpdesk.conf",
        "nginx/conf.d/upstream.conf",
        "nginx/snippets/headers.conf",
        "nginx/snippets/proxy.conf",
        "nginx/htpasswd",
        "nginx/ssl/helpdesk.crt",
        "nginx/ssl/helpdesk.key",
    ] {
        assert!(held.contains(&file), "{file} is not in {held:?}");
        assert_eq!(
            std::fs::read(s.path(&format!("backups/{}/{file}", snap.id))).unwrap(),
            std::fs::read(s.path(file)).unwrap()
        );
    }
    // rb-snapshot computes the same set; a dry run says so without writing.
    let again: Manifest =
        s.cmd("rb-snapshot").arg("--manifest").args(["nginx", "--dry-run"]).run().success().doc();
    assert_eq!((again.paths, again.globs), (snap.paths.clone(), snap.globs.clone()));
    // The config set's nginx/nginx.conf expands the same way (its files, not the ssl/ folder).
    let config: Summary = s.cmd("rb-snapshot").args(["config", "--dry-run"]).run().success().doc();
    let nginx_part: Vec<&str> =
        config.paths.iter().map(String::as_str).filter(|p| p.starts_with("nginx/")).collect();
    assert_eq!(
        nginx_part,
        [
            "nginx/nginx.conf",
            "nginx/conf.d/*.conf",
            "nginx/htpasswd",
            "nginx/mime.types",
            "nginx/snippets/headers.conf",
            "nginx/snippets/proxy.conf",
            "nginx/ssl/helpdesk.crt",
            "nginx/ssl/helpdesk.key",
        ]
    );
}

#[test]
fn a_bad_site_edit_is_rolled_back_and_the_page_served_changes_back() {
    let (s, n, snap) = site_v1();
    let good = s.live().without(&["backups"]);
    s.write("nginx/conf.d/helpdesk.conf", n.site_text("bad deploy"));
    s.cmd("rb-nginx").arg("reload").run().success();
    assert_eq!(n.get().as_deref(), Some("bad deploy\n"));

    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", "latest"]).run().success().doc();
    assert_eq!(doc.snapshot.as_deref(), Some(snap.id.as_str()));
    assert_eq!(steps(&doc), named(&[("restore", true), ("test", true), ("reload", true)]));
    assert_eq!(doc.restore.as_ref().unwrap().modified, ["nginx/conf.d/helpdesk.conf"]);
    assert_eq!(n.get().as_deref(), Some("v1\n"));
    s.live().without(&["backups"]).assert_same(&good);
}

#[test]
fn restore_dry_run_diff_shows_the_site_edit_and_never_the_key() {
    let (s, n, snap) = site_v1();
    s.write("nginx/conf.d/helpdesk.conf", n.site_text("bad deploy"));
    s.write("nginx/ssl/helpdesk.key", "a key that must not show\n");
    let before = s.tree();
    let run = s.cmd("rb-nginx").args(["restore", "--dry-run", "--diff", &snap.id]).run().success();
    let err = run.stderr();
    assert!(err.contains("--- a/nginx/conf.d/helpdesk.conf\n+++ b/nginx/conf.d/helpdesk.conf\n"), "{err}");
    assert!(err.contains("bad deploy") && err.contains("v1"), "{err}");
    assert!(err.contains("nginx/ssl/helpdesk.key: (secret file changed: sha256 "), "{err}");
    assert!(!err.contains("must not show"), "{err}");
    s.tree().assert_same(&before);
    assert_eq!(n.get().as_deref(), Some("v1\n"), "nothing was reloaded");
}

#[test]
fn a_site_added_since_the_snapshot_is_removed_and_kept_in_the_undo() {
    let (s, n, _) = site_v1();
    let extra_port = rb_tests::nginx::free_port();
    let extra = format!("server {{\n    listen 127.0.0.1:{extra_port};\n    return 200 \"extra\\n\";\n}}\n");
    s.write("nginx/conf.d/extra.conf", &extra);
    s.write("nginx/conf.d/notes.txt", "not a .conf: nginx never reads it\n");
    s.cmd("rb-nginx").arg("reload").run().success();
    let get_extra = || {
        let mut r = ureq::get(&format!("http://127.0.0.1:{extra_port}/")).call().ok()?;
        r.body_mut().read_to_string().ok()
    };
    assert_eq!(get_extra().as_deref(), Some("extra\n"));

    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", "latest"]).run().success().doc();
    let restored = doc.restore.unwrap();
    assert_eq!(
        (restored.removed.clone(), restored.modified.clone()),
        (vec!["nginx/conf.d/extra.conf".to_string()], vec![])
    );
    assert!(!s.exists("nginx/conf.d/extra.conf"));
    assert!(s.exists("nginx/conf.d/notes.txt"), "what the glob does not match is left alone");
    assert_eq!(get_extra(), None, "nginx no longer serves the removed site");
    n.wait_for("v1");
    // The undo keeps it, and puts it back through the same checks.
    let undo = restored.undo.unwrap();
    assert_eq!(s.read(&format!("backups/{undo}/nginx/conf.d/extra.conf")), extra);
    s.cmd("rb-nginx").args(["restore", &undo]).run().success();
    assert_eq!(s.read("nginx/conf.d/extra.conf"), extra);
    assert_eq!(get_extra().as_deref(), Some("extra\n"));
}

#[test]
fn a_broken_included_file_still_restores_without_nginx_t_on_the_live_side() {
    let (s, n, snap) = site_v1();
    let good = s.live().without(&["backups"]);
    s.write("nginx/conf.d/helpdesk.conf", n.site_text("bad deploy"));
    s.cmd("rb-nginx").arg("reload").run().success();
    // Then an included file breaks: nginx -T refuses the live side.
    s.append("nginx/conf.d/upstream.conf", "bogus_directive on;\n");
    s.cmd("rb-nginx").arg("test").run().code_is(1).stderr_has("unknown directive \"bogus_directive\"");
    // A snapshot of the broken state still follows the includes (from the files on disk).
    let broken = s
        .cmd("rb-nginx")
        .args(["snapshot", "--manifest"])
        .env("RB_NOW", "2025-10-13T12:10:00Z")
        .run()
        .success();
    assert!(
        broken.stderr().contains("the nginx set follows nginx/nginx.conf and its includes on disk"),
        "{}",
        broken.stderr()
    );
    let broken: Manifest = broken.doc();
    assert_eq!((broken.paths.clone(), broken.globs.clone()), (snap.paths.clone(), snap.globs.clone()));

    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", &snap.id]).run().success().doc();
    let mut modified = doc.restore.unwrap().modified;
    modified.sort();
    assert_eq!(modified, ["nginx/conf.d/helpdesk.conf", "nginx/conf.d/upstream.conf"]);
    assert_eq!(n.get().as_deref(), Some("v1\n"));
    s.live().without(&["backups"]).assert_same(&good);
}

#[test]
fn runtime_files_are_never_part_of_the_set() {
    // nginx run with its prefix in the project's nginx/ folder: the pid file, logs and temp
    // folders land there, beside what it reads.
    let s = Scenario::helpdesk();
    let n = TestNginx::start_site(&s, "v1", Some(s.path("nginx")));
    n.get();
    for runtime in ["nginx/logs/nginx.pid", "nginx/logs/error.log", "nginx/logs/access.log"] {
        assert!(s.exists(runtime), "{runtime}");
    }
    let snap: Manifest = s.cmd("rb-nginx").args(["snapshot", "--manifest"]).run().success().doc();
    assert_eq!(snap.paths, SITE_SET);
    let held = entry_paths(&snap);
    assert!(held.iter().all(|p| !p.starts_with("nginx/logs")), "{held:?}");
    // A restore leaves them alone: nginx keeps running on its pid file.
    s.write("nginx/conf.d/helpdesk.conf", n.site_text("v2"));
    s.cmd("rb-nginx").arg("reload").run().success();
    let logs = s.live().only("nginx/logs").listing();
    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", &snap.id]).run().success().doc();
    assert_eq!(doc.restore.unwrap().removed, Vec::<String>::new());
    assert!(s.exists("nginx/logs/nginx.pid"), "before: {logs}");
    n.wait_for("v1");
}

#[test]
fn a_file_nginx_reads_outside_the_project_is_named_in_a_warning() {
    let s = Scenario::helpdesk();
    let outside = s.outside().join("shared-headers.conf");
    std::fs::write(&outside, "add_header X-Shared yes always;\n").unwrap();
    let n = TestNginx::start_site(&s, "v1", None);
    s.write(
        "nginx/nginx.conf",
        s.read("nginx/nginx.conf").replace(
            "include conf.d/*.conf;",
            &format!(
                "include {};\n    include ../common/nginx-headers.conf;\n    include conf.d/*.conf;",
                outside.display()
            ),
        ),
    );
    // A file beside nginx/ in the project, reached with `..`, is the project's.
    s.write("common/nginx-headers.conf", "add_header X-Common yes always;\n");
    s.cmd("rb-nginx").arg("reload").run().success();
    let run = s.cmd("rb-nginx").arg("snapshot").run().success();
    assert!(!run.stderr().contains("common/nginx-headers.conf"), "{}", run.stderr());
    assert!(
        run.stderr().contains(&format!(
            "rb-nginx: warning: nginx reads {}, outside the project: it is not part of the nginx set",
            outside.display()
        )),
        "{}",
        run.stderr()
    );
    let snap: Summary = run.doc();
    let mut want = SITE_SET.to_vec();
    want.insert(2, "common/nginx-headers.conf");
    assert_eq!(snap.paths, want);
    n.wait_for("v1");
}

#[test]
fn sets_nginx_in_rollback_toml_replaces_the_computed_set() {
    let s = Scenario::helpdesk();
    let _n = TestNginx::start_site(&s, "v1", None);
    s.append(
        "rollback.toml",
        "[sets.nginx]\npaths = [\"nginx/nginx.conf\", \"nginx/conf.d/helpdesk.conf\"]\n",
    );
    let snap: Manifest = s.cmd("rb-nginx").args(["snapshot", "--manifest"]).run().success().doc();
    assert_eq!(snap.paths, ["nginx/nginx.conf", "nginx/conf.d/helpdesk.conf"]);
    assert!(snap.globs.is_empty());
    let held = entry_paths(&snap);
    assert!(!held.contains(&"nginx/mime.types") && !held.contains(&"nginx/conf.d/upstream.conf"), "{held:?}");
}

#[test]
fn the_undo_of_an_nginx_restore_restored_by_rb_restore_is_tested_with_nginx_t() {
    let (s, n, snap) = site_v1();
    // A broken site on disk (never reloaded): the restore replaces it, its undo keeps it.
    s.append("nginx/conf.d/helpdesk.conf", "bogus_directive on;\n");
    let doc: NginxDoc = s.cmd("rb-nginx").args(["restore", &snap.id]).run().success().doc();
    let undo = doc.restore.unwrap().undo.unwrap();
    n.wait_for("v1");
    let before = s.live();
    s.cmd("rb-restore")
        .arg(&undo)
        .run()
        .code_is(1)
        .stderr_has("unknown directive \"bogus_directive\"")
        .stderr_has("everything was put back");
    s.live().assert_same(&before);
    // A good undo passes the same check.
    s.write("nginx/conf.d/helpdesk.conf", n.site_text("v2"));
    let doc: NginxDoc = s
        .cmd("rb-nginx")
        .args(["restore", &snap.id])
        .env("RB_NOW", "2025-10-13T12:30:00Z")
        .run()
        .success()
        .doc();
    let undo = doc.restore.unwrap().undo.unwrap();
    let done: RestoreDoc = s.cmd("rb-restore").arg(&undo).run().success().doc();
    assert!(done.check.as_deref().is_some_and(|c| c.ends_with(" -t")), "{done:?}");
    assert_eq!(s.read("nginx/conf.d/helpdesk.conf"), n.site_text("v2"));
}

#[test]
fn compat_nginx_rollback_sh_rolls_back_the_include_layout() {
    let shim = repo().join("compat/nginx_rollback.sh");
    let (s, n, snap) = site_v1();
    assert_eq!(snap.id, format!("nginx_{STAMP}"));
    let good = s.live().without(&["backups"]);
    s.write("nginx/conf.d/helpdesk.conf", n.site_text("bad deploy"));
    s.write("nginx/conf.d/added.conf", "# added by the deploy\n");
    s.cmd("rb-nginx").arg("reload").run().success();
    let run = s.program(&shim).arg(STAMP).run().success();
    assert_eq!(
        run.stdout(),
        format!("Rolling back Nginx configuration from backups/nginx_{STAMP}...\nNginx rollback completed\n")
    );
    assert_eq!(n.get().as_deref(), Some("v1\n"));
    s.live().without(&["backups"]).assert_same(&good);
}
