//! The reconcile engine against the scenarios in `tests/scenarios/`: each is a
//! small policy set, catalog, fleet and instant with the exact expected plan
//! (`expected.txt`, the text rendering of `plan::compute`). The README in that
//! directory says what each scenario shows and why its answer is right.
//!
//! A scenario directory holds:
//! - `policies/*.yaml`: the policy repository (must validate without errors);
//! - `catalog.json`: an array of advisories (the catalog model's JSON form);
//! - `fleet.json`: `now`, named inventories, machines (whose `inventory` names
//!   one of them) and reported `results`;
//! - `expected.txt`.
//!
//! `FIXPOINT_BLESS=1 cargo test --test plan_scenarios` rewrites `expected.txt`
//! for a new scenario; review every line of the result before committing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fixpoint_core::catalog::{Advisory, Catalog, Platform};
use fixpoint_core::fleet::{Fleet, InstallResult, InstalledPackage, Inventory, Machine};
use fixpoint_core::plan::{self, render};
use fixpoint_core::policy;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScenarioFleet {
    now: jiff::Timestamp,
    inventories: BTreeMap<String, ScenarioInventory>,
    machines: Vec<serde_json::Value>,
    #[serde(default)]
    results: Vec<InstallResult>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioInventory {
    platform: String,
    packages: Vec<InstalledPackage>,
}

struct Scenario {
    files: Vec<(String, Vec<u8>)>,
    catalog: Catalog,
    fleet: Fleet,
    now: jiff::Timestamp,
}

fn load(dir: &Path) -> Scenario {
    let mut files = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("policies"))
        .expect("policies/ exists")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for p in paths {
        let name = format!(
            "policies/{}",
            p.file_name().and_then(|n| n.to_str()).expect("utf-8 name")
        );
        files.push((name, std::fs::read(&p).expect("policy readable")));
    }
    let advisories: Vec<Advisory> = serde_json::from_slice(
        &std::fs::read(dir.join("catalog.json")).expect("catalog.json readable"),
    )
    .expect("catalog.json is an array of advisories");
    let catalog = Catalog::from_advisories(advisories);
    let spec: ScenarioFleet =
        serde_json::from_slice(&std::fs::read(dir.join("fleet.json")).expect("fleet.json"))
            .expect("fleet.json is a scenario fleet");
    let mut fleet = Fleet::new();
    let mut hashes = BTreeMap::new();
    for (name, inv) in spec.inventories {
        let inventory =
            Inventory::new(Platform(inv.platform), inv.packages).expect("valid inventory");
        hashes.insert(name, fleet.add_inventory(inventory));
    }
    for mut m in spec.machines {
        let name = m["inventory"].as_str().expect("inventory name").to_owned();
        m["inventory"] = serde_json::Value::String(
            hashes
                .get(&name)
                .unwrap_or_else(|| panic!("unknown inventory {name}"))
                .to_string(),
        );
        let machine: Machine = serde_json::from_value(m).expect("valid machine");
        fleet.add_machine(machine).expect("machine added");
    }
    for r in spec.results {
        fleet.add_result(r).expect("result added");
    }
    Scenario {
        files,
        catalog,
        fleet,
        now: spec.now,
    }
}

fn scenario_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/scenarios exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("fleet.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn render(dir: &Path) -> String {
    let s = load(dir);
    let inputs: Vec<(&str, &[u8])> = s
        .files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let checked = policy::check(inputs, s.now);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(
        errors.is_empty(),
        "{}: policy errors: {errors:#?}",
        dir.display()
    );
    let plan = plan::compute(&checked.set, &s.catalog, &s.fleet, s.now);
    render::text(&plan)
}

#[test]
fn every_scenario_plans_exactly_as_expected() {
    let dirs = scenario_dirs();
    assert!(
        dirs.len() >= 10,
        "expected the scenarios of tests/scenarios/README.md, found {dirs:?}"
    );
    let bless = std::env::var_os("FIXPOINT_BLESS").is_some();
    let mut failures = Vec::new();
    for dir in dirs {
        let actual = render(&dir);
        let path = dir.join("expected.txt");
        if bless {
            std::fs::write(&path, &actual).expect("expected.txt writable");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}: plan differs\n--- expected\n{expected}--- actual\n{actual}",
                dir.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_plan_is_the_same_whatever_the_order_of_reported_results() {
    for dir in scenario_dirs() {
        let s = load(&dir);
        let mut reversed = Fleet::new();
        for inv in s.fleet.inventories().values() {
            reversed.add_inventory((**inv).clone());
        }
        for m in s.fleet.machines() {
            reversed.add_machine(m.clone()).expect("machine");
        }
        let mut results: Vec<InstallResult> = s.fleet.results().cloned().collect();
        results.reverse();
        for r in results {
            reversed.add_result(r).expect("result");
        }
        let inputs: Vec<(&str, &[u8])> = s
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let checked = policy::check(inputs, s.now);
        let a = render::text(&plan::compute(&checked.set, &s.catalog, &s.fleet, s.now));
        let b = render::text(&plan::compute(&checked.set, &s.catalog, &reversed, s.now));
        assert_eq!(a, b, "{}", dir.display());
    }
}

#[test]
fn replanning_one_changed_machine_equals_planning_from_scratch() {
    let mut by_machine_only = 0;
    let mut whole_fleet = 0;
    for dir in scenario_dirs() {
        let s = load(&dir);
        let inputs: Vec<(&str, &[u8])> = s
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let checked = policy::check(inputs, s.now);
        let hashes: Vec<_> = s.fleet.inventories().keys().cloned().collect();
        for m in s.fleet.machines() {
            // Every other inventory of the scenario, and a new result.
            let mut changes: Vec<Fleet> = Vec::new();
            for h in hashes.iter().filter(|h| **h != m.inventory) {
                let mut changed = s.fleet.clone();
                let inventory = (**s.fleet.inventory(h).expect("stored")).clone();
                changed.set_inventory(&m.id, inventory).expect("machine");
                changes.push(changed);
            }
            let mut failed = s.fleet.clone();
            if let Some(p) = s.catalog.patches.keys().next() {
                failed
                    .add_result(InstallResult {
                        machine: m.id.clone(),
                        patch: p.clone(),
                        outcome: fixpoint_core::fleet::Outcome::Failed,
                        at: s.now,
                        error: Some("E: dpkg was interrupted".into()),
                    })
                    .expect("result");
                changes.push(failed);
            }
            for changed in changes {
                let mut planner = plan::Planner::new(&checked.set, &s.catalog);
                let mut incremental = planner.plan(&s.fleet, s.now);
                match planner.update(&mut incremental, &changed, &m.id) {
                    plan::Replanned::Machine => by_machine_only += 1,
                    plan::Replanned::Fleet => whole_fleet += 1,
                }
                let scratch = plan::compute(&checked.set, &s.catalog, &changed, s.now);
                assert_eq!(
                    render::text(&incremental),
                    render::text(&scratch),
                    "{}: machine {}",
                    dir.display(),
                    m.id
                );
            }
        }
    }
    // Both paths were exercised.
    assert!(
        by_machine_only >= 10,
        "{by_machine_only} machine-only replans"
    );
    assert!(whole_fleet >= 5, "{whole_fleet} whole-fleet replans");
}
