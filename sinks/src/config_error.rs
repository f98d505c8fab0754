//! The error every sink's `new` returns when its configuration cannot work.

use std::path::PathBuf;

use crate::template::TemplateError;

/// A sink configuration that cannot work; every variant names the sink so a
/// start-up failure points at the right `[[sinks.*]]` table.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field has a value the sink cannot use.
    #[error("sink `{sink}`: `{field}`: {message}")]
    Invalid {
        /// The sink's configured name.
        sink: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A template does not compile.
    #[error("sink `{sink}`: `{field}`: {source}")]
    Template {
        /// The sink's configured name.
        sink: String,
        /// The field holding the template.
        field: &'static str,
        /// What MiniJinja said.
        source: TemplateError,
    },
    /// A secret file could not be read.
    #[error("sink `{sink}`: `{field}`: cannot read {path}: {source}")]
    SecretFile {
        /// The sink's configured name.
        sink: String,
        /// The `*_file` field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A setting that is wrong as a whole (or a combination of settings).
    #[error("sink `{sink}`: {reason}")]
    Setting {
        /// The sink's configured name.
        sink: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("sink `{sink}`: HTTP client: {source}")]
    Client {
        /// The sink's configured name.
        sink: String,
        /// What reqwest said.
        source: reqwest::Error,
    },
}

impl ConfigError {
    /// A [`ConfigError::Setting`].
    pub fn setting(sink: &str, reason: impl Into<String>) -> Self {
        ConfigError::Setting {
            sink: sink.to_owned(),
            reason: reason.into(),
        }
    }

    /// A [`ConfigError::Template`] of the sink's `template` field.
    pub fn template(sink: &str, source: TemplateError) -> Self {
        ConfigError::Template {
            sink: sink.to_owned(),
            field: "template",
            source,
        }
    }

    /// A [`ConfigError::Invalid`].
    pub fn invalid(sink: &str, field: &'static str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            sink: sink.to_owned(),
            field,
            message: message.into(),
        }
    }
}
