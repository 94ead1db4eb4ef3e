//! A realistic fleet for the console tests, written into the server's
//! database before it starts, the way check-ins would have left it.
//!
//! - The catalog: the real bookworm-security index
//!   (`tests/fixtures/apt/bookworm-security`, verified against the Debian
//!   archive keyring as a sync would) and `examples/fleet/catalog.json`, whose
//!   rated patches give severities and deadlines.
//! - The machines: 240 Debian 12 machines under the repository's `policies/`:
//!   web servers in the canary, pilot and broad rings, database servers, ERP
//!   servers under the `legacy-erp` exclusion and workstations. Their
//!   inventories are the real dpkg status of a bookworm machine
//!   (`tests/fixtures/dpkg/status-bookworm`, 765 packages), some with security
//!   fixes missing (the binaries of a few source packages one Debian revision
//!   back), some with `telnetd`, which a policy forbids.
//! - Their check-ins: every 90 minutes, the last one within the hour, except
//!   for the stale machines, silent for six hours.
//!
//! What the test built is kept in [`Built`], so tests can check the
//! console's figures against it.

use std::collections::BTreeMap;

use fixpoint::store::{ReportedResult, Store};
use fixpoint_core::catalog::apt::{
    FreshnessPolicy, Repository, advisories, parse_packages, verify_and_decompress,
    verify_inrelease,
};
use fixpoint_core::catalog::{Advisory, PatchId, Platform};
use fixpoint_core::fleet::{
    DirectoryFacts, InstalledPackage, Inventory, Machine, OsFacts, Outcome, parse_dpkg_status,
};
use fixpoint_core::version::{self, Scheme};
use jiff::{SignedDuration, Timestamp};

use crate::support::{Serve, block_on, root};

/// The source packages whose fixes the drifting machines lack.
pub const MISSING_SOURCES: [&str; 3] = ["openssl", "glibc", "curl"];

/// A host name that is an attack on the console: it must render as text.
pub const HOSTILE_HOSTNAME: &str = "<script>alert('owned')</script><b>ws-x</b>.corp.example";

/// What the test put in the database.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub machines: usize,
    /// Machines last seen more than two check-in intervals ago.
    pub stale: Vec<String>,
    /// Machines with every fix installed and no software rule broken.
    pub in_sync: Vec<String>,
    /// Machines with `telnetd` installed.
    pub telnetd: Vec<String>,
    /// ERP machines, whose PostgreSQL patches the `legacy-erp` exclusion holds back.
    pub erp: Vec<String>,
    /// Machine id by host name.
    pub ids: BTreeMap<String, String>,
    /// The canary ring's machines.
    pub canary: Vec<String>,
}

fn fixture(path: &str) -> Vec<u8> {
    let full = root().join("tests/fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// The newest version of each binary of a suite: (name, architecture) →
/// (version, source version).
type Newest = BTreeMap<(String, String), (String, String)>;

/// The real bookworm-security index: its advisories, and the newest version
/// of each binary in it.
pub fn bookworm_security() -> (Vec<Advisory>, Newest) {
    let inrelease = fixture("apt/bookworm-security/InRelease");
    let keyring = fixture("apt/debian-archive-keyring.gpg");
    let release = verify_inrelease(
        &inrelease,
        &keyring,
        Timestamp::now(),
        FreshnessPolicy::IgnoreValidUntil,
        None,
    )
    .expect("the fixture verifies");
    let index = verify_and_decompress(
        &release,
        "main/binary-amd64/Packages.lz4",
        &fixture("apt/bookworm-security/main/binary-amd64/Packages.lz4"),
    )
    .expect("the index matches its Release");
    let packages = parse_packages(&index).expect("the index parses");
    let repository = Repository {
        name: "debian-security",
        base_uri: "http://mirror.invalid/debian-security/",
    };
    let mut newest = Newest::new();
    for p in &packages {
        let key = (p.package.to_owned(), p.architecture.to_owned());
        let newer = newest.get(&key).is_none_or(|(v, _)| {
            version::compare(Scheme::Dpkg, p.version, v).expect("dpkg versions")
                == std::cmp::Ordering::Greater
        });
        if newer {
            newest.insert(key, (p.version.to_owned(), p.source_version.to_owned()));
        }
    }
    (advisories(&release, &repository, &packages), newest)
}

fn older(a: &str, b: &str) -> bool {
    version::compare(Scheme::Dpkg, a, b).expect("dpkg versions") == std::cmp::Ordering::Less
}

/// A version one step before `v`: the last number in it lowered by one
/// (`3.0.17-1~deb12u3` → `3.0.17-1~deb12u2`), or `v~` when it has no number
/// above zero. Checked with the dpkg ordering.
fn before(v: &str) -> String {
    let bytes = v.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit);
    let candidate = end.and_then(|end| {
        let start = bytes[..=end]
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |p| p + 1);
        let n: u64 = v[start..=end].parse().ok()?;
        (n > 0).then(|| format!("{}{}{}", &v[..start], n - 1, &v[end + 1..]))
    });
    let result = candidate.unwrap_or_else(|| format!("{v}~"));
    assert!(older(&result, v), "{result} sorts before {v}");
    result
}

/// `base` as `apt upgrade` from the security suite leaves it: every binary
/// the suite has a newer version of, at that version.
fn upgraded(base: &[InstalledPackage], security: &Newest) -> Vec<InstalledPackage> {
    base.iter()
        .map(
            |p| match security.get(&(p.name.clone(), p.architecture.clone())) {
                Some((v, sv)) if older(&p.version, v) => InstalledPackage {
                    version: v.clone(),
                    source_version: sv.clone(),
                    ..p.clone()
                },
                _ => p.clone(),
            },
        )
        .collect()
}

/// `current` with the binaries of `sources` before the suite's fix: one
/// revision back from the suite's version.
fn lacking(
    current: &[InstalledPackage],
    sources: &[&str],
    security: &Newest,
) -> Vec<InstalledPackage> {
    current
        .iter()
        .map(
            |p| match security.get(&(p.name.clone(), p.architecture.clone())) {
                Some((v, sv)) if sources.contains(&p.source.as_str()) => InstalledPackage {
                    version: before(v),
                    source_version: before(sv),
                    ..p.clone()
                },
                _ => p.clone(),
            },
        )
        .collect()
}

fn with(mut packages: Vec<InstalledPackage>, extra: &[(&str, &str)]) -> Vec<InstalledPackage> {
    for (name, v) in extra {
        if !packages.iter().any(|p| p.name == *name) {
            packages.push(InstalledPackage::new(name, "amd64", v));
        }
    }
    packages
}

fn inventory(packages: Vec<InstalledPackage>) -> Inventory {
    Inventory::new(Platform("debian:12".into()), packages).expect("a valid inventory")
}

/// One machine to write.
struct Spec {
    hostname: String,
    labels: Vec<(&'static str, &'static str)>,
    ou: &'static str,
    site: Option<&'static str>,
    inventory: usize,
    stale: bool,
}

/// Writes the catalog and the fleet into the database `serve` will use.
pub fn seed(serve: &Serve) -> Built {
    block_on(async {
        let store = serve.open_store().await;
        let built = write(&store).await;
        store.close().await;
        built
    })
}

async fn write(store: &Store) -> Built {
    use fixpoint::store::SourceUpdate;
    let now = Timestamp::now();
    let (advisories, security) = bookworm_security();
    store
        .replace_source(
            &SourceUpdate {
                name: "debian-security".into(),
                kind: "apt".into(),
                location: "tests/fixtures/apt/bookworm-security".into(),
                ..SourceUpdate::default()
            },
            &advisories,
            now,
        )
        .await
        .expect("import bookworm-security");
    // Of the example catalog, the nginx fix: rated important, released
    // 2026-11-18, so past its 14-day deadline on machines that lack it.
    let nginx: Vec<Advisory> = serde_json::from_slice::<Vec<Advisory>>(
        &std::fs::read(root().join("examples/fleet/catalog.json")).expect("example catalog"),
    )
    .expect("advisories")
    .into_iter()
    .filter(|a| a.patch.as_str().starts_with("nginx/"))
    .collect();
    store
        .replace_source(
            &SourceUpdate {
                name: "example".into(),
                kind: "osv".into(),
                location: "examples/fleet/catalog.json".into(),
                ..SourceUpdate::default()
            },
            &nginx,
            now,
        )
        .await
        .expect("import the nginx advisory");

    // The real machine has libc6-dbg, which the example policy bans: the
    // clean machines here do not.
    let mut base = parse_dpkg_status(&fixture("dpkg/status-bookworm")).expect("dpkg status");
    base.retain(|p| !p.name.ends_with("-dbg"));
    let current = upgraded(&base, &security);
    let server_pkgs = [
        ("auditd", "1:3.0.9-1"),
        ("unattended-upgrades", "2.9.1+nmu3"),
    ];
    let old_nginx = ("nginx", "1.22.1-9+deb12u2");
    let telnetd = ("telnetd", "0.17+2.4-2+deb12u3");
    let inventories = [
        // 0: a server with every fix.
        inventory(with(current.clone(), &server_pkgs)),
        // 1: a server lacking the fixes of three source packages, and nginx's.
        inventory(with(
            lacking(&current, &MISSING_SOURCES, &security),
            &[server_pkgs[0], server_pkgs[1], old_nginx],
        )),
        // 2: a server lacking them, with telnetd.
        inventory(with(
            lacking(&current, &MISSING_SOURCES, &security),
            &[server_pkgs[0], server_pkgs[1], telnetd],
        )),
        // 3: a workstation with every fix.
        inventory(current.clone()),
        // 4: a workstation lacking one fix.
        inventory(lacking(&current, &["curl"], &security)),
        // 5: an ERP server lacking PostgreSQL's fix (excluded) and openssl's.
        inventory(with(
            lacking(&current, &["openssl", "postgresql-15"], &security),
            &server_pkgs,
        )),
    ];

    let mut specs = Vec::new();
    for i in 1..=60 {
        let ring = match i {
            1..=6 => Some("canary"),
            7..=10 => Some("pilot"),
            _ => None,
        };
        let mut labels = vec![("role", "web")];
        if let Some(r) = ring {
            labels.push(("ring", r));
        }
        specs.push(Spec {
            hostname: format!("web-{i:03}.corp.example"),
            labels,
            ou: "OU=Servers,DC=corp,DC=example",
            site: Some(if ring == Some("pilot") {
                "fra1"
            } else {
                "ams1"
            }),
            inventory: match i % 10 {
                0 if i > 10 => 2,
                1 | 4 | 7 => 0,
                _ => 1,
            },
            stale: i % 15 == 0,
        });
    }
    for i in 1..=40 {
        specs.push(Spec {
            hostname: format!("db-{i:02}.corp.example"),
            labels: vec![("role", "db")],
            ou: "OU=Servers,DC=corp,DC=example",
            site: Some("fra1"),
            inventory: if i % 2 == 0 { 0 } else { 1 },
            stale: i % 20 == 0,
        });
    }
    for i in 1..=10 {
        specs.push(Spec {
            hostname: format!("erp-{i:02}.corp.example"),
            labels: vec![("app", "erp")],
            ou: "OU=Servers,DC=corp,DC=example",
            site: Some("fra1"),
            inventory: 5,
            stale: false,
        });
    }
    for i in 1..=129 {
        specs.push(Spec {
            hostname: format!("ws-{i:03}.corp.example"),
            labels: vec![],
            ou: "OU=Workstations,DC=corp,DC=example",
            site: None,
            inventory: if i % 3 == 0 { 4 } else { 3 },
            stale: i % 25 == 0,
        });
    }
    specs.push(Spec {
        hostname: HOSTILE_HOSTNAME.into(),
        labels: vec![],
        ou: "OU=Workstations,DC=corp,DC=example",
        site: None,
        inventory: 4,
        stale: false,
    });

    for inv in &inventories {
        store
            .put_inventory(inv, now)
            .await
            .expect("store an inventory");
    }
    let mut built = Built {
        machines: specs.len(),
        ..Built::default()
    };
    let interval = SignedDuration::from_mins(90);
    let mut results = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        let id = format!("m-{k:04}");
        let machine = Machine {
            id: id.clone(),
            hostname: spec.hostname.clone(),
            labels: spec
                .labels
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            os: OsFacts {
                family: "debian".into(),
                version: Some("12".into()),
            },
            site: spec.site.map(str::to_owned),
            directory: DirectoryFacts {
                ou: Some(spec.ou.into()),
                groups: Vec::new(),
            },
            time_zone: Some("Europe/Berlin".into()),
            kernel: Some("6.1.0-41-amd64".into()),
            reboot_required: false,
            inventory: inventories[spec.inventory].hash().clone(),
        };
        // Enrolled a month ago; checked in every 90 minutes since, the last
        // time a few minutes ago (six hours ago for a stale machine).
        let enrolled = now - SignedDuration::from_hours(24 * 30);
        store
            .enroll(&machine, &format!("{:064x}", k), enrolled)
            .await
            .expect("enroll");
        let last = if spec.stale {
            now - SignedDuration::from_hours(6)
        } else {
            now - SignedDuration::from_mins(i64::try_from(k % 60).unwrap_or(0) + 1)
        };
        for back in (0..4).rev() {
            store
                .check_in(&machine, last - interval * back)
                .await
                .expect("check in");
        }
        built.ids.insert(spec.hostname.clone(), id.clone());
        if spec.stale {
            built.stale.push(id.clone());
        }
        match spec.inventory {
            0 | 3 => built.in_sync.push(id.clone()),
            2 => built.telnetd.push(id.clone()),
            5 => built.erp.push(id.clone()),
            _ => {}
        }
        if spec.labels.contains(&("ring", "canary")) {
            built.canary.push(id.clone());
            // The canaries installed last week's fixes.
            results.push(ReportedResult {
                machine: id.clone(),
                instruction: format!("i-{id}-nginx"),
                patch: PatchId::deb("nginx", "1.22.1-9+deb12u4"),
                release: None,
                outcome: Outcome::Succeeded,
                at: now - SignedDuration::from_hours(40),
                detail: None,
            });
        }
    }
    store.record_results(&results).await.expect("results");
    // Two weeks of history, as the reconcile loop stores it: one snapshot a
    // day, compliance climbing as the rings went out.
    for day in 1..=TREND_DAYS {
        let compliant = 240 - 5 * day;
        store
            .record_snapshot(&fixpoint::store::Snapshot {
                at: now - SignedDuration::from_hours(24 * day),
                machines: 240,
                compliant,
                drifting: 240 - compliant - 10,
                overdue: 10,
                drift_pairs: 3 * (240 - compliant),
            })
            .await
            .expect("a snapshot");
    }
    built
}

/// Days of compliance history written before the server starts.
pub const TREND_DAYS: i64 = 14;
