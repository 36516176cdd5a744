//! The JSON documents on rb's pipes: one compact object per line (JSON Lines) on stdout.
//!
//! Every document is an object with two fixed fields, `rb` (the format version, 1) and `kind`
//! (its type), followed by the kind's own fields. Unknown fields are ignored so that an older
//! tool reads a newer document of the same version; a missing required field is an error.
//! Optional fields are omitted rather than `null`.
//!
//! The kinds this library defines (more come with their tools):
//!
//! ```json
//! {"rb":1,"kind":"snapshot","id":"config_20251013_120000","set":"config","created":"2025-10-13T12:00:00+00:00","paths":["core/config/settings/","nginx/nginx.conf"],"entries":[{"path":"core/config/settings","type":"dir","mode":"0755","mtime":"2025-10-13T11:59:00Z"},{"path":"nginx/nginx.conf","type":"file","mode":"0644","mtime":"2025-10-13T11:58:00Z","size":812,"sha256":"9f86…"}],"missing":["deploy/render/render.yaml"],"files":1,"bytes":812,"verified":true}
//! {"rb":1,"kind":"restore","snapshot":"config_20251013_120000","undo":"undo_20251013_120501","created":[],"modified":["nginx/nginx.conf"],"removed":["core/config/settings/local.py"],"verified":true,"dry_run":false}
//! {"rb":1,"kind":"snapshot-diff","from":"config_20251013_120000","to":"live","added":["core/config/settings/local.py"],"removed":[],"modified":["core/config/settings/base.py"],"meta":["core/config/settings/staging.py"],"verified":true}
//! {"rb":1,"kind":"event","time":"2025-10-13T12:05:01+00:00","tool":"rb-restore","action":"restore","ok":true,"message":"ROLLBACK SUCCESS","snapshot":"config_20251013_120000","undo":"undo_20251013_120501"}
//! ```
//!
//! Paths are text: a name that is not UTF-8 is written escaped in `path` with its bytes in
//! hex in `path_hex` beside it (`{"path":"data/caf\\xe9.txt","path_hex":"646174612f636166e92e747874",…}`;
//! in a list of paths, that object stands for the string), and readers take `path_hex` when
//! it is there ([`crate::paths`]).
//!
//! The field-level meaning of each kind is on its Rust type: [`crate::snapshot::Manifest`],
//! [`crate::restore::RestoreDoc`], [`crate::changes::SnapshotDiff`], [`crate::store::Event`].

use std::io::{self, BufRead, IsTerminal, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Context, Error, Result, failed, partial, usage};

/// The document format version this rb writes and reads.
pub const FORMAT: u64 = 1;

/// A type that travels as a document of one `kind`.
pub trait Document: Serialize + DeserializeOwned {
    /// The `kind` field's value.
    const KIND: &'static str;
    /// Which command prints this kind, for the error that refuses another kind.
    const SOURCE: &'static str;
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    rb: u64,
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Serializes `doc` as one line of JSON with its envelope, without the newline.
pub fn to_line<T: Document>(doc: &T) -> Result<String> {
    serde_json::to_string(&Envelope { rb: FORMAT, kind: T::KIND, body: doc })
        .ctx(|| format!("writing a {} document", T::KIND))
}

/// Writes `doc` as one line (with its newline) to `w`, streaming: a large manifest is never
/// held as one string.
pub fn write_doc<T: Document>(w: &mut (impl Write + ?Sized), doc: &T) -> Result<()> {
    serde_json::to_writer(&mut *w, &Envelope { rb: FORMAT, kind: T::KIND, body: doc })
        .map_err(|e| failed(e.to_string()))?;
    w.write_all(b"\n").map_err(|e| failed(e.to_string()))
}

/// Parses one line as a document of kind `T`, checking `rb` and `kind`. `origin` names where
/// the line came from (`stdin line 2`, a file path) for the error message.
///
/// The envelope is checked first with a light parse that skips the body, then the line is
/// parsed straight into `T`: no intermediate JSON tree, whose size would be many times the
/// text's for a manifest of 50,000 files.
pub fn from_line<T: Document>(line: &str, origin: &str) -> Result<T> {
    #[derive(Deserialize)]
    struct Head {
        rb: Option<Value>,
        kind: Option<Value>,
    }
    let head: Head = match serde_json::from_str(line) {
        Ok(h) => h,
        Err(e) if e.is_data() => {
            return Err(usage(format!("{origin}: expected a JSON object, an rb document")));
        }
        Err(e) => return Err(usage(format!("{origin}: not a JSON document: {e}"))),
    };
    let mut envelope = serde_json::Map::new();
    envelope.extend(head.rb.map(|v| ("rb".to_string(), v)));
    envelope.extend(head.kind.map(|v| ("kind".to_string(), v)));
    let kind = check_envelope(&Value::Object(envelope), origin)?.to_string();
    expect_kind::<T>(&kind, origin)?;
    serde_json::from_str(line)
        .map_err(|e| usage(format!("{origin}: a malformed `{}` document: {e}", T::KIND)))
}

/// Checks the envelope of a parsed JSON value and converts it to `T`.
pub fn from_value<T: Document>(value: Value, origin: &str) -> Result<T> {
    let kind = check_envelope(&value, origin)?;
    expect_kind::<T>(kind, origin)?;
    serde_json::from_value(value)
        .map_err(|e| usage(format!("{origin}: a malformed `{}` document: {e}", T::KIND)))
}

/// Refuses a document of another kind than `T`, saying which tool prints the right one.
pub fn expect_kind<T: Document>(kind: &str, origin: &str) -> Result<()> {
    if kind == T::KIND {
        return Ok(());
    }
    Err(usage(format!(
        "{origin}: expected a `{}` document (printed by {}), got a document of kind `{kind}`",
        T::KIND,
        T::SOURCE
    )))
}

/// Checks `rb` and returns `kind`, for readers that accept several kinds.
pub fn check_envelope<'v>(value: &'v Value, origin: &str) -> Result<&'v str> {
    let Some(object) = value.as_object() else {
        return Err(usage(format!("{origin}: expected a JSON object, an rb document")));
    };
    match object.get("rb").and_then(Value::as_u64) {
        Some(FORMAT) => {}
        Some(v) => {
            return Err(usage(format!(
                "{origin}: document format rb={v}, but this rb reads format {FORMAT}"
            ))
            .hint("the document was written by a newer rb; use that version to read it"));
        }
        None => {
            return Err(usage(format!("{origin}: not an rb document (no \"rb\" format version field)")));
        }
    }
    object
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| usage(format!("{origin}: an rb document without a \"kind\" field")))
}

/// Exactly one document on stdin (its value and where it came from), or a usage error:
/// "nothing on stdin" / "N documents on stdin", then `reads` (what the tool takes) and `hint`.
pub fn read_one_stdin(reads: &str, hint: &str) -> Result<(Value, String)> {
    let docs = read_stdin_values()?;
    match <[_; 1]>::try_from(docs) {
        Ok([one]) => Ok(one),
        Err(docs) if docs.is_empty() => Err(usage(format!("nothing on stdin: {reads}")).hint(hint)),
        Err(docs) => Err(usage(format!("{} documents on stdin: {reads}", docs.len())).hint(hint)),
    }
}

/// Reads every non-blank line of stdin as a JSON value with a valid envelope. Refuses to read
/// from a terminal (a forgotten argument would otherwise hang at 3 a.m.).
pub fn read_stdin_values() -> Result<Vec<(Value, String)>> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Err(usage("no argument given and stdin is a terminal"));
    }
    let mut out = Vec::new();
    for (n, line) in stdin.lock().lines().enumerate() {
        let origin = format!("stdin line {}", n + 1);
        let line = line.map_err(|e| usage(format!("{origin}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| usage(format!("{origin}: not a JSON document: {e}")))?;
        check_envelope(&value, &origin)?;
        out.push((value, origin));
    }
    Ok(out)
}

/// Where documents go: stdout, one line each, flushed at once so a pipe reader sees it.
///
/// A write error (the reader went away: a broken pipe) is reported, never swallowed, since
/// the reader may be the next step of a rollback. A tool that changed something writes its undo to the store first, then
/// prints with [`Out::emit_after_change`], so a failed stdout is exit 3, not "nothing changed".
pub struct Out {
    sink: Box<dyn Write>,
}

impl Out {
    /// Documents to the process's stdout.
    pub fn stdout() -> Self {
        Out { sink: Box::new(io::stdout()) }
    }

    /// Documents to any writer (tests, or a tool that captures another's output).
    pub fn to_writer(sink: Box<dyn Write>) -> Self {
        Out { sink }
    }

    /// Documents kept in memory, for a tool that calls another as a library (rb-emergency's
    /// drills): the `Captured` handle reads them back.
    pub fn capture() -> (Self, Captured) {
        let buffer = Captured(std::rc::Rc::new(std::cell::RefCell::new(Vec::new())));
        (Out { sink: Box::new(buffer.clone()) }, buffer)
    }

    /// Writes `doc` as one line and flushes.
    pub fn emit<T: Document>(&mut self, doc: &T) -> Result<()> {
        let sink = &mut self.sink;
        let written = (|| {
            let mut buffered = io::BufWriter::with_capacity(1 << 16, sink);
            write_doc(&mut buffered, doc)?;
            buffered.flush().map_err(|e| failed(e.to_string()))
        })();
        written.map_err(|e| failed(format!("writing the {} document to stdout: {}", T::KIND, e.message())))
    }
}

/// A change that was made, for [`Out::emit_after_change`]: what it was, in words
/// (`config_X was restored`), and how to undo it or where it is now (the hint).
#[derive(Debug, Clone)]
pub struct Changed {
    what: String,
    undo: String,
}

impl Changed {
    /// `what` was done (a sentence without its end: `config_X was restored`); `undo` says
    /// how to put it back, or where to see it when there is nothing to put back.
    pub fn new(what: impl Into<String>, undo: impl Into<String>) -> Self {
        Changed { what: what.into(), undo: undo.into() }
    }

    /// The exit-3 error of a step after the change that failed with `e`: the change is real.
    pub fn failed_after(&self, e: &Error) -> Error {
        partial(format!("{}, but {}", self.what, e.message()), self.undo.clone())
    }
}

impl Out {
    /// Writes the document of a change that was already made, its undo already in the store:
    /// the one rule of every tool for a stdout that fails after a change. The change is real,
    /// so a failed write (a reader that went away, a full disk) is exit 3 saying what was
    /// changed and how to undo it — never 0, and never 1 ("nothing was changed"). Before a
    /// change, [`Out::emit`]'s exit 1 is the truth.
    pub fn emit_after_change<T: Document>(&mut self, doc: &T, changed: &Changed) -> Result<()> {
        self.emit(doc).map_err(|e| changed.failed_after(&e))
    }

    /// Writes bytes as they are and flushes: for the one output that is not a document,
    /// `rb-envfile export`'s shell text.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.sink
            .write_all(bytes)
            .and_then(|()| self.sink.flush())
            .map_err(|e| failed(format!("writing to stdout: {e}")))
    }
}

/// What an [`Out::capture`] received.
#[derive(Clone, Default)]
pub struct Captured(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The last document of kind `T` received.
    pub fn last<T: Document>(&self) -> Result<T> {
        let text = String::from_utf8_lossy(&self.0.borrow()).into_owned();
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| failed(format!("no {} document", T::KIND)))?;
        from_line(line, "a captured document")
    }
}

/// A generic error document, for tools that report errors on stdout inside a larger run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDoc {
    /// The tool that failed.
    pub tool: String,
    /// The exit code the tool returned.
    pub code: u8,
    /// The one-line message.
    pub message: String,
}

impl Document for ErrorDoc {
    const KIND: &'static str = "error";
    const SOURCE: &'static str = "any rb tool";
}

impl From<(&str, &Error)> for ErrorDoc {
    fn from((tool, e): (&str, &Error)) -> Self {
        ErrorDoc { tool: tool.to_string(), code: e.kind().code(), message: e.message().into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_checks() {
        let e = from_line::<ErrorDoc>("{\"rb\":2,\"kind\":\"error\"}", "x").unwrap_err();
        assert!(e.message().contains("rb=2"), "{e}");
        let e = from_line::<ErrorDoc>("{\"rb\":1,\"kind\":\"flags\"}", "x").unwrap_err();
        assert!(e.message().contains("expected a `error` document"), "{e}");
        let e = from_line::<ErrorDoc>("{\"rb\":1,", "x").unwrap_err();
        assert!(e.message().starts_with("x: not a JSON document"), "{e}");
        let doc = ErrorDoc { tool: "t".into(), code: 1, message: "m".into() };
        let line = to_line(&doc).unwrap();
        assert!(line.starts_with("{\"rb\":1,\"kind\":\"error\","), "{line}");
        assert_eq!(from_line::<ErrorDoc>(&line, "x").unwrap().message, "m");
    }
}
