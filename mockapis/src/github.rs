//! A GitHub REST API stand-in: repository dispatches, issues, issue
//! comments, issue labels and issue updates, with GitHub's documented
//! validation and error bodies.
//!
//! Enforced: `Authorization: Bearer|token <token>` (401 `Bad credentials`),
//! a `User-Agent` (403, as GitHub does), `Accept` naming
//! `application/vnd.github+json` (415), a supported `X-GitHub-Api-Version`
//! when sent (400), JSON bodies (400 `Problems parsing JSON`);
//! dispatch `event_type` 1..=100 chars and `client_payload` an object of at
//! most 10 top-level properties, issue `title` required, `labels`/`assignees`
//! arrays of strings, comment `body` required, `state` in {open, closed} and
//! `state_reason` in {completed, not_planned, reopened, duplicate, null}
//! (422 `{"message","errors","documentation_url"}`); unknown issue numbers
//! get 404. An optional request quota answers 403 with
//! `x-ratelimit-remaining: 0` and `retry-after` once spent, as GitHub's
//! rate limit does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use serde_json::{Value, json};

use super::{MockServer, MockState, spawn};

/// The token [`serve`] and [`router`] expect.
pub const DEFAULT_TOKEN: &str = "ghp_mocktoken";

const DOCS: &str = "https://docs.github.com/rest";

/// What the server expects and how it limits.
#[derive(Debug, Clone)]
pub struct GithubMockConfig {
    /// The only accepted token.
    pub token: String,
    /// Requests allowed before answering 403 rate-limited; `None` is
    /// unlimited.
    pub quota: Option<u64>,
    /// The `retry-after` sent once the quota is spent.
    pub retry_after_secs: u64,
}

impl Default for GithubMockConfig {
    fn default() -> Self {
        GithubMockConfig {
            token: DEFAULT_TOKEN.to_owned(),
            quota: None,
            retry_after_secs: 60,
        }
    }
}

/// One issue as the mock holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockIssue {
    /// Its number within the repository.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Why it is in that state.
    pub state_reason: Option<String>,
    /// Its title.
    pub title: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// Bodies of its comments, in order.
    pub comments: Vec<String>,
}

#[derive(Debug, Default)]
struct Store {
    /// Per `owner/repo`.
    issues: HashMap<String, Vec<MockIssue>>,
    used: u64,
}

/// A handle on the issues a GitHub mock holds, for assertions.
#[derive(Debug, Clone, Default)]
pub struct GithubStore(Arc<Mutex<Store>>);

impl GithubStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The issues of `owner/repo`, in creation order.
    pub fn issues(&self, repo: &str) -> Vec<MockIssue> {
        self.lock().issues.get(repo).cloned().unwrap_or_default()
    }
}

#[derive(Debug)]
struct Ctx {
    state: Arc<MockState>,
    cfg: GithubMockConfig,
    store: GithubStore,
}

/// The API expecting [`DEFAULT_TOKEN`], unlimited.
pub fn router(state: Arc<MockState>) -> Router {
    router_with(state, GithubMockConfig::default(), GithubStore::default())
}

/// The API with explicit expectations, holding issues in `store`.
pub fn router_with(state: Arc<MockState>, cfg: GithubMockConfig, store: GithubStore) -> Router {
    let ctx = Arc::new(Ctx { state, cfg, store });
    Router::new()
        .route("/repos/{owner}/{repo}/dispatches", post(dispatch))
        .route("/repos/{owner}/{repo}/issues", post(create_issue))
        .route("/repos/{owner}/{repo}/issues/{number}", patch(update_issue))
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            post(comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            post(add_labels),
        )
        .with_state(ctx)
}

/// Serves the API expecting [`DEFAULT_TOKEN`].
pub async fn serve() -> std::io::Result<MockServer> {
    serve_with(GithubMockConfig::default(), GithubStore::default()).await
}

/// Serves the API with explicit expectations, holding issues in `store`
/// (keep a clone to inspect them).
pub async fn serve_with(cfg: GithubMockConfig, store: GithubStore) -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router_with(state.clone(), cfg, store), state).await
}

fn h<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn error(state: &MockState, ep: &'static str, status: StatusCode, message: &str) -> Response {
    state.reject(
        ep,
        status,
        message.to_owned(),
        json!({ "message": message, "documentation_url": DOCS }),
    )
}

fn invalid(
    state: &MockState,
    ep: &'static str,
    resource: &str,
    field: &str,
    code: &str,
) -> Response {
    state.reject(
        ep,
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{field}: {code}"),
        json!({
            "message": "Validation Failed",
            "errors": [{ "resource": resource, "field": field, "code": code }],
            "documentation_url": DOCS,
        }),
    )
}

/// Fault, quota, headers and JSON: everything before the endpoint's schema.
async fn preflight(
    ctx: &Ctx,
    ep: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    if let Some(r) = ctx.state.fault_response().await {
        return Err(r);
    }
    let over = {
        let mut store = ctx.store.lock();
        store.used += 1;
        ctx.cfg.quota.is_some_and(|q| store.used > q)
    };
    if over {
        ctx.state.reject(
            ep,
            StatusCode::FORBIDDEN,
            "rate limit".to_owned(),
            Value::Null,
        );
        return Err((
            StatusCode::FORBIDDEN,
            [
                ("x-ratelimit-remaining", "0".to_owned()),
                ("retry-after", ctx.cfg.retry_after_secs.to_string()),
            ],
            axum::Json(json!({ "message": "API rate limit exceeded", "documentation_url": DOCS })),
        )
            .into_response());
    }
    let auth_ok = h(headers, "authorization")
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("token "))
        })
        .is_some_and(|t| t == ctx.cfg.token);
    if !auth_ok {
        return Err(error(
            &ctx.state,
            ep,
            StatusCode::UNAUTHORIZED,
            "Bad credentials",
        ));
    }
    if h(headers, "user-agent").is_none_or(|u| u.trim().is_empty()) {
        return Err(error(
            &ctx.state,
            ep,
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        ));
    }
    if !h(headers, "accept").is_some_and(|a| a.contains("application/vnd.github+json")) {
        return Err(error(
            &ctx.state,
            ep,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported 'Accept' header",
        ));
    }
    if let Some(v) = h(headers, "x-github-api-version")
        && v != "2022-11-28"
    {
        return Err(error(
            &ctx.state,
            ep,
            StatusCode::BAD_REQUEST,
            "Unsupported API version",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        error(
            &ctx.state,
            ep,
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
        )
    })
}

fn string_array(v: Option<&Value>) -> Result<Vec<String>, ()> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Object(o) => o
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or(()),
                _ => Err(()),
            })
            .collect(),
        Some(_) => Err(()),
    }
}

async fn dispatch(
    State(ctx): State<Arc<Ctx>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "github.dispatch";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let event_type = match v.get("event_type").and_then(Value::as_str) {
        Some(e) if !e.is_empty() => e.to_owned(),
        _ => return invalid(&ctx.state, EP, "Repository", "event_type", "missing_field"),
    };
    if event_type.chars().count() > 100 {
        return invalid(&ctx.state, EP, "Repository", "event_type", "too_long");
    }
    match v.get("client_payload") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) if o.len() <= 10 => {}
        Some(Value::Object(_)) => {
            return ctx.state.reject(
                EP,
                StatusCode::UNPROCESSABLE_ENTITY,
                "client_payload has more than 10 properties".to_owned(),
                json!({
                    "message": "Invalid request.\n\nNo more than 10 properties are allowed; client_payload has too many.",
                    "documentation_url": DOCS,
                }),
            );
        }
        Some(_) => return invalid(&ctx.state, EP, "Repository", "client_payload", "invalid"),
    }
    let _ = (owner, repo);
    ctx.state.record(EP, Some(event_type), v);
    StatusCode::NO_CONTENT.into_response()
}

async fn create_issue(
    State(ctx): State<Arc<Ctx>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "github.issue.create";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let title = match v.get("title") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return invalid(&ctx.state, EP, "Issue", "title", "missing_field"),
    };
    if !matches!(
        v.get("body"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) {
        return invalid(&ctx.state, EP, "Issue", "body", "invalid");
    }
    let Ok(labels) = string_array(v.get("labels")) else {
        return invalid(&ctx.state, EP, "Issue", "labels", "invalid");
    };
    if string_array(v.get("assignees")).is_err() {
        return invalid(&ctx.state, EP, "Issue", "assignees", "invalid");
    }
    let full = format!("{owner}/{repo}");
    let number = {
        let mut store = ctx.store.lock();
        let list = store.issues.entry(full.clone()).or_default();
        let number = list.len() as u64 + 1;
        list.push(MockIssue {
            number,
            state: "open".to_owned(),
            state_reason: None,
            title: title.clone(),
            labels,
            comments: Vec::new(),
        });
        number
    };
    ctx.state.record(EP, Some(format!("{full}#{number}")), v);
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "id": 1000 + number, "number": number, "state": "open", "title": title,
            "html_url": format!("https://github.com/{full}/issues/{number}"),
        })),
    )
        .into_response()
}

/// Runs `f` on issue `number` of `owner/repo`, or answers 404.
fn with_issue<T>(
    ctx: &Ctx,
    ep: &'static str,
    full: &str,
    number: &str,
    f: impl FnOnce(&mut MockIssue) -> T,
) -> Result<T, Box<Response>> {
    let found = number.parse::<u64>().ok().and_then(|n| {
        let mut store = ctx.store.lock();
        store
            .issues
            .get_mut(full)
            .and_then(|l| l.iter_mut().find(|i| i.number == n))
            .map(f)
    });
    found.ok_or_else(|| Box::new(error(&ctx.state, ep, StatusCode::NOT_FOUND, "Not Found")))
}

async fn comment(
    State(ctx): State<Arc<Ctx>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "github.issue.comment";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let text = match v.get("body") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return invalid(&ctx.state, EP, "IssueComment", "body", "missing_field"),
    };
    let full = format!("{owner}/{repo}");
    if let Err(r) = with_issue(&ctx, EP, &full, &number, |i| i.comments.push(text.clone())) {
        return *r;
    }
    ctx.state.record(EP, Some(format!("{full}#{number}")), v);
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": 1, "body": text })),
    )
        .into_response()
}

async fn add_labels(
    State(ctx): State<Arc<Ctx>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "github.issue.labels";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let labels = match string_array(v.get("labels")) {
        Ok(l) if !l.is_empty() => l,
        _ => return invalid(&ctx.state, EP, "Label", "labels", "invalid"),
    };
    let full = format!("{owner}/{repo}");
    let all = match with_issue(&ctx, EP, &full, &number, |i| {
        for l in labels {
            if !i.labels.contains(&l) {
                i.labels.push(l);
            }
        }
        i.labels.clone()
    }) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    ctx.state.record(EP, Some(format!("{full}#{number}")), v);
    let out: Vec<Value> = all.iter().map(|l| json!({ "name": l })).collect();
    (StatusCode::OK, axum::Json(Value::Array(out))).into_response()
}

async fn update_issue(
    State(ctx): State<Arc<Ctx>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const EP: &str = "github.issue.update";
    let v = match preflight(&ctx, EP, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let state = match v.get("state") {
        None => None,
        Some(Value::String(s)) if s == "open" || s == "closed" => Some(s.clone()),
        Some(_) => return invalid(&ctx.state, EP, "Issue", "state", "invalid"),
    };
    let reason = match v.get("state_reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if ["completed", "not_planned", "reopened", "duplicate"].contains(&s.as_str()) =>
        {
            Some(s.clone())
        }
        Some(_) => return invalid(&ctx.state, EP, "Issue", "state_reason", "invalid"),
    };
    let full = format!("{owner}/{repo}");
    let issue = match with_issue(&ctx, EP, &full, &number, |i| {
        if let Some(s) = state {
            i.state = s;
            // GitHub ignores state_reason unless the state changes with it.
            i.state_reason = reason;
        }
        i.clone()
    }) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    ctx.state.record(EP, Some(format!("{full}#{number}")), v);
    (
        StatusCode::OK,
        axum::Json(json!({
            "number": issue.number, "state": issue.state, "state_reason": issue.state_reason,
            "title": issue.title,
        })),
    )
        .into_response()
}
