use serde_json::json;

use super::*;
use crate::testutil::{JSON, post_raw};

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn trigger() -> Value {
    json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": "k1",
        "payload": {"summary": "disk full", "source": "db1", "severity": "error",
                    "timestamp": "2026-11-26T08:30:00.000Z", "custom_details": {"a": 1}},
        "links": [{"href": "https://x.example", "text": "x"}], "client": "c"
    })
}

async fn send(m: &MockServer, body: &Value) -> (u16, Value) {
    let (s, _, b) = post_raw(
        &format!("{}/v2/enqueue", m.base_url()),
        &[JSON],
        &body.to_string(),
    )
    .await;
    (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

#[tokio::test]
async fn accepts_valid_events_as_documented() {
    let m = serve().await.unwrap();
    let (s, b) = send(&m, &trigger()).await;
    assert_eq!(s, 202);
    assert_eq!(
        b,
        json!({"status": "success", "message": "Event processed", "dedup_key": "k1"})
    );
    let mut t = trigger();
    t.as_object_mut().unwrap().remove("dedup_key");
    let (s, b) = send(&m, &t).await;
    assert_eq!(s, 202);
    assert_eq!(b["dedup_key"].as_str().unwrap().len(), 32);
    let (s, _) = send(
        &m,
        &json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k1"}),
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(m.state.received().len(), 3);
}

#[tokio::test]
async fn rejects_malformed_events_with_400() {
    let m = serve().await.unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut t = trigger();
                t.as_object_mut().unwrap().remove("routing_key");
                t
            },
            "routing_key",
        ),
        (
            {
                let mut t = trigger();
                t["routing_key"] = json!("short");
                t
            },
            "32 characters",
        ),
        (
            {
                let mut t = trigger();
                t["event_action"] = json!("page");
                t
            },
            "event_action",
        ),
        (
            {
                let mut t = trigger();
                t["dedup_key"] = json!("d".repeat(256));
                t
            },
            "dedup_key",
        ),
        (
            {
                let mut t = trigger();
                t["payload"]["summary"] = json!("s".repeat(1025));
                t
            },
            "summary",
        ),
        (
            {
                let mut t = trigger();
                t["payload"]["severity"] = json!("fatal");
                t
            },
            "severity",
        ),
        (
            {
                let mut t = trigger();
                t["payload"].as_object_mut().unwrap().remove("source");
                t
            },
            "source",
        ),
        (
            {
                let mut t = trigger();
                t["payload"]["timestamp"] = json!("yesterday");
                t
            },
            "timestamp",
        ),
        (
            {
                let mut t = trigger();
                t.as_object_mut().unwrap().remove("payload");
                t
            },
            "payload",
        ),
        (
            {
                let mut t = trigger();
                t["links"] = json!([{"text": "no href"}]);
                t
            },
            "href",
        ),
        (
            json!({"routing_key": KEY, "event_action": "resolve"}),
            "dedup_key",
        ),
    ];
    for (body, needle) in cases {
        let (s, b) = send(&m, &body).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(b["status"], "invalid event");
        assert_eq!(b["message"], "Event object is invalid");
        assert!(b["errors"].to_string().contains(needle), "{needle}: {b}");
    }
    let (s, _, _) = post_raw(
        &format!("{}/v2/enqueue", m.base_url()),
        &[JSON],
        "{not json",
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = post_raw(
        &format!("{}/v2/enqueue", m.base_url()),
        &[("content-type", "text/plain")],
        &trigger().to_string(),
    )
    .await;
    assert_eq!(s, 400);
    let mut big = trigger();
    big["payload"]["custom_details"] = json!({"x": "y".repeat(MAX_BYTES)});
    assert_eq!(send(&m, &big).await.0, 400);
    assert!(m.state.received().is_empty());
    assert_eq!(m.state.rejected().len(), 14);
}

#[tokio::test]
async fn rate_limit_121_in_a_minute_gives_exactly_one_429() {
    let m = serve().await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..121 {
        let mut t = trigger();
        t["dedup_key"] = json!(format!("k{i}"));
        statuses.push(send(&m, &t).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 120);
    assert_eq!(statuses.last(), Some(&429));
    let limited: Vec<_> = m
        .state
        .rejected()
        .into_iter()
        .filter(|r| r.status == 429)
        .collect();
    assert_eq!(limited.len(), 1);
    // Another routing key has its own budget.
    let mut other = trigger();
    other["routing_key"] = json!("f".repeat(32));
    assert_eq!(send(&m, &other).await.0, 202);
}

#[tokio::test]
async fn rate_limit_window_slides() {
    let state = Arc::new(MockState::default());
    let cfg = PagerDutyMockConfig {
        rate_limit: 2,
        window: Duration::from_millis(300),
    };
    let m = spawn(router_with(state.clone(), cfg), state).await.unwrap();
    assert_eq!(send(&m, &trigger()).await.0, 202);
    assert_eq!(send(&m, &trigger()).await.0, 202);
    assert_eq!(send(&m, &trigger()).await.0, 429);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(send(&m, &trigger()).await.0, 202);
}
