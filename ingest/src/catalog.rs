//! The table catalog: every table's Arrow schema and its place in the lake.
//!
//! Both the lake writer (`tocsin-sinks`) and the query layer (`tocsin-queries`)
//! use this module, so the layout of the lake is defined exactly once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

/// A table of the lake. Each has one Arrow schema and one directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Log lines.
    Logs,
    /// Metric samples.
    Metrics,
    /// Alerts received from alerting systems or raised by tocsin.
    Alerts,
    /// Decisions emitted by processors.
    Decisions,
    /// Messages that failed to decode (embedded mode's dead-letter path).
    DeadLetter,
    /// Log templates mined by the pattern processor: one row per pattern per
    /// flush in which it was seen (an append-only history of the pattern table).
    LogPatterns,
    /// Change events: deploys, rollbacks, flag flips, config changes,
    /// migrations and infrastructure changes.
    Changes,
    /// Vulnerability findings from scanners, one row per finding.
    Vulnerabilities,
    /// Incidents opened by the correlator: one row per lifecycle step
    /// (open, update, resolve), so the latest row of an id is its state.
    Incidents,
}

impl Table {
    /// Every table, in catalog order.
    pub const ALL: [Table; 9] = [
        Table::Logs,
        Table::Metrics,
        Table::Alerts,
        Table::Decisions,
        Table::DeadLetter,
        Table::LogPatterns,
        Table::Changes,
        Table::Vulnerabilities,
        Table::Incidents,
    ];

    /// The SQL name of the table, also its directory under the lake root.
    pub fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Metrics => "metrics",
            Table::Alerts => "alerts",
            Table::Decisions => "decisions",
            Table::DeadLetter => "deadletter",
            Table::LogPatterns => "log_patterns",
            Table::Changes => "changes",
            Table::Vulnerabilities => "vulnerabilities",
            Table::Incidents => "incidents",
        }
    }

    /// The columns each lake file is sorted by, most significant first: by
    /// service then time, so a service's rows sit together in few row groups
    /// and statistics prune the rest.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Logs | Table::Metrics | Table::Alerts | Table::LogPatterns | Table::Changes => {
                &["service", "ts"]
            }
            Table::Decisions => &["target", "ts"],
            Table::Vulnerabilities => &["target", "ts"],
            Table::Incidents => &["id", "ts"],
            Table::DeadLetter => &["ts"],
        }
    }

    /// High-cardinality id columns that get a Parquet bloom filter, so a
    /// needle lookup (`WHERE trace_id = …`) skips row groups without it.
    pub fn bloom_filter_columns(self) -> &'static [&'static str] {
        match self {
            Table::Logs => &["trace_id", "pattern_id"],
            Table::Alerts => &["fingerprint"],
            Table::Decisions => &["dedup_key"],
            Table::LogPatterns => &["id"],
            Table::Changes => &["id"],
            Table::Vulnerabilities => &["cve"],
            Table::Incidents => &["id"],
            Table::Metrics | Table::DeadLetter => &[],
        }
    }

    /// The Arrow schema of the table (shared, built once).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<[SchemaRef; 9]> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            [
                Arc::new(logs_schema()),
                Arc::new(metrics_schema()),
                Arc::new(alerts_schema()),
                Arc::new(decisions_schema()),
                Arc::new(deadletter_schema()),
                Arc::new(log_patterns_schema()),
                Arc::new(changes_schema()),
                Arc::new(vulnerabilities_schema()),
                Arc::new(incidents_schema()),
            ]
        });
        all[self as usize].clone()
    }

    /// The Arrow schema the table's Parquet files ask readers to decode
    /// them as (their `ARROW:schema` hint): the table's schema with map
    /// keys and values as `Utf8View`. A map's strings are then handed out
    /// as views into the decoded pages instead of being copied one by one
    /// (a third less CPU for an `attributes` lookup). Top-level strings
    /// stay `Utf8` in the hint: query engines read those as views by their
    /// own choice, and other readers keep plain strings.
    pub fn file_read_schema(self) -> SchemaRef {
        let schema = self.schema();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                if f.data_type() == &string_map_type() {
                    f.as_ref().clone().with_data_type(string_map_view_type())
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Table::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
                format!("unknown table `{s}` (expected one of {})", names.join(", "))
            })
    }
}

/// Event-time column type: nanoseconds since the Unix epoch, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The `Map<Utf8, Utf8>` type used for labels, attributes and annotations.
///
/// Field names match what Arrow's `MapBuilder` produces, so batches built by
/// hand and batches read back from Parquet share one type.
pub fn string_map_type() -> DataType {
    map_of(DataType::Utf8)
}

/// [`string_map_type`] with keys and values as `Utf8View`: how queries and
/// the lake files' read hint see labels, attributes and annotations.
pub fn string_map_view_type() -> DataType {
    map_of(DataType::Utf8View)
}

/// A map from non-null `strings` to nullable `strings`.
fn map_of(strings: DataType) -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("keys", strings.clone(), false),
            Field::new("values", strings, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn lineage_fields() -> [Field; 3] {
    [
        Field::new("_topic", DataType::Utf8, false),
        Field::new("_partition", DataType::Int32, false),
        Field::new("_offset", DataType::Int64, false),
    ]
}

fn with_lineage(mut fields: Vec<Field>) -> Schema {
    fields.extend(lineage_fields());
    Schema::new(fields)
}

fn logs_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("service", DataType::Utf8, true),
        Field::new("host", DataType::Utf8, true),
        Field::new("env", DataType::Utf8, true),
        Field::new("version", DataType::Utf8, true),
        Field::new("level", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("pattern_id", DataType::Utf8, true),
        Field::new("attributes", string_map_type(), false),
    ])
}

fn metrics_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, true),
        Field::new("host", DataType::Utf8, true),
        Field::new("env", DataType::Utf8, true),
        Field::new("version", DataType::Utf8, true),
        Field::new("labels", string_map_type(), false),
    ])
}

fn alerts_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("fingerprint", DataType::Utf8, false),
        Field::new("alertname", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, true),
        Field::new("service", DataType::Utf8, true),
        Field::new("labels", string_map_type(), false),
        Field::new("annotations", string_map_type(), false),
        Field::new("starts_at", ts_type(), true),
        Field::new("ends_at", ts_type(), true),
        Field::new("source", DataType::Utf8, false),
    ])
}

fn decisions_schema() -> Schema {
    Schema::new(vec![
        Field::new("ts", ts_type(), false),
        Field::new("id", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("evidence", DataType::Utf8, false),
        Field::new("evidence_sql", DataType::Utf8, false),
        Field::new("dedup_key", DataType::Utf8, false),
        Field::new("confidence", DataType::Float64, false),
        Field::new("processor", DataType::Utf8, false),
    ])
}

fn deadletter_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("table", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
        Field::new("raw", DataType::Binary, false),
    ])
}

fn log_patterns_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("id", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("template", DataType::Utf8, false),
        Field::new("first_seen", ts_type(), false),
        Field::new("last_seen", ts_type(), false),
        Field::new("count", DataType::Int64, false),
        Field::new("new_lines", DataType::Int64, false),
        Field::new("example", DataType::Utf8, false),
    ])
}

fn changes_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("id", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, true),
        Field::new("env", DataType::Utf8, true),
        Field::new("version", DataType::Utf8, true),
        Field::new("actor", DataType::Utf8, true),
        // Free-form JSON: change events carry nested payloads (a flag's
        // variants, a migration's statements) that a flat map would mangle.
        Field::new("details", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ])
}

fn vulnerabilities_schema() -> Schema {
    with_lineage(vec![
        Field::new("ts", ts_type(), false),
        Field::new("scanner", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("package", DataType::Utf8, false),
        Field::new("installed_version", DataType::Utf8, true),
        Field::new("fixed_version", DataType::Utf8, true),
        Field::new("cve", DataType::Utf8, false),
        Field::new("cvss", DataType::Float64, true),
        Field::new("severity", DataType::Utf8, false),
        Field::new("known_exploited", DataType::Boolean, true),
        Field::new("epss", DataType::Float64, true),
        Field::new("service", DataType::Utf8, true),
        Field::new("attributes", string_map_type(), false),
    ])
}

fn incidents_schema() -> Schema {
    Schema::new(vec![
        Field::new("ts", ts_type(), false),
        Field::new("id", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("opened_at", ts_type(), false),
        Field::new("resolved_at", ts_type(), true),
        Field::new("severity", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new(
            "services",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new("alert_count", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("suspected_change", DataType::Utf8, true),
        Field::new("root_cause", DataType::Utf8, true),
        // The timeline and ranked causes as JSON, for `evidence` in sinks.
        Field::new("details", DataType::Utf8, false),
        Field::new("dedup_key", DataType::Utf8, false),
    ])
}

/// Identifies the input a lake file was built from: a contiguous range of
/// offsets of one partition of one source.
///
/// The file name is derived from it, so rewriting the same range after a crash
/// replaces the earlier file instead of duplicating its rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentId {
    /// Kafka topic, or the name of an embedded source (`http.logs`, `simulator`).
    pub topic: String,
    /// Kafka partition (0 for embedded sources).
    pub partition: i32,
    /// First offset covered, inclusive.
    pub first_offset: i64,
    /// Last offset covered, inclusive.
    pub last_offset: i64,
}

/// Separates the parts of a lake file name; never valid in a Kafka topic name.
const NAME_SEP: char = '+';

impl SegmentId {
    /// The file name of this segment in a lake partition directory.
    pub fn file_name(&self) -> String {
        format!(
            "{}{NAME_SEP}{}{NAME_SEP}{:020}{NAME_SEP}{:020}.parquet",
            self.topic, self.partition, self.first_offset, self.last_offset
        )
    }

    /// Parses a file name made by [`SegmentId::file_name`].
    pub fn parse_file_name(name: &str) -> Option<SegmentId> {
        let stem = name.strip_suffix(".parquet")?;
        let mut parts = stem.rsplitn(4, NAME_SEP);
        let last_offset = parts.next()?.parse().ok()?;
        let first_offset = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        let topic = parts.next()?.to_string();
        if topic.is_empty() {
            return None;
        }
        Some(SegmentId {
            topic,
            partition,
            first_offset,
            last_offset,
        })
    }
}

/// The on-disk layout of the lake: `<root>/<table>/date=YYYY-MM-DD/hour=HH/<segment>.parquet`.
#[derive(Debug, Clone)]
pub struct LakeLayout {
    root: PathBuf,
}

impl LakeLayout {
    /// A layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LakeLayout { root: root.into() }
    }

    /// The lake root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding every file of `table`.
    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.root.join(table.name())
    }

    /// The hive partition directory for rows whose event time falls in `hour`.
    pub fn partition_dir(&self, table: Table, hour: HourPartition) -> PathBuf {
        self.table_dir(table).join(hour.relative_dir())
    }
}

/// One hour of event time: the unit of hive partitioning in the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourPartition(pub i64);

impl HourPartition {
    const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

    /// The hour containing the event time `ts_ns` (nanoseconds since the epoch).
    pub fn of(ts_ns: i64) -> Self {
        HourPartition(ts_ns.div_euclid(Self::NANOS_PER_HOUR))
    }

    /// The partition whose directory names are `date` (`date=YYYY-MM-DD`)
    /// and `hour` (`hour=HH`); `None` for names not in that form.
    pub fn from_dir_names(date: &str, hour: &str) -> Option<Self> {
        let day =
            chrono::NaiveDate::parse_from_str(date.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
        let hour: u32 = hour.strip_prefix("hour=")?.parse().ok()?;
        let start = day
            .and_hms_opt(hour, 0, 0)?
            .and_utc()
            .timestamp_nanos_opt()?;
        Some(Self::of(start))
    }

    /// The first nanosecond of the hour.
    pub fn start_ns(self) -> i64 {
        self.0.saturating_mul(Self::NANOS_PER_HOUR)
    }

    /// The last nanosecond of the hour.
    pub fn last_ns(self) -> i64 {
        self.start_ns().saturating_add(Self::NANOS_PER_HOUR - 1)
    }

    /// `date=YYYY-MM-DD/hour=HH`.
    pub fn relative_dir(self) -> PathBuf {
        let start = self.0.saturating_mul(Self::NANOS_PER_HOUR);
        let dt: DateTime<Utc> = DateTime::from_timestamp_nanos(start);
        PathBuf::from(format!("date={}", dt.format("%Y-%m-%d")))
            .join(format!("hour={}", dt.format("%H")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_file_name_round_trips_with_dotted_and_dashed_topics() {
        for topic in ["tocsin.logs", "my-topic_v2", "http.logs", "a"] {
            let id = SegmentId {
                topic: topic.to_string(),
                partition: 7,
                first_offset: 100,
                last_offset: 250,
            };
            let name = id.file_name();
            assert!(name.ends_with(".parquet"));
            assert_eq!(SegmentId::parse_file_name(&name), Some(id));
        }
    }

    #[test]
    fn segment_file_names_sort_by_offset() {
        let a = SegmentId {
            topic: "t".into(),
            partition: 0,
            first_offset: 9,
            last_offset: 99,
        };
        let b = SegmentId {
            first_offset: 100,
            last_offset: 1000,
            ..a.clone()
        };
        assert!(a.file_name() < b.file_name());
    }

    #[test]
    fn foreign_file_names_are_rejected() {
        assert_eq!(SegmentId::parse_file_name("part-0.parquet"), None);
        assert_eq!(SegmentId::parse_file_name("t+0+1+2.tmp"), None);
        assert_eq!(SegmentId::parse_file_name("+0+1+2.parquet"), None);
    }

    #[test]
    fn hour_partition_directories() {
        // 2026-11-26T08:30:00Z
        let ts = 1_795_681_800_000_000_000_i64;
        let dir = HourPartition::of(ts).relative_dir();
        assert_eq!(dir, PathBuf::from("date=2026-11-26/hour=08"));
        // Before the epoch rounds down, not towards zero.
        assert_eq!(HourPartition::of(-1), HourPartition(-1));
    }

    #[test]
    fn hour_partitions_round_trip_through_their_directory_names() {
        let ts = 1_795_681_800_000_000_000; // 2026-11-26T08:30:00Z
        let hour = HourPartition::of(ts);
        assert_eq!(
            HourPartition::from_dir_names("date=2026-11-26", "hour=08"),
            Some(hour)
        );
        assert!(hour.start_ns() <= ts && ts <= hour.last_ns());
        assert_eq!(hour.last_ns() + 1, HourPartition(hour.0 + 1).start_ns());
        for (date, h) in [
            ("date=2026-11-26", "hour=24"),
            ("date=2026-13-01", "hour=00"),
            ("2026-11-26", "hour=08"),
            ("date=2026-11-26", "08"),
            ("date=2026-11-26", "hour=x"),
        ] {
            assert_eq!(HourPartition::from_dir_names(date, h), None, "{date}/{h}");
        }
    }

    #[test]
    fn every_table_has_ts_and_parses_from_its_name() {
        for t in Table::ALL {
            assert_eq!(t.schema().field(0).name(), "ts");
            assert_eq!(t.name().parse::<Table>(), Ok(t));
        }
    }
}
