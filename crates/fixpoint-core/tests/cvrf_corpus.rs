//! CVRF documents from the shared advisory corpus (`tests/fixtures/corpus/cvrf`:
//! two Microsoft MSRC CVRF 1.1, one SUSE CVRF 1.2) read into advisories, the
//! SUSE one checked against its CSAF twin, and hostile XML refused precisely.

use std::collections::BTreeSet;

use fixpoint_core::catalog::cvrf::{self, CvrfError};
use fixpoint_core::catalog::{Advisory, Fix, PackageKind, PatchId, csaf};
use fixpoint_core::rating::{Classification, Severity};
use proptest::prelude::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/corpus");

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{path}")).expect("corpus file")
}

fn advisories(file: &str) -> Vec<Advisory> {
    cvrf::parse(&corpus(&format!("cvrf/{file}")), "corpus")
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn patch<'a>(all: &'a [Advisory], id: &str) -> &'a Advisory {
    all.iter()
        .find(|a| a.patch.0 == id)
        .unwrap_or_else(|| panic!("no advisory for {id}"))
}

fn fix<'a>(a: &'a Advisory, platform: &str, package: &str) -> &'a Fix {
    a.fixes
        .iter()
        .find(|f| f.platform.0 == platform && f.package == package)
        .unwrap_or_else(|| panic!("{}: no fix of {package} on {platform}", a.patch))
}

fn released(a: &Advisory) -> String {
    a.released.map(|t| t.to_string()).unwrap_or_default()
}

#[test]
fn every_document_in_the_corpus_imports() {
    let mut files: Vec<String> = std::fs::read_dir(format!("{CORPUS}/cvrf"))
        .expect("corpus directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "the corpus README lists 3 CVRF documents");
    for file in &files {
        let all = advisories(file);
        assert!(!all.is_empty(), "{file}");
        assert!(
            all.iter()
                .all(|a| a.released.is_some() && !a.vulnerabilities.is_empty()),
            "{file}"
        );
    }
}

// --- Microsoft -------------------------------------------------------------

#[test]
fn msrc_2016_gives_one_advisory_per_kb_with_supercedence_and_restart() {
    let all = advisories("msrc-cvrf-2016-Apr.xml");
    let ids: Vec<&str> = all.iter().map(|a| a.patch.0.as_str()).collect();
    assert_eq!(ids, ["KB3147461", "KB3135456"]);

    let windows10 = patch(&all, "KB3147461");
    assert_eq!(windows10.vendor, "Microsoft");
    assert_eq!(windows10.classification, Classification::Security);
    assert_eq!(
        windows10.severity,
        Severity::Important,
        "Threat Type=Severity"
    );
    assert_eq!(windows10.reference.id, "2016-Apr");
    assert_eq!(released(windows10), "2016-04-12T07:00:00Z");
    assert_eq!(
        windows10
            .vulnerabilities
            .iter()
            .map(|v| v.id.as_str())
            .collect::<Vec<_>>(),
        ["CVE-2016-0088"]
    );
    assert_eq!(
        windows10.supersedes,
        [PatchId("KB3140745".into())],
        "<vuln:Supercedence>"
    );
    assert_eq!(windows10.restart_required, Some(true));
    assert_eq!(windows10.product, "Windows 10 for x64-based Systems");
    let only = fix(windows10, "windows", "Windows 10 for x64-based Systems");
    assert_eq!(
        (only.kind, only.fixed.as_deref()),
        (PackageKind::Product, None),
        "no FixedBuild in 2016"
    );
    assert_eq!(
        windows10
            .references
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB3147461"]
    );

    let server = patch(&all, "KB3135456");
    assert_eq!(server.supersedes, [PatchId("KB3087088".into())]);
    let products: BTreeSet<&str> = server.fixes.iter().map(|f| f.package.as_str()).collect();
    assert_eq!(
        products,
        BTreeSet::from([
            "Windows 8.1 for x64-based systems",
            "Windows Server 2012",
            "Windows Server 2012 (Server Core installation)",
            "Windows Server 2012 R2",
            "Windows Server 2012 R2 (Server Core installation)",
        ])
    );
    assert_eq!(
        server.references.len(),
        2,
        "five remediations, two distinct download URLs"
    );
}

#[test]
fn msrc_2024_reads_fixed_builds_cvss_score_sets_and_an_offsetless_date() {
    let all = advisories("msrc-cvrf-2024-Mar.xml");
    let dotnet7 = patch(&all, "KB5036451");
    assert_eq!(
        fix(dotnet7, "windows", ".NET 7.0").fixed.as_deref(),
        Some("7.0.17")
    );
    assert_eq!(dotnet7.product, ".NET 7.0");
    assert_eq!(
        dotnet7.references[0],
        "https://dotnet.microsoft.com/en-us/download/dotnet/7.0"
    );
    assert!(dotnet7.supersedes.is_empty(), "no Supercedence element");
    assert_eq!(
        dotnet7.restart_required, None,
        "RestartRequired Maybe says nothing"
    );
    assert_eq!(
        released(dotnet7),
        "2024-03-12T07:00:00Z",
        "from 2024-03-12T07:00:00 (no offset)"
    );
    let cve = &dotnet7.vulnerabilities[0];
    assert_eq!(cve.id, "CVE-2024-21392");
    assert_eq!(cve.cvss.len(), 1);
    assert_eq!(cve.cvss[0].version, "3.1");
    assert_eq!(cve.cvss[0].score, 7.5);
    assert_eq!(
        cve.cvss[0].vector.as_deref(),
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H/E:P/RL:O/RC:C")
    );
    assert_eq!(
        fix(patch(&all, "KB5036452"), "windows", ".NET 8.0")
            .fixed
            .as_deref(),
        Some("8.0.3")
    );

    // Visual Studio's fixes carry no KB: each is named by product and build.
    let studio = patch(&all, "Microsoft Visual Studio 2022 version 17.9/17.9.3");
    assert_eq!(
        fix(
            studio,
            "windows",
            "Microsoft Visual Studio 2022 version 17.9"
        )
        .fixed
        .as_deref(),
        Some("17.9.3")
    );
    assert_eq!(all.len(), 6, "two KBs and four Visual Studio builds");
    assert!(all.iter().all(|a| a.severity == Severity::Important));
}

// --- SUSE ------------------------------------------------------------------

#[test]
fn suse_cvrf_splits_fixed_product_ids_into_platform_and_package() {
    let all = advisories("cvrf-suse-su-2015_0011-2.xml");
    assert_eq!(all.len(), 1);
    let a = &all[0];
    assert_eq!(a.patch.0, "SUSE-SU-2015:0011-2");
    assert_eq!(a.vendor, "SUSE Security Team");
    assert_eq!(a.product, "bind");
    assert_eq!(a.title.as_deref(), Some("Security update for bind"));
    assert_eq!(released(a), "2014-01-27T18:38:10Z");
    assert_eq!(
        a.severity,
        Severity::Important,
        "the most severe Impact threat"
    );
    // `SUSE Linux Enterprise Server 11 SP2-LTSS:bind-devel-9.9.6P1-0.5.5`
    let devel = fix(a, "sles:11.2", "bind-devel");
    assert_eq!(
        (devel.fixed.as_deref(), devel.arch.as_deref()),
        (Some("9.9.6P1-0.5.5"), None)
    );
    assert_eq!(
        fix(a, "sles:11.2", "bind").fixed.as_deref(),
        Some("9.9.4P2-0.6.1")
    );
    assert_eq!(a.fixes.len(), 8);
    let first = &a.vulnerabilities[0];
    assert_eq!(first.id, "CVE-2012-1667");
    assert_eq!(first.cvss.len(), 1);
    assert_eq!(
        (first.cvss[0].version.as_str(), first.cvss[0].score),
        ("2.0", 8.5)
    );
    assert_eq!(
        first.cvss[0].vector.as_deref(),
        Some("AV:N/AC:L/Au:N/C:P/I:N/A:C")
    );
    assert_eq!(
        a.references.iter().map(String::as_str).collect::<Vec<_>>(),
        ["https://www.suse.com/support/update/announcement/2015/suse-su-20150011-2/"]
    );
}

#[test]
fn suse_cvrf_and_csaf_of_one_advisory_agree_on_patch_cves_and_fixed_packages() {
    let from_cvrf = advisories("cvrf-suse-su-2015_0011-2.xml").remove(0);
    let from_csaf = csaf::parse(&corpus("csaf/suse-su-2015_0011-2.json"), "corpus")
        .expect("CSAF")
        .remove(0);
    assert_eq!(from_cvrf.patch, from_csaf.patch);
    let cves = |a: &Advisory| {
        a.vulnerabilities
            .iter()
            .map(|v| v.id.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(cves(&from_cvrf), cves(&from_csaf));
    assert_eq!(cves(&from_cvrf).len(), 7);
    // CSAF names architectures (bind-9.9.4P2-0.6.1.x86_64), CVRF does not.
    let fixed = |a: &Advisory| {
        a.fixes
            .iter()
            .map(|f| (f.platform.0.clone(), f.package.clone(), f.fixed.clone()))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(fixed(&from_cvrf), fixed(&from_csaf));
    assert_eq!(fixed(&from_cvrf).len(), 8);
    assert_eq!(from_cvrf.product, from_csaf.product);
    assert_eq!(from_cvrf.released, from_csaf.released);
}

// --- Refused documents and hostile input -----------------------------------

fn error(xml: &str) -> CvrfError {
    cvrf::parse(xml.as_bytes(), "test").expect_err("refused")
}

#[test]
fn a_doctype_entity_bomb_is_refused_before_anything_expands() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE cvrfdoc [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<cvrfdoc><DocumentTitle>&lol9;</DocumentTitle></cvrfdoc>"#;
    assert_eq!(
        error(bomb),
        CvrfError::EntityDeclaration { line: 2, column: 1 }
    );
}

#[test]
fn an_external_entity_reference_is_refused_as_undefined() {
    let xml = "<cvrfdoc><DocumentTitle>&xxe;</DocumentTitle></cvrfdoc>";
    let e = error(xml);
    assert!(e.to_string().contains("undefined entity &xxe;"), "{e}");
}

#[test]
fn truncated_xml_is_refused_with_the_open_element() {
    let bytes = corpus("cvrf/cvrf-suse-su-2015_0011-2.xml");
    let text = std::str::from_utf8(&bytes[..20_000]).expect("ASCII prefix");
    let e = error(text);
    assert!(matches!(e, CvrfError::NotXml { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn xml_that_is_not_cvrf_is_refused() {
    assert_eq!(
        error("<html><body/></html>"),
        CvrfError::NotCvrf {
            path: "/".into(),
            problem: "the root element is <html>, expected <cvrfdoc>".into()
        }
    );
    assert_eq!(
        error("<cvrfdoc><DocumentTitle>x</DocumentTitle></cvrfdoc>"),
        CvrfError::NotCvrf {
            path: "/cvrfdoc/DocumentTracking/Identification/ID".into(),
            problem: "missing or empty".into()
        }
    );
    let e = error("<cvrfdoc><a></b></cvrfdoc>");
    assert!(matches!(e, CvrfError::NotXml { line: 1, .. }), "{e}");
}

#[test]
fn deep_nesting_and_bad_encoding_are_refused() {
    let deep = format!("{}{}", "<a>".repeat(1000), "</a>".repeat(1000));
    assert!(matches!(
        error(&deep),
        CvrfError::TooDeep { limit: 128, .. }
    ));
    let e = cvrf::parse(b"<cvrfdoc>\xff\xfe</cvrfdoc>", "test").expect_err("not UTF-8");
    assert_eq!(e, CvrfError::NotUtf8 { offset: 9 });
}

#[test]
fn a_vendor_fix_without_kb_or_build_is_skipped_with_its_path() {
    let xml = r#"<cvrfdoc xmlns:vuln="v" xmlns:prod="p">
  <DocumentPublisher><ContactDetails>secure@microsoft.com</ContactDetails></DocumentPublisher>
  <DocumentTracking><Identification><ID>2099-Jan</ID></Identification><InitialReleaseDate>2099-01-13</InitialReleaseDate></DocumentTracking>
  <prod:ProductTree><prod:FullProductName ProductID="1">Windows 11</prod:FullProductName></prod:ProductTree>
  <vuln:Vulnerability><vuln:CVE>CVE-2099-0001</vuln:CVE><vuln:Remediations>
    <vuln:Remediation Type="Vendor Fix"><vuln:Description>See the FAQ</vuln:Description><vuln:ProductID>1</vuln:ProductID></vuln:Remediation>
    <vuln:Remediation Type="Vendor Fix"><vuln:Description>KB5099999</vuln:Description><vuln:ProductID>1</vuln:ProductID><vuln:ProductID>2</vuln:ProductID><vuln:Supercedence>KB5099998; 5099997</vuln:Supercedence></vuln:Remediation>
  </vuln:Remediations></vuln:Vulnerability>
</cvrfdoc>"#;
    let parsed = cvrf::parse_with_warnings(xml.as_bytes(), "test").expect("imports");
    assert_eq!(parsed.advisories.len(), 1);
    let kb = &parsed.advisories[0];
    assert_eq!(kb.patch.0, "KB5099999");
    assert_eq!(
        kb.supersedes,
        [PatchId("KB5099997".into()), PatchId("KB5099998".into())]
    );
    assert_eq!(released(kb), "2099-01-13T00:00:00Z");
    let warned: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warned.contains(&"/cvrfdoc/Vulnerability[1]/Remediations/Remediation[1]: vendor fix names neither a KB nor a fixed build; skipped".to_owned()),
        "{warned:?}"
    );
    assert!(
        warned
            .iter()
            .any(|w| w.contains("product id \"2\" is not defined")),
        "{warned:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = cvrf::parse(&bytes, "fuzz");
    }

    #[test]
    fn damaged_real_documents_never_panic(cut in 0usize..24929, byte in any::<u8>(), at in 0usize..24929) {
        let mut bytes = corpus("cvrf/msrc-cvrf-2024-Mar.xml");
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        bytes.truncate(cut.max(1));
        let _ = cvrf::parse(&bytes, "fuzz");
    }
}
