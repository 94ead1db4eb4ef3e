//! How vendors classify and rate patches: the vocabulary that the catalog
//! assigns and that policy rules match on. Both `catalog` and `policy` use it;
//! it uses nothing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a vendor classifies a patch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Classification {
    /// Fixes a vulnerability.
    Security,
    /// Fixes a defect.
    Bugfix,
    /// Adds or improves functionality.
    Enhancement,
    /// Anything else the vendor ships (drivers, definitions, rollups).
    Other,
}

/// How severe a patch is, from the vendor's rating or its CVSS score.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Critical,
    Important,
    Moderate,
    Low,
    /// The vendor gave no rating.
    Unrated,
}

impl Severity {
    /// The rating for a CVSS base score, by the qualitative scale of CVSS v3
    /// (9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low), with "high" and
    /// "medium" named as vendors name them here: important and moderate.
    pub fn from_cvss(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::Important
        } else if score >= 4.0 {
            Severity::Moderate
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Unrated
        }
    }

    /// Reads a vendor's rating word: `Critical`, `Important`, `High`, `Moderate`,
    /// `Medium`, `Low`, `Negligible`; case-insensitive. Unknown words are unrated.
    pub fn from_vendor_word(word: &str) -> Severity {
        match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "important" | "high" => Severity::Important,
            "moderate" | "medium" => Severity::Moderate,
            "low" | "negligible" | "unimportant" => Severity::Low,
            _ => Severity::Unrated,
        }
    }

    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Important,
        Severity::Moderate,
        Severity::Low,
        Severity::Unrated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Important => "important",
            Severity::Moderate => "moderate",
            Severity::Low => "low",
            Severity::Unrated => "unrated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_scores_map_to_the_qualitative_scale() {
        assert_eq!(Severity::from_cvss(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss(9.0), Severity::Critical);
        assert_eq!(Severity::from_cvss(8.9), Severity::Important);
        assert_eq!(Severity::from_cvss(4.0), Severity::Moderate);
        assert_eq!(Severity::from_cvss(0.1), Severity::Low);
        assert_eq!(Severity::from_cvss(0.0), Severity::Unrated);
    }

    #[test]
    fn vendor_words_are_read_case_insensitively() {
        assert_eq!(Severity::from_vendor_word("HIGH"), Severity::Important);
        assert_eq!(Severity::from_vendor_word("medium"), Severity::Moderate);
        assert_eq!(Severity::from_vendor_word("Important"), Severity::Important);
        assert_eq!(Severity::from_vendor_word("whatever"), Severity::Unrated);
    }
}
