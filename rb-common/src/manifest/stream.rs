//! A manifest written and read an entry at a time, so that memory does not grow with the
//! number of files: [`Writer`] puts the same bytes on disk as [`crate::doc::write_doc`] of the
//! whole [`Manifest`], and [`read`] hands each entry to a callback as the parser meets it
//! (the manifest's other fields are small and kept). [`Entries`] is that reader behind an
//! iterator, for a merge with another sorted stream (the next snapshot's walk).

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Entry, Manifest};
use crate::doc;
use crate::error::{Context, ErrContext, Error, Result, failed, usage};

/// The one place in a serialized manifest where its entries go: field names are never
/// escaped, and a `"` inside a string always is, so the first match is the field itself.
const ENTRIES: &str = "\"entries\":[";

/// Writes a manifest whose entries arrive one by one: the fields before `entries` at
/// [`Writer::begin`], each entry at [`Writer::push`], the rest (counts known only at the end)
/// at [`Writer::end`].
pub struct Writer<W: Write> {
    out: W,
    first: bool,
}

/// Which side of the entries list [`Split`] passes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Everything up to and with `"entries":[`.
    Before,
    /// Everything after it.
    After,
}

/// A writer that passes on one side of the first [`ENTRIES`] of what is written to it, so
/// that a manifest's fields around its entries go to the file as they are serialized, never
/// held as text (an undo's `missing` list can name every file of a tree).
struct Split<'w> {
    out: &'w mut dyn Write,
    side: Side,
    /// How many bytes of [`ENTRIES`] end what was written so far (a KMP match).
    matched: usize,
    /// True once [`ENTRIES`] was met.
    met: bool,
}

impl Write for Split<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.met {
            if self.side == Side::After {
                self.out.write_all(buf)?;
            }
            return Ok(buf.len());
        }
        let marker = ENTRIES.as_bytes();
        for (i, &b) in buf.iter().enumerate() {
            while self.matched > 0 && marker[self.matched] != b {
                self.matched = fallback(marker, self.matched);
            }
            if marker[self.matched] == b {
                self.matched += 1;
            }
            if self.matched == marker.len() {
                self.met = true;
                let (before, after) = buf.split_at(i + 1);
                self.out.write_all(if self.side == Side::Before { before } else { after })?;
                return Ok(buf.len());
            }
        }
        if self.side == Side::Before {
            self.out.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The KMP fallback of a partial match of `k` bytes of `marker`: the longest proper prefix
/// of `marker[..k]` that is also its suffix.
fn fallback(marker: &[u8], k: usize) -> usize {
    (1..k).rev().find(|&n| marker[..n] == marker[k - n..k]).unwrap_or(0)
}

/// Writes one side of the document of `head` (whose entries are empty) to `out`.
fn write_side(out: &mut dyn Write, head: &Manifest, side: Side) -> Result<()> {
    debug_assert!(head.entries.is_empty());
    let mut split = Split { out, side, matched: 0, met: false };
    doc::write_doc(&mut split, head).within(|| "writing the manifest")?;
    match split.met {
        true => Ok(()),
        false => Err(failed("writing the manifest: its entries field is missing")),
    }
}

impl<W: Write> Writer<W> {
    /// Starts the document of `head`, whose entries are empty: they come by [`Writer::push`].
    pub fn begin(mut out: W, head: &Manifest) -> Result<Self> {
        write_side(&mut out, head, Side::Before)?;
        Ok(Writer { out, first: true })
    }

    /// One more entry, in path order.
    pub fn push(&mut self, entry: &Entry) -> Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b",").ctx(|| "writing the manifest")?;
        }
        serde_json::to_writer(&mut self.out, entry).map_err(|e| failed(format!("writing the manifest: {e}")))
    }

    /// Ends the document with the fields of `tail` after its entries (the counts), the
    /// newline, and a flush; returns the writer.
    pub fn end(mut self, tail: &Manifest) -> Result<W> {
        write_side(&mut self.out, tail, Side::After)?;
        self.out.flush().ctx(|| "writing the manifest")?;
        Ok(self.out)
    }
}

/// Reads the manifest document from `input`, calling `each` with every entry in file order
/// and never holding them: returns the manifest without its entries, and how many there
/// were. `origin` names the source in errors. The envelope (`rb`, `kind`) is checked before
/// the first entry when it comes first, as rb writes it. An error of `each` stops the read
/// and is returned as it is.
pub fn read(
    input: impl Read,
    origin: &str,
    each: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<(Manifest, u64)> {
    let mut top = Top { origin, each, count: 0, stopped: None, seen: false };
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, input));
    let parsed = (&mut top).deserialize(&mut de).and_then(|head| de.end().map(|()| head));
    let head = match parsed {
        Ok(head) => head,
        Err(_) if top.stopped.is_some() => return Err(top.stopped.take().unwrap_or_else(|| failed(""))),
        Err(e) if e.is_io() => return Err(failed(format!("reading {origin}: {e}"))),
        Err(e) if e.is_data() => {
            return Err(usage(format!("{origin}: a malformed `snapshot` document: {e}")));
        }
        Err(e) => return Err(usage(format!("{origin}: not a JSON document: {e}"))),
    };
    let mut head = head;
    head.insert("entries".to_string(), Value::Array(Vec::new()));
    let manifest: Manifest = doc::from_value(Value::Object(head), origin)?;
    Ok((manifest, top.count))
}

/// [`read`] of a manifest in the store: one that does not parse is a damaged snapshot (exit
/// 1, not bad input from the user), while what `each` refuses keeps its own kind (an entry
/// the checks or the planner refuse is exit 2).
pub fn read_stored(
    input: impl Read,
    shown: &str,
    each: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<(Manifest, u64)> {
    let mut refused = false;
    read(input, shown, &mut |e| each(e).inspect_err(|_| refused = true))
        .map_err(|e| if refused { e } else { e.with_kind(crate::error::Kind::Failed) })
}

/// The top-level object: every field kept as a value but `entries`, streamed.
struct Top<'a> {
    origin: &'a str,
    each: &'a mut dyn FnMut(Entry) -> Result<()>,
    count: u64,
    /// The callback's (or the envelope check's) own error, which serde only carries as text.
    stopped: Option<Error>,
    /// True once the `entries` field was met (twice is an error, never is too).
    seen: bool,
}

impl<'de> DeserializeSeed<'de> for &mut Top<'_> {
    type Value = serde_json::Map<String, Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Top<'_> {
    type Value = serde_json::Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object, an rb `snapshot` document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut head = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key != "entries" {
                let value = map.next_value::<Value>()?;
                head.insert(key, value);
                continue;
            }
            if head.contains_key("rb") || head.contains_key("kind") {
                let envelope = Value::Object(
                    head.iter()
                        .filter(|(k, _)| *k == "rb" || *k == "kind")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                );
                let checked = doc::check_envelope(&envelope, self.origin)
                    .and_then(|kind| doc::expect_kind::<Manifest>(kind, self.origin));
                if let Err(e) = checked {
                    self.stopped = Some(e);
                    return Err(A::Error::custom("stopped"));
                }
            }
            if std::mem::replace(&mut self.seen, true) {
                return Err(A::Error::duplicate_field("entries"));
            }
            map.next_value_seed(EntriesSeed(&mut *self))?;
        }
        if !self.seen {
            return Err(A::Error::missing_field("entries"));
        }
        Ok(head)
    }
}

/// The `entries` array, each element handed on as it is parsed.
struct EntriesSeed<'t, 'a>(&'t mut Top<'a>);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Entry>()? {
            self.0.count += 1;
            if let Err(e) = (self.0.each)(entry) {
                self.0.stopped = Some(e);
                return Err(A::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// The entries of a stored manifest as an iterator, read on a thread of their own a little
/// ahead of the consumer (a bounded queue): memory stays flat however many there are. A
/// manifest that cannot be read ends the iteration early, which to its one user (the next
/// snapshot, linking unchanged files) only means fewer files linked. Dropped before the end,
/// it stops the reader at its next entry.
pub struct Entries {
    rx: mpsc::IntoIter<Entry>,
}

/// How many entries the reader thread may be ahead.
const AHEAD: usize = 1024;

impl Entries {
    /// Starts reading the manifest file at `path`.
    pub fn open(path: &Path) -> Result<Entries> {
        let file = std::fs::File::open(path).ctx(|| format!("reading {}", path.display()))?;
        let origin: PathBuf = path.to_path_buf();
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        std::thread::Builder::new()
            .name("rb-manifest".to_string())
            .spawn(move || {
                let shown = origin.display().to_string();
                // A consumer that stopped listening ends the read.
                let _ = read(file, &shown, &mut |e| tx.send(e).map_err(|_| usage("the reader is gone")));
            })
            .ctx(|| "starting the manifest reader")?;
        Ok(Entries { rx: rx.into_iter() })
    }
}

impl Iterator for Entries {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        self.rx.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsx::{Mode, Mtime};
    use crate::manifest::Node;

    fn manifest(entries: Vec<Entry>) -> Manifest {
        let files = entries.iter().filter(|e| matches!(e.node, Node::File { .. })).count() as u64;
        Manifest {
            id: "config_20251013_120000".into(),
            set: "config".into(),
            created: "2025-10-13T12:00:00+00:00".into(),
            paths: vec!["etc/".into(), "say \"entries\":[ here".into()],
            globs: Vec::new(),
            exclude: vec!["*.pid".into()],
            entries,
            missing: vec!["gone".into()],
            files,
            bytes: 3 * files,
            verified: true,
            legacy: false,
            undo_for: None,
            dry_run: false,
            xattrs: true,
            message: Some("\"entries\":[] in a message".into()),
            adhoc: false,
            tags: Vec::new(),
        }
    }

    fn file(path: &str) -> Entry {
        Entry {
            path: path.into(),
            node: Node::File { mode: Mode(0o644), size: 3, sha256: Some("ab".repeat(32)) },
            mtime: Mtime { secs: 7, nanos: 9 },
            uid: Some(1000),
            gid: Some(1000),
            ino: Some(12),
            ctime: None,
            xattrs: Default::default(),
            link: None,
            sparse: false,
        }
    }

    #[test]
    fn the_streamed_manifest_is_the_same_bytes_and_reads_back_entry_by_entry() {
        for entries in [vec![], vec![file("etc/a")], vec![file("etc/a"), file("etc/b\\xe9"), file("etc/c")]] {
            let whole = manifest(entries.clone());
            let mut expected = Vec::new();
            doc::write_doc(&mut expected, &whole).unwrap();

            let head = Manifest { entries: Vec::new(), ..whole.clone() };
            let mut w = Writer::begin(Vec::new(), &head).unwrap();
            for e in &entries {
                w.push(e).unwrap();
            }
            let written = w.end(&head).unwrap();
            assert_eq!(String::from_utf8(written.clone()).unwrap(), String::from_utf8(expected).unwrap());

            let mut seen = Vec::new();
            let (read_head, count) = read(&written[..], "m", &mut |e| {
                seen.push(e);
                Ok(())
            })
            .unwrap();
            assert_eq!((read_head, count as usize, seen), (head, entries.len(), entries));
        }
    }

    #[test]
    fn the_split_finds_the_entries_field_across_writes_and_after_false_starts() {
        for side in [Side::Before, Side::After] {
            let mut out = Vec::new();
            let mut split = Split { out: &mut out, side, matched: 0, met: false };
            for chunk in ["{\"\"entries\"", ":1,\"entr", "ies\":", "[{\"a\"", ":[]}]}"] {
                split.write_all(chunk.as_bytes()).unwrap();
            }
            let want = match side {
                Side::Before => "{\"\"entries\":1,\"entries\":[",
                Side::After => "{\"a\":[]}]}",
            };
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn a_callback_error_stops_the_read_and_is_returned_as_it_is() {
        let mut text = Vec::new();
        doc::write_doc(&mut text, &manifest(vec![file("a"), file("b")])).unwrap();
        let mut n = 0;
        let e = read(&text[..], "m", &mut |_| {
            n += 1;
            Err(failed("enough"))
        })
        .unwrap_err();
        assert_eq!((e.message(), n), ("enough", 1));
    }

    #[test]
    fn another_kind_is_refused_before_its_entries() {
        let text = br#"{"rb":1,"kind":"restore","entries":[{"bad":1}]}"#;
        let e = read(&text[..], "m", &mut |_| panic!("no entry is read")).unwrap_err();
        assert!(e.message().contains("got a document of kind `restore`"), "{}", e.message());
        for text in [
            &br#"{"rb":1,"kind":"snapshot"}"#[..],
            br#"{"rb":1,"kind":"snapshot","entries":[],"entries":[]}"#,
        ] {
            let e = read(text, "m", &mut |_| Ok(())).unwrap_err();
            assert!(e.message().starts_with("m: a malformed `snapshot` document"), "{}", e.message());
        }
        let e = read(&b"{\"rb\":1,"[..], "m", &mut |_| Ok(())).unwrap_err();
        assert!(e.message().starts_with("m: not a JSON document: EOF"), "{}", e.message());
    }
}
