//! Alert-to-incident correlation for tocsin.
//!
//! What lives here:
//! - [`Correlator`]: groups [`AlertSignal`]s into [`Incident`]s by time window,
//!   service topology ([`Topology`]) and label similarity; links a recent
//!   [`ChangeEvent`] on an implicated service as the suspected change; derives
//!   severity P1–P4, a title, a timeline and a root-cause ranking; emits
//!   open/update/resolve [`IncidentEvent`]s (each with a deterministic dedup key
//!   and reproducing `evidence_sql`). Event time only, deterministic, snapshotable.
//! - [`scenario`]: a seeded generator of alerts, changes and ground truth.
//! - [`score`]: grouping/notification/root-cause scorers against that truth.
//! - [`bench`]: the end-to-end scenario benchmark behind `incident-bench`.
//! - [`dedup`]: a minimal stand-in for the lifecycle/dedup stage used by the bench.
//! - [`petshop`]: metric-based root-cause ranking over the PetShop dataset.

#![deny(missing_docs)]

pub mod bench;
mod config;
mod correlator;
pub mod dedup;
mod error;
mod hash;
pub mod petshop;
pub mod scenario;
pub mod score;
mod sql;
mod topology;
mod types;

pub use config::CorrelatorConfig;
pub use correlator::{Correlator, CorrelatorSnapshot};
pub use error::Error;
pub use hash::{fingerprint, fnv1a64};
pub use topology::{Topology, TopologyConfig};
pub use types::{
    AlertSignal, AlertStatus, ChangeEvent, Incident, IncidentAction, IncidentEvent, IncidentStatus,
    RankedService, Severity, TimelineEntry,
};
