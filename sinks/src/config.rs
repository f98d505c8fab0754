//! What the webhook, action and ticket sinks' configurations share: secret
//! loading (inline or from a file), header validation and the HTTP client.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use crate::config_error::ConfigError;

/// Default request timeout of every HTTP sink.
pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Resolves a secret given inline or as a file (one of them, or neither).
///
/// A file's trailing newline is dropped because editors and `echo` add one
/// that is never part of the secret.
pub fn load_secret(
    sink: &str,
    what: &str,
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::setting(
            sink,
            format!("set either `{what}` or `{what}_file`, not both"),
        )),
        (Some(s), None) => Ok(Some(s.to_owned())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
                sink: sink.to_owned(),
                field: "secret",
                path: path.to_owned(),
                source,
            })?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// Like [`load_secret`] but the secret is mandatory.
pub fn require_secret(
    sink: &str,
    what: &str,
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<String, ConfigError> {
    load_secret(sink, what, inline, file)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConfigError::setting(sink, format!("`{what}` or `{what}_file` is required")))
}

/// Validates configured extra headers once, at start-up.
pub fn header_map(
    sink: &str,
    headers: &BTreeMap<String, String>,
) -> Result<HeaderMap, ConfigError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| ConfigError::setting(sink, format!("header name `{k}`: {e}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|e| ConfigError::setting(sink, format!("header `{k}` value: {e}")))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// An HTTP client with the sink's timeout.
pub fn http_client(sink: &str, timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ConfigError::setting(sink, format!("http client: {e}")))
}

/// Checks that a URL parses and is http(s).
pub fn check_url(sink: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ConfigError::setting(sink, format!("url `{url}`: {e}")))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(ConfigError::setting(
            sink,
            format!("url `{url}`: unsupported scheme {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_inline_file_both_neither() {
        assert_eq!(
            load_secret("s", "secret", Some("x"), None)
                .unwrap()
                .as_deref(),
            Some("x")
        );
        assert_eq!(load_secret("s", "secret", None, None).unwrap(), None);
        let p = std::env::temp_dir().join(format!("tocsin-secret-{}", std::process::id()));
        std::fs::write(&p, "abc\n").unwrap();
        assert_eq!(
            load_secret("s", "secret", None, Some(&p))
                .unwrap()
                .as_deref(),
            Some("abc")
        );
        assert!(load_secret("s", "secret", Some("x"), Some(&p)).is_err());
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(
            load_secret("s", "secret", None, Some(&p)),
            Err(ConfigError::SecretFile { .. })
        ));
        assert!(require_secret("s", "token", None, None).is_err());
    }

    #[test]
    fn headers_and_urls_are_validated() {
        let mut h = BTreeMap::new();
        h.insert("X-Team".to_owned(), "sre".to_owned());
        assert_eq!(header_map("s", &h).unwrap().len(), 1);
        h.insert("bad header".to_owned(), "v".to_owned());
        assert!(header_map("s", &h).is_err());
        assert!(check_url("s", "https://example.test/x").is_ok());
        assert!(check_url("s", "ftp://example.test/x").is_err());
        assert!(check_url("s", "not a url").is_err());
    }
}
