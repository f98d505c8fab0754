//! Alertmanager time intervals (`time_intervals` / `mute_time_intervals`), evaluated at event time.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// A named set of intervals; it contains an instant when any of its intervals does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedTimeInterval {
    /// Name referenced by routes.
    pub name: String,
    /// Alternatives (OR).
    pub time_intervals: Vec<TimeInterval>,
}

impl NamedTimeInterval {
    /// Whether the instant `ts_ns` (ns since epoch) falls inside any interval.
    pub fn contains(&self, ts_ns: i64) -> bool {
        self.time_intervals.iter().any(|t| t.contains(ts_ns))
    }
}

/// One interval; every non-empty field must match (AND); empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeInterval {
    /// Minute-of-day ranges `[start, end)` (end may be 1440).
    pub times: Vec<(u32, u32)>,
    /// Inclusive weekday ranges, 0 = Sunday ... 6 = Saturday.
    pub weekdays: Vec<(u32, u32)>,
    /// Inclusive day-of-month ranges; negative days count from the month end (-1 = last day).
    pub days_of_month: Vec<(i32, i32)>,
    /// Inclusive month ranges, 1 = January.
    pub months: Vec<(u32, u32)>,
    /// Inclusive year ranges.
    pub years: Vec<(i32, i32)>,
    /// IANA zone name; None (or `UTC`/`Local`) evaluates in UTC.
    pub location: Option<String>,
}

/// The YAML shape of one interval, as in alertmanager.yml.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct RawTimeInterval {
    #[serde(default)]
    times: Vec<RawTimeRange>,
    #[serde(default)]
    weekdays: Vec<String>,
    #[serde(default)]
    days_of_month: Vec<String>,
    #[serde(default)]
    months: Vec<String>,
    #[serde(default)]
    years: Vec<String>,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct RawTimeRange {
    start_time: String,
    end_time: String,
}

fn tierr(s: impl Into<String>) -> ConfigError {
    ConfigError::TimeInterval(s.into())
}

fn parse_hhmm(s: &str) -> Result<u32, ConfigError> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| tierr(format!("bad time {s:?}")))?;
    let h: u32 = h.parse().map_err(|_| tierr(format!("bad time {s:?}")))?;
    let m: u32 = m.parse().map_err(|_| tierr(format!("bad time {s:?}")))?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(tierr(format!("time out of range {s:?}")));
    }
    Ok(h * 60 + m)
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Splits `a:b` into two parts or returns `(a, a)`; negative numbers contain no colon.
fn split_range(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    }
}

fn parse_named(s: &str, names: &[&str], base: u32) -> Result<u32, ConfigError> {
    let l = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == l) {
        return Ok(i as u32 + base);
    }
    l.parse::<u32>()
        .ok()
        .filter(|n| *n >= base && *n < base + names.len() as u32)
        .ok_or_else(|| tierr(format!("unknown value {s:?}")))
}

impl TimeInterval {
    pub(crate) fn from_raw(r: RawTimeInterval) -> Result<Self, ConfigError> {
        let mut t = TimeInterval::default();
        for tr in &r.times {
            let (a, b) = (parse_hhmm(&tr.start_time)?, parse_hhmm(&tr.end_time)?);
            if a >= b {
                return Err(tierr("start_time must be before end_time"));
            }
            t.times.push((a, b));
        }
        for w in &r.weekdays {
            let (a, b) = split_range(w);
            // Weekday names only; Alertmanager does not accept numbers here.
            let (a, b) = (
                parse_named(a, &WEEKDAYS, 0).and_then(|v| {
                    if a.parse::<u32>().is_ok() {
                        Err(tierr("weekday must be a name"))
                    } else {
                        Ok(v)
                    }
                })?,
                parse_named(b, &WEEKDAYS, 0)?,
            );
            if a > b {
                return Err(tierr(format!("weekday range {w:?} is reversed")));
            }
            t.weekdays.push((a, b));
        }
        for d in &r.days_of_month {
            let (a, b) = split_range(d);
            let pa: i32 = a.parse().map_err(|_| tierr(format!("bad day {d:?}")))?;
            let pb: i32 = b.parse().map_err(|_| tierr(format!("bad day {d:?}")))?;
            for v in [pa, pb] {
                if v == 0 || !(-31..=31).contains(&v) {
                    return Err(tierr(format!("day of month out of range {d:?}")));
                }
            }
            // Same-sign ranges must be ordered; mixed-sign ranges are resolved per month.
            if pa.signum() == pb.signum() && pa > pb {
                return Err(tierr(format!("day range {d:?} is reversed")));
            }
            t.days_of_month.push((pa, pb));
        }
        for m in &r.months {
            let (a, b) = split_range(m);
            let (a, b) = (parse_named(a, &MONTHS, 1)?, parse_named(b, &MONTHS, 1)?);
            if a > b {
                return Err(tierr(format!("month range {m:?} is reversed")));
            }
            t.months.push((a, b));
        }
        for y in &r.years {
            let (a, b) = split_range(y);
            let a: i32 = a.parse().map_err(|_| tierr(format!("bad year {y:?}")))?;
            let b: i32 = b.parse().map_err(|_| tierr(format!("bad year {y:?}")))?;
            if a > b {
                return Err(tierr(format!("year range {y:?} is reversed")));
            }
            t.years.push((a, b));
        }
        if let Some(loc) = r.location {
            if !is_utc_like(&loc) && loc.parse::<Tz>().is_err() {
                return Err(tierr(format!("unknown location {loc:?}")));
            }
            t.location = Some(loc);
        }
        Ok(t)
    }

    /// Whether the instant `ts_ns` (ns since epoch) lies inside this interval.
    pub fn contains(&self, ts_ns: i64) -> bool {
        let utc: DateTime<Utc> = DateTime::from_timestamp_nanos(ts_ns);
        match self.location.as_deref() {
            Some(l) if !is_utc_like(l) => match l.parse::<Tz>() {
                Ok(tz) => self.contains_local(&utc.with_timezone(&tz)),
                Err(_) => false,
            },
            _ => self.contains_local(&utc),
        }
    }

    fn contains_local<T: Datelike + Timelike>(&self, t: &T) -> bool {
        let minute = t.hour() * 60 + t.minute();
        if !self.times.is_empty() && !self.times.iter().any(|(a, b)| minute >= *a && minute < *b) {
            return false;
        }
        let wd = t.weekday().num_days_from_sunday();
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|(a, b)| wd >= *a && wd <= *b) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let dim = days_in_month(t.year(), t.month()) as i32;
            let day = t.day() as i32;
            let resolve = |d: i32| if d < 0 { dim + d + 1 } else { d.min(dim) };
            let hit = self.days_of_month.iter().any(|(a, b)| {
                let (a, b) = (resolve(*a), resolve(*b));
                a >= 1 && day >= a && day <= b
            });
            if !hit {
                return false;
            }
        }
        let mo = t.month();
        if !self.months.is_empty() && !self.months.iter().any(|(a, b)| mo >= *a && mo <= *b) {
            return false;
        }
        let y = t.year();
        if !self.years.is_empty() && !self.years.iter().any(|(a, b)| y >= *a && y <= *b) {
            return false;
        }
        true
    }
}

/// `Local` would mean the machine's zone; the engine must not depend on the host, so it is UTC.
fn is_utc_like(l: &str) -> bool {
    l.eq_ignore_ascii_case("utc") || l.eq_ignore_ascii_case("local") || l.is_empty()
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match (
        NaiveDate::from_ymd_opt(ny, nm, 1),
        NaiveDate::from_ymd_opt(y, m, 1),
    ) {
        (Some(a), Some(b)) => (a - b).num_days() as u32,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    fn ti(yaml: &str) -> TimeInterval {
        TimeInterval::from_raw(yaml_serde::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn weekday_range_and_times() {
        let t =
            ti("weekdays: ['monday:friday']\ntimes: [{start_time: '09:00', end_time: '17:00'}]");
        // 2026-11-26 is a Thursday.
        assert!(t.contains(ts("2026-11-26T10:00:00Z")));
        assert!(!t.contains(ts("2026-11-26T17:00:00Z")));
        assert!(!t.contains(ts("2026-11-26T08:59:59Z")));
        // Saturday.
        assert!(!t.contains(ts("2026-11-28T10:00:00Z")));
        let w = ti("weekdays: ['saturday', 'sunday']");
        assert!(w.contains(ts("2026-11-29T23:59:00Z")));
        assert!(!w.contains(ts("2026-11-30T00:00:00Z")));
    }

    #[test]
    fn negative_days_of_month() {
        let t = ti("days_of_month: ['-3:-1']");
        assert!(t.contains(ts("2026-11-28T00:00:00Z")));
        assert!(t.contains(ts("2026-11-30T12:00:00Z")));
        assert!(!t.contains(ts("2026-11-27T12:00:00Z")));
        // February 2026 has 28 days: the last day is the 28th.
        let last = ti("days_of_month: ['-1']");
        assert!(last.contains(ts("2026-02-28T12:00:00Z")));
        assert!(!last.contains(ts("2026-02-27T12:00:00Z")));
        let mixed = ti("days_of_month: ['1:-25']");
        assert!(mixed.contains(ts("2026-11-06T00:00:00Z")));
        assert!(!mixed.contains(ts("2026-11-07T00:00:00Z")));
    }

    #[test]
    fn months_years() {
        let t = ti("months: ['may:august', '12']\nyears: ['2025:2026']");
        assert!(t.contains(ts("2026-06-01T00:00:00Z")));
        assert!(t.contains(ts("2026-12-01T00:00:00Z")));
        assert!(!t.contains(ts("2026-11-01T00:00:00Z")));
        assert!(!t.contains(ts("2027-06-01T00:00:00Z")));
    }

    #[test]
    fn timezone_shifts_the_day() {
        let t = ti("times: [{start_time: '09:00', end_time: '17:00'}]\nlocation: 'Asia/Tokyo'");
        // 01:00Z is 10:00 in Tokyo.
        assert!(t.contains(ts("2026-11-26T01:00:00Z")));
        assert!(!t.contains(ts("2026-11-26T10:00:00Z")));
        let ber = ti("weekdays: ['friday']\nlocation: 'Europe/Berlin'");
        // Thursday 23:30Z is Friday 00:30 in Berlin (CET, UTC+1).
        assert!(ber.contains(ts("2026-11-26T23:30:00Z")));
    }

    #[test]
    fn rejects_invalid() {
        for y in [
            "times: [{start_time: '10:00', end_time: '09:00'}]",
            "times: [{start_time: '25:00', end_time: '26:00'}]",
            "weekdays: ['friday:monday']",
            "weekdays: ['funday']",
            "days_of_month: ['0']",
            "days_of_month: ['-40']",
            "months: ['smarch']",
            "location: 'Mars/Olympus'",
        ] {
            let raw: RawTimeInterval = yaml_serde::from_str(y).unwrap();
            assert!(TimeInterval::from_raw(raw).is_err(), "{y}");
        }
    }
}
