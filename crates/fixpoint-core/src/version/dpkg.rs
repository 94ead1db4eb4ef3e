//! Debian package versions: `[epoch:]upstream[-revision]`.
//!
//! Ordering is dpkg's (`lib/dpkg/version.c`): the epoch numerically, then the
//! upstream version, then the revision, each compared by `verrevcmp`, which
//! alternates between a non-digit run (compared character by character, with
//! `~` before everything, even the end of the string, then the end of the
//! string and digits, then letters, then everything else) and a digit run
//! (compared as a number). A missing revision equals `0`, a missing epoch
//! equals `0`.
//!
//! Syntax, checked against dpkg 1.21 (`parseversion` in `lib/dpkg/parsehelp.c`):
//!
//! | input                                          | dpkg    | `Strict` | `Lenient` |
//! |------------------------------------------------|---------|----------|-----------|
//! | empty or blank                                 | error¹  | rejected | rejected  |
//! | blanks inside (`1 2`)                          | error   | rejected | rejected  |
//! | blanks around (` 1.0 `)                        | trims   | rejected | trimmed   |
//! | epoch empty, not a number, negative, > 2³¹−1   | error   | rejected | rejected  |
//! | epoch with a sign or leading whitespace (`+1:`)| accepts | rejected | accepted  |
//! | nothing after the epoch's colon, empty revision or upstream | error | rejected | rejected |
//! | upstream not starting with a digit (`a1`)      | warns   | rejected | accepted  |
//! | characters outside `[A-Za-z0-9.+~-:]` upstream or `[A-Za-z0-9.+~]` in the revision | warns | rejected | accepted |
//! | a NUL character                                | (cannot be passed) | rejected | rejected |
//!
//! ¹ `dpkg --compare-versions` reads an empty argument as "no version", which
//! sorts before every version; a version string is never empty here.
//!
//! Lenient ordering of bytes outside ASCII follows dpkg on x86-64, where C's
//! `char` is signed: such bytes sort after letters and before punctuation.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use super::{Scheme, Syntax, VersionError, compare_decimal, describe_char};

/// dpkg stores the epoch in a C `int`.
const MAX_EPOCH: u32 = i32::MAX.unsigned_abs();

/// A Debian package version such as `1:2.38.1-5+deb12u3`.
///
/// `Eq` follows dpkg's ordering: `1.09`, `1.9`, `0:1.9` and `1.9-0` are all
/// equal. `Display` prints the text as given.
#[derive(Debug, Clone)]
pub struct DpkgVersion {
    /// The version as given (blanks around it trimmed under `Lenient`).
    text: Box<str>,
    epoch: u32,
    upstream: Range<usize>,
    /// Empty when the version has no revision.
    revision: Range<usize>,
}

impl DpkgVersion {
    /// Parses `text` with the given syntax; `FromStr` is `Syntax::Strict`.
    pub fn parse(text: &str, syntax: Syntax) -> Result<Self, VersionError> {
        let invalid = |reason: &str| VersionError::new(Scheme::Dpkg, text, reason);
        if text.contains('\0') {
            return Err(invalid("contains a NUL character"));
        }

        let trimmed = match syntax {
            Syntax::Strict => {
                if let Some(blank) = text.chars().find(|c| c.is_whitespace()) {
                    let reason = if text.trim().is_empty() {
                        "version is empty".to_owned()
                    } else {
                        format!("contains whitespace ({})", describe_char(blank))
                    };
                    return Err(invalid(&reason));
                }
                text
            }
            Syntax::Lenient => text.trim_matches(is_blank),
        };
        if trimmed.is_empty() {
            return Err(invalid("version is empty"));
        }
        if trimmed.contains(is_blank) {
            return Err(invalid("contains blanks inside the version"));
        }

        let (epoch, after_epoch) = match trimmed.find(':') {
            None => (0, 0),
            Some(colon) => {
                let epoch =
                    parse_epoch(&trimmed[..colon], syntax).map_err(|reason| invalid(&reason))?;
                if colon + 1 == trimmed.len() {
                    return Err(invalid("nothing after the epoch's ':'"));
                }
                (epoch, colon + 1)
            }
        };

        let version = &trimmed[after_epoch..];
        let (upstream, revision) = match version.rfind('-') {
            None => (after_epoch..trimmed.len(), trimmed.len()..trimmed.len()),
            Some(hyphen) => {
                if hyphen + 1 == version.len() {
                    return Err(invalid("revision after the last '-' is empty"));
                }
                (
                    after_epoch..after_epoch + hyphen,
                    after_epoch + hyphen + 1..trimmed.len(),
                )
            }
        };
        if upstream.is_empty() {
            return Err(invalid("upstream version is empty"));
        }

        if syntax == Syntax::Strict {
            check_upstream(&trimmed[upstream.clone()]).map_err(|reason| invalid(&reason))?;
            check_revision(&trimmed[revision.clone()]).map_err(|reason| invalid(&reason))?;
        }

        Ok(DpkgVersion {
            text: trimmed.into(),
            epoch,
            upstream,
            revision,
        })
    }

    /// The epoch; `0` when the version has none.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version: between the epoch's `:` and the last `-`.
    pub fn upstream(&self) -> &str {
        self.text.get(self.upstream.clone()).unwrap_or_default()
    }

    /// The Debian revision after the last `-`, if there is one.
    pub fn revision(&self) -> Option<&str> {
        self.text
            .get(self.revision.clone())
            .filter(|revision| !revision.is_empty())
    }

    /// The version as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// C's `isblank` in the C locale: what dpkg trims around a version.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses the text before the first `:`. `Strict` accepts only digits;
/// `Lenient` follows `strtol`, as dpkg does: leading whitespace and a sign are
/// accepted, `-0` is zero.
fn parse_epoch(text: &str, syntax: Syntax) -> Result<u32, String> {
    let digits_start = match syntax {
        Syntax::Strict => 0,
        Syntax::Lenient => {
            let after_space = text.len() - text.trim_start_matches(is_c_space).len();
            match text.as_bytes().get(after_space) {
                Some(b'+' | b'-') => after_space + 1,
                _ => after_space,
            }
        }
    };
    let negative = text.as_bytes().get(digits_start.wrapping_sub(1)) == Some(&b'-');
    let digits = text.get(digits_start..).unwrap_or_default();
    let digit_count = digits.bytes().take_while(u8::is_ascii_digit).count();
    if digit_count == 0 {
        return Err(if text.is_empty() {
            "epoch before ':' is empty".to_owned()
        } else {
            format!("epoch {text:?} is not a number (expected digits before the first ':')")
        });
    }
    if digit_count != digits.len() {
        return Err(format!(
            "epoch {text:?} is not a number (expected digits before the first ':')"
        ));
    }
    let is_zero = digits.bytes().all(|digit| digit == b'0');
    if negative && !is_zero {
        return Err(format!("epoch {text:?} is negative"));
    }
    if compare_decimal(digits.as_bytes(), MAX_EPOCH.to_string().as_bytes()) == Ordering::Greater {
        return Err(format!("epoch {text:?} is larger than {MAX_EPOCH}"));
    }
    digits
        .parse()
        .map_err(|_| format!("epoch {text:?} is not a number"))
}

/// C's `isspace` in the C locale, which `strtol` skips.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

fn check_upstream(upstream: &str) -> Result<(), String> {
    let mut chars = upstream.chars();
    if let Some(first) = chars.next().filter(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "upstream version {upstream:?} must start with a digit, not {}",
            describe_char(first)
        ));
    }
    match chars.find(|&c| !(c.is_ascii_alphanumeric() || ".+~-:".contains(c))) {
        Some(bad) => Err(format!(
            "upstream version {upstream:?} contains {}; allowed are letters, digits and . + ~ - :",
            describe_char(bad)
        )),
        None => Ok(()),
    }
}

fn check_revision(revision: &str) -> Result<(), String> {
    match revision
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ".+~".contains(c)))
    {
        Some(bad) => Err(format!(
            "revision {revision:?} contains {}; allowed are letters, digits and . + ~",
            describe_char(bad)
        )),
        None => Ok(()),
    }
}

/// The weight of a byte in a non-digit run: `~` first, then the end of the
/// run, then letters, then everything else. Bytes are C `char`s, signed as on
/// x86-64.
fn order(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(byte) if byte.is_ascii_digit() => 0,
        Some(byte) if byte.is_ascii_alphabetic() => i32::from(byte),
        Some(b'~') => -1,
        Some(byte) => i32::from(byte as i8) + 256,
    }
}

/// dpkg's `verrevcmp`: the ordering of upstream versions and of revisions.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let is_digit = |s: &[u8], i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let is_non_digit = |s: &[u8], i: usize| s.get(i).is_some_and(|c| !c.is_ascii_digit());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while is_non_digit(a, i) || is_non_digit(b, j) {
            let ordering = order(a.get(i).copied()).cmp(&order(b.get(j).copied()));
            if ordering.is_ne() {
                return ordering;
            }
            i += 1;
            j += 1;
        }
        let a_digits = (i..a.len()).take_while(|&k| is_digit(a, k)).count();
        let b_digits = (j..b.len()).take_while(|&k| is_digit(b, k)).count();
        let ordering = compare_decimal(
            a.get(i..i + a_digits).unwrap_or_default(),
            b.get(j..j + b_digits).unwrap_or_default(),
        );
        if ordering.is_ne() {
            return ordering;
        }
        i += a_digits;
        j += b_digits;
    }
    Ordering::Equal
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| {
                verrevcmp(
                    self.revision().unwrap_or_default().as_bytes(),
                    other.revision().unwrap_or_default().as_bytes(),
                )
            })
    }
}

impl PartialOrd for DpkgVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DpkgVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for DpkgVersion {}

impl FromStr for DpkgVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DpkgVersion::parse(text, Syntax::Strict)
    }
}

impl fmt::Display for DpkgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpkg(text: &str) -> DpkgVersion {
        text.parse().expect("test version is valid")
    }

    fn lenient(text: &str) -> DpkgVersion {
        DpkgVersion::parse(text, Syntax::Lenient).expect("test version is accepted by dpkg")
    }

    fn reason(text: &str, syntax: Syntax) -> String {
        DpkgVersion::parse(text, syntax)
            .expect_err("test version is invalid")
            .reason
    }

    #[test]
    fn splits_epoch_upstream_and_revision_at_the_first_colon_and_last_hyphen() {
        let version = dpkg("1:2.0-rc1-3+b1");
        assert_eq!(version.epoch(), 1);
        assert_eq!(version.upstream(), "2.0-rc1");
        assert_eq!(version.revision(), Some("3+b1"));
        assert_eq!(version.to_string(), "1:2.0-rc1-3+b1");
    }

    #[test]
    fn colons_are_allowed_in_upstream_after_an_epoch() {
        assert_eq!(dpkg("1:2:3").upstream(), "2:3");
    }

    #[test]
    fn tilde_sorts_before_the_end_of_the_version() {
        assert!(dpkg("1.0~rc1") < dpkg("1.0"));
        assert!(dpkg("1.0~~") < dpkg("1.0~"));
        assert!(dpkg("1.0~rc1-1") < dpkg("1.0-1"));
    }

    #[test]
    fn epoch_outweighs_everything_else() {
        assert!(dpkg("1:0.1") > dpkg("9.9"));
        assert_eq!(dpkg("0:1.0"), dpkg("1.0"));
    }

    #[test]
    fn missing_revision_equals_revision_zero() {
        assert_eq!(dpkg("1.0"), dpkg("1.0-0"));
        assert!(dpkg("1.0") < dpkg("1.0-1"));
    }

    #[test]
    fn letters_sort_before_punctuation() {
        assert!(dpkg("1.0a") < dpkg("1.0+"));
        assert!(dpkg("1.0+") < dpkg("1.0."));
        assert!(dpkg("1.0A") < dpkg("1.0a"));
    }

    #[test]
    fn huge_numbers_compare_without_overflow() {
        let small = format!("1.{}", "9".repeat(100));
        let large = format!("1.1{}", "0".repeat(100));
        assert!(dpkg(&small) < dpkg(&large));
    }

    #[test]
    fn strict_rejects_what_dpkg_only_warns_about() {
        assert_eq!(
            reason("a1", Syntax::Strict),
            "upstream version \"a1\" must start with a digit, not 'a'"
        );
        assert_eq!(
            reason("1_2", Syntax::Strict),
            "upstream version \"1_2\" contains '_'; allowed are letters, digits and . + ~ - :"
        );
        assert_eq!(
            reason("1-2:3x", Syntax::Strict),
            "epoch \"1-2\" is not a number (expected digits before the first ':')"
        );
        assert_eq!(
            reason("1:2-3:4", Syntax::Strict),
            "revision \"3:4\" contains ':'; allowed are letters, digits and . + ~"
        );
        assert!(DpkgVersion::parse("a1", Syntax::Lenient).is_ok());
        assert!(DpkgVersion::parse("1:2-3:4", Syntax::Lenient).is_ok());
    }

    #[test]
    fn both_syntaxes_reject_what_dpkg_rejects() {
        for syntax in [Syntax::Strict, Syntax::Lenient] {
            assert_eq!(reason("", syntax), "version is empty");
            assert_eq!(reason(":1", syntax), "epoch before ':' is empty");
            assert_eq!(reason("1:", syntax), "nothing after the epoch's ':'");
            assert_eq!(
                reason("1.0-", syntax),
                "revision after the last '-' is empty"
            );
            assert_eq!(reason("-1", syntax), "upstream version is empty");
            assert_eq!(
                reason("2147483648:1", syntax),
                "epoch \"2147483648\" is larger than 2147483647"
            );
            assert_eq!(
                reason("-1:1", syntax).as_str(),
                match syntax {
                    Syntax::Strict =>
                        "epoch \"-1\" is not a number (expected digits before the first ':')",
                    Syntax::Lenient => "epoch \"-1\" is negative",
                }
            );
        }
        assert_eq!(
            reason("1 2", Syntax::Lenient),
            "contains blanks inside the version"
        );
        assert_eq!(
            reason("1 2", Syntax::Strict),
            "contains whitespace (U+0020)"
        );
    }

    #[test]
    fn lenient_trims_blanks_and_reads_the_epoch_like_strtol() {
        assert_eq!(lenient(" 1.0\t").to_string(), "1.0");
        assert_eq!(lenient("+1:1.0").epoch(), 1);
        assert_eq!(lenient("-0:1.0").epoch(), 0);
        assert_eq!(lenient("\n2:1.0").epoch(), 2);
        assert_eq!(lenient("2147483647:1").epoch(), 2147483647);
    }

    #[test]
    fn lenient_orders_non_ascii_after_letters_and_before_punctuation() {
        assert!(lenient("1é") > lenient("1z"));
        assert!(lenient("1é") < lenient("1."));
    }
}
