//! Lifecycle and dispatcher wired together with timers interleaved in event-time order.

use serde::{Deserialize, Serialize};

use crate::config::AlertmanagerConfig;
use crate::dispatch::{Dispatcher, DispatcherSnapshot, Notification};
use crate::event::AlertEvent;
use crate::lifecycle::{Lifecycle, LifecycleConfig, LifecycleSnapshot, Transition};

/// Lifecycle + dispatcher. Feed events in timestamp order with [`Pipeline::push`] and
/// call [`Pipeline::advance`] to let timers run up to a time with no events.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// The lifecycle stage.
    pub lifecycle: Lifecycle,
    /// The dispatch stage.
    pub dispatcher: Dispatcher,
    transitions: usize,
}

/// Serialisable pipeline state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PipelineSnapshot {
    /// Lifecycle state.
    pub lifecycle: LifecycleSnapshot,
    /// Dispatcher state.
    pub dispatcher: DispatcherSnapshot,
}

impl Pipeline {
    /// A new pipeline.
    pub fn new(lc: LifecycleConfig, am: AlertmanagerConfig) -> Self {
        Self {
            lifecycle: Lifecycle::new(lc),
            dispatcher: Dispatcher::new(am),
            transitions: 0,
        }
    }

    /// Transitions produced so far.
    pub fn transitions(&self) -> usize {
        self.transitions
    }

    fn feed(&mut self, trs: Vec<Transition>) {
        self.transitions += trs.len();
        for t in &trs {
            self.dispatcher.ingest(t, t.ts_ns);
        }
    }

    /// Runs lifecycle timers and group flushes due at or before `now_ns`, interleaved
    /// in time order (a lifecycle timer at the same instant as a flush goes first).
    pub fn advance(&mut self, now_ns: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        loop {
            let lc = self.lifecycle.next_deadline().filter(|d| *d <= now_ns);
            let dp = self.dispatcher.next_deadline().filter(|d| *d <= now_ns);
            match (lc, dp) {
                (None, None) => break,
                (Some(a), b) if b.is_none_or(|b| a <= b) => {
                    let trs = self.lifecycle.advance(a);
                    self.feed(trs);
                }
                (_, Some(b)) => out.extend(self.dispatcher.advance(b)),
                // Unreachable by the guards above; kept to satisfy exhaustiveness.
                (Some(_), None) => break,
            }
        }
        out
    }

    /// Processes one event: runs due timers, then the event itself.
    pub fn push(&mut self, ev: &AlertEvent) -> Vec<Notification> {
        let out = self.advance(ev.ts_ns);
        let trs = self.lifecycle.observe(ev);
        self.feed(trs);
        out
    }

    /// Serialisable state.
    pub fn snapshot(&self) -> PipelineSnapshot {
        PipelineSnapshot {
            lifecycle: self.lifecycle.snapshot(),
            dispatcher: self.dispatcher.snapshot(),
        }
    }

    /// Restores from a snapshot taken with the same Alertmanager config.
    pub fn restore(am: AlertmanagerConfig, snap: PipelineSnapshot) -> Self {
        Self {
            lifecycle: Lifecycle::restore(snap.lifecycle),
            dispatcher: Dispatcher::restore(am, snap.dispatcher),
            transitions: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AlertStatus;
    use crate::matcher::Labels;
    use proptest::prelude::*;

    const CFG: &str = r#"
route:
  receiver: a
  group_by: [alertname]
  group_wait: 30s
  group_interval: 2m
  repeat_interval: 20m
  routes:
    - matchers: ['sev="crit"']
      receiver: b
      continue: true
    - matchers: ['svc=~"x|y"']
      receiver: c
      group_by: ['...']
receivers:
  - {name: a, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}
  - {name: b, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}
  - {name: c, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}
inhibit_rules:
  - source_matchers: ['sev="crit"']
    target_matchers: ['sev="warn"']
    equal: [svc]
"#;

    fn stream() -> impl Strategy<Value = Vec<AlertEvent>> {
        prop::collection::vec(
            (0i64..90, 0usize..3, 0usize..3, 0usize..2, any::<bool>()),
            1..120,
        )
        .prop_map(|steps| {
            let mut t = 1_700_000_000_000_000_000i64;
            steps
                .into_iter()
                .map(|(dt, name, svc, sev, firing)| {
                    t += dt * 1_000_000_000;
                    let mut labels = Labels::new();
                    labels.insert("alertname".into(), ["A", "B", "C"][name].into());
                    labels.insert("svc".into(), ["x", "y", "z"][svc].into());
                    labels.insert("sev".into(), ["crit", "warn"][sev].into());
                    AlertEvent {
                        ts_ns: t,
                        status: if firing {
                            AlertStatus::Firing
                        } else {
                            AlertStatus::Resolved
                        },
                        labels,
                        annotations: Labels::new(),
                        starts_at_ns: None,
                        ends_at_ns: None,
                    }
                })
                .collect()
        })
    }

    fn run(
        evs: &[AlertEvent],
        advance_every: usize,
        snapshot_at: Option<usize>,
    ) -> Vec<Notification> {
        let am = AlertmanagerConfig::from_yaml(CFG).unwrap();
        let mut p = Pipeline::new(LifecycleConfig::default(), am.clone());
        let mut out = Vec::new();
        for (i, e) in evs.iter().enumerate() {
            if Some(i) == snapshot_at {
                let json = serde_json::to_string(&p.snapshot()).unwrap();
                p = Pipeline::restore(am.clone(), serde_json::from_str(&json).unwrap());
            }
            if advance_every > 0 && i % advance_every == 0 {
                out.extend(p.advance(e.ts_ns - 1));
            }
            out.extend(p.push(e));
        }
        let last = evs.last().map_or(0, |e| e.ts_ns);
        out.extend(p.advance(last + 3_600_000_000_000));
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn deterministic_and_call_pattern_independent(evs in stream(), every in 0usize..7, snap in 0usize..120) {
            let a = run(&evs, 0, None);
            prop_assert_eq!(&a, &run(&evs, 0, None));
            prop_assert_eq!(&a, &run(&evs, every, None));
            prop_assert_eq!(&a, &run(&evs, 0, Some(snap)));
            // Timestamps never go backwards.
            prop_assert!(a.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        }
    }

    #[test]
    fn pipeline_notifies_and_resolves() {
        let evs: Vec<AlertEvent> = (0..3)
            .map(|i| AlertEvent {
                ts_ns: i * 60_000_000_000,
                status: AlertStatus::Firing,
                labels: [("alertname", "A"), ("svc", "z"), ("sev", "warn")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                annotations: Labels::new(),
                starts_at_ns: None,
                ends_at_ns: None,
            })
            .collect();
        let out = run(&evs, 0, None);
        // First flush after 30s; the alert then times out at 420s (5m after the last
        // re-send at 2m) and the resolved notification goes out on the next 2m tick.
        let got: Vec<(i64, usize, usize)> = out
            .iter()
            .map(|n| (n.ts_ns / 1_000_000_000, n.firing, n.resolved))
            .collect();
        assert_eq!(got, vec![(30, 1, 0), (510, 0, 1)]);
    }
}
