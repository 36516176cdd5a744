//! `rb-envfile`: see `rb-envfile --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main_with("rb-envfile", rb_envfile::run, rb_envfile::usage_code)
}
