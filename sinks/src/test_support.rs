//! Test fixtures shared by the sink tests.

use tocsin_processors::{Decision, DecisionAction, DecisionKind, Severity};

/// A decision of `kind`/`action` for `key`, with nested evidence.
pub(crate) fn decision(kind: DecisionKind, action: DecisionAction, key: &str) -> Decision {
    Decision {
        ts: 1_795_000_000_000_000_000,
        id: Decision::make_id(key, action),
        kind,
        action,
        target: "checkout".to_owned(),
        severity: Severity::Error,
        reason: "p99 latency up 40% after release v42".to_owned(),
        evidence: serde_json::json!({ "p99_ms": 412.5, "baseline_ms": 290.0, "release": "v42" }),
        evidence_sql: "SELECT * FROM metrics WHERE service = 'checkout'".to_owned(),
        dedup_key: key.to_owned(),
        confidence: 0.93,
        processor: "canary".to_owned(),
    }
}

/// A temporary file path unique to this process and `tag`.
pub(crate) fn temp_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tocsin-sinkkit-{}-{tag}", std::process::id()))
}
