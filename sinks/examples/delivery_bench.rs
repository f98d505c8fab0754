//! Measures the delivery engine against local receivers that enforce the
//! real APIs' request schemas (`tocsin-mockapis`):
//!
//! - `throughput`: N decisions to the signed webhook receiver, no faults;
//!   deliveries per second with the sender on one core (a current-thread
//!   runtime; the receiver runs on its own thread).
//! - `outage`: N decisions (open + resolve per key) while the receiver
//!   answers 500 for the first third of the outage, 429 with `Retry-After`
//!   for the second and hangs for the last; then it comes back. Counts
//!   what arrived: every id exactly once, opens before resolves.
//! - `pagerduty`: incidents with several updates each, through the
//!   PagerDuty sink and its default limit (120 per minute per routing key)
//!   against a receiver that enforces that limit, after an outage: no
//!   request refused for the rate limit, none lost, updates folded.
//!
//! ```text
//! cargo run --release -p tocsin-sinks --example delivery_bench -- throughput 20000
//! cargo run --release -p tocsin-sinks --example delivery_bench -- outage 10000 300
//! cargo run --release -p tocsin-sinks --example delivery_bench -- pagerduty 60 60
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tocsin_mockapis::{Fault, MockServer};
use tocsin_processors::{Decision, DecisionAction, DecisionKind, Severity};
use tocsin_sinks::delivery::{
    DeliveryConfig, DeliveryEngine, DeliveryStats, EngineParts, OutboxEntry, Position, StateFile,
};
use tocsin_sinks::pagerduty::{PagerDutyConfig, PagerDutySink};
use tocsin_sinks::routing::Routing;
use tocsin_sinks::webhook::{WebhookConfig, WebhookSink};
use tocsin_sinks::{Sink, SinksConfig};

fn decision(key: &str, action: DecisionAction, seq: usize) -> Decision {
    Decision {
        ts: 1_795_681_800_000_000_000 + seq as i64,
        id: format!("{key}#{}#{seq}", action.as_str()),
        kind: DecisionKind::Incident,
        action,
        target: "checkout".into(),
        severity: Severity::Critical,
        reason: "error rate 12% against 0.4% before".into(),
        evidence: serde_json::json!({"error_rate": 0.12, "baseline": 0.004}),
        evidence_sql: "SELECT 1".into(),
        dedup_key: key.into(),
        confidence: 0.9,
        processor: "bench".into(),
    }
}

/// Starts a mock server on its own thread and runtime, so the sender's
/// runtime has its core to itself.
fn receiver<F, Fut>(start: F) -> MockServer
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<MockServer>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("receiver runtime");
        rt.block_on(async move {
            let server = start().await.expect("receiver listens");
            let _ = tx.send(server);
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("receiver started")
}

struct Run {
    engine: DeliveryEngine,
    stats: Arc<DeliveryStats>,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

fn start(sink: Arc<dyn Sink>, cfg: &DeliveryConfig) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let stats = Arc::new(DeliveryStats::default());
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let (parked, mut parked_rx) =
        tokio::sync::mpsc::channel::<tocsin_sinks::delivery::Parked>(1024);
    tokio::spawn(async move {
        while let Some(p) = parked_rx.recv().await {
            eprintln!("PARKED {}: {}", p.decision.id, p.reason);
        }
    });
    let settings = cfg.resolve(sink.delivery_defaults());
    let (engine, _) = DeliveryEngine::start(
        EngineParts {
            sink,
            routing: Arc::new(Routing::default()),
            settings,
            state: StateFile::new(dir.path().join("bench.json")),
            stats: stats.clone(),
            parked,
        },
        None,
        rx,
    )
    .expect("engine");
    Run {
        engine,
        stats,
        _dir: dir,
        _shutdown: shutdown,
    }
}

async fn feed(run: &Run, decisions: Vec<Decision>) {
    let input = run.engine.input();
    tokio::spawn(async move {
        for (i, d) in decisions.into_iter().enumerate() {
            let entry = OutboxEntry {
                position: Position {
                    part: 0,
                    major: 1,
                    minor: i as i64,
                },
                decision: Arc::new(d),
            };
            if input.send(entry).await.is_err() {
                return;
            }
        }
    });
}

async fn wait_done(run: &Run, expected: u64, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        let s = &run.stats;
        let done = s.delivered.load(Ordering::Relaxed)
            + s.folded.load(Ordering::Relaxed)
            + s.failed.load(Ordering::Relaxed);
        if done >= expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn webhook(url: String, secret: &str) -> Arc<dyn Sink> {
    let cfg: WebhookConfig = toml::from_str(&format!(
        "url = \"{url}\"\nsecret = \"{secret}\"\ntimeout = \"2s\""
    ))
    .expect("webhook config");
    Arc::new(WebhookSink::new(&cfg).expect("webhook sink"))
}

/// Checks what the receiver recorded: each id once, opens before resolves.
fn audit(server: &MockServer, expected_ids: usize) -> (usize, usize, usize) {
    let got = server.state.received();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut order_errors = 0;
    let mut opened: HashMap<String, bool> = HashMap::new();
    for r in &got {
        let id = r.key.clone().unwrap_or_default();
        *seen.entry(id.clone()).or_default() += 1;
        let key = id.split('#').next().unwrap_or_default().to_owned();
        if id.contains("#open#") {
            opened.insert(key, true);
        } else if !opened.contains_key(&key) {
            order_errors += 1;
        }
    }
    let dups = seen.values().filter(|&&n| n > 1).count();
    let missing = expected_ids.saturating_sub(seen.len());
    (missing, dups, order_errors)
}

fn pairs(n: usize) -> Vec<Decision> {
    (0..n / 2)
        .flat_map(|k| {
            let key = format!("k{k}");
            [
                decision(&key, DecisionAction::Open, 2 * k),
                decision(&key, DecisionAction::Resolve, 2 * k + 1),
            ]
        })
        .collect()
}

async fn throughput(n: usize) {
    let server = receiver(|| tocsin_mockapis::webhook::serve_with(b"bench-secret"));
    let run = start(
        webhook(format!("{}/hook", server.base_url()), "bench-secret"),
        &DeliveryConfig::default(),
    );
    let t = Instant::now();
    feed(&run, pairs(n)).await;
    let ok = wait_done(&run, n as u64, Duration::from_secs(600)).await;
    let secs = t.elapsed().as_secs_f64();
    let (missing, dups, order) = audit(&server, n);
    println!(
        "throughput: {n} decisions in {secs:.2} s = {:.0} deliveries/s (signed webhook, 8 lanes, sender on one core); finished={ok} missing={missing} duplicates={dups} order_errors={order} rejected={}",
        n as f64 / secs,
        server.state.rejected().len()
    );
}

async fn outage(n: usize, outage_secs: u64) {
    let server = receiver(|| tocsin_mockapis::webhook::serve_with(b"bench-secret"));
    server.state.set_fault(Fault::Status(500));
    let run = start(
        webhook(format!("{}/hook", server.base_url()), "bench-secret"),
        &DeliveryConfig::default(),
    );
    let t = Instant::now();
    feed(&run, pairs(n)).await;
    let third = Duration::from_secs(outage_secs) / 3;
    tokio::time::sleep(third).await;
    server.state.set_fault(Fault::TooManyRequests {
        retry_after_secs: 5,
    });
    tokio::time::sleep(third).await;
    server.state.set_fault(Fault::Hang);
    tokio::time::sleep(third).await;
    let attempts_during = run.stats.retried.load(Ordering::Relaxed);
    server.state.set_fault(Fault::None);
    let back = Instant::now();
    let ok = wait_done(&run, n as u64, Duration::from_secs(900)).await;
    let (missing, dups, order) = audit(&server, n);
    println!(
        "outage: {n} decisions, receiver down {outage_secs} s (500, then 429 Retry-After 5 s, then hanging); failed attempts during the outage {attempts_during}; all delivered {:.1} s after it came back ({:.1} s in all); finished={ok} missing={missing} duplicates={dups} order_errors={order} parked={}",
        back.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64(),
        run.stats.failed.load(Ordering::Relaxed)
    );
}

async fn pagerduty(incidents: usize, outage_secs: u64) {
    let server = receiver(tocsin_mockapis::pagerduty::serve);
    server.state.set_fault(Fault::Status(503));
    let cfg: PagerDutyConfig = toml::from_str(&format!(
        "routing_key = \"{}\"\nurl = \"{}/v2/enqueue\"",
        "R".repeat(32),
        server.base_url()
    ))
    .expect("pagerduty config");
    let run = start(
        Arc::new(PagerDutySink::new(cfg).expect("pagerduty sink")),
        &DeliveryConfig::default(),
    );
    let mut all = Vec::new();
    let mut seq = 0;
    for k in 0..incidents {
        let key = format!("inc{k}");
        for action in [
            DecisionAction::Open,
            DecisionAction::Update,
            DecisionAction::Update,
            DecisionAction::Update,
            DecisionAction::Resolve,
        ] {
            all.push(decision(&key, action, seq));
            seq += 1;
        }
    }
    let total = all.len();
    let t = Instant::now();
    feed(&run, all).await;
    tokio::time::sleep(Duration::from_secs(outage_secs)).await;
    server.state.set_fault(Fault::None);
    let ok = wait_done(&run, total as u64, Duration::from_secs(1800)).await;
    let got = server.state.received();
    let limited = server
        .state
        .rejected()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    let mut per_key: HashMap<String, Vec<String>> = HashMap::new();
    for r in &got {
        let action = r.body["event_action"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        per_key
            .entry(r.key.clone().unwrap_or_default())
            .or_default()
            .push(action);
    }
    let complete = per_key
        .values()
        .filter(|v| {
            v.first().map(String::as_str) == Some("trigger")
                && v.last().map(String::as_str) == Some("resolve")
        })
        .count();
    println!(
        "pagerduty: {incidents} incidents x (open, 3 updates, resolve) = {total} decisions after a {outage_secs} s outage; {} events sent in {:.0} s, {} updates folded; incidents triggered then resolved in order: {complete}/{incidents}; refused by the 120/min limit: {limited}; finished={ok}",
        got.len(),
        t.elapsed().as_secs_f64(),
        run.stats.folded.load(Ordering::Relaxed)
    );
}

fn main() {
    // Keeps the example honest about what it builds: the same registry
    // the binary uses accepts these sinks.
    let _ = SinksConfig::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("throughput") => rt.block_on(throughput(num(1, 20_000) as usize)),
        Some("outage") => rt.block_on(outage(num(1, 10_000) as usize, num(2, 300))),
        Some("pagerduty") => rt.block_on(pagerduty(num(1, 60) as usize, num(2, 60))),
        _ => eprintln!(
            "usage: delivery_bench throughput [N] | outage [N] [secs] | pagerduty [incidents] [secs]"
        ),
    }
}
