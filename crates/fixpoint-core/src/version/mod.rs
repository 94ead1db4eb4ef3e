//! Version ordering for the package schemes a fleet runs.
//!
//! Each scheme parses a version string into a typed value whose `Ord` is the
//! scheme's own ordering:
//!
//! | scheme    | type               | reference implementation                     |
//! |-----------|--------------------|----------------------------------------------|
//! | `dpkg`    | [`DpkgVersion`]    | `dpkg --compare-versions` (Debian, Ubuntu)   |
//! | `rpm`     | [`RpmVersion`]     | `rpm.vercmp` / `rpmverCmp` (RHEL, SUSE, ...) |
//! | `semver`  | [`SemverVersion`]  | Semantic Versioning 2.0.0 precedence         |
//! | `numeric` | [`NumericVersion`] | dotted build numbers (Windows `10.0.19045.4291`) |
//!
//! ```text
//!  "1:2.30-1~bpo12+1" ──FromStr──▶ DpkgVersion ──Ord──▶ Ordering
//!  (scheme, a, b) ──────compare──▶ Ordering            (schemes known at run time)
//! ```
//!
//! Every type keeps the text it was parsed from: `Display` prints it back
//! unchanged, while `Eq` follows the scheme's ordering, so `1.09` and `1.9` are
//! equal dpkg versions that still print as written.
//!
//! Two syntaxes are offered, see [`Syntax`]: `Strict` (the default, what
//! `FromStr` does) accepts only well-formed versions of the scheme;
//! `Lenient` accepts whatever the platform's own comparison tool accepts and
//! orders it exactly as that tool does, for data that came from a real
//! machine and must be ordered the way the machine orders it.
//!
//! Everything here is pure: no IO, no clock, no global state, and
//! no panics on any input. Numeric segments of any length are compared as
//! digit strings (leading zeros stripped, then length, then digits), so they
//! never overflow.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

mod dpkg;
mod numeric;
mod rpm;
mod semver;

pub use dpkg::DpkgVersion;
pub use numeric::NumericVersion;
pub use rpm::RpmVersion;
pub use semver::SemverVersion;

/// The version ordering rules of a platform.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Debian and Ubuntu packages: `[epoch:]upstream[-revision]`, with `~`.
    Dpkg,
    /// RPM packages: `[epoch:]version[-release]` ordered by rpmvercmp, with `~` and `^`.
    Rpm,
    /// Semantic Versioning 2.0.0.
    Semver,
    /// Dotted numeric build numbers, such as Windows `10.0.19045.4291`.
    Numeric,
}

impl Scheme {
    /// Every scheme, in the order they are documented.
    pub const ALL: [Scheme; 4] = [Scheme::Dpkg, Scheme::Rpm, Scheme::Semver, Scheme::Numeric];

    /// The scheme's name as written in policy files and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Semver => "semver",
            Scheme::Numeric => "numeric",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scheme name that is not one of `dpkg`, `rpm`, `semver`, `numeric`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown version scheme {0:?}: expected one of dpkg, rpm, semver, numeric")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == name)
            .ok_or_else(|| UnknownScheme(name.to_owned()))
    }
}

/// How strictly version strings are checked before they are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Syntax {
    /// Only well-formed versions of the scheme: what Debian Policy allows for
    /// dpkg, what rpmbuild allows for RPM, the SemVer 2.0.0 grammar, digits and
    /// dots for numeric. This is what `FromStr` does.
    #[default]
    Strict,
    /// Whatever the platform's own comparison tool accepts, ordered exactly as
    /// it orders it: `dpkg --compare-versions` (which only warns about, for
    /// example, an upstream version that does not start with a digit) and
    /// `rpm.vercmp` (which accepts any non-empty string). SemVer and numeric
    /// versions have no looser reference, so for them this equals `Strict`.
    Lenient,
}

/// A version string that its scheme rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {version:?}: {reason}")]
pub struct VersionError {
    /// The scheme's name (`dpkg`, `rpm`, `semver`, `numeric`).
    pub scheme: &'static str,
    /// The rejected text, exactly as given.
    pub version: String,
    /// What is wrong with it, and what was expected.
    pub reason: String,
}

impl VersionError {
    pub(crate) fn new(scheme: Scheme, version: &str, reason: impl Into<String>) -> Self {
        VersionError {
            scheme: scheme.name(),
            version: version.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Compares two version strings under `scheme`, with [`Syntax::Strict`].
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    compare_with(scheme, Syntax::Strict, a, b)
}

/// Compares two version strings under `scheme` and `syntax`.
pub fn compare_with(
    scheme: Scheme,
    syntax: Syntax,
    a: &str,
    b: &str,
) -> Result<Ordering, VersionError> {
    Ok(Version::parse(scheme, syntax, a)?.compare(&Version::parse(scheme, syntax, b)?))
}

/// Checks that `text` is a version under `scheme` and `syntax`.
pub fn validate(scheme: Scheme, syntax: Syntax, text: &str) -> Result<(), VersionError> {
    Version::parse(scheme, syntax, text).map(drop)
}

/// Sorts version strings ascending under `scheme` and `syntax`. The sort is
/// stable: versions that compare equal (`1.09` and `1.9` under dpkg) keep
/// their input order.
///
/// On failure returns every invalid version with its index in `versions`.
pub fn sort<T: AsRef<str>>(
    scheme: Scheme,
    syntax: Syntax,
    versions: Vec<T>,
) -> Result<Vec<T>, Vec<(usize, VersionError)>> {
    let mut parsed = Vec::with_capacity(versions.len());
    let mut errors = Vec::new();
    for (index, text) in versions.iter().enumerate() {
        match Version::parse(scheme, syntax, text.as_ref()) {
            Ok(version) => parsed.push((version, index)),
            Err(error) => errors.push((index, error)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    parsed.sort_by(|(a, _), (b, _)| a.compare(b));
    let mut slots: Vec<Option<T>> = versions.into_iter().map(Some).collect();
    Ok(parsed
        .into_iter()
        .filter_map(|(_, index)| slots.get_mut(index).and_then(Option::take))
        .collect())
}

/// A parsed version of a scheme chosen at run time.
#[derive(Debug, Clone)]
enum Version {
    Dpkg(DpkgVersion),
    Rpm(RpmVersion),
    Semver(SemverVersion),
    Numeric(NumericVersion),
}

impl Version {
    fn parse(scheme: Scheme, syntax: Syntax, text: &str) -> Result<Self, VersionError> {
        Ok(match scheme {
            Scheme::Dpkg => Version::Dpkg(DpkgVersion::parse(text, syntax)?),
            Scheme::Rpm => Version::Rpm(RpmVersion::parse(text, syntax)?),
            Scheme::Semver => Version::Semver(text.parse()?),
            Scheme::Numeric => Version::Numeric(text.parse()?),
        })
    }

    /// Orders two versions; versions of different schemes (which `parse` never
    /// produces side by side) order by scheme so that the order stays total.
    fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Dpkg(a), Version::Dpkg(b)) => a.cmp(b),
            (Version::Rpm(a), Version::Rpm(b)) => a.cmp(b),
            (Version::Semver(a), Version::Semver(b)) => a.cmp(b),
            (Version::Numeric(a), Version::Numeric(b)) => a.cmp(b),
            _ => self.scheme().cmp(&other.scheme()),
        }
    }

    fn scheme(&self) -> Scheme {
        match self {
            Version::Dpkg(_) => Scheme::Dpkg,
            Version::Rpm(_) => Scheme::Rpm,
            Version::Semver(_) => Scheme::Semver,
            Version::Numeric(_) => Scheme::Numeric,
        }
    }
}

/// Compares two runs of ASCII digits as unbounded non-negative integers:
/// leading zeros are stripped, then the longer run is the larger number, then
/// the digits decide. An empty run is zero.
fn compare_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&digit| digit == b'0').count();
    digits.get(zeros..).unwrap_or_default()
}

/// Describes a character for an error message: printable ones quoted, others
/// by their code point.
fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_names_round_trip() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.name().parse::<Scheme>(), Ok(scheme));
            assert_eq!(scheme.to_string(), scheme.name());
        }
    }

    #[test]
    fn unknown_scheme_lists_the_known_ones() {
        let error = "deb".parse::<Scheme>().expect_err("deb is not a scheme");
        assert_eq!(
            error.to_string(),
            "unknown version scheme \"deb\": expected one of dpkg, rpm, semver, numeric"
        );
    }

    #[test]
    fn decimal_comparison_ignores_leading_zeros_and_never_overflows() {
        assert_eq!(compare_decimal(b"0010", b"10"), Ordering::Equal);
        assert_eq!(compare_decimal(b"", b"000"), Ordering::Equal);
        assert_eq!(compare_decimal(b"9", b"10"), Ordering::Less);
        let huge = "9".repeat(400);
        let huger = format!("1{}", "0".repeat(400));
        assert_eq!(
            compare_decimal(huge.as_bytes(), huger.as_bytes()),
            Ordering::Less
        );
    }

    #[test]
    fn compare_reports_the_invalid_side() {
        let error = compare(Scheme::Numeric, "1.2", "1.x").expect_err("1.x is not numeric");
        assert_eq!(error.version, "1.x");
        assert_eq!(error.scheme, "numeric");
    }

    #[test]
    fn sort_is_stable_for_equal_versions() {
        let sorted = sort(
            Scheme::Dpkg,
            Syntax::Strict,
            vec!["1.9", "1.0", "1.09", "0:1.9"],
        );
        assert_eq!(sorted, Ok(vec!["1.0", "1.9", "1.09", "0:1.9"]));
    }

    #[test]
    fn sort_reports_every_invalid_version_with_its_index() {
        let errors = sort(
            Scheme::Semver,
            Syntax::Strict,
            vec!["1.0.0", "1.0", "x", "2.0.0"],
        )
        .expect_err("two of the versions are not semver");
        let indices: Vec<usize> = errors.iter().map(|(index, _)| *index).collect();
        assert_eq!(indices, [1, 2]);
    }

    #[test]
    fn scheme_deserializes_from_its_lowercase_name() {
        let scheme: Scheme = serde_json::from_str("\"rpm\"").expect("rpm is a scheme");
        assert_eq!(scheme, Scheme::Rpm);
    }
}
