//! GitHub Issues: create (`POST /repos/{o}/{r}/issues` → 201 `number`),
//! comment (`POST .../issues/{n}/comments`), escalation label
//! (`POST .../issues/{n}/labels`) and close
//! (`PATCH .../issues/{n}` `{"state":"closed","state_reason":"completed"}`).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{TicketBackend, TicketSink, evidence_block};
use crate::config::{self, ConfigError};
use crate::delivery::DeliveryError;
use crate::github_api::GithubApi;
use crate::template::Template;
use tocsin_processors::{Decision, DecisionAction, DecisionKind};

/// Default issue title.
pub const DEFAULT_TITLE: &str = "[tocsin] {{ kind }} {{ target }}: {{ reason }}";
/// Default issue body (evidence is appended unless disabled).
pub const DEFAULT_BODY: &str = "**{{ severity|upper }}** `{{ kind }}` on `{{ target }}`\n\n{{ reason }}\n\n\
| | |\n|---|---|\n| dedup key | `{{ dedup_key }}` |\n| processor | `{{ processor }}` |\n\
| confidence | {{ confidence }} |\n| decision | `{{ id }}` at {{ ts }} |";
/// Default comment for `open`/`update`/`resolve` on an existing issue.
pub const DEFAULT_COMMENT: &str = "tocsin `{{ action }}` ({{ severity }}): {{ reason }}";

/// Configuration of a GitHub Issues ticket sink.
///
/// ```toml
/// name = "vulns"
/// owner = "acme"
/// repo = "security"
/// token_file = "/run/secrets/gh"
/// labels = ["security", "tocsin"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubIssuesConfig {
    /// The sink's name (metrics, state, routing).
    #[serde(default = "default_github_issues_name")]
    pub name: String,
    /// Decision kinds filed as issues; default `["patch"]`.
    #[serde(default = "super::default_kinds")]
    pub kinds: Vec<DecisionKind>,
    /// API root; default `https://api.github.com` (GHES: `https://host/api/v3`).
    #[serde(default = "crate::github_api::default_api_url")]
    pub api_url: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Token with issues: write.
    #[serde(default)]
    pub token: Option<String>,
    /// File holding the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Request timeout (humantime, default `"10s"`).
    #[serde(default = "config::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// MiniJinja template of the title (line breaks become spaces).
    #[serde(default = "default_title")]
    pub title_template: String,
    /// MiniJinja template of the Markdown body.
    #[serde(default = "default_body")]
    pub body_template: String,
    /// MiniJinja template of comments on an existing issue.
    #[serde(default = "default_comment")]
    pub comment_template: String,
    /// Append evidence (JSON) and `evidence_sql` to bodies and comments.
    #[serde(default = "yes")]
    pub append_evidence: bool,
    /// Labels set on new issues; default `["tocsin"]`.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// Users assigned to new issues.
    #[serde(default)]
    pub assignees: Vec<String>,
    /// Label added when an `update`'s evidence has `escalation_field: true`;
    /// empty disables. Default `sla-at-risk`.
    #[serde(default = "default_escalation_label")]
    pub escalation_label: String,
    /// Evidence field (boolean) that marks an escalation; default
    /// `sla_at_risk`.
    #[serde(default = "default_escalation_field")]
    pub escalation_field: String,
    /// Comment (with the resolve reason) before closing.
    #[serde(default = "yes")]
    pub close_comment: bool,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_title() -> String {
    DEFAULT_TITLE.to_owned()
}
fn default_body() -> String {
    DEFAULT_BODY.to_owned()
}
fn default_comment() -> String {
    DEFAULT_COMMENT.to_owned()
}
fn yes() -> bool {
    true
}
fn default_labels() -> Vec<String> {
    vec!["tocsin".to_owned()]
}
fn default_escalation_label() -> String {
    "sla-at-risk".to_owned()
}
fn default_escalation_field() -> String {
    "sla_at_risk".to_owned()
}

/// GitHub Issues as a [`TicketBackend`].
#[derive(Debug)]
pub struct GithubIssues {
    api: GithubApi,
    issues_path: String,
    title: Template,
    body: Template,
    comment: Template,
    append_evidence: bool,
    labels: Vec<String>,
    assignees: Vec<String>,
    escalation_label: String,
    escalation_field: String,
    close_comment: bool,
}

impl TicketSink<GithubIssues> {
    /// Builds a GitHub Issues sink; bad templates, names or a missing token
    /// are errors here.
    pub fn new(cfg: &GithubIssuesConfig) -> Result<Self, ConfigError> {
        let name = cfg.name.as_str();
        let token = config::require_secret(
            name,
            "token",
            cfg.token.as_deref(),
            cfg.token_file.as_deref(),
        )?;
        if cfg.owner.is_empty()
            || cfg.repo.is_empty()
            || cfg.owner.contains('/')
            || cfg.repo.contains('/')
        {
            return Err(ConfigError::setting(
                name,
                "`owner` and `repo` must be plain names",
            ));
        }
        if cfg.kinds.is_empty() {
            return Err(ConfigError::setting(name, "`kinds` is empty"));
        }
        let t = |src: &str| Template::new(src).map_err(|e| ConfigError::template(name, e));
        let backend = GithubIssues {
            api: GithubApi::new(name, &cfg.api_url, &token, cfg.timeout)?,
            issues_path: format!("/repos/{}/{}/issues", cfg.owner, cfg.repo),
            title: t(&cfg.title_template)?,
            body: t(&cfg.body_template)?,
            comment: t(&cfg.comment_template)?,
            append_evidence: cfg.append_evidence,
            labels: cfg.labels.clone(),
            assignees: cfg.assignees.clone(),
            escalation_label: cfg.escalation_label.clone(),
            escalation_field: cfg.escalation_field.clone(),
            close_comment: cfg.close_comment,
        };
        Ok(TicketSink::with_backend(name, cfg.kinds.clone(), backend))
    }
}

impl GithubIssues {
    fn with_evidence(&self, text: String, decision: &Decision) -> String {
        if self.append_evidence {
            text + &evidence_block(decision, false)
        } else {
            text
        }
    }

    fn number(id: &str) -> Result<u64, DeliveryError> {
        id.parse().map_err(|_| DeliveryError::Permanent {
            reason: format!("stored issue id `{id}` is not a number"),
        })
    }

    async fn post_comment(&self, n: u64, body: String) -> Result<(), DeliveryError> {
        let path = format!("{}/{n}/comments", self.issues_path);
        self.api
            .send(Method::POST, &path, &json!({ "body": body }))
            .await
            .map(|_| ())
    }

    fn is_escalation(&self, decision: &Decision) -> bool {
        decision.action == DecisionAction::Update
            && !self.escalation_label.is_empty()
            && decision
                .evidence
                .get(&self.escalation_field)
                .and_then(|v| v.as_bool())
                == Some(true)
    }
}

#[async_trait]
impl TicketBackend for GithubIssues {
    async fn create(&self, decision: &Decision) -> Result<String, DeliveryError> {
        let title = self.title.render(decision)?.replace(['\r', '\n'], " ");
        let body = self.with_evidence(self.body.render(decision)?, decision);
        let req = json!({
            "title": title.trim(),
            "body": body,
            "labels": self.labels,
            "assignees": self.assignees,
        });
        let resp = self.api.send(Method::POST, &self.issues_path, &req).await?;
        let number = serde_json::from_str::<serde_json::Value>(&resp)
            .ok()
            .and_then(|v| v.get("number").and_then(|n| n.as_u64()));
        match number {
            Some(n) => Ok(n.to_string()),
            // The issue probably exists; retrying would file a duplicate.
            None => Err(DeliveryError::Permanent {
                reason: format!(
                    "issue created but the response has no number: {}",
                    truncate(&resp)
                ),
            }),
        }
    }

    async fn comment(&self, id: &str, decision: &Decision) -> Result<(), DeliveryError> {
        let n = Self::number(id)?;
        let body = self.with_evidence(self.comment.render(decision)?, decision);
        self.post_comment(n, body).await?;
        if self.is_escalation(decision) {
            let path = format!("{}/{n}/labels", self.issues_path);
            self.api
                .send(
                    Method::POST,
                    &path,
                    &json!({ "labels": [self.escalation_label] }),
                )
                .await?;
        }
        Ok(())
    }

    async fn resolve(&self, id: &str, decision: &Decision) -> Result<(), DeliveryError> {
        let n = Self::number(id)?;
        if self.close_comment {
            self.post_comment(n, self.comment.render(decision)?).await?;
        }
        let path = format!("{}/{n}", self.issues_path);
        self.api
            .send(
                Method::PATCH,
                &path,
                &json!({ "state": "closed", "state_reason": "completed" }),
            )
            .await
            .map(|_| ())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

fn default_github_issues_name() -> String {
    "github_issues".into()
}
