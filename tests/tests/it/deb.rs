//! `make deb`: one Debian package, `rb`, with the binaries, the compat shims, a man page per
//! tool and the bash, zsh and fish completions. As the install test does, it packages the
//! build the tests run (`make deb-files`: no second, release, build), with cargo-deb, which
//! `scripts/deps.sh deb` installs; where cargo-deb does not run the test says so on stderr and
//! does nothing (`RB_REQUIRE_DEB=1` makes that a failure), as the Docker tests do.

use std::path::PathBuf;
use std::process::Command;

use rb_tests::{Scenario, TOOLS, bin_dir, repo};

/// The cargo that runs the tests (cargo sets `CARGO` for them).
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// The test process's own variables that cargo and its subcommands need (the scenario's
/// environment has a HOME of its own, where no toolchain is).
fn toolchain_env() -> Vec<(&'static str, String)> {
    ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
        .collect()
}

/// Whether `cargo deb` runs here; otherwise says why on stderr (or, with `RB_REQUIRE_DEB=1`,
/// fails the test).
fn available(test: &str) -> bool {
    let answer = Command::new(cargo()).args(["deb", "--version"]).output();
    let why = match answer {
        Ok(out) if out.status.success() => return true,
        Ok(out) => format!("`cargo deb --version` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => format!("cargo cannot run: {e}"),
    };
    if std::env::var("RB_REQUIRE_DEB").as_deref() == Ok("1") {
        panic!("RB_REQUIRE_DEB=1, but cargo-deb does not run (scripts/deps.sh deb installs it): {why}");
    }
    // Straight to the process's stderr, past the test harness's capture: it must show.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{test}: not run: `cargo deb` does not run here (scripts/deps.sh deb installs cargo-deb): {why}"
    );
    false
}

#[test]
fn make_deb_packages_rb_with_the_binaries_shims_man_pages_and_completions() {
    if !available("make_deb_packages_rb_with_the_binaries_shims_man_pages_and_completions") {
        return;
    }
    let s = Scenario::new();
    let out = s.base.join("deb");
    // cargo-deb packages a release build (it warns that a dev one will be refused): a target
    // folder of the scenario's whose release/ links the binaries the tests run.
    let target = s.base.join("target");
    let release = target.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for tool in TOOLS.iter().chain(&["rb-gen"]) {
        std::os::unix::fs::symlink(bin_dir().join(tool), release.join(tool)).unwrap();
    }
    let mut make = s
        .program("make")
        .args(["-s", "-C", repo().to_str().unwrap(), "deb-files"])
        .arg(format!("CARGO={}", cargo()))
        .arg(format!("BIN_DIR={}", release.display()))
        .arg(format!("DEB_DIR={}", out.display()))
        .arg("DEB_FLAGS=--fast --strip --quiet")
        .env("CARGO_TARGET_DIR", target.display().to_string());
    for (k, v) in toolchain_env() {
        make = make.env(k, v);
    }
    make.run().success();

    let debs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    let [deb] = debs.as_slice() else { panic!("not one .deb in {}: {debs:?}", out.display()) };
    let deb = deb.to_str().unwrap();
    let field = s.program("dpkg-deb").args(["-f", deb, "Package"]).run().success();
    assert_eq!(field.stdout().trim(), "rb");
    let listed = s.program("dpkg-deb").args(["-c", deb]).run().success().stdout();
    let has = |path: &str| {
        assert!(listed.lines().any(|l| l.ends_with(&format!(" ./{path}"))), "{deb} has no {path}:\n{listed}")
    };
    for tool in TOOLS {
        has(&format!("usr/bin/{tool}"));
        has(&format!("usr/share/man/man1/{tool}.1.gz"));
        has(&format!("usr/share/bash-completion/completions/{tool}"));
        has(&format!("usr/share/zsh/vendor-completions/_{tool}"));
        has(&format!("usr/share/fish/vendor_completions.d/{tool}.fish"));
    }
    has("usr/bin/config_rollback.sh");
    has("usr/bin/test_rollback_procedures.py");
    has("usr/share/doc/rb/LICENSE-MIT");
    has("usr/share/doc/rb/LICENSE-APACHE");
    has("usr/share/doc/rb/copyright");
    assert!(!listed.contains("rb-gen"), "the build tool is not shipped:\n{listed}");
}
