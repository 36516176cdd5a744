//! The command line of `rb-deploy`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # what runs now (compose file and images, ECS revision, Render deploy)
  rb-deploy status > before.json
  # what one could go back to, newest first
  rb-deploy history --target ecs
  # the plan: which revision, resolved and checked
  rb-deploy rollback --target ecs --dry-run
  # previous revision; waits until stable, then the health check
  rb-deploy rollback --target ecs
  rb-deploy rollback --target docker --to compose_20251013_120000
  # back to what `status` said
  rb-deploy restore < before.json
  compat/deployment_rollback.sh aws helpdesk-task:41

Targets ([deploy] in rollback.toml):
  docker  the compose files from a snapshot (set `compose`, or the old docker-compose_<time>.yml):
          checked with `compose config --quiet` before anything stops, then `up -d` (`down` first
          only with --recreate), waited for until every service runs (and is healthy); if not, the
          previous files go back and `up -d` again. compose = [\"docker\", \"compose\"] or
          [\"docker-compose\"] (unset: whichever answers `version`); project = compose's -p.
          `status` lists each container (service, image and image id, state, health) as the
          engine says, and what differs from the file on disk.
  ecs     a task definition revision of the family (cluster, service, family; aws = [\"aws\", …]):
          update-service, then describe-services polled until stable.
  render  Render's API (render_service, render_api, the key in the variable render_token_env names):
          POST …/rollback, then the new deploy polled until live.
Every rollback ends with the health check ([health] url, timeout_s, interval_s). Each compose
and aws command runs within [exec] timeout_s (default 120 s); then it and its group are killed.
Exit 0 means done, stable and healthy; an exit 3 (changed but not stable or healthy, or done
but stdout failed) says how to undo it.";

/// Deployment rollbacks: validated first, waited for, health-checked, undoable.
#[derive(Debug, Parser)]
#[command(name = "rb-deploy", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// docker, ecs or render [default: `[deploy] target` in rollback.toml, else docker]
    #[arg(long, global = true, value_name = "TARGET")]
    pub target: Option<String>,
    /// Seconds to wait for the deployment to become stable [default: `[deploy] timeout_s`]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Where the project and its backups are.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// What runs now: a `deploy-state` document
    Status,
    /// The revisions one could go back to, newest first
    History {
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
    },
    /// Go back to a revision: checked first, waited for, health-checked
    Rollback {
        /// A revision: compose snapshot id (docker), family:N (ecs), deploy id (render), or `previous`
        #[arg(long, value_name = "REV|previous", default_value = "previous")]
        to: String,
        /// docker: `down` before `up -d` (otherwise compose recreates only what changed)
        #[arg(long)]
        recreate: bool,
        /// Print the plan; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Say on stderr, first, what runs before → after (revisions and what they are)
        #[arg(long)]
        diff: bool,
    },
    /// Bring the target back to a `deploy-state` document on stdin (from status, or a rollback's `before`)
    Restore {
        /// Print the plan; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Say on stderr, first, what runs before → after (revisions and what they are)
        #[arg(long)]
        diff: bool,
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
