//! # tocsin-ingest
//!
//! Everything between a shipper and an Arrow `RecordBatch`:
//!
//! - [`catalog`]: every table's Arrow schema and the lake layout (paths, hive
//!   partitions, segment file names), shared by the lake writer and the query
//!   layer;
//! - [`builders`]: row builders per table that can roll back a partly decoded
//!   message, built on the column buffers of [`columns`];
//! - [`decode`]: the [`decode::Decoder`] trait and the registry of wire formats;
//! - [`kafka`]: the Kafka consumer-group source and its health report;
//! - [`simulator`]: the built-in fleet simulator of the embedded mode.

pub mod builders;
pub mod catalog;
pub mod columns;
pub mod decode;
pub mod gateway;
pub mod kafka;
pub mod simulator;

pub use builders::{Lineage, TableBuilder};
pub use catalog::{HourPartition, LakeLayout, SegmentId, Table};
pub use decode::{
    DecodeError, DecodeLimits, DecodeReason, Decoder, decode_message, decoder_for,
    label_fingerprint,
};
