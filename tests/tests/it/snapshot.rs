//! rb-snapshot: layout, manifest, sums, latest, list, verify, dry run, ad-hoc sets; what a
//! set can and cannot name; dedup (unchanged files hard-linked from the set's previous
//! snapshot) and prune; a snapshot killed half-way is never visible.

use std::os::unix::fs::MetadataExt;

use rb_tests::docs::{Manifest, Node, RestoreDoc, Summary};
use rb_tests::{STAMP, Scenario};

use crate::restore_crash::big_tree;

fn config_id() -> String {
    format!("config_{STAMP}")
}

#[test]
fn config_snapshot_keeps_files_in_place_with_manifest_sums_and_latest() {
    let s = Scenario::helpdesk();
    let run = s.cmd("rb-snapshot").arg("--manifest").run().success();
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
    let m: Summary = s
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
    let m: Manifest =
        s.cmd("rb-snapshot").arg("--manifest").args(["--name", "data", "data"]).run().success().doc();
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
    let m: Summary = s.cmd("rb-snapshot").arg("--dry-run").run().success().stderr_has("dry run").doc();
    assert!(m.dry_run);
    assert_eq!(m.files, 20);
    assert!(!m.verified, "a dry run reads no content, so it verifies nothing");
    s.tree().assert_same(&before);
}

#[test]
fn ids_never_clash_and_list_is_oldest_first() {
    let s = Scenario::helpdesk();
    let first: Summary = s.cmd("rb-snapshot").run().success().doc();
    let second: Summary = s.cmd("rb-snapshot").run().success().doc();
    let older: Summary = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-12T08:00:00Z").run().success().doc();
    let nginx: Summary =
        s.cmd("rb-snapshot").arg("nginx").env("RB_NOW", "2025-10-13T12:00:01Z").run().success().doc();
    assert_eq!(first.id, config_id());
    assert_eq!(second.id, format!("config_{STAMP}-2"));
    assert_eq!(older.id, "config_20251012_080000");
    let ids = |args: &[&str]| -> Vec<String> {
        s.cmd("rb-snapshot")
            .args(args.iter().copied())
            .run()
            .success()
            .docs::<Summary>()
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
    let m: Summary = s.cmd("rb-snapshot").run().success().doc();
    let v: Summary = s.cmd("rb-snapshot").args(["verify", "latest"]).run().success().doc();
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
    let m: Summary = s
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
    let m: Summary = s.cmd("rb-snapshot").arg("deploy").run().success().doc();
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

#[test]
fn the_store_is_never_part_of_a_set_or_a_restore() {
    let s = Scenario::helpdesk();
    s.cmd("rb-snapshot").run().success();
    let all: Manifest =
        s.cmd("rb-snapshot").arg("--manifest").args(["--name", "everything", "*"]).run().success().doc();
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

fn ino(s: &Scenario, rel: &str) -> u64 {
    std::fs::metadata(s.path(rel)).unwrap().ino()
}

#[test]
fn unchanged_files_are_linked_from_the_previous_snapshot_never_from_the_live_tree() {
    let s = Scenario::helpdesk();
    let first: Manifest =
        s.cmd("rb-snapshot").arg("--manifest").env("RB_NOW", "2025-10-13T11:00:00Z").run().success().doc();
    s.append("nginx/nginx.conf", "# changed\n");
    s.chmod("core/config/settings/staging.py", 0o640);
    let second: Manifest = s.cmd("rb-snapshot").arg("--manifest").run().success().doc();
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
    let third: Summary = s.cmd("rb-snapshot").arg("--no-link").run().success().doc();
    let base = "core/config/settings/base.py";
    assert_ne!(
        ino(&s, &format!("backups/{}/{base}", third.id)),
        ino(&s, &format!("backups/{}/{base}", second.id))
    );
}

/// Names where a folder's own entry, a sibling that shares its prefix and what is inside the
/// folder sort apart (`a`, `a-c`, `a.txt`, `a/b`), given as separate paths of one set, with
/// more files than one batch and hard links whose names are batches apart: the manifest is
/// in path order (or no restore could load it), an unchanged snapshot links every file, and
/// a restore of it puts a change back.
#[test]
fn entries_are_in_path_order_where_a_walk_is_not_and_links_span_batches() {
    let s = Scenario::new();
    for d in 0..3 {
        for f in 0..400 {
            s.write(&format!("conf/a/d{d}/f{f:03}"), format!("{d} {f}\n"));
        }
    }
    s.write("conf/a-c/x", "x\n").write("conf/a.txt", "t\n").write("conf/a/b.txt", "b\n");
    s.write("conf/a0", "zero\n");
    std::fs::hard_link(s.path("conf/a-c/x"), s.path("conf/a/d2/x-again")).unwrap();
    std::fs::hard_link(s.path("conf/a.txt"), s.path("conf/a0-again")).unwrap();
    let specs = ["conf/a0-again", "conf/a", "conf/a.txt", "conf/a-c", "conf/a0"];
    let first: Manifest =
        s.cmd("rb-snapshot").arg("--manifest").args(["--name", "conf"]).args(specs).run().success().doc();
    let order: Vec<&str> = first.entries.iter().map(|e| e.path.as_str()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(&order[..4], ["conf", "conf/a", "conf/a-c", "conf/a-c/x"]);
    let linked = |p: &str| first.entries.iter().find(|e| e.path == p).unwrap().link.clone();
    assert_eq!(linked("conf/a/d2/x-again").as_deref(), Some("conf/a-c/x"));
    assert_eq!(linked("conf/a0-again").as_deref(), Some("conf/a.txt"));
    assert_eq!(first.files, 1206);
    let copy = |id: &str, p: &str| ino(&s, &format!("backups/{id}/{p}"));
    assert_eq!(copy(&first.id, "conf/a/d2/x-again"), copy(&first.id, "conf/a-c/x"));

    let second: Manifest =
        s.cmd("rb-snapshot").arg("--manifest").args(["--name", "conf"]).args(specs).run().success().doc();
    assert_eq!(second.entries.len(), first.entries.len());
    for e in second.entries.iter().filter(|e| matches!(e.node, rb_tests::docs::Node::File { .. })) {
        assert_eq!(copy(&second.id, &e.path), copy(&first.id, &e.path), "{} was copied again", e.path);
    }
    let before = s.tree();
    s.write("conf/a/d1/f007", "changed\n").write("conf/a-c/new", "new\n");
    s.cmd("rb-restore").arg(&first.id).run().success();
    s.tree().without(&["backups"]).assert_same(&before.without(&["backups"]));
}

#[test]
fn prune_keeps_the_newest_per_set_and_latest() {
    let s = Scenario::helpdesk();
    let mut config = Vec::new();
    for hour in 1..=4 {
        let m: Summary =
            s.cmd("rb-snapshot").env("RB_NOW", format!("2025-10-13T0{hour}:00:00Z")).run().success().doc();
        config.push(m.id);
    }
    let nginx: Summary =
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
        .docs::<Summary>()
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
    let old: Summary = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T01:00:00Z").run().success().doc();
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

#[test]
fn a_killed_snapshot_is_never_visible_and_latest_stays_whole() {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\"]\n");
    big_tree(&s, 400, 0);
    let first: Summary =
        s.cmd("rb-snapshot").arg("data").env("RB_NOW", "2025-10-13T11:00:00Z").run().success().doc();
    big_tree(&s, 400, 1);
    let killed = s.cmd("rb-snapshot").arg("data").env("FAILPOINTS", "snapshot-file=200*off->return").run();
    assert_eq!(
        killed.code(),
        None,
        "expected the snapshot to be stopped half-way (binaries built with failpoints?)"
    );
    // Only the first snapshot is visible, latest still points to it, and it verifies.
    let listed: Vec<Summary> = s.cmd("rb-snapshot").arg("list").run().success().docs();
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [first.id.as_str()]);
    assert_eq!(std::fs::read_link(s.path("backups/latest")).unwrap().to_str(), Some(first.id.as_str()));
    s.cmd("rb-snapshot").args(["verify", "latest"]).run().success();
    let leftovers = std::fs::read_dir(s.path("backups/.rb/tmp")).unwrap().count();
    assert_eq!(leftovers, 1, "the killed snapshot's build folder");
    // The next snapshot removes it.
    let next: Summary = s.cmd("rb-snapshot").arg("data").run().success().doc();
    assert_eq!(std::fs::read_dir(s.path("backups/.rb/tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_link(s.path("backups/latest")).unwrap().to_str(), Some(next.id.as_str()));
}

#[test]
fn the_document_on_stdout_is_a_summary_and_a_restore_takes_it_by_id_from_the_store() {
    let s = Scenario::helpdesk();
    let run = s.cmd("rb-snapshot").run().success();
    let summary: Summary = run.doc();
    let stored: Manifest =
        rb_tests::docs::from_line(&s.read(&format!("backups/{}/.rb/manifest.json", summary.id))).unwrap();
    assert_eq!(
        (summary.set.as_str(), summary.entries, summary.files, summary.bytes),
        ("config", stored.entries.len() as u64, stored.files, stored.bytes)
    );
    // The whole manifest is one flag away, and what the store keeps.
    let whole: Manifest =
        s.cmd("rb-snapshot").args(["verify", &summary.id, "--manifest"]).run().success().doc();
    assert_eq!(whole, stored);
    assert!(run.stdout().len() * 4 < s.read(&format!("backups/{}/.rb/manifest.json", summary.id)).len());
    // Piped into rb-restore, a summary names the snapshot in the store.
    s.append("core/config/settings/base.py", "BROKEN = 1\n");
    let doc: RestoreDoc = s.cmd("rb-restore").arg("--dry-run").stdin(run.stdout()).run().success().doc();
    assert_eq!(
        (doc.snapshot.as_str(), doc.modified.as_slice()),
        (summary.id.as_str(), ["core/config/settings/base.py".to_string()].as_slice())
    );
    // `list | tail -n 1` is a summary too.
    let listed = s.cmd("rb-snapshot").arg("list").run().success();
    assert_eq!(listed.docs::<Summary>(), std::slice::from_ref(&summary));
    let undone: RestoreDoc = s.cmd("rb-restore").stdin(listed.stdout()).run().success().doc();
    assert!(undone.undo.is_some());
    assert!(!s.read("core/config/settings/base.py").contains("BROKEN"));
}
