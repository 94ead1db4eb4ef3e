//! Scanners read a machine (below a root directory) into what the protocol
//! carries: its [`Facts`] and its [`Inventory`]. One implementation per
//! platform family sits beside the others behind [`Scanner`]; [`for_root`]
//! picks the one that fits the root.

mod debian;

use std::path::{Path, PathBuf};

use fixpoint_core::fleet::Inventory;
use fixpoint_core::protocol::Facts;
use serde::Serialize;

pub use debian::DebianScanner;

/// A scan of one machine.
#[derive(Debug, Clone)]
pub struct Scan {
    pub facts: Facts,
    pub inventory: Inventory,
}

impl Scan {
    /// The JSON `fixpoint-agent scan` prints.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Printed<'a> {
            facts: &'a Facts,
            platform: &'a str,
            hash: &'a str,
            packages: &'a [fixpoint_core::fleet::InstalledPackage],
        }
        serde_json::to_value(Printed {
            facts: &self.facts,
            platform: &self.inventory.platform().0,
            hash: self.inventory.hash().as_str(),
            packages: self.inventory.packages(),
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Everything that can go wrong scanning, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's content is wrong; `message` carries the line.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no scanner for the machine at {root}: {reason}")]
    Unsupported { root: PathBuf, reason: String },
}

/// A platform's way of reading a machine.
pub trait Scanner: std::fmt::Debug {
    /// A short name for logs: `debian`.
    fn name(&self) -> &'static str;
    fn scan(&self) -> Result<Scan, ScanError>;
}

/// The scanner for the machine at `root`: Debian and Ubuntu (dpkg) for now;
/// rpm, Windows and macOS scanners go beside it.
pub fn for_root(root: &Path) -> Result<Box<dyn Scanner>, ScanError> {
    if DebianScanner::applies(root) {
        return Ok(Box::new(DebianScanner::new(root)));
    }
    Err(ScanError::Unsupported {
        root: root.to_owned(),
        reason: format!(
            "{} does not exist (only dpkg-based systems are supported so far)",
            root.join(debian::DPKG_STATUS).display()
        ),
    })
}

/// `<root>/<relative>`, with `relative` given without a leading slash.
fn below(root: &Path, relative: &str) -> PathBuf {
    root.join(relative.trim_start_matches('/'))
}

/// A file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, ScanError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ScanError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}
