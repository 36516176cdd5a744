//! `rb-gen OUT`: writes every rb tool's man page and its bash, zsh and fish completions under
//! `OUT` (`man1/rb-X.1`, `bash/rb-X`, `zsh/_rb-X`, `fish/rb-X.fish`), from the tools' own clap
//! definitions, so they cannot drift from `--help`. `make install` runs it and installs what it
//! wrote; it is a build tool, not one of rb's commands. Every page's EXIT STATUS is
//! [`rb_common::exit`]'s table, the one every `--help` ends with. Its Cargo.toml also holds the
//! Debian package's metadata (`make deb`), since this is the crate that knows every tool.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use rb_common::exit;

fn tools() -> Vec<clap::Command> {
    vec![
        rb_snapshot::Cli::command().name("rb-snapshot"),
        rb_restore::Cli::command().name("rb-restore"),
        rb_nginx::Cli::command().name("rb-nginx"),
        rb_envfile::Cli::command().name("rb-envfile"),
        rb_migrate::Cli::command().name("rb-migrate"),
        rb_flag::Cli::command().name("rb-flag"),
        rb_secret::Cli::command().name("rb-secret"),
        rb_deploy::Cli::command().name("rb-deploy"),
        rb_emergency::Cli::command().name("rb-emergency"),
    ]
}

/// One section for every page, from the table every tool's `--help` ends with
/// ([`rb_common::exit`]); what a code means for one tool in particular (rb-envfile's 125–127)
/// is in its notes.
fn exit_status() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in exit::EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(*meaning)]);
    }
    roff.control("PP", []);
    roff.text([roman(exit::INTERRUPTED)]);
    roff
}

/// The `after_help` text (examples, then notes) as written: no filling, so an example line
/// stays one line. The exit codes it ends with are left to [`exit_status`].
fn notes(text: &str) -> Roff {
    let text = text.strip_suffix(&exit::help_section()).unwrap_or(text).trim_end();
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES AND NOTES"]);
    roff.control("nf", []);
    for line in text.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff
}

fn man_page(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone()).section("1").manual("rb");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        notes(&after.to_string()).to_writer(&mut out)?;
    }
    exit_status().to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

fn generate(out: &Path) -> std::io::Result<usize> {
    let mut written = 0;
    for mut cmd in tools() {
        let name = cmd.get_name().to_string();
        write(&out.join("man1").join(format!("{name}.1")), &man_page(&cmd)?)?;
        for (shell, file) in [
            (Shell::Bash, format!("bash/{name}")),
            (Shell::Zsh, format!("zsh/_{name}")),
            (Shell::Fish, format!("fish/{name}.fish")),
        ] {
            let mut bytes = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut bytes);
            write(&out.join(file), &bytes)?;
        }
        written += 4;
    }
    Ok(written)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: rb-gen OUT_DIR   (writes man1/, bash/, zsh/ and fish/ under OUT_DIR)");
        return std::process::ExitCode::from(2);
    };
    match generate(Path::new(out)) {
        Ok(n) => {
            eprintln!("rb-gen: wrote {n} files under {out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rb-gen: error: writing under {out}: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tool's own help text is written to fit: no line over 100 columns (clap would
    /// break it, leaving a stub line), and it ends with the common exit codes.
    #[test]
    fn after_help_lines_fit_in_100_columns_and_end_with_the_exit_codes() {
        for cmd in tools() {
            let name = cmd.get_name().to_string();
            let after = cmd.get_after_help().map(|t| t.to_string()).unwrap_or_default();
            assert!(after.ends_with(&exit::help_section()), "{name}: no exit codes at the end:\n{after}");
            for line in after.lines() {
                assert!(line.chars().count() <= 100, "{name}: a line over 100 columns: {line:?}");
            }
        }
    }

    #[test]
    fn a_man_page_states_the_exit_codes_once() {
        for cmd in tools() {
            let page = String::from_utf8(man_page(&cmd).unwrap()).unwrap();
            assert_eq!(page.matches("Another rollback holds the store").count(), 1, "{page}");
        }
    }
}
