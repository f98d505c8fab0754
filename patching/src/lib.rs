//! Security patch prioritisation for tocsin, as pure event-time domain logic.
//!
//! - [`config`]: `PatchConfig` (the `[patching]` section: SLAs, at-risk
//!   fraction, internet-facing globs, scan grace, EPSS threshold, KEV path,
//!   tracking cap).
//! - [`kev`]: the CISA Known Exploited Vulnerabilities catalog (JSON) and
//!   operator-maintained text lists.
//! - [`finding`]: the `vulnerabilities` row the tracker reads.
//! - [`priority`]: the documented rule from CVSS/severity, exploitation,
//!   EPSS and exposure to a priority, its reasons and a risk score.
//! - [`tracker`]: `PatchTracker`, state per (target, CVE) through scans and
//!   watermarks, emitting open/update/resolve/at-risk/breached events;
//!   checkpoints as JSON.
//! - [`generator`] (`gen` is a reserved word in edition 2024): seeded synthetic scan streams with ground truth, for tests and
//!   the `patch-bench` binary.

pub mod config;
pub mod finding;
pub mod generator;
pub mod kev;
pub mod priority;
pub mod tracker;

pub use config::{ConfigError, Exposure, PatchConfig, SlaConfig};
pub use finding::{Finding, Severity};
pub use kev::{Kev, KevEntry, KevError};
pub use priority::{Assessment, Prioritizer, Priority, Signals};
pub use tracker::{
    OpenFinding, PatchEvent, PatchEventKind, PatchTracker, RestoreError, TrackerSnapshot,
    TrackerStats, dedup_key,
};
