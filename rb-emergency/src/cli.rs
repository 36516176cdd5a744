//! The command line of `rb-emergency`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # the plan: which snapshot (verified), what stops, what starts
  rb-emergency run --dry-run
  # show the plan, ask, then run it (a terminal is required to ask)
  rb-emergency run
  rb-emergency run --yes --from config_20251013_120000
  # services, health, the store, rollback counts from the audit log
  rb-emergency status
  # rehearse every rollback procedure on a throw-away copy
  rb-emergency drill --report
  # the old script's way (no prompt), with the real outcome's exit code
  compat/emergency_rollback.sh

The plan, in order: verify the snapshot's hashes and test what will be restored on a staged
copy (its nginx files with `nginx -t -p STAGING -c STAGING/nginx/nginx.conf`, its compose files
with `compose --project-directory ROOT -f STAGED config --quiet`; --dry-run runs these too; a
refusal is exit 1 with nothing stopped); stop the services
([[emergency.services]] in rollback.toml, each with stop/start/status argv; default: the seed's
docker compose, nginx, redis, postgresql through systemctl), each checked with its status
command; restore through the engine (undo snapshot, journal, exact; nginx -t when [nginx] is
configured); start the services in reverse order, each checked; the health check ([health]);
the extra checks ([[emergency.checks]]); the notification (a webhook whose URL is in the
environment variable [emergency] webhook_env names). At the first failed step it puts the undo
back and restarts what it stopped (exit 1), or with --no-revert leaves things for a human (exit 3)
with each service's final state: running, stopped, or unknown when its status command fails.
Every command runs within [exec] timeout_s (default 120 s); then it and its group are killed.
Exit 0 means done and healthy; a run that fails is exit 1 with everything put back, or 3 when
that fails too or with --no-revert; done but stdout failed is 3, the report in
backups/report_<time>.json.";

/// The whole-stack emergency rollback: a plan that is shown, verified step by step, and honest.
#[derive(Debug, Parser)]
#[command(name = "rb-emergency", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
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
    /// Roll the whole stack back to a snapshot: a `report` document, one entry per step
    Run {
        /// The snapshot: an id, `latest-good` (the newest of the set tagged good) [default:
        /// the newest of the `config` set]
        #[arg(long, value_name = "ID")]
        from: Option<String>,
        /// Run without asking (required when not on a terminal)
        #[arg(long)]
        yes: bool,
        /// Verify the snapshot and test its nginx and compose files on a staged copy, print the
        /// plan; change nothing, stop nothing
        #[arg(long)]
        dry_run: bool,
        /// Show on stderr, first, how each file of the snapshot would change (a unified diff;
        /// files that hold secrets by their hashes only)
        #[arg(long)]
        diff: bool,
        /// At a failed step, leave everything as it is for a human (exit 3) instead of putting
        /// it back
        #[arg(long)]
        no_revert: bool,
    },
    /// Rehearse each rollback procedure in a throw-away copy of the project (snapshot, change,
    /// roll back, verify exact): a `report` document, per test passed / failed / not-configured
    Drill {
        /// Only these (the seed's names: configuration_rollback, database_migration_rollback,
        /// environment_rollback, secrets_rollback, feature_flags_rollback, deployment_rollback,
        /// nginx_rollback)
        #[arg(long, value_name = "NAME")]
        test: Vec<String>,
        /// Also write the report to rollback_procedures_test_report.json (the seed's file)
        #[arg(long)]
        report: bool,
    },
    /// Services, health, the store (a pending restore, an interrupted migration rollback) and
    /// the rollbacks in the audit log: a `report` document
    Status {
        /// Count only events this recent (`90m`, `24h`, `7d`)
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
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
