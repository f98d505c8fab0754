//! Helpers shared by ingest's integration tests.

use std::path::{Path, PathBuf};

/// `rel` under the crate's directory, found when the test runs (cargo sets
/// `CARGO_MANIFEST_DIR`), not baked in when it was compiled: a test binary
/// cached from another checkout must read this checkout's files.
pub fn crate_path(rel: &str) -> PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join(rel)
}
