//! The command line of `rb-snapshot`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # back up the `config` set (settings, nginx, compose, deploy)
  rb-snapshot
  # back up what nginx reads and nginx/ssl/, keep the document
  rb-snapshot nginx > before.json
  rb-snapshot --message 'before 2.4 deploy'
  # an ad-hoc snapshot (never moves `latest`)
  rb-snapshot --name test_config core/config/settings/development.py
  # mark one good: `latest-good` names the newest so tagged, prune keeps it
  rb-snapshot tag config_20251013_120000 good
  # every config snapshot, oldest first
  rb-snapshot list config
  # re-hash the newest snapshot
  rb-snapshot verify latest
  # what changed between two snapshots, and since the newest
  rb-snapshot diff config_20251013_120000 latest
  rb-snapshot diff latest --format table
  # what keeping 10 of each set (and a week's) would remove and free
  rb-snapshot prune --keep 10 --keep-within 7d --dry-run
  # what would a restore of it change? (nothing, right after)
  rb-snapshot | rb-restore --dry-run

Sets come from rollback.toml ([sets.NAME] paths = [...], exclude = [\"logs/\", \"*.pid\"])
over the built-in config, nginx, compose, feature_flags; what a set excludes is never
snapshotted, and a restore of the snapshot never modifies or removes it.
Snapshots go to backups/<set>_<YYYYMMDD_HHMMSS>/; `backups/latest` points to the newest
(not an ad-hoc --name one); `latest-good` is the newest tagged good.
While an interrupted restore or migration rollback is pending, taking, tagging or pruning
exits 3 (the error says how to finish it: rb-restore --resume or --abort, say).";

/// Back up a set of project files into the store (backups/), hashed and complete.
///
/// Files keep their project-relative places, modes, mtimes; symlinks stay links; empty
/// folders are kept. The snapshot is built under a temporary name and appears only when it is
/// whole. Its `snapshot` document is printed on stdout: a summary (id, set, counts, missing,
/// message, tags; `--manifest` prints the whole manifest the store keeps), which rb-restore
/// takes on stdin. A listed path that does not exist is reported in it as `missing`.
#[derive(Debug, Parser)]
#[command(name = "rb-snapshot", version, after_help = rb_common::exit::after_help(AFTER_HELP), args_conflicts_with_subcommands = true)]
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
    /// Why it is taken ("before 2.4 deploy"), kept in the manifest and shown by `list`
    #[arg(long, short, value_name = "TEXT")]
    pub message: Option<String>,
    /// Print the document of the snapshot it would take (without hashes), write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Copy every file, even those unchanged since the set's previous snapshot (which are
    /// otherwise hard-linked from it, as `rsync --link-dest` does)
    #[arg(long)]
    pub no_link: bool,
    /// Print the whole manifest (every entry, with its hash) instead of the summary
    #[arg(long)]
    pub manifest: bool,
    /// Where the project and its backups are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the snapshots in the store, oldest first: one `snapshot` summary document each
    List {
        /// Only the snapshots of this set
        #[arg(value_name = "SET")]
        set: Option<String>,
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
        /// Print each snapshot's whole manifest (every entry) instead of its summary
        #[arg(long)]
        manifest: bool,
    },
    /// Remove old snapshots and old files rb wrote: keep the newest N of each set and of each
    /// kind of file (database backups db_*, env_* files with rb's header, flags_*, report_*,
    /// migration_*), and those younger than --keep-within. Never removed: the snapshot
    /// `latest` points to, a tagged snapshot, what a pending restore or migration journal
    /// refers to, the old scripts' backups (env_* without `# rb-envfile 1` among them). Says
    /// how many bytes it frees. Files an earlier prune could not delete (in backups/.rb/tmp/,
    /// blocking nothing) are deleted first; any that still cannot be is exit 3
    #[command(group = clap::ArgGroup::new("rule").required(true).multiple(true))]
    Prune {
        /// How many of each set to keep
        #[arg(long, value_name = "N", group = "rule")]
        keep: Option<usize>,
        /// Also keep everything younger than DURATION (30m, 12h, 7d, 2w)
        #[arg(long, value_name = "DURATION", group = "rule")]
        keep_within: Option<String>,
        /// Only this set or kind of file (`undo` for the undo snapshots, `db`, `env`, …)
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
    /// Add tags to a snapshot (or remove them with --remove): kept in backups/ID/.rb/tags,
    /// never in the manifest. A tagged snapshot is never pruned; `latest-good` names the
    /// newest tagged `good`. Prints the snapshot's document with its tags
    Tag {
        /// A snapshot id, `latest` or `latest-good`
        #[arg(value_name = "ID")]
        id: String,
        /// The tags (letters, digits, `.`, `_`, `-`), such as good
        #[arg(value_name = "TAG", required = true)]
        tags: Vec<String>,
        /// Remove these tags instead of adding them
        #[arg(long)]
        remove: bool,
    },
    /// Re-hash every file of a snapshot; exit 1 naming every damaged or missing file (or
    /// `no snapshot ID` when a prune removed it meanwhile)
    Verify {
        /// A snapshot id, `latest`, or `latest-good` (the newest tagged good)
        #[arg(value_name = "ID|latest|latest-good")]
        id: String,
        /// With `latest` or `latest-good`: the newest of this set
        #[arg(long, value_name = "SET")]
        set: Option<String>,
        /// Print the whole manifest (every entry) instead of the summary
        #[arg(long)]
        manifest: bool,
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
