//! PagerDuty Events API v2 sink (`POST https://events.pagerduty.com/v2/enqueue`).
//!
//! Documented limits this sink keeps to (PagerDuty Events API v2, "Send an
//! Alert Event"): `routing_key` is the 32-character integration key;
//! `event_action` is `trigger`, `acknowledge` or `resolve`; `dedup_key` is
//! at most 255 characters (longer tocsin keys are replaced by their SHA-256
//! hex, which is stable across the lifecycle); `payload.summary` is at most
//! 1024 characters; `payload.severity` is `critical`, `error`, `warning` or
//! `info`; the whole event is at most 512 KB (evidence is trimmed to fit and
//! `custom_details.evidence_trimmed` says so); `acknowledge` and `resolve`
//! events carry only `routing_key`, `event_action` and `dedup_key`.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common;
use crate::config_error::ConfigError;
use crate::delivery::{DeliveryError, Sink};
use crate::template::Template;
use tocsin_processors::{Decision, DecisionAction, Severity};

/// Documented maximum of `payload.summary`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Documented maximum of `dedup_key`, in characters.
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// Documented maximum size of one event, in bytes (512 KB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// The public endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// What a tocsin lifecycle step becomes in PagerDuty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagerDutyAction {
    /// Open (or update) an alert.
    Trigger,
    /// Acknowledge the alert with this `dedup_key`.
    Acknowledge,
    /// Resolve the alert with this `dedup_key`.
    Resolve,
    /// Send nothing ([`Sink::accepts`] returns false).
    Skip,
}

impl PagerDutyAction {
    /// The `event_action` value (`None` for skip).
    pub fn event_action(self) -> Option<&'static str> {
        match self {
            PagerDutyAction::Trigger => Some("trigger"),
            PagerDutyAction::Acknowledge => Some("acknowledge"),
            PagerDutyAction::Resolve => Some("resolve"),
            PagerDutyAction::Skip => None,
        }
    }
}

/// Mapping from tocsin actions to PagerDuty event actions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutyActions {
    /// For `open` decisions (default `trigger`).
    pub open: PagerDutyAction,
    /// For `update` decisions (default `trigger`: PagerDuty folds triggers
    /// with the same `dedup_key` into the open alert).
    pub update: PagerDutyAction,
    /// For `resolve` decisions (default `resolve`).
    pub resolve: PagerDutyAction,
}

impl Default for PagerDutyActions {
    fn default() -> Self {
        PagerDutyActions {
            open: PagerDutyAction::Trigger,
            update: PagerDutyAction::Trigger,
            resolve: PagerDutyAction::Resolve,
        }
    }
}

impl PagerDutyActions {
    /// The PagerDuty action for `a`.
    pub fn get(&self, a: DecisionAction) -> PagerDutyAction {
        match a {
            DecisionAction::Open => self.open,
            DecisionAction::Update => self.update,
            DecisionAction::Resolve => self.resolve,
        }
    }
}

/// A PagerDuty `payload.severity` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagerDutySeverity {
    /// `critical`.
    Critical,
    /// `error`.
    Error,
    /// `warning`.
    Warning,
    /// `info`.
    Info,
}

impl PagerDutySeverity {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            PagerDutySeverity::Critical => "critical",
            PagerDutySeverity::Error => "error",
            PagerDutySeverity::Warning => "warning",
            PagerDutySeverity::Info => "info",
        }
    }
}

/// Mapping from tocsin severities to PagerDuty severities (default identity).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutySeverities {
    /// For `critical` decisions.
    pub critical: PagerDutySeverity,
    /// For `error` decisions.
    pub error: PagerDutySeverity,
    /// For `warning` decisions.
    pub warning: PagerDutySeverity,
    /// For `info` decisions.
    pub info: PagerDutySeverity,
}

impl Default for PagerDutySeverities {
    fn default() -> Self {
        PagerDutySeverities {
            critical: PagerDutySeverity::Critical,
            error: PagerDutySeverity::Error,
            warning: PagerDutySeverity::Warning,
            info: PagerDutySeverity::Info,
        }
    }
}

impl PagerDutySeverities {
    /// The PagerDuty severity for `s`.
    pub fn get(&self, s: Severity) -> PagerDutySeverity {
        match s {
            Severity::Critical => self.critical,
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }
}

/// One link attached to triggered alerts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyLink {
    /// Template of the URL; a link rendering to an empty string is left out.
    pub href: String,
    /// Template of the link text (optional).
    #[serde(default)]
    pub text: Option<String>,
}

/// Configuration of one PagerDuty sink (`[[sinks.pagerduty]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// Name, unique among sinks.
    #[serde(default = "default_name")]
    pub name: String,
    /// The Events API v2 integration key (32 characters). Exactly one of
    /// `routing_key` and `routing_key_file` is required.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// A file holding the integration key (content trimmed).
    #[serde(default)]
    pub routing_key_file: Option<PathBuf>,
    /// The enqueue endpoint (overridable for tests and proxies).
    #[serde(default = "default_url")]
    pub url: String,
    /// Per-request timeout.
    #[serde(default = "common::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// tocsin action → PagerDuty `event_action` (or `skip`).
    #[serde(default)]
    pub actions: PagerDutyActions,
    /// tocsin severity → PagerDuty severity.
    #[serde(default)]
    pub severity: PagerDutySeverities,
    /// Template of `payload.summary` (cut to 1024 characters).
    #[serde(default = "default_summary")]
    pub summary: String,
    /// Template of `payload.source` (the affected system).
    #[serde(default = "default_source")]
    pub source: String,
    /// Template of `payload.group` (left out when unset or empty).
    #[serde(default)]
    pub group: Option<String>,
    /// `client_url`: a link back to tocsin shown on the alert.
    #[serde(default)]
    pub client_url: Option<String>,
    /// Links attached to triggered alerts.
    #[serde(default)]
    pub links: Vec<PagerDutyLink>,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_name() -> String {
    "pagerduty".into()
}
fn default_url() -> String {
    DEFAULT_URL.into()
}
fn default_summary() -> String {
    "{{ severity|upper }} {{ kind }} {{ target }}: {{ reason }}".into()
}
fn default_source() -> String {
    "{{ target }}".into()
}

/// A config compiled into what building an event needs.
#[derive(Debug)]
pub struct PagerDutyEvents {
    routing_key: common::Redacted<String>,
    actions: PagerDutyActions,
    severity: PagerDutySeverities,
    summary: Template,
    source: Template,
    group: Option<Template>,
    client_url: Option<String>,
    links: Vec<(Template, Option<Template>)>,
}

impl PagerDutyEvents {
    /// Compiles templates and checks the key and URLs.
    pub fn new(cfg: &PagerDutyConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        let routing_key = common::load_secret(
            sink,
            "routing_key",
            "routing_key_file",
            cfg.routing_key.as_deref(),
            cfg.routing_key_file.as_deref(),
        )?;
        if routing_key.len() != 32 || !routing_key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::invalid(
                sink,
                "routing_key",
                "an Events API v2 integration key is 32 letters and digits",
            ));
        }
        if let Some(u) = &cfg.client_url {
            common::http_url(sink, "client_url", u)?;
        }
        let links = cfg
            .links
            .iter()
            .map(|l| {
                Ok((
                    common::template(sink, "links.href", &l.href)?,
                    common::opt_template(sink, "links.text", l.text.as_deref())?,
                ))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(PagerDutyEvents {
            routing_key: common::Redacted(routing_key),
            actions: cfg.actions.clone(),
            severity: cfg.severity.clone(),
            summary: common::template(sink, "summary", &cfg.summary)?,
            source: common::template(sink, "source", &cfg.source)?,
            group: common::opt_template(sink, "group", cfg.group.as_deref())?,
            client_url: cfg.client_url.clone(),
            links,
        })
    }

    /// The PagerDuty action for `decision`.
    pub fn action(&self, decision: &Decision) -> PagerDutyAction {
        self.actions.get(decision.action)
    }
}

/// The Events API v2 body for `decision`.
pub fn event_json(decision: &Decision, ev: &PagerDutyEvents) -> Result<Value, DeliveryError> {
    let Some(event_action) = ev.action(decision).event_action() else {
        return Err(DeliveryError::Permanent {
            reason: format!("action `{}` is mapped to skip", decision.action.as_str()),
        });
    };
    let dedup_key = common::bounded_key(&decision.dedup_key, MAX_DEDUP_KEY_CHARS);
    if event_action != "trigger" {
        if dedup_key.is_empty() {
            return Err(DeliveryError::Permanent {
                reason: format!("{event_action} needs a dedup_key"),
            });
        }
        return Ok(json!({
            "routing_key": ev.routing_key.0,
            "event_action": event_action,
            "dedup_key": dedup_key,
        }));
    }
    // An empty summary is refused by PagerDuty; a generic one still pages.
    let mut summary = common::render(&ev.summary, decision)?;
    if summary.is_empty() {
        summary = decision.reason.trim().to_owned();
    }
    if summary.is_empty() {
        summary = format!("{} {}", decision.kind.as_str(), decision.target);
    }
    let summary = common::truncate_chars(&summary, MAX_SUMMARY_CHARS);
    let mut source = common::render(&ev.source, decision)?;
    if source.is_empty() {
        source = if decision.target.is_empty() {
            "tocsin".into()
        } else {
            decision.target.clone()
        };
    }
    let mut payload = json!({
        "summary": summary,
        "source": source,
        "severity": ev.severity.get(decision.severity).as_str(),
        "timestamp": DateTime::<Utc>::from_timestamp_nanos(decision.ts).to_rfc3339_opts(SecondsFormat::Millis, true),
        "component": decision.target,
        "class": decision.kind.as_str(),
        "custom_details": {
            "reason": decision.reason,
            "evidence": decision.evidence,
            "evidence_sql": decision.evidence_sql,
            "confidence": decision.confidence,
            "decision_id": decision.id,
            "processor": decision.processor,
            "action": decision.action.as_str(),
        },
    });
    if let Some(g) = &ev.group {
        let g = common::render(g, decision)?;
        if !g.is_empty() {
            payload["group"] = Value::String(g);
        }
    }
    let mut event = json!({
        "routing_key": ev.routing_key.0,
        "event_action": event_action,
        "payload": payload,
        "client": "tocsin",
    });
    if !dedup_key.is_empty() {
        event["dedup_key"] = Value::String(dedup_key);
    }
    if let Some(u) = &ev.client_url {
        event["client_url"] = Value::String(u.clone());
    }
    let mut links = Vec::new();
    for (href, text) in &ev.links {
        let href = common::render(href, decision)?;
        if href.is_empty() {
            continue;
        }
        let mut link = json!({ "href": href });
        if let Some(t) = text {
            link["text"] = Value::String(common::render(t, decision)?);
        }
        links.push(link);
    }
    if !links.is_empty() {
        event["links"] = Value::Array(links);
    }
    fit_event(&mut event, decision)?;
    Ok(event)
}

/// Keeps the serialised event under [`MAX_EVENT_BYTES`] by replacing the
/// evidence with a prefix of its JSON text (and, if that is not enough,
/// cutting the free-text details), recording what was cut.
fn fit_event(event: &mut Value, decision: &Decision) -> Result<(), DeliveryError> {
    let size = |e: &Value| serde_json::to_vec(e).map(|v| v.len()).unwrap_or(usize::MAX);
    let total = size(event);
    if total <= MAX_EVENT_BYTES {
        return Ok(());
    }
    let evidence_text = decision.evidence.to_string();
    // Free text beyond this cannot be needed on a page; the query in
    // `evidence_sql` reproduces the evidence anyway.
    const MAX_TEXT_BYTES: usize = 64 * 1024;
    let details = &mut event["payload"]["custom_details"];
    for field in ["reason", "evidence_sql"] {
        let s = match &details[field] {
            Value::String(s) if s.len() > MAX_TEXT_BYTES => s.clone(),
            _ => continue,
        };
        details[field] = Value::String(format!("{}…", common::prefix_bytes(&s, MAX_TEXT_BYTES)));
    }
    details["evidence"] = Value::String(String::new());
    details["evidence_trimmed"] = Value::String(String::new());
    let overhead = size(event);
    // Escaping can grow the kept text; shrink until it fits.
    let mut budget = MAX_EVENT_BYTES.saturating_sub(overhead + 256);
    for _ in 0..8 {
        let kept = common::prefix_bytes(&evidence_text, budget);
        let details = &mut event["payload"]["custom_details"];
        details["evidence"] = Value::String(kept.to_owned());
        details["evidence_trimmed"] = Value::String(format!(
            "evidence JSON cut from {} to {} bytes to stay under PagerDuty's 512 KB event limit; run evidence_sql for all of it",
            evidence_text.len(),
            kept.len()
        ));
        let now = size(event);
        if now <= MAX_EVENT_BYTES {
            return Ok(());
        }
        // Escaped text costs more than a byte per kept byte: scale by the
        // observed ratio instead of subtracting the excess, which would cut
        // far more than needed.
        let kept_cost = now.saturating_sub(overhead).max(1) as f64;
        let room = MAX_EVENT_BYTES.saturating_sub(overhead + 256) as f64;
        budget = ((kept.len() as f64) * room / kept_cost) as usize;
    }
    Err(DeliveryError::Permanent {
        reason: format!("event of {total} bytes cannot be cut under PagerDuty's 512 KB limit"),
    })
}

/// Delivers decisions as PagerDuty events.
#[derive(Debug)]
pub struct PagerDutySink {
    name: String,
    url: reqwest::Url,
    client: reqwest::Client,
    events: PagerDutyEvents,
}

impl PagerDutySink {
    /// Builds the sink, validating the whole config.
    pub fn new(cfg: PagerDutyConfig) -> Result<Self, ConfigError> {
        let url = common::http_url(&cfg.name, "url", &cfg.url)?;
        let events = PagerDutyEvents::new(&cfg)?;
        let client = common::client(&cfg.name, cfg.timeout)?;
        Ok(PagerDutySink {
            name: cfg.name,
            url,
            client,
            events,
        })
    }

    /// The compiled event builder (for [`event_json`]).
    pub fn events(&self) -> &PagerDutyEvents {
        &self.events
    }
}

#[async_trait]
impl Sink for PagerDutySink {
    /// PagerDuty documents about 120 events per minute per routing key; waiting updates of one key fold into the newest.
    fn delivery_defaults(&self) -> crate::delivery::DeliveryDefaults {
        crate::delivery::DeliveryDefaults::paging(Some((120, std::time::Duration::from_secs(60))))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, decision: &Decision) -> bool {
        self.events.action(decision) != PagerDutyAction::Skip
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let body = event_json(decision, &self.events)?;
        common::post_json(&self.client, self.url.clone(), HeaderMap::new(), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
