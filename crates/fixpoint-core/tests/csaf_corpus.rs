//! CSAF 2.0 documents from the shared advisory corpus
//! (`tests/fixtures/corpus/csaf`, see its README for where each comes from
//! and which quirk it exercises), read into advisories: every file imports,
//! and specific facts of specific documents come out as the vendor wrote them.

use std::collections::BTreeSet;
use std::time::Instant;

use fixpoint_core::catalog::csaf::{self, CsafError};
use fixpoint_core::catalog::{Advisory, Fix, PackageKind, Platform};
use fixpoint_core::rating::{Classification, Severity};
use fixpoint_core::version::Scheme;
use proptest::prelude::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/corpus");

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{path}")).expect("corpus file")
}

/// The one advisory a corpus document reads into.
fn advisory(file: &str) -> Advisory {
    let mut advisories = csaf::parse(&corpus(&format!("csaf/{file}")), "corpus")
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(advisories.len(), 1, "{file}: one advisory per document");
    advisories.remove(0)
}

fn cves(a: &Advisory) -> Vec<&str> {
    a.vulnerabilities.iter().map(|v| v.id.as_str()).collect()
}

fn fix<'a>(a: &'a Advisory, platform: &str, package: &str, arch: Option<&str>) -> &'a Fix {
    a.fixes
        .iter()
        .find(|f| f.platform.0 == platform && f.package == package && f.arch.as_deref() == arch)
        .unwrap_or_else(|| panic!("{}: no fix of {package} ({arch:?}) on {platform}", a.patch))
}

fn released(a: &Advisory) -> String {
    a.released.map(|t| t.to_string()).unwrap_or_default()
}

fn cvss(a: &Advisory, cve: &str) -> Vec<(String, f64, Option<String>)> {
    let v = a
        .vulnerabilities
        .iter()
        .find(|v| v.id == cve)
        .expect("vulnerability");
    v.cvss
        .iter()
        .map(|c| (c.version.clone(), c.score, c.vector.clone()))
        .collect()
}

/// Runs `f` and prints how long it took. Speed is measured by the benchmark
/// (`cargo bench --bench catalog_import`), never asserted in a test.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    eprintln!("{what}: parsed in {:?}", start.elapsed());
    value
}

#[test]
fn every_document_in_the_corpus_imports_as_one_advisory() {
    let mut files: Vec<String> = std::fs::read_dir(format!("{CORPUS}/csaf"))
        .expect("corpus directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 20, "the corpus README lists 20 CSAF documents");
    for file in &files {
        let a = advisory(file);
        assert!(!a.patch.0.is_empty(), "{file}");
        assert!(a.released.is_some(), "{file}: release date");
    }
}

// --- Red Hat ---------------------------------------------------------------

#[test]
fn red_hat_git_lfs_advisory_fixes_rpms_on_rhel_8_with_their_epochs() {
    let a = advisory("rhsa-2024_4546.json");
    assert_eq!(a.patch.0, "RHSA-2024:4546");
    assert_eq!(a.reference.id, "RHSA-2024:4546");
    assert_eq!(
        a.reference.url.as_deref(),
        Some("https://access.redhat.com/errata/RHSA-2024:4546")
    );
    assert_eq!(a.vendor, "Red Hat Product Security");
    assert_eq!(a.product, "git-lfs");
    assert_eq!(
        a.title.as_deref(),
        Some("Red Hat Security Advisory: git-lfs security update")
    );
    assert_eq!(a.classification, Classification::Security);
    assert_eq!(a.severity, Severity::Important);
    assert_eq!(released(&a), "2024-07-15T16:12:25Z");
    assert_eq!(cves(&a), ["CVE-2023-45288"]);
    assert_eq!(
        cvss(&a, "CVE-2023-45288"),
        [(
            "3.1".into(),
            7.5,
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H".into())
        )]
    );
    // 15 relationships (3 streams × 5 builds) are 7 fixes on one platform:
    // the AUS, E4S and TUS streams of 8.6 are all RHEL 8.
    assert_eq!(a.fixes.len(), 7);
    assert!(
        a.fixes
            .iter()
            .all(|f| f.platform.0 == "rhel:8" && f.fixed.as_deref() == Some("0:2.13.3-3.el8_6.1"))
    );
    let source = fix(&a, "rhel:8", "git-lfs", None);
    assert_eq!(source.kind, PackageKind::Source);
    assert_eq!(
        fix(&a, "rhel:8", "git-lfs", Some("x86_64")).kind,
        PackageKind::Binary
    );
    fix(&a, "rhel:8", "git-lfs-debugsource", Some("ppc64le"));
    assert_eq!(
        a.references.iter().map(String::as_str).collect::<Vec<_>>(),
        ["https://access.redhat.com/errata/RHSA-2024:4546"]
    );
    assert_eq!(
        a.restart_required,
        Some(false),
        "restart_required category none"
    );
}

#[test]
fn red_hat_csaf_and_its_osv_twin_name_the_same_patch_cves_and_fixed_packages() {
    let a = advisory("rhsa-2024_4546.json");
    let osv: serde_json::Value =
        serde_json::from_slice(&corpus("osv/RHSA-2024_4546.json")).expect("OSV JSON");
    assert_eq!(osv["id"].as_str(), Some(a.patch.0.as_str()));
    let osv_cves: BTreeSet<&str> = osv["upstream"]
        .as_array()
        .expect("upstream")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(osv_cves, cves(&a).into_iter().collect());
    let mut osv_fixed = BTreeSet::new();
    for affected in osv["affected"].as_array().expect("affected") {
        let name = affected["package"]["name"].as_str().expect("package name");
        for range in affected["ranges"].as_array().expect("ranges") {
            for event in range["events"].as_array().expect("events") {
                if let Some(fixed) = event["fixed"].as_str() {
                    osv_fixed.insert((name.to_owned(), fixed.to_owned()));
                }
            }
        }
    }
    let csaf_fixed: BTreeSet<(String, String)> = a
        .fixes
        .iter()
        .map(|f| (f.package.clone(), f.fixed.clone().unwrap_or_default()))
        .collect();
    assert_eq!(csaf_fixed, osv_fixed);
}

#[test]
fn old_red_hat_advisory_with_only_cvss_v2_and_536_relationships() {
    let a = timed("rhsa-2015_0008 (536 relationships)", || {
        advisory("rhsa-2015_0008.json")
    });
    assert_eq!(a.patch.0, "RHSA-2015:0008");
    assert_eq!(
        cvss(&a, "CVE-2014-7823"),
        [("2.0".into(), 3.3, Some("AV:A/AC:L/Au:N/C:P/I:N/A:N".into()))]
    );
    assert_eq!(a.severity, Severity::Low, "aggregate severity Low");
    assert_eq!(
        fix(&a, "rhel:7", "libvirt", None).fixed.as_deref(),
        Some("0:1.1.1-29.el7_0.4")
    );
    assert_eq!(
        fix(&a, "rhel:7", "libvirt-client", Some("i686"))
            .fixed
            .as_deref(),
        Some("0:1.1.1-29.el7_0.4")
    );
    assert!(
        a.fixes.iter().all(|f| f.platform.0 == "rhel:7"),
        "Client, Server, Workstation and ComputeNode are all RHEL 7"
    );
    assert_eq!(a.fixes.len(), 67);
    assert_eq!(released(&a), "2015-01-05T20:29:48Z");
}

#[test]
fn red_hat_openshift_container_images_are_fixed_by_tag() {
    let a = advisory("rhsa-2021_5186.json");
    assert_eq!(a.patch.0, "RHSA-2021:5186");
    assert_eq!(cves(&a), ["CVE-2021-4104", "CVE-2021-4125"]);
    assert!(
        a.vulnerabilities.iter().all(|v| v.cvss.is_empty()),
        "no scores in this document"
    );
    assert_eq!(
        a.severity,
        Severity::Critical,
        "from aggregate_severity, not CVSS"
    );
    // Two images are known_not_affected: only the fixed one is a fix.
    assert_eq!(a.fixes.len(), 1);
    let image = fix(&a, "openshift:4.6", "openshift4/ose-metering-hive", None);
    assert_eq!(image.kind, PackageKind::Product);
    assert_eq!(
        image.fixed.as_deref(),
        Some("v4.6.0-202112160147.p0.gf139e12.assembly.stream")
    );
}

#[test]
fn informational_advisory_without_vulnerabilities_imports_with_no_fixes() {
    let a = advisory("rhsa-2019_1862.json");
    assert_eq!(a.patch.0, "RHSA-2019:1862");
    assert_eq!(a.classification, Classification::Other);
    assert!(a.vulnerabilities.is_empty() && a.fixes.is_empty() && a.references.is_empty());
    assert_eq!(a.severity, Severity::Low);
    assert_eq!(a.product, "Red Hat OpenShift Enterprise");
    assert_eq!(released(&a), "2019-07-26T06:38:00Z");
}

#[test]
fn red_hat_advisory_published_as_vex_mixes_cvss_3_0_and_3_1() {
    let parsed =
        csaf::parse_with_warnings(&corpus("csaf/rhsa-2023_4378.json"), "corpus").expect("imports");
    let a = &parsed.advisories[0];
    assert_eq!(a.patch.0, "RHSA-2023:4378");
    assert_eq!(
        a.classification,
        Classification::Security,
        "category csaf_vex read loosely"
    );
    assert_eq!(a.vulnerabilities.len(), 5);
    assert_eq!(
        cvss(a, "CVE-2023-1998"),
        [(
            "3.0".into(),
            5.6,
            Some("CVSS:3.0/AV:L/AC:H/PR:L/UI:N/S:C/C:H/I:N/A:N".into())
        )]
    );
    assert_eq!(cvss(a, "CVE-2022-45869")[0].0, "3.1");
    assert_eq!(
        fix(a, "rhel:9", "kernel-rt", None).fixed.as_deref(),
        Some("0:5.14.0-284.25.1.rt14.310.el9_2")
    );
    // The fixture (from csaf-walker's tests) lists a product whose relationship
    // points at an undefined "notmatch-" product: skipped, said where.
    let warning = parsed
        .warnings
        .iter()
        .find(|w| {
            w.message
                .contains("NFV-9.2.0.Z.MAIN.EUS:kernel-rt-0:5.14.0-284.25.1.rt14.310.el9_2.src")
        })
        .expect("warning about the dangling product");
    assert_eq!(warning.path, "/vulnerabilities/0/product_status/fixed/0");
}

// --- SUSE ------------------------------------------------------------------

#[test]
fn suse_lists_fixed_packages_as_recommended() {
    let a = advisory("suse-su-2015_0011-2.json");
    assert_eq!(a.patch.0, "SUSE-SU-2015:0011-2");
    assert_eq!(a.vendor, "SUSE Product Security Team");
    assert_eq!(a.product, "bind");
    assert_eq!(a.severity, Severity::Moderate);
    assert_eq!(released(&a), "2014-01-27T18:38:10Z");
    assert_eq!(
        cves(&a),
        [
            "CVE-2012-1667",
            "CVE-2012-3817",
            "CVE-2012-4244",
            "CVE-2012-5166",
            "CVE-2013-4854",
            "CVE-2014-0591",
            "CVE-2014-8500"
        ]
    );
    assert!(
        a.vulnerabilities.iter().all(|v| v.cvss.is_empty()),
        "no scores in the CSAF version"
    );
    // SLES 11 SP2, its LTSS and SLES for SAP 11 SP2 are one codestream.
    assert!(a.fixes.iter().all(|f| f.platform.0 == "sles:11.2"));
    assert_eq!(
        fix(&a, "sles:11.2", "bind", Some("x86_64"))
            .fixed
            .as_deref(),
        Some("9.9.4P2-0.6.1")
    );
    assert_eq!(
        fix(&a, "sles:11.2", "bind-devel", Some("s390x"))
            .fixed
            .as_deref(),
        Some("9.9.6P1-0.5.5")
    );
    assert_eq!(
        fix(&a, "sles:11.2", "bind-libs-32bit", Some("ppc64")).kind,
        PackageKind::Binary
    );
    assert_eq!(a.fixes.len(), 32);
    assert!(a.references.is_empty(), "the vendor_fix has no URL");
}

#[test]
fn opensuse_product_ids_with_spaces_and_colons_split_into_platform_and_package() {
    let a = advisory("opensuse-su-2016_1623-1.json");
    assert_eq!(a.patch.0, "openSUSE-SU-2016:1623-1");
    // `SUSE Package Hub 12:chromium-51.0.2704.103-85.3.x86_64`
    let chromium = fix(&a, "sles:12", "chromium", Some("x86_64"));
    assert_eq!(chromium.fixed.as_deref(), Some("51.0.2704.103-85.3"));
    fix(&a, "sles:12", "perl-Switch", Some("noarch"));
    assert_eq!(a.fixes.len(), 58);
    assert_eq!(
        cvss(&a, "CVE-2016-1704"),
        [(
            "3.0".into(),
            8.8,
            Some("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H".into())
        )]
    );
    assert_eq!(a.severity, Severity::Important);
}

#[test]
fn suse_per_cve_vex_with_1185_relationships_parses_fast() {
    let a = timed("cve-2023-5568 (1185 relationships)", || {
        advisory("cve-2023-5568.json")
    });
    assert_eq!(a.patch.0, "CVE-2023-5568");
    assert_eq!(cves(&a), ["CVE-2023-5568"]);
    assert_eq!(
        cvss(&a, "CVE-2023-5568"),
        [(
            "3.1".into(),
            6.5,
            Some("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H".into())
        )]
    );
    assert_eq!(a.severity, Severity::Moderate);
    // 32 recommended packages become fixes; 1153 known_not_affected do not.
    assert_eq!(a.fixes.len(), 32);
    let tumbleweed = fix(&a, "opensuse-tumbleweed", "samba", None);
    assert_eq!(
        tumbleweed.fixed.as_deref(),
        Some("4.19.2+git.322.7e9201cef5-1.1")
    );
    let micro = fix(&a, "sle-micro:6.0", "samba-client-libs", None);
    assert_eq!(
        micro.fixed.as_deref(),
        Some("4.19.4+git.339.acf1ccaa02-1.22")
    );
    assert_eq!(micro.platform.scheme(), Scheme::Rpm);
    assert_eq!(tumbleweed.platform.scheme(), Scheme::Rpm);
}

#[test]
fn document_with_no_product_tree_and_no_vulnerabilities_imports_empty() {
    let a = advisory("cve-1999-0003.json");
    assert_eq!(a.patch.0, "CVE-1999-0003");
    assert_eq!(a.classification, Classification::Other);
    assert!(a.vulnerabilities.is_empty() && a.fixes.is_empty());
    assert_eq!(
        a.severity,
        Severity::Critical,
        "aggregate_severity critical"
    );
    assert_eq!(released(&a), "2023-02-15T06:22:07Z");
}

// --- Microsoft -------------------------------------------------------------

#[test]
fn msrc_edge_fix_is_the_fixed_product_version() {
    let a = advisory("msrc_cve-2025-29806.json");
    assert_eq!(a.patch.0, "msrc_CVE-2025-29806");
    assert_eq!(a.vendor, "Microsoft Security Response Center");
    assert_eq!(
        a.severity,
        Severity::Important,
        "aggregate_severity Important"
    );
    let edge = fix(&a, "windows", "Microsoft Edge (Chromium-based)", None);
    assert_eq!(edge.fixed.as_deref(), Some("129.0.2792.52"));
    assert_eq!(edge.kind, PackageKind::Product);
    assert_eq!(
        a.fixes.len(),
        1,
        "<129.0.2792.52 and the fixed 129.0.2792.52 are one fix"
    );
    assert_eq!(
        cvss(&a, "CVE-2025-29806"),
        [(
            "3.1".into(),
            6.5,
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N/E:P/RL:O/RC:C".into())
        )]
    );
    assert!(
        !a.vulnerabilities[0].known_exploited,
        "exploit_status says Exploited:No"
    );
    assert_eq!(
        a.references[0],
        "https://docs.microsoft.com/en-us/DeployEdge/microsoft-edge-relnotes-security"
    );
}

#[test]
fn msrc_azure_linux_vex_fixes_openssh_per_distribution() {
    let a = advisory("msrc_cve-2025-26465.json");
    // `azl3 openssh 9.8p1-3` as a component of `Azure Linux 3.0`
    let azl = fix(&a, "azurelinux:3.0", "openssh", None);
    assert_eq!(
        azl.fixed.as_deref(),
        Some("9.8p1-3"),
        "the first of the fixed 9.8p1-3 and 9.8p1-4"
    );
    assert_eq!(azl.kind, PackageKind::Binary);
    assert_eq!(
        fix(&a, "mariner:2.0", "openssh", None).fixed.as_deref(),
        Some("8.9p1-7")
    );
    assert_eq!(Platform("azurelinux:3.0".into()).scheme(), Scheme::Rpm);
    assert_eq!(
        a.severity,
        Severity::Moderate,
        "no aggregate severity: CVSS 6.8"
    );
}

// --- CISA, Siemens, Mitsubishi, Mobotix, Cisco, BSI, examples ---------------

#[test]
fn mobotix_firmware_installed_on_1283_cameras_parses_fast() {
    let a = timed("icsa-24-235-03 (1283 installed_on relationships)", || {
        advisory("icsa-24-235-03.json")
    });
    assert_eq!(a.patch.0, "ICSA-24-235-03");
    assert_eq!(a.vendor, "CISA");
    assert_eq!(a.severity, Severity::Important, "aggregate_severity High");
    assert_eq!(cves(&a), ["CVE-2023-34873"]);
    // 439 fixed and 33 recommended firmware-on-camera products: the first
    // fixed firmware of each line, as the vendor_fix texts say.
    assert_eq!(a.fixes.len(), 2);
    assert_eq!(
        fix(&a, "mobotix", "P3 Firmware", None).fixed.as_deref(),
        Some("MX-V4.7.2.18")
    );
    assert_eq!(
        fix(&a, "mobotix", "Mx6 Firmware", None).fixed.as_deref(),
        Some("MX-V5.2.0.61")
    );
    assert_eq!(
        a.restart_required,
        Some(true),
        "restart_required category machine"
    );
    assert_eq!(
        a.references[0],
        "https://www.mobotix.com/en/software-downloads"
    );
}

#[test]
fn siemens_affected_range_below_a_version_with_a_vendor_fix_is_a_fix() {
    let a = advisory("icsa-24-046-15.json");
    assert_eq!(a.patch.0, "ICSA-24-046-15");
    assert_eq!(a.vulnerabilities.len(), 62);
    // `<V2.0_SP1`, known_affected, "Update to V2.0 SP1 or later version"
    let nms = fix(&a, "siemens", "SINEC NMS", None);
    assert_eq!(nms.fixed.as_deref(), Some("V2.0_SP1"));
    assert_eq!(a.fixes.len(), 1);
    assert_eq!(
        a.references.iter().map(String::as_str).collect::<Vec<_>>(),
        ["https://support.industry.siemens.com/cs/ww/en/view/109826954/"]
    );
    assert_eq!(
        cvss(&a, "CVE-2022-4203"),
        [(
            "3.1".into(),
            4.9,
            Some("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:N/I:N/A:H/E:P/RL:O/RC:C".into())
        )]
    );
    assert_eq!(released(&a), "2024-02-13T00:00:00Z");
}

#[test]
fn free_text_version_ranges_invent_no_fixes() {
    // `>=1.275M|<1.290C`, `<=1.04E`, `vers:all/*`, `<=1.006_`; mitigations and
    // one vendor_fix without URL.
    let a = advisory("icsa-24-004-02.json");
    assert_eq!(a.patch.0, "ICSA-24-004-02");
    assert_eq!(
        cves(&a),
        ["CVE-2022-4304", "CVE-2022-4450", "CVE-2023-0286"]
    );
    assert!(a.fixes.is_empty());
    assert!(a.references.is_empty());
    assert_eq!(
        released(&a),
        "2024-01-04T07:00:00Z",
        "from 2024-01-04T07:00:00.000000Z"
    );
    assert_eq!(
        a.severity,
        Severity::Important,
        "no aggregate severity: CVSS 7.5"
    );
}

#[test]
fn cisco_category_is_read_loosely_and_a_workaround_is_no_fix() {
    let a = advisory("cisco-sa-20180328-smi2.json");
    assert_eq!(a.patch.0, "cisco-sa-20180328-smi2");
    assert_eq!(a.vendor, "Cisco PSIRT");
    assert_eq!(a.classification, Classification::Security);
    assert_eq!(
        cvss(&a, "CVE-2018-0171"),
        [(
            "3.0".into(),
            9.8,
            Some("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into())
        )]
    );
    assert_eq!(a.severity, Severity::Critical);
    assert!(
        a.fixes.is_empty() && a.references.is_empty(),
        "only a workaround, for 259 known_affected products"
    );
    assert_eq!(released(&a), "2018-03-28T16:00:00Z");
}

#[test]
fn adminer_external_component_takes_the_version_that_fixes_every_cve() {
    let a = advisory("va-24-201-01.json");
    assert_eq!(a.patch.0, "VA-24-201-01");
    assert_eq!(
        a.classification,
        Classification::Security,
        "a security advisory published as csaf_vex"
    );
    // AdminerEvo 4.8.3 fixes CVE-2023-45197, 4.8.4 the other two.
    assert_eq!(
        fix(&a, "adminerevo", "AdminerEvo", None).fixed.as_deref(),
        Some("4.8.4")
    );
    assert_eq!(a.fixes.len(), 1, "Adminer itself has none_available");
    assert_eq!(
        a.references.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "https://github.com/adminerevo/adminerevo/releases/tag/v4.8.4",
            "https://github.com/adminerevo/adminerevo/releases/tag/v4.8.3"
        ]
    );
    assert_eq!(cvss(&a, "CVE-2023-45197")[0].1, 9.0);
    assert_eq!(a.severity, Severity::Critical);
}

#[test]
fn bsi_first_fixed_and_fixed_name_one_fix_with_its_download() {
    let a = advisory("bsi-2022-0001.json");
    assert_eq!(a.patch.0, "BSI-2022-0001");
    assert_eq!(
        a.vendor,
        "Bundesamt für Sicherheit in der Informationstechnik"
    );
    let converter = fix(&a, "csaf-tools", "CVRF-CSAF-Converter", None);
    assert_eq!(converter.fixed.as_deref(), Some("1.0.0-rc2"));
    assert_eq!(a.fixes.len(), 1);
    assert_eq!(
        a.references[0],
        "https://github.com/csaf-tools/CVRF-CSAF-Converter/releases/tag/1.0.0-rc2"
    );
    assert_eq!(a.severity, Severity::Moderate);
    assert_eq!(released(&a), "2022-03-17T13:03:42.105Z");
}

#[test]
fn vex_saying_not_affected_fixes_nothing() {
    let a = advisory("sec-vex-2022-0001.json");
    assert_eq!(a.patch.0, "SEC-VEX-2022-0001");
    assert_eq!(
        cves(&a),
        ["CVE-2021-44228", "CVE-2021-45046", "CVE-2021-45105"]
    );
    assert!(a.fixes.is_empty());
    assert_eq!(a.severity, Severity::Unrated);
}

#[test]
fn vex_with_every_status_takes_only_fixed_products_as_fixes() {
    let a = advisory("2022-evd-uc-03-ms-001.json");
    assert_eq!(a.vulnerabilities.len(), 19);
    assert_eq!(
        a.fixes.len(),
        1,
        "under_investigation, known_affected, known_not_affected are no fixes"
    );
    assert_eq!(
        fix(&a, "example-company", "GHI", None).fixed.as_deref(),
        Some("17.4")
    );
}

#[test]
fn vendor_fix_without_url_and_several_scores_per_cve() {
    let a = advisory("2022-evd-uc-08-001.json");
    // CVE-2021-44228 is fixed from JKL 5.1, CVE-2021-45105 only in 5.2.
    assert_eq!(
        fix(&a, "example-company", "JKL", None).fixed.as_deref(),
        Some("5.2")
    );
    assert!(a.references.is_empty());
    assert_eq!(
        cvss(&a, "CVE-2021-44228")[0].1,
        10.0,
        "the higher of its two cvss_v3 scores"
    );
    assert_eq!(a.severity, Severity::Critical);
}

// --- Rejected documents and hostile input ----------------------------------

fn error(bytes: &[u8]) -> CsafError {
    csaf::parse(bytes, "test").expect_err("rejected")
}

fn with_document(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(&corpus("csaf/rhsa-2024_4546.json")).expect("JSON");
    edit(&mut doc);
    serde_json::to_vec(&doc).expect("serialises")
}

#[test]
fn truncated_json_is_rejected_with_its_position() {
    let bytes = corpus("csaf/rhsa-2024_4546.json");
    let e = error(&bytes[..2000]);
    assert!(matches!(e, CsafError::NotJson { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("truncated") && text.contains("line"),
        "{text}"
    );
}

#[test]
fn json_that_is_not_csaf_is_rejected_for_its_missing_document() {
    let e = error(&corpus("osv/RHSA-2024_4546.json"));
    assert_eq!(
        e,
        CsafError::NotCsaf {
            path: "/document".into(),
            problem: "missing".into()
        }
    );
    let e = error(b"[1, 2, 3]");
    assert_eq!(
        e.to_string(),
        "not a CSAF 2.0 document: : expected a JSON object, found an array"
    );
}

#[test]
fn a_document_without_tracking_id_is_rejected() {
    let bytes = with_document(|d| {
        d["document"]["tracking"]
            .as_object_mut()
            .expect("tracking")
            .remove("id");
    });
    assert_eq!(
        error(&bytes),
        CsafError::NotCsaf {
            path: "/document/tracking/id".into(),
            problem: "missing".into()
        }
    );
    let bytes = with_document(|d| d["document"]["tracking"]["id"] = serde_json::json!(42));
    assert_eq!(
        error(&bytes).to_string(),
        "not a CSAF 2.0 document: /document/tracking/id: expected a string, found a number"
    );
}

#[test]
fn another_csaf_version_is_rejected() {
    let bytes = with_document(|d| d["document"]["csaf_version"] = serde_json::json!("1.2"));
    assert_eq!(
        error(&bytes).to_string(),
        "not a CSAF 2.0 document: /document/csaf_version: expected \"2.0\", found \"1.2\""
    );
}

#[test]
fn a_malformed_part_is_skipped_with_its_json_pointer() {
    let bytes = with_document(|d| {
        d["vulnerabilities"][0]["remediations"][0]["product_ids"] = serde_json::json!("oops");
        d["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = serde_json::json!(42);
    });
    let parsed = csaf::parse_with_warnings(&bytes, "test").expect("still imports");
    let paths: Vec<&str> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
    assert!(
        paths.contains(&"/vulnerabilities/0/remediations/0/product_ids"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/vulnerabilities/0/scores/0/cvss_v3"),
        "{paths:?}"
    );
    assert_eq!(
        parsed.advisories[0].fixes.len(),
        7,
        "fixes come from product_status, not remediations"
    );
}

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(error(deep.as_bytes()), CsafError::NotJson { .. }));
    let mut branches = serde_json::json!({"category": "vendor", "name": "x"});
    for _ in 0..100 {
        branches =
            serde_json::json!({"category": "product_family", "name": "x", "branches": [branches]});
    }
    let bytes = with_document(|d| d["product_tree"]["branches"] = serde_json::json!([branches]));
    // JSON nests at most 128 deep: a product tree 100 branches deep is refused
    // by the JSON reader itself, precisely, and nothing overflows.
    assert!(matches!(error(&bytes), CsafError::NotJson { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = csaf::parse(&bytes, "fuzz");
    }

    #[test]
    fn damaged_real_documents_never_panic(cut in 0usize..6462, byte in any::<u8>(), at in 0usize..6462) {
        let mut bytes = corpus("csaf/sec-vex-2022-0001.json");
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        bytes.truncate(cut.max(1));
        let _ = csaf::parse(&bytes, "fuzz");
    }
}
