//! Engine tests with an in-memory sink whose failures the test controls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tocsin_processors::{Decision, DecisionAction};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::routing::{RouteRule, Routing};

/// What the fake target does with the next request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Up,
    Down,
    Throttle(u64),
    Refuse,
}

struct FakeTarget {
    mode: Mutex<Mode>,
    got: Mutex<Vec<(String, DecisionAction, tokio::time::Instant)>>,
    attempts: AtomicU32,
}

impl FakeTarget {
    fn new() -> Arc<Self> {
        Arc::new(FakeTarget {
            mode: Mutex::new(Mode::Up),
            got: Mutex::new(Vec::new()),
            attempts: AtomicU32::new(0),
        })
    }
    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
    fn ids(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|g| g.0.clone())
            .collect()
    }
}

struct FakeSink(Arc<FakeTarget>, &'static str);

#[async_trait]
impl Sink for FakeSink {
    fn name(&self) -> &str {
        self.1
    }
    async fn deliver(&self, d: &Decision) -> Result<(), DeliveryError> {
        self.0.attempts.fetch_add(1, Ordering::SeqCst);
        // Like a network round trip: lets other lanes run.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let mode = *self.0.mode.lock().unwrap();
        match mode {
            Mode::Up => {
                self.0.got.lock().unwrap().push((
                    d.id.clone(),
                    d.action,
                    tokio::time::Instant::now(),
                ));
                Ok(())
            }
            Mode::Down => Err(DeliveryError::Retryable {
                reason: "HTTP 503".into(),
                retry_after: None,
            }),
            Mode::Throttle(s) => Err(DeliveryError::Retryable {
                reason: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(s)),
            }),
            Mode::Refuse => Err(DeliveryError::Permanent {
                reason: "HTTP 400: bad".into(),
            }),
        }
    }
}

fn decision(key: &str, action: DecisionAction, seq: usize) -> Decision {
    serde_json::from_value(serde_json::json!({
        "ts": "2026-11-26T08:30:00Z", "id": format!("{key}#{}#{seq}", action.as_str()),
        "kind": "incident", "action": action.as_str(), "target": "s", "severity": "error",
        "reason": "r", "evidence": {}, "evidence_sql": "", "dedup_key": key,
        "confidence": 1.0, "processor": "p"
    }))
    .unwrap()
}

struct Harness {
    engine: DeliveryEngine,
    parked: mpsc::Receiver<Parked>,
    stats: Arc<DeliveryStats>,
    shutdown: watch::Sender<bool>,
}

fn settings(concurrency: usize) -> EffectiveDelivery {
    let mut s = DeliveryConfig::default().resolve(DeliveryDefaults::default());
    s.concurrency = concurrency;
    s.retry = RetryPolicy {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(200),
    };
    s
}

fn start(target: &Arc<FakeTarget>, s: EffectiveDelivery, state: &std::path::Path) -> Harness {
    start_routed(target, s, state, Routing::default())
}

fn start_routed(
    target: &Arc<FakeTarget>,
    s: EffectiveDelivery,
    state: &std::path::Path,
    routing: Routing,
) -> Harness {
    let (tx, rx) = watch::channel(false);
    let (ptx, prx) = mpsc::channel(100);
    let stats = Arc::new(DeliveryStats::default());
    let (engine, _) = DeliveryEngine::start(
        EngineParts {
            sink: Arc::new(FakeSink(target.clone(), "fake")),
            routing: Arc::new(routing),
            settings: s,
            state: StateFile::new(state.join("fake.json")),
            stats: stats.clone(),
            parked: ptx,
        },
        None,
        rx,
    )
    .unwrap();
    Harness {
        engine,
        parked: prx,
        stats,
        shutdown: tx,
    }
}

async fn feed(h: &Harness, entries: &[Decision], epoch: i64) {
    let input = h.engine.input();
    for (i, d) in entries.iter().enumerate() {
        input
            .send(OutboxEntry {
                position: Position {
                    part: 0,
                    major: epoch,
                    minor: i as i64,
                },
                decision: Arc::new(d.clone()),
            })
            .await
            .unwrap();
    }
}

/// Per key, the actions in delivery order.
fn per_key(ids: &[String]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for id in ids {
        let key = id.split('#').next().unwrap().to_owned();
        m.entry(key).or_default().push(id.clone());
    }
    m
}

#[tokio::test(start_paused = true)]
async fn an_outage_loses_nothing_duplicates_nothing_and_keeps_order_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::new();
    target.set(Mode::Down);
    let h = start(&target, settings(8), dir.path());
    let mut all = Vec::new();
    for k in 0..200 {
        all.push(decision(&format!("k{k}"), DecisionAction::Open, 0));
        all.push(decision(&format!("k{k}"), DecisionAction::Resolve, 1));
    }
    feed(&h, &all, 1).await;
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(target.ids().is_empty());
    // The breaker keeps a 5-minute outage to a trickle of attempts.
    let attempts = target.attempts.load(Ordering::SeqCst);
    assert!(attempts < 200, "{attempts} attempts during the outage");
    assert_eq!(h.stats.circuit_open.load(Ordering::Relaxed), 1);
    target.set(Mode::Up);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let ids = target.ids();
    assert_eq!(ids.len(), 400, "every decision delivered");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 400, "none twice");
    for (key, seq) in per_key(&ids) {
        assert!(seq[0].contains("#open#"), "{key}: {seq:?}");
    }
    assert_eq!(h.stats.in_flight.load(Ordering::Relaxed), 0);
    assert_eq!(h.engine.cursor().through(0), Some((1, 399)));
    let _ = h.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn retry_after_pauses_all_lanes_and_the_rate_limit_holds() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::new();
    let mut s = settings(4);
    s.rate_limit = Some(RateLimit {
        events: 10,
        per: Duration::from_secs(60),
    });
    let h = start(&target, s, dir.path());
    let all: Vec<Decision> = (0..35)
        .map(|k| decision(&format!("k{k}"), DecisionAction::Open, 0))
        .collect();
    feed(&h, &all, 1).await;
    tokio::time::sleep(Duration::from_secs(200)).await;
    let got = target.got.lock().unwrap().clone();
    assert_eq!(got.len(), 35);
    for (i, g) in got.iter().enumerate() {
        let window = got[i..]
            .iter()
            .take_while(|x| x.2.duration_since(g.2) < Duration::from_secs(60))
            .count();
        assert!(window <= 10, "{window} requests within a minute");
    }
    assert!(h.stats.rate_limited.load(Ordering::Relaxed) > 0);
    // 429 with Retry-After: 30 s holds every lane for 30 s.
    let target = FakeTarget::new();
    target.set(Mode::Throttle(30));
    let h = start(&target, settings(4), tempfile::tempdir().unwrap().path());
    feed(&h, &all[..8], 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = target.attempts.load(Ordering::SeqCst);
    target.set(Mode::Up);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        target.attempts.load(Ordering::SeqCst),
        first,
        "nobody tries during the pause"
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(target.ids().len(), 8);
    assert_eq!(h.stats.delivered.load(Ordering::Relaxed), 8);
}

#[tokio::test(start_paused = true)]
async fn waiting_updates_fold_into_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::new();
    let mut s = settings(1);
    s.fold_updates = true;
    target.set(Mode::Down);
    let h = start(&target, s, dir.path());
    let mut all = vec![decision("a", DecisionAction::Open, 0)];
    for i in 1..=20 {
        all.push(decision("a", DecisionAction::Update, i));
    }
    all.push(decision("a", DecisionAction::Resolve, 21));
    feed(&h, &all, 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    target.set(Mode::Up);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        target.ids(),
        vec!["a#open#0", "a#update#20", "a#resolve#21"]
    );
    assert_eq!(h.stats.folded.load(Ordering::Relaxed), 19);
    assert_eq!(h.engine.cursor().through(0), Some((1, 21)));
}

#[tokio::test(start_paused = true)]
async fn refusals_are_parked_with_the_response_and_do_not_block_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::new();
    target.set(Mode::Refuse);
    let mut h = start(&target, settings(2), dir.path());
    feed(&h, &[decision("a", DecisionAction::Open, 0)], 1).await;
    let parked = h.parked.recv().await.unwrap();
    assert_eq!(parked.sink, "fake");
    assert_eq!(parked.decision.id, "a#open#0");
    assert!(parked.reason.contains("HTTP 400: bad"));
    target.set(Mode::Up);
    feed(&h, &[decision("a", DecisionAction::Resolve, 1)], 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(target.ids(), vec!["a#resolve#1"]);
    assert_eq!(h.stats.failed.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_restart_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::new();
    let all: Vec<Decision> = (0..50)
        .map(|k| decision(&format!("k{k}"), DecisionAction::Open, 0))
        .collect();
    let h = start(&target, settings(4), dir.path());
    feed(&h, &all[..30], 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(target.ids().len(), 30);
    // Stop while the target is down: the rest stays pending.
    target.set(Mode::Down);
    feed(&h, &all[30..], 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = h.shutdown.send(true);
    h.engine.join().await;

    // The reader replays the whole outbox; only what was not done goes out.
    target.set(Mode::Up);
    let h = start(&target, settings(4), dir.path());
    feed(&h, &all[..30], 1).await;
    feed(&h, &all[30..], 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ids = target.ids();
    assert_eq!(ids.len(), 50);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "no duplicates across the restart");
    assert_eq!(h.stats.duplicates.load(Ordering::Relaxed), 30);
}

#[tokio::test(start_paused = true)]
async fn unrouted_decisions_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::new();
    let rule: RouteRule = toml::from_str("kinds = [\"patch\"]\nsinks = [\"other\"]").unwrap();
    let routing = Routing::new(&[rule], None, &["fake", "other"]).unwrap();
    let h = start_routed(&target, settings(2), dir.path(), routing);
    feed(&h, &[decision("a", DecisionAction::Open, 0)], 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Incidents match no rule: the default is every sink.
    assert_eq!(target.ids().len(), 1);
    let mut patch = decision("b", DecisionAction::Open, 0);
    patch.kind = tocsin_processors::DecisionKind::Patch;
    feed(&h, &[patch], 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(target.ids().len(), 1);
    assert_eq!(h.stats.skipped.load(Ordering::Relaxed), 1);
    assert_eq!(h.engine.cursor().through(0), Some((2, 0)));
}
