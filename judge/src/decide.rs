//! Window-close decisions of the rollout judge: the per-window analysis of a
//! change against its baseline and the post-promotion watch rule.

use std::collections::BTreeSet;

use crate::compare::compare_metric;
use crate::config::{ChangeKind, DeployEvent};
use crate::judge::{ChangeRef, Phase, Rollout, RolloutJudge};
use crate::stats::{normal_sf, two_proportion_z_cc};
use crate::store::Agg;
use crate::verdict::{
    Decision, EvidenceScope, MetricResult, MetricVerdict, Verdict, dedup_key, evidence_sql,
};

impl RolloutJudge {
    /// Baseline version's aggregate over the `baseline_windows` windows before the change.
    pub(crate) fn pre_baseline(&self, ev: &DeployEvent) -> Agg {
        let d = self.window_of(ev.ts_ns);
        let mut agg = Agg::new(self.cfg.max_latency_us, self.cfg.latency_sigfig);
        for w in d - self.cfg.baseline_windows as i64..d {
            if let Some(a) = self.store.get(&ev.service, &ev.baseline_version, w) {
                agg.merge(a, self.cfg.max_samples_per_window);
            }
        }
        agg
    }

    /// Reverting a flag change means disabling the flag; anything else is rolled back.
    pub(crate) fn decision_for(kind: ChangeKind) -> Decision {
        if kind == ChangeKind::Flag {
            Decision::FlagDisable
        } else {
            Decision::Rollback
        }
    }

    /// Folds window `w` into the rollout's aggregates, compares every metric and
    /// decides hold / promote / rollback / flag_disable / inconclusive.
    pub(crate) fn analyse(&self, r: &mut Rollout, w: i64) -> Verdict {
        let cap = self.cfg.max_samples_per_window;
        let ev = r.event.clone();
        if r.pre.is_none() {
            let pre = self.pre_baseline(&ev);
            if !r.concurrent {
                r.base = pre.clone();
            }
            r.pre = Some(pre);
        }
        if r.concurrent
            && let Some(a) = self.store.get(&ev.service, &ev.baseline_version, w)
        {
            r.base.merge(a, cap);
        }
        if let Some(a) = self.store.get(&ev.service, &ev.version, w) {
            r.canary.merge(a, cap);
        }
        r.windows_done += 1;
        let looks = self.cfg.num_windows;
        let metrics: Vec<MetricVerdict> = self
            .cfg
            .metrics
            .iter()
            .map(|m| compare_metric(m, &r.base, &r.canary, looks))
            .collect();
        let is_final = r.windows_done >= self.cfg.num_windows;
        let failed = |crit: bool| {
            metrics
                .iter()
                .filter(|m| m.result == MetricResult::Fail && self.spec_critical(&m.name) == crit)
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
        };
        let crit_fail = failed(true);
        let other_fail = failed(false);
        let crit_inconclusive: Vec<&str> = metrics
            .iter()
            .filter(|m| m.result == MetricResult::Inconclusive && self.spec_critical(&m.name))
            .map(|m| m.name.as_str())
            .collect();
        let any_conclusive = metrics
            .iter()
            .any(|m| m.result != MetricResult::Inconclusive);
        let progress = format!("window {}/{}", r.windows_done, self.cfg.num_windows);
        let (decision, reason) = if !crit_fail.is_empty() {
            (
                Self::decision_for(ev.kind),
                format!(
                    "{progress}: critical metric(s) failed: {}",
                    crit_fail.join(", ")
                ),
            )
        } else if is_final && !other_fail.is_empty() {
            (
                Self::decision_for(ev.kind),
                format!(
                    "{progress}: metric(s) failed at the end: {}",
                    other_fail.join(", ")
                ),
            )
        } else if is_final && (!crit_inconclusive.is_empty() || !any_conclusive) {
            let which = if crit_inconclusive.is_empty() {
                "all metrics".to_string()
            } else {
                crit_inconclusive.join(", ")
            };
            (
                Decision::Inconclusive,
                format!("{progress}: not enough data to judge {which}"),
            )
        } else if is_final {
            let skipped: Vec<&str> = metrics
                .iter()
                .filter(|m| m.result == MetricResult::Inconclusive)
                .map(|m| m.name.as_str())
                .collect();
            let note = if skipped.is_empty() {
                String::new()
            } else {
                format!(" (non-critical inconclusive: {})", skipped.join(", "))
            };
            (
                Decision::Promote,
                format!("{progress}: no regression in any critical metric{note}"),
            )
        } else if !other_fail.is_empty() {
            (
                Decision::Hold,
                format!(
                    "{progress}: non-critical metric(s) failing: {}",
                    other_fail.join(", ")
                ),
            )
        } else if !crit_inconclusive.is_empty() {
            (
                Decision::Hold,
                format!(
                    "{progress}: waiting for data on {}",
                    crit_inconclusive.join(", ")
                ),
            )
        } else {
            (Decision::Hold, format!("{progress}: no regression so far"))
        };
        let end = self.window_start(w + 1);
        r.phase = match decision {
            Decision::Hold => Phase::Analysing,
            Decision::Promote if self.cfg.watch_ns > 0 => Phase::Watching {
                until_ns: end + self.cfg.watch_ns,
            },
            _ => Phase::Done,
        };
        let first_start = self.window_start(r.first_window);
        let d = self.window_of(ev.ts_ns);
        let baseline = if r.concurrent {
            (ev.baseline_version.as_str(), first_start, end)
        } else {
            (
                ev.baseline_version.as_str(),
                self.window_start(d - self.cfg.baseline_windows as i64),
                self.window_start(d),
            )
        };
        let sql = evidence_sql(
            &self.cfg,
            &EvidenceScope {
                service: &ev.service,
                baseline,
                canary: (ev.version.as_str(), first_start, end),
            },
        );
        Verdict {
            ts_ns: end,
            dedup_key: dedup_key(&ev.service, &ev.change_id, decision, end),
            service: ev.service,
            version: ev.version,
            change_id: ev.change_id,
            decision,
            reason,
            metrics,
            evidence_sql: sql,
        }
    }

    /// Whether the configured metric `name` is critical.
    pub(crate) fn spec_critical(&self, name: &str) -> bool {
        self.cfg
            .metrics
            .iter()
            .any(|m| m.name == name && m.critical)
    }

    /// Post-promotion watch at window `w`: the last `watch_eval_windows` windows of
    /// the new version against the pre-deploy baseline (+5 pp errors / +20 % p95);
    /// a regression reverts the service's most recent change.
    pub(crate) fn watch(
        &self,
        r: &mut Rollout,
        w: i64,
        until_ns: i64,
        finished: &mut BTreeSet<String>,
    ) -> Option<Verdict> {
        let cfg = &self.cfg;
        let ev = r.event.clone();
        let end = self.window_start(w + 1);
        let win = self
            .store
            .get(&ev.service, &ev.version, w)
            .cloned()
            .unwrap_or_else(|| Agg::new(cfg.max_latency_us, cfg.latency_sigfig));
        r.watch.push_back(win);
        while r.watch.len() > cfg.watch_eval_windows as usize {
            r.watch.pop_front();
        }
        if end >= until_ns {
            r.phase = Phase::Done;
        }
        let empty = Agg::new(cfg.max_latency_us, cfg.latency_sigfig);
        let pre = r.pre.as_ref().unwrap_or(&empty);
        let mut pool = Agg::new(cfg.max_latency_us, cfg.latency_sigfig);
        for a in &r.watch {
            pool.merge(a, 0);
        }
        let blame = self
            .changes
            .get(&ev.service)
            .and_then(|c| c.iter().rev().find(|c| c.ts_ns < end))
            .cloned()
            .unwrap_or(ChangeRef {
                ts_ns: ev.ts_ns,
                change_id: ev.change_id.clone(),
                kind: ev.kind,
                version: ev.version.clone(),
                reverted: false,
            });
        let make = |decision: Decision, reason: String, metrics: Vec<MetricVerdict>| {
            let d = self.window_of(ev.ts_ns);
            let sql = evidence_sql(
                cfg,
                &EvidenceScope {
                    service: &ev.service,
                    baseline: (
                        &ev.baseline_version,
                        self.window_start(d - cfg.baseline_windows as i64),
                        self.window_start(d),
                    ),
                    canary: (
                        &blame.version,
                        self.window_start(w + 1 - r.watch.len() as i64),
                        end,
                    ),
                },
            );
            Verdict {
                ts_ns: end,
                service: ev.service.clone(),
                version: blame.version.clone(),
                change_id: blame.change_id.clone(),
                decision,
                reason,
                metrics,
                dedup_key: dedup_key(&ev.service, &blame.change_id, decision, end),
                evidence_sql: sql,
            }
        };
        if pre.requests < cfg.watch_min_requests {
            r.phase = Phase::Done;
            return Some(make(
                Decision::Inconclusive,
                format!(
                    "watch: pre-deploy baseline has {} requests (< {}); cannot verify after promotion",
                    pre.requests, cfg.watch_min_requests
                ),
                vec![],
            ));
        }
        if pool.requests < cfg.watch_min_requests {
            return None;
        }
        // Error rule: more than `watch_error_pp` above the pre-deploy rate, and significant.
        let t = two_proportion_z_cc(pre.errors, pre.requests, pool.errors, pool.requests, true);
        let p_err = normal_sf(t.z);
        let err_fail = t.p_b - t.p_a > cfg.watch_error_pp && p_err < cfg.watch_alpha;
        // Latency rule: p95 more than `watch_p95_ratio` worse, with the share of
        // requests above the old p95 significantly up.
        let pre_p95 = pre.latency.quantile_ms(0.95).unwrap_or(0.0);
        let cur_p95 = pool.latency.quantile_ms(0.95).unwrap_or(0.0);
        let lt = two_proportion_z_cc(
            pre.latency.count_above_ms(pre_p95),
            pre.latency.len(),
            pool.latency.count_above_ms(pre_p95),
            pool.latency.len(),
            true,
        );
        let p_lat = normal_sf(lt.z);
        let lat_fail = pre_p95 > 0.0
            && pool.latency.len() >= cfg.watch_min_requests
            && cur_p95 > pre_p95 * (1.0 + cfg.watch_p95_ratio)
            && p_lat < cfg.watch_alpha;
        if !(err_fail || lat_fail) {
            return None;
        }
        if blame.reverted {
            // The most recent change is already being reverted; its effect has
            // to clear before this change can be blamed.
            return None;
        }
        let mv = |name: &str,
                  fail: bool,
                  effect: f64,
                  p: f64,
                  bn: u64,
                  cn: u64,
                  bv: f64,
                  cv: f64,
                  reason: String| MetricVerdict {
            name: name.into(),
            result: if fail {
                MetricResult::Fail
            } else {
                MetricResult::Pass
            },
            effect_size: effect,
            p_value: p,
            alpha_used: cfg.watch_alpha,
            baseline_n: bn,
            canary_n: cn,
            baseline_value: bv,
            canary_value: cv,
            reason,
        };
        let metrics = vec![
            mv(
                "watch_error_rate",
                err_fail,
                t.p_b - t.p_a,
                p_err,
                pre.requests,
                pool.requests,
                t.p_a,
                t.p_b,
                format!(
                    "{:+.2} pp vs pre-deploy (limit {:.1} pp)",
                    (t.p_b - t.p_a) * 100.0,
                    cfg.watch_error_pp * 100.0
                ),
            ),
            mv(
                "watch_latency_p95",
                lat_fail,
                cur_p95 - pre_p95,
                p_lat,
                pre.latency.len(),
                pool.latency.len(),
                pre_p95,
                cur_p95,
                format!(
                    "p95 {cur_p95:.2} ms vs pre-deploy {pre_p95:.2} ms (limit +{:.0}%)",
                    cfg.watch_p95_ratio * 100.0
                ),
            ),
        ];
        r.phase = Phase::Done;
        finished.insert(blame.change_id.clone());
        let decision = Self::decision_for(blame.kind);
        let what = if blame.change_id == ev.change_id {
            "this change".to_string()
        } else {
            format!("most recent change {}", blame.change_id)
        };
        Some(make(
            decision,
            format!(
                "watch after promotion of {}: regression vs pre-deploy baseline; reverting {what}",
                ev.change_id
            ),
            metrics,
        ))
    }
}
