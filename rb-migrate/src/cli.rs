//! The command line of `rb-migrate`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  rb-migrate status                       every app, every migration, applied or not
  rb-migrate plan tickets 0002            what rolling tickets back to 0002 would undo (runs nothing)
  rb-migrate rollback tickets previous > undo.json    one step back, the database backed up first
  rb-migrate rollback tickets 0002_ticket_priority    to a migration (a unique prefix will do)
  rb-migrate rollback features zero       every migration of the app (drops its tables: say so)
  rb-migrate apply < undo.json            roll forward to where that rollback started
  rb-migrate apply --latest               the seed's plain `manage.py migrate`

A rollback runs `manage.py migrate APP TARGET --plan` first and refuses, with nothing run, when a
step cannot be undone (Django would find out half-way, with the steps before it already undone);
--fake-irreversible marks such steps unapplied without running them (never one that also changes
the schema). Other apps' migrations that depend on the ones undone are refused unless
--with-dependents. Before it runs anything it
backs up the database into the store: SQLite with SQLite's online backup
(backups/db_<time>.sqlite3), other engines with [django] backup = [\"pg_dump\", …] (stdout to
backups/db_<time>.dump), or not at all with --no-backup.
Django is reached as [django] in rollback.toml says (python, manage, settings, env); by default
python (or python3) on PATH and ./manage.py.
Exit codes: 0 done and verified, 1 failed (nothing changed), 2 bad usage, 3 partly migrated (the
error says how far, and how to go back), 4 another rollback holds the lock.";

/// Django migration rollbacks: planned, refused when irreversible, backed up, undoable.
#[derive(Debug, Parser)]
#[command(name = "rb-migrate", version, after_help = AFTER_HELP)]
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
    /// Print a `migration-state` document: every app (or those named), every migration, applied or not
    Status {
        /// Only these apps
        #[arg(value_name = "APP")]
        apps: Vec<String>,
    },
    /// Print the `migration-plan` of rolling APP back to TARGET: each step, its direction,
    /// whether it is irreversible. Changes nothing
    Plan {
        /// The app label (`tickets`)
        app: String,
        /// A migration name or unique prefix (`0002`), `zero`, or `previous`
        target: String,
    },
    /// Roll APP back to TARGET: plan, refuse irreversible steps, back up the database, migrate,
    /// check. Prints a `migration-rollback` document whose `before` is where it started
    Rollback {
        /// The app label (`tickets`)
        app: String,
        /// A migration name or unique prefix (`0002`), `zero` (every migration: drops the
        /// app's tables), or `previous` (one step back). Required: there is no default
        target: String,
        /// Mark irreversible steps unapplied without running them (`migrate --fake`); the
        /// others run for real, in plan order
        #[arg(long)]
        fake_irreversible: bool,
        /// Also undo other apps' migrations that depend on the ones undone (otherwise refused,
        /// naming them)
        #[arg(long)]
        with_dependents: bool,
        /// Do not back up the database first (needed for an engine without `[django] backup`)
        #[arg(long)]
        no_backup: bool,
        /// Print the document of what it would do; run nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Migrate each app of a `migration-state` (or a `migration-rollback`'s `before`) on
    /// stdin back to its last applied migration there: the roll-forward
    Apply {
        /// Apply every migration instead (`manage.py migrate`), reading nothing
        #[arg(long)]
        latest: bool,
        /// Do not back up the database first
        #[arg(long)]
        no_backup: bool,
        /// Print the document of what it would do; run nothing
        #[arg(long)]
        dry_run: bool,
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
