//! Reading an Alertmanager `alertmanager.yml` as is: route tree, receivers (names and
//! whether they send resolved notifications), inhibit rules and time intervals.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::duration::{PromDuration, parse_duration};
use crate::error::ConfigError;
use crate::matcher::{MatchOp, Matcher, display_matchers, parse_matchers};
use crate::timeinterval::{NamedTimeInterval, RawTimeInterval, TimeInterval};

/// Alertmanager's default `group_wait`.
pub const DEFAULT_GROUP_WAIT: PromDuration = PromDuration(30 * 1_000_000_000);
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL: PromDuration = PromDuration(300 * 1_000_000_000);
/// Alertmanager's default `repeat_interval`.
pub const DEFAULT_REPEAT_INTERVAL: PromDuration = PromDuration(4 * 3600 * 1_000_000_000);

/// How alerts of a route are grouped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every distinct label set is its own group.
    All,
    /// Group by these label names (empty = one group for the route).
    Labels(Vec<String>),
}

/// Notification timings of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteTimings {
    /// Wait before the first notification of a new group.
    pub group_wait: PromDuration,
    /// Wait between notifications about changes of a group.
    pub group_interval: PromDuration,
    /// Wait before re-sending an unchanged group.
    pub repeat_interval: PromDuration,
}

/// A compiled route node with inherited settings resolved.
#[derive(Clone, Debug)]
pub struct Route {
    /// Stable id: Alertmanager-style path of matcher sets plus sibling index.
    pub id: String,
    /// Receiver name.
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// Matchers an alert must satisfy to enter this route (not inherited).
    pub matchers: Vec<Matcher>,
    /// Keep matching siblings after this route matched.
    pub continue_matching: bool,
    /// Timings (inherited from the parent when unset).
    pub timings: RouteTimings,
    /// Names of time intervals during which notifications are muted.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which notifications are muted (empty = always active).
    pub active_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    pub routes: Vec<Route>,
}

/// A receiver; its integration settings are not interpreted beyond `send_resolved`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receiver {
    /// Name referenced by routes.
    pub name: String,
    /// Number of integration configs (`*_configs` entries); 0 = a null receiver.
    pub integrations: usize,
    /// Whether any integration sends resolved notifications (per-integration defaults as in Alertmanager).
    pub send_resolved: bool,
}

/// An inhibition rule: firing alerts matching `source` mute alerts matching `target`
/// when the `equal` labels have the same values on both.
#[derive(Clone, Debug)]
pub struct InhibitRule {
    /// Matchers for the inhibiting alert.
    pub source: Vec<Matcher>,
    /// Matchers for the inhibited alert.
    pub target: Vec<Matcher>,
    /// Labels whose values must be equal (absent = empty on both sides counts as equal).
    pub equal: Vec<String>,
}

/// A parsed and validated Alertmanager configuration.
#[derive(Clone, Debug)]
pub struct AlertmanagerConfig {
    /// Root of the route tree.
    pub route: Route,
    /// Receivers by name.
    pub receivers: BTreeMap<String, Receiver>,
    /// Inhibition rules in file order.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Time intervals by name (`time_intervals` and legacy `mute_time_intervals`).
    pub time_intervals: BTreeMap<String, NamedTimeInterval>,
    /// `global.resolve_timeout` if set (the only `global` field that affects alert handling).
    pub resolve_timeout: Option<PromDuration>,
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    global: Option<RawGlobal>,
    route: Option<RawRoute>,
    #[serde(default)]
    receivers: Vec<yaml_serde::Value>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibit>,
    #[serde(default)]
    time_intervals: Vec<RawNamedInterval>,
    #[serde(default)]
    mute_time_intervals: Vec<RawNamedInterval>,
}

#[derive(Debug, Default, Deserialize)]
struct RawGlobal {
    resolve_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawNamedInterval {
    name: String,
    #[serde(default)]
    time_intervals: Vec<RawTimeInterval>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRoute {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    continue_matching: bool,
    #[serde(default, rename = "match")]
    match_eq: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default)]
    matchers: Vec<String>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    mute_time_intervals: Vec<String>,
    #[serde(default)]
    active_time_intervals: Vec<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
struct RawInhibit {
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

fn compile_matchers(
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    strs: &[String],
) -> Result<Vec<Matcher>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in eq {
        out.push(Matcher::new(k, MatchOp::Equal, v)?);
    }
    for (k, v) in re {
        out.push(Matcher::new(k, MatchOp::Regex, v)?);
    }
    for s in strs {
        out.extend(parse_matchers(s)?);
    }
    Ok(out)
}

fn opt_dur(s: &Option<String>, parent: PromDuration) -> Result<PromDuration, ConfigError> {
    s.as_deref().map_or(Ok(parent), parse_duration)
}

/// Alertmanager integrations that default to `send_resolved: false`.
const NO_RESOLVED_BY_DEFAULT: [&str; 3] = ["email_configs", "slack_configs", "wechat_configs"];

fn receiver_from_value(v: &yaml_serde::Value) -> Result<Receiver, ConfigError> {
    let map = v
        .as_mapping()
        .ok_or_else(|| ConfigError::Invalid("receiver is not a mapping".into()))?;
    let name = map
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| ConfigError::Invalid("receiver without name".into()))?
        .to_string();
    let mut integrations = 0;
    let mut send_resolved = false;
    for (k, val) in map {
        let Some(key) = k.as_str() else { continue };
        if !key.ends_with("_configs") {
            continue;
        }
        let default = !NO_RESOLVED_BY_DEFAULT.contains(&key);
        for item in val.as_sequence().map(Vec::as_slice).unwrap_or(&[]) {
            integrations += 1;
            let sr = item
                .get("send_resolved")
                .and_then(yaml_serde::Value::as_bool)
                .unwrap_or(default);
            send_resolved |= sr;
        }
    }
    Ok(Receiver {
        name,
        integrations,
        send_resolved,
    })
}

struct Parent<'a> {
    key: String,
    receiver: &'a str,
    group_by: &'a GroupBy,
    timings: RouteTimings,
}

fn compile_route(
    raw: &RawRoute,
    parent: &Parent<'_>,
    idx: Option<usize>,
) -> Result<Route, ConfigError> {
    let matchers = compile_matchers(&raw.match_eq, &raw.match_re, &raw.matchers)?;
    let receiver = raw
        .receiver
        .as_deref()
        .unwrap_or(parent.receiver)
        .to_string();
    let group_by = match &raw.group_by {
        None => parent.group_by.clone(),
        Some(v) if v.iter().any(|l| l == "...") => {
            if v.len() != 1 {
                return Err(ConfigError::Invalid(
                    "group_by '...' must be the only element".into(),
                ));
            }
            GroupBy::All
        }
        Some(v) => {
            let set: BTreeSet<&String> = v.iter().collect();
            if set.len() != v.len() {
                return Err(ConfigError::Invalid(format!(
                    "duplicate label in group_by {v:?}"
                )));
            }
            GroupBy::Labels(v.clone())
        }
    };
    let timings = RouteTimings {
        group_wait: opt_dur(&raw.group_wait, parent.timings.group_wait)?,
        group_interval: opt_dur(&raw.group_interval, parent.timings.group_interval)?,
        repeat_interval: opt_dur(&raw.repeat_interval, parent.timings.repeat_interval)?,
    };
    if timings.group_interval.0 <= 0 || timings.repeat_interval.0 <= 0 {
        return Err(ConfigError::Invalid(
            "group_interval and repeat_interval must be positive".into(),
        ));
    }
    let key = if parent.key.is_empty() {
        display_matchers(&matchers)
    } else {
        format!("{}/{}", parent.key, display_matchers(&matchers))
    };
    let id = match idx {
        None => key.clone(),
        Some(i) => format!("{key}/{i}"),
    };
    // Alertmanager builds child ids from the parent's id (which includes its index).
    let me = Parent {
        key: id.clone(),
        receiver: &receiver,
        group_by: &group_by,
        timings,
    };
    let routes = raw
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| compile_route(r, &me, Some(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Route {
        id,
        receiver,
        group_by,
        matchers,
        continue_matching: raw.continue_matching,
        timings,
        mute_time_intervals: raw.mute_time_intervals.clone(),
        active_time_intervals: raw.active_time_intervals.clone(),
        routes,
    })
}

fn check_route_refs(
    r: &Route,
    receivers: &BTreeMap<String, Receiver>,
    intervals: &BTreeMap<String, NamedTimeInterval>,
) -> Result<(), ConfigError> {
    if !receivers.contains_key(&r.receiver) {
        return Err(ConfigError::Invalid(format!(
            "undefined receiver {:?}",
            r.receiver
        )));
    }
    for n in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !intervals.contains_key(n) {
            return Err(ConfigError::Invalid(format!(
                "undefined time interval {n:?}"
            )));
        }
    }
    r.routes
        .iter()
        .try_for_each(|c| check_route_refs(c, receivers, intervals))
}

impl AlertmanagerConfig {
    /// Parses and validates an alertmanager.yml. Receiver integration settings,
    /// `templates` and `global` (except `resolve_timeout`) are accepted and ignored.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            yaml_serde::from_str(yaml).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        let mut receivers = BTreeMap::new();
        for v in &raw.receivers {
            let r = receiver_from_value(v)?;
            if receivers.insert(r.name.clone(), r).is_some() {
                return Err(ConfigError::Invalid("duplicate receiver name".into()));
            }
        }
        let mut time_intervals = BTreeMap::new();
        for ni in raw
            .time_intervals
            .into_iter()
            .chain(raw.mute_time_intervals)
        {
            let tis = ni
                .time_intervals
                .into_iter()
                .map(TimeInterval::from_raw)
                .collect::<Result<Vec<_>, _>>()?;
            let named = NamedTimeInterval {
                name: ni.name.clone(),
                time_intervals: tis,
            };
            if time_intervals.insert(ni.name.clone(), named).is_some() {
                return Err(ConfigError::Invalid(format!(
                    "duplicate time interval {:?}",
                    ni.name
                )));
            }
        }
        let raw_root = raw
            .route
            .ok_or_else(|| ConfigError::Invalid("no route provided".into()))?;
        let root_receiver = raw_root
            .receiver
            .as_deref()
            .ok_or_else(|| ConfigError::Invalid("root route must specify a receiver".into()))?;
        if !raw_root.matchers.is_empty()
            || !raw_root.match_eq.is_empty()
            || !raw_root.match_re.is_empty()
        {
            return Err(ConfigError::Invalid(
                "root route must not have matchers".into(),
            ));
        }
        if !raw_root.mute_time_intervals.is_empty() || !raw_root.active_time_intervals.is_empty() {
            return Err(ConfigError::Invalid(
                "root route must not have time intervals".into(),
            ));
        }
        let top = Parent {
            key: String::new(),
            receiver: root_receiver,
            group_by: &GroupBy::Labels(Vec::new()),
            timings: RouteTimings {
                group_wait: DEFAULT_GROUP_WAIT,
                group_interval: DEFAULT_GROUP_INTERVAL,
                repeat_interval: DEFAULT_REPEAT_INTERVAL,
            },
        };
        let route = compile_route(&raw_root, &top, None)?;
        check_route_refs(&route, &receivers, &time_intervals)?;
        let inhibit_rules = raw
            .inhibit_rules
            .iter()
            .map(|r| {
                Ok(InhibitRule {
                    source: compile_matchers(
                        &r.source_match,
                        &r.source_match_re,
                        &r.source_matchers,
                    )?,
                    target: compile_matchers(
                        &r.target_match,
                        &r.target_match_re,
                        &r.target_matchers,
                    )?,
                    equal: r.equal.clone(),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let resolve_timeout = raw
            .global
            .and_then(|g| g.resolve_timeout)
            .map(|s| parse_duration(&s))
            .transpose()?;
        Ok(Self {
            route,
            receivers,
            inhibit_rules,
            time_intervals,
            resolve_timeout,
        })
    }
}

#[cfg(test)]
mod tests;
