//! The README's rollback.toml example is a real one: every section parses into its tool's
//! settings, so copying it never starts with an error.

use rb_common::config::Config;
use rb_tests::repo;

#[test]
fn the_readme_rollback_toml_is_accepted_by_every_tool() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme.find("## rollback.toml").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let config = Config::parse(block, "README.md").unwrap();
    config.nginx().unwrap();
    config.django().unwrap();
    config.section::<rb_envfile::EnvConfig>("env").unwrap();
    config.section::<rb_flag::FlagsConfig>("flags").unwrap();
    config.section::<rb_secret::SecretsConfig>("secrets").unwrap();
    config.section::<rb_deploy::DeployConfig>("deploy").unwrap();
    let emergency: rb_emergency::EmergencyConfig = config.section("emergency").unwrap();
    let drill: rb_emergency::drill::DrillConfig = config.section("drill").unwrap();
    assert_eq!(drill.secrets.as_deref(), Some("env"));
    assert_eq!(emergency.services[0].name, "nginx");
    config.section::<rb_common::health::HealthConfig>("health").unwrap().check().unwrap();
    assert_eq!(
        config.check_for("config").unwrap().unwrap().argv,
        ["python", "manage.py", "check", "--deploy"]
    );
}

/// Every tool's `--help` keeps its examples whole on an 80-column terminal: a `# what it does`
/// line, then the command, never a command broken across lines.
#[test]
fn help_examples_are_never_broken_across_lines() {
    let s = rb_tests::Scenario::new();
    for tool in rb_tests::TOOLS {
        let help = s.cmd(tool).arg("--help").env("COLUMNS", "80").run().success().stdout();
        let examples =
            help.split("Examples:\n").nth(1).unwrap_or_else(|| panic!("{tool} --help has no examples"));
        let block: Vec<&str> = examples.split("\n\n").next().unwrap().lines().collect();
        assert!(block.len() >= 4, "{tool}: {block:?}");
        let mut comment = false;
        for line in &block {
            assert!(line.len() <= 80, "{tool}: a line wider than 80 columns: {line:?}");
            let is_comment = line.starts_with("  # ");
            let is_command = ["  rb-", "  compat/", "  . compat/", "  text=", "  printf "]
                .iter()
                .any(|p| line.starts_with(p));
            assert!(is_comment || is_command, "{tool}: a broken example line: {line:?}");
            assert!(
                !(comment && is_comment),
                "{tool}: two comment lines in a row (a wrapped one?): {line:?}"
            );
            comment = is_comment;
        }
    }
}
