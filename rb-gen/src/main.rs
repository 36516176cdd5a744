//! `rb-gen OUT`: writes every rb tool's man page and its bash, zsh and fish completions under
//! `OUT` (`man1/rb-X.1`, `bash/rb-X`, `zsh/_rb-X`, `fish/rb-X.fish`), from the tools' own clap
//! definitions, so they cannot drift from `--help`. `make install` runs it and installs what it
//! wrote; it is a build tool, not one of rb's commands.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// One section for every page: the exit codes are the same for all tools.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Done, and verified."),
    (
        "1",
        "Failed: nothing was changed, or the change was fully put back (also: a snapshot id that does not exist, a damaged snapshot).",
    ),
    (
        "2",
        "Bad usage or bad input (arguments, JSON, a path leaving the root, a document of another kind): nothing was changed.",
    ),
    (
        "3",
        "Failed and the state may be partly changed, or the change was made but stdout failed: the error says what, and how to finish or undo.",
    ),
    ("4", "Another rollback holds the store's lock: the error names the holder."),
];

/// rb-envfile's own codes beside them (as env(1) has).
const ENVFILE_EXEC: &str = "rb-envfile exec exits with its command's code, 125 when rb-envfile itself fails, 126 when the command cannot run, 127 when it is not found.";

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

fn exit_status(name: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        roff.control("TP", []);
        roff.text([bold(*code)]);
        roff.text([roman(*meaning)]);
    }
    if name == "rb-envfile" {
        roff.control("PP", []);
        roff.text([roman(ENVFILE_EXEC)]);
    }
    roff
}

/// The `after_help` text (examples, then notes) as written: no filling, so an example line
/// stays one line.
fn notes(text: &str) -> Roff {
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
    let name = cmd.get_name().to_string();
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
    exit_status(&name).to_writer(&mut out)?;
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
