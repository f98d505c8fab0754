use super::*;

fn small() -> ScenarioConfig {
    ScenarioConfig {
        seed: 7,
        hours: 6.0,
        ..ScenarioConfig::default()
    }
}

#[test]
fn deterministic_per_seed() {
    let a = generate(&small());
    let b = generate(&small());
    assert_eq!(a, b);
    let c = generate(&ScenarioConfig { seed: 8, ..small() });
    assert_ne!(a.alerts, c.alerts);
}

#[test]
fn has_every_ingredient() {
    let sc = generate(&ScenarioConfig {
        hours: 24.0,
        ..small()
    });
    assert!(sc.topology.calls.len() >= 29);
    assert_eq!(sc.topology.user_facing.len(), 4);
    assert!(sc.truth.incidents.iter().any(|i| i.cause_change.is_some()));
    assert!(sc.truth.incidents.iter().any(|i| i.kind == "infra"));
    assert!(sc.truth.instances.iter().any(|i| i.silenced));
    assert!(
        sc.truth
            .instances
            .iter()
            .any(|i| i.group.starts_with("noise"))
    );
    // Flapping: some fingerprint has several instances.
    let mut seen = std::collections::HashMap::new();
    for i in &sc.truth.instances {
        *seen.entry(&i.fingerprint).or_insert(0) += 1;
    }
    assert!(seen.values().any(|n| *n > 1));
    assert!(sc.alerts.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
}

#[test]
fn files_round_trip() {
    let sc = generate(&ScenarioConfig {
        hours: 2.0,
        ..small()
    });
    let dir = std::env::temp_dir().join(format!("tocsin-incidents-sc-{}", std::process::id()));
    write_scenario(&sc, &dir).unwrap();
    let back = read_alert_lines(&dir.join("alerts.jsonl")).unwrap();
    assert_eq!(back, sc.alerts);
    let first = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap();
    let line = first.lines().next().unwrap();
    assert!(line.starts_with("{\"ts\":\"2026-11-26T"), "{line}");
    assert!(line.contains("\"ends_at\":null"));
    std::fs::remove_dir_all(&dir).unwrap();
}
