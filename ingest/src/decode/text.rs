//! Plain text lines: each line is a log message.
//!
//! The event time is the receive time (the Kafka message timestamp). The
//! level is `info` unless the line starts (after leading whitespace) with a
//! level word, case-insensitive, optionally in square brackets and followed
//! by a non-alphanumeric character or the end of the line:
//! `ERROR`/`ERR`, `WARN`/`WARNING`, `INFO`, `DEBUG`, `TRACE`, `FATAL`/`CRITICAL`.
//! So `ERROR: disk full`, `[warn] slow` and `debug - x` are recognised;
//! `2026-11-26 ERROR x` and `Errors happen` are not (both `info`). Nothing
//! is removed from the message. Lines must be UTF-8.

use super::json::{normalize_level, wrong_builder};
use super::{DecodeError, DecodeReason, Decoder};
use crate::builders::{Lineage, LogRow, TableBuilder};
use crate::catalog::Table;

/// Decodes plain text lines.
#[derive(Debug, Clone, Default)]
pub struct TextLogsDecoder;

impl TextLogsDecoder {
    /// A decoder (plain text has no fields, so no limits apply but the
    /// message size).
    pub fn new() -> Self {
        TextLogsDecoder
    }
}

/// The level a line starts with, if any.
fn leading_level(line: &str) -> Option<&'static str> {
    let s = line.trim_start();
    let (s, bracketed) = match s.strip_prefix('[') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let word_len = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    let word = &s[..word_len];
    let after = s[word_len..].chars().next();
    if bracketed && after != Some(']') {
        return None;
    }
    if after.is_some_and(char::is_alphanumeric) {
        return None;
    }
    let known = [
        "error", "err", "warn", "warning", "info", "debug", "trace", "fatal", "critical",
    ];
    known
        .iter()
        .any(|k| k.eq_ignore_ascii_case(word))
        .then(|| normalize_level(word))
}

impl Decoder for TextLogsDecoder {
    fn table(&self) -> Table {
        Table::Logs
    }

    fn format(&self) -> &'static str {
        "text"
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Logs(b) = out else {
            return Err(wrong_builder("logs"));
        };
        let line = std::str::from_utf8(record).map_err(|e| {
            DecodeError::new(DecodeReason::InvalidUtf8, format!("line is not UTF-8: {e}"))
        })?;
        let line = line.trim_end_matches('\r');
        let row = LogRow {
            ts: lineage.received_ns,
            service: None,
            host: None,
            env: None,
            version: None,
            level: leading_level(line).unwrap_or("info"),
            message: line,
            trace_id: None,
        };
        b.push(&row, lineage);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeLimits, decode_message};
    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::TimestampNanosecondType;
    use proptest::prelude::*;

    fn lineage() -> Lineage<'static> {
        Lineage {
            topic: "text",
            partition: 0,
            offset: 1,
            received_ns: 42,
        }
    }

    fn decode_bytes(input: &[u8], limits: DecodeLimits) -> Result<RecordBatch, DecodeError> {
        let mut b = TableBuilder::for_table(Table::Logs).unwrap();
        let r = decode_message(&TextLogsDecoder::new(), input, &lineage(), &limits, &mut b);
        if r.is_err() {
            assert_eq!(b.len(), 0);
        }
        r?;
        Ok(b.finish().unwrap())
    }

    fn strings(b: &RecordBatch, name: &str) -> Vec<String> {
        let c = b.column_by_name(name).unwrap().as_string::<i32>();
        c.iter().map(|s| s.unwrap_or("").to_string()).collect()
    }

    #[test]
    fn lines_and_levels() {
        let b = decode_bytes(
            b"ERROR: disk full\r\n[warn] slow request\n  debug - cache miss\nInfo started\n\
              2026-11-26 ERROR not at the start\nErrors happen\n[error no bracket\nfatal\nplain \xc3\xa9\n",
            DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(
            strings(&b, "level"),
            vec![
                "error", "warn", "debug", "info", "info", "info", "info", "fatal", "info"
            ]
        );
        assert_eq!(strings(&b, "message")[0], "ERROR: disk full");
        assert_eq!(strings(&b, "message")[2], "  debug - cache miss");
        assert_eq!(strings(&b, "message")[8], "plain \u{e9}");
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>();
        assert!(ts.values().iter().all(|&t| t == 42));
        assert!(b.column_by_name("service").unwrap().is_null(0));
    }

    #[test]
    fn malformed_and_limits() {
        let err = decode_bytes(b"ok\nbad \xff\n", DecodeLimits::default()).unwrap_err();
        assert_eq!(err.reason, DecodeReason::InvalidUtf8);
        assert_eq!(err.line, Some(2));
        let err = decode_bytes(b"  \n\n", DecodeLimits::default()).unwrap_err();
        assert_eq!(err.reason, DecodeReason::Empty);
        let limits = DecodeLimits {
            max_message_bytes: 8,
            max_fields_per_row: 1,
            ..DecodeLimits::default()
        };
        let err = decode_bytes(b"a long line", limits).unwrap_err();
        assert_eq!(err.reason, DecodeReason::TooLarge);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_leave_partial_rows(
            bytes in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            crate::decode::all_or_nothing(&TextLogsDecoder::new(), &bytes, &lineage())?;
        }

        #[test]
        fn every_utf8_line_is_kept_verbatim(line in "[^\n\r]{1,80}") {
            prop_assume!(!line.trim().is_empty());
            let b = decode_bytes(line.as_bytes(), DecodeLimits::default()).unwrap();
            prop_assert_eq!(strings(&b, "message"), vec![line]);
        }
    }
}
