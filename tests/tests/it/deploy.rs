//! rb-deploy: the `docker` target with a stand-in `docker` (no Docker engine here), the `ecs`
//! target through the real AWS CLI against a real moto server, the `render` target against a
//! stand-in of Render's API (which also answers the app's health URL), and the compat script.

use rb_tests::docs::{DeployState, Summary};
use rb_tests::moto::{Moto, aws};
use rb_tests::standin::Standin;
use rb_tests::{Cmd, Scenario, bin, repo};
use serde_json::{Value, json};

/// The Render stand-in (also the health URL).
fn render(s: &Scenario, deploys: Value) -> Standin {
    let record = s.base.join("render.jsonl");
    Standin::start(
        "standin-render",
        &["rnd_key", "srv-helpdesk", &deploys.to_string(), record.to_str().unwrap()],
        record.clone(),
    )
}

/// What the Render stand-in was asked on its API (not the health URL).
fn api_requests(http: &Standin) -> Vec<Value> {
    http.requests().into_iter().filter(|r| r["url"].as_str().is_some_and(|u| u.starts_with("/v1/"))).collect()
}

fn settings(http: &Standin, health: &str, deploy: &str) -> String {
    format!(
        "[health]\nurl = \"http://127.0.0.1:{}/{health}/\"\ntimeout_s = 1.5\ninterval_s = 0.2\n\n[deploy]\ntimeout_s = 2\ninterval_s = 0.1\n{deploy}",
        http.port
    )
}

/// A helpdesk project whose `docker` is the stand-in, running docker-compose.yml.
fn docker_scenario() -> (Scenario, Standin) {
    let s = Scenario::helpdesk();
    std::os::unix::fs::symlink(bin("standin-docker"), s.base.join("bin/docker")).unwrap();
    let http = render(&s, json!([]));
    s.write("rollback.toml", settings(&http, "health", ""));
    docker(&s, s.program("docker")).args(["compose", "up", "-d"]).run().success();
    std::fs::remove_file(s.base.join("docker.log")).unwrap();
    (s, http)
}

fn docker(s: &Scenario, cmd: Cmd) -> Cmd {
    cmd.env("STANDIN_DOCKER_STATE", s.base.join("docker.json").display().to_string())
        .env("STANDIN_DOCKER_LOG", s.base.join("docker.log").display().to_string())
}

fn running_images(s: &Scenario) -> Vec<String> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(s.base.join("docker.json")).unwrap()).unwrap();
    state.as_object().unwrap().values().map(|v| v["Image"].as_str().unwrap().to_string()).collect()
}

#[test]
fn docker_rollback_checks_first_then_waits_and_checks_health() {
    let (s, _http) = docker_scenario();
    let snap: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    s.write(
        "docker-compose.yml",
        s.read("docker-compose.yml").replace("helpdesk/web:1.4.2", "helpdesk/web:1.5.0"),
    );
    s.cmd("rb-snapshot").arg("compose").env("RB_NOW", "2025-10-13T12:01:00Z").run().success();
    docker(&s, s.program("docker")).args(["compose", "up", "-d"]).run().success();
    let status = docker(&s, s.cmd("rb-deploy")).arg("status").run().success();
    let before = status.doc::<DeployState>().current.unwrap().id;
    assert!(before.starts_with("sha256:"));
    std::fs::remove_file(s.base.join("docker.log")).unwrap();

    let rb = |args: &[&str]| {
        docker(&s, s.cmd("rb-deploy")).args(args.iter().copied()).env("RB_NOW", "2025-10-13T12:02:00Z")
    };
    let doc: DeployState = rb(&["rollback", "--target", "docker", "--to", &snap.id]).run().success().doc();
    assert_eq!(
        (doc.before.as_deref(), doc.after.as_deref()),
        (Some(before.as_str()), Some(snap.id.as_str()))
    );
    assert!(doc.health.as_ref().unwrap().ok);
    assert!(s.read("docker-compose.yml").contains("helpdesk/web:1.4.2"));
    assert!(running_images(&s).contains(&"helpdesk/web:1.4.2".to_string()));
    // The file was checked before anything ran; nothing was taken down.
    let log = std::fs::read_to_string(s.base.join("docker.log")).unwrap();
    let config = log.find("config --quiet").expect("config --quiet");
    let up = log.find("up -d").expect("up -d");
    assert!(config < up && !log.contains("down"), "{log}");
    // `restore` of the status document goes back to 1.5.0, found by its hash in a snapshot.
    let back: DeployState = rb(&["restore"]).stdin(status.stdout()).run().success().doc();
    assert_eq!(back.action, "restore");
    assert!(s.read("docker-compose.yml").contains("helpdesk/web:1.5.0"));
    // Restoring it again changes nothing and still checks health.
    let same: DeployState = rb(&["restore"]).stdin(status.stdout()).run().success().doc();
    assert_eq!(same.before, same.after);
    assert!(same.health.unwrap().ok);
    // The `--to` a rollback prints goes back (the file it replaced is in its undo snapshot).
    let doc: DeployState = rb(&["rollback", "--target", "docker", "--to", &snap.id]).run().success().doc();
    rb(&["rollback", "--target", "docker", "--to", doc.before.as_deref().unwrap()]).run().success();
    assert!(s.read("docker-compose.yml").contains("helpdesk/web:1.5.0"));
}

#[test]
fn a_damaged_snapshot_touches_nothing_even_with_recreate() {
    let (s, _http) = docker_scenario();
    let good = s.read("docker-compose.yml");
    s.write("docker-compose.yml", good.replace("helpdesk/web:1.4.2", "helpdesk/web:1.3.0"));
    let snap: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    s.write("docker-compose.yml", &good);
    // Valid compose, but not what the snapshot recorded.
    s.write(
        &format!("backups/{}/docker-compose.yml", snap.id),
        good.replace("helpdesk/web:1.4.2", "helpdesk/web:6.6.6"),
    );
    let before = s.live();
    docker(&s, s.cmd("rb-deploy"))
        .args(["rollback", "--target", "docker", "--recreate", "--to", &snap.id])
        .run()
        .code_is(1)
        .stderr_has("is damaged");
    let log = std::fs::read_to_string(s.base.join("docker.log")).unwrap();
    assert!(!log.contains("up -d") && !log.contains("down"), "{log}");
    s.live().assert_same(&before);
}

#[test]
fn a_compose_file_that_compose_refuses_stops_nothing() {
    let (s, _http) = docker_scenario();
    let good = s.read("docker-compose.yml");
    s.write("docker-compose.yml", good.replace("services:", "servces:"));
    let bad: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    s.write("docker-compose.yml", &good);
    let before = s.live();
    docker(&s, s.cmd("rb-deploy"))
        .args(["rollback", "--target", "docker", "--to", &bad.id])
        .run()
        .code_is(1)
        .one_line_error("holds a compose file that `compose config` refuses");
    let log = std::fs::read_to_string(s.base.join("docker.log")).unwrap();
    assert!(!log.contains("up -d") && !log.contains("down"), "{log}");
    s.live().assert_same(&before);
}

#[test]
fn a_service_that_never_becomes_healthy_brings_the_previous_file_back() {
    let (s, _http) = docker_scenario();
    let good = s.read("docker-compose.yml");
    s.write("docker-compose.yml", good.replace("helpdesk/web:1.4.2", "helpdesk/web:1.3.0-unhealthy"));
    let sick: Summary = s.cmd("rb-snapshot").arg("compose").run().success().doc();
    s.write("docker-compose.yml", &good);
    let before = s.live();
    let run = docker(&s, s.cmd("rb-deploy"))
        .args(["rollback", "--target", "docker", "--to", &sick.id])
        .run()
        .code_is(1);
    assert!(run.stderr().contains("web (running, unhealthy)"), "{}", run.stderr());
    assert!(run.stderr().contains("the previous compose files are back up"), "{}", run.stderr());
    s.live().assert_same(&before);
    assert!(running_images(&s).contains(&"helpdesk/web:1.4.2".to_string()));
    let log = std::fs::read_to_string(s.base.join("docker.log")).unwrap();
    assert_eq!(log.matches("up -d").count(), 2, "{log}");
}

#[test]
fn compat_deployment_rollback_sh_takes_the_seeds_backup_file() {
    let shim = repo().join("compat/deployment_rollback.sh");
    let (s, _http) = docker_scenario();
    let good = s.read("docker-compose.yml");
    s.write("backups/docker-compose_20250101_000000.yml", &good);
    s.write("docker-compose.yml", good.replace("helpdesk/web:1.4.2", "helpdesk/web:1.5.0"));
    let run = docker(&s, s.program(&shim))
        .args(["docker", "backups/docker-compose_20250101_000000.yml"])
        .run()
        .success();
    assert_eq!(
        run.stdout(),
        "Rolling back docker deployment from backups/docker-compose_20250101_000000.yml...\nDeployment rollback completed\n"
    );
    assert_eq!(s.read("docker-compose.yml"), good);
    let run = s.program(&shim).args(["k8s", "x"]).run().code_is(1);
    assert_eq!(run.stdout(), "Unknown deployment type: k8s\n");
}

/// A moto ECS service running helpdesk-task:3 of three revisions.
fn ecs_scenario() -> (Scenario, Moto, Standin) {
    let s = Scenario::new();
    let moto = Moto::start();
    for n in 1..=3 {
        let defs = format!("[{{\"name\":\"web\",\"image\":\"helpdesk/web:1.{n}.0\",\"memory\":128}}]");
        moto.aws(
            &s,
            &[
                "ecs",
                "register-task-definition",
                "--family",
                "helpdesk-task",
                "--container-definitions",
                &defs,
            ],
        )
        .success();
    }
    moto.aws(&s, &["ecs", "create-cluster", "--cluster-name", "helpdesk-cluster"]).success();
    moto.aws(
        &s,
        &[
            "ecs",
            "create-service",
            "--cluster",
            "helpdesk-cluster",
            "--service-name",
            "helpdesk-service",
            "--task-definition",
            "helpdesk-task:3",
            "--desired-count",
            "1",
        ],
    )
    .success();
    let http = render(&s, json!([]));
    s.write("rollback.toml", settings(&http, "health", &format!("aws = [\"{}\"]\n", aws().display())));
    (s, moto, http)
}

fn ecs_revision(s: &Scenario, moto: &Moto) -> String {
    let out = moto
        .aws(
            s,
            &[
                "ecs",
                "describe-services",
                "--cluster",
                "helpdesk-cluster",
                "--services",
                "helpdesk-service",
                "--output",
                "json",
            ],
        )
        .success()
        .stdout();
    let v: Value = serde_json::from_str(&out).unwrap();
    v["services"][0]["taskDefinition"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

#[test]
fn ecs_rollback_goes_to_the_previous_revision_and_back() {
    let (s, moto, _http) = ecs_scenario();
    let rb = |args: &[&str]| {
        moto.env(s.cmd("rb-deploy")).args(["--target", "ecs"]).args(args.iter().copied()).run()
    };
    let history: DeployState = rb(&["history"]).success().doc();
    let ids: Vec<&str> = history.revisions.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["helpdesk-task:3", "helpdesk-task:2", "helpdesk-task:1"]);
    let dry =
        rb(&["rollback", "--dry-run", "--diff"]).success().stderr_has("rb-deploy: ecs: helpdesk-task:3");
    assert!(dry.stderr().contains(" → helpdesk-task:2"), "{}", dry.stderr());
    let dry: DeployState = dry.doc();
    assert_eq!(dry.after.as_deref(), Some("helpdesk-task:2"));
    assert_eq!(ecs_revision(&s, &moto), "helpdesk-task:3");
    let doc: DeployState = rb(&["rollback"]).success().doc();
    assert_eq!(
        (doc.before.as_deref(), doc.after.as_deref()),
        (Some("helpdesk-task:3"), Some("helpdesk-task:2"))
    );
    assert!(doc.health.unwrap().ok);
    assert_eq!(ecs_revision(&s, &moto), "helpdesk-task:2");
    rb(&["rollback", "--to", "helpdesk-task:3"]).success();
    assert_eq!(ecs_revision(&s, &moto), "helpdesk-task:3");
    // A revision that does not exist: refused, the service and the project unchanged.
    let before = s.tree();
    rb(&["rollback", "--to", "helpdesk-task:9"])
        .code_is(1)
        .one_line_error("there is no task definition helpdesk-task:9");
    rb(&["rollback", "--to", "latest"]).code_is(2).one_line_error("is not a task definition revision");
    rb(&["rollback", "--to", "helpdesk-worker:1"])
        .code_is(2)
        .one_line_error("is not of the family the service runs (helpdesk-task)");
    assert_eq!(ecs_revision(&s, &moto), "helpdesk-task:3");
    s.tree().assert_same(&before);
}

#[test]
fn ecs_that_is_not_healthy_afterwards_is_exit_3_with_the_way_back() {
    let (s, moto, http) = ecs_scenario();
    s.write("rollback.toml", settings(&http, "unhealthy", &format!("aws = [\"{}\"]\n", aws().display())));
    let run = moto.env(s.cmd("rb-deploy")).args(["--target", "ecs", "rollback"]).run().code_is(3);
    assert!(
        run.stderr().contains("`rb-deploy rollback --target ecs --to helpdesk-task:3` goes back"),
        "{}",
        run.stderr()
    );
    let doc: DeployState = run.doc();
    assert!(!doc.health.unwrap().ok);
}

#[test]
fn render_rollback_posts_the_deploy_polls_it_live_and_fails_clearly() {
    let s = Scenario::new();
    let deploys = json!([
        { "id": "dep-3", "status": "live", "commit": { "id": "c3" } },
        { "id": "dep-2", "status": "deactivated", "commit": { "id": "c2" } },
        { "id": "dep-bad-1", "status": "deactivated", "commit": { "id": "c1" } },
    ]);
    let http = render(&s, deploys);
    let api = format!("render_service = \"srv-helpdesk\"\nrender_api = \"http://127.0.0.1:{}\"\n", http.port);
    s.write("rollback.toml", settings(&http, "health", &api));
    let rb = |args: &[&str]| {
        s.cmd("rb-deploy")
            .args(["--target", "render"])
            .args(args.iter().copied())
            .env("RENDER_API_KEY", "rnd_key")
    };
    let run = rb(&["rollback"]).run().success();
    // The poll says what it waits for while the deploy builds (measured before: a 5-minute
    // wait printed nothing until it failed).
    let run =
        run.stderr_has("rb-deploy: waiting for the rollback deploy ").stderr_has(": build_in_progress (");
    let doc: DeployState = run.doc();
    assert_eq!((doc.before.as_deref(), doc.after.as_deref()), (Some("dep-3"), Some("dep-2")));
    let requests = api_requests(&http);
    let post: Vec<(&str, Value)> = requests
        .iter()
        .filter(|r| r["method"] == "POST")
        .map(|r| (r["url"].as_str().unwrap(), serde_json::from_str(r["body"].as_str().unwrap()).unwrap()))
        .collect();
    assert_eq!(post, [("/v1/services/srv-helpdesk/rollback", json!({ "deployId": "dep-2" }))]);
    assert!(requests.iter().all(|r| r["headers"]["authorization"] == "Bearer rnd_key"));
    // A deploy whose rebuild fails: exit 1, what ran still runs.
    let failed = rb(&["rollback", "--to", "dep-bad-1"]).run().code_is(1).stderr_has("ended build_failed");
    // The document says what was tried and that what ran before still runs.
    let doc: DeployState = failed.doc();
    assert_eq!(doc.before, doc.after);
    // Bad input: a clear error, the project and Render untouched.
    let before = s.tree();
    let deploys = api_requests(&http).iter().filter(|r| r["method"] == "POST").count();
    s.cmd("rb-deploy")
        .args(["--target", "render", "status"])
        .run()
        .code_is(1)
        .one_line_error("the environment variable RENDER_API_KEY is empty");
    rb(&["status"])
        .env("RENDER_API_KEY", "wrong")
        .run()
        .code_is(1)
        .one_line_error("Render refused the API key (HTTP 401)");
    rb(&["rollback", "--to", "dep-nope"]).run().code_is(1).one_line_error("has no deploy \"dep-nope\"");
    s.cmd("rb-deploy")
        .args(["--target", "k8s", "status"])
        .run()
        .code_is(2)
        .one_line_error("unknown deployment target \"k8s\"");
    s.tree().assert_same(&before);
    assert_eq!(api_requests(&http).iter().filter(|r| r["method"] == "POST").count(), deploys);
}
