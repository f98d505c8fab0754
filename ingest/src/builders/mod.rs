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

/// Builds `logs` batches.
#[derive(Debug)]
pub struct LogsBuilder {
    ts: PrimitiveColumn<i64>,
    service: Utf8Column,
    host: Utf8Column,
    env: Utf8Column,
    version: Utf8Column,
    level: Utf8Column,
    message: Utf8Column,
    trace_id: Utf8Column,
    pattern_id: Utf8Column,
    /// Unknown fields; push entries here before [`LogsBuilder::push`].
    pub attributes: StringMapColumn,
    lineage: LineageColumns,
}

impl Default for LogsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LogsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        LogsBuilder {
            ts: PrimitiveColumn::new(),
            service: Utf8Column::new(),
            host: Utf8Column::new(),
            env: Utf8Column::new(),
            version: Utf8Column::new(),
            level: Utf8Column::new(),
            message: Utf8Column::new(),
            trace_id: Utf8Column::new(),
            pattern_id: Utf8Column::new(),
            attributes: StringMapColumn::new(),
            lineage: LineageColumns::new(),
        }
    }

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

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    fn data_len(&self) -> usize {
        self.message.data_len() + self.attributes.data_len() + self.len() * 64
    }

    fn truncate(&mut self, len: usize) {
        self.ts.truncate(len);
        self.service.truncate(len);
        self.host.truncate(len);
        self.env.truncate(len);
        self.version.truncate(len);
        self.level.truncate(len);
        self.message.truncate(len);
        self.trace_id.truncate(len);
        self.pattern_id.truncate(len);
        self.attributes.truncate(len);
        self.lineage.truncate(len);
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut cols = vec![
            self.ts.finish_timestamp(),
            self.service.finish_utf8(),
            self.host.finish_utf8(),
            self.env.finish_utf8(),
            self.version.finish_utf8(),
            self.level.finish_utf8(),
            self.message.finish_utf8(),
            self.trace_id.finish_utf8(),
            self.pattern_id.finish_utf8(),
            self.attributes.finish(),
        ];
        self.lineage.finish(&mut cols);
        RecordBatch::try_new(Table::Logs.schema(), cols)
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

/// Builds `metrics` batches.
#[derive(Debug)]
pub struct MetricsBuilder {
    ts: PrimitiveColumn<i64>,
    name: Utf8Column,
    value: PrimitiveColumn<f64>,
    kind: Utf8Column,
    service: Utf8Column,
    host: Utf8Column,
    env: Utf8Column,
    version: Utf8Column,
    /// Labels; push entries here before [`MetricsBuilder::push`].
    pub labels: StringMapColumn,
    lineage: LineageColumns,
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        MetricsBuilder {
            ts: PrimitiveColumn::new(),
            name: Utf8Column::new(),
            value: PrimitiveColumn::new(),
            kind: Utf8Column::new(),
            service: Utf8Column::new(),
            host: Utf8Column::new(),
            env: Utf8Column::new(),
            version: Utf8Column::new(),
            labels: StringMapColumn::new(),
            lineage: LineageColumns::new(),
        }
    }

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

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    fn data_len(&self) -> usize {
        self.name.data_len() + self.labels.data_len() + self.len() * 64
    }

    fn truncate(&mut self, len: usize) {
        self.ts.truncate(len);
        self.name.truncate(len);
        self.value.truncate(len);
        self.kind.truncate(len);
        self.service.truncate(len);
        self.host.truncate(len);
        self.env.truncate(len);
        self.version.truncate(len);
        self.labels.truncate(len);
        self.lineage.truncate(len);
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut cols = vec![
            self.ts.finish_timestamp(),
            self.name.finish_utf8(),
            self.value.finish_f64(),
            self.kind.finish_utf8(),
            self.service.finish_utf8(),
            self.host.finish_utf8(),
            self.env.finish_utf8(),
            self.version.finish_utf8(),
            self.labels.finish(),
        ];
        self.lineage.finish(&mut cols);
        RecordBatch::try_new(Table::Metrics.schema(), cols)
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

/// Builds `alerts` batches.
#[derive(Debug)]
pub struct AlertsBuilder {
    ts: PrimitiveColumn<i64>,
    fingerprint: Utf8Column,
    alertname: Utf8Column,
    status: Utf8Column,
    severity: Utf8Column,
    service: Utf8Column,
    /// Labels; push entries here before [`AlertsBuilder::push`].
    pub labels: StringMapColumn,
    /// Annotations; push entries here before [`AlertsBuilder::push`].
    pub annotations: StringMapColumn,
    starts_at: PrimitiveColumn<i64>,
    ends_at: PrimitiveColumn<i64>,
    source: Utf8Column,
    lineage: LineageColumns,
}

impl Default for AlertsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AlertsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        AlertsBuilder {
            ts: PrimitiveColumn::new(),
            fingerprint: Utf8Column::new(),
            alertname: Utf8Column::new(),
            status: Utf8Column::new(),
            severity: Utf8Column::new(),
            service: Utf8Column::new(),
            labels: StringMapColumn::new(),
            annotations: StringMapColumn::new(),
            starts_at: PrimitiveColumn::new(),
            ends_at: PrimitiveColumn::new(),
            source: Utf8Column::new(),
            lineage: LineageColumns::new(),
        }
    }

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

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    fn data_len(&self) -> usize {
        self.labels.data_len() + self.annotations.data_len() + self.len() * 96
    }

    fn truncate(&mut self, len: usize) {
        self.ts.truncate(len);
        self.fingerprint.truncate(len);
        self.alertname.truncate(len);
        self.status.truncate(len);
        self.severity.truncate(len);
        self.service.truncate(len);
        self.labels.truncate(len);
        self.annotations.truncate(len);
        self.starts_at.truncate(len);
        self.ends_at.truncate(len);
        self.source.truncate(len);
        self.lineage.truncate(len);
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut cols = vec![
            self.ts.finish_timestamp(),
            self.fingerprint.finish_utf8(),
            self.alertname.finish_utf8(),
            self.status.finish_utf8(),
            self.severity.finish_utf8(),
            self.service.finish_utf8(),
            self.labels.finish(),
            self.annotations.finish(),
            self.starts_at.finish_timestamp(),
            self.ends_at.finish_timestamp(),
            self.source.finish_utf8(),
        ];
        self.lineage.finish(&mut cols);
        RecordBatch::try_new(Table::Alerts.schema(), cols)
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

/// Builds `deadletter` batches.
#[derive(Debug)]
pub struct DeadLetterBuilder {
    ts: PrimitiveColumn<i64>,
    table: Utf8Column,
    format: Utf8Column,
    reason: Utf8Column,
    error: Utf8Column,
    raw: Utf8Column,
    lineage: LineageColumns,
}

impl Default for DeadLetterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DeadLetterBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        DeadLetterBuilder {
            ts: PrimitiveColumn::new(),
            table: Utf8Column::new(),
            format: Utf8Column::new(),
            reason: Utf8Column::new(),
            error: Utf8Column::new(),
            raw: Utf8Column::new(),
            lineage: LineageColumns::new(),
        }
    }

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

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    fn data_len(&self) -> usize {
        self.raw.data_len() + self.error.data_len()
    }

    fn truncate(&mut self, len: usize) {
        self.ts.truncate(len);
        self.table.truncate(len);
        self.format.truncate(len);
        self.reason.truncate(len);
        self.error.truncate(len);
        self.raw.truncate(len);
        self.lineage.truncate(len);
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut cols = vec![
            self.ts.finish_timestamp(),
            self.table.finish_utf8(),
            self.format.finish_utf8(),
            self.reason.finish_utf8(),
            self.error.finish_utf8(),
            self.raw.finish_binary(),
        ];
        self.lineage.finish(&mut cols);
        RecordBatch::try_new(Table::DeadLetter.schema(), cols)
    }
}

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
}

impl TableBuilder {
    /// An empty builder for `table`; `None` for tables that are not ingested.
    pub fn for_table(table: Table) -> Option<Self> {
        match table {
            Table::Logs => Some(TableBuilder::Logs(LogsBuilder::new())),
            Table::Metrics => Some(TableBuilder::Metrics(MetricsBuilder::new())),
            Table::Alerts => Some(TableBuilder::Alerts(AlertsBuilder::new())),
            Table::DeadLetter => Some(TableBuilder::DeadLetter(DeadLetterBuilder::new())),
            Table::Decisions => None,
        }
    }

    /// The table this builder produces.
    pub fn table(&self) -> Table {
        match self {
            TableBuilder::Logs(_) => Table::Logs,
            TableBuilder::Metrics(_) => Table::Metrics,
            TableBuilder::Alerts(_) => Table::Alerts,
            TableBuilder::DeadLetter(_) => Table::DeadLetter,
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        match self {
            TableBuilder::Logs(b) => b.len(),
            TableBuilder::Metrics(b) => b.len(),
            TableBuilder::Alerts(b) => b.len(),
            TableBuilder::DeadLetter(b) => b.len(),
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
        }
    }

    /// Drops every row after the first `len` (undoes a partly decoded message).
    pub fn truncate(&mut self, len: usize) {
        match self {
            TableBuilder::Logs(b) => b.truncate(len),
            TableBuilder::Metrics(b) => b.truncate(len),
            TableBuilder::Alerts(b) => b.truncate(len),
            TableBuilder::DeadLetter(b) => b.truncate(len),
        }
    }

    /// Moves the rows out as a batch in the table's schema.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        match self {
            TableBuilder::Logs(b) => b.finish(),
            TableBuilder::Metrics(b) => b.finish(),
            TableBuilder::Alerts(b) => b.finish(),
            TableBuilder::DeadLetter(b) => b.finish(),
        }
    }
}

#[cfg(test)]
mod tests;
