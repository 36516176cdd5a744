//! Keep what matters, drop what does not: tags and messages on snapshots, `latest-good`, an
//! ad-hoc snapshot that never moves `latest`, and a prune that covers every file rb writes
//! (database backups, env, flags, reports, migration documents), keeps what is tagged or
//! journaled, and says how much it frees.

use rb_tests::Scenario;
use rb_tests::docs::{PruneDoc, RestoreDoc, Summary};

fn snap(s: &Scenario, at: &str, args: &[&str]) -> Summary {
    s.cmd("rb-snapshot").args(args.iter().copied()).env("RB_NOW", at).run().success().doc()
}

fn latest(s: &Scenario) -> String {
    std::fs::read_link(s.path("backups/latest")).unwrap().display().to_string()
}

#[test]
fn a_tagged_good_snapshot_is_latest_good_is_never_pruned_and_ad_hoc_never_moves_latest() {
    let s = Scenario::helpdesk();
    let good = snap(&s, "2025-10-13T01:00:00Z", &["--message", "before 2.4 deploy"]);
    assert_eq!(good.message.as_deref(), Some("before 2.4 deploy"));
    let tagged: Summary = s
        .cmd("rb-snapshot")
        .args(["tag", &good.id, "good", "prod"])
        .run()
        .success()
        .stderr_has(&format!("rb-snapshot: {}: tags good, prod", good.id))
        .doc();
    assert_eq!(tagged.tags, ["good", "prod"]);
    assert_eq!(s.read(&format!("backups/{}/.rb/tags", good.id)), "good\nprod\n");
    let manifest = s.read(&format!("backups/{}/.rb/manifest.json", good.id));
    assert!(
        manifest.contains("\"message\":\"before 2.4 deploy\"") && !manifest.contains("tags"),
        "{manifest}"
    );
    // The tags file is not a snapshot file: verify counts it neither damaged nor extra.
    s.cmd("rb-snapshot").args(["verify", &good.id]).run().success();

    s.append("core/config/settings/base.py", "BROKEN = True\n");
    let bad = snap(&s, "2025-10-13T02:00:00Z", &[]);
    let adhoc =
        snap(&s, "2025-10-13T03:00:00Z", &["--name", "test_config", "core/config/settings/development.py"]);
    assert_eq!(latest(&s), bad.id, "an ad-hoc snapshot never moves latest");
    assert!(adhoc.adhoc && !bad.adhoc);
    // Nor is it `latest` when the link is gone (the newest in the listing is then used).
    std::fs::remove_file(s.path("backups/latest")).unwrap();
    let dry: RestoreDoc = s.cmd("rb-restore").args(["latest", "--dry-run"]).run().success().doc();
    assert_eq!(dry.snapshot, bad.id);
    std::os::unix::fs::symlink(&bad.id, s.path("backups/latest")).unwrap();

    // latest-good wherever latest is accepted.
    let v: Summary = s.cmd("rb-snapshot").args(["verify", "latest-good"]).run().success().doc();
    assert_eq!(
        (v.id.as_str(), v.tags.as_slice()),
        (good.id.as_str(), &["good".to_string(), "prod".into()][..])
    );
    s.cmd("rb-snapshot")
        .args(["verify", "latest-good", "--set", "nginx"])
        .run()
        .code_is(1)
        .one_line_error("no snapshot of set nginx tagged good in backups");

    // The listing shows tags and message, as JSON and as a table.
    let listed = s.cmd("rb-snapshot").arg("list").run().success().docs::<Summary>();
    let ids: Vec<_> = listed.iter().map(|m| (m.id.clone(), m.tags.clone(), m.message.clone())).collect();
    assert_eq!(
        ids,
        [
            (good.id.clone(), vec!["good".to_string(), "prod".into()], Some("before 2.4 deploy".to_string())),
            (bad.id.clone(), vec![], None),
            (adhoc.id.clone(), vec![], None),
        ]
    );
    let table = s.cmd("rb-snapshot").args(["list", "--format", "table"]).run().success().stdout();
    let first = table.lines().nth(1).unwrap();
    assert!(
        first.starts_with(&good.id) && first.ends_with("hashed  good,prod  before 2.4 deploy"),
        "{table}"
    );

    // prune --keep 1 keeps the good one (tagged) and removes nothing else of config.
    let before = s.tree();
    let dry: PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "--keep", "1", "--dry-run"])
        .run()
        .success()
        .stderr_has(&format!("rb-snapshot: keeping {}: tagged good, prod", good.id))
        .doc();
    s.tree().assert_same(&before);
    assert_eq!((dry.removed.len(), dry.freed_bytes), (0, 0), "{dry:?}");
    assert!(dry.kept.contains(&good.id) && dry.kept.contains(&bad.id) && dry.kept.contains(&adhoc.id));

    // The good one put back by name; then its tag taken off, and latest-good is gone.
    s.cmd("rb-restore").arg("latest-good").run().success().doc::<RestoreDoc>();
    assert!(!s.read("core/config/settings/base.py").contains("BROKEN"));
    let untagged: Summary =
        s.cmd("rb-snapshot").args(["tag", &good.id, "good", "--remove"]).run().success().doc();
    assert_eq!(untagged.tags, ["prod"]);
    s.cmd("rb-snapshot").args(["tag", &good.id, "prod", "--remove"]).run().success();
    assert!(!s.exists(&format!("backups/{}/.rb/tags", good.id)));
    let before = s.tree();
    s.cmd("rb-restore")
        .arg("latest-good")
        .run()
        .code_is(1)
        .one_line_error("no snapshot tagged good in backups")
        .stderr_has("rb-restore: hint: `rb-snapshot tag ID good` tags one");
    s.tree().assert_same(&before);
    let tags: Vec<_> =
        s.events().iter().filter(|e| e["action"] == "tag").map(|e| e["snapshot"].clone()).collect();
    assert_eq!(tags.len(), 3, "every tag change is in the audit log");
}

#[test]
fn bad_tags_messages_and_ids_change_nothing() {
    let s = Scenario::helpdesk();
    let m = snap(&s, "2025-10-13T01:00:00Z", &[]);
    std::fs::create_dir_all(s.path("backups/config_20250101_000000")).unwrap();
    std::fs::copy(s.path("nginx/nginx.conf"), s.path("backups/config_20250101_000000/nginx.conf")).unwrap();
    let before = s.tree();
    let refused = |args: &[&str], code: i32, error: &str| {
        s.cmd("rb-snapshot").args(args.iter().copied()).run().code_is(code).one_line_error(error);
        s.tree().assert_same(&before);
    };
    refused(&["tag", &m.id, "no good"], 2, "\"no good\" is not a tag");
    refused(&["tag", &m.id, "../x"], 2, "is not a tag");
    refused(&["tag", "config_20990101_000000", "good"], 1, "no snapshot config_20990101_000000 in backups");
    refused(&["tag", "config_20250101_000000", "good"], 2, "made by the old scripts");
    refused(&["--message", "", "config"], 2, "--message needs one line of text");
    refused(&["prune", "--keep-within", "7 days"], 2, "\"7 days\" is not a duration");
    refused(&["prune", "--keep-within", "0d"], 2, "\"0d\" is not a duration");
    s.cmd("rb-snapshot").arg("prune").run().code_is(2).stderr_has("--keep");
    s.tree().assert_same(&before);
    refused(&["--name", "latest-good", "nginx"], 2, "\"latest-good\" is reserved");
    // latest-good where latest is taken: no snapshot is tagged yet.
    s.cmd("rb-restore")
        .args(["latest-good", "--set", "config"])
        .run()
        .code_is(1)
        .one_line_error("no snapshot of set config tagged good in backups");
    s.tree().assert_same(&before);
    s.cmd("rb-envfile")
        .args(["show", "latest-good"])
        .run()
        .code_is(2)
        .one_line_error("environment backups carry no tags, so `latest-good` names none");
    s.tree().assert_same(&before);
}

/// Writes a file into the store with the mtime of `stamp` left alone (the ids carry the time).
fn put(s: &Scenario, name: &str, content: &str) -> u64 {
    s.write(&format!("backups/{name}"), content);
    content.len() as u64
}

#[test]
fn prune_covers_db_env_flags_reports_and_migrations_and_says_what_it_frees() {
    let s = Scenario::helpdesk();
    snap(&s, "2025-10-13T01:00:00Z", &[]);
    let rb_env = "# rb-envfile 1 scope=names\nexport A='1'\n";
    let mut sizes = std::collections::BTreeMap::new();
    for day in 13..=16 {
        for (name, content) in [
            (format!("db_202510{day}_100000.sqlite3"), "SQLite format 3\0 pretend ".repeat(day)),
            (format!("db_202510{day}_110000.dump"), "PGDMP pretend".repeat(day)),
            (format!("env_202510{day}_100000.env"), rb_env.to_string()),
            (format!("flags_202510{day}_100000.json"), "{\"rb\":1,\"kind\":\"flags\"}\n".into()),
            (format!("report_202510{day}_100000.json"), "{\"rb\":1,\"kind\":\"report\"}\n".into()),
            (format!("migration_202510{day}_100000.json"), "{\"rb\":1}\n".into()),
        ] {
            sizes.insert(name.clone(), put(&s, &name, &content));
        }
    }
    // The old scripts' files of the same names: never touched.
    put(&s, "env_20251001_000000.env", "PATH=/usr/bin\nSECRET_KEY=x\n");
    put(&s, "docker-compose_20251001_000000.yml", "services: {}\n");
    std::fs::create_dir_all(s.path("backups/config_20251001_000000")).unwrap();
    // An interrupted migration rollback needs its database backup (db_20251013_100000).
    s.write(
        "backups/.rb/migration.json",
        "{\"rb\":1,\"kind\":\"migration-rollback\",\"backup\":\"db_20251013_100000\"}\n",
    );
    let before = s.tree();
    let dry: PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "--keep", "2", "--dry-run"])
        .env("RB_NOW", "2025-10-20T00:00:00Z")
        .run()
        .success()
        .stderr_has(
            "rb-snapshot: keeping db_20251013_100000.sqlite3: an interrupted migration rollback needs it",
        )
        .doc();
    s.tree().assert_same(&before);
    let removed: Vec<String> = [
        "db_20251013_110000.dump",
        "db_20251014_100000.sqlite3",
        "db_20251014_110000.dump",
        "db_20251015_100000.sqlite3",
        "db_20251015_110000.dump",
        "env_20251013_100000.env",
        "env_20251014_100000.env",
        "flags_20251013_100000.json",
        "flags_20251014_100000.json",
        "migration_20251013_100000.json",
        "migration_20251014_100000.json",
        "report_20251013_100000.json",
        "report_20251014_100000.json",
    ]
    .map(String::from)
    .into();
    let mut got = dry.removed.clone();
    got.sort();
    assert_eq!(got, removed);
    let freed: u64 = removed.iter().map(|n| sizes[n]).sum();
    assert_eq!(dry.freed_bytes, freed);
    // --keep-within keeps what is younger; with --keep, either rule keeps.
    let within: PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "db", "--keep-within", "5d", "--dry-run"])
        .env("RB_NOW", "2025-10-20T00:00:00Z")
        .run()
        .success()
        .stderr_has("rb-snapshot: would remove 3 files, freeing")
        .doc();
    // (database backups are one kind, SQLite's and PostgreSQL's alike)
    let old = ["db_20251013_110000.dump", "db_20251014_100000.sqlite3", "db_20251014_110000.dump"];
    assert_eq!(within.removed, old);
    assert_eq!(within.freed_bytes, old.iter().map(|n| sizes[*n]).sum::<u64>());
    let both: PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "db", "--keep-within", "5d", "--keep", "5", "--dry-run"])
        .env("RB_NOW", "2025-10-20T00:00:00Z")
        .run()
        .success()
        .doc();
    assert_eq!(both.removed, old[..2]);
    // A real prune refuses while the migration rollback is pending; once it is gone, it runs.
    s.cmd("rb-snapshot").args(["prune", "--keep", "2"]).run().code_is(3).one_line_error("is pending");
    s.tree().without(&["backups/.rb/lock"]).assert_same(&before.clone().without(&["backups/.rb/lock"]));
    s.remove("backups/.rb/migration.json");
    let run = s.cmd("rb-snapshot").args(["prune", "--keep", "2"]).env("RB_NOW", "2025-10-20T00:00:00Z").run();
    let done: PruneDoc = run
        .success()
        .stderr_has(&format!(
            "rb-snapshot: removed 14 files, freeing {} bytes; kept",
            freed + sizes["db_20251013_100000.sqlite3"]
        ))
        .doc();
    assert_eq!(done.removed.len(), 14);
    let after = s.tree();
    let mut left: Vec<&str> = after
        .0
        .keys()
        .filter_map(|p| p.strip_prefix("backups/"))
        .filter(|p| !p.contains('/') && !p.starts_with(".rb") && !p.starts_with("config_2025101"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "config_20251001_000000",
            "db_20251016_100000.sqlite3",
            "db_20251016_110000.dump",
            "docker-compose_20251001_000000.yml",
            "env_20251001_000000.env",
            "env_20251015_100000.env",
            "env_20251016_100000.env",
            "flags_20251015_100000.json",
            "flags_20251016_100000.json",
            "latest",
            "migration_20251015_100000.json",
            "migration_20251016_100000.json",
            "report_20251015_100000.json",
            "report_20251016_100000.json",
            "rollback.log",
        ]
    );
    assert_eq!(s.read("backups/env_20251001_000000.env"), "PATH=/usr/bin\nSECRET_KEY=x\n");
}

#[test]
fn prune_frees_only_what_no_kept_snapshot_links() {
    let s = Scenario::helpdesk();
    let old: Vec<Summary> = (1..=3).map(|h| snap(&s, &format!("2025-10-13T0{h}:00:00Z"), &[])).collect();
    // Unchanged files are hard-linked between them: removing the two older frees their
    // manifests only (the content and the sums are the kept one's too).
    let manifests: u64 = old[..2]
        .iter()
        .map(|m| std::fs::metadata(s.path(&format!("backups/{}/.rb/manifest.json", m.id))).unwrap().len())
        .sum();
    let done: PruneDoc = s
        .cmd("rb-snapshot")
        .args(["prune", "--keep", "1"])
        .run()
        .success()
        .stderr_has(&format!("rb-snapshot: removed 2 snapshots, freeing {manifests} bytes; kept 1"))
        .doc();
    assert_eq!((done.removed, done.freed_bytes), (vec![old[0].id.clone(), old[1].id.clone()], manifests));
    s.cmd("rb-snapshot").args(["verify", &old[2].id]).run().success();
}
