use super::*;
use crate::decode::decode_message;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use proptest::prelude::*;

/// 2026-11-26T08:30:00Z
const RECEIVED: i64 = 1_795_681_800_000_000_000;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "syslog",
        partition: 0,
        offset: 1,
        received_ns: RECEIVED,
    }
}

fn decode_with(input: &[u8], limits: DecodeLimits) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Logs).unwrap();
    let d = SyslogDecoder::new(limits);
    let r = decode_message(&d, input, &lineage(), &limits, &mut b);
    if r.is_err() {
        assert_eq!(b.len(), 0, "partial rows left behind");
    }
    r?;
    Ok(b.finish().unwrap())
}

fn decode(input: &str) -> Result<RecordBatch, DecodeError> {
    decode_with(input.as_bytes(), DecodeLimits::default())
}

fn col(b: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let c = b.column_by_name(name).unwrap().as_string::<i32>();
    (!c.is_null(row)).then(|| c.value(row).to_string())
}

fn ts(b: &RecordBatch, row: usize) -> i64 {
    b.column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .value(row)
}

fn attrs(b: &RecordBatch, row: usize) -> Vec<(String, String)> {
    let m = b.column_by_name("attributes").unwrap().as_map();
    let e = m.value(row);
    let k = e.column(0).as_string::<i32>();
    let v = e.column(1).as_string::<i32>();
    (0..k.len())
        .map(|i| (k.value(i).to_string(), v.value(i).to_string()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn rfc5424_examples() {
    // RFC 5424 §6.5, examples 1 and 3 (with the BOM).
    let b = decode(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8\n\
         <165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] An application event log entry...\n\
         <165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.\n",
    )
    .unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(ts(&b, 0), 1_065_910_455_003_000_000);
    assert_eq!(col(&b, "host", 0).as_deref(), Some("mymachine.example.com"));
    assert_eq!(col(&b, "service", 0).as_deref(), Some("su"));
    assert_eq!(col(&b, "level", 0).as_deref(), Some("fatal")); // 34 = auth.crit
    assert_eq!(
        col(&b, "message", 0).as_deref(),
        Some("'su root' failed for lonvick on /dev/pts/8")
    );
    assert_eq!(
        attrs(&b, 0),
        pairs(&[("facility", "auth"), ("msgid", "ID47")])
    );
    assert_eq!(col(&b, "level", 1).as_deref(), Some("info")); // 165 = local4.notice
    assert_eq!(
        attrs(&b, 1),
        pairs(&[
            ("facility", "local4"),
            ("msgid", "ID47"),
            ("sd.exampleSDID@32473.iut", "3"),
            ("sd.exampleSDID@32473.eventSource", "Application"),
            ("sd.exampleSDID@32473.eventID", "1011"),
            ("sd.examplePriority@32473.class", "high"),
        ])
    );
    assert_eq!(
        col(&b, "message", 1).as_deref(),
        Some("An application event log entry...")
    );
    assert_eq!(ts(&b, 2), 1_061_727_255_000_003_000);
    assert_eq!(col(&b, "host", 2).as_deref(), Some("192.0.2.1"));
    assert_eq!(
        attrs(&b, 2),
        pairs(&[("facility", "local4"), ("procid", "8710")])
    );
}

#[test]
fn rfc5424_nil_values_escapes_and_no_message() {
    let b = decode(r#"<15>1 - - - - - [a@1 p="x\"y\\z\]w\n" q=""]"#).unwrap();
    assert_eq!(ts(&b, 0), RECEIVED);
    assert_eq!(col(&b, "host", 0), None);
    assert_eq!(col(&b, "service", 0), None);
    assert_eq!(col(&b, "level", 0).as_deref(), Some("debug"));
    assert_eq!(col(&b, "message", 0).as_deref(), Some(""));
    assert_eq!(
        attrs(&b, 0),
        pairs(&[
            ("facility", "user"),
            ("sd.a@1.p", r#"x"y\z]w\n"#),
            ("sd.a@1.q", "")
        ])
    );
}

#[test]
fn rfc3164_examples() {
    let b = decode(
        "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed\n\
         <13>Feb  5 17:32:18 10.0.0.99 myapp: Use the BFG!\n\
         <27>Nov 26 08:29:59 web-1 this line has no tag\n\
         <30>Dec 31 23:59:59 web-1 cron[7] job done\n",
    )
    .unwrap();
    // Received 2026-11-26: October is this year, December last year.
    assert_eq!(ts(&b, 0), 1_791_756_855_000_000_000); // 2026-10-11T22:14:15Z
    assert_eq!(col(&b, "host", 0).as_deref(), Some("mymachine"));
    assert_eq!(col(&b, "service", 0).as_deref(), Some("su"));
    assert_eq!(col(&b, "level", 0).as_deref(), Some("fatal"));
    assert_eq!(col(&b, "message", 0).as_deref(), Some("'su root' failed"));
    assert_eq!(
        attrs(&b, 0),
        pairs(&[("facility", "auth"), ("procid", "123")])
    );
    assert_eq!(col(&b, "service", 1).as_deref(), Some("myapp"));
    assert_eq!(col(&b, "level", 1).as_deref(), Some("info"));
    assert_eq!(col(&b, "message", 1).as_deref(), Some("Use the BFG!"));
    assert_eq!(attrs(&b, 1), pairs(&[("facility", "user")]));
    assert_eq!(col(&b, "service", 2), None);
    assert_eq!(col(&b, "level", 2).as_deref(), Some("error"));
    assert_eq!(
        col(&b, "message", 2).as_deref(),
        Some("this line has no tag")
    );
    assert_eq!(ts(&b, 3), 1_767_225_599_000_000_000); // 2025-12-31T23:59:59Z
    assert_eq!(col(&b, "service", 3).as_deref(), Some("cron"));
    assert_eq!(col(&b, "message", 3).as_deref(), Some("job done"));
}

#[test]
fn rsyslog_forward_format() {
    let b = decode("<30>2026-11-26T08:30:00.5+00:00 web-1 nginx[42]: GET / 200").unwrap();
    assert_eq!(ts(&b, 0), RECEIVED + 500_000_000);
    assert_eq!(col(&b, "service", 0).as_deref(), Some("nginx"));
    assert_eq!(col(&b, "message", 0).as_deref(), Some("GET / 200"));
    // The syslog-ng template of the README.
    let b = decode("<11>2026-11-26T09:30:00+01:00 db-2 postgres: FATAL: too many clients").unwrap();
    assert_eq!(ts(&b, 0), RECEIVED);
    assert_eq!(col(&b, "host", 0).as_deref(), Some("db-2"));
    assert_eq!(col(&b, "service", 0).as_deref(), Some("postgres"));
    assert_eq!(col(&b, "level", 0).as_deref(), Some("error"));
    assert_eq!(
        col(&b, "message", 0).as_deref(),
        Some("FATAL: too many clients")
    );
}

#[test]
fn malformed_lines_have_specific_reasons() {
    let cases: &[(&[u8], DecodeReason)] = &[
        (b"no pri", DecodeReason::InvalidSyntax),
        (b"<>1 - - - - - -", DecodeReason::InvalidSyntax),
        (b"<1x>1 - - - - - -", DecodeReason::InvalidSyntax),
        (b"<1234>1 - - - - - -", DecodeReason::InvalidSyntax),
        (b"<34", DecodeReason::InvalidSyntax),
        (b"<192>1 - - - - - -", DecodeReason::InvalidValue),
        (
            b"<34>1 2003-10-11T22:14:15Z host",
            DecodeReason::InvalidSyntax,
        ),
        (b"<34>1 yesterday h a p m -", DecodeReason::InvalidTimestamp),
        (b"<34>1 - h a p m", DecodeReason::InvalidSyntax),
        (b"<34>1 - h a p m x", DecodeReason::InvalidSyntax),
        (b"<34>1 - h a p m [id", DecodeReason::InvalidSyntax),
        (b"<34>1 - h a p m [id p=1]", DecodeReason::InvalidSyntax),
        (b"<34>1 - h a p m [id p=\"1]", DecodeReason::InvalidSyntax),
        (b"<34>1 - h a p m [id p]", DecodeReason::InvalidSyntax),
        (b"<34>1 - h a p m []", DecodeReason::InvalidSyntax),
        (
            b"<34>1 - h a p m [id p=\"1\"]x",
            DecodeReason::InvalidSyntax,
        ),
        (
            b"<34>Foo 11 22:14:15 h su: m",
            DecodeReason::InvalidTimestamp,
        ),
        (
            b"<34>Feb 30 22:14:15 h su: m",
            DecodeReason::InvalidTimestamp,
        ),
        (
            b"<34>Oct 11 25:14:15 h su: m",
            DecodeReason::InvalidTimestamp,
        ),
        (b"<34>Oct 11", DecodeReason::InvalidTimestamp),
        (b"<34>Oct 11 22:14:15", DecodeReason::InvalidSyntax),
        (b"<34>Oct 11 22:14:15 host", DecodeReason::InvalidSyntax),
        (
            b"<34>Oct 11 22:14:15 h su[12: m",
            DecodeReason::InvalidSyntax,
        ),
        (
            b"<34>2026-13-01T00:00:00Z h su: m",
            DecodeReason::InvalidTimestamp,
        ),
        (b"<34>1 - h a p m - \xff", DecodeReason::InvalidUtf8),
    ];
    for (input, reason) in cases {
        let err =
            decode_with(input, DecodeLimits::default()).expect_err(&String::from_utf8_lossy(input));
        assert_eq!(
            err.reason,
            *reason,
            "{:?}: {err}",
            String::from_utf8_lossy(input)
        );
    }
    let err = decode("<34>1 - h a - - - ok\n<34>1 - h").unwrap_err();
    assert_eq!(err.line, Some(2));
}

#[test]
fn limits_are_enforced() {
    let limits = DecodeLimits {
        max_message_bytes: 1024,
        max_fields_per_row: 3,
        ..DecodeLimits::default()
    };
    assert!(decode_with(br#"<34>1 - h a p m [x a="1" b="2"] ok"#, limits).is_err());
    assert!(decode_with(br#"<34>1 - h a - m [x a="1"] ok"#, limits).is_ok());
    let err = decode_with(br#"<34>1 - h a p m [x a="1" b="2"] ok"#, limits).unwrap_err();
    assert_eq!(err.reason, DecodeReason::TooManyFields);
    let err = decode_with(&[b'x'; 2000], limits).unwrap_err();
    assert_eq!(err.reason, DecodeReason::TooLarge);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_leave_partial_rows(
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        crate::decode::all_or_nothing(&SyslogDecoder::new(DecodeLimits::default()), &bytes, &lineage())?;
    }

    #[test]
    fn syslog_shaped_input_never_panics(
        s in "<[0-9]{1,3}>(1 |[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} )[-a-z0-9 \\[\\]=\"\\\\@:.é]{0,60}"
    ) {
        crate::decode::all_or_nothing(&SyslogDecoder::new(DecodeLimits::default()), s.as_bytes(), &lineage())?;
    }
}
