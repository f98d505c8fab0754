//! `[processors.rollout]`: how requests are read from access logs, how long
//! each comparison runs, which saturation gauges count, and the SLOs.

use std::time::Duration;

use serde::Deserialize;
use tocsin_judge::slo::SloConfig;
use tocsin_judge::{JudgeConfig, MetricSpec, Slo, SloKind};

/// One service-level objective.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// The service.
    pub service: String,
    /// Target share of good requests, e.g. 0.999.
    pub objective: f64,
    /// With a threshold, a good request is also faster than this; without,
    /// the objective is availability.
    #[serde(default)]
    pub latency_threshold_ms: Option<f64>,
}

/// Configuration of the rollout processor.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {
    /// Whether deploys are judged and SLOs tracked.
    pub enabled: bool,
    /// Length of one comparison window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Windows a comparison runs before its final verdict.
    pub windows: u32,
    /// How long a promoted release stays watched against its pre-deploy baseline.
    #[serde(with = "humantime_serde")]
    pub watch: Duration,
    /// Traffic share of a canary whose change event does not say.
    pub default_canary_weight: f64,
    /// Log attributes holding a request's duration in milliseconds; a log
    /// line with one of them is a request.
    pub latency_attributes: Vec<String>,
    /// Log attributes holding the HTTP status (≥ 500 is an error); without
    /// one, an `error`/`fatal` level is.
    pub status_attributes: Vec<String>,
    /// Gauges compared between versions (CPU, memory, queue depth).
    pub saturation_metrics: Vec<String>,
    /// Compare log patterns too (new or surging templates in the new version).
    pub log_patterns: bool,
    /// Objectives with multi-window, multi-burn-rate alerts.
    pub slos: Vec<SloSpec>,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        let j = JudgeConfig::default();
        let ns = |v: i64| Duration::from_nanos(u64::try_from(v).unwrap_or(0));
        RolloutConfig {
            enabled: true,
            window: ns(j.window_ns),
            windows: j.num_windows,
            watch: ns(j.watch_ns),
            default_canary_weight: 0.1,
            latency_attributes: [
                "duration_ms",
                "latency_ms",
                "http.duration_ms",
                "request_time_ms",
            ]
            .map(String::from)
            .to_vec(),
            status_attributes: [
                "status",
                "status_code",
                "http.status_code",
                "http.response.status_code",
            ]
            .map(String::from)
            .to_vec(),
            saturation_metrics: Vec::new(),
            log_patterns: false,
            slos: Vec::new(),
        }
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl RolloutConfig {
    /// The judge's configuration.
    pub fn judge(&self) -> Result<JudgeConfig, String> {
        if self.window.is_zero() || self.windows == 0 {
            return Err("window and windows must be above zero".into());
        }
        if !(0.0..=1.0).contains(&self.default_canary_weight) {
            return Err("default_canary_weight must be within 0..=1".into());
        }
        let mut metrics = vec![MetricSpec::error_rate(), MetricSpec::latency()];
        metrics.extend(
            self.saturation_metrics
                .iter()
                .map(|m| MetricSpec::saturation(m)),
        );
        if self.log_patterns {
            metrics.push(MetricSpec::log_patterns());
        }
        Ok(JudgeConfig {
            window_ns: nanos(self.window),
            num_windows: self.windows,
            watch_ns: nanos(self.watch),
            metrics,
            ..JudgeConfig::default()
        })
    }

    /// The SLO tracker's configuration, when any SLO is set.
    pub fn slo(&self) -> Result<Option<SloConfig>, String> {
        if self.slos.is_empty() {
            return Ok(None);
        }
        let mut slos = Vec::new();
        for s in &self.slos {
            if !(s.objective > 0.0 && s.objective < 1.0) {
                return Err(format!(
                    "slos: objective of {} must be within (0, 1)",
                    s.service
                ));
            }
            let (kind, name) = match s.latency_threshold_ms {
                Some(t) => (
                    SloKind::Latency { threshold_ms: t },
                    format!("{}-latency-{t}ms", s.service),
                ),
                None => (SloKind::Availability, format!("{}-availability", s.service)),
            };
            slos.push(Slo {
                name,
                service: s.service.clone(),
                objective: s.objective,
                kind,
            });
        }
        Ok(Some(SloConfig::new(slos)))
    }

    /// Checks the values; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        self.judge()?;
        self.slo()?;
        Ok(())
    }
}
