//! `rb-snapshot`: see `rb-snapshot --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-snapshot", rb_snapshot::run)
}
