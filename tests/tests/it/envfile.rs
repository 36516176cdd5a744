//! rb-envfile: values round-trip through real bash three ways, files are 0600, values stay
//! off stdout unless --reveal, the seed's `env >` files are read, exec passes codes through.

use std::os::unix::fs::PermissionsExt;

use proptest::prelude::*;
use rb_tests::docs::EnvDoc;
use rb_tests::{STAMP, Scenario, repo};

const PRINT: &str = r#"for n in RBT_0 RBT_1 RBT_2; do if [ -n "${!n+x}" ]; then printf 'set:%s\0' "${!n}"; else printf 'unset\0'; fi; done"#;

/// What [`PRINT`] prints for these values (`None`: not set).
fn printed(values: &[Option<&str>]) -> String {
    values.iter().map(|v| v.map_or("unset\0".to_string(), |v| format!("set:{v}\0"))).collect()
}

/// Captures RBT_0..2 with `values` (None: not set) and returns the document.
fn capture(s: &Scenario, values: &[Option<&str>]) -> EnvDoc {
    let mut cmd = s.cmd("rb-envfile").args(["capture", "RBT_0", "RBT_1", "RBT_2"]);
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            cmd = cmd.env(&format!("RBT_{i}"), *v);
        }
    }
    cmd.run().success().doc()
}

/// The three ways back, each starting from other values, must print exactly `values`.
fn check_three_ways(s: &Scenario, doc: &EnvDoc, values: &[Option<&str>]) {
    let want = printed(values);
    let wrong = |c: rb_tests::Cmd| c.env("RBT_0", "wrong").env("RBT_1", "wrong").env("RBT_2", "wrong");
    let sourced =
        wrong(s.program("bash")).args(["-c", &format!("source {}; {PRINT}", doc.path)]).run().success();
    assert_eq!(sourced.stdout(), want, "bash source");
    let evaled = wrong(s.program("bash"))
        .args(["-c", &format!("eval \"$(rb-envfile export {})\" || exit 99; {PRINT}", doc.id)])
        .run()
        .success();
    assert_eq!(evaled.stdout(), want, "eval export");
    let executed =
        wrong(s.cmd("rb-envfile")).args(["exec", &doc.id, "--", "bash", "-c", PRINT]).run().success();
    assert_eq!(executed.stdout(), want, "exec");
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00]{0,24}",
        "[ '\"$`\\\\\n\t(){};&|!*?~#=a-z\u{e9}\u{1f600}]{0,24}",
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_value_round_trips_through_source_eval_and_exec(
        a in value(), b in value(), c in proptest::option::of(value())
    ) {
        let s = Scenario::new();
        let values = [Some(a.as_str()), Some(b.as_str()), c.as_deref()];
        let doc = capture(&s, &values);
        check_three_ways(&s, &doc, &values);
        // Nothing a value says was run, and none of it reached stdout.
        let mut names: Vec<String> = std::fs::read_dir(&s.root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        prop_assert_eq!(names, ["backups"]);
    }
}

#[test]
fn hostile_values_are_data_never_code() {
    let s = Scenario::new();
    let values = [
        Some("$(touch pwned1)`touch pwned2`"),
        Some("'; touch pwned3; echo '"),
        Some("\"; touch pwned4 #\n touch pwned5"),
    ];
    let doc = capture(&s, &values);
    check_three_ways(&s, &doc, &values);
    s.cmd("rb-envfile").args(["show", "latest", "--reveal"]).run().success();
    s.cmd("rb-envfile").args(["diff", "latest", "--reveal"]).run().success();
    for n in 1..=5 {
        assert!(!s.exists(&format!("pwned{n}")), "a value was executed");
    }
}

#[test]
fn capture_is_0600_whatever_the_umask_and_never_prints_a_value() {
    let s = Scenario::new();
    let run = s
        .program("bash")
        .args(["-c", "umask 000; exec rb-envfile capture"])
        .env("SECRET_KEY", "s3cr3t-value")
        .env("DB_HOST", "db.internal")
        .run()
        .success();
    let doc: EnvDoc = run.doc();
    assert_eq!(doc.id, format!("env_{STAMP}"));
    assert_eq!(doc.path, format!("backups/env_{STAMP}.env"));
    assert_eq!(doc.names, ["SECRET_KEY", "DB_HOST"]);
    assert_eq!(doc.unset.len(), rb_envfile::DEFAULT_NAMES.len() - 2);
    assert!(doc.unset.contains(&"DB_PASSWORD".to_string()));
    let meta = std::fs::metadata(s.path(&doc.path)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = s.read(&doc.path);
    assert!(
        text.starts_with("# rb-envfile 1 scope=names\n# captured 2025-10-13T12:00:00+00:00: 2 variables"),
        "{text}"
    );
    let store = std::fs::metadata(s.path("backups")).unwrap().permissions().mode() & 0o777;
    assert_eq!(store, 0o755, "the store must not be writable by others under umask 000");
    assert!(
        text.contains(
            "export SECRET_KEY='s3cr3t-value'\nexport DB_HOST='db.internal'\nunset -v DJANGO_SETTINGS_MODULE\n"
        ),
        "{text}"
    );
    for out in [run.stdout(), run.stderr()] {
        assert!(!out.contains("s3cr3t") && !out.contains("db.internal"), "{out}");
    }
    let event = s.events().pop().unwrap();
    assert_eq!(
        (event["tool"].as_str(), event["action"].as_str(), event["message"].as_str()),
        (Some("rb-envfile"), Some("capture"), Some("SNAPSHOT SUCCESS"))
    );

    // show and diff mask values unless --reveal.
    let shown = s.cmd("rb-envfile").args(["show", &doc.id]).run().success();
    assert!(!shown.stdout().contains("s3cr3t"), "{}", shown.stdout());
    let shown: EnvDoc = shown.doc();
    assert_eq!(shown.values.unwrap()["SECRET_KEY"], rb_tests::docs::MASK);
    let revealed: EnvDoc = s.cmd("rb-envfile").args(["show", &doc.id, "--reveal"]).run().success().doc();
    assert_eq!(revealed.values.unwrap()["SECRET_KEY"], "s3cr3t-value");
    let diff = s
        .cmd("rb-envfile")
        .args(["diff", &doc.id])
        .env("SECRET_KEY", "other")
        .env("DEBUG", "1")
        .run()
        .success();
    assert!(!diff.stdout().contains("s3cr3t") && !diff.stdout().contains("other"), "{}", diff.stdout());
    let d = diff.doc::<EnvDoc>().diff.unwrap();
    assert_eq!(
        (d.added, d.removed, d.changed),
        (vec!["DEBUG".to_string()], vec!["DB_HOST".to_string()], vec!["SECRET_KEY".to_string()])
    );
    assert!(d.values.is_empty());
    let d = s
        .cmd("rb-envfile")
        .args(["diff", &doc.id, "--reveal"])
        .env("SECRET_KEY", "other")
        .run()
        .success()
        .doc::<EnvDoc>()
        .diff
        .unwrap();
    let change = d.values.iter().find(|c| c.name == "SECRET_KEY").unwrap();
    assert_eq!((change.backup.as_deref(), change.current.as_deref()), (Some("s3cr3t-value"), Some("other")));
}

#[test]
fn capture_all_leaves_out_the_shells_own_and_dry_run_writes_nothing() {
    let s = Scenario::new();
    let before = s.tree();
    let doc: EnvDoc = s
        .cmd("rb-envfile")
        .args(["capture", "--all", "--dry-run"])
        .env("PWD", "/x")
        .env("SHLVL", "2")
        .env("APP_MODE", "blue")
        .run()
        .success()
        .doc();
    assert!(doc.dry_run);
    assert!(doc.names.contains(&"APP_MODE".to_string()) && doc.names.contains(&"PATH".to_string()));
    assert!(!doc.names.iter().any(|n| n == "PWD" || n == "SHLVL"), "{:?}", doc.names);
    s.tree().assert_same(&before);
    let doc: EnvDoc =
        s.cmd("rb-envfile").args(["capture", "--all"]).env("APP_MODE", "blue").run().success().doc();
    assert!(doc.unset.is_empty());
    let env = s.cmd("rb-envfile").args(["exec", "--clear", &doc.id, "--", "env"]).run().success().stdout();
    assert!(env.lines().any(|l| l == "APP_MODE=blue"), "{env}");
}

#[test]
fn seed_env_backups_are_read_and_restore() {
    let s = Scenario::new();
    s.write(
        "backups/env_20250101_000000.env",
        "PWD=/srv/old\nDB_HOST=old-db\nMOTD=line one\nline two\nJWT_KEY=-----BEGIN KEY-----\nMIIE+/Bgk0B=AQs3cret\nq2Zb8w==\n-----END KEY-----\nBASH_FUNC_f%%=() {  echo hi\n}\nEMPTY=\n",
    );
    let run = s.cmd("rb-envfile").args(["show", "env_20250101_000000", "--reveal"]).run().success();
    assert!(run.stderr().contains("continues the value of MOTD"), "no warning: {}", run.stderr());
    let doc: EnvDoc = run.doc();
    assert!(doc.legacy);
    let values = doc.values.unwrap();
    assert_eq!(values["DB_HOST"], "old-db");
    assert_eq!(values["MOTD"], "line one\nline two");
    assert_eq!(values["EMPTY"], "");
    assert_eq!(values["JWT_KEY"], "-----BEGIN KEY-----\nMIIE+/Bgk0B=AQs3cret\nq2Zb8w==\n-----END KEY-----");
    assert!(!values.contains_key("BASH_FUNC_f%%") && !values.contains_key("PWD"));
    assert!(!run.stderr().contains("s3cret"), "{}", run.stderr());
    assert!(
        run.stderr().contains("world") || run.stderr().contains("open to other users"),
        "{}",
        run.stderr()
    );
    let out = s
        .program("bash")
        .args(["-c", "eval \"$(rb-envfile export latest)\"; printf '%s|%s' \"$DB_HOST\" \"$MOTD\""])
        .env("DB_HOST", "new-db")
        .run()
        .success();
    assert_eq!(out.stdout(), "old-db|line one\nline two");
}

#[test]
fn exec_passes_exit_codes_through_and_fails_as_env_does() {
    let s = Scenario::new();
    let doc = capture(&s, &[Some("1"), None, None]);
    s.cmd("rb-envfile").args(["exec", &doc.id, "--", "bash", "-c", "exit 7"]).run().code_is(7);
    s.cmd("rb-envfile")
        .args(["exec", &doc.id, "--", "no-such-command"])
        .run()
        .code_is(127)
        .stderr_has("cannot run no-such-command");
    s.write("not-executable", "#!/bin/sh\n");
    s.cmd("rb-envfile").args(["exec", &doc.id, "--", "./not-executable"]).run().code_is(126);
    s.cmd("rb-envfile")
        .args(["exec", "env_20990101_000000", "--", "true"])
        .run()
        .code_is(125)
        .one_line_error("no environment backup env_20990101_000000");
    s.cmd("rb-envfile")
        .args(["exec", "nonsense", "--", "true"])
        .run()
        .code_is(125)
        .one_line_error("not an environment backup id");
}

#[test]
fn bad_names_and_unreadable_files_are_refused_with_nothing_changed() {
    let s = Scenario::new();
    capture(&s, &[Some("1"), None, None]);
    s.write("backups/env_20250101_000000.env", "# rb-envfile 1 scope=names\nexport A='never closed\n");
    s.write("garbage.env", "this is not an env file\n");
    s.mkdir("folder.env");
    let before = s.tree();
    let refuse = |args: &[&str], code: i32, needle: &str| {
        s.cmd("rb-envfile").args(args.iter().copied()).run().code_is(code).one_line_error(needle);
        s.tree().assert_same(&before);
    };
    refuse(&["capture", "1BAD"], 2, "\"1BAD\" is not a shell variable name");
    refuse(&["capture", "A-B", "--dry-run"], 2, "\"A-B\" is not a shell variable name");
    refuse(&["show", "env_20250101_000000"], 2, "a quote that is never closed");
    refuse(&["show", "garbage.env"], 2, "garbage.env: line 1 is not NAME=VALUE");
    refuse(&["show", "folder.env"], 1, "is a folder");
    refuse(&["show", "missing.env"], 1, "missing.env: no such file");
    refuse(&["show", "env_20990101_000000"], 1, "no environment backup env_20990101_000000");
    refuse(&["show", "config_20251013_120000"], 2, "not an environment backup id");
    refuse(&["export", "garbage.env"], 2, "not NAME=VALUE");
    s.write("edited.env", "# rb-envfile 1 scope=names\nexport A=\"$HOME/x\"\n");
    let before = s.tree();
    s.cmd("rb-envfile")
        .args(["export", "edited.env"])
        .run()
        .code_is(2)
        .one_line_error("edited.env: line 2: a value that is not in single quotes");
    s.tree().assert_same(&before);
    s.write("rollback.toml", "[env]\nnames = []\n");
    let before = s.tree();
    s.cmd("rb-envfile").arg("capture").run().code_is(2).one_line_error("nothing to capture");
    s.tree().assert_same(&before);
    s.write("rollback.toml", "[env]\nnames = [\"OK\", \"NOT OK\"]\n");
    let before = s.tree();
    s.cmd("rb-envfile")
        .arg("capture")
        .run()
        .code_is(2)
        .one_line_error("\"NOT OK\" is not a shell variable name");
    s.tree().assert_same(&before);
    s.write("rollback.toml", "[env]\nnames = [\"ONLY_THIS\"]\n");
    let doc: EnvDoc = s.cmd("rb-envfile").arg("capture").env("ONLY_THIS", "x").run().success().doc();
    assert_eq!((doc.names, doc.unset), (vec!["ONLY_THIS".to_string()], vec![]));
}

#[test]
fn compat_env_rollback_sh_restores_the_shell_when_sourced() {
    let shim = repo().join("compat/env_rollback.sh");
    let s = Scenario::new();
    capture(&s, &[Some("it's restored"), None, Some("x")]);
    let sourced = s
        .program("bash")
        .args(["-c", &format!(". {} {STAMP}; echo \"rc=$?\"; {PRINT}", shim.display())])
        .env("RBT_1", "was set since")
        .run()
        .success();
    assert_eq!(
        sourced.stdout(),
        format!(
            "Rolling back environment from backups/env_{STAMP}.env...\nEnvironment rollback completed\nrc=0\n{}",
            printed(&[Some("it's restored"), None, Some("x")])
        )
    );
    let missing = s
        .program("bash")
        .args(["-c", &format!(". {} 20990101_000000; echo \"rc=$?\"", shim.display())])
        .run()
        .success();
    assert_eq!(missing.stdout(), "Backup file backups/env_20990101_000000.env not found\nrc=1\n");
    let run = s.program(&shim).arg(STAMP).run().code_is(1).stderr_has("must be sourced");
    assert_eq!(run.stdout(), "");
}

#[test]
fn diff_of_a_capture_of_names_compares_those_names_only() {
    let s = Scenario::new();
    let doc: EnvDoc = s.cmd("rb-envfile").args(["capture", "ONLY"]).env("ONLY", "x").run().success().doc();
    assert!(doc.unset.is_empty());
    let d = s.cmd("rb-envfile").args(["diff", &doc.id]).env("ONLY", "y").env("OTHER", "z").run().success();
    let d = d.doc::<EnvDoc>().diff.unwrap();
    assert_eq!((d.added, d.removed, d.changed), (vec![], vec![], vec!["ONLY".to_string()]));
}

#[test]
fn diff_exit_code_says_whether_anything_differs() {
    let s = Scenario::new();
    let doc: EnvDoc = s.cmd("rb-envfile").args(["capture", "ONLY"]).env("ONLY", "x").run().success().doc();
    // Nothing differs: exit 0, the document as always.
    let same = s.cmd("rb-envfile").args(["diff", "--exit-code", &doc.id]).env("ONLY", "x").run().success();
    assert!(same.doc::<EnvDoc>().diff.unwrap().changed.is_empty());
    // Something differs: exit 1 with the document and the note, no error line.
    let run = s
        .cmd("rb-envfile")
        .args(["diff", "--exit-code", &doc.id])
        .env("ONLY", "y")
        .run()
        .code_is(1)
        .stderr_has(&format!("rb-envfile: since {}: 0 added, 0 removed, 1 changed", doc.id));
    assert!(!run.stderr().contains("error"), "{}", run.stderr());
    assert_eq!(run.doc::<EnvDoc>().diff.unwrap().changed, ["ONLY"]);
    // A backup that is not there: 2 with --exit-code (1 would read as "differs"), 1 without.
    let tree = s.tree();
    s.cmd("rb-envfile")
        .args(["diff", "--exit-code", "env_20990101_000000"])
        .run()
        .code_is(2)
        .one_line_error("env_20990101_000000");
    s.cmd("rb-envfile").args(["diff", "env_20990101_000000"]).run().code_is(1);
    s.tree().assert_same(&tree);
}

#[test]
fn compat_env_rollback_sh_is_safe_in_strict_traced_and_other_shells() {
    let shim = repo().join("compat/env_rollback.sh");
    let s = Scenario::new();
    let doc: EnvDoc = s
        .cmd("rb-envfile")
        .args(["capture", "text", "code", "here", "RBT_0"])
        .env("text", "restored-text")
        .env("code", "restored-code")
        .env("here", "restored-here")
        .env("RBT_0", "s3cret")
        .run()
        .success()
        .doc();
    assert_eq!(doc.names.len(), 4);
    // Its own variables do not shadow restored ones; set -eu callers survive; set -x shows no value.
    let run = s
        .program("bash")
        .args([
            "-c",
            &format!(
                "set -eux; text=old; . {} {STAMP}; set +x; echo \"$text|$code|$here|$RBT_0\"",
                shim.display()
            ),
        ])
        .run()
        .success();
    assert!(run.stdout().ends_with("restored-text|restored-code|restored-here|s3cret\n"), "{}", run.stdout());
    assert!(!run.stderr().contains("s3cret"), "xtrace showed a value:\n{}", run.stderr());
    // dash (Debian's sh) is told to use bash, and survives.
    let run = s
        .program("dash")
        .args(["-c", &format!(". {} {STAMP}; echo alive $?", shim.display())])
        .run()
        .success();
    assert_eq!(run.stdout(), "alive 1\n");
    assert!(run.stderr().contains("needs bash"), "{}", run.stderr());
    // Not a timestamp: the usage line, nothing changed.
    let run =
        s.program("bash").args(["-c", &format!(". {} ../x; echo rc=$?", shim.display())]).run().success();
    assert!(run.stdout().starts_with("Usage: ") && run.stdout().ends_with("rc=1\n"), "{}", run.stdout());
}
