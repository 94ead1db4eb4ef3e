//! Version ordering against published test vectors: dpkg's and rpm's own test
//! suites (copied byte-identical into `tests/fixtures/versions`, see
//! PROVENANCE.md there), the SemVer 2.0.0 specification's examples, and
//! Windows build numbers.

use std::cmp::Ordering;

use fixpoint_core::version::{self, Scheme, Syntax};

const DPKG_VECTORS: &str = include_str!("fixtures/versions/dpkg-version-vectors.txt");
const RPMVERCMP_VECTORS: &str = include_str!("fixtures/versions/rpmvercmp-vectors.txt");
const RPMVERCMP_ODDITIES: &str = include_str!("fixtures/versions/rpmvercmp-oddities.txt");

/// One `A B expected` line of a vector file.
#[derive(Debug)]
struct Vector<'a> {
    line: usize,
    a: &'a str,
    b: &'a str,
    expected: Ordering,
}

fn vectors(file: &str) -> Vec<Vector<'_>> {
    file.lines()
        .enumerate()
        .map(|(index, text)| {
            let line = index + 1;
            let fields: Vec<&str> = text.split(' ').collect();
            let [a, b, expected] = fields[..] else {
                panic!("line {line}: expected `A B expected`, found {text:?}");
            };
            let expected = match expected {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                "1" => Ordering::Greater,
                other => panic!("line {line}: expected -1, 0 or 1, found {other:?}"),
            };
            Vector {
                line,
                a,
                b,
                expected,
            }
        })
        .collect()
}

/// Checks every vector in both directions and returns the failures.
fn failures(scheme: Scheme, syntax: Syntax, vectors: &[Vector<'_>]) -> Vec<String> {
    let mut failures = Vec::new();
    for vector in vectors {
        let forward = version::compare_with(scheme, syntax, vector.a, vector.b);
        let backward = version::compare_with(scheme, syntax, vector.b, vector.a);
        if forward != Ok(vector.expected) || backward != Ok(vector.expected.reverse()) {
            failures.push(format!(
                "line {}: {} vs {}: expected {:?}, got {forward:?} (reversed: {backward:?})",
                vector.line, vector.a, vector.b, vector.expected
            ));
        }
    }
    failures
}

#[test]
fn fixtures_hold_every_vector_of_their_sources() {
    assert_eq!(vectors(DPKG_VECTORS).len(), 43);
    assert_eq!(vectors(RPMVERCMP_VECTORS).len(), 91);
    assert_eq!(vectors(RPMVERCMP_ODDITIES).len(), 12);
}

#[test]
fn dpkg_orders_the_vectors_of_dpkgs_test_suite() {
    let failures = failures(Scheme::Dpkg, Syntax::Strict, &vectors(DPKG_VECTORS));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rpm_orders_the_vectors_of_rpms_test_suite() {
    let failures = failures(Scheme::Rpm, Syntax::Strict, &vectors(RPMVERCMP_VECTORS));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lenient_rpm_reproduces_the_oddities_rpm_keeps_but_does_not_assert() {
    let failures = failures(Scheme::Rpm, Syntax::Lenient, &vectors(RPMVERCMP_ODDITIES));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn strict_rpm_rejects_the_non_ascii_oddities() {
    let error = version::validate(Scheme::Rpm, Syntax::Strict, "1.1.α").expect_err("non-ASCII");
    assert_eq!(
        error.to_string(),
        "invalid rpm version \"1.1.α\": contains 'α'; allowed are letters, digits and . _ + ~ ^, \
         with ':' after an epoch and '-' before a release"
    );
}

/// Asserts that each version sorts strictly after the one before it.
fn assert_ascending(scheme: Scheme, chain: &[&str]) {
    for pair in chain.windows(2) {
        let [lower, higher] = pair else {
            unreachable!("windows(2) yields pairs")
        };
        assert_eq!(
            version::compare(scheme, lower, higher),
            Ok(Ordering::Less),
            "{scheme}: {lower} < {higher}"
        );
        assert_eq!(
            version::compare(scheme, higher, lower),
            Ok(Ordering::Greater),
            "{scheme}: {higher} > {lower}"
        );
    }
}

#[test]
fn semver_follows_the_precedence_examples_of_the_specification() {
    // SemVer 2.0.0, section 11, items 2 and 4.
    assert_ascending(Scheme::Semver, &["1.0.0", "2.0.0", "2.1.0", "2.1.1"]);
    assert_ascending(Scheme::Semver, &["1.0.0-alpha", "1.0.0"]);
    assert_ascending(
        Scheme::Semver,
        &[
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
    );
}

#[test]
fn semver_ignores_build_metadata() {
    // SemVer 2.0.0, section 10.
    assert_eq!(
        version::compare(Scheme::Semver, "1.0.0-alpha+001", "1.0.0-alpha"),
        Ok(Ordering::Equal)
    );
    assert_eq!(
        version::compare(
            Scheme::Semver,
            "1.0.0+20130313144700",
            "1.0.0+exp.sha.5114f85"
        ),
        Ok(Ordering::Equal)
    );
}

#[test]
fn numeric_orders_windows_builds() {
    assert_ascending(
        Scheme::Numeric,
        &[
            "6.1.7601.24000",
            "10.0.17763.5576",
            "10.0.19045.4291",
            "10.0.19045.4412",
            "10.0.22621.3447",
            "10.0.22631.3447",
            "10.0.26100.1",
        ],
    );
}

#[test]
fn numeric_treats_missing_trailing_components_as_zero() {
    assert_eq!(
        version::compare(Scheme::Numeric, "1.2", "1.2.0"),
        Ok(Ordering::Equal)
    );
    assert_eq!(
        version::compare(Scheme::Numeric, "10.0", "10.0.0.0"),
        Ok(Ordering::Equal)
    );
    assert_eq!(
        version::compare(Scheme::Numeric, "1.2", "1.2.0.1"),
        Ok(Ordering::Less)
    );
}
