//! Progress on stderr for long work: files and bytes done, and the rate.
//!
//! Shown only when stderr is a terminal and the work has taken more than about a second, so
//! a quick snapshot prints nothing extra and a pipe or a log never gets control characters.
//! Safe to update from several threads.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
            crate::cli::tool()
        )) {
            bar.set_style(style);
        }
        Progress {
            bar,
            files,
            start: Instant::now(),
            done: AtomicU64::new(0),
            enabled: std::io::stderr().is_terminal(),
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
            self.bar.set_message(format!("{done}/{} files", self.files));
        }
    }

    /// Clears the bar (the summary line follows).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
