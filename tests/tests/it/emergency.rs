//! rb-emergency against a real stack on loopback: the Django fixture served by `manage.py
//! runserver --noreload`, Debian's nginx proxying to it, each with start/stop/status scripts
//! (systemd cannot run here), and a recording webhook (a stand-in server).

use rb_tests::docs::{Report, Summary};
use rb_tests::nginx::{free_port, nginx_program};
use rb_tests::standin::Standin;
use rb_tests::{Scenario, python, repo};
use serde_json::json;

struct Stack {
    s: Scenario,
    hook: Standin,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.s.program(self.s.base.join("bin/web-stop")).run();
        let _ = self.s.program(self.s.base.join("bin/nginx-stop")).run();
        let _ = self.s.program(self.s.base.join("bin/redis-stop")).run();
    }
}

fn script(s: &Scenario, name: &str, body: &str) {
    let path = s.base.join("bin").join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The helpdesk project running: runserver on one port, nginx in front on another.
fn stack(health_path: &str) -> Stack {
    let s = Scenario::django();
    let (web, front, cache) = (free_port(), free_port(), free_port());
    let run = s.base.join("run");
    std::fs::create_dir_all(run.join("logs")).unwrap();
    let root = s.root.display().to_string();
    let (py, ng) = (python().display().to_string(), nginx_program().display().to_string());
    let conf = format!("{root}/nginx/nginx.conf");
    let prefix = format!("{}/", run.display());
    script(
        &s,
        "web-start",
        &format!(
            "cd {root} && {py} manage.py check >/dev/null 2>&1 || exit 1\nnohup {py} manage.py runserver --noreload 127.0.0.1:{web} > {run}/web.log 2>&1 &\necho $! > {run}/web.pid\nfor i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{web}) 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
            run = run.display()
        ),
    );
    script(
        &s,
        "web-stop",
        &format!(
            "[ -f {run}/web.pid ] && kill $(cat {run}/web.pid) 2>/dev/null; rm -f {run}/web.pid; exit 0",
            run = run.display()
        ),
    );
    script(
        &s,
        "web-status",
        &format!("[ -f {run}/web.pid ] && kill -0 $(cat {run}/web.pid) 2>/dev/null", run = run.display()),
    );
    script(&s, "nginx-start", &format!("{ng} -p {prefix} -c {conf}"));
    script(
        &s,
        "redis-start",
        &format!(
            "redis-server --port {cache} --bind 127.0.0.1 --daemonize yes --pidfile {run}/redis.pid --dir {run} --save '' --appendonly no > /dev/null\nfor i in $(seq 200); do redis-cli -p {cache} ping 2>/dev/null | grep -q PONG && exit 0; sleep 0.1; done; exit 1",
            run = run.display()
        ),
    );
    script(&s, "redis-stop", &format!("redis-cli -p {cache} shutdown nosave > /dev/null 2>&1; exit 0"));
    script(&s, "redis-status", &format!("redis-cli -p {cache} ping 2>/dev/null | grep -q PONG"));
    script(
        &s,
        "cache-check",
        &format!(
            "redis-cli -p {cache} set rb-emergency ok > /dev/null && [ \"$(redis-cli -p {cache} get rb-emergency)\" = ok ]"
        ),
    );
    script(
        &s,
        "nginx-stop",
        &format!(
            "[ -f {run}/logs/nginx.pid ] && kill $(cat {run}/logs/nginx.pid) 2>/dev/null; for i in $(seq 50); do [ -f {run}/logs/nginx.pid ] || exit 0; sleep 0.1; done; exit 0",
            run = run.display()
        ),
    );
    script(
        &s,
        "nginx-status",
        &format!(
            "[ -f {run}/logs/nginx.pid ] && kill -0 $(cat {run}/logs/nginx.pid) 2>/dev/null",
            run = run.display()
        ),
    );
    s.write(
        "nginx/nginx.conf",
        format!(
            "worker_processes 1;\nerror_log logs/error.log;\npid logs/nginx.pid;\nevents {{ worker_connections 32; }}\nhttp {{\n    access_log off;\n    client_body_temp_path logs/body;\n    proxy_temp_path logs/proxy;\n    fastcgi_temp_path logs/fastcgi;\n    uwsgi_temp_path logs/uwsgi;\n    scgi_temp_path logs/scgi;\n    server {{\n        listen 127.0.0.1:{front};\n        location / {{ proxy_pass http://127.0.0.1:{web}; }}\n    }}\n}}\n"
        ),
    );
    let hook = Standin::start(
        "standin-render",
        &["k", "srv", "[]", s.base.join("hook.jsonl").to_str().unwrap()],
        s.base.join("hook.jsonl"),
    );
    let bin = s.base.join("bin").display().to_string();
    s.write(
        "rollback.toml",
        format!(
            "{}\n[nginx]\ncommand = [\"nginx\", \"-p\", \"{prefix}\", \"-c\", \"{conf}\"]\n\n[health]\nurl = \"http://127.0.0.1:{front}/{health_path}\"\ntimeout_s = 4\ninterval_s = 0.2\n\n[emergency]\ntimeout_s = 10\n\n[[emergency.services]]\nname = \"web\"\nstop = [\"{bin}/web-stop\"]\nstart = [\"{bin}/web-start\"]\nstatus = [\"{bin}/web-status\"]\n\n[[emergency.services]]\nname = \"nginx\"\nstop = [\"{bin}/nginx-stop\"]\nstart = [\"{bin}/nginx-start\"]\nstatus = [\"{bin}/nginx-status\"]\n\n[[emergency.services]]\nname = \"redis\"\nstop = [\"{bin}/redis-stop\"]\nstart = [\"{bin}/redis-start\"]\nstatus = [\"{bin}/redis-status\"]\n\n[[emergency.checks]]\nname = \"django check\"\ncommand = [\"{py}\", \"manage.py\", \"check\"]\n\n[[emergency.checks]]\nname = \"cache\"\ncommand = [\"{bin}/cache-check\"]\n",
            s.read("rollback.toml")
        ),
    );
    s.program(s.base.join("bin/web-start")).run().success();
    s.program(s.base.join("bin/nginx-start")).run().success();
    s.program(s.base.join("bin/redis-start")).run().success();
    Stack { s, hook }
}

fn rb(st: &Stack, args: &[&str]) -> rb_tests::Cmd {
    st.s.cmd("rb-emergency")
        .args(args.iter().copied())
        .env("RB_SLACK_WEBHOOK", format!("{}/hooks/slack", st.hook.url()))
}

/// The live project, leaving out what runs (the database, caches).
fn live(s: &Scenario) -> rb_tests::Tree {
    s.live().without(&["db.sqlite3"])
}

#[test]
fn a_full_emergency_rollback_brings_the_tree_back_and_the_stack_healthy() {
    let st = stack("health/");
    let s = &st.s;
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    let good = live(s);
    s.append("core/config/settings/base.py", "EMERGENCY_MARKER = 1\n");
    s.write("core/config/settings/local.py", "DEBUG = True\n");
    let run = rb(&st, &["run", "--yes"]).run().success();
    let report: Report = run.doc();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.snapshot.as_deref(), Some(snap.id.as_str()));
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "verify",
            "preflight nginx",
            "preflight compose",
            "stop web",
            "stop nginx",
            "stop redis",
            "restore",
            "test config",
            "start redis",
            "start nginx",
            "start web",
            "health",
            "check django check",
            "check cache",
            "notify"
        ]
    );
    // compose is checked where a compose that answers is installed (the stack leaves
    // `[deploy] compose` at `docker compose`), and says why not elsewhere.
    let ok = |s: &rb_tests::docs::ReportStep| {
        s.status == "ok" || (s.name == "preflight compose" && s.status == "skipped" && !s.detail.is_empty())
    };
    assert!(report.steps[..14].iter().all(ok), "{report:?}");
    assert!(report.steps[1].action.contains("-t` on a staged copy"), "{report:?}");
    live(s).assert_same(&good);
    let event = s.events().pop().unwrap();
    assert_eq!(
        (event["message"].as_str(), event["snapshot"].as_str(), event["report"].as_str()),
        (Some("ROLLBACK SUCCESS"), Some(snap.id.as_str()), report.id.as_deref())
    );
    // One emergency run is one rollback in the metrics (not also its engine's restore).
    let status: Report = rb(&st, &["status"]).run().success().doc();
    assert_eq!(status.metrics.unwrap()["rollbacks"]["total"], 1);
    assert!(s.exists(&format!("backups/{}.json", report.id.unwrap())));
    // The webhook got the outcome.
    let posts = st.hook.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].1["text"].as_str().unwrap().contains("completed"), "{posts:?}");
}

#[test]
fn a_damaged_snapshot_is_refused_before_anything_stops() {
    let st = stack("health/");
    let s = &st.s;
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.append(&format!("backups/{}/core/config/settings/base.py", snap.id), "# damaged\n");
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let before = live(s);
    rb(&st, &["run", "--yes"]).run().code_is(1).one_line_error("is damaged");
    live(s).assert_same(&before);
    s.program(s.base.join("bin/web-status")).run().success();
    s.program(s.base.join("bin/nginx-status")).run().success();
    assert!(st.hook.posts().is_empty());
}

/// Every service of the stack still runs.
fn all_running(s: &Scenario) {
    for status in ["web-status", "nginx-status", "redis-status"] {
        s.program(s.base.join("bin").join(status)).run().success();
    }
}

#[test]
fn a_snapshot_whose_nginx_conf_fails_nginx_t_is_refused_before_anything_stops() {
    let st = stack("health/");
    let s = &st.s;
    let good = s.read("nginx/nginx.conf");
    s.append("nginx/nginx.conf", "bogus_directive on;\n");
    let bad: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.write("nginx/nginx.conf", &good);
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let before = s.tree().without(&["db.sqlite3"]);
    // The dry run runs the same checks (it used to say ok, exit 0).
    for args in [["run", "--dry-run", "--from", &bad.id], ["run", "--yes", "--from", &bad.id]] {
        let run = rb(&st, &args)
            .run()
            .code_is(1)
            .one_line_error(&format!("{}'s nginx configuration fails `nginx -t` (exit 1): ", bad.id));
        // The snapshot's nginx.conf on the staged copy (named as the project path it stands
        // for), not the live one.
        assert!(
            run.stderr().contains(
                "unknown directive \"bogus_directive\" in nginx/nginx.conf:17 / nginx: configuration file nginx/nginx.conf test failed; nothing was stopped or changed"
            ),
            "{}",
            run.stderr()
        );
        s.tree().without(&["db.sqlite3"]).assert_same(&before);
        all_running(s);
    }
    assert!(st.hook.posts().is_empty());
    // The live configuration passes: the same snapshot's files are what is tested.
    let good_snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    let dry: Report = rb(&st, &["run", "--dry-run", "--from", &good_snap.id]).run().success().doc();
    let pre = dry.steps.iter().find(|s| s.name == "preflight nginx").unwrap();
    assert_eq!(pre.status, "ok", "{dry:?}");
    assert!(pre.detail.contains("test is successful"), "{dry:?}");
    // A project file named by absolute path cannot be staged: it is tested as it is, and named.
    let extra = format!("{}/nginx/extra.conf", s.root.display());
    s.write("nginx/extra.conf", "# nothing yet\n");
    s.write("nginx/nginx.conf", good.replacen("http {", &format!("http {{\n    include {extra};"), 1));
    let with_abs: Summary = s.cmd("rb-snapshot").run().success().doc();
    let run = rb(&st, &["run", "--dry-run", "--from", &with_abs.id]).run().success().stderr_has(&format!(
        "rb-emergency: warning: the configuration names project files by absolute path, tested as they are now, not as the snapshot has them: {extra}"
    ));
    let dry: Report = run.doc();
    let pre = dry.steps.iter().find(|s| s.name == "preflight nginx").unwrap();
    assert!(pre.status == "ok" && pre.detail.ends_with(&extra), "{dry:?}");
}

#[test]
fn a_snapshot_whose_compose_file_compose_refuses_is_refused_before_anything_stops() {
    let st = stack("health/");
    let s = &st.s;
    let found = s.program("sh").args(["-c", "command -v docker-compose"]).run();
    assert!(
        found.output.status.success(),
        "docker-compose (v1) is needed here: apt-get install docker-compose"
    );
    s.append("rollback.toml", "\n[deploy]\ncompose = [\"docker-compose\"]\n");
    let good = s.read("docker-compose.yml");
    s.append("docker-compose.yml", "    bogus_option: 1\n");
    let bad: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.write("docker-compose.yml", &good);
    let before = s.tree().without(&["db.sqlite3"]);
    for args in [["run", "--dry-run", "--from", &bad.id], ["run", "--yes", "--from", &bad.id]] {
        rb(&st, &args).run().code_is(1).one_line_error(&format!(
            "{}'s docker-compose.yml fails `docker-compose config` (exit 1): The Compose file 'docker-compose.yml' is invalid because: / Unsupported config option for services.nginx: 'bogus_option'; nothing was stopped or changed",
            bad.id
        ));
        s.tree().without(&["db.sqlite3"]).assert_same(&before);
        all_running(s);
    }
    // An override file is read on top of the main one, as compose merges them.
    let good_snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    let dry: Report = rb(&st, &["run", "--dry-run", "--from", &good_snap.id]).run().success().doc();
    let pre = dry.steps.iter().find(|s| s.name == "preflight compose").unwrap();
    assert_eq!(
        (pre.status.as_str(), pre.detail.as_str()),
        ("ok", "docker-compose.yml, docker-compose.production.yml, docker-compose.staging.yml pass"),
        "{dry:?}"
    );
}

#[test]
fn a_service_that_will_not_start_puts_everything_back_and_restarts_it() {
    let st = stack("health/");
    let s = &st.s;
    // A snapshot whose settings Django refuses: `web-start` runs `manage.py check` first.
    s.append("core/config/settings/base.py", "INSTALLED_APPS = INSTALLED_APPS + [\"no.such.app\"]\n");
    let bad: Summary = s.cmd("rb-snapshot").run().success().doc();
    s.write(
        "core/config/settings/base.py",
        std::fs::read_to_string(repo().join("tests/fixtures/helpdesk/core/config/settings/base.py")).unwrap(),
    );
    s.touch("core/config/settings/base.py", 1_760_000_000, 0);
    let before = live(s);
    let run =
        rb(&st, &["run", "--yes", "--from", &bad.id]).env("RB_NOW", "2025-10-13T12:05:00Z").run().code_is(1);
    assert!(run.stderr().contains("failed at `start web`"), "{}", run.stderr());
    let report: Report = run.doc();
    assert!(!report.ok);
    assert!(report.steps.iter().any(|s| s.name == "revert files" && s.status == "ok"), "{report:?}");
    assert!(report.steps.iter().any(|s| s.name == "revert: start web" && s.status == "ok"), "{report:?}");
    live(s).assert_same(&before);
    s.program(s.base.join("bin/web-status")).run().success();
    s.program(s.base.join("bin/nginx-status")).run().success();
    assert!(st.hook.posts()[0].1["text"].as_str().unwrap().contains("FAILED at start web"));
    assert_eq!(s.events().pop().unwrap()["message"], "ROLLBACK FAILED");
}

#[test]
fn a_health_check_that_never_passes_is_never_completed() {
    let st = stack("no-such-page/");
    let s = &st.s;
    s.cmd("rb-snapshot").run().success();
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let before = live(s);
    let shim = repo().join("compat/emergency_rollback.sh");
    let run =
        s.program(&shim).env("RB_SLACK_WEBHOOK", format!("{}/hooks/slack", st.hook.url())).run().code_is(1);
    assert!(!run.stdout().contains("COMPLETED"), "{}", run.stdout());
    assert!(run.stdout().contains("EMERGENCY ROLLBACK FAILED (rb-emergency exit 1)"), "{}", run.stdout());
    assert!(run.stderr().contains("failed at `health`"), "{}", run.stderr());
    // The wait said what it saw while it waited.
    assert!(run.stderr().contains("rb-emergency: health check http://127.0.0.1:"), "{}", run.stderr());
    assert!(run.stderr().contains("no-such-page/: HTTP 404; trying again ("), "{}", run.stderr());
    live(s).assert_same(&before);
}

#[test]
fn dry_run_and_a_missing_yes_change_nothing() {
    let st = stack("health/");
    let s = &st.s;
    s.cmd("rb-snapshot").run().success();
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let before = s.tree();
    let dry: Report = rb(&st, &["run", "--dry-run"]).run().success().doc();
    // The checks before anything stops ran (verify, the staged nginx -t and compose config);
    // the rest is the plan.
    let (done, planned): (Vec<_>, Vec<_>) = dry.steps.iter().partition(|s| s.status != "planned");
    let done: Vec<&str> = done.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(done, ["verify", "preflight nginx", "preflight compose"], "{dry:?}");
    assert!(dry.dry_run && planned.len() == 12, "{dry:?}");
    s.tree().assert_same(&before);
    // --diff shows, first, how each file would change.
    let shown = rb(&st, &["run", "--dry-run", "--diff"]).run().success();
    assert!(
        shown.stderr().contains("--- a/core/config/settings/base.py\n+++ b/core/config/settings/base.py\n"),
        "{}",
        shown.stderr()
    );
    assert!(shown.stderr().contains("\n-CHANGED = 1\n"), "{}", shown.stderr());
    s.tree().assert_same(&before);
    rb(&st, &["run"]).run().code_is(2).one_line_error("not on a terminal");
    s.tree().assert_same(&before);
    // On a terminal it shows the plan and asks; anything but `yes` does nothing.
    let rb_emergency = rb_tests::bin("rb-emergency").display().to_string();
    let asked = s
        .program("script")
        .args(["-qec", &format!("{rb_emergency} run"), "/dev/null"])
        .stdin("no\n")
        .run()
        .code_is(1);
    let said = asked.stdout();
    assert!(
        said.contains("type `yes` to run it")
            && said.contains("stop nginx")
            && said.contains("not confirmed"),
        "{said}"
    );
    s.tree().assert_same(&before);
    s.program(s.base.join("bin/web-status")).run().success();
}

#[test]
fn drills_pass_on_the_fixture_and_a_broken_procedure_fails() {
    let s = Scenario::django();
    s.append("rollback.toml", "\n[drill]\nsecrets = \"env\"\n");
    // A settings file that is a link out of the project: a drill never writes through it.
    std::fs::write(s.outside().join("shared.py"), "SHARED = 1\n").unwrap();
    s.symlink("core/config/settings/shared.py", s.outside().join("shared.py"));
    std::os::unix::fs::symlink(rb_tests::bin("standin-docker"), s.base.join("bin/docker")).unwrap();
    let drill = |args: &[&str]| {
        s.cmd("rb-emergency")
            .args(["drill"])
            .args(args.iter().copied())
            .env("STANDIN_DOCKER_STATE", s.base.join("docker.json").display().to_string())
    };
    let before = s.tree();
    let report: Report = drill(&["--report"]).run().success().doc();
    let got: Vec<(&str, &str)> = report.steps.iter().map(|s| (s.name.as_str(), s.status.as_str())).collect();
    assert_eq!(
        got,
        [
            ("configuration_rollback", "passed"),
            ("database_migration_rollback", "passed"),
            ("environment_rollback", "passed"),
            ("secrets_rollback", "passed"),
            ("feature_flags_rollback", "passed"),
            ("deployment_rollback", "passed"),
            ("nginx_rollback", "passed")
        ],
        "{report:?}"
    );
    // The seed's report file, the same document; the live project otherwise untouched.
    let written = s.read("rollback_procedures_test_report.json");
    assert_eq!(rb_tests::docs::from_line::<Report>(written.trim()).unwrap(), report);
    s.tree().without(&["rollback_procedures_test_report.json"]).assert_same(&before);
    assert_eq!(std::fs::read_to_string(s.outside().join("shared.py")).unwrap(), "SHARED = 1\n");
    // A broken procedure: the nginx config fails nginx -t, so its rollback cannot pass.
    s.append("nginx/nginx.conf", "bogus_directive on;\n");
    let run = drill(&["--test", "nginx_rollback"]).run().code_is(1);
    let report: Report = run.doc();
    assert_eq!(report.steps[0].status, "failed");
    assert!(report.steps[0].detail.contains("unknown directive"), "{report:?}");
    drill(&["--test", "chaos_monkey"]).run().code_is(2).one_line_error("no drill named \"chaos_monkey\"");
    // The seed's script name and arguments.
    let py = s
        .program(repo().join("compat/test_rollback_procedures.py"))
        .args(["--test", "environment_rollback"])
        .run()
        .success();
    assert_eq!(py.stdout().split(" (").next(), Some("environment_rollback: PASSED"));
}

#[test]
fn status_counts_what_the_audit_log_says() {
    let st = stack("health/");
    let s = &st.s;
    let line = |tool: &str, ok: bool, time: &str| {
        json!({ "rb": 1, "kind": "event", "time": time, "tool": tool, "action": "restore", "ok": ok,
                "message": if ok { "ROLLBACK SUCCESS" } else { "ROLLBACK FAILED" }, "error": if ok { None } else { Some("boom") }, "pid": 1 })
        .to_string()
    };
    let log = [
        line("rb-restore", true, "2025-10-12T10:00:00+00:00"),
        line("rb-restore", false, "2025-10-13T09:00:00+00:00"),
        line("rb-nginx", true, "2025-10-13T11:00:00+00:00"),
    ]
    .join("\n");
    s.write("backups/rollback.log", format!("{log}\n"));
    let report: Report = rb(&st, &["status"]).run().success().doc();
    let m = report.metrics.unwrap();
    assert_eq!(m["rollbacks"], json!({ "total": 3, "success": 2, "failed": 1 }));
    assert_eq!(m["per_tool"]["rb-restore"], json!({ "success": 1, "failed": 1 }));
    assert_eq!(m["per_day"]["2025-10-13"], json!({ "success": 1, "failed": 1 }));
    assert_eq!(m["last_failure"]["error"], "boom");
    let recent: Report = rb(&st, &["status", "--since", "2h"]).run().success().doc();
    assert_eq!(recent.metrics.unwrap()["rollbacks"]["total"], 1);
    let tree = s.tree();
    rb(&st, &["status", "--since", "5x"])
        .run()
        .code_is(2)
        .one_line_error("--since: \"5x\" is not a duration");
    s.tree().assert_same(&tree);
    s.program(s.base.join("bin/web-stop")).run().success();
    rb(&st, &["status"]).run().code_is(1);
}
