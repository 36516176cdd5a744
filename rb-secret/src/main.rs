//! `rb-secret`: see `rb-secret --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-secret", rb_secret::run)
}
