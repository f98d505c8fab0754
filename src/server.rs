//! The HTTP server: ingest receivers, SQL, metrics and health.
//!
//! - `POST /v1/ingest/{logs,metrics,alerts}`: JSON lines; answered once every
//!   line is durable (in the table, or in `deadletter` with its reason);
//! - `POST /api/v1/write` (Prometheus remote_write), `POST /v1/logs` and
//!   `POST /v1/metrics` (OTLP/HTTP): see [`crate::receivers`];
//! - `POST /v1/sql`: `{"sql": "..."}` (or the SQL as the body); JSON rows, or
//!   an Arrow IPC stream with `Accept: application/vnd.apache.arrow.stream`
//!   or `?format=arrow`;
//! - `GET /metrics`, `GET /healthz`, `GET /readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tocsin_ingest::Table;
use tocsin_ingest::gateway::{GatewayError, KafkaGateway};
use tocsin_ingest::kafka::KafkaHealth;
use tocsin_queries::{QueryEngine, QueryError, output};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::silences::{self, SilenceStore};

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// One line's failure in an ingest request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LineError {
    /// 1-based line number in the request body.
    pub line: usize,
    /// Why it was rejected (it is kept in the `deadletter` table).
    pub error: String,
}

/// The answer to an ingest request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IngestReport {
    /// Lines decoded into rows; for document formats (webhooks, scanner
    /// reports), the records the document held.
    pub accepted: usize,
    /// Lines (or documents) dead-lettered.
    pub rejected: usize,
    /// Why each rejected line was rejected (the first 100).
    pub errors: Vec<LineError>,
    /// In Kafka mode, where the body was published. The consumers decode
    /// it later (dead-lettering what is malformed), so `accepted` and
    /// `rejected` stay 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedTo>,
}

/// The Kafka message a receiver's body became.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedTo {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// An ingest request handed to the pipeline loop.
pub struct IngestRequest {
    /// The embedded source (`http.logs`, ...).
    pub source: String,
    /// The request body.
    pub body: Bytes,
    /// Receives the report and a receiver that fires once the rows are durable.
    pub reply: oneshot::Sender<(IngestReport, oneshot::Receiver<Result<(), String>>)>,
}

/// The embedded source an ingest endpoint feeds: `http.<table>` for JSON,
/// `http.<table>.<format>` for the other formats the table is decoded from
/// (one source per format, so each keeps its own offsets and decoder).
pub fn ingest_source(table: Table, format: &str) -> Option<String> {
    if !tocsin_ingest::decode::formats_for(table).contains(&format) {
        return None;
    }
    Some(if format == "json" {
        format!("http.{table}")
    } else {
        format!("http.{table}.{format}")
    })
}

/// Query parameters of `POST /v1/ingest/{table}`.
#[derive(Deserialize)]
struct IngestParams {
    /// Wire format of the body (default `json`).
    format: Option<String>,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The SQL engine.
    pub engine: Arc<QueryEngine>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Ingest requests to the pipeline loop.
    pub ingest: mpsc::Sender<IngestRequest>,
    /// Set once recovery finished and the loop runs.
    pub ready: Arc<AtomicBool>,
    /// The Kafka client's health, in distributed mode.
    pub kafka: Option<Arc<KafkaHealth>>,
    /// Bearer token required on `/v1/*`.
    pub token: Option<Arc<str>>,
    /// How long an ingest request waits for durability.
    pub ingest_timeout: Duration,
    /// The silences file behind `/api/v2/silences`.
    pub silences: SilenceStore,
    /// In Kafka mode, publishes receiver bodies to the ingest topics.
    pub gateway: Option<Arc<KafkaGateway>>,
}

impl axum::extract::FromRef<AppState> for SilenceStore {
    fn from_ref(s: &AppState) -> SilenceStore {
        s.silences.clone()
    }
}

/// The router.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/ingest/{table}", post(ingest))
        .route("/v1/sql", post(sql))
        .route("/api/v1/write", post(crate::receivers::remote_write))
        .route("/v1/logs", post(crate::receivers::otlp_logs))
        .route("/v1/metrics", post(crate::receivers::otlp_metrics))
        .route("/_bulk", post(es_bulk))
        .route("/{index}/_bulk", post(es_bulk))
        .route(
            "/api/v2/silences",
            post(silences::create).get(silences::list),
        )
        .route(
            "/api/v2/silence/{id}",
            get(silences::get).delete(silences::expire),
        )
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(v1)
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// A JSON error body `{"error": ...}` with `status`.
pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": msg.into() });
    (status, axum::Json(body)).into_response()
}

async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_ref()) {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    next.run(req).await
}

async fn ingest(
    State(s): State<AppState>,
    Path(table): Path<String>,
    Query(params): Query<IngestParams>,
    body: Bytes,
) -> Response {
    let Some(t) = table
        .parse::<Table>()
        .ok()
        .filter(|t| !tocsin_ingest::decode::formats_for(*t).is_empty())
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no ingest endpoint for `{table}`; use logs, metrics, alerts, changes or vulnerabilities"
            ),
        );
    };
    let format = params.format.as_deref().unwrap_or("json");
    if ingest_source(t, format).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown format `{format}` for `{table}` (expected one of: {})",
                tocsin_ingest::decode::formats_for(t).join(", ")
            ),
        );
    }
    let report = match submit(&s, t, format, body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let status = if report.accepted == 0 && report.rejected > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, axum::Json(report)).into_response()
}

/// Hands a body to the pipeline and waits until its rows are durable; in
/// Kafka mode, publishes it to the ingest topic of (`table`, `format`)
/// when one is configured and waits for the broker's acknowledgement.
pub(crate) async fn submit(
    s: &AppState,
    table: Table,
    format: &str,
    body: Bytes,
) -> Result<IngestReport, Response> {
    if let Some(gateway) = &s.gateway
        && let Some(topic) = gateway.topic_for(table, format)
    {
        return match gateway.publish(topic, &body).await {
            Ok(p) => Ok(IngestReport {
                published: Some(PublishedTo {
                    topic: p.topic,
                    partition: p.partition,
                    offset: p.offset,
                }),
                ..IngestReport::default()
            }),
            Err(e @ GatewayError::TooLarge(_)) => {
                Err(error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
            }
            Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        };
    }
    let Some(source) = ingest_source(table, format) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no `{format}` receiver for `{table}`"),
        ));
    };
    let (tx, rx) = oneshot::channel();
    let req = IngestRequest {
        source,
        body,
        reply: tx,
    };
    if s.ingest.send(req).await.is_err() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline is shutting down",
        ));
    }
    let Ok((report, durable)) = rx.await else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline is shutting down",
        ));
    };
    match tokio::time::timeout(s.ingest_timeout, durable).await {
        Ok(Ok(Ok(()))) => Ok(report),
        Ok(Ok(Err(e))) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not durable: {e}"),
        )),
        Ok(Err(_)) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline stopped before the rows were durable",
        )),
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timed out waiting for the rows to be durable; retry",
        )),
    }
}

/// `POST /_bulk` and `POST /{index}/_bulk`: Elasticsearch's bulk API for
/// Filebeat's and Fluent Bit's `es` outputs. Answered once durable, in
/// Elasticsearch's shape (`errors` and one item per stored document) so
/// the shippers know what to retry.
async fn es_bulk(State(s): State<AppState>, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let report = match submit(&s, Table::Logs, "es_bulk", body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut items: Vec<serde_json::Value> = (0..report.accepted)
        .map(|_| serde_json::json!({"create": {"status": 201, "result": "created"}}))
        .collect();
    items.extend(report.errors.iter().map(|e| {
        serde_json::json!({"create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": e.error}}})
    }));
    let body = serde_json::json!({
        "took": started.elapsed().as_millis() as u64,
        "errors": report.rejected > 0,
        "items": items,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[derive(Deserialize)]
struct SqlBody {
    sql: String,
}

#[derive(Deserialize)]
struct SqlParams {
    format: Option<String>,
}

async fn sql(
    State(s): State<AppState>,
    Query(params): Query<SqlParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let query = if is_json {
        match serde_json::from_slice::<SqlBody>(&body) {
            Ok(b) => b.sql,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("expected {{\"sql\": \"...\"}}: {e}"),
                );
            }
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => s,
            Err(_) => return error(StatusCode::BAD_REQUEST, "the SQL is not UTF-8"),
        }
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants_arrow = params.format.as_deref() == Some("arrow") || accept.contains(ARROW_STREAM);
    let wants_csv = params.format.as_deref() == Some("csv") || accept.contains("text/csv");
    // Counts the query while its future lives: when the client goes away,
    // the server drops this handler's future, which drops (and so cancels)
    // the DataFusion stream under it and this guard with it.
    let _running = RunningQuery::start(&s.metrics.sql_running);
    let out = match s.engine.query(&query).await {
        Ok(o) => o,
        Err(e @ (QueryError::ReadOnly(_) | QueryError::Plan(_))) => {
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(e @ QueryError::Timeout(_)) => {
            return error(StatusCode::GATEWAY_TIMEOUT, e.to_string());
        }
        Err(e @ QueryError::Execution(_)) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
    };
    let encoded = if wants_arrow {
        output::to_arrow_ipc(&out).map(|b| (ARROW_STREAM, b))
    } else if wants_csv {
        match output::to_csv(&out) {
            Ok(b) => Ok(("text/csv; charset=utf-8", b)),
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        }
    } else {
        output::to_json_rows(&out).map(|b| ("application/json", b))
    };
    match encoded {
        Ok((ct, bytes)) => ([(header::CONTENT_TYPE, ct)], bytes).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the result: {e}"),
        ),
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if !s.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    if s.kafka.as_ref().is_some_and(|k| k.brokers_down()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "kafka brokers unreachable\n",
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

/// Holds `sql_running` up while a query runs.
struct RunningQuery(prometheus_client::metrics::gauge::Gauge);

impl RunningQuery {
    fn start(g: &prometheus_client::metrics::gauge::Gauge) -> Self {
        g.inc();
        RunningQuery(g.clone())
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.0.dec();
    }
}
