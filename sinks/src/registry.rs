//! The one place sinks are registered and configured.

use std::sync::Arc;

use serde::Deserialize;

use crate::console::{ConsoleConfig, ConsoleSink};
use crate::delivery::Sink;
use crate::webhook::{WebhookConfig, WebhookSink};

/// Configuration of every decision sink (`[sinks]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SinksConfig {
    /// `[sinks.console]`
    pub console: ConsoleConfig,
    /// `[[sinks.webhook]]`
    pub webhook: Vec<WebhookConfig>,
}

/// A sink could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SinkConfigError {
    /// Two sinks share a name (names pick consumer groups and metrics labels).
    #[error("two sinks are named `{0}`; give each a unique `name`")]
    DuplicateName(String),
    /// The HTTP client could not be created.
    #[error("sink `{name}`: {source}")]
    Http {
        /// The sink.
        name: String,
        /// Why.
        source: reqwest::Error,
    },
    /// A URL is not http(s).
    #[error("sink `{name}`: `{url}` is not an http:// or https:// URL")]
    BadUrl {
        /// The sink.
        name: String,
        /// The URL.
        url: String,
    },
}

impl SinksConfig {
    /// Builds every configured sink.
    pub fn build(&self) -> Result<Vec<Arc<dyn Sink>>, SinkConfigError> {
        let mut out: Vec<Arc<dyn Sink>> = Vec::new();
        if self.console.enabled {
            out.push(Arc::new(ConsoleSink));
        }
        for w in &self.webhook {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(SinkConfigError::BadUrl {
                    name: w.name.clone(),
                    url: w.url.clone(),
                });
            }
            let sink = WebhookSink::new(w.clone()).map_err(|source| SinkConfigError::Http {
                name: w.name.clone(),
                source,
            })?;
            out.push(Arc::new(sink));
        }
        let mut names: Vec<&str> = out.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SinkConfigError::DuplicateName(w[0].to_owned()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_checks_names_and_urls() {
        let cfg: SinksConfig = toml::from_str(
            "[console]\nenabled = true\n[[webhook]]\nurl = \"http://127.0.0.1:1/x\"\n",
        )
        .unwrap();
        assert_eq!(cfg.build().unwrap().len(), 2);
        let dup: SinksConfig =
            toml::from_str("[[webhook]]\nurl = \"http://a/\"\n[[webhook]]\nurl = \"http://b/\"\n")
                .unwrap();
        assert!(matches!(
            dup.build(),
            Err(SinkConfigError::DuplicateName(_))
        ));
        let bad: SinksConfig = toml::from_str("[[webhook]]\nurl = \"ftp://a/\"\n").unwrap();
        assert!(matches!(bad.build(), Err(SinkConfigError::BadUrl { .. })));
    }
}
