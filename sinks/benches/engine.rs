//! The delivery engine's own cost per decision (cursor, lanes, limiter,
//! breaker, state file) with a sink that does nothing, so the figure is the
//! engine and not a network.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tocsin_processors::{Decision, DecisionAction, DecisionKind, Severity};
use tocsin_sinks::Sink;
use tocsin_sinks::delivery::{
    DeliveryConfig, DeliveryDefaults, DeliveryEngine, DeliveryError, DeliveryStats, EngineParts,
    OutboxEntry, Position, StateFile,
};
use tocsin_sinks::routing::Routing;

struct Discard;

#[async_trait]
impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    async fn deliver(&self, _: &Decision) -> Result<(), DeliveryError> {
        Ok(())
    }
}

fn decisions(n: usize) -> Vec<Arc<Decision>> {
    (0..n)
        .map(|i| {
            Arc::new(Decision {
                ts: 1_795_681_800_000_000_000 + i as i64,
                id: format!("k{}#open#{i}", i / 2),
                kind: DecisionKind::Incident,
                action: if i % 2 == 0 {
                    DecisionAction::Open
                } else {
                    DecisionAction::Resolve
                },
                target: "checkout".into(),
                severity: Severity::Error,
                reason: "r".into(),
                evidence: serde_json::json!({}),
                evidence_sql: String::new(),
                dedup_key: format!("k{}", i / 2),
                confidence: 1.0,
                processor: "bench".into(),
            })
        })
        .collect()
}

fn engine(c: &mut Criterion) {
    const N: usize = 10_000;
    let all = decisions(N);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("deliver_10k_noop_sink_8_lanes", |b| {
        b.iter(|| {
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let stats = Arc::new(DeliveryStats::default());
                let (_tx, shutdown) = tokio::sync::watch::channel(false);
                let (parked, _prx) = tokio::sync::mpsc::channel(16);
                let (engine, _) = DeliveryEngine::start(
                    EngineParts {
                        sink: Arc::new(Discard),
                        routing: Arc::new(Routing::default()),
                        settings: DeliveryConfig::default().resolve(DeliveryDefaults::default()),
                        state: StateFile::new(dir.path().join("s.json")),
                        stats: stats.clone(),
                        parked,
                    },
                    None,
                    shutdown,
                )
                .unwrap();
                let input = engine.input();
                for (i, d) in all.iter().enumerate() {
                    let entry = OutboxEntry {
                        position: Position {
                            part: 0,
                            major: 1,
                            minor: i as i64,
                        },
                        decision: d.clone(),
                    };
                    input.send(entry).await.unwrap();
                }
                drop(input);
                engine.join().await;
                assert_eq!(stats.delivered.load(Ordering::Relaxed), N as u64);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
