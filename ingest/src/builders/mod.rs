//! Row builders for the ingest tables, one per table, each producing
//! `RecordBatch`es in exactly the catalog's schema.

use arrow::array::RecordBatch;
use arrow::error::ArrowError;

use crate::catalog::Table;
use crate::columns::{PrimitiveColumn, StringMapColumn, Utf8Column};

/// Where a row came from: its source coordinates and when it was received.
#[derive(Debug, Clone, Copy)]
pub struct Lineage<'a> {
    /// Kafka topic or embedded source name.
    pub topic: &'a str,
    /// Kafka partition (0 for embedded sources).
    pub partition: i32,
    /// Offset of the message within the partition.
    pub offset: i64,
    /// Receive time in ns since the epoch (the Kafka message timestamp when it
    /// has one), used as event time for records that carry none.
    pub received_ns: i64,
}

#[derive(Debug, Default)]
struct LineageColumns {
    topic: Utf8Column,
    partition: PrimitiveColumn<i32>,
    offset: PrimitiveColumn<i64>,
}

impl LineageColumns {
    fn new() -> Self {
        LineageColumns {
            topic: Utf8Column::new(),
            partition: PrimitiveColumn::new(),
            offset: PrimitiveColumn::new(),
        }
    }
    fn push(&mut self, l: &Lineage<'_>) {
        self.topic.push(l.topic);
        self.partition.push(l.partition);
        self.offset.push(l.offset);
    }
    fn truncate(&mut self, len: usize) {
        self.topic.truncate(len);
        self.partition.truncate(len);
        self.offset.truncate(len);
    }
    fn finish(&mut self, cols: &mut Vec<arrow::array::ArrayRef>) {
        cols.push(self.topic.finish_utf8());
        cols.push(self.partition.finish_i32());
        cols.push(self.offset.finish_i64());
    }
}

/// Declares a table's builder: one column buffer per field, plus lineage.
///
/// Generates the struct and what is the same for every table (`new`, `len`,
/// `is_empty`, `truncate`, `finish`); each table writes its own `push`.
macro_rules! table_builder {
    (
        $(#[$meta:meta])*
        $name:ident for $table:path {
            $($(#[$fmeta:meta])* $vis:vis $field:ident: $ty:ty => $finish:ident,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            $($(#[$fmeta])* $vis $field: $ty,)*
            lineage: LineageColumns,
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            /// An empty builder.
            pub fn new() -> Self {
                $name {
                    $($field: <$ty>::new(),)*
                    lineage: LineageColumns::new(),
                }
            }

            /// Rows held.
            pub fn len(&self) -> usize {
                self.lineage.offset.len()
            }

            /// Whether no row is held.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The longest string in any column of row `from` and after,
            /// in bytes (checked against the decode limits).
            pub fn longest_string_since(&self, from: usize) -> usize {
                0 $(.max(self.$field.longest_since(from)))*
            }

            /// Event times of row `from` and after.
            pub fn ts_since(&self, from: usize) -> &[i64] {
                self.ts.values().get(from..).unwrap_or(&[])
            }

            /// Drops every row after the first `len`.
            pub fn truncate(&mut self, len: usize) {
                $(self.$field.truncate(len);)*
                self.lineage.truncate(len);
            }

            /// Moves the rows out as a batch in the table's schema.
            pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
                let mut cols = vec![$(self.$field.$finish(),)*];
                self.lineage.finish(&mut cols);
                RecordBatch::try_new($table.schema(), cols)
            }
        }
    };
}

/// One decoded log record (strings borrowed from the input where possible).
#[derive(Debug, Clone, Copy)]
pub struct LogRow<'a> {
    /// Event time, ns since the epoch.
    pub ts: i64,
    /// Service that wrote the line.
    pub service: Option<&'a str>,
    /// Host or pod.
    pub host: Option<&'a str>,
    /// Deployment environment.
    pub env: Option<&'a str>,
    /// Version of the service.
    pub version: Option<&'a str>,
    /// Normalised level (`trace`, `debug`, `info`, `warn`, `error`, `fatal`).
    pub level: &'a str,
    /// The log message.
    pub message: &'a str,
    /// Trace id, when the line belongs to a trace.
    pub trace_id: Option<&'a str>,
}

table_builder! {
    /// Builds `logs` batches.
    LogsBuilder for Table::Logs {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        service: Utf8Column => finish_utf8,
        host: Utf8Column => finish_utf8,
        env: Utf8Column => finish_utf8,
        version: Utf8Column => finish_utf8,
        level: Utf8Column => finish_utf8,
        message: Utf8Column => finish_utf8,
        trace_id: Utf8Column => finish_utf8,
        pattern_id: Utf8Column => finish_utf8,
        /// Unknown fields; push entries here before [`LogsBuilder::push`].
        pub attributes: StringMapColumn => finish,
    }
}

impl LogsBuilder {
    /// Appends a row; its attributes are the entries pushed since the last row.
    pub fn push(&mut self, row: &LogRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.service.push_opt(row.service);
        self.host.push_opt(row.host);
        self.env.push_opt(row.env);
        self.version.push_opt(row.version);
        self.level.push(row.level);
        self.message.push(row.message);
        self.trace_id.push_opt(row.trace_id);
        self.pattern_id.push_opt(None);
        self.attributes.end_row();
        self.lineage.push(lineage);
    }

    fn data_len(&self) -> usize {
        self.message.data_len() + self.attributes.data_len() + self.len() * 64
    }
}

/// One decoded metric sample.
#[derive(Debug, Clone, Copy)]
pub struct MetricRow<'a> {
    /// Event time, ns since the epoch.
    pub ts: i64,
    /// Metric name.
    pub name: &'a str,
    /// Sample value.
    pub value: f64,
    /// `gauge`, `counter`, `histogram` or `summary`.
    pub kind: &'a str,
    /// Service the sample describes.
    pub service: Option<&'a str>,
    /// Host or pod.
    pub host: Option<&'a str>,
    /// Deployment environment.
    pub env: Option<&'a str>,
    /// Version of the service.
    pub version: Option<&'a str>,
}

table_builder! {
    /// Builds `metrics` batches.
    MetricsBuilder for Table::Metrics {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        name: Utf8Column => finish_utf8,
        value: PrimitiveColumn<f64> => finish_f64,
        kind: Utf8Column => finish_utf8,
        service: Utf8Column => finish_utf8,
        host: Utf8Column => finish_utf8,
        env: Utf8Column => finish_utf8,
        version: Utf8Column => finish_utf8,
        /// Labels; push entries here before [`MetricsBuilder::push`].
        pub labels: StringMapColumn => finish,
    }
}

impl MetricsBuilder {
    /// Appends a row; its labels are the entries pushed since the last row.
    pub fn push(&mut self, row: &MetricRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.name.push(row.name);
        self.value.push(row.value);
        self.kind.push(row.kind);
        self.service.push_opt(row.service);
        self.host.push_opt(row.host);
        self.env.push_opt(row.env);
        self.version.push_opt(row.version);
        self.labels.end_row();
        self.lineage.push(lineage);
    }

    fn data_len(&self) -> usize {
        self.name.data_len() + self.labels.data_len() + self.len() * 64
    }
}

/// One decoded alert.
#[derive(Debug, Clone, Copy)]
pub struct AlertRow<'a> {
    /// Event time, ns since the epoch.
    pub ts: i64,
    /// Stable identity of the alert (hash of its labels unless given).
    pub fingerprint: &'a str,
    /// Alert name.
    pub alertname: &'a str,
    /// `firing` or `resolved`.
    pub status: &'a str,
    /// Severity label, when present.
    pub severity: Option<&'a str>,
    /// Service label, when present.
    pub service: Option<&'a str>,
    /// When the alert started firing.
    pub starts_at: Option<i64>,
    /// When the alert resolved.
    pub ends_at: Option<i64>,
    /// The system that raised it.
    pub source: &'a str,
}

table_builder! {
    /// Builds `alerts` batches.
    AlertsBuilder for Table::Alerts {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        fingerprint: Utf8Column => finish_utf8,
        alertname: Utf8Column => finish_utf8,
        status: Utf8Column => finish_utf8,
        severity: Utf8Column => finish_utf8,
        service: Utf8Column => finish_utf8,
        /// Labels; push entries here before [`AlertsBuilder::push`].
        pub labels: StringMapColumn => finish,
        /// Annotations; push entries here before [`AlertsBuilder::push`].
        pub annotations: StringMapColumn => finish,
        starts_at: PrimitiveColumn<i64> => finish_timestamp,
        ends_at: PrimitiveColumn<i64> => finish_timestamp,
        source: Utf8Column => finish_utf8,
    }
}

impl AlertsBuilder {
    /// Appends a row; labels and annotations are the entries pushed since the last row.
    pub fn push(&mut self, row: &AlertRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.fingerprint.push(row.fingerprint);
        self.alertname.push(row.alertname);
        self.status.push(row.status);
        self.severity.push_opt(row.severity);
        self.service.push_opt(row.service);
        self.labels.end_row();
        self.annotations.end_row();
        self.starts_at.push_opt(row.starts_at);
        self.ends_at.push_opt(row.ends_at);
        self.source.push(row.source);
        self.lineage.push(lineage);
    }

    fn data_len(&self) -> usize {
        self.labels.data_len() + self.annotations.data_len() + self.len() * 96
    }
}

/// One message that could not be decoded.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterRow<'a> {
    /// When it was dead-lettered, ns since the epoch.
    pub ts: i64,
    /// The table it was meant for.
    pub table: &'a str,
    /// The wire format it was decoded as.
    pub format: &'a str,
    /// Short machine-readable reason (the `/metrics` label).
    pub reason: &'a str,
    /// The full error.
    pub error: &'a str,
    /// The message as received.
    pub raw: &'a [u8],
}

table_builder! {
    /// Builds `deadletter` batches.
    DeadLetterBuilder for Table::DeadLetter {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        table: Utf8Column => finish_utf8,
        format: Utf8Column => finish_utf8,
        reason: Utf8Column => finish_utf8,
        error: Utf8Column => finish_utf8,
        raw: Utf8Column => finish_binary,
    }
}

impl DeadLetterBuilder {
    /// Appends a row.
    pub fn push(&mut self, row: &DeadLetterRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.table.push(row.table);
        self.format.push(row.format);
        self.reason.push(row.reason);
        self.error.push(row.error);
        self.raw.push_bytes(row.raw);
        self.lineage.push(lineage);
    }

    fn data_len(&self) -> usize {
        self.raw.data_len() + self.error.data_len()
    }
}

/// One row of `log_patterns`: a pattern's state at the end of a flush.
#[derive(Debug, Clone, Copy)]
pub struct LogPatternRow<'a> {
    /// When the row was written: the pattern's `last_seen`.
    pub ts: i64,
    /// Pattern id (the value of `logs.pattern_id`).
    pub id: &'a str,
    /// The service (namespace) the pattern belongs to.
    pub service: &'a str,
    /// The template, variables as `<*>`.
    pub template: &'a str,
    /// Event time of the first matching line.
    pub first_seen: i64,
    /// Event time of the latest matching line.
    pub last_seen: i64,
    /// Lines matched since the pattern was created.
    pub count: i64,
    /// Lines matched since the pattern's previous row.
    pub new_lines: i64,
    /// One line that matched.
    pub example: &'a str,
}

table_builder! {
    /// Builds `log_patterns` batches (written by the pattern processor, not ingested).
    LogPatternsBuilder for Table::LogPatterns {
        ts: PrimitiveColumn<i64> => finish_timestamp,
        id: Utf8Column => finish_utf8,
        service: Utf8Column => finish_utf8,
        template: Utf8Column => finish_utf8,
        first_seen: PrimitiveColumn<i64> => finish_timestamp,
        last_seen: PrimitiveColumn<i64> => finish_timestamp,
        count: PrimitiveColumn<i64> => finish_i64,
        new_lines: PrimitiveColumn<i64> => finish_i64,
        example: Utf8Column => finish_utf8,
    }
}

impl LogPatternsBuilder {
    /// Appends a row.
    pub fn push(&mut self, row: &LogPatternRow<'_>, lineage: &Lineage<'_>) {
        self.ts.push(row.ts);
        self.id.push(row.id);
        self.service.push(row.service);
        self.template.push(row.template);
        self.first_seen.push(row.first_seen);
        self.last_seen.push(row.last_seen);
        self.count.push(row.count);
        self.new_lines.push(row.new_lines);
        self.example.push(row.example);
        self.lineage.push(lineage);
    }
}

mod events;

pub use events::{ChangeRow, ChangesBuilder, VulnerabilitiesBuilder, VulnerabilityRow};

/// A builder for any ingest table.
#[derive(Debug)]
pub enum TableBuilder {
    /// `logs`
    Logs(LogsBuilder),
    /// `metrics`
    Metrics(MetricsBuilder),
    /// `alerts`
    Alerts(AlertsBuilder),
    /// `deadletter`
    DeadLetter(DeadLetterBuilder),
    /// `changes`
    Changes(ChangesBuilder),
    /// `vulnerabilities`
    Vulnerabilities(VulnerabilitiesBuilder),
}

impl TableBuilder {
    /// An empty builder for `table`; `None` for tables that are not ingested.
    pub fn for_table(table: Table) -> Option<Self> {
        match table {
            Table::Logs => Some(TableBuilder::Logs(LogsBuilder::new())),
            Table::Metrics => Some(TableBuilder::Metrics(MetricsBuilder::new())),
            Table::Alerts => Some(TableBuilder::Alerts(AlertsBuilder::new())),
            Table::DeadLetter => Some(TableBuilder::DeadLetter(DeadLetterBuilder::new())),
            Table::Changes => Some(TableBuilder::Changes(ChangesBuilder::new())),
            Table::Vulnerabilities => {
                Some(TableBuilder::Vulnerabilities(VulnerabilitiesBuilder::new()))
            }
            Table::Decisions | Table::LogPatterns | Table::Incidents => None,
        }
    }

    /// The table this builder produces.
    pub fn table(&self) -> Table {
        match self {
            TableBuilder::Logs(_) => Table::Logs,
            TableBuilder::Metrics(_) => Table::Metrics,
            TableBuilder::Alerts(_) => Table::Alerts,
            TableBuilder::DeadLetter(_) => Table::DeadLetter,
            TableBuilder::Changes(_) => Table::Changes,
            TableBuilder::Vulnerabilities(_) => Table::Vulnerabilities,
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        match self {
            TableBuilder::Logs(b) => b.len(),
            TableBuilder::Metrics(b) => b.len(),
            TableBuilder::Alerts(b) => b.len(),
            TableBuilder::DeadLetter(b) => b.len(),
            TableBuilder::Changes(b) => b.len(),
            TableBuilder::Vulnerabilities(b) => b.len(),
        }
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A rough count of the bytes held, for size-bounded batching.
    pub fn approx_bytes(&self) -> usize {
        match self {
            TableBuilder::Logs(b) => b.data_len(),
            TableBuilder::Metrics(b) => b.data_len(),
            TableBuilder::Alerts(b) => b.data_len(),
            TableBuilder::DeadLetter(b) => b.data_len(),
            TableBuilder::Changes(b) => b.data_len(),
            TableBuilder::Vulnerabilities(b) => b.data_len(),
        }
    }

    /// The longest string of row `from` and after, in bytes.
    pub fn longest_string_since(&self, from: usize) -> usize {
        match self {
            TableBuilder::Logs(b) => b.longest_string_since(from),
            TableBuilder::Metrics(b) => b.longest_string_since(from),
            TableBuilder::Alerts(b) => b.longest_string_since(from),
            TableBuilder::DeadLetter(b) => b.longest_string_since(from),
            TableBuilder::Changes(b) => b.longest_string_since(from),
            TableBuilder::Vulnerabilities(b) => b.longest_string_since(from),
        }
    }

    /// Event times of row `from` and after.
    pub fn ts_since(&self, from: usize) -> &[i64] {
        match self {
            TableBuilder::Logs(b) => b.ts_since(from),
            TableBuilder::Metrics(b) => b.ts_since(from),
            TableBuilder::Alerts(b) => b.ts_since(from),
            TableBuilder::DeadLetter(b) => b.ts_since(from),
            TableBuilder::Changes(b) => b.ts_since(from),
            TableBuilder::Vulnerabilities(b) => b.ts_since(from),
        }
    }

    /// Drops every row after the first `len` (undoes a partly decoded message).
    pub fn truncate(&mut self, len: usize) {
        match self {
            TableBuilder::Logs(b) => b.truncate(len),
            TableBuilder::Metrics(b) => b.truncate(len),
            TableBuilder::Alerts(b) => b.truncate(len),
            TableBuilder::DeadLetter(b) => b.truncate(len),
            TableBuilder::Changes(b) => b.truncate(len),
            TableBuilder::Vulnerabilities(b) => b.truncate(len),
        }
    }

    /// Moves the rows out as a batch in the table's schema.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        match self {
            TableBuilder::Logs(b) => b.finish(),
            TableBuilder::Metrics(b) => b.finish(),
            TableBuilder::Alerts(b) => b.finish(),
            TableBuilder::DeadLetter(b) => b.finish(),
            TableBuilder::Changes(b) => b.finish(),
            TableBuilder::Vulnerabilities(b) => b.finish(),
        }
    }
}

#[cfg(test)]
mod tests;
