//! The command line of `rb-envfile`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # back up the seed's list of variables (or [env] names)
  rb-envfile capture
  # just these
  rb-envfile capture DB_HOST DB_PORT
  # the whole environment but the shell's own (PWD, SHLVL, _, OLDPWD)
  rb-envfile capture --all
  # what the newest backup holds, values masked
  rb-envfile show latest
  # what changed since, against this shell's environment
  rb-envfile diff env_20251013_120000
  # restore this shell's variables
  text=$(rb-envfile export env_20251013_120000) && eval \"$text\"
  # run one command with them
  rb-envfile exec latest -- python manage.py check
  # the old script's way, sourced
  . compat/env_rollback.sh 20251013_120000

Backups are backups/env_<YYYYMMDD_HHMMSS>.env, mode 0600 whatever the umask: one
`export NAME='value'` line per variable (and `unset -v NAME` for a listed name that was not set),
so `source backups/env_X.env` in bash works too and never runs a value. The old `env > file`
backups are read as well. Values are never printed unless --reveal.
`diff --exit-code` exits 1 when anything differs and 2 when the backup cannot be read, as
`git diff --exit-code`. `export` prints shell text, not JSON; `exec` exits with its command's
code, and with 125 (rb-envfile failed), 126 (the command cannot run) or 127 (not found), as
env(1) does.";

/// Environment backups that round-trip every value, and restores that actually restore.
#[derive(Debug, Parser)]
#[command(name = "rb-envfile", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Where the project and its backups are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up environment variables to `backups/env_<time>.env` (0600); prints an `envfile`
    /// document with the names captured and the listed names that were not set, never values
    Capture {
        /// The variables [default: `[env] names` in rollback.toml, else the seed's list]
        #[arg(value_name = "NAME", conflicts_with = "all")]
        names: Vec<String>,
        /// The whole environment except the shell's own (PWD, SHLVL, _, OLDPWD)
        #[arg(long)]
        all: bool,
        /// Print the document of the backup it would write; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Print what a backup holds: an `envfile` document, values masked unless --reveal
    Show {
        /// The backup: an id (`env_<time>`), `latest`, or the path of a file
        #[arg(value_name = "ID|latest|PATH")]
        backup: String,
        /// Print the values
        #[arg(long)]
        reveal: bool,
    },
    /// Compare a backup with the current environment: names added, removed and changed since
    Diff {
        /// The backup: an id (`env_<time>`), `latest`, or the path of a file
        #[arg(value_name = "ID|latest|PATH")]
        backup: String,
        /// Print the values that differ
        #[arg(long)]
        reveal: bool,
        /// Exit 1 when anything differs, 0 when nothing does, as `git diff --exit-code`
        /// (a backup that cannot be read is then exit 2)
        #[arg(long)]
        exit_code: bool,
    },
    /// Print shell text that restores a backup in the calling shell: text=$(rb-envfile export ID) && eval "$text"
    Export {
        /// The backup: an id (`env_<time>`), `latest`, or the path of a file
        #[arg(value_name = "ID|latest|PATH")]
        backup: String,
    },
    /// Run a command with a backup's environment restored; its exit code passes through (it
    /// is the user's program: no `[exec] timeout_s`)
    Exec {
        /// The backup: an id (`env_<time>`), `latest`, or the path of a file
        #[arg(value_name = "ID|latest|PATH")]
        backup: String,
        /// Start from an empty environment: only the restored variables and PATH
        #[arg(long)]
        clear: bool,
        /// The command and its arguments, after `--`
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
