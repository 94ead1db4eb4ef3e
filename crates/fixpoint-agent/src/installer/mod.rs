//! Installers change a machine (below a root directory) with its platform's
//! package tool. One implementation per platform family sits beside the
//! others behind [`Installer`], as the scanners do; [`for_root`] picks it.

mod debian;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use debian::DpkgInstaller;

use crate::command::Ran;

/// A platform's way of installing and removing packages.
pub trait Installer: std::fmt::Debug {
    /// A short name for logs: `dpkg`.
    fn name(&self) -> &'static str;
    /// Installs package files, all in one run so that they may depend on
    /// each other.
    fn install(&self, files: &[PathBuf], limit: Duration) -> Ran;
    /// Removes an installed package (its configuration files stay).
    fn remove(&self, package: &str, limit: Duration) -> Ran;
    /// Finishes what an interrupted run left half done (Debian: configures
    /// unpacked packages).
    fn recover(&self, limit: Duration) -> Ran;
    /// The run failed only because another package tool holds the lock: try
    /// again later rather than report a failure.
    fn busy(&self, ran: &Ran) -> bool;
}

/// The installer for the machine at `root`: dpkg where there is a dpkg
/// database (the scanner has checked it exists).
pub fn for_root(root: &Path) -> Box<dyn Installer> {
    Box::new(DpkgInstaller::new(root))
}
