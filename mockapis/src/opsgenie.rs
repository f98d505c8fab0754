//! An Opsgenie Alert API receiver: `POST /v2/alerts` (create) and
//! `POST /v2/alerts/{identifier}/{close|acknowledge}?identifierType=id|tiny|alias`.
//!
//! Enforces `Authorization: GenieKey <key>` (401 otherwise), a JSON body,
//! and the documented create fields: `message` required, at most 130
//! characters; `alias` 512; `description` 15000; `entity` 512; `source` and
//! `user` 100; `note` 25000; at most 20 `tags` of 50 characters; at most 10
//! `actions` of 50; `priority` `P1`..`P5`; `details` an object of strings,
//! 8000 characters in total; `responders`/`visibleTo` typed objects.
//! Validation failures answer 422 with Opsgenie's error body
//! (`{"message":..,"errors":{field: msg},"took":..,"requestId":..}`),
//! unparseable bodies 400; success is
//! `202 {"result":"Request will be processed","took":..,"requestId":..}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::check::{Violations, is_json};
use super::{MockServer, MockState, spawn};

/// Endpoint name of create requests in records.
pub const CREATE: &str = "opsgenie.create";
/// Endpoint name of close requests in records.
pub const CLOSE: &str = "opsgenie.close";
/// Endpoint name of acknowledge requests in records.
pub const ACKNOWLEDGE: &str = "opsgenie.acknowledge";

struct Og {
    state: Arc<MockState>,
    api_key: Option<String>,
    next_id: AtomicU64,
}

impl Og {
    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    fn error(
        &self,
        endpoint: &'static str,
        status: StatusCode,
        message: &str,
        errors: Option<Map<String, Value>>,
    ) -> Response {
        let mut body = json!({"message": message, "took": 0.001, "requestId": self.request_id()});
        let mut reason = message.to_owned();
        if let Some(e) = errors {
            reason = format!("{message}: {}", Value::Object(e.clone()));
            body["errors"] = Value::Object(e);
        }
        self.state.reject(endpoint, status, reason, body)
    }

    fn accepted(&self) -> Response {
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({"result": "Request will be processed", "took": 0.002, "requestId": self.request_id()})),
        )
            .into_response()
    }

    /// Auth and body checks common to every endpoint; `Err` is the answer.
    fn preamble(
        &self,
        endpoint: &'static str,
        headers: &HeaderMap,
        body: &Bytes,
        body_required: bool,
    ) -> Result<Map<String, Value>, Box<Response>> {
        let auth = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match auth.strip_prefix("GenieKey ") {
            Some(k)
                if !k.trim().is_empty()
                    && self.api_key.as_deref().is_none_or(|want| want == k.trim()) => {}
            _ => {
                return Err(Box::new(self.error(
                    endpoint,
                    StatusCode::UNAUTHORIZED,
                    "Could not authenticate",
                    None,
                )));
            }
        }
        if body.is_empty() && !body_required {
            return Ok(Map::new());
        }
        if !is_json(headers) {
            return Err(Box::new(self.error(
                endpoint,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
                None,
            )));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => Ok(o),
            _ => Err(Box::new(self.error(
                endpoint,
                StatusCode::BAD_REQUEST,
                "Request body is not valid JSON object",
                None,
            ))),
        }
    }
}

/// The receiver, accepting any well-formed `GenieKey`.
pub fn router(state: Arc<MockState>) -> Router {
    router_with(state, None)
}

/// The receiver; with `api_key`, any other key is refused with 401.
pub fn router_with(state: Arc<MockState>, api_key: Option<String>) -> Router {
    let og = Arc::new(Og {
        state,
        api_key,
        next_id: AtomicU64::new(1),
    });
    Router::new()
        .route("/v2/alerts", post(create))
        .route("/v2/alerts/{identifier}/{verb}", post(transition))
        .with_state(og)
}

/// Serves the receiver on an ephemeral port.
pub async fn serve() -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router(state.clone()), state).await
}

/// Turns violations into Opsgenie's `errors` object (field → message).
fn errors_map(v: Violations) -> Map<String, Value> {
    v.0.into_iter()
        .map(|m| {
            let field = m.split('\'').nth(1).unwrap_or("body").to_owned();
            (field, Value::String(m))
        })
        .collect()
}

fn common_fields(obj: &Map<String, Value>, v: &mut Violations) {
    v.string(obj, "", "user", false, Some(100));
    v.string(obj, "", "source", false, Some(100));
    v.string(obj, "", "note", false, Some(25_000));
}

async fn create(State(og): State<Arc<Og>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = og.state.fault_response().await {
        return r;
    }
    let obj = match og.preamble(CREATE, &headers, &body, true) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let mut v = Violations::default();
    v.string(&obj, "", "message", true, Some(130));
    let alias = v.string(&obj, "", "alias", false, Some(512));
    v.string(&obj, "", "description", false, Some(15_000));
    v.string(&obj, "", "entity", false, Some(512));
    v.one_of(&obj, "", "priority", false, &["P1", "P2", "P3", "P4", "P5"]);
    common_fields(&obj, &mut v);
    for (field, max_items) in [("tags", 20), ("actions", 10)] {
        if let Some(items) = v.array(&obj, "", field, false, Some(max_items)) {
            for (i, t) in items.iter().enumerate() {
                match t.as_str() {
                    Some(s) if !s.is_empty() && s.chars().count() <= 50 => {}
                    _ => v.push(format!(
                        "'{field}[{i}]' must be a string of 1 to 50 characters"
                    )),
                }
            }
        }
    }
    if let Some(d) = v.object(&obj, "", "details", false) {
        let mut total = 0;
        for (k, val) in d {
            match val.as_str() {
                Some(s) => total += k.chars().count() + s.chars().count(),
                None => v.push(format!("'details.{k}' must be a string")),
            }
        }
        if total > 8000 {
            v.push(format!("'details' is {total} characters, more than 8000"));
        }
    }
    for field in ["responders", "visibleTo"] {
        if let Some(items) = v.array(&obj, "", field, false, Some(50)) {
            for (i, r) in items.iter().enumerate() {
                let ok = r.as_object().is_some_and(|r| {
                    matches!(
                        r.get("type").and_then(Value::as_str),
                        Some("team" | "user" | "escalation" | "schedule")
                    ) && ["id", "name", "username"].iter().any(|k| {
                        r.get(*k)
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.is_empty())
                    })
                });
                if !ok {
                    v.push(format!(
                        "'{field}[{i}]' must have a type and an id, name or username"
                    ));
                }
            }
        }
    }
    if !v.is_empty() {
        return og.error(
            CREATE,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Request body is not processable. Please check the errors.",
            Some(errors_map(v)),
        );
    }
    og.state
        .record(CREATE, alias.map(str::to_owned), Value::Object(obj));
    og.accepted()
}

async fn transition(
    State(og): State<Arc<Og>>,
    Path((identifier, verb)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = og.state.fault_response().await {
        return r;
    }
    let endpoint = match verb.as_str() {
        "close" => CLOSE,
        "acknowledge" => ACKNOWLEDGE,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "Not found"})),
            )
                .into_response();
        }
    };
    let obj = match og.preamble(endpoint, &headers, &body, false) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let mut v = Violations::default();
    let id_type = q.get("identifierType").map(String::as_str).unwrap_or("id");
    if !matches!(id_type, "id" | "tiny" | "alias") {
        v.push(format!(
            "'identifierType' must be one of id, tiny, alias, not {id_type:?}"
        ));
    }
    if identifier.is_empty() || (id_type == "alias" && identifier.chars().count() > 512) {
        v.push("'identifier' must be 1 to 512 characters");
    }
    common_fields(&obj, &mut v);
    if !v.is_empty() {
        return og.error(
            endpoint,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Request body is not processable. Please check the errors.",
            Some(errors_map(v)),
        );
    }
    let mut recorded = Value::Object(obj);
    recorded["_identifierType"] = json!(id_type);
    og.state.record(endpoint, Some(identifier), recorded);
    og.accepted()
}

#[cfg(test)]
mod tests;
