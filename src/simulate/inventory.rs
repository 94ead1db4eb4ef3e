//! Realistic inventories and facts for virtual machines, derived
//! deterministically from a seed and real dpkg status files.
//!
//! A real fleet is built from a few images: most machines have one of a few
//! identical inventories, and the rest differ from their image by a few
//! packages (held back at an older version, installed or removed by hand). So
//! here: inventory `0..images` are the images, the others variants of one, and
//! machine `n` has image or variant by a seeded hash of `n`. Every inventory has
//! exactly the number of packages asked for: a real status file's packages,
//! padded with plausible packages derived from real ones (`libfoo-doc` built
//! from the same source at the same version) or trimmed to a subset.
//!
//! Hashes are the core's ([`InventoryPayload::to_inventory`]), so an agent's
//! `Unchanged { hash }` names what the server stored from its full inventory.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use anyhow::Context;
use fixpoint_core::catalog::Platform;
use fixpoint_core::fleet::{
    DirectoryFacts, InstalledPackage, InventoryHash, Machine, OsFacts, parse_dpkg_status,
};
use fixpoint_core::protocol::{Facts, InventoryPayload};
use hyper::body::Bytes;

/// The dpkg status of a real Debian 12 machine (tests/fixtures/dpkg/status-bookworm,
/// 765 installed packages): the default source of packages.
pub const BOOKWORM_STATUS: &[u8] = include_bytes!("../../tests/fixtures/dpkg/status-bookworm");

/// The platform of [`BOOKWORM_STATUS`].
pub const DEFAULT_PLATFORM: &str = "debian:12";

/// What the inventories look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Everything random derives from it: the same seed, the same fleet.
    pub seed: u64,
    /// Packages in every inventory.
    pub packages: usize,
    /// Distinct images most machines share.
    pub images: usize,
    /// Distinct inventories in all, images included (at least `images`).
    pub inventories: usize,
    /// `debian:12`.
    pub platform: Platform,
}

impl Default for GeneratorConfig {
    /// 8 images and 1,000 distinct inventories in all, of 1,500 packages each (as
    /// `fixpoint simulate`'s flags default to). The number does not depend on the
    /// fleet's size, so that a run over part of a seeded fleet sends what was seeded.
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            seed: 1,
            packages: 1_500,
            images: 8,
            inventories: 1_000,
            platform: Platform(DEFAULT_PLATFORM.to_owned()),
        }
    }
}

/// Inventories and facts by machine number.
#[derive(Debug)]
pub struct Generator {
    config: GeneratorConfig,
    /// The packages of each dpkg status file.
    sources: Vec<Vec<InstalledPackage>>,
    /// Packages an image may add to its source's, in a fixed order: the other
    /// sources' packages, then packages derived from all of them.
    extras: Vec<InstalledPackage>,
    /// Each inventory's hash, computed once.
    hashes: Vec<OnceLock<InventoryHash>>,
    /// Each inventory's full payload as JSON, built once it is first sent.
    payloads: Vec<OnceLock<Bytes>>,
    /// `os.family` and `os.version` of every machine, from the platform.
    os: OsFacts,
}

/// Binary packages a source commonly also builds; the architecture-independent
/// ones are `all`. No `-dbg`: policies ban debug packages in production (the
/// example policies do), and a fleet full of them would be planned for removals.
const DERIVED: [(&str, bool); 8] = [
    ("-doc", true),
    ("-dev", false),
    ("-bin", false),
    ("-data", true),
    ("-common", true),
    ("-utils", false),
    ("-tools", false),
    ("-l10n", true),
];

impl Generator {
    /// From dpkg status files (their bytes; at least one).
    pub fn new(config: GeneratorConfig, statuses: &[Vec<u8>]) -> anyhow::Result<Generator> {
        anyhow::ensure!(!statuses.is_empty(), "no dpkg status to draw packages from");
        anyhow::ensure!(config.images >= 1, "at least one image is needed");
        anyhow::ensure!(
            config.packages <= fixpoint_core::protocol::MAX_PACKAGES,
            "at most {} packages fit in a check-in",
            fixpoint_core::protocol::MAX_PACKAGES
        );
        let sources = statuses
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let mut packages = parse_dpkg_status(bytes)
                    .with_context(|| format!("dpkg status number {}", i + 1))?;
                packages.sort();
                anyhow::ensure!(
                    !packages.is_empty(),
                    "dpkg status number {} lists no installed package",
                    i + 1
                );
                Ok(packages)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut union: BTreeMap<(String, String), InstalledPackage> = BTreeMap::new();
        for p in sources.iter().flatten() {
            union
                .entry((p.name.clone(), p.architecture.clone()))
                .or_insert_with(|| p.clone());
        }
        let mut extras: Vec<InstalledPackage> = union.values().cloned().collect();
        // Enough derived packages for the largest inventory asked for.
        let mut round = 0;
        while extras.len() < config.packages * 2 {
            for p in union.values() {
                let (suffix, independent) = match DERIVED.get(round) {
                    Some(&(s, i)) => (s.to_owned(), i),
                    None => (format!("-extra{}", round - DERIVED.len() + 1), false),
                };
                extras.push(InstalledPackage {
                    name: format!("{}{suffix}", p.name),
                    architecture: if independent {
                        "all".to_owned()
                    } else {
                        p.architecture.clone()
                    },
                    version: p.version.clone(),
                    source: p.source.clone(),
                    source_version: p.source_version.clone(),
                });
            }
            round += 1;
        }
        let inventories = config.inventories.max(config.images);
        let (family, version) = match config.platform.0.split_once(':') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (config.platform.0.clone(), None),
        };
        Ok(Generator {
            hashes: (0..inventories).map(|_| OnceLock::new()).collect(),
            payloads: (0..inventories).map(|_| OnceLock::new()).collect(),
            config,
            sources,
            extras,
            os: OsFacts { family, version },
        })
    }

    /// With [`BOOKWORM_STATUS`] alone.
    pub fn bookworm(config: GeneratorConfig) -> anyhow::Result<Generator> {
        Generator::new(config, &[BOOKWORM_STATUS.to_vec()])
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Distinct inventories, images included.
    pub fn inventories(&self) -> usize {
        self.hashes.len()
    }

    /// The inventory machine `machine` has: most machines one of the images,
    /// one in six a variant.
    pub fn inventory_of(&self, machine: u64) -> usize {
        let r = mix(self.config.seed ^ 0x6d61_6368_696e_6573, machine);
        let images = self.config.images as u64;
        let variants = self.hashes.len() as u64 - images;
        let pick = r >> 8;
        if variants == 0 || !r.is_multiple_of(6) {
            usize::try_from(pick % images).unwrap_or(0)
        } else {
            usize::try_from(images + pick % variants).unwrap_or(0)
        }
    }

    /// The packages of inventory `index`, in no particular order.
    pub fn packages(&self, index: usize) -> Vec<InstalledPackage> {
        let images = self.config.images;
        if index < images {
            return self.image(index);
        }
        let mut rng = XorShift::new(mix(self.config.seed, index as u64));
        let mut packages = self.image(index % images);
        // A few packages held back at an older version.
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(packages.len());
            let p = &mut packages[at];
            p.version = older(&p.version);
            p.source_version = older(&p.source_version);
        }
        // A few removed, as many others installed: the size stays.
        let swaps = rng.below(3);
        let mut names: HashSet<(String, String)> = packages
            .iter()
            .map(|p| (p.name.clone(), p.architecture.clone()))
            .collect();
        for _ in 0..swaps {
            if packages.len() < 2 {
                break;
            }
            let removed = packages.swap_remove(rng.below(packages.len()));
            names.remove(&(removed.name, removed.architecture));
            for _ in 0..64 {
                let candidate = &self.extras[rng.below(self.extras.len())];
                if names.insert((candidate.name.clone(), candidate.architecture.clone())) {
                    packages.push(candidate.clone());
                    break;
                }
            }
        }
        packages
    }

    /// Image `k`: a source's packages, a few left out, padded with extras (or
    /// trimmed) to the size asked for.
    fn image(&self, k: usize) -> Vec<InstalledPackage> {
        let mut rng = XorShift::new(mix(self.config.seed ^ 0x696d_6167_6573, k as u64));
        let source = &self.sources[k % self.sources.len()];
        let target = self.config.packages;
        let mut packages: Vec<InstalledPackage> =
            source.iter().filter(|_| rng.percent(97)).cloned().collect();
        if packages.len() > target {
            // A smaller machine: a random subset.
            for i in 0..target {
                let j = i + rng.below(packages.len() - i);
                packages.swap(i, j);
            }
            packages.truncate(target);
            return packages;
        }
        let mut names: HashSet<(String, String)> = packages
            .iter()
            .map(|p| (p.name.clone(), p.architecture.clone()))
            .collect();
        // Extras in a random order (a partial Fisher–Yates over their indices).
        let mut order: Vec<usize> = (0..self.extras.len()).collect();
        let mut next = 0;
        while packages.len() < target && next < order.len() {
            let j = next + rng.below(order.len() - next);
            order.swap(next, j);
            let candidate = &self.extras[order[next]];
            next += 1;
            if names.insert((candidate.name.clone(), candidate.architecture.clone())) {
                packages.push(candidate.clone());
            }
        }
        packages
    }

    /// The hash and the JSON payload of inventory `index`, built anew.
    fn build(&self, index: usize) -> anyhow::Result<(InventoryHash, Bytes)> {
        anyhow::ensure!(index < self.hashes.len(), "no inventory {index}");
        let payload = InventoryPayload::Full {
            platform: self.config.platform.clone(),
            packages: self.packages(index),
        };
        let json = serde_json::to_vec(&payload).context("an inventory serializes")?;
        // What the server does with a full inventory: the hash it stores it under.
        let inventory = payload
            .to_inventory()
            .context("a full payload has an inventory")?
            .with_context(|| format!("generated inventory {index} is invalid"))?;
        Ok((inventory.hash().clone(), Bytes::from(json)))
    }

    /// Inventory `index` as the core holds it (for storing it directly).
    pub fn inventory(&self, index: usize) -> anyhow::Result<fixpoint_core::fleet::Inventory> {
        anyhow::ensure!(index < self.hashes.len(), "no inventory {index}");
        fixpoint_core::fleet::Inventory::new(self.config.platform.clone(), self.packages(index))
            .with_context(|| format!("generated inventory {index} is invalid"))
    }

    /// The hash of inventory `index`, as the server computes it.
    pub fn hash(&self, index: usize) -> anyhow::Result<InventoryHash> {
        let slot = self
            .hashes
            .get(index)
            .with_context(|| format!("no inventory {index}"))?;
        if let Some(hash) = slot.get() {
            return Ok(hash.clone());
        }
        let (hash, _) = self.build(index)?;
        Ok(slot.get_or_init(|| hash).clone())
    }

    /// The `inventory` of a full check-in of inventory `index`, as JSON
    /// (`{"kind":"full","platform":…,"packages":[…]}`). Kept once built: a
    /// fleet has at most [`GeneratorConfig::inventories`] of them.
    pub fn full_payload(&self, index: usize) -> anyhow::Result<Bytes> {
        let slot = self
            .payloads
            .get(index)
            .with_context(|| format!("no inventory {index}"))?;
        if let Some(json) = slot.get() {
            return Ok(json.clone());
        }
        let (hash, json) = self.build(index)?;
        if let Some(h) = self.hashes.get(index) {
            let _ = h.set(hash);
        }
        Ok(slot.get_or_init(|| json).clone())
    }

    /// Builds, on every core, the hashes (and with `payloads` the full payloads)
    /// of the inventories of `machines`, so that no measured request waits for one.
    pub fn prepare(
        &self,
        machines: impl IntoIterator<Item = u64>,
        payloads: bool,
    ) -> anyhow::Result<()> {
        let mut used = vec![false; self.hashes.len()];
        for m in machines {
            used[self.inventory_of(m)] = true;
        }
        let todo: Vec<usize> = (0..used.len()).filter(|&i| used[i]).collect();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        loop {
                            let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&i) = todo.get(at) else {
                                return Ok(());
                            };
                            if payloads {
                                self.full_payload(i)?;
                            } else {
                                self.hash(i)?;
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .map_err(|_| anyhow::anyhow!("building inventories panicked"))?
                })
                .collect::<anyhow::Result<Vec<()>>>()
        })?;
        Ok(())
    }

    /// The facts machine `machine` reports: a role, an environment and a team
    /// as labels, a site in its host name, a time zone.
    pub fn facts(&self, machine: u64) -> Facts {
        const ROLES: [&str; 6] = ["web", "db", "cache", "worker", "proxy", "batch"];
        const SITES: [&str; 4] = ["fra1", "ams2", "dub1", "par3"];
        const ZONES: [&str; 4] = [
            "Europe/Berlin",
            "Europe/Amsterdam",
            "Europe/Dublin",
            "Europe/Paris",
        ];
        let n = usize::try_from(machine).unwrap_or(usize::MAX);
        let role = ROLES[n % ROLES.len()];
        let site = (n / 7) % SITES.len();
        Facts {
            hostname: format!("{role}-{machine:07}.{}.sim.example", SITES[site]),
            os: self.os.clone(),
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
            time_zone: Some(ZONES[site].to_owned()),
            kernel: Some("6.1.0-28-amd64".to_owned()),
            reboot_required: false,
        }
    }

    /// Machine `machine` as the server stores it after its enrollment as `id`
    /// and a check-in with its inventory (what `fixpoint simulate seed` writes).
    pub fn machine(&self, id: &str, machine: u64) -> anyhow::Result<Machine> {
        let facts = self.facts(machine);
        Ok(Machine {
            id: id.to_owned(),
            hostname: facts.hostname,
            labels: facts.labels,
            os: facts.os,
            site: None,
            directory: DirectoryFacts::default(),
            time_zone: facts.time_zone,
            kernel: facts.kernel,
            reboot_required: facts.reboot_required,
            inventory: self.hash(self.inventory_of(machine))?,
        })
    }
}

/// A dpkg version below `version`: without its stable update suffix
/// (`2.36-9+deb12u10` → `2.36-9`), else with a trailing tilde, which sorts
/// before it.
fn older(version: &str) -> String {
    match version.find("+deb").or_else(|| version.find("~deb")) {
        Some(at) if at > 0 => version[..at].to_owned(),
        _ => format!("{version}~"),
    }
}

/// SplitMix64 of `seed` and `n`: a well-spread 64-bit hash, for seeding.
pub fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64*: deterministic, seeded, good enough to pick packages and jitter.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(mix(seed, 0) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap_or(0)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixpoint_core::protocol::CheckIn;

    fn generator(seed: u64, packages: usize) -> Generator {
        Generator::bookworm(GeneratorConfig {
            seed,
            packages,
            images: 3,
            inventories: 12,
            platform: Platform(DEFAULT_PLATFORM.to_owned()),
        })
        .expect("the fixture parses")
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet_and_another_seed_another() {
        let a = generator(7, 1_500);
        let b = generator(7, 1_500);
        let c = generator(8, 1_500);
        for i in 0..12 {
            assert_eq!(a.hash(i).expect("hash"), b.hash(i).expect("hash"), "{i}");
            assert_ne!(a.hash(i).expect("hash"), c.hash(i).expect("hash"), "{i}");
        }
        for m in 0..500 {
            assert_eq!(a.inventory_of(m), b.inventory_of(m));
            assert_eq!(a.facts(m), b.facts(m));
        }
        assert_eq!(
            a.full_payload(5).expect("payload"),
            b.full_payload(5).expect("payload")
        );
    }

    #[test]
    fn inventories_are_distinct_and_have_the_size_asked_for() {
        for size in [100, 765, 1_500, 4_000] {
            let g = generator(3, size);
            let mut hashes = HashSet::new();
            for i in 0..g.inventories() {
                let packages = g.packages(i);
                assert_eq!(packages.len(), size, "inventory {i} of {size}");
                assert!(hashes.insert(g.hash(i).expect("hash")), "inventory {i}");
            }
        }
    }

    #[test]
    fn the_hash_is_the_one_the_server_computes_from_the_check_in() {
        let g = generator(11, 1_500);
        for i in [0, 2, 3, 11] {
            let body = format!(
                "{{\"facts\":{},\"inventory\":{}}}",
                serde_json::to_string(&g.facts(i as u64)).expect("json"),
                String::from_utf8(g.full_payload(i).expect("payload").to_vec()).expect("utf-8")
            );
            let check_in: CheckIn = serde_json::from_str(&body).expect("a valid check-in");
            check_in.validate().expect("within the protocol's limits");
            let inventory = check_in
                .inventory
                .to_inventory()
                .expect("full")
                .expect("valid");
            assert_eq!(inventory.hash(), &g.hash(i).expect("hash"));
            assert_eq!(inventory.len(), 1_500);
        }
    }

    #[test]
    fn most_machines_share_an_image_and_the_rest_are_variants_of_one() {
        let g = generator(5, 1_500);
        let mut counts = vec![0usize; g.inventories()];
        for m in 0..6_000 {
            counts[g.inventory_of(m)] += 1;
        }
        let on_images: usize = counts[..3].iter().sum();
        assert!(
            (4_700..=5_300).contains(&on_images),
            "{on_images} machines on images"
        );
        assert!(counts.iter().all(|&c| c > 0), "every inventory is used");
        // A variant differs from its image by a few packages only.
        let image: HashSet<_> = g.packages(1).into_iter().collect();
        let variant: HashSet<_> = g.packages(4).into_iter().collect();
        let differ = variant.difference(&image).count();
        assert!((1..=6).contains(&differ), "{differ} packages differ");
    }

    #[test]
    fn prepared_inventories_are_the_ones_built_on_demand() {
        let prepared = generator(9, 800);
        prepared.prepare(0..200, true).expect("prepare");
        let fresh = generator(9, 800);
        for m in 0..200 {
            let i = prepared.inventory_of(m);
            assert!(prepared.hashes[i].get().is_some() && prepared.payloads[i].get().is_some());
            assert_eq!(
                prepared.hash(i).expect("hash"),
                fresh.hash(i).expect("hash")
            );
            assert_eq!(
                prepared.full_payload(i).expect("payload"),
                fresh.full_payload(i).expect("payload")
            );
        }
    }

    #[test]
    fn the_real_packages_come_first_and_derived_ones_are_plausible() {
        let g = generator(2, 1_500);
        let real = parse_dpkg_status(BOOKWORM_STATUS).expect("parses");
        let real: HashSet<_> = real.iter().map(|p| p.name.as_str()).collect();
        let packages = g.packages(0);
        let from_status = packages
            .iter()
            .filter(|p| real.contains(p.name.as_str()))
            .count();
        assert!(from_status > 700, "{from_status}");
        for p in packages.iter().filter(|p| !real.contains(p.name.as_str())) {
            assert!(
                DERIVED.iter().any(|(s, _)| p.name.ends_with(s)),
                "{}",
                p.name
            );
            assert!(!p.version.is_empty() && !p.source.is_empty());
        }
        let m = g.machine("sim-0000001", 1).expect("machine");
        assert_eq!(m.inventory, g.hash(g.inventory_of(1)).expect("hash"));
        assert_eq!(m.os.family, "debian");
        assert_eq!(m.os.version.as_deref(), Some("12"));
    }
}
