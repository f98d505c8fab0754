use std::time::Duration;

use super::*;
use crate::test_support::decision;
use tocsin_mockapis::{self as mock, Fault};
use tocsin_processors::{DecisionAction, DecisionKind};

fn cfg(url: &str, secret: Option<&str>) -> WebhookConfig {
    WebhookConfig {
        name: "hook".into(),
        url: url.into(),
        timeout: Duration::from_secs(5),
        headers: BTreeMap::new(),
        body_template: None,
        secret: secret.map(str::to_owned),
        secret_file: None,
        delivery: Default::default(),
    }
}

fn d() -> Decision {
    decision(DecisionKind::Incident, DecisionAction::Open, "svc/checkout")
}

#[test]
fn toml_defaults_and_errors() {
    let c: WebhookConfig = toml::from_str("name = \"h\"\nurl = \"https://x.test/h\"").unwrap();
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert!(c.headers.is_empty() && c.body_template.is_none() && c.secret.is_none());
    let c: WebhookConfig = toml::from_str(
        "name = \"h\"\nurl = \"https://x.test/h\"\ntimeout = \"2s\"\nsecret = \"k\"\nheaders = { X-Team = \"sre\" }",
    )
    .unwrap();
    assert_eq!(c.timeout, Duration::from_secs(2));
    assert_eq!(c.headers["X-Team"], "sre");
    let e =
        toml::from_str::<WebhookConfig>("name = \"h\"\nurl = \"u\"\nsecrte = \"k\"").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    assert!(toml::from_str::<WebhookConfig>("name = \"h\"").is_err());
    assert!(
        toml::from_str::<WebhookConfig>("name = \"h\"\nurl = \"u\"\ntimeout = \"soon\"").is_err()
    );
}

#[test]
fn build_errors() {
    assert!(WebhookSink::new(&cfg("not a url", None)).is_err());
    let mut c = cfg("http://127.0.0.1:1/", Some("k"));
    c.secret_file = Some("/nonexistent".into());
    assert!(WebhookSink::new(&c).is_err());
    let mut c = cfg("http://127.0.0.1:1/", None);
    c.body_template = Some("{{ unclosed".into());
    assert!(matches!(
        WebhookSink::new(&c),
        Err(ConfigError::Template { .. })
    ));
}

#[tokio::test]
async fn signed_delivery_is_verified_by_the_mock() {
    let server = mock::webhook::serve_with(b"topsecret").await.unwrap();
    let sink = WebhookSink::new(&cfg(
        &format!("{}/hooks/tocsin", server.base_url()),
        Some("topsecret"),
    ))
    .unwrap();
    let dec = d();
    sink.deliver(&dec).await.unwrap();
    let got = server.state.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key.as_deref(), Some("svc/checkout#open"));
    assert_eq!(got[0].body, serde_json::to_value(&dec).unwrap());
    assert!(server.state.rejected().is_empty());
}

#[tokio::test]
async fn secret_from_file_and_wrong_secret() {
    let server = mock::webhook::serve_with(b"right").await.unwrap();
    let p = crate::test_support::temp_path("hook-secret");
    std::fs::write(&p, "right\n").unwrap();
    let mut c = cfg(&server.base_url(), None);
    c.secret_file = Some(p.clone());
    WebhookSink::new(&c).unwrap().deliver(&d()).await.unwrap();
    std::fs::remove_file(&p).unwrap();
    let wrong = WebhookSink::new(&cfg(&server.base_url(), Some("wrong"))).unwrap();
    match wrong.deliver(&d()).await {
        Err(DeliveryError::Permanent { reason }) => assert!(reason.contains("401"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let unsigned = WebhookSink::new(&cfg(&server.base_url(), None)).unwrap();
    assert!(matches!(
        unsigned.deliver(&d()).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(server.state.received().len(), 1);
    assert_eq!(server.state.rejected().len(), 2);
    assert!(server.state.rejected().iter().all(|r| r.status == 401));
}

async fn raw(url: &str, ts: i64, sig: &str, body: &'static [u8]) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn mock_rejects_tampered_stale_future_and_unsigned() {
    let server = mock::webhook::serve_with(b"k").await.unwrap();
    let url = server.base_url();
    let now = chrono::Utc::now().timestamp();
    let body: &[u8] = br#"{"a":1}"#;
    assert_eq!(raw(&url, now, &sign(b"k", now, body), body).await, 200);
    assert_eq!(
        raw(&url, now, &sign(b"k", now, body), br#"{"a":2}"#).await,
        401
    );
    let old = now - 600;
    assert_eq!(raw(&url, old, &sign(b"k", old, body), body).await, 401);
    let fut = now + 600;
    assert_eq!(raw(&url, fut, &sign(b"k", fut, body), body).await, 401);
    assert_eq!(raw(&url, now, "v1=nothex", body).await, 401);
    let status = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    assert_eq!(server.state.received().len(), 1);
    assert_eq!(server.state.rejected().len(), 5);
}

#[tokio::test]
async fn template_body_and_headers() {
    let server = mock::webhook::serve().await.unwrap();
    let mut c = cfg(&server.base_url(), None);
    c.body_template = Some("{{ severity|upper }} {{ target }}".into());
    c.headers.insert("Content-Type".into(), "text/plain".into());
    let sink = WebhookSink::new(&c).unwrap();
    assert!(!sink.is_signed());
    sink.deliver(&d()).await.unwrap();
    assert_eq!(
        server.state.received()[0].body,
        serde_json::json!("ERROR checkout")
    );
}

#[tokio::test]
async fn faults_map_to_retryable_with_hints() {
    let server = mock::webhook::serve().await.unwrap();
    let mut c = cfg(&server.base_url(), None);
    c.timeout = Duration::from_millis(300);
    let sink = WebhookSink::new(&c).unwrap();
    server.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 7,
    });
    assert_eq!(
        sink.deliver(&d()).await.unwrap_err(),
        DeliveryError::Retryable {
            reason: "HTTP 429 Too Many Requests: rate limited (injected)".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    server.state.set_fault(Fault::Status(503));
    assert!(matches!(
        sink.deliver(&d()).await,
        Err(DeliveryError::Retryable { .. })
    ));
    server.state.set_fault(Fault::Status(400));
    assert!(matches!(
        sink.deliver(&d()).await,
        Err(DeliveryError::Permanent { .. })
    ));
    server.state.set_fault(Fault::Hang);
    assert!(matches!(
        sink.deliver(&d()).await,
        Err(DeliveryError::Retryable { .. })
    ));
}

#[test]
fn encode_round_trips_through_verify() {
    let sink = WebhookSink::new(&cfg("http://127.0.0.1:1/", Some("k"))).unwrap();
    let enc = sink.encode(&d(), 1_800_000_000).unwrap();
    let sig = enc.signature.unwrap();
    assert_eq!(
        verify_signature(
            b"k",
            "1800000000",
            &sig,
            &enc.body,
            1_800_000_030,
            DEFAULT_TOLERANCE
        ),
        Ok(())
    );
    let back: Decision = serde_json::from_slice(&enc.body).unwrap();
    assert_eq!(back, d());
}

#[test]
fn invalid_id_is_permanent() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = WebhookSink::new(&cfg("http://127.0.0.1:1/", None)).unwrap();
    let mut dec = d();
    dec.id = "bad\nid".into();
    assert!(matches!(
        rt.block_on(sink.deliver(&dec)),
        Err(DeliveryError::Permanent { .. })
    ));
}
