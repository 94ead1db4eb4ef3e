//! Durability: what the server acknowledged survives `kill -9`.
//!
//! A report is stored in one transaction before its `200`, so an agent clears
//! its journal only of results that are in the database. These tests kill the
//! server while agents report and check, after a restart on the same database,
//! that nothing it acknowledged is missing.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::support::{Agent, Serve, Server, facts, on_each_database, post, web_inventory};

/// Canary web machines reporting at once, and the threads they report from.
const AGENTS: usize = 16;
const THREADS: usize = 4;

/// A report of `instructions` as failed, as an agent sends it.
fn failed(instructions: &[&str]) -> String {
    let results: Vec<Value> = instructions
        .iter()
        .map(|id| {
            json!({"instructionId": id, "outcome": "failed", "exitCode": 100,
                   "logTail": "E: Sub-process /usr/bin/dpkg returned an error code (1)",
                   "at": "2026-11-25T02:10:00Z"})
        })
        .collect();
    json!({ "results": results }).to_string()
}

/// The ids of the instructions an agent is given at a check-in.
fn instructions(s: &Server, agent: &Agent, facts: &Value, inventory: &Value) -> Vec<String> {
    let body = s.check_in(agent, facts, inventory);
    body["instructions"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

/// One instruction's result, waiting to be reported.
struct Pending {
    agent: usize,
    instruction: String,
}

/// What the server answered to one sending of a result.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Accepted,
    Duplicate,
    /// Any other answer: never expected.
    Other(u16, Value),
    /// The connection broke before the answer was complete: the server was
    /// killed while the report was in flight.
    Cut,
    /// No connection: the server was gone.
    Refused,
}

impl Answer {
    /// Whether the agent may forget the result: the server has it.
    fn acknowledges(&self) -> bool {
        matches!(self, Answer::Accepted | Answer::Duplicate)
    }
}

/// What an answer to a report of one result says.
fn answer(reply: Result<(u16, Option<String>, Value), reqwest::Error>) -> Answer {
    match reply {
        Ok((200, _, body)) if body == json!({"accepted": 1, "duplicates": 0}) => Answer::Accepted,
        Ok((200, _, body)) if body == json!({"accepted": 0, "duplicates": 1}) => Answer::Duplicate,
        Ok((code, _, body)) => Answer::Other(code, body),
        Err(e) if e.is_connect() => Answer::Refused,
        Err(_) => Answer::Cut,
    }
}

/// Reports every result, one per report, from [`THREADS`] threads at once,
/// each result twice in a row (so that two threads often send the same one at
/// the same time). The thread that receives the `kill_after`th first
/// acknowledgement kills the server with SIGKILL while the others go on
/// sending. Returns what the server answered to each sending of each result.
fn burst_killed_after(
    s: &Server,
    agents: &[Agent],
    results: &[Pending],
    kill_after: usize,
) -> Vec<Vec<Answer>> {
    let sends: Vec<usize> = (0..results.len()).flat_map(|i| [i, i]).collect();
    let next = AtomicUsize::new(0);
    let acknowledged = AtomicUsize::new(0);
    let answers: Vec<Mutex<Vec<Answer>>> = results.iter().map(|_| Mutex::new(Vec::new())).collect();
    let url = s.url("/api/v1/report");
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                while let Some(&i) = sends.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let r = &results[i];
                    let credential = &agents[r.agent].credential;
                    let answer = answer(post(&url, Some(credential), failed(&[&r.instruction])));
                    let first = {
                        let mut seen = answers[i].lock().expect("answers");
                        let first = answer.acknowledges() && !seen.iter().any(Answer::acknowledges);
                        seen.push(answer);
                        first
                    };
                    if first && acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                        s.kill();
                    }
                }
            });
        }
    });
    answers
        .into_iter()
        .map(|a| a.into_inner().expect("answers"))
        .collect()
}

#[test]
fn kill_9_during_a_burst_of_reports_loses_no_acknowledged_report() {
    on_each_database(|db| {
        let mut s = Serve::new()
            .snapshot(false)
            .enrollment()
            .database(&db)
            .example_catalog()
            .start();
        let facts = facts(json!({"role": "web", "ring": "canary"}));
        let (hash, full) = web_inventory();
        let unchanged = json!({"kind": "unchanged", "hash": hash});
        let agents: Vec<Agent> = (0..AGENTS).map(|_| s.enroll(&facts)).collect();
        for agent in &agents {
            s.check_in(agent, &facts, &full);
        }
        s.wait_for("every agent planned", |v| v["plan"]["machines"] == AGENTS);
        // Every instruction of every agent: the results the burst reports.
        let results: Vec<Pending> = agents
            .iter()
            .enumerate()
            .flat_map(|(agent, a)| {
                instructions(&s, a, &facts, &unchanged)
                    .into_iter()
                    .map(move |instruction| Pending { agent, instruction })
            })
            .collect();
        let per_agent = results.len() / AGENTS;
        assert!(
            per_agent >= 2 && results.len() == per_agent * AGENTS,
            "each canary web machine has the same missing patches, two or more: {} instructions",
            results.len()
        );

        let kill_after = results.len() / 3;
        let answers = burst_killed_after(&s, &agents, &results, kill_after);
        let others: Vec<&Answer> = answers
            .iter()
            .flatten()
            .filter(|a| matches!(a, Answer::Other(..)))
            .collect();
        assert!(
            others.is_empty(),
            "reports answered with neither an acknowledgement nor a broken connection: {others:?}"
        );
        for (r, a) in results.iter().zip(&answers) {
            assert!(
                a.iter().filter(|&x| *x == Answer::Accepted).count() <= 1,
                "{} was accepted twice: {a:?}",
                r.instruction
            );
        }
        let acked: Vec<bool> = answers
            .iter()
            .map(|a| a.iter().any(Answer::acknowledges))
            .collect();
        let n_acked = acked.iter().filter(|&&a| a).count();
        assert!(
            n_acked >= kill_after,
            "only {n_acked} results acknowledged: the server was never killed"
        );
        assert!(
            n_acked < results.len(),
            "every result was acknowledged: the kill came after the burst, not in it"
        );
        let cut = answers
            .iter()
            .flatten()
            .filter(|&a| *a == Answer::Cut)
            .count();
        eprintln!(
            "{db}: {} results, {n_acked} acknowledged, {cut} reports in flight at kill -9",
            results.len()
        );

        s.restart();
        s.wait_for("every agent planned after the restart", |v| {
            v["plan"]["machines"] == AGENTS
        });
        // A stored failure is counted by the plan: the retry is a new
        // instruction, so the failed one is no longer issued.
        let issued: HashSet<String> = agents
            .iter()
            .flat_map(|a| instructions(&s, a, &facts, &unchanged))
            .collect();
        let stored: Vec<bool> = results
            .iter()
            .map(|r| !issued.contains(&r.instruction))
            .collect();
        for ((r, &acked), &stored) in results.iter().zip(&acked).zip(&stored) {
            assert!(
                !acked || stored,
                "acknowledged {} is not in the restarted server's plan",
                r.instruction
            );
        }
        // Each agent sends its acknowledged results again: all duplicates.
        for (agent, a) in agents.iter().enumerate() {
            let ids: Vec<&str> = results
                .iter()
                .zip(&acked)
                .filter(|(r, acked)| r.agent == agent && **acked)
                .map(|(r, _)| r.instruction.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let (code, _, body) = s.post("/api/v1/report", Some(&a.credential), failed(&ids));
            assert_eq!(
                (code, body),
                (200, json!({"accepted": 0, "duplicates": ids.len()})),
                "agent {agent}'s acknowledged results, sent again after the restart"
            );
        }
        // A result never acknowledged may or may not have been stored; sent
        // again it is accepted or a duplicate, as the plan said.
        for ((r, &acked), &stored) in results.iter().zip(&acked).zip(&stored) {
            if acked {
                continue;
            }
            let (code, _, body) = s.post(
                "/api/v1/report",
                Some(&agents[r.agent].credential),
                failed(&[&r.instruction]),
            );
            let expected = if stored {
                json!({"accepted": 0, "duplicates": 1})
            } else {
                json!({"accepted": 1, "duplicates": 0})
            };
            assert_eq!(
                (code, body),
                (200, expected),
                "unacknowledged {}, which the restarted plan counted: {stored}",
                r.instruction
            );
        }
        // Now every result is stored, once.
        for (agent, a) in agents.iter().enumerate() {
            let ids: Vec<&str> = results
                .iter()
                .filter(|r| r.agent == agent)
                .map(|r| r.instruction.as_str())
                .collect();
            let (code, _, body) = s.post("/api/v1/report", Some(&a.credential), failed(&ids));
            assert_eq!(
                (code, body),
                (200, json!({"accepted": 0, "duplicates": per_agent})),
                "agent {agent}'s results, all sent again"
            );
        }
    });
}
