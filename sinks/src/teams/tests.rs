use super::*;
use crate::testutil::decision;
use tocsin_mockapis::Fault;

fn cfg(url: &str) -> TeamsConfig {
    toml::from_str(&format!(
        "url = \"{url}\"\ntimeout = \"300ms\"\nlink_url = \"https://tocsin.example/d/{{{{ dedup_key }}}}\""
    ))
    .unwrap()
}

async fn sink_and_mock() -> (TeamsSink, tocsin_mockapis::MockServer) {
    let mock = tocsin_mockapis::teams::serve().await.unwrap();
    let sink = TeamsSink::new(cfg(&format!(
        "{}/webhookb2/abc@def/IncomingWebhook/1/2",
        mock.base_url()
    )))
    .unwrap();
    (sink, mock)
}

#[test]
fn config_parsing_and_errors() {
    let c: TeamsConfig =
        toml::from_str("url = \"https://x.webhook.office.com/webhookb2/a\"").unwrap();
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert!(TeamsSink::new(c).is_ok());
    assert!(toml::from_str::<TeamsConfig>("url = \"x\"\ntheme = \"dark\"").is_err());
    let e = TeamsSink::new(toml::from_str("name = \"t\"").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("sink `t`") && e.contains("url_file"), "{e}");
    let e =
        TeamsSink::new(toml::from_str("url = \"https://x.example\"\ntitle = \"{{ }\"").unwrap())
            .unwrap_err();
    assert!(
        matches!(e, ConfigError::Template { field: "title", .. }),
        "{e}"
    );
    let e = TeamsSink::new(toml::from_str("url = \"file:///etc/passwd\"").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("scheme"), "{e}");
}

#[test]
fn card_has_envelope_facts_and_link() {
    let s = TeamsSink::new(cfg("https://x.example/h")).unwrap();
    let m = message_json(&decision(DecisionAction::Open), s.cards()).unwrap();
    assert_eq!(m["type"], "message");
    let a = &m["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let c = &a["content"];
    assert_eq!(
        (c["type"].as_str(), c["version"].as_str()),
        (Some("AdaptiveCard"), Some("1.4"))
    );
    assert_eq!(c["body"][0]["text"], "CRITICAL incident on checkout");
    assert_eq!(c["body"][0]["color"], "Attention");
    let facts: Vec<&str> = c["body"][1]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        facts,
        ["Target", "Severity", "Kind", "Action", "Confidence"]
    );
    assert_eq!(c["body"][2]["text"], "error rate 12% (baseline 0.4%)");
    assert_eq!(c["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(
        c["actions"][0]["url"],
        "https://tocsin.example/d/checkout/error-rate"
    );
    let r = message_json(&decision(DecisionAction::Resolve), s.cards()).unwrap();
    assert!(
        r["attachments"][0]["content"]["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Resolved: ")
    );
}

#[test]
fn big_text_is_cut_under_28kb() {
    let s = TeamsSink::new(cfg("https://x.example/h")).unwrap();
    let mut d = decision(DecisionAction::Open);
    d.reason = "\"quoted\" ".repeat(5000);
    d.evidence_sql = "SELECT 1 ".repeat(5000);
    let m = message_json(&d, s.cards()).unwrap();
    let n = serde_json::to_vec(&m).unwrap().len();
    assert!(n <= MAX_MESSAGE_BYTES, "{n}");
    assert!(n > MAX_MESSAGE_BYTES - 2048, "kept as much as fits: {n}");
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
    assert_eq!(
        got[2].body["attachments"][0]["content"]["body"][0]["color"],
        "Good"
    );
}

#[tokio::test]
async fn over_long_fields_still_accepted() {
    let (sink, mock) = sink_and_mock().await;
    let mut d = decision(DecisionAction::Open);
    d.reason = "r".repeat(40_000);
    d.evidence_sql = "q".repeat(40_000);
    d.target = "t".repeat(2_000);
    sink.deliver(&d).await.unwrap();
    assert_eq!(
        mock.state.received().len(),
        1,
        "{:?}",
        mock.state.rejected()
    );
}

#[tokio::test]
async fn status_mapping() {
    let (sink, mock) = sink_and_mock().await;
    mock.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 2,
    });
    match sink.deliver(&decision(DecisionAction::Open)).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(2)))
        }
        other => panic!("{other:?}"),
    }
    mock.state.set_fault(Fault::Hang);
    assert!(matches!(
        sink.deliver(&decision(DecisionAction::Open)).await,
        Err(DeliveryError::Retryable { .. })
    ));
    mock.state.set_fault(Fault::None);
    let url = reqwest::Url::parse(&format!("{}/webhookb2/other", mock.base_url())).unwrap();
    let bad = json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.hero", "content": {}}]});
    match common::post_json(&sink.client, url, HeaderMap::new(), &bad).await {
        Err(DeliveryError::Permanent { reason }) => assert!(
            reason.contains("400") && reason.contains("Bad payload"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}
