//! `rb-emergency`: see `rb-emergency --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-emergency", rb_emergency::run)
}
