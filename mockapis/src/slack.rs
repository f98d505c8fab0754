//! A Slack incoming-webhook receiver (`POST /services/{T}/{B}/{token}`).
//!
//! Enforces a JSON body with `text` and/or `blocks` (else `400 no_text`),
//! `blocks` an array (`400 invalid_blocks_format`) of at most 50 blocks,
//! each valid per the Block Kit reference (`400 invalid_blocks`): `header`
//! with `plain_text` of 1..=150 characters; `section` with `text` (1..=3000)
//! and/or 1..=10 `fields` (each 1..=2000); `context` with 1..=10 text or
//! image elements; `actions` with 1..=25 elements (buttons: text 1..=75,
//! `url` at most 3000, `value` 2000, `action_id` 255, `style`
//! primary|danger); `divider`; `image`; `block_id` at most 255. Text
//! objects are `plain_text` or `mrkdwn`, `emoji` only on `plain_text`.
//! Answers `200 ok` as plain text, like Slack. Webhook tokens select the
//! documented failures: `revoked` → `403 invalid_token`, `prohibited` →
//! `403 action_prohibited`, `missing` → `404 channel_not_found`, `archived`
//! → `410 channel_is_archived`; other paths → `404 no_service`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value};

use super::check::{Violations, is_http_url, is_json};
use super::{MockServer, MockState, spawn};

/// The endpoint name in records.
pub const ENDPOINT: &str = "slack.webhook";

/// The receiver.
pub fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/services/{team}/{bot}/{token}", post(webhook))
        .fallback(no_service)
        .with_state(state)
}

/// Serves the receiver on an ephemeral port.
pub async fn serve() -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router(state.clone()), state).await
}

/// Records the refusal and answers as Slack does: a short plain-text code.
fn refuse(state: &MockState, status: StatusCode, code: &'static str, why: String) -> Response {
    let _ = state.reject(ENDPOINT, status, format!("{code}: {why}"), Value::Null);
    (status, [("content-type", "text/html")], code).into_response()
}

async fn no_service(State(state): State<Arc<MockState>>) -> Response {
    refuse(
        &state,
        StatusCode::NOT_FOUND,
        "no_service",
        "no such webhook".into(),
    )
}

async fn webhook(
    State(state): State<Arc<MockState>>,
    Path((_team, _bot, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = state.fault_response().await {
        return r;
    }
    match token.as_str() {
        "revoked" => {
            return refuse(
                &state,
                StatusCode::FORBIDDEN,
                "invalid_token",
                "token revoked".into(),
            );
        }
        "prohibited" => {
            return refuse(
                &state,
                StatusCode::FORBIDDEN,
                "action_prohibited",
                "admin restriction".into(),
            );
        }
        "missing" => {
            return refuse(
                &state,
                StatusCode::NOT_FOUND,
                "channel_not_found",
                "channel deleted".into(),
            );
        }
        "archived" => {
            return refuse(
                &state,
                StatusCode::GONE,
                "channel_is_archived",
                "channel archived".into(),
            );
        }
        _ => {}
    }
    if !is_json(&headers) {
        return refuse(
            &state,
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "not application/json".into(),
        );
    }
    let msg: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(o)) => o,
        _ => {
            return refuse(
                &state,
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                "not a JSON object".into(),
            );
        }
    };
    let mut v = Violations::default();
    let text = v.string(&msg, "", "text", false, None);
    let has_attachments = msg
        .get("attachments")
        .is_some_and(|a| a.as_array().is_some_and(|a| !a.is_empty()));
    let blocks = match msg.get("blocks") {
        None | Some(Value::Null) => None,
        Some(Value::Array(b)) => Some(b),
        Some(_) => {
            return refuse(
                &state,
                StatusCode::BAD_REQUEST,
                "invalid_blocks_format",
                "blocks is not an array".into(),
            );
        }
    };
    if text.is_none_or(|t| t.trim().is_empty())
        && blocks.is_none_or(|b| b.is_empty())
        && !has_attachments
    {
        return refuse(
            &state,
            StatusCode::BAD_REQUEST,
            "no_text",
            "neither text nor blocks".into(),
        );
    }
    if !v.is_empty() {
        return refuse(
            &state,
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            v.0.join("; "),
        );
    }
    if let Some(blocks) = blocks {
        if blocks.len() > 50 {
            v.push(format!("{} blocks, more than 50", blocks.len()));
        }
        for (i, b) in blocks.iter().enumerate() {
            check_block(b, &format!("blocks[{i}]."), &mut v);
        }
        if !v.is_empty() {
            return refuse(
                &state,
                StatusCode::BAD_REQUEST,
                "invalid_blocks",
                v.0.join("; "),
            );
        }
    }
    state.record(ENDPOINT, None, Value::Object(msg));
    (StatusCode::OK, [("content-type", "text/html")], "ok").into_response()
}

/// A composition text object of `allowed` types with 1..=`max` characters.
fn check_text(o: Option<&Value>, path: &str, allowed: &[&str], max: usize, v: &mut Violations) {
    let Some(t) = o.and_then(Value::as_object) else {
        v.push(format!("'{path}' must be a text object"));
        return;
    };
    let ty = v.one_of(t, &format!("{path}."), "type", true, allowed);
    match t.get("text").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => {
            let n = s.chars().count();
            if n > max {
                v.push(format!("'{path}.text' is {n} characters, more than {max}"));
            }
        }
        _ => v.push(format!("'{path}.text' must be a non-empty string")),
    }
    if ty == Some("mrkdwn") && t.contains_key("emoji") {
        v.push(format!("'{path}.emoji' is only allowed on plain_text"));
    }
    if ty == Some("plain_text") && t.contains_key("verbatim") {
        v.push(format!("'{path}.verbatim' is only allowed on mrkdwn"));
    }
}

fn check_button(e: &Map<String, Value>, path: &str, v: &mut Violations) {
    check_text(
        e.get("text"),
        &format!("{path}text"),
        &["plain_text"],
        75,
        v,
    );
    v.string(e, path, "action_id", false, Some(255));
    v.string(e, path, "value", false, Some(2000));
    if let Some(u) = v.string(e, path, "url", false, Some(3000))
        && !is_http_url(u)
    {
        v.push(format!("'{path}url' must be a URL"));
    }
    v.one_of(e, path, "style", false, &["primary", "danger"]);
}

fn check_block(b: &Value, path: &str, v: &mut Violations) {
    let Some(b) = b.as_object() else {
        v.push(format!("'{path}' must be an object"));
        return;
    };
    v.string(b, path, "block_id", false, Some(255));
    let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "header" => check_text(
            b.get("text"),
            &format!("{path}text"),
            &["plain_text"],
            150,
            v,
        ),
        "section" => {
            if b.get("text").is_none() && b.get("fields").is_none() {
                v.push(format!("'{path}' needs text or fields"));
            }
            if b.get("text").is_some() {
                check_text(
                    b.get("text"),
                    &format!("{path}text"),
                    &["plain_text", "mrkdwn"],
                    3000,
                    v,
                );
            }
            if let Some(fields) = v.array(b, path, "fields", false, Some(10)) {
                if fields.is_empty() {
                    v.push(format!("'{path}fields' is empty"));
                }
                for (i, f) in fields.iter().enumerate() {
                    check_text(
                        Some(f),
                        &format!("{path}fields[{i}]"),
                        &["plain_text", "mrkdwn"],
                        2000,
                        v,
                    );
                }
            }
            if let Some(a) = b.get("accessory").and_then(Value::as_object)
                && a.get("type").and_then(Value::as_str) == Some("button")
            {
                check_button(a, &format!("{path}accessory."), v);
            }
        }
        "context" => match v.array(b, path, "elements", true, Some(10)) {
            Some(els) if !els.is_empty() => {
                for (i, e) in els.iter().enumerate() {
                    let p = format!("{path}elements[{i}]");
                    if e.get("type").and_then(Value::as_str) == Some("image") {
                        if let Some(im) = e.as_object() {
                            v.string(im, &format!("{p}."), "image_url", true, Some(3000));
                            v.string(im, &format!("{p}."), "alt_text", true, Some(2000));
                        }
                    } else {
                        check_text(Some(e), &p, &["plain_text", "mrkdwn"], 3000, v);
                    }
                }
            }
            Some(_) => v.push(format!("'{path}elements' is empty")),
            None => {}
        },
        "actions" => match v.array(b, path, "elements", true, Some(25)) {
            Some(els) if !els.is_empty() => {
                for (i, e) in els.iter().enumerate() {
                    let p = format!("{path}elements[{i}].");
                    match e.as_object() {
                        Some(e) if e.get("type").and_then(Value::as_str) == Some("button") => {
                            check_button(e, &p, v)
                        }
                        Some(e) if e.get("type").and_then(Value::as_str).is_some() => {}
                        _ => v.push(format!("'{p}' must be an interactive element")),
                    }
                }
            }
            Some(_) => v.push(format!("'{path}elements' is empty")),
            None => {}
        },
        "image" => {
            v.string(b, path, "image_url", true, Some(3000));
            v.string(b, path, "alt_text", true, Some(2000));
        }
        "divider" => {}
        "rich_text" | "input" | "file" | "video" | "markdown" => {}
        other => v.push(format!("'{path}type' {other:?} is not a block type")),
    }
}

#[cfg(test)]
mod tests;
