//! Online log template mining for tocsin.
//!
//! * [`miner`]: [`PatternMiner`], a Drain-class online template miner with
//!   masking ([`mask`]), stable [`PatternId`]s, a bounded LRU table and JSON
//!   checkpoints.
//! * [`signals`]: event-time detectors over observations — new templates after
//!   a deploy, per-template rate spikes, error-template surges.
//! * [`offline`] and [`score`]: run the miner over a file and score a
//!   prediction against ground truth the Loghub way (grouping accuracy,
//!   pairwise F1, template accuracy); used by the `patterns` binary.
//! * [`corpus`]: a deterministic labelled corpus generator for tests/benches.

#![warn(missing_docs)]

pub mod corpus;
pub mod error;
pub mod mask;
pub mod miner;
pub mod offline;
pub mod score;
pub mod signals;

pub use error::PatternError;
pub use mask::MaskConfig;
pub use miner::{MinerConfig, Observation, PatternId, PatternInfo, PatternMiner};
