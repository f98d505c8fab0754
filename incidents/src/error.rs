use thiserror::Error;

/// Errors of this crate: (de)serialisation and the file readers.
#[derive(Debug, Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("io error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// JSON could not be parsed or produced.
    #[error("json error: {0}")]
    Json(#[from] serde_json::Error),
    /// CSV could not be parsed.
    #[error("csv error: {0}")]
    Csv(#[from] csv::Error),
    /// Input was well-formed but not what was expected.
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
