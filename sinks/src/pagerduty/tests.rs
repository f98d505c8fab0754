use super::*;
use crate::testutil::decision;
use tocsin_mockapis::Fault;

const KEY: &str = "0123456789abcdef0123456789ABCDEF";

fn cfg(url: &str) -> PagerDutyConfig {
    toml::from_str(&format!(
        r#"
        routing_key = "{KEY}"
        url = "{url}"
        timeout = "300ms"
        links = [{{ href = "https://tocsin.example/d/{{{{ dedup_key }}}}", text = "decision" }}]
        "#
    ))
    .unwrap()
}

async fn sink_and_mock() -> (PagerDutySink, tocsin_mockapis::MockServer) {
    let mock = tocsin_mockapis::pagerduty::serve().await.unwrap();
    let sink = PagerDutySink::new(cfg(&format!("{}/v2/enqueue", mock.base_url()))).unwrap();
    (sink, mock)
}

#[test]
fn config_defaults_and_errors() {
    let c: PagerDutyConfig = toml::from_str(&format!("routing_key = \"{KEY}\"")).unwrap();
    assert_eq!(c.name, "pagerduty");
    assert_eq!(c.url, DEFAULT_URL);
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert_eq!(c.actions, PagerDutyActions::default());
    assert!(PagerDutySink::new(c).is_ok());

    let c: PagerDutyConfig = toml::from_str(&format!(
        "routing_key = \"{KEY}\"\n[actions]\nupdate = \"skip\"\nresolve = \"acknowledge\"\n[severity]\ninfo = \"warning\""
    ))
    .unwrap();
    assert_eq!(c.actions.update, PagerDutyAction::Skip);
    assert_eq!(c.severity.get(Severity::Info), PagerDutySeverity::Warning);

    let e =
        toml::from_str::<PagerDutyConfig>("routing_key = \"x\"\nrouting_kye = \"y\"").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let e = toml::from_str::<PagerDutyConfig>("[actions]\nopen = \"page\"").unwrap_err();
    assert!(e.to_string().contains("unknown variant"), "{e}");

    let e =
        PagerDutySink::new(toml::from_str("name = \"pd-main\"\nrouting_key = \"short\"").unwrap())
            .unwrap_err();
    assert!(
        e.to_string().contains("sink `pd-main`") && e.to_string().contains("32"),
        "{e}"
    );
    let e = PagerDutySink::new(toml::from_str("").unwrap()).unwrap_err();
    assert!(e.to_string().contains("routing_key_file"), "{e}");
    let e = PagerDutySink::new(
        toml::from_str(&format!("routing_key = \"{KEY}\"\nsummary = \"{{{{ oops\"")).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Template {
                field: "summary",
                ..
            }
        ),
        "{e}"
    );
    let e = PagerDutySink::new(
        toml::from_str(&format!("routing_key = \"{KEY}\"\nurl = \"ftp://x\"")).unwrap(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`url`"), "{e}");

    let f = std::env::temp_dir().join(format!("pd-key-{}", std::process::id()));
    std::fs::write(&f, format!("{KEY}\n")).unwrap();
    let c: PagerDutyConfig =
        toml::from_str(&format!("routing_key_file = {:?}", f.display().to_string())).unwrap();
    assert!(PagerDutySink::new(c).is_ok());
    std::fs::remove_file(f).unwrap();
}

#[test]
fn trigger_has_documented_fields() {
    let s = PagerDutySink::new(cfg("http://127.0.0.1:9/v2/enqueue")).unwrap();
    let e = event_json(&decision(DecisionAction::Open), s.events()).unwrap();
    assert_eq!(e["routing_key"], KEY);
    assert_eq!(e["event_action"], "trigger");
    assert_eq!(e["dedup_key"], "checkout/error-rate");
    assert_eq!(e["client"], "tocsin");
    let p = &e["payload"];
    assert_eq!(
        p["summary"],
        "CRITICAL incident checkout: error rate 12% (baseline 0.4%)"
    );
    assert_eq!(p["source"], "checkout");
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["component"], "checkout");
    assert_eq!(p["class"], "incident");
    assert_eq!(p["timestamp"], "2026-11-26T08:30:00.000Z");
    assert_eq!(p["custom_details"]["evidence"]["error_rate"], 0.12);
    assert_eq!(
        p["custom_details"]["decision_id"],
        "checkout/error-rate#open"
    );
    assert_eq!(p["custom_details"]["confidence"], 0.93);
    assert_eq!(
        e["links"][0]["href"],
        "https://tocsin.example/d/checkout/error-rate"
    );
    assert!(p.get("group").is_none());
}

#[test]
fn resolve_carries_only_key_action_and_dedup_key() {
    let s = PagerDutySink::new(cfg("http://127.0.0.1:9/v2/enqueue")).unwrap();
    let e = event_json(&decision(DecisionAction::Resolve), s.events()).unwrap();
    let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["dedup_key", "event_action", "routing_key"]);
    assert_eq!(e["event_action"], "resolve");
}

#[test]
fn long_fields_are_cut_and_keys_hashed_stably() {
    let s = PagerDutySink::new(cfg("http://127.0.0.1:9/v2/enqueue")).unwrap();
    let mut d = decision(DecisionAction::Open);
    d.reason = "x".repeat(5000);
    d.dedup_key = "k".repeat(300);
    let e = event_json(&d, s.events()).unwrap();
    assert_eq!(
        e["payload"]["summary"].as_str().unwrap().chars().count(),
        MAX_SUMMARY_CHARS
    );
    let key = e["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    d.action = DecisionAction::Resolve;
    assert_eq!(
        event_json(&d, s.events()).unwrap()["dedup_key"],
        key.as_str()
    );
}

#[test]
fn huge_evidence_is_trimmed_under_512kb() {
    let s = PagerDutySink::new(cfg("http://127.0.0.1:9/v2/enqueue")).unwrap();
    let mut d = decision(DecisionAction::Open);
    d.evidence = serde_json::json!({"series": vec!["\"quoted\" value"; 60_000]});
    let e = event_json(&d, s.events()).unwrap();
    let n = serde_json::to_vec(&e).unwrap().len();
    assert!(n <= MAX_EVENT_BYTES, "{n}");
    assert!(n > MAX_EVENT_BYTES - 16 * 1024, "kept as much as fits: {n}");
    let cd = &e["payload"]["custom_details"];
    assert!(cd["evidence_trimmed"].as_str().unwrap().contains("512 KB"));
    assert!(cd["evidence"].as_str().unwrap().starts_with("{\"series\""));
}

#[test]
fn skip_is_not_accepted() {
    let mut c = cfg("http://127.0.0.1:9/v2/enqueue");
    c.actions.update = PagerDutyAction::Skip;
    let s = PagerDutySink::new(c).unwrap();
    assert!(s.accepts(&decision(DecisionAction::Open)));
    assert!(!s.accepts(&decision(DecisionAction::Update)));
}

#[tokio::test]
async fn lifecycle_is_accepted_by_the_mock() {
    let (sink, mock) = sink_and_mock().await;
    for a in [
        DecisionAction::Open,
        DecisionAction::Update,
        DecisionAction::Resolve,
    ] {
        sink.deliver(&decision(a)).await.unwrap();
    }
    let got = mock.state.received();
    assert_eq!(got.len(), 3, "{:?}", mock.state.rejected());
    assert_eq!(got[0].body["event_action"], "trigger");
    assert_eq!(got[1].body["event_action"], "trigger");
    assert_eq!(got[2].body["event_action"], "resolve");
    assert!(
        got.iter()
            .all(|r| r.key.as_deref() == Some("checkout/error-rate"))
    );
    assert_eq!(got[0].body["payload"]["severity"], "critical");
}

#[tokio::test]
async fn over_long_fields_still_accepted() {
    let (sink, mock) = sink_and_mock().await;
    let mut d = decision(DecisionAction::Open);
    d.reason = "r".repeat(3000);
    d.dedup_key = "d".repeat(400);
    d.evidence = serde_json::json!({"blob": "e".repeat(700 * 1024)});
    sink.deliver(&d).await.unwrap();
    let got = mock.state.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key.as_deref().map(str::len), Some(64));
}

#[tokio::test]
async fn status_mapping() {
    let (sink, mock) = sink_and_mock().await;
    mock.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 7,
    });
    match sink.deliver(&decision(DecisionAction::Open)).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    mock.state.set_fault(Fault::Hang);
    assert!(matches!(
        sink.deliver(&decision(DecisionAction::Open)).await,
        Err(DeliveryError::Retryable { .. })
    ));
    mock.state.set_fault(Fault::Status(400));
    match sink.deliver(&decision(DecisionAction::Open)).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(
                reason.contains("400") && reason.contains("injected failure"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    mock.state.set_fault(Fault::None);
    // The sink never builds an invalid event, so send one the way it sends
    // (same client, same classification) to see PagerDuty's 400 body carried.
    let bad = serde_json::json!({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "", "source": "s", "severity": "info"}});
    let url = reqwest::Url::parse(&format!("{}/v2/enqueue", mock.base_url())).unwrap();
    match common::post_json(&sink.client, url, HeaderMap::new(), &bad).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(
                reason.contains("400")
                    && reason.contains("invalid event")
                    && reason.contains("summary"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Empty summary and reason still page, with a generic summary.
    let mut d = decision(DecisionAction::Open);
    d.reason = String::new();
    let c = PagerDutyConfig {
        summary: "{{ reason }}".into(),
        ..cfg(&format!("{}/v2/enqueue", mock.base_url()))
    };
    PagerDutySink::new(c).unwrap().deliver(&d).await.unwrap();
    assert_eq!(
        mock.state.received().last().unwrap().body["payload"]["summary"],
        "incident checkout"
    );
    let dbg = format!("{sink:?}");
    assert!(
        !dbg.contains(KEY),
        "routing key must not appear in Debug output"
    );
}
