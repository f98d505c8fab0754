//! Receivers that speak a shipper's own protocol, so that Prometheus and
//! OpenTelemetry SDKs or Collectors point at tocsin with no adapter:
//!
//! - `POST /api/v1/write`: Prometheus remote_write 1.0 (snappy protobuf);
//! - `POST /v1/logs`, `POST /v1/metrics`: OTLP/HTTP, protobuf or JSON,
//!   optionally gzip-compressed.
//!
//! Like every ingest endpoint they answer once the rows are durable (or
//! dead-lettered), and in the status codes each protocol's clients act on:
//! 2xx done, 400 malformed and not to be retried (it is in `deadletter`),
//! 503 retry later.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use tocsin_ingest::Table;

use crate::server::{AppState, IngestReport, error, submit};

/// Largest body a gzip-compressed OTLP request may expand to.
const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's `INVALID_ARGUMENT`, which OTLP/HTTP uses for malformed data.
const INVALID_ARGUMENT: i32 = 3;

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first rejection of a report, for an error body.
fn first_error(report: &IngestReport) -> String {
    report
        .errors
        .first()
        .map_or_else(|| "rejected".to_owned(), |e| e.error.clone())
}

/// `POST /api/v1/write`.
pub(crate) async fn remote_write(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(enc) = header_str(&headers, header::CONTENT_ENCODING)
        && !enc.eq_ignore_ascii_case("snappy")
    {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("remote_write bodies are snappy-compressed; got Content-Encoding `{enc}`"),
        );
    }
    match submit(&s, Table::Metrics, "remote_write", body).await {
        // Prometheus drops a batch on 4xx and retries on 5xx: a malformed
        // body is already kept in `deadletter`, so it must not come back.
        Ok(report) if report.rejected > 0 => {
            (StatusCode::BAD_REQUEST, first_error(&report)).into_response()
        }
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(resp) => resp,
    }
}

/// `POST /v1/logs`.
pub(crate) async fn otlp_logs(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    otlp(&s, Table::Logs, &headers, body).await
}

/// `POST /v1/metrics`.
pub(crate) async fn otlp_metrics(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    otlp(&s, Table::Metrics, &headers, body).await
}

async fn otlp(s: &AppState, table: Table, headers: &HeaderMap, body: Bytes) -> Response {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
    let json = content_type.starts_with("application/json");
    if !json && !content_type.starts_with("application/x-protobuf") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "OTLP/HTTP takes application/x-protobuf or application/json, not `{content_type}`"
            ),
        );
    }
    let body = match header_str(headers, header::CONTENT_ENCODING) {
        None | Some("identity") => body,
        Some("gzip") => match gunzip(&body) {
            Ok(b) => Bytes::from(b),
            Err(e) => return otlp_error(json, StatusCode::BAD_REQUEST, e),
        },
        Some(other) => {
            return otlp_error(
                json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding `{other}` is not supported (use gzip or none)"),
            );
        }
    };
    let format = if json { "otlp_json" } else { "otlp_proto" };
    match submit(s, table, format, body).await {
        Ok(report) if report.rejected > 0 => {
            otlp_error(json, StatusCode::BAD_REQUEST, first_error(&report))
        }
        // An empty Export*ServiceResponse: full success.
        Ok(_) if json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Ok(_) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::new(),
        )
            .into_response(),
        Err(resp) => resp,
    }
}

/// Inflates a gzip body, refusing one that expands past the limit.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzip body does not inflate: {e}"))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(format!(
            "the gzip body inflates past {MAX_INFLATED_BYTES} bytes"
        ));
    }
    Ok(out)
}

/// An OTLP/HTTP error: a `google.rpc.Status` in the request's encoding.
fn otlp_error(json: bool, status: StatusCode, message: impl Into<String>) -> Response {
    let rpc = RpcStatus {
        code: INVALID_ARGUMENT,
        message: message.into(),
    };
    if json {
        let body = serde_json::json!({"code": rpc.code, "message": rpc.message});
        (status, axum::Json(body)).into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            rpc.encode_to_vec(),
        )
            .into_response()
    }
}
