//! Applicability against apt, the real oracle.
//!
//! - `the_plan_agrees_with_apt_on_this_machine` builds the catalog from this
//!   machine's own `-security` lists (`/var/lib/apt/lists`, verified with the
//!   Debian archive keyring), takes its own `/var/lib/dpkg/status` as the
//!   inventory, and compares what the plan says is missing with what
//!   `apt list --upgradable` says the security suite would upgrade.
//! - The other tests pin the committed pair of fixtures (the security suite in
//!   `tests/fixtures/apt/bookworm-security` and the dpkg status of the machine
//!   it was copied from, `tests/fixtures/dpkg/status-bookworm`), so they do not
//!   depend on the machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use fixpoint_core::catalog::Catalog;
use fixpoint_core::catalog::PackageKind;
use fixpoint_core::catalog::Platform;
use fixpoint_core::catalog::apt::{
    FreshnessPolicy, Repository, advisories, parse_packages, verify_and_decompress,
    verify_inrelease,
};
use fixpoint_core::fleet::{Inventory, parse_dpkg_status, parse_os_release};
use fixpoint_core::plan::{ApplicabilityIndex, Applicable, PatchState};
use fixpoint_core::version::{self, Scheme};
use jiff::Timestamp;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{FIXTURES}{path}");
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

const REPOSITORY: Repository<'static> = Repository {
    name: "debian-security",
    base_uri: "http://mirror.invalid/debian-security/",
};

/// A catalog of one suite's index, verified the way apt verified its stored copy.
fn security_catalog(
    inrelease: &[u8],
    keyring: &[u8],
    now: Timestamp,
    index_path: &str,
    index: &[u8],
) -> Catalog {
    let release = verify_inrelease(
        inrelease,
        keyring,
        now,
        FreshnessPolicy::IgnoreValidUntil,
        None,
    )
    .expect("the InRelease verifies against the Debian archive keyring");
    let text = verify_and_decompress(&release, index_path, index)
        .expect("the stored index matches the Release");
    let packages = parse_packages(&text).expect("the index parses");
    Catalog::from_advisories(advisories(&release, &REPOSITORY, &packages))
}

/// Per installed binary (name, architecture), the newest binary version any
/// missing patch would install: what apt would call the candidate from this suite.
fn newest_missing_binaries(results: &[Applicable]) -> BTreeMap<(String, String), String> {
    let mut newest: BTreeMap<(String, String), String> = BTreeMap::new();
    for result in results {
        let PatchState::Missing { packages } = &result.state else {
            continue;
        };
        for m in packages {
            assert_eq!(
                m.compared,
                PackageKind::Binary,
                "APT patches are decided by binary versions ({m:?})"
            );
            let fixed = m.fixed.clone().expect("APT fixes carry versions");
            newest
                .entry((m.package.clone(), m.architecture.clone()))
                .and_modify(|v| {
                    if dpkg_less(v, &fixed) {
                        fixed.clone_into(v);
                    }
                })
                .or_insert(fixed);
        }
    }
    newest
}

fn dpkg_less(a: &str, b: &str) -> bool {
    version::compare_with(Scheme::Dpkg, version::Syntax::Lenient, a, b)
        .expect("dpkg versions")
        .is_lt()
}

// ------------------------------------------------------------ committed fixtures

fn fixture_results() -> &'static [Applicable] {
    static RESULTS: OnceLock<Vec<Applicable>> = OnceLock::new();
    RESULTS.get_or_init(compute_fixture_results)
}

fn compute_fixture_results() -> Vec<Applicable> {
    let catalog = security_catalog(
        &fixture("apt/bookworm-security/InRelease"),
        &fixture("apt/debian-archive-keyring.gpg"),
        "2026-11-25T12:00:00Z".parse().expect("instant"),
        "main/binary-amd64/Packages.lz4",
        &fixture("apt/bookworm-security/main/binary-amd64/Packages.lz4"),
    );
    let installed =
        parse_dpkg_status(&fixture("dpkg/status-bookworm")).expect("the fixture parses");
    let inventory =
        Inventory::new(Platform::new("debian", Some("12")), installed).expect("a valid inventory");
    ApplicabilityIndex::new(&catalog).applicable_patches(&inventory)
}

fn missing_packages(results: &[Applicable], patch: &str) -> Vec<(String, String, String)> {
    let found = results
        .iter()
        .find(|a| a.patch.as_str() == patch)
        .unwrap_or_else(|| panic!("{patch} does not apply"));
    match &found.state {
        PatchState::Installed => Vec::new(),
        PatchState::Missing { packages } => packages
            .iter()
            .map(|m| {
                (
                    m.package.clone(),
                    m.installed.clone(),
                    m.fixed.clone().unwrap_or_default(),
                )
            })
            .collect(),
    }
}

fn owned(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

#[test]
fn the_fixture_machine_misses_33_of_the_74_security_patches_that_apply_to_it() {
    let results = fixture_results();
    let missing: Vec<&str> = results
        .iter()
        .filter(|a| a.is_missing())
        .map(|a| a.patch.as_str())
        .collect();
    assert_eq!(results.len(), 74);
    assert_eq!(
        missing,
        [
            "aom/3.6.0-1+deb12u3",
            "apt/2.6.2",
            "brotli/1.0.9-2+deb12u1",
            "ca-certificates/20250419~deb12u2",
            "cups/2.4.2-3+deb12u9",
            "cyrus-sasl2/2.1.28+dfsg-10+deb12u1",
            "expat/2.5.0-1+deb12u5",
            "gdk-pixbuf/2.42.10+dfsg-1+deb12u4",
            "gnutls28/3.7.9-2+deb12u7",
            "jq/1.6-2.1+deb12u3",
            "krb5/1.20.1-2+deb12u5",
            "lcms2/2.14-2+deb12u1",
            "libde265/1.0.11-1+deb12u3",
            "libevent/2.1.12-stable-8+deb12u1",
            "libgcrypt20/1.10.1-3+deb12u1",
            "libgd2/2.3.3-9+deb12u1",
            "libpng1.6/1.6.39-2+deb12u6",
            "libssh2/1.10.0-3+deb12u1",
            "linux/6.1.192-2",
            "nghttp2/1.52.0-1+deb12u3",
            "nss/2:3.87.1-1+deb12u4",
            "openjdk-17/17.0.21.1+2-1~deb12u1",
            "openssh/1:9.2p1-2+deb12u9",
            "openssl/3.0.22-1~deb12u2",
            "pcre2/10.42-1+deb12u2",
            "pyjwt/2.6.0-1+deb12u1",
            "python-httplib2/0.20.4-3+deb12u1",
            "python3.11/3.11.2-6+deb12u9",
            "tiff/4.5.0-6+deb12u4",
            "tzdata/2026f-0+deb12u1",
            "unzip/6.0-28+deb12u1",
            "xz-utils/5.4.1-1+deb12u2",
            "zip/3.0-13+deb12u1",
        ]
    );
}

#[test]
fn a_binnmu_installed_from_the_main_suite_is_missing_the_security_upload() {
    // libbrotli1 1.0.9-2+b6 is a binNMU of brotli 1.0.9-2 (`Source: brotli (1.0.9-2)`);
    // `dpkg --compare-versions 1.0.9-2+b6 lt 1.0.9-2+deb12u1` holds.
    assert_eq!(
        missing_packages(fixture_results(), "brotli/1.0.9-2+deb12u1"),
        owned(&[
            ("libbrotli-dev", "1.0.9-2+b6", "1.0.9-2+deb12u1"),
            ("libbrotli1", "1.0.9-2+b6", "1.0.9-2+deb12u1"),
        ])
    );
    assert_eq!(
        missing_packages(fixture_results(), "libssh2/1.10.0-3+deb12u1"),
        owned(&[("libssh2-1", "1.10.0-3+b1", "1.10.0-3+deb12u1")])
    );
}

#[test]
fn epochs_and_tildes_in_the_fixture_order_as_dpkg_orders_them() {
    let results = fixture_results();
    // `dpkg --compare-versions 1:9.2p1-2+deb12u6 lt 1:9.2p1-2+deb12u9`
    assert_eq!(
        missing_packages(results, "openssh/1:9.2p1-2+deb12u9"),
        owned(&[("openssh-client", "1:9.2p1-2+deb12u6", "1:9.2p1-2+deb12u9")])
    );
    // `dpkg --compare-versions 20230311+deb12u1 lt 20250419~deb12u2`
    assert_eq!(
        missing_packages(results, "ca-certificates/20250419~deb12u2"),
        owned(&[("ca-certificates", "20230311+deb12u1", "20250419~deb12u2")])
    );
}

#[test]
fn a_security_upload_older_than_what_is_installed_is_installed() {
    // libc6 2.36-9+deb12u14 came from a point release; the suite still has 2.36-9+deb12u7.
    let results = fixture_results();
    assert!(missing_packages(results, "glibc/2.36-9+deb12u7").is_empty());
}

#[test]
fn older_kernel_uploads_that_ship_nothing_installed_do_not_apply() {
    // The suite keeps linux 6.1.190-1 and 6.1.192-1 for their ABI-named image
    // packages; the machine has linux-libc-dev and linux-perf from 6.1.187-1,
    // which only 6.1.192-2 ships. Judged by source version, the two older
    // uploads would be missing too, though apt installs nothing from them.
    let results = fixture_results();
    let linux: Vec<&str> = results
        .iter()
        .map(|a| a.patch.as_str())
        .filter(|id| id.starts_with("linux/"))
        .collect();
    assert_eq!(linux, ["linux/6.1.192-2"]);
    assert_eq!(
        missing_packages(results, "linux/6.1.192-2"),
        owned(&[
            ("linux-libc-dev", "6.1.187-1", "6.1.192-2"),
            ("linux-perf", "6.1.187-1", "6.1.192-2"),
        ])
    );
}

// ------------------------------------------------------------ this machine

/// Whether a missing oracle is a failure (CI) or a skip (a developer's machine).
fn unavailable(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{why}: the cross-check needs a Debian machine with apt and fresh lists (run apt-get update)"
        );
    }
    eprintln!("SKIPPED the_plan_agrees_with_apt_on_this_machine: {why}");
}

/// The single file in `dir` whose name ends with `suffix`.
fn list_file(dir: &Path, suffix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    found.sort();
    (found.len() == 1).then(|| found.remove(0))
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `apt list --upgradable`, as (name, architecture) → (candidate version, whether
/// a `-security` suite offers that candidate). Lines look like
/// `libcups2/oldstable,oldstable-security 2.4.2-3+deb12u9 amd64 [upgradable from: 2.4.2-3+deb12u8]`:
/// the suites listed are every suite that has the candidate version.
fn apt_upgradable(output: &str) -> BTreeMap<(String, String), (String, bool)> {
    output
        .lines()
        .filter(|l| l.contains("[upgradable from:"))
        .filter_map(|line| {
            let mut words = line.split_ascii_whitespace();
            let (name, suites) = words.next()?.split_once('/')?;
            let version = words.next()?;
            let arch = words.next()?;
            let security = suites.split(',').any(|s| s.ends_with("-security"));
            Some((
                (name.to_owned(), arch.to_owned()),
                (version.to_owned(), security),
            ))
        })
        .collect()
}

#[test]
fn the_plan_agrees_with_apt_on_this_machine() {
    let lists = Path::new("/var/lib/apt/lists");
    let Ok(os_release) = std::fs::read_to_string("/etc/os-release") else {
        return unavailable("no /etc/os-release");
    };
    let os = parse_os_release(&os_release).expect("/etc/os-release parses");
    let Some(codename) = os.version_codename.clone().filter(|_| os.id == "debian") else {
        return unavailable("not a Debian release with a codename");
    };
    let Some(arch) = command_output("dpkg", &["--print-architecture"]) else {
        return unavailable("no dpkg");
    };
    let arch = arch.trim();
    let suite = format!("{codename}-security");
    let (Some(inrelease), Some(index)) = (
        list_file(lists, &format!("_dists_{suite}_InRelease")),
        list_file(
            lists,
            &format!("_dists_{suite}_main_binary-{arch}_Packages.lz4"),
        ),
    ) else {
        return unavailable(&format!(
            "no {suite} InRelease and Packages.lz4 in {}",
            lists.display()
        ));
    };
    let Some(upgradable) = command_output("apt", &["list", "--upgradable"]) else {
        return unavailable("`apt list --upgradable` did not run");
    };
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));

    let catalog = security_catalog(
        &read(&inrelease),
        &read(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg")),
        Timestamp::now(),
        &format!("main/binary-{arch}/Packages.lz4"),
        &read(&index),
    );
    let installed = parse_dpkg_status(&read(Path::new("/var/lib/dpkg/status")))
        .expect("this machine's dpkg status parses");
    let inventory = Inventory::new(os.platform(), installed).expect("a valid inventory");
    let results = ApplicabilityIndex::new(&catalog).applicable_patches(&inventory);
    let ours = newest_missing_binaries(&results);
    let apt = apt_upgradable(&upgradable);

    let mut differences = Vec::new();
    let mut newer_elsewhere = Vec::new();
    // Everything apt would take from the security suite, the plan must call missing, at that version.
    for ((name, arch), (candidate, security)) in &apt {
        if !security {
            continue;
        }
        match ours.get(&(name.clone(), arch.clone())) {
            Some(v) if v == candidate => {}
            Some(v) => differences.push(format!(
                "{name}:{arch}: apt's security candidate is {candidate}, the plan's newest fix {v}"
            )),
            None => differences.push(format!(
                "{name}:{arch}: apt would upgrade to {candidate} from the security suite; the plan misses nothing"
            )),
        }
    }
    // Everything the plan calls missing, apt must upgrade: from the security
    // suite at that version (checked above), or, deliberately, to a still newer
    // candidate from another suite (a point release that superseded the
    // security upload). apt lists only the candidate, the highest version.
    for ((name, arch), fixed) in &ours {
        match apt.get(&(name.clone(), arch.clone())) {
            Some((_, true)) => {}
            Some((candidate, false)) if dpkg_less(fixed, candidate) => {
                newer_elsewhere.push(format!("{name}:{arch} {fixed} < {candidate}"));
            }
            Some((candidate, false)) => differences.push(format!(
                "{name}:{arch}: the plan would install {fixed} from the security suite; apt's candidate {candidate} is from another suite"
            )),
            None => differences.push(format!(
                "{name}:{arch}: the plan would install {fixed}; apt lists no upgrade"
            )),
        }
    }
    let from_security = apt.values().filter(|(_, s)| *s).count();
    eprintln!(
        "cross-check: {} installed, {} applicable patches ({} missing), {from_security} binaries upgradable from {suite}, {} more with a newer candidate elsewhere: {newer_elsewhere:?}",
        inventory.len(),
        results.len(),
        results.iter().filter(|a| a.is_missing()).count(),
        newer_elsewhere.len(),
    );
    assert!(
        differences.is_empty(),
        "the plan and apt disagree on {} binaries:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
