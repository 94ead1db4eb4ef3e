//! The OSV parser against the shared advisory corpus (`tests/fixtures/corpus/osv`,
//! real records from Debian, Ubuntu, Alpine, Red Hat, GitHub, Go, PyPA, RustSec),
//! hand-made broken records, and arbitrary bytes.

use fixpoint_core::catalog::csaf;
use fixpoint_core::catalog::osv::{self, End, OsvError, RangeKind};
use fixpoint_core::catalog::{
    Advisory, AdvisoryRef, Catalog, Fix, PackageKind, PatchFile, PatchId, Platform,
};
use fixpoint_core::rating::{Classification, Severity};
use fixpoint_core::version::{self, Scheme};
use proptest::prelude::*;
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/corpus");

fn corpus(name: &str) -> Vec<u8> {
    let path = format!("{CORPUS}/osv/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn advisories(name: &str) -> Vec<Advisory> {
    osv::parse(&corpus(name), "osv").unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only(name: &str) -> Advisory {
    let mut all = advisories(name);
    assert_eq!(all.len(), 1, "{name} yields one advisory");
    all.remove(0)
}

fn patch_ids(all: &[Advisory]) -> Vec<&str> {
    all.iter().map(|a| a.patch.as_str()).collect()
}

fn cves(a: &Advisory) -> Vec<&str> {
    a.vulnerabilities.iter().map(|v| v.id.as_str()).collect()
}

fn fix(
    platform: &str,
    package: &str,
    kind: PackageKind,
    introduced: Option<&str>,
    fixed: Option<&str>,
) -> Fix {
    Fix {
        platform: Platform(platform.into()),
        package: package.into(),
        kind,
        fixed: fixed.map(Into::into),
        introduced: introduced.map(Into::into),
        last_affected: None,
        arch: None,
    }
}

fn rejection(bytes: &[u8]) -> String {
    match osv::parse(bytes, "osv") {
        Ok(a) => panic!("expected a rejection, got {} advisories", a.len()),
        Err(e) => e.to_string(),
    }
}

fn reject(record: Value) -> String {
    rejection(record.to_string().as_bytes())
}

/// A minimal valid record, for the negative tests to break one thing at a time.
fn record() -> Value {
    json!({
        "id": "DSA-0000-1",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.15-1~deb12u1"}]}]
        }]
    })
}

fn events(list: Value) -> Value {
    let mut r = record();
    r["affected"][0]["ranges"][0]["events"] = list;
    r
}

// ---------------------------------------------------------------------------
// The whole corpus.

#[test]
fn every_corpus_record_imports_and_the_invalid_one_is_rejected_with_its_reason() {
    let mut names: Vec<String> = std::fs::read_dir(format!("{CORPUS}/osv"))
        .expect("corpus folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        15,
        "a new corpus file needs its facts asserted below: {names:?}"
    );
    for name in &names {
        let all = osv::parse(&corpus(name), "osv").unwrap_or_else(|e| panic!("{name}: {e}"));
        let withdrawn = name == "withdrawn.osv.json";
        assert_eq!(all.is_empty(), withdrawn, "{name}");
    }
    let invalid: Vec<_> = std::fs::read_dir(format!("{CORPUS}/osv/invalid"))
        .expect("invalid folder")
        .collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(
        rejection(&corpus("invalid/nointroduced-CVE-2023-41045.json")),
        "CVE-2023-41045: /affected/0/ranges/0/events: no introduced event: every range must say \
         where the affected versions begin (`{\"introduced\": \"0\"}` for all of them)"
    );
}

// ---------------------------------------------------------------------------
// Debian and Ubuntu: one patch per source package and fixed version.

#[test]
fn dla_3008_1_is_the_openssl_patch_for_debian_9_with_its_upstream_cve() {
    let a = only("DLA-3008-1.json");
    assert_eq!(a.patch, PatchId::deb("openssl", "1.1.0l-1~deb9u6"));
    assert_eq!(
        a.reference,
        AdvisoryRef {
            source: "osv".into(),
            id: "DLA-3008-1".into(),
            url: None
        }
    );
    assert_eq!(
        a.fixes,
        vec![fix(
            "debian:9",
            "openssl",
            PackageKind::Source,
            None,
            Some("1.1.0l-1~deb9u6")
        )]
    );
    assert_eq!(a.fixes[0].platform.scheme(), Scheme::Dpkg);
    // `upstream` also lists DEBIAN-CVE-2022-1292, Debian's own id for the same CVE.
    assert_eq!(cves(&a), ["CVE-2022-1292"]);
    assert_eq!(
        (a.vendor.as_str(), a.product.as_str()),
        ("Debian", "openssl")
    );
    assert_eq!(a.classification, Classification::Security);
    assert_eq!(a.severity, Severity::Unrated);
    assert_eq!(a.title.as_deref(), Some("openssl - security update"));
    assert_eq!(
        a.released.map(|t| t.to_string()).as_deref(),
        Some("2022-05-14T00:00:00Z")
    );
}

#[test]
fn dla_3051_1_is_the_tzdata_update_and_fixes_no_cve() {
    let a = only("DLA-3051-1.json");
    assert_eq!(a.patch.as_str(), "tzdata/2021a-0+deb9u4");
    assert_eq!(
        a.fixes,
        vec![fix(
            "debian:9",
            "tzdata",
            PackageKind::Source,
            None,
            Some("2021a-0+deb9u4")
        )]
    );
    assert!(
        a.vulnerabilities.is_empty(),
        "a notice without CVEs names no vulnerability"
    );
    let record = osv::parse_record(&corpus("DLA-3051-1.json")).expect("record");
    assert_eq!(record.affected[0].versions.len(), 41);
    assert_eq!(
        record.affected[0]
            .package
            .as_ref()
            .and_then(|p| p.purl.as_deref()),
        Some("pkg:deb/debian/tzdata?arch=source")
    );
}

#[test]
fn usn_7095_1_yields_one_patch_per_kernel_source_package_and_release() {
    let all = advisories("USN-7095-1.json");
    assert_eq!(
        patch_ids(&all),
        [
            "linux-nvidia-6.8/6.8.0-1017.19~22.04.1",
            "linux-nvidia/6.8.0-1017.19",
            "linux-nvidia-lowlatency/6.8.0-1017.19.1",
        ]
    );
    let platforms: Vec<&str> = all.iter().map(|a| a.fixes[0].platform.0.as_str()).collect();
    assert_eq!(platforms, ["ubuntu:22.04", "ubuntu:24.04", "ubuntu:24.04"]);
    for a in &all {
        assert_eq!(a.reference.id, "USN-7095-1");
        assert_eq!(a.vendor, "Ubuntu");
        assert_eq!(a.fixes.len(), 1);
        assert_eq!(a.fixes[0].kind, PackageKind::Source);
        // Ubuntu lists a USN's CVEs under `related`, next to its own UBUNTU-CVE ids.
        assert_eq!(a.vulnerabilities.len(), 197);
        assert_eq!(a.vulnerabilities[0].id, "CVE-2023-52887");
        assert!(
            a.vulnerabilities
                .iter()
                .all(|v| v.id.starts_with("CVE-") && v.cvss.is_empty())
        );
    }
}

#[test]
fn ubuntu_fixed_versions_with_a_backport_tilde_order_below_the_release_they_backport() {
    let a = &advisories("USN-7095-1.json")[0];
    let fixed = a.fixes[0].fixed.as_deref().expect("fixed");
    assert_eq!(fixed, "6.8.0-1017.19~22.04.1");
    assert_eq!(
        version::compare(Scheme::Dpkg, fixed, "6.8.0-1017.19"),
        Ok(std::cmp::Ordering::Less)
    );
}

#[test]
fn ubuntu_cve_2025_38094_is_known_affected_on_ubuntu_pro_14_04_without_a_fix() {
    let a = only("UBUNTU-CVE-2025-38094.json");
    // No fixed version: no Debian-style patch id, the record's id instead.
    assert_eq!(a.patch.as_str(), "UBUNTU-CVE-2025-38094");
    assert_eq!(
        a.fixes,
        vec![fix(
            "ubuntu:14.04",
            "linux",
            PackageKind::Source,
            None,
            None
        )]
    );
    assert_eq!(cves(&a), ["CVE-2025-38094"]);
    // Severity type `Ubuntu` carries Canonical's priority word, not a CVSS vector.
    assert_eq!(a.severity, Severity::Moderate);
    let record = osv::parse_record(&corpus("UBUNTU-CVE-2025-38094.json")).expect("record");
    let ecosystem = &record.affected[0]
        .package
        .as_ref()
        .expect("package")
        .ecosystem;
    assert_eq!(ecosystem.name, "Ubuntu:Pro:14.04:LTS");
    assert!(ecosystem.pro);
    assert_eq!(record.affected[0].ranges[0].intervals.len(), 1);
    assert_eq!(record.affected[0].ranges[0].intervals[0].end, None);
}

#[test]
fn a_debian_osv_advisory_and_the_apt_patch_with_the_same_id_merge_into_one_patch_with_the_cves() {
    let id = PatchId::deb("openssl", "1.1.0l-1~deb9u6");
    let apt = Advisory {
        reference: AdvisoryRef {
            source: "debian-security".into(),
            id: id.to_string(),
            url: None,
        },
        patch: id.clone(),
        vendor: "Debian".into(),
        product: "openssl".into(),
        title: None,
        classification: Classification::Security,
        severity: Severity::Unrated,
        released: Some("2022-05-15T10:00:00Z".parse().expect("instant")),
        vulnerabilities: Vec::new(),
        fixes: vec![fix(
            "debian:9",
            "openssl",
            PackageKind::Source,
            None,
            Some("1.1.0l-1~deb9u6"),
        )],
        files: vec![PatchFile {
            url: "pool/updates/main/o/openssl/libssl1.1_1.1.0l-1~deb9u6_amd64.deb".into(),
            sha256: Some("ab".repeat(32)),
            size: Some(1_300_000),
            package: Some("libssl1.1".into()),
            arch: Some("amd64".into()),
        }],
        supersedes: Vec::new(),
        references: Vec::new(),
        restart_required: None,
    };
    let mut all = vec![apt];
    all.extend(advisories("DLA-3008-1.json"));
    let catalog = Catalog::from_advisories(all);
    assert_eq!(catalog.len(), 1);
    let patch = catalog.get(id.as_str()).expect("merged patch");
    assert_eq!(patch.cves().collect::<Vec<_>>(), ["CVE-2022-1292"]);
    assert_eq!(
        patch
            .advisories
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["openssl/1.1.0l-1~deb9u6", "DLA-3008-1"]
    );
    assert_eq!(
        patch.fixes.len(),
        1,
        "the same fix, stated by both feeds, is kept once"
    );
    assert_eq!(patch.files.len(), 1);
    assert_eq!(patch.title.as_deref(), Some("openssl - security update"));
    assert_eq!(
        patch.released.map(|t| t.to_string()).as_deref(),
        Some("2022-05-14T00:00:00Z")
    );
}

// ---------------------------------------------------------------------------
// Red Hat and Alpine: one advisory per record.

#[test]
fn rhsa_2024_4546_is_one_rhel_8_patch_named_like_its_csaf_twin() {
    let a = only("RHSA-2024_4546.json");
    assert_eq!(a.patch.as_str(), "RHSA-2024:4546");
    assert_eq!(
        a.reference.url.as_deref(),
        Some("https://access.redhat.com/errata/RHSA-2024:4546")
    );
    assert_eq!(a.vendor, "Red Hat");
    // Nine entries: three packages on the AUS, E4S and TUS streams of 8.6, all RHEL 8.
    let fixed = Some("0:2.13.3-3.el8_6.1");
    assert_eq!(
        a.fixes,
        vec![
            fix("rhel:8", "git-lfs", PackageKind::Binary, None, fixed),
            fix(
                "rhel:8",
                "git-lfs-debuginfo",
                PackageKind::Binary,
                None,
                fixed
            ),
            fix(
                "rhel:8",
                "git-lfs-debugsource",
                PackageKind::Binary,
                None,
                fixed
            ),
        ]
    );
    // The explicit zero epoch is kept as written; rpm orders it like no epoch.
    assert_eq!(
        version::compare(Scheme::Rpm, "0:2.13.3-3.el8_6.1", "2.13.3-3.el8_6.1"),
        Ok(std::cmp::Ordering::Equal)
    );
    assert_eq!(cves(&a), ["CVE-2023-45288"]);
    assert_eq!(a.vulnerabilities[0].cvss.len(), 1);
    assert_eq!(a.vulnerabilities[0].cvss[0].version, "3.1");
    assert_eq!(a.vulnerabilities[0].cvss[0].score, 7.5);
    assert_eq!(a.severity, Severity::Important);
}

#[test]
fn rhsa_2024_4546_from_osv_and_from_csaf_merge_into_one_patch() {
    let csaf_bytes =
        std::fs::read(format!("{CORPUS}/csaf/rhsa-2024_4546.json")).expect("csaf twin");
    let mut all = csaf::parse(&csaf_bytes, "redhat-csaf").expect("csaf parses");
    all.extend(advisories("RHSA-2024_4546.json"));
    let catalog = Catalog::from_advisories(all);
    assert_eq!(catalog.len(), 1);
    let patch = catalog.get("RHSA-2024:4546").expect("merged patch");
    let refs: Vec<(&str, &str)> = patch
        .advisories
        .iter()
        .map(|r| (r.source.as_str(), r.id.as_str()))
        .collect();
    assert_eq!(
        refs,
        [("osv", "RHSA-2024:4546"), ("redhat-csaf", "RHSA-2024:4546")]
    );
    assert_eq!(patch.cves().collect::<Vec<_>>(), ["CVE-2023-45288"]);
    assert_eq!(patch.max_cvss(), Some(7.5));
    assert!(patch.fixes.iter().all(|f| f.platform.0 == "rhel:8"));
    assert!(
        patch
            .fixes
            .iter()
            .all(|f| f.fixed.as_deref() == Some("0:2.13.3-3.el8_6.1"))
    );
}

#[test]
fn alpine_cve_2025_26519_fixes_musl_on_nine_alpine_releases() {
    let a = only("ALPINE-CVE-2025-26519.json");
    assert_eq!(a.patch.as_str(), "ALPINE-CVE-2025-26519");
    let platforms: Vec<&str> = a.fixes.iter().map(|f| f.platform.0.as_str()).collect();
    assert_eq!(
        platforms,
        [
            "alpine:3.16",
            "alpine:3.17",
            "alpine:3.18",
            "alpine:3.19",
            "alpine:3.20",
            "alpine:3.21",
            "alpine:3.22",
            "alpine:3.23",
            "alpine:3.24"
        ]
    );
    assert_eq!(
        a.fixes[3],
        fix(
            "alpine:3.19",
            "musl",
            PackageKind::Source,
            Some("0.9.13"),
            Some("1.2.4_git20230717-r5")
        )
    );
    assert_eq!(cves(&a), ["CVE-2025-26519"]);
    assert_eq!(a.vulnerabilities[0].cvss[0].score, 7.0);
    assert_eq!(a.severity, Severity::Important);
}

// ---------------------------------------------------------------------------
// Language ecosystems and GIT.

#[test]
fn go_2022_0493_keeps_both_stdlib_intervals_and_the_pseudo_version_fix() {
    let a = only("GO-2022-0493.json");
    assert_eq!(a.patch.as_str(), "GO-2022-0493");
    assert_eq!(
        a.fixes,
        vec![
            fix(
                "go",
                "golang.org/x/sys",
                PackageKind::Binary,
                None,
                Some("0.0.0-20220412211240-33da011f77ad")
            ),
            fix("go", "stdlib", PackageKind::Binary, None, Some("1.17.10")),
            fix(
                "go",
                "stdlib",
                PackageKind::Binary,
                Some("1.18.0-0"),
                Some("1.18.2")
            ),
        ]
    );
    // Aliases name the same vulnerability in other databases; only the CVE is kept.
    assert_eq!(cves(&a), ["CVE-2022-29526"]);
    assert_eq!(
        a.reference.url.as_deref(),
        Some("https://pkg.go.dev/vuln/GO-2022-0493")
    );
    assert_eq!(a.severity, Severity::Unrated);
}

#[test]
fn ghsa_3pxv_keeps_the_inclusive_last_affected_bound_of_the_3_x_line() {
    let record = osv::parse_record(&corpus("GHSA-3pxv-7cmr-fjr4.json")).expect("record");
    let ends: Vec<_> = record
        .affected
        .iter()
        .map(|a| a.ranges[0].intervals[0].clone())
        .collect();
    assert_eq!(ends[0].introduced.as_deref(), Some("2.0-alpha1"));
    assert_eq!(ends[0].end, Some(End::Fixed("2.25.4".into())));
    assert_eq!(ends[1].introduced.as_deref(), Some("3.0.0-alpha1"));
    assert_eq!(ends[1].end, Some(End::LastAffected("3.0.0-beta3".into())));

    // The 3.x line has no fix yet, and is bounded by its last affected version.
    let a = only("GHSA-3pxv-7cmr-fjr4.json");
    let maven = |introduced, fixed| {
        fix(
            "maven",
            "org.apache.logging.log4j:log4j-core",
            PackageKind::Binary,
            Some(introduced),
            fixed,
        )
    };
    let mut three = maven("3.0.0-alpha1", None);
    three.last_affected = Some("3.0.0-beta3".into());
    assert_eq!(a.fixes, vec![three, maven("2.0-alpha1", Some("2.25.4"))]);
    assert_eq!(cves(&a), ["CVE-2026-34480"]);
    assert_eq!(a.vulnerabilities[0].cvss[0].version, "4.0");
    assert_eq!(a.vulnerabilities[0].cvss[0].score, 6.9);
    // GitHub's own rating (database_specific.severity) wins over the score.
    assert_eq!(a.severity, Severity::Moderate);
}

#[test]
fn ghsa_w4cc_takes_its_bound_from_last_known_affected_version_range() {
    let a = only("GHSA-w4cc-pc2h-whcj.json");
    assert_eq!(
        a.fixes,
        vec![fix(
            "crates.io",
            "derive-com-impl",
            PackageKind::Binary,
            None,
            Some("0.1.2")
        )]
    );
    assert_eq!(a.severity, Severity::Important);
    assert_eq!(cves(&a), ["CVE-2021-45681"]);
}

#[test]
fn ghsa_whgm_is_an_npm_fix_rated_high() {
    let a = only("GHSA-whgm-jr23-g3j9.json");
    assert_eq!(
        a.fixes,
        vec![fix(
            "npm",
            "ansi-html",
            PackageKind::Binary,
            None,
            Some("0.0.8")
        )]
    );
    assert_eq!(
        a.vulnerabilities[0].cvss[0].vector.as_deref(),
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H")
    );
    assert_eq!(a.severity, Severity::Important);
}

#[test]
fn pysec_2023_74_takes_the_version_range_and_checks_but_skips_the_git_range() {
    let a = only("PYSEC-2023-74.json");
    assert_eq!(
        a.fixes,
        vec![fix(
            "pypi",
            "requests",
            PackageKind::Binary,
            Some("2.3.0"),
            Some("2.31.0")
        )]
    );
    assert_eq!(cves(&a), ["CVE-2023-32681"]);
    let record = osv::parse_record(&corpus("PYSEC-2023-74.json")).expect("record");
    let git = &record.affected[0].ranges[0];
    assert_eq!(
        git.kind,
        RangeKind::Git {
            repo: "https://github.com/psf/requests".into()
        }
    );
    assert_eq!(
        git.fixed_commits,
        ["74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"]
    );
    assert!(git.intervals.is_empty());
}

#[test]
fn cve_2024_51757_is_a_git_only_record_kept_with_its_cve_and_no_fix() {
    let a = only("CVE-2024-51757.json");
    assert_eq!(a.patch.as_str(), "CVE-2024-51757");
    assert!(a.fixes.is_empty());
    assert_eq!(
        (a.vendor.as_str(), a.product.as_str()),
        ("git", "github.com/capricorn86/happy-dom")
    );
    assert_eq!(cves(&a), ["CVE-2024-51757"]);
    assert_eq!(a.vulnerabilities[0].cvss[0].score, 9.3);
    assert_eq!(a.severity, Severity::Critical);
    let record = osv::parse_record(&corpus("CVE-2024-51757.json")).expect("record");
    // Two fixed commits after one introduced: one per branch.
    assert_eq!(record.affected[0].ranges[0].fixed_commits.len(), 2);
}

#[test]
fn drupal_contrib_2025_083_drops_the_repository_suffix_of_its_packagist_ecosystem() {
    let a = only("DRUPAL-CONTRIB-2025-083.json");
    assert_eq!(
        a.fixes,
        vec![fix(
            "packagist",
            "drupal/simple_sitemap",
            PackageKind::Binary,
            None,
            Some("4.2.2")
        )]
    );
    assert_eq!(a.vendor, "Packagist");
    assert_eq!(cves(&a), ["CVE-2025-6676"]);
}

#[test]
fn rustsec_2023_0072_unsound_is_an_informational_bugfix_not_a_vulnerability() {
    let a = only("RUSTSEC-2023-0072.json");
    assert_eq!(a.classification, Classification::Bugfix);
    assert!(a.vulnerabilities.is_empty());
    assert_eq!(a.severity, Severity::Unrated);
    // `0.0.0-0` is RustSec's "every version".
    assert_eq!(
        a.fixes,
        vec![fix(
            "crates.io",
            "openssl",
            PackageKind::Binary,
            None,
            Some("0.10.60")
        )]
    );
    assert_eq!(
        a.reference.url.as_deref(),
        Some("https://rustsec.org/advisories/RUSTSEC-2023-0072.html")
    );
}

#[test]
fn a_withdrawn_record_yields_no_advisory_but_says_when_it_was_withdrawn() {
    assert!(advisories("withdrawn.osv.json").is_empty());
    let record = osv::parse_record(&corpus("withdrawn.osv.json")).expect("record");
    assert_eq!(record.id, "GHSA-35c4-f3rq-f9g3");
    assert_eq!(
        record.withdrawn.map(|t| t.to_string()).as_deref(),
        Some("2018-10-11T17:29:49Z")
    );
    // Its three intervals were still read.
    assert_eq!(record.affected[0].ranges[0].intervals.len(), 3);
}

#[test]
fn parse_array_reads_several_records_and_locates_errors_by_index() {
    let a: Value = serde_json::from_slice(&corpus("DLA-3008-1.json")).expect("json");
    let b: Value = serde_json::from_slice(&corpus("USN-7095-1.json")).expect("json");
    let all = osv::parse_array(json!([a, b]).to_string().as_bytes(), "osv").expect("array");
    assert_eq!(all.len(), 4);
    let broken = json!([
        record(),
        events(json!([{"fixed": "1"}, {"introduced": "0"}]))
    ]);
    let e = osv::parse_array(broken.to_string().as_bytes(), "osv").expect_err("second is broken");
    assert_eq!(
        e.to_string(),
        "DSA-0000-1: /1/affected/0/ranges/0/events/0: closes no interval: events are read in order \
         and an introduced event must open each one"
    );
    assert!(osv::parse_array(b"{}", "osv").is_err());
}

// ---------------------------------------------------------------------------
// Broken records: what was wrong, and where.

#[test]
fn the_minimal_record_of_the_negative_tests_is_valid() {
    let all = osv::parse(record().to_string().as_bytes(), "osv").expect("valid");
    assert_eq!(patch_ids(&all), ["openssl/3.0.15-1~deb12u1"]);
}

#[test]
fn truncated_json_is_not_a_json_document() {
    let bytes = corpus("DLA-3008-1.json");
    let e = osv::parse(&bytes[..bytes.len() / 2], "osv").expect_err("truncated");
    assert!(matches!(e, OsvError::Json(_)), "{e}");
    assert!(
        e.to_string()
            .starts_with("not a JSON document: EOF while parsing"),
        "{e}"
    );
    assert!(matches!(osv::parse(b"", "osv"), Err(OsvError::Json(_))));
}

#[test]
fn a_document_that_is_not_an_object_is_rejected() {
    assert_eq!(rejection(b"[]"), "/: expected an object, found an array");
    assert_eq!(rejection(b"null"), "/: expected an object, found null");
}

#[test]
fn required_members_must_be_present() {
    assert_eq!(
        reject(json!({"modified": "2024-01-01T00:00:00Z"})),
        "/: missing required member `id`"
    );
    assert_eq!(
        reject(json!({"id": "X-1"})),
        "X-1: /: missing required member `modified`"
    );
    assert_eq!(
        reject(json!({"id": "", "modified": "2024-01-01T00:00:00Z"})),
        "/id: must not be empty"
    );
}

#[test]
fn wrong_types_are_named_with_their_pointer() {
    let mut r = record();
    r["id"] = json!(42);
    assert_eq!(reject(r), "/id: expected a string, found a number");
    let mut r = record();
    r["affected"] = json!({});
    assert_eq!(
        reject(r),
        "DSA-0000-1: /affected: expected an array, found an object"
    );
    let mut r = record();
    r["aliases"] = json!(["CVE-2024-1", 7]);
    assert_eq!(
        reject(r),
        "DSA-0000-1: /aliases/1: expected a string, found a number"
    );
    let mut r = record();
    r["affected"][0]["package"]["name"] = json!(true);
    assert_eq!(
        reject(r),
        "DSA-0000-1: /affected/0/package/name: expected a string, found a boolean"
    );
    assert_eq!(
        reject(events(json!([{"introduced": 0}]))),
        "DSA-0000-1: /affected/0/ranges/0/events/0/introduced: expected a version string, found a number"
    );
}

#[test]
fn timestamps_must_be_rfc_3339() {
    let mut r = record();
    r["published"] = json!("yesterday");
    let e = reject(r);
    assert!(
        e.starts_with("DSA-0000-1: /published: expected an RFC 3339 timestamp"),
        "{e}"
    );
}

#[test]
fn events_name_exactly_one_kind() {
    assert_eq!(
        reject(events(json!([{"introduced": "0", "fixed": "1.0-1"}]))),
        "DSA-0000-1: /affected/0/ranges/0/events/0: an event has exactly one of introduced, fixed, \
         last_affected or limit, found several"
    );
    assert_eq!(
        reject(events(json!([{"introduced": "0"}, {}]))),
        "DSA-0000-1: /affected/0/ranges/0/events/1: an event needs one of introduced, fixed, \
         last_affected or limit"
    );
    assert_eq!(
        reject(events(json!([]))),
        "DSA-0000-1: /affected/0/ranges/0/events: must list at least one event"
    );
}

#[test]
fn version_range_events_pair_up_in_order() {
    assert_eq!(
        reject(events(
            json!([{"introduced": "0"}, {"introduced": "1.0-1"}, {"fixed": "2.0-1"}])
        )),
        "DSA-0000-1: /affected/0/ranges/0/events/1: introduced while the interval introduced at \
         events/0 is still open"
    );
    assert_eq!(
        reject(events(
            json!([{"introduced": "0"}, {"fixed": "1.0-1"}, {"fixed": "2.0-1"}])
        )),
        "DSA-0000-1: /affected/0/ranges/0/events/2: closes no interval: events are read in order and \
         an introduced event must open each one"
    );
}

#[test]
fn unknown_range_types_and_git_ranges_without_a_repository_are_rejected() {
    let mut r = record();
    r["affected"][0]["ranges"][0]["type"] = json!("SVN");
    assert_eq!(
        reject(r),
        "DSA-0000-1: /affected/0/ranges/0/type: unknown range type \"SVN\": expected ECOSYSTEM, SEMVER or GIT"
    );
    let mut r = record();
    r["affected"][0]["ranges"][0]["type"] = json!("GIT");
    assert_eq!(
        reject(r),
        "DSA-0000-1: /affected/0/ranges/0: a GIT range needs `repo`, the repository its commits are in"
    );
}

#[test]
fn a_version_range_needs_a_package() {
    let mut r = record();
    r["affected"][0]
        .as_object_mut()
        .expect("entry")
        .remove("package");
    assert_eq!(
        reject(r),
        "DSA-0000-1: /affected/0: a version range needs a `package` to say whose versions they are"
    );
}

#[test]
fn debian_versions_are_checked_with_dpkg_syntax() {
    let e = reject(events(json!([{"introduced": "0"}, {"fixed": "1.0 1"}])));
    assert!(
        e.starts_with("DSA-0000-1: /affected/0/ranges/0/events/1: invalid dpkg version \"1.0 1\""),
        "{e}"
    );
}

#[test]
fn cvss_vectors_must_parse_and_match_their_type() {
    let mut r = record();
    r["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}]);
    let e = reject(r);
    assert!(
        e.starts_with("DSA-0000-1: /severity/0/score: invalid CVSS vector \"CVSS:3.1/AV:X\""),
        "{e}"
    );
    let mut r = record();
    r["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]);
    assert_eq!(
        reject(r),
        "DSA-0000-1: /severity/0/score: type CVSS_V3 needs a CVSS 3.0 or 3.1 vector, found CVSS 4.0"
    );
}

#[test]
fn cvss_v2_vectors_are_scored_and_unknown_severity_types_skipped() {
    let mut r = record();
    r["severity"] = json!([
        {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
        {"type": "SOMETHING_NEW", "score": "whatever"}
    ]);
    r["upstream"] = json!(["CVE-2024-0001"]);
    let all = osv::parse(r.to_string().as_bytes(), "osv").expect("valid");
    assert_eq!(all[0].vulnerabilities[0].cvss[0].version, "2.0");
    assert_eq!(all[0].vulnerabilities[0].cvss[0].score, 7.5);
    assert_eq!(all[0].severity, Severity::Important);
}

#[test]
fn free_form_members_are_never_rejected() {
    let mut r = record();
    r["database_specific"] = json!({"severity": 3, "url": ["x"]});
    r["affected"][0]["database_specific"] = json!({"cvss": "not a vector", "informational": null,
        "last_known_affected_version_range": 12});
    r["affected"][0]["ecosystem_specific"] = json!([1, 2]);
    assert_eq!(
        osv::parse(r.to_string().as_bytes(), "osv")
            .expect("valid")
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------
// No input panics.

/// Leaves of records: versions, vectors and words that are almost right.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("0")),
        Just(json!("0.0.0-0")),
        Just(json!("1:2.3-4~deb12u1")),
        Just(json!("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")),
        Just(json!(
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
        )),
        "CVSS:[234]\\.[01]/([A-Z]{1,3}:[A-Z]/){0,12}".prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn event_strategy() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "introduced",
            "fixed",
            "last_affected",
            "limit",
            "other",
        ]),
        leaf(),
    )
        .prop_map(|(k, v)| json!({ k: v }))
}

fn record_strategy() -> impl Strategy<Value = Value> {
    let ecosystem = prop::sample::select(vec![
        "Debian:12",
        "Ubuntu:Pro:14.04:LTS",
        "Red Hat:rhel_aus:8.6::appstream",
        "Alpine:v3.20",
        "crates.io",
        "",
        "Ubuntu",
        "Red Hat",
        "Red Hat:::",
    ]);
    let kind = prop::sample::select(vec!["ECOSYSTEM", "SEMVER", "GIT", "X"]);
    let range = (
        kind,
        prop::collection::vec(event_strategy(), 0..6),
        prop::option::of(leaf()),
    )
        .prop_map(|(t, events, repo)| json!({"type": t, "events": events, "repo": repo}));
    let affected = (ecosystem, leaf(), prop::collection::vec(range, 0..3), prop::option::of(leaf()))
        .prop_map(|(eco, name, ranges, bound)| {
            json!({"package": {"ecosystem": eco, "name": name}, "ranges": ranges,
                   "database_specific": {"last_known_affected_version_range": bound, "cvss": bound}})
        });
    let severity = (
        prop::sample::select(vec!["CVSS_V2", "CVSS_V3", "CVSS_V4", "Ubuntu"]),
        leaf(),
    )
        .prop_map(|(t, s)| json!({"type": t, "score": s}));
    (
        prop::sample::select(vec!["DSA-1-1", "USN-1-1", "GHSA-x", "CVE-2024-1"]),
        prop::collection::vec(affected, 0..3),
        prop::collection::vec(severity, 0..3),
        prop::collection::vec(leaf(), 0..3),
    )
        .prop_map(|(id, affected, severity, aliases)| {
            json!({"id": id, "modified": "2024-01-01T00:00:00Z", "affected": affected,
                   "severity": severity, "aliases": aliases, "related": aliases})
        })
}

/// Well-formed CVSS vectors of every version, with v4's threat and
/// environmental metrics (where the scoring crate does the most work).
fn valid_vector() -> impl Strategy<Value = String> {
    let pick = |values: &'static str| prop::sample::select(values.split(' ').collect::<Vec<_>>());
    let v2 = (
        pick("L A N"),
        pick("H M L"),
        pick("M S N"),
        pick("N P C"),
        pick("N P C"),
        pick("N P C"),
    )
        .prop_map(|(av, ac, au, c, i, a)| format!("AV:{av}/AC:{ac}/Au:{au}/C:{c}/I:{i}/A:{a}"));
    let v3 = (
        pick("0 1"),
        pick("N A L P"),
        pick("L H"),
        pick("N L H"),
        pick("N R"),
        pick("U C"),
        pick("N L H"),
        pick("N L H"),
        pick("N L H"),
    )
        .prop_map(|(minor, av, ac, pr, ui, s, c, i, a)| {
            format!("CVSS:3.{minor}/AV:{av}/AC:{ac}/PR:{pr}/UI:{ui}/S:{s}/C:{c}/I:{i}/A:{a}")
        });
    let base4 = (
        pick("N A L P"),
        pick("L H"),
        pick("N P"),
        pick("N L H"),
        pick("N P A"),
        pick("H L N"),
        pick("H L N"),
        pick("H L N"),
        pick("H L N"),
        pick("H L N"),
        pick("H L N"),
    );
    let extra4 = (
        pick("X A P U"),
        pick("X H M L"),
        pick("X N L H S"),
        pick("X N L H S"),
        pick("X N A L P"),
    );
    let v4 = (base4, extra4).prop_map(|((av, ac, at, pr, ui, vc, vi, va, sc, si, sa), (e, cr, msi, msa, mav))| {
        format!(
            "CVSS:4.0/AV:{av}/AC:{ac}/AT:{at}/PR:{pr}/UI:{ui}/VC:{vc}/VI:{vi}/VA:{va}/SC:{sc}/SI:{si}/SA:{sa}\
             /E:{e}/CR:{cr}/MAV:{mav}/MSI:{msi}/MSA:{msa}"
        )
    });
    prop_oneof![v2, v3, v4]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_well_formed_cvss_vector_is_scored_between_0_and_10(vector in valid_vector()) {
        let kind = if vector.starts_with("CVSS:4") { "CVSS_V4" } else if vector.starts_with("CVSS:3") { "CVSS_V3" } else { "CVSS_V2" };
        let mut r = record();
        r["severity"] = json!([{"type": kind, "score": vector}]);
        r["upstream"] = json!(["CVE-2024-0001"]);
        let all = osv::parse(r.to_string().as_bytes(), "osv").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let score = all[0].vulnerabilities[0].cvss[0].score;
        prop_assert!((0.0..=10.0).contains(&score), "{vector}: {score}");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = osv::parse(&bytes, "osv");
        let _ = osv::parse_array(&bytes, "osv");
    }

    #[test]
    fn almost_valid_records_never_panic(record in record_strategy()) {
        let bytes = record.to_string();
        if let Ok(all) = osv::parse(bytes.as_bytes(), "osv") {
            prop_assert!(!all.is_empty());
            let _ = Catalog::from_advisories(all);
        }
    }

    #[test]
    fn cut_corpus_records_never_panic(cut in 0usize..6000, which in 0usize..3) {
        let name = ["USN-7095-1.json", "RHSA-2024_4546.json", "GO-2022-0493.json"][which];
        let bytes = corpus(name);
        let _ = osv::parse(&bytes[..cut.min(bytes.len())], "osv");
    }
}
