//! The policy language: the YAML kinds people commit, loading a repository of
//! them, and validation that reports every problem with file, line and column.
//!
//! ```text
//!  (path, bytes)… ──▶ yaml::parse_stream ──▶ Node trees ──▶ load ──▶ PolicySet ──▶ validate(now) ──▶ diagnostics
//!                      (positions, limits)    (serde via de, unknown fields collected)   (references, windows, deadlines)
//! ```
//!
//! [`check`] runs the whole pipeline; a set with any error is not applied.

pub mod de;
pub mod diagnostic;
pub mod kinds;
pub mod load;
pub mod primitives;
pub mod schema;
pub mod yaml;

pub use diagnostic::{Diagnostic, Level};
pub use kinds::*;
pub use load::{API_VERSION, Document, Kind, Loaded, Metadata, Origin, PolicySet, load};
pub use primitives::{CountOrPercent, Date, Duration, Expiry, Glob, Percent};
pub mod validate;

pub use validate::ALL_GROUP;

/// A policy repository checked as a whole: what loaded, and every problem.
#[derive(Debug)]
pub struct Checked {
    pub set: PolicySet,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any diagnostic is an error; such a set must not be applied.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn count(&self, level: Level) -> usize {
        self.diagnostics.iter().filter(|d| d.level == level).count()
    }
}

/// Loads and validates a repository's files at time `now`. Diagnostics are
/// sorted by file and position.
pub fn check<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    now: jiff::Timestamp,
) -> Checked {
    let Loaded {
        set,
        mut diagnostics,
    } = load(files);
    diagnostics.extend(validate::validate(&set, now));
    diagnostic::sort(&mut diagnostics);
    Checked { set, diagnostics }
}

#[cfg(test)]
mod tests;
