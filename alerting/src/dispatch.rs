//! Aggregation groups and notification flushing with Alertmanager semantics:
//! first flush after `group_wait`, then a flush every `group_interval` that notifies
//! only when the set of firing (or, with `send_resolved`, resolved) alerts changed, or
//! when `repeat_interval` passed since the last notification. Inhibited, silenced and
//! time-muted alerts are filtered at flush time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::{AlertmanagerConfig, GroupBy};
use crate::event::{AlertEvent, AlertStatus};
use crate::inhibit::{InhibitIndex, Inhibitor};
use crate::lifecycle::{Transition, TransitionState, fingerprint_hex, fingerprint_of};
use crate::matcher::Labels;
use crate::router::Router;
use crate::silence::Silences;

/// How long a notification log entry is kept (Alertmanager's `--data.retention` default, 120h).
pub const NFLOG_RETENTION_NS: i64 = 120 * 3600 * 1_000_000_000;

/// Annotation added to alerts that the lifecycle reported as flapping.
pub const FLAPPING_ANNOTATION: &str = "tocsin_flapping";

/// One alert inside a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    /// 16 hex digits.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Episode start.
    pub starts_at_ns: i64,
}

/// A notification to one receiver about one aggregation group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Event time of the flush.
    pub ts_ns: i64,
    /// Receiver name.
    pub receiver: String,
    /// Route id.
    pub route_id: String,
    /// `route_id:{group labels}`, unique per group.
    pub group_key: String,
    /// The group's label values.
    pub group_labels: Labels,
    /// Alerts, ordered by fingerprint.
    pub alerts: Vec<NotifiedAlert>,
    /// Number of firing alerts.
    pub firing: usize,
    /// Number of resolved alerts.
    pub resolved: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct GroupAlert {
    labels: Labels,
    annotations: Labels,
    starts_at: i64,
    firing: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct NotifyLog {
    ts: i64,
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct AggGroup {
    id: u64,
    key: String,
    route_index: usize,
    group_labels: Labels,
    alerts: BTreeMap<u64, GroupAlert>,
    next_flush: i64,
    has_flushed: bool,
}

/// Serialisable dispatcher state (groups, notification log, firing set, silences).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DispatcherSnapshot {
    groups: Vec<AggGroup>,
    nflog: BTreeMap<String, NotifyLog>,
    firing: BTreeMap<u64, Labels>,
    next_id: u64,
    /// Silences in force (also persisted on their own by the integrator).
    pub silences: Silences,
}

/// Routes alerts into aggregation groups and produces notifications.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    cfg: AlertmanagerConfig,
    router: Router,
    inhibitor: Inhibitor,
    silences: Silences,
    groups: HashMap<u64, AggGroup>,
    by_key: HashMap<String, u64>,
    timers: BinaryHeap<Reverse<(i64, u64)>>,
    next_id: u64,
    nflog: HashMap<String, NotifyLog>,
    firing: HashMap<u64, Labels>,
    inhibit_index: InhibitIndex,
    member_of: HashMap<u64, Vec<u64>>,
    route_buf: Vec<usize>,
}

fn group_labels_of(gb: &GroupBy, labels: &Labels) -> Labels {
    match gb {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get_key_value(n))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn display_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

impl Dispatcher {
    /// A dispatcher with no alerts and no silences.
    pub fn new(cfg: AlertmanagerConfig) -> Self {
        let router = Router::new(&cfg.route);
        let inhibitor = Inhibitor::new(cfg.inhibit_rules.clone());
        let inhibit_index = inhibitor.empty_index();
        Self {
            cfg,
            router,
            inhibitor,
            silences: Silences::new(),
            groups: HashMap::new(),
            by_key: HashMap::new(),
            timers: BinaryHeap::new(),
            next_id: 0,
            nflog: HashMap::new(),
            firing: HashMap::new(),
            inhibit_index,
            member_of: HashMap::new(),
            route_buf: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AlertmanagerConfig {
        &self.cfg
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The silence store.
    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    /// The silence store, for create/expire.
    pub fn silences_mut(&mut self) -> &mut Silences {
        &mut self.silences
    }

    /// Replaces the silence store (e.g. after loading it from disk).
    pub fn set_silences(&mut self, s: Silences) {
        self.silences = s;
    }

    /// Number of live aggregation groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Earliest scheduled flush (may be stale).
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse((d, _))| *d)
    }

    /// Feeds a lifecycle transition received at `now_ns`. `Flapping` counts as firing,
    /// marked with the [`FLAPPING_ANNOTATION`] annotation.
    pub fn ingest(&mut self, tr: &Transition, now_ns: i64) {
        let fp = u64::from_str_radix(&tr.fingerprint, 16)
            .unwrap_or_else(|_| fingerprint_of(tr.labels.iter()));
        let firing = tr.state != TransitionState::Resolved;
        let mut annotations = tr.annotations.clone();
        if tr.state == TransitionState::Flapping {
            annotations.insert(FLAPPING_ANNOTATION.into(), "true".into());
        }
        self.upsert(fp, &tr.labels, annotations, tr.starts_at_ns, firing, now_ns);
    }

    /// Feeds a raw alert without a lifecycle (identity = all labels, no resolve timeout).
    pub fn ingest_event(&mut self, ev: &AlertEvent, now_ns: i64) {
        let fp = fingerprint_of(ev.labels.iter());
        let firing = ev.status == AlertStatus::Firing && ev.ends_at_ns.is_none_or(|e| e > now_ns);
        self.upsert(
            fp,
            &ev.labels,
            ev.annotations.clone(),
            ev.starts_at_ns.unwrap_or(ev.ts_ns),
            firing,
            now_ns,
        );
    }

    fn upsert(
        &mut self,
        fp: u64,
        labels: &Labels,
        annotations: Labels,
        starts_at: i64,
        firing: bool,
        now: i64,
    ) {
        let old = if firing {
            self.firing.insert(fp, labels.clone())
        } else {
            self.firing.remove(&fp)
        };
        if let Some(old) = &old {
            self.inhibitor
                .index_remove(&mut self.inhibit_index, fp, old);
        }
        if firing {
            self.inhibitor
                .index_add(&mut self.inhibit_index, fp, labels);
        }
        let prev = self.member_of.remove(&fp).unwrap_or_default();
        if !firing {
            // Resolve wherever the alert is, even if its labels (and so its routing)
            // changed since it fired; a resolve for an unknown alert has nothing to report.
            for gid in &prev {
                if let Some(a) = self.groups.get_mut(gid).and_then(|g| g.alerts.get_mut(&fp)) {
                    a.firing = false;
                    a.labels.clone_from(labels);
                    a.annotations.clone_from(&annotations);
                }
            }
            if !prev.is_empty() {
                self.member_of.insert(fp, prev);
            }
            return;
        }
        let mut routes = std::mem::take(&mut self.route_buf);
        routes.clear();
        self.router.route_indices(labels, &mut routes);
        let mut member = Vec::with_capacity(routes.len());
        for &ri in &routes {
            let Some(route) = self.router.route_at(ri) else {
                continue;
            };
            let gl = group_labels_of(&route.group_by, labels);
            let key = format!("{}:{}", route.id, display_labels(&gl));
            let gid = match self.by_key.get(&key) {
                Some(g) => *g,
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let mut next_flush = now.saturating_add(route.timings.group_wait.0);
                    // Alertmanager flushes at once if the alert is older than group_wait.
                    if starts_at.saturating_add(route.timings.group_wait.0) < now {
                        next_flush = now;
                    }
                    self.groups.insert(
                        id,
                        AggGroup {
                            id,
                            key: key.clone(),
                            route_index: ri,
                            group_labels: gl,
                            alerts: BTreeMap::new(),
                            next_flush,
                            has_flushed: false,
                        },
                    );
                    self.by_key.insert(key, id);
                    self.timers.push(Reverse((next_flush, id)));
                    id
                }
            };
            if let Some(g) = self.groups.get_mut(&gid) {
                if !g.has_flushed
                    && g.next_flush > now
                    && starts_at.saturating_add(route.timings.group_wait.0) < now
                {
                    g.next_flush = now;
                    self.timers.push(Reverse((now, gid)));
                }
                g.alerts.insert(
                    fp,
                    GroupAlert {
                        labels: labels.clone(),
                        annotations: annotations.clone(),
                        starts_at,
                        firing: true,
                    },
                );
                member.push(gid);
            }
        }
        // Groups the alert left because its labels changed see it as resolved.
        for gid in prev {
            if member.contains(&gid) {
                continue;
            }
            if let Some(a) = self
                .groups
                .get_mut(&gid)
                .and_then(|g| g.alerts.get_mut(&fp))
            {
                a.firing = false;
                member.push(gid);
            }
        }
        if !member.is_empty() {
            self.member_of.insert(fp, member);
        }
        self.route_buf = routes;
    }

    /// Runs every flush due at or before `now_ns`, in time order.
    pub fn advance(&mut self, now_ns: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        while let Some(Reverse((t, gid))) = self.timers.peek().copied() {
            if t > now_ns {
                break;
            }
            self.timers.pop();
            // Bound the log: drop expired entries once it outgrows the live groups.
            if self.nflog.len() > 2 * self.groups.len() + 1024 {
                let cutoff = t.saturating_sub(NFLOG_RETENTION_NS);
                self.nflog.retain(|_, l| l.ts >= cutoff);
            }
            let Some(mut g) = self.groups.remove(&gid) else {
                continue;
            };
            if g.next_flush != t {
                self.groups.insert(gid, g);
                continue;
            }
            if let Some(n) = self.flush(&mut g, t) {
                out.push(n);
            }
            // Resolved alerts are dropped once a flush has seen them.
            let member_of = &mut self.member_of;
            g.alerts.retain(|fp, a| {
                if !a.firing
                    && let Some(m) = member_of.get_mut(fp)
                {
                    m.retain(|x| *x != gid);
                    if m.is_empty() {
                        member_of.remove(fp);
                    }
                }
                a.firing
            });
            if g.alerts.is_empty() {
                self.by_key.remove(&g.key);
            } else {
                let gi = self
                    .router
                    .route_at(g.route_index)
                    .map_or(1, |r| r.timings.group_interval.0.max(1));
                g.next_flush = t.saturating_add(gi);
                self.timers.push(Reverse((g.next_flush, gid)));
                self.groups.insert(gid, g);
            }
        }
        out
    }

    fn interval_hit(&self, names: &[String], t: i64) -> bool {
        names.iter().any(|n| {
            self.cfg
                .time_intervals
                .get(n)
                .is_some_and(|ti| ti.contains(t))
        })
    }

    fn flush(&mut self, g: &mut AggGroup, t: i64) -> Option<Notification> {
        g.has_flushed = true;
        let route = self.router.route_at(g.route_index)?.clone();
        if self.interval_hit(&route.mute_time_intervals, t) {
            return None;
        }
        if !route.active_time_intervals.is_empty()
            && !self.interval_hit(&route.active_time_intervals, t)
        {
            return None;
        }
        let idx = &self.inhibit_index;
        let mut kept: Vec<(u64, &GroupAlert)> = Vec::new();
        for (fp, a) in &g.alerts {
            if self.inhibitor.is_inhibited_indexed(idx, *fp, &a.labels)
                || self.silences.is_silenced(&a.labels, t).is_some()
            {
                continue;
            }
            kept.push((*fp, a));
        }
        // Alertmanager's pipeline stops when every alert is muted: nothing is sent and
        // the notification log keeps its previous entry.
        if kept.is_empty() {
            return None;
        }
        let firing: BTreeSet<u64> = kept
            .iter()
            .filter(|(_, a)| a.firing)
            .map(|(f, _)| *f)
            .collect();
        let resolved: BTreeSet<u64> = kept
            .iter()
            .filter(|(_, a)| !a.firing)
            .map(|(f, _)| *f)
            .collect();
        let send_resolved = self
            .cfg
            .receivers
            .get(&route.receiver)
            .is_none_or(|r| r.send_resolved);
        // Like Alertmanager's notification log, the last notification of a group key
        // outlives the group (until NFLOG_RETENTION), so a recreated group is deduplicated
        // against it.
        let log = self
            .nflog
            .get(&g.key)
            .filter(|l| l.ts >= t.saturating_sub(NFLOG_RETENTION_NS));
        let needs = match log {
            None => !firing.is_empty(),
            Some(log) => {
                if !firing.is_subset(&log.firing) {
                    true
                } else if firing.is_empty() {
                    !log.firing.is_empty()
                } else if send_resolved && !resolved.is_subset(&log.resolved) {
                    true
                } else {
                    log.ts < t.saturating_sub(route.timings.repeat_interval.0)
                }
            }
        };
        if !needs {
            return None;
        }
        let alerts: Vec<NotifiedAlert> = kept
            .iter()
            .filter(|(_, a)| a.firing || send_resolved)
            .map(|(fp, a)| NotifiedAlert {
                fingerprint: fingerprint_hex(*fp),
                status: if a.firing {
                    AlertStatus::Firing
                } else {
                    AlertStatus::Resolved
                },
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at_ns: a.starts_at,
            })
            .collect();
        self.nflog.insert(
            g.key.clone(),
            NotifyLog {
                ts: t,
                firing,
                resolved,
            },
        );
        if alerts.is_empty() {
            return None;
        }
        let n_firing = alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
            .count();
        Some(Notification {
            ts_ns: t,
            receiver: route.receiver.clone(),
            route_id: route.id.clone(),
            group_key: g.key.clone(),
            group_labels: g.group_labels.clone(),
            firing: n_firing,
            resolved: alerts.len() - n_firing,
            alerts,
        })
    }

    /// Serialisable state for checkpointing.
    pub fn snapshot(&self) -> DispatcherSnapshot {
        let mut groups: Vec<AggGroup> = self.groups.values().cloned().collect();
        groups.sort_by_key(|g| g.id);
        DispatcherSnapshot {
            groups,
            nflog: self
                .nflog
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            firing: self.firing.iter().map(|(k, v)| (*k, v.clone())).collect(),
            next_id: self.next_id,
            silences: self.silences.clone(),
        }
    }

    /// Rebuilds a dispatcher from a config and a snapshot taken with the same config.
    pub fn restore(cfg: AlertmanagerConfig, snap: DispatcherSnapshot) -> Self {
        let mut d = Self::new(cfg);
        d.silences = snap.silences;
        d.next_id = snap.next_id;
        d.firing = snap.firing.into_iter().collect();
        d.inhibit_index = d.inhibitor.index(d.firing.iter().map(|(k, v)| (*k, v)));
        d.nflog = snap.nflog.into_iter().collect();
        for g in snap.groups {
            // A changed config may have fewer routes; such groups cannot be flushed.
            if d.router.route_at(g.route_index).is_none() {
                continue;
            }
            d.timers.push(Reverse((g.next_flush, g.id)));
            d.by_key.insert(g.key.clone(), g.id);
            for fp in g.alerts.keys() {
                d.member_of.entry(*fp).or_default().push(g.id);
            }
            d.groups.insert(g.id, g);
        }
        d
    }
}

#[cfg(test)]
mod tests;
