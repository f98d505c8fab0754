use super::*;

const S: i64 = NS_PER_SEC;
const M: i64 = 60 * S;

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ev(ts: i64, status: AlertStatus, extra: &[(&str, &str)]) -> AlertEvent {
    let mut l = labels(&[("alertname", "HighErrorRate"), ("service", "checkout")]);
    l.extend(labels(extra));
    AlertEvent {
        ts_ns: ts,
        status,
        labels: l,
        annotations: Labels::new(),
        starts_at_ns: None,
        ends_at_ns: None,
    }
}

fn fire(ts: i64) -> AlertEvent {
    ev(ts, AlertStatus::Firing, &[])
}
fn resolve(ts: i64) -> AlertEvent {
    ev(ts, AlertStatus::Resolved, &[])
}

fn states(ts: &[Transition]) -> Vec<(i64, TransitionState)> {
    ts.iter().map(|t| (t.ts_ns, t.state)).collect()
}

#[test]
fn fingerprint_matches_prometheus_and_ignores_volatile() {
    // Prometheus: model.LabelSet{}.Fingerprint() is the FNV-1a offset basis.
    assert_eq!(fingerprint_of(std::iter::empty()), 0xcbf2_9ce4_8422_2325);
    let lc = Lifecycle::new(LifecycleConfig::default());
    let a = lc.fingerprint(&labels(&[("alertname", "X"), ("pod", "p-1")]));
    let b = lc.fingerprint(&labels(&[("alertname", "X"), ("pod", "p-2")]));
    let c = lc.fingerprint(&labels(&[("alertname", "Y"), ("pod", "p-1")]));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let sel = Lifecycle::new(LifecycleConfig {
        fingerprint_labels: Some(vec!["service".into(), "alertname".into()]),
        ..LifecycleConfig::default()
    });
    assert_eq!(
        sel.fingerprint(&labels(&[
            ("alertname", "X"),
            ("service", "s"),
            ("severity", "a")
        ])),
        sel.fingerprint(&labels(&[
            ("service", "s"),
            ("alertname", "X"),
            ("severity", "b")
        ]))
    );
    assert_eq!(fingerprint_hex(a).len(), 16);
}

#[test]
fn dedup_and_resolve() {
    let mut lc = Lifecycle::new(LifecycleConfig::default());
    let t1 = lc.observe(&fire(0));
    assert_eq!(states(&t1), vec![(0, TransitionState::Firing)]);
    assert!(lc.observe(&fire(M)).is_empty());
    assert!(lc.observe(&fire(2 * M)).is_empty());
    let t2 = lc.observe(&resolve(3 * M));
    assert_eq!(states(&t2), vec![(3 * M, TransitionState::Resolved)]);
    assert_eq!(t2[0].occurrences, 3);
    assert_eq!(t2[0].starts_at_ns, 0);
    assert!(lc.observe(&resolve(4 * M)).is_empty());
}

#[test]
fn volatile_label_change_is_the_same_alert() {
    let mut lc = Lifecycle::new(LifecycleConfig::default());
    assert_eq!(
        lc.observe(&ev(0, AlertStatus::Firing, &[("pod", "a")]))
            .len(),
        1
    );
    assert!(
        lc.observe(&ev(S, AlertStatus::Firing, &[("pod", "b")]))
            .is_empty()
    );
}

#[test]
fn min_occurrences() {
    let mut lc = Lifecycle::new(LifecycleConfig {
        min_occurrences: 3,
        ..LifecycleConfig::default()
    });
    assert!(lc.observe(&fire(0)).is_empty());
    assert!(lc.observe(&fire(M)).is_empty());
    let t = lc.observe(&fire(2 * M));
    assert_eq!(states(&t), vec![(2 * M, TransitionState::Firing)]);
    assert_eq!(t[0].occurrences, 3);
    // A pending alert that resolves is never reported.
    let mut lc2 = Lifecycle::new(LifecycleConfig {
        min_occurrences: 3,
        ..LifecycleConfig::default()
    });
    lc2.observe(&fire(0));
    assert!(lc2.observe(&resolve(M)).is_empty());
    assert!(lc2.observe(&fire(2 * M)).is_empty());
}

#[test]
fn for_duration_fires_by_timer_at_exact_time() {
    let mut lc = Lifecycle::new(LifecycleConfig {
        for_duration: PromDuration(3 * M),
        ..LifecycleConfig::default()
    });
    assert!(lc.observe(&fire(0)).is_empty());
    assert!(lc.observe(&fire(2 * M)).is_empty());
    assert!(lc.advance(3 * M - 1).is_empty());
    let t = lc.advance(10 * M);
    // Fires at 3m; the last re-send was at 2m, so it then times out at 7m.
    assert_eq!(
        states(&t),
        vec![
            (3 * M, TransitionState::Firing),
            (7 * M, TransitionState::Resolved)
        ]
    );
    // Cleared before `for` elapsed: never fires.
    let mut lc2 = Lifecycle::new(LifecycleConfig {
        for_duration: PromDuration(3 * M),
        ..LifecycleConfig::default()
    });
    lc2.observe(&fire(0));
    assert!(lc2.observe(&resolve(2 * M)).is_empty());
    assert!(lc2.advance(10 * M).is_empty());
}

#[test]
fn resolve_timeout_and_ends_at() {
    let mut lc = Lifecycle::new(LifecycleConfig::default());
    lc.observe(&fire(0));
    lc.observe(&fire(4 * M));
    assert!(lc.advance(9 * M - 1).is_empty());
    assert_eq!(
        states(&lc.advance(20 * M)),
        vec![(9 * M, TransitionState::Resolved)]
    );
    // An explicit ends_at overrides the timeout.
    let mut e = fire(30 * M);
    e.ends_at_ns = Some(31 * M);
    assert_eq!(lc.observe(&e).len(), 1);
    assert_eq!(
        states(&lc.advance(40 * M)),
        vec![(31 * M, TransitionState::Resolved)]
    );
    // The timeout is applied before a later event even without advance().
    let mut lc2 = Lifecycle::new(LifecycleConfig::default());
    lc2.observe(&fire(0));
    let t = lc2.observe(&fire(10 * M));
    assert_eq!(
        states(&t),
        vec![
            (5 * M, TransitionState::Resolved),
            (10 * M, TransitionState::Firing)
        ]
    );
}

#[test]
fn flap_damping_holds_and_releases() {
    let mut lc = Lifecycle::new(LifecycleConfig::default());
    let mut all = Vec::new();
    // Flip every minute for 10 minutes.
    for i in 0..10 {
        let e = if i % 2 == 0 {
            fire(i * M)
        } else {
            resolve(i * M)
        };
        all.extend(lc.observe(&e));
    }
    // Three real changes, then one Flapping report, then silence.
    assert_eq!(
        states(&all),
        vec![
            (0, TransitionState::Firing),
            (M, TransitionState::Resolved),
            (2 * M, TransitionState::Firing),
            (3 * M, TransitionState::Flapping),
        ]
    );
    // Last change at 9m (resolved); released 10m later with the settled state.
    assert!(lc.advance(19 * M - 1).is_empty());
    assert_eq!(
        states(&lc.advance(19 * M)),
        vec![(19 * M, TransitionState::Resolved)]
    );
    // Now calm: a normal firing is reported again.
    assert_eq!(
        states(&lc.observe(&fire(30 * M))),
        vec![(30 * M, TransitionState::Firing)]
    );
}

#[test]
fn flapping_released_while_firing_reports_firing() {
    let mut lc = Lifecycle::new(LifecycleConfig::default());
    for i in 0..5 {
        let e = if i % 2 == 0 {
            fire(i * M)
        } else {
            resolve(i * M)
        };
        lc.observe(&e);
    }
    // Firing since 4m, kept alive every minute; release at 14m.
    let mut out = Vec::new();
    for i in 5..16 {
        out.extend(lc.advance(i * M));
        out.extend(lc.observe(&fire(i * M)));
    }
    assert_eq!(states(&out), vec![(14 * M, TransitionState::Firing)]);
}

#[test]
fn damping_disabled_reports_every_change() {
    let mut lc = Lifecycle::new(LifecycleConfig::passthrough());
    let mut n = 0;
    for i in 0..10 {
        let e = if i % 2 == 0 {
            fire(i * M)
        } else {
            resolve(i * M)
        };
        n += lc.observe(&e).len();
    }
    assert_eq!(n, 10);
}

#[test]
fn advance_granularity_does_not_change_output() {
    let evs: Vec<AlertEvent> = (0..200)
        .map(|i| {
            let st = if i % 7 == 3 {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            };
            ev(i * 97 * S, st, &[("shard", &format!("{}", i % 5))])
        })
        .collect();
    let run = |step: usize| {
        let mut lc = Lifecycle::new(LifecycleConfig {
            for_duration: PromDuration(2 * M),
            ..LifecycleConfig::default()
        });
        let mut out = Vec::new();
        for (i, e) in evs.iter().enumerate() {
            if step > 0 && i % step == 0 {
                out.extend(lc.advance(e.ts_ns));
            }
            out.extend(lc.observe(e));
        }
        out.extend(lc.advance(i64::MAX / 2));
        let mut s: Vec<(i64, String, TransitionState)> = out
            .into_iter()
            .map(|t| (t.ts_ns, t.fingerprint, t.state))
            .collect();
        s.sort();
        s
    };
    let a = run(1);
    assert!(!a.is_empty());
    assert_eq!(a, run(0));
    assert_eq!(a, run(13));
}

#[test]
fn snapshot_restore_continues_identically() {
    let mut a = Lifecycle::new(LifecycleConfig::default());
    a.observe(&fire(0));
    a.observe(&resolve(M));
    a.observe(&fire(2 * M));
    let json = serde_json::to_string(&a.snapshot()).unwrap();
    let mut b = Lifecycle::restore(serde_json::from_str(&json).unwrap());
    for l in [&mut a, &mut b] {
        assert_eq!(
            states(&l.observe(&resolve(3 * M))),
            vec![(3 * M, TransitionState::Flapping)]
        );
    }
    assert_eq!(a.advance(i64::MAX / 2), b.advance(i64::MAX / 2));
}
