//! # tocsin-sinks
//!
//! Where rows and decisions go:
//!
//! - [`lake`]: the Parquet lake writer (stage, fsync, rename; segment-named files);
//! - [`kafka`]: the decisions and dead-letter producer, and the outbox reader
//!   that feeds each sink from the decisions topic;
//! - [`delivery`]: the [`Sink`] trait, retries with backoff, per-sink counters;
//! - [`webhook`], [`console`]: the decision sinks; [`registry`] builds them
//!   from configuration.

pub mod console;
pub mod delivery;
pub mod kafka;
pub mod lake;
pub mod registry;
pub mod webhook;

pub use delivery::{
    DeliveryError, DeliveryStats, RetryPolicy, Sink, deliver_with_retry, wait_for_shutdown,
};
pub use lake::{LakeError, LakeWriter, StagedFile};
pub use registry::SinksConfig;
