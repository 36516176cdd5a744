//! `rb-restore`: put a snapshot back. The engine is `rb_common::restore` and the behaviour
//! around it `rb_common::put_back`; this crate finds the snapshot the user means (argument or
//! stdin document) and turns the command line into options.

pub mod cli;

use rb_common::doc::Out;
use rb_common::error::Result;
use rb_common::put_back::{self, RestoreOptions};
use rb_common::restore;

pub use cli::Cli;

/// Runs `rb-restore` with parsed arguments, writing the `restore` document to `out`.
pub fn run(cli: Cli, out: &mut Out) -> Result<()> {
    let (store, config) = cli.store.open()?;
    if cli.resume || cli.abort.is_some() {
        let lock = store.lock_even_if_pending()?;
        let doc = match &cli.abort {
            None => restore::resume(&store, &lock, cli.dry_run)?,
            Some(undo) => restore::abort(&store, &lock, undo.as_deref(), cli.dry_run)?,
        };
        put_back::summary(&doc);
        return put_back::emit_after_change(out, &doc);
    }
    let snap = match &cli.snapshot {
        // The entries stay in the manifest file, read as the restore goes.
        Some(arg) => store.resolve_as(arg, cli.set.as_deref(), rb_common::store::Load::Head)?,
        None => restore::from_stdin(&store)?,
    };
    let opts = RestoreOptions {
        dry_run: cli.dry_run,
        diff: cli.diff,
        only: cli.only,
        keep_extra: cli.keep_extra,
        quick: cli.quick,
    };
    put_back::restore_snapshot(&store, &config, snap, cli.set.as_deref(), &opts, out)
}
