//! Dotted numeric build numbers: `10.0.19045.4291` (Windows), `124.0.6367.91`.
//!
//! Syntax: one or more components separated by `.`, each one or more ASCII
//! digits. Leading zeros are allowed (`10.0.0001` is `10.0.1`); numbers have no
//! size limit.
//!
//! Ordering: component by component, numerically. A missing trailing
//! component counts as `0`, so `1.2`, `1.2.0` and `1.2.0.0` are equal: Windows
//! and vendor feeds write the same build with two, three or four components
//! (`10.0` for `10.0.0.0`), and a patch fixed in `10.0.19045` must count as
//! installed on `10.0.19045.0`. Where the number of components matters, compare
//! the texts as well.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::{Scheme, VersionError, compare_decimal, describe_char};

/// A dotted numeric version such as `10.0.19045.4291`.
///
/// `Eq` follows the ordering: `1.2` equals `1.2.0` and `01.2`. `Display` prints
/// the text as given.
#[derive(Debug, Clone)]
pub struct NumericVersion {
    text: Box<str>,
}

impl NumericVersion {
    /// The components as digit strings, as written.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.text.split('.')
    }

    /// The version as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for NumericVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| VersionError::new(Scheme::Numeric, text, reason);
        if text.is_empty() {
            return Err(invalid(
                "version is empty; expected numbers separated by '.'".to_owned(),
            ));
        }
        for (index, component) in text.split('.').enumerate() {
            let position = index + 1;
            if component.is_empty() {
                return Err(invalid(format!(
                    "component {position} is empty; expected numbers separated by single '.'"
                )));
            }
            if let Some(bad) = component.chars().find(|c| !c.is_ascii_digit()) {
                return Err(invalid(format!(
                    "component {position} ({component:?}) contains {}; expected digits",
                    describe_char(bad)
                )));
            }
        }
        Ok(NumericVersion { text: text.into() })
    }
}

impl Ord for NumericVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.components();
        let mut b = other.components();
        loop {
            let ordering = match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (x, y) => compare_decimal(
                    x.unwrap_or_default().as_bytes(),
                    y.unwrap_or_default().as_bytes(),
                ),
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
    }
}

impl PartialOrd for NumericVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NumericVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for NumericVersion {}

impl fmt::Display for NumericVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(text: &str) -> NumericVersion {
        text.parse().expect("test version is valid")
    }

    fn reason(text: &str) -> String {
        text.parse::<NumericVersion>()
            .expect_err("test version is invalid")
            .reason
    }

    #[test]
    fn compares_windows_builds_component_by_component() {
        assert!(numeric("10.0.19045.4291") < numeric("10.0.19045.4412"));
        assert!(numeric("10.0.19045.4291") < numeric("10.0.22631.3447"));
        assert!(numeric("6.3.9600.9") < numeric("10.0.10240.16384"));
    }

    #[test]
    fn missing_trailing_components_count_as_zero() {
        assert_eq!(numeric("1.2"), numeric("1.2.0"));
        assert_eq!(numeric("10.0"), numeric("10.0.0.0"));
        assert!(numeric("1.2") < numeric("1.2.0.1"));
        assert_eq!(numeric("1.2").to_string(), "1.2");
    }

    #[test]
    fn leading_zeros_do_not_change_the_number() {
        assert_eq!(numeric("10.0.0001"), numeric("10.0.1"));
        assert!(numeric("1.09") > numeric("1.8"));
    }

    #[test]
    fn rejects_anything_but_digits_and_single_dots() {
        assert_eq!(
            reason(""),
            "version is empty; expected numbers separated by '.'"
        );
        assert_eq!(
            reason("1..2"),
            "component 2 is empty; expected numbers separated by single '.'"
        );
        assert_eq!(
            reason(".1"),
            "component 1 is empty; expected numbers separated by single '.'"
        );
        assert_eq!(
            reason("1.2."),
            "component 3 is empty; expected numbers separated by single '.'"
        );
        assert_eq!(
            reason("1.2b"),
            "component 2 (\"2b\") contains 'b'; expected digits"
        );
        assert_eq!(
            reason("-1"),
            "component 1 (\"-1\") contains '-'; expected digits"
        );
        assert_eq!(
            reason("1 .2"),
            "component 1 (\"1 \") contains U+0020; expected digits"
        );
    }
}
