//! Payload building (pure, no HTTP) for the PagerDuty and Slack sinks — the
//! per-decision CPU cost of a paging/chat delivery.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tocsin_processors::{Decision, DecisionAction, format_ts};
use tocsin_sinks::pagerduty::{PagerDutyConfig, PagerDutySink, event_json};
use tocsin_sinks::slack::{SlackConfig, SlackSink, payload_json};

fn decision(action: DecisionAction, evidence_items: usize) -> Decision {
    let series: Vec<f64> = (0..evidence_items).map(|i| i as f64 * 0.5).collect();
    serde_json::from_value(serde_json::json!({
        "ts": format_ts(1_795_681_800_000_000_000), "id": Decision::make_id("checkout/error-rate", action),
        "kind": "incident", "action": action.as_str(), "target": "checkout", "severity": "critical",
        "reason": "error rate 12% (baseline 0.4%) over the last 5 minutes on 3 of 4 instances",
        "evidence": {"error_rate": 0.12, "baseline": 0.004, "series": series},
        "evidence_sql": "SELECT ts, count(*) FILTER (WHERE status >= 500) / count(*) FROM spans WHERE service = 'checkout' GROUP BY 1",
        "dedup_key": "checkout/error-rate", "confidence": 0.93, "processor": "red"
    }))
    .unwrap()
}

fn payloads(c: &mut Criterion) {
    let pd: PagerDutyConfig = toml::from_str(
        "routing_key = \"0123456789abcdef0123456789abcdef\"\nlinks = [{ href = \"https://tocsin.example/d/{{ dedup_key }}\", text = \"decision\" }]",
    )
    .unwrap();
    let pd = PagerDutySink::new(pd).unwrap();
    let slack: SlackConfig = toml::from_str(
        "url = \"https://hooks.example/services/T/B/x\"\nlink_url = \"https://tocsin.example/d/{{ dedup_key }}\"",
    )
    .unwrap();
    let slack = SlackSink::new(slack).unwrap();

    let open = decision(DecisionAction::Open, 64);
    let resolve = decision(DecisionAction::Resolve, 64);
    let huge = decision(DecisionAction::Open, 80_000);
    c.bench_function("pagerduty/trigger_64pt_evidence", |b| {
        b.iter(|| event_json(black_box(&open), pd.events()).unwrap())
    });
    c.bench_function("pagerduty/resolve", |b| {
        b.iter(|| event_json(black_box(&resolve), pd.events()).unwrap())
    });
    c.bench_function("pagerduty/trigger_trimmed_over_512kb", |b| {
        b.iter(|| event_json(black_box(&huge), pd.events()).unwrap())
    });
    c.bench_function("slack/open_blocks", |b| {
        b.iter(|| payload_json(black_box(&open), slack.messages()).unwrap())
    });
}

criterion_group!(benches, payloads);
criterion_main!(benches);
