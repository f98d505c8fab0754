use super::*;
use crate::decode::decode_message;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use proptest::prelude::*;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "telegraf",
        partition: 0,
        offset: 1,
        received_ns: 99,
    }
}

fn decode_with(input: &[u8], limits: DecodeLimits) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Metrics).unwrap();
    let d = InfluxDecoder::new(limits);
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

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(col).unwrap().as_string::<i32>();
    c.iter().map(|s| s.map(str::to_string)).collect()
}

fn names(b: &RecordBatch) -> Vec<String> {
    strings(b, "name").into_iter().map(Option::unwrap).collect()
}

fn values(b: &RecordBatch) -> Vec<f64> {
    b.column_by_name("value")
        .unwrap()
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn ts(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .values()
        .to_vec()
}

fn labels(b: &RecordBatch, row: usize) -> Vec<(String, String)> {
    let m = b.column_by_name("labels").unwrap().as_map();
    let e = m.value(row);
    let k = e.column(0).as_string::<i32>();
    let v = e.column(1).as_string::<i32>();
    (0..k.len())
        .map(|i| (k.value(i).to_string(), v.value(i).to_string()))
        .collect()
}

#[test]
fn telegraf_cpu_and_mem() {
    // As Telegraf's kafka output writes them (one message may batch lines).
    let b = decode(
        "cpu,cpu=cpu-total,host=web-1 usage_user=12.5,usage_idle=80.25,usage_guest=0 1795681800000000000\n\
         mem,host=web-1,service=checkout available=1234567i,used_percent=42.1,swap_free=7u,ok=true 1795681800000000000\n",
    )
    .unwrap();
    assert_eq!(
        names(&b),
        vec![
            "cpu_usage_user",
            "cpu_usage_idle",
            "cpu_usage_guest",
            "mem_available",
            "mem_used_percent",
            "mem_swap_free",
            "mem_ok"
        ]
    );
    assert_eq!(
        values(&b),
        vec![12.5, 80.25, 0.0, 1234567.0, 42.1, 7.0, 1.0]
    );
    assert_eq!(ts(&b), vec![1_795_681_800_000_000_000; 7]);
    assert_eq!(strings(&b, "host")[0].as_deref(), Some("web-1"));
    assert_eq!(strings(&b, "service")[0], None);
    assert_eq!(strings(&b, "service")[3].as_deref(), Some("checkout"));
    assert_eq!(strings(&b, "kind")[0].as_deref(), Some("gauge"));
    assert_eq!(labels(&b, 0), vec![("cpu".into(), "cpu-total".into())]);
    assert_eq!(labels(&b, 3), vec![]);
}

#[test]
fn value_field_strings_and_missing_timestamp() {
    let b = decode(r#"http_requests,route=/pay value=3i,note="a \"quoted\" x, y=z" "#).unwrap();
    assert_eq!(names(&b), vec!["http_requests"]);
    assert_eq!(values(&b), vec![3.0]);
    assert_eq!(ts(&b), vec![99]);
    // Only a string field: valid, no row.
    let b = decode(r#"syslog,host=h message="hi there""#).unwrap();
    assert_eq!(b.num_rows(), 0);
    // Comments and blank lines.
    let b = decode("# a comment\n\nx v=1 5\n").unwrap();
    assert_eq!(ts(&b), vec![5]);
}

#[test]
fn escapes_per_spec() {
    let b =
        decode(r#"my\ meas\,ure,tag\ key\,1=tag\=val\ ue,path=C:\dir fi\=eld\ 1=1,b=-1.5e3,c=F 1"#)
            .unwrap();
    assert_eq!(
        names(&b),
        vec!["my meas,ure_fi=eld 1", "my meas,ure_b", "my meas,ure_c"]
    );
    assert_eq!(values(&b), vec![1.0, -1500.0, 0.0]);
    assert_eq!(
        labels(&b, 0),
        vec![
            ("tag key,1".into(), "tag=val ue".into()),
            ("path".into(), r"C:\dir".into())
        ]
    );
    let b = decode("m\u{e9}t,t=\u{fc} v=1").unwrap();
    assert_eq!(names(&b), vec!["m\u{e9}t_v"]);
}

#[test]
fn malformed_lines_have_specific_reasons() {
    let cases: &[(&[u8], DecodeReason)] = &[
        (b"", DecodeReason::Empty),
        (b"cpu", DecodeReason::MissingField),
        (b"cpu ", DecodeReason::MissingField),
        (b",t=1 v=1", DecodeReason::MissingField),
        (b"cpu,host=a", DecodeReason::MissingField),
        (b"cpu,host v=1", DecodeReason::InvalidSyntax),
        (b"cpu,=a v=1", DecodeReason::InvalidSyntax),
        (b"cpu,host= v=1", DecodeReason::InvalidSyntax),
        (b"cpu,a=b=c v=1", DecodeReason::InvalidSyntax),
        (b"cpu v", DecodeReason::InvalidSyntax),
        (b"cpu =1", DecodeReason::InvalidSyntax),
        (b"cpu v=", DecodeReason::InvalidSyntax),
        (b"cpu v=1,", DecodeReason::InvalidSyntax),
        (b"cpu v=\"abc", DecodeReason::InvalidSyntax),
        (b"cpu v=\"abc\"x", DecodeReason::InvalidSyntax),
        (b"cpu v=abc", DecodeReason::InvalidValue),
        (b"cpu v=1.2.3", DecodeReason::InvalidValue),
        (b"cpu v=inf", DecodeReason::InvalidValue),
        (b"cpu v=1e999", DecodeReason::InvalidValue),
        (b"cpu v=1.5i", DecodeReason::InvalidValue),
        (b"cpu v=-1u", DecodeReason::InvalidValue),
        (b"cpu v=99999999999999999999i", DecodeReason::InvalidValue),
        (b"cpu v=1 soon", DecodeReason::InvalidTimestamp),
        (b"cpu v=1 1 2", DecodeReason::InvalidTimestamp),
        (
            b"cpu v=1 99999999999999999999",
            DecodeReason::InvalidTimestamp,
        ),
        (b"cpu,t=\xff v=1", DecodeReason::InvalidUtf8),
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
    // A bad line after good ones rolls the whole message back.
    let err = decode("cpu v=1\ncpu v=2\ncpu v=x\n").unwrap_err();
    assert_eq!(err.reason, DecodeReason::InvalidValue);
    assert_eq!(err.line, Some(3));
    // ... also when the bad field follows good fields of the same line.
    let err = decode("cpu a=1,b=2,c=nope").unwrap_err();
    assert_eq!(err.reason, DecodeReason::InvalidValue);
}

#[test]
fn limits_are_enforced() {
    let limits = DecodeLimits {
        max_message_bytes: 64,
        max_fields_per_row: 2,
        ..DecodeLimits::default()
    };
    // host and service go to columns and do not count.
    assert!(decode_with(b"m,host=h,service=s,a=1,b=2 v=1", limits).is_ok());
    let err = decode_with(b"m,a=1,b=2,c=3 v=1", limits).unwrap_err();
    assert_eq!(err.reason, DecodeReason::TooManyFields);
    let long = format!("m v={}", "1".repeat(80));
    let err = decode_with(long.as_bytes(), limits).unwrap_err();
    assert_eq!(err.reason, DecodeReason::TooLarge);
}

#[test]
fn registered() {
    let d = crate::decode::decoder_for(Table::Metrics, "influx", DecodeLimits::default()).unwrap();
    assert_eq!(d.format(), "influx");
    assert!(crate::decode::formats_for(Table::Metrics).contains(&"influx"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_leave_partial_rows(
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        crate::decode::all_or_nothing(&InfluxDecoder::new(DecodeLimits::default()), &bytes, &lineage())?;
    }

    #[test]
    fn line_protocol_shaped_input_never_panics(
        s in "[a-z ,=\"\\\\0-9.i#-]{0,64}"
    ) {
        crate::decode::all_or_nothing(&InfluxDecoder::new(DecodeLimits::default()), s.as_bytes(), &lineage())?;
    }

    #[test]
    fn generated_lines_round_trip(
        m in "[a-z]{1,10}",
        tags in proptest::collection::btree_map("[a-z]{1,6}", "[a-z0-9 ,=]{1,8}", 0..4),
        v in -1e12f64..1e12,
        n in any::<i64>(),
        t in any::<i64>(),
    ) {
        let esc = |s: &str| s.replace(',', "\\,").replace('=', "\\=").replace(' ', "\\ ");
        let tags: Vec<(String, String)> = tags
            .into_iter()
            .filter(|(k, _)| k != "host" && k != "service")
            .collect();
        let mut line = m.clone();
        for (k, val) in &tags {
            line.push_str(&format!(",{}={}", esc(k), esc(val)));
        }
        line.push_str(&format!(" f={v:?},n={n}i,s=\"x\" {t}"));
        let b = decode(&line).unwrap();
        prop_assert_eq!(names(&b), vec![format!("{m}_f"), format!("{m}_n")]);
        prop_assert_eq!(values(&b), vec![v, n as f64]);
        prop_assert_eq!(ts(&b), vec![t, t]);
        prop_assert_eq!(labels(&b, 1), tags);
    }
}
