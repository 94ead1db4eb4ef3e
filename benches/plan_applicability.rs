//! Applicability for a large fleet: speed and memory, on the real
//! bookworm-security index and inventories derived from a real dpkg status.
//!
//! ```text
//! cargo bench --bench plan_applicability
//! ```
//!
//! The catalog is the real security suite (`tests/fixtures/apt`, 417 patches,
//! 3,028 binaries). 2,000 distinct inventories of about 1,500 packages each are
//! derived, with a seeded xorshift, from the real dpkg status
//! (`tests/fixtures/dpkg/status-bookworm`, 765 packages), binaries of the
//! security suite at their fixed or at an older version, and synthetic packages
//! that no patch names; 100,000 machines with realistic facts share them.
//!
//! Timed:
//! - the whole fleet: `ApplicabilityIndex::new` once, `applicable_patches` once
//!   per *distinct* inventory (one thread, and all cores), and each machine
//!   mapped to its inventory's result;
//! - one machine's new inventory: normalise and hash it, evaluate it (or find
//!   its hash already evaluated), and update that machine's entry;
//! - `ApplicabilityIndex::new` alone;
//! - the full plan (`Planner`: approval, releases, rings and gates, windows,
//!   deadlines, exclusions, compliance) for every machine, cold and with every
//!   inventory already evaluated;
//! - `Planner::update` after one machine's inventory changes, with and without
//!   hashing the new inventory.
//!
//! Before the timed runs it prints the peak resident memory after building the
//! fleet (`VmHWM` from /proc) and the memory per machine beyond the shared
//! inventories: the growth of `VmRSS` while 100,000 machines that refer to
//! already-built inventories are added, divided by their number. Targets (the
//! reconcile engine issue): full plan under 1 s on 2 cores, incremental under
//! 100 µs, under 2 KB per machine beyond the shared inventories.
//!
//! Under `cargo test --all-targets` (criterion's test mode, a debug build) the
//! fleet is smaller: 200 inventories and 2,000 machines.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use fixpoint_core::catalog::{Catalog, PackageKind};
use fixpoint_core::fleet::{
    Fleet, InstallResult, InstalledPackage, Inventory, InventoryHash, Machine, Outcome,
};
use fixpoint_core::plan::{ApplicabilityIndex, Applicable, Planner};

#[path = "support/fleet.rs"]
mod fleet;
use fleet::*;

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Applicability results per distinct inventory, and each machine's.
#[derive(Debug, Default)]
struct FleetApplicability {
    by_inventory: HashMap<InventoryHash, Arc<[Applicable]>>,
    /// Indexed like `Fleet::machines()`.
    by_machine: Vec<Arc<[Applicable]>>,
}

impl FleetApplicability {
    /// Evaluates every distinct inventory on `threads` threads, then maps
    /// machines to their inventory's result.
    fn compute(index: &ApplicabilityIndex<'_>, fleet: &Fleet, threads: usize) -> Self {
        let inventories: Vec<&Arc<Inventory>> = fleet.inventories().values().collect();
        let chunk = inventories.len().div_ceil(threads.max(1)).max(1);
        let by_inventory: HashMap<InventoryHash, Arc<[Applicable]>> = std::thread::scope(|s| {
            let workers: Vec<_> = inventories
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|inv| (inv.hash().clone(), index.applicable_patches(inv).into()))
                            .collect::<Vec<(InventoryHash, Arc<[Applicable]>)>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a worker does not panic"))
                .collect()
        });
        let by_machine = fleet
            .machines()
            .iter()
            .map(|m| Arc::clone(&by_inventory[&m.inventory]))
            .collect();
        FleetApplicability {
            by_inventory,
            by_machine,
        }
    }

    /// Machine `position` now has these packages: normalise and hash them,
    /// evaluate them unless that inventory was evaluated before, and point the
    /// machine at the result. Returns the hash. (`Fleet` has no call yet to
    /// move a machine to another inventory; storing the inventory is
    /// `Fleet::add_inventory`, an insert into a map, and left out.)
    fn update(
        &mut self,
        index: &ApplicabilityIndex<'_>,
        position: usize,
        packages: Vec<InstalledPackage>,
    ) -> InventoryHash {
        let inventory = Inventory::new(debian_12(), packages).expect("a valid inventory");
        let result = match self.by_inventory.get(inventory.hash()) {
            Some(known) => Arc::clone(known),
            None => {
                let result: Arc<[Applicable]> = index.applicable_patches(&inventory).into();
                self.by_inventory
                    .insert(inventory.hash().clone(), Arc::clone(&result));
                result
            }
        };
        self.by_machine[position] = result;
        inventory.hash().clone()
    }
}

/// The catalog, inventories and fleet, built once; memory reported on the way.
#[derive(Debug)]
struct World {
    catalog: Catalog,
    ingredients: Ingredients,
    fleet: Fleet,
}

fn build_world(scale: Scale) -> World {
    let started = Instant::now();
    let catalog = security_catalog();
    let binaries = catalog
        .patches
        .values()
        .flat_map(|p| &p.fixes)
        .filter(|f| f.kind == PackageKind::Binary)
        .count();
    let ingredients = Ingredients::new(&catalog);
    let inventories = inventories(&ingredients, scale.inventories);
    let sizes: Vec<usize> = inventories.iter().map(Inventory::len).collect();
    let mut fleet = Fleet::new();
    let hashes: Vec<InventoryHash> = inventories
        .into_iter()
        .map(|i| fleet.add_inventory(i))
        .collect();
    let assignment = machine_inventories(&hashes, scale.machines);
    let built_inventories = started.elapsed();
    let rss_before = rss_kib("VmRSS:");
    let adding = Instant::now();
    // The machine's copy of its inventory's hash is allocated here, so that it
    // counts in the memory per machine.
    for (n, &i) in assignment.iter().enumerate() {
        let hash = hashes[i].clone();
        fleet
            .add_machine(machine(n, hash))
            .expect("a valid machine");
    }
    let added = adding.elapsed();
    let rss_after = rss_kib("VmRSS:");
    println!(
        "catalog: {} patches, {binaries} binary fixes; {} distinct inventories of {}–{} packages (mean {}) in {:.1} s",
        catalog.patches.len(),
        fleet.inventories().len(),
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
        sizes.iter().sum::<usize>() / sizes.len().max(1),
        built_inventories.as_secs_f64(),
    );
    println!(
        "fleet: {} machines added in {:.1} s; peak RSS (VmHWM) {} KiB; RSS {} KiB before the machines, {} KiB after: {} bytes per machine beyond the shared inventories (size_of::<Machine>() = {})",
        fleet.machines().len(),
        added.as_secs_f64(),
        rss_kib("VmHWM:"),
        rss_before,
        rss_after,
        (rss_after.saturating_sub(rss_before) * 1024) / scale.machines as u64,
        std::mem::size_of::<Machine>(),
    );
    World {
        catalog,
        ingredients,
        fleet,
    }
}

/// Criterion's groups, on a world built beforehand (not `criterion_group!`:
/// the fleet is built once, before the timed runs, so its memory can be
/// reported).
fn benches(c: &mut Criterion, world: &World) {
    let World {
        catalog,
        ingredients,
        fleet,
    } = world;
    let index = ApplicabilityIndex::new(catalog);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut state = FleetApplicability::compute(&index, fleet, cores);
    let missing: usize = state
        .by_machine
        .iter()
        .map(|r| r.iter().filter(|a| a.is_missing()).count())
        .sum();
    println!(
        "applicability: {} patch results over {} machines, {} of them missing",
        state.by_machine.iter().map(|r| r.len()).sum::<usize>(),
        state.by_machine.len(),
        missing,
    );

    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    for threads in [1, cores] {
        group.bench_function(
            format!(
                "index the catalog, evaluate {} distinct inventories, map {} machines ({threads} thread{})",
                fleet.inventories().len(),
                fleet.machines().len(),
                if threads == 1 { "" } else { "s" },
            ),
            |b| {
                b.iter(|| {
                    let index = ApplicabilityIndex::new(catalog);
                    black_box(FleetApplicability::compute(&index, fleet, threads))
                })
            },
        );
        if cores == 1 {
            break;
        }
    }
    group.finish();

    let mut group = c.benchmark_group("one machine's inventory changes");
    let known = fleet.machines()[1].inventory.clone();
    let known_packages = fleet.inventory(&known).expect("stored").packages().to_vec();
    group.bench_function(
        "to an inventory already evaluated: hash, look up, update",
        |b| {
            b.iter_batched(
                || known_packages.clone(),
                |packages| state.update(&index, 0, packages),
                BatchSize::SmallInput,
            )
        },
    );
    // Where the time goes: the two steps on their own.
    group.bench_function("its parts: Inventory::new (normalise, sort, hash)", |b| {
        b.iter_batched(
            || known_packages.clone(),
            |packages| black_box(Inventory::new(debian_12(), packages)),
            BatchSize::SmallInput,
        )
    });
    let known_inventory = fleet.inventory(&known).expect("stored");
    group.bench_function("its parts: applicable_patches for one inventory", |b| {
        b.iter(|| black_box(index.applicable_patches(known_inventory)))
    });
    // Inventories no machine of the fleet has; each is forgotten after its
    // iteration, so that every iteration evaluates a new one.
    let fresh: Vec<Vec<InstalledPackage>> = (1..=32)
        .map(|n| ingredients.packages(1_000_000 + n))
        .collect();
    group.bench_function("to a new inventory: hash, evaluate, update", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let packages = fresh[i as usize % fresh.len()].clone();
                let started = Instant::now();
                let hash = state.update(&index, 0, packages);
                total += started.elapsed();
                state.by_inventory.remove(&hash);
            }
            total
        })
    });
    group.finish();

    c.bench_function("ApplicabilityIndex::new (417 patches)", |b| {
        b.iter(|| black_box(ApplicabilityIndex::new(catalog)))
    });

    full_plan(c, catalog, fleet, cores);
}

/// The whole reconcile: `plan::compute` for every machine, and the memory a
/// plan takes per machine.
fn full_plan(c: &mut Criterion, catalog: &Catalog, fleet: &Fleet, cores: usize) {
    let now: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().expect("instant");
    let catalog = &dated(catalog, now);
    let policy = policy(now);
    let mut planner = Planner::new(&policy, catalog);
    planner.evaluate_inventories(fleet, cores);
    let rss_before = rss_kib("VmRSS:");
    let plan = planner.plan(fleet, now);
    let rss_after = rss_kib("VmRSS:");
    let states: usize = plan.machines.iter().map(|m| m.patches.len()).sum();
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for p in plan.machines.iter().flat_map(|m| m.patches.iter()) {
        *by_state.entry(p.state.name()).or_default() += 1;
    }
    let distinct: HashSet<*const fixpoint_core::plan::PatchPlan<'_>> =
        plan.machines.iter().map(|m| m.patches.as_ptr()).collect();
    println!(
        "plan: states by kind {by_state:?}; {} distinct state lists; size_of PatchPlan {} bytes, MachinePlan {} bytes",
        distinct.len(),
        std::mem::size_of::<fixpoint_core::plan::PatchPlan<'_>>(),
        std::mem::size_of::<fixpoint_core::plan::MachinePlan<'_>>(),
    );
    let scheduled = by_state.get("scheduled").copied().unwrap_or(0);
    println!(
        "plan: {} machines, {} machine-patch states ({} scheduled), {} compliant; RSS {} KiB before the plan, {} KiB after: {} bytes per machine",
        plan.machines.len(),
        states,
        scheduled,
        plan.compliance.machines.compliant,
        rss_before,
        rss_after,
        (rss_after.saturating_sub(rss_before) * 1024) / plan.machines.len().max(1) as u64,
    );
    // The same fleet with reports, as a running server has them: a third of
    // the machines report a success for one patch they miss, one in fifty a
    // failure.
    let mut reported = fleet.clone();
    let day = jiff::SignedDuration::from_hours(24);
    for (n, m) in plan.machines.iter().enumerate() {
        let Some(p) = m.patches.iter().find(|p| p.state.is_required()) else {
            continue;
        };
        let outcome = if n % 50 == 0 {
            Some(Outcome::Failed)
        } else if n % 3 == 0 {
            Some(Outcome::Succeeded)
        } else {
            None
        };
        if let Some(outcome) = outcome {
            reported
                .add_result(InstallResult {
                    machine: m.machine.clone(),
                    patch: p.patch.clone(),
                    outcome,
                    at: now - day * 2,
                    error: (outcome == Outcome::Failed)
                        .then(|| "dpkg returned an error code (1)".to_owned()),
                })
                .expect("a machine of the fleet");
        }
    }
    let results = reported.results().count();
    let with_reports = planner.plan(&reported, now);
    println!(
        "plan with {results} reports: {} compliant; rings {:?}",
        with_reports.compliance.machines.compliant,
        with_reports
            .rollouts
            .iter()
            .flat_map(|r| r.rings.iter().map(|g| (g.name, g.release, g.failing)))
            .collect::<Vec<_>>()
    );
    drop(with_reports);
    drop(plan);
    let mut group = c.benchmark_group("full plan");
    group.sample_size(10);
    group.bench_function(
        format!(
            "index, evaluate every inventory ({cores} thread{}), plan {} machines",
            if cores == 1 { "" } else { "s" },
            fleet.machines().len()
        ),
        |b| {
            b.iter(|| {
                let mut planner = Planner::new(&policy, catalog);
                planner.evaluate_inventories(fleet, cores);
                black_box(planner.plan(fleet, now).machines.len())
            })
        },
    );
    group.bench_function(
        "replan the whole fleet, every inventory already evaluated",
        |b| b.iter(|| black_box(planner.plan(fleet, now).machines.len())),
    );
    group.bench_function(
        "replan the whole fleet with reports from a third of the machines",
        |b| b.iter(|| black_box(planner.plan(&reported, now).machines.len())),
    );
    group.finish();

    // One machine of the last ring (it feeds no gate) changes to another
    // inventory the fleet already has, and back: `Planner::update` on a
    // plan of the whole fleet.
    let mut plan = planner.plan(fleet, now);
    let target = plan
        .machines
        .iter()
        .position(|m| m.ring == Some("broad"))
        .expect("a broad machine");
    let id = fleet.machines()[target].id.clone();
    let here = fleet.machines()[target].inventory.clone();
    let other = fleet
        .inventories()
        .keys()
        .find(|h| **h != here)
        .expect("two inventories")
        .clone();
    let mut changed = fleet.clone();
    let inventory = (**fleet.inventory(&other).expect("stored")).clone();
    changed.set_inventory(&id, inventory).expect("machine");
    let fleets = [&changed, fleet];
    let mut outcomes = BTreeMap::new();
    for (n, f) in fleets.iter().cycle().take(20).enumerate() {
        let outcome = planner.update(&mut plan, f, &id);
        if n >= 2 {
            *outcomes.entry(format!("{outcome:?}")).or_insert(0) += 1;
        }
    }
    println!("update of {id}: {outcomes:?} (Machine: only it was recomputed)");
    let mut group = c.benchmark_group("one machine's inventory changes, full plan");
    let mut flip = 0usize;
    group.bench_function(
        "Planner::update: that machine's plan and the fleet's compliance, inventory already hashed and evaluated",
        |b| {
            b.iter(|| {
                flip += 1;
                black_box(planner.update(&mut plan, fleets[flip % 2], &id))
            })
        },
    );
    let sets = [
        fleet.inventory(&other).expect("stored").packages().to_vec(),
        fleet.inventory(&here).expect("stored").packages().to_vec(),
    ];
    let mut mutable = fleet.clone();
    let turn = std::cell::Cell::new(0usize);
    group.bench_function(
        "hash the new inventory (Inventory::new), store it, Planner::update",
        |b| {
            b.iter_batched(
                || {
                    turn.set(turn.get() + 1);
                    sets[turn.get() % 2].clone()
                },
                |packages| {
                    let inventory = Inventory::new(debian_12(), packages).expect("valid");
                    mutable.set_inventory(&id, inventory).expect("machine");
                    black_box(planner.update(&mut plan, &mutable, &id))
                },
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
}

fn main() {
    let scale = Scale::from_args();
    let world = build_world(scale);
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &world);
    criterion.final_summary();
}
