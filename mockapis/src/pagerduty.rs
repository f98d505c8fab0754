//! A PagerDuty Events API v2 receiver (`POST /v2/enqueue`).
//!
//! Enforces the documented event schema: `routing_key` (32 characters),
//! `event_action` (`trigger`|`acknowledge`|`resolve`), `dedup_key` (at most
//! 255 characters, required for acknowledge/resolve), and for triggers a
//! `payload` with `summary` (1..=1024 characters), `source`, `severity`
//! (`critical`|`error`|`warning`|`info`), an ISO 8601 `timestamp` when
//! given, string `component`/`group`/`class`, object `custom_details`,
//! `links` with `href`, `images` with `src`; the whole event at most 512 KB.
//! Answers `202 {"status":"success","message":"Event processed","dedup_key":..}`
//! or `400 {"status":"invalid event","message":"Event object is invalid","errors":[..]}`,
//! and `429` once a routing key exceeds its rate limit (every 429 is recorded
//! in [`MockState::rejected`], so tests can assert the limit was kept).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::check::{Violations, is_http_url, is_json};
use super::limiter::SlidingWindow;
use super::{MockServer, MockState, spawn};

/// The endpoint name in records.
pub const ENDPOINT: &str = "pagerduty.enqueue";
const MAX_BYTES: usize = 512 * 1024;

/// Tunables of the PagerDuty receiver.
#[derive(Debug, Clone, Copy)]
pub struct PagerDutyMockConfig {
    /// Events accepted per routing key per `window` (default 120).
    pub rate_limit: usize,
    /// The sliding window (default 60 s).
    pub window: Duration,
}

impl Default for PagerDutyMockConfig {
    fn default() -> Self {
        PagerDutyMockConfig {
            rate_limit: 120,
            window: Duration::from_secs(60),
        }
    }
}

struct Pd {
    state: Arc<MockState>,
    limiter: SlidingWindow,
    next_key: AtomicU64,
}

/// The receiver with the default rate limit.
pub fn router(state: Arc<MockState>) -> Router {
    router_with(state, PagerDutyMockConfig::default())
}

/// The receiver with `cfg`.
pub fn router_with(state: Arc<MockState>, cfg: PagerDutyMockConfig) -> Router {
    let pd = Arc::new(Pd {
        state,
        limiter: SlidingWindow::new(cfg.rate_limit, cfg.window),
        next_key: AtomicU64::new(1),
    });
    Router::new()
        .route("/v2/enqueue", post(enqueue))
        .with_state(pd)
}

/// Serves the receiver on an ephemeral port.
pub async fn serve() -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router(state.clone()), state).await
}

fn invalid(state: &MockState, errors: Vec<String>) -> Response {
    state.reject(
        ENDPOINT,
        StatusCode::BAD_REQUEST,
        errors.join("; "),
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

async fn enqueue(State(pd): State<Arc<Pd>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = pd.state.fault_response().await {
        return r;
    }
    if !is_json(&headers) {
        return invalid(
            &pd.state,
            vec!["Content-Type must be application/json".into()],
        );
    }
    if body.len() > MAX_BYTES {
        return invalid(
            &pd.state,
            vec![format!(
                "event is {} bytes, more than the 512 KB limit",
                body.len()
            )],
        );
    }
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return invalid(&pd.state, vec![format!("body is not valid JSON: {e}")]),
    };
    let Some(obj) = event.as_object() else {
        return invalid(&pd.state, vec!["event must be a JSON object".into()]);
    };
    let mut v = Violations::default();
    let routing_key = v.string(obj, "", "routing_key", true, None);
    if let Some(k) = routing_key
        && k.chars().count() != 32
    {
        v.push("'routing_key' must be 32 characters");
    }
    let action = v.one_of(
        obj,
        "",
        "event_action",
        true,
        &["trigger", "acknowledge", "resolve"],
    );
    let dedup_key = v.string(obj, "", "dedup_key", false, Some(255));
    if matches!(action, Some("acknowledge" | "resolve")) && dedup_key.is_none_or(|k| k.is_empty()) {
        v.push("'dedup_key' is required for acknowledge and resolve events");
    }
    if action == Some("trigger") {
        check_trigger(obj, &mut v);
    }
    if !v.is_empty() {
        return invalid(&pd.state, v.0);
    }
    let key = routing_key.unwrap_or_default();
    let now = Instant::now();
    if !pd.limiter.allow(key, now) {
        let _ = pd.state.reject(
            ENDPOINT,
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded for routing key {key}"),
            Value::Null,
        );
        return (StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
    }
    let dedup_key = match dedup_key {
        Some(k) if !k.is_empty() => k.to_owned(),
        _ => format!("{:032x}", pd.next_key.fetch_add(1, Ordering::Relaxed)),
    };
    pd.state
        .record(ENDPOINT, Some(dedup_key.clone()), event.clone());
    (
        StatusCode::ACCEPTED,
        axum::Json(
            json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
        ),
    )
        .into_response()
}

fn check_trigger(obj: &serde_json::Map<String, Value>, v: &mut Violations) {
    if let Some(p) = v.object(obj, "", "payload", true) {
        v.string(p, "payload.", "summary", true, Some(1024));
        v.string(p, "payload.", "source", true, None);
        v.one_of(
            p,
            "payload.",
            "severity",
            true,
            &["critical", "error", "warning", "info"],
        );
        if let Some(ts) = v.string(p, "payload.", "timestamp", false, None)
            && chrono::DateTime::parse_from_rfc3339(ts).is_err()
        {
            v.push("'payload.timestamp' must be an ISO 8601 timestamp");
        }
        for f in ["component", "group", "class"] {
            v.string(p, "payload.", f, false, None);
        }
        v.object(p, "payload.", "custom_details", false);
    }
    v.string(obj, "", "client", false, None);
    if let Some(u) = v.string(obj, "", "client_url", false, None)
        && !is_http_url(u)
    {
        v.push("'client_url' must be a URL");
    }
    if let Some(links) = v.array(obj, "", "links", false, None) {
        for (i, l) in links.iter().enumerate() {
            match l.as_object() {
                Some(l) => {
                    v.string(l, &format!("links[{i}]."), "href", true, None);
                    v.string(l, &format!("links[{i}]."), "text", false, None);
                }
                None => v.push(format!("'links[{i}]' must be an object")),
            }
        }
    }
    if let Some(images) = v.array(obj, "", "images", false, None) {
        for (i, im) in images.iter().enumerate() {
            match im.as_object() {
                Some(im) => {
                    v.string(im, &format!("images[{i}]."), "src", true, None);
                }
                None => v.push(format!("'images[{i}]' must be an object")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
