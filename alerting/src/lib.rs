//! Alert handling for tocsin, a drop-in for Alertmanager's notification logic.
//!
//! Everything here is pure and driven by event time (ns since the Unix epoch passed
//! in by the caller); nothing reads the wall clock, so replaying the same input gives
//! the same output. The only I/O is (de)serialisation; HTTP and storage are wired by
//! the integrator.
//!
//! - [`lifecycle`]: fingerprints, dedup, firing/resolved, `min_occurrences`,
//!   `for_duration`, resolve timeout, flap damping ([`Lifecycle`]).
//! - [`config`]: reads an `alertmanager.yml` as is ([`AlertmanagerConfig`]).
//! - [`matcher`], [`duration`], [`timeinterval`]: Alertmanager's matcher syntax,
//!   Prometheus durations and time intervals.
//! - [`router`], [`inhibit`], [`silence`]: route tree, inhibition, silences.
//! - [`dispatch`]: aggregation groups and notification flushing ([`Dispatcher`]).
//! - [`pipeline`]: lifecycle and dispatcher with timers interleaved ([`Pipeline`]).
//! - [`event`]: input alerts and the JSON-lines alert stream format.
//! - [`synth`]: a deterministic synthetic alert stream for benches and comparisons.

#![warn(missing_docs)]

pub mod config;
pub mod dispatch;
pub mod duration;
pub mod error;
pub mod event;
pub mod inhibit;
pub mod lifecycle;
pub mod matcher;
pub mod pipeline;
pub mod router;
pub mod silence;
pub mod synth;
pub mod timeinterval;

pub use config::{AlertmanagerConfig, GroupBy, InhibitRule, Receiver, Route, RouteTimings};
pub use dispatch::{Dispatcher, DispatcherSnapshot, Notification, NotifiedAlert};
pub use duration::{PromDuration, parse_duration};
pub use error::{ConfigError, SilenceError, StreamError};
pub use event::{AlertEvent, AlertRecord, AlertStatus, alert_stream_line, read_alert_stream};
pub use inhibit::{InhibitIndex, Inhibitor};
pub use lifecycle::{Lifecycle, LifecycleConfig, LifecycleSnapshot, Transition, TransitionState};
pub use matcher::{Labels, MatchOp, Matcher, parse_matchers};
pub use pipeline::{Pipeline, PipelineSnapshot};
pub use router::{RouteMatch, Router};
pub use silence::{Silence, SilenceState, Silences};
pub use timeinterval::{NamedTimeInterval, TimeInterval};
