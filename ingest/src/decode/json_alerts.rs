//! Alerts as JSON: tocsin's generic alert envelope
//! (`{"alertname","status","severity","service","labels","annotations",
//! "starts_at","ends_at","source","fingerprint"}`), with Alertmanager's
//! camel-case spellings (`startsAt`, `endsAt`, `generatorURL`) accepted.
//!
//! Without a `fingerprint`, one is computed from the labels exactly as
//! Prometheus does (FNV-1a over sorted names and values), so alerts keep the
//! identity Alertmanager gives them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::json::{AnyAsStr, RawTs, Str, StringMapSeed, parse_record, wrong_builder};
use super::time::parse_raw_ts;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{AlertRow, Lineage, TableBuilder};
use crate::catalog::Table;

/// Decodes JSON alerts.
#[derive(Debug, Clone)]
pub struct JsonAlertsDecoder {
    limits: DecodeLimits,
}

impl JsonAlertsDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        JsonAlertsDecoder { limits }
    }
}

type Entries<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

#[derive(Default)]
struct AlertFields<'a> {
    ts: Option<RawTs<'a>>,
    fingerprint: Option<Cow<'a, str>>,
    alertname: Option<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
    severity: Option<Cow<'a, str>>,
    service: Option<Cow<'a, str>>,
    starts_at: Option<RawTs<'a>>,
    ends_at: Option<RawTs<'a>>,
    source: Option<Cow<'a, str>>,
    labels: Entries<'a>,
    annotations: Entries<'a>,
}

struct AlertSeed<'f, 'a> {
    fields: &'f mut AlertFields<'a>,
}

impl<'de, 'f> DeserializeSeed<'de> for AlertSeed<'f, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for AlertSeed<'f, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one alert)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.fields;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            match key.as_ref() {
                "ts" | "timestamp" => f.ts = Some(map.next_value()?),
                "fingerprint" => f.fingerprint = Some(map.next_value::<Str<'de>>()?.0),
                "alertname" => f.alertname = Some(map.next_value::<Str<'de>>()?.0),
                "status" => f.status = Some(map.next_value::<Str<'de>>()?.0),
                "severity" => f.severity = map.next_value::<AnyAsStr<'de>>()?.0,
                "service" => f.service = map.next_value::<AnyAsStr<'de>>()?.0,
                "starts_at" | "startsAt" => f.starts_at = map.next_value::<Option<RawTs<'de>>>()?,
                "ends_at" | "endsAt" => f.ends_at = map.next_value::<Option<RawTs<'de>>>()?,
                "source" => f.source = Some(map.next_value::<Str<'de>>()?.0),
                "labels" => {
                    let labels = &mut f.labels;
                    map.next_value_seed(StringMapSeed {
                        sink: |k, v| {
                            labels.push((k, v));
                            true
                        },
                    })?;
                }
                "annotations" => {
                    let ann = &mut f.annotations;
                    map.next_value_seed(StringMapSeed {
                        sink: |k, v| {
                            ann.push((k, v));
                            true
                        },
                    })?;
                }
                _ => {
                    // Unknown fields (generatorURL, ...) are kept as annotations:
                    // labels define an alert's identity and must not change
                    // with incidental fields.
                    let AnyAsStr(v) = map.next_value()?;
                    if let Some(v) = v {
                        f.annotations.push((key, v));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Prometheus's label-set fingerprint: FNV-1a 64 over the sorted names and
/// values, each followed by the separator byte 0xff.
pub fn label_fingerprint(labels: &[(Cow<'_, str>, Cow<'_, str>)]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut sorted: Vec<&(Cow<'_, str>, Cow<'_, str>)> = labels.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in sorted {
        feed(k.as_bytes());
        feed(&[0xff]);
        feed(v.as_bytes());
        feed(&[0xff]);
    }
    format!("{h:016x}")
}

/// Parses an optional time; Go's zero time (`0001-01-01T00:00:00Z`, which
/// Alertmanager sends for alerts that have not ended) means "not set".
fn optional_time(raw: Option<&RawTs<'_>>) -> Result<Option<i64>, DecodeError> {
    match raw {
        Some(RawTs::Text(s)) if s.starts_with("0001-01-01T00:00:00") => Ok(None),
        Some(raw) => parse_raw_ts(raw).map(Some),
        None => Ok(None),
    }
}

fn label<'x>(labels: &'x Entries<'_>, name: &str) -> Option<&'x str> {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

impl Decoder for JsonAlertsDecoder {
    fn table(&self) -> Table {
        Table::Alerts
    }

    fn format(&self) -> &'static str {
        "json"
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Alerts(b) = out else {
            return Err(wrong_builder("alerts"));
        };
        let mut f = AlertFields::default();
        parse_record(record, AlertSeed { fields: &mut f })?;

        let max = self.limits.max_fields_per_row;
        if f.labels.len() > max || f.annotations.len() > max {
            return Err(DecodeError::new(
                DecodeReason::TooManyFields,
                format!("alert has more than {max} labels or annotations"),
            ));
        }
        if f.alertname.is_none() {
            f.alertname = label(&f.labels, "alertname").map(|s| Cow::Owned(s.to_owned()));
        }
        let Some(alertname) = f.alertname.clone() else {
            return Err(DecodeError::new(
                DecodeReason::MissingField,
                "missing `alertname` (field or label)",
            ));
        };
        if label(&f.labels, "alertname").is_none() {
            f.labels
                .push((Cow::Borrowed("alertname"), alertname.clone()));
        }
        let status = f.status.as_deref().unwrap_or("firing");
        if status != "firing" && status != "resolved" {
            return Err(DecodeError::new(
                DecodeReason::InvalidValue,
                format!("`status` is `{status}`; expected firing or resolved"),
            ));
        }
        let starts_at = optional_time(f.starts_at.as_ref())?;
        let ends_at = optional_time(f.ends_at.as_ref())?;
        let ts = match &f.ts {
            Some(raw) => parse_raw_ts(raw)?,
            None => match (status, starts_at, ends_at) {
                ("resolved", _, Some(end)) => end,
                (_, Some(start), _) => start,
                _ => lineage.received_ns,
            },
        };
        let fingerprint = match &f.fingerprint {
            Some(fp) => fp.clone(),
            None => Cow::Owned(label_fingerprint(&f.labels)),
        };
        let severity = f
            .severity
            .as_deref()
            .or_else(|| label(&f.labels, "severity"));
        let service = f.service.as_deref().or_else(|| label(&f.labels, "service"));
        for (k, v) in &f.labels {
            b.labels.push_entry(k, v);
        }
        for (k, v) in &f.annotations {
            b.annotations.push_entry(k, v);
        }
        let row = AlertRow {
            ts,
            fingerprint: &fingerprint,
            alertname: &alertname,
            status,
            severity,
            service,
            starts_at,
            ends_at,
            source: f.source.as_deref().unwrap_or("external"),
        };
        b.push(&row, lineage);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_message;
    use arrow::array::{Array, AsArray, RecordBatch};
    use proptest::prelude::*;

    fn lineage() -> Lineage<'static> {
        Lineage {
            topic: "tocsin.alerts",
            partition: 0,
            offset: 1,
            received_ns: 5,
        }
    }

    fn decode(input: &str) -> Result<RecordBatch, DecodeError> {
        let mut b = TableBuilder::for_table(Table::Alerts).unwrap();
        let d = JsonAlertsDecoder::new(DecodeLimits::default());
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

    #[test]
    fn alertmanager_style_alert() {
        // Alertmanager sends Go's zero time as `endsAt` of a firing alert.
        let b = decode(
            r#"{"labels":{"alertname":"HighErrorRate","service":"checkout","severity":"critical"},"annotations":{"summary":"errors"},"startsAt":"2026-11-26T08:30:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph"}"#,
        )
        .unwrap();
        assert_eq!(s(&b, "alertname").value(0), "HighErrorRate");
        assert_eq!(s(&b, "status").value(0), "firing");
        assert_eq!(s(&b, "service").value(0), "checkout");
        assert_eq!(s(&b, "severity").value(0), "critical");
        assert_eq!(s(&b, "source").value(0), "external");
        assert!(b.column_by_name("ends_at").unwrap().is_null(0));
        assert_eq!(
            b.column_by_name("annotations")
                .unwrap()
                .as_map()
                .value(0)
                .len(),
            2
        );
    }

    #[test]
    fn fingerprint_matches_prometheus() {
        // Prometheus: model.LabelSet{"alertname":"a"}.Fingerprint().String()
        // is FNV-1a of "alertname\xffa\xff".
        let fp = label_fingerprint(&[(Cow::Borrowed("alertname"), Cow::Borrowed("a"))]);
        let mut h: u64 = 0xcbf29ce484222325;
        for b in b"alertname\xffa\xff" {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        assert_eq!(fp, format!("{h:016x}"));
        // Order of labels does not matter.
        let a = label_fingerprint(&[("x".into(), "1".into()), ("y".into(), "2".into())]);
        let b = label_fingerprint(&[("y".into(), "2".into()), ("x".into(), "1".into())]);
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_alerts() {
        for (input, reason) in [
            (r#"{"labels":{}}"#, DecodeReason::MissingField),
            (
                r#"{"alertname":"a","status":"maybe"}"#,
                DecodeReason::InvalidValue,
            ),
            (r#"{"alertname":5}"#, DecodeReason::InvalidType),
            (
                r#"{"alertname":"a","endsAt":"1000-01-01T00:00:00Z"}"#,
                DecodeReason::InvalidTimestamp,
            ),
        ] {
            assert_eq!(decode(input).unwrap_err().reason, reason, "{input}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut b = TableBuilder::for_table(Table::Alerts).unwrap();
            let d = JsonAlertsDecoder::new(DecodeLimits::default());
            if decode_message(&d, &bytes, &lineage(), &DecodeLimits::default(), &mut b).is_err() {
                prop_assert_eq!(b.len(), 0);
            }
            prop_assert!(b.finish().is_ok());
        }
    }
}
