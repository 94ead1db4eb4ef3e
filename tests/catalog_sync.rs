//! `catalog sync` against a real HTTP server on loopback serving real feed
//! documents: conditional requests, retries, and sources that fail while the
//! others update.

mod support {
    pub mod databases;
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
    support::databases::sqlite(&format!("sync-{test}")).await
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

// ---- APT -------------------------------------------------------------------------------------

const APT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/apt");
const SUITE: &str = "debian-security/dists/bookworm-security";

/// Serves the real bookworm-security InRelease and its main/amd64 index (the
/// uncompressed `Packages` the Release vouches for) as a mirror would.
fn serve_apt(server: &FeedServer) -> Vec<u8> {
    use fixpoint_core::catalog::apt;
    let inrelease = std::fs::read(format!("{APT}/bookworm-security/InRelease")).expect("fixture");
    let keyring = std::fs::read(format!("{APT}/debian-archive-keyring.gpg")).expect("fixture");
    let release = apt::verify_inrelease(
        &inrelease,
        &keyring,
        now(),
        apt::FreshnessPolicy::IgnoreValidUntil,
        None,
    )
    .expect("fixture verifies");
    let lz4 = std::fs::read(format!(
        "{APT}/bookworm-security/main/binary-amd64/Packages.lz4"
    ))
    .expect("fixture");
    let packages = apt::verify_and_decompress(&release, "main/binary-amd64/Packages.lz4", &lz4)
        .expect("decompresses");
    server.put(&format!("{SUITE}/InRelease"), inrelease);
    server.put(
        &format!("{SUITE}/main/binary-amd64/Packages"),
        packages.clone(),
    );
    packages
}

fn apt_source(server: &FeedServer) -> CatalogSource {
    CatalogSource {
        suites: vec!["bookworm-security".into()],
        keyring: Some(format!("{APT}/debian-archive-keyring.gpg")),
        ..source(
            "debian-security",
            CatalogSourceKind::Apt,
            server.url("debian-security"),
        )
    }
}

#[tokio::test]
async fn the_real_security_suite_imports_one_patch_per_source_version() {
    for (db, store) in support::databases::both("sync-apt").await {
        eprintln!("{db}");
        real_security_suite_imports(store).await;
    }
}

async fn real_security_suite_imports(store: Store) {
    let server = FeedServer::start().await;
    serve_apt(&server);
    let settings = settings(vec![apt_source(&server)]);
    let reports = run(&settings, &store, &SyncOptions::default()).await;
    let Outcome::Imported { stats, .. } = &reports[0].outcome else {
        panic!("{reports:?}")
    };
    // 3,028 binary packages built from 417 (source, version) pairs; counted independently with
    // awk over the index (Source: falling back to Package:, "(version)" to Version:).
    assert_eq!(stats.advisories, 417, "{stats:?}");

    let p = store
        .patch("openssl/3.0.22-1~deb12u2")
        .await
        .expect("query")
        .expect("openssl patch");
    assert_eq!(p.vendor, "Debian");
    assert_eq!(
        serde_json::to_value(p.classification).expect("json"),
        "security"
    );
    let libssl = p
        .files
        .iter()
        .find(|f| f.package.as_deref() == Some("libssl3"))
        .expect("libssl3 .deb");
    assert_eq!(
        libssl.url,
        server
            .url("debian-security/pool/updates/main/o/openssl/libssl3_3.0.22-1~deb12u2_amd64.deb")
    );
    assert_eq!(
        libssl.sha256.as_deref(),
        Some("cb4784740daa9b3b0eaea2b444bbefa686794afbbf3d678d238c1fd9875f2efd")
    );
    assert_eq!(libssl.size, Some(2_039_888));
    assert!(p.fixes.iter().any(|f| f.platform.0 == "debian:12"
        && f.package == "openssl"
        && f.fixed.as_deref() == Some("3.0.22-1~deb12u2")));
    let state = store
        .source("debian-security")
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        state.release_date.map(|d| d.to_string()),
        Some("2026-11-24T00:34:33Z".into())
    );

    // Nothing changed upstream: one conditional request, nothing imported.
    let again = run(&settings, &store, &SyncOptions::default()).await;
    assert_eq!(again[0].outcome, Outcome::Unchanged);
    assert_eq!(server.hits(&format!("{SUITE}/InRelease")), (2, 1));
    assert_eq!(
        server
            .hits(&format!("{SUITE}/main/binary-amd64/Packages"))
            .0,
        1
    );
}

/// Syncs once successfully, breaks the mirror with `tamper`, syncs again at
/// `later`, and returns the error; asserts the catalog did not change. Runs on
/// SQLite and PostgreSQL; both must fail the same way.
async fn failed_resync(test: &str, later: &str, tamper: impl Fn(&FeedServer, Vec<u8>)) -> String {
    let mut errors = Vec::new();
    for (db, store) in support::databases::both(&format!("sync-{test}")).await {
        let server = FeedServer::start().await;
        let packages = serve_apt(&server);
        let settings = settings(vec![apt_source(&server)]);
        run(&settings, &store, &SyncOptions::default()).await;
        let before = store.catalog().await.expect("catalog");
        assert!(!before.is_empty(), "{db}");
        tamper(&server, packages);
        let later: jiff::Timestamp = later.parse().expect("instant");
        let reports = sync::sync_all(
            &settings,
            &store,
            &fetcher(),
            &SyncOptions::default(),
            later,
            |_| {},
        )
        .await;
        let Outcome::Failed { error } = reports[0].outcome.clone() else {
            panic!("{db}: {reports:?}")
        };
        assert_eq!(
            store.catalog().await.expect("catalog"),
            before,
            "{db} {test}: the catalog must not change"
        );
        errors.push(error.replace(&server.base, "SERVER"));
    }
    errors.dedup();
    assert_eq!(
        errors.len(),
        1,
        "both databases fail the same way: {errors:?}"
    );
    errors.remove(0)
}

#[tokio::test]
async fn a_tampered_inrelease_is_rejected_and_the_catalog_is_unchanged() {
    let error = failed_resync("tampered", "2026-11-25T13:00:00Z", |server, _| {
        let inrelease =
            std::fs::read(format!("{APT}/bookworm-security/InRelease")).expect("fixture");
        let text = String::from_utf8(inrelease).expect("text");
        // The security suite now claims a different size for its index.
        let tampered = text.replacen("Suite: oldstable-security", "Suite: stable-security", 1);
        assert_ne!(tampered, text, "the fixture has the line we change");
        server.put(&format!("{SUITE}/InRelease"), tampered);
    })
    .await;
    assert!(error.contains("signature"), "{error}");
}

#[tokio::test]
async fn a_wrong_index_hash_is_rejected_and_the_catalog_is_unchanged() {
    let error = failed_resync("hash", "2026-11-25T13:00:00Z", |server, mut packages| {
        // A new InRelease would be needed to import again; same InRelease with a
        // changed index is what a compromised mirror serves.
        let i = packages.len() / 2;
        packages[i] ^= 0x20;
        server.put(&format!("{SUITE}/main/binary-amd64/Packages"), packages);
        force_refetch(server);
    })
    .await;
    assert!(
        error.to_lowercase().contains("sha-256") || error.contains("hash"),
        "{error}"
    );
}

#[tokio::test]
async fn a_truncated_index_is_rejected_and_the_catalog_is_unchanged() {
    let error = failed_resync("truncated", "2026-11-25T13:00:00Z", |server, packages| {
        server.put(
            &format!("{SUITE}/main/binary-amd64/Packages"),
            packages[..packages.len() - 1000].to_vec(),
        );
        force_refetch(server);
    })
    .await;
    assert!(
        error.contains("size") || error.contains("truncated"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stale_inrelease_is_rejected_unless_the_override_is_given() {
    let error = failed_resync("stale", "2026-12-02T00:00:00Z", force_refetch_with_packages).await;
    assert!(
        error.contains("Valid-Until") || error.contains("stale") || error.contains("expired"),
        "{error}"
    );

    let server = FeedServer::start().await;
    serve_apt(&server);
    let store = store("stale-override").await;
    let settings = settings(vec![apt_source(&server)]);
    let options = SyncOptions {
        allow_stale: true,
        ..SyncOptions::default()
    };
    let later: jiff::Timestamp = "2026-12-02T00:00:00Z".parse().expect("instant");
    let reports = sync::sync_all(&settings, &store, &fetcher(), &options, later, |_| {}).await;
    assert!(
        matches!(reports[0].outcome, Outcome::Imported { .. }),
        "{reports:?}"
    );
}

fn force_refetch_with_packages(server: &FeedServer, _: Vec<u8>) {
    force_refetch(server);
}

/// Re-serves the InRelease with a changed ETag (its bytes plus nothing: a new
/// trailing newline is outside the signature and would be refused), by
/// serving the same bytes under a fresh server-side validator.
fn force_refetch(server: &FeedServer) {
    server.bump_etag(&format!("{SUITE}/InRelease"));
}

#[tokio::test]
async fn a_deb822_sources_file_names_the_mirror_so_settings_need_no_address() {
    let server = FeedServer::start().await;
    serve_apt(&server);
    let dir = std::env::temp_dir().join(format!("fixpoint-sources-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sources = dir.join("debian.sources");
    std::fs::write(
        &sources,
        format!(
            "Types: deb\nURIs: {base}/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\
             Signed-By: {APT}/debian-archive-keyring.gpg\n\n\
             Types: deb\nURIs: {base}/debian-security\nSuites: bookworm-security\nComponents: main\n\
             Signed-By: {APT}/debian-archive-keyring.gpg\n",
            base = server.base
        ),
    )
    .expect("write sources");
    let source = CatalogSource {
        url: None,
        sources_file: Some(sources.display().to_string()),
        suites: vec!["bookworm-security".into()],
        ..source("debian-security", CatalogSourceKind::Apt, String::new())
    };
    let store = store("sources-file").await;
    let reports = run(&settings(vec![source]), &store, &SyncOptions::default()).await;
    assert!(
        matches!(reports[0].outcome, Outcome::Imported { .. }),
        "{reports:?}"
    );
    assert!(
        store
            .patch("openssl/3.0.22-1~deb12u2")
            .await
            .expect("query")
            .is_some()
    );
}

#[tokio::test]
async fn a_validly_signed_inrelease_of_another_suite_is_refused() {
    // A mirror (or an attacker in the path) serves the real, validly signed
    // bookworm-updates InRelease where bookworm-security belongs.
    let server = FeedServer::start().await;
    serve_apt(&server);
    let updates = std::fs::read(format!("{APT}/bookworm-updates/InRelease")).expect("fixture");
    server.put(&format!("{SUITE}/InRelease"), updates);
    let store = store("wrong-suite").await;
    let settings = settings(vec![apt_source(&server)]);
    let options = SyncOptions {
        allow_stale: true,
        ..SyncOptions::default()
    };
    let reports = sync::sync_all(&settings, &store, &fetcher(), &options, now(), |_| {}).await;
    let Outcome::Failed { error } = &reports[0].outcome else {
        panic!("{reports:?}")
    };
    assert!(
        error.contains("bookworm-security") && error.contains("bookworm-updates"),
        "{error}"
    );
    assert_eq!(store.patch_count().await.expect("count"), 0);
}

#[tokio::test]
async fn an_inrelease_without_valid_until_is_accepted_outside_security_suites() {
    // bookworm-updates carries no Valid-Until, as apt allows outside -security suites.
    let server = FeedServer::start().await;
    let updates = std::fs::read(format!("{APT}/bookworm-updates/InRelease")).expect("fixture");
    server.put("debian/dists/bookworm-updates/InRelease", updates);
    let source = CatalogSource {
        suites: vec!["bookworm-updates".into()],
        keyring: Some(format!("{APT}/debian-archive-keyring.gpg")),
        ..source(
            "debian-updates",
            CatalogSourceKind::Apt,
            server.url("debian"),
        )
    };
    let store = store("no-valid-until").await;
    let reports = run(&settings(vec![source]), &store, &SyncOptions::default()).await;
    // Not a -security suite: no Valid-Until is accepted, as apt does; the index is what fails.
    let Outcome::Failed { error } = &reports[0].outcome else {
        panic!("{reports:?}")
    };
    assert!(error.contains("main/binary-amd64/Packages"), "{error}");
}
