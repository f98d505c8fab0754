use super::*;
use crate::testutil::decision;
use tocsin_mockapis::Fault;

fn cfg(url: &str) -> SlackConfig {
    toml::from_str(&format!(
        "url = \"{url}\"\ntimeout = \"300ms\"\nlink_url = \"https://tocsin.example/d/{{{{ dedup_key }}}}\""
    ))
    .unwrap()
}

async fn sink_and_mock() -> (SlackSink, tocsin_mockapis::MockServer) {
    let mock = tocsin_mockapis::slack::serve().await.unwrap();
    let sink = SlackSink::new(cfg(&format!("{}/services/T0/B0/abc", mock.base_url()))).unwrap();
    (sink, mock)
}

#[test]
fn config_parsing_and_errors() {
    let c: SlackConfig =
        toml::from_str("url = \"https://hooks.slack.com/services/T/B/x\"").unwrap();
    assert_eq!(c.notify_on.len(), 3);
    assert!(c.emoji && c.show_evidence_sql);
    let s = SlackSink::new(c).unwrap();
    assert!(s.accepts(&decision(DecisionAction::Update)));
    let c: SlackConfig =
        toml::from_str("url = \"https://x.example/h\"\nnotify_on = [\"open\", \"resolve\"]")
            .unwrap();
    let s = SlackSink::new(c).unwrap();
    assert!(!s.accepts(&decision(DecisionAction::Update)));
    assert!(toml::from_str::<SlackConfig>("url = \"x\"\nnotify_on = [\"reopen\"]").is_err());
    assert!(toml::from_str::<SlackConfig>("url = \"x\"\ncolour = true").is_err());
    let e = SlackSink::new(toml::from_str("name = \"chat\"\nurl = \"hooks.slack.com/x\"").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sink `chat`") && e.contains("`url`") && !e.contains("hooks.slack.com"),
        "secret URL not echoed: {e}"
    );
    let e =
        SlackSink::new(toml::from_str("url = \"https://x.example\"\nheader = \"{{ a\"").unwrap())
            .unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Template {
                field: "header",
                ..
            }
        ),
        "{e}"
    );
    assert!(SlackSink::new(toml::from_str("").unwrap()).is_err());
}

#[test]
fn payload_has_documented_blocks() {
    let s = SlackSink::new(cfg("https://x.example/h")).unwrap();
    let p = payload_json(&decision(DecisionAction::Open), s.messages()).unwrap();
    let b = p["blocks"].as_array().unwrap();
    assert_eq!(b[0]["type"], "header");
    assert_eq!(
        b[0]["text"]["text"],
        ":red_circle: CRITICAL incident on checkout"
    );
    assert_eq!(b[1]["text"]["type"], "mrkdwn");
    assert_eq!(b[1]["text"]["text"], "error rate 12% (baseline 0.4%)");
    assert_eq!(b[2]["fields"].as_array().unwrap().len(), 6);
    assert_eq!(b[2]["fields"][4]["text"], "*Confidence*\n93%");
    assert!(b[3]["text"]["text"].as_str().unwrap().contains("```SELECT"));
    assert_eq!(b[4]["type"], "context");
    assert_eq!(
        b[5]["elements"][0]["url"],
        "https://tocsin.example/d/checkout/error-rate"
    );
    assert!(
        p["text"]
            .as_str()
            .unwrap()
            .starts_with(":red_circle: CRITICAL")
    );
    let r = payload_json(&decision(DecisionAction::Resolve), s.messages()).unwrap();
    assert!(
        r["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark:")
    );
}

#[test]
fn text_is_escaped_and_cut() {
    let s = SlackSink::new(cfg("https://x.example/h")).unwrap();
    let mut d = decision(DecisionAction::Open);
    d.reason = "p99 <b> & more ".repeat(400);
    d.target = "t".repeat(3000);
    let p = payload_json(&d, s.messages()).unwrap();
    let b = p["blocks"].as_array().unwrap();
    assert_eq!(
        b[0]["text"]["text"].as_str().unwrap().chars().count(),
        MAX_HEADER_CHARS
    );
    let sec = b[1]["text"]["text"].as_str().unwrap();
    assert_eq!(sec.chars().count(), MAX_SECTION_CHARS);
    assert!(sec.starts_with("p99 &lt;b&gt; &amp; more"));
    assert_eq!(
        b[2]["fields"][0]["text"].as_str().unwrap().chars().count(),
        MAX_FIELD_CHARS
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
        sink.deliver(&decision(a)).await.unwrap();
    }
    let got = mock.state.received();
    assert_eq!(got.len(), 3, "{:?}", mock.state.rejected());
    assert_eq!(
        got[1].body["blocks"][2]["fields"][3]["text"],
        "*Action*\nupdate"
    );
}

#[tokio::test]
async fn over_long_fields_still_accepted() {
    let (sink, mock) = sink_and_mock().await;
    let mut d = decision(DecisionAction::Open);
    d.reason = "<&>".repeat(5000);
    d.target = "x".repeat(5000);
    d.evidence_sql = "SELECT '<>' ".repeat(1000);
    d.dedup_key = "k".repeat(5000);
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
        retry_after_secs: 30,
    });
    match sink.deliver(&decision(DecisionAction::Open)).await {
        Err(DeliveryError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(30)))
        }
        other => panic!("{other:?}"),
    }
    mock.state.set_fault(Fault::Hang);
    assert!(matches!(
        sink.deliver(&decision(DecisionAction::Open)).await,
        Err(DeliveryError::Retryable { .. })
    ));
    mock.state.set_fault(Fault::None);
    assert!(
        !format!("{sink:?}").contains("/services/"),
        "webhook URL must not appear in Debug output"
    );
    for (token, status, code) in [
        ("revoked", 403, "invalid_token"),
        ("missing", 404, "channel_not_found"),
        ("archived", 410, "channel_is_archived"),
    ] {
        let s =
            SlackSink::new(cfg(&format!("{}/services/T0/B0/{token}", mock.base_url()))).unwrap();
        match s.deliver(&decision(DecisionAction::Open)).await {
            Err(DeliveryError::Permanent { reason }) => {
                assert!(
                    reason.contains(&status.to_string()) && reason.contains(code),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    // A header template that renders a string over the limit is cut by the
    // sink; an empty one falls back; so provoke a 400 with a raw bad block.
    let url = reqwest::Url::parse(&format!("{}/services/T0/B0/abc", mock.base_url())).unwrap();
    let bad = json!({"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]});
    match common::post_json(&sink.client, url, HeaderMap::new(), &bad).await {
        Err(DeliveryError::Permanent { reason }) => assert!(
            reason.contains("400") && reason.contains("invalid_blocks"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}
