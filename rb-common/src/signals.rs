//! SIGINT, SIGTERM and SIGHUP while files are being changed: stop at the next safe point.
//!
//! Outside a [`Critical`] section a signal does what it always does (the process ends), since
//! nothing is half-done there. Inside one — a snapshot being copied into the store, a restore
//! staging, renaming and checking its files — the signal is counted and said on stderr, and
//! the engine asks [`check`] at its safe points: before the first rename the staged files are
//! removed and nothing changed (exit 1); after it the undo goes back, as `--abort` does (exit
//! 1). A further signal while that runs stops it too, with the journal standing (exit 3 and
//! the `--resume`/`--abort` hint). Children run in their own process groups, so a terminal's
//! Ctrl-C reaches rb only, and rb decides.
//!
//! The handlers are installed the first time a section opens: a thread reads the signals
//! (signal-hook's iterator, no code runs in the handler itself), and a conditional default
//! makes a signal outside every section end the process as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::error::{Error, failed};

/// The signals that ask rb to stop.
const STOPPING: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

struct State {
    /// True while no section is open: a signal then ends the process.
    outside: Arc<AtomicBool>,
    /// How many sections are open.
    depth: AtomicUsize,
    /// How many signals arrived inside a section, and the last one's name.
    count: AtomicUsize,
    last: AtomicUsize,
}

static STATE: OnceLock<Option<State>> = OnceLock::new();

fn state() -> Option<&'static State> {
    STATE
        .get_or_init(|| {
            let outside = Arc::new(AtomicBool::new(true));
            for sig in STOPPING {
                // Registered before the counting thread's own handler: it runs first.
                signal_hook::flag::register_conditional_default(sig, Arc::clone(&outside)).ok()?;
            }
            let mut signals = signal_hook::iterator::Signals::new(STOPPING).ok()?;
            std::thread::Builder::new()
                .name("rb-signals".to_string())
                .spawn(move || {
                    for sig in signals.forever() {
                        if let Some(s) = STATE.get().and_then(Option::as_ref) {
                            let n = s.count.fetch_add(1, Ordering::SeqCst) + 1;
                            s.last.store(sig as usize, Ordering::SeqCst);
                            crate::cli::warn(&if n == 1 {
                                format!(
                                    "{}: stopping at the next safe point and putting back what was changed (another signal stops that too)",
                                    name(sig)
                                )
                            } else {
                                format!("{} again: stopping now; the journal stays for --resume or --abort", name(sig))
                            });
                        }
                    }
                })
                .ok()?;
            Some(State { outside, depth: AtomicUsize::new(0), count: AtomicUsize::new(0), last: AtomicUsize::new(0) })
        })
        .as_ref()
}

fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// A stretch of work a signal must not cut in the middle; signals are counted while one is
/// open (see the module docs).
pub struct Critical {
    open: bool,
}

impl Critical {
    /// Opens a section (installing the handlers the first time).
    pub fn open() -> Critical {
        let Some(s) = state() else { return Critical { open: false } };
        s.depth.fetch_add(1, Ordering::SeqCst);
        s.outside.store(false, Ordering::SeqCst);
        Critical { open: true }
    }
}

impl Drop for Critical {
    fn drop(&mut self) {
        if let Some(s) = state().filter(|_| self.open)
            && s.depth.fetch_sub(1, Ordering::SeqCst) == 1
        {
            s.outside.store(true, Ordering::SeqCst);
        }
    }
}

/// How many stopping signals arrived while a section was open.
pub fn count() -> usize {
    state().map_or(0, |s| s.count.load(Ordering::SeqCst))
}

/// A safe point: an error when more than `seen` signals have arrived (`seen` is [`count`] when
/// the work began, so work started after a first signal stops only at a second one).
pub fn check(seen: usize) -> Result<(), Error> {
    match state() {
        Some(s) if s.count.load(Ordering::SeqCst) > seen => {
            let sig = s.last.load(Ordering::SeqCst) as i32;
            Err(failed(format!("interrupted by {}", name(sig))))
        }
        _ => Ok(()),
    }
}
