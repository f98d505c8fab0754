//! Prometheus Alertmanager API v2 sink (`POST {url}/api/v2/alerts`).
//!
//! Each decision becomes one postable alert (`labels`, `annotations`,
//! `startsAt`, `endsAt`, `generatorURL`). Labels identify the alert, so they
//! must not change over a decision's lifecycle: `alertname`, `service`
//! (the target), `severity`, `tocsin_kind`, `dedup_key` and the configured
//! static labels. A resolve is the same labels with `endsAt` at the
//! decision's time. Opens and updates carry `endsAt = ts + hold_for`:
//! Alertmanager resolves an alert by itself once `endsAt` passes (or, with
//! no `endsAt`, after its `resolve_timeout`, 5 minutes by default), and
//! tocsin does not re-send open decisions, so the hold must outlast the
//! incident; the resolve ends it early.
//!
//! Caveat: if a decision's severity changes between open and resolve, the
//! label sets differ and Alertmanager sees two alerts; the first one then
//! ends only when its hold expires.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common;
use crate::config_error::ConfigError;
use crate::delivery::{DeliveryError, Sink};
use crate::template::Template;
use tocsin_processors::{Decision, DecisionAction};

/// Labels the sink sets itself; static labels may not override them.
pub const RESERVED_LABELS: [&str; 5] = [
    "alertname",
    "service",
    "severity",
    "tocsin_kind",
    "dedup_key",
];

/// Configuration of one Alertmanager sink (`[[sinks.alertmanager]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Name, unique among sinks.
    #[serde(default = "default_name")]
    pub name: String,
    /// Alertmanager's base URL (e.g. `http://alertmanager:9093`); the sink
    /// posts to `{url}/api/v2/alerts`.
    pub url: String,
    /// Per-request timeout.
    #[serde(default = "common::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Template of the `alertname` label; default `Tocsin` + the kind in
    /// CamelCase (`TocsinIncident`, `TocsinFlagDisable`).
    #[serde(default)]
    pub alertname: Option<String>,
    /// Static labels added to every alert (names `[a-zA-Z_][a-zA-Z0-9_]*`,
    /// not one of [`RESERVED_LABELS`]).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Template of the `summary` annotation.
    #[serde(default = "default_summary")]
    pub summary: String,
    /// Template of `generatorURL` (left out when unset or empty).
    #[serde(default)]
    pub generator_url: Option<String>,
    /// How long an open or updated alert stays firing without a resolve.
    #[serde(default = "default_hold_for", with = "humantime_serde")]
    pub hold_for: Duration,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_name() -> String {
    "alertmanager".into()
}
fn default_summary() -> String {
    "{{ severity|upper }} {{ kind }} on {{ target }}".into()
}
fn default_hold_for() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// A config compiled into what building alerts needs.
#[derive(Debug)]
pub struct AlertmanagerAlerts {
    alertname: Option<Template>,
    labels: BTreeMap<String, String>,
    summary: Template,
    generator_url: Option<Template>,
    hold_for_ns: i64,
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

impl AlertmanagerAlerts {
    /// Compiles templates and checks label names.
    pub fn new(cfg: &AlertmanagerConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        for name in cfg.labels.keys() {
            if !valid_label_name(name) || name.starts_with("__") {
                return Err(ConfigError::invalid(
                    sink,
                    "labels",
                    format!("`{name}` is not a valid label name"),
                ));
            }
            if RESERVED_LABELS.contains(&name.as_str()) {
                return Err(ConfigError::invalid(
                    sink,
                    "labels",
                    format!("`{name}` is set by the sink"),
                ));
            }
        }
        let hold_for_ns = i64::try_from(cfg.hold_for.as_nanos())
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ConfigError::invalid(sink, "hold_for", "must be positive and under 292 years")
            })?;
        Ok(AlertmanagerAlerts {
            alertname: common::opt_template(sink, "alertname", cfg.alertname.as_deref())?,
            labels: cfg.labels.clone(),
            summary: common::template(sink, "summary", &cfg.summary)?,
            generator_url: common::opt_template(
                sink,
                "generator_url",
                cfg.generator_url.as_deref(),
            )?,
            hold_for_ns,
        })
    }
}

fn rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The body (an array of one postable alert) for `decision`.
pub fn alerts_json(d: &Decision, a: &AlertmanagerAlerts) -> Result<Value, DeliveryError> {
    let alertname = match &a.alertname {
        Some(t) => common::render(t, d)?,
        None => format!("Tocsin{}", common::camel_case(d.kind.as_str())),
    };
    if alertname.is_empty() {
        return Err(DeliveryError::Permanent {
            reason: "alertname template rendered empty".into(),
        });
    }
    let mut labels: Map<String, Value> = a
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert("alertname".into(), json!(alertname));
    labels.insert("service".into(), json!(d.target));
    labels.insert("severity".into(), json!(d.severity.as_str()));
    labels.insert("tocsin_kind".into(), json!(d.kind.as_str()));
    labels.insert("dedup_key".into(), json!(d.dedup_key));
    // Alertmanager drops empty label values; an empty target would silently
    // merge alerts of different services.
    labels.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(common::render(&a.summary, d)?));
    annotations.insert("description".into(), json!(d.reason));
    if !d.evidence_sql.is_empty() {
        annotations.insert("evidence_sql".into(), json!(d.evidence_sql));
    }
    annotations.insert("confidence".into(), json!(format!("{:.3}", d.confidence)));
    annotations.insert("decision_id".into(), json!(d.id));
    let ends = match d.action {
        DecisionAction::Resolve => d.ts,
        DecisionAction::Open | DecisionAction::Update => d.ts.saturating_add(a.hold_for_ns),
    };
    let mut alert = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(d.ts),
        "endsAt": rfc3339(ends),
    });
    if let Some(t) = &a.generator_url {
        let u = common::render(t, d)?;
        if !u.is_empty() {
            alert["generatorURL"] = json!(u);
        }
    }
    Ok(Value::Array(vec![alert]))
}

/// Posts decisions to Alertmanager as alerts.
#[derive(Debug)]
pub struct AlertmanagerSink {
    name: String,
    url: reqwest::Url,
    client: reqwest::Client,
    alerts: AlertmanagerAlerts,
}

impl AlertmanagerSink {
    /// Builds the sink, validating the whole config.
    pub fn new(cfg: AlertmanagerConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        let mut url = common::http_url(sink, "url", &cfg.url)?;
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| ConfigError::invalid(sink, "url", "cannot be a base URL"))?;
            segs.pop_if_empty().extend(["api", "v2", "alerts"]);
        }
        let alerts = AlertmanagerAlerts::new(&cfg)?;
        let client = common::client(sink, cfg.timeout)?;
        Ok(AlertmanagerSink {
            name: cfg.name,
            url,
            client,
            alerts,
        })
    }

    /// The compiled alert builder (for [`alerts_json`]).
    pub fn alerts(&self) -> &AlertmanagerAlerts {
        &self.alerts
    }

    /// Where alerts are posted.
    pub fn endpoint(&self) -> &reqwest::Url {
        &self.url
    }
}

#[async_trait]
impl Sink for AlertmanagerSink {
    /// Alertmanager has no request limit; updates of one alert replace each other; waiting updates of one key fold into the newest.
    fn delivery_defaults(&self) -> crate::delivery::DeliveryDefaults {
        crate::delivery::DeliveryDefaults::paging(None)
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let body = alerts_json(decision, &self.alerts)?;
        common::post_json(&self.client, self.url.clone(), HeaderMap::new(), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
