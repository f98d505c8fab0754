//! Microsoft Teams incoming-webhook sink posting an Adaptive Card.
//!
//! The message is `{"type":"message","attachments":[{"contentType":
//! "application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard",
//! "version":"1.4",...}}]}`: a title `TextBlock`, a `FactSet` (target,
//! severity, kind, action, confidence), the reason, optionally the evidence
//! query, and an `Action.OpenUrl` when `link_url` is set. Documented limit
//! kept (Teams "Create an Incoming Webhook"): the message is at most 28 KB;
//! the query, then the reason, then the title are cut to fit.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common;
use crate::config_error::ConfigError;
use crate::delivery::{DeliveryError, Sink};
use crate::template::Template;
use tocsin_processors::{Decision, DecisionAction, Severity};

/// Documented maximum size of one webhook message, in bytes (28 KB).
pub const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// Configuration of one Teams sink (`[[sinks.teams]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// Name, unique among sinks.
    #[serde(default = "default_name")]
    pub name: String,
    /// The incoming-webhook (or Workflows) URL, a secret. Exactly one of
    /// `url` and `url_file` is required.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the webhook URL (content trimmed).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "common::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Template of the card title.
    #[serde(default = "common::default_headline")]
    pub title: String,
    /// Template of the card text below the facts.
    #[serde(default = "common::default_reason_text")]
    pub text: String,
    /// Template of a URL for an `Action.OpenUrl` (left out when unset or empty).
    #[serde(default)]
    pub link_url: Option<String>,
    /// The action's title.
    #[serde(default = "common::default_link_text")]
    pub link_text: String,
    /// Show `evidence_sql` in a monospace block.
    #[serde(default = "common::yes")]
    pub show_evidence_sql: bool,
    /// Which lifecycle steps to post (default all three).
    #[serde(default = "common::all_actions")]
    pub notify_on: Vec<DecisionAction>,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_name() -> String {
    "teams".into()
}

/// A config compiled into what building a card needs.
#[derive(Debug)]
pub struct TeamsCards {
    title: Template,
    text: Template,
    link_url: Option<Template>,
    link_text: String,
    show_evidence_sql: bool,
    notify_on: Vec<DecisionAction>,
}

impl TeamsCards {
    /// Compiles the templates.
    pub fn new(cfg: &TeamsConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        if cfg.link_text.trim().is_empty() {
            return Err(ConfigError::invalid(sink, "link_text", "is empty"));
        }
        Ok(TeamsCards {
            title: common::template(sink, "title", &cfg.title)?,
            text: common::template(sink, "text", &cfg.text)?,
            link_url: common::opt_template(sink, "link_url", cfg.link_url.as_deref())?,
            link_text: common::truncate_chars(cfg.link_text.trim(), 100),
            show_evidence_sql: cfg.show_evidence_sql,
            notify_on: cfg.notify_on.clone(),
        })
    }
}

fn colour(d: &Decision) -> &'static str {
    match (d.action, d.severity) {
        (DecisionAction::Resolve, _) => "Good",
        (_, Severity::Critical | Severity::Error) => "Attention",
        (_, Severity::Warning) => "Warning",
        (_, Severity::Info) => "Default",
    }
}

/// The webhook body for `decision`.
pub fn message_json(d: &Decision, c: &TeamsCards) -> Result<Value, DeliveryError> {
    let mut title = common::render(&c.title, d)?;
    if title.is_empty() {
        title = format!("{} {}", d.kind.as_str(), d.target);
    }
    if d.action == DecisionAction::Resolve {
        title = format!("Resolved: {title}");
    }
    let text = common::render(&c.text, d)?;
    let sql = if c.show_evidence_sql {
        d.evidence_sql.trim().to_owned()
    } else {
        String::new()
    };
    let link = match &c.link_url {
        Some(t) => Some(common::render(t, d)?).filter(|u| !u.is_empty()),
        None => None,
    };
    // Cut the longest free text until the message fits: the query is the
    // least needed (it is in the lake), the title the most.
    let mut parts = [sql, text, title];
    for _ in 0..12 {
        let msg = build(d, c, &parts, link.as_deref());
        let size = serde_json::to_vec(&msg)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size <= MAX_MESSAGE_BYTES {
            return Ok(msg);
        }
        let excess = size - MAX_MESSAGE_BYTES + 64;
        let Some(i) = (0..parts.len()).find(|i| parts[*i].len() > 256) else {
            break;
        };
        // Escaping makes a kept byte cost more than one; cut in raw bytes
        // by the part's own ratio so the card ends up close to the limit.
        let raw = parts[i].len();
        let escaped = serde_json::to_string(&parts[i])
            .map(|s| s.len().saturating_sub(2))
            .unwrap_or(raw);
        let ratio = (escaped.max(1) as f64) / (raw.max(1) as f64);
        let keep = raw
            .saturating_sub((excess as f64 / ratio).ceil() as usize)
            .max(200);
        parts[i] = format!("{}…", common::prefix_bytes(&parts[i], keep));
    }
    Err(DeliveryError::Permanent {
        reason: "card cannot be cut under the 28 KB Teams message limit".into(),
    })
}

fn build(
    d: &Decision,
    c: &TeamsCards,
    [sql, text, title]: &[String; 3],
    link: Option<&str>,
) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "wrap": true, "color": colour(d)}),
        json!({"type": "FactSet", "facts": [
            {"title": "Target", "value": d.target},
            {"title": "Severity", "value": d.severity.as_str()},
            {"title": "Kind", "value": d.kind.as_str()},
            {"title": "Action", "value": d.action.as_str()},
            {"title": "Confidence", "value": format!("{:.0}%", d.confidence * 100.0)},
        ]}),
    ];
    if !text.is_empty() {
        body.push(json!({"type": "TextBlock", "text": text, "wrap": true}));
    }
    if !sql.is_empty() {
        body.push(json!({"type": "TextBlock", "text": sql, "wrap": true, "fontType": "Monospace", "isSubtle": true}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if let Some(url) = link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": c.link_text, "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}],
    })
}

/// Posts decisions to a Teams channel as Adaptive Cards.
#[derive(Debug)]
pub struct TeamsSink {
    name: String,
    url: common::Redacted<reqwest::Url>,
    client: reqwest::Client,
    cards: TeamsCards,
}

impl TeamsSink {
    /// Builds the sink, validating the whole config.
    pub fn new(cfg: TeamsConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        let url = common::load_secret(
            sink,
            "url",
            "url_file",
            cfg.url.as_deref(),
            cfg.url_file.as_deref(),
        )?;
        let url = common::http_url(sink, "url", &url)?;
        let cards = TeamsCards::new(&cfg)?;
        let client = common::client(sink, cfg.timeout)?;
        Ok(TeamsSink {
            name: cfg.name,
            url: common::Redacted(url),
            client,
            cards,
        })
    }

    /// The compiled card builder (for [`message_json`]).
    pub fn cards(&self) -> &TeamsCards {
        &self.cards
    }
}

#[async_trait]
impl Sink for TeamsSink {
    /// Teams throttles incoming webhooks at four requests per second; waiting updates of one key fold into the newest.
    fn delivery_defaults(&self) -> crate::delivery::DeliveryDefaults {
        crate::delivery::DeliveryDefaults::paging(Some((4, std::time::Duration::from_secs(1))))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, decision: &Decision) -> bool {
        self.cards.notify_on.contains(&decision.action)
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let body = message_json(decision, &self.cards)?;
        common::post_json(&self.client, self.url.0.clone(), HeaderMap::new(), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
