//! Five-field cron expressions (`minute hour day-of-month month day-of-week`, local time) for scheduled
//! backups, drills and maintenance windows: `*`, lists, ranges, steps, month and day names, and the
//! `@hourly`, `@daily`, `@weekly`, `@monthly` shorthands. As in Vixie cron, when both day fields are
//! restricted a day matches either.

use chrono::{DateTime, Datelike, Duration, Local, TimeZone, Timelike};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let expanded = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{text}`: a cron schedule has 5 fields (minute hour day month weekday), e.g. `0 2 * * *`"
            ));
        }
        let minutes = field(fields[0], 0, 59, &[]).map_err(|e| format!("`{text}`: minute: {e}"))?;
        let hours = field(fields[1], 0, 23, &[]).map_err(|e| format!("`{text}`: hour: {e}"))?;
        let days = field(fields[2], 1, 31, &[]).map_err(|e| format!("`{text}`: day of month: {e}"))?;
        let months = field(fields[3], 1, 12, MONTHS).map_err(|e| format!("`{text}`: month: {e}"))?;
        let mut weekdays = field(fields[4], 0, 7, WEEKDAYS).map_err(|e| format!("`{text}`: day of week: {e}"))?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Cron {
            text: text.trim().to_string(),
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            any_day: fields[2] == "*",
            any_weekday: fields[4] == "*",
        })
    }

    pub fn matches(&self, t: &DateTime<Local>) -> bool {
        let day_ok = self.days & (1 << t.day()) != 0;
        let weekday_ok = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        let day = match (self.any_day, self.any_weekday) {
            (false, false) => day_ok || weekday_ok,
            _ => day_ok && weekday_ok,
        };
        self.minutes & (1 << t.minute()) != 0
            && self.hours & (1 << t.hour()) != 0
            && self.months & (1 << t.month()) != 0
            && day
    }

    /// The first matching minute strictly after `t` (within about a year; `None` for `31 2 …`-style dates
    /// that never come).
    pub fn next_after(&self, t: DateTime<Local>) -> Option<DateTime<Local>> {
        let start = t.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let mut m = start;
        for _ in 0..(366 * 24 * 60) {
            if self.matches(&m) {
                return Some(m);
            }
            m += Duration::minutes(1);
        }
        None
    }

    /// Whether a window that opens at each match and lasts `length` is open at `t`.
    pub fn window_open(&self, t: DateTime<Local>, length: std::time::Duration) -> bool {
        let Some(mut m) = t.with_second(0).and_then(|m| m.with_nanosecond(0)) else { return false };
        let minutes = (length.as_secs() / 60).min(31 * 24 * 60);
        // A window that ends past chrono's range (a duration of billions of years) stays open.
        let length = i64::try_from(length.as_secs()).ok().and_then(Duration::try_seconds);
        let open_at =
            |start: DateTime<Local>| length.and_then(|l| start.checked_add_signed(l)).is_none_or(|end| t < end);
        for _ in 0..=minutes {
            if self.matches(&m) && open_at(m) {
                return true;
            }
            let Some(earlier) = m.checked_sub_signed(Duration::minutes(1)) else { break };
            m = earlier;
        }
        false
    }

    /// Local midnight-based instant helper for tests and callers holding Unix milliseconds.
    pub fn local(ms: i64) -> Option<DateTime<Local>> {
        Local.timestamp_millis_opt(ms).single()
    }
}

impl std::fmt::Display for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// One field as a bit set over `min..=max`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + min);
        }
        let v: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
        if v < min || v > max {
            return Err(format!("{v} is outside {min}-{max}"));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| format!("bad step in `{part}`"))?)
            }
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if lo > hi {
            return Err(format!("`{range}` runs backwards"));
        }
        for v in (lo..=hi).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    #[test]
    fn schedules_find_their_next_minute() {
        let daily = Cron::parse("0 2 * * *").unwrap();
        assert_eq!(daily.next_after(at(2026, 11, 26, 17, 3)), Some(at(2026, 11, 27, 2, 0)));
        let weekly = Cron::parse("30 4 * * sun").unwrap();
        assert_eq!(weekly.next_after(at(2026, 11, 26, 17, 3)), Some(at(2026, 11, 29, 4, 30)));
        let steps = Cron::parse("*/15 9-17 * * mon-fri").unwrap();
        assert_eq!(steps.next_after(at(2026, 11, 27, 17, 50)), Some(at(2026, 11, 30, 9, 0)));
        assert_eq!(Cron::parse("@monthly").unwrap().next_after(at(2026, 11, 26, 0, 0)), Some(at(2026, 12, 1, 0, 0)));
        // Both day fields restricted: either matches (the 1st, or any Monday).
        let either = Cron::parse("0 0 1 * 1").unwrap();
        assert_eq!(either.next_after(at(2026, 11, 26, 0, 0)), Some(at(2026, 11, 30, 0, 0)));
    }

    #[test]
    fn windows_are_open_for_their_length() {
        let sunday_night = Cron::parse("0 3 * * 0").unwrap();
        let hour = std::time::Duration::from_secs(3600);
        assert!(sunday_night.window_open(at(2026, 11, 29, 3, 0), hour));
        assert!(sunday_night.window_open(at(2026, 11, 29, 3, 59), hour));
        assert!(!sunday_night.window_open(at(2026, 11, 29, 4, 0), hour));
        assert!(!sunday_night.window_open(at(2026, 11, 29, 2, 59), hour));
    }

    #[test]
    fn regression_cron_window_past_chrono_range() {
        let sunday_night = Cron::parse("0 3 * * 0").unwrap();
        let forever = std::time::Duration::from_secs(100_000_000_000_000_000);
        assert!(sunday_night.window_open(at(2026, 11, 29, 3, 0), forever));
        crate::fuzzing::cron(b"0 3 * * 0\n1764381600000\n100000000000000000");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(Cron::parse("0 2 * *").unwrap_err().contains("5 fields"));
        assert!(Cron::parse("61 * * * *").unwrap_err().contains("minute: 61 is outside 0-59"));
        assert!(Cron::parse("0 0 * * funday").unwrap_err().contains("day of week"));
        assert!(Cron::parse("0 5-2 * * *").unwrap_err().contains("backwards"));
    }
}
