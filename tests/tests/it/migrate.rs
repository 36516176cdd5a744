//! rb-migrate against real Django 5.2 and SQLite: the helpdesk fixture's `features` app
//! (three reversible migrations) and `tickets` app (0003 is a RunPython with no reverse,
//! 0004 a reversible migration after it).

use std::os::unix::fs::PermissionsExt;

use rb_tests::docs::{MigrationPlan, MigrationRollback, MigrationState};
use rb_tests::{Scenario, repo};

fn position(state: &MigrationState, app: &str) -> String {
    state.app(app).unwrap().position()
}

fn status(s: &Scenario) -> MigrationState {
    s.cmd("rb-migrate").arg("status").run().success().doc()
}

#[test]
fn status_lists_every_app_and_migration() {
    let s = Scenario::django();
    let state = status(&s);
    let tickets = state.app("tickets").unwrap();
    let names: Vec<&str> = tickets.migrations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["0001_initial", "0002_ticket_priority", "0003_normalize_priority", "0004_ticket_closed_at"]
    );
    assert!(tickets.migrations.iter().all(|m| m.applied));
    assert!(state.app("auth").is_ok() && state.app("features").is_ok());
    let only: MigrationState = s.cmd("rb-migrate").args(["status", "features"]).run().success().doc();
    assert_eq!(only.apps.len(), 1);
    s.cmd("rb-migrate")
        .args(["status", "nosuchapp"])
        .run()
        .code_is(1)
        .one_line_error("no app labelled \"nosuchapp\" has migrations");
}

#[test]
fn rollback_and_apply_round_trip_with_the_schema_checked() {
    let s = Scenario::django();
    let schema = s.schema();
    assert!(schema.contains("\"description\" text NOT NULL"), "{schema}");
    let run = s.cmd("rb-migrate").args(["rollback", "features", "0001"]).run().success();
    let doc: MigrationRollback = run.doc();
    assert_eq!(doc.target.as_deref(), Some("0001_initial"));
    let undone: Vec<&str> = doc.steps.iter().map(|st| st.migration.as_str()).collect();
    assert_eq!(undone, ["features.0003_seed_flags", "features.0002_feature_description"]);
    assert!(doc.steps.iter().all(|st| st.direction == "backward" && !st.irreversible));
    assert_eq!(position(&doc.before, "features"), "0003_seed_flags");
    assert_eq!(position(doc.after.as_ref().unwrap(), "features"), "0001_initial");
    assert!(!s.schema().contains("\"description\""), "the column is dropped");
    // The backup, taken before anything ran, holds the old schema; it is 0600.
    let backup = doc.backup.clone().unwrap();
    assert_eq!(backup.path, format!("backups/{}.sqlite3", backup.id));
    let mode = std::fs::metadata(s.path(&backup.path)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(s.schema_of(&backup.path), schema);
    assert_eq!(s.events().last().unwrap()["message"], "ROLLBACK SUCCESS");

    // The document's `before` is where apply goes back to.
    let back: MigrationRollback = s
        .cmd("rb-migrate")
        .arg("apply")
        .stdin(run.stdout())
        .env("RB_NOW", "2025-10-13T12:01:00Z")
        .run()
        .success()
        .doc();
    assert_eq!(back.action, "apply");
    assert_eq!(position(back.after.as_ref().unwrap(), "features"), "0003_seed_flags");
    assert_eq!(s.schema(), schema);
    // The document lists the app it touched, not every contrib app, and apply put it back.
    let apps = |st: &MigrationState| st.apps.iter().map(|a| a.app.clone()).collect::<Vec<_>>();
    assert_eq!(apps(&doc.before), ["features"]);
    assert_eq!(apps(doc.after.as_ref().unwrap()), ["features"]);
    let now = status(&s);
    assert_eq!(now.apps.iter().filter(|a| a.app == "features").cloned().collect::<Vec<_>>(), doc.before.apps);
}

#[test]
fn apply_of_a_rollback_moves_back_only_the_apps_it_touched_and_leaves_the_others() {
    let s = Scenario::django();
    let features = s.cmd("rb-migrate").args(["rollback", "features", "0001"]).run().success().stdout();
    // Later, another app is rolled back on purpose: applying the first document must not undo it.
    s.cmd("rb-migrate")
        .args(["rollback", "tickets", "0003"])
        .env("RB_NOW", "2025-10-13T12:01:00Z")
        .run()
        .success();
    let back: MigrationRollback = s
        .cmd("rb-migrate")
        .arg("apply")
        .stdin(features)
        .env("RB_NOW", "2025-10-13T12:02:00Z")
        .run()
        .success()
        .stderr_has("not in the document, left as they are: ")
        .doc();
    let moved: Vec<&str> = back.steps.iter().map(|st| st.app.as_str()).collect();
    assert!(moved.iter().all(|a| *a == "features"), "{moved:?}");
    let now = status(&s);
    assert_eq!(position(&now, "features"), "0003_seed_flags");
    assert_eq!(position(&now, "tickets"), "0003_normalize_priority");
    assert_eq!(back.before.apps.iter().map(|a| a.app.as_str()).collect::<Vec<_>>(), ["features"]);
}

#[test]
fn rollback_diff_says_the_position_before_and_after() {
    let s = Scenario::django();
    let before = s.tree();
    s.cmd("rb-migrate")
        .args(["rollback", "features", "0001", "--dry-run", "--diff"])
        .run()
        .success()
        .stderr_has("rb-migrate: features: 0003_seed_flags → 0001_initial, undoing features.0003_seed_flags, features.0002_feature_description");
    s.tree().assert_same(&before);
}

#[test]
fn a_plan_through_an_irreversible_migration_is_refused_before_anything_runs() {
    let s = Scenario::django();
    let plan: MigrationPlan = s.cmd("rb-migrate").args(["plan", "tickets", "0002"]).run().success().doc();
    assert_eq!(plan.irreversible, ["tickets.0003_normalize_priority"]);
    assert_eq!(plan.steps.len(), 2);
    let before = s.tree();
    let schema = s.schema();
    s.cmd("rb-migrate")
        .args(["rollback", "tickets", "0002"])
        .run()
        .code_is(1)
        .one_line_error("would undo tickets.0003_normalize_priority, which cannot be undone");
    // Nothing ran: not 0004 either (plain Django would have undone it), no backup taken.
    s.tree().assert_same(&before);
    assert_eq!(s.schema(), schema);
    assert_eq!(position(&status(&s), "tickets"), "0004_ticket_closed_at");
    // Plain Django, for contrast, stops half-way.
    let django = s.manage(&["migrate", "tickets", "0002"]);
    assert_ne!(django.code(), Some(0));
    assert_eq!(position(&status(&s), "tickets"), "0003_normalize_priority");
}

#[test]
fn fake_irreversible_marks_the_irreversible_step_and_runs_the_others() {
    let s = Scenario::django();
    let doc: MigrationRollback = s
        .cmd("rb-migrate")
        .args(["rollback", "tickets", "0002", "--fake-irreversible"])
        .run()
        .success()
        .doc();
    assert_eq!(doc.faked, ["tickets.0003_normalize_priority"]);
    assert_eq!(position(doc.after.as_ref().unwrap(), "tickets"), "0002_ticket_priority");
    let schema = s.schema();
    assert!(!schema.contains("closed_at") && schema.contains("\"priority\""), "{schema}");
}

#[test]
fn previous_prefixes_and_bad_targets() {
    let s = Scenario::django();
    let doc: MigrationRollback =
        s.cmd("rb-migrate").args(["rollback", "tickets", "previous"]).run().success().doc();
    assert_eq!(doc.target.as_deref(), Some("0003_normalize_priority"));
    let before = s.tree();
    let refuse = |args: &[&str], code: i32, needle: &str| {
        s.cmd("rb-migrate").args(args.iter().copied()).run().code_is(code).one_line_error(needle);
        s.tree().assert_same(&before);
    };
    refuse(&["rollback", "tickets", "000"], 2, "\"000\" matches several migrations of tickets");
    refuse(&["rollback", "tickets", "0009"], 1, "tickets has no migration \"0009\"");
    refuse(&["rollback", "tickets", "0004"], 2, "which is a roll-forward, not a rollback");
    refuse(&["rollback", "nosuchapp", "zero"], 1, "no app labelled \"nosuchapp\"");
    // No target is a usage error: zero must be asked for.
    s.cmd("rb-migrate").args(["rollback", "tickets"]).run().code_is(2);
    s.tree().assert_same(&before);
    // A dry run shows the steps and runs nothing.
    let dry: MigrationRollback =
        s.cmd("rb-migrate").args(["rollback", "features", "0001", "--dry-run"]).run().success().doc();
    assert!(dry.dry_run && dry.after.is_none() && dry.backup.is_none());
    assert_eq!(dry.steps.len(), 2);
    // Other apps' migrations that depend on the ones undone are named, and refused.
    refuse(
        &["rollback", "features", "zero"],
        1,
        "also undoes other apps' migrations that depend on it: tickets.0003_normalize_priority, tickets.0002_ticket_priority, tickets.0001_initial;",
    );
    s.tree().assert_same(&before);
    // Already there: nothing to do.
    let same: MigrationRollback =
        s.cmd("rb-migrate").args(["rollback", "tickets", "0003"]).run().success().doc();
    assert!(same.steps.is_empty());
    s.tree().assert_same(&before);
}

#[test]
fn apply_latest_reapplies_everything() {
    let s = Scenario::django();
    let schema = s.schema();
    s.cmd("rb-migrate").args(["rollback", "features", "0001"]).run().success();
    assert!(!s.schema().contains("\"description\""));
    let doc: MigrationRollback = s
        .cmd("rb-migrate")
        .args(["apply", "--latest"])
        .env("RB_NOW", "2025-10-13T12:01:00Z")
        .run()
        .success()
        .doc();
    assert_eq!(doc.steps.len(), 2);
    assert_eq!(s.schema(), schema);
}

#[test]
fn a_missing_manage_py_or_python_is_a_clear_error() {
    let s = Scenario::django();
    s.remove("manage.py");
    let before = s.tree();
    s.cmd("rb-migrate").arg("status").run().code_is(1).one_line_error("manage.py not found in");
    s.tree().assert_same(&before);
    let s = Scenario::django();
    s.write("rollback.toml", "[django]\npython = \"no-such-python\"\n");
    s.cmd("rb-migrate")
        .arg("status")
        .run()
        .code_is(1)
        .one_line_error("program `no-such-python` not found on PATH (set by django.python in rollback.toml)");
    s.write("rollback.toml", "[django]\npyhton = \"x\"\n");
    s.cmd("rb-migrate").arg("status").run().code_is(2).one_line_error("[django]: unknown field `pyhton`");
}

#[test]
fn compat_migration_rollback_sh_keeps_the_seed_arguments_and_messages() {
    let shim = repo().join("compat/migration_rollback.sh");
    let s = Scenario::django();
    let run = s.program(&shim).args(["features", "0002"]).run().success();
    assert_eq!(run.stdout(), "Rolling back migrations for features...\nMigration rollback completed\n");
    // No number: zero, as the seed did; tickets cannot get there, and nothing runs.
    let before = s.schema();
    let run = s.program(&shim).arg("tickets").env("RB_NOW", "2025-10-13T12:01:00Z").run().code_is(1);
    assert_eq!(run.stdout(), "Rolling back migrations for tickets...\n");
    assert!(run.stderr().contains("Migration rollback FAILED (rb-migrate exit 1)"), "{}", run.stderr());
    assert_eq!(s.schema(), before);
    let run = s.program(&shim).run().code_is(1);
    assert_eq!(run.stdout(), format!("Usage: {} <app_name> [migration_number]\n", shim.display()));
}

#[test]
fn previous_never_means_zero_and_documents_from_elsewhere_are_refused() {
    let s = Scenario::django();
    s.cmd("rb-migrate").args(["rollback", "features", "0001", "--no-backup"]).run().success();
    let before = s.tree();
    s.cmd("rb-migrate")
        .args(["rollback", "features", "previous"])
        .run()
        .code_is(2)
        .one_line_error("`previous` would be `zero`, which drops features's tables");
    s.tree().assert_same(&before);
    // A document naming what this project does not have never reaches manage.py.
    let state = status(&s);
    let line = rb_tests::docs::to_line(&state);
    for (bad, needle) in [
        (line.replace("\"0002_feature_description\"", "\"--fake\""), "migration \"--fake\" of features"),
        (line.replace("\"app\":\"tickets\"", "\"app\":\"billing\""), "names app \"billing\""),
    ] {
        s.cmd("rb-migrate").arg("apply").stdin(format!("{bad}\n")).run().code_is(2).one_line_error(needle);
        s.tree().assert_same(&before);
    }
}

#[test]
fn irreversible_steps_hidden_in_state_operations_or_mixed_with_schema_are_caught() {
    let s = Scenario::django();
    s.write(
        "apps/tickets/migrations/0005_hidden.py",
        "from django.db import migrations\n\n\ndef forwards(apps, schema_editor):\n    pass\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"tickets\", \"0004_ticket_closed_at\")]\n    operations = [\n        migrations.SeparateDatabaseAndState(database_operations=[migrations.RunPython(forwards)]),\n    ]\n",
    );
    s.manage(&["migrate", "-v", "0"]).success();
    let before = s.tree();
    s.cmd("rb-migrate")
        .args(["rollback", "tickets", "0004"])
        .run()
        .code_is(1)
        .one_line_error("would undo tickets.0005_hidden, which cannot be undone");
    s.tree().assert_same(&before);
    s.write(
        "apps/tickets/migrations/0006_mixed.py",
        "from django.db import migrations, models\n\n\ndef forwards(apps, schema_editor):\n    pass\n\n\nclass Migration(migrations.Migration):\n    dependencies = [(\"tickets\", \"0005_hidden\")]\n    operations = [\n        migrations.AddField(model_name=\"ticket\", name=\"team\", field=models.CharField(default=\"\", max_length=20)),\n        migrations.RunPython(forwards),\n    ]\n",
    );
    s.manage(&["migrate", "-v", "0"]).success();
    let before = s.tree();
    s.cmd("rb-migrate")
        .args(["rollback", "tickets", "0005", "--fake-irreversible"])
        .run()
        .code_is(1)
        .one_line_error("tickets.0006_mixed cannot be undone and also changes the schema");
    s.tree().assert_same(&before);
}

/// Two customers sharing an inbox since 0002 relaxed the unique e-mail, and a note.
fn shared_inbox(s: &Scenario) {
    s.manage(&[
        "shell",
        "-c",
        "from apps.customers.models import Customer, CustomerNote\n\
         a = Customer.objects.create(name='Ann', email='team@example.com')\n\
         Customer.objects.create(name='Bob', email='team@example.com')\n\
         CustomerNote.objects.create(customer=a, body='called back')",
    ])
    .success();
}

fn dump(s: &Scenario) -> String {
    let text = s.program("sqlite3").args(["db.sqlite3", ".dump"]).run().success().stdout();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn a_rollback_that_meets_the_data_changes_nothing_on_sqlite() {
    let s = Scenario::django();
    shared_inbox(&s);
    let before = dump(&s);
    let live = s.live();
    let run = s.cmd("rb-migrate").args(["rollback", "customers", "0001"]).run().code_is(1).stderr_has(
        "rb-migrate: error: migrating customers failed at customers.0002_customer_email_shared (Alter field email on customer): UNIQUE constraint failed: new__customers_customer.email; nothing was changed",
    );
    let doc: MigrationRollback = run.doc();
    assert_eq!(doc.mode.as_deref(), Some("one-transaction"));
    assert_eq!(doc.failed.unwrap().migration.as_deref(), Some("customers.0002_customer_email_shared"));
    // 0004 and 0003 were undone inside the transaction, and came back with it.
    assert_eq!(dump(&s), before);
    s.live().assert_same(&live);
    assert!(!s.exists("backups/.rb/migration.json"));
    // The backup passed PRAGMA integrity_check and holds every row.
    let backup = doc.backup.unwrap();
    let rows = s
        .program("sqlite3")
        .args([&backup.path, "SELECT count(*) FROM customers_customer"])
        .run()
        .success()
        .stdout();
    assert_eq!(rows.trim(), "2");
}

/// The fixture with a project's migration that Django runs outside a transaction
/// (`customers.0005`, `atomic = False`), and two customers sharing an e-mail: a rollback to
/// `customers 0001` undoes 0005, 0004 and 0003, then fails at 0002's unique constraint.
fn non_atomic_with_shared_inbox() -> Scenario {
    let s = Scenario::django();
    // A project's migration that Django runs outside a transaction.
    s.write(
        "apps/customers/migrations/0005_customer_vip.py",
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    atomic = False\n    dependencies = [(\"customers\", \"0004_customernote\")]\n    operations = [migrations.AddField(model_name=\"customer\", name=\"vip\", field=models.BooleanField(default=False))]\n",
    );
    s.write(
        "apps/customers/models.py",
        s.read("apps/customers/models.py").replace(
            "    email = models.EmailField()\n",
            "    email = models.EmailField()\n    vip = models.BooleanField(default=False)\n",
        ),
    );
    s.manage(&["migrate", "-v", "0"]).success();
    shared_inbox(&s);
    s
}

#[test]
fn a_non_atomic_step_runs_per_migration_and_a_failure_half_way_is_journaled() {
    let s = non_atomic_with_shared_inbox();
    let plan: MigrationPlan = s.cmd("rb-migrate").args(["plan", "customers", "0001"]).run().success().doc();
    assert_eq!(plan.not_atomic, ["customers.0005_customer_vip"]);
    let dry: MigrationRollback =
        s.cmd("rb-migrate").args(["rollback", "customers", "0001", "--dry-run"]).run().success().doc();
    assert_eq!(dry.mode.as_deref(), Some("per-migration"));
    let run = s.cmd("rb-migrate").args(["rollback", "customers", "0001"]).run().code_is(3);
    let run =
        run.stderr_has("migrating customers failed at customers.0002_customer_email_shared").stderr_has(
            "hint: `rb-migrate rollback --resume` finishes it, `rb-migrate rollback --abort` goes back",
        );
    let doc: MigrationRollback = run.doc();
    assert_eq!(position(doc.after.as_ref().unwrap(), "customers"), "0002_customer_email_shared");
    assert!(s.exists("backups/.rb/migration.json"));
    // While it stands, every store change exits 3; status says where it stopped.
    // (The lock file records who took it last: the refusals take it to look.)
    let tree = s.tree().without(&["backups/.rb/lock"]);
    s.cmd("rb-snapshot").run().code_is(3).one_line_error("an interrupted migration rollback is pending");
    s.cmd("rb-migrate").args(["rollback", "tickets", "previous"]).run().code_is(3);
    s.tree().without(&["backups/.rb/lock"]).assert_same(&tree);
    s.cmd("rb-migrate")
        .arg("status")
        .run()
        .success()
        .stderr_has("the migration rollback of customers to 0001_initial was interrupted: 3 of 4 steps undone, customers is at 0002_customer_email_shared");
    // rb-emergency status says so too, with the way out, and exits 1; it changes nothing.
    s.append("rollback.toml", "\n[health]\nurl = \"http://127.0.0.1:9/\"\ntimeout_s = 0.2\n\n[[emergency.services]]\nname = \"web\"\nstop = [\"true\"]\nstart = [\"true\"]\nstatus = [\"true\"]\n");
    let tree = s.tree().without(&["backups/.rb/lock"]);
    let run = s.cmd("rb-emergency").arg("status").run().code_is(1).stderr_has(
        "the migration rollback of customers to 0001_initial was interrupted: 3 of 4 steps undone, customers is at 0002_customer_email_shared; `rb-migrate rollback --resume` finishes it, `rb-migrate rollback --abort` goes back to where it started (or `rb-migrate restore-db db_",
    );
    let report: rb_tests::docs::Report = run.doc();
    let metrics = report.metrics.unwrap();
    let migration = &metrics["migration"];
    assert_eq!(migration["app"], "customers");
    assert_eq!(migration["target"], "0001_initial");
    assert_eq!(migration["resume"], "rb-migrate rollback --resume");
    assert_eq!(migration["backup"], doc.backup.as_ref().unwrap().id.as_str());
    assert!(report.steps.iter().any(|st| st.name == "migration" && st.status == "interrupted"));
    s.tree().without(&["backups/.rb/lock"]).assert_same(&tree);
    // --abort goes back to where it started and clears the journal.
    let back: MigrationRollback = s
        .cmd("rb-migrate")
        .args(["rollback", "--abort"])
        .env("RB_NOW", "2025-10-13T12:01:00Z")
        .run()
        .success()
        .doc();
    assert_eq!(position(back.after.as_ref().unwrap(), "customers"), "0005_customer_vip");
    assert!(!s.exists("backups/.rb/migration.json"));
    s.cmd("rb-migrate")
        .args(["rollback", "--resume"])
        .run()
        .code_is(1)
        .one_line_error("no migration rollback was interrupted");
}

#[test]
fn restore_on_failure_puts_the_backup_back_after_a_failure_half_way() {
    let s = non_atomic_with_shared_inbox();
    let before = dump(&s);
    let run = s
        .cmd("rb-migrate")
        .args(["rollback", "customers", "0001", "--restore-on-failure"])
        .run()
        .code_is(1)
        .stderr_has("rb-migrate: warning: --restore-on-failure: putting backups/db_")
        .stderr_has("migrating customers failed at customers.0002_customer_email_shared")
        .stderr_has("was put back (--restore-on-failure): the database is as it was before the rollback");
    let doc: MigrationRollback = run.doc();
    assert_eq!(doc.mode.as_deref(), Some("per-migration"));
    assert_eq!(doc.restored, doc.backup);
    assert_eq!(doc.after.as_ref().unwrap(), &doc.before);
    // Every row and the schema as they were; no journal is left, the store is free.
    assert_eq!(dump(&s), before);
    assert!(!s.exists("backups/.rb/migration.json"));
    assert_eq!(s.events().last().unwrap()["message"], "ROLLBACK FAILED");
    s.cmd("rb-snapshot").run().success();
}

#[test]
fn restore_db_on_sqlite_round_trips() {
    let s = Scenario::django();
    shared_inbox(&s);
    let before = dump(&s);
    let doc: MigrationRollback =
        s.cmd("rb-migrate").args(["rollback", "customers", "0003"]).run().success().doc();
    let after_rollback = dump(&s);
    let backup = doc.backup.unwrap();
    let done: MigrationRollback = s
        .cmd("rb-migrate")
        .args(["restore-db", &backup.id])
        .env("RB_NOW", "2025-10-13T12:01:00Z")
        .run()
        .success()
        .doc();
    assert_eq!(dump(&s), before);
    let undo = done.backup.unwrap();
    s.cmd("rb-migrate").args(["restore-db", &undo.id]).env("RB_NOW", "2025-10-13T12:02:00Z").run().success();
    assert_eq!(dump(&s), after_rollback);
}
