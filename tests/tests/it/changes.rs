//! "See what will change": `rb-snapshot diff` between snapshots and against the live files,
//! `rb-restore --only` for part of a set, and a set's `exclude` globs.

use rb_tests::Scenario;
use rb_tests::docs::{Manifest, SnapshotDiff, Summary};

/// A config snapshot at 12:00, changes, another at 12:30.
fn changed_between() -> (Scenario, Summary, Summary) {
    let s = Scenario::helpdesk();
    let a: Summary = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T12:00:00Z").run().success().doc();
    s.append("core/config/settings/base.py", "X = 1\n");
    s.chmod("core/config/settings/staging.py", 0o600);
    s.write("core/config/settings/local.py", "DEBUG = True\n");
    s.remove("docker-compose.staging.yml");
    let b: Summary = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T12:30:00Z").run().success().doc();
    (s, a, b)
}

#[test]
fn diff_between_two_snapshots_lists_added_removed_modified_and_meta() {
    let (s, a, b) = changed_between();
    let before = s.tree();
    let run = s.cmd("rb-snapshot").args(["diff", &a.id, &b.id]).run().success();
    let d: SnapshotDiff = run.doc();
    assert_eq!(
        d,
        SnapshotDiff {
            from: a.id.clone(),
            to: b.id.clone(),
            added: vec!["core/config/settings/local.py".into()],
            removed: vec!["docker-compose.staging.yml".into()],
            modified: vec!["core/config/settings/base.py".into()],
            // The folder's mtime moved when local.py was added to it.
            meta: vec!["core/config/settings".into(), "core/config/settings/staging.py".into()],
            verified: true,
        }
    );
    assert_eq!(run.stdout_values()[0]["kind"], "snapshot-diff");
    run.stderr_is(&[&format!(
        "rb-snapshot: {} -> {}: 1 added, 1 removed, 1 modified, 2 changed in metadata only",
        a.id, b.id
    )]);
    // `latest` is B; the other way round, added and removed swap.
    let back: SnapshotDiff = s.cmd("rb-snapshot").args(["diff", "latest", &a.id]).run().success().doc();
    assert_eq!((back.added, back.removed), (d.removed.clone(), d.added.clone()));
    assert_eq!(back.modified, d.modified);
    // As a table: one changed path a line, marked.
    let table = s.cmd("rb-snapshot").args(["diff", &a.id, &b.id, "--format", "table"]).run().success();
    assert_eq!(
        table.stdout(),
        "CHANGE  PATH\n\
         m       core/config/settings\n\
         M       core/config/settings/base.py\n\
         +       core/config/settings/local.py\n\
         m       core/config/settings/staging.py\n\
         -       docker-compose.staging.yml\n"
    );
    // A diff reads; it changes nothing, and logs nothing.
    s.tree().assert_same(&before);
}

#[test]
fn diff_against_the_live_files_is_what_a_restore_would_put_back() {
    let (s, a, b) = changed_between();
    // Right after a snapshot, nothing differs.
    let none: SnapshotDiff = s.cmd("rb-snapshot").args(["diff", "latest"]).run().success().doc();
    assert_eq!(
        none,
        SnapshotDiff { from: b.id.clone(), to: "live".into(), verified: true, ..SnapshotDiff::default() }
    );
    // Same size, same mtime, other content: found by content, missed by --quick.
    let dev = "core/config/settings/development.py";
    let meta = std::fs::metadata(s.path(dev)).unwrap();
    let text = s.read(dev);
    s.write(dev, text.replace('a', "b").replace('e', "f"));
    let mtime = filetime::FileTime::from_last_modification_time(&meta);
    filetime::set_file_mtime(s.path(dev), mtime).unwrap();
    let before = s.tree();
    let d: SnapshotDiff = s.cmd("rb-snapshot").args(["diff", &a.id]).run().success().doc();
    assert_eq!(
        d,
        SnapshotDiff {
            from: a.id.clone(),
            to: "live".into(),
            added: vec!["core/config/settings/local.py".into()],
            removed: vec!["docker-compose.staging.yml".into()],
            modified: vec!["core/config/settings/base.py".into(), dev.into()],
            meta: vec!["core/config/settings/staging.py".into()],
            verified: true,
        }
    );
    let quick: SnapshotDiff = s.cmd("rb-snapshot").args(["diff", &b.id, "--quick"]).run().success().doc();
    assert_eq!(
        quick,
        SnapshotDiff { from: b.id.clone(), to: "live".into(), verified: false, ..SnapshotDiff::default() }
    );
    // The restore's dry run agrees, read the other way round.
    let dry: rb_tests::docs::RestoreDoc =
        s.cmd("rb-restore").args(["--dry-run", &a.id]).run().success().doc();
    assert_eq!((dry.created, dry.removed), (d.removed.clone(), d.added.clone()));
    let mut changed = [d.modified.clone(), d.meta.clone()].concat();
    changed.sort();
    assert_eq!(dry.modified, changed);
    s.tree().assert_same(&before);
}

#[test]
fn diff_of_a_snapshot_that_is_not_there_is_exit_1_and_a_bad_format_exit_2() {
    let (s, a, _) = changed_between();
    let before = s.tree();
    s.cmd("rb-snapshot")
        .args(["diff", &a.id, "config_20200101_000000"])
        .run()
        .code_is(1)
        .one_line_error("no snapshot config_20200101_000000");
    s.cmd("rb-snapshot").args(["diff", &a.id, "--format", "yaml"]).run().code_is(2);
    s.cmd("rb-snapshot").args(["diff"]).run().code_is(2).stderr_has("<A>");
    s.tree().assert_same(&before);
}

/// The nginx set as the issue writes it: its folder, without logs and pid files.
const NGINX_EXCLUDING: &str =
    "[sets.nginx]\npaths = [\"nginx/\"]\nexclude = [\"logs/\", \"*.pid\"]\nverify = []\n";

#[test]
fn excluded_paths_are_neither_snapshotted_nor_modified_nor_removed_by_a_restore() {
    let s = Scenario::helpdesk();
    s.write("rollback.toml", NGINX_EXCLUDING);
    s.write("nginx/logs/access.log", "GET /\n");
    s.write("nginx/nginx.pid", "4242\n");
    s.write("nginx/run/worker.pid", "4243\n");
    // `logs/` is for folders: a file called logs is the set's like any other.
    s.write("nginx/snippets/logs", "not a log folder\n");
    let m: Manifest = s.cmd("rb-snapshot").arg("--manifest").arg("nginx").run().success().doc();
    assert_eq!(m.exclude, ["logs/", "*.pid"]);
    let recorded: Vec<&str> = m.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(recorded.contains(&"nginx/snippets/logs") && recorded.contains(&"nginx/run"), "{recorded:?}");
    for p in ["nginx/logs", "nginx/logs/access.log", "nginx/nginx.pid", "nginx/run/worker.pid"] {
        assert!(!recorded.contains(&p), "{p} was recorded");
        assert!(!s.exists(&format!("backups/{}/{p}", m.id)), "{p} is in the store");
    }
    // The manifest keeps the list: a restore of it leaves them alone even once
    // rollback.toml no longer excludes anything.
    s.write("rollback.toml", "[sets.nginx]\npaths = [\"nginx/\"]\nverify = []\n");
    s.append("nginx/logs/access.log", "GET /tickets\n");
    s.write("nginx/logs/error.log", "oops\n");
    s.write("nginx/nginx.pid", "5151\n");
    s.write("nginx/run/new.pid", "5152\n");
    s.append("nginx/nginx.conf", "# a bad edit\n");
    s.write("nginx/conf.d/extra.conf", "server {}\n");
    let excluded = ["nginx/logs", "nginx/nginx.pid", "nginx/run/worker.pid", "nginx/run/new.pid"];
    let left = |s: &Scenario| {
        let t = s.live();
        t.0.into_iter()
            .filter(|(p, _)| excluded.iter().any(|x| p == x || p.starts_with(&format!("{x}/"))))
            .collect::<Vec<_>>()
    };
    let before = left(&s);
    // What changed since, as a diff sees it: the excluded paths are not the set's.
    let d: SnapshotDiff = s.cmd("rb-snapshot").args(["diff", &m.id]).run().success().doc();
    assert_eq!(d.added, ["nginx/conf.d/extra.conf"]);
    assert_eq!(d.modified, ["nginx/nginx.conf"]);
    // A folder's own mtime is the set's, and moved when new.pid was added to it.
    assert_eq!(d.meta, ["nginx/run"]);
    assert!(d.removed.is_empty(), "{d:?}");
    let done: rb_tests::docs::RestoreDoc = s.cmd("rb-restore").arg(&m.id).run().success().doc();
    assert_eq!(done.modified, ["nginx/nginx.conf", "nginx/run"]);
    assert_eq!(done.removed, ["nginx/conf.d/extra.conf"]);
    assert!(done.created.is_empty());
    assert_eq!(left(&s), before, "an excluded path was touched");
    assert_eq!(s.read("nginx/nginx.pid"), "5151\n");
    assert_eq!(s.read("nginx/logs/error.log"), "oops\n");
    // The undo holds what the restore replaced, and no log.
    let undo = done.undo.unwrap();
    assert!(s.exists(&format!("backups/{undo}/nginx/conf.d/extra.conf")));
    assert!(!s.exists(&format!("backups/{undo}/nginx/logs")));
    // Nothing is left to put back.
    let again: SnapshotDiff = s.cmd("rb-snapshot").args(["diff", &m.id]).run().success().doc();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn an_exclude_that_leaves_the_root_is_refused_before_anything_changes() {
    let s = Scenario::helpdesk();
    s.write("rollback.toml", "[sets.nginx]\npaths = [\"nginx/\"]\nexclude = [\"../logs\"]\n");
    let before = s.tree();
    s.cmd("rb-snapshot").arg("nginx").run().code_is(2).one_line_error(
        "rollback.toml: [sets.nginx] exclude: exclude \"../logs\": a glob relative to the root",
    );
    s.tree().assert_same(&before);
}

/// The live tree but the exact paths in `except`.
fn live_but(s: &Scenario, except: &[&str]) -> rb_tests::Tree {
    let mut t = s.live();
    t.0.retain(|p, _| !except.contains(&p.as_str()));
    t
}

#[test]
fn restore_only_takes_back_the_paths_asked_for_even_when_another_file_is_damaged() {
    let s = Scenario::helpdesk();
    let m: Summary = s.cmd("rb-snapshot").run().success().doc();
    let base = "core/config/settings/base.py";
    let dev = "core/config/settings/development.py";
    let local = "core/config/settings/local.py";
    let staging = "docker-compose.staging.yml";
    let original = s.live();
    s.append(base, "X = 1\n");
    s.append(dev, "Y = 2\n");
    s.write(local, "DEBUG = True\n");
    s.remove(staging);
    // The snapshot's copy of development.py is damaged: a whole restore is refused.
    let copy = format!("backups/{}/{dev}", m.id);
    s.chmod(&copy, 0o644).write(&copy, "damaged\n");
    let before = s.tree();
    s.cmd("rb-restore")
        .arg(&m.id)
        .run()
        .code_is(1)
        .stderr_has(&format!("snapshot {} is damaged: 1 file ({dev})", m.id));
    // Nothing changed but the log of the failure (and the lock's holder).
    let quiet = ["backups/.rb/lock", "backups/rollback.log"];
    s.tree().without(&quiet).assert_same(&before.clone().without(&quiet));
    let before = s.tree();
    // The dry run of a part says what it would do, and changes nothing.
    let dry: rb_tests::docs::RestoreDoc = s
        .cmd("rb-restore")
        .args([m.id.as_str(), "--dry-run", "--only", base, local, staging])
        .run()
        .success()
        .doc();
    assert_eq!(
        (dry.created.clone(), dry.modified.clone(), dry.removed.clone()),
        (vec![staging.to_string()], vec![base.to_string()], vec![local.to_string()])
    );
    // Sorted, as the document lists paths.
    assert_eq!(dry.only, [base, local, staging]);
    s.tree().assert_same(&before);
    // The part: base.py back, local.py (added since to a folder recorded whole) removed, the
    // compose file made again; development.py and everything else as they were.
    let untouched = live_but(&s, &[base, local, staging, "core/config/settings", ""]);
    let run = s
        .cmd("rb-restore")
        .args([m.id.as_str(), "--only", base, &format!("./{local}"), staging])
        .run()
        .success();
    let done: rb_tests::docs::RestoreDoc = run.doc();
    assert_eq!(
        (done.created.clone(), done.modified.clone(), done.removed.clone()),
        (dry.created, dry.modified, dry.removed)
    );
    assert_eq!(done.only, dry.only);
    run.stderr_has(&format!(
        "rb-restore: restored {} (only {base}, {local}, {staging}): 1 created, 1 modified, 1 removed",
        m.id
    ));
    assert_eq!(live_but(&s, &[base, local, staging, "core/config/settings", ""]), untouched);
    for p in [base, staging] {
        assert_eq!(s.live().0.get(p), original.0.get(p), "{p}");
    }
    assert!(!s.exists(local));
    assert!(s.read(dev).ends_with("Y = 2\n"));
    // Its undo puts the part back as it was.
    let undone = before.clone().without(&["backups"]);
    s.cmd("rb-restore").arg(done.undo.unwrap()).run().success();
    assert_eq!(
        live_but(&s, &["core/config/settings", ""]),
        live_but_tree(undone, &["core/config/settings", ""])
    );
}

fn live_but_tree(mut t: rb_tests::Tree, except: &[&str]) -> rb_tests::Tree {
    t.0.retain(|p, _| !except.contains(&p.as_str()));
    t
}

#[test]
fn restore_only_a_path_the_set_does_not_have_is_exit_2_and_changes_nothing() {
    let s = Scenario::helpdesk();
    s.write("rollback.toml", NGINX_EXCLUDING);
    s.write("nginx/logs/access.log", "GET /\n");
    let m: Summary = s.cmd("rb-snapshot").arg("nginx").run().success().doc();
    s.append("nginx/nginx.conf", "# a bad edit\n");
    let before = s.tree();
    s.cmd("rb-restore").args([m.id.as_str(), "--only", "manage.py"]).run().code_is(2).one_line_error(
        &format!("manage.py is not in snapshot {} (set nginx): --only takes its files and folders", m.id),
    );
    s.cmd("rb-restore")
        .args([m.id.as_str(), "--only", "nginx/logs/access.log"])
        .run()
        .code_is(2)
        .stderr_has("nginx/logs/access.log is excluded from set nginx");
    s.cmd("rb-restore").args([m.id.as_str(), "--only", "../etc/passwd"]).run().code_is(2);
    s.cmd("rb-restore").args(["--resume", "--only", "nginx/nginx.conf"]).run().code_is(2);
    s.tree().assert_same(&before);
    // A folder of the set is taken whole.
    let done: rb_tests::docs::RestoreDoc =
        s.cmd("rb-restore").args([m.id.as_str(), "--only", "nginx/"]).run().success().doc();
    assert_eq!(done.modified, ["nginx/nginx.conf"]);
    assert_eq!(done.only, ["nginx"]);
}
