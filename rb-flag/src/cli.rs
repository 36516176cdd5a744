//! The command line of `rb-flag`.

use clap::{Parser, Subcommand};
use rb_common::cli::StoreArgs;

const AFTER_HELP: &str = "\
Examples:
  # every flag and its value (a `flags` document)
  rb-flag list
  # one flag; the document holds what it was
  rb-flag set new_dashboard inactive > undo.json
  # several, all or nothing
  rb-flag set a on b off
  # put back what a `set` replaced (prints the values it replaces)
  rb-flag restore < undo.json
  # back up core/config/settings/feature_flags.py (the feature_flags set)
  rb-flag snapshot --file
  # put that file back through the restore engine
  rb-flag restore --file latest
  # the old script's way
  compat/feature_flags_rollback.sh NAME VALUE

Backends ([flags] in rollback.toml):
  backend = \"django\" (default): a fixed Python program run by `manage.py shell`, the request as
  JSON on stdin: names and values are data, never code, never arguments. model =
  \"apps.features.models.Feature\", name_field = \"name\", value_field = \"status\".
  backend = \"http\": POST {url}/api/v1/features/flags/NAME/update/ with {\"value\": …} and
  `Authorization: Bearer` from the environment variable token_env names (default RB_FLAGS_TOKEN);
  a value that parses as JSON (false, 3) is sent as that JSON value, anything else as a string.

Values (django) are typed by the value field's type:
  BooleanField            true/false, on/off, yes/no, 1/0, in any case; documents say true/false
  IntegerField, Small-, Big-, Positive-, PositiveSmall-, PositiveBigIntegerField
                          whole numbers in the type's range (-5, 25); documents say 25
  CharField, TextField    any text, as given
  null                    NULL, only where the field has null=True (elsewhere a text field
                          stores the word null and the others refuse it)
  Any other type (DateTimeField, DecimalField…) is refused, as is a value the field cannot hold
  (exit 2, nothing changed). `restore` reads a document's strings by the same rules, so the
  older flags_*.json backups (\"True\", \"25\") still restore into a BooleanField or IntegerField.

An unknown flag is exit 1, nothing changed; an exit 3 says which flags changed, and where the
undo is in the store.";

/// Feature flags set all-or-nothing, as data never code, with the values they replace printed.
#[derive(Debug, Parser)]
#[command(name = "rb-flag", version, after_help = rb_common::exit::after_help(AFTER_HELP))]
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
    /// Print a `flags` document: every flag (or those named) and its value
    List {
        /// Only these flags (an unknown one is an error)
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// `table` (aligned columns), `json` (one document a line), or `auto`: a table on a
        /// terminal, JSON on a pipe
        #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
        format: rb_common::table::Format,
    },
    /// Set flags, all or nothing: NAME VALUE [NAME VALUE…]. Prints the values they had (the undo)
    Set {
        /// NAME VALUE pairs; each VALUE is read by the flag's type (see below)
        #[arg(value_name = "NAME VALUE", required = true, num_args = 2.., allow_negative_numbers = true)]
        pairs: Vec<String>,
        /// Create a flag that does not exist (otherwise an unknown flag is an error)
        #[arg(long)]
        create: bool,
        /// Print what would be replaced; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Say on stderr each flag's value before → after (with --dry-run: the value given)
        #[arg(long)]
        diff: bool,
    },
    /// Set every flag of a `flags` document on stdin (an undo from `set`); prints the values it replaces.
    /// With --file: restore the feature_flags settings file from a snapshot instead
    Restore {
        /// Restore the feature_flags file set from this snapshot (an id, `latest`,
        /// `latest-good`, or the old scripts' `feature_flags_<time>.py` backup)
        #[arg(long, value_name = "ID|latest|latest-good")]
        file: Option<String>,
        /// Print what would be replaced; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Back up the feature_flags settings file (the `feature_flags` set), as `rb-snapshot feature_flags`
    Snapshot {
        /// The settings file (the only kind of flags snapshot there is)
        #[arg(long, required = true)]
        file: bool,
        /// Print the document of the snapshot it would take; write nothing
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
