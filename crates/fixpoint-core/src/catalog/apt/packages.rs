//! A `Packages` index turned into advisories: one per source package and
//! source version, fixing that source and every binary built from it.
//!
//! What the index does not say, and what is decided here instead:
//! - **Classification.** A suite whose `Suite` or `Codename` ends in
//!   `-security` carries security fixes; any other suite (`bookworm-updates`,
//!   a point release) is classified `bugfix`. An OSV or CSAF advisory for the
//!   same patch id raises it to `security` when it merges.
//! - **Severity** is `unrated`: the index has none; OSV and CSAF give one.
//! - **Release date.** An index has no per-package date, so `released` is the
//!   `Release`'s `Date`: the day this index was generated, which is on or after
//!   the day the package appeared. That date moves forward with every sync, so
//!   a sync must pass its advisories through [`carry_forward_release_dates`]
//!   with the previous sync's, for each patch to keep the date it was first seen; DSA/DLA dates from OSV are earlier still and
//!   win when the advisories merge. (A later refinement could read the date
//!   from the package's changelog.)

use std::collections::BTreeMap;

use crate::catalog::model::{
    Advisory, AdvisoryRef, Fix, PackageKind, PatchFile, PatchId, Platform,
};
use crate::rating::{Classification, Severity};
use crate::version::{self, Scheme, Syntax};

use super::deb822::{self, Paragraph, truncate};
use super::release::Release;
use super::{AptError, AptFile, Result, is_sha256_hex};

/// One binary package stanza of a `Packages` index, borrowed from the index text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryPackage<'a> {
    pub package: &'a str,
    pub version: &'a str,
    /// `amd64`, `all`, …
    pub architecture: &'a str,
    /// The source package it was built from (the package's own name when the stanza has no `Source`).
    pub source: &'a str,
    /// The source version: from `Source: name (version)` when the stanza gives
    /// one (binNMUs, and packages such as `linux-signed-*` whose binaries are
    /// versioned apart from their source), else the binary version.
    pub source_version: &'a str,
    /// Path of the `.deb` relative to the repository's base URI (`pool/updates/main/o/openssl/…`).
    pub filename: &'a str,
    pub size: u64,
    /// Hex SHA-256 of the `.deb`, as the index writes it.
    pub sha256: &'a str,
    /// 1-based line of the stanza in the index.
    pub line: usize,
}

/// Reads every stanza of a (decompressed) `Packages` index.
///
/// `Package`, `Version`, `Architecture`, `Filename`, `Size` and `SHA256` are
/// required; versions must be valid dpkg versions; a `Filename` must be a
/// relative path without `..`. Any violation fails the whole index, with its
/// line: the index is signed, so a malformed one is a broken repository, not
/// something to guess around.
pub fn parse_packages(index: &[u8]) -> Result<Vec<BinaryPackage<'_>>> {
    let text = std::str::from_utf8(index).map_err(|e| {
        let line = index[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        AptError::Syntax {
            file: AptFile::Packages,
            line,
            message: "not UTF-8 text".into(),
        }
    })?;
    // About 850 bytes per stanza in Debian's indices.
    let mut packages = Vec::with_capacity(text.len() / 700);
    for paragraph in deb822::paragraphs(text) {
        let paragraph = paragraph.map_err(|e| AptError::Syntax {
            file: AptFile::Packages,
            line: e.line,
            message: e.message,
        })?;
        packages.push(binary_package(&paragraph)?);
    }
    Ok(packages)
}

fn binary_package<'a>(p: &Paragraph<'a>) -> Result<BinaryPackage<'a>> {
    let required = |field: &'static str| -> Result<(&'a str, usize)> {
        match p.get(field) {
            Some(f) if !f.value.is_empty() => Ok((f.value, f.line)),
            _ => Err(AptError::MissingField {
                file: AptFile::Packages,
                line: p.line,
                field,
            }),
        }
    };
    let invalid = |field: &str, line: usize, value: &str, message: &str| AptError::InvalidField {
        file: AptFile::Packages,
        line,
        field: field.into(),
        value: truncate(value),
        message: message.into(),
    };
    let (package, line) = required("Package")?;
    if !is_package_name(package) {
        return Err(invalid("Package", line, package, "expected a package name"));
    }
    let (version, line) = required("Version")?;
    check_version("Version", line, version)?;
    let (architecture, line) = required("Architecture")?;
    if architecture.contains(char::is_whitespace) {
        return Err(invalid(
            "Architecture",
            line,
            architecture,
            "expected one architecture",
        ));
    }
    let (filename, line) = required("Filename")?;
    if !is_relative_path(filename) {
        return Err(invalid(
            "Filename",
            line,
            filename,
            "expected a relative path without `..`",
        ));
    }
    let (size, line) = required("Size")?;
    let size = size
        .parse::<u64>()
        .map_err(|_| invalid("Size", line, size, "expected a size in bytes"))?;
    let (sha256, line) = required("SHA256")?;
    if !is_sha256_hex(sha256) {
        return Err(invalid("SHA256", line, sha256, "expected 64 hex digits"));
    }

    let (source, source_version) = match p.get("Source") {
        None => (package, version),
        Some(f) => {
            let (name, explicit) = match f.value.split_once('(') {
                None => (f.value, None),
                Some((name, rest)) => match rest.strip_suffix(')') {
                    Some(v) => (name.trim_end(), Some(v.trim())),
                    None => {
                        return Err(invalid(
                            "Source",
                            f.line,
                            f.value,
                            "expected `name` or `name (version)`",
                        ));
                    }
                },
            };
            if !is_package_name(name) {
                return Err(invalid(
                    "Source",
                    f.line,
                    f.value,
                    "expected a source package name",
                ));
            }
            if let Some(v) = explicit {
                check_version("Source", f.line, v)?;
            }
            (name, explicit.unwrap_or(version))
        }
    };
    Ok(BinaryPackage {
        package,
        version,
        architecture,
        source,
        source_version,
        filename,
        size,
        sha256,
        line: p.line,
    })
}

fn check_version(field: &str, line: usize, value: &str) -> Result<()> {
    version::validate(Scheme::Dpkg, Syntax::Lenient, value).map_err(|e| AptError::InvalidField {
        file: AptFile::Packages,
        line,
        field: field.into(),
        value: truncate(value),
        message: format!("expected a dpkg version: {e}"),
    })
}

/// Debian policy 5.6.1: lowercase letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with a letter or digit. (Upper case is accepted: old
/// third-party repositories have it and dpkg tolerates it.)
fn is_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn is_relative_path(path: &str) -> bool {
    !path.starts_with('/')
        && !path.contains(['\\', ' ', '\t', '?', '#'])
        && !path.contains("://")
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

/// Where the packages came from: names the catalog source and anchors the `.deb` URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repository<'a> {
    /// The catalog source's name in `Settings`, recorded on every advisory
    /// (`debian-security`).
    pub name: &'a str,
    /// The repository's base URI, as in a `.sources` file's `URIs:`
    /// (`http://mirror.invalid/debian-security`); `Filename`s are relative to it.
    pub base_uri: &'a str,
}

/// The release number of a Debian codename (`bookworm` → `12`), with or
/// without a suite suffix (`bookworm-security`); `None` for codenames without
/// one (`sid`) and names it does not know.
pub fn debian_release_number(codename: &str) -> Option<&'static str> {
    let base = codename.split_once('-').map_or(codename, |(base, _)| base);
    Some(match base {
        "buzz" => "1.1",
        "rex" => "1.2",
        "bo" => "1.3",
        "hamm" => "2.0",
        "slink" => "2.1",
        "potato" => "2.2",
        "woody" => "3.0",
        "sarge" => "3.1",
        "etch" => "4",
        "lenny" => "5",
        "squeeze" => "6",
        "wheezy" => "7",
        "jessie" => "8",
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        _ => return None,
    })
}

/// The platform a `Release` is for: the family from `Origin` (`debian`,
/// `ubuntu`) and the release from `Version` (Debian: its major number, since
/// a point release such as `12.12` is still `debian:12`; Ubuntu: `24.04`), or,
/// without `Version`, from the codename (`bookworm-security` → `12`; `sid`
/// stays `sid`).
fn platform(release: &Release) -> Platform {
    let family = release
        .origin
        .as_deref()
        .unwrap_or("unknown")
        .to_ascii_lowercase();
    let from_version = release.version.as_deref().map(|v| {
        if family == "debian" {
            v.split('.').next().unwrap_or(v)
        } else {
            v
        }
    });
    let from_codename = || {
        let codename = release.codename.as_deref()?;
        let base = codename.split_once('-').map_or(codename, |(b, _)| b);
        Some(if family == "debian" {
            debian_release_number(base).unwrap_or(base)
        } else {
            base
        })
    };
    let number = from_version
        .filter(|v| !v.is_empty())
        .or_else(from_codename);
    Platform::new(&family, number)
}

/// Turns the binary packages of a suite into advisories: one per
/// (source, source version), in that order.
///
/// Pass the packages of every architecture's index of the suite together
/// (`binary-amd64`, `binary-arm64`, …): a source built for several
/// architectures is then one advisory with every `.deb`, rather than one
/// advisory per architecture under the same [`AdvisoryRef`].
///
/// Each advisory's patch id is `{source}/{source version}` ([`PatchId::deb`]);
/// its fixes are the source (kind `source`, every binary built from it is
/// fixed from that version on) and each binary of this index (kind `binary`,
/// with its own version and architecture), so the plan can match installed
/// binaries to the source they were built from; its files are the `.deb`s
/// with their size and SHA-256. See the module documentation for the
/// classification, severity and date.
pub fn advisories(
    release: &Release,
    repository: &Repository<'_>,
    packages: &[BinaryPackage<'_>],
) -> Vec<Advisory> {
    let platform = platform(release);
    let vendor = release
        .origin
        .clone()
        .or_else(|| release.label.clone())
        .unwrap_or_else(|| "unknown".into());
    let classification = if release.is_security() {
        Classification::Security
    } else {
        Classification::Bugfix
    };
    let base = repository.base_uri.trim_end_matches('/');

    let mut by_source: BTreeMap<(&str, &str), Vec<&BinaryPackage<'_>>> = BTreeMap::new();
    for package in packages {
        by_source
            .entry((package.source, package.source_version))
            .or_default()
            .push(package);
    }
    by_source
        .into_iter()
        .map(|((source, source_version), binaries)| {
            let id = PatchId::deb(source, source_version);
            let mut fixes = Vec::with_capacity(binaries.len() + 1);
            fixes.push(Fix {
                platform: platform.clone(),
                package: source.to_owned(),
                kind: PackageKind::Source,
                fixed: Some(source_version.to_owned()),
                introduced: None,
                last_affected: None,
                arch: None,
            });
            let mut files = Vec::with_capacity(binaries.len());
            for b in &binaries {
                fixes.push(Fix {
                    platform: platform.clone(),
                    package: b.package.to_owned(),
                    kind: PackageKind::Binary,
                    fixed: Some(b.version.to_owned()),
                    introduced: None,
                    last_affected: None,
                    arch: Some(b.architecture.to_owned()),
                });
                files.push(PatchFile {
                    url: format!("{base}/{}", b.filename),
                    sha256: Some(b.sha256.to_ascii_lowercase()),
                    size: Some(b.size),
                    package: Some(b.package.to_owned()),
                    arch: Some(b.architecture.to_owned()),
                });
            }
            fixes.sort();
            fixes.dedup();
            files.sort();
            files.dedup();
            Advisory {
                reference: AdvisoryRef {
                    source: repository.name.to_owned(),
                    id: id.0.clone(),
                    url: None,
                },
                patch: id,
                vendor: vendor.clone(),
                product: source.to_owned(),
                title: None,
                classification,
                severity: Severity::Unrated,
                released: Some(release.date),
                vulnerabilities: Vec::new(),
                fixes,
                files,
                supersedes: Vec::new(),
                references: Vec::new(),
                restart_required: None,
            }
        })
        .collect()
}

/// Keeps the release dates a source's earlier syncs gave: each advisory in
/// `current` whose patch was already in `previous` gets the earlier of the
/// two dates. An index carries no per-package date, so `released` is the
/// index's `Date` and moves forward with every sync; without this, a policy's
/// `approveAfter: 3d` would never come due for a patch only APT describes.
pub fn carry_forward_release_dates(previous: &[Advisory], current: &mut [Advisory]) {
    let first_seen: BTreeMap<&PatchId, jiff::Timestamp> = previous
        .iter()
        .filter_map(|a| Some((&a.patch, a.released?)))
        .collect();
    for advisory in current {
        if let Some(&earlier) = first_seen.get(&advisory.patch) {
            advisory.released = Some(advisory.released.map_or(earlier, |now| now.min(earlier)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANZA: &str = "Package: libssl3\nSource: openssl\nVersion: 3.0.22-1~deb12u2\nArchitecture: amd64\n\
Description: Secure Sockets Layer toolkit - shared libraries\n continued\n\
Filename: pool/updates/main/o/openssl/libssl3_3.0.22-1~deb12u2_amd64.deb\nSize: 2039888\n\
SHA256: 0000000000000000000000000000000000000000000000000000000000000001\n";

    #[test]
    fn a_stanza_without_source_is_its_own_source() {
        let text = STANZA.replace("Source: openssl\n", "");
        let p = parse_packages(text.as_bytes()).expect("valid");
        assert_eq!(
            (p[0].source, p[0].source_version),
            ("libssl3", "3.0.22-1~deb12u2")
        );
    }

    #[test]
    fn a_source_version_in_parentheses_is_the_patch_version() {
        let text = STANZA.replace("Source: openssl\n", "Source: openssl (3.0.22-1~deb12u1)\n");
        let p = parse_packages(text.as_bytes()).expect("valid");
        assert_eq!(
            (p[0].source, p[0].source_version, p[0].version),
            ("openssl", "3.0.22-1~deb12u1", "3.0.22-1~deb12u2")
        );
    }

    #[test]
    fn missing_and_malformed_fields_name_their_line() {
        let two = format!("{STANZA}\n{}", STANZA.replace("Size: 2039888\n", ""));
        let err = parse_packages(two.as_bytes()).expect_err("no Size");
        assert_eq!(
            err,
            AptError::MissingField {
                file: AptFile::Packages,
                line: 11,
                field: "Size"
            }
        );
        let err = parse_packages(STANZA.replace("pool/", "../pool/").as_bytes())
            .expect_err("escaping path");
        assert!(
            matches!(err, AptError::InvalidField { line: 7, .. }),
            "{err}"
        );
        let err = parse_packages(
            STANZA
                .replace("Source: openssl", "Source: openssl (3.0")
                .as_bytes(),
        )
        .expect_err("open paren");
        assert!(
            matches!(err, AptError::InvalidField { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_patch_keeps_the_date_it_was_first_seen() {
        let release = |date: &str| {
            let mut r = Release::parse_unverified(&format!(
                "Origin: Debian\nCodename: bookworm-security\nDate: {date}\n"
            ))
            .expect("valid");
            r.version = Some("12".into());
            r
        };
        let repository = Repository {
            name: "debian-security",
            base_uri: "http://m.invalid/d",
        };
        let packages = parse_packages(STANZA.as_bytes()).expect("valid");
        let monday = advisories(
            &release("Mon, 23 Nov 2026 00:00:00 UTC"),
            &repository,
            &packages,
        );
        let mut tuesday = advisories(
            &release("Tue, 24 Nov 2026 00:00:00 UTC"),
            &repository,
            &packages,
        );
        carry_forward_release_dates(&monday, &mut tuesday);
        assert_eq!(tuesday[0].released, monday[0].released);
        let mut new_patch = tuesday.clone();
        new_patch[0].patch = PatchId::deb("openssl", "3.0.23-1~deb12u1");
        let expected = new_patch[0].released;
        carry_forward_release_dates(&monday, &mut new_patch);
        assert_eq!(
            new_patch[0].released, expected,
            "a patch not seen before keeps its date"
        );
    }

    #[test]
    fn codenames_map_to_release_numbers() {
        assert_eq!(debian_release_number("bookworm-security"), Some("12"));
        assert_eq!(debian_release_number("trixie"), Some("13"));
        assert_eq!(debian_release_number("sid"), None);
    }
}
