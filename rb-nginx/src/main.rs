//! `rb-nginx`: see `rb-nginx --help` and the crate's library docs.

fn main() -> std::process::ExitCode {
    rb_common::cli::main("rb-nginx", rb_nginx::run)
}
