//! Diagnostics: what is wrong (or suspicious), where, in the form editors and
//! CI annotations read: `path:line:column: error: message`.

use std::fmt;

use serde::Serialize;

use super::yaml::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "error",
            Level::Warning => "warning",
        })
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub level: Level,
    /// A stable, kebab-case identifier of the check, for bots and suppressions.
    pub code: &'static str,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &str, pos: Pos, level: Level, code: &'static str, message: String) -> Self {
        Diagnostic {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            level,
            code,
            message,
        }
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    fn sort_key(&self) -> (&str, u32, u32, Level, &str) {
        (
            &self.file,
            self.line,
            self.column,
            self.level,
            &self.message,
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.level, self.message
        )
    }
}

/// Sorts diagnostics by file and position (stable: several at one position keep
/// the order the checks found them in), and drops exact repeats.
pub fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics.dedup();
}
