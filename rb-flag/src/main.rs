//! `rb-flag`: see `rb-flag --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-flag", rb_flag::run)
}
