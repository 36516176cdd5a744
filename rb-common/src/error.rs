//! The one error type of every rb tool, whose kinds are the exit codes of `docs/design.md`
//! (written once, with their meanings, in [`crate::exit`]).
//!
//! An rb error is a sentence for the person on call, not a backtrace: what failed, naming the
//! file, id or program, plus an optional hint of what to do next. Its [`Kind`] *is* the exit
//! code, and the numbers appear only in [`Kind::code`]. Context is added at the boundary where
//! the file or program is known ([`Context::ctx`]), so every message is printed once, on one
//! line, by `cli::main`.

use std::fmt;

/// What an error means for the state of the system, which is what the exit code tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Failed; nothing was changed, or the change was fully reverted (exit 1).
    Failed,
    /// Bad usage or bad input (arguments, JSON, paths); nothing was changed (exit 2).
    Usage,
    /// Failed and the state may be partly changed; the message says how to finish or undo (exit 3).
    Partial,
    /// Another rollback holds the store's lock (exit 4).
    Locked,
    /// A code of its own: `rb-envfile exec` fails with 125–127 as env(1) does, so that its
    /// command's codes pass through unchanged.
    Exit(u8),
}

impl Kind {
    /// The process exit code for this kind, as the exit-code table of `docs/design.md` gives it.
    pub fn code(self) -> u8 {
        match self {
            Kind::Failed => 1,
            Kind::Usage => 2,
            Kind::Partial => 3,
            Kind::Locked => 4,
            Kind::Exit(code) => code,
        }
    }
}

/// An exit code that is an answer, not an error (`rb-envfile diff --exit-code`: 1 when there
/// are differences, as `git diff --exit-code`): nothing is printed.
pub fn quiet(kind: Kind) -> Error {
    Error::new(kind, "")
}

/// An error with its kind (the exit code), a one-line message and optional hints.
#[derive(Debug, Clone)]
pub struct Error {
    kind: Kind,
    message: String,
    hints: Vec<String>,
    details: Vec<String>,
    /// The file system written to was full (`ENOSPC`, or the quota, `EDQUOT`).
    full: bool,
}

/// The result type of everything in rb.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), hints: Vec::new(), details: Vec::new(), full: false }
    }

    /// True when the error is a full file system (`ENOSPC`, `EDQUOT`) met on the way: the
    /// store's, when it happened while writing a snapshot.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Marks the error as a full file system (see [`Error::is_full`]).
    #[must_use]
    pub fn full(mut self) -> Self {
        self.full = true;
        self
    }

    /// Adds a hint: something the user can do about it, printed as `tool: hint: …`.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Adds detail lines printed before the error line (one per damaged file, say).
    #[must_use]
    pub fn details(mut self, details: Vec<String>) -> Self {
        self.details.extend(details);
        self
    }

    /// Changes the kind, keeping the message (a failure that turned out to be bad input).
    #[must_use]
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Prefixes the message with where it happened: `reading backups/x: <message>`.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind, i.e. the exit code.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The one-line message, without hints.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The hints, in the order they were added.
    pub fn hints(&self) -> &[String] {
        &self.hints
    }

    /// Lines that explain the error in detail, printed before it.
    pub fn detail_lines(&self) -> &[String] {
        &self.details
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Bad usage or bad input, nothing changed (exit 2).
pub fn usage(message: impl Into<String>) -> Error {
    Error::new(Kind::Usage, message)
}

/// Failed, nothing changed or fully reverted (exit 1).
pub fn failed(message: impl Into<String>) -> Error {
    Error::new(Kind::Failed, message)
}

/// Failed with the state possibly changed (exit 3); `how_to_finish` becomes the hint.
pub fn partial(message: impl Into<String>, how_to_finish: impl Into<String>) -> Error {
    Error::new(Kind::Partial, message).hint(how_to_finish)
}

/// Another process holds the lock (exit 4).
pub fn locked(message: impl Into<String>) -> Error {
    Error::new(Kind::Locked, message)
}

/// Adds context to foreign errors (I/O, JSON, TOML) and turns them into a [`Kind::Failed`]
/// error. Only for [`Foreign`] errors: an rb [`Error`] already has its kind (a Usage or
/// Partial error must not become Failed on its way up), so it takes [`ErrContext::within`],
/// and this does not compile:
///
/// ```compile_fail
/// use rb_common::error::{Context, usage};
/// let bad: rb_common::Result<()> = Err(usage("a path that leaves the root"));
/// let _ = bad.ctx(|| "reading the journal");
/// ```
pub trait Context<T> {
    /// `result.ctx(|| format!("reading {}", path.display()))`.
    fn ctx<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

/// An error of another library or of std, which [`Context::ctx`] turns into an rb error of kind
/// [`Kind::Failed`]; never rb's own [`Error`].
pub trait Foreign: fmt::Display {}

impl Foreign for std::io::Error {}
impl Foreign for std::fmt::Error {}
impl Foreign for std::str::Utf8Error {}
impl Foreign for std::string::FromUtf8Error {}
impl Foreign for std::num::ParseIntError {}
impl Foreign for std::num::ParseFloatError {}
impl Foreign for std::path::StripPrefixError {}
impl Foreign for std::time::SystemTimeError {}
impl Foreign for serde_json::Error {}
impl Foreign for toml::de::Error {}
impl Foreign for toml::ser::Error {}
impl Foreign for chrono::ParseError {}
impl Foreign for tempfile::PersistError {}
impl Foreign for tempfile::PathPersistError {}
impl Foreign for ureq::Error {}
impl Foreign for which::Error {}
impl Foreign for walkdir::Error {}
impl Foreign for rustix::io::Errno {}
impl Foreign for glob::PatternError {}
impl Foreign for glob::GlobError {}

impl<T, E: Foreign> Context<T> for std::result::Result<T, E> {
    fn ctx<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| {
            let text = e.to_string();
            let error = failed(format!("{}: {}", context(), clean_io(&text)));
            match is_full_text(&text) {
                true => error.full(),
                false => error,
            }
        })
    }
}

/// Adds context to an rb error while keeping its kind.
pub trait ErrContext<T> {
    /// Like [`Context::ctx`], for results that already carry an rb [`Error`].
    fn within<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T> ErrContext<T> for Result<T> {
    fn within<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.context(context()))
    }
}

/// True for the text of an I/O error that is a full file system: `ENOSPC` (28) or the quota,
/// `EDQUOT` (122). Foreign errors arrive here only as text, and std writes the errno.
fn is_full_text(text: &str) -> bool {
    text.ends_with(" (os error 28)") || text.ends_with(" (os error 122)")
}

/// `No such file or directory (os error 2)` reads better without the errno in parentheses.
fn clean_io(message: &str) -> String {
    match message.rfind(" (os error ") {
        Some(at) if message.ends_with(')') => message[..at].to_string(),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_designs() {
        assert_eq!([Kind::Failed, Kind::Usage, Kind::Partial, Kind::Locked].map(Kind::code), [1, 2, 3, 4]);
    }

    #[test]
    fn within_keeps_the_kind_of_an_rb_error() {
        for kind in [Kind::Usage, Kind::Partial, Kind::Locked, Kind::Failed] {
            let e: Result<()> = Err(Error::new(kind, "inner"));
            let e = e.within(|| "outer").unwrap_err();
            assert_eq!((e.kind(), e.message()), (kind, "outer: inner"));
        }
    }

    #[test]
    fn io_context_drops_errno() {
        let e: Result<()> = Err(std::io::Error::from_raw_os_error(2)).ctx(|| "reading x");
        assert_eq!(e.unwrap_err().message(), "reading x: No such file or directory");
        let full: Result<()> = Err(std::io::Error::from_raw_os_error(28)).ctx(|| "writing x");
        assert!(full.unwrap_err().is_full());
    }
}
