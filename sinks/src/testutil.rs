//! Test helpers shared by the sink and mock tests.

use tocsin_processors::{Decision, DecisionAction};

/// A decision at `ts` ns with `action`.
pub(crate) fn decision_at(action: DecisionAction, ts: i64) -> Decision {
    serde_json::from_value(serde_json::json!({
        "ts": tocsin_processors::decision::format_ts(ts), "id": Decision::make_id("checkout/error-rate", action),
        "kind": "incident", "action": action.as_str(),
        "target": "checkout", "severity": "critical", "reason": "error rate 12% (baseline 0.4%)",
        "evidence": {"error_rate": 0.12, "baseline": 0.004, "labels": {"team": "payments"}},
        "evidence_sql": "SELECT * FROM spans WHERE service = 'checkout'",
        "dedup_key": "checkout/error-rate", "confidence": 0.93, "processor": "red"
    }))
    .unwrap()
}

/// A decision with `action` at a fixed time.
pub(crate) fn decision(action: DecisionAction) -> Decision {
    decision_at(action, 1_795_681_800_000_000_000)
}
