//! The command line of `rb-restore`.

use clap::Parser;
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # put that snapshot back (the id config_rollback.sh took)
  rb-restore config_20251013_120000
  # the newest nginx snapshot
  rb-restore latest --set nginx
  # only one file and one folder of it
  rb-restore latest --only nginx/nginx.conf nginx/ssl/
  # what would change right now? (nothing)
  rb-snapshot | rb-restore --dry-run
  rb-restore --dry-run config_20251013_120000
  # a snapshot document from rb-snapshot
  rb-restore < before.json
  # undo a restore (its document names the undo)
  rb-restore undo_20251013_120501
  # the same, from the restore document
  rb-restore < restore.json
  # finish a restore that was interrupted (killed, power loss)
  rb-restore --resume
  # or put back what was there before it
  rb-restore --abort
  # the same when the journal is damaged (the error names the undo)
  rb-restore --abort undo_20251013_120501

A restore is exact: files come back with their content, owner (as root), mode, ACLs, extended
attributes and capabilities (as root), then mtime; hard links as links; sparse files with their
holes; files added since to a snapshotted folder, or matching a snapshotted glob, are removed
(kept in the undo snapshot), but never what the set's exclude globs match (recorded in the
manifest: logs/, *.pid), which is neither modified nor removed. Copies in the store never
carry set-id bits or capabilities (the manifest does); run as root, a store another user can
write is refused (exit 2), and so is a journal or manifest whose paths leave the root.
What differs is decided by content (each live file's SHA-256 against the manifest; --quick
trusts size and mtime instead). Every file to write is checked against its SHA-256 before
anything changes; what it replaces is kept in backups/undo_<time>/ first; a set's verify
command from rollback.toml runs after, and if it fails, or outlives [exec] timeout_s (default
120 s; then it and its process group are killed), everything is put back. A restore is
journaled in backups/.rb/journal.json: killed at any moment, no file is torn, and until
--resume or --abort every other change refuses (exit 3).";

/// Put a snapshot back, exactly: verified first, what it replaces kept, atomic per file.
///
/// The snapshot is named by id, `latest`, `latest-good` (the newest tagged good), the path of
/// its folder in the store, or a document
/// on stdin (`snapshot` from rb-snapshot; `restore` from rb-restore, to undo that restore).
/// Prints a `restore` document naming the undo snapshot and the paths created, modified and
/// removed.
#[derive(Debug, Parser)]
#[command(name = "rb-restore", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
pub struct Cli {
    /// The snapshot: an id, `latest`, `latest-good` (the newest tagged good), or its folder
    /// in the store [default: a document on stdin]
    #[arg(value_name = "ID|latest|latest-good|PATH")]
    pub snapshot: Option<String>,
    /// With `latest` or `latest-good`: the newest (tagged good) snapshot of this set
    #[arg(long, value_name = "SET")]
    pub set: Option<String>,
    /// Print what would be created, modified and removed; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Show each file's change as a unified diff on stderr, first (with --dry-run: only that).
    /// Files that hold secrets (mode 0600 or 0400, under ssl/, `[diff] mask` globs) show only
    /// their hashes
    #[arg(long)]
    pub diff: bool,
    /// Restore only these files or folders of the set (as restic's --include): nothing else
    /// is compared, checked or changed, so a damaged file elsewhere in the snapshot does not
    /// block them. A path the set does not have is refused (exit 2). Give the snapshot first
    #[arg(long, value_name = "PATH", num_args = 1.., value_delimiter = None)]
    pub only: Vec<String>,
    /// Merge, as `cp -r` did: remove nothing the snapshot does not have
    #[arg(long)]
    pub keep_extra: bool,
    /// Trust size and mtime (rsync's quick check) instead of comparing every live file's
    /// SHA-256 with the snapshot: for huge trees; the document then says `verified: false`
    #[arg(long, conflicts_with = "checksum")]
    pub quick: bool,
    /// Compare files by content (SHA-256): the default; accepted so old scripts keep working
    #[arg(long)]
    pub checksum: bool,
    /// Finish an interrupted restore from its journal (exactly as planned)
    #[arg(long, conflicts_with_all = ["snapshot", "set", "keep_extra", "quick", "checksum", "abort", "only"])]
    pub resume: bool,
    /// Undo an interrupted restore: put back what was there before it, exactly. With a journal
    /// that cannot be read, name the undo to put back (the error names the newest)
    #[arg(
        long,
        value_name = "UNDO_ID",
        num_args = 0..=1,
        conflicts_with_all = ["snapshot", "set", "keep_extra", "quick", "checksum", "only"]
    )]
    pub abort: Option<Option<String>>,
    /// Where the project and its backups are.
    #[command(flatten)]
    pub store: StoreArgs,
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
