//! Properties every version ordering must have, for every scheme, over
//! generated versions built to be tricky: `~` and `^`, epochs, leading zeros,
//! letters next to digits, empty segments, long numbers.
//!
//! * the ordering is total: reflexive, antisymmetric, transitive, and `==`
//!   agrees with `cmp`;
//! * `Display` prints back the parsed text, which parses to an equal version;
//! * the string API `compare` agrees with the typed values;
//! * scheme-specific equivalences hold (leading zeros, `0:` epochs, `.0`,
//!   build metadata, separators);
//! * no input makes parsing or comparing panic.

use std::cmp::Ordering;
use std::fmt::{Debug, Display};
use std::str::FromStr;

use fixpoint_core::version::{
    self, DpkgVersion, NumericVersion, RpmVersion, Scheme, SemverVersion, Syntax, VersionError,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------
// Generators.

/// A number with leading zeros now and then, and now and then a long one.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,2}",
        2 => "0{1,3}[0-9]",
        1 => "[1-9][0-9]{18,30}",
    ]
}

/// Strict dpkg versions: optional epoch, upstream from a small alphabet so that
/// equal and nearly equal versions are common, optional revision.
fn dpkg_version() -> impl Strategy<Value = DpkgVersion> {
    let epoch = prop_oneof![3 => Just(String::new()), 1 => "(0|1|2|00|01|10|2147483647):"];
    let upstream = (number(), "[0-9a-bA~+.:-]{0,6}", prop::option::of(number()))
        .prop_map(|(head, middle, tail)| format!("{head}{middle}{}", tail.unwrap_or_default()));
    let revision = prop::option::of("[0-9a-b~+.]{1,5}");
    (epoch, upstream, revision)
        .prop_map(|(epoch, upstream, revision)| {
            let epoch = if epoch.is_empty() && upstream.contains(':') {
                "1:".into()
            } else {
                epoch
            };
            let revision = match revision {
                None if upstream.contains('-') => "-1".to_owned(),
                None => String::new(),
                Some(revision) => format!("-{revision}"),
            };
            format!("{epoch}{upstream}{revision}")
        })
        .prop_filter_map("strict dpkg syntax", |text| text.parse().ok())
}

/// Versions `dpkg --compare-versions` accepts, invalid characters included.
fn lenient_dpkg_version() -> impl Strategy<Value = DpkgVersion> {
    prop_oneof![
        dpkg_version().prop_map(|version| version.to_string()),
        "[ 0-9a~+.:_é\t-]{1,10}",
        "(\\+1|-0|00| 1):[a~0-9.!-]{1,6}",
    ]
    .prop_filter_map("accepted by dpkg", |text| {
        DpkgVersion::parse(&text, Syntax::Lenient).ok()
    })
}

/// Strict RPM versions: optional epoch, version and release with `~`, `^` and
/// every separator.
fn rpm_version() -> impl Strategy<Value = RpmVersion> {
    let epoch = prop_oneof![3 => Just(String::new()), 1 => "(0|1|00|12):"];
    let part = || {
        prop::collection::vec(prop_oneof![number(), "[a-cZ]{1,2}", "[~^._+]"], 1..6)
            .prop_map(|pieces| pieces.concat())
    };
    (epoch, part(), prop::option::of(part()))
        .prop_map(|(epoch, version, release)| {
            let release = release
                .map(|release| format!("-{release}"))
                .unwrap_or_default();
            format!("{epoch}{version}{release}")
        })
        .prop_filter_map("strict rpm syntax", |text| text.parse().ok())
}

/// Any non-empty string without NUL: everything `rpm.vercmp` accepts.
fn lenient_rpm_version() -> impl Strategy<Value = RpmVersion> {
    prop_oneof![
        rpm_version().prop_map(|version| version.to_string()),
        "[0-9a~^._+:é -]{1,10}",
    ]
    .prop_filter_map("accepted by rpm", |text| {
        RpmVersion::parse(&text, Syntax::Lenient).ok()
    })
}

fn semver_version() -> impl Strategy<Value = SemverVersion> {
    let numeric = || prop_oneof![Just("0".to_owned()), "[1-9][0-9]{0,2}", "[1-9][0-9]{20,25}"];
    let identifier = || {
        prop_oneof![
            Just("0".to_owned()),
            "[1-9][0-9]?",
            "[a-cA-]{1,3}",
            "[0-9][a-c-][0-9]?"
        ]
    };
    let pre_release = prop::option::of(prop::collection::vec(identifier(), 1..4));
    let build = prop::option::of(prop::collection::vec("[0-9a-z-]{1,3}", 1..3));
    (numeric(), numeric(), numeric(), pre_release, build)
        .prop_map(|(major, minor, patch, pre_release, build)| {
            let mut text = format!("{major}.{minor}.{patch}");
            if let Some(identifiers) = pre_release {
                text = format!("{text}-{}", identifiers.join("."));
            }
            if let Some(identifiers) = build {
                text = format!("{text}+{}", identifiers.join("."));
            }
            text
        })
        .prop_filter_map("semver syntax", |text| text.parse().ok())
}

fn numeric_version() -> impl Strategy<Value = NumericVersion> {
    prop::collection::vec(prop_oneof![3 => "(0|1|2|9|10)", 2 => number()], 1..6)
        .prop_filter_map("numeric syntax", |components| {
            components.join(".").parse().ok()
        })
}

// ---------------------------------------------------------------------------
// Properties shared by every scheme.

/// Reflexivity, antisymmetry, transitivity and `==`/`cmp` agreement over every
/// pair and triple of `versions`.
fn assert_total_order<V: Ord + Debug + Display>(versions: &[V]) -> Result<(), TestCaseError> {
    for a in versions {
        prop_assert_eq!(a.cmp(a), Ordering::Equal, "{} is not equal to itself", a);
        for b in versions {
            let ab = a.cmp(b);
            prop_assert_eq!(
                ab,
                b.cmp(a).reverse(),
                "{} vs {} is not antisymmetric",
                a,
                b
            );
            prop_assert_eq!(
                a == b,
                ab == Ordering::Equal,
                "== disagrees with cmp: {} {}",
                a,
                b
            );
            prop_assert_eq!(a.partial_cmp(b), Some(ab));
            for c in versions {
                if ab != Ordering::Greater && b <= c {
                    prop_assert!(a <= c, "{} <= {} <= {} but {} > {}", a, b, c, a, c);
                }
                if ab == Ordering::Equal {
                    prop_assert_eq!(
                        a.cmp(c),
                        b.cmp(c),
                        "{} = {} but they differ against {}",
                        a,
                        b,
                        c
                    );
                }
            }
        }
    }
    let mut sorted: Vec<&V> = versions.iter().collect();
    sorted.sort();
    for (i, lower) in sorted.iter().enumerate() {
        for higher in sorted.iter().skip(i + 1) {
            prop_assert!(lower <= higher, "sorted, yet {} > {}", lower, higher);
        }
    }
    Ok(())
}

/// `Display` prints the parsed text back and that text parses to an equal value.
fn assert_round_trip<V>(
    version: &V,
    parse: impl Fn(&str) -> Result<V, VersionError>,
) -> Result<(), TestCaseError>
where
    V: Ord + Debug + Display,
{
    let text = version.to_string();
    let reparsed = parse(&text);
    prop_assert!(
        reparsed.is_ok(),
        "{:?} does not parse back: {:?}",
        text,
        reparsed
    );
    if let Ok(reparsed) = reparsed {
        prop_assert_eq!(reparsed.to_string(), text);
        prop_assert_eq!(reparsed.cmp(version), Ordering::Equal);
    }
    Ok(())
}

/// The string API agrees with the typed values.
fn assert_compare_agrees<V: Ord + Display>(
    scheme: Scheme,
    syntax: Syntax,
    a: &V,
    b: &V,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        version::compare_with(scheme, syntax, &a.to_string(), &b.to_string()),
        Ok(a.cmp(b))
    );
    Ok(())
}

/// Puts a `0` in front of every run of digits.
fn with_leading_zeros(text: &str) -> String {
    let mut padded = String::with_capacity(text.len() * 2);
    let mut previous_was_digit = false;
    for c in text.chars() {
        if c.is_ascii_digit() && !previous_was_digit {
            padded.push('0');
        }
        previous_was_digit = c.is_ascii_digit();
        padded.push(c);
    }
    padded
}

fn parse<V: FromStr<Err = VersionError>>(text: &str) -> V {
    text.parse().unwrap_or_else(|error| panic!("{error}"))
}

// ---------------------------------------------------------------------------
// Per scheme.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dpkg_ordering_is_total(versions in prop::collection::vec(dpkg_version(), 1..9)) {
        assert_total_order(&versions)?;
    }

    #[test]
    fn lenient_dpkg_ordering_is_total(versions in prop::collection::vec(lenient_dpkg_version(), 1..9)) {
        assert_total_order(&versions)?;
    }

    #[test]
    fn dpkg_display_round_trips(version in dpkg_version(), lenient in lenient_dpkg_version()) {
        assert_round_trip(&version, |text| text.parse())?;
        assert_round_trip(&lenient, |text| DpkgVersion::parse(text, Syntax::Lenient))?;
    }

    #[test]
    fn dpkg_compare_agrees_with_the_typed_values(a in dpkg_version(), b in dpkg_version()) {
        assert_compare_agrees(Scheme::Dpkg, Syntax::Strict, &a, &b)?;
    }

    #[test]
    fn dpkg_ignores_leading_zeros_a_zero_epoch_and_a_zero_revision(version in dpkg_version()) {
        let padded: DpkgVersion = parse(&with_leading_zeros(&version.to_string()));
        prop_assert_eq!(&padded, &version);
        if !version.to_string().contains(':') {
            let with_epoch: DpkgVersion = parse(&format!("0:{version}"));
            prop_assert_eq!(&with_epoch, &version);
        }
        if version.revision().is_none() {
            let with_revision: DpkgVersion = parse(&format!("{version}-0"));
            prop_assert_eq!(&with_revision, &version);
        }
    }

    #[test]
    fn dpkg_tilde_sorts_before_the_end(version in dpkg_version(), suffix in "[0-9a~]{0,3}") {
        prop_assume!(version.revision().is_none());
        let before: DpkgVersion = parse(&format!("{version}~{suffix}"));
        prop_assert!(before < version, "{} is not before {}", before, version);
    }

    #[test]
    fn rpm_ordering_is_total(versions in prop::collection::vec(rpm_version(), 1..9)) {
        assert_total_order(&versions)?;
    }

    #[test]
    fn lenient_rpm_ordering_is_total(versions in prop::collection::vec(lenient_rpm_version(), 1..9)) {
        assert_total_order(&versions)?;
    }

    #[test]
    fn rpm_display_round_trips(version in rpm_version(), lenient in lenient_rpm_version()) {
        assert_round_trip(&version, |text| text.parse())?;
        assert_round_trip(&lenient, |text| RpmVersion::parse(text, Syntax::Lenient))?;
    }

    #[test]
    fn rpm_compare_agrees_with_the_typed_values(a in rpm_version(), b in rpm_version()) {
        assert_compare_agrees(Scheme::Rpm, Syntax::Strict, &a, &b)?;
    }

    #[test]
    fn rpm_ignores_leading_zeros_and_which_separator(version in rpm_version()) {
        let text = version.to_string();
        let padded: RpmVersion = parse(&with_leading_zeros(&text));
        prop_assert_eq!(&padded, &version);
        let underscored: RpmVersion = parse(&text.replace('.', "_"));
        prop_assert_eq!(&underscored, &version);
    }

    #[test]
    fn rpm_tilde_sorts_before_and_caret_after_the_end(version in rpm_version(), suffix in "[0-9a]{0,3}") {
        let before: RpmVersion = parse(&format!("{version}~{suffix}"));
        let after: RpmVersion = parse(&format!("{version}^{suffix}"));
        prop_assert!(before < version, "{} is not before {}", before, version);
        prop_assert!(after > version, "{} is not after {}", after, version);
    }

    #[test]
    fn semver_ordering_is_total(versions in prop::collection::vec(semver_version(), 1..9)) {
        assert_total_order(&versions)?;
    }

    #[test]
    fn semver_display_round_trips(version in semver_version()) {
        assert_round_trip(&version, |text| text.parse())?;
    }

    #[test]
    fn semver_compare_agrees_with_the_typed_values(a in semver_version(), b in semver_version()) {
        assert_compare_agrees(Scheme::Semver, Syntax::Strict, &a, &b)?;
    }

    #[test]
    fn semver_ignores_build_metadata(version in semver_version(), build in "[0-9a-z]{1,4}") {
        let text = version.to_string();
        let without_build = text.split('+').next().unwrap_or_default();
        let rebuilt: SemverVersion = parse(&format!("{without_build}+{build}"));
        prop_assert_eq!(&rebuilt, &version);
    }

    #[test]
    fn semver_pre_release_sorts_before_its_release(
        version in semver_version(),
        identifier in "(0|[1-9][0-9]{0,2}|[a-z][0-9a-z]{0,3})",
    ) {
        prop_assume!(version.pre_release().is_none());
        let without_build = version.to_string().split('+').next().unwrap_or_default().to_owned();
        let pre_release: SemverVersion = parse(&format!("{without_build}-{identifier}"));
        prop_assert!(pre_release < version);
    }

    #[test]
    fn numeric_ordering_is_total(versions in prop::collection::vec(numeric_version(), 1..9)) {
        assert_total_order(&versions)?;
    }

    #[test]
    fn numeric_display_round_trips(version in numeric_version()) {
        assert_round_trip(&version, |text| text.parse())?;
    }

    #[test]
    fn numeric_compare_agrees_with_the_typed_values(a in numeric_version(), b in numeric_version()) {
        assert_compare_agrees(Scheme::Numeric, Syntax::Strict, &a, &b)?;
    }

    #[test]
    fn numeric_ignores_leading_zeros_and_trailing_zero_components(version in numeric_version()) {
        let padded: NumericVersion = parse(&with_leading_zeros(&version.to_string()));
        prop_assert_eq!(&padded, &version);
        let longer: NumericVersion = parse(&format!("{version}.0.00"));
        prop_assert_eq!(&longer, &version);
    }

    #[test]
    fn no_input_makes_parsing_or_comparing_panic(a in any::<String>(), b in "\\PC{0,12}") {
        for scheme in Scheme::ALL {
            for syntax in [Syntax::Strict, Syntax::Lenient] {
                let _ = version::compare_with(scheme, syntax, &a, &b);
                let _ = version::compare_with(scheme, syntax, &b, &b);
                let _ = version::validate(scheme, syntax, &a);
            }
        }
    }
}
