//! The agent API under load: a real `fixpoint serve` (in-process, on a
//! loopback port, SQLite in a temporary directory) and real HTTP clients.
//!
//! ```text
//! cargo bench --bench agent_api
//! ```
//!
//! 1,000 agents enroll and send their full inventory once (the real dpkg
//! status of `tests/fixtures/dpkg/status-bookworm`, 765 packages, with one
//! package changed per agent so that every inventory is distinct); then:
//! - `check_in/unchanged`: one agent's check-in with only its inventory's
//!   hash, as every check-in after the first is, one request at a time;
//! - `check_in/unchanged_64_concurrent`: 64 such check-ins at once (throughput
//!   per check-in);
//! - `check_in/full_inventory`: a check-in that sends 765 packages, the
//!   server parsing, hashing and storing them.
//!
//! A fleet of 100,000 machines checking in every 90 minutes sends 18.5
//! check-ins a second on average: the figure to compare with.
//!
//! Under `cargo test --all-targets` (criterion's test mode) there are 20 agents.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fixpoint::server::{Config, StagingConfig};
use fixpoint::store::Store;
use fixpoint_core::fleet::parse_dpkg_status;
use serde_json::{Value, json};

const TOKEN: &str = "bench-token";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list")
        || !std::env::args().any(|a| a == "--bench")
}

struct Bench {
    base: String,
    client: reqwest::Client,
    /// Each agent's credential and its full inventory.
    agents: Vec<(String, Value)>,
    _dir: tempfile::TempDir,
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

fn facts(i: usize) -> Value {
    json!({"hostname": format!("web-{i}.corp.example"), "os": {"family": "debian", "version": "12"},
           "labels": {"role": "web"}})
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    credential: Option<&str>,
    body: &Value,
) -> Value {
    let mut r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(c) = credential {
        r = r.bearer_auth(c);
    }
    let response = r.send().await.expect("an answer");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let bytes = response.bytes().await.expect("a body");
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn setup(agents: usize) -> Bench {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in_data_dir(&dir.path().join("data"))
        .await
        .expect("store");
    let listen = free_port();
    let config = Config {
        listen,
        policies: root().join("policies"),
        git: None,
        fleet: None,
        reconcile_interval: Duration::from_secs(3600),
        enrollment_token: Some(fixpoint::server::Secret::Value(TOKEN.into())),
        staging: StagingConfig::default(),
        catalog_sync: false,
        webhook_secret: None,
        tls: None,
        max_agent_requests: 512,
        console: fixpoint::console::ConsoleAuth::default(),
    };
    tokio::spawn(async move {
        fixpoint::server::run(config, store, std::future::pending())
            .await
            .expect("the server runs");
    });
    let base = format!("http://{listen}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::fs::read(root().join("tests/fixtures/dpkg/status-bookworm"))
        .expect("the dpkg status fixture");
    let packages = parse_dpkg_status(&status).expect("a valid status");
    let mut enrolled = Vec::with_capacity(agents);
    for i in 0..agents {
        let answer = post(
            &client,
            &format!("{base}/api/v1/enroll"),
            None,
            &json!({"token": TOKEN, "facts": facts(i)}),
        )
        .await;
        let credential = answer["credential"]
            .as_str()
            .expect("credential")
            .to_owned();
        let mut list = serde_json::to_value(&packages).expect("packages serialize");
        // One package's version differs per agent: every inventory is distinct.
        list[0]["version"] = json!(format!("1.{i}"));
        let inventory = json!({"kind": "full", "platform": "debian:12", "packages": list});
        post(
            &client,
            &format!("{base}/api/v1/check-in"),
            Some(&credential),
            &json!({"facts": facts(i), "inventory": inventory}),
        )
        .await;
        enrolled.push((credential, inventory));
    }
    Bench {
        base,
        client,
        agents: enrolled,
        _dir: dir,
    }
}

/// The hash the server knows an agent's inventory by.
fn hash_of(inventory: &Value) -> String {
    let packages: Vec<fixpoint_core::fleet::InstalledPackage> =
        serde_json::from_value(inventory["packages"].clone()).expect("packages");
    let inventory = fixpoint_core::fleet::Inventory::new(
        fixpoint_core::catalog::Platform("debian:12".into()),
        packages,
    )
    .expect("valid");
    inventory.hash().to_string()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let agents = if test_mode() { 20 } else { 1_000 };
    let started = Instant::now();
    let bench = runtime.block_on(setup(agents));
    eprintln!(
        "agent_api: {agents} agents enrolled with a full inventory each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let unchanged: Vec<(String, Value)> = bench
        .agents
        .iter()
        .enumerate()
        .map(|(i, (credential, inventory))| {
            (
                credential.clone(),
                json!({"facts": facts(i), "inventory": {"kind": "unchanged", "hash": hash_of(inventory)}}),
            )
        })
        .collect();
    let url = format!("{}/api/v1/check-in", bench.base);

    let mut group = c.benchmark_group("check_in");
    group.sample_size(20);
    let mut next = 0usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function("unchanged", |b| {
        b.to_async(&runtime).iter(|| {
            next = (next + 1) % unchanged.len();
            let (credential, body) = &unchanged[next];
            let (client, url) = (&bench.client, &url);
            async move { black_box(post(client, url, Some(credential), body).await) }
        });
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("unchanged_64_concurrent", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (client, url, unchanged) = (bench.client.clone(), url.clone(), unchanged.clone());
            async move {
                let started = Instant::now();
                for round in 0..iterations {
                    let mut set = tokio::task::JoinSet::new();
                    for k in 0..64 {
                        let index =
                            (usize::try_from(round).unwrap_or(0) * 64 + k) % unchanged.len();
                        let (credential, body) = unchanged[index].clone();
                        let (client, url) = (client.clone(), url.clone());
                        set.spawn(
                            async move { post(&client, &url, Some(&credential), &body).await },
                        );
                    }
                    while let Some(done) = set.join_next().await {
                        black_box(done.expect("a check-in"));
                    }
                }
                started.elapsed()
            }
        });
    });
    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    group.bench_function("full_inventory", |b| {
        b.to_async(&runtime).iter(|| {
            next = (next + 1) % bench.agents.len();
            let (credential, inventory) = &bench.agents[next];
            let body = json!({"facts": facts(next), "inventory": inventory});
            let (client, url) = (&bench.client, &url);
            async move { black_box(post(client, url, Some(credential), &body).await) }
        });
    });
    group.finish();
}

criterion_group!(agent_api, benches);
criterion_main!(agent_api);
