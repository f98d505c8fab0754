//! The generic webhook sink: each decision as a JSON `POST`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tocsin_processors::Decision;

use crate::delivery::{DeliveryError, Sink};

/// Configuration of one webhook sink (`[[sinks.webhook]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name, unique among sinks.
    #[serde(default = "default_name")]
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// Per-request timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra request headers (for example `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_name() -> String {
    "webhook".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Posts decisions as JSON.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    cfg: WebhookConfig,
    client: reqwest::Client,
}

impl WebhookSink {
    /// A sink for `cfg`.
    pub fn new(cfg: WebhookConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(cfg.timeout).build()?;
        Ok(WebhookSink { cfg, client })
    }
}

/// Reads `Retry-After` in its delay-seconds form.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Maps an HTTP outcome onto delivery semantics: 2xx delivered; 408, 429 and
/// 5xx retryable; any other status permanent.
pub(crate) async fn classify_response(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), DeliveryError> {
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            return Err(DeliveryError::Retryable {
                reason: format!("request failed: {e}"),
                retry_after: None,
            });
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let hint = retry_after(&resp);
    let body: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    let reason = format!("HTTP {status}: {body}");
    if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
        Err(DeliveryError::Retryable {
            reason,
            retry_after: hint,
        })
    } else {
        Err(DeliveryError::Permanent { reason })
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(decision).map_err(|e| DeliveryError::Permanent {
            reason: format!("cannot serialise decision: {e}"),
        })?;
        let mut req = self
            .client
            .post(&self.cfg.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &decision.id);
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        classify_response(req.body(body).send().await).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    use std::sync::{Arc, Mutex};

    async fn serve(status: StatusCode, seen: Arc<Mutex<Vec<serde_json::Value>>>) -> String {
        let app = Router::new().route(
            "/hook",
            post(move |body: axum::Json<serde_json::Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body.0);
                    (status, [("retry-after", "7")], "nope")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }

    fn decision() -> Decision {
        serde_json::from_value(serde_json::json!({
            "ts": "2026-11-26T08:30:00Z", "id": "k#open", "kind": "incident", "action": "open",
            "target": "s", "severity": "error", "reason": "r", "evidence": {"x": 1}, "evidence_sql": "",
            "dedup_key": "k", "confidence": 1.0, "processor": "p"
        }))
        .unwrap()
    }

    fn sink(url: String) -> WebhookSink {
        WebhookSink::new(WebhookConfig {
            name: "w".into(),
            url,
            timeout: Duration::from_secs(5),
            headers: BTreeMap::new(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn posts_the_decision_as_json() {
        let seen = Arc::new(Mutex::new(vec![]));
        let url = serve(StatusCode::ACCEPTED, seen.clone()).await;
        sink(url).deliver(&decision()).await.unwrap();
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["dedup_key"], "k");
        assert_eq!(got[0]["evidence"]["x"], 1);
    }

    #[tokio::test]
    async fn status_codes_map_to_retry_semantics() {
        let seen = Arc::new(Mutex::new(vec![]));
        let url = serve(StatusCode::TOO_MANY_REQUESTS, seen.clone()).await;
        assert_eq!(
            sink(url).deliver(&decision()).await,
            Err(DeliveryError::Retryable {
                reason: "HTTP 429 Too Many Requests: nope".into(),
                retry_after: Some(Duration::from_secs(7))
            })
        );
        let url = serve(StatusCode::BAD_REQUEST, seen.clone()).await;
        assert!(matches!(
            sink(url).deliver(&decision()).await,
            Err(DeliveryError::Permanent { .. })
        ));
        // Nothing listens on port 9 of loopback here.
        let e = sink("http://127.0.0.1:9/x".into())
            .deliver(&decision())
            .await;
        assert!(matches!(e, Err(DeliveryError::Retryable { .. })));
    }
}
