//! Silences over HTTP, compatible with Alertmanager's API v2 so `amtool`
//! and Grafana's Alertmanager data source can manage them:
//! `POST /api/v2/silences`, `GET /api/v2/silences`,
//! `GET|DELETE /api/v2/silence/{id}`.
//!
//! Silences live in one JSON file under the data directory, replaced
//! atomically on every change; the incidents processor re-reads it when it
//! changes, and a restart finds it where it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tocsin_alerting::{MatchOp, Matcher, Silence, SilenceState, Silences};
use tokio::sync::Mutex;

/// The silences file and the lock that serialises its writers.
#[derive(Debug, Clone)]
pub struct SilenceStore {
    path: PathBuf,
    lock: Arc<Mutex<()>>,
}

/// An Alertmanager API v2 matcher.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    name: String,
    value: String,
    #[serde(default)]
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence as Alertmanager's API v2 posts it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(field: &str, s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
        .ok_or_else(|| format!("`{field}` is not an RFC 3339 time: {s}"))
}

fn bad_request(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": msg.into()})),
    )
        .into_response()
}

fn server_error(msg: impl std::fmt::Display) -> Response {
    tracing::error!(error = %msg, "silences");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": msg.to_string()})),
    )
        .into_response()
}

fn gettable(s: &Silence, now: i64) -> serde_json::Value {
    let state = match s.state(now) {
        SilenceState::Pending => "pending",
        SilenceState::Active => "active",
        SilenceState::Expired => "expired",
    };
    let matchers: Vec<ApiMatcher> = s
        .matchers
        .iter()
        .map(|m| ApiMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: matches!(m.op, MatchOp::Regex | MatchOp::NotRegex),
            is_equal: matches!(m.op, MatchOp::Equal | MatchOp::Regex),
        })
        .collect();
    serde_json::json!({
        "id": s.id,
        "status": {"state": state},
        "matchers": matchers,
        "startsAt": rfc3339(s.starts_at_ns),
        "endsAt": rfc3339(s.ends_at_ns),
        "updatedAt": rfc3339(s.starts_at_ns),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

impl SilenceStore {
    /// A store backed by `path` (created on the first silence).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SilenceStore {
            path: path.into(),
            lock: Arc::new(Mutex::new(())),
        }
    }

    fn load(path: &Path) -> Result<Silences, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Silences::from_json(&text)
                .map_err(|e| format!("{} is not a silences file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Silences::new()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// Writes to a temporary file, syncs it and renames it over the old
    /// one, so a crash leaves either the old or the new silences.
    fn save(path: &Path, silences: &Silences) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(silences.to_json().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn to_matcher(m: &ApiMatcher) -> Result<Matcher, String> {
    let op = match (m.is_regex, m.is_equal) {
        (false, true) => MatchOp::Equal,
        (false, false) => MatchOp::NotEqual,
        (true, true) => MatchOp::Regex,
        (true, false) => MatchOp::NotRegex,
    };
    Matcher::new(&m.name, op, &m.value).map_err(|e| format!("matcher `{}`: {e}", m.name))
}

/// `POST /api/v2/silences`: creates a silence (or replaces the one named
/// by `id`, as Alertmanager does) and answers `{"silenceID": …}`.
pub async fn create(
    State(store): State<SilenceStore>,
    Json(body): Json<PostableSilence>,
) -> Response {
    let matchers: Result<Vec<Matcher>, String> = body.matchers.iter().map(to_matcher).collect();
    let matchers = match matchers {
        Ok(m) => m,
        Err(e) => return bad_request(e),
    };
    let (starts, ends) = match (
        parse_time("startsAt", &body.starts_at),
        parse_time("endsAt", &body.ends_at),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let _guard = store.lock.lock().await;
    let mut silences = match SilenceStore::load(&store.path) {
        Ok(s) => s,
        Err(e) => return server_error(e),
    };
    let now = now_ns();
    if let Some(id) = body.id.as_deref().filter(|i| !i.is_empty()) {
        // Updating expires the old silence and stores the new one under a
        // new id, as Alertmanager does.
        if let Err(e) = silences.expire(id, now) {
            return (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": e.to_string()})),
            )
                .into_response();
        }
    }
    let silence = Silence {
        id: String::new(),
        matchers,
        starts_at_ns: starts,
        ends_at_ns: ends,
        created_by: body.created_by,
        comment: body.comment,
    };
    let id = match silences.create(silence) {
        Ok(id) => id,
        Err(e) => return bad_request(e.to_string()),
    };
    if let Err(e) = SilenceStore::save(&store.path, &silences) {
        return server_error(e);
    }
    tracing::info!(silence = %id, "silence created");
    (StatusCode::OK, Json(serde_json::json!({"silenceID": id}))).into_response()
}

/// `GET /api/v2/silences`
pub async fn list(State(store): State<SilenceStore>) -> Response {
    match SilenceStore::load(&store.path) {
        Ok(s) => {
            let now = now_ns();
            Json(
                s.list()
                    .into_iter()
                    .map(|x| gettable(x, now))
                    .collect::<Vec<_>>(),
            )
            .into_response()
        }
        Err(e) => server_error(e),
    }
}

/// `GET /api/v2/silence/{id}`
pub async fn get(State(store): State<SilenceStore>, UrlPath(id): UrlPath<String>) -> Response {
    match SilenceStore::load(&store.path) {
        Ok(s) => match s.get(&id) {
            Some(x) => Json(gettable(x, now_ns())).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": "no such silence"})),
            )
                .into_response(),
        },
        Err(e) => server_error(e),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires the silence now.
pub async fn expire(State(store): State<SilenceStore>, UrlPath(id): UrlPath<String>) -> Response {
    let _guard = store.lock.lock().await;
    let mut silences = match SilenceStore::load(&store.path) {
        Ok(s) => s,
        Err(e) => return server_error(e),
    };
    if let Err(e) = silences.expire(&id, now_ns()) {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": e.to_string()})),
        )
            .into_response();
    }
    if let Err(e) = SilenceStore::save(&store.path, &silences) {
        return server_error(e);
    }
    tracing::info!(silence = %id, "silence expired");
    StatusCode::OK.into_response()
}
