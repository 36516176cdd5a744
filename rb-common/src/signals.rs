//! SIGINT, SIGTERM and SIGHUP: kill the program rb is running, and while files are being
//! changed, stop at the next safe point.
//!
//! First, whatever rb is doing, the process groups of the programs it runs ([`Running`],
//! registered by [`crate::exec`]) are killed: they run in groups of their own, so a terminal's
//! Ctrl-C reaches rb alone, and without this they would outlive it. Then, outside a
//! [`Critical`] section, rb ends as the signal says (nothing is half-done there). Inside one
//! — a snapshot being copied into the store, a restore staging, renaming and checking its
//! files — the signal is counted and said on stderr, and
//! the engine asks [`check`] at its safe points: before the first rename the staged files are
//! removed and nothing changed (exit 1); after it the undo goes back, as `--abort` does (exit
//! 1). A further signal while that runs stops it too, with the journal standing (exit 3 and
//! the `--resume`/`--abort` hint). Children run in their own process groups, so a terminal's
//! Ctrl-C reaches rb only, and rb decides.
//!
//! The handlers are installed the first time a section opens or a program starts ([`install`]):
//! a thread reads the signals (signal-hook's iterator; no code of rb's runs in the handler
//! itself). Before that, a signal does what it always did.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::error::{Error, failed};

/// The signals that ask rb to stop.
const STOPPING: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

struct State {
    /// How many sections are open (none: a signal ends the process).
    depth: AtomicUsize,
    /// How many signals arrived inside a section, and the last one's name.
    count: AtomicUsize,
    last: AtomicUsize,
}

static STATE: OnceLock<Option<State>> = OnceLock::new();

/// The process groups of the programs running now.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() {
    let _ = state();
}

/// Kills the process group `pgid` (SIGKILL); one already gone is no error.
pub fn kill_group(pgid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pgid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn state() -> Option<&'static State> {
    STATE
        .get_or_init(|| {
            let mut signals = signal_hook::iterator::Signals::new(STOPPING).ok()?;
            std::thread::Builder::new()
                .name("rb-signals".to_string())
                .spawn(move || {
                    for sig in signals.forever() {
                        let kill_running = || {
                            let groups = RUNNING.lock().map(|g| g.clone()).unwrap_or_default();
                            groups.into_iter().for_each(kill_group);
                        };
                        // (Not yet set: the signal came while the handlers were being
                        // installed, outside any section.)
                        let Some(s) = STATE.get().and_then(Option::as_ref) else {
                            kill_running();
                            let _ = signal_hook::low_level::emulate_default_handler(sig);
                            return;
                        };
                        if s.depth.load(Ordering::SeqCst) == 0 {
                            // Nothing half-done: end as the signal says.
                            kill_running();
                            let _ = signal_hook::low_level::emulate_default_handler(sig);
                            return;
                        }
                        // Counted before the programs are killed: the engine that sees its
                        // program die must already know why, or it would take this signal,
                        // arriving while it puts things back, for a second one.
                        let n = s.count.fetch_add(1, Ordering::SeqCst) + 1;
                        s.last.store(sig as usize, Ordering::SeqCst);
                        kill_running();
                        crate::ui::warn(&if n == 1 {
                            format!(
                                "{}: stopping at the next safe point and putting back what was changed (another signal stops that too)",
                                name(sig)
                            )
                        } else {
                            format!("{} again: stopping now; the journal stays for --resume or --abort", name(sig))
                        });
                    }
                })
                .ok()?;
            Some(State { depth: AtomicUsize::new(0), count: AtomicUsize::new(0), last: AtomicUsize::new(0) })
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
        Critical { open: true }
    }
}

impl Drop for Critical {
    fn drop(&mut self) {
        if let Some(s) = state().filter(|_| self.open) {
            s.depth.fetch_sub(1, Ordering::SeqCst);
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

/// Marks a program's process group as running until dropped: a stopping signal kills it.
pub struct Running(u32);

impl Running {
    /// Registers `pgid` (a child started with `process_group(0)`: its pid).
    pub fn new(pgid: u32) -> Running {
        if let Ok(mut g) = RUNNING.lock() {
            g.push(pgid);
        }
        Running(pgid)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut g) = RUNNING.lock() {
            g.retain(|p| *p != self.0);
        }
    }
}
