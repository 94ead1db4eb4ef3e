//! Test fixtures for the plan: a policy from YAML through the real loader, and
//! builders for machines and patches that start bare and add what a test needs.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::catalog::{
    AdvisoryRef, Cvss, Fix, PackageKind, Patch, PatchId, Platform, Vulnerability,
};
use crate::fleet::{DirectoryFacts, Machine, OsFacts};
use crate::policy::{self, PolicySet};
use crate::rating::{Classification, Severity};

pub const NOW: &str = "2026-11-25T12:00:00Z";

pub fn now() -> Timestamp {
    at(NOW)
}

/// An instant, `2026-11-25T12:00:00Z`, or midnight UTC of a date, `2026-11-25`.
pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|_| {
        format!("{text}T00:00:00Z")
            .parse()
            .expect("a date or an instant")
    })
}

/// A policy set loaded and validated at [`NOW`]; the YAML must have no errors.
pub fn policy(yaml: &str) -> PolicySet {
    let checked = policy::check([("p.yaml", yaml.as_bytes())], now());
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    checked.set
}

/// A machine with nothing but an id, a host name and an OS family.
pub fn machine() -> Machine {
    Machine {
        id: "m1".into(),
        hostname: "host1".into(),
        labels: BTreeMap::new(),
        os: OsFacts {
            family: "debian".into(),
            version: None,
        },
        site: None,
        directory: DirectoryFacts::default(),
        time_zone: None,
        kernel: None,
        reboot_required: false,
        inventory: "0".repeat(64).parse().expect("64 hex digits"),
    }
}

pub trait MachineBuilder: Sized {
    fn label(self, key: &str, value: &str) -> Self;
    fn os(self, family: &str, version: &str) -> Self;
    fn hostname(self, name: &str) -> Self;
    fn site(self, site: &str) -> Self;
    fn ou(self, dn: &str) -> Self;
    fn group(self, group: &str) -> Self;
}

impl MachineBuilder for Machine {
    fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    fn os(mut self, family: &str, version: &str) -> Self {
        self.os = OsFacts {
            family: family.into(),
            version: Some(version.into()),
        };
        self
    }

    fn hostname(mut self, name: &str) -> Self {
        self.hostname = name.into();
        self
    }

    fn site(mut self, site: &str) -> Self {
        self.site = Some(site.into());
        self
    }

    fn ou(mut self, dn: &str) -> Self {
        self.directory.ou = Some(dn.into());
        self
    }

    fn group(mut self, group: &str) -> Self {
        self.directory.groups.push(group.into());
        self
    }
}

/// An undated, unrated bug-fix patch of product `openssl` by Debian, with no
/// vulnerabilities, fixes or advisories.
pub fn patch(id: &str) -> Patch {
    Patch {
        id: PatchId(id.into()),
        vendor: "Debian".into(),
        product: "openssl".into(),
        title: None,
        classification: Classification::Bugfix,
        severity: Severity::Unrated,
        released: None,
        vulnerabilities: Vec::new(),
        fixes: Vec::new(),
        files: Vec::new(),
        references: Vec::new(),
        supersedes: Vec::new(),
        superseded_by: Vec::new(),
        restart_required: None,
        advisories: Vec::new(),
    }
}

pub trait PatchBuilder: Sized {
    fn product(self, product: &str) -> Self;
    fn vendor(self, vendor: &str) -> Self;
    fn security(self, severity: Severity) -> Self;
    fn released(self, when: &str) -> Self;
    /// Fixes a vulnerability with this CVSS v3.1 score.
    fn cve(self, id: &str, score: f64) -> Self;
    /// Fixes a vulnerability known to be exploited.
    fn exploited_cve(self, id: &str) -> Self;
    /// Fixes binary package `package` on Debian 12.
    fn fixes(self, package: &str) -> Self;
    /// Described by an advisory from catalog source `source`.
    fn advised_by(self, source: &str) -> Self;
}

impl PatchBuilder for Patch {
    fn product(mut self, product: &str) -> Self {
        self.product = product.into();
        self
    }

    fn vendor(mut self, vendor: &str) -> Self {
        self.vendor = vendor.into();
        self
    }

    fn security(mut self, severity: Severity) -> Self {
        self.classification = Classification::Security;
        self.severity = severity;
        self
    }

    fn released(mut self, when: &str) -> Self {
        self.released = Some(at(when));
        self
    }

    fn cve(mut self, id: &str, score: f64) -> Self {
        let mut v = Vulnerability::new(id);
        v.cvss.push(Cvss {
            version: "3.1".into(),
            score,
            vector: None,
        });
        self.vulnerabilities.push(v);
        self
    }

    fn exploited_cve(mut self, id: &str) -> Self {
        let mut v = Vulnerability::new(id);
        v.known_exploited = true;
        self.vulnerabilities.push(v);
        self
    }

    fn fixes(mut self, package: &str) -> Self {
        self.fixes.push(Fix {
            platform: Platform::new("debian", Some("12")),
            package: package.into(),
            kind: PackageKind::Binary,
            fixed: Some("1.0-1".into()),
            introduced: None,
            last_affected: None,
            arch: None,
        });
        self
    }

    fn advised_by(mut self, source: &str) -> Self {
        self.advisories.push(AdvisoryRef {
            source: source.into(),
            id: format!("{source}-1"),
            url: None,
        });
        self
    }
}
