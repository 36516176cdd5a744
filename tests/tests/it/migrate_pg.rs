//! rb-migrate against a real PostgreSQL (Debian's, a private cluster per test): rollbacks in
//! one transaction that meet real data, checked backups, restore-db, and a killed rollback.
//! The helpdesk fixture's settings use PostgreSQL when DB_HOST is set; its `customers` app
//! relaxed a unique e-mail (0002) and widened a name from 100 to 200 characters (0003).

use std::time::{Duration, Instant};

use rb_tests::docs::{MigrationPlan, MigrationRollback, MigrationState};
use rb_tests::postgres::Postgres;
use rb_tests::{Cmd, Scenario, python};

/// The helpdesk project on a fresh cluster, migrated.
fn project(extra_config: &str) -> (Scenario, Postgres) {
    let pg = Postgres::start();
    let s = Scenario::helpdesk();
    s.write("rollback.toml", format!("[django]\npython = \"{}\"\n{extra_config}", python().display()));
    with_pg(s.program(python()).args(["manage.py", "migrate", "-v", "0"]), &pg).run().success();
    (s, pg)
}

fn with_pg(mut cmd: Cmd, pg: &Postgres) -> Cmd {
    for (k, v) in pg.env() {
        cmd = cmd.env(&k, v);
    }
    cmd
}

fn rb(s: &Scenario, pg: &Postgres, args: &[&str]) -> Cmd {
    with_pg(s.cmd("rb-migrate").args(args.iter().copied()), pg)
}

/// A customer whose name fits only the widened column, and one with a note.
fn long_names(pg: &Postgres) {
    pg.superuser(&format!(
        "INSERT INTO customers_customer (name, email) VALUES ('{}', 'long@example.com'), ('Ann', 'ann@example.com')",
        "N".repeat(150)
    ));
    pg.superuser("INSERT INTO customers_customernote (customer_id, body, created_at) SELECT id, 'called back', now() FROM customers_customer WHERE name = 'Ann'");
}

fn position(state: &MigrationState, app: &str) -> String {
    state.app(app).unwrap().position()
}

#[test]
fn a_rollback_across_a_widened_column_is_refused_with_every_row_identical() {
    let (s, pg) = project("");
    long_names(&pg);
    let dump = pg.dump();
    // The rehearsal says so first, and changes nothing.
    let plan: MigrationPlan = rb(&s, &pg, &["plan", "customers", "0001", "--rehearse"]).run().success().doc();
    let rehearsal = plan.rehearsal.unwrap();
    assert!(!rehearsal.ok);
    assert_eq!(rehearsal.engine, "postgresql");
    let failed = rehearsal.failed.unwrap();
    assert_eq!(failed.migration.as_deref(), Some("customers.0003_widen_customer_name"));
    assert_eq!(failed.operation.as_deref(), Some("Alter field name on customer"));
    assert_eq!(failed.error, "value too long for type character varying(100)");
    // What undoing 0004 would lose is listed with its rows.
    let loss = &plan.steps[0].loss;
    assert_eq!(plan.steps[0].migration, "customers.0004_customernote");
    assert_eq!(loss[0].table.as_deref(), Some("customers_customernote"));
    assert_eq!(loss[0].rows, Some(1));
    assert_eq!(pg.dump(), dump);

    let live = s.live();
    // The document (with the backup taken and the failure) is printed; the error is one line.
    let run = rb(&s, &pg, &["rollback", "customers", "0001"]).run().code_is(1).stderr_has(
        "rb-migrate: error: migrating customers failed at customers.0003_widen_customer_name (Alter field name on customer): value too long for type character varying(100); nothing was changed",
    );
    let run = run.stderr_has("1/3 unapplying customers.0004_customernote").stderr_has(
        "warning: customers.0004_customernote: Create model CustomerNote — drops table customers_customernote with 1 row in it",
    );
    let doc: MigrationRollback = run.doc();
    assert_eq!(doc.mode.as_deref(), Some("one-transaction"));
    assert_eq!(doc.after.as_ref().unwrap().apps, doc.before.apps);
    // The schema and every row as they were; the live files too; no journal left.
    assert_eq!(pg.dump(), dump);
    s.live().assert_same(&live);
    assert!(!s.exists("backups/.rb/migration.json"));
    // The backup is a custom-format dump of the database, 0600.
    let backup = doc.backup.unwrap();
    assert!(backup.path.ends_with(".dump"), "{backup:?}");
    let listed = s.program("pg_restore").args(["--list", &backup.path]).run().success().stdout();
    assert!(listed.contains("dbname: helpdesk"), "{listed}");
    assert_eq!(s.events().last().unwrap()["message"], "ROLLBACK FAILED");
    // Without the long name the same rollback passes, in one transaction.
    pg.superuser("DELETE FROM customers_customer WHERE length(name) > 100");
    let done: MigrationRollback = rb(&s, &pg, &["rollback", "customers", "0001"]).run().success().doc();
    assert_eq!(position(done.after.as_ref().unwrap(), "customers"), "0001_initial");
    let column = pg.superuser(
        "SELECT character_maximum_length FROM information_schema.columns WHERE table_name = 'customers_customer' AND column_name = 'name'",
    );
    assert_eq!(column.trim(), "100");
}

#[test]
fn restore_db_puts_a_backup_back_exactly_and_is_undone_by_its_own_backup() {
    let (s, pg) = project("");
    long_names(&pg);
    let before = pg.dump();
    let doc: MigrationRollback = rb(&s, &pg, &["rollback", "customers", "0003"]).run().success().doc();
    let backup = doc.backup.unwrap();
    let rolled_back = pg.dump();
    assert_ne!(rolled_back, before, "the notes table is gone");
    // Made since: a table of another app's doing; restore-db drops it.
    pg.superuser("CREATE TABLE scratch (id int); ALTER TABLE scratch OWNER TO helpdesk");
    let done: MigrationRollback =
        rb(&s, &pg, &["restore-db", &backup.id]).env("RB_NOW", "2025-10-13T12:05:00Z").run().success().doc();
    assert_eq!(done.action, "restore-db");
    assert_eq!(done.restored.as_ref().unwrap().id, backup.id);
    assert_eq!(position(done.after.as_ref().unwrap(), "customers"), "0004_customernote");
    assert_eq!(pg.dump(), before, "schema, rows and migration records as in the backup");
    // Its own backup (taken first) undoes it.
    let undo = done.backup.unwrap();
    rb(&s, &pg, &["restore-db", &undo.id]).env("RB_NOW", "2025-10-13T12:06:00Z").run().success();
    let with_scratch = pg.dump();
    assert!(with_scratch.contains("CREATE TABLE public.scratch"), "the undo holds what was there");
    pg.superuser("DROP TABLE scratch");
    assert_eq!(pg.dump(), rolled_back);
    // Bad ids change nothing.
    let tree = s.tree();
    rb(&s, &pg, &["restore-db", "db_19990101_000000"])
        .run()
        .code_is(1)
        .one_line_error("no database backup db_19990101_000000");
    rb(&s, &pg, &["restore-db", "../etc/passwd"])
        .run()
        .code_is(2)
        .one_line_error("is not a database backup id");
    s.tree().assert_same(&tree);
}

#[test]
fn a_backup_that_is_no_archive_of_this_database_is_refused_before_anything_runs() {
    for (backup, needle) in [
        (r#"["echo", "not a dump"]"#, "is not a PostgreSQL archive that pg_restore can list"),
        (r#"["pg_dump", "--format=plain"]"#, "rb needs --format=custom"),
        (
            r#"["pg_dump", "--format=custom", "postgres"]"#,
            "the dump is of database \"postgres\", not Django's \"helpdesk\"",
        ),
    ] {
        let (s, pg) = project(&format!("backup = {backup}\n"));
        let dump = pg.dump();
        let live = s.live();
        rb(&s, &pg, &["rollback", "customers", "0003"]).run().code_is(1).one_line_error(needle);
        assert_eq!(pg.dump(), dump, "{backup}");
        // The live files as they were; in the store no backup, no journal, nothing half-written.
        s.live().assert_same(&live);
        let kept: Vec<String> = std::fs::read_dir(s.path("backups"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".rb")
            .collect();
        assert_eq!(kept, Vec::<String>::new(), "{backup}");
        assert_eq!(std::fs::read_dir(s.path("backups/.rb/tmp")).unwrap().count(), 0);
        assert!(!s.exists("backups/.rb/migration.json"));
    }
}

/// Processes whose command line holds `manage.py` and whose folder is the project's.
fn pythons_in(s: &Scenario) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        if String::from_utf8_lossy(&cmdline).contains("manage.py") && cwd.as_deref() == Some(s.root.as_path())
        {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_killed_rollback_leaves_no_python_behind_and_the_next_command_says_what_happened() {
    let (s, pg) = project("lock_timeout_s = 60\n");
    long_names(&pg);
    let dump = pg.dump();
    // The app holds a lock on customers: the second step waits behind it.
    let mut app = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--", "psql", "-X", "-q", "-h"])
        .arg(pg.socket())
        .arg("helpdesk")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let stdin = app.stdin.as_mut().unwrap();
        stdin.write_all(b"BEGIN; LOCK TABLE customers_customer IN ACCESS SHARE MODE;\n").unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    pg.superuser("DELETE FROM customers_customer WHERE length(name) > 100");
    let dump_short = pg.dump();
    assert_ne!(dump_short, dump);
    let mut rollback = rb(&s, &pg, &["rollback", "customers", "0002"]).spawn();
    // Wait until it is inside the chain: the journal is written, the first step is done.
    let until = Instant::now() + Duration::from_secs(30);
    while !s.exists("backups/.rb/migration.json") {
        assert!(Instant::now() < until, "the rollback never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!pythons_in(&s).is_empty(), "Django is running the rollback");
    rollback.kill().unwrap();
    rollback.wait().unwrap();
    // Django dies with rb (PR_SET_PDEATHSIG): nothing goes on undoing migrations.
    let until = Instant::now() + Duration::from_secs(5);
    while !pythons_in(&s).is_empty() {
        assert!(Instant::now() < until, "Django outlived rb: {:?}", pythons_in(&s));
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = app.kill();
    let _ = app.wait();
    // While the journal stands, other changes to the store exit 3 and say why.
    s.cmd("rb-snapshot").run().code_is(3).one_line_error("an interrupted migration rollback is pending");
    // The next rb-migrate command finds the database as it was and says so.
    let state: MigrationState = rb(&s, &pg, &["status", "customers"])
        .run()
        .success()
        .stderr_has("the migration rollback of customers to 0002_customer_email_shared was interrupted before it changed anything")
        .doc();
    assert_eq!(position(&state, "customers"), "0004_customernote");
    assert!(!s.exists("backups/.rb/migration.json"));
    assert_eq!(pg.dump(), dump_short);
    // And the rollback runs now.
    rb(&s, &pg, &["rollback", "customers", "0002"]).env("RB_NOW", "2025-10-13T12:07:00Z").run().success();
}
