//! Action sinks: do something about `rollback` and `flag_disable` decisions
//! — call a deployment system's webhook, fire a GitHub `repository_dispatch`,
//! or run an allowlisted program.
//!
//! Actions change production, so they are opt-in twice: `dry_run` defaults
//! to `true` (the sink logs exactly what it would do and returns `Ok`) and
//! commands must be on an allowlist handed to [`ActionSink::new`] by the
//! operator, separately from the sink configuration. Only `open` decisions
//! act; updates and resolves of the same key are accepted as done.

mod command;
mod dispatch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::config::{self, ConfigError};
use crate::delivery::{DeliveryError, Sink};
use crate::webhook::{WebhookConfig, WebhookSink};
use tocsin_processors::{Decision, DecisionAction, DecisionKind};

pub use command::STDERR_TAIL_CHARS;
pub use dispatch::{
    DEFAULT_EVENT_TYPE, MAX_CLIENT_PAYLOAD_PROPERTIES, MAX_EVENT_TYPE_CHARS, client_payload,
};

/// Configuration of one action sink.
///
/// ```toml
/// name = "rollback-via-actions"
/// dry_run = false
/// [target]
/// type = "github_dispatch"
/// owner = "acme"
/// repo = "deploy"
/// token_file = "/run/secrets/gh"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The sink's name (metrics, state, routing).
    pub name: String,
    /// Decision kinds acted on (only `open` actions); default
    /// `["rollback", "flag_disable"]`.
    #[serde(default = "default_kinds")]
    pub kinds: Vec<DecisionKind>,
    /// When true (the default) nothing is executed: the sink logs what it
    /// would do and counts it. Set `dry_run = false` per action to act.
    #[serde(default = "default_dry_run")]
    pub dry_run: bool,
    /// Request or command timeout (humantime, default `"10s"`); retryable.
    #[serde(default = "config::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// What to do.
    pub target: ActionTarget,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

fn default_kinds() -> Vec<DecisionKind> {
    vec![DecisionKind::Rollback, DecisionKind::FlagDisable]
}

fn default_dry_run() -> bool {
    true
}

/// The one thing an action sink does, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionTarget {
    /// POST to a deployment system's webhook.
    Webhook(WebhookTarget),
    /// GitHub `POST /repos/{owner}/{repo}/dispatches`.
    GithubDispatch(GithubDispatchTarget),
    /// Run an allowlisted program, without a shell.
    Command(CommandTarget),
}

/// A deployment system's webhook; signed like the webhook sink when a secret
/// is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// Where to POST.
    pub url: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// MiniJinja body template; absent means the decision as JSON.
    #[serde(default)]
    pub body_template: Option<String>,
    /// HMAC-SHA256 signing secret (see [`crate::webhook`]).
    #[serde(default)]
    pub secret: Option<String>,
    /// File holding the signing secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// A GitHub repository dispatch (starts workflows `on: repository_dispatch`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubDispatchTarget {
    /// API root; default `https://api.github.com` (GHES: `https://host/api/v3`).
    #[serde(default = "crate::github_api::default_api_url")]
    pub api_url: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Token with permission to dispatch (contents: write).
    #[serde(default)]
    pub token: Option<String>,
    /// File holding the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// MiniJinja template of `event_type` (≤ 100 chars once rendered);
    /// default `tocsin-{{ kind }}`.
    #[serde(default = "dispatch::default_event_type")]
    pub event_type: String,
}

/// A program run directly (no shell) with templated arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandTarget {
    /// Absolute path of the program; must be on the allowlist.
    pub program: PathBuf,
    /// MiniJinja templates, one per argument.
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug)]
enum Runner {
    Webhook(WebhookSink),
    Dispatch(dispatch::Dispatcher),
    Command(command::CommandRunner),
}

/// Acts on `open` decisions of the configured kinds.
#[derive(Debug)]
pub struct ActionSink {
    name: String,
    kinds: Vec<DecisionKind>,
    dry_run: bool,
    runner: Runner,
    dry_runs: AtomicU64,
}

impl ActionSink {
    /// Builds the sink. `allowlist` holds the absolute program paths command
    /// targets may run; a command not on it is refused here.
    pub fn new(cfg: &ActionConfig, allowlist: &[PathBuf]) -> Result<Self, ConfigError> {
        let name = cfg.name.as_str();
        if cfg.kinds.is_empty() {
            return Err(ConfigError::setting(name, "`kinds` is empty"));
        }
        let runner = match &cfg.target {
            ActionTarget::Webhook(t) => Runner::Webhook(WebhookSink::new(&WebhookConfig {
                name: cfg.name.clone(),
                url: t.url.clone(),
                timeout: cfg.timeout,
                headers: t.headers.clone(),
                body_template: t.body_template.clone(),
                secret: t.secret.clone(),
                secret_file: t.secret_file.clone(),
                delivery: Default::default(),
            })?),
            ActionTarget::GithubDispatch(t) => {
                Runner::Dispatch(dispatch::Dispatcher::new(name, t, cfg.timeout)?)
            }
            ActionTarget::Command(t) => Runner::Command(command::CommandRunner::new(
                name,
                t,
                allowlist,
                cfg.timeout,
            )?),
        };
        Ok(ActionSink {
            name: cfg.name.clone(),
            kinds: cfg.kinds.clone(),
            dry_run: cfg.dry_run,
            runner,
            dry_runs: AtomicU64::new(0),
        })
    }

    /// How many deliveries were dry runs since start.
    pub fn dry_runs(&self) -> u64 {
        self.dry_runs.load(Ordering::Relaxed)
    }

    /// Whether the sink only logs.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    fn dry(&self, decision: &Decision, what: &str) {
        self.dry_runs.fetch_add(1, Ordering::Relaxed);
        tracing::info!(sink = %self.name, decision = %decision.id, "dry run: would {what}");
    }
}

/// Whether `path` is exactly one of the allowlisted paths.
fn allowlisted(path: &Path, allowlist: &[PathBuf]) -> bool {
    allowlist.iter().any(|p| p == path)
}

#[async_trait]
impl Sink for ActionSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, decision: &Decision) -> bool {
        decision.action == DecisionAction::Open && self.kinds.contains(&decision.kind)
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        // Acting on a resolve or an unrelated kind would be a production
        // change nobody asked for; refuse even if a caller skips `accepts`.
        if !self.accepts(decision) {
            return Ok(());
        }
        match &self.runner {
            Runner::Webhook(w) => {
                let enc = w.encode(decision, chrono::Utc::now().timestamp())?;
                if self.dry_run {
                    let body = String::from_utf8_lossy(&enc.body);
                    self.dry(decision, &format!("POST {} body={body}", w.url()));
                    return Ok(());
                }
                w.send(decision, enc).await
            }
            Runner::Dispatch(d) => {
                let body = d.body(decision)?;
                if self.dry_run {
                    self.dry(decision, &format!("POST {} body={body}", d.url()));
                    return Ok(());
                }
                d.send(&body).await
            }
            Runner::Command(c) => {
                let argv = c.argv(decision)?;
                if self.dry_run {
                    self.dry(decision, &format!("run {argv:?}"));
                    return Ok(());
                }
                c.run(decision, &argv).await
            }
        }
    }
}

#[cfg(test)]
mod tests;
