//! Ticket sinks for `patch` decisions: one ticket per `dedup_key`, kept
//! across restarts through [`Sink::state`] / [`Sink::restore_state`].
//!
//! Lifecycle, for both [`github`] and [`jira`]:
//!
//! - `open` with no ticket for the key: create one and remember its id;
//! - `open` or `update` for a key that has one: comment on it (an `update`
//!   for an unknown key creates the ticket, so a sink added mid-incident
//!   still files it);
//! - escalations are `update`s with a higher severity: the comment says so,
//!   and GitHub additionally adds the configured escalation label when the
//!   decision's evidence has the configured flag set to `true`
//!   (`{"sla_at_risk": true}` → label `sla-at-risk`);
//! - `resolve`: close (GitHub) or comment and optionally transition (Jira),
//!   then forget the key; `resolve` for an unknown key is done without a
//!   request.
//!
//! Deliveries through one sink are serialised so two concurrent `open`s of a
//! key cannot both create a ticket. Evidence (pretty JSON) and the
//! reproducing SQL are appended to ticket bodies and comments unless
//! `append_evidence = false`.

pub mod github;
pub mod jira;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::delivery::{DeliveryError, Sink};
use tocsin_processors::{Decision, DecisionAction, DecisionKind};

pub use github::{GithubIssues, GithubIssuesConfig};
pub use jira::{JiraAuth, JiraConfig, JiraIssues};

/// A GitHub Issues ticket sink.
pub type GithubIssuesSink = TicketSink<GithubIssues>;
/// A Jira ticket sink.
pub type JiraSink = TicketSink<JiraIssues>;

pub(crate) fn default_kinds() -> Vec<DecisionKind> {
    vec![DecisionKind::Patch]
}

/// One ticket system's operations; the lifecycle is [`TicketSink`]'s.
#[async_trait]
pub trait TicketBackend: Send + Sync + std::fmt::Debug {
    /// Creates a ticket; returns its id (issue number, issue key).
    async fn create(&self, decision: &Decision) -> Result<String, DeliveryError>;
    /// Adds what `decision` says to ticket `id`.
    async fn comment(&self, id: &str, decision: &Decision) -> Result<(), DeliveryError>;
    /// Closes ticket `id` for a `resolve` decision.
    async fn resolve(&self, id: &str, decision: &Decision) -> Result<(), DeliveryError>;
}

/// A sink keeping one ticket per `dedup_key` in a [`TicketBackend`].
#[derive(Debug)]
pub struct TicketSink<B> {
    name: String,
    kinds: Vec<DecisionKind>,
    backend: B,
    tickets: Mutex<HashMap<String, String>>,
    serial: tokio::sync::Mutex<()>,
}

impl<B: TicketBackend> TicketSink<B> {
    fn with_backend(name: &str, kinds: Vec<DecisionKind>, backend: B) -> Self {
        TicketSink {
            name: name.to_owned(),
            kinds,
            backend,
            tickets: Mutex::new(HashMap::new()),
            serial: tokio::sync::Mutex::new(()),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ticket id currently open for `dedup_key`.
    pub fn ticket(&self, dedup_key: &str) -> Option<String> {
        self.map().get(dedup_key).cloned()
    }

    /// How many keys have an open ticket.
    pub fn open_tickets(&self) -> usize {
        self.map().len()
    }
}

#[async_trait]
impl<B: TicketBackend> Sink for TicketSink<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn accepts(&self, decision: &Decision) -> bool {
        self.kinds.contains(&decision.kind)
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let _one_at_a_time = self.serial.lock().await;
        let existing = self.ticket(&decision.dedup_key);
        match (decision.action, existing) {
            (DecisionAction::Open | DecisionAction::Update, Some(id)) => {
                self.backend.comment(&id, decision).await
            }
            (DecisionAction::Open | DecisionAction::Update, None) => {
                let id = self.backend.create(decision).await?;
                self.map().insert(decision.dedup_key.clone(), id);
                Ok(())
            }
            (DecisionAction::Resolve, Some(id)) => {
                self.backend.resolve(&id, decision).await?;
                self.map().remove(&decision.dedup_key);
                Ok(())
            }
            (DecisionAction::Resolve, None) => Ok(()),
        }
    }

    /// `{"tickets": {"<dedup_key>": "<ticket id>", ...}}`.
    fn state(&self) -> serde_json::Value {
        let sorted: BTreeMap<_, _> = self.map().clone().into_iter().collect();
        serde_json::json!({ "tickets": sorted })
    }

    fn restore_state(&self, state: serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            return Ok(());
        }
        let tickets = state
            .get("tickets")
            .and_then(|t| t.as_object())
            .ok_or_else(|| "ticket state must be {\"tickets\": {key: id}}".to_owned())?;
        let mut restored = HashMap::with_capacity(tickets.len());
        for (k, v) in tickets {
            let id = v
                .as_str()
                .ok_or_else(|| format!("ticket id for `{k}` is not a string"))?;
            restored.insert(k.clone(), id.to_owned());
        }
        *self.map() = restored;
        Ok(())
    }
}

/// Pretty evidence and SQL in Markdown (GitHub) or Jira wiki markup.
pub(crate) fn evidence_block(decision: &Decision, jira: bool) -> String {
    let json = serde_json::to_string_pretty(&decision.evidence)
        .unwrap_or_else(|_| decision.evidence.to_string());
    if jira {
        format!(
            "\n\nh3. Evidence\n{{code:json}}\n{json}\n{{code}}\nh3. Reproduce\n{{code:sql}}\n{}\n{{code}}\n",
            decision.evidence_sql
        )
    } else {
        // A fence longer than any backtick run inside keeps the block intact.
        let fence = "`".repeat(
            longest_backtick_run(&json)
                .max(longest_backtick_run(&decision.evidence_sql))
                .max(2)
                + 1,
        );
        format!(
            "\n\n### Evidence\n\n{fence}json\n{json}\n{fence}\n\n### Reproduce\n\n{fence}sql\n{}\n{fence}\n",
            decision.evidence_sql
        )
    }
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests;
