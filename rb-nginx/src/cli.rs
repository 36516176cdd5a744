//! The command line of `rb-nginx`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # back up what nginx reads and nginx/ssl/ (the nginx set)
  rb-nginx snapshot
  # is the configuration on disk valid? (nginx -t)
  rb-nginx test
  # test, reload, and see the new workers start
  rb-nginx reload
  # what restoring the newest nginx snapshot would change
  rb-nginx restore --dry-run latest
  # restore it, test it, reload it, confirm — or put it back
  rb-nginx restore nginx_20251013_120000
  # nginx is down: restore and test the files only
  rb-nginx restore --no-reload latest

How nginx is reached is set in rollback.toml (rb appends -t, -T or -s reload):
  [nginx]
  command = [\"nginx\", \"-p\", \"/srv/helpdesk/nginx/\", \"-c\", \"nginx.conf\"]   # default [\"nginx\"]
  reload_timeout_s = 10
It must read this project's nginx/nginx.conf (checked with nginx -T, by content); the pid file
and error log are those its `pid` and `error_log` directives name (override: pid_file, error_log).

The nginx set is computed at snapshot time: nginx/nginx.conf, every file nginx -T shows in the
project (includes, e.g. mime.types and conf.d/*.conf, each pattern recorded as a glob so a
restore removes a file added since), the files ssl_certificate, ssl_certificate_key,
ssl_dhparam and auth_basic_user_file name, and nginx/ssl/; never the pid file, logs or temp
paths. When nginx -T fails, the includes are followed on disk; a restore follows what the
snapshot recorded. A file read outside the project is named in a warning. [sets.nginx] in
rollback.toml replaces the computed set.

A reload is confirmed when the master has started new workers and the old ones are gone or
shutting down: `nginx -s reload` exits 0 even when the master then rejects the configuration
(a `listen` on a port another process holds passes nginx -t and fails at reload) and keeps its
old workers. rb watches the master through /proc: for nginx in a container, use --no-reload.
Exit 0 means done and confirmed (after a reload: new workers run the new files); an exit 3 says
what runs and what is on disk.";

/// Restore nginx configuration that is tested, reloaded and confirmed — or put back.
///
/// Every command prints an `nginx` document: each step (restore, test, reload, revert) with
/// its verdict and nginx's own messages.
#[derive(Debug, Parser)]
#[command(name = "rb-nginx", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
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
    /// Back up the nginx set (nginx/nginx.conf, the files it includes and names, nginx/ssl/),
    /// as `rb-snapshot nginx`: prints a `snapshot` document
    Snapshot {
        /// Print the document of the snapshot it would take, write nothing
        #[arg(long)]
        dry_run: bool,
        /// Copy every file, even those unchanged since the previous nginx snapshot
        #[arg(long)]
        no_link: bool,
        /// Print the whole manifest (every entry) instead of the summary
        #[arg(long)]
        manifest: bool,
    },
    /// Test the configuration on disk with the configured `nginx -t`; exit 1 if it fails
    Test,
    /// Test, then reload, and confirm the master started workers with the new configuration
    Reload,
    /// Restore a snapshot, test it, reload and confirm; if any of it fails, put the files back
    /// (and reload them, if a reload was attempted)
    Restore {
        /// The snapshot: an id, `latest` (the newest nginx snapshot), `latest-good` (the
        /// newest nginx snapshot tagged good), or its folder in the store [default: a
        /// `snapshot` document on stdin]
        #[arg(value_name = "ID|latest|latest-good|PATH")]
        snapshot: Option<String>,
        /// Print what would be created, modified and removed; change nothing, run nothing
        #[arg(long)]
        dry_run: bool,
        /// Show each file's change as a unified diff on stderr, first (the key and anything
        /// under ssl/ only by its hashes)
        #[arg(long)]
        diff: bool,
        /// Restore and test the files, but do not reload (for an nginx that is not running)
        #[arg(long)]
        no_reload: bool,
        /// Accepted for old scripts; files are always compared by content (SHA-256)
        #[arg(long)]
        checksum: bool,
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
