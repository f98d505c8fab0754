use super::*;
use crate::lifecycle::fingerprint_hex;
use crate::matcher::parse_matchers;
use crate::silence::Silence;

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tr(ts: i64, state: TransitionState, kv: &[(&str, &str)]) -> Transition {
    let l = labels(kv);
    Transition {
        ts_ns: ts,
        fingerprint: fingerprint_hex(fingerprint_of(l.iter())),
        state,
        labels: l,
        annotations: Labels::new(),
        starts_at_ns: ts,
        occurrences: 1,
    }
}

const CFG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['team="quiet"']
      receiver: no-resolved
    - matchers: ['team="night"']
      receiver: default
      mute_time_intervals: [weekend]
receivers:
  - name: default
    webhook_configs: [{url: 'http://127.0.0.1:1/'}]
  - name: no-resolved
    webhook_configs: [{url: 'http://127.0.0.1:1/', send_resolved: false}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [cluster]
time_intervals:
  - name: weekend
    time_intervals: [{weekdays: ['saturday', 'sunday']}]
"#;

fn disp() -> Dispatcher {
    Dispatcher::new(AlertmanagerConfig::from_yaml(CFG).unwrap())
}

fn summary(ns: &[Notification]) -> Vec<(i64, String, usize, usize)> {
    ns.iter()
        .map(|n| (n.ts_ns, n.receiver.clone(), n.firing, n.resolved))
        .collect()
}

#[test]
fn group_wait_then_group_interval_batches() {
    let mut d = disp();
    d.ingest(
        &tr(
            0,
            TransitionState::Firing,
            &[("alertname", "A"), ("i", "1")],
        ),
        0,
    );
    d.ingest(
        &tr(
            10 * S,
            TransitionState::Firing,
            &[("alertname", "A"), ("i", "2")],
        ),
        10 * S,
    );
    assert!(d.advance(30 * S - 1).is_empty());
    let n = d.advance(30 * S);
    assert_eq!(summary(&n), vec![(30 * S, "default".into(), 2, 0)]);
    assert_eq!(n[0].group_labels, labels(&[("alertname", "A")]));
    // A new alert after the first flush waits for the next group_interval tick.
    d.ingest(
        &tr(
            M,
            TransitionState::Firing,
            &[("alertname", "A"), ("i", "3")],
        ),
        M,
    );
    assert!(d.advance(30 * S + 5 * M - 1).is_empty());
    assert_eq!(
        summary(&d.advance(30 * S + 5 * M)),
        vec![(30 * S + 5 * M, "default".into(), 3, 0)]
    );
    // Other alertname = other group.
    d.ingest(
        &tr(6 * M, TransitionState::Firing, &[("alertname", "B")]),
        6 * M,
    );
    assert_eq!(d.group_count(), 2);
}

#[test]
fn repeat_interval_and_resolved_once() {
    let mut d = disp();
    d.ingest(&tr(0, TransitionState::Firing, &[("alertname", "A")]), 0);
    let mut all = d.advance(2 * 3600 * S);
    // 30s first, then unchanged group re-sent on the first tick strictly after 1h.
    assert_eq!(
        summary(&all),
        vec![
            (30 * S, "default".into(), 1, 0),
            (30 * S + 65 * M, "default".into(), 1, 0)
        ]
    );
    d.ingest(
        &tr(
            2 * 3600 * S + S,
            TransitionState::Resolved,
            &[("alertname", "A")],
        ),
        2 * 3600 * S + S,
    );
    all = d.advance(4 * 3600 * S);
    assert_eq!(summary(&all).len(), 1);
    assert_eq!(all[0].resolved, 1);
    assert_eq!(all[0].alerts[0].status, AlertStatus::Resolved);
    assert_eq!(d.group_count(), 0);
}

#[test]
fn send_resolved_false_sends_nothing_on_resolve() {
    let mut d = disp();
    let l = [("alertname", "A"), ("team", "quiet")];
    d.ingest(&tr(0, TransitionState::Firing, &l), 0);
    assert_eq!(d.advance(M).len(), 1);
    d.ingest(&tr(2 * M, TransitionState::Resolved, &l), 2 * M);
    assert!(d.advance(3 * 3600 * S).is_empty());
    assert_eq!(d.group_count(), 0);
}

#[test]
fn fired_and_resolved_between_flushes_is_not_sent() {
    let mut d = disp();
    d.ingest(
        &tr(
            0,
            TransitionState::Firing,
            &[("alertname", "A"), ("i", "1")],
        ),
        0,
    );
    d.ingest(
        &tr(
            10 * S,
            TransitionState::Resolved,
            &[("alertname", "A"), ("i", "1")],
        ),
        10 * S,
    );
    assert!(d.advance(3600 * S).is_empty());
}

#[test]
fn inhibition_with_equal() {
    let mut d = disp();
    d.ingest(
        &tr(
            0,
            TransitionState::Firing,
            &[
                ("alertname", "Crit"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
        ),
        0,
    );
    d.ingest(
        &tr(
            0,
            TransitionState::Firing,
            &[
                ("alertname", "Warn"),
                ("severity", "warning"),
                ("cluster", "a"),
            ],
        ),
        0,
    );
    d.ingest(
        &tr(
            0,
            TransitionState::Firing,
            &[
                ("alertname", "Warn"),
                ("severity", "warning"),
                ("cluster", "b"),
            ],
        ),
        0,
    );
    let n = d.advance(M);
    let mut got: Vec<(String, usize)> = n
        .iter()
        .map(|n| (n.group_labels["alertname"].clone(), n.firing))
        .collect();
    got.sort();
    // Warn in cluster a is inhibited; Warn in cluster b is not.
    assert_eq!(got, vec![("Crit".into(), 1), ("Warn".into(), 1)]);
    let warn = n
        .iter()
        .find(|n| n.group_labels["alertname"] == "Warn")
        .unwrap();
    assert_eq!(warn.alerts[0].labels["cluster"], "b");
    // Source resolves: the inhibited alert is notified at the next tick.
    d.ingest(
        &tr(
            2 * M,
            TransitionState::Resolved,
            &[
                ("alertname", "Crit"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
        ),
        2 * M,
    );
    let n = d.advance(6 * M);
    let warn = n
        .iter()
        .find(|n| n.group_labels["alertname"] == "Warn")
        .unwrap();
    assert_eq!(warn.firing, 2);
}

#[test]
fn silence_mutes_until_expired() {
    let mut d = disp();
    d.silences_mut()
        .create(Silence {
            id: String::new(),
            matchers: parse_matchers(r#"alertname="A""#).unwrap(),
            starts_at_ns: 0,
            ends_at_ns: 3600 * S,
            created_by: "me".into(),
            comment: String::new(),
        })
        .unwrap();
    d.ingest(&tr(0, TransitionState::Firing, &[("alertname", "A")]), 0);
    assert!(d.advance(20 * M).is_empty());
    let id = d.silences().list()[0].id.clone();
    d.silences_mut().expire(&id, 21 * M).unwrap();
    assert_eq!(
        summary(&d.advance(26 * M)),
        vec![(25 * M + 30 * S, "default".into(), 1, 0)]
    );
}

#[test]
fn mute_time_interval_blocks_flushes() {
    let mut d = disp();
    // 2026-11-28 is a Saturday.
    let sat = 1_795_824_000 * S;
    let l = [("alertname", "A"), ("team", "night")];
    d.ingest(&tr(sat, TransitionState::Firing, &l), sat);
    assert!(d.advance(sat + 3600 * S).is_empty());
    // Monday 00:00 UTC is two days later; the first tick then notifies.
    let mon = sat + 2 * 86400 * S;
    let n = d.advance(mon + 5 * M);
    assert_eq!(n.len(), 1);
    assert!(n[0].ts_ns >= mon);
}

#[test]
fn flapping_is_notified_as_firing_with_marker() {
    let mut d = disp();
    d.ingest(&tr(0, TransitionState::Flapping, &[("alertname", "A")]), 0);
    let n = d.advance(M);
    assert_eq!(n[0].firing, 1);
    assert_eq!(n[0].alerts[0].annotations[FLAPPING_ANNOTATION], "true");
}

#[test]
fn snapshot_restore_gives_same_future() {
    let cfg = AlertmanagerConfig::from_yaml(CFG).unwrap();
    let mut a = Dispatcher::new(cfg.clone());
    a.ingest(&tr(0, TransitionState::Firing, &[("alertname", "A")]), 0);
    a.advance(M);
    let json = serde_json::to_string(&a.snapshot()).unwrap();
    let mut b = Dispatcher::restore(cfg, serde_json::from_str(&json).unwrap());
    for x in [&mut a, &mut b] {
        x.ingest(
            &tr(
                2 * M,
                TransitionState::Firing,
                &[("alertname", "A"), ("i", "2")],
            ),
            2 * M,
        );
    }
    assert_eq!(a.advance(3 * 3600 * S), b.advance(3 * 3600 * S));
}

#[test]
fn notify_log_outlives_group() {
    // The alert resolves while silenced, so the resolve is never logged; when it fires
    // again the receiver already knows it as firing, so nothing is sent until repeat.
    let mut d = disp();
    let l = [("alertname", "A")];
    d.ingest(&tr(0, TransitionState::Firing, &l), 0);
    assert_eq!(d.advance(M).len(), 1);
    d.silences_mut()
        .create(Silence {
            id: String::new(),
            matchers: parse_matchers(r#"alertname="A""#).unwrap(),
            starts_at_ns: 2 * M,
            ends_at_ns: 10 * M,
            created_by: "me".into(),
            comment: String::new(),
        })
        .unwrap();
    d.ingest(&tr(3 * M, TransitionState::Resolved, &l), 3 * M);
    assert!(d.advance(6 * M).is_empty());
    assert_eq!(d.group_count(), 0);
    d.ingest(&tr(20 * M, TransitionState::Firing, &l), 20 * M);
    assert!(d.advance(50 * M).is_empty());
    // Repeat after 1h from the last logged notification (30s), on a group tick.
    let n = d.advance(2 * 3600 * S);
    assert_eq!(n.len(), 1);
    assert!(n[0].ts_ns > 3600 * S);
}

#[test]
fn resolve_reaches_group_after_label_change() {
    // group_by '...' makes every label set its own group; the lifecycle may resolve an
    // alert with newer (volatile) labels than it fired with.
    let cfg = AlertmanagerConfig::from_yaml(
        "route: {receiver: a, group_by: ['...'], group_wait: 0s, group_interval: 1m}\nreceivers: [{name: a, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]",
    )
    .unwrap();
    let mut d = Dispatcher::new(cfg);
    let mut t = tr(
        0,
        TransitionState::Firing,
        &[("alertname", "A"), ("pod", "p1")],
    );
    d.ingest(&t, 0);
    assert_eq!(d.advance(0).len(), 1);
    t.state = TransitionState::Resolved;
    t.labels.insert("pod".into(), "p2".into());
    d.ingest(&t, 10 * S);
    let n = d.advance(M);
    assert_eq!(summary(&n), vec![(M, "a".into(), 0, 1)]);
    assert_eq!(d.group_count(), 0);
}

#[test]
fn active_time_interval_only_notifies_inside() {
    let cfg = AlertmanagerConfig::from_yaml(
        r#"
route:
  receiver: a
  routes:
    - receiver: a
      active_time_intervals: [office]
receivers: [{name: a}]
time_intervals:
  - name: office
    time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}]}]
"#,
    )
    .unwrap();
    let mut d = Dispatcher::new(cfg);
    // 2026-11-26T06:00:00Z, outside office hours.
    let t0 = 1_795_672_800 * S;
    d.ingest(&tr(t0, TransitionState::Firing, &[("alertname", "A")]), t0);
    assert!(d.advance(t0 + 2 * 3600 * S).is_empty());
    let n = d.advance(t0 + 4 * 3600 * S);
    assert_eq!(n.len(), 1);
    assert!(n[0].ts_ns >= t0 + 3 * 3600 * S);
}
