//! The configuration file, environment overrides, and what they mean.
//!
//! One TOML file; every key can be overridden by an environment variable
//! `TOCSIN_<SECTION>__<KEY>` (double underscore between levels, e.g.
//! `TOCSIN_KAFKA__BROKERS=127.0.0.1:9092`, `TOCSIN_HTTP__LISTEN=...`).
//! Values are read as TOML when they parse as TOML, else as strings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tocsin_ingest::DecodeLimits;
use tocsin_ingest::kafka::KafkaConfig;
use tocsin_ingest::simulator::SimulatorConfig;
use tocsin_processors::ProcessorsConfig;
use tocsin_queries::{PostgresConfig, QueryConfig};
use tocsin_sinks::SinksConfig;

/// The quickstart configuration: embedded mode, simulator and console on.
/// `tocsin run` without `--config` uses it.
pub const QUICKSTART: &str = include_str!("../../config/quickstart.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the lake (`<data_dir>/lake`) and the checkpoint (`<data_dir>/state`) live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where the lake lives when not in `<data_dir>/lake`: instances of a
    /// scale-out group (`[kafka] scale_out`) share one.
    #[serde(default)]
    pub lake_dir: Option<PathBuf>,
    /// `[pipeline]`: batching, flushing and event time.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// `[kafka]`: when present, ingest from Kafka (distributed mode).
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// `[http]`: the HTTP listener.
    #[serde(default)]
    pub http: HttpConfig,
    /// `[simulator]`: the built-in fleet simulator.
    #[serde(default)]
    pub simulator: SimulatorConfig,
    /// `[processors]`
    #[serde(default)]
    pub processors: ProcessorsConfig,
    /// `[sinks]`
    #[serde(default)]
    pub sinks: SinksConfig,
    /// `[lake]`: retention per table.
    #[serde(default)]
    pub lake: tocsin_sinks::retention::RetentionConfig,
    /// `[query]`
    #[serde(default)]
    pub query: QueryConfig,
    /// `[postgres]`: the PostgreSQL wire-protocol listener.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// `[log]`
    #[serde(default)]
    pub log: LogConfig,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("tocsin-data")
}

/// Batching, flushing and event-time settings (`[pipeline]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// A micro-batch is sealed at this many rows...
    pub batch_max_rows: usize,
    /// ...or this many bytes...
    pub batch_max_bytes: usize,
    /// ...or when its oldest row has waited this long.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// Sealed batches are written to the lake at least this often...
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// ...or when this many rows are waiting...
    pub flush_max_rows: usize,
    /// ...or, with a decision waiting, when the last flush is this long
    /// past: decisions reach the sinks only once durable, so they must not
    /// wait for `flush_interval`.
    #[serde(with = "humantime_serde")]
    pub decision_linger: Duration,
    /// How long event time waits for out-of-order rows.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// A source partition that delivered nothing for this long stops
    /// holding event time back (the watermark follows the slowest active
    /// partition, so a backlog on one does not make the others late).
    #[serde(with = "humantime_serde")]
    pub source_idle_timeout: Duration,
    /// Event times further than this past the wall clock do not advance the
    /// watermark (a single wrong clock must not close every window).
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most labels or attributes kept per row.
    pub max_fields_per_row: usize,
    /// Longest string (message, label, attribute), in bytes.
    pub max_string_bytes: usize,
    /// Deepest nesting of flattened or rendered values.
    pub max_depth: usize,
    /// Largest size a compressed body (remote_write) may expand to.
    pub max_decompressed_bytes: usize,
    /// Rows whose event time is older than the receive time by more than
    /// this are dead-lettered (`timestamp_out_of_range`); `0s` turns the
    /// check off (for backfills). The default matches the lake's retention:
    /// older rows would be deleted at the next retention pass anyway.
    #[serde(with = "humantime_serde")]
    pub max_event_age: Duration,
    /// Rows whose event time is ahead of the receive time by more than this
    /// are dead-lettered; `0s` turns the check off.
    #[serde(with = "humantime_serde")]
    pub max_event_lead: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let limits = DecodeLimits::default();
        PipelineConfig {
            batch_max_rows: 8192,
            batch_max_bytes: 16 * 1024 * 1024,
            batch_linger: Duration::from_millis(250),
            flush_interval: Duration::from_secs(5),
            flush_max_rows: 1_000_000,
            decision_linger: Duration::from_millis(50),
            allowed_lateness: Duration::from_secs(5),
            source_idle_timeout: Duration::from_secs(10),
            max_future_skew: Duration::from_secs(300),
            max_message_bytes: limits.max_message_bytes,
            max_fields_per_row: limits.max_fields_per_row,
            max_string_bytes: limits.max_string_bytes,
            max_depth: limits.max_depth,
            max_decompressed_bytes: limits.max_decompressed_bytes,
            max_event_age: Duration::from_secs(30 * 24 * 3600),
            max_event_lead: Duration::from_secs(3600),
        }
    }
}

impl PipelineConfig {
    /// The decoder limits.
    pub fn limits(&self) -> DecodeLimits {
        let window = |d: Duration| (!d.is_zero()).then_some(d);
        DecodeLimits {
            max_message_bytes: self.max_message_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            max_fields_per_row: self.max_fields_per_row,
            max_string_bytes: self.max_string_bytes,
            max_depth: self.max_depth,
            max_past: window(self.max_event_age),
            max_future: window(self.max_event_lead),
        }
    }
}

/// The HTTP listener (`[http]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token required on `/v1/*`; required when `listen` is not loopback.
    pub auth_token: Option<String>,
    /// A file holding the bearer token (instead of `auth_token`).
    pub auth_token_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth_token: None,
            auth_token_file: None,
        }
    }
}

impl HttpConfig {
    /// The bearer token, read from `auth_token_file` when set there.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        if let Some(t) = &self.auth_token {
            return Ok(Some(t.clone()));
        }
        match &self.auth_token_file {
            Some(p) => {
                let t = std::fs::read_to_string(p)
                    .with_context(|| format!("reading http.auth_token_file {}", p.display()))?;
                Ok(Some(t.trim().to_owned()))
            }
            None => Ok(None),
        }
    }
}

/// Logging (`[log]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `tocsin=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "human".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    /// `lake_dir`, or `<data_dir>/lake`.
    pub fn lake_dir(&self) -> PathBuf {
        self.lake_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("lake"))
    }

    /// Where silences are kept.
    pub fn silences_path(&self) -> PathBuf {
        self.data_dir.join("silences.json")
    }

    /// The processors' configuration with what the data directory decides
    /// filled in (the silences file).
    pub fn processors_config(&self) -> tocsin_processors::ProcessorsConfig {
        let mut p = self.processors.clone();
        if p.incidents.silences_file.is_none() {
            p.incidents.silences_file = Some(self.silences_path());
        }
        p
    }

    /// `<data_dir>/state`
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join("state")
    }

    /// Reads `path` (or the quickstart when `None`), applies `TOCSIN_*`
    /// overrides from `env`, and validates the result.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?,
                p.display().to_string(),
            ),
            None => (
                QUICKSTART.to_owned(),
                "the built-in quickstart config".to_owned(),
            ),
        };
        Self::from_toml(&text, &origin, env)
    }

    /// Parses configuration text; errors name the line and column.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        // Parse the file on its own first: toml's errors then point at the
        // offending line of the file.
        let from_file: Config =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        let overrides: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| is_override(k)).collect();
        let config = if overrides.is_empty() {
            from_file
        } else {
            let mut doc: toml::Table =
                toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            for (key, value) in &overrides {
                apply_override(&mut doc, key, value)?;
            }
            let keys: Vec<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
            Config::deserialize(toml::Value::Table(doc)).map_err(|e| {
                anyhow::anyhow!(
                    "{origin} with environment overrides {}: {e}",
                    keys.join(", ")
                )
            })?
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: values that must agree with each other.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Err(e) = self.processors.validate() {
            bail!("{e}");
        }
        let p = &self.pipeline;
        if p.batch_max_rows == 0 || p.flush_max_rows == 0 {
            bail!("[pipeline]: batch_max_rows and flush_max_rows must be above zero");
        }
        if p.batch_max_bytes > 1024 * 1024 * 1024 {
            bail!(
                "[pipeline]: batch_max_bytes must be at most 1 GiB (Arrow string offsets are 32-bit)"
            );
        }
        if !self.http.listen.ip().is_loopback() && self.http.token()?.is_none() {
            bail!(
                "[http]: listen = \"{}\" is not a loopback address, so `auth_token` or `auth_token_file` is required",
                self.http.listen
            );
        }
        if self.postgres.enabled
            && !self.postgres.address().ip().is_loopback()
            && self.http.token()?.is_none()
        {
            bail!(
                "[postgres]: listen = \"{}\" is not a loopback address, so [http] `auth_token` or `auth_token_file` is required (clients send it as the password)",
                self.postgres.address()
            );
        }
        if let Some(k) = &self.kafka {
            if k.topics.is_empty() {
                bail!("[kafka]: `topics` is empty; nothing would be consumed");
            }
            for t in &k.topics {
                tocsin_ingest::decoder_for(t.table, &t.format, p.limits())
                    .map_err(|e| anyhow::anyhow!("[[kafka.topics]] `{}`: {e}", t.name))?;
            }
            if k.scale_out && self.simulator.enabled {
                bail!(
                    "[kafka] scale_out: the simulator feeds one instance only; publish to the topics instead, or set [simulator] enabled = false"
                );
            }
        }
        if self.log.format != "human" && self.log.format != "json" {
            bail!(
                "[log]: format must be `human` or `json`, not `{}`",
                self.log.format
            );
        }
        self.sinks
            .build()
            .map_err(|e| anyhow::anyhow!("[sinks]: {e}"))?;
        self.lake
            .validate()
            .map_err(|e| anyhow::anyhow!("[lake]: {e}"))?;
        Ok(())
    }

    /// A description of what this configuration will do, for `tocsin validate`.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        let mode = match &self.kafka {
            Some(k) => format!(
                "distributed: consumer group `{}` on {} reading {}",
                k.group_id,
                k.brokers,
                k.topics
                    .iter()
                    .map(|t| format!("{} ({} as {})", t.name, t.table, t.format))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "embedded: HTTP receivers and the simulator feed an in-process queue".into(),
        };
        s.push_str(&format!("mode:       {mode}\n"));
        if let Some(k) = &self.kafka
            && k.scale_out
        {
            s.push_str(&format!(
                "scale-out:  each partition number is a task with its own processors and checkpoint in {}; instances of the group take each other's over\n",
                self.lake_dir().join("_tasks").display()
            ));
        }
        if let Some(k) = &self.kafka {
            s.push_str(&format!(
                "topics out: decisions -> {}, undecodable -> {}\n",
                k.decisions_topic, k.deadletter_topic
            ));
        }
        s.push_str(&format!("lake:       {}\n", self.lake_dir().display()));
        s.push_str(&format!("checkpoint: {}\n", self.state_dir().display()));
        s.push_str(&format!(
            "http:       {} (auth {})\n",
            self.http.listen,
            if self.http.auth_token.is_some() || self.http.auth_token_file.is_some() {
                "required"
            } else {
                "off: loopback only"
            }
        ));
        s.push_str(&format!(
            "postgres:   {}\n",
            if self.postgres.enabled {
                format!(
                    "{}{} (password: {})",
                    self.postgres.address(),
                    if self.postgres.listen.is_none() {
                        ", best effort"
                    } else {
                        ""
                    },
                    if self.http.auth_token.is_some() || self.http.auth_token_file.is_some() {
                        "the HTTP token"
                    } else {
                        "none: loopback only"
                    }
                )
            } else {
                "off".into()
            }
        ));
        let p = &self.pipeline;
        s.push_str(&format!(
            "batching:   seal at {} rows / {} bytes / {:?}; flush every {:?} or {} rows, or {:?} after a decision\n",
            p.batch_max_rows,
            p.batch_max_bytes,
            p.batch_linger,
            p.flush_interval,
            p.flush_max_rows,
            p.decision_linger
        ));
        s.push_str(&format!(
            "event time: the slowest active source partition, less {:?} lateness; a source silent {:?} stops holding it\n",
            p.allowed_lateness, p.source_idle_timeout
        ));
        s.push_str(&format!(
            "simulator:  {}\n",
            if self.simulator.enabled {
                format!(
                    "on, services {:?}, first incident after {:?}, then every {:?}",
                    self.simulator.services,
                    self.simulator.first_incident_after,
                    self.simulator.incident_every
                )
            } else {
                "off".into()
            }
        ));
        let e = &self.processors.error_rate;
        s.push_str(&format!(
            "processors: error_rate {}\n",
            if e.enabled {
                format!(
                    "on: opens at {:.1}% over {:?} (min {} events), resolves below {:.1}%",
                    e.open_threshold * 100.0,
                    e.window,
                    e.min_events,
                    e.resolve_threshold * 100.0
                )
            } else {
                "off".into()
            }
        ));
        let a = &self.processors.anomaly;
        s.push_str(&format!(
            "            anomaly {}\n",
            if a.enabled {
                let rules: Vec<String> = a
                    .rules
                    .iter()
                    .map(|r| {
                        if r.enabled {
                            let dir = format!("{:?}", r.direction).to_lowercase();
                            format!("`{}` {dir} at score {}", r.metric, r.threshold)
                        } else {
                            format!("`{}` ignored", r.metric)
                        }
                    })
                    .collect();
                let stale = if a.stale_after.is_zero() {
                    "anomalies stay open until a point closes them".to_owned()
                } else {
                    format!(
                        "anomalies of series silent for {} resolve",
                        humantime::format_duration(a.stale_after)
                    )
                };
                format!(
                    "on: up to {} series; {}; {stale}",
                    a.max_series,
                    rules.join(", ")
                )
            } else {
                "off".into()
            }
        ));
        let l = &self.processors.log_patterns;
        s.push_str(&format!(
            "            log_patterns {}\n",
            if l.enabled {
                format!(
                    "on: up to {} templates, similarity {}",
                    l.miner.max_patterns, l.miner.similarity_threshold
                )
            } else {
                "off".into()
            }
        ));
        let c = &self.processors.capacity;
        s.push_str(&format!(
            "            capacity {}\n",
            if c.enabled && !c.resources.is_empty() {
                let names: Vec<&str> = c.resources.iter().map(|r| r.metric.as_str()).collect();
                format!(
                    "on: {} (lead time {})",
                    names.join(", "),
                    humantime::format_duration(c.lead_time)
                )
            } else {
                "off (no resources)".into()
            }
        ));
        let i = &self.processors.incidents;
        s.push_str(&format!(
            "            incidents {}\n",
            if i.enabled {
                format!(
                    "on: {} service dependencies, window {}, changes looked up {} back, announced from {}; silences in {}{}",
                    i.topology.calls.len(),
                    humantime::format_duration(i.window),
                    humantime::format_duration(i.change_lookback),
                    i.notify_min_severity,
                    self.silences_path().display(),
                    i.alertmanager_config
                        .as_ref()
                        .map(|p| format!("; inhibit rules from {}", p.display()))
                        .unwrap_or_default()
                )
            } else {
                "off".into()
            }
        ));
        let sinks: Vec<String> = match self.sinks.build() {
            Ok(built) => built
                .sinks
                .iter()
                .map(|b| match b.delivery.rate_limit {
                    Some(r) => format!(
                        "{} (at most {} per {})",
                        b.sink.name(),
                        r.events,
                        humantime::format_duration(r.per)
                    ),
                    None => b.sink.name().to_owned(),
                })
                .collect(),
            Err(e) => vec![format!("invalid: {e}")],
        };
        if !self.sinks.route.is_empty() {
            s.push_str(&format!(
                "routing:    {} rule(s) in [[sinks.route]]\n",
                self.sinks.route.len()
            ));
        }
        s.push_str(&format!(
            "sinks:      {}\n",
            if sinks.is_empty() {
                "none".into()
            } else {
                sinks.join(", ")
            }
        ));
        s
    }
}

/// The top-level keys of [`Config`]: only `TOCSIN_<KEY>...` variables naming
/// one of them are overrides, so other `TOCSIN_*` variables in the
/// environment (of scripts, of tests) are left alone.
const TOP_LEVEL_KEYS: [&str; 9] = [
    "data_dir",
    "pipeline",
    "kafka",
    "http",
    "simulator",
    "processors",
    "sinks",
    "query",
    "log",
];

fn is_override(var: &str) -> bool {
    let Some(rest) = var.strip_prefix("TOCSIN_") else {
        return false;
    };
    let first = rest.split("__").next().unwrap_or("").to_ascii_lowercase();
    TOP_LEVEL_KEYS.contains(&first.as_str())
}

/// Sets `doc[a][b]... = value` for `TOCSIN_A__B=value`.
fn apply_override(doc: &mut toml::Table, key: &str, value: &str) -> anyhow::Result<()> {
    let path: Vec<String> = key["TOCSIN_".len()..]
        .split("__")
        .map(|p| p.to_ascii_lowercase())
        .collect();
    if path.iter().any(String::is_empty) {
        bail!("environment variable {key}: empty key segment");
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let (last, parents) = path.split_last().context("empty override key")?;
    let mut table = doc;
    for p in parents {
        let entry = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .with_context(|| format!("environment variable {key}: `{p}` is not a table"))?;
    }
    table.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests;
