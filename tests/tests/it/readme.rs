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
