//! The command line of `rb-secret`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # the secrets under the prefix (helpdesk/), names and dates
  rb-secret list
  # its versions, which is current; never a value
  rb-secret versions DB_PASSWORD
  # make the previous version current again (no value needed)
  rb-secret rollback DB_PASSWORD > undo.json
  # a given version; the document's `before` undoes it
  rb-secret rollback DB_PASSWORD --to 5e28…
  # a new value, from stdin (or --from-file F)
  printf %s \"$NEW\" | rb-secret set DB_PASSWORD
  # the current value (masked without --reveal)
  rb-secret get DB_PASSWORD --reveal

Backends (--backend, or [secrets] backend in rollback.toml; names get [secrets] prefix, default
helpdesk/):
  aws    the AWS CLI ([secrets] aws = [\"aws\", \"--profile\", \"prod\"]; endpoint_url for tests):
         a rollback moves the AWSCURRENT stage, so the value never passes through rb
  vault  Vault's KV v2 HTTP API at $VAULT_ADDR with $VAULT_TOKEN ([secrets] vault_mount, default
         secret): a rollback writes the old version's data back as a new version, in memory only
  env    environment backups (rb-envfile's files): set and rollback write a new backup; load it
         with text=$(rb-envfile export ID) && eval \"$text\"
A value is never an argument of rb or of a program it starts: set reads stdin (one trailing
newline dropped) and hands it to the AWS CLI on the CLI's stdin (file:///dev/stdin): no file, no
argument.
An unknown secret or version is exit 1, nothing changed; an exit 3 names the version to go back
to.";

/// Roll secrets back by version; values never on a command line, never printed unless --reveal.
#[derive(Debug, Parser)]
#[command(name = "rb-secret", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// aws, vault or env [default: `[secrets] backend` in rollback.toml, else aws]
    #[arg(long, global = true, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Where the project and its backups are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The secrets under the prefix: names and dates only (a `secret` document)
    List,
    /// A secret's versions: id, created, stages, which is current. Never a value
    Versions {
        /// The secret's name, without the prefix (DB_PASSWORD)
        name: String,
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
    },
    /// Make an earlier version current; prints `before` and `after` (`--to <before>` undoes it)
    Rollback {
        /// The secret's name, without the prefix
        name: String,
        /// A version id (aws), number (vault) or env backup id (env), or `previous`
        #[arg(long, value_name = "VERSION|previous", default_value = "previous")]
        to: String,
        /// Print what would change; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Say on stderr, first, the current version before → after (ids, stages, dates; never
        /// a value)
        #[arg(long)]
        diff: bool,
    },
    /// Store a new value, read from stdin (one trailing newline dropped) or --from-file
    Set {
        /// The secret's name, without the prefix
        name: String,
        /// Read the value from this file (as it is) instead of stdin
        #[arg(long, value_name = "FILE")]
        from_file: Option<std::path::PathBuf>,
    },
    /// A version's value, masked unless --reveal
    Get {
        /// The secret's name, without the prefix
        name: String,
        /// A version [default: the current one]
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Print the value
        #[arg(long)]
        reveal: bool,
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
