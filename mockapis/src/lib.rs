//! Local stand-ins for the services tocsin delivers to, for tests and
//! benchmarks. Each enforces its API's documented request schema (required
//! fields, enumerations, lengths, authentication header) and answers as the
//! service documents (2xx, 400 with an error body, 429 with `Retry-After`,
//! 5xx). Servers listen on 127.0.0.1 only.
//!
//! Every server shares [`MockState`]: what it accepted, what it rejected and
//! why, and an injectable [`Fault`] to take it "down" for a while.

pub mod all;
mod check;
pub mod github;
pub mod jira;
pub mod limiter;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod teams;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An injected failure mode, applied before schema checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Behave normally.
    None,
    /// Answer every request with this status (e.g. 500, 503).
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`.
    TooManyRequests {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// Never answer (the client times out).
    Hang,
}

/// One request the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// Which API endpoint (e.g. `pagerduty.enqueue`).
    pub endpoint: &'static str,
    /// The key the service deduplicates or rate-limits on (PagerDuty
    /// `dedup_key`, Opsgenie alias, ...), when it has one.
    pub key: Option<String>,
    /// The request body as JSON (or `Value::String` for non-JSON bodies).
    pub body: serde_json::Value,
    /// When it arrived.
    pub at: Instant,
}

/// One request the server refused, with the reason it gave.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Which API endpoint.
    pub endpoint: &'static str,
    /// The status answered.
    pub status: u16,
    /// Why.
    pub reason: String,
}

#[derive(Debug)]
struct Inner {
    fault: Fault,
    received: Vec<Received>,
    rejected: Vec<Rejected>,
}

/// State shared by a mock server's handlers.
#[derive(Debug)]
pub struct MockState {
    inner: Mutex<Inner>,
}

impl Default for MockState {
    fn default() -> Self {
        MockState {
            inner: Mutex::new(Inner {
                fault: Fault::None,
                received: Vec::new(),
                rejected: Vec::new(),
            }),
        }
    }
}

impl MockState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A handler that panicked mid-update leaves plain data behind; keep
        // serving rather than poisoning every later test assertion.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the failure mode for subsequent requests.
    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = fault;
    }

    /// Everything accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Everything refused so far.
    pub fn rejected(&self) -> Vec<Rejected> {
        self.lock().rejected.clone()
    }

    /// Records an accepted request.
    pub fn record(&self, endpoint: &'static str, key: Option<String>, body: serde_json::Value) {
        self.lock().received.push(Received {
            endpoint,
            key,
            body,
            at: Instant::now(),
        });
    }

    /// Records a refusal and builds the response for it.
    pub fn reject(
        &self,
        endpoint: &'static str,
        status: StatusCode,
        reason: String,
        body: serde_json::Value,
    ) -> Response {
        self.lock().rejected.push(Rejected {
            endpoint,
            status: status.as_u16(),
            reason,
        });
        (status, axum::Json(body)).into_response()
    }

    /// The response the injected fault dictates, if any. Handlers call this
    /// first; `Hang` sleeps far longer than any client timeout.
    pub async fn fault_response(&self) -> Option<Response> {
        let fault = self.lock().fault;
        match fault {
            Fault::None => None,
            Fault::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Some((status, "injected failure").into_response())
            }
            Fault::TooManyRequests { retry_after_secs } => Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", retry_after_secs.to_string())],
                    "rate limited (injected)",
                )
                    .into_response(),
            ),
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Some(StatusCode::GATEWAY_TIMEOUT.into_response())
            }
        }
    }
}

/// A running mock server.
#[derive(Debug)]
pub struct MockServer {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    /// Its state, for fault injection and assertions.
    pub state: Arc<MockState>,
}

impl MockServer {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves `router` (built over `state`) on 127.0.0.1 at an ephemeral port.
pub async fn spawn(router: Router, state: Arc<MockState>) -> std::io::Result<MockServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(MockServer { addr, state })
}
