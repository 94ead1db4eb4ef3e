//! Version ordering for the package schemes a fleet runs.
//!
//! Each scheme parses a version string into a typed value whose `Ord` is the
//! scheme's own ordering; [`compare`] is the string-level entry point used by
//! the CLI and by callers that only know the scheme at run time.

use std::cmp::Ordering;

/// The version ordering rules of a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and Ubuntu packages: `[epoch:]upstream[-revision]`, with `~`.
    Dpkg,
    /// RPM packages: rpmvercmp, with `~` and `^`.
    Rpm,
    /// Semantic Versioning 2.0.0.
    Semver,
    /// Dotted numeric build numbers, such as Windows `10.0.19045.4291`.
    Numeric,
}

/// A version string that its scheme rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {version:?}: {reason}")]
pub struct VersionError {
    pub scheme: &'static str,
    pub version: String,
    pub reason: String,
}

/// Compares two version strings under `scheme`.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    let _ = (scheme, a, b);
    unimplemented!("version ordering is being written")
}
