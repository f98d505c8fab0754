//! Slack incoming-webhook sink with Block Kit.
//!
//! Documented limits this sink keeps to (Slack Block Kit reference): at
//! most 50 blocks per message; a `header` block's `plain_text` at most 150
//! characters; a `section`'s `text` at most 3000 characters and at most 10
//! `fields` of at most 2000 each; a button's text at most 75 characters and
//! its `url` at most 3000 (a longer link is left out rather than broken).
//! The top-level `text` is the notification fallback Slack asks for when
//! sending blocks. Decision text is escaped for `mrkdwn` (`&`, `<`, `>`), so
//! templates produce plain text and a `<` in a reason cannot become a link.

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

/// Documented maximum of a header block's text, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// Documented maximum of a section's text, in characters.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Documented maximum of one section field, in characters.
pub const MAX_FIELD_CHARS: usize = 2000;
/// Documented maximum number of fields in a section.
pub const MAX_FIELDS: usize = 10;
/// Documented maximum number of blocks in a message.
pub const MAX_BLOCKS: usize = 50;
/// Documented maximum of a button's text, in characters.
pub const MAX_BUTTON_TEXT_CHARS: usize = 75;
/// Documented maximum of a button's URL, in characters.
pub const MAX_URL_CHARS: usize = 3000;

/// Configuration of one Slack sink (`[[sinks.slack]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Name, unique among sinks.
    #[serde(default = "default_name")]
    pub name: String,
    /// The incoming-webhook URL (a secret). Exactly one of `url` and
    /// `url_file` is required.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the webhook URL (content trimmed).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "common::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Template of the header block (plain text, cut to 150 characters).
    #[serde(default = "common::default_headline")]
    pub header: String,
    /// Template of the main section (escaped, cut to 3000 characters).
    #[serde(default = "common::default_reason_text")]
    pub text: String,
    /// Template of a URL for a link button (left out when unset or empty).
    #[serde(default)]
    pub link_url: Option<String>,
    /// The button's label (cut to 75 characters).
    #[serde(default = "common::default_link_text")]
    pub link_text: String,
    /// Prefix the header with an emoji by severity (✅ for resolves).
    #[serde(default = "common::yes")]
    pub emoji: bool,
    /// Show `evidence_sql` as a code block.
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
    "slack".into()
}

/// A config compiled into what building a message needs.
#[derive(Debug)]
pub struct SlackMessages {
    header: Template,
    text: Template,
    link_url: Option<Template>,
    link_text: String,
    emoji: bool,
    show_evidence_sql: bool,
    notify_on: Vec<DecisionAction>,
}

impl SlackMessages {
    /// Compiles the templates.
    pub fn new(cfg: &SlackConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        if cfg.link_text.trim().is_empty() {
            return Err(ConfigError::invalid(sink, "link_text", "is empty"));
        }
        Ok(SlackMessages {
            header: common::template(sink, "header", &cfg.header)?,
            text: common::template(sink, "text", &cfg.text)?,
            link_url: common::opt_template(sink, "link_url", cfg.link_url.as_deref())?,
            link_text: common::truncate_chars(cfg.link_text.trim(), MAX_BUTTON_TEXT_CHARS),
            emoji: cfg.emoji,
            show_evidence_sql: cfg.show_evidence_sql,
            notify_on: cfg.notify_on.clone(),
        })
    }
}

/// Escapes the three characters Slack's `mrkdwn` gives meaning to.
pub fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn emoji(d: &Decision) -> &'static str {
    match (d.action, d.severity) {
        (DecisionAction::Resolve, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Error) => ":large_orange_circle:",
        (_, Severity::Warning) => ":large_yellow_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    }
}

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

/// The webhook body for `decision`.
pub fn payload_json(d: &Decision, m: &SlackMessages) -> Result<Value, DeliveryError> {
    let mut header = common::render(&m.header, d)?;
    if header.is_empty() {
        header = format!("{} {}", d.kind.as_str(), d.target);
    }
    if m.emoji {
        header = format!("{} {header}", emoji(d));
    }
    let header = common::truncate_chars(&header, MAX_HEADER_CHARS);
    let text = common::render(&m.text, d)?;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": header, "emoji": true},
    })];
    if !text.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(common::truncate_chars(&escape_mrkdwn(&text), MAX_SECTION_CHARS)),
        }));
    }
    let facts = [
        ("Target", d.target.clone()),
        ("Severity", d.severity.as_str().to_owned()),
        ("Kind", d.kind.as_str().to_owned()),
        ("Action", d.action.as_str().to_owned()),
        ("Confidence", format!("{:.0}%", d.confidence * 100.0)),
        ("Processor", d.processor.clone()),
    ];
    let fields: Vec<Value> = facts
        .iter()
        .take(MAX_FIELDS)
        .map(|(k, v)| {
            mrkdwn(common::truncate_chars(
                &format!("*{k}*\n{}", escape_mrkdwn(v)),
                MAX_FIELD_CHARS,
            ))
        })
        .collect();
    blocks.push(json!({"type": "section", "fields": fields}));
    if m.show_evidence_sql && !d.evidence_sql.trim().is_empty() {
        let prefix = "*Evidence query*\n```";
        let room = MAX_SECTION_CHARS - prefix.chars().count() - 3;
        let sql = common::truncate_chars(&escape_mrkdwn(d.evidence_sql.trim()), room);
        blocks.push(json!({"type": "section", "text": mrkdwn(format!("{prefix}{sql}```"))}));
    }
    let context = format!(
        "`{}` · {} · {}",
        escape_mrkdwn(&d.dedup_key),
        escape_mrkdwn(&d.id),
        tocsin_processors::decision::format_ts(d.ts)
    );
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(common::truncate_chars(&context, MAX_FIELD_CHARS))],
    }));
    if let Some(t) = &m.link_url {
        let url = common::render(t, d)?;
        if !url.is_empty() && url.chars().count() <= MAX_URL_CHARS {
            blocks.push(json!({
                "type": "actions",
                "elements": [{
                    "type": "button",
                    "text": {"type": "plain_text", "text": m.link_text, "emoji": true},
                    "url": url,
                    "action_id": "tocsin-open",
                }],
            }));
        }
    }
    blocks.truncate(MAX_BLOCKS);
    let fallback = if text.is_empty() {
        header
    } else {
        format!("{header}: {text}")
    };
    Ok(json!({
        "text": common::truncate_chars(&fallback, MAX_SECTION_CHARS),
        "blocks": blocks,
    }))
}

/// Posts decisions to a Slack channel through an incoming webhook.
#[derive(Debug)]
pub struct SlackSink {
    name: String,
    url: common::Redacted<reqwest::Url>,
    client: reqwest::Client,
    messages: SlackMessages,
}

impl SlackSink {
    /// Builds the sink, validating the whole config.
    pub fn new(cfg: SlackConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        let url = common::load_secret(
            sink,
            "url",
            "url_file",
            cfg.url.as_deref(),
            cfg.url_file.as_deref(),
        )?;
        let url = common::http_url(sink, "url", &url)?;
        let messages = SlackMessages::new(&cfg)?;
        let client = common::client(sink, cfg.timeout)?;
        Ok(SlackSink {
            name: cfg.name,
            url: common::Redacted(url),
            client,
            messages,
        })
    }

    /// The compiled message builder (for [`payload_json`]).
    pub fn messages(&self) -> &SlackMessages {
        &self.messages
    }
}

#[async_trait]
impl Sink for SlackSink {
    /// Slack documents one message per second per incoming webhook; waiting updates of one key fold into the newest.
    fn delivery_defaults(&self) -> crate::delivery::DeliveryDefaults {
        crate::delivery::DeliveryDefaults::paging(Some((1, std::time::Duration::from_secs(1))))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, decision: &Decision) -> bool {
        self.messages.notify_on.contains(&decision.action)
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let body = payload_json(decision, &self.messages)?;
        common::post_json(&self.client, self.url.0.clone(), HeaderMap::new(), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
