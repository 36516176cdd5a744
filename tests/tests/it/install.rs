//! `make install`: the binaries, the compat shims, a man page per tool with its EXIT STATUS,
//! and bash, zsh and fish completions, generated from the clap definitions by rb-gen. The test
//! installs the build the tests run (`make install-files BIN_DIR=…`: no second build), then
//! reads the pages with man(1) and loads the bash completion into bash.

use rb_tests::{Scenario, TOOLS, bin_dir, repo};

#[test]
fn make_install_puts_binaries_man_pages_and_completions_under_prefix_and_uninstall_removes_them() {
    let s = Scenario::new();
    let prefix = s.base.join("prefix");
    let make = |target: &str| {
        s.program("make")
            .args(["-s", "-C", repo().to_str().unwrap(), target])
            .arg(format!("PREFIX={}", prefix.display()))
            .arg(format!("BIN_DIR={}", bin_dir().display()))
            .run()
            .success()
    };
    make("install-files");
    let share = prefix.join("share");
    for tool in TOOLS {
        assert!(prefix.join("bin").join(tool).is_file(), "{tool} not installed");
        let page = share.join(format!("man/man1/{tool}.1"));
        let shown =
            s.program("man").args(["-l", page.to_str().unwrap()]).env("MANPAGER", "cat").run().success();
        // man fills and justifies: compare words, not spacing.
        let text = shown.stdout().split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("EXIT STATUS"), "{tool}.1 has no EXIT STATUS:\n{text}");
        assert!(text.contains("Another rollback holds the store's lock"), "{text}");
        assert!(text.contains(tool) && text.contains("OPTIONS"), "{text}");
        assert!(text.contains("EXAMPLES AND NOTES Examples:"), "{text}");
        let zsh = std::fs::read_to_string(share.join(format!("zsh/site-functions/_{tool}"))).unwrap();
        assert!(zsh.starts_with(&format!("#compdef {tool}")), "{zsh}");
        let fish =
            std::fs::read_to_string(share.join(format!("fish/vendor_completions.d/{tool}.fish"))).unwrap();
        assert!(fish.contains(&format!("complete -c {tool}")), "{fish}");
        // bash loads it and binds the completion to the tool.
        let bash = share.join(format!("bash-completion/completions/{tool}"));
        let bound = s
            .program("bash")
            .args(["-c", &format!("source {} && complete -p {tool}", bash.display())])
            .run()
            .success();
        assert!(bound.stdout().contains(tool), "{}", bound.stdout());
    }
    // rb-envfile's page has its own codes beside the common ones.
    let envfile = s
        .program("man")
        .args(["-l", share.join("man/man1/rb-envfile.1").to_str().unwrap()])
        .env("MANPAGER", "cat")
        .run()
        .success();
    assert!(envfile.stdout().contains("127"), "{}", envfile.stdout());
    assert!(prefix.join("bin/config_rollback.sh").is_file());
    make("uninstall");
    let left: Vec<_> = walk(&prefix);
    assert!(left.is_empty(), "left after uninstall: {left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
