//! `rb-migrate`: see `rb-migrate --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-migrate", rb_migrate::run)
}
