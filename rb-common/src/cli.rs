//! The one way in and out of every rb tool: parse, run, print the error, return the code.
//!
//! `main.rs` of each tool is one call to [`main`]. Help and version go to stdout with exit 0;
//! any other argument error is exit 2. An error is printed once, on one line, as
//! `rb-restore: error: …`, preceded by its detail lines and followed by its hints. Warnings
//! and progress go to stderr with the tool's name; stdout carries documents only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::config::Config;
use crate::doc::Out;
use crate::error::{Context, Error, Result};
use crate::store::{self, Store};

pub use crate::ui::{count, note, tool, warn};

/// Prints an error the one way every rb error is printed: details, then one error line, then hints. An error
/// without a message ([`crate::error::quiet`]) prints nothing: its exit code is the answer.
pub fn report(e: &Error) {
    let tool = tool();
    if e.message().is_empty() && e.detail_lines().is_empty() {
        return;
    }
    for line in e.detail_lines() {
        eprintln!("{tool}: {line}");
    }
    eprintln!("{tool}: error: {}", e.message());
    for hint in e.hints() {
        eprintln!("{tool}: hint: {hint}");
    }
}

/// Parses the command line as `C`, runs `run`, prints any error, and returns the exit code.
pub fn main<C: Parser>(tool: &'static str, run: fn(C, &mut Out) -> Result<()>) -> ExitCode {
    main_with(tool, run, |_| 2)
}

/// [`main`], with the exit code of a bad command line chosen from the arguments
/// (`rb-envfile exec` exits 125 for its own errors, as env(1) does).
pub fn main_with<C: Parser>(
    tool: &'static str,
    run: fn(C, &mut Out) -> Result<()>,
    usage_code: fn(&[std::ffi::OsString]) -> u8,
) -> ExitCode {
    crate::ui::set_tool(tool);
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's message, said the way every rb error is: `rb-x: error: …` first.
            let text = e.render().to_string();
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let first = lines.next().unwrap_or_default();
            eprintln!("{tool}: error: {}", first.strip_prefix("error: ").unwrap_or(first));
            for line in lines {
                eprintln!("{line}");
            }
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            return ExitCode::from(usage_code(&args));
        }
        Err(e) => {
            // --help and --version: on stdout, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let mut out = Out::stdout();
    match run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(e.kind().code())
        }
    }
}

/// Where the project and its backups are: the flags every store-using tool shares.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The project root; every path in a snapshot is relative to it [default: the current folder]
    #[arg(long, global = true, value_name = "DIR", env = "RB_ROOT")]
    pub root: Option<PathBuf>,
    /// The backups folder [default: ROOT/backups]
    #[arg(long, global = true, value_name = "DIR", env = "RB_STORE")]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    /// Opens the store and reads `rollback.toml`. The root must exist; the store need not
    /// (it is created by the first change).
    pub fn open(&self) -> Result<(Store, Config)> {
        let cwd = std::env::current_dir().ctx(|| "reading the current folder")?;
        let root = match &self.root {
            Some(r) => cwd.join(r),
            None => cwd.clone(),
        };
        if !root.is_dir() {
            return Err(crate::error::usage(format!("the project root {} is not a folder", root.display())));
        }
        let root = root.canonicalize().ctx(|| format!("resolving {}", root.display()))?;
        let dir = match &self.store {
            Some(s) => cwd.join(s),
            None => root.join(store::DEFAULT_DIR),
        };
        let config = Config::load(&root)?;
        let store = Store::new(root, dir, tool());
        store.check_root()?;
        Ok((store, config))
    }
}
