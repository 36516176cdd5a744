//! The command line of `rb-migrate`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # every app, every migration, applied or not
  rb-migrate status
  # what rolling tickets back to 0002 would undo (runs nothing)
  rb-migrate plan tickets 0002
  # the same, run in a transaction that is rolled back
  rb-migrate plan customers 0001 --rehearse
  # one step back, the database backed up first
  rb-migrate rollback tickets previous > undo.json
  # to a migration (a unique prefix will do)
  rb-migrate rollback tickets 0002_ticket_priority
  # every migration of the app (drops its tables: say so)
  rb-migrate rollback features zero
  # roll forward to where that rollback started
  rb-migrate apply < undo.json
  # the seed's plain `manage.py migrate`
  rb-migrate apply --latest
  # put a database backup back (after backing up now)
  rb-migrate restore-db db_20251013_120000

All or nothing: on PostgreSQL and SQLite, when every step is atomic (Django's default), a
rollback runs the whole plan in one transaction, with the foreign keys checked before it
commits; a step that fails on the data (a reversed AlterField meeting a longer value, a unique
constraint meeting duplicates) is exit 1 with nothing changed, naming the migration, the
operation and the database's own error. A non-atomic step, or another engine, runs one
migration at a time: a failure half-way is exit 3 with the way back (--restore-on-failure puts
the backup back automatically, which also discards what the app wrote since).

Before anything runs, a rollback refuses a step that cannot be undone (--fake-irreversible
marks such steps unapplied without running them, never one that also changes the schema),
refuses other apps' dependent migrations unless --with-dependents, lists what the reversal
loses that `apply` will not bring back (tables and columns with rows in them, no-op reverses),
and backs the database up into the store: SQLite with its online backup (backups/db_<time>.sqlite3,
checked with PRAGMA integrity_check), PostgreSQL with pg_dump --format=custom or [django] backup
(backups/db_<time>.dump, checked with pg_restore --list against Django's database name), or not
at all with --no-backup. Credentials reach pg_dump and psql in PGPASSWORD, never argv.

A rollback is journaled (backups/.rb/migration.json) from its first step: if rb is killed, the
next command says where it stopped; rollback --resume finishes it, --abort goes back.
Django is reached as [django] in rollback.toml says (python, manage, settings, env, timeout_s,
lock_timeout_s); by default python (or python3) on PATH and ./manage.py. One Python process
serves the whole command, and it dies with rb. Each request to it, and a pg_dump, pg_restore or
psql of a backup, runs within [django] timeout_s (default 3600 s).
An exit 3 (partly migrated, or migrated but stdout failed) says how far it got and how to go
back.";

/// Django migration rollbacks: planned, refused when irreversible, backed up, undoable.
#[derive(Debug, Parser)]
#[command(name = "rb-migrate", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
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
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
    },
    /// Print the `migration-plan` of rolling APP back to TARGET: each step, its direction,
    /// whether it is irreversible. Changes nothing
    Plan {
        /// The app label (`tickets`)
        app: String,
        /// A migration name or unique prefix (`0002`), `zero`, or `previous`
        target: String,
        /// Also run the plan in a transaction that is rolled back, and say whether it would pass
        /// (`rehearsal`). It holds the tables' locks while it runs, as the rollback will
        #[arg(long)]
        rehearse: bool,
    },
    /// Roll APP back to TARGET: plan, refuse irreversible steps, back up the database, migrate,
    /// check. Prints a `migration-rollback` document whose `before` is where it started
    Rollback {
        /// The app label (`tickets`)
        #[arg(required_unless_present_any = ["resume", "abort"])]
        app: Option<String>,
        /// A migration name or unique prefix (`0002`), `zero` (every migration: drops the
        /// app's tables), or `previous` (one step back). Required: there is no default
        #[arg(required_unless_present_any = ["resume", "abort"])]
        target: Option<String>,
        /// Finish an interrupted rollback (its journal, backups/.rb/migration.json, says what)
        #[arg(long, conflicts_with_all = ["abort", "app", "target"])]
        resume: bool,
        /// Undo an interrupted rollback: roll forward to where it started
        #[arg(long, conflicts_with_all = ["app", "target"])]
        abort: bool,
        /// When a rollback that cannot run in one transaction fails half-way, put the backup
        /// back (exit 1). This also discards every row the app wrote since the backup
        #[arg(long, conflicts_with = "no_backup")]
        restore_on_failure: bool,
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
        /// Say on stderr, first, each app's position before → after and the steps between
        #[arg(long)]
        diff: bool,
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
    /// Put a database backup of the store back (`db_<time>`, as a rollback's `backup` names
    /// it), so that the database equals it: objects created since are dropped. The current
    /// database is backed up first; `restore-db` of that backup undoes this
    RestoreDb {
        /// The backup's id (`db_20251013_120000`)
        id: String,
        /// Print the document of what it would do; change nothing
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
