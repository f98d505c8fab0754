//! # tocsin-queries
//!
//! Read-only SQL over the lake:
//!
//! - [`engine`]: the DataFusion session, its guards (read-only, memory limit,
//!   timeout) and [`QueryEngine::query`];
//! - [`table`]: each catalog table as the union of its Parquet files and its
//!   hot batches;
//! - [`hot`]: the store of hot batches the pipeline fills and a flush empties;
//! - [`output`]: results as a table, JSON rows or Arrow IPC;
//! - [`postgres`]: the PostgreSQL wire-protocol front end;
//! - [`udf`]: telemetry functions (`time_bucket`, `rate`, `histogram_quantile`).

pub mod engine;
pub mod hot;
pub mod output;
pub mod partitions;
pub mod postgres;
pub mod table;
pub mod udf;

pub use engine::{QueryConfig, QueryEngine, QueryError, QueryOutput};
pub use hot::HotStore;
pub use postgres::{PostgresConfig, serve_postgres};
