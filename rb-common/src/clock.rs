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
