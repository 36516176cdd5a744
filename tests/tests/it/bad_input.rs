//! Every bad input: its exit code, a one-line error, and the tree exactly as it was.

use rb_tests::docs::Summary;
use rb_tests::{Scenario, Tree};

/// A helpdesk project with one config snapshot; returns it and its document line.
fn with_snapshot() -> (Scenario, Summary, String) {
    let s = Scenario::helpdesk();
    let run = s.cmd("rb-snapshot").run().success();
    let m: Summary = run.doc();
    // Something for a restore to change, so that "nothing changed" means something.
    s.append("core/config/settings/base.py", "# broken\n");
    s.write("core/config/settings/local.py", "EXTRA = 1\n");
    (s, m, run.stdout())
}

/// Runs `rb-restore` with `args` and `stdin`, expects `code` and one error line containing
/// `needle`, and the whole tree unchanged.
#[track_caller]
fn refused(s: &Scenario, args: &[&str], stdin: &str, code: i32, needle: &str) {
    let before = s.tree();
    s.cmd("rb-restore").args(args.iter().copied()).stdin(stdin).run().code_is(code).one_line_error(needle);
    s.tree().assert_same(&before);
}

/// As [`refused`], for failures found after the lock was taken: the live files and the
/// snapshots are unchanged; the lock file and the log are the store's own bookkeeping, and the
/// log gains a ROLLBACK FAILED event.
#[track_caller]
fn refused_after_lock(s: &Scenario, args: &[&str], code: i32, needle: &str) {
    let before = s.tree().without(&["backups/.rb", "backups/rollback.log"]);
    let events = s.events().len();
    s.cmd("rb-restore").args(args.iter().copied()).run().code_is(code).one_line_error(needle);
    s.tree().without(&["backups/.rb", "backups/rollback.log"]).assert_same(&before);
    let after = s.events();
    assert_eq!(after.len(), events + 1);
    assert_eq!(after[events]["message"], "ROLLBACK FAILED");
}

#[test]
fn truncated_json_on_stdin() {
    let (s, _, line) = with_snapshot();
    refused(&s, &[], &line[..line.len() / 2], 2, "stdin line 1: not a JSON document: EOF while parsing");
}

#[test]
fn a_document_of_another_kind() {
    let (s, ..) = with_snapshot();
    refused(
        &s,
        &[],
        "{\"rb\":1,\"kind\":\"flags\",\"flags\":[]}\n",
        2,
        "expected a `snapshot` document (printed by rb-snapshot), got a document of kind `flags`",
    );
}

#[test]
fn a_document_from_a_future_rb() {
    let (s, _, line) = with_snapshot();
    refused(
        &s,
        &[],
        &line.replacen("{\"rb\":1,", "{\"rb\":2,", 1),
        2,
        "document format rb=2, but this rb reads format 1",
    );
}

#[test]
fn json_that_is_not_an_rb_document() {
    let (s, ..) = with_snapshot();
    refused(&s, &[], "{\"id\":\"config_20251013_120000\"}\n", 2, "not an rb document");
    refused(&s, &[], "[1,2]\n", 2, "expected a JSON object");
    refused(
        &s,
        &[],
        "{\"rb\":1,\"kind\":\"snapshot\",\"id\":\"x\"}\n",
        2,
        "a malformed `snapshot` document: missing field",
    );
}

#[test]
fn nothing_or_too_much_on_stdin() {
    let (s, _, line) = with_snapshot();
    refused(&s, &[], "", 2, "nothing on stdin");
    refused(&s, &[], &format!("{line}{line}"), 2, "2 documents on stdin: rb-restore restores one snapshot");
}

#[test]
fn a_dry_run_document_was_never_written() {
    let (s, ..) = with_snapshot();
    let dry = s.cmd("rb-snapshot").args(["--dry-run", "nginx"]).run().success().stdout();
    refused(&s, &[], &dry, 1, "is from a --dry-run and was never written");
}

#[test]
fn an_unknown_id() {
    let (s, ..) = with_snapshot();
    refused(&s, &["config_20200101_000000"], "", 1, "no snapshot config_20200101_000000 in backups");
    refused(&s, &["latest", "--set", "compose"], "", 1, "no snapshot of set compose in backups");
}

#[test]
fn ids_and_paths_that_leave_the_store() {
    let (s, ..) = with_snapshot();
    refused(&s, &["../config_20251013_120000"], "", 2, "is not a snapshot in the store backups");
    refused(&s, &["backups/../../etc"], "", 2, "is not a snapshot in the store backups");
    refused(&s, &["/etc"], "", 2, "is not a snapshot in the store backups");
    refused(&s, &[".rb"], "", 2, "\".rb\" is not a snapshot id");
    // The path of a real snapshot folder in the store is fine.
    s.cmd("rb-restore").args(["--dry-run", "backups/config_20251013_120000/"]).run().success();
}

#[test]
fn a_document_whose_id_leaves_the_store() {
    let (s, _, line) = with_snapshot();
    refused(
        &s,
        &[],
        &line.replace("\"id\":\"config_20251013_120000\"", "\"id\":\"../../etc\""),
        2,
        "\"../../etc\" is not a snapshot id",
    );
}

#[test]
fn a_document_that_differs_from_the_stored_manifest() {
    let (s, m, summary) = with_snapshot();
    // The whole manifest (`--manifest`), with an entry changed.
    let line = s.read(&format!("backups/{}/.rb/manifest.json", m.id));
    let evil = line.replace("\"path\":\"nginx/nginx.conf\"", "\"path\":\"../outside/nginx.conf\"");
    assert_ne!(evil, line);
    refused(&s, &[], &evil, 2, "the document differs from backups/config_20251013_120000/.rb/manifest.json");
    // The summary rb-snapshot prints, with a count changed.
    let evil = summary.replacen("\"files\":", "\"files\":9", 1);
    refused(&s, &[], &evil, 2, "the document differs from backups/config_20251013_120000/.rb/manifest.json");
}

/// Rewrites the stored manifest of `m` with `edit` applied to its text.
fn tamper_manifest(s: &Scenario, m: &Summary, edit: impl Fn(&str) -> String) {
    let path = format!("backups/{}/.rb/manifest.json", m.id);
    let text = s.read(&path);
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing");
    s.write(&path, edited);
}

#[test]
fn a_stored_manifest_with_dot_dot_or_absolute_paths() {
    let (s, m, _) = with_snapshot();
    tamper_manifest(&s, &m, |t| {
        t.replace("\"path\":\"nginx/nginx.conf\"", "\"path\":\"nginx/../../escape.conf\"")
    });
    refused(&s, &[&m.id], "", 2, "entry \"nginx/../../escape.conf\" leaves the project root (`..`)");
    tamper_manifest(&s, &m, |t| {
        t.replace("\"path\":\"nginx/../../escape.conf\"", "\"path\":\"/etc/escape.conf\"")
    });
    refused(&s, &[&m.id], "", 2, "entry \"/etc/escape.conf\" is absolute");
    tamper_manifest(&s, &m, |t| t.replace("\"path\":\"/etc/escape.conf\"", "\"path\":\".rb/lock\""));
    refused(&s, &["latest"], "", 2, "inside rb's reserved .rb folder");
}

#[test]
fn a_damaged_snapshot_is_refused_before_anything_changes() {
    let (s, m, _) = with_snapshot();
    // Damage a file the restore must write (base.py differs live, so it will be written).
    let kept = format!("backups/{}/core/config/settings/base.py", m.id);
    let recorded = s.read(&kept).len();
    s.append(&kept, "# bit rot\n");
    refused_after_lock(
        &s,
        &[&m.id],
        1,
        "snapshot config_20251013_120000 is damaged: 1 file (core/config/settings/base.py); nothing was changed",
    );
    let before = s.tree();
    s.cmd("rb-restore").args(["--dry-run", &m.id]).run().code_is(1).stderr_has(&format!(
        "damaged: core/config/settings/base.py: {} bytes in the snapshot, {recorded} recorded",
        recorded + "# bit rot\n".len()
    ));
    s.tree().assert_same(&before);
}

#[test]
fn an_incomplete_snapshot() {
    let (s, m, _) = with_snapshot();
    s.remove(&format!("backups/{}/core/config/settings/base.py", m.id));
    refused_after_lock(&s, &[&m.id], 1, "damaged: 1 file (core/config/settings/base.py)");
    s.remove(&format!("backups/{}/.rb/manifest.json", m.id));
    refused(
        &s,
        &[&m.id],
        "",
        1,
        "backups/config_20251013_120000 has no .rb/manifest.json: an incomplete snapshot",
    );
    // A truncated manifest is a damaged snapshot (1), not bad input from the user.
    let (s, m, line) = with_snapshot();
    s.write(&format!("backups/{}/.rb/manifest.json", m.id), &line[..40]);
    refused(&s, &[&m.id], "", 1, "backups/config_20251013_120000/.rb/manifest.json: not a JSON document");
}

#[test]
fn a_symlinked_folder_leading_outside_is_refused_when_it_is_not_the_snapshots() {
    let s = Scenario::helpdesk();
    // The seed's nginx backup holds nginx.conf only: nginx/ itself is not in it.
    s.program("/bin/bash")
        .args([
            "-c",
            "mkdir -p backups/nginx_20251001_090000 && cp nginx/nginx.conf backups/nginx_20251001_090000/",
        ])
        .run()
        .success();
    let outside = s.outside();
    std::fs::write(outside.join("nginx.conf"), "outside\n").unwrap();
    s.remove("nginx").symlink("nginx", &outside);
    let outside_before = Tree::of(&outside);
    refused(&s, &["nginx_20251001_090000"], "", 2, "nginx is a symlink to");
    Tree::of(&outside).assert_same(&outside_before);
    // Snapshotting through it is refused too.
    let before = s.tree();
    s.cmd("rb-snapshot")
        .arg("nginx")
        .run()
        .code_is(2)
        .one_line_error("outside the project root; rb does not write through it");
    s.tree().assert_same(&before);
}

#[test]
fn bad_arguments_to_rb_snapshot() {
    let s = Scenario::helpdesk();
    let before = s.tree();
    let snap = |args: &[&str], code: i32, needle: &str| {
        s.cmd("rb-snapshot").args(args.iter().copied()).run().code_is(code).one_line_error(needle);
        s.tree().assert_same(&before);
    };
    snap(&["--name", "a/b", "nginx"], 2, "\"a/b\" is not a set name");
    snap(&["--name", "latest", "nginx"], 2, "\"latest\" is reserved");
    snap(&["--name", "x", "../etc/passwd"], 2, "path \"../etc/passwd\" leaves the project root");
    snap(&["--name", "x", "/etc/passwd"], 2, "/etc/passwd is outside the project root");
    snap(&["--name", "x"], 2, "--name x needs the paths to back up");
    snap(&["config", "nginx"], 2, "one set at a time");
    snap(&["verify", "config_20200101_000000"], 1, "no snapshot config_20200101_000000");
    s.cmd("rb-snapshot")
        .env("RB_NOW", "yesterday")
        .run()
        .code_is(2)
        .one_line_error("RB_NOW=\"yesterday\" is not an RFC 3339 time");
    s.cmd("rb-snapshot").args(["--root", "no/such/dir"]).run().code_is(2).one_line_error("is not a folder");
    s.tree().assert_same(&before);
}

/// Rewrites the entries of `m`'s stored manifest with `edit`, as JSON values.
fn tamper_entries(s: &Scenario, m: &Summary, edit: impl Fn(&mut Vec<serde_json::Value>)) {
    let path = format!("backups/{}/.rb/manifest.json", m.id);
    let mut doc: serde_json::Value = serde_json::from_str(&s.read(&path)).unwrap();
    edit(doc["entries"].as_array_mut().unwrap());
    s.write(&path, format!("{doc}\n"));
}

/// An edit of a manifest's entries.
type Edit = fn(&mut Vec<serde_json::Value>);

/// The index of the entry at `path`.
fn at(entries: &[serde_json::Value], path: &str) -> usize {
    entries.iter().position(|e| e["path"] == path).unwrap()
}

#[test]
fn a_stored_manifest_out_of_order_twice_below_a_file_or_linked_to_a_folder() {
    // rb-restore reads the entries as it goes, a second time for the hard links: each check
    // of a whole manifest holds there too (exit 2, nothing changed).
    let cases: [(&str, Edit); 5] = [
        ("entries are not sorted by path: \"nginx/nginx.conf\" before \"nginx/conf.d/helpdesk.conf\"", |e| {
            let (a, b) = (at(e, "nginx/conf.d"), at(e, "nginx/nginx.conf"));
            e.swap(a, b);
        }),
        ("entry \"nginx/nginx.conf\" appears twice", |e| {
            let i = at(e, "nginx/nginx.conf");
            let twin = e[i].clone();
            e.insert(i, twin);
        }),
        // `nginx.conf-old` sorts between `nginx.conf` and what would be below it.
        ("entry \"nginx/nginx.conf/inner\" is inside \"nginx/nginx.conf\", which is not a folder", |e| {
            let i = at(e, "nginx/nginx.conf");
            for name in ["nginx/nginx.conf/inner", "nginx/nginx.conf-old"] {
                let mut twin = e[i].clone();
                twin["path"] = name.into();
                e.push(twin);
            }
            e.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        }),
        (
            "entry \"nginx/nginx.conf\" is a hard link of \"nginx/conf.d\", which is not an earlier file",
            |e| {
                let i = at(e, "nginx/nginx.conf");
                e[i]["link"] = "nginx/conf.d".into();
            },
        ),
        // Found by the planner as the entries stream past: still bad input, not a damaged file.
        ("names backups/evil.conf, inside the store backups; a restore never writes there", |e| {
            let mut evil = e[at(e, "nginx/nginx.conf")].clone();
            evil["path"] = "backups/evil.conf".into();
            e.push(evil);
            e.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        }),
    ];
    for (needle, edit) in cases {
        let (s, m, _) = with_snapshot();
        tamper_entries(&s, &m, edit);
        refused(&s, &[&m.id], "", 2, needle);
        refused(&s, &["--dry-run", &m.id], "", 2, needle);
    }
}

#[test]
fn a_file_below_a_whole_folder_whose_own_folder_has_no_entry_is_kept() {
    // A hand-edited manifest: `core/config/settings/` recorded whole, `…/settings/local/db.py`
    // without `…/settings/local`. The restore streams past the entries: the live `local` is
    // on the way to an entry, so it is no extra (removing it would take the file with it).
    let s = Scenario::helpdesk();
    s.write("core/config/settings/local/db.py", "DB = 'x'\n");
    let m: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append("core/config/settings/base.py", "# broken\n");
    tamper_entries(&s, &m, |e| {
        let i = at(e, "core/config/settings/local");
        e.remove(i);
    });
    s.cmd("rb-restore").arg(&m.id).run().success();
    assert_eq!(s.read("core/config/settings/local/db.py"), "DB = 'x'\n");
    assert!(!s.read("core/config/settings/base.py").ends_with("# broken\n"));
}
