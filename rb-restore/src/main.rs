//! `rb-restore`: see `rb-restore --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-restore", rb_restore::run)
}
