//! Mapping HTTP outcomes onto delivery semantics, shared by every HTTP sink.

use std::time::Duration;

use crate::delivery::DeliveryError;

/// Reads `Retry-After` in its delay-seconds form (and the HTTP-date form).
pub fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// Maps an HTTP outcome onto delivery semantics: 2xx delivered (the body is
/// returned for sinks that need it, e.g. a created ticket's number); 408, 429
/// and 5xx retryable; any other status permanent, with the response body.
pub async fn classify_response(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<String, DeliveryError> {
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            return Err(DeliveryError::Retryable {
                reason: format!("request failed: {e}"),
                retry_after: None,
            });
        }
    };
    let status = resp.status();
    let hint = retry_after(&resp);
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    let body: String = body.chars().take(500).collect();
    let reason = format!("HTTP {status}: {body}");
    if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
        Err(DeliveryError::Retryable {
            reason,
            retry_after: hint,
        })
    } else {
        Err(DeliveryError::Permanent { reason })
    }
}
