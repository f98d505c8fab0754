//! GitHub `repository_dispatch`: `event_type` (≤ 100 chars) and a
//! `client_payload` kept within GitHub's documented 10 top-level properties.

use std::time::Duration;

use serde_json::{Value, json};

use super::GithubDispatchTarget;
use crate::config::{self, ConfigError};
use crate::delivery::DeliveryError;
use crate::github_api::GithubApi;
use crate::template::Template;
use tocsin_processors::Decision;
use tocsin_processors::decision::format_ts;

/// The default `event_type` template.
pub const DEFAULT_EVENT_TYPE: &str = "tocsin-{{ kind }}";
/// GitHub's documented limit on `event_type`.
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
/// GitHub's documented limit on `client_payload`'s top-level properties.
pub const MAX_CLIENT_PAYLOAD_PROPERTIES: usize = 10;

pub(super) fn default_event_type() -> String {
    DEFAULT_EVENT_TYPE.to_owned()
}

/// The `client_payload` for `decision`: nine top-level fields a workflow
/// reads directly (`id`, `dedup_key`, `kind`, `target`, `severity`,
/// `reason`, `confidence`, `evidence`, `evidence_sql`) and `meta` with the
/// rest (`action`, `ts`, `processor`) — ten, GitHub's maximum.
pub fn client_payload(decision: &Decision) -> Value {
    json!({
        "id": decision.id,
        "dedup_key": decision.dedup_key,
        "kind": decision.kind.as_str(),
        "target": decision.target,
        "severity": decision.severity.as_str(),
        "reason": decision.reason,
        "confidence": decision.confidence,
        "evidence": decision.evidence,
        "evidence_sql": decision.evidence_sql,
        "meta": {
            "action": decision.action.as_str(),
            "ts": format_ts(decision.ts),
            "processor": decision.processor,
        },
    })
}

#[derive(Debug)]
pub(super) struct Dispatcher {
    api: GithubApi,
    path: String,
    event_type: Template,
}

impl Dispatcher {
    pub(super) fn new(
        sink: &str,
        t: &GithubDispatchTarget,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let token =
            config::require_secret(sink, "token", t.token.as_deref(), t.token_file.as_deref())?;
        if t.owner.is_empty() || t.repo.is_empty() || t.owner.contains('/') || t.repo.contains('/')
        {
            return Err(ConfigError::setting(
                sink,
                "`owner` and `repo` must be plain names",
            ));
        }
        Ok(Dispatcher {
            api: GithubApi::new(sink, &t.api_url, &token, timeout)?,
            path: format!("/repos/{}/{}/dispatches", t.owner, t.repo),
            event_type: Template::new(&t.event_type).map_err(|e| ConfigError::template(sink, e))?,
        })
    }

    pub(super) fn url(&self) -> String {
        self.api.url(&self.path)
    }

    pub(super) fn body(&self, decision: &Decision) -> Result<Value, DeliveryError> {
        let event_type = self.event_type.render(decision)?;
        let n = event_type.chars().count();
        if n == 0 || n > MAX_EVENT_TYPE_CHARS {
            return Err(DeliveryError::Permanent {
                reason: format!(
                    "event_type must be 1..={MAX_EVENT_TYPE_CHARS} chars, rendered {n}"
                ),
            });
        }
        Ok(json!({ "event_type": event_type, "client_payload": client_payload(decision) }))
    }

    pub(super) async fn send(&self, body: &Value) -> Result<(), DeliveryError> {
        self.api
            .send(reqwest::Method::POST, &self.path, body)
            .await
            .map(|_| ())
    }
}
