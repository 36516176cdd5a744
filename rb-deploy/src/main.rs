//! `rb-deploy`: see `rb-deploy --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-deploy", rb_deploy::run)
}
