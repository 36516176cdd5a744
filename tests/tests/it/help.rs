//! The exit codes are written once (`rb_common::exit`) and every place that states them says
//! the same: each tool's `--help` ends with them, whole, in lines of at most 100 columns, and
//! docs/design.md's and the README's tables have each code's row word for word.

use rb_common::exit::{EXIT_CODES, INTERRUPTED, help_section};
use rb_tests::{Scenario, TOOLS, repo};

#[test]
fn every_help_fits_in_100_columns_and_ends_with_the_exit_codes() {
    let s = Scenario::new();
    let section = help_section();
    for tool in TOOLS {
        let help = s.cmd(tool).arg("--help").run().success().stdout();
        for line in help.lines() {
            assert!(line.chars().count() <= 100, "{tool} --help: a line over 100 columns: {line:?}");
        }
        // Verbatim: clap did not have to fill it again.
        assert!(
            help.trim_end().ends_with(section.trim_end()),
            "{tool} --help does not end with:\n{section}\n{help}"
        );
        for (code, _) in EXIT_CODES {
            assert!(help.contains(&format!("\n  {code}  ")), "{tool} --help: no exit code {code}");
        }
    }
}

#[test]
fn the_design_and_the_readme_document_the_same_exit_codes() {
    for file in ["docs/design.md", "README.md"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let table =
            &text[text.find("## Exit codes").unwrap_or_else(|| panic!("{file} has no ## Exit codes"))..];
        for (code, meaning) in EXIT_CODES {
            let row = format!("| {code} | {meaning} |");
            assert!(table.contains(&row), "{file}'s exit codes lack the row\n{row}");
        }
    }
    let design = std::fs::read_to_string(repo().join("docs/design.md")).unwrap();
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&design).contains(&words(INTERRUPTED)), "docs/design.md does not say:\n{INTERRUPTED}");
}
