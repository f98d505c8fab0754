//! Signal events of a series as `MetricAnomaly` alerts: opened and
//! closed by its points, or resolved without one when the series goes
//! silent or is evicted.

use std::collections::BTreeMap;

use tocsin_anomaly::{Direction, Score, SignalEvent};

use super::{ALERT_NAME, ALERT_SOURCE, AnomalyProcessor, AnomalyRule, Series};
use crate::Output;
use crate::output::{AlertStatus, RaisedAlert};

impl AnomalyProcessor {
    /// Resolves the open anomalies of series silent for `stale_after` at
    /// `watermark_ns`, in key order (deterministic output).
    pub(super) fn close_stale(&mut self, watermark_ns: i64, out: &mut Output) {
        let stale_ns = self.cfg.stale_after.as_nanos().min(i64::MAX as u128) as i64;
        if stale_ns == 0 || watermark_ns < self.next_stale_check_ns {
            return;
        }
        self.next_stale_check_ns = watermark_ns.saturating_add((stale_ns / 4).max(1));
        let cutoff = watermark_ns.saturating_sub(stale_ns);
        let mut stale: Vec<u64> = self
            .state
            .series
            .iter()
            .filter(|(_, s)| s.last_ts <= cutoff && s.tracker.as_ref().is_some_and(|t| t.is_open()))
            .map(|(k, _)| *k)
            .collect();
        stale.sort_unstable();
        let why = format!(
            "sent no point for {}",
            humantime::format_duration(self.cfg.stale_after)
        );
        for k in stale {
            if let Some(series) = self.state.series.get_mut(&k) {
                close_signal(&self.cfg.rules, series, watermark_ns, &why, out);
            }
        }
    }
}

/// Resolves `series`' anomaly, if one is open, at `now_ns`; `why` ends
/// the alert's summary.
pub(super) fn close_signal(
    rules: &[AnomalyRule],
    series: &mut Series,
    now_ns: i64,
    why: &str,
    out: &mut Output,
) {
    let (Some(rule), Some(tracker)) = (
        series.rule.and_then(|r| rules.get(r)),
        series.tracker.as_mut(),
    ) else {
        return;
    };
    let Some(SignalEvent::Closed {
        opened_ns,
        peak_score,
        ..
    }) = tracker.close(now_ns)
    else {
        return;
    };
    series.changed = true;
    let summary = format!(
        "{} on {} {why}; its anomaly is closed (peak anomaly score {peak_score:.2})",
        series.name,
        series.service.as_deref().unwrap_or("an unnamed service"),
    );
    out.alerts.push(RaisedAlert {
        ts: now_ns,
        alertname: ALERT_NAME.into(),
        status: AlertStatus::Resolved,
        severity: rule.severity.clone(),
        service: series.service.clone(),
        labels: alert_labels(series),
        annotations: BTreeMap::from([("summary".to_owned(), summary)]),
        starts_at: opened_ns,
        ends_at: Some(now_ns),
        source: ALERT_SOURCE,
    });
}

pub(super) fn raise(
    s: &Series,
    rule: &AnomalyRule,
    event: &SignalEvent,
    value: f64,
    score: &Score,
    ts: i64,
) -> RaisedAlert {
    let labels = alert_labels(s);
    let where_ = s.service.as_deref().unwrap_or("an unnamed service");
    let (status, starts_at, ends_at, summary) = match *event {
        SignalEvent::Opened {
            since_ns,
            score: sc,
            direction,
            ..
        } => {
            let dir = match direction {
                Direction::Up => "above",
                Direction::Down => "below",
                Direction::None => "away from",
            };
            (
                AlertStatus::Firing,
                since_ns,
                None,
                format!(
                    "{} on {where_} is {dir} its expected value {:.4} (value {value:.4}, anomaly score {sc:.2})",
                    s.name, score.expected
                ),
            )
        }
        SignalEvent::Closed {
            opened_ns,
            peak_score,
            ..
        } => (
            AlertStatus::Resolved,
            opened_ns,
            Some(ts),
            format!(
                "{} on {where_} is back to normal (peak anomaly score {peak_score:.2})",
                s.name
            ),
        ),
    };
    let annotations = BTreeMap::from([
        ("summary".to_owned(), summary),
        ("value".to_owned(), format!("{value}")),
        ("expected".to_owned(), format!("{}", score.expected)),
        ("score".to_owned(), format!("{:.4}", score.score)),
    ]);
    RaisedAlert {
        ts,
        alertname: ALERT_NAME.into(),
        status,
        severity: rule.severity.clone(),
        service: s.service.clone(),
        labels,
        annotations,
        starts_at,
        ends_at,
        source: ALERT_SOURCE,
    }
}

/// The series' labels plus `metric`, `service` and `host`: an alert's
/// identity, the same for its firing and its resolved rows.
fn alert_labels(s: &Series) -> BTreeMap<String, String> {
    let mut labels = s.labels.clone();
    labels.insert("metric".into(), s.name.clone());
    if let Some(svc) = &s.service {
        labels.insert("service".into(), svc.clone());
    }
    if let Some(h) = &s.host {
        labels.insert("host".into(), h.clone());
    }
    labels
}
