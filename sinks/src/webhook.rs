//! Generic JSON webhook sink: POSTs each decision (or a templated body) to a
//! URL, signed with HMAC-SHA256 when a secret is configured.
//!
//! Every request carries `Idempotency-Key: <decision id>` so receivers can
//! drop the duplicates at-least-once delivery produces. With a secret it also
//! carries `X-Tocsin-Timestamp` and `X-Tocsin-Signature`; see
//! [`verify_signature`] for how a receiver checks them.
//!
//! ## Verifying in your own receiver
//!
//! ```
//! use tocsin_sinks::webhook::{sign, verify_signature, DEFAULT_TOLERANCE};
//!
//! let secret = b"shared-secret";
//! let body = br#"{"id":"k#open"}"#;
//! // What tocsin sends:
//! let signature = sign(secret, 1_700_000_000, body);
//! // What the receiver does with the two headers and the raw body bytes
//! // (verify before parsing the JSON):
//! assert!(verify_signature(secret, "1700000000", &signature, body, 1_700_000_010, DEFAULT_TOLERANCE).is_ok());
//! assert!(verify_signature(secret, "1700000000", &signature, b"{}", 1_700_000_010, DEFAULT_TOLERANCE).is_err());
//! ```
//!
//! Outside Rust: compute HMAC-SHA256 over the ASCII timestamp, a `.`, and the
//! raw body bytes exactly as received; compare in constant time against the
//! hex after `v1=` (several comma-separated `v1=` values may be present during
//! a secret rotation; any match is enough); and refuse timestamps more than
//! five minutes away from your clock. Deduplicate on `Idempotency-Key`.

mod signature;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;

pub use signature::{
    DEFAULT_TOLERANCE, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, SignatureError, Signer,
    TIMESTAMP_HEADER, sign, verify_signature,
};

use crate::config::{self, ConfigError};
use crate::delivery::{DeliveryError, Sink};
use crate::http::classify_response;
use crate::template::Template;
use tocsin_processors::Decision;

/// Configuration of one webhook sink.
///
/// ```toml
/// name = "deploy-bot"
/// url = "https://hooks.example.com/tocsin"
/// timeout = "5s"
/// secret_file = "/run/secrets/tocsin-hook"
/// headers = { "X-Team" = "sre" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The sink's name (metrics, state, routing).
    #[serde(default = "default_webhook_name")]
    pub name: String,
    /// Where to POST (http or https).
    pub url: String,
    /// Per-request timeout (humantime, e.g. `"10s"`); a timeout is retryable.
    #[serde(default = "config::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra request headers (e.g. a static bearer token); they override the
    /// default `Content-Type: application/json`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// MiniJinja template for the body; absent means the decision as JSON.
    #[serde(default)]
    pub body_template: Option<String>,
    /// HMAC-SHA256 signing secret; when set (or `secret_file`), requests are
    /// signed.
    #[serde(default)]
    pub secret: Option<String>,
    /// File holding the signing secret (trailing newline ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Pacing of this sink's deliveries (concurrency, rate limit, folding
    /// of updates, retries, circuit breaker): its `delivery` table.
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

/// The bytes and headers of one signed delivery, before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The request body.
    pub body: Vec<u8>,
    /// Unix seconds used for signing.
    pub timestamp: i64,
    /// `v1=<hex>`, when a secret is configured.
    pub signature: Option<String>,
}

/// Delivers decisions to a webhook.
#[derive(Debug)]
pub struct WebhookSink {
    name: String,
    url: String,
    headers: HeaderMap,
    template: Option<Template>,
    signer: Option<Signer>,
    client: reqwest::Client,
}

impl WebhookSink {
    /// Builds the sink; a bad URL, header, template or unreadable secret is
    /// an error here rather than at delivery.
    pub fn new(cfg: &WebhookConfig) -> Result<Self, ConfigError> {
        let name = cfg.name.as_str();
        config::check_url(name, &cfg.url)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in config::header_map(name, &cfg.headers)? {
            if let Some(k) = k {
                headers.insert(k, v);
            }
        }
        let template = match &cfg.body_template {
            Some(src) => Some(Template::new(src).map_err(|e| ConfigError::template(name, e))?),
            None => None,
        };
        let secret = config::load_secret(
            name,
            "secret",
            cfg.secret.as_deref(),
            cfg.secret_file.as_deref(),
        )?;
        if secret.as_deref() == Some("") {
            return Err(ConfigError::setting(name, "empty secret"));
        }
        Ok(WebhookSink {
            name: cfg.name.clone(),
            url: cfg.url.clone(),
            headers,
            template,
            signer: secret.map(|s| Signer::new(s.as_bytes())),
            client: config::http_client(name, cfg.timeout)?,
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether requests are signed.
    pub fn is_signed(&self) -> bool {
        self.signer.is_some()
    }

    /// Serialises (or renders) and signs `decision` as of `now_unix`. This is
    /// the per-delivery CPU cost; it is benchmarked in `benches/payloads.rs`.
    pub fn encode(&self, decision: &Decision, now_unix: i64) -> Result<Encoded, DeliveryError> {
        let body = match &self.template {
            Some(t) => t.render(decision)?.into_bytes(),
            None => serde_json::to_vec(decision).map_err(|e| DeliveryError::Permanent {
                reason: format!("serialise decision: {e}"),
            })?,
        };
        let signature = self.signer.as_ref().map(|s| s.sign(now_unix, &body));
        Ok(Encoded {
            body,
            timestamp: now_unix,
            signature,
        })
    }

    /// Sends an already encoded body (used by action sinks that log the
    /// encoded form first).
    pub(crate) async fn send(
        &self,
        decision: &Decision,
        enc: Encoded,
    ) -> Result<(), DeliveryError> {
        // An id that is not a valid header value would fail identically on
        // every retry, so it is permanent rather than a transport error.
        let key = HeaderValue::from_str(&decision.id).map_err(|e| DeliveryError::Permanent {
            reason: format!("decision id is not a valid header value: {e}"),
        })?;
        let mut req = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(IDEMPOTENCY_HEADER, key);
        if let Some(sig) = enc.signature {
            req = req
                .header(TIMESTAMP_HEADER, enc.timestamp.to_string())
                .header(SIGNATURE_HEADER, sig);
        }
        classify_response(req.body(enc.body).send().await)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let enc = self.encode(decision, chrono::Utc::now().timestamp())?;
        self.send(decision, enc).await
    }
}

#[cfg(test)]
mod tests;

fn default_webhook_name() -> String {
    "webhook".into()
}
