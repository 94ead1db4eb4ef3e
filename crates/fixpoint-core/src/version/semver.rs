//! Semantic Versioning 2.0.0: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`.
//!
//! Syntax is the specification's grammar, nothing looser: no `v` prefix, no
//! missing components, no leading zeros in numeric identifiers, identifiers of
//! ASCII letters, digits and `-` only, none empty. Numbers have no size limit.
//!
//! Ordering is the specification's precedence (section 11): major, minor and
//! patch numerically; a pre-release sorts before the release it precedes;
//! pre-releases compare identifier by identifier, numeric identifiers
//! numerically and before alphanumeric ones, alphanumeric ones in ASCII order,
//! and a longer list of identifiers wins when all before it are equal. Build
//! metadata is ignored: `1.0.0+a` and `1.0.0+b` are equal.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use super::{Scheme, VersionError, compare_decimal, describe_char};

/// A Semantic Versioning 2.0.0 version such as `1.2.3-rc.1+build.5`.
///
/// `Eq` is precedence: build metadata does not take part. `Display` prints the
/// text as given.
#[derive(Debug, Clone)]
pub struct SemverVersion {
    text: Box<str>,
    /// `MAJOR.MINOR.PATCH`.
    core: Range<usize>,
    pre_release: Option<Range<usize>>,
    build: Option<Range<usize>>,
}

impl SemverVersion {
    fn major_minor_patch(&self) -> impl Iterator<Item = &[u8]> {
        self.text
            .get(self.core.clone())
            .unwrap_or_default()
            .split('.')
            .map(str::as_bytes)
    }

    /// The pre-release identifiers after `-`, if any.
    pub fn pre_release(&self) -> Option<&str> {
        self.pre_release
            .clone()
            .and_then(|range| self.text.get(range))
    }

    /// The build metadata after `+`, if any.
    pub fn build(&self) -> Option<&str> {
        self.build.clone().and_then(|range| self.text.get(range))
    }

    /// The version as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for SemverVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| VersionError::new(Scheme::Semver, text, reason);
        if text.is_empty() {
            return Err(invalid(
                "version is empty; expected MAJOR.MINOR.PATCH".to_owned(),
            ));
        }
        let (before_build, build) = match text.find('+') {
            Some(plus) => (plus, Some(plus + 1..text.len())),
            None => (text.len(), None),
        };
        let (core, pre_release) = match text.get(..before_build).and_then(|rest| rest.find('-')) {
            Some(hyphen) => (0..hyphen, Some(hyphen + 1..before_build)),
            None => (0..before_build, None),
        };

        let core_text = text.get(core.clone()).unwrap_or_default();
        check_core(core_text).map_err(invalid)?;
        if let Some(pre_release) = pre_release.clone() {
            let pre_release = text.get(pre_release).unwrap_or_default();
            check_identifiers(pre_release, "pre-release", true).map_err(invalid)?;
        }
        if let Some(build) = build.clone() {
            let build = text.get(build).unwrap_or_default();
            check_identifiers(build, "build metadata", false).map_err(invalid)?;
        }
        Ok(SemverVersion {
            text: text.into(),
            core,
            pre_release,
            build,
        })
    }
}

fn check_core(core: &str) -> Result<(), String> {
    let components: Vec<&str> = core.split('.').collect();
    if components.len() != 3 {
        return Err(format!(
            "{core:?} has {} dot-separated components; expected MAJOR.MINOR.PATCH",
            components.len()
        ));
    }
    for (name, component) in ["major", "minor", "patch"].into_iter().zip(components) {
        if component.is_empty() {
            return Err(format!(
                "{name} version is empty; expected MAJOR.MINOR.PATCH"
            ));
        }
        if let Some(bad) = component.chars().find(|c| !c.is_ascii_digit()) {
            return Err(format!(
                "{name} version {component:?} contains {}; expected digits",
                describe_char(bad)
            ));
        }
        if component.len() > 1 && component.starts_with('0') {
            return Err(format!("{name} version {component:?} has a leading zero"));
        }
    }
    Ok(())
}

fn check_identifiers(
    identifiers: &str,
    what: &str,
    numeric_without_zeros: bool,
) -> Result<(), String> {
    for identifier in identifiers.split('.') {
        if identifier.is_empty() {
            return Err(format!("{what} {identifiers:?} has an empty identifier"));
        }
        if let Some(bad) = identifier
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!(
                "{what} identifier {identifier:?} contains {}; allowed are letters, digits and '-'",
                describe_char(bad)
            ));
        }
        let numeric = identifier.bytes().all(|byte| byte.is_ascii_digit());
        if numeric_without_zeros && numeric && identifier.len() > 1 && identifier.starts_with('0') {
            return Err(format!(
                "numeric {what} identifier {identifier:?} has a leading zero"
            ));
        }
    }
    Ok(())
}

/// Precedence of two pre-release identifiers.
fn compare_identifier(a: &str, b: &str) -> Ordering {
    let is_numeric = |identifier: &str| identifier.bytes().all(|byte| byte.is_ascii_digit());
    match (is_numeric(a), is_numeric(b)) {
        (true, true) => compare_decimal(a.as_bytes(), b.as_bytes()),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.as_bytes().cmp(b.as_bytes()),
    }
}

impl Ord for SemverVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let core = self
            .major_minor_patch()
            .zip(other.major_minor_patch())
            .map(|(a, b)| compare_decimal(a, b))
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal);
        core.then_with(|| match (self.pre_release(), other.pre_release()) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => {
                let mut a = a.split('.');
                let mut b = b.split('.');
                loop {
                    match (a.next(), b.next()) {
                        (None, None) => return Ordering::Equal,
                        (None, Some(_)) => return Ordering::Less,
                        (Some(_), None) => return Ordering::Greater,
                        (Some(x), Some(y)) => match compare_identifier(x, y) {
                            Ordering::Equal => continue,
                            ordering => return ordering,
                        },
                    }
                }
            }
        })
    }
}

impl PartialOrd for SemverVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SemverVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for SemverVersion {}

impl fmt::Display for SemverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn semver(text: &str) -> SemverVersion {
        text.parse().expect("test version is valid")
    }

    fn reason(text: &str) -> String {
        text.parse::<SemverVersion>()
            .expect_err("test version is invalid")
            .reason
    }

    #[test]
    fn follows_the_specifications_precedence_example() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for pair in chain.windows(2) {
            assert!(
                semver(pair[0]) < semver(pair[1]),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn build_metadata_is_ignored() {
        assert_eq!(semver("1.0.0+a"), semver("1.0.0+b.2"));
        assert_eq!(semver("1.0.0-rc.1+a"), semver("1.0.0-rc.1"));
        assert_eq!(semver("1.0.0+build").build(), Some("build"));
    }

    #[test]
    fn hyphens_belong_to_the_pre_release_and_build() {
        let version = semver("1.0.0-x-y-z.--+b-1");
        assert_eq!(version.pre_release(), Some("x-y-z.--"));
        assert_eq!(version.build(), Some("b-1"));
    }

    #[test]
    fn numbers_of_any_size_compare() {
        assert!(semver("18446744073709551616.0.0") > semver("18446744073709551615.0.0"));
        assert!(semver("1.0.0-18446744073709551616") > semver("1.0.0-9"));
    }

    #[test]
    fn rejects_what_the_grammar_does_not_allow() {
        assert_eq!(
            reason("1.2"),
            "\"1.2\" has 2 dot-separated components; expected MAJOR.MINOR.PATCH"
        );
        assert_eq!(
            reason("v1.2.3"),
            "major version \"v1\" contains 'v'; expected digits"
        );
        assert_eq!(reason("01.2.3"), "major version \"01\" has a leading zero");
        assert_eq!(
            reason("1..3"),
            "minor version is empty; expected MAJOR.MINOR.PATCH"
        );
        assert_eq!(reason("1.2.3-"), "pre-release \"\" has an empty identifier");
        assert_eq!(
            reason("1.2.3-a..b"),
            "pre-release \"a..b\" has an empty identifier"
        );
        assert_eq!(
            reason("1.2.3-01"),
            "numeric pre-release identifier \"01\" has a leading zero"
        );
        assert_eq!(
            reason("1.2.3+"),
            "build metadata \"\" has an empty identifier"
        );
        assert_eq!(
            reason("1.2.3+a_b"),
            "build metadata identifier \"a_b\" contains '_'; allowed are letters, digits and '-'"
        );
        assert_eq!(reason(""), "version is empty; expected MAJOR.MINOR.PATCH");
    }

    #[test]
    fn leading_zeros_are_allowed_in_build_metadata() {
        assert_eq!(semver("1.2.3+001").build(), Some("001"));
    }
}
