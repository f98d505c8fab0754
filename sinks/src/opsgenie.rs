//! Opsgenie Alert API sink: create (`POST /v2/alerts`), acknowledge and
//! close by alias (`POST /v2/alerts/{alias}/{acknowledge|close}?identifierType=alias`),
//! authenticated with `Authorization: GenieKey <key>`.
//!
//! Documented limits this sink keeps to (Opsgenie Alert API, "Create
//! alert"): `message` at most 130 characters, `alias` at most 512 (longer
//! tocsin keys become their SHA-256 hex), `description` at most 15000,
//! `entity` at most 512, `source` and `user` at most 100, `note` at most
//! 25000, at most 20 `tags` of at most 50 characters each, `priority`
//! `P1`..`P5`, `details` a map of strings limited to 8000 characters in total
//! (evidence is cut first to fit).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common;
use crate::config_error::ConfigError;
use crate::delivery::{DeliveryError, Sink};
use crate::template::Template;
use tocsin_processors::{Decision, DecisionAction, Severity};

/// Documented maximum of `message`, in characters.
pub const MAX_MESSAGE_CHARS: usize = 130;
/// Documented maximum of `alias`, in characters.
pub const MAX_ALIAS_CHARS: usize = 512;
/// Documented maximum of `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 15_000;
/// Documented maximum of `entity`, in characters.
pub const MAX_ENTITY_CHARS: usize = 512;
/// Documented maximum of `source` and `user`, in characters.
pub const MAX_SOURCE_CHARS: usize = 100;
/// Documented maximum of `note`, in characters.
pub const MAX_NOTE_CHARS: usize = 25_000;
/// Documented maximum number of tags and length of each.
pub const MAX_TAGS: usize = 20;
/// Documented maximum length of one tag.
pub const MAX_TAG_CHARS: usize = 50;
/// Documented maximum total size of `details` (keys and values), in characters.
pub const MAX_DETAILS_CHARS: usize = 8000;

/// What a tocsin lifecycle step becomes in Opsgenie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpsgenieAction {
    /// Create an alert (Opsgenie deduplicates open alerts by alias).
    Create,
    /// Acknowledge the alert with this alias.
    Acknowledge,
    /// Close the alert with this alias.
    Close,
    /// Send nothing ([`Sink::accepts`] returns false).
    Skip,
}

/// Mapping from tocsin actions to Opsgenie actions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsgenieActions {
    /// For `open` decisions (default `create`).
    pub open: OpsgenieAction,
    /// For `update` decisions (default `create`: same alias, so Opsgenie
    /// counts it on the open alert instead of paging again).
    pub update: OpsgenieAction,
    /// For `resolve` decisions (default `close`).
    pub resolve: OpsgenieAction,
}

impl Default for OpsgenieActions {
    fn default() -> Self {
        OpsgenieActions {
            open: OpsgenieAction::Create,
            update: OpsgenieAction::Create,
            resolve: OpsgenieAction::Close,
        }
    }
}

impl OpsgenieActions {
    /// The Opsgenie action for `a`.
    pub fn get(&self, a: DecisionAction) -> OpsgenieAction {
        match a {
            DecisionAction::Open => self.open,
            DecisionAction::Update => self.update,
            DecisionAction::Resolve => self.resolve,
        }
    }
}

/// An Opsgenie priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OpsgeniePriority {
    /// Critical.
    P1,
    /// High.
    P2,
    /// Moderate.
    P3,
    /// Low.
    P4,
    /// Informational.
    P5,
}

impl OpsgeniePriority {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            OpsgeniePriority::P1 => "P1",
            OpsgeniePriority::P2 => "P2",
            OpsgeniePriority::P3 => "P3",
            OpsgeniePriority::P4 => "P4",
            OpsgeniePriority::P5 => "P5",
        }
    }
}

/// Mapping from tocsin severities to priorities.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsgeniePriorities {
    /// For `critical` decisions (default P1).
    pub critical: OpsgeniePriority,
    /// For `error` decisions (default P2).
    pub error: OpsgeniePriority,
    /// For `warning` decisions (default P3).
    pub warning: OpsgeniePriority,
    /// For `info` decisions (default P5).
    pub info: OpsgeniePriority,
}

impl Default for OpsgeniePriorities {
    fn default() -> Self {
        OpsgeniePriorities {
            critical: OpsgeniePriority::P1,
            error: OpsgeniePriority::P2,
            warning: OpsgeniePriority::P3,
            info: OpsgeniePriority::P5,
        }
    }
}

impl OpsgeniePriorities {
    /// The priority for `s`.
    pub fn get(&self, s: Severity) -> OpsgeniePriority {
        match s {
            Severity::Critical => self.critical,
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }
}

/// Which Opsgenie instance serves the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OpsgenieRegion {
    /// `https://api.opsgenie.com`.
    #[default]
    Us,
    /// `https://api.eu.opsgenie.com`.
    Eu,
}

/// Configuration of one Opsgenie sink (`[[sinks.opsgenie]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    /// Name, unique among sinks.
    #[serde(default = "default_name")]
    pub name: String,
    /// The API integration key. Exactly one of `api_key` and `api_key_file`
    /// is required.
    #[serde(default)]
    pub api_key: Option<String>,
    /// A file holding the API key (content trimmed).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// The account's region, which selects the API host.
    #[serde(default)]
    pub region: OpsgenieRegion,
    /// Overrides the region's API base URL (tests, proxies).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Per-request timeout.
    #[serde(default = "common::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// tocsin action → Opsgenie action (or `skip`).
    #[serde(default)]
    pub actions: OpsgenieActions,
    /// tocsin severity → priority.
    #[serde(default)]
    pub priority: OpsgeniePriorities,
    /// Template of `message` (cut to 130 characters).
    #[serde(default = "default_message")]
    pub message: String,
    /// Template of `description` (cut to 15000 characters).
    #[serde(default = "default_description")]
    pub description: String,
    /// Template of `entity` (cut to 512 characters).
    #[serde(default = "default_entity")]
    pub entity: String,
    /// `source` of every request (at most 100 characters).
    #[serde(default = "default_source")]
    pub source: String,
    /// `user` of every request (at most 100 characters; optional).
    #[serde(default)]
    pub user: Option<String>,
    /// Extra tags; `tocsin`, the kind and the severity are always added
    /// (at most 17 extra, 50 characters each).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Template of the `note` sent with every request (optional; cut to
    /// 25000 characters).
    #[serde(default)]
    pub note: Option<String>,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_name() -> String {
    "opsgenie".into()
}
fn default_message() -> String {
    "{{ severity|upper }} {{ kind }} {{ target }}: {{ reason }}".into()
}
fn default_description() -> String {
    "{{ reason }}\n\nEvidence query:\n{{ evidence_sql }}".into()
}
fn default_entity() -> String {
    "{{ target }}".into()
}
fn default_source() -> String {
    "tocsin".into()
}

/// One Opsgenie API call.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsgenieRequest {
    /// Path below the API base (`/v2/alerts` or
    /// `/v2/alerts/{alias}/close`), alias not yet encoded.
    pub path: Vec<String>,
    /// Whether to add `identifierType=alias`.
    pub by_alias: bool,
    /// The JSON body.
    pub body: Value,
}

/// A config compiled into what building requests needs.
#[derive(Debug)]
pub struct OpsgenieRequests {
    actions: OpsgenieActions,
    priority: OpsgeniePriorities,
    message: Template,
    description: Template,
    entity: Template,
    source: String,
    user: Option<String>,
    tags: Vec<String>,
    note: Option<Template>,
}

impl OpsgenieRequests {
    /// Compiles templates and checks static fields against the limits.
    pub fn new(cfg: &OpsgenieConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        if cfg.source.chars().count() > MAX_SOURCE_CHARS {
            return Err(ConfigError::invalid(
                sink,
                "source",
                "is longer than 100 characters",
            ));
        }
        if cfg
            .user
            .as_ref()
            .is_some_and(|u| u.chars().count() > MAX_SOURCE_CHARS)
        {
            return Err(ConfigError::invalid(
                sink,
                "user",
                "is longer than 100 characters",
            ));
        }
        if cfg.tags.len() > MAX_TAGS - 3 {
            return Err(ConfigError::invalid(
                sink,
                "tags",
                "at most 17 tags (Opsgenie allows 20, tocsin adds 3)",
            ));
        }
        if let Some(t) = cfg
            .tags
            .iter()
            .find(|t| t.is_empty() || t.chars().count() > MAX_TAG_CHARS)
        {
            return Err(ConfigError::invalid(
                sink,
                "tags",
                format!("tag `{t}` must be 1 to 50 characters"),
            ));
        }
        Ok(OpsgenieRequests {
            actions: cfg.actions.clone(),
            priority: cfg.priority.clone(),
            message: common::template(sink, "message", &cfg.message)?,
            description: common::template(sink, "description", &cfg.description)?,
            entity: common::template(sink, "entity", &cfg.entity)?,
            source: cfg.source.clone(),
            user: cfg.user.clone(),
            tags: cfg.tags.clone(),
            note: common::opt_template(sink, "note", cfg.note.as_deref())?,
        })
    }

    /// The Opsgenie action for `decision`.
    pub fn action(&self, decision: &Decision) -> OpsgenieAction {
        self.actions.get(decision.action)
    }
}

/// The API call for `decision`.
pub fn request_for(
    decision: &Decision,
    r: &OpsgenieRequests,
) -> Result<OpsgenieRequest, DeliveryError> {
    let alias = common::bounded_key(&decision.dedup_key, MAX_ALIAS_CHARS);
    let mut body = serde_json::Map::new();
    body.insert("source".into(), json!(r.source));
    if let Some(u) = &r.user {
        body.insert("user".into(), json!(u));
    }
    if let Some(n) = &r.note {
        let n = common::render(n, decision)?;
        if !n.is_empty() {
            body.insert(
                "note".into(),
                json!(common::truncate_chars(&n, MAX_NOTE_CHARS)),
            );
        }
    }
    let verb = match r.action(decision) {
        OpsgenieAction::Create => return create(decision, r, alias, body),
        OpsgenieAction::Acknowledge => "acknowledge",
        OpsgenieAction::Close => "close",
        OpsgenieAction::Skip => {
            return Err(DeliveryError::Permanent {
                reason: format!("action `{}` is mapped to skip", decision.action.as_str()),
            });
        }
    };
    if alias.is_empty() {
        return Err(DeliveryError::Permanent {
            reason: format!("{verb} by alias needs a dedup_key"),
        });
    }
    Ok(OpsgenieRequest {
        path: vec!["v2".into(), "alerts".into(), alias, verb.into()],
        by_alias: true,
        body: Value::Object(body),
    })
}

fn create(
    d: &Decision,
    r: &OpsgenieRequests,
    alias: String,
    mut body: serde_json::Map<String, Value>,
) -> Result<OpsgenieRequest, DeliveryError> {
    let mut message = common::truncate_chars(&common::render(&r.message, d)?, MAX_MESSAGE_CHARS);
    if message.is_empty() {
        message = common::truncate_chars(
            &format!("{} {}", d.kind.as_str(), d.target),
            MAX_MESSAGE_CHARS,
        );
    }
    body.insert("message".into(), json!(message));
    if !alias.is_empty() {
        body.insert("alias".into(), json!(alias));
    }
    let description = common::render(&r.description, d)?;
    body.insert(
        "description".into(),
        json!(common::truncate_chars(&description, MAX_DESCRIPTION_CHARS)),
    );
    let entity = common::render(&r.entity, d)?;
    if !entity.is_empty() {
        body.insert(
            "entity".into(),
            json!(common::truncate_chars(&entity, MAX_ENTITY_CHARS)),
        );
    }
    let mut tags: Vec<String> = r.tags.clone();
    for t in ["tocsin", d.kind.as_str(), d.severity.as_str()] {
        if !tags.iter().any(|x| x == t) {
            tags.push(t.to_owned());
        }
    }
    body.insert("tags".into(), json!(tags));
    body.insert(
        "priority".into(),
        json!(r.priority.get(d.severity).as_str()),
    );
    body.insert("details".into(), Value::Object(details(d)));
    Ok(OpsgenieRequest {
        path: vec!["v2".into(), "alerts".into()],
        by_alias: false,
        body: Value::Object(body),
    })
}

/// `details` as Opsgenie documents it: string values only, at most 8000
/// characters in keys and values together. Fixed short facts first, then
/// the query, then as much of the evidence as fits.
fn details(d: &Decision) -> serde_json::Map<String, Value> {
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    out.insert("tocsin_kind", d.kind.as_str().into());
    out.insert("tocsin_action", d.action.as_str().into());
    out.insert("severity", d.severity.as_str().into());
    out.insert("confidence", format!("{:.3}", d.confidence));
    out.insert("processor", common::truncate_chars(&d.processor, 200));
    out.insert("decision_id", common::truncate_chars(&d.id, 600));
    out.insert("dedup_key", common::truncate_chars(&d.dedup_key, 600));
    out.insert("reason", common::truncate_chars(&d.reason, 1500));
    let used = |m: &BTreeMap<&str, String>| -> usize {
        m.iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum()
    };
    let room =
        MAX_DETAILS_CHARS.saturating_sub(used(&out) + "evidence_sql".len() + "evidence".len());
    let sql = common::truncate_chars(&d.evidence_sql, room.min(2500));
    let room = room.saturating_sub(sql.chars().count());
    out.insert("evidence_sql", sql);
    out.insert(
        "evidence",
        common::truncate_chars(&d.evidence.to_string(), room),
    );
    out.into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect()
}

/// Delivers decisions as Opsgenie alerts.
#[derive(Debug)]
pub struct OpsgenieSink {
    name: String,
    base: reqwest::Url,
    auth: HeaderValue,
    client: reqwest::Client,
    requests: OpsgenieRequests,
}

impl OpsgenieSink {
    /// Builds the sink, validating the whole config.
    pub fn new(cfg: OpsgenieConfig) -> Result<Self, ConfigError> {
        let sink = cfg.name.as_str();
        let key = common::load_secret(
            sink,
            "api_key",
            "api_key_file",
            cfg.api_key.as_deref(),
            cfg.api_key_file.as_deref(),
        )?;
        let mut auth = HeaderValue::from_str(&format!("GenieKey {key}")).map_err(|_| {
            ConfigError::invalid(
                sink,
                "api_key",
                "contains characters not allowed in a header",
            )
        })?;
        auth.set_sensitive(true);
        let base = match (&cfg.api_url, cfg.region) {
            (Some(u), _) => common::http_url(sink, "api_url", u)?,
            (None, OpsgenieRegion::Us) => {
                common::http_url(sink, "region", "https://api.opsgenie.com")?
            }
            (None, OpsgenieRegion::Eu) => {
                common::http_url(sink, "region", "https://api.eu.opsgenie.com")?
            }
        };
        if base.cannot_be_a_base() {
            return Err(ConfigError::invalid(
                sink,
                "api_url",
                "cannot be a base URL",
            ));
        }
        let requests = OpsgenieRequests::new(&cfg)?;
        let client = common::client(sink, cfg.timeout)?;
        Ok(OpsgenieSink {
            name: cfg.name,
            base,
            auth,
            client,
            requests,
        })
    }

    /// The compiled request builder (for [`request_for`]).
    pub fn requests(&self) -> &OpsgenieRequests {
        &self.requests
    }

    /// The full URL of `req`, alias percent-encoded as one path segment.
    pub fn url_for(&self, req: &OpsgenieRequest) -> Result<reqwest::Url, DeliveryError> {
        let mut url = self.base.clone();
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| DeliveryError::Permanent {
                    reason: "api_url cannot be a base".into(),
                })?;
            segs.pop_if_empty();
            for s in &req.path {
                segs.push(s);
            }
        }
        if req.by_alias {
            url.query_pairs_mut().append_pair("identifierType", "alias");
        }
        Ok(url)
    }
}

#[async_trait]
impl Sink for OpsgenieSink {
    /// Opsgenie publishes no fixed per-key limit; its 429s are honoured; waiting updates of one key fold into the newest.
    fn delivery_defaults(&self) -> crate::delivery::DeliveryDefaults {
        crate::delivery::DeliveryDefaults::paging(None)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, decision: &Decision) -> bool {
        self.requests.action(decision) != OpsgenieAction::Skip
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let req = request_for(decision, &self.requests)?;
        let url = self.url_for(&req)?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.auth.clone());
        common::post_json(&self.client, url, headers, &req.body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
