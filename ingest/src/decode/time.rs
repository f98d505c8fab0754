//! Timestamps from text or numbers into nanoseconds since the epoch.

use chrono::DateTime;

use super::json::RawTs;
use super::{DecodeError, DecodeReason};

/// Parses an RFC 3339 timestamp (`2026-11-26T08:00:00.123Z`) into ns since the epoch.
pub fn parse_timestamp_str(s: &str) -> Result<i64, DecodeError> {
    let dt = DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
        DecodeError::new(
            DecodeReason::InvalidTimestamp,
            format!(
                "`{}` is not an RFC 3339 timestamp: {e}",
                truncate_for_error(s)
            ),
        )
    })?;
    dt.timestamp_nanos_opt().ok_or_else(|| {
        DecodeError::new(
            DecodeReason::InvalidTimestamp,
            format!("`{s}` is outside the representable range (1677..2262)"),
        )
    })
}

/// Renders ns since the epoch as RFC 3339 with milliseconds, for messages.
pub(crate) fn format_ns(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Converts a JSON timestamp into ns since the epoch.
///
/// Numbers are read by magnitude, as shippers disagree on the unit: below
/// 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
/// nanoseconds. All cover dates from 1973 to 2262 unambiguously.
pub(crate) fn parse_raw_ts(raw: &RawTs<'_>) -> Result<i64, DecodeError> {
    let out_of_range = || {
        DecodeError::new(
            DecodeReason::InvalidTimestamp,
            format!("timestamp {raw:?} is out of range"),
        )
    };
    match raw {
        RawTs::Text(s) => {
            // Some shippers quote epoch numbers.
            if let Ok(n) = s.trim().parse::<i128>() {
                return parse_raw_ts(&RawTs::Int(n));
            }
            parse_timestamp_str(s)
        }
        RawTs::Int(n) => {
            let a = n.unsigned_abs();
            let ns = if a < 100_000_000_000 {
                n * 1_000_000_000
            } else if a < 100_000_000_000_000 {
                n * 1_000_000
            } else if a < 100_000_000_000_000_000 {
                n * 1_000
            } else {
                *n
            };
            i64::try_from(ns).map_err(|_| out_of_range())
        }
        RawTs::Float(f) => {
            if !f.is_finite() {
                return Err(out_of_range());
            }
            let a = f.abs();
            let ns = if a < 1e11 {
                f * 1e9
            } else if a < 1e14 {
                f * 1e6
            } else if a < 1e17 {
                f * 1e3
            } else {
                *f
            };
            if ns.abs() >= 9.2e18 {
                return Err(out_of_range());
            }
            Ok(ns as i64)
        }
    }
}

fn truncate_for_error(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    const T: i64 = 1_795_681_800_000_000_000; // 2026-11-26T08:30:00Z

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_timestamp_str("2026-11-26T08:30:00Z").unwrap(), T);
        assert_eq!(parse_timestamp_str("2026-11-26T09:30:00+01:00").unwrap(), T);
        assert_eq!(
            parse_timestamp_str("2026-11-26T08:30:00.000000123Z").unwrap(),
            T + 123
        );
        let e = parse_timestamp_str("yesterday").unwrap_err();
        assert_eq!(e.reason, DecodeReason::InvalidTimestamp);
    }

    #[test]
    fn numbers_by_magnitude() {
        assert_eq!(parse_raw_ts(&RawTs::Int(1_795_681_800)).unwrap(), T);
        assert_eq!(parse_raw_ts(&RawTs::Int(1_795_681_800_000)).unwrap(), T);
        assert_eq!(parse_raw_ts(&RawTs::Int(1_795_681_800_000_000)).unwrap(), T);
        assert_eq!(parse_raw_ts(&RawTs::Int(T as i128)).unwrap(), T);
        assert_eq!(
            parse_raw_ts(&RawTs::Float(1_795_681_800.5)).unwrap(),
            T + 500_000_000
        );
        assert_eq!(
            parse_raw_ts(&RawTs::Text(Cow::Borrowed("1795681800000"))).unwrap(),
            T
        );
        assert!(parse_raw_ts(&RawTs::Int(i128::MAX)).is_err());
        assert!(parse_raw_ts(&RawTs::Float(f64::NAN)).is_err());
    }
}
