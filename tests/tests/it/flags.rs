//! rb-flag: the django backend against real Django and SQLite — the seed's string
//! `Feature.status` and the typed flag models of the fixture's `apps/switches` (a boolean, a
//! nullable boolean, an integer) —, the http backend against a stand-in of the platform's API
//! (tests/src/bin/standin-flags-api.rs), the feature_flags file set, and the compat script.

use rb_tests::docs::{FlagsDoc, Summary};
use rb_tests::standin::Standin;
use rb_tests::{Scenario, repo};
use serde_json::{Value, json};

/// What the database holds, straight from SQLite (not through rb).
fn rows(s: &Scenario) -> String {
    s.program("sqlite3")
        .args(["db.sqlite3", "SELECT name, status FROM features_feature ORDER BY name"])
        .run()
        .success()
        .stdout()
}

fn flags(doc: &FlagsDoc) -> Vec<(String, String)> {
    doc.flags.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
}

const HOSTILE_NAME: &str = "it's \"quoted\"\nand\tnewlined";
const HOSTILE_VALUE: &str = "'); import os; os.system('touch pwned'); ('$(touch pwned2)`touch pwned3`";

#[test]
fn names_and_values_are_data_never_code_and_restore_round_trips() {
    let s = Scenario::django();
    let list: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(
        flags(&list),
        [
            ("ai_replies".into(), "active".into()),
            ("new_dashboard".into(), "inactive".into()),
            ("sla_timers".into(), "active".into())
        ]
    );
    // A hostile name needs --create; the hostile value is stored as it is.
    let created = s.cmd("rb-flag").args(["set", "--create", HOSTILE_NAME, HOSTILE_VALUE]).run().success();
    let created: FlagsDoc = created.doc();
    assert_eq!(created.absent, [HOSTILE_NAME]);
    let set =
        s.cmd("rb-flag").args(["set", "new_dashboard", HOSTILE_VALUE, "ai_replies", "off"]).run().success();
    let undo = set.stdout();
    let before: FlagsDoc = set.doc();
    assert_eq!(
        flags(&before),
        [("ai_replies".into(), "active".into()), ("new_dashboard".into(), "inactive".into())]
    );
    let now: FlagsDoc = s.cmd("rb-flag").args(["list", "new_dashboard", HOSTILE_NAME]).run().success().doc();
    assert_eq!(now.flags["new_dashboard"], HOSTILE_VALUE);
    assert_eq!(now.flags[HOSTILE_NAME], HOSTILE_VALUE);
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!s.exists(f), "a value was executed");
    }
    // The undo puts back exactly what was there, and prints what it replaced.
    let redo: FlagsDoc = s.cmd("rb-flag").arg("restore").stdin(undo).run().success().doc();
    assert_eq!(redo.flags["ai_replies"], "off");
    let back: FlagsDoc = s.cmd("rb-flag").args(["list", "ai_replies", "new_dashboard"]).run().success().doc();
    assert_eq!(flags(&back), flags(&before));
    // Restoring the document of a --create removes what it created.
    s.cmd("rb-flag").arg("restore").stdin(created_doc_line(&created)).run().success();
    s.cmd("rb-flag").args(["list", HOSTILE_NAME]).run().code_is(1);
    let events = s.events();
    assert!(events.iter().any(|e| e["action"] == "flag-set" && e["message"] == "ROLLBACK SUCCESS"));
}

fn created_doc_line(doc: &FlagsDoc) -> String {
    format!("{}\n", rb_tests::docs::to_line(doc))
}

#[test]
fn an_unknown_flag_changes_nothing_all_or_nothing() {
    let s = Scenario::django();
    let before = rows(&s);
    s.cmd("rb-flag")
        .args(["set", "ai_replies", "off", "no_such_flag", "on"])
        .run()
        .code_is(1)
        .one_line_error("no flag named \"no_such_flag\"; nothing was changed");
    assert_eq!(rows(&s), before);
    s.cmd("rb-flag").args(["set", "ai_replies", "off", "--dry-run"]).run().success();
    assert_eq!(rows(&s), before);
    // A value the model refuses (longer than its max_length) changes nothing either.
    let long = "x".repeat(300);
    s.cmd("rb-flag")
        .args(["set", "sla_timers", "off", "ai_replies", &long])
        .run()
        .code_is(1)
        .one_line_error("the model refused the values");
    assert_eq!(rows(&s), before);
    s.cmd("rb-flag").args(["set", "ai_replies"]).run().code_is(2);
    s.cmd("rb-flag").args(["set", "a", "1", "a", "2"]).run().code_is(2).one_line_error("a is given twice");
    s.cmd("rb-flag")
        .arg("restore")
        .stdin("{\"rb\":1,\"kind\":\"snapshot\"}\n")
        .run()
        .code_is(2)
        .one_line_error("expected a `flags` document");
    // Documents that are not a change's record are refused.
    let dry = s.cmd("rb-flag").args(["set", "ai_replies", "off", "--dry-run"]).run().success().stdout();
    s.cmd("rb-flag").arg("restore").stdin(dry).run().code_is(2).one_line_error("from a --dry-run");
    let http = "{\"rb\":1,\"kind\":\"flags\",\"backend\":\"http\",\"action\":\"set\",\"flags\":{\"ai_replies\":false},\"dry_run\":false}\n";
    s.cmd("rb-flag").arg("restore").stdin(http).run().code_is(2).one_line_error("from the http backend");
    assert_eq!(rows(&s), before);
    let django = s.read("rollback.toml");
    s.write("rollback.toml", format!("{django}[flags]\nvalue_field = \"enabled\"\n"));
    s.cmd("rb-flag")
        .args(["set", "--create", "kill_switch", "on"])
        .run()
        .code_is(2)
        .one_line_error("has no field 'enabled' (value_field)");
    assert_eq!(rows(&s), before);
    s.write("rollback.toml", format!("{django}[flags]\nbackend = \"carrier-pigeon\"\n"));
    s.cmd("rb-flag").arg("list").run().code_is(2).one_line_error("backend = \"carrier-pigeon\"");
    s.write("rollback.toml", "[django]\npython = \"no-such-python\"\n");
    s.cmd("rb-flag").arg("list").run().code_is(1).one_line_error("program `no-such-python` not found");
    assert_eq!(rows(&s), before);
}

/// The flags API stand-in; `fail` names flags whose first update answers 500.
fn api(s: &Scenario, fail: &[&str]) -> Standin {
    let record = s.base.join("requests.jsonl");
    let flags = json!({ "new_dashboard": false, "sla timers v2": 3, "ai_replies": "on" }).to_string();
    let mut args = vec!["t0ken", flags.as_str(), record.to_str().unwrap()];
    args.extend(fail);
    Standin::start("standin-flags-api", &args, record.clone())
}

fn http_scenario(api: &Standin, s: &Scenario) {
    s.write(
        "rollback.toml",
        format!(
            "[flags]\nbackend = \"http\"\nurl = \"http://127.0.0.1:{}\"\ntoken_env = \"HELPDESK_TOKEN\"\n",
            api.port
        ),
    );
}

#[test]
fn the_http_backend_sends_what_the_seeds_curl_did_and_puts_back_on_failure() {
    let s = Scenario::new();
    let api = api(&s, &["ai_replies"]);
    http_scenario(&api, &s);
    let rb = |args: &[&str]| s.cmd("rb-flag").args(args.iter().copied()).env("HELPDESK_TOKEN", "t0ken");
    let list: FlagsDoc = rb(&["list"]).run().success().doc();
    assert_eq!(list.flags["sla timers v2"], 3);
    // JSON-looking values go as JSON, the rest as strings; names are percent-encoded.
    let set = rb(&["set", "new_dashboard", "true", "sla timers v2", "four"]).run().success();
    let before: FlagsDoc = set.doc();
    assert_eq!(before.flags["new_dashboard"], false);
    assert_eq!(before.flags["sla timers v2"], 3);
    assert_eq!(
        api.posts(),
        [
            ("/api/v1/features/flags/new_dashboard/update/".to_string(), json!({ "value": true })),
            ("/api/v1/features/flags/sla%20timers%20v2/update/".to_string(), json!({ "value": "four" })),
        ]
    );
    assert!(api.requests().iter().all(|r| r["headers"]["authorization"] == "Bearer t0ken"));
    // The undo sends the old JSON values back.
    rb(&["restore"]).stdin(set.stdout()).run().success();
    let now: FlagsDoc = rb(&["list"]).run().success().doc();
    assert_eq!(
        (now.flags["new_dashboard"].clone(), now.flags["sla timers v2"].clone()),
        (json!(false), json!(3))
    );

    // A 500 part-way (the API stored the value all the same): every flag touched, the failed
    // one too, is put back and read back, exit 1.
    let posts = api.posts().len();
    rb(&["set", "new_dashboard", "true", "ai_replies", "off"])
        .run()
        .code_is(1)
        .one_line_error("setting ai_replies failed: POST");
    let sent: Vec<Value> = api.posts()[posts..].iter().map(|(_, body)| body.clone()).collect();
    assert_eq!(
        sent,
        [
            json!({ "value": true }),
            json!({ "value": "off" }),
            json!({ "value": false }),
            json!({ "value": "on" })
        ]
    );
    let now: FlagsDoc = rb(&["list"]).run().success().doc();
    assert_eq!(
        (now.flags["new_dashboard"].clone(), now.flags["ai_replies"].clone()),
        (json!(false), json!("on"))
    );
    // The undo was in the store before anything changed.
    let event = s.events().pop().unwrap();
    assert_eq!((event["action"].as_str(), event["ok"].as_bool()), (Some("flag-set"), Some(false)));
    let undo = s.read(&format!("backups/{}.json", event["snapshot"].as_str().unwrap()));
    assert!(undo.contains("\"ai_replies\":\"on\""), "{undo}");
    // A redirect is not followed: the POST would arrive as a GET without the token.
    s.write(
        "rollback.toml",
        s.read("rollback.toml").replace(&format!(":{}\"", api.port), &format!(":{}/moved\"", api.port)),
    );
    rb(&["list"]).run().code_is(1).one_line_error("HTTP 302, a redirect to /api/v1/features/flags/");
    http_scenario(&api, &s);
    // Bad input: nothing is posted, nothing written.
    let posts = api.posts().len();
    let tree = s.tree();
    rb(&["set", "new_dashboard", "true", "nope", "1"])
        .run()
        .code_is(1)
        .one_line_error("no flag named \"nope\"");
    assert_eq!(api.posts().len(), posts);
    // A wrong or missing token.
    s.cmd("rb-flag")
        .arg("list")
        .env("HELPDESK_TOKEN", "wrong")
        .run()
        .code_is(1)
        .one_line_error("the API refused the token (HTTP 401)");
    s.cmd("rb-flag")
        .arg("list")
        .run()
        .code_is(1)
        .one_line_error("the environment variable HELPDESK_TOKEN is empty");
    rb(&["set", "--create", "x", "1"]).run().code_is(2).one_line_error("cannot create a flag");
    rb(&["set", "../admin", "1"]).run().code_is(2).one_line_error("cannot be a flag name in the API's URL");
    assert_eq!(api.posts().len(), posts);
    s.tree().assert_same(&tree);
    s.write("rollback.toml", "[flags]\nbackend = \"http\"\nurl = \"http://api.example.com\"\n");
    rb(&["list"]).run().code_is(2).one_line_error("plain http would send the token in clear");
    s.write("rollback.toml", "[flags]\nbackend = \"http\"\nurl = \"https://u:pw@api.example.com\"\n");
    rb(&["list"]).run().code_is(2).one_line_error("credentials in the URL");
}

#[test]
fn the_feature_flags_file_is_backed_up_and_restored_through_the_engine() {
    let s = Scenario::helpdesk();
    s.write("core/config/settings/feature_flags.py", "NEW_DASHBOARD = False\n");
    let snap: Summary = s.cmd("rb-flag").args(["snapshot", "--file"]).run().success().doc();
    assert_eq!(snap.set, "feature_flags");
    let good = s.live();
    s.write("core/config/settings/feature_flags.py", "NEW_DASHBOARD = True\n");
    s.cmd("rb-flag").args(["restore", "--file", "latest"]).run().success();
    s.live().assert_same(&good);
    // The seed's own backup: cp core/config/settings/feature_flags.py backups/feature_flags_TS.py
    s.write("backups/feature_flags_20250101_000000.py", "NEW_DASHBOARD = \"seed\"\n");
    s.cmd("rb-flag")
        .args(["restore", "--file", "feature_flags_20250101_000000"])
        .env("RB_NOW", "2025-10-13T12:01:00Z")
        .run()
        .success();
    assert_eq!(s.read("core/config/settings/feature_flags.py"), "NEW_DASHBOARD = \"seed\"\n");
}

#[test]
fn compat_feature_flags_rollback_sh_keeps_the_seed_messages() {
    let shim = repo().join("compat/feature_flags_rollback.sh");
    let s = Scenario::django();
    let run = s.program(&shim).args(["new_dashboard", "it's 'quoted'"]).run().success();
    assert_eq!(
        run.stdout(),
        "Rolling back feature flag new_dashboard to it's 'quoted'...\nFeature flags rollback completed\n"
    );
    let now: FlagsDoc = s.cmd("rb-flag").args(["list", "new_dashboard"]).run().success().doc();
    assert_eq!(now.flags["new_dashboard"], "it's 'quoted'");
    let before = rows(&s);
    let run = s.program(&shim).args(["nope", "x"]).run().code_is(1);
    assert_eq!(run.stdout(), "Rolling back feature flag nope to x...\n");
    assert_eq!(rows(&s), before);
    let run = s.program(&shim).arg("only_a_name").run().code_is(1);
    assert_eq!(run.stdout(), format!("Usage: {} <feature_name> <feature_value>\n", shim.display()));
}

// Typed values: the fixture's `apps/switches` holds flag models as django-waffle stores them —
// Switch.active (BooleanField), Flag.everyone (BooleanField(null=True)), Sample.percent
// (PositiveSmallIntegerField, at most 100) — beside the seed's string Feature.status.

/// The Django scenario with `[flags]` pointing at `model`'s `field` (one model per
/// rollback.toml).
fn typed(model: &str, field: &str) -> Scenario {
    let s = Scenario::django();
    s.append(
        "rollback.toml",
        &format!("[flags]\nmodel = \"apps.switches.models.{model}\"\nvalue_field = \"{field}\"\n"),
    );
    s
}

/// `name|type|value` for every row of a table's column, straight from SQLite: the type
/// SQLite stored (`integer`, `text`, `null`) and the value as SQL would write it.
fn stored(s: &Scenario, table: &str, column: &str) -> Vec<String> {
    let sql = format!("SELECT name, typeof({column}), quote({column}) FROM {table} ORDER BY name");
    s.program("sqlite3")
        .args(["db.sqlite3", &sql])
        .run()
        .success()
        .stdout()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The table as SQL text, every row and column (`sqlite3 .dump`): what "byte for byte" compares.
fn dump(s: &Scenario, table: &str) -> String {
    s.program("sqlite3").args(["db.sqlite3", &format!(".dump {table}")]).run().success().stdout()
}

fn json_of(doc: &FlagsDoc) -> Value {
    serde_json::to_value(&doc.flags).unwrap()
}

/// Runs `rb-flag ARGS` and checks it is refused with exit `code`, one error line containing
/// `needle`, and the whole tree (the database file, the store) unchanged.
#[track_caller]
fn refused(s: &Scenario, args: &[&str], code: i32, needle: &str) {
    let tree = s.tree();
    s.cmd("rb-flag").args(args.iter().copied()).run().code_is(code).one_line_error(needle);
    s.tree().assert_same(&tree);
}

const BOOLEAN: &str =
    "a BooleanField takes true/false, on/off, yes/no or 1/0, in any case; null only with null=True";

#[test]
fn a_boolean_field_takes_every_spelling_and_documents_say_true_or_false() {
    let s = typed("Switch", "active");
    let list: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(json_of(&list), json!({ "maintenance_mode": false, "new_inbox": true }));
    let mut was = json!(false);
    for (word, value) in [
        ("true", true),
        ("FALSE", false),
        ("On", true),
        ("off", false),
        ("YES", true),
        ("no", false),
        ("1", true),
        ("0", false),
        ("tRuE", true),
    ] {
        let set = s.cmd("rb-flag").args(["set", "maintenance_mode", word]).run().success();
        // The document holds the value before, as JSON of its type.
        assert_eq!(json_of(&set.doc()), json!({ "maintenance_mode": was }), "{word}");
        assert_eq!(
            stored(&s, "switches_switch", "active"),
            [format!("maintenance_mode|integer|{}", u8::from(value)), "new_inbox|integer|1".to_string()],
            "{word}"
        );
        was = json!(value);
    }
    // rb-flag --help's example, on a boolean model.
    s.cmd("rb-flag").args(["set", "--create", "a", "off", "b", "on"]).run().success();
    s.cmd("rb-flag").args(["set", "a", "on", "b", "off"]).run().success();
    let now: FlagsDoc = s.cmd("rb-flag").args(["list", "a", "b"]).run().success().doc();
    assert_eq!(json_of(&now), json!({ "a": true, "b": false }));
    // What a BooleanField cannot hold: exit 2 naming the type and what it takes, nothing
    // changed (not the other flag of the same command either), nothing written to the store.
    let field = "cannot go in apps.switches.models.Switch.active";
    refused(
        &s,
        &["set", "new_inbox", "off", "maintenance_mode", "maybe"],
        2,
        &format!("maintenance_mode: \"maybe\" {field}: {BOOLEAN}; nothing was changed"),
    );
    refused(&s, &["set", "maintenance_mode", "2"], 2, &format!("\"2\" {field}: {BOOLEAN}"));
    refused(&s, &["set", "maintenance_mode", " on"], 2, BOOLEAN);
    refused(&s, &["set", "maintenance_mode", ""], 2, BOOLEAN);
    // No null=True: `null` is not a value (and --create does not get around it).
    refused(&s, &["set", "maintenance_mode", "null"], 2, &format!("\"null\" {field}: {BOOLEAN}"));
    refused(&s, &["set", "--create", "kill_switch", "null"], 2, BOOLEAN);
    let doc = "{\"rb\":1,\"kind\":\"flags\",\"backend\":\"django\",\"action\":\"set\",\"flags\":{\"maintenance_mode\":null},\"dry_run\":false}\n";
    let tree = s.tree();
    s.cmd("rb-flag")
        .arg("restore")
        .stdin(doc)
        .run()
        .code_is(2)
        .one_line_error(&format!("maintenance_mode: null {field}"));
    s.tree().assert_same(&tree);
}

#[test]
fn a_nullable_boolean_takes_null_and_a_set_restore_round_trip_is_byte_for_byte() {
    let s = typed("Flag", "everyone");
    let list: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(json_of(&list), json!({ "beta_reports": null, "dark_mode": true, "legacy_search": false }));
    let before = dump(&s, "switches_flag");
    let set = s
        .cmd("rb-flag")
        .args(["set", "beta_reports", "Yes", "dark_mode", "null", "legacy_search", "1"])
        .run()
        .success();
    assert_eq!(
        json_of(&set.doc()),
        json!({ "beta_reports": null, "dark_mode": true, "legacy_search": false })
    );
    assert_eq!(
        stored(&s, "switches_flag", "everyone"),
        ["beta_reports|integer|1", "dark_mode|null|NULL", "legacy_search|integer|1"]
    );
    let now: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(json_of(&now), json!({ "beta_reports": true, "dark_mode": null, "legacy_search": true }));
    // The undo puts back NULL as NULL and every row as it was, byte for byte.
    let redo: FlagsDoc = s.cmd("rb-flag").arg("restore").stdin(set.stdout()).run().success().doc();
    assert_eq!(json_of(&redo), json!({ "beta_reports": true, "dark_mode": null, "legacy_search": true }));
    assert_eq!(dump(&s, "switches_flag"), before);
    // The values the field cannot hold, and the message says null is one it can.
    let takes = "a BooleanField with null=True takes true/false, on/off, yes/no or 1/0, in any case, or null";
    refused(
        &s,
        &["set", "dark_mode", "maybe"],
        2,
        &format!(
            "dark_mode: \"maybe\" cannot go in apps.switches.models.Flag.everyone: {takes}; nothing was changed"
        ),
    );
    refused(&s, &["set", "dark_mode", "NULL"], 2, takes);
}

#[test]
fn an_integer_field_takes_whole_numbers_in_its_range() {
    let s = typed("Sample", "percent");
    let list: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(json_of(&list), json!({ "ai_triage": 25, "slow_query_log": 0 }));
    let before = dump(&s, "switches_sample");
    let set = s.cmd("rb-flag").args(["set", "ai_triage", "100", "slow_query_log", "+07"]).run().success();
    assert_eq!(json_of(&set.doc()), json!({ "ai_triage": 25, "slow_query_log": 0 }));
    assert_eq!(
        stored(&s, "switches_sample", "percent"),
        ["ai_triage|integer|100", "slow_query_log|integer|7"]
    );
    let now: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(json_of(&now), json!({ "ai_triage": 100, "slow_query_log": 7 }));
    let takes = "a PositiveSmallIntegerField takes whole numbers from 0 to 32767; null only with null=True";
    let field = "cannot go in apps.switches.models.Sample.percent";
    refused(
        &s,
        &["set", "ai_triage", "1.5"],
        2,
        &format!("ai_triage: \"1.5\" {field}: {takes}; nothing was changed"),
    );
    refused(&s, &["set", "ai_triage", "abc"], 2, &format!("\"abc\" {field}: {takes}"));
    refused(&s, &["set", "ai_triage", "-1"], 2, &format!("\"-1\" {field}: {takes}"));
    refused(&s, &["set", "ai_triage", "32768"], 2, takes);
    refused(&s, &["set", "ai_triage", "true"], 2, takes);
    refused(&s, &["set", "ai_triage", "null"], 2, takes);
    refused(&s, &["set", "ai_triage", "1e3"], 2, takes);
    // Within the type but above the model's own MaxValueValidator(100): the model refuses it.
    refused(
        &s,
        &["set", "ai_triage", "101"],
        1,
        "the model refused the values (percent: Ensure this value is less than or equal to 100.)",
    );
    // A document's numbers, and a document's JSON that is not a whole number.
    let doc = |flags: Value| {
        format!(
            "{{\"rb\":1,\"kind\":\"flags\",\"backend\":\"django\",\"action\":\"set\",\"flags\":{flags},\"dry_run\":false}}\n"
        )
    };
    let tree = s.tree();
    s.cmd("rb-flag")
        .arg("restore")
        .stdin(doc(json!({ "ai_triage": 2.5 })))
        .run()
        .code_is(2)
        .one_line_error(&format!("ai_triage: 2.5 {field}"));
    s.cmd("rb-flag")
        .arg("restore")
        .stdin(doc(json!({ "ai_triage": false })))
        .run()
        .code_is(2)
        .one_line_error(&format!("ai_triage: false {field}"));
    s.tree().assert_same(&tree);
    s.cmd("rb-flag").arg("restore").stdin(set.stdout()).run().success();
    assert_eq!(dump(&s, "switches_sample"), before);
}

#[test]
fn the_string_status_stays_text_and_null_is_a_word_there() {
    let s = Scenario::django();
    let before = dump(&s, "features_feature");
    // Feature.status has no null=True: `null` and `true` are the words, stored as text.
    let set = s.cmd("rb-flag").args(["set", "new_dashboard", "null", "ai_replies", "true"]).run().success();
    assert_eq!(
        stored(&s, "features_feature", "status"),
        ["ai_replies|text|'true'", "new_dashboard|text|'null'", "sla_timers|text|'active'"]
    );
    let now: FlagsDoc = s.cmd("rb-flag").arg("list").run().success().doc();
    assert_eq!(
        json_of(&now),
        json!({ "ai_replies": "true", "new_dashboard": "null", "sla_timers": "active" })
    );
    s.cmd("rb-flag").arg("restore").stdin(set.stdout()).run().success();
    assert_eq!(dump(&s, "features_feature"), before);
}

#[test]
fn a_value_field_of_another_type_is_refused_naming_it() {
    for (model, field, kind) in [("Flag", "percent", "DecimalField"), ("Switch", "created", "DateTimeField")]
    {
        let s = typed(model, field);
        let needle = format!(
            "rollback.toml: [flags]: apps.switches.models.{model}.{field} is a {kind}: rb-flag sets the values of a BooleanField, an IntegerField"
        );
        refused(&s, &["list"], 2, &needle);
        refused(&s, &["set", "dark_mode", "1"], 2, &needle);
        refused(&s, &["set", "--create", "x", "1", "--dry-run"], 2, &needle);
    }
}

#[test]
fn an_older_string_valued_backup_restores_into_a_boolean_and_an_integer() {
    // What rb-flag wrote before values were typed: str() of each value, "True" and "25".
    let old = |flags: Value| {
        format!(
            "{{\"rb\":1,\"kind\":\"flags\",\"backend\":\"django\",\"action\":\"set\",\"flags\":{flags},\"changed\":[],\"dry_run\":false}}\n"
        )
    };
    let s = typed("Switch", "active");
    s.write(
        "backups/flags_20250101_000000.json",
        old(json!({ "maintenance_mode": "True", "new_inbox": "False" })),
    );
    let file = s.read("backups/flags_20250101_000000.json");
    let replaced: FlagsDoc = s.cmd("rb-flag").arg("restore").stdin(file).run().success().doc();
    assert_eq!(json_of(&replaced), json!({ "maintenance_mode": false, "new_inbox": true }));
    assert_eq!(
        stored(&s, "switches_switch", "active"),
        ["maintenance_mode|integer|1", "new_inbox|integer|0"]
    );
    // Its own undo (typed now) puts the seed's rows back byte for byte.
    let fresh = typed("Switch", "active");
    s.cmd("rb-flag")
        .arg("restore")
        .stdin(format!("{}\n", rb_tests::docs::to_line(&replaced)))
        .run()
        .success();
    assert_eq!(dump(&s, "switches_switch"), dump(&fresh, "switches_switch"));

    let s = typed("Sample", "percent");
    s.cmd("rb-flag")
        .arg("restore")
        .stdin(old(json!({ "ai_triage": "40", "slow_query_log": "5" })))
        .run()
        .success();
    assert_eq!(
        stored(&s, "switches_sample", "percent"),
        ["ai_triage|integer|40", "slow_query_log|integer|5"]
    );
    let s = typed("Flag", "everyone");
    s.cmd("rb-flag")
        .arg("restore")
        .stdin(old(json!({ "beta_reports": "False", "dark_mode": null })))
        .run()
        .success();
    assert_eq!(
        stored(&s, "switches_flag", "everyone"),
        ["beta_reports|integer|0", "dark_mode|null|NULL", "legacy_search|integer|0"]
    );
}

#[test]
fn the_drills_flags_procedure_passes_on_typed_models() {
    for (model, field) in [("Switch", "active"), ("Flag", "everyone"), ("Sample", "percent")] {
        let s = typed(model, field);
        let tree = s.tree();
        let run = s.cmd("rb-emergency").args(["drill", "--test", "feature_flags_rollback"]).run().success();
        let report: rb_tests::docs::Report = run.doc();
        assert_eq!(
            (report.steps[0].name.as_str(), report.steps[0].status.as_str()),
            ("feature_flags_rollback", "passed"),
            "{model}: {report:?}"
        );
        s.tree().assert_same(&tree);
    }
}

#[test]
fn set_diff_says_each_flag_before_and_after() {
    let s = Scenario::django();
    let before = s.tree();
    s.cmd("rb-flag")
        .args(["set", "ai_replies", "inactive", "--dry-run", "--diff"])
        .run()
        .success()
        .stderr_has("rb-flag: ai_replies: \"active\" → inactive (as given)");
    s.tree().assert_same(&before);
    s.cmd("rb-flag")
        .args(["set", "ai_replies", "inactive", "--diff"])
        .run()
        .success()
        .stderr_has("rb-flag: ai_replies: \"active\" → \"inactive\"");
}
