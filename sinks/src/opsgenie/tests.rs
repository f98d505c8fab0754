use super::*;
use crate::testutil::decision;
use tocsin_mockapis::Fault;

fn cfg(api_url: &str) -> OpsgenieConfig {
    toml::from_str(&format!(
        "api_key = \"11111111-2222-3333-4444-555555555555\"\napi_url = \"{api_url}\"\ntimeout = \"300ms\"\ntags = [\"team-payments\"]\nnote = \"{{{{ action }}}} by tocsin\""
    ))
    .unwrap()
}

async fn sink_and_mock() -> (OpsgenieSink, tocsin_mockapis::MockServer) {
    let mock = tocsin_mockapis::opsgenie::serve().await.unwrap();
    (OpsgenieSink::new(cfg(&mock.base_url())).unwrap(), mock)
}

#[test]
fn config_defaults_regions_and_errors() {
    let c: OpsgenieConfig = toml::from_str("api_key = \"k\"").unwrap();
    assert_eq!(c.region, OpsgenieRegion::Us);
    assert_eq!(c.priority.get(Severity::Info), OpsgeniePriority::P5);
    let s = OpsgenieSink::new(c).unwrap();
    let create = request_for(&decision(DecisionAction::Open), s.requests()).unwrap();
    assert_eq!(
        s.url_for(&create).unwrap().as_str(),
        "https://api.opsgenie.com/v2/alerts"
    );
    let s = OpsgenieSink::new(toml::from_str("api_key = \"k\"\nregion = \"eu\"").unwrap()).unwrap();
    let close = request_for(&decision(DecisionAction::Resolve), s.requests()).unwrap();
    assert_eq!(
        s.url_for(&close).unwrap().as_str(),
        "https://api.eu.opsgenie.com/v2/alerts/checkout%2Ferror-rate/close?identifierType=alias"
    );
    let c: OpsgenieConfig = toml::from_str("api_key = \"k\"\n[actions]\nupdate = \"skip\"\nresolve = \"acknowledge\"\n[priority]\nwarning = \"P4\"").unwrap();
    assert_eq!(c.actions.resolve, OpsgenieAction::Acknowledge);
    assert_eq!(c.priority.warning, OpsgeniePriority::P4);

    assert!(toml::from_str::<OpsgenieConfig>("api_key = \"k\"\nregion = \"apac\"").is_err());
    assert!(
        toml::from_str::<OpsgenieConfig>("api_key = \"k\"\n[priority]\ninfo = \"P9\"").is_err()
    );
    assert!(toml::from_str::<OpsgenieConfig>("api_key = \"k\"\nkey = \"k\"").is_err());
    let e = OpsgenieSink::new(toml::from_str("name = \"og\"").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("sink `og`") && e.contains("api_key"), "{e}");
    let long_source = format!("api_key = \"k\"\nsource = \"{}\"", "s".repeat(101));
    let e = OpsgenieSink::new(toml::from_str(&long_source).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`source`"), "{e}");
    let e = OpsgenieSink::new(toml::from_str("api_key = \"k\"\ntags = [\"\"]").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`tags`"), "{e}");
    let e = OpsgenieSink::new(toml::from_str("api_key = \"k\"\nmessage = \"{% if %}\"").unwrap())
        .unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Template {
                field: "message",
                ..
            }
        ),
        "{e}"
    );
    let e = OpsgenieSink::new(toml::from_str("api_key = \"bad\\nkey\"").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("header"), "{e}");
}

#[test]
fn create_has_documented_fields() {
    let s = OpsgenieSink::new(cfg("http://127.0.0.1:9")).unwrap();
    let r = request_for(&decision(DecisionAction::Open), s.requests()).unwrap();
    assert_eq!(r.path, ["v2", "alerts"]);
    let b = &r.body;
    assert_eq!(b["alias"], "checkout/error-rate");
    assert_eq!(b["priority"], "P1");
    assert_eq!(b["entity"], "checkout");
    assert_eq!(b["source"], "tocsin");
    assert_eq!(b["note"], "open by tocsin");
    assert_eq!(
        b["tags"],
        json!(["team-payments", "tocsin", "incident", "critical"])
    );
    assert!(b["message"].as_str().unwrap().chars().count() <= MAX_MESSAGE_CHARS);
    assert!(
        b["description"]
            .as_str()
            .unwrap()
            .contains("Evidence query:\nSELECT")
    );
    let d = b["details"].as_object().unwrap();
    assert!(d.values().all(Value::is_string));
    assert_eq!(d["confidence"], "0.930");
    assert!(d["evidence"].as_str().unwrap().contains("error_rate"));
}

#[test]
fn long_fields_fit_the_limits() {
    let s = OpsgenieSink::new(cfg("http://127.0.0.1:9")).unwrap();
    let mut d = decision(DecisionAction::Open);
    d.reason = "r".repeat(20_000);
    d.dedup_key = "k".repeat(600);
    d.evidence = json!({"x": "e".repeat(20_000)});
    d.evidence_sql = "q".repeat(20_000);
    let b = request_for(&d, s.requests()).unwrap().body;
    assert_eq!(
        b["message"].as_str().unwrap().chars().count(),
        MAX_MESSAGE_CHARS
    );
    assert_eq!(
        b["description"].as_str().unwrap().chars().count(),
        MAX_DESCRIPTION_CHARS
    );
    assert_eq!(b["alias"].as_str().unwrap().len(), 64);
    let total: usize = b["details"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| k.chars().count() + v.as_str().unwrap().chars().count())
        .sum();
    assert!(total <= MAX_DETAILS_CHARS, "{total}");
    d.action = DecisionAction::Resolve;
    assert_eq!(
        request_for(&d, s.requests()).unwrap().path[2],
        b["alias"].as_str().unwrap()
    );
}

#[tokio::test]
async fn lifecycle_is_accepted_by_the_mock() {
    let (sink, mock) = sink_and_mock().await;
    for a in [
        DecisionAction::Open,
        DecisionAction::Update,
        DecisionAction::Resolve,
    ] {
        assert!(sink.accepts(&decision(a)));
        sink.deliver(&decision(a)).await.unwrap();
    }
    let got = mock.state.received();
    assert_eq!(got.len(), 3, "{:?}", mock.state.rejected());
    assert_eq!(got[0].endpoint, tocsin_mockapis::opsgenie::CREATE);
    assert_eq!(got[1].endpoint, tocsin_mockapis::opsgenie::CREATE);
    assert_eq!(got[2].endpoint, tocsin_mockapis::opsgenie::CLOSE);
    assert_eq!(
        got[2].key.as_deref(),
        Some("checkout/error-rate"),
        "alias decoded back from the path"
    );
    assert_eq!(got[2].body["_identifierType"], "alias");
    assert_eq!(got[2].body["note"], "resolve by tocsin");
    assert_eq!(got[0].body["priority"], "P1");
}

#[tokio::test]
async fn over_long_fields_still_accepted() {
    let (sink, mock) = sink_and_mock().await;
    let mut d = decision(DecisionAction::Open);
    d.reason = "r".repeat(20_000);
    d.dedup_key = "k/".repeat(400);
    d.target = "t".repeat(1000);
    sink.deliver(&d).await.unwrap();
    d.action = DecisionAction::Resolve;
    sink.deliver(&d).await.unwrap();
    assert_eq!(
        mock.state.received().len(),
        2,
        "{:?}",
        mock.state.rejected()
    );
}

#[tokio::test]
async fn status_mapping() {
    let (sink, mock) = sink_and_mock().await;
    mock.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 3,
    });
    match sink.deliver(&decision(DecisionAction::Open)).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("{other:?}"),
    }
    mock.state.set_fault(Fault::Hang);
    assert!(matches!(
        sink.deliver(&decision(DecisionAction::Open)).await,
        Err(DeliveryError::Retryable { .. })
    ));
    mock.state.set_fault(Fault::None);
    // A receiver that knows the account's key refuses any other one.
    let state = std::sync::Arc::new(tocsin_mockapis::MockState::default());
    let router = tocsin_mockapis::opsgenie::router_with(state.clone(), Some("right-key".into()));
    let strict = tocsin_mockapis::spawn(router, state).await.unwrap();
    let sink = OpsgenieSink::new(OpsgenieConfig {
        api_key: Some("wrong-key".into()),
        ..cfg(&strict.base_url())
    })
    .unwrap();
    match sink.deliver(&decision(DecisionAction::Open)).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(
                reason.contains("401") && reason.contains("Could not authenticate"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // And 422 with Opsgenie's error body is permanent too (raw request, since
    // the sink never builds an invalid one).
    let url = sink
        .url_for(&OpsgenieRequest {
            path: vec!["v2".into(), "alerts".into()],
            by_alias: false,
            body: Value::Null,
        })
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static("GenieKey right-key"),
    );
    match common::post_json(&sink.client, url, headers, &json!({"message": ""})).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(
                reason.contains("422")
                    && reason.contains("not processable")
                    && reason.contains("message"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}
