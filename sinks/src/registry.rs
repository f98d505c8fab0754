//! The one place sinks are registered and configured.

use std::sync::Arc;

use serde::Deserialize;

use crate::action::{ActionConfig, ActionSink};
use crate::alertmanager::{AlertmanagerConfig, AlertmanagerSink};
use crate::config_error::ConfigError;
use crate::console::{ConsoleConfig, ConsoleSink};
use crate::delivery::{DeliveryConfig, EffectiveDelivery, Sink};
use crate::opsgenie::{OpsgenieConfig, OpsgenieSink};
use crate::pagerduty::{PagerDutyConfig, PagerDutySink};
use crate::routing::{RouteRule, Routing, RoutingError};
use crate::slack::{SlackConfig, SlackSink};
use crate::teams::{TeamsConfig, TeamsSink};
use crate::tickets::github::GithubIssuesConfig;
use crate::tickets::jira::JiraConfig;
use crate::tickets::{GithubIssuesSink, JiraSink};
use crate::webhook::{WebhookConfig, WebhookSink};

/// Configuration of every decision sink (`[sinks]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinksConfig {
    /// `[sinks.console]`
    pub console: ConsoleConfig,
    /// `[[sinks.webhook]]`: JSON POSTs, optionally HMAC-signed.
    pub webhook: Vec<WebhookConfig>,
    /// `[[sinks.pagerduty]]`: PagerDuty Events API v2.
    pub pagerduty: Vec<PagerDutyConfig>,
    /// `[[sinks.opsgenie]]`: Opsgenie Alert API.
    pub opsgenie: Vec<OpsgenieConfig>,
    /// `[[sinks.slack]]`: Slack incoming webhooks (Block Kit).
    pub slack: Vec<SlackConfig>,
    /// `[[sinks.teams]]`: Microsoft Teams incoming webhooks (Adaptive Card).
    pub teams: Vec<TeamsConfig>,
    /// `[[sinks.alertmanager]]`: Alertmanager API v2, so existing routing
    /// keeps working.
    pub alertmanager: Vec<AlertmanagerConfig>,
    /// `[[sinks.action]]`: rollback and flag-disable hooks (dry run unless
    /// `dry_run = false`).
    pub action: Vec<ActionConfig>,
    /// `[[sinks.github_issues]]`: patch tickets as GitHub issues.
    pub github_issues: Vec<GithubIssuesConfig>,
    /// `[[sinks.jira]]`: patch tickets in Jira.
    pub jira: Vec<JiraConfig>,
    /// Programs an action sink may run (absolute paths); anything else is
    /// refused at start-up.
    pub command_allowlist: Vec<std::path::PathBuf>,
    /// `[[sinks.route]]`: which sinks get which decisions (see
    /// [`crate::routing`]); without rules every sink gets every decision.
    pub route: Vec<RouteRule>,
    /// Sinks for decisions no rule matches; unset: every sink.
    pub default_sinks: Option<Vec<String>>,
}

/// A sink could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SinkConfigError {
    /// Two sinks share a name (names pick consumer groups and metrics labels).
    #[error("two sinks are named `{0}`; give each a unique `name`")]
    DuplicateName(String),
    /// A sink's own settings are wrong.
    #[error(transparent)]
    Sink(#[from] ConfigError),
    /// A routing rule is wrong.
    #[error("[[sinks.route]]: {0}")]
    Routing(#[from] RoutingError),
}

/// A sink ready to run: the sink and how its deliveries are paced.
pub struct BuiltSink {
    /// The sink.
    pub sink: Arc<dyn Sink>,
    /// Its pacing (configuration over the sink type's defaults).
    pub delivery: EffectiveDelivery,
}

/// Every configured sink and the routing between them.
pub struct BuiltSinks {
    /// The sinks.
    pub sinks: Vec<BuiltSink>,
    /// The routing rules, compiled.
    pub routing: Arc<Routing>,
}

impl SinksConfig {
    /// Builds every configured sink and the routing rules.
    pub fn build(&self) -> Result<BuiltSinks, SinkConfigError> {
        let mut out: Vec<(Arc<dyn Sink>, DeliveryConfig)> = Vec::new();
        if self.console.enabled {
            out.push((Arc::new(ConsoleSink), DeliveryConfig::default()));
        }
        for w in &self.webhook {
            out.push((Arc::new(WebhookSink::new(w)?), w.delivery.clone()));
        }
        for c in &self.pagerduty {
            out.push((Arc::new(PagerDutySink::new(c.clone())?), c.delivery.clone()));
        }
        for c in &self.opsgenie {
            out.push((Arc::new(OpsgenieSink::new(c.clone())?), c.delivery.clone()));
        }
        for c in &self.slack {
            out.push((Arc::new(SlackSink::new(c.clone())?), c.delivery.clone()));
        }
        for c in &self.teams {
            out.push((Arc::new(TeamsSink::new(c.clone())?), c.delivery.clone()));
        }
        for c in &self.alertmanager {
            out.push((
                Arc::new(AlertmanagerSink::new(c.clone())?),
                c.delivery.clone(),
            ));
        }
        for c in &self.action {
            let sink = ActionSink::new(c, &self.command_allowlist)?;
            out.push((Arc::new(sink), c.delivery.clone()));
        }
        for c in &self.github_issues {
            out.push((Arc::new(GithubIssuesSink::new(c)?), c.delivery.clone()));
        }
        for c in &self.jira {
            out.push((Arc::new(JiraSink::new(c)?), c.delivery.clone()));
        }
        let mut names: Vec<&str> = out.iter().map(|(s, _)| s.name()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SinkConfigError::DuplicateName(w[0].to_owned()));
        }
        let routing = Routing::new(&self.route, self.default_sinks.clone(), &names)?;
        Ok(BuiltSinks {
            sinks: out
                .into_iter()
                .map(|(sink, cfg)| BuiltSink {
                    delivery: cfg.resolve(sink.delivery_defaults()),
                    sink,
                })
                .collect(),
            routing: Arc::new(routing),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_checks_names_urls_and_routes() {
        let cfg: SinksConfig = toml::from_str(
            "[console]\nenabled = true\n[[webhook]]\nurl = \"http://127.0.0.1:1/x\"\n[webhook.delivery]\nconcurrency = 3\n[[route]]\nkinds = [\"incident\"]\nsinks = [\"webhook\"]\n",
        )
        .unwrap();
        let built = cfg.build().unwrap();
        assert_eq!(built.sinks.len(), 2);
        assert_eq!(built.sinks[1].delivery.concurrency, 3);
        let dup: SinksConfig =
            toml::from_str("[[webhook]]\nurl = \"http://a/\"\n[[webhook]]\nurl = \"http://b/\"\n")
                .unwrap();
        assert!(matches!(
            dup.build(),
            Err(SinkConfigError::DuplicateName(_))
        ));
        let bad: SinksConfig = toml::from_str("[[webhook]]\nurl = \"ftp://a/\"\n").unwrap();
        assert!(matches!(bad.build(), Err(SinkConfigError::Sink(_))));
        let route: SinksConfig = toml::from_str("[[route]]\nsinks = [\"pagerduty\"]\n").unwrap();
        assert!(matches!(route.build(), Err(SinkConfigError::Routing(_))));
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let marker = readme.find("# Which sink gets what").unwrap();
        let start = readme[..marker].rfind("```toml").unwrap() + "```toml".len();
        let end = marker + readme[marker..].find("```").unwrap();
        #[derive(Deserialize)]
        struct Wrapper {
            sinks: SinksConfig,
        }
        let w: Wrapper = toml::from_str(&readme[start..end]).unwrap();
        let s = w.sinks;
        assert_eq!(s.route.len(), 3);
        assert_eq!(
            (
                s.pagerduty.len(),
                s.opsgenie.len(),
                s.slack.len(),
                s.teams.len()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!((s.alertmanager.len(), s.webhook.len()), (1, 1));
        assert_eq!((s.action.len(), s.github_issues.len()), (1, 1));
        assert_eq!(s.command_allowlist.len(), 1);
    }
}
