//! # tocsin-sinks
//!
//! Where rows and decisions go:
//!
//! - [`lake`]: the Parquet lake writer (stage, fsync, rename; segment-named files);
//! - [`kafka`]: the decisions and dead-letter producer, and the outbox reader
//!   that feeds each sink from the decisions topic;
//! - [`outbox`]: the lake's decisions table as the outbox of the embedded mode;
//! - [`delivery`]: the [`Sink`] trait and the engine that delivers each
//!   sink's decisions exactly once, in order per key, paced and retried;
//! - [`routing`]: which sink gets which decision;
//! - the sinks, one module and one config struct each: [`pagerduty`],
//!   [`opsgenie`], [`slack`], [`teams`], [`alertmanager`], [`webhook`]
//!   (HMAC-signed), [`action`] (rollback and flag-disable hooks: a
//!   deployment webhook, GitHub `repository_dispatch`, an allowlisted
//!   command), [`tickets`] (GitHub Issues, Jira) and [`console`];
//!   [`registry`] builds them from configuration.
//!
//! Shared by the HTTP sinks: [`http`] (status → retry semantics),
//! [`template`] (MiniJinja over a decision), [`config`] and
//! [`config_error`].

pub mod action;
pub mod alertmanager;
mod common;
pub mod compaction;
pub mod config;
pub mod config_error;
pub mod console;
pub mod delivery;
pub mod github_api;
pub mod http;
pub mod kafka;
pub mod lake;
pub mod opsgenie;
pub mod outbox;
pub mod pagerduty;
pub mod registry;
pub mod retention;
pub mod routing;
pub mod slack;
pub mod teams;
pub mod template;
pub mod tickets;
pub mod webhook;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod testutil;

pub use delivery::{DeliveryError, DeliveryStats, RetryPolicy, Sink, wait_for_shutdown};
pub use lake::{LakeError, LakeWriter, StagedFile};
pub use registry::SinksConfig;
