//! `--format table` for the listing commands: aligned columns on a terminal (the default there,
//! as `gh` does), JSON Lines on a pipe (always, unless `--format table` is asked for), and
//! `--format json` forcing JSON.

use rb_tests::Scenario;
use rb_tests::docs::Summary;

/// Two config snapshots at known times.
fn two_snapshots() -> (Scenario, Summary, Summary) {
    let s = Scenario::helpdesk();
    let a: Summary = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T12:00:00Z").run().success().doc();
    s.append("core/config/settings/base.py", "X = 1\n");
    let b: Summary = s.cmd("rb-snapshot").env("RB_NOW", "2025-10-13T12:30:00Z").run().success().doc();
    (s, a, b)
}

#[test]
fn snapshot_list_as_a_table_byte_for_byte_and_json_on_a_pipe() {
    let (s, a, b) = two_snapshots();
    let table = s.cmd("rb-snapshot").args(["list", "--format", "table"]).run().success().stdout();
    let row = |m: &Summary| {
        format!("{:<22}  {:<6}  {:<25}  {:<5}  {:<5}  hashed\n", m.id, m.set, m.created, m.files, m.bytes)
    };
    let header = format!(
        "{:<22}  {:<6}  {:<25}  {:<5}  {:<5}  KIND    TAGS  MESSAGE\n",
        "ID", "SET", "CREATED", "FILES", "BYTES"
    );
    assert_eq!(table, format!("{header}{}{}", row(&a), row(&b)));
    // A pipe gets the documents, as --format json does.
    let piped = s.cmd("rb-snapshot").arg("list").run().success();
    assert_eq!(piped.docs::<Summary>(), [a.clone(), b.clone()]);
    let json = s.cmd("rb-snapshot").args(["list", "--format", "json"]).run().success();
    assert_eq!(json.stdout(), piped.stdout());
    // A bad format is a usage error that names the choices.
    s.cmd("rb-snapshot")
        .args(["list", "--format", "yaml"])
        .run()
        .code_is(2)
        .stderr_has("[possible values: auto, table, json]");
}

#[test]
fn on_a_terminal_the_listing_is_a_table_by_default() {
    let (s, a, _) = two_snapshots();
    // script(1) gives the command a terminal for its stdout.
    let bin = rb_tests::bin_dir().join("rb-snapshot");
    let run =
        s.program("script").args(["-qec", &format!("{} list", bin.display()), "/dev/null"]).run().success();
    let text = run.stdout();
    assert!(text.starts_with("ID "), "{text}");
    assert!(text.contains(&a.id) && !text.contains("\"kind\""), "{text}");
}

#[test]
fn migrate_status_and_flag_list_as_tables() {
    let s = Scenario::django();
    let status =
        s.cmd("rb-migrate").args(["status", "tickets", "features", "--format", "table"]).run().success();
    let text = status.stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("APP") && lines[0].contains("AT") && lines[0].ends_with("NOT APPLIED"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tickets ") && l.contains("0004_ticket_closed_at") && l.contains("4/4")),
        "{lines:?}"
    );
    s.cmd("rb-migrate").args(["rollback", "features", "0001"]).run().success();
    let after =
        s.cmd("rb-migrate").args(["status", "features", "--format", "table"]).run().success().stdout();
    assert!(after.contains("1/3") && after.contains("0002_feature_description, 0003_seed_flags"), "{after}");
    s.cmd("rb-migrate").args(["apply", "--latest"]).run().success();
    let flags = s.cmd("rb-flag").args(["list", "--format", "table"]).run().success().stdout();
    let first: Vec<&str> = flags.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, ["FLAG", "VALUE"]);
    assert!(flags.lines().any(|l| l.starts_with("ai_replies") && l.ends_with("\"active\"")), "{flags}");
}
