//! The fleet the benchmarks plan: the real bookworm-security suite as a
//! catalog, distinct inventories of about 1,500 packages derived with a
//! seeded xorshift from a real dpkg status, and machines with realistic
//! facts sharing them unevenly, as machines built from images do. Shared by
//! `plan_applicability` and `console`.

use std::collections::{BTreeMap, HashMap, HashSet};

use fixpoint_core::catalog::apt;
use fixpoint_core::catalog::{Catalog, PackageKind, Platform};
use fixpoint_core::fleet::{
    DirectoryFacts, InstalledPackage, Inventory, InventoryHash, Machine, OsFacts, parse_dpkg_status,
};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Packages per inventory, about: the real status, some security binaries,
/// synthetic packages up to this count.
pub const PACKAGES_PER_INVENTORY: usize = 1_500;

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).expect("fixture")
}

/// The fleet's size: full under `cargo bench`, small in criterion's test mode
/// (`cargo test --all-targets` runs this binary once, without `--bench`, in a
/// debug build).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub inventories: usize,
    pub machines: usize,
}

impl Scale {
    pub fn from_args() -> Scale {
        if std::env::args().any(|a| a == "--bench") {
            Scale {
                inventories: 2_000,
                machines: 100_000,
            }
        } else {
            Scale {
                inventories: 200,
                machines: 2_000,
            }
        }
    }
}

/// The real bookworm-security suite as a catalog, verified as apt verifies it.
pub fn security_catalog() -> Catalog {
    let release = apt::verify_inrelease(
        &read("apt/bookworm-security/InRelease"),
        &read("apt/debian-archive-keyring.gpg"),
        "2026-11-25T12:00:00Z".parse().expect("instant"),
        apt::FreshnessPolicy::IgnoreValidUntil,
        None,
    )
    .expect("fixture verifies");
    let index = apt::verify_and_decompress(
        &release,
        "main/binary-amd64/Packages.lz4",
        &read("apt/bookworm-security/main/binary-amd64/Packages.lz4"),
    )
    .expect("index");
    let packages = apt::parse_packages(&index).expect("parses");
    let repository = apt::Repository {
        name: "debian-security",
        base_uri: "http://mirror.invalid/debian-security",
    };
    Catalog::from_advisories(apt::advisories(&release, &repository, &packages))
}

/// xorshift64*: deterministic, seeded, good enough to pick packages.
#[derive(Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // Never zero, and nearby seeds start far apart.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A dpkg version below `version`: the Debian revision without its stable
/// update suffix (`2.36-9+deb12u10` → `2.36-9`), else the version with a
/// trailing tilde, which sorts before it.
pub fn older(version: &str) -> String {
    match version.find("+deb12u").or_else(|| version.find("~deb12u")) {
        Some(at) if at > 0 => version[..at].to_owned(),
        _ => format!("{version}~"),
    }
}

/// What inventories are drawn from.
#[derive(Debug)]
pub struct Ingredients {
    /// The real machine's packages.
    status: Vec<InstalledPackage>,
    /// Binaries of the security suite that the real machine does not have,
    /// one per (name, architecture), at the newest version the suite ships.
    security: Vec<InstalledPackage>,
    /// Per (name, architecture) of the status, the newest security version.
    security_versions: HashMap<(String, String), (String, String)>,
}

impl Ingredients {
    pub fn new(catalog: &Catalog) -> Ingredients {
        let status = parse_dpkg_status(&read("dpkg/status-bookworm")).expect("the fixture parses");
        let mut newest: BTreeMap<(String, String), InstalledPackage> = BTreeMap::new();
        for patch in catalog.patches.values() {
            let source = patch
                .fixes
                .iter()
                .find(|f| f.kind == PackageKind::Source)
                .map(|f| (f.package.clone(), f.fixed.clone().unwrap_or_default()));
            for fix in patch.fixes.iter().filter(|f| f.kind == PackageKind::Binary) {
                let (Some(version), Some(arch)) = (&fix.fixed, &fix.arch) else {
                    continue;
                };
                let mut package = InstalledPackage::new(&fix.package, arch, version);
                if let Some((name, source_version)) = &source {
                    package = package.built_from(name, source_version);
                }
                newest
                    .entry((fix.package.clone(), arch.clone()))
                    .and_modify(|p| {
                        if dpkg_less(&p.version, version) {
                            *p = package.clone();
                        }
                    })
                    .or_insert(package);
            }
        }
        let installed: HashSet<(&str, &str)> = status
            .iter()
            .map(|p| (p.name.as_str(), p.architecture.as_str()))
            .collect();
        let mut security = Vec::new();
        let mut security_versions = HashMap::new();
        for ((name, arch), package) in newest {
            if installed.contains(&(name.as_str(), arch.as_str())) {
                security_versions.insert((name, arch), (package.version, package.source_version));
            } else {
                security.push(package);
            }
        }
        Ingredients {
            status,
            security,
            security_versions,
        }
    }

    /// Inventory number `seed`: most of the real status (a few packages
    /// upgraded to the security suite's version), about one in eight of the
    /// suite's other binaries (half of them at an older version, so their
    /// patches are missing), and synthetic packages up to about 1,500.
    pub fn packages(&self, seed: u64) -> Vec<InstalledPackage> {
        let mut rng = XorShift::new(seed);
        let mut packages = Vec::with_capacity(PACKAGES_PER_INVENTORY + 64);
        for p in &self.status {
            if !rng.percent(95) {
                continue;
            }
            let mut p = p.clone();
            if let Some((version, source_version)) = self
                .security_versions
                .get(&(p.name.clone(), p.architecture.clone()))
                && rng.percent(20)
            {
                p.version.clone_from(version);
                p.source_version.clone_from(source_version);
            }
            packages.push(p);
        }
        for p in &self.security {
            if !rng.percent(12) {
                continue;
            }
            let mut p = p.clone();
            if rng.percent(50) {
                p.version = older(&p.version);
                p.source_version = older(&p.source_version);
            }
            packages.push(p);
        }
        let target = PACKAGES_PER_INVENTORY - 50 + rng.below(100);
        let mut synthetic: Vec<usize> = (0..4_000).collect();
        while packages.len() < target {
            let n = synthetic.swap_remove(rng.below(synthetic.len()));
            let version = ["1.0-1", "1.0-2", "2.3.4-1", "2.3.4-1+b1", "0.9~rc1-3"][n % 5];
            packages.push(InstalledPackage::new(
                &format!("synthetic-{n:04}"),
                if n.is_multiple_of(3) { "all" } else { "amd64" },
                version,
            ));
        }
        packages
    }
}

pub fn dpkg_less(a: &str, b: &str) -> bool {
    fixpoint_core::version::compare_with(
        fixpoint_core::version::Scheme::Dpkg,
        fixpoint_core::version::Syntax::Lenient,
        a,
        b,
    )
    .is_ok_and(|o| o.is_lt())
}

pub fn debian_12() -> Platform {
    Platform::new("debian", Some("12"))
}

/// `count` distinct inventories; a seed whose inventory repeats an earlier
/// one is skipped.
pub fn inventories(ingredients: &Ingredients, count: usize) -> Vec<Inventory> {
    let mut seen = HashSet::new();
    let mut inventories = Vec::with_capacity(count);
    let mut seed = 0;
    while inventories.len() < count {
        seed += 1;
        let inventory =
            Inventory::new(debian_12(), ingredients.packages(seed)).expect("a valid inventory");
        if seen.insert(inventory.hash().clone()) {
            inventories.push(inventory);
        }
    }
    inventories
}

/// Machine number `n`, with the facts a real check-in carries.
pub fn machine(n: usize, inventory: InventoryHash) -> Machine {
    const ROLES: [&str; 6] = ["web", "db", "cache", "worker", "proxy", "batch"];
    const SITES: [&str; 4] = ["fra1", "ams2", "dub1", "par3"];
    let role = ROLES[n % ROLES.len()];
    let site = SITES[(n / 7) % SITES.len()];
    Machine {
        id: format!("m-{n:06}"),
        hostname: format!("{role}-{n:06}.{site}.corp.example"),
        labels: BTreeMap::from([
            ("role".to_owned(), role.to_owned()),
            (
                "env".to_owned(),
                if n.is_multiple_of(10) {
                    "staging"
                } else {
                    "production"
                }
                .to_owned(),
            ),
            ("team".to_owned(), format!("team-{}", n % 40)),
        ]),
        os: OsFacts {
            family: "debian".into(),
            version: Some("12".into()),
        },
        site: Some(site.to_owned()),
        directory: DirectoryFacts::default(),
        time_zone: Some("Europe/Berlin".into()),
        kernel: None,
        reboot_required: false,
        inventory,
    }
}

/// Each machine's inventory, by position in `hashes`: spread over all of
/// them, unevenly, as images are.
pub fn machine_inventories(hashes: &[InventoryHash], machines: usize) -> Vec<usize> {
    let mut rng = XorShift::new(0xF1EE7);
    (0..machines)
        .map(|n| {
            // Every inventory is used; then a skew towards the first tenth.
            if n < hashes.len() {
                n
            } else if rng.percent(50) {
                rng.below(hashes.len().div_ceil(10))
            } else {
                rng.below(hashes.len())
            }
        })
        .collect()
}

/// A policy like a real one: three rings over the `env` and `role` labels,
/// a nightly window in each machine's zone, severity deadlines, an error
/// budget and an exclusion.
pub const POLICY: &str = r#"
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: canary}
spec: {match: {labels: {env: staging, role: web}}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: pilot}
spec: {match: {labels: {env: staging}}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: security}
spec:
  rules:
    - {match: {classification: [security], severity: [critical]}, approveAfter: 0d}
    - {match: {classification: [security]}, approveAfter: 3d}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MaintenanceWindow
metadata: {name: nightly}
spec: {cron: "0 2 * * *", duration: 3h, timezone: machine}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: default}
spec:
  approval: security
  rings:
    - {name: canary, groups: [canary], delay: 0d}
    - {name: pilot, groups: [pilot], delay: 1d, gate: {minSuccess: 90%, minMachines: 5, soak: 12h}}
    - {name: broad, groups: [all], delay: 3d, maxConcurrent: 25%, errorBudget: 2%}
  window: nightly
  deadlines: {critical: 7d, important: 30d}
  deadline: 90d
---
apiVersion: fixpoint.dev/v1alpha1
kind: Exclusion
metadata: {name: batch-kernel}
spec:
  machines: {labels: {role: batch}}
  patches: {packages: ["linux*"]}
  reason: long-running jobs
  owner: batch-team
"#;

/// [`POLICY`], checked.
pub fn policy(now: jiff::Timestamp) -> fixpoint_core::policy::PolicySet {
    let checked = fixpoint_core::policy::check([("bench.yaml", POLICY.as_bytes())], now);
    assert!(
        !checked.has_errors(),
        "bench policy: {:#?}",
        checked.diagnostics
    );
    checked.set
}

/// `catalog` with release dates. APT indices carry none (the server dates a
/// patch when it first sees it); these are spread over the 120 days before
/// `now`, so that rules approve them, some ring delays are still running and
/// some deadlines have passed.
pub fn dated(catalog: &Catalog, now: jiff::Timestamp) -> Catalog {
    let mut catalog = catalog.clone();
    for (n, patch) in catalog.patches.values_mut().enumerate() {
        let days = i64::try_from((n * 7_919) % 120).expect("small");
        patch.released = Some(now - jiff::SignedDuration::from_hours(24 * days + 5));
    }
    catalog
}
