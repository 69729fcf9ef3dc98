//! Wall-clock formatting: RFC 3339 UTC for files, local `HH:MM:SS` for the terminal.
//! Formatting happens once per output batch, not per line, so both are cheap enough.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-24T01:37:35.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Local wall-clock time `HH:MM:SS`.
pub fn local_hms(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let local = secs + utc_offset(secs);
    let day = local.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, (day / 60) % 60, day % 60)
}

// The offset is looked up at most once every ten minutes (DST changes are picked up
// then); localtime_r can read /etc/localtime and is too slow for every batch.
static OFFSET: AtomicI64 = AtomicI64::new(0);
static OFFSET_AT: AtomicU64 = AtomicU64::new(0);

fn utc_offset(now: i64) -> i64 {
    let at = OFFSET_AT.load(Ordering::Relaxed) as i64;
    if at != 0 && (now - at).abs() < 600 {
        return OFFSET.load(Ordering::Relaxed);
    }
    let off = crate::process::unix::utc_offset_secs(now);
    OFFSET.store(off, Ordering::Relaxed);
    OFFSET_AT.store(now.max(1) as u64, Ordering::Relaxed);
    off
}

/// A short human duration: `850ms`, `12s`, `3m 5s`, `2h 15m`, `3d 4h`.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => join(s / 60, "m", s % 60, "s"),
        3600..=86_399 => join(s / 3600, "h", (s / 60) % 60, "m"),
        _ => join(s / 86_400, "d", (s / 3600) % 24, "h"),
    }
}

fn join(a: u64, ua: &str, b: u64, ub: &str) -> String {
    if b == 0 {
        format!("{a}{ua}")
    } else {
        format!("{a}{ua} {b}{ub}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(short_duration(Duration::from_secs(12)), "12s");
        assert_eq!(short_duration(Duration::from_secs(185)), "3m 5s");
        assert_eq!(short_duration(Duration::from_secs(8100)), "2h 15m");
        assert_eq!(short_duration(Duration::from_secs(3600)), "1h");
    }

    #[test]
    fn hms_shape() {
        let s = local_hms(SystemTime::now());
        assert_eq!(s.len(), 8);
        assert_eq!(&s[2..3], ":");
    }
}
