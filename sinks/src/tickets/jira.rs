//! Jira REST API v2: create (`POST /rest/api/2/issue` → 201 `{id,key,self}`),
//! comment (`POST /rest/api/2/issue/{key}/comment` → 201) and, on resolve,
//! a comment plus an optional transition
//! (`POST /rest/api/2/issue/{key}/transitions` → 204).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{TicketBackend, TicketSink, evidence_block};
use crate::config::{self, ConfigError};
use crate::delivery::DeliveryError;
use crate::http::classify_response;
use crate::template::Template;
use tocsin_processors::{Decision, DecisionKind, Severity};

/// Default summary (line breaks become spaces; cut to 255 chars).
pub const DEFAULT_SUMMARY: &str = "[tocsin] {{ kind }} {{ target }}: {{ reason }}";
/// Default description (Jira wiki markup; evidence is appended).
pub const DEFAULT_DESCRIPTION: &str = "*{{ severity|upper }}* {{ kind }} on {{ target }}\n\n{{ reason }}\n\n\
||dedup key|{{ dedup_key }}|\n||processor|{{ processor }}|\n||confidence|{{ confidence }}|\n\
||decision|{{ id }} at {{ ts }}|";
/// Default comment for later decisions on the same key.
pub const DEFAULT_COMMENT: &str = "tocsin {{ action }} ({{ severity }}): {{ reason }}";
/// Jira's summary limit.
pub const MAX_SUMMARY_CHARS: usize = 255;

/// Configuration of a Jira ticket sink. Authentication is basic
/// (`email`/`email_file` + `api_token`/`api_token_file`, Jira Cloud) or a bearer token
/// (`bearer_token`/`bearer_token_file`, Data Center personal access token).
///
/// ```toml
/// name = "jira-vulns"
/// base_url = "https://acme.atlassian.net"
/// project_key = "SEC"
/// email = "tocsin@acme.com"
/// api_token_file = "/run/secrets/jira"
/// resolve_transition = "31"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The sink's name (metrics, state, routing).
    #[serde(default = "default_jira_name")]
    pub name: String,
    /// Decision kinds filed as issues; default `["patch"]`.
    #[serde(default = "super::default_kinds")]
    pub kinds: Vec<DecisionKind>,
    /// Jira root, e.g. `https://acme.atlassian.net` (no `/rest/...`).
    pub base_url: String,
    /// Project key issues are created in.
    pub project_key: String,
    /// Issue type name; default `Task`.
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// Account email for basic authentication.
    #[serde(default)]
    pub email: Option<String>,
    /// File holding the account email.
    #[serde(default)]
    pub email_file: Option<PathBuf>,
    /// API token for basic authentication.
    #[serde(default)]
    pub api_token: Option<String>,
    /// File holding the API token.
    #[serde(default)]
    pub api_token_file: Option<PathBuf>,
    /// Bearer token (instead of basic authentication).
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// File holding the bearer token.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Request timeout (humantime, default `"10s"`).
    #[serde(default = "config::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Severity → priority name overrides of the default mapping
    /// (critical→Highest, error→High, warning→Medium, info→Low).
    #[serde(default)]
    pub priorities: BTreeMap<Severity, String>,
    /// Send `priority` at all (some create screens lack the field).
    #[serde(default = "yes")]
    pub set_priority: bool,
    /// Labels on new issues (no whitespace); default `["tocsin"]`.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// MiniJinja template of the summary.
    #[serde(default = "default_summary")]
    pub summary_template: String,
    /// MiniJinja template of the description (wiki markup).
    #[serde(default = "default_description")]
    pub description_template: String,
    /// MiniJinja template of comments.
    #[serde(default = "default_comment")]
    pub comment_template: String,
    /// Append evidence (JSON) and `evidence_sql` to descriptions and comments.
    #[serde(default = "yes")]
    pub append_evidence: bool,
    /// Transition id applied on resolve (after the comment); none = comment
    /// only.
    #[serde(default)]
    pub resolve_transition: Option<String>,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_issue_type() -> String {
    "Task".to_owned()
}
fn yes() -> bool {
    true
}
fn default_labels() -> Vec<String> {
    vec!["tocsin".to_owned()]
}
fn default_summary() -> String {
    DEFAULT_SUMMARY.to_owned()
}
fn default_description() -> String {
    DEFAULT_DESCRIPTION.to_owned()
}
fn default_comment() -> String {
    DEFAULT_COMMENT.to_owned()
}

/// How requests authenticate.
#[derive(Clone)]
pub enum JiraAuth {
    /// Email and API token (HTTP basic).
    Basic {
        /// Account email.
        email: String,
        /// API token.
        token: String,
    },
    /// Bearer token.
    Bearer(String),
}

impl std::fmt::Debug for JiraAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JiraAuth::Basic { email, .. } => write!(f, "Basic({email}, ..)"),
            JiraAuth::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// Jira as a [`TicketBackend`].
#[derive(Debug)]
pub struct JiraIssues {
    base: String,
    auth: JiraAuth,
    client: reqwest::Client,
    project_key: String,
    issue_type: String,
    priorities: BTreeMap<Severity, String>,
    set_priority: bool,
    labels: Vec<String>,
    summary: Template,
    description: Template,
    comment: Template,
    append_evidence: bool,
    resolve_transition: Option<String>,
}

fn auth(cfg: &JiraConfig) -> Result<JiraAuth, ConfigError> {
    let name = cfg.name.as_str();
    let api = config::load_secret(
        name,
        "api_token",
        cfg.api_token.as_deref(),
        cfg.api_token_file.as_deref(),
    )?;
    let bearer = config::load_secret(
        name,
        "bearer_token",
        cfg.bearer_token.as_deref(),
        cfg.bearer_token_file.as_deref(),
    )?;
    let email = config::load_secret(
        name,
        "email",
        cfg.email.as_deref(),
        cfg.email_file.as_deref(),
    )?;
    match (email, api, bearer) {
        (Some(email), Some(token), None) if !email.is_empty() && !token.is_empty() => {
            Ok(JiraAuth::Basic { email, token })
        }
        (None, None, Some(t)) if !t.is_empty() => Ok(JiraAuth::Bearer(t)),
        _ => Err(ConfigError::setting(
            name,
            "set either `email` + `api_token`(`_file`) or `bearer_token`(`_file`)",
        )),
    }
}

impl TicketSink<JiraIssues> {
    /// Builds a Jira sink; bad templates, labels or credentials are errors
    /// here.
    pub fn new(cfg: &JiraConfig) -> Result<Self, ConfigError> {
        let name = cfg.name.as_str();
        config::check_url(name, &cfg.base_url)?;
        if cfg.project_key.trim().is_empty() {
            return Err(ConfigError::setting(name, "`project_key` is empty"));
        }
        if cfg.kinds.is_empty() {
            return Err(ConfigError::setting(name, "`kinds` is empty"));
        }
        if let Some(l) = cfg
            .labels
            .iter()
            .find(|l| l.is_empty() || l.contains(char::is_whitespace))
        {
            return Err(ConfigError::setting(
                name,
                format!("label `{l}`: Jira labels cannot contain spaces"),
            ));
        }
        let mut priorities: BTreeMap<Severity, String> = [
            (Severity::Critical, "Highest"),
            (Severity::Error, "High"),
            (Severity::Warning, "Medium"),
            (Severity::Info, "Low"),
        ]
        .into_iter()
        .map(|(s, p)| (s, p.to_owned()))
        .collect();
        priorities.extend(cfg.priorities.clone());
        let t = |src: &str| Template::new(src).map_err(|e| ConfigError::template(name, e));
        let backend = JiraIssues {
            base: cfg.base_url.trim_end_matches('/').to_owned(),
            auth: auth(cfg)?,
            client: config::http_client(name, cfg.timeout)?,
            project_key: cfg.project_key.clone(),
            issue_type: cfg.issue_type.clone(),
            priorities,
            set_priority: cfg.set_priority,
            labels: cfg.labels.clone(),
            summary: t(&cfg.summary_template)?,
            description: t(&cfg.description_template)?,
            comment: t(&cfg.comment_template)?,
            append_evidence: cfg.append_evidence,
            resolve_transition: cfg.resolve_transition.clone(),
        };
        Ok(TicketSink::with_backend(name, cfg.kinds.clone(), backend))
    }
}

/// Jira refuses summaries with line breaks or over 255 characters; fold
/// and cut rather than fail, the description carries the full text.
pub fn clean_summary(s: &str) -> String {
    let one_line = s.replace(['\r', '\n'], " ");
    one_line.trim().chars().take(MAX_SUMMARY_CHARS).collect()
}

impl JiraIssues {
    async fn post(&self, path: &str, body: &Value) -> Result<String, DeliveryError> {
        let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError::Permanent {
            reason: format!("serialise request: {e}"),
        })?;
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(bytes);
        let req = match &self.auth {
            JiraAuth::Basic { email, token } => req.basic_auth(email, Some(token)),
            JiraAuth::Bearer(t) => req.bearer_auth(t),
        };
        classify_response(req.send().await).await
    }

    fn with_evidence(&self, text: String, decision: &Decision) -> String {
        if self.append_evidence {
            text + &evidence_block(decision, true)
        } else {
            text
        }
    }

    fn issue_path(key: &str) -> Result<String, DeliveryError> {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(DeliveryError::Permanent {
                reason: format!("stored issue key `{key}` is not a Jira key"),
            });
        }
        Ok(format!("/rest/api/2/issue/{key}"))
    }
}

#[async_trait]
impl TicketBackend for JiraIssues {
    async fn create(&self, decision: &Decision) -> Result<String, DeliveryError> {
        let mut fields = json!({
            "project": { "key": self.project_key },
            "summary": clean_summary(&self.summary.render(decision)?),
            "description": self.with_evidence(self.description.render(decision)?, decision),
            "issuetype": { "name": self.issue_type },
            "labels": self.labels,
        });
        if self.set_priority
            && let (Some(p), Some(obj)) = (
                self.priorities.get(&decision.severity),
                fields.as_object_mut(),
            )
        {
            obj.insert("priority".to_owned(), json!({ "name": p }));
        }
        let resp = self
            .post("/rest/api/2/issue", &json!({ "fields": fields }))
            .await?;
        let key = serde_json::from_str::<Value>(&resp)
            .ok()
            .and_then(|v| v.get("key").and_then(Value::as_str).map(str::to_owned));
        key.ok_or_else(|| DeliveryError::Permanent {
            reason: format!(
                "issue created but the response has no key: {}",
                resp.chars().take(500).collect::<String>()
            ),
        })
    }

    async fn comment(&self, id: &str, decision: &Decision) -> Result<(), DeliveryError> {
        let path = format!("{}/comment", Self::issue_path(id)?);
        let body = self.with_evidence(self.comment.render(decision)?, decision);
        self.post(&path, &json!({ "body": body })).await.map(|_| ())
    }

    async fn resolve(&self, id: &str, decision: &Decision) -> Result<(), DeliveryError> {
        let issue = Self::issue_path(id)?;
        self.post(
            &format!("{issue}/comment"),
            &json!({ "body": self.comment.render(decision)? }),
        )
        .await?;
        if let Some(t) = &self.resolve_transition {
            self.post(
                &format!("{issue}/transitions"),
                &json!({ "transition": { "id": t } }),
            )
            .await?;
        }
        Ok(())
    }
}

fn default_jira_name() -> String {
    "jira".into()
}
