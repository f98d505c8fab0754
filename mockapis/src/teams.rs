//! A Microsoft Teams webhook receiver: classic incoming webhooks under
//! `/webhookb2/...` (answer `200` with body `1`) and Workflows webhooks
//! under `/workflows/...` (answer `202`).
//!
//! Enforces the message envelope for Adaptive Cards (`type` `message`,
//! `attachments` with `contentType`
//! `application/vnd.microsoft.card.adaptive` and a `content` of `type`
//! `AdaptiveCard` with a `version` 1.0..1.5), that body elements and
//! actions are typed (`TextBlock` needs `text`, `FactSet` needs
//! `facts[{title,value}]`, `Action.OpenUrl` needs an http(s) `url`), the
//! documented 28 KB message limit (413), and the documented throttle of
//! four requests per second per webhook (429 with `Retry-After`).
//! Malformed messages get 400.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use super::check::{Violations, is_http_url, is_json};
use super::limiter::SlidingWindow;
use super::{MockServer, MockState, spawn};

/// The endpoint name in records.
pub const ENDPOINT: &str = "teams.webhook";
/// The documented message size limit.
pub const MAX_BYTES: usize = 28 * 1024;

/// Tunables of the Teams receiver.
#[derive(Debug, Clone, Copy)]
pub struct TeamsMockConfig {
    /// Requests accepted per webhook per second (documented: 4).
    pub per_second: usize,
}

impl Default for TeamsMockConfig {
    fn default() -> Self {
        TeamsMockConfig { per_second: 4 }
    }
}

struct Teams {
    state: Arc<MockState>,
    limiter: SlidingWindow,
}

/// The receiver with the documented throttle.
pub fn router(state: Arc<MockState>) -> Router {
    router_with(state, TeamsMockConfig::default())
}

/// The receiver with `cfg`.
pub fn router_with(state: Arc<MockState>, cfg: TeamsMockConfig) -> Router {
    let t = Arc::new(Teams {
        state,
        limiter: SlidingWindow::new(cfg.per_second, Duration::from_secs(1)),
    });
    Router::new()
        .route("/webhookb2/{*rest}", post(classic))
        .route("/workflows/{*rest}", post(workflows))
        .with_state(t)
}

/// Serves the receiver on an ephemeral port.
pub async fn serve() -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router(state.clone()), state).await
}

async fn classic(
    State(t): State<Arc<Teams>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&t, &rest, &headers, &body, (StatusCode::OK, "1")).await
}

async fn workflows(
    State(t): State<Arc<Teams>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&t, &rest, &headers, &body, (StatusCode::ACCEPTED, "")).await
}

fn refuse(state: &MockState, status: StatusCode, why: String, text: &'static str) -> Response {
    let _ = state.reject(ENDPOINT, status, why, Value::Null);
    (status, text).into_response()
}

async fn handle(
    t: &Teams,
    hook: &str,
    headers: &HeaderMap,
    body: &Bytes,
    ok: (StatusCode, &'static str),
) -> Response {
    if let Some(r) = t.state.fault_response().await {
        return r;
    }
    let now = Instant::now();
    if !t.limiter.allow(hook, now) {
        let _ = t.state.reject(
            ENDPOINT,
            StatusCode::TOO_MANY_REQUESTS,
            format!("throttled webhook {hook}"),
            Value::Null,
        );
        let wait = t.limiter.wait_secs(hook, now).to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", wait)],
            "Too many requests",
        )
            .into_response();
    }
    if body.len() > MAX_BYTES {
        return refuse(
            &t.state,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} bytes, over 28 KB", body.len()),
            "Request Entity Too Large",
        );
    }
    const BAD: &str = "Bad payload received by generic incoming webhook.";
    if !is_json(headers) {
        return refuse(
            &t.state,
            StatusCode::BAD_REQUEST,
            "not application/json".into(),
            BAD,
        );
    }
    let msg = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => {
            return refuse(
                &t.state,
                StatusCode::BAD_REQUEST,
                "not a JSON object".into(),
                BAD,
            );
        }
    };
    let mut v = Violations::default();
    v.one_of(&msg, "", "type", true, &["message"]);
    if let Some(atts) = v.array(&msg, "", "attachments", true, None) {
        if atts.is_empty() {
            v.push("'attachments' is empty");
        }
        for (i, a) in atts.iter().enumerate() {
            check_attachment(a, &format!("attachments[{i}]."), &mut v);
        }
    }
    if !v.is_empty() {
        return refuse(&t.state, StatusCode::BAD_REQUEST, v.0.join("; "), BAD);
    }
    t.state
        .record(ENDPOINT, Some(hook.to_owned()), Value::Object(msg));
    ok.into_response()
}

fn check_attachment(a: &Value, path: &str, v: &mut Violations) {
    let Some(a) = a.as_object() else {
        v.push(format!("'{path}' must be an object"));
        return;
    };
    v.one_of(
        a,
        path,
        "contentType",
        true,
        &["application/vnd.microsoft.card.adaptive"],
    );
    let Some(card) = v.object(a, path, "content", true) else {
        return;
    };
    let p = format!("{path}content.");
    v.one_of(card, &p, "type", true, &["AdaptiveCard"]);
    v.one_of(
        card,
        &p,
        "version",
        true,
        &["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"],
    );
    if let Some(body) = v.array(card, &p, "body", false, None) {
        for (i, e) in body.iter().enumerate() {
            check_element(e, &format!("{p}body[{i}]."), v);
        }
    }
    if let Some(actions) = v.array(card, &p, "actions", false, None) {
        for (i, e) in actions.iter().enumerate() {
            check_action(e, &format!("{p}actions[{i}]."), v);
        }
    }
}

fn check_element(e: &Value, path: &str, v: &mut Violations) {
    let Some(e) = e.as_object() else {
        v.push(format!("'{path}' must be an object"));
        return;
    };
    match e.get("type").and_then(Value::as_str) {
        Some("TextBlock") => {
            v.string(e, path, "text", true, None);
        }
        Some("FactSet") => {
            if let Some(facts) = v.array(e, path, "facts", true, None) {
                for (i, f) in facts.iter().enumerate() {
                    match f.as_object() {
                        Some(f) => {
                            v.string(f, &format!("{path}facts[{i}]."), "title", true, None);
                            v.string(f, &format!("{path}facts[{i}]."), "value", true, None);
                        }
                        None => v.push(format!("'{path}facts[{i}]' must be an object")),
                    }
                }
            }
        }
        Some("Image") => {
            v.string(e, path, "url", true, None);
        }
        Some(
            "Container" | "ColumnSet" | "ActionSet" | "RichTextBlock" | "Table" | "ImageSet"
            | "Media",
        ) => {}
        other => v.push(format!("'{path}type' {other:?} is not an element type")),
    }
}

fn check_action(a: &Value, path: &str, v: &mut Violations) {
    let Some(a) = a.as_object() else {
        v.push(format!("'{path}' must be an object"));
        return;
    };
    let ty = v.one_of(
        a,
        path,
        "type",
        true,
        &[
            "Action.OpenUrl",
            "Action.Submit",
            "Action.ShowCard",
            "Action.ToggleVisibility",
            "Action.Execute",
        ],
    );
    if ty == Some("Action.OpenUrl")
        && let Some(u) = v.string(a, path, "url", true, None)
        && !is_http_url(u)
    {
        v.push(format!("'{path}url' must be an http(s) URL"));
    }
}

#[cfg(test)]
mod tests;
