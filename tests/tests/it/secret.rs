//! rb-secret: the `aws` backend through the real AWS CLI against a real moto server, the
//! `vault` backend against a stand-in of Vault's KV v2 API, the `env` backend on rb-envfile's
//! backups, and the compat script. No value is ever an argument: a recording `aws` wrapper
//! logs every argv, and /proc/*/cmdline is watched while values move.

use std::process::Child;

use rb_tests::docs::SecretDoc;
use rb_tests::moto::{Moto, aws};
use rb_tests::standin::Standin;
use rb_tests::{Scenario, repo};
use serde_json::{Value, json};

/// A scenario whose `aws` is a wrapper that records its argv, then runs the real CLI.
fn aws_scenario() -> (Scenario, Moto) {
    let s = Scenario::new();
    let wrapper = s.base.join("bin/aws");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nprintf '%s\\n' \"$*\" >> {}/aws-argv.log\nexec {} \"$@\"\n",
            s.base.display(),
            aws().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let moto = Moto::start();
    moto.aws(
        &s,
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            "helpdesk/DB_PASSWORD",
            "--secret-string",
            "first-value",
        ],
    )
    .success();
    (s, moto)
}

/// What the real AWS CLI reads as the current value (`--version-stage AWSCURRENT`, as moto
/// needs after a stage move).
fn current_value(moto: &Moto, s: &Scenario) -> rb_tests::Run {
    moto.aws(
        s,
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            "helpdesk/DB_PASSWORD",
            "--version-stage",
            "AWSCURRENT",
            "--query",
            "SecretString",
            "--output",
            "text",
        ],
    )
}

/// Every process's command line, as long as `child` runs: none may hold `needle`.
fn watch_cmdlines(mut child: Child, needle: &str) -> std::process::Output {
    let mut seen = Vec::new();
    while child.try_wait().unwrap().is_none() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
                && String::from_utf8_lossy(&cmdline).contains(needle)
            {
                seen.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
            }
        }
    }
    assert!(seen.is_empty(), "the value was on a command line: {seen:?}");
    child.wait_with_output().unwrap()
}

#[test]
fn aws_set_rollback_and_undo_move_the_stages_and_no_value_is_an_argument() {
    let (s, moto) = aws_scenario();
    let secret = format!("s3cret-{}-value", std::process::id());
    let set =
        moto.env(s.cmd("rb-secret")).args(["set", "DB_PASSWORD"]).spawn_with_stdin(format!("{secret}\n"));
    let out = watch_cmdlines(set, &secret);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let set: SecretDoc = rb_tests::docs::from_line(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let (first, second) = (set.before.clone().unwrap(), set.after.clone().unwrap());
    // The real CLI reads the current version: the new value (one trailing newline dropped).
    let current = current_value(&moto, &s);
    assert_eq!(current.success().stdout(), format!("{secret}\n"));

    let rb = |args: &[&str]| moto.env(s.cmd("rb-secret")).args(args.iter().copied()).run();
    let versions: SecretDoc = rb(&["versions", "DB_PASSWORD"]).success().doc();
    let ids: Vec<(&str, bool)> = versions.versions.iter().map(|v| (v.id.as_str(), v.current)).collect();
    assert!(ids.contains(&(second.as_str(), true)) && ids.contains(&(first.as_str(), false)), "{ids:?}");
    let masked = rb(&["get", "DB_PASSWORD"]).success();
    assert!(!masked.stdout().contains(&secret), "{}", masked.stdout());
    assert_eq!(masked.doc::<SecretDoc>().value.as_deref(), Some(rb_tests::docs::MASK));

    // --diff says the version before → after, never a value.
    let dry = rb(&["rollback", "DB_PASSWORD", "--dry-run", "--diff"]).success();
    let said = format!("rb-secret: helpdesk/DB_PASSWORD: {second} AWSCURRENT (");
    assert!(
        dry.stderr().contains(&said) && dry.stderr().contains(&format!("→ {first} AWSPREVIOUS (")),
        "{}",
        dry.stderr()
    );
    assert!(!dry.stderr().contains(&secret), "{}", dry.stderr());
    // Roll back: AWSCURRENT moves to the first version; the value never passes through rb.
    let back: SecretDoc = rb(&["rollback", "DB_PASSWORD"]).success().doc();
    assert_eq!(
        (back.before.as_deref(), back.after.as_deref()),
        (Some(second.as_str()), Some(first.as_str()))
    );
    let now = current_value(&moto, &s);
    assert_eq!(now.success().stdout(), "first-value\n");
    let stages = moto
        .aws(
            &s,
            &[
                "secretsmanager",
                "list-secret-version-ids",
                "--secret-id",
                "helpdesk/DB_PASSWORD",
                "--output",
                "json",
            ],
        )
        .success()
        .stdout();
    let stages: Value = serde_json::from_str(&stages).unwrap();
    let previous =
        stages["Versions"].as_array().unwrap().iter().find(|v| v["VersionId"] == second.as_str()).unwrap();
    assert_eq!(previous["VersionStages"], json!(["AWSPREVIOUS"]));
    // Run again, `previous` would only undo that rollback: refused, nothing changed.
    rb(&["rollback", "DB_PASSWORD"]).code_is(1).one_line_error("`previous` would put");
    // The rollback of the rollback, said on purpose.
    let undo: SecretDoc = rb(&["rollback", "DB_PASSWORD", "--to", &second]).success().doc();
    assert_eq!(undo.after.as_deref(), Some(second.as_str()));
    let revealed: SecretDoc = rb(&["get", "DB_PASSWORD", "--reveal"]).success().doc();
    assert_eq!(revealed.value.as_deref(), Some(secret.as_str()));

    let argv = std::fs::read_to_string(s.base.join("aws-argv.log")).unwrap();
    assert!(
        argv.contains("put-secret-value --secret-id helpdesk/DB_PASSWORD --secret-string file:///dev/stdin"),
        "{argv}"
    );
    assert!(!argv.contains(&secret), "a value was an argument of the AWS CLI:\n{argv}");
    // The temporary file is gone.
    let tmp: Vec<_> = std::fs::read_dir(s.base.join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    assert!(
        s.events().iter().any(|e| e["action"] == "secret-rollback" && e["message"] == "ROLLBACK SUCCESS")
    );
}

#[test]
fn aws_bad_input_changes_nothing() {
    let (s, moto) = aws_scenario();
    let rb = |args: &[&str]| moto.env(s.cmd("rb-secret")).args(args.iter().copied());
    // The versions and their stages (moto moves the dates on every read).
    let stages = || {
        let out = moto
            .aws(
                &s,
                &[
                    "secretsmanager",
                    "list-secret-version-ids",
                    "--secret-id",
                    "helpdesk/DB_PASSWORD",
                    "--output",
                    "json",
                ],
            )
            .success()
            .stdout();
        let v: Value = serde_json::from_str(&out).unwrap();
        v["Versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["VersionId"].clone(), v["VersionStages"].clone()))
            .collect::<Vec<_>>()
    };
    let before = stages();
    rb(&["rollback", "NOPE"]).run().code_is(1).one_line_error("Secrets Manager has no secret helpdesk/NOPE");
    rb(&["rollback", "DB_PASSWORD"]).run().code_is(1).one_line_error("has no version before the current one");
    rb(&["rollback", "DB_PASSWORD", "--to", "no-such-version"])
        .run()
        .code_is(1)
        .one_line_error("has no version \"no-such-version\"");
    rb(&["set", "DB_PASSWORD"]).run().code_is(2).one_line_error("no value");
    rb(&["--backend", "carrier-pigeon", "list"])
        .run()
        .code_is(2)
        .one_line_error("unknown secrets backend \"carrier-pigeon\"");
    s.write("rollback.toml", "[secrets]\naws = [\"no-such-aws\"]\n");
    rb(&["list"])
        .run()
        .code_is(1)
        .one_line_error("program `no-such-aws` not found on PATH (set by secrets.aws in rollback.toml)");
    assert_eq!(stages(), before);
}

/// The Vault stand-in (KV `kv`), holding helpdesk/DB_PASSWORD at versions v1, v2.
fn vault_standin(s: &Scenario, kv: &str) -> Standin {
    let record = s.base.join(format!("vault-{kv}.jsonl"));
    let secrets = json!({ "helpdesk/DB_PASSWORD": [{ "value": "v1" }, { "value": "v2" }] }).to_string();
    Standin::start(
        "standin-vault",
        &["root-t0ken", "secret", kv, secrets.as_str(), record.to_str().unwrap()],
        record.clone(),
    )
}

#[test]
fn vault_rollback_writes_the_old_version_back_and_errors_are_clear() {
    let s = Scenario::new();
    let vault = vault_standin(&s, "2");
    let addr = vault.url();
    let rb = |args: &[&str]| {
        s.cmd("rb-secret")
            .args(["--backend", "vault"])
            .args(args.iter().copied())
            .env("VAULT_ADDR", &addr)
            .env("VAULT_TOKEN", "root-t0ken")
    };
    let list: SecretDoc = rb(&["list"]).run().success().doc();
    assert_eq!(list.secrets[0].name, "secret/helpdesk/DB_PASSWORD");
    let back: SecretDoc = rb(&["rollback", "DB_PASSWORD"]).run().success().doc();
    assert_eq!((back.before.as_deref(), back.after.as_deref()), (Some("2"), Some("3")));
    assert_eq!(
        vault.posts(),
        [(
            "/v1/secret/data/helpdesk/DB_PASSWORD".to_string(),
            json!({ "data": { "value": "v1" }, "options": { "cas": 2 } })
        )]
    );
    let now: SecretDoc = rb(&["get", "DB_PASSWORD", "--reveal"]).run().success().doc();
    assert_eq!((now.version.as_deref(), now.value.as_deref()), (Some("3"), Some("v1")));
    let set: SecretDoc = rb(&["set", "DB_PASSWORD"]).stdin("new value\n").run().success().doc();
    assert_eq!(set.after.as_deref(), Some("4"));
    assert_eq!(vault.posts()[1].1, json!({ "data": { "value": "new value" }, "options": { "cas": 3 } }));
    assert!(vault.requests().iter().all(|r| r["headers"]["x-vault-token"] == "root-t0ken"));
    // Errors: a wrong token, an unknown secret, no address; nothing written anywhere.
    let writes = vault.posts().len();
    let tree = s.tree();
    rb(&["versions", "DB_PASSWORD"])
        .env("VAULT_TOKEN", "wrong")
        .run()
        .code_is(1)
        .one_line_error("403 permission denied");
    rb(&["rollback", "NOPE"]).run().code_is(1).one_line_error("Vault has no secret secret/helpdesk/NOPE");
    rb(&["list"]).env_remove("VAULT_ADDR").run().code_is(1).one_line_error("VAULT_ADDR is not set");
    rb(&["list"])
        .env("VAULT_ADDR", "http://vault.example.com:8200")
        .run()
        .code_is(2)
        .one_line_error("plain http would send the token in clear");
    assert_eq!(vault.posts().len(), writes);
    s.tree().assert_same(&tree);
    let v1 = vault_standin(&s, "1");
    rb(&["list"]).env("VAULT_ADDR", v1.url()).run().code_is(2).one_line_error("is KV version 1");
}

#[test]
fn env_backend_writes_a_new_backup_and_says_how_to_load_it() {
    let s = Scenario::new();
    s.cmd("rb-envfile")
        .args(["capture", "DB_PASSWORD", "DB_HOST"])
        .env("DB_PASSWORD", "old")
        .env("DB_HOST", "db")
        .run()
        .success();
    let rb = |args: &[&str]| {
        s.cmd("rb-secret")
            .args(["--backend", "env"])
            .args(args.iter().copied())
            .env("RB_NOW", "2025-10-13T12:05:00Z")
    };
    let set: SecretDoc = rb(&["set", "DB_PASSWORD"]).stdin("new").run().success().doc();
    let after = set.after.clone().unwrap();
    assert_eq!(
        set.load.as_deref(),
        Some(format!("text=$(rb-envfile export {after}) && eval \"$text\"").as_str())
    );
    let back: SecretDoc = rb(&["rollback", "DB_PASSWORD"]).run().success().doc();
    let shown = s
        .cmd("rb-envfile")
        .args(["show", back.after.as_deref().unwrap(), "--reveal"])
        .run()
        .success()
        .stdout();
    assert!(shown.contains("\"DB_PASSWORD\":\"old\"") && shown.contains("\"DB_HOST\":\"db\""), "{shown}");
    let mode = std::fs::metadata(s.path(&format!("backups/{after}.env"))).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
    rb(&["set", "NOT-A-NAME"]).stdin("x").run().code_is(2);
}

#[test]
fn compat_secrets_rollback_sh_hands_the_value_over_on_stdin() {
    let shim = repo().join("compat/secrets_rollback.sh");
    let (s, moto) = aws_scenario();
    let run = moto.env(s.program(&shim)).args(["aws", "DB_PASSWORD", "from-the-shim"]).run().success();
    assert_eq!(
        run.stdout(),
        "Rolling back secret DB_PASSWORD to previous value...\nSecrets rollback completed\n"
    );
    let argv = std::fs::read_to_string(s.base.join("aws-argv.log")).unwrap();
    assert!(!argv.contains("from-the-shim"), "{argv}");
    let now = current_value(&moto, &s);
    assert_eq!(now.success().stdout(), "from-the-shim\n");
    let run = s.program(&shim).args(["gcp", "X", "v"]).run().code_is(1);
    assert_eq!(run.stdout(), "Unknown backend: gcp\n");
    let run = moto.env(s.program(&shim)).args(["aws", "NOPE", "v"]).run().code_is(1);
    assert!(!run.stdout().contains("completed"), "{}", run.stdout());
    let help = s.program(&shim).arg("--help").run().success().stdout();
    assert!(help.contains("rb-secret --backend aws rollback <secret_name>"), "{help}");
}
