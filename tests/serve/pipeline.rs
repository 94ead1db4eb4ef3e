//! The whole pipeline on real parts: a signed APT repository made by the test
//! is synced into the catalog on the server's own schedule; an agent checks in
//! with an inventory that lacks two fixes; the plan instructs both installs;
//! the stager downloads the `.deb`s from the "vendor", keeps the one whose
//! bytes match the index and serves it by SHA-256, and never stages the one
//! the vendor corrupted, which shows as a failure.

use serde_json::json;

use crate::apt_repo;
use crate::feed_server::FeedServer;
use crate::forward_proxy::ForwardProxy;
use crate::support::{Serve, on_each_database};

const POLICY: &str = r#"
apiVersion: fixpoint.dev/v1alpha1
kind: Settings
metadata: {name: settings}
spec:
  catalog:
    sources:
      - name: test-security
        type: apt
        url: URL
        suites: [bookworm-security]
        components: [main]
        architectures: [amd64]
        keyring: KEYRING
        interval: 1h
  proxy:
    url: PROXY
  agents:
    checkInInterval: 30m
    jitter: 10%
---
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: security}
spec:
  rules:
    - {match: {classification: [security]}, approveAfter: 0d}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: default}
spec:
  approval: security
  rings:
    - {name: everyone, groups: [all], delay: 0d}
"#;

#[test]
fn the_catalog_is_synced_and_the_files_agents_need_are_staged_and_served() {
    let work = tempfile::tempdir().expect("tempdir");
    let demo = apt_repo::build_deb(work.path(), "fixpoint-demo", "1.0-2", "amd64");
    let tools = apt_repo::build_deb(work.path(), "fixpoint-tools", "2.0-1", "amd64");
    let repo = apt_repo::signed_repo(
        work.path(),
        "bookworm-security",
        &[demo.clone(), tools.clone()],
        jiff::Timestamp::now(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let feed = runtime.block_on(FeedServer::start());
    for (path, bytes) in &repo.files {
        feed.put(path, bytes.clone());
    }
    // The vendor serves other bytes than its signed index promises for one
    // file: as long, one byte changed, so only the SHA-256 can tell.
    let mut corrupt = tools.bytes.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    feed.put(&tools.filename(), corrupt);
    // Feeds and downloads go through the proxy the policy names.
    let proxy = runtime.block_on(ForwardProxy::start());
    let policy = POLICY
        .replace("PROXY", &proxy.url)
        .replace("URL", &feed.base)
        .replace("KEYRING", &repo.keyring.display().to_string());

    on_each_database(|db| {
        let s = Serve::new()
            .snapshot(false)
            .database(&db)
            .policy(&policy)
            .enrollment()
            .args(&["--catalog-sync", "true"])
            .start();
        let facts = json!({"hostname": "web-1", "os": {"family": "debian", "version": "12"}});
        let agent = s.enroll(&facts);
        let inventory = json!({"kind": "full", "platform": "debian:12", "packages": [
            {"name": "fixpoint-demo", "architecture": "amd64", "version": "1.0-1"},
            {"name": "fixpoint-tools", "architecture": "amd64", "version": "1.9-1"},
            {"name": "base-files", "architecture": "amd64", "version": "12.4"}
        ]});
        s.check_in(&agent, &facts, &inventory);

        // Synced by the server itself, planned, staged.
        let v = s.wait_for("the catalog synced and the files staged", |v| {
            v["plan"]["catalogPatches"] == 2
                && v["staging"]["staged"] == 1
                && v["staging"]["failures"]
                    .as_array()
                    .is_some_and(|f| f.len() == 1)
        });
        let source = &v["catalog"]["sources"][0];
        assert_eq!(source["name"], "test-security", "{v:#}");
        assert_eq!(source["advisories"], 2, "{v:#}");
        assert!(source["lastError"].is_null(), "{v:#}");
        let failure = &v["staging"]["failures"][0];
        assert_eq!(failure["sha256"], tools.sha256(), "{v:#}");
        assert_eq!(failure["patch"], "fixpoint-tools/2.0-1", "{v:#}");
        assert_eq!(failure["transient"], false, "{v:#}");
        assert!(
            failure["error"]
                .as_str()
                .is_some_and(|e| e.contains("SHA-256 mismatch")),
            "{v:#}"
        );

        // The agent is told to install both, with the files and where to get them.
        let before = jiff::Timestamp::now();
        let answer = s.check_in(&agent, &facts, &inventory);
        let items = answer["instructions"]["items"].as_array().expect("items");
        let installs: Vec<(&str, &str)> = items
            .iter()
            .map(|i| {
                (
                    i["action"]["patch"].as_str().expect("an install"),
                    i["action"]["files"][0]["sha256"].as_str().expect("a file"),
                )
            })
            .collect();
        assert_eq!(
            installs,
            [
                ("fixpoint-demo/1.0-2", demo.sha256().as_str()),
                ("fixpoint-tools/2.0-1", tools.sha256().as_str())
            ],
            "{answer:#}"
        );
        // Thirty minutes from the policy's Settings, plus up to 10% jitter.
        let next: jiff::Timestamp = answer["nextCheckIn"]
            .as_str()
            .expect("nextCheckIn")
            .parse()
            .expect("an instant");
        let wait = next.duration_since(before);
        let slack = jiff::SignedDuration::from_secs(5);
        assert!(
            wait >= jiff::SignedDuration::from_mins(30) - slack
                && wait <= jiff::SignedDuration::from_mins(33) + slack,
            "{wait:?}"
        );

        let file = |sha: &str| {
            s.request(
                "GET",
                &format!("/api/v1/files/{sha}"),
                Some(&agent.credential),
                None,
            )
        };
        let (code, _, bytes) = file(&demo.sha256());
        assert_eq!(code, 200);
        assert_eq!(
            bytes, demo.bytes,
            "the served file is the .deb the index names"
        );
        assert_eq!(
            file(&tools.sha256()).0,
            404,
            "a corrupt download is never served"
        );

        assert_eq!(
            s.metric("fixpoint_catalog_sync_success{source=\"test-security\"}"),
            Some(1.0)
        );
        assert!(
            s.metric("fixpoint_staging_failures_total{kind=\"hash_mismatch\"}")
                .is_some_and(|n| n >= 1.0)
        );
        #[allow(clippy::cast_precision_loss)]
        let size = demo.bytes.len() as f64;
        assert_eq!(s.metric("fixpoint_staging_stored_bytes"), Some(size));
        assert_eq!(
            s.metric("fixpoint_staging_files{state=\"missing\"}"),
            Some(1.0)
        );
        let carried = proxy.carried();
        for path in [
            "dists/bookworm-security/InRelease".to_owned(),
            "dists/bookworm-security/main/binary-amd64/Packages".to_owned(),
            demo.filename(),
            tools.filename(),
        ] {
            let url = feed.url(&path);
            assert!(
                carried.contains(&url),
                "{url} did not go through the proxy: {carried:#?}"
            );
        }
    });
}
