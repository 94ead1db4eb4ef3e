//! Catalog import speed and memory, on the real bookworm-security index and the
//! whole advisory corpus, through the real code paths (HTTP on loopback, the
//! parsers, SQLite).
//!
//! ```text
//! cargo bench --bench catalog_import
//! ```
//!
//! Before the timed runs it performs one full import in a fresh process and
//! prints the peak resident memory it took (`VmHWM` from /proc). Targets (the
//! catalog issue): a full import of a distribution's security suite under 2 s,
//! a no-change re-sync (HTTP 304 everywhere) under 100 ms.

#[path = "../tests/support/feed_server.rs"]
mod feed_server;

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use feed_server::FeedServer;
use fixpoint::store::Store;
use fixpoint::sync::{self, FetchPolicy, Fetcher, Outcome, SyncOptions};
use fixpoint_core::catalog::{apt, csaf, cvrf, osv};
use fixpoint_core::policy::{
    CatalogSettings, CatalogSource, CatalogSourceKind, Duration, SettingsSpec,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now() -> jiff::Timestamp {
    "2026-11-25T12:00:00Z".parse().expect("instant")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).expect("fixture")
}

fn corpus_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{FIXTURES}/corpus/{dir}"))
        .expect("corpus dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

/// The mirror and feeds: the security suite (uncompressed index, as the
/// Release lists it), every OSV record in one zip, every CSAF and CVRF document.
async fn serve_everything() -> (FeedServer, SettingsSpec) {
    let server = FeedServer::start().await;
    let inrelease = read("apt/bookworm-security/InRelease");
    let keyring = read("apt/debian-archive-keyring.gpg");
    let release = apt::verify_inrelease(
        &inrelease,
        &keyring,
        now(),
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
    server.put(
        "debian-security/dists/bookworm-security/InRelease",
        inrelease,
    );
    server.put(
        "debian-security/dists/bookworm-security/main/binary-amd64/Packages",
        index,
    );

    let mut sources = vec![CatalogSource {
        name: "debian-security".into(),
        kind: CatalogSourceKind::Apt,
        url: Some(server.url("debian-security")),
        sources_file: None,
        suites: vec!["bookworm-security".into()],
        components: Vec::new(),
        architectures: Vec::new(),
        keyring: Some(format!("{FIXTURES}/apt/debian-archive-keyring.gpg")),
        interval: Duration::from_secs(3600),
    }];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in corpus_files("osv") {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("zip");
        zip.write_all(&bytes).expect("zip");
    }
    server.put("osv/all.zip", zip.finish().expect("zip").into_inner());
    sources.push(feed(&server, "osv", CatalogSourceKind::Osv, "osv/all.zip"));
    for (dir, kind) in [
        ("csaf", CatalogSourceKind::Csaf),
        ("cvrf", CatalogSourceKind::Cvrf),
    ] {
        for (name, bytes) in corpus_files(dir) {
            let path = format!("{dir}/{name}");
            server.put(&path, bytes);
            sources.push(feed(&server, &format!("{dir}-{name}"), kind, &path));
        }
    }
    let settings = SettingsSpec {
        catalog: CatalogSettings { sources },
        ..SettingsSpec::default()
    };
    (server, settings)
}

fn feed(server: &FeedServer, name: &str, kind: CatalogSourceKind, path: &str) -> CatalogSource {
    CatalogSource {
        name: name.replace('.', "-"),
        kind,
        url: Some(server.url(path)),
        sources_file: None,
        suites: Vec::new(),
        components: Vec::new(),
        architectures: Vec::new(),
        keyring: None,
        interval: Duration::from_secs(3600),
    }
}

async fn fresh_store(tag: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("fixpoint-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Store::open_in_data_dir(&dir).await.expect("store")
}

async fn sync_everything(
    settings: &SettingsSpec,
    store: &Store,
    fetcher: &Fetcher,
) -> Vec<sync::SourceReport> {
    sync::sync_all(
        settings,
        store,
        fetcher,
        &SyncOptions::default(),
        now(),
        |_| {},
    )
    .await
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One full import in this fresh process: its wall time and peak memory.
fn report_first_import(rt: &tokio::runtime::Runtime) {
    let before = peak_rss_kib();
    let started = Instant::now();
    rt.block_on(async {
        let (_server, settings) = serve_everything().await;
        let store = fresh_store("first").await;
        let fetcher = Fetcher::new(None, FetchPolicy::default()).expect("client");
        let reports = sync_everything(&settings, &store, &fetcher).await;
        let failed: Vec<_> = reports.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).collect();
        assert!(failed.is_empty(), "{failed:?}");
        println!(
            "first full import: {} sources, {} patches in {:.0} ms; peak RSS {} KiB (process start {} KiB)",
            reports.len(),
            store.patch_count().await.expect("count"),
            started.elapsed().as_secs_f64() * 1000.0,
            peak_rss_kib().unwrap_or(0),
            before.unwrap_or(0),
        );
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let inrelease = read("apt/bookworm-security/InRelease");
    let keyring = read("apt/debian-archive-keyring.gpg");
    let lz4 = read("apt/bookworm-security/main/binary-amd64/Packages.lz4");
    c.bench_function(
        "apt: verify InRelease, check and decompress the index, parse, build advisories",
        |b| {
            b.iter(|| {
                let release = apt::verify_inrelease(
                    &inrelease,
                    &keyring,
                    now(),
                    apt::FreshnessPolicy::IgnoreValidUntil,
                    None,
                )
                .expect("verifies");
                let index =
                    apt::verify_and_decompress(&release, "main/binary-amd64/Packages.lz4", &lz4)
                        .expect("index");
                let packages = apt::parse_packages(&index).expect("parses");
                let repo = apt::Repository {
                    name: "debian-security",
                    base_uri: "http://mirror.invalid/debian-security",
                };
                black_box(apt::advisories(&release, &repo, &packages))
            })
        },
    );

    let csaf_docs = corpus_files("csaf");
    let cvrf_docs = corpus_files("cvrf");
    let osv_docs = corpus_files("osv");
    c.bench_function("corpus: parse every CSAF, CVRF and OSV document", |b| {
        b.iter(|| {
            let mut n = 0;
            for (_, d) in &csaf_docs {
                n += csaf::parse(d, "csaf").map(|a| a.len()).unwrap_or(0);
            }
            for (_, d) in &cvrf_docs {
                n += cvrf::parse(d, "cvrf").map(|a| a.len()).unwrap_or(0);
            }
            for (_, d) in &osv_docs {
                n += osv::parse(d, "osv").map(|a| a.len()).unwrap_or(0);
            }
            black_box(n)
        })
    });

    let (server, settings) = rt.block_on(serve_everything());
    let fetcher = Fetcher::new(None, FetchPolicy::default()).expect("client");
    let only_apt = SettingsSpec {
        catalog: CatalogSettings {
            sources: settings.catalog.sources[..1].to_vec(),
        },
        ..SettingsSpec::default()
    };
    let mut group = c.benchmark_group("sync");
    group.sample_size(10);
    group.bench_function(
        "full import of bookworm-security into a fresh SQLite store (HTTP on loopback)",
        |b| {
            // Each iteration imports into a fresh database; only the sync is timed.
            b.to_async(&rt).iter_custom(|iters| {
                let settings = only_apt.clone();
                let fetcher = fetcher.clone();
                async move {
                    let mut total = std::time::Duration::ZERO;
                    for i in 0..iters {
                        let store = fresh_store(&format!("apt-{i}")).await;
                        let started = Instant::now();
                        let reports = sync_everything(&settings, &store, &fetcher).await;
                        total += started.elapsed();
                        assert!(
                            matches!(reports[0].outcome, Outcome::Imported { .. }),
                            "{reports:?}"
                        );
                        store.close().await;
                    }
                    total
                }
            })
        },
    );
    let store = rt.block_on(async {
        let store = fresh_store("resync").await;
        sync_everything(&settings, &store, &fetcher).await;
        store
    });
    group.bench_function(
        "no-change re-sync of every source (HTTP 304 everywhere)",
        |b| {
            b.to_async(&rt).iter(|| async {
                let reports = sync_everything(&settings, &store, &fetcher).await;
                assert!(
                    reports.iter().all(|r| r.outcome == Outcome::Unchanged),
                    "{reports:?}"
                );
            })
        },
    );
    group.finish();
    drop(server);
}

criterion_group!(catalog, benches);

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    report_first_import(&rt);
    drop(rt);
    catalog();
    Criterion::default().configure_from_args().final_summary();
}
