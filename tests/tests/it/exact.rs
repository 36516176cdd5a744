//! Exact is exact, and the store is safe: set-id bits and capabilities never in the store
//! but back on restore, POSIX ACLs, extended attributes, hard links and sparse files round
//! trip; documents from the store (journal, manifest) are input and checked as such; run as
//! root, rb refuses a store that another user can change.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use rb_tests::Scenario;
use rb_tests::docs::{Manifest, Node, RestoreDoc, Summary};

/// A project with one set, `data`: the folder `data/`.
fn data_set() -> Scenario {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\"]\n");
    s.mkdir("data");
    s
}

fn mode(s: &Scenario, rel: &str) -> u32 {
    fs::symlink_metadata(s.path(rel)).unwrap().mode() & 0o7777
}

/// `PROGRAM ARGS…` in the project root, its stdout.
fn out(s: &Scenario, program: &str, args: &[&str]) -> String {
    s.program(program).args(args.iter().copied()).run().success().stdout()
}

#[test]
fn a_setuid_file_is_never_set_id_in_the_store_and_comes_back_setuid_with_its_owner() {
    let s = data_set();
    s.write("data/tool", "#!/bin/sh\necho tool\n");
    std::os::unix::fs::chown(s.path("data/tool"), Some(1000), Some(1000)).unwrap();
    s.chmod("data/tool", 0o4755);
    s.write("data/shared", "#!/bin/sh\n").chmod("data/shared", 0o2775);
    s.touch("data/tool", 1_700_000_000, 0).touch("data/shared", 1_700_000_000, 0);
    let good = s.live();
    let snap: Manifest = s.cmd("rb-snapshot").arg("--manifest").arg("data").run().success().doc();

    // The manifest keeps the real mode and owner…
    let tool = snap.entries.iter().find(|e| e.path == "data/tool").unwrap();
    assert!(matches!(tool.node, Node::File { mode, .. } if mode.0 == 0o4755), "{tool:?}");
    assert_eq!((tool.uid, tool.gid), (Some(1000), Some(1000)));
    // …the copies in the store carry no set-id bit and are not executable by others.
    let set_id = out(&s, "find", &["backups", "-perm", "/6000"]);
    assert_eq!(set_id, "", "set-id files in the store");
    assert_eq!(mode(&s, &format!("backups/{}/data/tool", snap.id)), 0o744);
    assert_eq!(mode(&s, &format!("backups/{}/data/shared", snap.id)), 0o775 & !0o011);

    // Broken: content (a rewrite as root) and mode.
    s.write("data/tool", "#!/bin/sh\necho evil\n");
    std::os::unix::fs::chown(s.path("data/tool"), Some(0), Some(0)).unwrap();
    s.chmod("data/shared", 0o755);
    let broken = s.live();
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["data/shared", "data/tool"]);
    s.live().assert_same(&good);
    let meta = fs::metadata(s.path("data/tool")).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (1000, 1000, 0o4755));
    // The undo of what was replaced is no more dangerous, and puts it back exactly.
    assert_eq!(out(&s, "find", &["backups", "-perm", "/6000"]), "");
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    s.live().assert_same(&broken);
}

#[test]
fn a_cap_net_raw_binary_comes_back_with_its_capability_and_the_store_has_none() {
    let s = data_set();
    s.write("data/ping", "#!/bin/sh\n").chmod("data/ping", 0o755);
    out(&s, "setcap", &["cap_net_raw+ep", "data/ping"]);
    let caps = out(&s, "getcap", &["data/ping"]);
    assert!(caps.contains("cap_net_raw=ep"), "{caps}");
    let good = s.live();
    let snap: Manifest = s.cmd("rb-snapshot").arg("--manifest").arg("data").run().success().doc();
    let ping = snap.entries.iter().find(|e| e.path == "data/ping").unwrap();
    assert!(ping.xattrs.contains_key("security.capability"), "{ping:?}");
    assert_eq!(out(&s, "getcap", &["-r", "backups"]), "", "a capability in the store");

    // A rewrite drops the capability (the kernel clears it on write).
    s.write("data/ping", "#!/bin/sh\necho replaced\n");
    assert_eq!(out(&s, "getcap", &["data/ping"]), "");
    s.cmd("rb-restore").arg(&snap.id).run().success();
    assert_eq!(out(&s, "getcap", &["data/ping"]), caps);
    s.live().assert_same(&good);
    // Only the capability gone, the content kept: the restore puts it back too.
    out(&s, "setcap", &["-r", "data/ping"]);
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["data/ping"]);
    assert_eq!(out(&s, "getcap", &["data/ping"]), caps);
}

#[test]
fn acls_and_user_xattrs_round_trip_and_a_group_acl_r_comes_back_r() {
    let s = data_set();
    s.write("data/app.conf", "secret = 1\n").chmod("data/app.conf", 0o640);
    // A user may write, the owning group only read: the mode's group bits show the mask (rw).
    out(&s, "setfacl", &["-m", "u:1000:rw,g::r", "data/app.conf"]);
    s.mkdir("data/shared");
    out(&s, "setfacl", &["-d", "-m", "g:1000:r-x", "data/shared"]);
    out(&s, "setfattr", &["-n", "user.origin", "-v", "deploy-41", "data/app.conf"]);
    out(&s, "setfattr", &["-n", "user.owner", "-v", "team-a", "data/shared"]);
    s.touch("data/app.conf", 1_700_000_000, 0).touch("data/shared", 1_700_000_000, 0);
    let acl = out(&s, "getfacl", &["-cpn", "data/app.conf", "data/shared"]);
    let attrs = out(&s, "getfattr", &["-d", "data/app.conf", "data/shared"]);
    assert!(acl.contains("group::r--") && acl.contains("user:1000:rw-"), "{acl}");
    let good = s.live();
    let snap: Manifest = s.cmd("rb-snapshot").arg("--manifest").arg("data").run().success().doc();
    assert!(snap.xattrs);
    // The store's copies carry none of it (the manifest does).
    let stored = format!("backups/{}/data/app.conf", snap.id);
    assert_eq!(out(&s, "getfattr", &["-d", "-m", "-", &stored]), "");

    // Broken: the ACL removed and the content changed, the xattrs changed.
    out(&s, "setfacl", &["-b", "data/app.conf"]);
    s.write("data/app.conf", "secret = 2\n");
    out(&s, "setfacl", &["-k", "data/shared"]);
    out(&s, "setfattr", &["-x", "user.origin", "data/app.conf"]);
    out(&s, "setfattr", &["-n", "user.extra", "-v", "1", "data/shared"]);
    let broken = s.live();
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["data/app.conf", "data/shared"]);
    assert_eq!(out(&s, "getfacl", &["-cpn", "data/app.conf", "data/shared"]), acl);
    assert_eq!(out(&s, "getfattr", &["-d", "data/app.conf", "data/shared"]), attrs);
    assert_eq!(mode(&s, "data/app.conf"), 0o660, "the mask rw, the owning group's entry r--");
    s.live().assert_same(&good);
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    s.live().assert_same(&broken);
}

#[test]
fn hard_links_come_back_as_one_inode_and_share_one_copy_in_the_store() {
    let s = data_set();
    s.write("data/a.conf", "shared\n");
    fs::hard_link(s.path("data/a.conf"), s.path("data/b.conf")).unwrap();
    let snap: Manifest = s.cmd("rb-snapshot").arg("--manifest").arg("data").run().success().doc();
    let b = snap.entries.iter().find(|e| e.path == "data/b.conf").unwrap();
    assert_eq!(b.link.as_deref(), Some("data/a.conf"));
    let ino = |rel: &str| fs::symlink_metadata(s.path(rel)).unwrap().ino();
    let dir = format!("backups/{}", snap.id);
    assert_eq!(ino(&format!("{dir}/data/a.conf")), ino(&format!("{dir}/data/b.conf")));
    let good = s.live();

    // Broken: b becomes a copy with other content, then the same content as a copy.
    s.remove("data/b.conf").write("data/b.conf", "other\n");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["data/b.conf"]);
    assert_eq!(ino("data/a.conf"), ino("data/b.conf"));
    s.live().assert_same(&good);
    s.remove("data/b.conf");
    fs::copy(s.path("data/a.conf"), s.path("data/b.conf")).unwrap();
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.modified, ["data/b.conf"], "a copy with the same content is not a link");
    assert_eq!(ino("data/a.conf"), ino("data/b.conf"));
    assert_eq!(fs::metadata(s.path("data/a.conf")).unwrap().nlink(), 2);
    // Nothing left to do: both names already share the inode.
    let again: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert!(again.modified.is_empty() && again.undo.is_none(), "{again:?}");
}

#[test]
fn a_sparse_2_gb_file_is_small_in_the_store_and_comes_back_sparse() {
    let s = data_set();
    let big = fs::File::create(s.path("data/disk.img")).unwrap();
    big.set_len(2 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&big, &[7u8; 8192], 1 << 30).unwrap();
    drop(big);
    let kib = |rel: &str| -> u64 {
        let text = out(&s, "du", &["-k", rel]);
        text.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(kib("data/disk.img") < 1024);
    let sum = out(&s, "sha256sum", &["data/disk.img"]);
    let snap: Manifest = s.cmd("rb-snapshot").arg("--manifest").arg("data").run().success().doc();
    let entry = snap.entries.iter().find(|e| e.path == "data/disk.img").unwrap();
    assert!(entry.sparse, "{entry:?}");
    assert!(kib(&format!("backups/{}/data/disk.img", snap.id)) < 1024, "the copy in the store is not sparse");

    // Broken: the same size, other data.
    let f = fs::OpenOptions::new().write(true).open(s.path("data/disk.img")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[9u8; 8192], 1 << 30).unwrap();
    drop(f);
    s.cmd("rb-restore").arg(&snap.id).run().success();
    assert_eq!(out(&s, "sha256sum", &["data/disk.img"]), sum);
    assert!(kib("data/disk.img") < 1024, "restored, but not sparse");
    assert!(kib("backups") < 4096, "the store grew by the holes");
}

/// A pending restore (stopped by the test-only failpoint right after its journal was
/// written) and the journal as JSON.
fn pending() -> (Scenario, serde_json::Value) {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("core/config/settings/base.py", "# broken\n");
    let crashed = s.cmd("rb-restore").arg(&snap.id).env("FAILPOINTS", "restore-step=0*off->return").run();
    assert_eq!(crashed.code(), None, "built without --features rb-common/failpoints? {}", crashed.stderr());
    let journal = serde_json::from_str(&s.read("backups/.rb/journal.json")).unwrap();
    (s, journal)
}

#[test]
fn a_crafted_journal_step_outside_the_root_is_refused_by_resume_and_abort() {
    let outside = |s: &Scenario| s.outside().join("victim");
    for path in ["../outside/victim", "ABS", "escape/victim"] {
        let (s, mut journal) = pending();
        fs::write(outside(&s), "keep me\n").unwrap();
        s.symlink("escape", s.outside());
        let path = if path == "ABS" { outside(&s).display().to_string() } else { path.to_string() };
        let steps = journal["steps"].as_array_mut().unwrap();
        steps.insert(0, serde_json::json!({"step": "remove", "path": path}));
        s.write("backups/.rb/journal.json", format!("{journal}\n"));
        // The lock file is the store's own bookkeeping: the rest stays as it was.
        let before = s.tree().without(&["backups/.rb/lock"]);
        for arg in ["--resume", "--abort"] {
            s.cmd("rb-restore").arg(arg).run().code_is(2).one_line_error("backups/.rb/journal.json: step 1");
            s.tree().without(&["backups/.rb/lock"]).assert_same(&before);
            assert_eq!(fs::read_to_string(outside(&s)).unwrap(), "keep me\n");
        }
    }
    // A snapshot copy outside the store is refused too.
    let (s, mut journal) = pending();
    for step in journal["steps"].as_array_mut().unwrap() {
        if step["step"] == "write" {
            step["src"] = serde_json::json!("../../etc/shadow");
        }
    }
    s.write("backups/.rb/journal.json", format!("{journal}\n"));
    let before = s.tree().without(&["backups/.rb/lock"]);
    s.cmd("rb-restore").arg("--resume").run().code_is(2).one_line_error("is not in the store backups");
    s.tree().without(&["backups/.rb/lock"]).assert_same(&before);
}

#[test]
fn a_manifest_with_mode_17777_or_uid_4294967295_is_refused() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("core/config/settings/base.py", "# broken\n");
    let path = format!("backups/{}/.rb/manifest.json", snap.id);
    let text = s.read(&path);
    for (from, to, error) in [
        ("\"mode\":\"0644\"", "\"mode\":\"17777\"", "has mode 17777, more than permission bits"),
        ("\"uid\":0", "\"uid\":4294967295", "has owner id 4294967295"),
        ("\"gid\":0", "\"gid\":4294967295", "has owner id 4294967295"),
    ] {
        assert!(text.contains(from), "{from}");
        s.write(&path, text.replacen(from, to, 1));
        let before = s.tree();
        for args in [vec![snap.id.as_str()], vec!["--dry-run", snap.id.as_str()]] {
            s.cmd("rb-restore").args(args).run().code_is(2).one_line_error(error);
            s.tree().assert_same(&before);
        }
    }
}

#[test]
fn run_as_root_a_store_or_snapshot_another_user_can_write_is_refused() {
    let s = Scenario::helpdesk();
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("core/config/settings/base.py", "# broken\n");
    let dir = format!("backups/{}", snap.id);
    let manifest = format!("{dir}/.rb/manifest.json");
    let check = |what: &str, needle: &str| {
        let before = s.tree();
        s.cmd("rb-restore").arg(&snap.id).run().code_is(2).one_line_error(needle);
        s.cmd("rb-restore").args(["--dry-run", &snap.id]).run().code_is(2).one_line_error(needle);
        s.tree().assert_same(&before);
        let _ = what;
    };
    s.chmod("backups", 0o777);
    check("store", "backups can be written by other users (mode 0777)");
    let before = s.tree();
    s.cmd("rb-snapshot").run().code_is(2).one_line_error("backups can be written by other users");
    s.tree().assert_same(&before);
    s.chmod("backups", 0o755).chmod(&dir, 0o1777);
    check("snapshot", &format!("{dir} can be written by other users (mode 1777)"));
    s.chmod(&dir, 0o755);
    std::os::unix::fs::chown(s.path(&manifest), Some(1000), None).unwrap();
    check("manifest", &format!("{manifest} belongs to uid 1000"));
    std::os::unix::fs::chown(s.path(&manifest), Some(0), None).unwrap();
    s.cmd("rb-restore").arg(&snap.id).run().success();
    assert_eq!(fs::metadata(s.path("backups")).unwrap().permissions().mode() & 0o7777, 0o755);
}
