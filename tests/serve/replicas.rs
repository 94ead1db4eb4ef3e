//! Several replicas of `fixpoint serve` on one PostgreSQL database: exactly
//! one leads (holds the advisory lock and does the singleton work), all of
//! them serve agents, and when the leader is killed with SIGKILL under load
//! another takes over while agents go on checking in without an error.
//!
//! These tests need PostgreSQL on 127.0.0.1:5432; without it they are skipped,
//! except with CI=true, where they fail.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{Agent, Db, Serve, Server, block_on, facts, post, web_inventory};

/// The lock key of `src/server/leader.rs`: "fixpoint" in ASCII.
const LOCK_KEY: i64 = 0x6669_7870_6f69_6e74;

/// What a monitor saw of one replica claiming leadership: since when, by its
/// own status.
#[derive(Debug, Clone, PartialEq)]
struct Claim {
    replica: usize,
    since: jiff::Timestamp,
}

/// The leader's status, `None` if the replica does not answer (killed).
fn leads(server: &Server) -> Option<(bool, jiff::Timestamp)> {
    let reply = crate::support::send(
        "GET",
        &server.url("/api/v1/status"),
        Some(crate::support::CONSOLE_TOKEN),
        None,
        None,
    )
    .ok()?;
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    let leader = v["replica"]["leader"].as_bool()?;
    let since = v["replica"]["since"].as_str()?.parse().ok()?;
    Some((leader, since))
}

/// How many sessions hold the leader lock, as PostgreSQL itself says (advisory
/// locks belong to a database: other tests' servers hold theirs).
async fn lock_holders(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = (($1::bigint >> 32) & 4294967295)::oid \
         AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1",
    )
    .bind(LOCK_KEY)
    .fetch_one(conn)
    .await
    .expect("pg_locks")
}

fn start_replicas(url: &str, n: usize) -> Vec<Server> {
    let first = Serve::new()
        .snapshot(false)
        .database(&Db::Postgres(url.to_owned()))
        .example_catalog()
        .enrollment()
        .start();
    let mut replicas = vec![first];
    for _ in 1..n {
        // Each replica has its own copy of the same policy, as each pod clones the same
        // repository: the same revision wherever it is read.
        replicas.push(
            Serve::new()
                .snapshot(false)
                .database(&Db::Postgres(url.to_owned()))
                .enrollment()
                .start(),
        );
    }
    for (i, r) in replicas.iter().enumerate() {
        r.wait_for(&format!("replica {i} to plan"), |v| {
            v["plan"]["revision"].is_string()
        });
    }
    replicas
}

/// The one replica that says it leads, waiting for there to be one.
fn leader_of(replicas: &[Server], alive: &[bool]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leading: Vec<usize> = (0..replicas.len())
            .filter(|&i| alive[i] && leads(&replicas[i]).is_some_and(|(l, _)| l))
            .collect();
        if leading.len() == 1 {
            return leading[0];
        }
        assert!(leading.len() <= 1, "two leaders at once: {leading:?}");
        assert!(Instant::now() < deadline, "no leader within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One agent's check-in, sent to the live replicas in turn until one answers,
/// as an agent behind a Kubernetes Service gets another pod when one dies:
/// the answer's status, ETag and body, and whether a connection failed first.
fn check_in_anywhere(
    replicas: &[Server],
    alive: &[AtomicBool],
    start: usize,
    agent: &Agent,
    body: &str,
) -> (u16, Option<String>, Value, bool) {
    let mut reconnected = false;
    for k in 0..replicas.len() * 3 {
        let i = (start + k) % replicas.len();
        if !alive[i].load(Ordering::SeqCst) {
            continue;
        }
        match post(
            &replicas[i].url("/api/v1/check-in"),
            Some(&agent.credential),
            body.to_owned(),
        ) {
            Ok((code, etag, v)) => return (code, etag, v, reconnected),
            // The replica died under this request: the agent's next connection goes elsewhere.
            Err(_) => reconnected = true,
        }
    }
    panic!("no replica answered a check-in");
}

fn failover(n: usize) {
    let test = format!("replicas_{n}");
    let Some(url) = block_on(crate::databases::fresh_postgres(&test)) else {
        return;
    };
    let replicas = Arc::new(start_replicas(&url, n));
    let alive: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(true)).collect());
    let all_alive = vec![true; n];
    let first = leader_of(&replicas, &all_alive);

    // Agents enrol and send their inventories through every replica.
    let (_, inventory) = web_inventory();
    let agent_facts = facts(json!({"role": "web"}));
    let full = json!({"facts": agent_facts, "inventory": inventory}).to_string();
    let agents: Vec<(Agent, String)> = (0..24)
        .map(|i| {
            let agent = replicas[i % n].enroll(&agent_facts);
            let answer = replicas[(i + 1) % n].check_in(&agent, &agent_facts, &inventory);
            assert_eq!(answer["inventoryNeeded"], false, "{answer:#}");
            (agent, full.clone())
        })
        .collect();
    let hash = {
        let (h, _) = web_inventory();
        h
    };
    let unchanged =
        json!({"facts": agent_facts, "inventory": {"kind": "unchanged", "hash": hash}}).to_string();

    // Every replica gives an agent the same instructions: it plans as the leader does.
    let leader_etag = {
        let (code, etag, v, _) =
            check_in_anywhere(&replicas, &alive, first, &agents[0].0, &unchanged);
        assert_eq!(code, 200, "{v:#}");
        etag
    };
    for i in 0..n {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (code, etag, v) = replicas[i].post(
                "/api/v1/check-in",
                Some(&agents[0].0.credential),
                unchanged.clone(),
            );
            assert_eq!(code, 200, "{v:#}");
            if etag == leader_etag {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {i} answers {etag:?}, the leader {leader_etag:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // A monitor watches who claims to lead and who holds the lock, every 20 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let claims: Arc<Mutex<Vec<Claim>>> = Arc::new(Mutex::new(Vec::new()));
    let most_holders = Arc::new(AtomicUsize::new(0));
    let monitor = {
        let (replicas, alive, stop, claims, most) = (
            Arc::clone(&replicas),
            Arc::clone(&alive),
            Arc::clone(&stop),
            Arc::clone(&claims),
            Arc::clone(&most_holders),
        );
        let url = url.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let mut conn = runtime
                .block_on(sqlx::PgConnection::connect(&url))
                .expect("monitor connects");
            while !stop.load(Ordering::SeqCst) {
                let holders = runtime.block_on(lock_holders(&mut conn));
                most.fetch_max(
                    usize::try_from(holders).unwrap_or(usize::MAX),
                    Ordering::SeqCst,
                );
                for (i, r) in replicas.iter().enumerate() {
                    if !alive[i].load(Ordering::SeqCst) {
                        continue;
                    }
                    if let Some((true, since)) = leads(r) {
                        let claim = Claim { replica: i, since };
                        let mut claims = claims.lock().expect("claims");
                        if !claims.contains(&claim) {
                            claims.push(claim);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // Load: four agents' worth of threads check in continuously through all replicas.
    let sent = Arc::new(AtomicUsize::new(0));
    let noticed: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let reconnects = Arc::new(AtomicUsize::new(0));
    let agents = Arc::new(agents);
    let load: Vec<_> = (0..4)
        .map(|t| {
            let (replicas, alive, stop, sent, noticed, reconnects, agents, unchanged) = (
                Arc::clone(&replicas),
                Arc::clone(&alive),
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(&noticed),
                Arc::clone(&reconnects),
                Arc::clone(&agents),
                unchanged.clone(),
            );
            std::thread::spawn(move || {
                let mut k = t;
                while !stop.load(Ordering::SeqCst) {
                    let (agent, _) = &agents[k % agents.len()];
                    let (code, _, v, reconnected) =
                        check_in_anywhere(&replicas, &alive, k, agent, &unchanged);
                    sent.fetch_add(1, Ordering::SeqCst);
                    if reconnected {
                        reconnects.fetch_add(1, Ordering::SeqCst);
                    }
                    if code != 200 || v["inventoryNeeded"] != false {
                        noticed
                            .lock()
                            .expect("noticed")
                            .push(format!("{code}: {v}"));
                    }
                    k += 4;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(2));
    let before_kill = sent.load(Ordering::SeqCst);
    let killed_at = jiff::Timestamp::now();
    alive[first].store(false, Ordering::SeqCst);
    replicas[first].kill();
    let alive_now: Vec<bool> = (0..n).map(|i| i != first).collect();
    let next = leader_of(&replicas, &alive_now);
    let took_over = jiff::Timestamp::now().duration_since(killed_at);
    // Keep the load on the new leader for a while.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.join().expect("load thread");
    }
    monitor.join().expect("monitor");

    let total = sent.load(Ordering::SeqCst);
    eprintln!(
        "{n} replicas: replica {first} killed, replica {next} led {took_over:#} later; \
         {total} check-ins ({before_kill} before the kill), {} retried on another replica",
        reconnects.load(Ordering::SeqCst)
    );
    assert!(
        took_over < jiff::SignedDuration::from_secs(30),
        "took over in {took_over:#}"
    );
    assert!(total > before_kill, "check-ins went on after the kill");
    let noticed = noticed.lock().expect("noticed");
    assert!(noticed.is_empty(), "agents saw errors: {noticed:#?}");
    assert!(
        most_holders.load(Ordering::SeqCst) <= 1,
        "PostgreSQL saw the lock held twice"
    );
    // Exactly one leader at every moment: the first until it was killed, then the
    // next, whose leadership began after the kill.
    let claims = claims.lock().expect("claims").clone();
    let by = |i: usize| -> Vec<&Claim> { claims.iter().filter(|c| c.replica == i).collect() };
    assert_eq!(by(first).len(), 1, "{claims:?}");
    assert!(by(first)[0].since < killed_at, "{claims:?}");
    assert_eq!(by(next).len(), 1, "{claims:?}");
    assert!(by(next)[0].since > killed_at, "{claims:?}");
    assert_eq!(
        claims.len(),
        2,
        "only the first leader and its successor ever led: {claims:?}"
    );
    // The lock is held now, by the successor's session.
    let holders = block_on(async {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connects");
        lock_holders(&mut conn).await
    });
    assert_eq!(holders, 1);

    // Nothing done twice: the revision was recorded once, by the first leader; the
    // successor read it as a follower and did not record it again.
    let attempts: Vec<(String, i64)> = block_on(async {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connects");
        sqlx::query_as("SELECT revision, attempt_seq FROM policy_revisions")
            .fetch_all(&mut conn)
            .await
            .expect("revisions")
    });
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].1, 1, "recorded once: {attempts:?}");

    // Nothing acknowledged lost: every enrolled agent and its inventory is known to
    // the survivors (an unchanged check-in needs no inventory).
    for (agent, _) in agents.iter() {
        let (code, _, v, _) = check_in_anywhere(&replicas, &alive, next, agent, &unchanged);
        assert_eq!(code, 200, "{v:#}");
        assert_eq!(v["inventoryNeeded"], false, "{v:#}");
    }

    // The new leader reads the policy source: a change is recorded by it and every
    // live replica plans the new revision.
    for (i, r) in replicas.iter().enumerate() {
        if i != first {
            touch_policy(r);
        }
    }
    let old = attempts[0].0.clone();
    let new_revision = replicas[next].wait_for("the new leader to apply the change", |v| {
        v["lastApplied"]["revision"]
            .as_str()
            .is_some_and(|r| r != old)
            && v["plan"]["revision"] == v["lastApplied"]["revision"]
    })["lastApplied"]["revision"]
        .clone();
    for (i, r) in replicas.iter().enumerate() {
        if i != first {
            r.wait_for(&format!("replica {i} to plan {new_revision}"), |v| {
                v["plan"]["revision"] == new_revision
            });
        }
    }
}

/// Changes the replica's copy of the policy without changing its meaning: a
/// comment at the end of one file, so a new revision.
fn touch_policy(r: &Server) {
    let file = std::fs::read_dir(r.policies())
        .expect("policies")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .min()
        .expect("a policy file");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str("\n# reviewed again\n");
    std::fs::write(&file, text).expect("write");
}

#[test]
fn two_replicas_one_leader_and_a_follower_takes_over_after_kill_9() {
    failover(2);
}

#[test]
fn three_replicas_one_leader_and_a_follower_takes_over_after_kill_9() {
    failover(3);
}

/// With a reconcile interval of an hour, nothing but `NOTIFY` moves the
/// replicas: a push webhook that lands on a follower reaches the leader, which
/// reads and records the new revision, and the follower plans it.
#[test]
fn a_webhook_at_a_follower_reaches_the_leader_and_its_revision_every_replica() {
    let Some(url) = block_on(crate::databases::fresh_postgres("replicas_notify")) else {
        return;
    };
    let args = [
        "--reconcile-interval",
        "1h",
        "--webhook-secret",
        "hook-secret",
    ];
    let db = Db::Postgres(url);
    let first = Serve::new()
        .snapshot(false)
        .database(&db)
        .args(&args)
        .start();
    let v = first.wait_for("the first replica to plan", |v| {
        v["plan"]["revision"].is_string()
    });
    assert_eq!(v["replica"]["leader"], true, "{v:#}");
    let old = v["plan"]["revision"].clone();
    let second = Serve::new()
        .snapshot(false)
        .database(&db)
        .args(&args)
        .start();
    let v = second.wait_for("the follower to plan the stored revision", |v| {
        v["plan"]["revision"] == old
    });
    assert_eq!(v["replica"]["leader"], false, "{v:#}");

    touch_policy(&first);
    let reply = block_on(async {
        reqwest::Client::new()
            .post(second.url("/api/v1/webhook"))
            .header("x-gitlab-token", "hook-secret")
            .header("x-gitlab-event", "Push Hook")
            .header("content-type", "application/json")
            .body(r#"{"ref": "refs/heads/main"}"#)
            .send()
            .await
            .expect("webhook")
            .status()
    });
    assert_eq!(reply.as_u16(), 202);
    let v = first.wait_for("the leader to apply the pushed revision", |v| {
        v["plan"]["revision"].is_string() && v["plan"]["revision"] != old
    });
    let new = v["plan"]["revision"].clone();
    second.wait_for("the follower to plan it", |v| v["plan"]["revision"] == new);
}
