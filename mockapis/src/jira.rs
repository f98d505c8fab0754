//! A Jira REST API v2 stand-in: issue create, comment and transitions.
//!
//! Enforced: basic (`email:api_token`) or bearer authentication (401),
//! JSON bodies; on create `fields.project` (`key` or `id`), `fields.summary`
//! (non-empty, ≤ 255 chars, no line breaks), `fields.issuetype` (`name` or
//! `id`), `fields.description` a string, `fields.priority.name` one of the
//! default priorities, `fields.labels` strings without spaces; comment
//! `body` required; transition `transition.id` one of the workflow's ids.
//! Errors use Jira's `{"errorMessages":[],"errors":{field:msg}}` body;
//! unknown issues get 404. 429 with `Retry-After` comes from
//! [`super::Fault::TooManyRequests`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::{MockServer, MockState, spawn};

/// Credentials [`serve`] and [`router`] accept (basic).
pub const DEFAULT_EMAIL: &str = "bot@example.com";
/// The API token paired with [`DEFAULT_EMAIL`].
pub const DEFAULT_API_TOKEN: &str = "jira-mock-token";
/// The bearer token [`serve`] and [`router`] also accept.
pub const DEFAULT_BEARER: &str = "jira-mock-pat";

const PRIORITIES: [&str; 5] = ["Highest", "High", "Medium", "Low", "Lowest"];

/// What the server expects.
#[derive(Debug, Clone)]
pub struct JiraMockConfig {
    /// Accepted basic credentials (email, API token).
    pub basic: Option<(String, String)>,
    /// Accepted bearer token (personal access token).
    pub bearer: Option<String>,
    /// Transition ids the workflow offers.
    pub transitions: Vec<String>,
}

impl Default for JiraMockConfig {
    fn default() -> Self {
        JiraMockConfig {
            basic: Some((DEFAULT_EMAIL.to_owned(), DEFAULT_API_TOKEN.to_owned())),
            bearer: Some(DEFAULT_BEARER.to_owned()),
            transitions: vec!["11".to_owned(), "21".to_owned(), "31".to_owned()],
        }
    }
}

/// One issue as the mock holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockJiraIssue {
    /// `PROJ-n`.
    pub key: String,
    /// Its summary.
    pub summary: String,
    /// Its priority name, if set.
    pub priority: Option<String>,
    /// Comment bodies, in order.
    pub comments: Vec<String>,
    /// Transition ids applied, in order.
    pub transitions: Vec<String>,
}

/// A handle on the issues a Jira mock holds, for assertions.
#[derive(Debug, Clone, Default)]
pub struct JiraStore(Arc<Mutex<HashMap<String, MockJiraIssue>>>);

impl JiraStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MockJiraIssue>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The issue with `key`.
    pub fn issue(&self, key: &str) -> Option<MockJiraIssue> {
        self.lock().get(key).cloned()
    }

    /// How many issues exist.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no issue exists.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[derive(Debug)]
struct Ctx {
    state: Arc<MockState>,
    cfg: JiraMockConfig,
    store: JiraStore,
}

/// The API accepting the default credentials.
pub fn router(state: Arc<MockState>) -> Router {
    router_with(state, JiraMockConfig::default(), JiraStore::default())
}

/// The API with explicit expectations, holding issues in `store`.
pub fn router_with(state: Arc<MockState>, cfg: JiraMockConfig, store: JiraStore) -> Router {
    let ctx = Arc::new(Ctx { state, cfg, store });
    Router::new()
        .route("/rest/api/2/issue", post(create))
        .route("/rest/api/2/issue/{key}/comment", post(comment))
        .route("/rest/api/2/issue/{key}/transitions", post(transition))
        .with_state(ctx)
}

/// Serves the API accepting the default credentials.
pub async fn serve() -> std::io::Result<MockServer> {
    serve_with(JiraMockConfig::default(), JiraStore::default()).await
}

/// Serves the API with explicit expectations (keep a clone of `store` to
/// inspect issues).
pub async fn serve_with(cfg: JiraMockConfig, store: JiraStore) -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router_with(state.clone(), cfg, store), state).await
}

fn field_errors(state: &MockState, ep: &'static str, errors: Map<String, Value>) -> Response {
    let reason = Value::Object(errors.clone()).to_string();
    state.reject(
        ep,
        StatusCode::BAD_REQUEST,
        reason,
        json!({ "errorMessages": [], "errors": errors }),
    )
}

fn messages(state: &MockState, ep: &'static str, status: StatusCode, msg: &str) -> Response {
    state.reject(
        ep,
        status,
        msg.to_owned(),
        json!({ "errorMessages": [msg], "errors": {} }),
    )
}

fn decode_basic(b64: &str) -> Option<String> {
    // Standard alphabet with padding, as HTTP basic auth uses.
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in b64.trim().bytes().filter(|&c| c != b'=') {
        let v = ALPHA.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn preflight(
    ctx: &Ctx,
    ep: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    if let Some(r) = ctx.state.fault_response().await {
        return Err(r);
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = if let Some(b) = auth.strip_prefix("Basic ") {
        let expected = ctx.cfg.basic.as_ref().map(|(e, t)| format!("{e}:{t}"));
        expected.is_some() && decode_basic(b) == expected
    } else if let Some(t) = auth.strip_prefix("Bearer ") {
        ctx.cfg.bearer.as_deref() == Some(t)
    } else {
        false
    };
    if !ok {
        return Err(messages(
            &ctx.state,
            ep,
            StatusCode::UNAUTHORIZED,
            "You are not authenticated. Authentication required to perform this operation.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        messages(
            &ctx.state,
            ep,
            StatusCode::BAD_REQUEST,
            &format!("Unexpected character in JSON: {e}"),
        )
    })
}

fn has_key_or_id(v: Option<&Value>, key: &str) -> bool {
    v.and_then(|o| o.get(key).or_else(|| o.get("id")))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

async fn create(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Bytes) -> Response {
    const EP: &str = "jira.issue.create";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(fields) = v.get("fields").and_then(Value::as_object) else {
        return messages(
            &ctx.state,
            EP,
            StatusCode::BAD_REQUEST,
            "fields are required",
        );
    };
    let mut errors = Map::new();
    if !has_key_or_id(fields.get("project"), "key") {
        errors.insert("project".into(), "project is required".into());
    }
    if !has_key_or_id(fields.get("issuetype"), "name") {
        errors.insert("issuetype".into(), "issue type is required".into());
    }
    let summary = fields.get("summary").and_then(Value::as_str).unwrap_or("");
    if summary.trim().is_empty() {
        errors.insert(
            "summary".into(),
            "You must specify a summary of the issue.".into(),
        );
    } else if summary.chars().count() > 255 {
        errors.insert(
            "summary".into(),
            "Summary must be less than 255 characters.".into(),
        );
    } else if summary.contains(['\n', '\r']) {
        errors.insert(
            "summary".into(),
            "The summary is invalid because it contains newline characters.".into(),
        );
    }
    if !matches!(
        fields.get("description"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) {
        errors.insert(
            "description".into(),
            "Operation value must be a string".into(),
        );
    }
    let priority = match fields.get("priority") {
        None => None,
        Some(p) => match p.get("name").and_then(Value::as_str) {
            Some(n) if PRIORITIES.contains(&n) => Some(n.to_owned()),
            _ => {
                errors.insert(
                    "priority".into(),
                    "Specify the Priority (name) in the string format".into(),
                );
                None
            }
        },
    };
    match fields.get("labels") {
        None => {}
        Some(Value::Array(ls))
            if ls.iter().any(|l| {
                l.as_str()
                    .is_none_or(|s| s.is_empty() || s.contains(char::is_whitespace))
            }) =>
        {
            errors.insert("labels".into(), "The label must not contain spaces.".into());
        }
        Some(Value::Array(_)) => {}
        Some(_) => {
            errors.insert("labels".into(), "data was not an array".into());
        }
    }
    if !errors.is_empty() {
        return field_errors(&ctx.state, EP, errors);
    }
    let project = fields
        .get("project")
        .and_then(|p| p.get("key").or_else(|| p.get("id")))
        .and_then(Value::as_str)
        .unwrap_or("PROJ")
        .to_owned();
    let (id, key) = {
        let mut store = ctx.store.lock();
        let id = 10_000 + store.len() + 1;
        let key = format!("{project}-{}", store.len() + 1);
        store.insert(
            key.clone(),
            MockJiraIssue {
                key: key.clone(),
                summary: summary.to_owned(),
                priority,
                comments: Vec::new(),
                transitions: Vec::new(),
            },
        );
        (id, key)
    };
    ctx.state.record(EP, Some(key.clone()), v);
    let self_url = format!("/rest/api/2/issue/{id}");
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": id.to_string(), "key": key, "self": self_url })),
    )
        .into_response()
}

fn not_found(ctx: &Ctx, ep: &'static str) -> Response {
    messages(
        &ctx.state,
        ep,
        StatusCode::NOT_FOUND,
        "Issue does not exist or you do not have permission to see it.",
    )
}

async fn comment(
    State(ctx): State<Arc<Ctx>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "jira.issue.comment";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let text = match v.get("body").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.to_owned(),
        _ => {
            let mut e = Map::new();
            e.insert("comment".into(), "Comment body can not be empty!".into());
            return field_errors(&ctx.state, EP, e);
        }
    };
    let found = ctx
        .store
        .lock()
        .get_mut(&key)
        .map(|i| i.comments.push(text.clone()))
        .is_some();
    if !found {
        return not_found(&ctx, EP);
    }
    ctx.state.record(EP, Some(key), v);
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": "1", "body": text })),
    )
        .into_response()
}

async fn transition(
    State(ctx): State<Arc<Ctx>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "jira.issue.transition";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = v.get("transition").and_then(|t| t.get("id")).and_then(|i| {
        i.as_str()
            .map(str::to_owned)
            .or_else(|| i.as_u64().map(|n| n.to_string()))
    });
    let Some(id) = id else {
        return messages(
            &ctx.state,
            EP,
            StatusCode::BAD_REQUEST,
            "Missing 'transition' identifier",
        );
    };
    if !ctx.store.lock().contains_key(&key) {
        return not_found(&ctx, EP);
    }
    if !ctx.cfg.transitions.contains(&id) {
        return messages(
            &ctx.state,
            EP,
            StatusCode::BAD_REQUEST,
            &format!("Transition id '{id}' is not valid for this issue."),
        );
    }
    if let Some(i) = ctx.store.lock().get_mut(&key) {
        i.transitions.push(id);
    }
    ctx.state.record(EP, Some(key), v);
    StatusCode::NO_CONTENT.into_response()
}
