//! What rb says to the person watching: notes, warnings and progress on stderr, each line
//! `rb-restore: …` with the running tool's name.
//!
//! Everything below the command line speaks through here, never with `eprintln!`, so a
//! library caller (the drills of `rb-emergency`, a test) can [`capture`] what the engines say
//! instead of letting it reach the terminal. Errors are not said here: they travel up as
//! [`crate::Error`] values and `cli::main` prints them once.
//!
//! Progress ([`Progress`]) is shown only when stderr is a terminal and the work has taken more
//! than about a second, so a quick snapshot prints nothing extra and a pipe or a log never gets
//! control characters; it is hidden while the lines are captured. Safe from several threads.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static TOOL: OnceLock<&'static str> = OnceLock::new();

/// Names the running tool, once per process (`cli::main` does it first).
pub fn set_tool(name: &'static str) {
    let _ = TOOL.set(name);
}

/// The running tool's name (`rb-restore`), for messages; `rb` before it is set.
pub fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("rb")
}

/// `1 file`, `3 files`: a count and its noun, in the number it takes.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a line on stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Progress or an outcome: `rb-x: message`.
    Note,
    /// Something the user should look at that did not stop the work: `rb-x: warning: message`.
    Warning,
}

/// Where notes and warnings go instead of stderr, while one is set.
pub trait Sink: Send + Sync {
    /// One line said at `level`.
    fn line(&self, level: Level, message: &str);
}

static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);

fn replaced() -> bool {
    SINK.read().map(|s| s.is_some()).unwrap_or(false)
}

fn say(level: Level, message: &str) {
    let sink = SINK.read().ok().and_then(|s| s.clone());
    match (sink, level) {
        (Some(sink), _) => sink.line(level, message),
        (None, Level::Note) => eprintln!("{}: {message}", tool()),
        (None, Level::Warning) => eprintln!("{}: warning: {message}", tool()),
    }
}

/// Says `tool: message` on stderr: progress and outcomes for the human watching.
pub fn note(message: &str) {
    say(Level::Note, message);
}

/// Says `tool: warning: message` on stderr.
pub fn warn(message: &str) {
    say(Level::Warning, message);
}

/// Sends every note and warning to `sink` (for the whole process, every thread) until the
/// returned guard is dropped, when the previous destination comes back.
pub fn replace(sink: Arc<dyn Sink>) -> Replaced {
    let previous = SINK.write().ok().and_then(|mut s| s.replace(sink));
    Replaced { previous }
}

/// Puts the previous destination back when dropped ([`replace`]).
#[must_use = "the sink is replaced only while this lives"]
pub struct Replaced {
    previous: Option<Arc<dyn Sink>>,
}

impl Drop for Replaced {
    fn drop(&mut self) {
        if let Ok(mut s) = SINK.write() {
            *s = self.previous.take();
        }
    }
}

/// A [`Sink`] that keeps the lines.
#[derive(Default)]
pub struct Lines(Mutex<Vec<(Level, String)>>);

impl Lines {
    /// The lines so far, oldest first.
    pub fn taken(&self) -> Vec<(Level, String)> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Sink for Lines {
    fn line(&self, level: Level, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push((level, message.to_string()));
        }
    }
}

/// Runs `f` with every note and warning kept instead of said, and returns them with its
/// result.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<(Level, String)>) {
    let lines = Arc::new(Lines::default());
    let result = {
        let _replaced = replace(lines.clone());
        f()
    };
    (result, lines.taken())
}

/// How long work runs before its progress is shown.
const AFTER: Duration = Duration::from_secs(1);

/// A progress bar over `files` files and `bytes` bytes.
pub struct Progress {
    bar: ProgressBar,
    files: u64,
    start: Instant,
    done: AtomicU64,
    enabled: bool,
    shown: AtomicBool,
}

impl Progress {
    /// A bar labelled `what` (`backing up`, `restoring`), hidden until it is worth showing.
    pub fn new(what: &str, files: u64, bytes: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{}: {what} {{bytes}}/{{total_bytes}} ({{binary_bytes_per_sec}}), {{msg}}",
            tool()
        )) {
            bar.set_style(style);
        }
        Progress {
            bar,
            files,
            start: Instant::now(),
            done: AtomicU64::new(0),
            enabled: std::io::stderr().is_terminal() && !replaced(),
            shown: AtomicBool::new(false),
        }
    }

    /// A bar labelled `what` over work whose size is not known ahead (a snapshot streamed
    /// as its folders are walked): it counts files and bytes.
    pub fn open(what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{}: {what} {{bytes}} ({{binary_bytes_per_sec}}), {{msg}}",
            tool()
        )) {
            bar.set_style(style);
        }
        Progress {
            bar,
            files: 0,
            start: Instant::now(),
            done: AtomicU64::new(0),
            enabled: std::io::stderr().is_terminal() && !replaced(),
            shown: AtomicBool::new(false),
        }
    }

    /// One more file of `bytes` done.
    pub fn add(&self, bytes: u64) {
        self.bar.inc(bytes);
        if !self.enabled {
            return;
        }
        if !self.shown.load(Ordering::Relaxed)
            && self.start.elapsed() > AFTER
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.shown.load(Ordering::Relaxed) {
            self.bar.set_message(match self.files {
                0 => format!("{done} files"),
                all => format!("{done}/{all} files"),
            });
        }
    }

    /// Clears the bar (the summary line follows).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_captured_warning_does_not_reach_stderr_and_the_old_sink_comes_back() {
        let (n, lines) = capture(|| {
            note("one");
            warn("two");
            let (_, inner) = capture(|| warn("inner"));
            assert_eq!(inner, vec![(Level::Warning, "inner".to_string())]);
            note("three");
            3
        });
        assert_eq!(n, 3);
        assert_eq!(
            lines,
            vec![
                (Level::Note, "one".to_string()),
                (Level::Warning, "two".to_string()),
                (Level::Note, "three".to_string())
            ]
        );
        assert!(!replaced());
    }

    #[test]
    fn counts_take_their_number() {
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(0, "step", "steps"), "0 steps");
    }
}
