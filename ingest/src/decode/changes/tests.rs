use super::*;
use crate::decode::{DecodeLimits, all_or_nothing, decode_message};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use proptest::prelude::*;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "tocsin.changes",
        partition: 2,
        offset: 40,
        received_ns: 11,
    }
}

fn decode(flavor: Flavor, input: &str) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Changes).unwrap();
    decode_message(
        &ChangesDecoder::new(flavor),
        input.as_bytes(),
        &lineage(),
        &DecodeLimits::default(),
        &mut b,
    )?;
    Ok(b.finish().unwrap())
}

fn s(b: &RecordBatch, c: &str, row: usize) -> Option<String> {
    let col = b.column_by_name(c).unwrap().as_string::<i32>();
    (!col.is_null(row)).then(|| col.value(row).to_string())
}

fn ts(b: &RecordBatch, row: usize) -> i64 {
    b.column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .value(row)
}

fn details(b: &RecordBatch, row: usize) -> Value {
    serde_json::from_str(&s(b, "details", row).unwrap()).unwrap()
}

#[test]
fn tocsin_json_change_keeps_unknown_fields_in_details() {
    let b = decode(
        Flavor::Json,
        r#"{"ts":"2026-11-26T08:30:00Z","kind":"Deployment","service":"checkout","env":"prod","version":"1.4.2","actor":"ci","id":"d-1","pipeline":"main#88","details":{"strategy":"canary"}}
{"kind":"flag","service":"cart","version":"new_pricing=on"}"#,
    )
    .unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(s(&b, "kind", 0).as_deref(), Some("deploy"));
    assert_eq!(s(&b, "id", 0).as_deref(), Some("d-1"));
    assert_eq!(ts(&b, 0), 1_795_681_800_000_000_000);
    let d = details(&b, 0);
    assert_eq!(d["strategy"], "canary");
    assert_eq!(d["pipeline"], "main#88");
    // No time: the receive time; no id: one derived from the source position.
    assert_eq!(ts(&b, 1), 11);
    assert_eq!(s(&b, "id", 1).as_deref(), Some("tocsin.changes-2-40-0"));
    assert_eq!(s(&b, "actor", 1), None);
}

#[test]
fn cloudevents_with_tocsin_types_and_batches() {
    let one = r#"{
      "specversion": "1.0",
      "type": "dev.tocsin.change.flag",
      "source": "/flags/launchdarkly",
      "id": "evt-9",
      "time": "2026-11-26T08:30:00Z",
      "datacontenttype": "application/json",
      "data": {"service": "checkout", "env": "prod", "version": "new_pricing=on", "actor": "alice", "flag": "new_pricing"}
    }"#;
    let b = decode(Flavor::CloudEvents, one).unwrap();
    assert_eq!(s(&b, "kind", 0).as_deref(), Some("flag"));
    assert_eq!(s(&b, "source", 0).as_deref(), Some("/flags/launchdarkly"));
    assert_eq!(s(&b, "actor", 0).as_deref(), Some("alice"));
    assert_eq!(details(&b, 0)["flag"], "new_pricing");
    assert_eq!(details(&b, 0)["datacontenttype"], "application/json");

    let batch = r#"[{"specversion":"1.0","type":"dev.tocsin.change.migration","source":"/db","id":"m1","subject":"orders"},
                   {"specversion":"1.0","type":"dev.tocsin.change.config","source":"/cfg","id":"c1","data":{"service":"cart"}}]"#;
    let b = decode(Flavor::CloudEvents, batch).unwrap();
    assert_eq!(b.num_rows(), 2);
    // Without data.service the CloudEvents subject names the service.
    assert_eq!(s(&b, "service", 0).as_deref(), Some("orders"));
    assert_eq!(s(&b, "kind", 1).as_deref(), Some("config"));
}

#[test]
fn cdevents_service_deployed_maps_subject_and_artifact() {
    let input = r#"{"specversion":"1.0","id":"271069a8","source":"/event/source/123","type":"dev.cdevents.service.deployed.0.1.1","time":"2026-11-26T08:30:00Z",
      "data":{"context":{"version":"0.3.0"},"subject":{"id":"checkout","source":"/event/source/123","type":"service",
      "content":{"environment":{"id":"production"},"artifactId":"pkg:oci/checkout@sha256:0b31b1c0?repository_url=x@v1.4.2"}}}}"#;
    let b = decode(Flavor::CloudEvents, input).unwrap();
    assert_eq!(s(&b, "kind", 0).as_deref(), Some("deploy"));
    assert_eq!(s(&b, "service", 0).as_deref(), Some("checkout"));
    assert_eq!(s(&b, "env", 0).as_deref(), Some("production"));
    assert_eq!(s(&b, "version", 0).as_deref(), Some("v1.4.2"));
}

#[test]
fn github_deployment_status_webhook() {
    let input = r#"{
      "action": "created",
      "deployment_status": {"id": 2222, "state": "success", "environment": "production",
        "creator": {"login": "octocat"}, "created_at": "2026-11-26T08:30:00Z", "updated_at": "2026-11-26T08:31:00Z",
        "log_url": "https://ci.example/run/1", "description": "Deployment finished"},
      "deployment": {"id": 1111, "sha": "a84d88e", "ref": "v1.4.2", "task": "deploy", "environment": "production",
        "payload": {"service": "checkout"}, "created_at": "2026-11-26T08:29:00Z"},
      "repository": {"name": "shop", "full_name": "acme/shop"},
      "sender": {"login": "deploy-bot"}
    }"#;
    let b = decode(Flavor::GitHub, input).unwrap();
    assert_eq!(
        s(&b, "id", 0).as_deref(),
        Some("github-deployment-1111-2222")
    );
    assert_eq!(s(&b, "kind", 0).as_deref(), Some("deploy"));
    assert_eq!(s(&b, "service", 0).as_deref(), Some("checkout"));
    assert_eq!(s(&b, "env", 0).as_deref(), Some("production"));
    assert_eq!(s(&b, "version", 0).as_deref(), Some("v1.4.2"));
    assert_eq!(s(&b, "actor", 0).as_deref(), Some("octocat"));
    assert_eq!(ts(&b, 0), 1_795_681_860_000_000_000);
    let d = details(&b, 0);
    assert_eq!(d["state"], "success");
    assert_eq!(d["sha"], "a84d88e");

    let rollback = input
        .replace("\"task\": \"deploy\"", "\"task\": \"deploy:rollback\"")
        .replace("{\"service\": \"checkout\"}", "{}");
    let b = decode(Flavor::GitHub, &rollback).unwrap();
    assert_eq!(s(&b, "kind", 0).as_deref(), Some("rollback"));
    // Without payload.service the repository names the service.
    assert_eq!(s(&b, "service", 0).as_deref(), Some("shop"));
}

#[test]
fn bad_change_events_say_why() {
    for (flavor, input, reason) in [
        (
            Flavor::Json,
            r#"{"service":"a"}"#,
            DecodeReason::MissingField,
        ),
        (
            Flavor::Json,
            r#"{"kind":"party"}"#,
            DecodeReason::InvalidValue,
        ),
        (
            Flavor::Json,
            r#"{"kind":"deploy","ts":"noon"}"#,
            DecodeReason::InvalidTimestamp,
        ),
        (
            Flavor::CloudEvents,
            r#"{"specversion":"1.0","id":"1","source":"/x","type":"com.example.order.placed"}"#,
            DecodeReason::InvalidValue,
        ),
        (
            Flavor::CloudEvents,
            r#"{"specversion":"0.3","id":"1","source":"/x","type":"dev.tocsin.change.deploy"}"#,
            DecodeReason::InvalidValue,
        ),
        (
            Flavor::CloudEvents,
            r#"{"specversion":"1.0","source":"/x","type":"dev.tocsin.change.deploy"}"#,
            DecodeReason::MissingField,
        ),
        (
            Flavor::CloudEvents,
            r#"{"specversion":"1.0","id":"1","source":"/x","type":"dev.tocsin.change.deploy","data":"text"}"#,
            DecodeReason::InvalidType,
        ),
        (Flavor::CloudEvents, "[]", DecodeReason::Empty),
        (
            Flavor::GitHub,
            r#"{"action":"opened","pull_request":{}}"#,
            DecodeReason::MissingField,
        ),
        (
            Flavor::GitHub,
            r#"{"deployment_status":{"state":"success"},"deployment":{}}"#,
            DecodeReason::MissingField,
        ),
    ] {
        let err = decode(flavor, input).unwrap_err();
        assert_eq!(err.reason, reason, "{input}: {err}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for flavor in [Flavor::Json, Flavor::CloudEvents, Flavor::GitHub] {
            all_or_nothing(&ChangesDecoder::new(flavor), &bytes, &lineage())?;
        }
    }
}
