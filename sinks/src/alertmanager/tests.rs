use super::*;
use crate::testutil::decision;

fn cfg() -> AlertmanagerConfig {
    toml::from_str(
        "url = \"http://am.example:9093/\"\ngenerator_url = \"https://tocsin.example/d/{{ dedup_key }}\"\n[labels]\nteam = \"payments\"",
    )
    .unwrap()
}

#[test]
fn config_parsing_and_errors() {
    let c: AlertmanagerConfig = toml::from_str("url = \"http://am:9093\"").unwrap();
    assert_eq!(c.hold_for, Duration::from_secs(86_400));
    let s = AlertmanagerSink::new(c).unwrap();
    assert_eq!(s.endpoint().as_str(), "http://am:9093/api/v2/alerts");
    let s = AlertmanagerSink::new(
        toml::from_str("url = \"http://am:9093/prefix/\"\nhold_for = \"2h\"").unwrap(),
    )
    .unwrap();
    assert_eq!(s.endpoint().as_str(), "http://am:9093/prefix/api/v2/alerts");
    assert!(
        toml::from_str::<AlertmanagerConfig>("").is_err(),
        "url is required"
    );
    assert!(toml::from_str::<AlertmanagerConfig>("url = \"http://a\"\nhold = \"1h\"").is_err());
    assert!(
        toml::from_str::<AlertmanagerConfig>("url = \"http://a\"\nhold_for = \"soon\"").is_err()
    );
    for (labels, needle) in [
        ("\"1team\" = \"x\"", "valid label"),
        ("severity = \"x\"", "set by the sink"),
        ("\"__x\" = \"y\"", "valid label"),
    ] {
        let c: AlertmanagerConfig = toml::from_str(&format!(
            "name = \"am\"\nurl = \"http://a\"\n[labels]\n{labels}"
        ))
        .unwrap();
        let e = AlertmanagerSink::new(c).unwrap_err().to_string();
        assert!(e.contains("sink `am`") && e.contains(needle), "{e}");
    }
    let e =
        AlertmanagerSink::new(toml::from_str("url = \"http://a\"\nalertname = \"{{\"").unwrap())
            .unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Template {
                field: "alertname",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn open_and_resolve_share_labels() {
    let s = AlertmanagerSink::new(cfg()).unwrap();
    let open = alerts_json(&decision(DecisionAction::Open), s.alerts()).unwrap();
    let resolve = alerts_json(&decision(DecisionAction::Resolve), s.alerts()).unwrap();
    let o = &open[0];
    assert_eq!(o["labels"], resolve[0]["labels"]);
    assert_eq!(
        o["labels"],
        json!({"alertname": "TocsinIncident", "service": "checkout", "severity": "critical",
               "tocsin_kind": "incident", "dedup_key": "checkout/error-rate", "team": "payments"})
    );
    assert_eq!(
        o["annotations"]["description"],
        "error rate 12% (baseline 0.4%)"
    );
    assert_eq!(o["annotations"]["summary"], "CRITICAL incident on checkout");
    assert_eq!(o["startsAt"], "2026-11-26T08:30:00.000Z");
    assert_eq!(o["endsAt"], "2026-11-27T08:30:00.000Z");
    assert_eq!(resolve[0]["endsAt"], "2026-11-26T08:30:00.000Z");
    assert_eq!(
        o["generatorURL"],
        "https://tocsin.example/d/checkout/error-rate"
    );
    let mut d = decision(DecisionAction::Open);
    d.kind = tocsin_processors::DecisionKind::FlagDisable;
    assert_eq!(
        alerts_json(&d, s.alerts()).unwrap()[0]["labels"]["alertname"],
        "TocsinFlagDisable"
    );
}
