//! A webhook receiver that checks tocsin's signing scheme with its own code:
//! `X-Tocsin-Signature: v1=<hex hmac_sha256(secret, "<ts>.<body>")>` over
//! the raw body and `X-Tocsin-Timestamp` within a tolerance of its clock.
//! Unsigned, tampered, stale or future requests get 401. Accepted requests
//! are recorded under `webhook` with the `Idempotency-Key` as key.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{MockServer, MockState, spawn};

/// What the receiver expects.
#[derive(Debug, Clone)]
pub struct WebhookMockConfig {
    /// The shared secret; `None` accepts unsigned requests.
    pub secret: Option<Vec<u8>>,
    /// Allowed clock difference in either direction.
    pub tolerance: Duration,
}

impl Default for WebhookMockConfig {
    fn default() -> Self {
        WebhookMockConfig {
            secret: None,
            tolerance: Duration::from_secs(300),
        }
    }
}

#[derive(Debug)]
struct Ctx {
    state: Arc<MockState>,
    cfg: WebhookMockConfig,
}

/// A receiver that accepts unsigned requests at any path (`POST /` and
/// `POST /{*path}`).
pub fn router(state: Arc<MockState>) -> Router {
    router_with(state, WebhookMockConfig::default())
}

/// A receiver with the given expectations.
pub fn router_with(state: Arc<MockState>, cfg: WebhookMockConfig) -> Router {
    let ctx = Arc::new(Ctx { state, cfg });
    Router::new()
        .route("/", post(receive))
        .route("/{*path}", post(receive))
        .with_state(ctx)
}

/// Serves an unsigned-accepting receiver.
pub async fn serve() -> std::io::Result<MockServer> {
    serve_config(WebhookMockConfig::default()).await
}

/// Serves a receiver requiring signatures made with `secret`.
pub async fn serve_with(secret: &[u8]) -> std::io::Result<MockServer> {
    serve_config(WebhookMockConfig {
        secret: Some(secret.to_vec()),
        ..WebhookMockConfig::default()
    })
    .await
}

/// Serves a receiver with explicit expectations.
pub async fn serve_config(cfg: WebhookMockConfig) -> std::io::Result<MockServer> {
    let state = Arc::new(MockState::default());
    spawn(router_with(state.clone(), cfg), state).await
}

const EP: &str = "webhook";

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn deny(state: &MockState, why: &str) -> Response {
    state.reject(
        EP,
        StatusCode::UNAUTHORIZED,
        why.to_owned(),
        serde_json::json!({ "error": why }),
    )
}

async fn receive(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = ctx.state.fault_response().await {
        return r;
    }
    if let Some(secret) = &ctx.cfg.secret
        && let Err(why) = check_signature(secret, ctx.cfg.tolerance, &headers, &body)
    {
        return deny(&ctx.state, why);
    }
    let json =
        if header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")) {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => v,
                Err(e) => {
                    return ctx.state.reject(
                        EP,
                        StatusCode::BAD_REQUEST,
                        format!("invalid JSON: {e}"),
                        serde_json::json!({ "error": "invalid JSON" }),
                    );
                }
            }
        } else {
            serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
        };
    let key = header(&headers, "idempotency-key").map(str::to_owned);
    ctx.state.record(EP, key, json);
    StatusCode::OK.into_response()
}

fn check_signature(
    secret: &[u8],
    tolerance: Duration,
    h: &HeaderMap,
    body: &[u8],
) -> Result<(), &'static str> {
    let ts = header(h, "x-tocsin-timestamp").ok_or("missing X-Tocsin-Timestamp")?;
    let sig = header(h, "x-tocsin-signature").ok_or("missing X-Tocsin-Signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| "bad timestamp")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "clock before 1970")?
        .as_secs() as i64;
    if now.saturating_sub(ts_num).unsigned_abs() > tolerance.as_secs() {
        return Err("timestamp outside tolerance");
    }
    let mut ok = false;
    for candidate in sig.split(',') {
        let Some(hex_tag) = candidate.trim().strip_prefix("v1=") else {
            continue;
        };
        let Ok(tag) = hex::decode(hex_tag) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return Err("bad key");
        };
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        ok |= mac.verify_slice(&tag).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err("signature mismatch")
    }
}
