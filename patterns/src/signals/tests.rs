use super::*;
use crate::miner::{MinerConfig, PatternMiner};

const S: i64 = 1_000_000_000;

struct Rig {
    miner: PatternMiner,
    det: SignalDetector,
    signals: Vec<Signal>,
}

impl Rig {
    fn new(cfg: SignalConfig) -> Rig {
        Rig {
            miner: PatternMiner::new(MinerConfig::default()).unwrap(),
            det: SignalDetector::new(cfg).unwrap(),
            signals: Vec::new(),
        }
    }
    fn line(&mut self, ns: &str, ts: i64, line: &str, level: Level) -> Observation {
        let obs = self.miner.observe(ns, ts, line);
        let info = self.miner.pattern(obs.pattern_id).unwrap().clone();
        let sig = self.det.observe(ts, &obs, &info, level);
        self.signals.extend(sig);
        obs
    }
}

fn cfg() -> SignalConfig {
    SignalConfig {
        warmup_ns: 10 * S,
        deploy_window_ns: 60 * S,
        bucket_ns: S,
        min_history_buckets: 5,
        ..SignalConfig::default()
    }
}

#[test]
fn new_pattern_only_after_warmup_and_near_deploy() {
    let mut r = Rig::new(cfg());
    for t in 0..300 {
        r.line(
            "api",
            t * S,
            &format!("served request {t} in {}ms", t % 7),
            Level::Info,
        );
    }
    r.line("api", 5 * S, "warming cache shard alpha", Level::Info);
    assert!(
        r.signals.iter().all(|s| s.kind != SignalKind::NewPattern),
        "warm-up"
    );
    r.det.record_deploy("api", 100 * S, "1.4.2");
    r.line(
        "api",
        120 * S,
        "schema migration failed for table orders",
        Level::Error,
    );
    r.line(
        "api",
        200 * S,
        "totally different message here",
        Level::Error,
    );
    let news: Vec<_> = r
        .signals
        .iter()
        .filter(|s| s.kind == SignalKind::NewPattern)
        .collect();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(news[0].deploy_version.as_deref(), Some("1.4.2"));
    assert_eq!(news[0].template, "schema migration failed for table orders");
    assert_eq!(news[0].namespace, "api");

    let mut r = Rig::new(SignalConfig {
        require_deploy: false,
        ..cfg()
    });
    r.line("api", 0, "boot", Level::Info);
    r.line("api", 30 * S, "late novelty", Level::Warn);
    let news: Vec<_> = r
        .signals
        .iter()
        .filter(|s| s.kind == SignalKind::NewPattern)
        .collect();
    assert_eq!(news.len(), 1);
    assert_eq!(news[0].deploy_version, None);
}

#[test]
fn rate_spike_against_own_baseline() {
    let mut r = Rig::new(cfg());
    let mut spiky = None;
    for sec in 0..40 {
        let n = if sec == 30 { 120 } else { 6 };
        for i in 0..n {
            let o = r.line(
                "db",
                sec * S + i,
                &format!("slow query took {i}ms"),
                Level::Warn,
            );
            spiky = Some(o.pattern_id);
        }
        // A low-volume template that quadruples stays below the minimum count.
        for i in 0..(if sec == 30 { 4 } else { 1 }) {
            r.line(
                "db",
                sec * S + 500 + i,
                &format!("vacuum finished on {i} pages"),
                Level::Info,
            );
        }
    }
    r.signals.extend(r.det.advance(41 * S));
    let spikes: Vec<_> = r
        .signals
        .iter()
        .filter(|s| s.kind == SignalKind::RateSpike)
        .collect();
    assert_eq!(spikes.len(), 1, "{spikes:?}");
    assert_eq!(Some(spikes[0].pattern_id), spiky);
    assert_eq!(spikes[0].count, 120);
    assert_eq!(spikes[0].ts_ns, 30 * S);
    assert!((spikes[0].baseline - 6.0).abs() < 1e-9);
    assert!(spikes[0].ratio > 19.0);
}

#[test]
fn error_surge_reports_top_template() {
    let mut r = Rig::new(cfg());
    for sec in 0..30 {
        let (a, b) = if sec == 20 { (40, 15) } else { (1, 1) };
        for i in 0..a {
            r.line(
                "pay",
                sec * S + i,
                &format!("payment {i} declined: card expired"),
                Level::Error,
            );
        }
        for i in 0..b {
            r.line(
                "pay",
                sec * S + 100 + i,
                &format!("provider timeout after {i}ms"),
                Level::Error,
            );
        }
        r.line("pay", sec * S + 900, "heartbeat ok", Level::Info);
    }
    r.signals.extend(r.det.advance(31 * S));
    let surges: Vec<_> = r
        .signals
        .iter()
        .filter(|s| s.kind == SignalKind::ErrorSurge)
        .collect();
    assert_eq!(surges.len(), 1, "{surges:?}");
    assert_eq!(surges[0].count, 55);
    assert_eq!(surges[0].template, "payment <*> declined: card expired");
    assert!((surges[0].baseline - 2.0).abs() < 1e-9);
}

#[test]
fn gaps_decay_baselines_and_memory_is_bounded() {
    let mut r = Rig::new(SignalConfig {
        max_tracked: 100,
        max_namespaces: 4,
        ..cfg()
    });
    for sec in 0..20 {
        for i in 0..30 {
            r.line("x", sec * S + i, &format!("tick {i}"), Level::Info);
        }
    }
    // After a long silence the baseline has decayed, so normal volume is a spike.
    for i in 0..30 {
        r.line("x", 500 * S + i, &format!("tick {i}"), Level::Info);
    }
    r.signals.extend(r.det.advance(502 * S));
    assert!(
        r.signals
            .iter()
            .any(|s| s.kind == SignalKind::RateSpike && s.ts_ns == 500 * S)
    );
    let words = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for k in 0..5_000usize {
        let line = format!(
            "{} {} {} {}",
            words[k % 10],
            words[k / 10 % 10],
            words[k / 100 % 10],
            words[k / 1000 % 10]
        );
        r.line(
            &format!("ns{}", k % 9),
            600 * S + k as i64,
            &line,
            Level::Info,
        );
        assert!(r.det.tracked() <= 100);
        assert!(r.det.namespaces.len() <= 4);
    }
    // Checkpointable: a restored detector continues identically.
    let json = serde_json::to_string(&r.det).unwrap();
    let mut back: SignalDetector = serde_json::from_str(&json).unwrap();
    assert_eq!(back.tracked(), r.det.tracked());
    assert_eq!(back.advance(10_000 * S), r.det.advance(10_000 * S));
    assert!(
        SignalDetector::new(SignalConfig {
            bucket_ns: 0,
            ..cfg()
        })
        .is_err()
    );
    assert_eq!(Level::parse("WARNING"), Level::Warn);
    assert!(Level::parse("crit").is_error() && !Level::parse("nonsense").is_error());
}
