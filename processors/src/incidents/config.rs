//! `[processors.incidents]`: alert lifecycle, silences, inhibition and
//! correlation settings, in the units operators write (`"5m"`, service
//! names), mapped onto the domain crates' configurations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tocsin_alerting::LifecycleConfig;
use tocsin_incidents::{CorrelatorConfig, Severity as IncidentSeverity, TopologyConfig};

/// Configuration of the incidents processor.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// Whether alerts are correlated into incidents.
    pub enabled: bool,
    /// Fingerprints, dedup, flap damping, `min_occurrences`, `for_duration`,
    /// `resolve_timeout` (`[processors.incidents.lifecycle]`).
    pub lifecycle: LifecycleConfig,
    /// Alerts whose first firing lies within this of an incident's latest
    /// activity may join it.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How far before an incident a change may lie to be suspected.
    #[serde(with = "humantime_serde")]
    pub change_lookback: Duration,
    /// How long an incident stays open after its last alert resolved.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// How long a new incident collects alerts before it is announced.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// Least time between two updates of one incident.
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// Service dependencies: `calls = [["frontend", "checkout"], …]`
    /// (caller, callee) and `user_facing = ["frontend"]`.
    pub topology: TopologyConfig,
    /// Labels that make an alert critical whatever its severity
    /// (`{ tier = "payment" }`).
    pub critical_labels: BTreeMap<String, String>,
    /// Incidents below this severity (`P1` worst … `P4`) are tracked but
    /// not announced.
    pub notify_min_severity: String,
    /// An Alertmanager configuration file whose `inhibit_rules` apply
    /// (its route tree is used by `tocsin replay --alertmanager`).
    pub alertmanager_config: Option<PathBuf>,
    /// Where silences live (set to `<data_dir>/silences.json` by `tocsin run`);
    /// re-read whenever it changes.
    pub silences_file: Option<PathBuf>,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        let c = CorrelatorConfig::default();
        let ns = |v: i64| Duration::from_nanos(u64::try_from(v).unwrap_or(0));
        IncidentsConfig {
            enabled: true,
            lifecycle: LifecycleConfig::default(),
            window: ns(c.window_ns),
            change_lookback: ns(c.change_lookback_ns),
            cooldown: ns(c.cooldown_ns),
            group_wait: ns(c.group_wait_ns),
            group_interval: ns(c.group_interval_ns),
            topology: c.topology.clone(),
            critical_labels: c.critical_labels.clone(),
            notify_min_severity: c.notify_min_severity.as_str().to_owned(),
            alertmanager_config: None,
            silences_file: None,
        }
    }
}

fn parse_severity(s: &str) -> Result<IncidentSeverity, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        "P1" => Ok(IncidentSeverity::P1),
        "P2" => Ok(IncidentSeverity::P2),
        "P3" => Ok(IncidentSeverity::P3),
        "P4" => Ok(IncidentSeverity::P4),
        other => Err(format!(
            "notify_min_severity `{other}` is not one of P1, P2, P3, P4"
        )),
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl IncidentsConfig {
    /// Checks the values; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        parse_severity(&self.notify_min_severity)?;
        if self.window.is_zero() {
            return Err("window must be above zero".into());
        }
        for (caller, callee) in &self.topology.calls {
            if caller.is_empty() || callee.is_empty() {
                return Err("topology.calls holds an empty service name".into());
            }
        }
        Ok(())
    }

    /// The correlator's configuration.
    pub fn correlator(&self) -> Result<CorrelatorConfig, String> {
        Ok(CorrelatorConfig {
            window_ns: nanos(self.window),
            change_lookback_ns: nanos(self.change_lookback),
            cooldown_ns: nanos(self.cooldown),
            group_wait_ns: nanos(self.group_wait),
            group_interval_ns: nanos(self.group_interval),
            topology: self.topology.clone(),
            user_facing: self.topology.user_facing.clone(),
            critical_labels: self.critical_labels.clone(),
            notify_min_severity: parse_severity(&self.notify_min_severity)?,
            ..CorrelatorConfig::default()
        })
    }
}
