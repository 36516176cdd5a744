//! The health check every rollback ends with: poll a URL until it answers 2xx, with retries
//! and a timeout (`[health]` in rollback.toml) — never a blind `sleep 30`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{FILE, check_seconds};
use crate::error::{Result, usage};
use crate::wait::{Poll, Progress, Wait};

/// `[health]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// The URL that answers 2xx when the app is healthy.
    pub url: String,
    /// How long to keep trying, in seconds.
    pub timeout_s: f64,
    /// How long to wait between tries, in seconds.
    pub interval_s: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { url: "http://localhost:8000/health/".to_string(), timeout_s: 60.0, interval_s: 1.0 }
    }
}

impl HealthConfig {
    /// Refuses timeouts and intervals that are not positive seconds, and a URL that is not http(s).
    pub fn check(&self) -> Result<()> {
        check_seconds("[health] timeout_s", self.timeout_s, 86_400.0)?;
        check_seconds("[health] interval_s", self.interval_s, 3600.0)?;
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(usage(format!("{FILE}: [health] url = {:?} is not an http(s) URL", self.url)));
        }
        Ok(())
    }
}

/// What the health check found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    /// The URL polled.
    pub url: String,
    /// True when it answered 2xx in time.
    pub ok: bool,
    /// How many requests were made.
    pub attempts: u32,
    /// The last answer: `HTTP 200`, or why there was none.
    pub last: String,
}

/// Polls `config.url` until a 2xx answer or the timeout.
pub fn poll(config: &HealthConfig) -> Health {
    // A request may take up to 10 s (a cold start), never beyond the overall timeout.
    let agent = crate::http::agent(Duration::from_secs_f64(config.timeout_s.min(10.0)));
    let mut attempts = 0;
    let mut last = String::new();
    let wait =
        Wait::new(Duration::from_secs_f64(config.timeout_s), Duration::from_secs_f64(config.interval_s));
    let progress = Progress::notes(|last| format!("health check {}: {last}; trying again", config.url));
    let answered = wait.poll(&progress, || {
        attempts += 1;
        let (ok, answer) = match agent.get(&config.url).call() {
            Ok(r) => (r.status().is_success(), format!("HTTP {}", r.status().as_u16())),
            Err(e) => (false, e.to_string()),
        };
        last.clone_from(&answer);
        Ok(if ok { Poll::Done(()) } else { Poll::Pending(answer) })
    });
    Health { url: config.url.clone(), ok: matches!(answered, Ok(Some(()))), attempts, last }
}
