//! What the catalog knows: patches, the advisories that describe them, what
//! they fix on which platform, the files to download, and supersedence.
//!
//! Feeds are parsed into [`Advisory`] values (one per vendor document or
//! record); [`Catalog::merge`] folds advisories into [`Patch`]es so that a
//! Debian security update described by the APT repository, a DSA in OSV and a
//! CVE record all end up as one patch with every CVE attached.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rating::{Classification, Severity};
use crate::version::Scheme;

/// A patch's stable identifier.
///
/// - Debian/Ubuntu: `{source package}/{version}`, e.g. `openssl/3.0.15-1~deb12u1`
///   (what a policy's `approve`/`decline` lists name).
/// - RPM distributions: the vendor advisory, e.g. `RHSA-2024:4546`.
/// - Windows: the KB article, e.g. `KB5035845`.
/// - Other CSAF/OSV advisories: the advisory id.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct PatchId(pub String);

impl PatchId {
    pub fn deb(source: &str, version: &str) -> PatchId {
        PatchId(format!("{source}/{version}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A platform a fix applies to: an OS family and release, e.g. `debian:12`,
/// `ubuntu:24.04`, `rhel:8`, `windows`. Ecosystems of language packages
/// (`crates.io`, `PyPI`) are platforms too.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
#[schemars(extend("pattern" = r"^\s*\S+\s*$"))]
pub struct Platform(pub String);

impl Platform {
    pub fn new(family: &str, release: Option<&str>) -> Platform {
        match release {
            Some(r) if !r.is_empty() => Platform(format!("{}:{r}", family.to_ascii_lowercase())),
            _ => Platform(family.to_ascii_lowercase()),
        }
    }

    pub fn family(&self) -> &str {
        self.0.split_once(':').map_or(self.0.as_str(), |(f, _)| f)
    }

    pub fn release(&self) -> Option<&str> {
        self.0.split_once(':').map(|(_, r)| r)
    }

    /// The version ordering packages of this platform use.
    pub fn scheme(&self) -> Scheme {
        match self.family() {
            "debian" | "ubuntu" => Scheme::Dpkg,
            "rhel"
            | "redhat"
            | "centos"
            | "rocky"
            | "alma"
            | "fedora"
            | "suse"
            | "opensuse"
            | "opensuse-leap"
            | "opensuse-tumbleweed"
            | "opensuse-leap-micro"
            | "sles"
            | "sle-micro"
            | "azurelinux"
            | "mariner"
            | "amazon" => Scheme::Rpm,
            "windows" => Scheme::Numeric,
            _ => Scheme::Semver,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a package name is a source package (Debian: every binary built from
/// it is affected) or a binary package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PackageKind {
    Source,
    Binary,
    /// A product rather than a package (Windows, appliances, firmware).
    Product,
}

/// One thing a patch fixes: on `platform`, `package` is fixed from `fixed` on.
/// `introduced` bounds the affected range from below where the feed says so.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fix {
    pub platform: Platform,
    pub package: String,
    pub kind: PackageKind,
    /// The first fixed version, in the platform's version scheme. `None` when the
    /// feed names a remediation without a version (a KB, a firmware release).
    pub fixed: Option<String>,
    /// The first affected version, when the feed gives one other than "all".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// The last affected version (inclusive), when the feed bounds the range so
    /// instead of naming a fix (OSV `last_affected`): no fixed version exists
    /// yet on this line, but versions after this one are not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// Architecture, when the fix is for one (`amd64`, `x86_64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// A file to download to install the patch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PatchFile {
    /// Where the vendor publishes it.
    pub url: String,
    /// Lowercase hex SHA-256, when the feed states it (APT always does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The binary package or artefact the file carries (`libssl3`), and its architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// A CVSS score with its vector.
#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Cvss {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
}

/// A vulnerability a patch fixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// `CVE-2024-3094`, or the feed's own id where there is no CVE.
    pub id: String,
    /// The highest-version CVSS the feeds gave, per version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    /// Whether the vulnerability is known to be exploited.
    #[serde(default)]
    pub known_exploited: bool,
}

impl Vulnerability {
    pub fn new(id: impl Into<String>) -> Self {
        Vulnerability {
            id: id.into(),
            cvss: Vec::new(),
            known_exploited: false,
        }
    }

    /// The score of the newest CVSS version given.
    pub fn best_score(&self) -> Option<f64> {
        self.cvss
            .iter()
            .max_by(|a, b| a.version.cmp(&b.version))
            .map(|c| c.score)
    }
}

/// Where an advisory came from, for display and for merging.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AdvisoryRef {
    /// The catalog source name from `Settings` (or the feed format when imported by hand).
    pub source: String,
    /// The advisory's id in its feed: `DSA-5678-1`, `RHSA-2024:4546`, `GHSA-…`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One vendor document or record, as a feed describes it: the unit parsers produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub reference: AdvisoryRef,
    /// The patch id this advisory's fix is known by (see [`PatchId`]). Several
    /// advisories with the same id merge into one patch.
    pub patch: PatchId,
    pub vendor: String,
    /// Product or source package.
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub classification: Classification,
    /// The vendor's own rating, when it gives one; otherwise derived from CVSS.
    pub severity: Severity,
    pub released: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerabilities: Vec<Vulnerability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PatchFile>,
    /// Web pages about the fix (errata, KB articles, vendor downloads pages): for
    /// people, never fetched by staging, which only downloads `files`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Patches this one replaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<PatchId>,
    /// Whether installing needs a restart, when the feed says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_required: Option<bool>,
}

/// A patch: what every advisory about one fix says, merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    pub id: PatchId,
    pub vendor: String,
    pub product: String,
    pub title: Option<String>,
    pub classification: Classification,
    pub severity: Severity,
    /// The earliest release date any feed gives.
    pub released: Option<jiff::Timestamp>,
    pub vulnerabilities: Vec<Vulnerability>,
    pub fixes: Vec<Fix>,
    pub files: Vec<PatchFile>,
    #[serde(default)]
    pub references: Vec<String>,
    pub supersedes: Vec<PatchId>,
    /// Filled in by [`Catalog::link_supersedence`]: the patches that replace this one.
    pub superseded_by: Vec<PatchId>,
    pub restart_required: Option<bool>,
    pub advisories: Vec<AdvisoryRef>,
}

impl Patch {
    fn from_advisory(a: Advisory) -> Patch {
        Patch {
            id: a.patch,
            vendor: a.vendor,
            product: a.product,
            title: a.title,
            classification: a.classification,
            severity: a.severity,
            released: a.released,
            vulnerabilities: a.vulnerabilities,
            fixes: a.fixes,
            files: a.files,
            references: a.references,
            supersedes: a.supersedes,
            superseded_by: Vec::new(),
            restart_required: a.restart_required,
            advisories: vec![a.reference],
        }
    }

    /// Folds another advisory about the same fix into this patch. The most
    /// severe rating and the most specific classification win; lists are
    /// unions; the earliest release date is kept.
    fn absorb(&mut self, a: Advisory) {
        debug_assert_eq!(self.id, a.patch);
        if self.title.is_none() {
            self.title = a.title;
        }
        if a.classification == Classification::Security {
            self.classification = Classification::Security;
        }
        self.severity = more_severe(self.severity, a.severity);
        self.released = match (self.released, a.released) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        for v in a.vulnerabilities {
            match self.vulnerabilities.iter_mut().find(|mine| mine.id == v.id) {
                Some(mine) => {
                    mine.known_exploited |= v.known_exploited;
                    for c in v.cvss {
                        if !mine.cvss.iter().any(|m| m.version == c.version) {
                            mine.cvss.push(c);
                        }
                    }
                }
                None => self.vulnerabilities.push(v),
            }
        }
        union_into(&mut self.fixes, a.fixes);
        union_into(&mut self.files, a.files);
        union_into(&mut self.references, a.references);
        union_into(&mut self.supersedes, a.supersedes);
        self.restart_required = self.restart_required.or(a.restart_required);
        union_into(&mut self.advisories, vec![a.reference]);
    }

    /// CVE ids of the vulnerabilities fixed.
    pub fn cves(&self) -> impl Iterator<Item = &str> {
        self.vulnerabilities
            .iter()
            .map(|v| v.id.as_str())
            .filter(|id| id.starts_with("CVE-"))
    }

    /// The highest CVSS score over the vulnerabilities fixed.
    pub fn max_cvss(&self) -> Option<f64> {
        self.vulnerabilities
            .iter()
            .filter_map(Vulnerability::best_score)
            .reduce(f64::max)
    }

    pub fn known_exploited(&self) -> bool {
        self.vulnerabilities.iter().any(|v| v.known_exploited)
    }
}

fn union_into<T: Ord + Clone>(into: &mut Vec<T>, more: Vec<T>) {
    for item in more {
        if !into.contains(&item) {
            into.push(item);
        }
    }
    into.sort();
}

/// `Unrated` is the least severe; otherwise the enum's order (critical first).
fn more_severe(a: Severity, b: Severity) -> Severity {
    match (a, b) {
        (Severity::Unrated, x) | (x, Severity::Unrated) => x,
        (x, y) => x.min(y),
    }
}

/// Every patch, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub patches: BTreeMap<PatchId, Patch>,
}

impl Catalog {
    /// Builds a catalog from advisories, merging those about the same patch.
    pub fn from_advisories(advisories: impl IntoIterator<Item = Advisory>) -> Catalog {
        let mut catalog = Catalog::default();
        for a in advisories {
            catalog.merge(a);
        }
        catalog.link_supersedence();
        catalog
    }

    /// Adds one advisory: a new patch, or more facts about a known one.
    pub fn merge(&mut self, advisory: Advisory) {
        match self.patches.get_mut(&advisory.patch) {
            Some(patch) => patch.absorb(advisory),
            None => {
                let patch = Patch::from_advisory(advisory);
                self.patches.insert(patch.id.clone(), patch);
            }
        }
    }

    /// Fills `superseded_by` from every patch's `supersedes`.
    pub fn link_supersedence(&mut self) {
        let mut by: BTreeMap<PatchId, BTreeSet<PatchId>> = BTreeMap::new();
        for p in self.patches.values() {
            for old in &p.supersedes {
                by.entry(old.clone()).or_default().insert(p.id.clone());
            }
        }
        for p in self.patches.values_mut() {
            p.superseded_by = by
                .remove(&p.id)
                .map(|s| s.into_iter().collect())
                .unwrap_or_default();
        }
    }

    pub fn get(&self, id: &str) -> Option<&Patch> {
        self.patches.get(&PatchId(id.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.patches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advisory(source: &str, id: &str, patch: &str) -> Advisory {
        Advisory {
            reference: AdvisoryRef {
                source: source.into(),
                id: id.into(),
                url: None,
            },
            patch: PatchId(patch.into()),
            vendor: "Debian".into(),
            product: "openssl".into(),
            title: None,
            classification: Classification::Security,
            severity: Severity::Unrated,
            released: None,
            vulnerabilities: Vec::new(),
            fixes: Vec::new(),
            files: Vec::new(),
            supersedes: Vec::new(),
            references: Vec::new(),
            restart_required: None,
        }
    }

    #[test]
    fn advisories_about_one_fix_merge_into_one_patch() {
        let mut apt = advisory(
            "debian-security",
            "openssl/3.0.15-1~deb12u1",
            "openssl/3.0.15-1~deb12u1",
        );
        apt.released = Some("2024-11-02T00:00:00Z".parse().expect("instant"));
        apt.files.push(PatchFile {
            url: "pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb".into(),
            sha256: Some("ab".repeat(32)),
            size: Some(2_000_000),
            package: Some("libssl3".into()),
            arch: Some("amd64".into()),
        });
        let mut osv = advisory("osv-debian", "DSA-5802-1", "openssl/3.0.15-1~deb12u1");
        osv.severity = Severity::Important;
        osv.released = Some("2024-11-01T00:00:00Z".parse().expect("instant"));
        let mut cve = Vulnerability::new("CVE-2024-5535");
        cve.cvss.push(Cvss {
            version: "3.1".into(),
            score: 9.1,
            vector: None,
        });
        osv.vulnerabilities.push(cve);
        osv.vulnerabilities
            .push(Vulnerability::new("CVE-2024-9143"));
        let mut osv2 = advisory("osv-debian", "CVE-2024-9143", "openssl/3.0.15-1~deb12u1");
        let mut exploited = Vulnerability::new("CVE-2024-9143");
        exploited.known_exploited = true;
        osv2.vulnerabilities.push(exploited);

        let catalog = Catalog::from_advisories([apt, osv, osv2]);
        assert_eq!(catalog.len(), 1);
        let p = catalog
            .get("openssl/3.0.15-1~deb12u1")
            .expect("merged patch");
        assert_eq!(p.advisories.len(), 3);
        assert_eq!(p.severity, Severity::Important);
        assert_eq!(
            p.released.map(|t| t.to_string()),
            Some("2024-11-01T00:00:00Z".into())
        );
        assert_eq!(
            p.cves().collect::<Vec<_>>(),
            vec!["CVE-2024-5535", "CVE-2024-9143"]
        );
        assert_eq!(p.max_cvss(), Some(9.1));
        assert!(p.known_exploited());
        assert_eq!(p.files.len(), 1);
    }

    #[test]
    fn supersedence_is_linked_both_ways() {
        let mut new = advisory("msrc", "KB5035845", "KB5035845");
        new.supersedes.push(PatchId("KB5034763".into()));
        let old = advisory("msrc", "KB5034763", "KB5034763");
        let catalog = Catalog::from_advisories([new, old]);
        assert_eq!(
            catalog.get("KB5034763").map(|p| p.superseded_by.clone()),
            Some(vec![PatchId("KB5035845".into())])
        );
    }

    #[test]
    fn the_most_severe_rating_wins_and_unrated_never_does() {
        assert_eq!(
            more_severe(Severity::Low, Severity::Critical),
            Severity::Critical
        );
        assert_eq!(more_severe(Severity::Unrated, Severity::Low), Severity::Low);
        assert_eq!(
            more_severe(Severity::Moderate, Severity::Unrated),
            Severity::Moderate
        );
    }

    #[test]
    fn platforms_know_their_version_scheme() {
        assert_eq!(Platform::new("Debian", Some("12")).scheme(), Scheme::Dpkg);
        assert_eq!(Platform::new("rhel", Some("8")).scheme(), Scheme::Rpm);
        assert_eq!(Platform::new("windows", None).scheme(), Scheme::Numeric);
        assert_eq!(Platform::new("Debian", Some("12")).to_string(), "debian:12");
    }
}
