//! What is installed on a machine, and the content hash that lets machines
//! built from one image share one inventory.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::Platform;

use super::FleetError;

/// The schema patterns of a package's fields: white space around a field is
/// trimmed, inside one it is refused, and so are control characters (see
/// `normalised`).
const PACKAGE_FIELD: &str = r"^\s*[^\s\x00-\x1F\x7F-\x9F]+\s*$";
const OPTIONAL_PACKAGE_FIELD: &str = r"^\s*[^\s\x00-\x1F\x7F-\x9F]*\s*$";

/// One installed package. For Debian and Ubuntu: a binary package with the
/// source package it was built from (dpkg's `Source:` field, or the package
/// itself when there is none).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstalledPackage {
    /// The (binary) package name: `libssl3`.
    #[schemars(pattern(PACKAGE_FIELD))]
    pub name: String,
    /// `amd64`, `all`, `x86_64`, `noarch`; empty where a platform has none.
    #[serde(default)]
    #[schemars(pattern(OPTIONAL_PACKAGE_FIELD))]
    pub architecture: String,
    /// The installed version, in the platform's version scheme.
    #[schemars(pattern(PACKAGE_FIELD))]
    pub version: String,
    /// The source package; the package's own name when the packaging names none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(pattern(OPTIONAL_PACKAGE_FIELD))]
    pub source: String,
    /// The source version; differs from `version` for binNMUs (`1.2-3+b1` built
    /// from `1.2-3`) and for packages versioned apart from their source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(pattern(OPTIONAL_PACKAGE_FIELD))]
    pub source_version: String,
}

impl InstalledPackage {
    /// A package that is its own source, at its own version.
    pub fn new(name: &str, architecture: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.to_owned(),
            architecture: architecture.to_owned(),
            version: version.to_owned(),
            source: name.to_owned(),
            source_version: version.to_owned(),
        }
    }

    /// The same package, built from `source` at `source_version`.
    pub fn built_from(mut self, source: &str, source_version: &str) -> InstalledPackage {
        source.clone_into(&mut self.source);
        source_version.clone_into(&mut self.source_version);
        self
    }

    /// Trims every field, fills in an absent source (the package itself, at
    /// its own version), and refuses what cannot be a package: empty names or
    /// versions, whitespace or control characters inside a field.
    fn normalised(mut self) -> Result<InstalledPackage, String> {
        for field in [
            &mut self.name,
            &mut self.architecture,
            &mut self.version,
            &mut self.source,
            &mut self.source_version,
        ] {
            trim_in_place(field);
        }
        if self.source.is_empty() {
            self.source.clone_from(&self.name);
        }
        if self.source_version.is_empty() {
            self.source_version.clone_from(&self.version);
        }
        for (what, value) in [
            ("name", &self.name),
            ("version", &self.version),
            ("architecture", &self.architecture),
            ("source", &self.source),
            ("source version", &self.source_version),
        ] {
            if value.is_empty() && what != "architecture" {
                return Err(format!("package {:?}: empty {what}", self.name));
            }
            if contains_whitespace_or_control(value) {
                return Err(format!(
                    "package {:?}: {what} {value:?} contains whitespace or a control character",
                    self.name
                ));
            }
        }
        Ok(self)
    }
}

/// `s.trim()`, without a new allocation.
fn trim_in_place(s: &mut String) {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    if start > 0 {
        s.drain(..start);
    }
}

/// Whether `value` holds a whitespace or control character. Checks the bytes
/// first: in ASCII those characters are exactly the bytes up to the space and
/// DEL, and every other character is encoded with bytes from 0x80, so a field
/// with none of these bytes (nearly all of them) is decided in one pass.
fn contains_whitespace_or_control(value: &str) -> bool {
    value.bytes().any(|b| b <= b' ' || b >= 0x7F)
        && value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The SHA-256 of an inventory's canonical form, as 64 lowercase hex digits
/// (either case is accepted).
///
/// The canonical form is the text
/// `fixpoint-inventory-v1\nplatform {platform}\n` followed by one line
/// `{name} {architecture} {version} {source} {source version}\n` per package,
/// the lines sorted bytewise. Fields are trimmed, an empty source is the
/// package's own name and an empty source version its own version, and a
/// package with whitespace inside a field is refused ([`Inventory::new`]), so
/// the form is unambiguous, and neither the order the packages were listed in
/// nor the whitespace around them changes the hash.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("pattern" = "^[0-9a-fA-F]{64}$"))]
pub struct InventoryHash(String);

impl InventoryHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InventoryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InventoryHash {
    type Err = FleetError;

    /// Accepts 64 hex digits, either case; keeps them lowercase.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(InventoryHash(s.to_ascii_lowercase()))
        } else {
            Err(FleetError::InvalidHash(
                crate::catalog::apt::deb822::truncate(s),
            ))
        }
    }
}

impl TryFrom<String> for InventoryHash {
    type Error = FleetError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<InventoryHash> for String {
    fn from(hash: InventoryHash) -> String {
        hash.0
    }
}

/// The installed packages of a machine, with its platform, sorted by name and
/// architecture, and their content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    platform: Platform,
    packages: Vec<InstalledPackage>,
    hash: InventoryHash,
}

impl Inventory {
    /// Normalises the packages (see [`InventoryHash`]), sorts them, and hashes
    /// the result. Two entries for one (name, architecture) are refused: a
    /// package manager installs one version of each.
    pub fn new(
        platform: Platform,
        packages: Vec<InstalledPackage>,
    ) -> Result<Inventory, FleetError> {
        let platform_text = platform.0.trim();
        if platform_text.is_empty() || platform_text.contains(char::is_whitespace) {
            return Err(FleetError::InvalidInventory(format!(
                "platform {:?}: expected a name such as debian:12",
                platform.0
            )));
        }
        let platform = if platform_text.len() == platform.0.len() {
            platform
        } else {
            Platform(platform_text.to_owned())
        };
        // In place: the vector is reused, the first invalid package (in the
        // order given) is the error.
        let mut packages = packages
            .into_iter()
            .map(InstalledPackage::normalised)
            .collect::<Result<Vec<_>, _>>()
            .map_err(FleetError::InvalidInventory)?;
        // Equal packages are identical, so an unstable sort gives the stable
        // order; it returns after one pass over a list that is already sorted
        // (a package manager's database usually is).
        packages.sort_unstable();
        // Sorted by name, then architecture: two entries for one pair are
        // neighbours.
        if let Some(p) = packages
            .windows(2)
            .find(|pair| {
                pair[0].name == pair[1].name && pair[0].architecture == pair[1].architecture
            })
            .map(|pair| &pair[1])
        {
            return Err(FleetError::InvalidInventory(format!(
                "package {} ({}) is listed more than once",
                p.name,
                if p.architecture.is_empty() {
                    "no architecture"
                } else {
                    &p.architecture
                }
            )));
        }
        let hash = content_hash(&platform, &packages);
        Ok(Inventory {
            platform,
            packages,
            hash,
        })
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The packages, sorted by name, then architecture.
    pub fn packages(&self) -> &[InstalledPackage] {
        &self.packages
    }

    pub fn hash(&self) -> &InventoryHash {
        &self.hash
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// The installed packages with this name (one per architecture).
    pub fn get(&self, name: &str) -> impl Iterator<Item = &InstalledPackage> {
        let start = self.packages.partition_point(|p| p.name.as_str() < name);
        self.packages[start..]
            .iter()
            .take_while(move |p| p.name == name)
    }
}

/// The SHA-256 of the canonical form (see [`InventoryHash`]), written to the
/// hasher through one small buffer rather than one string per package.
///
/// The packages are in `Ord` order, and that is the bytewise order of their
/// lines: the fields hold no whitespace or control characters, so every byte
/// in them is above the separators (space, and the newline that ends the
/// last field), and comparing two lines compares the fields one after the
/// other, a field that is a prefix of the other's sorting first. The lines
/// need no sort of their own.
fn content_hash(platform: &Platform, packages: &[InstalledPackage]) -> InventoryHash {
    /// Large enough that the hasher sees few calls, small enough to stay in
    /// the L1 cache.
    const CHUNK: usize = 8 * 1024;
    let mut hasher = Sha256::new();
    hasher.update(b"fixpoint-inventory-v1\nplatform ");
    hasher.update(platform.0.as_bytes());
    hasher.update(b"\n");
    let mut buffer = Vec::with_capacity(CHUNK + 256);
    for p in packages {
        for (field, end) in [
            (&p.name, b' '),
            (&p.architecture, b' '),
            (&p.version, b' '),
            (&p.source, b' '),
            (&p.source_version, b'\n'),
        ] {
            buffer.extend_from_slice(field.as_bytes());
            buffer.push(end);
        }
        if buffer.len() >= CHUNK {
            hasher.update(&buffer);
            buffer.clear();
        }
    }
    hasher.update(&buffer);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = hasher
        .finalize()
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]])
        .map(char::from)
        .collect();
    InventoryHash(hex)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn debian12() -> Platform {
        Platform::new("debian", Some("12"))
    }

    #[test]
    fn the_hash_ignores_order_and_surrounding_whitespace() {
        let a = Inventory::new(
            debian12(),
            vec![
                InstalledPackage::new("bash", "amd64", "5.2.15-2+b8")
                    .built_from("bash", "5.2.15-2"),
                InstalledPackage::new("libssl3", "amd64", "3.0.17-1~deb12u2")
                    .built_from("openssl", "3.0.17-1~deb12u2"),
            ],
        )
        .expect("valid");
        let b = Inventory::new(
            debian12(),
            vec![
                InstalledPackage::new(" libssl3", "amd64 ", "3.0.17-1~deb12u2")
                    .built_from("openssl", "\t3.0.17-1~deb12u2"),
                InstalledPackage::new("bash", "amd64", "5.2.15-2+b8")
                    .built_from("bash ", "5.2.15-2"),
            ],
        )
        .expect("valid");
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a, b);
    }

    #[test]
    fn an_absent_source_is_the_package_itself() {
        let explicit = Inventory::new(
            debian12(),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1").built_from("jq", "1.6-2.1")],
        )
        .expect("valid");
        let mut implicit = InstalledPackage::new("jq", "amd64", "1.6-2.1");
        implicit.source.clear();
        implicit.source_version.clear();
        let implicit = Inventory::new(debian12(), vec![implicit]).expect("valid");
        assert_eq!(explicit.hash(), implicit.hash());
    }

    #[test]
    fn any_difference_in_content_changes_the_hash() {
        let base = Inventory::new(
            debian12(),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1")],
        )
        .expect("valid");
        let newer = Inventory::new(
            debian12(),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1+deb12u1")],
        )
        .expect("valid");
        let other_platform = Inventory::new(
            Platform::new("debian", Some("13")),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1")],
        )
        .expect("valid");
        let other_source = Inventory::new(
            debian12(),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1").built_from("jq-src", "1.6-2.1")],
        )
        .expect("valid");
        let hashes: BTreeSet<_> = [&base, &newer, &other_platform, &other_source]
            .iter()
            .map(|i| i.hash().clone())
            .collect();
        assert_eq!(hashes.len(), 4);
        assert_eq!(base.hash().as_str().len(), 64);
    }

    #[test]
    fn fields_with_inner_whitespace_and_duplicate_packages_are_refused() {
        let err = Inventory::new(debian12(), vec![InstalledPackage::new("j q", "amd64", "1")])
            .expect_err("space in a name");
        assert!(err.to_string().contains("whitespace"), "{err}");
        let err = Inventory::new(
            debian12(),
            vec![
                InstalledPackage::new("jq", "amd64", "1"),
                InstalledPackage::new("jq", "amd64", "2"),
            ],
        )
        .expect_err("two versions of one package");
        assert!(err.to_string().contains("more than once"), "{err}");
        // One package for two architectures is multiarch, not a duplicate.
        Inventory::new(
            debian12(),
            vec![
                InstalledPackage::new("libc6", "amd64", "2.36-9"),
                InstalledPackage::new("libc6", "i386", "2.36-9"),
            ],
        )
        .expect("multiarch");
    }

    #[test]
    fn hashes_parse_from_hex_in_either_case() {
        let upper = "AB".repeat(32);
        assert_eq!(
            upper.parse::<InventoryHash>().expect("hex").as_str(),
            "ab".repeat(32)
        );
        assert!("abc".parse::<InventoryHash>().is_err());
        assert!("zz".repeat(32).parse::<InventoryHash>().is_err());
    }

    /// Packages whose order is easy to get wrong: names that are prefixes of
    /// one another or differ in punctuation below and above the letters, no
    /// architecture beside an architecture, a non-ASCII name, a binNMU.
    fn awkward_packages() -> Vec<InstalledPackage> {
        vec![
            InstalledPackage::new("libfoo", "amd64", "1.0-1"),
            InstalledPackage::new("libfoo", "", "1.0-1"),
            InstalledPackage::new("libfoo-dev", "amd64", "1.0-1").built_from("libfoo", "1.0-1"),
            InstalledPackage::new("libfoo1", "amd64", "1.0-1+b1").built_from("libfoo", "1.0-1"),
            InstalledPackage::new("libfoo+", "all", "1.0"),
            InstalledPackage::new("libfo", "amd64", "10:2.0~rc1-3"),
            InstalledPackage::new("zlib1g", "amd64", "1:1.2.13.dfsg-1")
                .built_from("zlib", "1:1.2.13.dfsg-1"),
            InstalledPackage::new("b\u{e9}b\u{e9}", "i386", "2"),
            InstalledPackage::new("b", "i386", "2").built_from("b\u{e9}b\u{e9}", "2"),
            InstalledPackage::new("A", "amd64", "0"),
        ]
    }

    /// The canonical form as `InventoryHash` describes it, built the obvious
    /// way: one string per package, the strings sorted.
    fn canonical_hash_by_the_letter(platform: &str, packages: &[InstalledPackage]) -> String {
        let mut lines: Vec<String> = packages
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {} {}\n",
                    p.name, p.architecture, p.version, p.source, p.source_version
                )
            })
            .collect();
        lines.sort();
        let text = format!(
            "fixpoint-inventory-v1\nplatform {platform}\n{}",
            lines.concat()
        );
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn the_hash_of_awkward_packages_is_pinned_and_follows_the_documented_form() {
        let inventory = Inventory::new(debian12(), awkward_packages()).expect("valid");
        assert_eq!(
            inventory.hash().as_str(),
            canonical_hash_by_the_letter("debian:12", inventory.packages())
        );
        assert_eq!(
            inventory.hash().as_str(),
            "2d9b66a7c6cdaa8330a2217d8579957e9a84702ddc5c3c1884417f8e901893a5"
        );
        let mut reversed = awkward_packages();
        reversed.reverse();
        let again = Inventory::new(debian12(), reversed).expect("valid");
        assert_eq!(again.hash(), inventory.hash());
    }
}
