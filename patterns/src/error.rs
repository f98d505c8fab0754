//! Error type of the crate.

use thiserror::Error;

/// Everything that can go wrong building a miner or detector, or running the
/// offline tools.
#[derive(Debug, Error)]
pub enum PatternError {
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A user-supplied masking regex does not compile.
    #[error("invalid masking regex {0:?}: {1}")]
    Regex(String, String),
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV file could not be parsed or written.
    #[error("CSV error on {path}: {message}")]
    Csv {
        /// The file involved.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Input data is well-formed CSV but not what was expected.
    #[error("bad input: {0}")]
    Input(String),
}
