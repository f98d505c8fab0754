//! What the GitHub sinks share: the documented request headers and GitHub's
//! rate-limit answers (403 or 429 with `retry-after` or
//! `x-ratelimit-remaining: 0`), which are retryable although a plain 403 is
//! not.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};

use crate::config::{self, ConfigError};
use crate::delivery::DeliveryError;
use crate::http::{classify_response, retry_after};

/// The public API; override for GitHub Enterprise Server or tests.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

pub(crate) fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

/// An authenticated GitHub REST client for one sink.
#[derive(Debug)]
pub(crate) struct GithubApi {
    base: String,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl GithubApi {
    pub(crate) fn new(
        sink: &str,
        api_url: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        config::check_url(sink, api_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static("tocsin"));
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ConfigError::setting(sink, "token contains characters not allowed in a header")
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        Ok(GithubApi {
            base: api_url.trim_end_matches('/').to_owned(),
            headers,
            client: config::http_client(sink, timeout)?,
        })
    }

    /// `{api_url}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `body` with `method` to `path`; returns the response body on 2xx.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<String, DeliveryError> {
        let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError::Permanent {
            reason: format!("serialise request: {e}"),
        })?;
        let result = self
            .client
            .request(method, self.url(path))
            .headers(self.headers.clone())
            .body(bytes)
            .send()
            .await;
        classify_github(result).await
    }
}

/// [`classify_response`], except that GitHub's rate-limit 403s are
/// retryable with their hint (`retry-after`, else `x-ratelimit-reset`).
pub(crate) async fn classify_github(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<String, DeliveryError> {
    if let Ok(resp) = &result
        && resp.status() == reqwest::StatusCode::FORBIDDEN
    {
        let headers = resp.headers();
        let exhausted = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        let hint = retry_after(resp).or_else(|| reset_hint(headers));
        if exhausted || headers.contains_key(reqwest::header::RETRY_AFTER) {
            return Err(DeliveryError::Retryable {
                reason: "HTTP 403: GitHub rate limit".to_owned(),
                retry_after: hint,
            });
        }
    }
    classify_response(result).await
}

fn reset_hint(headers: &HeaderMap) -> Option<Duration> {
    let reset: i64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let wait = reset - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}
