//! Integration tests: the built rb binaries against projects in temporary folders.
//! One module per tool; the harness is `rb_tests` (tests/src/lib.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

mod bad_input; // every bad input: its exit code, a one-line error, the tree unchanged
mod changes; // `rb-snapshot diff`, `rb-restore --only` and a set's `exclude` globs
mod compat; // compat/config_rollback.sh: the seed's arguments and messages over rb-restore
mod deb; // `make deb`: the rb package's files, where cargo-deb is installed (scripts/deps.sh deb)
mod deploy; // rb-deploy: docker (stand-in), ecs (AWS CLI against moto) and render (stand-in API)
mod docker; // rb-deploy's docker target against the real Docker Engine and docker-compose
mod emergency; // rb-emergency against a real Django + nginx stack on loopback, with a webhook
mod envfile; // rb-envfile: capture, show, diff, restore and exec through real bash
mod exact; // exact restores: set-id bits, capabilities, ACLs, xattrs, hard links, sparse files
mod flags; // rb-flag: the django backend on real Django/SQLite and the http backend (stand-in)
mod format; // `--format table|json` of the listing commands
mod full; // a full store (ENOSPC) while writing an undo or a snapshot
mod hang; // external programs never hang a tool: timeouts, process groups, captured output
mod help; // the exit codes in every --help, docs/design.md and the README, from rb_common::exit
mod install; // `make install`: binaries, compat shims, man pages and completions
mod keep; // tags, messages, `latest-good`, ad-hoc snapshots and a prune of every file rb writes
mod layers; // which crate may depend on which; every shipped Python program compiles
mod legacy; // backups made by the seed's scripts, read in place as legacy snapshots
mod migrate; // rb-migrate against real Django and SQLite
mod migrate_pg; // rb-migrate against a real PostgreSQL
mod nginx; // rb-nginx against a real nginx on a loopback port
mod odd; // fifos, device nodes, sockets and names that are not UTF-8 in restored folders
mod readme; // the README's rollback.toml example parses into every tool's settings
mod restore; // rb-restore: round trips, dry run, undo, verify, lock, refusals, owners
mod restore_crash; // rb-restore stopped at every journal step and by kill -9; --resume/--abort
mod secret; // rb-secret: aws (AWS CLI against moto), vault (stand-in) and env backends
mod signals; // SIGINT/SIGTERM during a restore or a snapshot
mod snapshot; // rb-snapshot: layout, manifest, list, verify, sets, dedup, prune, a killed snapshot
mod truth; // a stdout that fails after a change is exit 3 naming the undo, for every tool
