//! The time: real, or fixed by `RB_NOW` so that tests and drills get stable ids.
//!
//! Snapshot ids use local time as `date +%Y%m%d_%H%M%S` does (the seed's backups are named
//! that way); documents carry RFC 3339 times with the offset. `RB_NOW=2025-10-13T12:00:00Z`
//! (any RFC 3339 time) replaces the clock for every rb tool; it is documented in the README and
//! meant for tests and rehearsals.

use chrono::{DateTime, Local, SecondsFormat};

use crate::error::{Result, usage};

/// The environment variable that fixes the clock.
pub const NOW_VAR: &str = "RB_NOW";

/// The current time in the local zone, or the time `RB_NOW` names.
pub fn now() -> Result<DateTime<Local>> {
    match std::env::var(NOW_VAR) {
        Ok(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Local))
            .map_err(|e| usage(format!("{NOW_VAR}={text:?} is not an RFC 3339 time: {e}"))),
        Err(_) => Ok(Local::now()),
    }
}

/// `20251013_120000`, the stamp in snapshot ids.
pub fn stamp(t: &DateTime<Local>) -> String {
    t.format("%Y%m%d_%H%M%S").to_string()
}

/// `2025-10-13T12:00:00+02:00`, the time in documents.
pub fn rfc3339(t: &DateTime<Local>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The RFC 3339 time of a snapshot id's stamp (`20251013_120000`), read as local time.
pub fn from_stamp(stamp: &str) -> Option<String> {
    let naive = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S").ok()?;
    use chrono::TimeZone;
    Local.from_local_datetime(&naive).earliest().map(|t| rfc3339(&t))
}

/// Parses a duration such as `7d`, `12h`, `30m`, `2w`, `90s` (`rb-snapshot prune
/// --keep-within`, `rb-emergency status --since`).
pub fn parse_duration(text: &str) -> crate::error::Result<chrono::Duration> {
    let bad = || {
        crate::error::usage(format!("{text:?} is not a duration"))
            .hint("give a number and a unit: 30m, 12h, 7d, 2w")
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs)
        .and_then(chrono::Duration::try_seconds)
        .filter(|d| *d > chrono::Duration::zero())
        .ok_or_else(bad)
}
