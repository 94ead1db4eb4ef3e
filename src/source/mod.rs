//! Where policy comes from: a plain directory ([`dir`]) or a commit of a git repository
//! ([`git`]).
//!
//! Both readers turn a tree of files into the same list of [`PolicyFile`]s, in path order,
//! which the IO edge hands to `fixpoint_core::policy` as `(name, bytes)` pairs. They agree on
//! what is read: every `.yaml`/`.yml` file, hidden entries (a name starting with `.`) skipped,
//! each file cut one byte past `policy::load::MAX_FILE_BYTES` so the loader reports it as too
//! large without the reader holding more of it. A file that cannot be read is not an error of
//! the whole read: it carries a `problem`, which the caller reports as a diagnostic on that
//! file, next to the diagnostics of the files that could be read.

pub mod dir;
pub mod follow;
pub mod git;

pub use git::{Revision, read_tree_at};

use fixpoint_core::policy::{self, Diagnostic, Level};

/// Loads and validates the files of one revision at time `now`, a file that could
/// not be read reported as an error on that file (`unreadable`), among the others
/// in file and position order.
pub fn check(files: &[PolicyFile], now: jiff::Timestamp) -> policy::Checked {
    let inputs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.display.as_str(), f.bytes.as_slice()))
        .collect();
    let mut checked = policy::check(inputs, now);
    for f in files {
        if let Some(problem) = &f.problem {
            checked.diagnostics.push(Diagnostic::new(
                &f.display,
                policy::yaml::Pos { line: 1, column: 1 },
                Level::Error,
                "unreadable",
                problem.clone(),
            ));
        }
    }
    policy::diagnostic::sort(&mut checked.diagnostics);
    checked
}

/// A policy file as read from a directory or a git commit.
#[derive(Debug)]
pub struct PolicyFile {
    /// The name shown in diagnostics (`name:line:column: ...`). From a directory: the directory
    /// argument joined with the file's relative path. From a git commit: the file's path from
    /// the repository root with `/` separators (`policies/rings.yaml`), which CI annotations
    /// and editors resolve against a checkout; the commit is reported once, in [`Revision`].
    pub display: String,
    pub bytes: Vec<u8>,
    /// Why the file could not be read, if it could not.
    pub problem: Option<String>,
}
