use proptest::prelude::*;

use super::*;
use crate::decode::test_support::{float, map, text, ts};
use crate::decode::{all_or_nothing, decode_message};
use arrow::array::RecordBatch;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "prometheus",
        partition: 0,
        offset: 1,
        received_ns: 42,
    }
}

fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: Bytes::copy_from_slice(n.as_bytes()),
                value: Bytes::copy_from_slice(v.as_bytes()),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp)| Sample { value, timestamp })
            .collect(),
        histograms: Vec::new(),
    }
}

fn body(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

fn decode(raw: &[u8]) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Metrics).unwrap();
    let d = RemoteWriteDecoder::new(DecodeLimits::default());
    decode_message(&d, raw, &lineage(), &DecodeLimits::default(), &mut b)?;
    Ok(b.finish().unwrap())
}

#[test]
fn samples_keep_names_labels_values_and_times() {
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "checkout"),
                    ("instance", "10.0.0.7:9100"),
                    ("code", "500"),
                ],
                &[(12.0, 1_795_681_800_000), (15.0, 1_795_681_815_000)],
            ),
            series(
                &[("__name__", "up"), ("service", "cart"), ("env", "prod")],
                &[(1.0, 1_795_681_800_000)],
            ),
        ],
        metadata: Vec::new(),
    };
    let b = decode(&body(&req)).unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(text(&b, "name", 0).as_deref(), Some("http_requests_total"));
    assert_eq!(text(&b, "kind", 0).as_deref(), Some("counter"));
    assert_eq!(text(&b, "service", 0).as_deref(), Some("checkout"));
    assert_eq!(text(&b, "host", 0).as_deref(), Some("10.0.0.7:9100"));
    assert_eq!(float(&b, "value", 1), 15.0);
    assert_eq!(ts(&b, 1), 1_795_681_815_000_000_000);
    assert_eq!(
        map(&b, "labels", 0),
        vec![
            ("job".to_owned(), "checkout".to_owned()),
            ("instance".to_owned(), "10.0.0.7:9100".to_owned()),
            ("code".to_owned(), "500".to_owned()),
        ]
    );
    assert_eq!(text(&b, "service", 2).as_deref(), Some("cart"));
    assert_eq!(text(&b, "env", 2).as_deref(), Some("prod"));
    assert_eq!(text(&b, "kind", 2).as_deref(), Some("gauge"));
    assert_eq!(
        map(&b, "labels", 2),
        vec![("env".to_owned(), "prod".to_owned())]
    );
}

#[test]
fn metadata_sets_the_kind_and_stale_markers_are_skipped() {
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "rpc_duration_seconds_count")],
                &[(3.0, 1000), (f64::from_bits(STALE_NAN), 2000)],
            ),
            series(&[("__name__", "temperature")], &[(f64::NAN, 1000)]),
        ],
        metadata: vec![MetricMetadata {
            r#type: 5,
            metric_family_name: "rpc_duration_seconds".into(),
        }],
    };
    let b = decode(&body(&req)).unwrap();
    assert_eq!(b.num_rows(), 2, "the staleness marker is not a sample");
    assert_eq!(text(&b, "kind", 0).as_deref(), Some("summary"));
    // An ordinary NaN is a value and is kept.
    assert!(float(&b, "value", 1).is_nan());
}

#[test]
fn malformed_bodies_are_refused_with_their_reason() {
    let good = WriteRequest {
        timeseries: vec![series(&[("__name__", "up")], &[(1.0, 1000)])],
        metadata: Vec::new(),
    };
    let r = |raw: &[u8]| decode(raw).unwrap_err().reason;
    // Uncompressed protobuf where snappy is expected.
    assert_eq!(r(&good.encode_to_vec()), DecodeReason::InvalidCompression);
    // Snappy of something that is not a WriteRequest.
    let garbage = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0x50, 1, 2])
        .unwrap();
    assert_eq!(r(&garbage), DecodeReason::InvalidProtobuf);
    // A header that claims 2 GiB: refused before allocating.
    assert_eq!(
        r(&[0x80, 0x80, 0x80, 0x80, 0x08, 0]),
        DecodeReason::InvalidCompression
    );
    let unnamed = WriteRequest {
        timeseries: vec![series(&[("job", "x")], &[(1.0, 1000)])],
        metadata: Vec::new(),
    };
    assert_eq!(r(&body(&unnamed)), DecodeReason::MissingField);
    let bad_utf8 = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: Bytes::from_static(b"__name__"),
                value: Bytes::from_static(b"up\xff"),
            }],
            samples: vec![Sample {
                value: 1.0,
                timestamp: 1,
            }],
            histograms: Vec::new(),
        }],
        metadata: Vec::new(),
    };
    assert_eq!(r(&body(&bad_utf8)), DecodeReason::InvalidUtf8);
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("l{i}"), "v".into())).collect();
    let mut labels: Vec<(&str, &str)> =
        many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    labels.push(("__name__", "up"));
    let wide = WriteRequest {
        timeseries: vec![series(&labels, &[(1.0, 1000)])],
        metadata: Vec::new(),
    };
    assert_eq!(r(&body(&wide)), DecodeReason::TooManyFields);
    let long = "v".repeat(70_000);
    let long_label = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "up"), ("big", &long)],
            &[(1.0, 1000)],
        )],
        metadata: Vec::new(),
    };
    // 70 KB of one byte compresses to almost nothing: the check must not
    // rely on the body's size.
    assert!(body(&long_label).len() < 10_000);
    assert_eq!(r(&body(&long_label)), DecodeReason::TooLong);
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let d = RemoteWriteDecoder::new(DecodeLimits::default());
        all_or_nothing(&d, &bytes, &lineage())?;
        let compressed = snap::raw::Encoder::new().compress_vec(&bytes).unwrap();
        all_or_nothing(&d, &compressed, &lineage())?;
    }
}

#[test]
fn unknown_fields_are_skipped_and_wrong_wire_types_refused() {
    let req = WriteRequest {
        timeseries: vec![series(&[("__name__", "up")], &[(1.0, 1000)])],
        metadata: Vec::new(),
    };
    let mut raw = req.encode_to_vec();
    // An exemplar-like field 3 inside the request (unknown here) and a
    // varint field 9 at the top level.
    raw.extend_from_slice(&[0x1a, 0x02, 0x08, 0x01, 0x48, 0x05]);
    let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    assert_eq!(decode(&compressed).unwrap().num_rows(), 1);
    // Field 1 (timeseries) sent as a varint.
    let wrong = snap::raw::Encoder::new()
        .compress_vec(&[0x08, 0x01])
        .unwrap();
    assert_eq!(
        decode(&wrong).unwrap_err().reason,
        DecodeReason::InvalidProtobuf
    );
}

proptest! {
    /// The zero-copy walk reads what prost's encoder wrote: every
    /// sample, with its name, value, time and labels.
    #[test]
    fn walk_reads_what_prost_wrote(
        specs in proptest::collection::vec(
            (0u8..5, proptest::collection::vec(("[a-z]{1,6}", "[ -~]{0,12}"), 0..6),
             proptest::collection::vec((-1e9f64..1e9, 0i64..2_000_000_000_000), 1..4)),
            1..20,
        )
    ) {
        let timeseries: Vec<TimeSeries> = specs
            .iter()
            .map(|(n, labels, samples)| {
                let name = format!("metric_{n}");
                let mut l: Vec<(&str, &str)> = vec![("__name__", name.as_str())];
                l.extend(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                series(&l, samples)
            })
            .collect();
        let req = WriteRequest { timeseries, metadata: Vec::new() };
        let b = decode(&body(&req)).unwrap();
        let mut row = 0;
        for (n, labels, samples) in &specs {
            for (value, ms) in samples {
                prop_assert_eq!(text(&b, "name", row), Some(format!("metric_{n}")));
                prop_assert_eq!(float(&b, "value", row), *value);
                prop_assert_eq!(ts(&b, row), ms * 1_000_000);
                let kept: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(k, _)| k != "service")
                    .cloned()
                    .collect();
                prop_assert_eq!(map(&b, "labels", row), kept);
                row += 1;
            }
        }
        prop_assert_eq!(b.num_rows(), row);
    }
}
