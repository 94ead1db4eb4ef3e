//! Which patches of the catalog apply to an inventory, and whether each is
//! installed or missing.
//!
//! The catalog is indexed once by (platform, package name); evaluating an
//! inventory then looks up each installed package, so the work is
//! proportional to the inventory, not to the catalog.
//!
//! # Matching
//!
//! A fix on the inventory's platform matches an installed package when
//! - it is of kind `source` and names the package's **source** package (every
//!   binary built from that source), or
//! - it is of kind `binary` or `product` and names the package itself, with
//!   the same architecture when the fix names one (`all` matches `all` only).
//!
//! A patch **applies** to an inventory when one of the fixes that decide it
//! (below) matches an installed package, whatever the installed version.
//!
//! # Missing or installed
//!
//! A matching package is *affected* when its version is at or above the fix's
//! `introduced` (if given) and below `fixed`, or, for a fix without `fixed`, at
//! or below `last_affected` (if given; with neither, every version from
//! `introduced` on is affected). Versions are ordered by the platform's scheme
//! (dpkg for Debian and Ubuntu), leniently, as the machine's own tools do.
//!
//! Which version is compared depends on what the patch says:
//! - **Patches that name binaries** on the inventory's platform (every patch
//!   from an APT repository, even once OSV or CSAF records have merged in: one
//!   `source` fix plus one `binary` fix per `.deb` it ships) are decided by
//!   their `binary` fixes alone: the patch is missing when an installed binary
//!   that the patch ships has a lower **binary** version than the one shipped.
//!   This is what apt does (a package is upgradable when the suite has a newer
//!   version of that very package), and it is what the cross-check against
//!   `apt list --upgradable` on a real machine confirms
//!   (`crates/fixpoint-core/tests/apt_crosscheck.rs`). Such a patch applies
//!   only to machines with one of the binaries it ships (for that
//!   architecture): a binary of the same source that the patch does not ship
//!   has nothing in the patch to install. The case is real: the kernel's
//!   security uploads keep older uploads of `linux` in the suite that ship only
//!   the ABI-named image packages; judged by source version they would be
//!   "missing" on every machine with `linux-libc-dev` from an older upload,
//!   although apt installs nothing from them.
//! - **Patches that name only source packages** (Debian's OSV records, DSAs)
//!   are decided by **source** versions: the patch is missing when any installed
//!   binary built from the source has a source version (`Source: foo (1.2-3)`
//!   for the binNMU `1.2-3+b1`) in the affected range.
//!
//! A patch is `Missing` when at least one matching package is affected, and
//! `Installed` otherwise (which also covers packages below `introduced`: not
//! affected, nothing to install).
//!
//! # Several patches for one package
//!
//! Every patch is evaluated on its own: when a suite holds an older and a newer
//! upload of one source and the machine has neither, both are `Missing`. Marking
//! the older one superseded is the plan's job (it knows supersedence from the
//! catalog and from version order); [`Applicable::superseded_by_missing`]
//! computes it for callers that need it now.
//!
//! A version that cannot be ordered (a fix or an installed version that even the
//! lenient syntax refuses) is never compared: such a fix is left out of the
//! index (counted by [`ApplicabilityIndex::unusable_fixes`]) and such a package
//! is never reported missing.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::catalog::{Catalog, Fix, PackageKind, PatchId, Platform};
use crate::fleet::{InstalledPackage, Inventory};
use crate::version::{DpkgVersion, NumericVersion, RpmVersion, Scheme, SemverVersion, Syntax};

/// One patch that applies to an inventory, and its state there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applicable {
    pub patch: PatchId,
    pub state: PatchState,
}

/// Whether an applicable patch still has to be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchState {
    /// Nothing to install: every matching package is at or above the fixed
    /// version (or outside the affected range).
    Installed,
    /// These installed packages are affected, and the patch fixes them.
    Missing { packages: Vec<MissingPackage> },
}

/// An installed package a patch would update.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MissingPackage {
    /// The installed (binary) package.
    pub package: String,
    pub architecture: String,
    /// Its installed (binary) version.
    pub installed: String,
    /// The fix's version: a binary version when `compared` is `Binary`, a
    /// source version when it is `Source`; `None` when the feed names no fixed
    /// version (only `last_affected`, or nothing).
    pub fixed: Option<String>,
    /// Which version was compared with `fixed`: the package's own (`Binary`,
    /// `Product`) or its source version (`Source`).
    pub compared: PackageKind,
}

impl Applicable {
    pub fn is_missing(&self) -> bool {
        matches!(self.state, PatchState::Missing { .. })
    }

    /// Whether another missing patch in `results` would update every package
    /// this one would, to a version at least as high: for a caller that wants
    /// only the newest upload of each source. `false` for installed patches.
    pub fn superseded_by_missing(&self, results: &[Applicable], scheme: Scheme) -> bool {
        let PatchState::Missing { packages: mine } = &self.state else {
            return false;
        };
        results.iter().any(|other| {
            let PatchState::Missing { packages: theirs } = &other.state else {
                return false;
            };
            other.patch != self.patch
                && mine.iter().all(|m| {
                    theirs.iter().any(|t| {
                        t.package == m.package
                            && t.architecture == m.architecture
                            && t.compared == m.compared
                            && match (&t.fixed, &m.fixed) {
                                (Some(t), Some(m)) => {
                                    compare(scheme, t, m).is_some_and(|o| o == Ordering::Greater)
                                }
                                _ => false,
                            }
                    })
                })
        })
    }
}

/// The catalog, indexed by platform and package name for applicability.
#[derive(Debug)]
pub struct ApplicabilityIndex<'c> {
    /// The catalog's patch ids, in catalog order; entries refer to them by position.
    patches: Vec<&'c PatchId>,
    by_platform: HashMap<Platform, HashMap<&'c str, PackageFixes<'c>>>,
    /// Per platform, which patches (by position) name binaries there.
    names_binaries: HashMap<Platform, Vec<bool>>,
    unusable_fixes: usize,
}

#[derive(Debug, Default)]
struct PackageFixes<'c> {
    /// Fixes of kind `source` naming this package.
    as_source: Vec<IndexedFix<'c>>,
    /// Fixes of kind `binary` or `product` naming this package.
    as_binary: Vec<IndexedFix<'c>>,
}

#[derive(Debug)]
struct IndexedFix<'c> {
    patch: usize,
    fix: &'c Fix,
    fixed: Option<Parsed>,
    introduced: Option<Parsed>,
    last_affected: Option<Parsed>,
}

impl<'c> ApplicabilityIndex<'c> {
    /// Indexes every fix of every patch; fixes whose versions cannot be
    /// parsed in their platform's scheme are counted and left out.
    pub fn new(catalog: &'c Catalog) -> ApplicabilityIndex<'c> {
        let patches: Vec<&PatchId> = catalog.patches.keys().collect();
        let mut by_platform: HashMap<Platform, HashMap<&str, PackageFixes<'c>>> = HashMap::new();
        let mut names_binaries: HashMap<Platform, Vec<bool>> = HashMap::new();
        let mut unusable_fixes = 0;
        for (position, patch) in catalog.patches.values().enumerate() {
            for fix in &patch.fixes {
                let scheme = fix.platform.scheme();
                let parse = |v: &Option<String>| match v {
                    None => Ok(None),
                    Some(text) => Parsed::parse(scheme, text).map(Some).ok_or(()),
                };
                let (Ok(fixed), Ok(introduced), Ok(last_affected)) = (
                    parse(&fix.fixed),
                    parse(&fix.introduced),
                    parse(&fix.last_affected),
                ) else {
                    unusable_fixes += 1;
                    continue;
                };
                let entry = IndexedFix {
                    patch: position,
                    fix,
                    fixed,
                    introduced,
                    last_affected,
                };
                let fixes = by_platform
                    .entry(fix.platform.clone())
                    .or_default()
                    .entry(fix.package.as_str())
                    .or_default();
                match fix.kind {
                    PackageKind::Source => fixes.as_source.push(entry),
                    PackageKind::Binary | PackageKind::Product => {
                        fixes.as_binary.push(entry);
                        let flags = names_binaries
                            .entry(fix.platform.clone())
                            .or_insert_with(|| vec![false; patches.len()]);
                        if let Some(flag) = flags.get_mut(position) {
                            *flag = true;
                        }
                    }
                }
            }
        }
        ApplicabilityIndex {
            patches,
            by_platform,
            names_binaries,
            unusable_fixes,
        }
    }

    /// Fixes left out because a version in them could not be parsed.
    pub fn unusable_fixes(&self) -> usize {
        self.unusable_fixes
    }

    /// The patches that apply to `inventory`, in patch id order, each
    /// installed or missing (see the module documentation for the rules).
    pub fn applicable_patches(&self, inventory: &Inventory) -> Vec<Applicable> {
        let platform = inventory.platform();
        let Some(packages) = self.by_platform.get(platform) else {
            return Vec::new();
        };
        let scheme = platform.scheme();
        let names_binaries = self.names_binaries.get(platform);
        let decided_by_binaries = |patch: usize| {
            names_binaries
                .and_then(|flags| flags.get(patch).copied())
                .unwrap_or(false)
        };
        // Patch position → missing packages; present means the patch applies.
        let mut found: BTreeMap<usize, Vec<MissingPackage>> = BTreeMap::new();
        for installed in inventory.packages() {
            if let Some(fixes) = packages.get(installed.source.as_str()) {
                let version = Parsed::parse(scheme, &installed.source_version);
                for entry in &fixes.as_source {
                    if !architecture_matches(entry.fix, installed) {
                        continue;
                    }
                    if decided_by_binaries(entry.patch) {
                        continue;
                    }
                    let missing = found.entry(entry.patch).or_default();
                    if version.as_ref().is_some_and(|v| entry.affects(v)) {
                        push_once(missing, installed, entry.fix, PackageKind::Source);
                    }
                }
            }
            if let Some(fixes) = packages.get(installed.name.as_str()) {
                let version = Parsed::parse(scheme, &installed.version);
                for entry in &fixes.as_binary {
                    if !architecture_matches(entry.fix, installed) {
                        continue;
                    }
                    let missing = found.entry(entry.patch).or_default();
                    if version.as_ref().is_some_and(|v| entry.affects(v)) {
                        push_once(missing, installed, entry.fix, entry.fix.kind);
                    }
                }
            }
        }
        found
            .into_iter()
            .filter_map(|(position, mut packages)| {
                let patch = (*self.patches.get(position)?).clone();
                let state = if packages.is_empty() {
                    PatchState::Installed
                } else {
                    packages.sort();
                    PatchState::Missing { packages }
                };
                Some(Applicable { patch, state })
            })
            .collect()
    }
}

/// A fix for one architecture matches packages of that architecture; a
/// source fix for one architecture also matches the source's `all` packages,
/// which every architecture's build produces.
fn architecture_matches(fix: &Fix, installed: &InstalledPackage) -> bool {
    fix.arch.as_deref().is_none_or(|arch| {
        arch == installed.architecture
            || (fix.kind == PackageKind::Source && installed.architecture == "all")
    })
}

/// Records a missing package once per patch, however many fixes (ranges) hit it.
fn push_once(
    missing: &mut Vec<MissingPackage>,
    installed: &InstalledPackage,
    fix: &Fix,
    compared: PackageKind,
) {
    if missing
        .iter()
        .any(|m| m.package == installed.name && m.architecture == installed.architecture)
    {
        return;
    }
    missing.push(MissingPackage {
        package: installed.name.clone(),
        architecture: installed.architecture.clone(),
        installed: installed.version.clone(),
        fixed: fix.fixed.clone(),
        compared,
    });
}

impl IndexedFix<'_> {
    /// Whether `version` is in the fix's affected range.
    fn affects(&self, version: &Parsed) -> bool {
        if let Some(introduced) = &self.introduced
            && !matches!(
                version.cmp(introduced),
                Some(Ordering::Greater | Ordering::Equal)
            )
        {
            return false;
        }
        match (&self.fixed, &self.last_affected) {
            (Some(fixed), _) => version.cmp(fixed) == Some(Ordering::Less),
            (None, Some(last)) => {
                matches!(version.cmp(last), Some(Ordering::Less | Ordering::Equal))
            }
            (None, None) => true,
        }
    }
}

/// A version parsed once in its platform's scheme.
#[derive(Debug, Clone)]
enum Parsed {
    Dpkg(DpkgVersion),
    Rpm(RpmVersion),
    Semver(SemverVersion),
    Numeric(NumericVersion),
}

impl Parsed {
    fn parse(scheme: Scheme, text: &str) -> Option<Parsed> {
        match scheme {
            Scheme::Dpkg => DpkgVersion::parse(text, Syntax::Lenient)
                .ok()
                .map(Parsed::Dpkg),
            Scheme::Rpm => RpmVersion::parse(text, Syntax::Lenient)
                .ok()
                .map(Parsed::Rpm),
            Scheme::Semver => text.parse().ok().map(Parsed::Semver),
            Scheme::Numeric => text.parse().ok().map(Parsed::Numeric),
        }
    }

    fn cmp(&self, other: &Parsed) -> Option<Ordering> {
        match (self, other) {
            (Parsed::Dpkg(a), Parsed::Dpkg(b)) => Some(a.cmp(b)),
            (Parsed::Rpm(a), Parsed::Rpm(b)) => Some(a.cmp(b)),
            (Parsed::Semver(a), Parsed::Semver(b)) => Some(a.cmp(b)),
            (Parsed::Numeric(a), Parsed::Numeric(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

fn compare(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    Parsed::parse(scheme, a)?.cmp(&Parsed::parse(scheme, b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Advisory, AdvisoryRef};
    use crate::rating::{Classification, Severity};

    fn debian12() -> Platform {
        Platform::new("debian", Some("12"))
    }

    fn source_fix(platform: &Platform, source: &str, fixed: &str) -> Fix {
        Fix {
            platform: platform.clone(),
            package: source.into(),
            kind: PackageKind::Source,
            fixed: Some(fixed.into()),
            introduced: None,
            last_affected: None,
            arch: None,
        }
    }

    fn binary_fix(platform: &Platform, binary: &str, arch: &str, version: &str) -> Fix {
        Fix {
            kind: PackageKind::Binary,
            arch: Some(arch.into()),
            ..source_fix(platform, binary, version)
        }
    }

    fn advisory(id: &str, fixes: Vec<Fix>) -> Advisory {
        Advisory {
            reference: AdvisoryRef {
                source: "test".into(),
                id: id.into(),
                url: None,
            },
            patch: PatchId(id.into()),
            vendor: "Debian".into(),
            product: id.split('/').next().unwrap_or(id).into(),
            title: None,
            classification: Classification::Security,
            severity: Severity::Unrated,
            released: None,
            vulnerabilities: Vec::new(),
            fixes,
            files: Vec::new(),
            references: Vec::new(),
            supersedes: Vec::new(),
            restart_required: None,
        }
    }

    /// A patch the way an APT `-security` suite describes it: the source and each binary it ships.
    fn apt_patch(source: &str, version: &str, binaries: &[(&str, &str, &str)]) -> Advisory {
        let p = debian12();
        let mut fixes = vec![source_fix(&p, source, version)];
        fixes.extend(
            binaries
                .iter()
                .map(|(name, arch, v)| binary_fix(&p, name, arch, v)),
        );
        advisory(&format!("{source}/{version}"), fixes)
    }

    fn inventory(packages: Vec<InstalledPackage>) -> Inventory {
        Inventory::new(debian12(), packages).expect("valid inventory")
    }

    fn evaluate(advisories: Vec<Advisory>, inventory: &Inventory) -> Vec<Applicable> {
        let catalog = Catalog::from_advisories(advisories);
        ApplicabilityIndex::new(&catalog).applicable_patches(inventory)
    }

    fn states(results: &[Applicable]) -> Vec<(&str, bool)> {
        results
            .iter()
            .map(|a| (a.patch.as_str(), a.is_missing()))
            .collect()
    }

    fn missing_packages(a: &Applicable) -> Vec<(&str, &str, Option<&str>)> {
        match &a.state {
            PatchState::Installed => Vec::new(),
            PatchState::Missing { packages } => packages
                .iter()
                .map(|m| (m.package.as_str(), m.installed.as_str(), m.fixed.as_deref()))
                .collect(),
        }
    }

    #[test]
    fn a_source_fix_applies_to_every_binary_built_from_that_source() {
        let inv = inventory(vec![
            InstalledPackage::new("libssl3", "amd64", "3.0.15-1~deb12u1")
                .built_from("openssl", "3.0.15-1~deb12u1"),
            InstalledPackage::new("openssl", "amd64", "3.0.17-1~deb12u2"),
            InstalledPackage::new("jq", "amd64", "1.6-2.1"),
        ]);
        let fix = source_fix(&debian12(), "openssl", "3.0.17-1~deb12u2");
        let results = evaluate(vec![advisory("DSA-1", vec![fix])], &inv);
        assert_eq!(states(&results), vec![("DSA-1", true)]);
        assert_eq!(
            missing_packages(&results[0]),
            vec![("libssl3", "3.0.15-1~deb12u1", Some("3.0.17-1~deb12u2"))]
        );
    }

    #[test]
    fn a_source_fix_is_installed_when_every_binary_is_at_or_above_it() {
        let inv = inventory(vec![
            InstalledPackage::new("libssl3", "amd64", "3.0.17-1~deb12u2")
                .built_from("openssl", "3.0.17-1~deb12u2"),
        ]);
        let fix = source_fix(&debian12(), "openssl", "3.0.17-1~deb12u2");
        assert_eq!(
            states(&evaluate(vec![advisory("DSA-1", vec![fix])], &inv)),
            vec![("DSA-1", false)]
        );
    }

    #[test]
    fn a_binnmu_is_judged_by_its_source_version() {
        // `Source: foo (1.2-3)` with binary 1.2-3+b1: the binary version is above
        // 1.2-3+b0 but the source it was built from is not above 1.2-3.
        let inv = inventory(vec![
            InstalledPackage::new("libfoo1", "amd64", "1.2-3+b1").built_from("foo", "1.2-3"),
        ]);
        let p = debian12();
        let results = evaluate(
            vec![
                advisory("foo-fixed-in-1.2-3", vec![source_fix(&p, "foo", "1.2-3")]),
                advisory(
                    "foo-fixed-in-1.2-3+deb12u1",
                    vec![source_fix(&p, "foo", "1.2-3+deb12u1")],
                ),
                advisory(
                    "foo-fixed-in-1.2-3+b1",
                    vec![source_fix(&p, "foo", "1.2-3+b1")],
                ),
            ],
            &inv,
        );
        assert_eq!(
            states(&results),
            vec![
                ("foo-fixed-in-1.2-3", false),
                ("foo-fixed-in-1.2-3+b1", true),
                ("foo-fixed-in-1.2-3+deb12u1", true),
            ]
        );
    }

    #[test]
    fn epochs_and_tildes_order_as_dpkg_orders_them() {
        let inv = inventory(vec![
            InstalledPackage::new("libcap2", "amd64", "1:2.66-4"),
            InstalledPackage::new("ca-certificates", "all", "20230311+deb12u1"),
        ]);
        let p = debian12();
        let results = evaluate(
            vec![
                // Without the epoch, 2.70 is lower than 1:2.66.
                advisory(
                    "libcap2-no-epoch",
                    vec![source_fix(&p, "libcap2", "2.70-1")],
                ),
                advisory(
                    "libcap2-epoch",
                    vec![source_fix(&p, "libcap2", "1:2.66-4+deb12u1")],
                ),
                // `~` sorts before anything, even the end of the string.
                advisory(
                    "ca-tilde",
                    vec![source_fix(&p, "ca-certificates", "20230311+deb12u1~1")],
                ),
                advisory(
                    "ca-backport",
                    vec![source_fix(&p, "ca-certificates", "20250419~deb12u1")],
                ),
            ],
            &inv,
        );
        assert_eq!(
            states(&results),
            vec![
                ("ca-backport", true),
                ("ca-tilde", false),
                ("libcap2-epoch", true),
                ("libcap2-no-epoch", false),
            ]
        );
    }

    #[test]
    fn versions_below_introduced_are_not_affected() {
        let inv = inventory(vec![InstalledPackage::new(
            "xz-utils",
            "amd64",
            "5.4.1-0.2",
        )]);
        let p = debian12();
        let mut fix = source_fix(&p, "xz-utils", "5.6.1+really5.4.5-1");
        fix.introduced = Some("5.6.0-0.1".into());
        let mut open = source_fix(&p, "xz-utils", "");
        open.fixed = None;
        open.introduced = Some("5.4.0".into());
        open.last_affected = Some("5.4.1-0.2".into());
        let mut later = open.clone();
        later.last_affected = Some("5.4.1-0.1".into());
        let results = evaluate(
            vec![
                advisory("A-introduced-later", vec![fix]),
                advisory("B-last-affected-is-installed", vec![open]),
                advisory("C-last-affected-below-installed", vec![later]),
            ],
            &inv,
        );
        assert_eq!(
            states(&results),
            vec![
                ("A-introduced-later", false),
                ("B-last-affected-is-installed", true),
                ("C-last-affected-below-installed", false),
            ]
        );
        assert_eq!(
            missing_packages(&results[1]),
            vec![("xz-utils", "5.4.1-0.2", None)]
        );
    }

    #[test]
    fn fixes_for_other_platforms_and_absent_packages_are_ignored() {
        let inv = inventory(vec![InstalledPackage::new("jq", "amd64", "1.6-2.1")]);
        let trixie = Platform::new("debian", Some("13"));
        let results = evaluate(
            vec![
                advisory("trixie", vec![source_fix(&trixie, "jq", "1.7.1-3")]),
                advisory("other-package", vec![source_fix(&debian12(), "yq", "9")]),
            ],
            &inv,
        );
        assert!(results.is_empty(), "{results:?}");
    }

    #[test]
    fn an_apt_patch_is_missing_only_for_the_binaries_it_ships_and_by_their_binary_versions() {
        let inv = inventory(vec![
            // Shipped by the patch, older: missing.
            InstalledPackage::new("libbrotli1", "amd64", "1.0.9-2+b6")
                .built_from("brotli", "1.0.9-2"),
            // Built from the same source but not shipped by the patch: not missing.
            InstalledPackage::new("brotli", "amd64", "1.0.9-2+b6").built_from("brotli", "1.0.9-2"),
            // Shipped, but for another architecture than the one installed.
            InstalledPackage::new("libbrotli-dev", "i386", "1.0.9-2+b6")
                .built_from("brotli", "1.0.9-2"),
        ]);
        let patch = apt_patch(
            "brotli",
            "1.0.9-2+deb12u1",
            &[
                ("libbrotli1", "amd64", "1.0.9-2+deb12u1"),
                ("libbrotli-dev", "amd64", "1.0.9-2+deb12u1"),
            ],
        );
        let results = evaluate(vec![patch], &inv);
        assert_eq!(
            missing_packages(&results[0]),
            vec![("libbrotli1", "1.0.9-2+b6", Some("1.0.9-2+deb12u1"))]
        );
    }

    #[test]
    fn an_apt_patch_whose_binary_is_a_binnmu_of_the_installed_source_is_missing() {
        // The suite rebuilt the same source (binNMU): the source version is
        // unchanged, the binary is newer, and apt upgrades it.
        let inv = inventory(vec![
            InstalledPackage::new("libfoo1", "amd64", "1.2-3+deb12u1")
                .built_from("foo", "1.2-3+deb12u1"),
        ]);
        let patch = apt_patch(
            "foo",
            "1.2-3+deb12u1",
            &[("libfoo1", "amd64", "1.2-3+deb12u1+b1")],
        );
        let results = evaluate(vec![patch], &inv);
        assert_eq!(states(&results), vec![("foo/1.2-3+deb12u1", true)]);
    }

    #[test]
    fn an_apt_patch_does_not_apply_when_nothing_it_ships_is_installed() {
        let inv = inventory(vec![
            InstalledPackage::new("brotli", "amd64", "1.0.9-2+b6").built_from("brotli", "1.0.9-2"),
        ]);
        let patch = apt_patch(
            "brotli",
            "1.0.9-2+deb12u1",
            &[("libbrotli1", "amd64", "1.0.9-2+deb12u1")],
        );
        assert!(evaluate(vec![patch], &inv).is_empty());
    }

    #[test]
    fn arch_all_binaries_match_arch_all_fixes() {
        let inv = inventory(vec![InstalledPackage::new(
            "ca-certificates",
            "all",
            "20230311+deb12u1",
        )]);
        let patch = apt_patch(
            "ca-certificates",
            "20250419~deb12u2",
            &[("ca-certificates", "all", "20250419~deb12u2")],
        );
        assert_eq!(
            states(&evaluate(vec![patch], &inv)),
            vec![("ca-certificates/20250419~deb12u2", true)]
        );
    }

    #[test]
    fn a_source_fix_for_one_architecture_also_covers_the_sources_arch_all_packages() {
        let inv = inventory(vec![
            InstalledPackage::new("tzdata", "all", "2025b-0+deb12u2"),
            InstalledPackage::new("libfoo1", "arm64", "1.0-1")
                .built_from("tzdata", "2025b-0+deb12u2"),
        ]);
        let mut fix = source_fix(&debian12(), "tzdata", "2026f-0+deb12u1");
        fix.arch = Some("amd64".into());
        let results = evaluate(vec![advisory("tz", vec![fix])], &inv);
        assert_eq!(
            missing_packages(&results[0]),
            vec![("tzdata", "2025b-0+deb12u2", Some("2026f-0+deb12u1"))]
        );
    }

    #[test]
    fn older_and_newer_uploads_are_both_missing_and_the_older_is_superseded() {
        let inv = inventory(vec![InstalledPackage::new("jq", "amd64", "1.6-2.1")]);
        let results = evaluate(
            vec![
                apt_patch(
                    "jq",
                    "1.6-2.1+deb12u1",
                    &[("jq", "amd64", "1.6-2.1+deb12u1")],
                ),
                apt_patch(
                    "jq",
                    "1.6-2.1+deb12u3",
                    &[("jq", "amd64", "1.6-2.1+deb12u3")],
                ),
            ],
            &inv,
        );
        assert_eq!(
            states(&results),
            vec![("jq/1.6-2.1+deb12u1", true), ("jq/1.6-2.1+deb12u3", true)]
        );
        assert!(results[0].superseded_by_missing(&results, Scheme::Dpkg));
        assert!(!results[1].superseded_by_missing(&results, Scheme::Dpkg));
    }

    #[test]
    fn unparsable_versions_are_never_compared() {
        let inv = inventory(vec![InstalledPackage::new(
            "weird",
            "amd64",
            "not:a:version",
        )]);
        let p = debian12();
        let catalog = Catalog::from_advisories(vec![
            advisory("bad-fix", vec![source_fix(&p, "weird", "1:")]),
            advisory("good-fix", vec![source_fix(&p, "weird", "2.0")]),
        ]);
        let index = ApplicabilityIndex::new(&catalog);
        assert_eq!(index.unusable_fixes(), 1);
        assert_eq!(
            states(&index.applicable_patches(&inv)),
            vec![("good-fix", false)]
        );
    }

    #[test]
    fn an_inventory_on_a_platform_without_fixes_gets_nothing() {
        let inv = Inventory::new(
            Platform::new("rhel", Some("9")),
            vec![InstalledPackage::new("openssl", "x86_64", "3.0.7-27.el9")],
        )
        .expect("valid");
        let fix = source_fix(&debian12(), "openssl", "3.0.17-1~deb12u2");
        assert!(evaluate(vec![advisory("DSA-1", vec![fix])], &inv).is_empty());
    }
}
