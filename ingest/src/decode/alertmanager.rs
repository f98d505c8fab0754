//! Alertmanager's webhook (`version: "4"`) and Grafana alerting's webhook,
//! which is the same envelope with more fields per alert: one row per alert
//! in the notification's `alerts` array.
//!
//! The envelope's `receiver`, `groupKey` and `externalURL` become annotations
//! of every row, so a row can be traced back to the notification that carried
//! it; the alert's labels stay its identity.

use std::borrow::Cow;

use serde_json::Value;

use super::document::{as_object, parse_document, str_at, string_entries, time_at, value_text};
use super::json::wrong_builder;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder, label_fingerprint};
use crate::builders::{AlertRow, Lineage, TableBuilder};
use crate::catalog::Table;

/// Which webhook the envelope comes from; decides the `source` column and
/// which per-alert extras are expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Alertmanager webhook receiver, payload version 4.
    Alertmanager,
    /// Grafana alerting's webhook contact point.
    Grafana,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Alertmanager => "alertmanager",
            Flavor::Grafana => "grafana",
        }
    }
}

/// Decodes webhook notifications into `alerts` rows.
#[derive(Debug, Clone)]
pub struct AlertmanagerWebhookDecoder {
    limits: DecodeLimits,
    flavor: Flavor,
}

impl AlertmanagerWebhookDecoder {
    /// A decoder for `flavor` with the given limits.
    pub fn new(limits: DecodeLimits, flavor: Flavor) -> Self {
        AlertmanagerWebhookDecoder { limits, flavor }
    }
}

/// Per-alert fields that are neither labels nor annotations but worth
/// keeping (as annotations): links and Grafana's evaluated values.
const ALERT_EXTRAS: [&str; 7] = [
    "generatorURL",
    "silenceURL",
    "dashboardURL",
    "panelURL",
    "imageURL",
    "valueString",
    "values",
];

impl Decoder for AlertmanagerWebhookDecoder {
    fn table(&self) -> Table {
        Table::Alerts
    }

    fn format(&self) -> &'static str {
        self.flavor.name()
    }

    fn whole_message(&self) -> bool {
        true
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
        let doc = parse_document(record)?;
        as_object(&doc, "a webhook notification")?;
        if self.flavor == Flavor::Alertmanager
            && let Some(v) = doc.get("version").and_then(Value::as_str)
            && v != "4"
        {
            return Err(DecodeError::new(
                DecodeReason::InvalidValue,
                format!("webhook payload version `{v}`; tocsin reads version 4"),
            ));
        }
        let alerts = match doc.get("alerts") {
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(DecodeError::new(
                    DecodeReason::InvalidType,
                    "`alerts` must be an array",
                ));
            }
            None => {
                return Err(DecodeError::new(
                    DecodeReason::MissingField,
                    "webhook notification has no `alerts`",
                ));
            }
        };
        if alerts.is_empty() {
            return Err(DecodeError::new(
                DecodeReason::Empty,
                "webhook notification carries no alert",
            ));
        }
        let envelope: Vec<(&str, &str)> = [
            ("receiver", str_at(&doc, &["receiver"])),
            ("groupKey", str_at(&doc, &["groupKey"])),
            ("externalURL", str_at(&doc, &["externalURL"])),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let max = self.limits.max_fields_per_row;
        for alert in alerts {
            as_object(alert, "each of `alerts`")?;
            let labels = string_entries(alert, &["labels"], max)?;
            let mut annotations = string_entries(alert, &["annotations"], max)?;
            for extra in ALERT_EXTRAS {
                if let Some(v) = alert
                    .get(extra)
                    .and_then(value_text)
                    .filter(|v| !v.is_empty())
                {
                    annotations.push((extra.to_string(), v));
                }
            }
            for (k, v) in &envelope {
                annotations.push(((*k).to_string(), (*v).to_string()));
            }
            if annotations.len() > max {
                return Err(DecodeError::new(
                    DecodeReason::TooManyFields,
                    format!("alert has more than {max} annotations"),
                ));
            }
            let label = |name: &str| {
                labels
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let Some(alertname) = label("alertname") else {
                return Err(DecodeError::new(
                    DecodeReason::MissingField,
                    "an alert has no `alertname` label",
                ));
            };
            let status = match alert.get("status").and_then(Value::as_str) {
                Some(s @ ("firing" | "resolved")) => s,
                Some(other) => {
                    return Err(DecodeError::new(
                        DecodeReason::InvalidValue,
                        format!("alert `status` is `{other}`; expected firing or resolved"),
                    ));
                }
                // Alertmanager always sets it; default like the envelope.
                None => doc
                    .get("status")
                    .and_then(Value::as_str)
                    .filter(|s| *s == "resolved")
                    .unwrap_or("firing"),
            };
            let starts_at = time_at(alert, &["startsAt"])?;
            let ends_at = time_at(alert, &["endsAt"])?;
            let ts = match (status, starts_at, ends_at) {
                ("resolved", _, Some(end)) => end,
                (_, Some(start), _) => start,
                _ => lineage.received_ns,
            };
            let fingerprint = match str_at(alert, &["fingerprint"]) {
                Some(fp) => fp.to_string(),
                None => {
                    let cows: Vec<(Cow<'_, str>, Cow<'_, str>)> = labels
                        .iter()
                        .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                        .collect();
                    label_fingerprint(&cows)
                }
            };
            for (k, v) in &labels {
                b.labels.push_entry(k, v);
            }
            for (k, v) in &annotations {
                b.annotations.push_entry(k, v);
            }
            b.push(
                &AlertRow {
                    ts,
                    fingerprint: &fingerprint,
                    alertname,
                    status,
                    severity: label("severity"),
                    service: label("service"),
                    starts_at,
                    ends_at,
                    source: self.flavor.name(),
                },
                lineage,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
