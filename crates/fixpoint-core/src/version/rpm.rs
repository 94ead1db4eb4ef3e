//! RPM package versions: `[epoch:]version[-release]` (an "EVR").
//!
//! Ordering is rpm's `rpmverCmp` (what `rpm.vercmp` in rpm's Lua uses): the
//! epoch numerically (a missing epoch is `0`), then the version by
//! `rpmvercmp`, then the release by `rpmvercmp`, where a missing release sorts
//! before every present one (`1.0 < 1.0-1`). Dependency matching in rpm instead lets a missing release
//! match any release; that is a question about ranges, not about order.
//!
//! `rpmvercmp` splits a string into runs of ASCII digits, runs of ASCII
//! letters, `~` and `^`; everything else (`.`, `_`, `+`, non-ASCII) only
//! separates runs and is otherwise ignored, so `1.0 = 1_0 = 1+0`. Runs are
//! compared pairwise: `~` sorts before anything, even the end (`1.0~rc1 <
//! 1.0`); `^` sorts after the end but before anything else (`1.0 < 1.0^git1 <
//! 1.0.1`); a number beats letters; numbers compare as numbers, letters
//! byte-wise (`Z < a`); the side with runs left over wins.
//!
//! Syntax:
//! * `Strict`: what rpmbuild allows in `Epoch`, `Version` and `Release`:
//!   an optional epoch of digits and `:`, a non-empty version, an optional `-`
//!   and non-empty release, each of ASCII letters, digits and `. _ + ~ ^`.
//! * `Lenient`: whatever `rpm.vercmp` accepts, which is any non-empty string,
//!   split as rpm's `parseEVR` splits it: an epoch only when the string starts
//!   with digits followed by `:` (`:1` has epoch `0`), the release after the
//!   last `-`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use super::{Scheme, Syntax, VersionError, compare_decimal, describe_char};

/// An RPM version such as `2:1.8.3-1.el9_2.1`, `1.0~rc1` or `1.0^git20240101`.
///
/// `Eq` follows rpm's ordering: `1.0`, `0:1.0` and `1_0` are equal. `Display`
/// prints the text as given.
#[derive(Debug, Clone)]
pub struct RpmVersion {
    text: Box<str>,
    /// The epoch's digits, when the version has an epoch (possibly empty under `Lenient`).
    epoch: Option<Range<usize>>,
    version: Range<usize>,
    release: Option<Range<usize>>,
}

/// Characters rpmbuild allows in a version or release, besides ASCII letters
/// and digits (its `%{}` are macro syntax and never reach a built package).
const ALLOWED_PUNCTUATION: &str = "._+~^";

impl RpmVersion {
    /// Parses `text` with the given syntax; `FromStr` is `Syntax::Strict`.
    pub fn parse(text: &str, syntax: Syntax) -> Result<Self, VersionError> {
        let invalid = |reason: String| VersionError::new(Scheme::Rpm, text, reason);
        if text.is_empty() {
            return Err(invalid("version is empty".to_owned()));
        }
        if text.contains('\0') {
            return Err(invalid("contains a NUL character".to_owned()));
        }
        let is_allowed = |c: char| {
            c.is_ascii_alphanumeric() || ALLOWED_PUNCTUATION.contains(c) || c == ':' || c == '-'
        };
        if syntax == Syntax::Strict
            && let Some(bad) = text.chars().find(|&c| !is_allowed(c))
        {
            return Err(invalid(format!(
                "contains {}; allowed are letters, digits and . _ + ~ ^, \
                 with ':' after an epoch and '-' before a release",
                describe_char(bad)
            )));
        }

        // rpm's parseEVR: leading digits followed by ':' are the epoch; the
        // release follows the last '-'.
        let epoch_end = text.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, version_start) = if text.as_bytes().get(epoch_end) == Some(&b':') {
            (Some(0..epoch_end), epoch_end + 1)
        } else {
            (None, 0)
        };
        let (version, release) = match text.rfind('-').filter(|&hyphen| hyphen >= version_start) {
            Some(hyphen) => (version_start..hyphen, Some(hyphen + 1..text.len())),
            None => (version_start..text.len(), None),
        };

        let parsed = RpmVersion {
            text: text.into(),
            epoch,
            version,
            release,
        };
        if syntax == Syntax::Strict {
            parsed.check_strict().map_err(invalid)?;
        }
        Ok(parsed)
    }

    fn check_strict(&self) -> Result<(), String> {
        if self.epoch.is_none() && self.text.contains(':') {
            return Err("only digits may come before ':' (the epoch)".to_owned());
        }
        if self.epoch.as_ref().is_some_and(Range::is_empty) {
            return Err("epoch before ':' is empty".to_owned());
        }
        let version = self.version();
        if version.contains(':') {
            return Err(format!(
                "version {version:?} contains ':'; only one ':' may follow the epoch"
            ));
        }
        if version.contains('-') {
            return Err(format!(
                "version {version:?} contains '-'; only one '-' may separate version and release"
            ));
        }
        if version.is_empty() {
            return Err("version is empty".to_owned());
        }
        if self.release() == Some("") {
            return Err("release after '-' is empty".to_owned());
        }
        Ok(())
    }

    /// The epoch's digits, if the version has an epoch.
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.clone().and_then(|range| self.text.get(range))
    }

    /// The version: between the epoch's `:` and the last `-`.
    pub fn version(&self) -> &str {
        self.text.get(self.version.clone()).unwrap_or_default()
    }

    /// The release after the last `-`, if there is one.
    pub fn release(&self) -> Option<&str> {
        self.release.clone().and_then(|range| self.text.get(range))
    }

    /// The version as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One run of a version string as `rpmvercmp` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Tilde,
    Caret,
    Number(&'a [u8]),
    Letters(&'a [u8]),
}

/// The segments of a version string; separators are skipped.
struct Segments<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let start = self
            .rest
            .iter()
            .position(|&byte| byte.is_ascii_alphanumeric() || byte == b'~' || byte == b'^')?;
        let rest = self.rest.get(start..).unwrap_or_default();
        let (segment, length) = match rest.first() {
            Some(b'~') => (Segment::Tilde, 1),
            Some(b'^') => (Segment::Caret, 1),
            Some(byte) if byte.is_ascii_digit() => {
                let length = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
                (
                    Segment::Number(rest.get(..length).unwrap_or_default()),
                    length,
                )
            }
            _ => {
                let length = rest
                    .iter()
                    .take_while(|byte| byte.is_ascii_alphabetic())
                    .count();
                (
                    Segment::Letters(rest.get(..length).unwrap_or_default()),
                    length,
                )
            }
        };
        self.rest = rest.get(length..).unwrap_or_default();
        Some(segment)
    }
}

/// rpm's `rpmvercmp`.
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    use Segment::{Caret, Letters, Number, Tilde};
    let mut a = Segments { rest: a.as_bytes() };
    let mut b = Segments { rest: b.as_bytes() };
    loop {
        let ordering = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (Some(Tilde), Some(Tilde)) | (Some(Caret), Some(Caret)) => continue,
            // `~` sorts before everything, the end included.
            (Some(Tilde), _) => Ordering::Less,
            (_, Some(Tilde)) => Ordering::Greater,
            // The end sorts before everything else.
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            // `^` sorts before any number or letters.
            (Some(Caret), Some(_)) => Ordering::Less,
            (Some(_), Some(Caret)) => Ordering::Greater,
            (Some(Number(x)), Some(Number(y))) => compare_decimal(x, y),
            (Some(Letters(x)), Some(Letters(y))) => x.cmp(y),
            (Some(Number(_)), Some(Letters(_))) => Ordering::Greater,
            (Some(Letters(_)), Some(Number(_))) => Ordering::Less,
        };
        if ordering.is_ne() {
            return ordering;
        }
    }
}

impl Ord for RpmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let epoch = |version: &Self| version.epoch.clone().unwrap_or_default();
        compare_decimal(
            self.text.as_bytes().get(epoch(self)).unwrap_or_default(),
            other.text.as_bytes().get(epoch(other)).unwrap_or_default(),
        )
        .then_with(|| rpmvercmp(self.version(), other.version()))
        .then_with(|| match (self.release(), other.release()) {
            (Some(a), Some(b)) => rpmvercmp(a, b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        })
    }
}

impl PartialOrd for RpmVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RpmVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for RpmVersion {}

impl FromStr for RpmVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RpmVersion::parse(text, Syntax::Strict)
    }
}

impl fmt::Display for RpmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm(text: &str) -> RpmVersion {
        text.parse().expect("test version is valid")
    }

    fn lenient(text: &str) -> RpmVersion {
        RpmVersion::parse(text, Syntax::Lenient).expect("test version is accepted by rpm")
    }

    fn reason(text: &str) -> String {
        RpmVersion::parse(text, Syntax::Strict)
            .expect_err("test version is invalid")
            .reason
    }

    #[test]
    fn splits_epoch_version_and_release() {
        let version = rpm("2:1.8.3-1.el9_2.1");
        assert_eq!(version.epoch(), Some("2"));
        assert_eq!(version.version(), "1.8.3");
        assert_eq!(version.release(), Some("1.el9_2.1"));
    }

    #[test]
    fn missing_epoch_is_zero() {
        assert_eq!(rpm("1.0"), rpm("0:1.0"));
        assert!(rpm("1:0.1") > rpm("2.0"));
    }

    #[test]
    fn missing_release_sorts_before_any_release() {
        assert!(rpm("1.0") < rpm("1.0-1"));
        assert!(rpm("1.0") < rpm("1.0-~1"));
        assert!(rpm("1.0-1") < rpm("1.0-2"));
    }

    #[test]
    fn separators_are_all_equal() {
        assert_eq!(rpm("1.0"), rpm("1_0"));
        assert_eq!(rpm("1.0"), rpm("1+0"));
        assert_eq!(rpm("1.0"), rpm("1.0."));
    }

    #[test]
    fn tilde_sorts_before_and_caret_after_the_end() {
        assert!(rpm("1.0~rc1") < rpm("1.0"));
        assert!(rpm("1.0") < rpm("1.0^git1"));
        assert!(rpm("1.0^git1") < rpm("1.0.1"));
        assert!(rpm("1.0^git1") < rpm("1.0a"));
    }

    #[test]
    fn numbers_beat_letters() {
        assert!(rpm("1.a") < rpm("1.1"));
        assert!(rpm("1b.fc17") < rpm("1.fc17"));
    }

    #[test]
    fn strict_rejects_what_rpmbuild_would_not_build() {
        assert_eq!(
            reason("1.0/2"),
            "contains '/'; allowed are letters, digits and . _ + ~ ^, with ':' after an epoch and '-' before a release"
        );
        assert_eq!(reason("a:1"), "only digits may come before ':' (the epoch)");
        assert_eq!(reason(":1"), "epoch before ':' is empty");
        assert_eq!(
            reason("1:2:3"),
            "version \"2:3\" contains ':'; only one ':' may follow the epoch"
        );
        assert_eq!(
            reason("1-2-3"),
            "version \"1-2\" contains '-'; only one '-' may separate version and release"
        );
        assert_eq!(reason("1:-2"), "version is empty");
        assert_eq!(reason("1.0-"), "release after '-' is empty");
        assert_eq!(reason(""), "version is empty");
    }

    #[test]
    fn lenient_splits_like_rpm_parse_evr() {
        assert_eq!(lenient(":1").epoch(), Some(""));
        assert_eq!(lenient(":1"), rpm("0:1"));
        assert_eq!(lenient("a:1").epoch(), None);
        assert_eq!(lenient("1-2-3").version(), "1-2");
        assert_eq!(lenient("-").version(), "");
        assert_eq!(lenient("-").release(), Some(""));
        assert_eq!(lenient("1.1.α"), lenient("1.1.ββ"));
    }
}
