//! rb-deploy's `docker` target against the real Docker Engine and Debian's `docker-compose`
//! (v1, 1.29): images built here from busybox-static (no registry), a one-service stack with
//! a 1 s health check on a private project name. Without an engine each test says on one line
//! that it did not run (`RB_REQUIRE_DOCKER=1` makes that a failure).

use rb_tests::Scenario;
use rb_tests::docker::{Images, Stack, available};
use rb_tests::docs::{DeployState, Summary};

/// A helpdesk project whose compose file runs `v1`, up and healthy, with rb pointed at it.
fn serving_v1(test: &str) -> Option<(Scenario, Images, Stack)> {
    if !available(test) {
        return None;
    }
    let s = Scenario::helpdesk();
    let images = Images::build(&s);
    let stack = Stack::new(&s, &images);
    s.write("docker-compose.yml", stack.file(&images, "v1"));
    s.write("rollback.toml", stack.settings());
    stack.compose(&["up", "-d"]);
    stack.wait_for("v1");
    Some((s, images, stack))
}

fn status(s: &Scenario) -> DeployState {
    s.cmd("rb-deploy").args(["status", "--target", "docker"]).run().success().doc()
}

/// `status` once every container is ready (a page served may still be `health: starting`).
fn settled(s: &Scenario) -> DeployState {
    let t = std::time::Instant::now();
    loop {
        let now = status(s);
        if now.differs.is_empty() || t.elapsed().as_secs() > 30 {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_rollback_on_the_real_engine_serves_the_previous_version_and_is_undone() {
    let Some((s, images, stack)) = serving_v1("docker::rollback") else { return };
    let snap: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    // The deploy of v2.
    s.write("docker-compose.yml", stack.file(&images, "v2"));
    stack.compose(&["up", "-d"]);
    stack.wait_for("v2");
    let now = settled(&s);
    assert_eq!(now.containers.len(), 1, "{now:?}");
    let web = &now.containers[0];
    assert_eq!((web.service.as_str(), web.image.as_str()), ("web", images.tag("v2").as_str()));
    assert_eq!(web.image_id, images.id("v2"));
    assert_eq!(web.state, "running");
    assert!(now.differs.is_empty(), "{now:?}");
    let v2_file = s.read("docker-compose.yml");

    // Back to the snapshot: config-checked, up -d, waited for (said on stderr), health-checked.
    let run = s
        .cmd("rb-deploy")
        .args(["rollback", "--target", "docker"])
        .env("RB_NOW", "2025-10-13T12:05:00Z")
        .run()
        .success()
        .stderr_has("rb-deploy: checking http://127.0.0.1:");
    let doc: DeployState = run.doc();
    assert_eq!(doc.after.as_deref(), Some(snap.id.as_str()));
    stack.wait_for("v1");
    assert_eq!(s.read("docker-compose.yml"), stack.file(&images, "v1"));
    let after = status(&s);
    assert_eq!(after.containers[0].image, images.tag("v1"));
    assert_eq!(after.containers[0].health.as_deref(), Some("healthy"));
    assert_eq!(stack.containers().len(), 1, "one container of the project, no leftovers");

    // The document's `before` goes back to v2, byte for byte.
    let before = doc.before.unwrap();
    s.cmd("rb-deploy")
        .args(["rollback", "--target", "docker", "--to", &before])
        .env("RB_NOW", "2025-10-13T12:06:00Z")
        .run()
        .success();
    stack.wait_for("v2");
    assert_eq!(s.read("docker-compose.yml"), v2_file);
}

#[test]
fn a_rollback_to_an_image_that_fails_at_start_is_put_back_and_v1_still_serves() {
    let Some((s, images, stack)) = serving_v1("docker::broken") else { return };
    let good = s.read("docker-compose.yml");
    // A snapshot of a file whose image exits at start (a bad release kept as a backup).
    s.write("docker-compose.yml", stack.file(&images, "broken"));
    let bad: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    s.write("docker-compose.yml", &good);
    s.append("rollback.toml", "");
    let toml = s.read("rollback.toml").replace("timeout_s = 30", "timeout_s = 6");
    s.write("rollback.toml", toml);
    let run = s
        .cmd("rb-deploy")
        .args(["rollback", "--target", "docker", "--to", &bad.id])
        .env("RB_NOW", "2025-10-13T12:05:00Z")
        .run()
        .code_is(1)
        .stderr_has("rb-deploy: waiting for every service to run: web (exited)")
        .stderr_has("not every service runs 6s after `up -d`: web (exited)")
        .stderr_has("the previous compose files are back up");
    let doc: DeployState = run.doc();
    assert_eq!(doc.after, doc.before, "what runs after is what ran before");
    // The file on disk and what serves are v1 again.
    assert_eq!(s.read("docker-compose.yml"), good);
    stack.wait_for("v1");
    let now = settled(&s);
    assert_eq!(now.containers.len(), 1, "{now:?}");
    assert!(now.containers[0].ready() && now.differs.is_empty(), "{now:?}");
    assert!(!s.exists("backups/.rb/journal.json"));
}

#[test]
fn status_says_what_runs_is_not_the_file_and_restore_brings_it_back_up() {
    let Some((s, images, stack)) = serving_v1("docker::status") else { return };
    let running = s.cmd("rb-deploy").args(["status", "--target", "docker"]).run().success();
    let snap: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    // The file edited but not deployed: status says they disagree.
    s.write("docker-compose.yml", stack.file(&images, "v2"));
    let edited = s
        .cmd("rb-deploy")
        .args(["status", "--target", "docker"])
        .run()
        .success()
        .stderr_has("rb-deploy: warning: what runs is not what docker-compose.yml says: web runs another configuration than the file's");
    let doc: DeployState = edited.doc();
    assert_eq!(doc.containers[0].image, images.tag("v1"));
    assert_ne!(doc.current.unwrap().id, running.doc::<DeployState>().current.unwrap().id);

    // The v1 file back on disk, but the container stopped: not "nothing to change".
    s.write("docker-compose.yml", stack.file(&images, "v1"));
    stack.compose(&["stop"]);
    assert!(stack.page().is_none());
    s.cmd("rb-deploy")
        .args(["restore"])
        .stdin(running.stdout())
        .env("RB_NOW", "2025-10-13T12:05:00Z")
        .run()
        .success()
        .stderr_has(&format!(
            "{} is already on disk, but what runs differs: web (exited) is not ready",
            snap.id
        ));
    stack.wait_for("v1");
}

#[test]
fn a_tag_that_moved_is_pointed_back_and_a_gone_image_stops_nothing() {
    let Some((s, images, stack)) = serving_v1("docker::images") else { return };
    let v1_id = images.id("v1");
    // rb sees v1 run in step with its file: the image id is recorded with the file's hash.
    let snap: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    settled(&s);
    assert!(s.read("backups/.rb/compose-images.json").contains(&v1_id));
    s.write("docker-compose.yml", stack.file(&images, "v2"));
    stack.compose(&["up", "-d"]);
    stack.wait_for("v2");
    // Someone rebuilt and re-pushed `v1`: the tag now names v2's image.
    let tag = |from: &str, to: &str| {
        let ok = std::process::Command::new("docker").args(["image", "tag", from, to]).status().unwrap();
        assert!(ok.success());
    };
    tag(&images.tag("v2"), &images.tag("v1"));
    assert_ne!(images.id("v1"), v1_id);
    s.cmd("rb-deploy")
        .args(["rollback", "--target", "docker", "--to", &snap.id])
        .env("RB_NOW", "2025-10-13T12:05:00Z")
        .run()
        .success()
        .stderr_has(&format!(
            "{} points elsewhere now: tagging {v1_id} as {} again",
            images.tag("v1"),
            images.tag("v1")
        ));
    assert_eq!(images.id("v1"), v1_id);
    stack.wait_for("v1");

    // Back on v2; then v1's image is removed from the engine: a rollback to it stops nothing.
    s.write("docker-compose.yml", stack.file(&images, "v2"));
    stack.compose(&["up", "-d"]);
    stack.wait_for("v2");
    // (The old container may still be going away for a moment after v2 serves.)
    let t = std::time::Instant::now();
    loop {
        let out = std::process::Command::new("docker").args(["image", "rm", "-f", &v1_id]).output().unwrap();
        if out.status.success() {
            break;
        }
        assert!(t.elapsed().as_secs() < 20, "docker image rm: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let tree = s.tree().without(&["backups/.rb/lock"]);
    s.cmd("rb-deploy")
        .args(["rollback", "--target", "docker", "--to", &snap.id])
        .run()
        .code_is(1)
        .one_line_error(&format!(
            "web ran {} as {v1_id}, which is gone from the engine; nothing was stopped",
            images.tag("v1")
        ));
    s.tree().without(&["backups/.rb/lock"]).assert_same(&tree);
    assert_eq!(stack.page().as_deref(), Some("helpdesk v2\n"));
}

#[test]
fn compat_deployment_rollback_sh_rolls_the_real_stack_back_from_the_seeds_backup() {
    let Some((s, images, stack)) = serving_v1("docker::compat") else { return };
    let good = s.read("docker-compose.yml");
    // The seed's backup file, then a deploy of v2.
    s.write("backups/docker-compose_20250101_000000.yml", &good);
    s.write("docker-compose.yml", stack.file(&images, "v2"));
    stack.compose(&["up", "-d"]);
    stack.wait_for("v2");
    let run = s
        .program(rb_tests::repo().join("compat/deployment_rollback.sh"))
        .args(["docker", "backups/docker-compose_20250101_000000.yml"])
        .run()
        .success();
    assert_eq!(
        run.stdout(),
        "Rolling back docker deployment from backups/docker-compose_20250101_000000.yml...\nDeployment rollback completed\n"
    );
    assert_eq!(s.read("docker-compose.yml"), good);
    stack.wait_for("v1");
}

#[test]
fn an_emergency_run_stops_and_starts_the_real_containers() {
    let Some((s, _images, stack)) = serving_v1("docker::emergency") else { return };
    let compose = |cmd: &str| {
        let mut v = vec!["docker-compose".to_string(), "-p".to_string(), stack.project.clone()];
        v.extend(cmd.split(' ').map(String::from));
        format!("{v:?}")
    };
    s.append(
        "rollback.toml",
        &format!(
            "\n[emergency]\ntimeout_s = 30\n\n[[emergency.services]]\nname = \"compose\"\nstop = {}\nstart = {}\nstatus = {}\nrunning_if_output = true\n",
            compose("stop"),
            compose("start"),
            compose("ps --services --filter status=running")
        ),
    );
    let started = |id: &str| {
        let out = std::process::Command::new("docker")
            .args(["inspect", "--format", "{{.State.StartedAt}}", id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let id = stack.containers().pop().unwrap();
    let first_start = started(&id);
    // The config snapshot, a bad settings edit, and the emergency rollback.
    let snap: Summary = s.cmd("rb-snapshot").run().success().doc();
    let good = s.live();
    s.append("core/config/settings/base.py", "DEBUG = True\n");
    let run =
        s.cmd("rb-emergency").args(["run", "--yes"]).env("RB_NOW", "2025-10-13T12:05:00Z").run().success();
    let report: rb_tests::docs::Report = run.doc();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.snapshot.as_deref(), Some(snap.id.as_str()));
    let steps: Vec<(&str, &str)> =
        report.steps.iter().map(|st| (st.name.as_str(), st.status.as_str())).collect();
    assert!(steps.contains(&("stop compose", "ok")) && steps.contains(&("start compose", "ok")), "{steps:?}");
    s.live().without(&["rollback.toml"]).assert_same(&good.without(&["rollback.toml"]));
    // The same container, stopped and started again by the run, serving v1.
    assert_eq!(stack.containers(), std::slice::from_ref(&id));
    assert_ne!(started(&id), first_start, "the container was not restarted");
    stack.wait_for("v1");
}

#[test]
fn compose_v2_rolls_back_for_real_where_it_is_installed() {
    if !available("docker::v2") {
        return;
    }
    let v2 = std::process::Command::new("docker").args(["compose", "version"]).output();
    if !v2.is_ok_and(|o| o.status.success()) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "docker::v2: `docker compose` (v2) is not installed here: the stand-in tests (deploy::docker_*) cover it"
        );
        return;
    }
    let Some((s, images, stack)) = serving_v1("docker::v2") else { return };
    s.write(
        "rollback.toml",
        stack.settings().replace("compose = [\"docker-compose\"]", "compose = [\"docker\", \"compose\"]"),
    );
    let snap: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    s.write("docker-compose.yml", stack.file(&images, "v2"));
    s.program("docker").args(["compose", "-p", &stack.project, "up", "-d"]).run().success();
    stack.wait_for("v2");
    s.cmd("rb-deploy").args(["rollback", "--target", "docker", "--to", &snap.id]).run().success();
    stack.wait_for("v1");
}
