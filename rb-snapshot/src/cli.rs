//! The command line of `rb-snapshot`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # back up the `config` set (settings, nginx, compose, deploy)
  rb-snapshot
  # back up what nginx reads and nginx/ssl/, keep the document
  rb-snapshot nginx > before.json
  rb-snapshot --name test_config core/config/settings/development.py
  # every config snapshot, oldest first
  rb-snapshot list config
  # re-hash the newest snapshot
  rb-snapshot verify latest
  # what changed between two snapshots, and since the newest
  rb-snapshot diff config_20251013_120000 latest
  rb-snapshot diff latest --format table
  # what keeping 10 of each set would remove
  rb-snapshot prune --keep 10 --dry-run
  # what would a restore of it change? (nothing, right after)
  rb-snapshot | rb-restore --dry-run

Sets come from rollback.toml ([sets.NAME] paths = [...], exclude = [\"logs/\", \"*.pid\"])
over the built-in config, nginx, compose, feature_flags; what a set excludes is never
snapshotted, and a restore of the snapshot never modifies or removes it.
Snapshots go to backups/<set>_<YYYYMMDD_HHMMSS>/; `backups/latest` points to the newest.
Exit codes: 0 done, 1 failed (nothing changed), 2 bad usage, 3 an interrupted restore is
pending (rb-restore --resume or --abort), or taken/pruned but stdout failed, 4 another rollback
holds the lock.";

/// Back up a set of project files into the store (backups/), hashed and complete.
///
/// Files keep their project-relative places, modes, mtimes; symlinks stay links; empty
/// folders are kept. The snapshot is built under a temporary name and appears only when it is
/// whole. Its document (the manifest) is printed on stdout; a listed path that does not exist
/// is reported in it as `missing`.
#[derive(Debug, Parser)]
#[command(name = "rb-snapshot", version, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do other than taking a snapshot.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The set to back up (default: config); with --name, the paths of an ad-hoc set
    #[arg(value_name = "SET | PATH")]
    pub args: Vec<String>,
    /// Back up the PATHs given as an ad-hoc set called NAME (its ids are `NAME_<time>`)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Print the document of the snapshot it would take (without hashes), write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Copy every file, even those unchanged since the set's previous snapshot (which are
    /// otherwise hard-linked from it, as `rsync --link-dest` does)
    #[arg(long)]
    pub no_link: bool,
    /// Where the project and its backups are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the snapshots in the store, oldest first: one `snapshot` document each
    List {
        /// Only the snapshots of this set
        #[arg(value_name = "SET")]
        set: Option<String>,
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
    },
    /// Remove old snapshots: keep the newest N of each set (never the one `latest` points to,
    /// never one an interrupted restore needs; the old scripts' backups are left alone). Files
    /// an earlier prune could not delete (in backups/.rb/tmp/, blocking nothing) are deleted
    /// first; any that still cannot be is exit 3
    Prune {
        /// How many of each set to keep
        #[arg(long, value_name = "N")]
        keep: usize,
        /// Only this set (`undo` for the undo snapshots)
        #[arg(value_name = "SET")]
        set: Option<String>,
        /// Print what would be removed; remove nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// What changed from snapshot A to snapshot B, or to the live files without B: one
    /// `snapshot-diff` document listing the paths added, removed, modified (content) and
    /// changed in mode, owner or mtime only (`meta`). Against the live files it says exactly
    /// what `rb-restore A` would put back. Exit 0 whether or not anything differs
    Diff {
        /// The older side: a snapshot id, or `latest`
        #[arg(value_name = "A")]
        from: String,
        /// The newer side: a snapshot id, or `latest` [default: the live files]
        #[arg(value_name = "B")]
        to: Option<String>,
        /// With `latest`: the newest snapshot of this set
        #[arg(long, value_name = "SET")]
        set: Option<String>,
        /// Against the live files: trust size and mtime instead of comparing every file's
        /// SHA-256 (the document then says `verified: false`)
        #[arg(long)]
        quick: bool,
        /// `table` (one changed path a line: + added, - removed, M content, m mode/owner/mtime
        /// only), `json` (the document), or `auto`: a table on a terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
    },
    /// Re-hash every file of a snapshot; exit 1 naming every damaged or missing file (or
    /// `no snapshot ID` when a prune removed it meanwhile)
    Verify {
        /// A snapshot id, or `latest`
        #[arg(value_name = "ID|latest")]
        id: String,
        /// With `latest`: the newest snapshot of this set
        #[arg(long, value_name = "SET")]
        set: Option<String>,
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
