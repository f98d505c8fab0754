//! Derived incident fields: severity, root-cause ranking, suspected change,
//! title.

use std::collections::{BTreeSet, VecDeque};

use crate::config::CorrelatorConfig;
use crate::topology::Topology;
use crate::types::{ChangeEvent, RankedService, Severity};

use super::state::IncState;

/// Severity from impact. Never lowers a severity already reached, so an
/// incident does not flap between priorities.
pub(crate) fn severity(
    inc: &IncState,
    cfg: &CorrelatorConfig,
    topo: &Topology,
    extra_user_facing: &BTreeSet<String>,
) -> Severity {
    let is_uf = |s: &str| topo.is_user_facing(s) || extra_user_facing.contains(s);
    let worst = inc.services.iter().map(|s| s.rank).min().unwrap_or(3);
    let uf_worst = inc
        .services
        .iter()
        .filter(|s| is_uf(&s.name))
        .map(|s| s.rank)
        .min();
    let n = inc.services.len();
    let wide = n >= cfg.widespread_services;
    let uf_failing = uf_worst.is_some_and(|r| r <= 1);
    let new = if worst == 0 {
        if uf_failing || wide {
            Severity::P1
        } else {
            Severity::P2
        }
    } else if inc.has_critical_label || (worst == 1 && uf_failing) {
        Severity::P2
    } else if worst == 1 || wide {
        Severity::P3
    } else {
        Severity::P4
    };
    new.min(inc.severity)
}

/// Ranks implicated services: one none of whose (transitive) dependencies
/// fail is upstream-most and first; then more failing dependants, earlier
/// first alert and a recent change raise the score.
pub(crate) fn rank_root_cause(
    inc: &IncState,
    topo: &Topology,
    changes: &VecDeque<ChangeEvent>,
    cfg: &CorrelatorConfig,
) -> Vec<RankedService> {
    let n = inc.services.len();
    let ids: Vec<Option<u32>> = inc.services.iter().map(|s| topo.id(&s.name)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (inc.services[i].first_ts_ns, i));
    let mut first_rank = vec![0usize; n];
    for (r, &i) in order.iter().enumerate() {
        first_rank[i] = r;
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut deps = 0usize;
        let mut dependants = 0usize;
        if let Some(a) = ids[i] {
            for (j, other) in ids.iter().enumerate() {
                if i == j {
                    continue;
                }
                if let Some(b) = *other {
                    if topo.depends_on(a, b) {
                        deps += 1;
                    }
                    if topo.depends_on(b, a) {
                        dependants += 1;
                    }
                }
            }
        }
        let svc = &inc.services[i];
        let recent_change = changes.iter().rev().find(|c| {
            c.service == svc.name
                && c.ts_ns <= svc.first_ts_ns
                && c.ts_ns >= svc.first_ts_ns - cfg.change_lookback_ns
                && !cfg.ignored_change_kinds.contains(&c.kind)
        });
        let frac_dependants = if n > 1 {
            dependants as f64 / (n - 1) as f64
        } else {
            0.0
        };
        let earliness = if n > 1 {
            1.0 - first_rank[i] as f64 / (n - 1) as f64
        } else {
            1.0
        };
        let score = 0.5 * f64::from(u8::from(deps == 0))
            + 0.3 * frac_dependants
            + 0.1 * earliness
            + 0.1 * f64::from(u8::from(recent_change.is_some()));
        let mut why = Vec::new();
        if deps == 0 {
            why.push("none of its dependencies fail".to_string());
        } else {
            why.push(format!("{deps} of its dependencies fail"));
        }
        if dependants > 0 {
            why.push(format!("{dependants} failing services depend on it"));
        }
        if first_rank[i] == 0 {
            why.push("alerted first".to_string());
        }
        if let Some(c) = recent_change {
            why.push(format!(
                "{} {} {}s before its first alert",
                c.kind,
                c.id,
                (svc.first_ts_ns - c.ts_ns) / 1_000_000_000
            ));
        }
        out.push(RankedService {
            service: svc.name.clone(),
            score: (score * 1000.0).round() / 1000.0,
            reason: why.join("; "),
        });
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.service.cmp(&b.service))
    });
    out
}

/// The change on an implicated upstream-most service (none of its
/// dependencies fail) within the look-back before that service's first alert,
/// preferring the best-ranked service, then the latest
/// change.
pub(crate) fn suspected_change(
    inc: &IncState,
    changes: &VecDeque<ChangeEvent>,
    cfg: &CorrelatorConfig,
    topo: &Topology,
) -> Option<ChangeEvent> {
    let mut best: Option<(usize, i64, &ChangeEvent)> = None;
    for c in changes {
        if cfg.ignored_change_kinds.contains(&c.kind) {
            continue;
        }
        let Some(svc) = inc.services.iter().find(|s| s.name == c.service) else {
            continue;
        };
        // A change on a service whose dependencies fail too is more likely a
        // bystander: its trouble is explained upstream.
        if let Some(a) = topo.id(&c.service)
            && inc.services.iter().any(|o| {
                o.name != c.service && topo.id(&o.name).is_some_and(|b| topo.depends_on(a, b))
            })
        {
            continue;
        }
        if c.ts_ns > svc.first_ts_ns || c.ts_ns < svc.first_ts_ns - cfg.change_lookback_ns {
            continue;
        }
        let rank = inc
            .root_cause
            .iter()
            .position(|r| r.service == c.service)
            .unwrap_or(usize::MAX);
        let better = match best {
            None => true,
            Some((br, bts, bc)) => {
                rank < br || (rank == br && (c.ts_ns > bts || (c.ts_ns == bts && c.id < bc.id)))
            }
        };
        if better {
            best = Some((rank, c.ts_ns, c));
        }
    }
    best.map(|(_, _, c)| c.clone())
}

/// `"P2 HighErrorRate on db (+3 services, user-facing: web) [deploy suspected]"`.
pub(crate) fn title(
    inc: &IncState,
    topo: &Topology,
    extra_user_facing: &BTreeSet<String>,
) -> String {
    let top = inc
        .root_cause
        .first()
        .map(|r| r.service.as_str())
        .unwrap_or("unknown");
    let alertname = inc
        .alertnames
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, _)| k.as_str())
        .unwrap_or("alert");
    let mut t = format!("{} {} on {}", inc.severity.as_str(), alertname, top);
    let mut extra = Vec::new();
    if inc.services.len() > 1 {
        extra.push(format!("+{} services", inc.services.len() - 1));
    }
    let uf: Vec<&str> = inc
        .services
        .iter()
        .filter(|s| topo.is_user_facing(&s.name) || extra_user_facing.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !uf.is_empty() {
        extra.push(format!("user-facing: {}", uf.join(", ")));
    }
    if !extra.is_empty() {
        t.push_str(&format!(" ({})", extra.join(", ")));
    }
    if let Some(c) = &inc.suspected {
        t.push_str(&format!(
            " [{} {} on {} suspected]",
            c.kind, c.version, c.service
        ));
    }
    t
}
