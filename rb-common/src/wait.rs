//! Waiting for something to happen — a service to stop, a deployment to become stable, a
//! health check to pass, nginx to take a configuration — in one loop instead of one per tool.
//!
//! [`Wait::poll`] calls a closure until it answers [`Poll::Done`], fails (an `Err` ends the
//! wait at once), or the deadline passes (`Ok(None)`). Between looks it pauses 50 ms, then
//! twice as long each time up to the configured interval, so a quick change is seen quickly
//! and a slow one is not polled into the ground. While it waits it says so on stderr as
//! [`Progress`] says: when the state it waits on changes, and again every so often while it
//! does not, so a long wait is never silent and a short one is never noisy.

use std::time::{Duration, Instant};

use crate::error::Result;

/// The first pause between two looks; each next one is twice as long, up to the interval.
pub const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// It happened: the wait ends with this.
    Done(T),
    /// Not yet, and what it looks like now ("web (running, starting)", "HTTP 503"), for the
    /// progress notes and for the caller's timeout message.
    Pending(String),
}

/// How long to wait, and how often to look at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The deadline, from the first look.
    pub timeout: Duration,
    /// The longest pause between two looks (the backoff stops growing here).
    pub interval: Duration,
}

/// Makes the note for a state: `health check …: HTTP 503; trying again`.
type Say<'a> = Box<dyn Fn(&str) -> String + 'a>;

/// What a wait says on stderr while it waits: `<say(state)> (<elapsed>s of <timeout>s)`.
pub struct Progress<'a> {
    say: Option<Say<'a>>,
    after: Duration,
    every: Duration,
}

impl<'a> Progress<'a> {
    /// Says nothing.
    pub fn silent() -> Self {
        Progress { say: None, after: Duration::ZERO, every: Duration::MAX }
    }

    /// Says `say(state)` at the first look that is not done, when the state changes, and
    /// every 10 s while it does not.
    pub fn notes(say: impl Fn(&str) -> String + 'a) -> Self {
        Progress { say: Some(Box::new(say)), after: Duration::ZERO, every: Duration::from_secs(10) }
    }

    /// Says nothing before `after` has passed: a wait that usually takes a moment is said
    /// only when it takes longer.
    #[must_use]
    pub fn after(mut self, after: Duration) -> Self {
        self.after = after;
        self
    }

    /// Says it again every `every` while the state stays the same.
    #[must_use]
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }
}

/// The pauses between looks: 50 ms, doubling, never more than `interval` (nor less, when the
/// interval itself is shorter than 50 ms).
pub fn pauses(interval: Duration) -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_PAUSE.min(interval)), move |p| Some((*p * 2).min(interval)))
}

/// Time as a wait sees it; the real one sleeps, the tests' one does not.
trait Clock {
    /// Time since the wait began.
    fn elapsed(&self) -> Duration;
    /// Waits `d`.
    fn sleep(&mut self, d: Duration);
}

struct RealClock(Instant);

impl Clock for RealClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

impl Wait {
    /// A wait of `timeout`, looking at least every `interval`.
    pub fn new(timeout: Duration, interval: Duration) -> Self {
        Wait { timeout, interval }
    }

    /// Calls `look` until it answers [`Poll::Done`] (`Ok(Some(done))`), or the deadline
    /// passes (`Ok(None)`; the last look is made at the deadline). An error from `look` ends
    /// the wait at once. Progress goes to stderr as `progress` says.
    pub fn poll<T>(self, progress: &Progress, look: impl FnMut() -> Result<Poll<T>>) -> Result<Option<T>> {
        let mut clock = RealClock(Instant::now());
        self.poll_with(&mut clock, progress, &mut |line| crate::ui::note(&line), look)
    }

    fn poll_with<T>(
        self,
        clock: &mut dyn Clock,
        progress: &Progress,
        note: &mut dyn FnMut(String),
        mut look: impl FnMut() -> Result<Poll<T>>,
    ) -> Result<Option<T>> {
        let mut pauses = pauses(self.interval);
        // What was said last, and when.
        let mut said: Option<(String, Duration)> = None;
        loop {
            let state = match look()? {
                Poll::Done(done) => return Ok(Some(done)),
                Poll::Pending(state) => state,
            };
            let elapsed = clock.elapsed();
            if elapsed >= self.timeout {
                return Ok(None);
            }
            if let Some(say) = &progress.say
                && elapsed >= progress.after
                && said.as_ref().is_none_or(|(s, at)| *s != state || elapsed - *at >= progress.every)
            {
                note(format!(
                    "{} ({:.0}s of {:.0}s)",
                    say(&state),
                    elapsed.as_secs_f64(),
                    self.timeout.as_secs_f64()
                ));
                said = Some((state, elapsed));
            }
            let pause = pauses.next().unwrap_or(self.interval);
            clock.sleep(pause.min(self.timeout - elapsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::failed;

    /// A clock that moves only when slept on, and remembers every sleep.
    #[derive(Default)]
    struct FakeClock {
        now: Duration,
        slept: Vec<Duration>,
    }

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.now
        }
        fn sleep(&mut self, d: Duration) {
            self.now += d;
            self.slept.push(d);
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn wait(timeout: u64, interval: u64) -> Wait {
        Wait::new(ms(timeout), ms(interval))
    }

    #[test]
    fn the_pauses_double_from_50_ms_up_to_the_interval() {
        let seen: Vec<Duration> = pauses(ms(500)).take(6).collect();
        assert_eq!(seen, [ms(50), ms(100), ms(200), ms(400), ms(500), ms(500)]);
        // An interval shorter than the first pause is the pause.
        assert_eq!(pauses(ms(20)).take(2).collect::<Vec<_>>(), [ms(20), ms(20)]);
    }

    #[test]
    fn done_at_the_third_look_after_two_pauses() {
        let mut clock = FakeClock::default();
        let mut looks = 0;
        let got = wait(10_000, 1000)
            .poll_with(&mut clock, &Progress::silent(), &mut |_| {}, || {
                looks += 1;
                Ok(if looks == 3 { Poll::Done(looks) } else { Poll::Pending("no".to_string()) })
            })
            .unwrap();
        assert_eq!(got, Some(3));
        assert_eq!(clock.slept, [ms(50), ms(100)]);
    }

    #[test]
    fn the_deadline_ends_it_with_a_last_look_at_the_deadline() {
        let mut clock = FakeClock::default();
        let mut looks = 0;
        let got: Option<()> = wait(1000, 300)
            .poll_with(&mut clock, &Progress::silent(), &mut |_| {}, || {
                looks += 1;
                Ok(Poll::Pending("no".to_string()))
            })
            .unwrap();
        assert_eq!(got, None);
        // 50 + 100 + 200 + 300 + 300, then what is left of the second.
        assert_eq!(clock.slept, [ms(50), ms(100), ms(200), ms(300), ms(300), ms(50)]);
        assert_eq!(looks, 7);
        assert_eq!(clock.now, ms(1000));
    }

    #[test]
    fn an_error_ends_it_at_once() {
        let mut clock = FakeClock::default();
        let mut looks = 0;
        let got: Result<Option<()>> =
            wait(1000, 300).poll_with(&mut clock, &Progress::silent(), &mut |_| {}, || {
                looks += 1;
                if looks == 2 { Err(failed("it broke")) } else { Ok(Poll::Pending("no".to_string())) }
            });
        assert_eq!(got.unwrap_err().message(), "it broke");
        assert_eq!(clock.slept, [ms(50)]);
    }

    #[test]
    fn progress_is_said_when_the_state_changes_and_every_so_often() {
        let mut clock = FakeClock::default();
        let mut notes = Vec::new();
        let states = ["a", "a", "b", "b", "b", "b", "b", "b"];
        let mut looks = 0;
        let progress = Progress::notes(|s| format!("waiting: {s}")).every(ms(500));
        let got: Option<()> = wait(60_000, 200)
            .poll_with(&mut clock, &progress, &mut |n| notes.push(n), || {
                looks += 1;
                Ok(match states.get(looks - 1) {
                    Some(s) => Poll::Pending(s.to_string()),
                    None => Poll::Done(()),
                })
            })
            .unwrap();
        assert_eq!(got, Some(()));
        // Looks at 0, 50, 150, 350, 550, 750, 950, 1150 ms.
        assert_eq!(notes, ["waiting: a (0s of 60s)", "waiting: b (0s of 60s)", "waiting: b (1s of 60s)"]);
    }

    #[test]
    fn progress_waits_for_its_moment() {
        let mut clock = FakeClock::default();
        let mut notes = Vec::new();
        let progress = Progress::notes(|_| "slow".to_string()).after(ms(300)).every(ms(1000));
        let _: Option<()> = wait(2000, 400)
            .poll_with(&mut clock, &progress, &mut |n| notes.push(n), || Ok(Poll::Pending(String::new())))
            .unwrap();
        // Looks at 0, 50, 150, 350 (said), 750, 1150, 1550 (said), 1950, 2000.
        assert_eq!(notes, ["slow (0s of 2s)", "slow (2s of 2s)"]);
    }
}
