//! `fixpoint simulate` against a real server: its agents enroll, check in and
//! are stored as the real agent's are; a herd past the server's request limit
//! is shed and still checks in; seeded machines authenticate; and the bare
//! endpoint that gives the ceiling answers.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use fixpoint::simulate::agents::{self, AgentRecord};
use fixpoint::simulate::inventory::{Generator, GeneratorConfig};
use fixpoint::store::Store;
use serde_json::{Value, json};

use crate::support::{Db, Serve, TOKEN, block_on, on_each_database, post};

/// Small inventories keep the tests quick; the seed and runs must agree on it.
const PACKAGES: &str = "300";

fn generator() -> Generator {
    Generator::bookworm(GeneratorConfig {
        packages: 300,
        ..GeneratorConfig::default()
    })
    .expect("the built-in dpkg status parses")
}

/// Runs `fixpoint simulate ARGS`: whether it exited 0, and what it printed.
fn simulate(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .arg("simulate")
        .args(args)
        .env_remove("FIXPOINT_DATABASE_URL")
        .env_remove("FIXPOINT_DATA_DIR")
        .env_remove("FIXPOINT_ENROLLMENT_TOKEN")
        .env_remove("FIXPOINT_FORMAT")
        .stderr(Stdio::inherit())
        .output()
        .expect("fixpoint simulate runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("utf-8"),
    )
}

/// `fixpoint simulate run ARGS --format json`: the runs, once it exited 0.
fn run(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["run", "--format", "json", "--full-packages", PACKAGES];
    all.extend_from_slice(args);
    let (ok, out) = simulate(&all);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(ok, "the run failed: {report:#}");
    assert!(
        report["simulatorPeakRssBytes"].as_u64() > Some(0),
        "{report:#}"
    );
    report["runs"].as_array().expect("runs").clone()
}

/// `fixpoint simulate seed` of `machines` into `db` (the server's data directory for SQLite).
fn seed(db: &Db, data_dir: &Path, machines: u64, agents: &Path) {
    let machines = machines.to_string();
    let mut args = vec![
        "seed".to_owned(),
        "--machines".to_owned(),
        machines.clone(),
        "--full-packages".to_owned(),
        PACKAGES.to_owned(),
        "--agents".to_owned(),
        agents.display().to_string(),
    ];
    match db {
        Db::Sqlite => args.extend(["--data-dir".to_owned(), data_dir.display().to_string()]),
        Db::Postgres(url) => args.extend(["--database-url".to_owned(), url.clone()]),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = simulate(&args);
    assert!(ok, "seeding failed: {out}");
    assert!(
        out.starts_with(&format!("seeded {machines} machines")),
        "{out}"
    );
}

/// Every request of a run is an ok, a shed or a failure, and none failed.
fn assert_adds_up(run: &Value, ok: u64) {
    let n = |k: &str| run[k].as_u64().unwrap_or_else(|| panic!("{k} in {run:#}"));
    assert_eq!(n("ok"), ok, "{run:#}");
    assert_eq!(n("failed"), 0, "{run:#}");
    assert_eq!(n("requests"), n("ok") + n("shed") + n("failed"), "{run:#}");
    assert_eq!(run["latencyMs"]["count"], ok, "{run:#}");
    assert!(run["throughput"].as_f64() > Some(0.0), "{run:#}");
}

/// What the server stored of each agent: its machine's inventory hash and host name.
fn stored(store: &Store) -> Vec<(String, String, String)> {
    block_on(async {
        let fleet = store.fleet().await.expect("the fleet loads");
        fleet
            .machines()
            .iter()
            .map(|m| (m.id.clone(), m.inventory.to_string(), m.hostname.clone()))
            .collect()
    })
}

/// Asserts the server stored, for each agent, the facts and inventory its
/// machine number gives.
fn assert_stored_as_sent(store: &Store, agents: &[AgentRecord]) {
    let g = generator();
    let stored = stored(store);
    assert_eq!(stored.len(), agents.len());
    for a in agents {
        let (_, hash, hostname) = stored
            .iter()
            .find(|(id, _, _)| *id == a.id)
            .unwrap_or_else(|| panic!("agent {} is not stored", a.id));
        let sent = g.hash(g.inventory_of(a.machine)).expect("hash");
        assert_eq!(hash, sent.as_str(), "agent {}", a.id);
        assert_eq!(*hostname, g.facts(a.machine).hostname, "agent {}", a.id);
    }
}

#[test]
fn fifty_agents_enroll_check_in_and_are_stored_as_they_reported() {
    let serve = Serve::new().snapshot(false).enrollment();
    let data = serve.data_dir();
    let s = serve.start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agents.jsonl");
    let url = s.url("");
    let pid = s.pid().to_string();
    // Reports: of the results of the instructions the check-ins received (the
    // policy gives these machines none: empty reports, authenticated and stored).
    let runs = run(&[
        "--server",
        &url,
        "--enrollment-token",
        TOKEN,
        "--agents",
        file.to_str().expect("utf-8 path"),
        "--machines",
        "50",
        "--scenario",
        "enroll,full,unchanged,report",
        "--concurrency",
        "8",
        "--server-pid",
        &pid,
    ]);
    let scenarios: Vec<&str> = runs
        .iter()
        .map(|r| r["scenario"].as_str().expect("name"))
        .collect();
    assert_eq!(scenarios, ["enroll", "full", "unchanged", "report"]);
    for r in &runs {
        assert_adds_up(r, 50);
        assert_eq!(r["shed"], 0, "{r:#}");
        assert_eq!(r["inventoryNeeded"], 0, "{r:#}");
        assert_eq!(r["target"], "fixpoint");
        let memory = &r["serverMemory"][0];
        assert_eq!(memory["pid"].as_u64(), Some(u64::from(s.pid())), "{r:#}");
        assert_eq!(memory["readable"], true, "{r:#}");
        assert!(memory["peakRssBytes"].as_u64() > Some(1 << 20), "{r:#}");
    }

    let agents = agents::read(&file).expect("the agents file");
    assert_eq!(agents.len(), 50);
    let machines: Vec<u64> = agents.iter().map(|a| a.machine).collect();
    assert_eq!(machines, (0..50).collect::<Vec<_>>());
    let store = block_on(Store::open_in_data_dir(&data)).expect("the server's store opens");
    assert_stored_as_sent(&store, &agents);
    block_on(store.close());

    // A second run enrolls nobody more: the file holds the fleet already.
    let runs = run(&[
        "--server",
        &url,
        "--enrollment-token",
        TOKEN,
        "--agents",
        file.to_str().expect("utf-8 path"),
        "--machines",
        "50",
        "--scenario",
        "enroll,unchanged",
        "--rate",
        "200",
        "--requests",
        "100",
    ]);
    assert_eq!(runs[0]["requests"], 0);
    assert_adds_up(&runs[1], 100);
    assert_eq!(runs[1]["pace"], "open loop 200/s");
    assert!(runs[1]["seconds"].as_f64() >= Some(0.45), "{:#}", runs[1]);
    assert_eq!(agents::read(&file).expect("the agents file").len(), 50);
}

#[test]
fn seeded_machines_authenticate_and_check_in_with_the_inventories_seeded() {
    on_each_database(|db| {
        let serve = Serve::new().snapshot(false).database(&db);
        let data = serve.data_dir();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("agents.jsonl");
        seed(&db, &data, 1_000, &file);
        let agents = agents::read(&file).expect("the agents file");
        assert_eq!(agents.len(), 1_000);
        let s = serve.start();
        let runs = run(&[
            "--server",
            &s.url(""),
            "--agents",
            file.to_str().expect("utf-8 path"),
            "--scenario",
            "unchanged",
            "--concurrency",
            "16",
            "--baseline",
        ]);
        assert_eq!(runs[0]["target"], "bare");
        assert_adds_up(&runs[0], 1_000);
        assert_eq!(runs[1]["target"], "fixpoint");
        // Every seeded agent authenticated, and the server knew its inventory.
        assert_adds_up(&runs[1], 1_000);
        assert_eq!(runs[1]["inventoryNeeded"], 0, "{:#}", runs[1]);
        let ratio = runs[1]["ratioToBaseline"].as_f64().expect("a ratio");
        let expected = runs[1]["throughput"].as_f64().expect("throughput")
            / runs[0]["throughput"].as_f64().expect("throughput");
        assert!((ratio - expected).abs() < 1e-9, "{ratio} {expected}");

        let store = match &db {
            Db::Sqlite => block_on(Store::open_in_data_dir(&data)),
            Db::Postgres(url) => block_on(Store::open(url)),
        }
        .expect("the server's store opens");
        assert_stored_as_sent(&store, &agents);
        block_on(store.close());
    });
}

#[test]
fn a_herd_past_the_request_limit_is_shed_and_every_agent_still_checks_in() {
    let serve = Serve::new()
        .snapshot(false)
        .args(&["--max-agent-requests", "1"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agents.jsonl");
    seed(&Db::Sqlite, &serve.data_dir(), 1_000, &file);
    let s = serve.start();
    // All at once, on as many connections: the server handles one at a time and
    // sheds what waits longer than its queue allows.
    let runs = run(&[
        "--server",
        &s.url(""),
        "--agents",
        file.to_str().expect("utf-8 path"),
        "--scenario",
        "herd",
        "--herd-window",
        "0s",
        "--concurrency",
        "1000",
        "--max-backoff",
        "200ms",
        "--herd-deadline",
        "90s",
    ]);
    let herd = &runs[0];
    assert_adds_up(herd, 1_000);
    let shed = herd["shed"].as_u64().expect("shed");
    assert!(shed > 0, "nothing was shed: {herd:#}");
    assert_eq!(herd["retries"].as_u64(), Some(shed), "{herd:#}");
    assert_eq!(herd["herd"]["agents"], 1_000, "{herd:#}");
    assert_eq!(herd["herd"]["succeeded"], 1_000, "{herd:#}");
    assert_eq!(herd["herd"]["failed"], 0, "{herd:#}");
    assert_eq!(
        s.metric("fixpoint_requests_shed_total"),
        Some(shed as f64),
        "the server counted what the simulator saw"
    );
}

#[test]
fn the_bare_endpoint_parses_a_check_in_and_answers_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(["simulate", "bare-server", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the bare endpoint starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a first line");
    let base = line
        .trim()
        .strip_prefix("fixpoint: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let url = format!("{base}/api/v1/check-in");
    let check_in = json!({
        "facts": {"hostname": "web-1.corp.example", "os": {"family": "debian", "version": "12"}},
        "inventory": {"kind": "unchanged", "hash": "0".repeat(64)},
    });
    let (code, _, body) = post(&url, None, check_in.to_string()).expect("an answer");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["inventoryNeeded"], false);
    assert_eq!(body["instructions"]["items"], json!([]));
    let (code, _, _) = post(&url, None, "{\"facts\": 1}".to_owned()).expect("an answer");
    assert!((400..500).contains(&code), "{code}");
    let _ = child.kill();
    let _ = child.wait();
}
