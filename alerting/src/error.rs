//! Error types of the crate.

use thiserror::Error;

/// An error in an Alertmanager configuration, a matcher, a duration or a time interval.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The YAML could not be parsed or did not have the expected shape.
    #[error("yaml: {0}")]
    Yaml(String),
    /// A duration string is not in Prometheus format.
    #[error("invalid duration {0:?}")]
    Duration(String),
    /// A matcher string could not be parsed.
    #[error("invalid matcher {input:?}: {reason}")]
    Matcher {
        /// The offending text.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A regular expression in a matcher did not compile.
    #[error("invalid regex {0:?}: {1}")]
    Regex(String, String),
    /// A time interval field is malformed.
    #[error("invalid time interval: {0}")]
    TimeInterval(String),
    /// The configuration is structurally invalid (unknown receiver, missing root receiver, ...).
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// An error reading an alert stream (JSON lines).
#[derive(Debug, Error)]
pub enum StreamError {
    /// Reading the underlying source failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A line was not a valid alert object.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// Why it was rejected.
        reason: String,
    },
}

/// An error creating or changing a silence.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SilenceError {
    /// A silence needs at least one matcher.
    #[error("silence has no matchers")]
    NoMatchers,
    /// All matchers of a silence match the empty string, so it would silence everything.
    #[error("silence matchers all match the empty label value")]
    MatchesEverything,
    /// The end is not after the start.
    #[error("silence ends before it starts")]
    EndsBeforeStart,
    /// A silence with this id already exists.
    #[error("silence {0} already exists")]
    Duplicate(String),
    /// No silence with this id exists.
    #[error("silence {0} not found")]
    NotFound(String),
    /// The silence has already expired.
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
}
