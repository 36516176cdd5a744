//! "Never hang": every external program runs within `[exec] timeout_s`, in a process group of
//! its own, its output captured through temporary files (a daemon that keeps them open cannot
//! hold rb), and killed with its group when the time runs out.

use rb_tests::docs::Report;
use rb_tests::standin::Standin;
use rb_tests::{Scenario, bin};

/// The processes whose command line is `argv` and whose working folder is `cwd`: what a test
/// started there and left behind.
fn running(argv: &[&str], cwd: &std::path::Path) -> Vec<u32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let here = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|d| d == cwd);
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')));
        if cmdline == want && here && !zombie {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_verify_command_that_never_ends_is_killed_with_its_group_and_the_restore_put_back() {
    let s = Scenario::helpdesk();
    s.write(
        "rollback.toml",
        "[exec]\ntimeout_s = 1\n\n[sets.config]\npaths = [\"core/config/settings/\"]\nverify = [\"sh\", \"-c\", \"sleep 600 & exec sleep 600\"]\n",
    );
    s.cmd("rb-snapshot").arg("config").run().success();
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let before = s.tree().without(&["backups"]);
    let started = std::time::Instant::now();
    s.cmd("rb-restore").arg("latest").run().code_is(1).one_line_error(
        "the restored files failed their check: `sh -c \"sleep 600 & exec sleep 600\"` did not finish within 1s ([exec] timeout_s in rollback.toml): it and its process group were killed; everything was put back as it was",
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    s.tree().without(&["backups"]).assert_same(&before);
    // The check and the sleep it started in the background: both gone.
    assert_eq!(running(&["sleep", "600"], &s.root), Vec::<u32>::new());
    assert_eq!(s.events().pop().unwrap()["message"], "ROLLBACK FAILED");
}

#[test]
fn an_interrupted_rb_kills_the_program_it_runs_and_its_group_then_puts_the_undo_back() {
    let s = Scenario::helpdesk();
    s.write(
        "rollback.toml",
        "[sets.config]\npaths = [\"core/config/settings/\"]\nverify = [\"sh\", \"-c\", \"sleep 600 & exec sleep 600\"]\n",
    );
    s.cmd("rb-snapshot").arg("config").run().success();
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let before = s.tree().without(&["backups"]);
    let child = s.cmd("rb-restore").arg("latest").spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running(&["sleep", "600"], &s.root).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the check never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A Ctrl-C reaches rb alone (its programs have groups of their own): rb kills them, and
    // since its files are in place, puts the undo back as --abort does: exit 1.
    s.program("kill").args(["-INT", &child.id().to_string()]).run().success();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("rb-restore: warning: SIGINT: stopping at the next safe point"), "{err}");
    assert!(err.contains("the restored files failed their check"), "{err}");
    assert!(err.contains("everything was put back as it was (from undo_"), "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !running(&["sleep", "600"], &s.root).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the check or its child survived rb");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!s.exists("backups/.rb/journal.json"));
    s.tree().without(&["backups"]).assert_same(&before);
}

#[test]
fn exec_timeout_s_is_checked() {
    let s = Scenario::helpdesk();
    s.write("rollback.toml", "[exec]\ntimeout_s = 0\n");
    let before = s.tree();
    s.cmd("rb-snapshot")
        .arg("config")
        .run()
        .code_is(2)
        .one_line_error("rollback.toml: [exec] timeout_s = 0: give seconds, more than 0 and at most 604800");
    s.tree().assert_same(&before);
}

/// A project with one service, `worker`: a `sleep 3600` daemon its start command leaves
/// running with the command's stdout and stderr (rb's capture files) still open.
struct Worker {
    s: Scenario,
    _health: Standin,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.s.base.join("worker.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn worker(extra: &str) -> Worker {
    let s = Scenario::helpdesk();
    let health = Standin::start(
        "standin-render",
        &["k", "srv", "[]", s.base.join("health.jsonl").to_str().unwrap()],
        s.base.join("health.jsonl"),
    );
    let pid = s.base.join("worker.pid").display().to_string();
    let broken = s.base.join("status-broken").display().to_string();
    let sh = |script: String| format!("[\"sh\", \"-c\", {script:?}]");
    s.write(
        "rollback.toml",
        format!(
            "[exec]\ntimeout_s = 2\n\n[deploy]\ncompose = [\"rb-test-no-compose\"]\n\n[health]\nurl = \"{}/health/\"\ntimeout_s = 4\ninterval_s = 0.2\n\n[emergency]\ntimeout_s = 5\n\n[[emergency.services]]\nname = \"worker\"\nstart = {}\nstop = {}\nstatus = {}\n{extra}",
            health.url(),
            sh(format!("sleep 3600 & echo $! > {pid}; echo started; echo started >&2")),
            sh(format!("kill $(cat {pid}) && rm {pid}")),
            sh(format!("[ -f {broken} ] && exec sleep 600; [ -f {pid} ] && kill -0 $(cat {pid})")),
        ),
    );
    // Running before the rollback (its output not on the harness's pipes).
    s.program("sh").args(["-c", &format!("sleep 3600 > /dev/null 2>&1 & echo $! > {pid}")]).run().success();
    Worker { s, _health: health }
}

#[test]
fn a_service_whose_daemon_keeps_the_output_open_does_not_hold_the_emergency_run() {
    let w = worker("");
    let s = &w.s;
    s.cmd("rb-snapshot").run().success();
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let first_pid = s.read("../worker.pid");
    // `timeout` turns a hang into a failure instead of a test that never ends.
    let started = std::time::Instant::now();
    let run = s
        .program("timeout")
        .args(["-s", "KILL", "60", bin("rb-emergency").to_str().unwrap(), "run", "--yes"])
        .run()
        .success();
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    let report: Report = run.doc();
    let got: Vec<(&str, &str)> = report.steps.iter().map(|s| (s.name.as_str(), s.status.as_str())).collect();
    assert_eq!(
        got,
        [
            ("verify", "ok"),
            ("preflight compose", "skipped"),
            ("stop worker", "ok"),
            ("restore", "ok"),
            ("start worker", "ok"),
            ("health", "ok"),
            ("notify", "skipped")
        ],
        "{report:?}"
    );
    // The daemon the start command left is the service: rb left it running.
    let pid = s.read("../worker.pid");
    assert_ne!(pid, first_pid);
    s.program("kill").args(["-0", pid.trim()]).run().success();
    assert!(!s.read("core/config/settings/base.py").contains("CHANGED"));
}

#[test]
fn a_check_that_never_ends_is_killed_and_a_status_that_cannot_answer_is_unknown() {
    let broken = "touch ../status-broken; sleep 600 & exec sleep 600";
    let w =
        worker(&format!("\n[[emergency.checks]]\nname = \"slow\"\ncommand = [\"sh\", \"-c\", {broken:?}]\n"));
    let s = &w.s;
    s.cmd("rb-snapshot").run().success();
    s.append("core/config/settings/base.py", "CHANGED = 1\n");
    let run = s.cmd("rb-emergency").args(["run", "--yes", "--no-revert"]).run().code_is(3);
    let err = run.stderr();
    assert!(
        err.contains(&format!(
            "stopped at `check slow`: `sh -c {broken:?}` did not finish within 2s ([exec] timeout_s in rollback.toml): it and its process group were killed; everything is left as it is (--no-revert)"
        )),
        "{err}"
    );
    assert_eq!(running(&["sleep", "600"], &s.root), Vec::<u32>::new());
    let report: Report = run.doc();
    let worker = report.steps.iter().find(|s| s.name == "final state worker").unwrap();
    assert_eq!(worker.status, "unknown", "{report:?}");
    assert!(
        worker.detail.starts_with("its status command failed: `sh -c")
            && worker.detail.contains("did not finish within 2s ([exec] timeout_s in rollback.toml)"),
        "{report:?}"
    );
    // The status command's own sleep was killed too.
    assert_eq!(running(&["sleep", "600"], &s.root), Vec::<u32>::new());
}
