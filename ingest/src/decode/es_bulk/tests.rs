use super::*;
use crate::decode::{all_or_nothing, decode_message};
use arrow::array::AsArray;
use proptest::prelude::*;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "http.logs.es_bulk",
        partition: 0,
        offset: 0,
        received_ns: 1,
    }
}

fn decode(body: &str) -> Result<arrow::array::RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Logs).unwrap();
    let d = EsBulkDecoder::new(DecodeLimits::default());
    decode_message(
        &d,
        body.as_bytes(),
        &lineage(),
        &DecodeLimits::default(),
        &mut b,
    )?;
    Ok(b.finish().unwrap())
}

#[test]
fn filebeat_and_fluent_bit_bodies() {
    // Filebeat: `create` into a data stream, ECS documents.
    let filebeat = r#"{"create":{"_index":"filebeat-8.11.0"}}
{"@timestamp":"2026-11-26T08:30:00.000Z","message":"connection refused","log":{"level":"error"},"service":{"name":"checkout"},"host":{"name":"web-1"}}
{"create":{"_index":"filebeat-8.11.0"}}
{"@timestamp":"2026-11-26T08:30:01.000Z","message":"ok","log":{"level":"info"},"service":{"name":"checkout"}}
"#;
    let b = decode(filebeat).unwrap();
    assert_eq!(b.num_rows(), 2);
    let msg = b.column_by_name("message").unwrap().as_string::<i32>();
    assert_eq!(msg.value(0), "connection refused");
    let level = b.column_by_name("level").unwrap().as_string::<i32>();
    assert_eq!(level.value(0), "error");

    // Fluent Bit: `index` actions, `date` as epoch seconds, `log` as the message.
    let fluent = "{\"index\":{\"_index\":\"fluent-bit\",\"_type\":\"_doc\"}}\n{\"date\":1795681800.5,\"log\":\"GET / 200\",\"kubernetes\":{\"pod_name\":\"web-1\"}}\n{\"delete\":{\"_id\":\"x\"}}\n";
    let b = decode(fluent).unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(
        b.column_by_name("message")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "GET / 200"
    );
}

#[test]
fn bad_bodies_are_refused_whole_with_the_line() {
    for (body, reason, line) in [
        ("{\"index\":{}}\n", DecodeReason::MissingField, None),
        (
            "{\"update\":{\"_id\":\"1\"}}\n{\"doc\":{}}\n",
            DecodeReason::InvalidValue,
            None,
        ),
        (
            "{\"index\":{}}\n{\"message\":\"a\"}\n{\"index\":{}}\n{\"message\": 5",
            DecodeReason::InvalidJson,
            Some(4),
        ),
        ("[1]\n", DecodeReason::InvalidValue, None),
    ] {
        let err = decode(body).unwrap_err();
        assert_eq!(err.reason, reason, "{body}: {err}");
        if line.is_some() {
            assert_eq!(err.line, line, "{body}: {err}");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        all_or_nothing(&EsBulkDecoder::new(DecodeLimits::default()), &bytes, &lineage())?;
    }
}
