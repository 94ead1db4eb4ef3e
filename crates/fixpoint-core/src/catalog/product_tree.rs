//! The product tree that CSAF 2.0 and CVRF share, and what its product ids
//! mean: which platform, which package, which version, which architecture.
//!
//! Both formats name products by opaque ids (`CSAFPID-0001`, `10735`,
//! `AppStream-8.6.0.Z.AUS:libxml2-0:2.9.7-9.el8_6.3.x86_64`) defined in a tree
//! of branches (vendor › family › product › version › architecture) and in
//! relationships (`default_component_of`, `installed_on`, ...) that place a
//! component on a platform. The parsers fill a [`ProductTree`]; the tree turns
//! a product id that a vulnerability lists as fixed into a [`Fix`]:
//!
//! ```text
//!  relationship id ─▶ component (package) + target (platform product)
//!                        │                        │
//!        purl ▸ RPM NEVRA ▸ branch names     CPE ▸ well-known name ▸ vendor
//!                        ▼                        ▼
//!                 package, version, arch      Platform (rhel:8, sles:15.4, …)
//! ```
//!
//! Platforms are named after what a machine says about itself where the
//! vendor gives enough to tell (os-release `ID` and major release for Red
//! Hat, service-pack release for SUSE); products that are not operating
//! systems (firmware, appliances, applications) get their vendor as platform.
//!
//! | source                          | platform                 | package, fixed                    |
//! |---------------------------------|--------------------------|-----------------------------------|
//! | `cpe:/a:redhat:rhel_aus:8.6::…` | `rhel:8` (major release) | NEVRA: `libxml2`, `0:2.9.7-9.el8_6.3` |
//! | `cpe:/o:suse:sles_sap:12:sp5`   | `sles:12.5` (SLE codestream, modules and LTSS included) | NVR: `bind`, `9.9.4P2-0.6.1` |
//! | `cpe:/o:suse:sle-micro:5.3`     | `sle-micro:5.3`          | NVR                               |
//! | `cpe:/o:opensuse:tumbleweed`    | `opensuse-tumbleweed`    | NVR                               |
//! | `Azure Linux 3.0`, `CBL Mariner 2.0` | `azurelinux:3.0`, `mariner:2.0` | branch `openssh`, `9.8p1-4` from `azl3 openssh 9.8p1-4` |
//! | `pkg:npm/…`, `pkg:pypi/…`, …    | the ecosystem (`npm`, `pypi`, `crates.io`) | purl name and version  |
//! | anything else                   | the vendor, slugged (`siemens`, `mobotix`; Microsoft: `windows`) | product_name branch, product_version branch |

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalog::model::{Fix, PackageKind, Platform};
use crate::version::{self, Scheme, Syntax};

/// What a branch of the product tree says about the products below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    Vendor,
    ProductFamily,
    ProductName,
    ProductVersion,
    ProductVersionRange,
    /// `service_pack` and `patch_level`: a version below a version.
    ServicePack,
    Architecture,
    /// `language`, `legacy`, `host_name`, `specification` and unknown categories.
    Other,
}

impl BranchKind {
    /// Reads a CSAF branch category (`product_version`) or a CVRF branch type
    /// (`Product Version`).
    pub(crate) fn parse(category: &str) -> BranchKind {
        let normal: String = category
            .trim()
            .chars()
            .map(|c| {
                if c == ' ' || c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        match normal.as_str() {
            "vendor" => BranchKind::Vendor,
            "product_family" => BranchKind::ProductFamily,
            "product_name" => BranchKind::ProductName,
            "product_version" => BranchKind::ProductVersion,
            "product_version_range" => BranchKind::ProductVersionRange,
            "service_pack" | "patch_level" => BranchKind::ServicePack,
            "architecture" => BranchKind::Architecture,
            _ => BranchKind::Other,
        }
    }
}

/// One product as the tree defines it, with what its enclosing branches say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Product {
    /// The full product name (`Red Hat Enterprise Linux AppStream AUS (v.8.6)`).
    pub name: String,
    pub vendor: Option<String>,
    pub family: Option<String>,
    /// The nearest `product_name` branch (`SINEC NMS`, `openssh`).
    pub product_name: Option<String>,
    /// The nearest `product_version` branch, or the service pack below it.
    pub version: Option<String>,
    pub version_range: Option<String>,
    pub arch: Option<String>,
    pub cpe: Option<String>,
    pub purl: Option<String>,
}

/// What the branches above a product say; grows as the walk descends.
#[derive(Debug, Clone, Default)]
pub(crate) struct BranchContext {
    vendor: Option<String>,
    family: Option<String>,
    product_name: Option<String>,
    version: Option<String>,
    version_range: Option<String>,
    arch: Option<String>,
}

impl BranchContext {
    /// The context below a branch of `kind` named `name`.
    pub(crate) fn enter(&self, kind: BranchKind, name: &str) -> BranchContext {
        let mut below = self.clone();
        let name = Some(name.trim().to_owned());
        match kind {
            BranchKind::Vendor => below.vendor = name,
            BranchKind::ProductFamily => below.family = name,
            BranchKind::ProductName => below.product_name = name,
            BranchKind::ProductVersion | BranchKind::ServicePack => below.version = name,
            BranchKind::ProductVersionRange => below.version_range = name,
            BranchKind::Architecture => below.arch = name,
            BranchKind::Other => {}
        }
        below
    }

    /// The product a branch of this context defines.
    pub(crate) fn product(&self, name: &str, cpe: Option<&str>, purl: Option<&str>) -> Product {
        Product {
            name: name.trim().to_owned(),
            vendor: self.vendor.clone(),
            family: self.family.clone(),
            product_name: self.product_name.clone(),
            version: self.version.clone(),
            version_range: self.version_range.clone(),
            arch: self.arch.clone(),
            cpe: cpe.map(str::to_owned),
            purl: purl.map(str::to_owned),
        }
    }
}

/// A relationship: `component` is `category` (default component of, installed
/// on, ...) `target`; the relationship's own product id names the pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relationship {
    pub category: String,
    pub component: String,
    pub target: String,
}

/// Every product and relationship of one document, by product id.
#[derive(Debug, Default)]
pub(crate) struct ProductTree {
    products: HashMap<String, Product>,
    relationships: HashMap<String, Relationship>,
    /// Who published the document: the platform of last resort.
    publisher: String,
}

/// Relationships whose components are relationships themselves are followed
/// this deep; real documents use one level.
const MAX_RELATIONSHIP_DEPTH: usize = 4;

impl ProductTree {
    pub(crate) fn new(publisher: &str) -> ProductTree {
        ProductTree {
            publisher: publisher.to_owned(),
            ..ProductTree::default()
        }
    }

    /// Adds a product; returns `false` (and keeps the first) when the id
    /// already names a product of another name. Vendors repeat products under
    /// several families (SUSE, MSRC); a repeat of the same name is no news.
    pub(crate) fn add_product(&mut self, id: &str, product: Product) -> bool {
        let id = id.trim();
        match self.products.get(id) {
            Some(known) => known.name == product.name,
            None => {
                self.products.insert(id.to_owned(), product);
                true
            }
        }
    }

    /// Adds a relationship; returns `false` (and keeps the first) when the id is taken.
    pub(crate) fn add_relationship(&mut self, id: &str, relationship: Relationship) -> bool {
        let id = id.trim();
        if self.relationships.contains_key(id) {
            return false;
        }
        self.relationships.insert(id.to_owned(), relationship);
        true
    }

    pub(crate) fn product(&self, id: &str) -> Option<&Product> {
        self.products.get(id.trim())
    }

    /// The distinct `product_name` branches, for naming the advisory's product.
    pub(crate) fn product_names(&self) -> BTreeSet<&str> {
        self.products
            .values()
            .filter_map(|p| p.product_name.as_deref())
            .collect()
    }

    /// The distinct `product_family` branches.
    pub(crate) fn family_names(&self) -> BTreeSet<&str> {
        self.products
            .values()
            .filter_map(|p| p.family.as_deref())
            .collect()
    }

    /// The fix that product id `id`, listed as fixed, stands for; or why it
    /// stands for none.
    pub(crate) fn fix_for(&self, id: &str) -> Result<Fix, String> {
        let (component, platform) = self.resolve(id)?;
        package_fix(component, platform)
    }

    /// For a product listed as affected whose version is a range with a single
    /// strict upper bound (`<V2.0_SP1`, `vers:generic/<4.2`): the fix at that
    /// bound. `None` for any other range.
    pub(crate) fn fix_from_affected_range(&self, id: &str) -> Option<Fix> {
        let (component, platform) = self.resolve(id).ok()?;
        let bound = strict_upper_bound(component.version_range.as_deref()?)?;
        let mut fixed = component.clone();
        fixed.version = Some(bound.to_owned());
        fixed.version_range = None;
        package_fix(&fixed, platform).ok()
    }

    /// The component product and the platform a product id names.
    fn resolve(&self, id: &str) -> Result<(&Product, Platform), String> {
        let id = id.trim();
        if let Some(relationship) = self.relationships.get(id) {
            let component = self.component(&relationship.component, 0)?;
            let target = self.products.get(relationship.target.trim());
            let platform = match target {
                Some(target) => self.target_platform(target, component),
                None if self.relationships.contains_key(relationship.target.trim()) => {
                    let (_, platform) = self.resolve(&relationship.target)?;
                    platform
                }
                None => {
                    return Err(format!(
                        "relationship {id:?} places its component on {:?}, which the product tree does not define",
                        relationship.target
                    ));
                }
            };
            return Ok((component, platform));
        }
        match self.products.get(id) {
            Some(product) => Ok((product, self.own_platform(product))),
            None => Err(format!(
                "product id {id:?} is not defined in the product tree"
            )),
        }
    }

    fn component(&self, id: &str, depth: usize) -> Result<&Product, String> {
        if let Some(product) = self.products.get(id.trim()) {
            return Ok(product);
        }
        match self.relationships.get(id.trim()) {
            Some(inner) if depth < MAX_RELATIONSHIP_DEPTH => {
                self.component(&inner.component, depth + 1)
            }
            Some(_) => Err(format!(
                "relationships nest deeper than {MAX_RELATIONSHIP_DEPTH} at {id:?}"
            )),
            None => Err(format!(
                "relationship component {id:?} is not defined in the product tree"
            )),
        }
    }

    /// The platform a relationship's target (an OS, a host) names.
    fn target_platform(&self, target: &Product, component: &Product) -> Platform {
        target
            .cpe
            .as_deref()
            .and_then(platform_from_cpe)
            .or_else(|| {
                target
                    .purl
                    .as_deref()
                    .and_then(Purl::parse)
                    .and_then(|p| p.platform())
            })
            .or_else(|| platform_from_name(&target.name))
            .or_else(|| {
                component
                    .purl
                    .as_deref()
                    .and_then(Purl::parse)
                    .and_then(|p| p.platform())
            })
            .unwrap_or_else(|| {
                vendor_platform(
                    target.vendor.as_deref().or(component.vendor.as_deref()),
                    &self.publisher,
                )
            })
    }

    /// The platform of a product that no relationship places.
    fn own_platform(&self, product: &Product) -> Platform {
        product
            .purl
            .as_deref()
            .and_then(Purl::parse)
            .and_then(|p| p.platform())
            .or_else(|| product.cpe.as_deref().and_then(platform_from_cpe))
            .unwrap_or_else(|| vendor_platform(product.vendor.as_deref(), &self.publisher))
    }
}

/// The package, version and architecture of a component on `platform`.
fn package_fix(product: &Product, platform: Platform) -> Result<Fix, String> {
    let distro = matches!(platform.scheme(), Scheme::Rpm | Scheme::Dpkg);
    if let Some(purl) = product.purl.as_deref().and_then(Purl::parse) {
        return Ok(purl_fix(product, &purl, platform));
    }
    if platform.scheme() == Scheme::Rpm {
        let candidates = [product.version.as_deref(), Some(product.name.as_str())];
        if let Some(nevra) = candidates.into_iter().flatten().find_map(Nevra::parse) {
            return Ok(nevra.into_fix(platform));
        }
    }
    let kind = if distro {
        PackageKind::Binary
    } else {
        PackageKind::Product
    };
    let arch = product.arch.clone().filter(|a| !a.is_empty());
    let Some(package) = product
        .product_name
        .clone()
        .or_else(|| product.family.clone())
    else {
        // No branch names the product: a version that reads `name:tag` (a
        // container image) names both; otherwise the full name is all there is.
        let text = product.version.as_deref().unwrap_or(&product.name);
        if let Some((name, tag)) = text.rsplit_once(':')
            && !name.is_empty()
            && !tag.is_empty()
            && !name.contains(char::is_whitespace)
            && !tag.contains('/')
        {
            return Ok(fix(platform, name, kind, Some(tag), arch));
        }
        return Ok(fix(platform, &product.name, kind, None, arch));
    };
    let fixed = product
        .version
        .as_deref()
        .map(|v| version_after_name(v, &package));
    Ok(fix(platform, &package, kind, fixed, arch))
}

fn fix(
    platform: Platform,
    package: &str,
    kind: PackageKind,
    fixed: Option<&str>,
    arch: Option<String>,
) -> Fix {
    Fix {
        platform,
        package: package.trim().to_owned(),
        kind,
        fixed: fixed
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        introduced: None,
        last_affected: None,
        arch,
    }
}

/// `azl3 openssh 9.8p1-4` under product `openssh` is version `9.8p1-4`:
/// vendors repeat the product's name in its version branches.
fn version_after_name<'a>(version: &'a str, package: &str) -> &'a str {
    let version = version.trim();
    if !version.contains(char::is_whitespace) {
        return version;
    }
    let words: Vec<&str> = version.split_whitespace().collect();
    match words.iter().rposition(|w| w.eq_ignore_ascii_case(package)) {
        Some(at) if at + 2 == words.len() => words.get(at + 1).copied().unwrap_or(version),
        _ => version,
    }
}

/// `<V2.0_SP1` or `vers:generic/<4.2`: the bound, when it is the only constraint.
fn strict_upper_bound(range: &str) -> Option<&str> {
    let range = range.trim();
    let constraint = match range.strip_prefix("vers:") {
        Some(rest) => rest.split_once('/')?.1,
        None => range,
    };
    let bound = constraint.strip_prefix('<')?;
    let ok = !bound.is_empty()
        && !bound.starts_with('=')
        && !bound.contains(|c: char| c == '|' || c == '<' || c == '>' || c.is_whitespace());
    ok.then_some(bound)
}

/// The fix a purl describes.
fn purl_fix(product: &Product, purl: &Purl, platform: Platform) -> Fix {
    let arch = purl.qualifier("arch").map(str::to_owned);
    match purl.ty.as_str() {
        "rpm" => {
            // The product's own NEVRA keeps the epoch (`0:`) that RPM purls
            // leave to a qualifier; use it when it names the same package.
            let from_name = [product.version.as_deref(), Some(product.name.as_str())]
                .into_iter()
                .flatten()
                .filter_map(Nevra::parse)
                .find(|n| n.name == purl.name);
            if let Some(nevra) = from_name {
                return nevra.into_fix(platform);
            }
            let evr = purl
                .version
                .as_deref()
                .map(|v| match purl.qualifier("epoch") {
                    Some(epoch) if !v.contains(':') => format!("{epoch}:{v}"),
                    _ => v.to_owned(),
                });
            let source = matches!(arch.as_deref(), Some("src" | "nosrc"));
            Fix {
                platform,
                package: purl.name.clone(),
                kind: if source {
                    PackageKind::Source
                } else {
                    PackageKind::Binary
                },
                fixed: evr,
                introduced: None,
                last_affected: None,
                arch: if source { None } else { arch },
            }
        }
        "deb" => {
            let source = arch.as_deref() == Some("source");
            Fix {
                platform,
                package: purl.name.clone(),
                kind: if source {
                    PackageKind::Source
                } else {
                    PackageKind::Binary
                },
                fixed: purl.version.clone(),
                introduced: None,
                last_affected: None,
                arch: if source { None } else { arch },
            }
        }
        _ => Fix {
            platform,
            package: purl.full_name(),
            kind: PackageKind::Binary,
            fixed: purl.version.clone(),
            introduced: None,
            last_affected: None,
            arch,
        },
    }
}

/// Keeps, per platform, package, kind and architecture, only the first fixed
/// version: what one vulnerability's statuses list is every fixed build
/// (each firmware release since the fix, each product stream mapped to one
/// platform), while a [`Fix`] says "fixed from here on". Versions are ordered
/// by the platform's scheme, leniently; where that cannot read them, by
/// rpmvercmp, which orders any text segment by segment. The result is sorted.
pub(crate) fn first_fixed(fixes: impl IntoIterator<Item = Fix>) -> Vec<Fix> {
    keep_per_package(fixes, Ordering::Less)
}

/// Keeps, per platform, package, kind and architecture, the latest of the
/// first fixed versions of several vulnerabilities: the patch fixes all of
/// them only from there on (AdminerEvo 4.8.3 fixes one CVE of VA-24-201-01,
/// 4.8.4 all three). The result is sorted.
pub(crate) fn latest_fixed(fixes: impl IntoIterator<Item = Fix>) -> Vec<Fix> {
    keep_per_package(fixes, Ordering::Greater)
}

fn keep_per_package(fixes: impl IntoIterator<Item = Fix>, preferred: Ordering) -> Vec<Fix> {
    type Key = (Platform, String, PackageKind, Option<String>);
    let mut kept: BTreeMap<Key, Fix> = BTreeMap::new();
    for fix in fixes {
        let key = (
            fix.platform.clone(),
            fix.package.clone(),
            fix.kind,
            fix.arch.clone(),
        );
        match kept.get_mut(&key) {
            None => {
                kept.insert(key, fix);
            }
            Some(known) => {
                let replace = match (&known.fixed, &fix.fixed) {
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => order_versions(fix.platform.scheme(), b, a) == preferred,
                    _ => false,
                };
                if replace {
                    *known = fix;
                }
            }
        }
    }
    kept.into_values().collect()
}

fn order_versions(scheme: Scheme, a: &str, b: &str) -> Ordering {
    version::compare_with(scheme, Syntax::Lenient, a, b)
        .or_else(|_| version::compare_with(Scheme::Rpm, Syntax::Lenient, a, b))
        .unwrap_or_else(|_| a.cmp(b))
}

/// What to call an advisory's product: its one source package; else the
/// package every fixed package is named after (`bind` for `bind-libs`,
/// `bind-utils`); else the tree's one product name or product family; else `fallback`.
pub(crate) fn advisory_product(fixes: &[Fix], tree: &ProductTree, fallback: &str) -> String {
    let sources: BTreeSet<&str> = fixes
        .iter()
        .filter(|f| f.kind == PackageKind::Source)
        .map(|f| f.package.as_str())
        .collect();
    if sources.len() == 1 {
        return sources.into_iter().next().unwrap_or(fallback).to_owned();
    }
    let packages: BTreeSet<&str> = fixes.iter().map(|f| f.package.as_str()).collect();
    if let Some(base) = packages.iter().min_by_key(|p| p.len())
        && packages
            .iter()
            .all(|p| p == base || p.starts_with(&format!("{base}-")))
    {
        return (*base).to_owned();
    }
    for names in [tree.product_names(), tree.family_names()] {
        if names.len() == 1 {
            return names.into_iter().next().unwrap_or(fallback).to_owned();
        }
    }
    fallback.to_owned()
}

// ---------------------------------------------------------------------------
// Platforms

/// The platform a CPE (2.2 URI or 2.3 formatted string) names, for the
/// vendors whose CPEs name operating systems we know how to version.
pub(crate) fn platform_from_cpe(cpe: &str) -> Option<Platform> {
    let cpe = Cpe::parse(cpe)?;
    let version = (!cpe.version.is_empty() && cpe.version != "*" && cpe.version != "-")
        .then_some(cpe.version);
    match cpe.vendor {
        "redhat" => {
            const RHEL_STREAMS: [&str; 7] = [
                "aus",
                "e4s",
                "tus",
                "eus",
                "els",
                "eus_long_life",
                "mission_critical",
            ];
            let rhel = cpe.product == "enterprise_linux"
                || cpe.product.starts_with("enterprise_linux_")
                || cpe
                    .product
                    .strip_prefix("rhel_")
                    .is_some_and(|s| RHEL_STREAMS.contains(&s));
            if rhel {
                let major = version?.split('.').next().filter(|m| is_digits(m))?;
                Some(Platform::new("rhel", Some(major)))
            } else {
                Some(Platform::new(cpe.product, version))
            }
        }
        "suse" => {
            let product = cpe.product;
            let service_pack = cpe.update.strip_prefix("sp").filter(|n| is_digits(n));
            let release = match (version, service_pack) {
                (Some(v), Some(sp)) => Some(format!("{v}.{sp}")),
                (v, _) => v.map(str::to_owned),
            };
            if product.contains("micro") {
                Some(Platform::new("sle-micro", version))
            } else if product == "packagehub"
                || product.starts_with("sles")
                || product.starts_with("suse_sles")
                || product.starts_with("sled")
                || product.starts_with("suse_sled")
                || product.starts_with("sle-")
                || product.starts_with("sle_")
            {
                Some(Platform::new("sles", release.as_deref()))
            } else {
                Some(Platform::new(product, release.as_deref()))
            }
        }
        "opensuse" => match cpe.product {
            "leap" => Some(Platform::new("opensuse-leap", version)),
            "tumbleweed" => Some(Platform::new("opensuse-tumbleweed", None)),
            "leap-micro" => Some(Platform::new("opensuse-leap-micro", version)),
            other => Some(Platform::new(other, version)),
        },
        _ => None,
    }
}

/// The platform a well-known operating system's product name names, for
/// documents that give no CPE.
pub(crate) fn platform_from_name(name: &str) -> Option<Platform> {
    let name = name.trim();
    let release_after = |prefix: &str| {
        name.strip_prefix(prefix).map(str::trim).filter(|r| {
            !r.is_empty() && r.starts_with(|c: char| c.is_ascii_digit()) && !r.contains(' ')
        })
    };
    if let Some(release) = release_after("Azure Linux") {
        return Some(Platform::new("azurelinux", Some(release)));
    }
    if let Some(release) = release_after("CBL Mariner").or_else(|| release_after("CBL-Mariner")) {
        return Some(Platform::new("mariner", Some(release)));
    }
    if name == "openSUSE Tumbleweed" {
        return Some(Platform::new("opensuse-tumbleweed", None));
    }
    if let Some(release) = release_after("openSUSE Leap") {
        return Some(Platform::new("opensuse-leap", Some(release)));
    }
    if name.starts_with("SUSE Linux Enterprise") && !name.contains("Micro") {
        // `SUSE Linux Enterprise Server 12 SP5`, `... 15 SP1-LTSS`, `... 11 SP4 LTSS`
        let words: Vec<&str> = name.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| is_digits(w.split('-').next().unwrap_or(w)))?;
        let major = words[at].split('-').next().unwrap_or(words[at]);
        let service_pack = words
            .get(at + 1)
            .and_then(|w| w.strip_prefix("SP"))
            .map(|sp| sp.split('-').next().unwrap_or(sp))
            .filter(|sp| is_digits(sp));
        let release = match service_pack {
            Some(sp) => format!("{major}.{sp}"),
            None => major.to_owned(),
        };
        return Some(Platform::new("sles", Some(&release)));
    }
    None
}

/// The platform of last resort: the vendor, slugged (`Example Company` →
/// `example-company`); Microsoft's products are Windows'.
pub(crate) fn vendor_platform(vendor: Option<&str>, publisher: &str) -> Platform {
    let vendor = vendor.filter(|v| !v.trim().is_empty()).unwrap_or(publisher);
    if vendor.to_ascii_lowercase().contains("microsoft") {
        return Platform::new("windows", None);
    }
    let mut slug = String::with_capacity(vendor.len());
    for c in vendor.trim().chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    Platform::new(if slug.is_empty() { "unknown" } else { slug }, None)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The parts of a CPE that name a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cpe<'a> {
    pub part: &'a str,
    pub vendor: &'a str,
    pub product: &'a str,
    pub version: &'a str,
    pub update: &'a str,
}

impl<'a> Cpe<'a> {
    /// `cpe:/o:suse:sles:12:sp5` (2.2) or `cpe:2.3:o:suse:sles:12:sp5:*:…` (2.3).
    /// Escaped colons (`\:`) in 2.3 names are not split on.
    pub(crate) fn parse(text: &'a str) -> Option<Cpe<'a>> {
        let text = text.trim();
        let rest = text
            .strip_prefix("cpe:2.3:")
            .or_else(|| text.strip_prefix("cpe:/"))?;
        let mut fields = Vec::with_capacity(6);
        let mut start = 0;
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() && fields.len() < 5 {
            match bytes[i] {
                b'\\' => i += 2,
                b':' => {
                    fields.push(rest.get(start..i)?);
                    start = i + 1;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        if fields.len() < 5 {
            fields.push(rest.get(start..)?);
        } else {
            // The update field ends at the next unescaped colon.
            let tail = rest.get(start..)?;
            fields.push(tail.split(':').next().unwrap_or(tail));
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let cpe = Cpe {
            part: field(0),
            vendor: field(1),
            product: field(2),
            version: field(3),
            update: field(4),
        };
        (!cpe.vendor.is_empty() && !cpe.product.is_empty()).then_some(cpe)
    }
}

/// A package URL: `pkg:type/namespace/name@version?qualifiers#subpath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Purl {
    pub ty: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: Vec<(String, String)>,
}

impl Purl {
    pub(crate) fn parse(text: &str) -> Option<Purl> {
        let rest = text.trim().strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (path, version) = match rest.rsplit_once('@') {
            Some((p, v)) if !p.is_empty() && !v.contains('/') => (p, Some(percent_decode(v))),
            _ => (rest, None),
        };
        let (ty, path) = path.split_once('/')?;
        let path = path.trim_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, name)) => (Some(percent_decode(ns)), percent_decode(name)),
            None => (None, percent_decode(path)),
        };
        if ty.is_empty() || name.is_empty() {
            return None;
        }
        let qualifiers = qualifiers
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), percent_decode(v)))
            .collect();
        Some(Purl {
            ty: ty.to_ascii_lowercase(),
            namespace,
            name,
            version,
            qualifiers,
        })
    }

    pub(crate) fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The package's name as its ecosystem writes it: `@scope/name` (npm),
    /// `group:artifact` (Maven), `module/path` (Go), `name` elsewhere.
    pub(crate) fn full_name(&self) -> String {
        match (&self.namespace, self.ty.as_str()) {
            (Some(ns), "maven") => format!("{ns}:{}", self.name),
            (Some(ns), "npm" | "golang" | "github" | "composer" | "swift") => {
                format!("{ns}/{}", self.name)
            }
            _ => self.name.clone(),
        }
    }

    /// The ecosystem a language package belongs to, or the distribution an
    /// OS package's `distro` qualifier names.
    pub(crate) fn platform(&self) -> Option<Platform> {
        let ecosystem = match self.ty.as_str() {
            "npm" => "npm",
            "pypi" => "pypi",
            "cargo" => "crates.io",
            "gem" => "rubygems",
            "maven" => "maven",
            "golang" => "go",
            "nuget" => "nuget",
            "composer" => "packagist",
            "hex" => "hex",
            "pub" => "pub",
            "rpm" | "deb" | "apk" => {
                return self.qualifier("distro").and_then(platform_from_distro);
            }
            _ => return None,
        };
        Some(Platform::new(ecosystem, None))
    }
}

/// A purl `distro` qualifier: `rhel-8.6`, `debian-12`, `opensuse-leap-15.5`, `el8`.
fn platform_from_distro(distro: &str) -> Option<Platform> {
    let (family, release) = distro.rsplit_once('-')?;
    if family.is_empty() || !release.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if family == "rhel" || family == "redhat" {
        return Some(Platform::new("rhel", release.split('.').next()));
    }
    Some(Platform::new(family, Some(release)))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An RPM package's name, `[epoch:]version-release` and architecture, read
/// from `name-[epoch:]version-release[.arch]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nevra {
    pub name: String,
    /// `[epoch:]version-release`, as written (Red Hat writes `0:` epochs).
    pub evr: String,
    pub arch: Option<String>,
}

/// Architectures RPM products end in; a trailing `.word` not listed here is
/// part of the release (`1.22`, `el8_6.3`).
const RPM_ARCHES: [&str; 24] = [
    "x86_64",
    "x86_64_v2",
    "x86_64_v3",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "noarch",
    "src",
    "nosrc",
    "aarch64",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppc64p7",
    "s390",
    "s390x",
    "ia64",
    "armv6hl",
    "armv7hl",
    "armv7l",
    "riscv64",
    "loongarch64",
];

impl Nevra {
    pub(crate) fn parse(text: &str) -> Option<Nevra> {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains('/') {
            return None;
        }
        let (nvr, arch) = match text.rsplit_once('.') {
            Some((nvr, arch)) if RPM_ARCHES.contains(&arch) => (nvr, Some(arch)),
            _ => (text, None),
        };
        let (nv, release) = nvr.rsplit_once('-')?;
        let (name, version) = nv.rsplit_once('-')?;
        let upstream = version
            .split_once(':')
            .map_or(version, |(epoch, v)| if is_digits(epoch) { v } else { "" });
        let plausible = !name.is_empty()
            && !release.is_empty()
            && !release.contains(':')
            && upstream.starts_with(|c: char| c.is_ascii_digit());
        plausible.then(|| Nevra {
            name: name.to_owned(),
            evr: format!("{version}-{release}"),
            arch: arch.map(str::to_owned),
        })
    }

    fn into_fix(self, platform: Platform) -> Fix {
        let source = matches!(self.arch.as_deref(), Some("src" | "nosrc"));
        Fix {
            platform,
            package: self.name,
            kind: if source {
                PackageKind::Source
            } else {
                PackageKind::Binary
            },
            fixed: Some(self.evr),
            introduced: None,
            last_affected: None,
            arch: if source { None } else { self.arch },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_hat_cpes_name_the_major_release() {
        assert_eq!(
            platform_from_cpe("cpe:/a:redhat:rhel_aus:8.6::appstream"),
            Some(Platform("rhel:8".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:redhat:enterprise_linux:7::client"),
            Some(Platform("rhel:7".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/a:redhat:openshift:4.6::el8"),
            Some(Platform("openshift:4.6".into()))
        );
    }

    #[test]
    fn suse_cpes_name_the_service_pack_codestream() {
        assert_eq!(
            platform_from_cpe("cpe:/o:suse:suse_sles:11:sp2"),
            Some(Platform("sles:11.2".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:suse:sles_sap:12:sp5"),
            Some(Platform("sles:12.5".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:suse:sles-ltss:15"),
            Some(Platform("sles:15".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:suse:sle-module-basesystem:15:sp4"),
            Some(Platform("sles:15.4".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:suse:packagehub:12"),
            Some(Platform("sles:12".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:suse:suse-microos:5.2"),
            Some(Platform("sle-micro:5.2".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/o:opensuse:tumbleweed"),
            Some(Platform("opensuse-tumbleweed".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:2.3:o:suse:sles:15:sp6:*:*:*:*:*:*"),
            Some(Platform("sles:15.6".into()))
        );
        assert_eq!(
            platform_from_cpe("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc2"),
            None
        );
    }

    #[test]
    fn well_known_names_name_platforms() {
        assert_eq!(
            platform_from_name("Azure Linux 3.0"),
            Some(Platform("azurelinux:3.0".into()))
        );
        assert_eq!(
            platform_from_name("CBL Mariner 2.0"),
            Some(Platform("mariner:2.0".into()))
        );
        assert_eq!(
            platform_from_name("SUSE Linux Enterprise Server 11 SP4 LTSS"),
            Some(Platform("sles:11.4".into()))
        );
        assert_eq!(platform_from_name("Mobotix P3 D24M"), None);
        assert_eq!(
            vendor_platform(Some("Example Company"), "x"),
            Platform("example-company".into())
        );
        assert_eq!(
            vendor_platform(None, "Microsoft Security Response Center"),
            Platform("windows".into())
        );
    }

    #[test]
    fn nevra_keeps_the_epoch_and_knows_architectures() {
        let n = Nevra::parse("git-lfs-0:2.13.3-3.el8_6.1.x86_64").expect("nevra");
        assert_eq!(
            (n.name.as_str(), n.evr.as_str(), n.arch.as_deref()),
            ("git-lfs", "0:2.13.3-3.el8_6.1", Some("x86_64"))
        );
        let n = Nevra::parse("bind-libs-32bit-9.9.4P2-0.6.1.ppc64").expect("nevra");
        assert_eq!(
            (n.name.as_str(), n.evr.as_str(), n.arch.as_deref()),
            ("bind-libs-32bit", "9.9.4P2-0.6.1", Some("ppc64"))
        );
        let n = Nevra::parse("samba-client-libs-4.19.4+git.339.acf1ccaa02-1.22").expect("nevra");
        assert_eq!(
            (n.name.as_str(), n.evr.as_str(), n.arch),
            ("samba-client-libs", "4.19.4+git.339.acf1ccaa02-1.22", None)
        );
        assert_eq!(Nevra::parse("CSAFPID-0001"), None);
        assert_eq!(Nevra::parse("azl3 openssh 9.8p1-4"), None);
    }

    #[test]
    fn purls_are_read_with_qualifiers() {
        let p = Purl::parse("pkg:rpm/redhat/git-lfs@2.13.3-3.el8_6.1?arch=x86_64").expect("purl");
        assert_eq!(
            (p.ty.as_str(), p.name.as_str(), p.version.as_deref()),
            ("rpm", "git-lfs", Some("2.13.3-3.el8_6.1"))
        );
        assert_eq!(p.qualifier("arch"), Some("x86_64"));
        let p = Purl::parse("pkg:npm/%40angular/core@1.0.0").expect("purl");
        assert_eq!(p.full_name(), "@angular/core");
        assert_eq!(p.platform(), Some(Platform("npm".into())));
    }

    #[test]
    fn only_single_strict_upper_bounds_imply_a_fix() {
        assert_eq!(strict_upper_bound("<V2.0_SP1"), Some("V2.0_SP1"));
        assert_eq!(strict_upper_bound("vers:generic/<4.2"), Some("4.2"));
        assert_eq!(strict_upper_bound(">=1.275M|<1.290C"), None);
        assert_eq!(strict_upper_bound("<=1.006_"), None);
        assert_eq!(strict_upper_bound("vers:all/*"), None);
    }

    #[test]
    fn the_first_fixed_version_wins() {
        let f = |v: &str| {
            fix(
                Platform::new("mobotix", None),
                "P3 Firmware",
                PackageKind::Product,
                Some(v),
                None,
            )
        };
        let kept = first_fixed([f("MX-V4.7.3.11-r6"), f("MX-V4.7.2.18"), f("MX-V4.7.2.21")]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].fixed.as_deref(), Some("MX-V4.7.2.18"));
    }
}
