//! Applicability against apt, the real oracle.
//!
//! - `the_plan_agrees_with_apt_on_this_machine` builds the catalog from this
//!   machine's own `-security` lists (`/var/lib/apt/lists`, verified with the
//!   Debian archive keyring), takes its own `/var/lib/dpkg/status` as the
//!   inventory, and compares what the plan says is missing with what
//!   `apt list --upgradable` says the security suite would upgrade.
//! - `the_plan_for_a_fleet_of_debian_roots_agrees_with_apt` plans a fleet of
//!   Debian roots (this machine's dpkg status, seeded-random downgrades of it,
//!   and the fixture machine's) against that catalog with a policy that
//!   schedules every security patch at once, and compares, per machine, what
//!   the plan would install with what the real apt, pointed at the root's
//!   status, would upgrade from the security suite.
//! - The other tests pin the committed pair of fixtures (the security suite in
//!   `tests/fixtures/apt/bookworm-security` and the dpkg status of the machine
//!   it was copied from, `tests/fixtures/dpkg/status-bookworm`), so they do not
//!   depend on the machine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use fixpoint_core::catalog::apt::{
    FreshnessPolicy, Repository, advisories, parse_packages, verify_and_decompress,
    verify_inrelease,
};
use fixpoint_core::catalog::{Catalog, PackageKind, PatchId, Platform};
use fixpoint_core::fleet::{
    DirectoryFacts, Fleet, Inventory, Machine, OsFacts, OsRelease, parse_dpkg_status,
    parse_os_release,
};
use fixpoint_core::plan::{self, ApplicabilityIndex, Applicable, PatchState, State};
use fixpoint_core::policy;
use fixpoint_core::version::{self, Scheme};
use jiff::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

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
fn newest_missing_binaries<'r>(
    results: impl IntoIterator<Item = &'r Applicable>,
) -> BTreeMap<(String, String), String> {
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
fn unavailable(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: {why}: the cross-check needs a Debian machine with apt and fresh lists (run apt-get update)"
        );
    }
    eprintln!("SKIPPED {test}: {why}");
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

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const LISTS: &str = "/var/lib/apt/lists";
const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// This machine as an oracle: its release, and the catalog of its security
/// suite built from apt's own verified lists.
struct ThisMachine {
    os: OsRelease,
    suite: String,
    catalog: Catalog,
    /// The suite's list files: its InRelease and its Packages index.
    lists: [PathBuf; 2],
}

/// `Err`: why this machine cannot serve (not Debian, no dpkg, no lists).
fn this_machine() -> Result<ThisMachine, String> {
    let lists = Path::new(LISTS);
    let os_release =
        std::fs::read_to_string("/etc/os-release").map_err(|_| "no /etc/os-release")?;
    let os = parse_os_release(&os_release).expect("/etc/os-release parses");
    let codename = os
        .version_codename
        .clone()
        .filter(|_| os.id == "debian")
        .ok_or("not a Debian release with a codename")?;
    let arch = command_output("dpkg", &["--print-architecture"]).ok_or("no dpkg")?;
    let arch = arch.trim();
    let suite = format!("{codename}-security");
    let (Some(inrelease), Some(index)) = (
        list_file(lists, &format!("_dists_{suite}_InRelease")),
        list_file(
            lists,
            &format!("_dists_{suite}_main_binary-{arch}_Packages.lz4"),
        ),
    ) else {
        return Err(format!(
            "no {suite} InRelease and Packages.lz4 in {}",
            lists.display()
        ));
    };
    let catalog = security_catalog(
        &read(&inrelease),
        &read(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg")),
        Timestamp::now(),
        &format!("main/binary-{arch}/Packages.lz4"),
        &read(&index),
    );
    Ok(ThisMachine {
        os,
        suite,
        catalog,
        lists: [inrelease, index],
    })
}

/// `apt list --upgradable` for the dpkg status file `status`, with the lists
/// in `lists`. apt builds its cache in memory (no cache files), takes no lock
/// and writes nothing: the status file may be anywhere.
fn apt_list_upgradable(status: &Path, lists: &Path, scratch: &Path) -> Option<String> {
    let option = |name: &str, value: &Path| format!("-o{name}={}", value.display());
    let args = [
        "list".to_owned(),
        "--upgradable".to_owned(),
        option("Dir::State::status", status),
        option("Dir::State::Lists", lists),
        option("Dir::Cache", scratch),
        "-oDir::Cache::pkgcache=".to_owned(),
        "-oDir::Cache::srcpkgcache=".to_owned(),
        "-oDebug::NoLocking=1".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    command_output("apt", &args)
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

/// How the binaries Fixpoint would upgrade (`ours`, the newest fixed version
/// each) and apt's upgrades differ. Returns the disagreements, and the binaries
/// apt upgrades to a still newer candidate from another suite (a point release
/// that superseded the security upload): apt lists only the candidate, the
/// highest version, so those are agreement, not a difference.
fn disagreements(
    ours: &BTreeMap<(String, String), String>,
    apt: &BTreeMap<(String, String), (String, bool)>,
) -> (Vec<String>, Vec<String>) {
    let mut differences = Vec::new();
    let mut newer_elsewhere = Vec::new();
    // Everything apt would take from the security suite, the plan must call missing, at that version.
    for ((name, arch), (candidate, security)) in apt {
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
    // suite at that version (checked above), or to a newer candidate elsewhere.
    for ((name, arch), fixed) in ours {
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
    (differences, newer_elsewhere)
}

#[test]
fn the_plan_agrees_with_apt_on_this_machine() {
    const TEST: &str = "the_plan_agrees_with_apt_on_this_machine";
    let machine = match this_machine() {
        Ok(m) => m,
        Err(why) => return unavailable(TEST, &why),
    };
    let Some(upgradable) = command_output("apt", &["list", "--upgradable"]) else {
        return unavailable(TEST, "`apt list --upgradable` did not run");
    };
    let installed = parse_dpkg_status(&read(Path::new(DPKG_STATUS)))
        .expect("this machine's dpkg status parses");
    let inventory = Inventory::new(machine.os.platform(), installed).expect("a valid inventory");
    let results = ApplicabilityIndex::new(&machine.catalog).applicable_patches(&inventory);
    let ours = newest_missing_binaries(&results);
    let apt = apt_upgradable(&upgradable);

    let (differences, newer_elsewhere) = disagreements(&ours, &apt);
    let from_security = apt.values().filter(|(_, s)| *s).count();
    eprintln!(
        "cross-check: {} installed, {} applicable patches ({} missing), {from_security} binaries upgradable from {}, {} more with a newer candidate elsewhere: {newer_elsewhere:?}",
        inventory.len(),
        results.len(),
        results.iter().filter(|a| a.is_missing()).count(),
        machine.suite,
        newer_elsewhere.len(),
    );
    assert!(
        differences.is_empty(),
        "the plan and apt disagree on {} binaries:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

// ------------------------------------------------------------ Debian roots, planned

/// A directory under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One stanza of a dpkg status file, with the fields the roots rewrite.
struct Stanza<'a> {
    text: &'a str,
    package: &'a str,
    architecture: &'a str,
    version: &'a str,
    installed: bool,
}

fn stanzas(status: &str) -> Vec<Stanza<'_>> {
    status
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|text| {
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                    .unwrap_or_default()
            };
            Stanza {
                text,
                package: field("Package"),
                architecture: field("Architecture"),
                version: field("Version"),
                installed: field("Status").ends_with(" installed"),
            }
        })
        .collect()
}

/// `dpkg --compare-versions a lt b`, by the real dpkg.
fn dpkg_says_lower(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .expect("dpkg runs")
        .success()
}

/// `1.2-3+deb12u5` → `1.2-3+deb12u4` (and `…~deb12u1` → `…~deb12u0`): the
/// security upload before, as Debian numbers them.
fn previous_debian_update(version: &str) -> Option<String> {
    let at = version.rfind('u')?;
    let (head, n) = (&version[..at], &version[at + 1..]);
    let n: u32 = n.parse().ok().filter(|&n| n > 0)?;
    let release = head.rfind("deb").map(|i| &head[i + 3..])?;
    (!release.is_empty() && release.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{head}u{}", n - 1))
}

/// The binaries the security suite carries: (name, architecture) → (source, its versions there).
type SecurityBinaries = BTreeMap<(String, String), (String, Vec<String>)>;

fn security_binaries(catalog: &Catalog) -> SecurityBinaries {
    let mut binaries = SecurityBinaries::new();
    for patch in catalog.patches.values() {
        for fix in patch.fixes.iter().filter(|f| f.kind == PackageKind::Binary) {
            let (Some(arch), Some(fixed)) = (&fix.arch, &fix.fixed) else {
                continue;
            };
            binaries
                .entry((fix.package.clone(), arch.clone()))
                .or_insert_with(|| (patch.product.clone(), Vec::new()))
                .1
                .push(fixed.clone());
        }
    }
    binaries
}

/// A dpkg status like `real`, but with a seeded-random selection of security
/// sources downgraded: every installed binary of a chosen source that is at a
/// version the security suite ships gets an older version, picked at random
/// from what exists (the fixture machine's version, an older upload in the
/// suite, the previous `debXuN`, or the version followed by `~`), each checked
/// lower with dpkg. Returns the status and how many binaries it downgraded;
/// `None` when nothing installed is at a version the security suite ships.
fn downgraded_status(
    real: &str,
    fixture: &BTreeMap<(String, String), String>,
    security: &SecurityBinaries,
    seed: u64,
) -> Option<(String, usize)> {
    let stanzas = stanzas(real);
    let from_security = |s: &Stanza| {
        security
            .get(&(s.package.to_owned(), s.architecture.to_owned()))
            .filter(|(_, versions)| s.installed && versions.iter().any(|v| v == s.version))
    };
    let sources: BTreeSet<&str> = stanzas
        .iter()
        .filter_map(|s| from_security(s).map(|(source, _)| source.as_str()))
        .collect();
    let sources: Vec<&str> = sources.into_iter().collect();
    if sources.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen: BTreeSet<&str> = sources
        .iter()
        .copied()
        .filter(|_| rng.next_u32() % 3 == 0)
        .collect();
    if chosen.is_empty() {
        chosen.insert(sources[rng.next_u32() as usize % sources.len()]);
    }

    let mut downgraded = 0;
    let mut out = String::with_capacity(real.len());
    for s in &stanzas {
        let text = match from_security(s) {
            Some((source, versions)) if chosen.contains(source.as_str()) => {
                let key = (s.package.to_owned(), s.architecture.to_owned());
                let mut older: Vec<String> = fixture
                    .get(&key)
                    .into_iter()
                    .chain(versions)
                    .cloned()
                    .chain(previous_debian_update(s.version))
                    .chain([format!("{}~", s.version)])
                    .filter(|v| dpkg_less(v, s.version))
                    .collect();
                older.sort();
                older.dedup();
                let lower = &older[rng.next_u32() as usize % older.len()];
                assert!(
                    dpkg_says_lower(lower, s.version),
                    "dpkg: {lower} < {}",
                    s.version
                );
                downgraded += 1;
                s.text
                    .lines()
                    .map(|line| {
                        if line == format!("Version: {}", s.version) {
                            format!("Version: {lower}")
                        } else if line.starts_with("Source: ") {
                            // A source version in parentheses is the binNMU's
                            // source; it moves with the binary only when equal.
                            line.replace(&format!("({})", s.version), &format!("({lower})"))
                        } else {
                            line.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            _ => s.text.to_owned(),
        };
        out.push_str(&text);
        out.push_str("\n\n");
    }
    Some((out, downgraded))
}

const EVERY_SECURITY_PATCH_AT_ONCE: &str = "\
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: security}
spec:
  rules:
    - {match: {classification: [security]}, approveAfter: 0d}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: everything}
spec:
  approval: security
  rings:
    - {name: everyone, groups: [all], delay: 0d}
";

/// Each root becomes a machine of one fleet; the plan approves and schedules
/// every security patch at once. Per machine, the binaries its scheduled
/// patches (superseded ones left out) would install, at the newest fixed
/// version, must be exactly what apt upgrades for that root's status when it
/// reads only the security suite's lists; with all of this machine's lists,
/// they must be apt's security upgrades, but for binaries whose candidate is a
/// newer version from another suite.
#[test]
fn the_plan_for_a_fleet_of_debian_roots_agrees_with_apt() {
    const TEST: &str = "the_plan_for_a_fleet_of_debian_roots_agrees_with_apt";
    const DERIVED: u64 = 4;
    let mut machine = match this_machine() {
        Ok(m) => m,
        Err(why) => return unavailable(TEST, &why),
    };
    if command_output("apt", &["--version"]).is_none() {
        return unavailable(TEST, "no apt");
    }
    // An index carries no per-patch date; a fixed past release makes every
    // patch due under `approveAfter: 0d`.
    let released: Timestamp = "2024-01-01T00:00:00Z".parse().expect("instant");
    for patch in machine.catalog.patches.values_mut() {
        patch.released = Some(released);
    }
    let now = Timestamp::now();
    let checked = policy::check(
        [("policy.yaml", EVERY_SECURITY_PATCH_AT_ONCE.as_bytes())],
        now,
    );
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let policy = checked.set;

    // The roots: this machine, DERIVED downgrades of it, and the fixture machine
    // when this one runs the same release.
    let scratch = Scratch::new("fixpoint-plan-apt");
    let real = String::from_utf8(read(Path::new(DPKG_STATUS))).expect("UTF-8 dpkg status");
    let fixture_status = String::from_utf8(fixture("dpkg/status-bookworm")).expect("UTF-8");
    let fixture_versions: BTreeMap<(String, String), String> = stanzas(&fixture_status)
        .iter()
        .filter(|s| s.installed)
        .map(|s| {
            (
                (s.package.to_owned(), s.architecture.to_owned()),
                s.version.to_owned(),
            )
        })
        .collect();
    let security = security_binaries(&machine.catalog);
    let mut roots: Vec<(String, String)> = vec![("this-machine".to_owned(), real.clone())];
    let mut downgrades = Vec::new();
    for seed in 1..=DERIVED {
        let Some((status, n)) = downgraded_status(&real, &fixture_versions, &security, seed) else {
            return unavailable(TEST, "nothing installed here is from the security suite");
        };
        downgrades.push(n);
        roots.push((format!("downgraded-{seed}"), status));
    }
    if machine.suite == "bookworm-security" {
        roots.push(("fixture-machine".to_owned(), fixture_status.clone()));
    }

    let all_lists = Path::new(LISTS);
    let security_lists = scratch.0.join("security-lists");
    std::fs::create_dir_all(&security_lists).expect("a lists directory");
    for file in &machine.lists {
        let name = file.file_name().expect("a list file has a name");
        std::fs::copy(file, security_lists.join(name)).expect("a copy of a list file");
    }
    let cache = scratch.0.join("apt-cache");

    let mut fleet = Fleet::new();
    let mut apt_by_machine = BTreeMap::new();
    let mut apt_security_only_by_machine = BTreeMap::new();
    for (name, status) in &roots {
        let dpkg = scratch.0.join(name).join("var/lib/dpkg");
        std::fs::create_dir_all(&dpkg).expect("a root");
        let path = dpkg.join("status");
        std::fs::write(&path, status).expect("the root's status");
        let (Some(all), Some(security_only)) = (
            apt_list_upgradable(&path, all_lists, &cache),
            apt_list_upgradable(&path, &security_lists, &cache),
        ) else {
            return unavailable(TEST, "`apt list --upgradable` did not run on a root");
        };
        apt_by_machine.insert(name.clone(), apt_upgradable(&all));
        apt_security_only_by_machine.insert(name.clone(), apt_upgradable(&security_only));

        let installed = parse_dpkg_status(&read(&path)).expect("the root's status parses");
        let inventory =
            Inventory::new(machine.os.platform(), installed).expect("a valid inventory");
        let hash = fleet.add_inventory(inventory);
        fleet
            .add_machine(Machine {
                id: name.clone(),
                hostname: name.clone(),
                labels: BTreeMap::new(),
                os: OsFacts {
                    family: machine.os.id.clone(),
                    version: machine.os.version_id.clone(),
                },
                site: None,
                directory: DirectoryFacts::default(),
                time_zone: None,
                kernel: None,
                reboot_required: false,
                inventory: hash,
            })
            .expect("a valid machine");
    }

    let plan = plan::compute(&policy, &machine.catalog, &fleet, now);
    let index = ApplicabilityIndex::new(&machine.catalog);
    let mut differences = Vec::new();
    let mut required_by_machine: BTreeMap<&str, BTreeSet<&PatchId>> = BTreeMap::new();
    let mut summary = Vec::new();
    for planned in &plan.machines {
        let name = planned.machine.as_str();
        let inventory = fleet
            .machine(name)
            .and_then(|m| fleet.inventory_of(m))
            .expect("the machine's inventory");
        // Every patch the plan lists is scheduled, or superseded by one that is:
        // the policy approves everything, the ring takes every machine.
        let required: BTreeSet<&PatchId> = planned
            .patches
            .iter()
            .filter(|p| matches!(p.state, State::Scheduled { .. }))
            .map(|p| p.patch)
            .collect();
        for p in planned.patches.iter() {
            match &p.state {
                State::Scheduled { .. } => {}
                State::Superseded { by } => assert!(
                    required.contains(by),
                    "{name}: {} is superseded by {by}, which is not scheduled",
                    p.patch
                ),
                other => panic!("{name}: {} is {other:?}, not scheduled", p.patch),
            }
        }
        let applicable = index.applicable_patches(inventory);
        let missing = applicable.iter().filter(|a| a.is_missing()).count();
        assert_eq!(
            planned.patches.len(),
            missing,
            "{name}: the plan lists exactly the missing patches"
        );
        let ours =
            newest_missing_binaries(applicable.iter().filter(|a| required.contains(&a.patch)));
        // apt reading the security suite alone: the same binaries, the same versions.
        let security_only: BTreeMap<(String, String), String> = apt_security_only_by_machine[name]
            .iter()
            .map(|(binary, (candidate, security))| {
                assert!(
                    security,
                    "{name}: {binary:?} is upgradable from another suite"
                );
                (binary.clone(), candidate.clone())
            })
            .collect();
        for (binary, version) in &ours {
            if security_only.get(binary) != Some(version) {
                differences.push(format!(
                    "{name}: {binary:?}: the plan would install {version}; apt on the security suite alone: {:?}",
                    security_only.get(binary)
                ));
            }
        }
        for (binary, candidate) in &security_only {
            if !ours.contains_key(binary) {
                differences.push(format!(
                    "{name}: {binary:?}: apt on the security suite alone upgrades to {candidate}; the plan misses nothing"
                ));
            }
        }
        // apt reading all of this machine's lists: its security upgrades.
        let apt = &apt_by_machine[name];
        let (machine_differences, newer_elsewhere) = disagreements(&ours, apt);
        differences.extend(
            machine_differences
                .into_iter()
                .map(|d| format!("{name}: {d}")),
        );
        summary.push(format!(
            "{name}: {missing} missing patches, {} scheduled, {} binaries to upgrade; apt: {} on the security suite alone, {} from {} with every list and {} newer elsewhere",
            required.len(),
            ours.len(),
            security_only.len(),
            apt.values().filter(|(_, s)| *s).count(),
            machine.suite,
            newer_elsewhere.len(),
        ));
        required_by_machine.insert(name, required);
    }
    eprintln!(
        "cross-check of {} roots (downgraded binaries per derived root: {downgrades:?}):\n{}",
        roots.len(),
        summary.join("\n")
    );
    assert!(
        differences.is_empty(),
        "the plan and apt disagree on {} binaries:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // The derived roots are not this machine again: each misses a patch it does not.
    let here = &required_by_machine["this-machine"];
    for seed in 1..=DERIVED {
        let name = format!("downgraded-{seed}");
        assert!(
            required_by_machine[name.as_str()]
                .difference(here)
                .next()
                .is_some(),
            "{name} misses no patch this machine does not"
        );
    }
}
