use super::*;
use crate::decode::{all_or_nothing, decode_message};
use arrow::array::{Array, AsArray, RecordBatch};
use proptest::prelude::*;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "http.alerts.alertmanager",
        partition: 0,
        offset: 3,
        received_ns: 7,
    }
}

fn decode(flavor: Flavor, input: &str) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Alerts).unwrap();
    let d = AlertmanagerWebhookDecoder::new(DecodeLimits::default(), flavor);
    decode_message(
        &d,
        input.as_bytes(),
        &lineage(),
        &DecodeLimits::default(),
        &mut b,
    )?;
    Ok(b.finish().unwrap())
}

fn s<'a>(b: &'a RecordBatch, c: &str) -> &'a arrow::array::StringArray {
    b.column_by_name(c).unwrap().as_string::<i32>()
}

fn annotation(b: &RecordBatch, row: usize, key: &str) -> Option<String> {
    let map = b.column_by_name("annotations").unwrap().as_map();
    let entries = map.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..keys.len())
        .find(|&i| keys.value(i) == key)
        .map(|i| values.value(i).to_string())
}

/// A notification as Alertmanager 0.25 sends it, pretty-printed the way
/// people paste it into bug reports.
const ALERTMANAGER_V4: &str = r#"{
  "version": "4",
  "groupKey": "{}/{}:{alertname=\"HighErrorRate\"}",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "tocsin",
  "groupLabels": {"alertname": "HighErrorRate"},
  "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager.example:9093",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
      "annotations": {"summary": "5% errors"},
      "startsAt": "2026-11-26T08:30:00Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x",
      "fingerprint": "c0ffee0123456789"
    },
    {
      "status": "resolved",
      "labels": {"alertname": "HighErrorRate", "service": "cart", "severity": "critical"},
      "annotations": {},
      "startsAt": "2026-11-26T08:00:00Z",
      "endsAt": "2026-11-26T08:20:00Z",
      "generatorURL": ""
    }
  ]
}"#;

#[test]
fn alertmanager_notification_gives_one_row_per_alert() {
    let b = decode(Flavor::Alertmanager, ALERTMANAGER_V4).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(s(&b, "fingerprint").value(0), "c0ffee0123456789");
    assert_eq!(s(&b, "status").value(0), "firing");
    assert_eq!(s(&b, "service").value(0), "checkout");
    assert_eq!(s(&b, "severity").value(0), "critical");
    assert_eq!(s(&b, "source").value(0), "alertmanager");
    assert!(b.column_by_name("ends_at").unwrap().is_null(0));
    assert_eq!(annotation(&b, 0, "receiver").as_deref(), Some("tocsin"));
    assert!(
        annotation(&b, 0, "generatorURL")
            .unwrap()
            .contains("prometheus")
    );
    // An empty generatorURL is not kept.
    assert_eq!(annotation(&b, 1, "generatorURL"), None);
    // Resolved: the row's time is when it ended; the fingerprint is computed
    // from the labels as Prometheus does.
    assert_eq!(s(&b, "status").value(1), "resolved");
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert_eq!(ts.value(1), 1_795_681_200_000_000_000);
    assert_eq!(s(&b, "fingerprint").value(1).len(), 16);
}

#[test]
fn grafana_notification_keeps_values_and_links() {
    let input = r#"{"receiver":"tocsin","status":"firing","orgId":1,"alerts":[{"status":"firing","labels":{"alertname":"DiskFull","grafana_folder":"infra","service":"db"},"annotations":{"description":"disk 97%"},"startsAt":"2026-11-26T08:30:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://grafana/alerting/grafana/x/view","fingerprint":"57c6d9296de2ad39","silenceURL":"http://grafana/alerting/silence/new","dashboardURL":"","panelURL":"","values":{"B":97.2},"valueString":"[ var='B' value=97.2 ]"}],"groupLabels":{"alertname":"DiskFull"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://grafana/","version":"1","groupKey":"{}:{alertname=\"DiskFull\"}","truncatedAlerts":0,"title":"[FIRING:1] DiskFull","state":"alerting","message":"…"}"#;
    let b = decode(Flavor::Grafana, input).unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(s(&b, "source").value(0), "grafana");
    assert_eq!(
        annotation(&b, 0, "values").as_deref(),
        Some(r#"{"B":97.2}"#)
    );
    assert!(annotation(&b, 0, "silenceURL").is_some());
    assert_eq!(annotation(&b, 0, "dashboardURL"), None);
}

#[test]
fn bad_notifications_are_rejected_whole() {
    for (input, reason) in [
        (r#"{"version":"4"}"#, DecodeReason::MissingField),
        (r#"{"version":"4","alerts":[]}"#, DecodeReason::Empty),
        (
            r#"{"version":"3","alerts":[{}]}"#,
            DecodeReason::InvalidValue,
        ),
        (r#"{"version":"4","alerts":{}}"#, DecodeReason::InvalidType),
        (r#"[1,2]"#, DecodeReason::InvalidType),
        (
            r#"{"alerts":[{"labels":{"alertname":"a"}},{"labels":{}}]}"#,
            DecodeReason::MissingField,
        ),
        (
            r#"{"alerts":[{"status":"maybe","labels":{"alertname":"a"}}]}"#,
            DecodeReason::InvalidValue,
        ),
        (
            r#"{"alerts":[{"labels":{"alertname":"a"},"startsAt":"yesterday"}]}"#,
            DecodeReason::InvalidTimestamp,
        ),
        ("{\"alerts\":[", DecodeReason::InvalidJson),
    ] {
        let mut b = TableBuilder::for_table(Table::Alerts).unwrap();
        let d = AlertmanagerWebhookDecoder::new(DecodeLimits::default(), Flavor::Alertmanager);
        let err = decode_message(
            &d,
            input.as_bytes(),
            &lineage(),
            &DecodeLimits::default(),
            &mut b,
        )
        .unwrap_err();
        assert_eq!(err.reason, reason, "{input}: {err}");
        // The first, valid alert of a bad notification is not kept either.
        assert_eq!(b.len(), 0);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let d = AlertmanagerWebhookDecoder::new(DecodeLimits::default(), Flavor::Alertmanager);
        all_or_nothing(&d, &bytes, &lineage())?;
    }
}
