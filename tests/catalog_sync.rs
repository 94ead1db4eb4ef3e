//! `catalog sync` against a real HTTP server on loopback serving real feed
//! documents: conditional requests, retries, and sources that fail while the
//! others update.

mod support {
    pub mod feed_server;
}

use std::io::Write;
use std::time::Duration;

use fixpoint::store::Store;
use fixpoint::sync::{self, FetchPolicy, Fetcher, Outcome, SyncOptions};
use fixpoint_core::policy::{
    CatalogSettings, CatalogSource, CatalogSourceKind, Duration as PolicyDuration, SettingsSpec,
};
use support::feed_server::FeedServer;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus");

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{path}")).expect("corpus file")
}

fn now() -> jiff::Timestamp {
    "2026-11-25T12:00:00Z".parse().expect("instant")
}

fn source(name: &str, kind: CatalogSourceKind, url: String) -> CatalogSource {
    CatalogSource {
        name: name.into(),
        kind,
        url: Some(url),
        sources_file: None,
        suites: Vec::new(),
        components: Vec::new(),
        architectures: Vec::new(),
        keyring: None,
        interval: PolicyDuration::from_secs(3600),
    }
}

fn settings(sources: Vec<CatalogSource>) -> SettingsSpec {
    SettingsSpec {
        catalog: CatalogSettings { sources },
        ..SettingsSpec::default()
    }
}

async fn store(test: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("fixpoint-sync-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Store::open_in_data_dir(&dir).await.expect("store")
}

fn fetcher() -> Fetcher {
    let policy = FetchPolicy {
        backoff: Duration::from_millis(10),
        ..FetchPolicy::default()
    };
    Fetcher::new(None, policy).expect("client")
}

/// The Debian and Ubuntu OSV records of the corpus in one zip, as OSV publishes an ecosystem.
fn osv_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in [
        "DLA-3008-1.json",
        "DLA-3051-1.json",
        "USN-7095-1.json",
        "withdrawn.osv.json",
    ] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        zip.write_all(&corpus(&format!("osv/{name}")))
            .expect("zip write");
    }
    zip.start_file("broken.json", zip::write::SimpleFileOptions::default())
        .expect("zip entry");
    zip.write_all(b"{\"id\": \"BROKEN-1\", \"modified\": ")
        .expect("zip write");
    zip.finish().expect("zip").into_inner()
}

async fn run(
    settings: &SettingsSpec,
    store: &Store,
    options: &SyncOptions,
) -> Vec<sync::SourceReport> {
    sync::sync_all(settings, store, &fetcher(), options, now(), |_| {}).await
}

#[tokio::test]
async fn an_osv_archive_imports_and_a_second_sync_is_a_conditional_no_op() {
    let server = FeedServer::start().await;
    server.put("osv/Debian/all.zip", osv_zip());
    let store = store("osv").await;
    let settings = settings(vec![source(
        "osv-debian",
        CatalogSourceKind::Osv,
        server.url("osv/Debian/all.zip"),
    )]);

    let first = run(&settings, &store, &SyncOptions::default()).await;
    let Outcome::Imported { stats, warnings } = &first[0].outcome else {
        panic!("{first:?}")
    };
    assert!(stats.advisories >= 3, "{stats:?}");
    assert_eq!(
        warnings.len(),
        1,
        "the broken record is skipped with a warning: {warnings:?}"
    );
    assert!(warnings[0].starts_with("broken.json:"), "{warnings:?}");
    let openssl = store
        .patch("openssl/1.1.0l-1~deb9u6")
        .await
        .expect("query")
        .expect("DLA-3008-1's patch");
    assert!(
        openssl.cves().any(|c| c == "CVE-2022-1292"),
        "{:?}",
        openssl.vulnerabilities
    );
    assert!(
        store
            .patch("tzdata/2021a-0+deb9u4")
            .await
            .expect("query")
            .is_some()
    );

    let second = run(&settings, &store, &SyncOptions::default()).await;
    assert_eq!(second[0].outcome, Outcome::Unchanged);
    assert_eq!(
        server.hits("osv/Debian/all.zip"),
        (2, 1),
        "the second request is conditional"
    );
    let state = store
        .source("osv-debian")
        .await
        .expect("query")
        .expect("row");
    assert_eq!(state.last_success_at, Some(now()));
}

#[tokio::test]
async fn a_failing_source_leaves_its_catalog_and_the_others_still_update() {
    let server = FeedServer::start().await;
    server.put(
        "csaf/rhsa-2024_4546.json",
        corpus("csaf/rhsa-2024_4546.json"),
    );
    server.put("osv/all.zip", osv_zip());
    let store = store("isolation").await;
    let settings = settings(vec![
        source(
            "redhat",
            CatalogSourceKind::Csaf,
            server.url("csaf/rhsa-2024_4546.json"),
        ),
        source("osv", CatalogSourceKind::Osv, server.url("osv/all.zip")),
    ]);
    run(&settings, &store, &SyncOptions::default()).await;
    let redhat_before = store
        .patch("RHSA-2024:4546")
        .await
        .expect("query")
        .expect("imported");

    // The CSAF document is now truncated mid-way, and the OSV feed has a new record.
    let full = corpus("csaf/rhsa-2024_4546.json");
    server.put("csaf/rhsa-2024_4546.json", full[..full.len() / 2].to_vec());
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("DLA-3051-1.json", zip::write::SimpleFileOptions::default())
        .expect("entry");
    zip.write_all(&corpus("osv/DLA-3051-1.json"))
        .expect("write");
    server.put("osv/all.zip", zip.finish().expect("zip").into_inner());

    let reports = run(&settings, &store, &SyncOptions::default()).await;
    let Outcome::Failed { error } = &reports[0].outcome else {
        panic!("{reports:?}")
    };
    assert!(
        error.contains("rhsa-2024_4546.json"),
        "the error names the document: {error}"
    );
    assert!(
        matches!(reports[1].outcome, Outcome::Imported { .. }),
        "{reports:?}"
    );
    assert_eq!(
        store.patch("RHSA-2024:4546").await.expect("query"),
        Some(redhat_before)
    );
    assert!(
        store
            .patch("openssl/1.1.0l-1~deb9u6")
            .await
            .expect("query")
            .is_none(),
        "OSV replaced as a whole"
    );
    let state = store.source("redhat").await.expect("query").expect("row");
    assert_eq!(state.last_error.as_deref(), Some(error.as_str()));
}

#[tokio::test]
async fn transient_server_errors_are_retried() {
    let server = FeedServer::start().await;
    server.put("cvrf/2024-Mar", corpus("cvrf/msrc-cvrf-2024-Mar.xml"));
    server.fail_first("cvrf/2024-Mar", 2);
    let store = store("retry").await;
    let settings = settings(vec![source(
        "msrc",
        CatalogSourceKind::Cvrf,
        server.url("cvrf/2024-Mar"),
    )]);
    let reports = run(&settings, &store, &SyncOptions::default()).await;
    assert!(
        matches!(reports[0].outcome, Outcome::Imported { .. }),
        "{reports:?}"
    );
    assert_eq!(server.hits("cvrf/2024-Mar").0, 3);
    assert!(store.patch_count().await.expect("count") > 0);
}

#[tokio::test]
async fn a_missing_document_fails_with_its_url_and_status() {
    let server = FeedServer::start().await;
    let store = store("missing").await;
    let settings = settings(vec![source(
        "gone",
        CatalogSourceKind::Csaf,
        server.url("nothing.json"),
    )]);
    let reports = run(&settings, &store, &SyncOptions::default()).await;
    let Outcome::Failed { error } = &reports[0].outcome else {
        panic!("{reports:?}")
    };
    assert_eq!(
        error,
        &format!("{}: HTTP 404 Not Found", server.url("nothing.json"))
    );
    assert_eq!(server.hits("nothing.json").0, 1, "a 404 is not retried");
}
