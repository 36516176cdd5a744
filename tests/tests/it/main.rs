//! Integration tests: the built rb binaries against projects in temporary folders.
//! One module per tool; the harness is `rb_tests` (tests/src/lib.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

mod bad_input;
mod changes;
mod compat;
mod crash;
mod dedup;
// `make deb`: the rb package's files, where cargo-deb is installed (scripts/deps.sh deb).
mod deb;
mod deploy;
mod docker;
mod emergency;
mod envfile;
mod exact;
mod flags;
mod format;
mod full;
mod hang;
// The exit codes in every --help, docs/design.md and the README, from rb_common::exit.
mod help;
mod install;
mod keep;
mod legacy;
mod migrate;
mod migrate_pg;
mod nginx;
mod odd;
mod readme;
mod restore;
mod review;
mod secret;
mod signals;
mod snapshot;
mod truth;
