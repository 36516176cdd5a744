//! A real Docker Engine for the tests, without a registry: images built here from Debian's
//! `busybox-static` (`FROM scratch`, the static binary serving a version page with `busybox
//! httpd -f`), a compose stack on a private project name and a free loopback port, and a
//! clean-up that removes only what the test made (its project's containers and network, its
//! own image tags).
//!
//! Without a reachable engine the real-engine tests say so on one line and do not run; with
//! `RB_REQUIRE_DOCKER=1` (set by `.ci/run`) a missing engine is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::Scenario;

/// Debian's static busybox (`make test` installs `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Whether a Docker engine answers; `Err` says why not. Asked once per test run.
pub fn engine() -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER
        .get_or_init(|| {
            let out = Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .output()
                .map_err(|e| format!("`docker` cannot run: {e}"))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(format!("`docker info` failed: {}", err.lines().last().unwrap_or("")));
            }
            if Command::new("docker-compose").arg("version").output().map_or(true, |o| !o.status.success()) {
                return Err("`docker-compose` (v1) does not run".to_string());
            }
            if !Path::new(BUSYBOX).is_file() {
                return Err(format!("{BUSYBOX} is missing (Debian's busybox-static)"));
            }
            Ok(())
        })
        .clone()
}

/// True when the real-engine tests can run. Otherwise prints one line saying why they did not
/// (or, with `RB_REQUIRE_DOCKER=1`, fails the test).
pub fn available(test: &str) -> bool {
    match engine() {
        Ok(()) => true,
        Err(why) if std::env::var("RB_REQUIRE_DOCKER").as_deref() == Ok("1") => {
            panic!("RB_REQUIRE_DOCKER=1, but the real Docker engine tests cannot run: {why}")
        }
        Err(why) => {
            // Straight to the process's stderr, past the test harness's capture: it must show.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{test}: the real Docker engine test did not run: {why}");
            false
        }
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

#[track_caller]
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test's images: `helpdesk-web:v1-<run>`, `:v2-<run>` (pages saying `helpdesk v1` and
/// `helpdesk v2`) and `:broken-<run>` (exits at start). Removed on drop.
pub struct Images {
    /// This run's suffix (parallel tests never remove each other's images).
    pub run: String,
}

impl Images {
    /// Builds the three images from `busybox-static` in a folder of `s`.
    pub fn build(s: &Scenario) -> Images {
        let run = format!(
            "{}-{}",
            std::process::id(),
            s.base.file_name().unwrap().to_string_lossy().to_lowercase()
        );
        let run: String = run.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let images = Images { run };
        for (name, cmd) in [
            ("v1", r#"["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]"#),
            ("v2", r#"["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]"#),
            ("broken", r#"["/bin/busybox", "sh", "-c", "echo cannot start: no database; exit 1"]"#),
        ] {
            let ctx = s.base.join(format!("image-{name}"));
            std::fs::create_dir_all(ctx.join("www")).unwrap();
            std::fs::copy(BUSYBOX, ctx.join("busybox")).unwrap();
            std::fs::write(ctx.join("www/index.html"), format!("helpdesk {name}\n")).unwrap();
            std::fs::write(
                ctx.join("Dockerfile"),
                // The run's label makes its image ids its own: the build cache would otherwise
                // give two tests the same id, and removing one by id would remove both.
                format!(
                    "FROM scratch\nLABEL rb.test.run={}\nCOPY busybox /bin/busybox\nCOPY www /www\nCMD {cmd}\n",
                    images.run
                ),
            )
            .unwrap();
            let out = Command::new("docker")
                .args(["build", "-q", "-t", &images.tag(name), ctx.to_str().unwrap()])
                .env("DOCKER_BUILDKIT", "0")
                .output()
                .unwrap();
            assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
        }
        images
    }

    /// `helpdesk-web:NAME-<run>`.
    pub fn tag(&self, name: &str) -> String {
        format!("helpdesk-web:{name}-{}", self.run)
    }

    /// The image id a tag points to now.
    pub fn id(&self, name: &str) -> String {
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &self.tag(name)]).trim().to_string()
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for name in ["v1", "v2", "broken"] {
            let _ = docker(&["image", "rm", "-f", &self.tag(name)]);
        }
    }
}

/// A compose stack of the one `web` service on a private project name and a free loopback
/// port. Dropping it removes the project's containers and network.
pub struct Stack {
    /// The compose project name (`-p`).
    pub project: String,
    /// The loopback port the web service is published on.
    pub port: u16,
    root: PathBuf,
}

impl Stack {
    /// A stack for the project at `s.root`; nothing runs yet.
    pub fn new(s: &Scenario, images: &Images) -> Stack {
        Stack {
            project: format!("rbtest{}", images.run.replace('-', "")),
            port: crate::nginx::free_port(),
            root: s.root.clone(),
        }
    }

    /// A `docker-compose.yml` running image `NAME` with a 1 s health check.
    pub fn file(&self, images: &Images, name: &str) -> String {
        format!(
            "version: \"3.8\"\nservices:\n  web:\n    image: {}\n    ports:\n      - \"127.0.0.1:{}:8080\"\n    healthcheck:\n      test: [\"CMD\", \"/bin/busybox\", \"wget\", \"-q\", \"-O\", \"/dev/null\", \"http://127.0.0.1:8080/\"]\n      interval: 1s\n      timeout: 1s\n      retries: 3\n",
            images.tag(name),
            self.port
        )
    }

    /// `docker-compose -p PROJECT ARGS…` in the project root; panics on failure.
    #[track_caller]
    pub fn compose(&self, args: &[&str]) -> String {
        let out = Command::new("docker-compose")
            .arg("-p")
            .arg(&self.project)
            .args(args)
            .current_dir(&self.root)
            .output()
            .unwrap();
        assert!(out.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The page the stack serves now, or `None` when nothing answers.
    pub fn page(&self) -> Option<String> {
        ureq::get(&format!("http://127.0.0.1:{}/", self.port))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
    }

    /// Waits up to 30 s for the page to say `helpdesk NAME`.
    #[track_caller]
    pub fn wait_for(&self, name: &str) {
        let want = format!("helpdesk {name}\n");
        let t = std::time::Instant::now();
        while self.page().as_deref() != Some(want.as_str()) {
            assert!(t.elapsed().as_secs() < 30, "the stack never served {want:?} (serves {:?})", self.page());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The `rollback.toml` lines that point rb at this stack (v1, this project name).
    pub fn settings(&self) -> String {
        format!(
            "[health]\nurl = \"http://127.0.0.1:{}/\"\ntimeout_s = 10\ninterval_s = 0.2\n\n[deploy]\ncompose = [\"docker-compose\"]\nproject = \"{}\"\ntimeout_s = 30\ninterval_s = 0.3\n",
            self.port, self.project
        )
    }

    /// The ids of the project's containers (by its label), running or not.
    pub fn containers(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.project);
        docker_ok(&["ps", "-a", "-q", "--filter", &filter]).split_whitespace().map(String::from).collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let ids = self.containers();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
        let _ = docker(&["network", "rm", &format!("{}_default", self.project)]);
    }
}
