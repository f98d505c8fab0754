//! Prometheus-format durations (`30s`, `5m`, `1h30m`, `1d`, `2w`, `500ms`).
//!
//! Alertmanager configs use Prometheus' `model.Duration` syntax, which differs
//! from humantime (`1d` is 24h, units must appear largest first and at most once),
//! so it is parsed here rather than with a generic duration crate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;

/// Nanoseconds in one second.
pub const NS_PER_SEC: i64 = 1_000_000_000;

/// A non-negative duration in nanoseconds, parsed from and printed as Prometheus syntax.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub i64);

impl PromDuration {
    /// The duration in nanoseconds.
    pub fn as_ns(self) -> i64 {
        self.0
    }

    /// A duration of `s` seconds.
    pub fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(NS_PER_SEC))
    }
}

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * NS_PER_SEC),
    ("w", 7 * 24 * 3600 * NS_PER_SEC),
    ("d", 24 * 3600 * NS_PER_SEC),
    ("h", 3600 * NS_PER_SEC),
    ("m", 60 * NS_PER_SEC),
    ("s", NS_PER_SEC),
    ("ms", 1_000_000),
];

/// Parses a Prometheus duration string into nanoseconds.
pub fn parse_duration(s: &str) -> Result<PromDuration, ConfigError> {
    let bad = || ConfigError::Duration(s.to_string());
    let t = s.trim();
    if t == "0" {
        return Ok(PromDuration(0));
    }
    if t.is_empty() {
        return Err(bad());
    }
    let b = t.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    // Units must appear in descending order, each at most once, as in Prometheus.
    let mut next_unit = 0usize;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: i64 = t[start..i].parse().map_err(|_| bad())?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &t[ustart..i];
        let pos = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?;
        let (_, mult) = UNITS[next_unit + pos];
        next_unit += pos + 1;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(PromDuration(total))
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (u, mult) in UNITS {
            if rest >= mult {
                write!(f, "{}{}", rest / mult, u)?;
                rest %= mult;
            }
        }
        if rest > 0 {
            // Sub-millisecond remainders cannot be written in Prometheus syntax.
            write!(f, "0ms")?;
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_forms() {
        assert_eq!(parse_duration("30s").unwrap().0, 30 * NS_PER_SEC);
        assert_eq!(parse_duration("5m").unwrap().0, 300 * NS_PER_SEC);
        assert_eq!(parse_duration("1h30m").unwrap().0, 5400 * NS_PER_SEC);
        assert_eq!(parse_duration("1d").unwrap().0, 86400 * NS_PER_SEC);
        assert_eq!(parse_duration("1w2d").unwrap().0, 9 * 86400 * NS_PER_SEC);
        assert_eq!(parse_duration("1s500ms").unwrap().0, 1_500_000_000);
        assert_eq!(parse_duration("0").unwrap().0, 0);
    }

    #[test]
    fn rejects_bad_forms() {
        for s in ["", "5", "m", "5x", "1m1h", "1m1m", "-5m", "1.5h"] {
            assert!(parse_duration(s).is_err(), "{s} should fail");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["30s", "5m", "1h30m", "1d", "4h", "1s500ms"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d);
        }
    }
}
