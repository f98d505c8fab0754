//! Per-delivery CPU cost of the webhook sink: serialising a decision and
//! signing it (HMAC-SHA256 over "<ts>.<body>"), plus the GitHub dispatch
//! payload. The delivery engine targets ≥ 5,000 deliveries/s, so this must
//! stay far below 200 µs per decision.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tocsin_processors::{Decision, DecisionAction, DecisionKind, Severity};
use tocsin_sinks::action::client_payload;
use tocsin_sinks::webhook::{WebhookConfig, WebhookSink, sign};

fn decision() -> Decision {
    Decision {
        ts: 1_795_000_000_000_000_000,
        id: "incident/checkout/error_rate#open".into(),
        kind: DecisionKind::Incident,
        action: DecisionAction::Open,
        target: "checkout".into(),
        severity: Severity::Critical,
        reason: "error rate 12.4% over the last 5 minutes (baseline 0.3%)".into(),
        evidence: serde_json::json!({
            "error_rate": 0.124, "baseline": 0.003, "window_s": 300, "requests": 48211,
            "labels": { "team": "payments", "region": "eu-west-1", "version": "v42" },
            "top_errors": [["HTTP 502", 4120], ["timeout", 1311], ["HTTP 500", 540]]
        }),
        evidence_sql:
            "SELECT window_start, error_rate FROM service_errors WHERE service = 'checkout' \
                       AND window_start >= now() - INTERVAL 1 HOUR ORDER BY window_start"
                .into(),
        dedup_key: "incident/checkout/error_rate".into(),
        confidence: 0.97,
        processor: "error-rate".into(),
    }
}

fn sink(secret: Option<&str>) -> WebhookSink {
    WebhookSink::new(&WebhookConfig {
        name: "bench".into(),
        url: "http://127.0.0.1:9/".into(),
        timeout: Duration::from_secs(10),
        headers: BTreeMap::new(),
        body_template: None,
        secret: secret.map(str::to_owned),
        secret_file: None,
        delivery: Default::default(),
    })
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let d = decision();
    let body_len = serde_json::to_vec(&d).unwrap().len();
    let mut g = c.benchmark_group("webhook");
    g.throughput(Throughput::Elements(1));
    let signed = sink(Some("0123456789abcdef0123456789abcdef"));
    g.bench_function("serialise+sign", |b| {
        b.iter(|| {
            signed
                .encode(black_box(&d), black_box(1_800_000_000))
                .unwrap()
        })
    });
    let unsigned = sink(None);
    g.bench_function("serialise", |b| {
        b.iter(|| {
            unsigned
                .encode(black_box(&d), black_box(1_800_000_000))
                .unwrap()
        })
    });
    let body = vec![b'x'; body_len];
    g.bench_function(format!("sign-only-{body_len}B-fresh-key"), |b| {
        b.iter(|| {
            sign(
                black_box(b"0123456789abcdef0123456789abcdef"),
                1_800_000_000,
                black_box(&body),
            )
        })
    });
    g.bench_function("github-dispatch-payload", |b| {
        b.iter(|| serde_json::to_vec(&client_payload(black_box(&d))).unwrap())
    });
    g.finish();
    deliver(c, &d);
}

/// Whole deliveries over loopback HTTP to the signature-checking webhook
/// mock, 64 in flight: the sink's share of the ≥ 5,000/s target including
/// reqwest, hyper and the mock's own verification on the same 2 cores.
fn deliver(c: &mut Criterion, d: &Decision) {
    use std::sync::Arc;
    use tocsin_mockapis as mock;
    use tocsin_sinks::delivery::Sink;

    const BATCH: u64 = 64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let secret = "0123456789abcdef0123456789abcdef";
    let server = rt
        .block_on(mock::webhook::serve_with(secret.as_bytes()))
        .unwrap();
    let sink = Arc::new(
        WebhookSink::new(&WebhookConfig {
            name: "bench".into(),
            url: server.base_url(),
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            body_template: None,
            secret: Some(secret.into()),
            secret_file: None,
            delivery: Default::default(),
        })
        .unwrap(),
    );
    let mut g = c.benchmark_group("webhook-deliver");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.bench_function("signed-loopback-64-in-flight", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..BATCH {
                    let (s, d) = (sink.clone(), d.clone());
                    set.spawn(async move { s.deliver(&d).await });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap().unwrap();
                }
            })
        })
    });
    g.finish();
    assert!(server.state.rejected().is_empty());
}

criterion_group!(benches, bench);
criterion_main!(benches);
