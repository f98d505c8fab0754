//! The log stream the scenarios send: services with error bursts at known
//! event times, so the error-rate processor opens and resolves a known
//! number of incidents, and a sequence number in every line's `trace_id`,
//! so "exactly once" is checked per event, not per Kafka offset.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// Services; the Kafka key, so one service stays on one partition.
pub const SERVICES: [&str; 8] = [
    "frontend", "checkout", "payments", "catalog", "auth", "search", "cart", "shipping",
];
/// Event-time lines per second per service.
const LINES_PER_SEC: i64 = 10;
/// Every service has a burst of 50 % errors this long...
const BURST_SECS: i64 = 60;
/// ...once per this many seconds of its event time, offset per service.
const BURST_EVERY_SECS: i64 = 1200;

/// A generated stream of `events` log lines, `per_message` lines (of one
/// service) per Kafka message.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Total lines.
    pub events: usize,
    /// Lines per Kafka message (newline-separated, as shippers batch them).
    pub per_message: usize,
    /// Event time of each service's first line.
    pub base_ns: i64,
}

impl Workload {
    /// `events` lines (a multiple of services × `per_message`) ending about now.
    pub fn new(events: usize, per_message: usize) -> Workload {
        let per_service = (events / SERVICES.len()) as i64;
        let span_ns = per_service * 1_000_000_000 / LINES_PER_SEC;
        Workload {
            events,
            per_message,
            base_ns: now_ns() - span_ns - 60_000_000_000,
        }
    }

    /// Kafka messages in the stream.
    pub fn messages(&self) -> usize {
        self.events / self.per_message
    }

    fn seconds(&self) -> i64 {
        (self.events / SERVICES.len()) as i64 / LINES_PER_SEC
    }

    /// Burst starts of `service`: every `BURST_EVERY_SECS` from an offset
    /// of its own, leaving out any that would end less than 5 minutes
    /// before the stream does (it would not be resolved in the stream).
    fn burst_starts(&self, service: usize) -> impl Iterator<Item = i64> {
        let offset = 300 + service as i64 * 137;
        let seconds = self.seconds();
        (0..)
            .map(move |k| offset + k * BURST_EVERY_SECS)
            .take_while(move |start| start + BURST_SECS + 300 <= seconds)
    }

    fn in_burst(&self, service: usize, second: i64) -> bool {
        self.burst_starts(service)
            .take_while(|&start| start <= second)
            .any(|start| second < start + BURST_SECS)
    }

    /// Bursts in the stream: the incidents the error-rate processor must open.
    pub fn bursts(&self) -> usize {
        (0..SERVICES.len())
            .map(|s| self.burst_starts(s).count())
            .sum()
    }

    /// Message `m`: its key and its lines. Messages go round-robin over the
    /// services, so event time advances evenly on every partition.
    pub fn message(&self, m: usize) -> (String, Vec<u8>) {
        let s = m % SERVICES.len();
        let chunk = m / SERVICES.len();
        let service = SERVICES[s];
        let mut out = Vec::with_capacity(self.per_message * 200);
        for j in chunk * self.per_message..(chunk + 1) * self.per_message {
            let seq = j * SERVICES.len() + s;
            let ts = self.base_ns + j as i64 * 1_000_000_000 / LINES_PER_SEC;
            let second = j as i64 / LINES_PER_SEC;
            let level = if self.in_burst(s, second) && j % 2 == 0 {
                "error"
            } else {
                "info"
            };
            out.extend_from_slice(
                log_line(ts, service, level, &format!("e{seq}"), "reliability").as_bytes(),
            );
            out.push(b'\n');
        }
        out.pop();
        (service.to_owned(), out)
    }

    /// Produces messages `range` to `topic`, at most `per_sec` messages a
    /// second, waiting for every acknowledgement.
    pub async fn produce(
        &self,
        producer: &rdkafka::producer::FutureProducer,
        topic: &str,
        range: std::ops::Range<usize>,
        per_sec: usize,
    ) {
        let started = Instant::now();
        let step = (per_sec / 10).max(1);
        let mut m = range.start;
        while m < range.end {
            let end = (m + step).min(range.end);
            produce_all(producer, topic, (m..end).map(|i| self.message(i))).await;
            m = end;
            let due = Duration::from_secs_f64((m - range.start) as f64 / per_sec as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Rows in the `logs` table now (lake and hot batches).
pub async fn lake_rows(tocsin: &Tocsin) -> Result<i64, String> {
    let v = tocsin.sql_ints("SELECT count(*) FROM logs").await?;
    v.first().copied().ok_or_else(|| "no count".to_owned())
}

/// Waits until `logs` holds exactly `events` rows with `events` distinct
/// sequence numbers; fails at once if a row is ever visible twice.
pub async fn wait_for_events(tocsin: &mut Tocsin, events: usize, timeout: Duration) {
    let started = Instant::now();
    let want = events as i64;
    loop {
        tocsin.assert_running();
        let counts = tocsin
            .sql("SELECT count(*) AS n, count(DISTINCT trace_id) AS d FROM logs")
            .await
            .ok()
            .and_then(|rows| {
                let r = rows.first()?;
                Some((r["n"].as_i64()?, r["d"].as_i64()?))
            });
        if let Some((n, d)) = counts {
            assert_eq!(
                n, d,
                "a row is visible twice: {n} rows, {d} distinct events"
            );
            assert!(n <= want, "{n} rows, more than the {want} events sent");
            if n == want {
                eprintln!("[harness] logs: {n} events after {:?}", started.elapsed());
                return;
            }
        }
        assert!(
            started.elapsed() < timeout,
            "{counts:?} (rows, distinct events) of {want} after {timeout:?}; log {}",
            tocsin.log().display()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until `decisions` holds an open and a resolve for each of
/// `bursts` incidents; the rows in the order they were made.
pub async fn wait_for_incidents(tocsin: &Tocsin, bursts: usize, timeout: Duration) -> Vec<Value> {
    wait_for(
        "every incident opened and resolved",
        timeout,
        Duration::from_millis(500),
        || async {
            let rows = tocsin
                .sql(
                    "SELECT id, dedup_key, action FROM decisions WHERE kind = 'incident' \
                     ORDER BY ts, CASE action WHEN 'open' THEN 0 WHEN 'update' THEN 1 ELSE 2 END",
                )
                .await?;
            let opens = rows.iter().filter(|r| r["action"] == "open").count();
            let resolves = rows.iter().filter(|r| r["action"] == "resolve").count();
            if opens == bursts && resolves == bursts {
                Ok(rows)
            } else {
                Err(format!(
                    "{opens} opens, {resolves} resolves of {bursts} bursts"
                ))
            }
        },
    )
    .await
}

/// The distinct decision ids of `rows`.
pub fn decision_ids(rows: &[Value]) -> std::collections::BTreeSet<String> {
    rows.iter()
        .filter_map(|r| Some(r["id"].as_str()?.to_owned()))
        .collect()
}

/// `(dedup_key, event_action)` of every event a PagerDuty receiver accepted.
pub fn pd_events(pd: &tocsin_mockapis::MockServer) -> Vec<(String, String)> {
    pd.state
        .received()
        .into_iter()
        .map(|r| {
            (
                r.body["dedup_key"].as_str().unwrap_or_default().to_owned(),
                r.body["event_action"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// Checks the incident decisions of a run (`wait_for_incidents`' rows): no
/// row twice, one open and one resolve per dedup key. Returns the
/// (dedup_key, action) pairs.
pub fn incidents_once(decisions: &[Value]) -> std::collections::BTreeSet<(String, String)> {
    let ids = decision_ids(decisions);
    assert_eq!(
        ids.len(),
        decisions.len(),
        "a decision row twice in the lake"
    );
    let mut per_key: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in decisions {
        *per_key
            .entry((
                r["dedup_key"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
            ))
            .or_default() += 1;
    }
    assert!(
        per_key.values().all(|&n| n == 1),
        "one open and one resolve per dedup key: {per_key:?}"
    );
    per_key.into_keys().collect()
}

/// What the webhook and PagerDuty receivers got for a run's decisions.
#[derive(Debug)]
pub struct Deliveries {
    /// The lake's decision ids: the webhook's Idempotency-Keys to expect.
    pub ids: std::collections::BTreeSet<String>,
    /// The (dedup_key, event_action) pairs PagerDuty must get: a trigger
    /// per open, a resolve per resolve (updates are skipped).
    pub expected_pd: std::collections::BTreeSet<(String, String)>,
    /// The Idempotency-Key of every webhook call.
    pub hook_keys: Vec<String>,
    /// Webhook calls beyond one per key.
    pub hook_dups: usize,
    /// Every event PagerDuty accepted.
    pub pd_all: Vec<(String, String)>,
    /// PagerDuty events beyond one per (dedup_key, action).
    pub pd_dups: usize,
}

/// Waits until the webhook has every decision of `decisions` and PagerDuty
/// every expected event, lets anything still in flight arrive, and checks
/// that the receivers got exactly the expected keys (repeats are counted
/// in the result, for the caller to bound).
pub async fn wait_for_deliveries(
    hook: &tocsin_mockapis::MockServer,
    pd: &tocsin_mockapis::MockServer,
    decisions: &[Value],
    timeout: Duration,
) -> Deliveries {
    use std::collections::BTreeSet;
    let ids = decision_ids(decisions);
    let expected_pd: BTreeSet<(String, String)> = incidents_once(decisions)
        .into_iter()
        .filter(|(_, action)| action != "update")
        .map(|(key, action)| {
            let action = if action == "open" {
                "trigger".to_owned()
            } else {
                action
            };
            (key, action)
        })
        .collect();
    let hook_keys = || -> Vec<String> {
        hook.state
            .received()
            .into_iter()
            .filter_map(|r| r.key)
            .collect()
    };
    wait_for(
        "every decision at both sinks",
        timeout,
        Duration::from_millis(500),
        || async {
            let got: BTreeSet<String> = hook_keys().into_iter().collect();
            let pd_got: BTreeSet<(String, String)> = pd_events(pd).into_iter().collect();
            if got.is_superset(&ids) && pd_got.is_superset(&expected_pd) {
                Ok(())
            } else {
                Err(format!(
                    "webhook {}/{}, pagerduty {}/{}",
                    got.intersection(&ids).count(),
                    ids.len(),
                    pd_got.intersection(&expected_pd).count(),
                    expected_pd.len()
                ))
            }
        },
    )
    .await;
    // Anything still in flight would arrive now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let keys = hook_keys();
    assert_eq!(
        keys.len(),
        hook.state.received().len(),
        "a webhook call without a key"
    );
    let pd_all = pd_events(pd);
    let d = Deliveries {
        hook_dups: keys.len() - keys.iter().collect::<BTreeSet<_>>().len(),
        pd_dups: pd_all.len() - pd_all.iter().collect::<BTreeSet<_>>().len(),
        hook_keys: keys,
        pd_all,
        ids,
        expected_pd,
    };
    // Exactly once by key is what receivers see (PagerDuty folds a
    // repeated dedup_key, webhook receivers a repeated Idempotency-Key).
    let pd_keys: BTreeSet<(String, String)> = d.pd_all.iter().cloned().collect();
    assert_eq!(
        pd_keys, d.expected_pd,
        "PagerDuty events by (dedup_key, action)"
    );
    let hook_ids: BTreeSet<String> = d.hook_keys.iter().cloned().collect();
    assert_eq!(hook_ids, d.ids, "webhook calls by decision id");
    d
}

/// The webhook and PagerDuty sinks the scenarios count deliveries at.
/// PagerDuty gets one trigger and one resolve per incident (updates are
/// skipped), so its view can be counted exactly. `settings` goes into each
/// sink's table (e.g. `timeout`), `delivery` into its `delivery` table.
pub fn receivers(
    hook: &tocsin_mockapis::MockServer,
    pd: &tocsin_mockapis::MockServer,
    settings: &str,
    delivery: &str,
) -> String {
    format!(
        r#"
[[sinks.webhook]]
name = "hook"
url = "{hook}/tocsin"
{settings}
[sinks.webhook.delivery]
{delivery}

[[sinks.pagerduty]]
name = "pd"
routing_key = "{key}"
url = "{pd}/v2/enqueue"
actions = {{ open = "trigger", update = "skip", resolve = "resolve" }}
{settings}
[sinks.pagerduty.delivery]
{delivery}
"#,
        hook = hook.base_url(),
        pd = pd.base_url(),
        key = "R".repeat(32),
    )
}

/// The error-rate settings the workload's bursts are sized for.
pub const ERROR_RATE: &str = r#"
[processors.error_rate]
window = "60s"
step = "10s"
open_threshold = 0.2
resolve_threshold = 0.05
min_events = 20
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_has_its_own_sequence_number() {
        let w = Workload::new(8 * 40, 10);
        let mut seen = std::collections::BTreeSet::new();
        for m in 0..w.messages() {
            let (_, body) = w.message(m);
            for line in body.split(|&b| b == b'\n') {
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                assert!(seen.insert(v["trace_id"].as_str().unwrap().to_owned()));
            }
        }
        assert_eq!(seen.len(), w.events);
    }
}
