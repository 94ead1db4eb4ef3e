//! The store, against both databases it supports: SQLite (a temporary file)
//! and the PostgreSQL server on 127.0.0.1:5432 (a fresh database per test).
//! With CI=true a missing PostgreSQL fails the suite instead of skipping it.

use fixpoint::store::{Backend, PatchQuery, SourceUpdate, Store};
use fixpoint_core::catalog::{
    Advisory, AdvisoryRef, Cvss, Fix, PackageKind, PatchId, Platform, Vulnerability,
};
use fixpoint_core::rating::{Classification, Severity};

mod support {
    pub mod databases;
}

struct Backends {
    stores: Vec<(&'static str, Store)>,
}

async fn backends(test: &str) -> Backends {
    Backends {
        stores: support::databases::both(&format!("store-{test}")).await,
    }
}

fn advisory(source: &str, id: &str, patch: &str) -> Advisory {
    Advisory {
        reference: AdvisoryRef {
            source: source.into(),
            id: id.into(),
            url: None,
        },
        patch: PatchId(patch.into()),
        vendor: "Debian".into(),
        product: patch.split('/').next().unwrap_or(patch).into(),
        title: None,
        classification: Classification::Security,
        severity: Severity::Unrated,
        released: Some("2024-11-02T10:00:00Z".parse().expect("instant")),
        vulnerabilities: Vec::new(),
        fixes: vec![Fix {
            platform: Platform::new("debian", Some("12")),
            package: patch.split('/').next().unwrap_or(patch).into(),
            kind: PackageKind::Source,
            fixed: patch.split('/').nth(1).map(str::to_owned),
            introduced: None,
            last_affected: None,
            arch: None,
        }],
        files: Vec::new(),
        supersedes: Vec::new(),
        references: Vec::new(),
        restart_required: None,
    }
}

fn update(name: &str) -> SourceUpdate {
    SourceUpdate {
        name: name.into(),
        kind: "apt".into(),
        location: "test".into(),
        ..SourceUpdate::default()
    }
}

fn now() -> jiff::Timestamp {
    "2026-11-25T12:00:00Z".parse().expect("instant")
}

#[tokio::test]
async fn advisories_from_two_sources_merge_into_one_patch() {
    for (db, store) in backends("merge").await.stores {
        let apt = advisory(
            "debian-security",
            "openssl/3.0.15-1~deb12u1",
            "openssl/3.0.15-1~deb12u1",
        );
        let mut osv = advisory("osv", "DSA-5802-1", "openssl/3.0.15-1~deb12u1");
        osv.severity = Severity::Important;
        let mut cve = Vulnerability::new("CVE-2024-9143");
        cve.cvss.push(Cvss {
            version: "3.1".into(),
            score: 4.3,
            vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N".into()),
        });
        osv.vulnerabilities.push(cve);

        store
            .replace_source(&update("debian-security"), &[apt], now())
            .await
            .expect("import apt");
        store
            .replace_source(&update("osv"), &[osv], now())
            .await
            .expect("import osv");

        assert_eq!(store.patch_count().await.expect("count"), 1, "{db}");
        let p = store
            .patch("openssl/3.0.15-1~deb12u1")
            .await
            .expect("query")
            .expect("patch exists");
        assert_eq!(p.severity, Severity::Important, "{db}");
        assert_eq!(p.cves().collect::<Vec<_>>(), vec!["CVE-2024-9143"], "{db}");
        assert_eq!(p.advisories.len(), 2, "{db}");
        let found = store
            .search(&PatchQuery {
                cve: Some("cve-2024-9143".into()),
                ..PatchQuery::default()
            })
            .await
            .expect("search");
        assert_eq!(found.len(), 1, "{db}: CVE search is case-insensitive");
    }
}

#[tokio::test]
async fn a_resync_replaces_only_that_sources_advisories() {
    for (db, store) in backends("resync").await.stores {
        let a = advisory("apt", "curl/7.88.1-10+deb12u7", "curl/7.88.1-10+deb12u7");
        let b = advisory("apt", "zlib/1:1.2.13.dfsg-1", "zlib/1:1.2.13.dfsg-1");
        let other = advisory("osv", "DSA-1", "curl/7.88.1-10+deb12u7");
        store
            .replace_source(&update("apt"), &[a.clone(), b], now())
            .await
            .expect("first sync");
        store
            .replace_source(&update("osv"), &[other], now())
            .await
            .expect("osv");
        assert_eq!(store.patch_count().await.expect("count"), 2, "{db}");

        // zlib is gone from the repository; curl stays, still merged with osv's advisory.
        let stats = store
            .replace_source(&update("apt"), &[a], now())
            .await
            .expect("second sync");
        assert_eq!(stats.advisories, 1);
        assert_eq!(
            stats.patches_touched, 2,
            "{db}: curl rewritten, zlib removed"
        );
        assert!(
            store
                .patch("zlib/1:1.2.13.dfsg-1")
                .await
                .expect("query")
                .is_none(),
            "{db}"
        );
        let curl = store
            .patch("curl/7.88.1-10+deb12u7")
            .await
            .expect("query")
            .expect("curl");
        assert_eq!(curl.advisories.len(), 2, "{db}");
        let state = store
            .source("apt")
            .await
            .expect("query")
            .expect("source row");
        assert_eq!(state.advisories, 1);
        assert_eq!(state.last_success_at, Some(now()));
    }
}

#[tokio::test]
async fn a_failed_sync_leaves_the_catalog_exactly_as_it_was() {
    for (db, store) in backends("failed").await.stores {
        let a = advisory("apt", "curl/7.88.1-10+deb12u7", "curl/7.88.1-10+deb12u7");
        store
            .replace_source(&update("apt"), &[a], now())
            .await
            .expect("first sync");
        let before = store.catalog().await.expect("catalog");

        // Another source's stored advisory for the same patch is unreadable, so
        // re-merging fails half-way through the second sync: it must roll back.
        sqlx::query("INSERT INTO advisories (source, advisory_id, patch_id, document) VALUES ('bad', 'x', 'curl/7.88.1-10+deb12u7', '{not json')")
            .execute(store.pool())
            .await
            .expect("inject a corrupt row");
        let replacement = advisory("apt", "curl/7.88.1-10+deb12u8", "curl/7.88.1-10+deb12u8");
        let mut doomed = vec![replacement];
        doomed.push(advisory(
            "apt",
            "curl/7.88.1-10+deb12u7",
            "curl/7.88.1-10+deb12u7",
        ));
        let err = store
            .replace_source(&update("apt"), &doomed, now())
            .await
            .expect_err("sync must fail");
        assert!(err.to_string().contains("unreadable"), "{db}: {err}");

        sqlx::query("DELETE FROM advisories WHERE source = 'bad'")
            .execute(store.pool())
            .await
            .expect("cleanup");
        assert_eq!(store.catalog().await.expect("catalog"), before, "{db}");
        assert!(
            store
                .patch("curl/7.88.1-10+deb12u8")
                .await
                .expect("query")
                .is_none(),
            "{db}"
        );

        store
            .record_source_failure("apt", "apt", "test", "hash mismatch", now())
            .await
            .expect("record");
        let state = store.source("apt").await.expect("query").expect("row");
        assert_eq!(state.last_error.as_deref(), Some("hash mismatch"));
        assert_eq!(
            state.advisories, 1,
            "{db}: the failure keeps the last good import"
        );
    }
}

#[tokio::test]
async fn search_filters_by_package_severity_and_date() {
    for (db, store) in backends("search").await.stores {
        let mut old = advisory("apt", "bash/5.2.15-2+b1", "bash/5.2.15-2+b1");
        old.released = Some("2023-01-01T00:00:00Z".parse().expect("instant"));
        old.severity = Severity::Low;
        let mut new = advisory("apt", "bash/5.2.15-2+b7", "bash/5.2.15-2+b7");
        new.severity = Severity::Critical;
        let other = advisory("apt", "sudo/1.9.13p3-1+deb12u1", "sudo/1.9.13p3-1+deb12u1");
        store
            .replace_source(&update("apt"), &[old, new, other], now())
            .await
            .expect("import");

        let ids = |patches: Vec<fixpoint_core::catalog::Patch>| {
            patches.into_iter().map(|p| p.id.0).collect::<Vec<_>>()
        };
        let by_package = store
            .search(&PatchQuery {
                package: Some("bash".into()),
                ..PatchQuery::default()
            })
            .await
            .expect("search");
        assert_eq!(
            ids(by_package),
            vec!["bash/5.2.15-2+b7", "bash/5.2.15-2+b1"],
            "{db}: newest first"
        );
        let critical = store
            .search(&PatchQuery {
                severity: Some(Severity::Critical),
                ..PatchQuery::default()
            })
            .await
            .expect("search");
        assert_eq!(ids(critical), vec!["bash/5.2.15-2+b7"], "{db}");
        let recent = store
            .search(&PatchQuery {
                released_after: Some("2024-01-01T00:00:00Z".parse().expect("instant")),
                limit: Some(10),
                ..PatchQuery::default()
            })
            .await
            .expect("search");
        assert_eq!(ids(recent).len(), 2, "{db}");
    }
}

#[tokio::test]
async fn supersedence_is_answered_both_ways() {
    for (db, store) in backends("supersedence").await.stores {
        let mut new = advisory("msrc", "KB5035845", "KB5035845");
        new.supersedes.push(PatchId("KB5034763".into()));
        let old = advisory("msrc", "KB5034763", "KB5034763");
        store
            .replace_source(&update("msrc"), &[new, old], now())
            .await
            .expect("import");
        let old = store
            .patch_with_supersedence("KB5034763")
            .await
            .expect("query")
            .expect("old");
        assert_eq!(old.superseded_by, vec![PatchId("KB5035845".into())], "{db}");
    }
}

#[tokio::test]
async fn both_dialects_create_the_same_tables_and_columns() {
    let backends = backends("schema").await;
    let mut shapes = Vec::new();
    for (db, store) in &backends.stores {
        let sql = match store.backend() {
            Backend::Sqlite => {
                "SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                                WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' ORDER BY 1"
            }
            Backend::Postgres => {
                "SELECT table_name || '.' || column_name FROM information_schema.columns \
                                  WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%' ORDER BY 1"
            }
        };
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(store.pool())
            .await
            .expect("schema query");
        assert!(rows.len() > 40, "{db}: {rows:?}");
        shapes.push(rows);
    }
    if let [a, b] = shapes.as_slice() {
        assert_eq!(a, b, "the SQLite and PostgreSQL migrations differ");
    }
}

#[tokio::test]
async fn policy_revisions_keep_one_row_per_revision_with_the_latest_attempt() {
    use fixpoint::store::PolicyRevision;
    for (db, store) in backends("revisions").await.stores {
        let t = |s: &str| s.parse::<jiff::Timestamp>().expect("instant");
        let good = PolicyRevision {
            revision: "0123abcd".into(),
            author: Some("Pat Reviewer <pat@corp.example>".into()),
            committed_at: Some(t("2026-11-25T09:00:00Z")),
            attempted_at: t("2026-11-25T09:01:00Z"),
            applied: true,
            diagnostics: "[]".into(),
        };
        let bad = PolicyRevision {
            revision: "dir:feedbeef".into(),
            author: None,
            committed_at: None,
            attempted_at: t("2026-11-25T10:00:00Z"),
            applied: false,
            diagnostics: r#"[{"code":"unknown-reference"}]"#.into(),
        };
        assert_eq!(store.latest_policy_files(false).await.expect("none"), None);
        store
            .record_policy_revision(&good, "good files")
            .await
            .expect("good");
        store
            .record_policy_revision(&bad, "bad files")
            .await
            .expect("bad");
        let again = PolicyRevision {
            attempted_at: t("2026-11-25T11:00:00Z"),
            ..bad.clone()
        };
        store
            .record_policy_revision(&again, "bad files, again")
            .await
            .expect("again");
        let all = store.policy_revisions(10).await.expect("list");
        assert_eq!(all, vec![again.clone(), good.clone()], "{db}");
        assert_eq!(
            store.policy_revisions(1).await.expect("list").len(),
            1,
            "{db}"
        );
        // Followers read the files of the latest attempt, and of the latest applied one.
        let latest = store.latest_policy_files(false).await.expect("latest");
        assert_eq!(
            latest.map(|r| (r.revision, r.files)),
            Some(("dir:feedbeef".into(), "bad files, again".into())),
            "{db}"
        );
        let applied = store.latest_policy_files(true).await.expect("applied");
        assert_eq!(
            applied.map(|r| (r.revision, r.author, r.committed_at, r.files)),
            Some((
                good.revision.clone(),
                good.author.clone(),
                good.committed_at,
                "good files".into()
            )),
            "{db}"
        );
        // A revert to the good revision within the same second is still the latest.
        let reverted = PolicyRevision {
            attempted_at: again.attempted_at,
            ..good.clone()
        };
        store
            .record_policy_revision(&reverted, "good files")
            .await
            .expect("revert");
        let latest = store.latest_policy_files(false).await.expect("latest");
        assert_eq!(
            latest.map(|r| r.revision),
            Some(good.revision.clone()),
            "{db}"
        );
        assert_eq!(
            store.policy_revisions(10).await.expect("list")[0].revision,
            good.revision,
            "{db}"
        );
    }
}

#[tokio::test]
async fn enrolled_machines_inventories_and_reports_come_back_as_a_fleet() {
    use fixpoint::store::ReportedResult;
    use fixpoint_core::fleet::{
        Fleet, InstallResult, InstalledPackage, Inventory, Machine, Outcome,
    };
    let t = |s: &str| s.parse::<jiff::Timestamp>().expect("instant");
    let inventory = Inventory::new(
        Platform::new("debian", Some("12")),
        vec![
            InstalledPackage::new("libssl3", "amd64", "3.0.14-1~deb12u2")
                .built_from("openssl", "3.0.14-1~deb12u2"),
            InstalledPackage::new("curl", "amd64", "7.88.1-10+deb12u7"),
        ],
    )
    .expect("valid");
    let machine = |id: &str| -> Machine {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "hostname": format!("{id}.corp.example"),
            "labels": {"role": "web"},
            "os": {"family": "debian", "version": "12"},
            "timeZone": "Europe/Berlin",
            "inventory": inventory.hash().to_string(),
        }))
        .expect("machine")
    };
    let report = |id: &str, instruction: &str, outcome: Outcome| ReportedResult {
        machine: id.into(),
        instruction: instruction.into(),
        patch: PatchId("openssl/3.0.15-1~deb12u1".into()),
        release: Some("r-0123456789ab".into()),
        outcome,
        at: t("2026-11-25T02:10:00Z"),
        detail: (outcome == Outcome::Failed)
            .then(|| "dpkg: error processing package libssl3".into()),
    };
    for (db, store) in backends("fleet").await.stores {
        store
            .enroll(&machine("web-1"), "hash-1", t("2026-11-24T00:00:00Z"))
            .await
            .expect("enroll");
        store
            .enroll(&machine("web-2"), "hash-2", t("2026-11-24T00:00:00Z"))
            .await
            .expect("enroll");
        store
            .enroll(
                &machine("never-checked-in"),
                "hash-3",
                t("2026-11-24T00:00:00Z"),
            )
            .await
            .expect("enroll");
        assert_eq!(
            store
                .machine_with_credential("hash-2")
                .await
                .expect("lookup")
                .as_deref(),
            Some("web-2"),
            "{db}"
        );
        assert_eq!(
            store.machine_with_credential("nope").await.expect("lookup"),
            None,
            "{db}"
        );
        assert!(
            !store.has_inventory(inventory.hash()).await.expect("has"),
            "{db}"
        );
        store
            .put_inventory(&inventory, t("2026-11-25T00:00:00Z"))
            .await
            .expect("put");
        store
            .put_inventory(&inventory, t("2026-11-25T00:01:00Z"))
            .await
            .expect("put again");
        assert!(
            store.has_inventory(inventory.hash()).await.expect("has"),
            "{db}"
        );
        store
            .check_in(&machine("web-1"), t("2026-11-25T01:00:00Z"))
            .await
            .expect("check in");
        store
            .check_in(&machine("web-2"), t("2026-11-25T01:00:00Z"))
            .await
            .expect("check in");
        let first = store
            .record_results(&[
                report("web-1", "i-1", Outcome::Failed),
                report("web-2", "i-2", Outcome::Succeeded),
            ])
            .await
            .expect("report");
        assert_eq!(first, 2, "{db}");
        // The agent retries the same report: nothing is counted twice.
        let again = store
            .record_results(&[report("web-1", "i-1", Outcome::Failed)])
            .await
            .expect("report");
        assert_eq!(again, 0, "{db}");

        let mut expected = Fleet::new();
        expected.add_inventory(inventory.clone());
        expected.add_machine(machine("web-1")).expect("machine");
        expected.add_machine(machine("web-2")).expect("machine");
        expected
            .add_result(InstallResult {
                machine: "web-1".into(),
                patch: PatchId("openssl/3.0.15-1~deb12u1".into()),
                outcome: Outcome::Failed,
                at: t("2026-11-25T02:10:00Z"),
                error: Some("dpkg: error processing package libssl3".into()),
            })
            .expect("result");
        expected
            .add_result(InstallResult {
                machine: "web-2".into(),
                patch: PatchId("openssl/3.0.15-1~deb12u1".into()),
                outcome: Outcome::Succeeded,
                at: t("2026-11-25T02:10:00Z"),
                error: None,
            })
            .expect("result");
        assert_eq!(store.fleet().await.expect("fleet"), expected, "{db}");
    }
}

#[tokio::test]
async fn a_batch_of_check_ins_larger_than_a_statement_keeps_each_machines_last() {
    use fixpoint_core::fleet::{InstalledPackage, Inventory, Machine};
    let t = |s: &str| s.parse::<jiff::Timestamp>().expect("instant");
    let inventory = Inventory::new(
        Platform::new("debian", Some("12")),
        vec![InstalledPackage::new("curl", "amd64", "7.88.1-10+deb12u7")],
    )
    .expect("valid");
    let machine = |i: usize, role: &str| -> Machine {
        serde_json::from_value(serde_json::json!({
            "id": format!("m-{i:04}"),
            "hostname": format!("m-{i:04}.corp.example"),
            "labels": {"role": role},
            "os": {"family": "debian", "version": "12"},
            "inventory": inventory.hash().to_string(),
        }))
        .expect("machine")
    };
    for (db, store) in backends("check_in_batch").await.stores {
        let enrolled = t("2026-11-24T00:00:00Z");
        for i in 0..600 {
            store
                .enroll(&machine(i, "new"), &format!("hash-{i}"), enrolled)
                .await
                .expect("enroll");
        }
        store
            .put_inventory(&inventory, enrolled)
            .await
            .expect("inventory");
        // 600 machines (three statements' worth), 100 of them twice: first as `web`
        // at 01:00, then as `db` at 01:05; and one twice in the same second.
        let early = t("2026-11-25T01:00:00Z");
        let late = t("2026-11-25T01:05:00Z");
        let mut batch: Vec<(Machine, jiff::Timestamp)> = Vec::new();
        for i in 0..600 {
            batch.push((machine(i, "web"), early));
        }
        for i in 0..100 {
            batch.push((machine(i * 6, "db"), late));
        }
        batch.push((machine(1, "cache"), early));
        let rows: Vec<(&Machine, jiff::Timestamp)> = batch.iter().map(|(m, at)| (m, *at)).collect();
        store.check_in_batch(&rows).await.expect("batch");

        let fleet = store.fleet().await.expect("fleet");
        assert_eq!(fleet.machines().len(), 600, "{db}");
        let role = |id: &str| {
            fleet
                .machine(id)
                .and_then(|m| m.labels.get("role").cloned())
                .unwrap_or_default()
        };
        assert_eq!(role("m-0000"), "db", "{db}");
        assert_eq!(role("m-0006"), "db", "{db}");
        assert_eq!(role("m-0001"), "cache", "{db}");
        assert_eq!(role("m-0002"), "web", "{db}");
        let activity = store.activity().await.expect("activity");
        assert_eq!(activity["m-0006"].1, Some(late), "{db}");
        assert_eq!(activity["m-0002"].1, Some(early), "{db}");
        let (history, _) = store.machine_history("m-0006", 10).await.expect("history");
        assert_eq!(history.len(), 2, "{db}: {history:?}");
        let (history, _) = store.machine_history("m-0001", 10).await.expect("history");
        assert_eq!(history.len(), 1, "{db}: {history:?}");
    }
}
