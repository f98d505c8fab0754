//! Plumbing shared by the HTTP sinks: secrets, URL checks, template
//! compilation, truncation to documented limits, stable long-key hashing,
//! and one JSON `POST`.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::config_error::ConfigError;
use crate::delivery::DeliveryError;
use crate::http::classify_response;
use crate::template::Template;
use tocsin_processors::{Decision, DecisionAction};

/// A secret (key, webhook URL) that `Debug` output must not show.
#[derive(Clone)]
pub(crate) struct Redacted<T>(pub(crate) T);

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Per-request timeout when the config gives none.
pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Default headline of chat messages (Slack header, Teams title).
pub(crate) fn default_headline() -> String {
    "{{ severity|upper }} {{ kind }} on {{ target }}".into()
}

/// Default body text of chat messages.
pub(crate) fn default_reason_text() -> String {
    "{{ reason }}".into()
}

/// Default label of the link to tocsin in chat messages.
pub(crate) fn default_link_text() -> String {
    "Open in tocsin".into()
}

/// `true`, for serde defaults.
pub(crate) fn yes() -> bool {
    true
}

/// Every lifecycle step; the default of chat sinks' `notify_on`.
pub(crate) fn all_actions() -> Vec<DecisionAction> {
    vec![
        DecisionAction::Open,
        DecisionAction::Update,
        DecisionAction::Resolve,
    ]
}

/// Reads a secret given inline or in a file (content trimmed, so a trailing
/// newline from `echo` does not end up in a header); exactly one of the two.
pub(crate) fn load_secret(
    sink: &str,
    field: &'static str,
    file_field: &'static str,
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<String, ConfigError> {
    let value = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                sink,
                field,
                format!("set either `{field}` or `{file_field}`, not both"),
            ));
        }
        (Some(v), None) => v.trim().to_owned(),
        (None, Some(p)) => std::fs::read_to_string(p)
            .map_err(|source| ConfigError::SecretFile {
                sink: sink.to_owned(),
                field: file_field,
                path: p.to_path_buf(),
                source,
            })?
            .trim()
            .to_owned(),
        (None, None) => {
            return Err(ConfigError::invalid(
                sink,
                field,
                format!("`{field}` or `{file_field}` is required"),
            ));
        }
    };
    if value.is_empty() {
        return Err(ConfigError::invalid(sink, field, "is empty"));
    }
    Ok(value)
}

/// Parses an http(s) URL. The URL itself is not echoed in errors: webhook
/// URLs (Slack, Teams) are secrets.
pub(crate) fn http_url(
    sink: &str,
    field: &'static str,
    url: &str,
) -> Result<reqwest::Url, ConfigError> {
    let u = reqwest::Url::parse(url.trim())
        .map_err(|e| ConfigError::invalid(sink, field, format!("not a valid URL ({e})")))?;
    match u.scheme() {
        "http" | "https" if u.host_str().is_some() => Ok(u),
        "http" | "https" => Err(ConfigError::invalid(sink, field, "URL has no host")),
        s => Err(ConfigError::invalid(
            sink,
            field,
            format!("URL scheme `{s}` is not http or https"),
        )),
    }
}

/// Compiles a template, naming the sink and field on failure.
pub(crate) fn template(
    sink: &str,
    field: &'static str,
    src: &str,
) -> Result<Template, ConfigError> {
    Template::new(src).map_err(|source| ConfigError::Template {
        sink: sink.to_owned(),
        field,
        source,
    })
}

/// Compiles an optional template.
pub(crate) fn opt_template(
    sink: &str,
    field: &'static str,
    src: Option<&str>,
) -> Result<Option<Template>, ConfigError> {
    src.map(|s| template(sink, field, s)).transpose()
}

/// A client with the sink's timeout.
pub(crate) fn client(sink: &str, timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    if timeout.is_zero() {
        return Err(ConfigError::invalid(
            sink,
            "timeout",
            "must be greater than zero",
        ));
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|source| ConfigError::Client {
            sink: sink.to_owned(),
            source,
        })
}

/// Cuts `s` to at most `max_chars` characters, marking a cut with `…` (which
/// counts towards the limit) so a reader sees the text was shortened.
pub(crate) fn truncate_chars(s: &str, max_chars: usize) -> String {
    if max_chars == 0 {
        return String::new();
    }
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some(_) => {
            let mut out: String = s.chars().take(max_chars - 1).collect();
            out.push('…');
            out
        }
    }
}

/// The longest prefix of `s` of at most `max_bytes` bytes ending on a char
/// boundary.
pub(crate) fn prefix_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `key` if it has at most `max_chars` characters, else the lowercase hex
/// SHA-256 of it: deterministic, so every lifecycle step of one decision
/// maps to the same remote key.
pub(crate) fn bounded_key(key: &str, max_chars: usize) -> String {
    if key.chars().count() <= max_chars {
        key.to_owned()
    } else {
        hex::encode(Sha256::digest(key.as_bytes()))
    }
}

/// Renders a template and trims surrounding whitespace (templates written
/// as TOML multi-line strings carry newlines).
pub(crate) fn render(t: &Template, d: &Decision) -> Result<String, DeliveryError> {
    Ok(t.render(d)?.trim().to_owned())
}

/// `CamelCase` of a `snake_case` name (`flag_disable` -> `FlagDisable`).
pub(crate) fn camel_case(s: &str) -> String {
    s.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// Posts `body` as JSON and classifies the outcome.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: reqwest::Url,
    mut headers: HeaderMap,
    body: &serde_json::Value,
) -> Result<String, DeliveryError> {
    let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError::Permanent {
        reason: format!("serialising payload: {e}"),
    })?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    classify_response(client.post(url).headers(headers).body(bytes).send().await).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_marks_the_cut_and_respects_the_limit() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("ééééé", 4).chars().count(), 4);
        assert_eq!(prefix_bytes("éa", 1), "");
        assert_eq!(prefix_bytes("aé", 2), "a");
    }

    #[test]
    fn long_keys_hash_stably() {
        let long = "k".repeat(300);
        assert_eq!(bounded_key("short", 255), "short");
        let h = bounded_key(&long, 255);
        assert_eq!(h.len(), 64);
        assert_eq!(h, bounded_key(&long, 255));
        assert_ne!(h, bounded_key(&"k".repeat(301), 255));
    }

    #[test]
    fn camel_cases_kinds() {
        assert_eq!(camel_case("flag_disable"), "FlagDisable");
        assert_eq!(camel_case("incident"), "Incident");
    }

    #[test]
    fn urls_must_be_http() {
        assert!(http_url("s", "url", "https://x.example/a").is_ok());
        let e = http_url("s", "url", "ftp://x.example/")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sink `s`") && e.contains("ftp"), "{e}");
        assert!(http_url("s", "url", "not a url").is_err());
    }

    #[test]
    fn secrets_inline_or_file_not_both() {
        let dir = std::env::temp_dir().join(format!("sinkkit-secret-{}", std::process::id()));
        std::fs::write(&dir, "  abc\n").unwrap();
        assert_eq!(
            load_secret("s", "k", "k_file", None, Some(&dir)).unwrap(),
            "abc"
        );
        assert_eq!(
            load_secret("s", "k", "k_file", Some(" x "), None).unwrap(),
            "x"
        );
        assert!(load_secret("s", "k", "k_file", Some("x"), Some(&dir)).is_err());
        assert!(load_secret("s", "k", "k_file", None, None).is_err());
        assert!(load_secret("s", "k", "k_file", Some("  "), None).is_err());
        let missing = dir.with_extension("missing");
        let e = load_secret("s", "k", "k_file", None, Some(&missing)).unwrap_err();
        assert!(matches!(e, ConfigError::SecretFile { .. }));
        std::fs::remove_file(&dir).unwrap();
    }
}
