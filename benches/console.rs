//! The console at fleet scale: how long the server takes to render each page
//! for 100,000 machines, and to build the view a reconcile pass hands it.
//!
//! ```text
//! cargo bench --bench console
//! ```
//!
//! The fleet is the one `plan_applicability` plans (benches/support/fleet.rs):
//! the real bookworm-security suite, 2,000 distinct inventories of about
//! 1,500 packages derived from a real dpkg status, 100,000 machines sharing
//! them, the benchmark policy with canary, pilot and broad rings. Every
//! machine checked in within the last two hours, one in fifty six hours ago
//! (stale). Each page is timed from its query to the finished HTML: the page
//! model from the view (filtering, sorting, paging), then the template.
//! Target (the console issue): under 100 ms for every page at 100,000 machines.
//!
//! Under `cargo test --all-targets` (criterion's test mode, a debug build)
//! the fleet is 2,000 machines.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use fixpoint::console::view::{Activity, Inputs};
use fixpoint::console::{View, pages, templates};
use fixpoint_core::fleet::{Fleet, InventoryHash};
use fixpoint_core::plan::Planner;
use jiff::{SignedDuration, Timestamp};

#[path = "support/fleet.rs"]
#[allow(dead_code, reason = "the fleet module serves two benchmarks")]
mod fleet;
use fleet::*;

fn query(pairs: &[(&str, &str)]) -> pages::Query {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn render<T: serde::Serialize>(template: &str, view: &View, model: &T) -> String {
    templates::render(template, "bench", "", view, model).expect("the page renders")
}

fn main() {
    let scale = Scale::from_args();
    let now: Timestamp = "2026-11-25T12:00:00Z".parse().expect("instant");
    let started = Instant::now();
    let catalog = dated(&security_catalog(), now);
    let ingredients = Ingredients::new(&catalog);
    let mut fleet = Fleet::new();
    let hashes: Vec<InventoryHash> = inventories(&ingredients, scale.inventories)
        .into_iter()
        .map(|i| fleet.add_inventory(i))
        .collect();
    for (n, i) in machine_inventories(&hashes, scale.machines)
        .into_iter()
        .enumerate()
    {
        fleet
            .add_machine(machine(n, hashes[i].clone()))
            .expect("a valid machine");
    }
    let activity: HashMap<String, Activity> = fleet
        .machines()
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let ago = if n % 50 == 0 { 360 } else { (n % 120) as i64 };
            (
                m.id.clone(),
                Activity {
                    enrolled_at: now - SignedDuration::from_hours(24 * 60),
                    last_check_in: Some(now - SignedDuration::from_mins(ago)),
                },
            )
        })
        .collect();
    let policy = policy(now);
    let mut planner = Planner::new(&policy, &catalog);
    planner.evaluate_inventories(&fleet, 2);
    let plan = planner.plan(&fleet, now);
    println!(
        "fleet: {} machines, {} distinct inventories, planned in {:.1} s",
        fleet.machines().len(),
        fleet.inventories().len(),
        started.elapsed().as_secs_f64()
    );
    let inputs = Inputs {
        plan: &plan,
        policy: &policy,
        catalog: &catalog,
        fleet: &fleet,
        activity: &activity,
        interval: SignedDuration::from_mins(90),
        revision: "0123456789abcdef0123456789abcdef01234567",
        planner: &planner,
        directory: &[],
    };
    let built = Instant::now();
    let view = View::build(inputs);
    println!(
        "view: built in {:.0} ms; {} drift pairs, {} entries, {} patches; totals {:?}",
        built.elapsed().as_secs_f64() * 1000.0,
        view.totals.drift_pairs,
        view.entries.len(),
        view.patches.len(),
        view.totals,
    );
    let machine_id = view.machines[view.machines.len() / 2].id.clone();
    let busiest = view
        .patches
        .iter()
        .max_by_key(|p| p.counts.values().sum::<usize>())
        .map(|p| p.id.clone())
        .expect("a patch");
    let last_drift_page = view.totals.drift_pairs.div_ceil(100).max(1).to_string();

    let mut c = Criterion::default().configure_from_args().sample_size(20);
    let mut group = c.benchmark_group("console_page");
    group.bench_function("view_build", |b| b.iter(|| black_box(View::build(inputs))));
    group.bench_function("overview", |b| {
        b.iter(|| {
            let model = fixpoint::console::overview_page(
                &view,
                &fixpoint::server::Status::default(),
                Vec::new(),
                &HashMap::new(),
                now,
            );
            black_box(render("overview.html", &view, &model))
        });
    });
    for (name, q) in [
        ("drift", query(&[])),
        ("drift_last_page", query(&[("page", &last_drift_page)])),
        (
            "drift_sorted_by_machine",
            query(&[("sort", "machine"), ("page", "20")]),
        ),
        (
            "drift_filtered",
            query(&[
                ("ring", "default/broad"),
                ("state", "scheduled"),
                ("severity", "unrated"),
            ]),
        ),
        ("drift_search", query(&[("q", "web-0001")])),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let model = pages::drift(&view, &q).expect("a valid query");
                black_box(render("drift.html", &view, &model))
            });
        });
    }
    for (name, q) in [
        ("machines", query(&[])),
        (
            "machines_sorted_by_drift",
            query(&[("sort", "drift"), ("order", "desc")]),
        ),
        ("machines_stale", query(&[("stale", "yes")])),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let model = pages::machines(&view, &q).expect("a valid query");
                black_box(render("machines.html", &view, &model))
            });
        });
    }
    group.bench_function("machine", |b| {
        b.iter(|| {
            let model = pages::machine(&view, &machine_id).expect("a machine");
            black_box(render("machine.html", &view, &model))
        });
    });
    group.bench_function("patches", |b| {
        let q = query(&[]);
        b.iter(|| {
            let model = pages::patches(&view, &q).expect("a valid query");
            black_box(render("patches.html", &view, &model))
        });
    });
    group.bench_function("patch_most_machines", |b| {
        let q = query(&[]);
        let staged = |_: &str| Some(true);
        b.iter(|| {
            let model = pages::patch(&view, &busiest, &q, &staged)
                .expect("a valid query")
                .expect("the patch");
            black_box(render("patch.html", &view, &model))
        });
    });
    group.bench_function("rollouts", |b| {
        b.iter(|| {
            let model = serde_json::json!({ "rollouts": pages::rollouts(&view) });
            black_box(render("rollouts.html", &view, &model))
        });
    });
    group.bench_function("exclusions", |b| {
        b.iter(|| {
            let model = serde_json::json!({ "exclusions": pages::exclusions(&view) });
            black_box(render("exclusions.html", &view, &model))
        });
    });
    group.bench_function("reports", |b| {
        b.iter(|| {
            let model = pages::reports(&view, Vec::new());
            black_box(render("reports.html", &view, &model))
        });
    });
    // A chunk of the CSV download, deep in the list, as the streaming writer
    // asks for it.
    group.bench_function("drift_csv_chunk_of_5000", |b| {
        let q = query(&[]);
        b.iter(|| {
            let drift = pages::DriftQuery::new(&view, &q).expect("a valid query");
            let pairs = drift.pairs(drift.total / 2, 5_000);
            let mut w = csv::Writer::from_writer(Vec::new());
            for r in pages::drift_rows(&view, &pairs) {
                w.write_record(pages::pair_csv_record(&r)).expect("csv");
            }
            black_box(w.into_inner().expect("csv").len())
        });
    });
    group.finish();
    c.final_summary();
}
