//! Debian and Ubuntu: `dpkg`, with `--root` for a root other than `/`, so that
//! maintainer scripts run inside that root (dpkg chroots into it; the agent
//! never uses `--force-script-chrootless`, which would run them on the host).
//!
//! Patch files come from the Fixpoint server, already verified, so dpkg
//! installs them directly: apt would want to fetch from its own sources.
//! Configuration files the administrator changed are kept (`--force-confold`,
//! and the package's default where unchanged: `--force-confdef`), and no
//! question is asked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::Installer;
use crate::command::{self, Ran};

/// The PATH package tools and maintainer scripts see: a service's own may lack the sbin directories.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone)]
pub struct DpkgInstaller {
    root: PathBuf,
}

impl DpkgInstaller {
    pub fn new(root: &Path) -> DpkgInstaller {
        DpkgInstaller {
            root: root.to_owned(),
        }
    }

    fn dpkg(&self) -> Command {
        let mut c = Command::new("dpkg");
        if self.root != Path::new("/") {
            // dpkg keeps logging to the host's /var/log/dpkg.log under --root: the
            // machine's own log belongs in the machine.
            c.arg(format!("--root={}", self.root.display()))
                .arg(format!(
                    "--log={}",
                    self.root.join("var/log/dpkg.log").display()
                ));
        }
        c.env("PATH", PATH)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("DEBIAN_HAS_FRONTEND");
        c
    }
}

impl Installer for DpkgInstaller {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    /// In rounds, when one file's package pre-depends on another's: dpkg
    /// unpacks a package only once its pre-dependencies are configured, which
    /// within one `dpkg --install` they are not (libpam-modules pre-depends on
    /// libpam-modules-bin of the same version). apt orders this itself; here
    /// each round's packages are configured before the next round is unpacked.
    fn install(&self, files: &[PathBuf], limit: Duration) -> Ran {
        let mut log = String::new();
        let mut last = None;
        for round in rounds(files) {
            let mut c = self.dpkg();
            c.args(["--force-confdef", "--force-confold", "--install"])
                .args(&round);
            let ran = command::run(c, limit);
            log.push_str(&ran.log);
            if !ran.success() {
                return Ran { log, ..ran };
            }
            last = Some(ran);
        }
        match last {
            Some(ran) => Ran { log, ..ran },
            None => Ran {
                exit_code: None,
                log: "[fixpoint-agent: no file to install]\n".into(),
                timed_out: false,
            },
        }
    }

    fn remove(&self, package: &str, limit: Duration) -> Ran {
        let mut c = self.dpkg();
        c.arg("--remove").arg("--").arg(package);
        command::run(c, limit)
    }

    fn recover(&self, limit: Duration) -> Ran {
        let mut c = self.dpkg();
        c.args([
            "--force-confdef",
            "--force-confold",
            "--configure",
            "--pending",
        ]);
        command::run(c, limit)
    }

    fn busy(&self, ran: &Ran) -> bool {
        !ran.success()
            && (ran.log.contains("dpkg frontend lock")
                || ran.log.contains("dpkg status database is locked")
                || ran.log.contains("is locked by another process"))
    }
}

/// A `.deb`'s package name and the names its `Pre-Depends` field lists
/// (alternatives included), from `dpkg-deb --field`.
fn control(file: &Path) -> Option<(String, Vec<String>)> {
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(file)
        .args(["Package", "Pre-Depends"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut name = None;
    let mut pre = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Package:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Pre-Depends:") {
            pre = v
                .split([',', '|'])
                .filter_map(|d| d.split_whitespace().next())
                .map(|d| d.split(':').next().unwrap_or(d).to_owned())
                .collect();
        }
    }
    name.map(|n| (n, pre))
}

/// The files in install rounds: a file whose package pre-depends on another
/// file's package comes in a later round than it. A file dpkg-deb cannot
/// read, or a cycle, goes in the first round that would otherwise be empty,
/// so dpkg reports the problem itself.
fn rounds(files: &[PathBuf]) -> Vec<Vec<PathBuf>> {
    let mut pending: Vec<(PathBuf, String, Vec<String>)> = files
        .iter()
        .map(|f| {
            let (name, pre) = control(f).unwrap_or_default();
            (f.clone(), name, pre)
        })
        .collect();
    let mut rounds = Vec::new();
    while !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|(_, n, _)| n.clone()).collect();
        let (ready, wait): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, n, pre)| !pre.iter().any(|p| p != n && names.contains(p)));
        if ready.is_empty() {
            rounds.push(wait.into_iter().map(|(f, _, _)| f).collect());
            break;
        }
        rounds.push(ready.into_iter().map(|(f, _, _)| f).collect());
        pending = wait;
    }
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_other_than_slash_is_passed_to_dpkg() {
        let i = DpkgInstaller::new(Path::new("/srv/machine"));
        let shown = format!("{:?}", i.dpkg());
        assert!(shown.contains("--root=/srv/machine"), "{shown}");
        let i = DpkgInstaller::new(Path::new("/"));
        assert!(!format!("{:?}", i.dpkg()).contains("--root"));
    }

    #[test]
    fn a_lock_held_by_another_tool_is_busy_not_failed() {
        let i = DpkgInstaller::new(Path::new("/"));
        let locked = Ran {
            exit_code: Some(2),
            log: "dpkg: error: dpkg frontend lock was locked by another process with pid 42\n"
                .into(),
            timed_out: false,
        };
        assert!(i.busy(&locked));
        let failed = Ran {
            log: "dpkg: error processing archive x.deb (--install):\n".into(),
            ..locked
        };
        assert!(!i.busy(&failed));
    }
}
