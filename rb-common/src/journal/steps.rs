//! A restore's steps kept in a temporary file, one JSON line each, not in memory: a full
//! restore of 100,000 files plans 100,000 writes, and every pass over them (the check of the
//! snapshot's copies, staging, renaming, metadata, the journal) reads them back in order.
//! In the journal they are the `steps` list, as before.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Step;
use crate::error::{Context, Result, failed};

/// The steps of a restore, in order, read back from their file as often as needed. Cheap to
/// clone (the file is shared; it is never written again once made).
#[derive(Clone, Default)]
pub struct Steps {
    /// None for no steps.
    file: Option<Arc<File>>,
    len: usize,
    bytes: u64,
}

/// Steps being written, in order: [`StepsWriter::finish`] makes them [`Steps`].
pub struct StepsWriter {
    out: BufWriter<File>,
    len: usize,
}

/// A nameless temporary file for work in progress (nothing is left behind however rb ends):
/// in the store folder `store`'s `.rb/tmp` or `.rb` when it has one (never made for it, so a
/// dry run leaves the store as it was), else in the system's temporary folder.
pub(crate) fn spill_file(store: Option<&Path>) -> Result<File> {
    let meta = store.map(|s| s.join(crate::manifest::META_DIR));
    let dirs = meta.iter().flat_map(|m| [m.join("tmp"), m.clone()]);
    if let Some(file) = dirs.filter(|d| d.is_dir()).find_map(|d| tempfile::tempfile_in(d).ok()) {
        return Ok(file);
    }
    tempfile::tempfile().ctx(|| "creating a temporary file for a restore's work")
}

impl StepsWriter {
    /// Steps kept in a nameless file in the store folder `store`'s `.rb/tmp` or `.rb` when it
    /// has one, else in the system's temporary folder.
    pub fn new(store: Option<&Path>) -> Result<StepsWriter> {
        Ok(StepsWriter { out: BufWriter::with_capacity(1 << 16, spill_file(store)?), len: 0 })
    }

    /// One more step.
    pub fn push(&mut self, step: &Step) -> Result<()> {
        serde_json::to_writer(&mut self.out, step)
            .map_err(|e| failed(format!("writing the restore's steps: {e}")))?;
        self.out.write_all(b"\n").ctx(|| "writing the restore's steps")?;
        self.len += 1;
        Ok(())
    }

    /// The steps of `other`, after those pushed so far (their lines copied as they are).
    pub fn append(&mut self, other: &Steps) -> Result<()> {
        std::io::copy(&mut other.reader(), &mut self.out).ctx(|| "writing the restore's steps")?;
        self.len += other.len;
        Ok(())
    }

    /// How many steps were pushed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when none were.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The steps written, to read back.
    pub fn finish(self) -> Result<Steps> {
        let len = self.len;
        let file = self
            .out
            .into_inner()
            .map_err(|e| failed(format!("writing the restore's steps: {}", e.error())))?;
        let bytes = file.metadata().ctx(|| "writing the restore's steps")?.len();
        Ok(Steps { file: Some(Arc::new(file)), len, bytes })
    }
}

impl Steps {
    /// `steps`, kept as [`Steps`] are (in the system's temporary folder).
    pub fn of(steps: &[Step]) -> Result<Steps> {
        let mut w = StepsWriter::new(None)?;
        for s in steps {
            w.push(s)?;
        }
        w.finish()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The steps in order, each read as it is reached.
    pub fn iter(&self) -> Iter {
        Iter { lines: self.reader(), line: String::new(), left: self.len }
    }

    /// All of them in memory (tests, and small plans that want a list).
    pub fn to_vec(&self) -> Result<Vec<Step>> {
        self.iter().collect()
    }

    /// Copies the steps with `f` applied to each, kept as [`StepsWriter::new`] keeps them.
    pub fn map(&self, store: Option<&Path>, f: &mut dyn FnMut(Step) -> Step) -> Result<Steps> {
        let mut w = StepsWriter::new(store)?;
        for step in self.iter() {
            w.push(&f(step?))?;
        }
        w.finish()
    }

    fn reader(&self) -> BufReader<ReadAt> {
        BufReader::with_capacity(1 << 16, ReadAt { file: self.file.clone(), pos: 0, end: self.bytes })
    }
}

/// Reads a shared file up to `end` from its own offset (`pread`), so that passes never
/// disturb each other or the file's writer.
pub(crate) struct ReadAt {
    pub(crate) file: Option<Arc<File>>,
    pub(crate) pos: u64,
    pub(crate) end: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(file) = &self.file else { return Ok(0) };
        let want = buf.len().min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        let n = file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The steps of [`Steps::iter`]: a step that cannot be read back ends the pass with its error.
pub struct Iter {
    lines: BufReader<ReadAt>,
    line: String,
    left: usize,
}

impl Iterator for Iter {
    type Item = Result<Step>;

    fn next(&mut self) -> Option<Result<Step>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.line.clear();
        let step = match self.lines.read_line(&mut self.line) {
            Ok(0) => Err(failed("reading the restore's steps: they end early")),
            Ok(_) => serde_json::from_str(&self.line)
                .map_err(|e| failed(format!("reading the restore's steps: {e}"))),
            Err(e) => Err(failed(format!("reading the restore's steps: {e}"))),
        };
        if step.is_err() {
            self.left = 0;
        }
        Some(step)
    }
}

impl std::fmt::Debug for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Steps({} in a temporary file)", self.len)
    }
}

impl PartialEq for Steps {
    fn eq(&self, other: &Steps) -> bool {
        self.len == other.len && matches!((self.to_vec(), other.to_vec()), (Ok(a), Ok(b)) if a == b)
    }
}

impl Eq for Steps {}

impl Serialize for Steps {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for step in self.iter() {
            seq.serialize_element(&step.map_err(|e| S::Error::custom(e.message()))?)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Steps, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Steps;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of steps")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Steps, A::Error> {
                let mut w = StepsWriter::new(None).map_err(|e| A::Error::custom(e.message()))?;
                while let Some(step) = seq.next_element::<Step>()? {
                    w.push(&step).map_err(|e| A::Error::custom(e.message()))?;
                }
                w.finish().map_err(|e| A::Error::custom(e.message()))
            }
        }
        d.deserialize_seq(Each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_back_in_order_as_often_as_asked_and_serialize_as_a_list() {
        let one = |p: &str| Step::Remove { path: p.to_string() };
        let mut w = StepsWriter::new(None).unwrap();
        w.push(&one("a")).unwrap();
        let tail = Steps::of(&[one("b"), one("c\\xe9")]).unwrap();
        w.append(&tail).unwrap();
        let steps = w.finish().unwrap();
        assert_eq!(steps.len(), 3);
        let want = vec![one("a"), one("b"), one("c\\xe9")];
        let mut first = steps.iter();
        assert_eq!(first.next().unwrap().unwrap(), want[0]);
        // A second pass while the first is under way reads from its own place.
        assert_eq!(steps.to_vec().unwrap(), want);
        assert_eq!(first.map(|s| s.unwrap()).collect::<Vec<_>>(), want[1..]);
        let text = serde_json::to_string(&steps).unwrap();
        assert_eq!(text, serde_json::to_string(&want).unwrap());
        let back: Steps = serde_json::from_str(&text).unwrap();
        assert_eq!(back, steps);
        assert!(Steps::default().is_empty() && Steps::default().to_vec().unwrap().is_empty());
    }
}
