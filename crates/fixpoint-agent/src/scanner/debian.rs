//! Debian and Ubuntu: dpkg's status database, os-release, the host name, the
//! time zone and whether a reboot is required, all read below the root.

use std::path::{Path, PathBuf};

use fixpoint_core::fleet::{Inventory, OsFacts, parse_dpkg_status, parse_os_release};
use fixpoint_core::protocol::Facts;

use super::{Scan, ScanError, Scanner, below, read_optional};

/// dpkg's database of installed packages, relative to the root.
pub(super) const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// os-release(5): the first that exists wins.
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
/// Written by packages whose upgrade needs a restart (update-notifier-common and
/// friends); `/var/run` is a link to `/run` on current systems, not in every root.
const REBOOT_REQUIRED: [&str; 2] = ["var/run/reboot-required", "run/reboot-required"];

#[derive(Debug, Clone)]
pub struct DebianScanner {
    root: PathBuf,
}

impl DebianScanner {
    pub fn new(root: &Path) -> DebianScanner {
        DebianScanner {
            root: root.to_owned(),
        }
    }

    /// The root has a dpkg status database.
    pub fn applies(root: &Path) -> bool {
        below(root, DPKG_STATUS).is_file()
    }

    fn os(&self) -> Result<(OsFacts, fixpoint_core::catalog::Platform), ScanError> {
        for relative in OS_RELEASE {
            let path = below(&self.root, relative);
            let Some(text) = read_optional(&path)? else {
                continue;
            };
            let release = parse_os_release(&text).map_err(|e| ScanError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let platform = release.platform();
            return Ok((
                OsFacts {
                    family: release.id,
                    version: release.version_id,
                },
                platform,
            ));
        }
        Err(ScanError::Invalid {
            path: below(&self.root, OS_RELEASE[0]),
            message: "missing (and so is /usr/lib/os-release): the OS is unknown".into(),
        })
    }

    fn hostname(&self) -> Result<String, ScanError> {
        let path = below(&self.root, "etc/hostname");
        if let Some(text) = read_optional(&path)? {
            return first_word(&text).ok_or_else(|| ScanError::Invalid {
                path,
                message: "no host name in it".into(),
            });
        }
        // A running system may have no /etc/hostname (set by DHCP or cloud-init):
        // ask the kernel, but only for the root we run on.
        if self.root == Path::new("/") {
            let kernel = Path::new("/proc/sys/kernel/hostname");
            if let Some(name) = read_optional(kernel)?.as_deref().and_then(first_word) {
                return Ok(name);
            }
        }
        Err(ScanError::Invalid {
            path,
            message: "missing: the host name is unknown".into(),
        })
    }

    fn time_zone(&self) -> Result<Option<String>, ScanError> {
        let path = below(&self.root, "etc/timezone");
        if let Some(zone) = read_optional(&path)?.as_deref().and_then(first_word) {
            return Ok(Some(zone));
        }
        // /etc/localtime links to /usr/share/zoneinfo/<zone>; the link's text
        // is read, never followed, so an absolute target is fine in any root.
        let localtime = below(&self.root, "etc/localtime");
        Ok(std::fs::read_link(localtime)
            .ok()
            .and_then(|target| zone_of_link(&target)))
    }

    /// The running kernel, only when the root is the machine the agent runs
    /// on: a container's or an image's root runs no kernel of its own.
    fn kernel(&self) -> Result<Option<String>, ScanError> {
        if self.root != Path::new("/") {
            return Ok(None);
        }
        let path = Path::new("/proc/sys/kernel/osrelease");
        Ok(read_optional(path)?.as_deref().and_then(first_word))
    }

    fn reboot_required(&self) -> bool {
        REBOOT_REQUIRED
            .iter()
            .any(|relative| below(&self.root, relative).exists())
    }
}

impl Scanner for DebianScanner {
    fn name(&self) -> &'static str {
        "debian"
    }

    fn scan(&self) -> Result<Scan, ScanError> {
        let status_path = below(&self.root, DPKG_STATUS);
        let status = std::fs::read(&status_path).map_err(|source| ScanError::Read {
            path: status_path.clone(),
            source,
        })?;
        let packages = parse_dpkg_status(&status).map_err(|e| ScanError::Invalid {
            path: status_path.clone(),
            message: e.to_string(),
        })?;
        let (os, platform) = self.os()?;
        let inventory = Inventory::new(platform, packages).map_err(|e| ScanError::Invalid {
            path: status_path,
            message: e.to_string(),
        })?;
        Ok(Scan {
            facts: Facts {
                hostname: self.hostname()?,
                os,
                labels: Default::default(),
                time_zone: self.time_zone()?,
                kernel: self.kernel()?,
                reboot_required: self.reboot_required(),
            },
            inventory,
        })
    }
}

/// The first non-blank, non-comment line's first word.
fn first_word(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
}

/// `Europe/Berlin` from `/usr/share/zoneinfo/Europe/Berlin` (or
/// `../usr/share/zoneinfo/...`).
fn zone_of_link(target: &Path) -> Option<String> {
    let text = target.to_str()?;
    let (_, zone) = text.split_once("zoneinfo/")?;
    let zone = zone
        .trim_start_matches("posix/")
        .trim_start_matches("right/");
    (!zone.is_empty()).then(|| zone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_12: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";
    const STATUS: &str = "Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.14-1~deb12u2\n\nPackage: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.14-1~deb12u2\n\nPackage: telnetd\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 0.17-44\n";

    /// A root file system in a temporary directory, built file by file.
    struct Root(tempfile::TempDir);

    impl Root {
        fn debian() -> Root {
            Root(tempfile::tempdir().expect("tempdir"))
                .file("etc/os-release", DEBIAN_12)
                .file("etc/hostname", "web1.corp.example\n")
                .file(DPKG_STATUS, STATUS)
        }

        fn file(self, relative: &str, text: &str) -> Root {
            let path = self.0.path().join(relative);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
            self
        }

        fn scan(&self) -> Result<Scan, ScanError> {
            DebianScanner::new(self.0.path()).scan()
        }
    }

    #[test]
    fn a_debian_root_gives_its_facts_and_installed_packages() {
        let scan = Root::debian().scan().expect("scan");
        assert_eq!(scan.facts.hostname, "web1.corp.example");
        assert_eq!(scan.facts.os.family, "debian");
        assert_eq!(scan.facts.os.version.as_deref(), Some("12"));
        assert_eq!(scan.facts.time_zone, None);
        assert_eq!(scan.inventory.platform().0, "debian:12");
        let names: Vec<&str> = scan
            .inventory
            .packages()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["libssl3", "openssl"],
            "config-files only is not installed"
        );
        assert_eq!(scan.inventory.packages()[0].source, "openssl");
        assert!(!scan.facts.reboot_required);
        assert_eq!(
            scan.facts.kernel, None,
            "a root other than / runs no kernel"
        );
    }

    #[test]
    fn the_time_zone_comes_from_etc_timezone_or_the_localtime_link() {
        let root = Root::debian().file("etc/timezone", "Europe/Berlin\n");
        assert_eq!(
            root.scan().expect("scan").facts.time_zone.as_deref(),
            Some("Europe/Berlin")
        );
        let root = Root::debian();
        std::os::unix::fs::symlink(
            "/usr/share/zoneinfo/America/New_York",
            root.0.path().join("etc/localtime"),
        )
        .expect("symlink");
        assert_eq!(
            root.scan().expect("scan").facts.time_zone.as_deref(),
            Some("America/New_York")
        );
    }

    #[test]
    fn a_reboot_required_flag_in_either_run_directory_is_seen() {
        for flag in REBOOT_REQUIRED {
            let root = Root::debian().file(flag, "*** System restart required ***\n");
            assert!(root.scan().expect("scan").facts.reboot_required, "{flag}");
        }
    }

    #[test]
    fn one_changed_package_changes_the_hash() {
        let before = Root::debian().scan().expect("scan");
        let after = Root::debian()
            .file(
                DPKG_STATUS,
                &STATUS.replace("3.0.14-1~deb12u2", "3.0.15-1~deb12u1"),
            )
            .scan()
            .expect("scan");
        assert_ne!(before.inventory.hash(), after.inventory.hash());
        assert_eq!(
            before.inventory.hash(),
            Root::debian().scan().expect("scan").inventory.hash()
        );
    }

    #[test]
    fn a_malformed_status_file_is_an_error_naming_the_file_and_line() {
        let root = Root::debian().file(
            DPKG_STATUS,
            "Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: not a version!\n",
        );
        let e = root.scan().expect_err("malformed").to_string();
        assert!(e.contains("var/lib/dpkg/status"), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn a_root_without_os_release_or_hostname_is_an_error_naming_the_file() {
        let root = Root::debian();
        std::fs::remove_file(root.0.path().join("etc/os-release")).expect("rm");
        let e = root.scan().expect_err("no os-release").to_string();
        assert!(e.contains("etc/os-release"), "{e}");

        let root = Root::debian();
        std::fs::remove_file(root.0.path().join("etc/hostname")).expect("rm");
        let e = root.scan().expect_err("no hostname").to_string();
        assert!(e.contains("etc/hostname"), "{e}");
    }

    #[test]
    fn only_a_root_with_a_dpkg_database_gets_the_debian_scanner() {
        let empty = tempfile::tempdir().expect("tempdir");
        let e = super::super::for_root(empty.path()).expect_err("unsupported");
        assert!(e.to_string().contains("var/lib/dpkg/status"), "{e}");
        let root = Root::debian();
        assert_eq!(
            super::super::for_root(root.0.path())
                .expect("debian")
                .name(),
            "debian"
        );
    }
}
