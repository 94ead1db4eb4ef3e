//! The agent API: enrollment, check-in, reports, and planning the machines
//! agents checked in.

use fixpoint_core::fleet::Fleet;
use serde_json::json;

use crate::support::{Serve, block_on, facts, on_each_database, root, web_inventory};

#[test]
fn without_a_snapshot_the_server_plans_the_machines_in_its_database() {
    on_each_database(|db| {
        let serve = Serve::new().snapshot(false).database(&db);
        // Two machines of the example fleet, enrolled and checked in as agents would.
        let example = Fleet::from_snapshot(
            &std::fs::read(root().join("examples/fleet/snapshot.json")).expect("snapshot"),
        )
        .expect("example fleet");
        block_on(async {
            let store = serve.open_store().await;
            let now = jiff::Timestamp::now();
            for m in &example.machines()[..2] {
                let inventory = example.inventory_of(m).expect("inventory");
                store
                    .put_inventory(inventory, now)
                    .await
                    .expect("inventory");
                store
                    .enroll(m, &format!("hash-{}", m.id), now)
                    .await
                    .expect("enroll");
                store.check_in(m, now).await.expect("check in");
            }
            store.close().await;
        });
        let s = serve.start();
        let v = s.wait_for("a plan", |v| !v["plan"].is_null());
        assert_eq!(v["plan"]["machines"], 2, "{v:#}");
    });
}

#[test]
fn an_agent_enrolls_checks_in_and_is_planned() {
    on_each_database(|db| {
        let s = Serve::new()
            .snapshot(false)
            .enrollment()
            .database(&db)
            .start();
        let facts = facts(json!({"role": "web"}));
        let (code, _, body) = s.post(
            "/api/v1/enroll",
            None,
            json!({"token": "wrong-token", "facts": facts}).to_string(),
        );
        assert_eq!(code, 401, "{body}");
        assert_eq!(body["error"], "unauthorized", "{body}");
        let agent = s.enroll(&facts);
        assert_eq!(agent.credential.len(), 64);
        assert!(agent.id.starts_with("agent-"), "{}", agent.id);

        let (hash, full) = web_inventory();
        let check_in = |credential: Option<&str>, inventory: &serde_json::Value| {
            s.post(
                "/api/v1/check-in",
                credential,
                json!({"facts": facts, "inventory": inventory}).to_string(),
            )
        };
        // Without a credential, or with someone else's: refused.
        let unchanged = json!({"kind": "unchanged", "hash": hash});
        assert_eq!(check_in(None, &unchanged).0, 401);
        assert_eq!(check_in(Some("not-a-credential"), &unchanged).0, 401);
        // A hash the server has never seen: it asks for the inventory.
        let (code, _, body) = check_in(Some(&agent.credential), &unchanged);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["inventoryNeeded"], true, "{body}");
        // The full inventory, then only its hash.
        let (code, etag, body) = check_in(Some(&agent.credential), &full);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["inventoryNeeded"], false, "{body}");
        assert_eq!(
            etag,
            Some(format!("\"{}\"", body["etag"].as_str().expect("etag")))
        );
        let (code, _, body) = check_in(Some(&agent.credential), &unchanged);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["inventoryNeeded"], false, "{body}");
        // Malformed JSON and unknown fields: 400 with the reason.
        let (code, _, body) = s.post(
            "/api/v1/check-in",
            Some(&agent.credential),
            "{\"facts\": 1".into(),
        );
        assert_eq!(code, 400, "{body}");
        assert_eq!(body["error"], "malformed", "{body}");
        let (code, _, body) = s.post(
            "/api/v1/check-in",
            Some(&agent.credential),
            json!({"facts": facts, "inventory": unchanged, "extra": 1}).to_string(),
        );
        assert_eq!(code, 400, "{body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains("extra"),
            "{body}"
        );
        // Too large: 413.
        let (code, _, _) = s.post(
            "/api/v1/check-in",
            Some(&agent.credential),
            " ".repeat(33 * 1024 * 1024),
        );
        assert_eq!(code, 413);
        // The next pass plans the agent's machine.
        let v = s.wait_for("the agent planned", |v| v["plan"]["machines"] == 1);
        assert_eq!(v["plan"]["machines"], 1);
        let metrics = s.metrics();
        assert!(metrics.contains("fixpoint_check_ins_total 2"), "{metrics}");
    });
}

#[test]
fn reports_are_matched_to_their_instructions_and_counted_once() {
    on_each_database(|db| {
        let s = Serve::new()
            .snapshot(false)
            .enrollment()
            .database(&db)
            .example_catalog()
            .start();
        let facts = facts(json!({"role": "web", "ring": "canary"}));
        let a = s.enroll(&facts);
        let b = s.enroll(&facts);
        let (web, full) = web_inventory();
        s.check_in(&a, &facts, &full);
        s.wait_for("agent A planned", |v| v["plan"]["machines"] == 1);
        let body = s.check_in(&a, &facts, &json!({"kind": "unchanged", "hash": web}));
        let items = body["instructions"]["items"]
            .as_array()
            .expect("items")
            .clone();
        assert!(
            !items.is_empty(),
            "the canary web machine misses approved patches: {body}"
        );
        let id = items[0]["id"].as_str().expect("id").to_owned();
        let report = |credential: &str, id: &str| {
            s.post(
                "/api/v1/report",
                Some(credential),
                json!({"results": [{"instructionId": id, "outcome": "failed", "exitCode": 100,
                                    "logTail": "E: Sub-process /usr/bin/dpkg returned an error code (1)",
                                    "at": "2026-11-25T02:10:00Z"}]})
                .to_string(),
            )
        };
        let (code, _, body) = report(&a.credential, &id);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body, json!({"accepted": 1, "duplicates": 0}));
        // The agent did not get the acknowledgement and sends it again.
        let (code, _, body) = report(&a.credential, &id);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body, json!({"accepted": 0, "duplicates": 1}));
        // Agent B cannot report on A's instruction, nor anyone on an unknown one.
        let (code, _, body) = report(&b.credential, &id);
        assert_eq!(code, 400, "{body}");
        assert_eq!(body["error"], "unknownInstruction", "{body}");
        let (code, _, _) = report(&a.credential, "i-does-not-exist");
        assert_eq!(code, 400);
    });
}

/// The instruction installing `patch` among a check-in's instructions.
fn install_of(check_in: &serde_json::Value, patch: &str) -> Option<String> {
    check_in["instructions"]["items"]
        .as_array()?
        .iter()
        .find(|i| i["action"]["patch"] == patch)
        .and_then(|i| i["id"].as_str())
        .map(str::to_owned)
}

#[test]
fn a_retry_reported_with_the_same_time_as_the_failure_it_retries_is_stored_not_a_duplicate() {
    on_each_database(|db| {
        let s = Serve::new()
            .snapshot(false)
            .enrollment()
            .database(&db)
            .example_catalog()
            .start();
        let facts = facts(json!({"role": "web", "ring": "canary"}));
        let agent = s.enroll(&facts);
        let (hash, full) = web_inventory();
        let unchanged = json!({"kind": "unchanged", "hash": hash});
        s.check_in(&agent, &facts, &full);
        s.wait_for("the agent planned", |v| v["plan"]["machines"] == 1);
        let body = s.check_in(&agent, &facts, &unchanged);
        let patch = body["instructions"]["items"][0]["action"]["patch"]
            .as_str()
            .expect("an install")
            .to_owned();
        // An agent whose clock stands still (or that is fast): every attempt
        // ends at the same second.
        let report = |id: &str| {
            s.post(
                "/api/v1/report",
                Some(&agent.credential),
                json!({"results": [{"instructionId": id, "outcome": "failed", "exitCode": 100,
                                    "at": "2026-11-25T02:10:00Z"}]})
                .to_string(),
            )
        };
        // The retry after each failure is a new instruction; that the third
        // attempt is issued shows the second attempt's failure was stored.
        let mut seen = Vec::new();
        for attempt in 0..3 {
            let since = jiff::Timestamp::now();
            s.wait_for("a plan after the last report", |v| {
                v["plan"]["computedAt"]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|t| t > since)
            });
            let id = install_of(&s.check_in(&agent, &facts, &unchanged), &patch)
                .unwrap_or_else(|| panic!("attempt {attempt} of {patch} is issued"));
            assert!(!seen.contains(&id), "attempt {attempt} has a new id: {id}");
            let (code, _, body) = report(&id);
            assert_eq!(code, 200, "{body}");
            assert_eq!(
                body,
                json!({"accepted": 1, "duplicates": 0}),
                "attempt {attempt} ({id}) is a result of its own"
            );
            seen.push(id);
        }
    });
}

#[test]
fn the_enrollment_token_file_is_read_at_each_enrollment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token\n").expect("write");
    let s = Serve::new()
        .args(&[
            "--enrollment-token-file",
            token_file.to_str().expect("utf-8"),
        ])
        .start();
    let enroll = |token: &str| {
        s.post(
            "/api/v1/enroll",
            None,
            json!({"token": token, "facts": {"hostname": "h", "os": {"family": "debian"}}})
                .to_string(),
        )
        .0
    };
    assert_eq!(enroll("first-token"), 201);
    std::fs::write(&token_file, "rotated-token\n").expect("rotate");
    assert_eq!(enroll("first-token"), 401);
    assert_eq!(enroll("rotated-token"), 201);
}
