//! `fixpoint serve` as a user runs it: the real binary on a loopback port, a
//! policy directory the test edits, a real HTTP client.

mod support {
    pub mod openapi;
}

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
    policies: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_policies(to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(root().join("policies")).expect("policies/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

/// Starts `fixpoint serve` on a free port with a copy of `policies/`, the
/// example fleet, a reconcile every second, SQLite in a temporary directory.
fn start(extra: &[&str]) -> Server {
    start_in(tempfile::tempdir().expect("tempdir"), true, extra)
}

/// As [`start`], in `dir`; without the snapshot the server plans the fleet in
/// its database.
fn start_in(dir: tempfile::TempDir, snapshot: bool, extra: &[&str]) -> Server {
    let policies = dir.path().join("policies");
    copy_policies(&policies);
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixpoint"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--reconcile-interval", "1s"])
        .arg("--policies")
        .arg(&policies);
    if snapshot {
        command
            .arg("--fleet")
            .arg(root().join("examples/fleet/snapshot.json"));
    }
    let mut child = command
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(extra)
        .env_remove("FIXPOINT_DATABASE_URL")
        .env_remove("FIXPOINT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fixpoint serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a first line");
    let base = line
        .trim()
        .strip_prefix("fixpoint: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server {
        child,
        base,
        _dir: dir,
        policies,
    }
}

fn get(url: &str) -> (u16, String) {
    let (code, _, body) = send("GET", url, None, None, None);
    (code, String::from_utf8(body).expect("utf-8 body"))
}

fn status(s: &Server) -> serde_json::Value {
    let (code, body) = get(&format!("{}/api/v1/status", s.base));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

/// Polls `check` on the status until it holds (or 20 s pass).
fn wait_for(
    s: &Server,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = status(s);
        if check(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn condition(v: &serde_json::Value, kind: &str) -> Option<bool> {
    v["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_bool())
}

#[test]
fn a_fresh_server_is_live_becomes_ready_and_reports_the_plan() {
    let s = start(&[]);
    assert_eq!(get(&format!("{}/healthz", s.base)), (200, "ok\n".into()));
    let v = wait_for(&s, "a plan", |v| !v["plan"].is_null());
    assert_eq!(condition(&v, "Ready"), Some(true), "{v:#}");
    assert_eq!(condition(&v, "Stalled"), Some(false));
    assert_eq!(v["plan"]["machines"], 4, "{v:#}");
    let applied = v["lastApplied"]["revision"].as_str().expect("revision");
    assert!(applied.starts_with("dir:"), "{applied}");
    assert_eq!(get(&format!("{}/readyz", s.base)).0, 200);
    let (code, metrics) = get(&format!("{}/metrics", s.base));
    assert_eq!(code, 200);
    assert!(
        metrics.contains("\nfixpoint_fleet_machines 4\n"),
        "{metrics}"
    );
    assert!(metrics.contains("fixpoint_policy_stalled 0"), "{metrics}");
    assert!(
        metrics.contains("fixpoint_machines{ring=\"servers/canary\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_broken_revision_is_not_applied_and_the_last_good_one_stays() {
    let s = start(&[]);
    let first = wait_for(&s, "a plan", |v| !v["plan"].is_null());
    let good = first["lastApplied"]["revision"]
        .as_str()
        .expect("revision")
        .to_owned();
    // A typo in a reference: a whole revision with one error.
    let rollouts = s.policies.join("rollouts.yaml");
    let text = std::fs::read_to_string(&rollouts).expect("rollouts.yaml");
    std::fs::write(
        &rollouts,
        text.replacen("approval: security-first", "approval: security-frist", 1),
    )
    .expect("write");
    let v = wait_for(&s, "the broken revision", |v| {
        v["lastAttempted"]["revision"] != good.as_str()
    });
    assert_eq!(condition(&v, "Ready"), Some(false), "{v:#}");
    assert_eq!(condition(&v, "Stalled"), Some(true), "{v:#}");
    assert_eq!(v["lastApplied"]["revision"], good.as_str(), "{v:#}");
    assert_eq!(
        v["plan"]["revision"],
        good.as_str(),
        "the plan stays on the good revision"
    );
    let diagnostics = v["lastAttempted"]["diagnostics"].to_string();
    assert!(diagnostics.contains("security-frist"), "{diagnostics}");
    let (_, metrics) = get(&format!("{}/metrics", s.base));
    assert!(metrics.contains("fixpoint_policy_stalled 1"), "{metrics}");
    assert!(
        metrics.contains("fixpoint_policy_invalid_revisions_total 1"),
        "{metrics}"
    );
    // Fixed again: applied, Ready.
    std::fs::write(&rollouts, text).expect("write");
    let v = wait_for(&s, "the fix", |v| condition(v, "Ready") == Some(true));
    assert_eq!(v["lastApplied"]["revision"], good.as_str());
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut s = start(&[]);
    wait_for(&s, "a plan", |v| !v["plan"].is_null());
    let pid = s.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(code) = s.child.try_wait().expect("wait") {
            assert!(code.success(), "exit status {code}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_config_file_is_read_and_flags_override_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("fixpoint.yaml");
    // The file says 9 machines' snapshot does not exist: the flag's snapshot wins.
    std::fs::write(
        &config,
        "reconcileInterval: 1s\nfleet: /nonexistent/snapshot.json\n",
    )
    .expect("write");
    let s = start(&["--config", config.to_str().expect("utf-8")]);
    let v = wait_for(&s, "a plan", |v| !v["plan"].is_null());
    assert_eq!(v["plan"]["machines"], 4);

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "listen: 127.0.0.1:0\nreconcileIntervall: 5m\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(["serve", "--config", bad.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:2:1"), "{stderr}");
    assert!(stderr.contains("reconcileIntervall"), "{stderr}");
}

/// Commits `files` as the whole tree of branch `main` of the bare repository.
fn commit_main(repo: &git2::Repository, files: &[(String, Vec<u8>)], message: &str) -> String {
    let mut builder = repo.treebuilder(None).expect("treebuilder");
    let mut sub = repo.treebuilder(None).expect("treebuilder");
    for (name, bytes) in files {
        let blob = repo.blob(bytes).expect("blob");
        sub.insert(name, blob, 0o100_644).expect("insert");
    }
    let sub = sub.write().expect("subtree");
    builder
        .insert("policies", sub, 0o040_000)
        .expect("insert dir");
    let tree = repo
        .find_tree(builder.write().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::new(
        "Pat Reviewer",
        "pat@corp.example",
        &git2::Time::new(1_764_000_000, 0),
    )
    .expect("signature");
    let parent = repo
        .find_reference("refs/heads/main")
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        message,
        &tree,
        &parents,
    )
    .expect("commit")
    .to_string()
}

#[test]
fn a_git_branch_is_followed_and_a_broken_push_keeps_the_last_good_commit() {
    let upstream_dir = tempfile::tempdir().expect("tempdir");
    let upstream = git2::Repository::init_bare(upstream_dir.path()).expect("bare");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(root().join("policies"))
        .expect("policies/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.file_name()
                    .and_then(|n| n.to_str())
                    .expect("name")
                    .to_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect();
    files.sort();
    let first = commit_main(&upstream, &files, "example policies");
    let url = format!("file://{}", upstream_dir.path().display());
    let s = start(&["--git-url", &url, "--git-path", "policies"]);
    let v = wait_for(&s, "the first commit planned", |v| {
        v["plan"]["revision"] == first.as_str()
    });
    assert_eq!(v["lastApplied"]["revision"], first.as_str());
    assert_eq!(condition(&v, "Ready"), Some(true));

    // A valid push is applied on the next pass.
    let mut second_files = files.clone();
    for (name, bytes) in &mut second_files {
        if name == "approval.yaml" {
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            *bytes = text
                .replace("  decline:\n", "  decline:\n    - {patch: \"nginx/1.22.1-9+deb12u4\", reason: \"regresses HTTP/2\", owner: web-team}\n")
                .into_bytes();
        }
    }
    let second = commit_main(&upstream, &second_files, "decline the nginx fix");
    wait_for(&s, "the second commit planned", |v| {
        v["plan"]["revision"] == second.as_str()
    });

    // A broken push is recorded, not applied.
    let mut broken = second_files.clone();
    for (name, bytes) in &mut broken {
        if name == "rollouts.yaml" {
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            *bytes = text
                .replacen("approval: security-first", "approval: security-frist", 1)
                .into_bytes();
        }
    }
    let third = commit_main(&upstream, &broken, "typo");
    let v = wait_for(&s, "the broken commit", |v| {
        v["lastAttempted"]["revision"] == third.as_str()
    });
    assert_eq!(v["lastApplied"]["revision"], second.as_str(), "{v:#}");
    assert_eq!(v["plan"]["revision"], second.as_str(), "{v:#}");
    assert_eq!(condition(&v, "Stalled"), Some(true));
    assert!(
        v["lastAttempted"]["diagnostics"]
            .to_string()
            .contains("policies/rollouts.yaml:"),
        "{v:#}"
    );
}

#[test]
fn without_a_snapshot_the_server_plans_the_machines_in_its_database() {
    use fixpoint_core::fleet::Fleet;
    let dir = tempfile::tempdir().expect("tempdir");
    // Two machines of the example fleet, enrolled and checked in as agents would.
    let example = Fleet::from_snapshot(
        &std::fs::read(root().join("examples/fleet/snapshot.json")).expect("snapshot"),
    )
    .expect("example fleet");
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = fixpoint::store::Store::open_in_data_dir(&data)
            .await
            .expect("store");
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
    let s = start_in(dir, false, &[]);
    let v = wait_for(&s, "a plan", |v| !v["plan"].is_null());
    assert_eq!(v["plan"]["machines"], 2, "{v:#}");
}

fn post(
    url: &str,
    credential: Option<&str>,
    body: String,
) -> (u16, Option<String>, serde_json::Value) {
    let (code, headers, bytes) = send("POST", url, credential, None, Some(body));
    let etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (code, etag, json)
}

#[test]
fn an_agent_enrolls_checks_in_and_is_planned() {
    let s = start_in(
        tempfile::tempdir().expect("tempdir"),
        false,
        &["--enrollment-token", "s3cret-token"],
    );
    let enroll = |token: &str| {
        post(
            &format!("{}/api/v1/enroll", s.base),
            None,
            serde_json::json!({
                "token": token,
                "facts": {"hostname": "web-9.corp.example", "os": {"family": "debian", "version": "12"},
                          "labels": {"role": "web"}, "timeZone": "Europe/Berlin"}
            })
            .to_string(),
        )
    };
    let (code, _, body) = enroll("wrong-token");
    assert_eq!(code, 401, "{body}");
    assert_eq!(body["error"], "unauthorized", "{body}");
    let (code, _, body) = enroll("s3cret-token");
    assert_eq!(code, 201, "{body}");
    let credential = body["credential"].as_str().expect("credential").to_owned();
    let agent = body["agentId"].as_str().expect("agent id").to_owned();
    assert_eq!(credential.len(), 64);

    let snapshot: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/fleet/snapshot.json")).expect("snapshot"),
    )
    .expect("json");
    let (hash, inventory) = snapshot["inventories"]
        .as_object()
        .and_then(|o| o.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("an inventory");
    let facts = serde_json::json!({"hostname": "web-9.corp.example", "os": {"family": "debian", "version": "12"},
                                   "labels": {"role": "web"}, "timeZone": "Europe/Berlin"});
    let check_in = |credential: Option<&str>, inventory: serde_json::Value| {
        post(
            &format!("{}/api/v1/check-in", s.base),
            credential,
            serde_json::json!({"facts": facts, "inventory": inventory}).to_string(),
        )
    };
    // Without a credential, or with someone else's: refused.
    let unchanged = serde_json::json!({"kind": "unchanged", "hash": hash});
    assert_eq!(check_in(None, unchanged.clone()).0, 401);
    assert_eq!(check_in(Some("not-a-credential"), unchanged.clone()).0, 401);
    // A hash the server has never seen: it asks for the inventory.
    let (code, _, body) = check_in(Some(&credential), unchanged.clone());
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["inventoryNeeded"], true, "{body}");
    // The full inventory, then only its hash.
    let full = serde_json::json!({"kind": "full", "platform": inventory["platform"], "packages": inventory["packages"]});
    let (code, etag, body) = check_in(Some(&credential), full);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["inventoryNeeded"], false, "{body}");
    assert_eq!(
        etag,
        Some(format!("\"{}\"", body["etag"].as_str().expect("etag")))
    );
    let (code, _, body) = check_in(Some(&credential), unchanged);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["inventoryNeeded"], false, "{body}");
    // Malformed JSON and unknown fields: 400 with the reason.
    let (code, _, body) = post(
        &format!("{}/api/v1/check-in", s.base),
        Some(&credential),
        "{\"facts\": 1".into(),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "malformed", "{body}");
    let (code, _, body) = post(
        &format!("{}/api/v1/check-in", s.base),
        Some(&credential),
        serde_json::json!({"facts": facts, "inventory": {"kind": "unchanged", "hash": hash}, "extra": 1}).to_string(),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("extra"),
        "{body}"
    );
    // Too large: 413.
    let (code, _, _) = post(
        &format!("{}/api/v1/check-in", s.base),
        Some(&credential),
        " ".repeat(33 * 1024 * 1024),
    );
    assert_eq!(code, 413);
    // The next pass plans the agent's machine.
    let v = wait_for(&s, "the agent planned", |v| v["plan"]["machines"] == 1);
    assert_eq!(v["plan"]["machines"], 1);
    let (_, metrics) = get(&format!("{}/metrics", s.base));
    assert!(metrics.contains("fixpoint_check_ins_total 2"), "{metrics}");
    assert!(agent.starts_with("agent-"), "{agent}");
}

#[test]
fn reports_are_matched_to_their_instructions_and_counted_once() {
    use fixpoint::store::{SourceUpdate, Store};
    use fixpoint_core::catalog::Advisory;
    let dir = tempfile::tempdir().expect("tempdir");
    // The example catalog in the server's database.
    let advisories: Vec<Advisory> = serde_json::from_slice(
        &std::fs::read(root().join("examples/fleet/catalog.json")).expect("catalog"),
    )
    .expect("advisories");
    let data = dir.path().join("data");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store = Store::open_in_data_dir(&data).await.expect("store");
            let update = SourceUpdate {
                name: "example".into(),
                kind: "osv".into(),
                location: "examples/fleet/catalog.json".into(),
                ..SourceUpdate::default()
            };
            store
                .replace_source(&update, &advisories, jiff::Timestamp::now())
                .await
                .expect("import");
            store.close().await;
        });
    let s = start_in(dir, false, &["--enrollment-token", "s3cret-token"]);
    let facts = serde_json::json!({"hostname": "web-9.corp.example", "os": {"family": "debian", "version": "12"},
                                   "labels": {"role": "web", "ring": "canary"}, "timeZone": "Europe/Berlin"});
    let enroll = || {
        let (code, _, body) = post(
            &format!("{}/api/v1/enroll", s.base),
            None,
            serde_json::json!({"token": "s3cret-token", "facts": facts}).to_string(),
        );
        assert_eq!(code, 201, "{body}");
        body["credential"].as_str().expect("credential").to_owned()
    };
    let a = enroll();
    let b = enroll();
    let snapshot: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/fleet/snapshot.json")).expect("snapshot"),
    )
    .expect("json");
    let web = snapshot["machines"][0]["inventory"]
        .as_str()
        .expect("hash")
        .to_owned();
    let inventory = &snapshot["inventories"][&web];
    let check_in = |credential: &str, inventory: serde_json::Value| {
        let (code, _, body) = post(
            &format!("{}/api/v1/check-in", s.base),
            Some(credential),
            serde_json::json!({"facts": facts, "inventory": inventory}).to_string(),
        );
        assert_eq!(code, 200, "{body}");
        body
    };
    let full = serde_json::json!({"kind": "full", "platform": inventory["platform"], "packages": inventory["packages"]});
    check_in(&a, full);
    wait_for(&s, "agent A planned", |v| v["plan"]["machines"] == 1);
    let body = check_in(&a, serde_json::json!({"kind": "unchanged", "hash": web}));
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
        post(
            &format!("{}/api/v1/report", s.base),
            Some(credential),
            serde_json::json!({"results": [{"instructionId": id, "outcome": "failed", "exitCode": 100,
                                            "logTail": "E: Sub-process /usr/bin/dpkg returned an error code (1)",
                                            "at": "2026-11-25T02:10:00Z"}]})
            .to_string(),
        )
    };
    let (code, _, body) = report(&a, &id);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, serde_json::json!({"accepted": 1, "duplicates": 0}));
    // The agent did not get the acknowledgement and sends it again.
    let (code, _, body) = report(&a, &id);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, serde_json::json!({"accepted": 0, "duplicates": 1}));
    // Agent B cannot report on A's instruction, nor anyone on an unknown one.
    let (code, _, body) = report(&b, &id);
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "unknownInstruction", "{body}");
    let (code, _, _) = report(&a, "i-does-not-exist");
    assert_eq!(code, 400);
}

fn request(
    method: &str,
    url: &str,
    credential: Option<&str>,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    send(method, url, credential, range, None)
}

/// One HTTP request with a real client: status, headers, body.
fn send(
    method: &str,
    url: &str,
    credential: Option<&str>,
    range: Option<&str>,
    json: Option<String>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime.block_on(async {
        let mut r = reqwest::Client::new().request(method.parse().expect("method"), url);
        if let Some(c) = credential {
            r = r.bearer_auth(c);
        }
        if let Some(range) = range {
            r = r.header("range", range);
        }
        if let Some(body) = json {
            r = r.header("content-type", "application/json").body(body);
        }
        let response = r.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.bytes().await.expect("body").to_vec(),
        )
    })
}

#[test]
fn staged_files_are_served_whole_in_ranges_and_never_when_tampered() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().expect("tempdir");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sha: String = Sha256::digest(&content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let place = |bytes: &[u8], sha: &str| {
        let path = dir.path().join("data/staging/sha256").join(&sha[..2]);
        std::fs::create_dir_all(&path).expect("mkdir");
        std::fs::write(path.join(sha), bytes).expect("write");
    };
    place(&content, &sha);
    // A second file whose bytes no longer match its name.
    let other: Vec<u8> = b"a genuine package".to_vec();
    let other_sha: String = Sha256::digest(&other)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    place(b"a tampered package", &other_sha);
    let data = dir.path().join("data/staging");
    let s = start_in(dir, true, &["--enrollment-token", "s3cret-token"]);
    let (code, _, body) = post(
        &format!("{}/api/v1/enroll", s.base),
        None,
        serde_json::json!({"token": "s3cret-token", "facts": {"hostname": "h", "os": {"family": "debian"}}}).to_string(),
    );
    assert_eq!(code, 201, "{body}");
    let credential = body["credential"].as_str().expect("credential").to_owned();
    let url = format!("{}/api/v1/files/{sha}", s.base);

    assert_eq!(request("GET", &url, None, None).0, 401);
    let (code, headers, bytes) = request("GET", &url, Some(&credential), None);
    assert_eq!(code, 200);
    assert_eq!(bytes, content);
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
    let (code, headers, bytes) = request("HEAD", &url, Some(&credential), None);
    assert_eq!(code, 200);
    assert_eq!(headers["content-length"], "200000");
    assert!(bytes.is_empty());
    // Resuming after 150,000 bytes.
    let (code, headers, bytes) = request("GET", &url, Some(&credential), Some("bytes=150000-"));
    assert_eq!(code, 206);
    assert_eq!(headers["content-range"], "bytes 150000-199999/200000");
    assert_eq!(bytes, &content[150_000..]);
    let (code, _, bytes) = request("GET", &url, Some(&credential), Some("bytes=10-19"));
    assert_eq!((code, bytes.as_slice()), (206, &content[10..20]));
    let (code, headers, _) = request("GET", &url, Some(&credential), Some("bytes=200000-"));
    assert_eq!(code, 416);
    assert_eq!(headers["content-range"], "bytes */200000");
    // The tampered file is not served, and is gone from the store.
    let tampered = format!("{}/api/v1/files/{other_sha}", s.base);
    assert_eq!(request("GET", &tampered, Some(&credential), None).0, 404);
    assert!(
        !data
            .join("sha256")
            .join(&other_sha[..2])
            .join(&other_sha)
            .exists()
    );
    assert_eq!(
        request(
            "GET",
            &format!("{}/api/v1/files/{}", s.base, "0".repeat(64)),
            Some(&credential),
            None
        )
        .0,
        404
    );
}

/// Asserts that the document says `method path` may answer `status`, and that
/// `body` satisfies the schema it gives for it.
fn conforms(
    doc: &serde_json::Value,
    method: &str,
    path: &str,
    status: u16,
    body: &serde_json::Value,
) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which the document does not list: {body}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    let found = support::openapi::errors(doc, schema, body);
    assert!(
        found.is_empty(),
        "{method} {path} {status}: {found:#?}\n{body:#}"
    );
}

#[test]
fn the_openapi_document_is_served_without_a_credential_and_the_answers_satisfy_it() {
    use fixpoint_core::protocol::{self, CHECK_IN_PATH, ENROLL_PATH, OPENAPI_PATH, REPORT_PATH};
    let s = start_in(
        tempfile::tempdir().expect("tempdir"),
        false,
        &["--enrollment-token", "s3cret-token"],
    );
    let (code, headers, bytes) = send(
        "GET",
        &format!("{}{OPENAPI_PATH}", s.base),
        None,
        None,
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(headers["content-type"], "application/json");
    let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(
        doc,
        protocol::openapi(),
        "the same document as docs/openapi.json"
    );

    let url = |path: &str| format!("{}{path}", s.base);
    let facts = serde_json::json!({"hostname": "web-9.corp.example", "os": {"family": "debian", "version": "12"}});
    let enroll = |token: &str| {
        post(
            &url(ENROLL_PATH),
            None,
            serde_json::json!({"token": token, "facts": facts}).to_string(),
        )
    };
    let (code, _, body) = enroll("wrong-token");
    conforms(&doc, "post", ENROLL_PATH, code, &body);
    assert_eq!(code, 401);
    let (code, _, body) = post(
        &url(ENROLL_PATH),
        None,
        serde_json::json!({"token": "t"}).to_string(),
    );
    conforms(&doc, "post", ENROLL_PATH, code, &body);
    assert_eq!(code, 400);
    let (code, _, body) = enroll("s3cret-token");
    conforms(&doc, "post", ENROLL_PATH, code, &body);
    assert_eq!(code, 201);
    let credential = body["credential"].as_str().expect("credential").to_owned();

    let check_in =
        |credential: Option<&str>, body: String| post(&url(CHECK_IN_PATH), credential, body);
    let unknown = serde_json::json!({"facts": facts, "inventory": {"kind": "unchanged", "hash": "0".repeat(64)}});
    let (code, _, body) = check_in(None, unknown.to_string());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(code, 401);
    let (code, etag, body) = check_in(Some(&credential), unknown.to_string());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(
        (code, &body["inventoryNeeded"]),
        (200, &serde_json::json!(true))
    );
    assert_eq!(
        etag,
        Some(format!("\"{}\"", body["etag"].as_str().expect("etag"))),
        "the ETag header, here too"
    );
    let full = serde_json::json!({"facts": facts, "inventory": {"kind": "full", "platform": "debian:12",
        "packages": [{"name": "openssl", "architecture": "amd64", "version": "3.0.14-1"}]}});
    let (code, _, body) = check_in(Some(&credential), full.to_string());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(code, 200);
    let (code, _, body) = check_in(Some(&credential), "{\"facts\": 1".into());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(code, 400);

    let (code, _, body) = post(
        &url(REPORT_PATH),
        Some(&credential),
        serde_json::json!({"results": [{"instructionId": "i-never-given", "outcome": "succeeded",
                                        "at": "2026-11-25T02:10:00Z"}]})
        .to_string(),
    );
    conforms(&doc, "post", REPORT_PATH, code, &body);
    assert_eq!(
        (code, &body["error"]),
        (400, &serde_json::json!("unknownInstruction"))
    );

    let files = format!("{}{{sha256}}", protocol::FILES_PATH);
    let (code, _, bytes) = request(
        "GET",
        &url(&protocol::file_path(&"0".repeat(64))),
        Some(&credential),
        None,
    );
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("an ApiError");
    conforms(&doc, "get", &files, code, &body);
    assert_eq!(code, 404);
}
