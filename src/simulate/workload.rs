//! What one job of each scenario sends, and how its answer counts.
//!
//! - Enrollment: job `j` enrolls machine `first + j` with the enrollment token.
//! - Check-in: job `j` is a check-in of agent `j mod agents`, with its full
//!   inventory or only its hash. When the server does not know the hash
//!   (`inventoryNeeded`), the agent sends its full inventory at once, as the
//!   real agent does, and that is counted.
//! - Report: job `j` reports, for agent `j mod agents`, a success for each
//!   instruction it was given at its last check-in in this run (an empty report
//!   when it was given none: still authenticated and stored as one transaction).

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fixpoint_core::fleet::Outcome as InstallOutcome;
use fixpoint_core::protocol::{
    CHECK_IN_PATH, ENROLL_PATH, EnrollRequest, EnrollResponse, InstructionResult, InventoryPayload,
    REPORT_PATH, Report, ReportResponse,
};
use hyper::body::Bytes;
use serde::Deserialize;

use super::agents::AgentRecord;
use super::client::{Answer, Connection, Connections, SendError};
use super::inventory::Generator;
use super::load::{Outcome, Workload};

/// A request's answer as an outcome: 2xx is `Ok(answer)`; 503 is shed; any
/// other status, or no answer, failed, by kind (`http 401 unauthorized`).
fn classify(result: Result<Answer, SendError>) -> Result<Answer, Outcome> {
    match result {
        Ok(answer) if (200..300).contains(&answer.status) => Ok(answer),
        Ok(answer) if answer.status == 503 => Err(Outcome::Shed {
            retry_after: answer.retry_after,
        }),
        Ok(answer) => {
            #[derive(Deserialize)]
            struct ErrorBody {
                error: String,
            }
            let code = serde_json::from_slice::<ErrorBody>(&answer.body)
                .map(|b| format!(" {}", b.error))
                .unwrap_or_default();
            Err(Outcome::Failed(Cow::Owned(format!(
                "http {}{code}",
                answer.status
            ))))
        }
        Err(e) => Err(Outcome::Failed(Cow::Borrowed(e.kind()))),
    }
}

fn simulator_error(e: &anyhow::Error) -> Outcome {
    Outcome::Failed(Cow::Owned(format!("simulator: {e:#}")))
}

/// What a scenario counts beyond the outcomes.
#[derive(Debug, Default)]
pub struct Counters {
    /// Check-ins answered `inventoryNeeded` (then sent again in full).
    pub inventory_needed: AtomicU64,
    /// Instructions the check-ins' answers held.
    pub instructions: AtomicU64,
    /// Results sent in reports, and accepted as new by the server.
    pub results_sent: AtomicU64,
    pub results_accepted: AtomicU64,
}

/// The virtual agents of a run, their inventories and what they were told.
#[derive(Debug)]
pub struct Fleet {
    pub agents: Vec<AgentRecord>,
    pub generator: Arc<Generator>,
    /// The instruction ids each agent (by position) was given at its last
    /// check-in, when there were any and `keep_instructions`.
    instructions: Mutex<HashMap<usize, Vec<String>>>,
    /// Whether to keep them, for a report scenario later in the run.
    pub keep_instructions: bool,
    pub counters: Counters,
}

impl Fleet {
    pub fn new(agents: Vec<AgentRecord>, generator: Arc<Generator>) -> Fleet {
        Fleet {
            agents,
            generator,
            instructions: Mutex::new(HashMap::new()),
            keep_instructions: false,
            counters: Counters::default(),
        }
    }

    fn agent(&self, job: u64) -> (usize, &AgentRecord) {
        let at = usize::try_from(job % self.agents.len().max(1) as u64).unwrap_or(0);
        (at, &self.agents[at])
    }

    /// A check-in body: the agent's facts and `inventory` (JSON).
    fn check_in_body(&self, machine: u64, inventory: &[u8]) -> Result<Bytes, Outcome> {
        let facts = self.generator.facts(machine);
        let mut body = Vec::with_capacity(inventory.len() + 384);
        body.extend_from_slice(b"{\"facts\":");
        serde_json::to_writer(&mut body, &facts)
            .map_err(|e| simulator_error(&anyhow::anyhow!("facts: {e}")))?;
        body.extend_from_slice(b",\"inventory\":");
        body.extend_from_slice(inventory);
        body.push(b'}');
        Ok(Bytes::from(body))
    }

    fn full_body(&self, machine: u64) -> Result<Bytes, Outcome> {
        let inventory = self
            .generator
            .full_payload(self.generator.inventory_of(machine))
            .map_err(|e| simulator_error(&e))?;
        self.check_in_body(machine, &inventory)
    }

    fn unchanged_body(&self, machine: u64) -> Result<Bytes, Outcome> {
        let hash = self
            .generator
            .hash(self.generator.inventory_of(machine))
            .map_err(|e| simulator_error(&e))?;
        let inventory = serde_json::to_vec(&InventoryPayload::Unchanged { hash })
            .map_err(|e| simulator_error(&anyhow::anyhow!("inventory: {e}")))?;
        self.check_in_body(machine, &inventory)
    }

    /// Reads a check-in's answer: whether the inventory is needed; counts the
    /// instructions and, with `keep_instructions`, keeps their ids for a report.
    fn read_answer(&self, at: usize, answer: &Answer) -> Result<bool, Outcome> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct CheckInAnswer<T> {
            #[serde(default)]
            inventory_needed: bool,
            #[serde(default = "Items::default")]
            instructions: Items<T>,
        }
        #[derive(Deserialize)]
        struct Items<T> {
            #[serde(default = "Vec::new")]
            items: Vec<T>,
        }
        impl<T> Items<T> {
            fn default() -> Items<T> {
                Items { items: Vec::new() }
            }
        }
        #[derive(Deserialize)]
        struct Item {
            id: String,
        }
        let unreadable = |_| Outcome::Failed(Cow::Borrowed("unreadable check-in answer"));
        let (needed, count, ids) = if self.keep_instructions {
            let parsed: CheckInAnswer<Item> =
                serde_json::from_slice(&answer.body).map_err(unreadable)?;
            let ids: Vec<String> = parsed
                .instructions
                .items
                .into_iter()
                .map(|i| i.id)
                .collect();
            (parsed.inventory_needed, ids.len(), ids)
        } else {
            // Counted, not kept: a plan can give a machine hundreds of instructions.
            let parsed: CheckInAnswer<serde::de::IgnoredAny> =
                serde_json::from_slice(&answer.body).map_err(unreadable)?;
            (
                parsed.inventory_needed,
                parsed.instructions.items.len(),
                Vec::new(),
            )
        };
        if count > 0 {
            self.counters
                .instructions
                .fetch_add(count as u64, Ordering::Relaxed);
        }
        if !ids.is_empty() {
            self.instructions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(at, ids);
        }
        Ok(needed)
    }
}

/// What a check-in sends as the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inventory {
    Full,
    Unchanged,
}

/// Check-ins of the fleet's agents in turn.
#[derive(Debug)]
pub struct CheckIns {
    pub fleet: Arc<Fleet>,
    pub inventory: Inventory,
}

impl CheckIns {
    async fn check_in(&self, connection: &mut Connection, job: u64) -> Result<(), Outcome> {
        let (at, agent) = self.fleet.agent(job);
        let body = match self.inventory {
            Inventory::Full => self.fleet.full_body(agent.machine)?,
            Inventory::Unchanged => self.fleet.unchanged_body(agent.machine)?,
        };
        let answer = classify(
            connection
                .post(CHECK_IN_PATH, Some(&agent.credential), body)
                .await,
        )?;
        if self.fleet.read_answer(at, &answer)? {
            self.fleet
                .counters
                .inventory_needed
                .fetch_add(1, Ordering::Relaxed);
            let body = self.fleet.full_body(agent.machine)?;
            let answer = classify(
                connection
                    .post(CHECK_IN_PATH, Some(&agent.credential), body)
                    .await,
            )?;
            if self.fleet.read_answer(at, &answer)? {
                return Err(Outcome::Failed(Cow::Borrowed(
                    "inventory needed after a full check-in",
                )));
            }
        }
        Ok(())
    }
}

impl Workload for CheckIns {
    fn run(&self, connections: &mut Connections, job: u64) -> impl Future<Output = Outcome> + Send {
        let connection = connections.next_connection();
        async move {
            match self.check_in(connection, job).await {
                Ok(()) => Outcome::Ok,
                Err(outcome) => outcome,
            }
        }
    }
}

/// Reports of the fleet's agents in turn.
#[derive(Debug)]
pub struct Reports {
    pub fleet: Arc<Fleet>,
}

impl Reports {
    async fn report(&self, connection: &mut Connection, job: u64) -> Result<(), Outcome> {
        let (at, agent) = self.fleet.agent(job);
        let ids = self
            .fleet
            .instructions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&at)
            .unwrap_or_default();
        let now = jiff::Timestamp::now();
        let report = Report {
            results: ids
                .into_iter()
                .map(|id| InstructionResult {
                    instruction_id: id,
                    outcome: InstallOutcome::Succeeded,
                    exit_code: Some(0),
                    log_tail: Some("Setting up packages ... done.".to_owned()),
                    at: now,
                })
                .collect(),
        };
        let sent = report.results.len() as u64;
        let body = serde_json::to_vec(&report)
            .map_err(|e| simulator_error(&anyhow::anyhow!("report: {e}")))?;
        let answer = classify(
            connection
                .post(REPORT_PATH, Some(&agent.credential), Bytes::from(body))
                .await,
        )?;
        let response: ReportResponse = serde_json::from_slice(&answer.body)
            .map_err(|_| Outcome::Failed(Cow::Borrowed("unreadable report answer")))?;
        let counters = &self.fleet.counters;
        counters.results_sent.fetch_add(sent, Ordering::Relaxed);
        counters
            .results_accepted
            .fetch_add(response.accepted as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl Workload for Reports {
    fn run(&self, connections: &mut Connections, job: u64) -> impl Future<Output = Outcome> + Send {
        let connection = connections.next_connection();
        async move {
            match self.report(connection, job).await {
                Ok(()) => Outcome::Ok,
                Err(outcome) => outcome,
            }
        }
    }
}

/// Enrollments of new machines, numbered from `first`.
#[derive(Debug)]
pub struct Enrollments {
    pub generator: Arc<Generator>,
    pub token: String,
    pub first: u64,
    /// The agents enrolled, with their job number.
    pub enrolled: Mutex<Vec<(u64, AgentRecord)>>,
}

impl Enrollments {
    /// The agents enrolled, in machine order.
    pub fn take(&self) -> Vec<AgentRecord> {
        let mut enrolled =
            std::mem::take(&mut *self.enrolled.lock().unwrap_or_else(|e| e.into_inner()));
        enrolled.sort_by_key(|(job, _)| *job);
        enrolled.into_iter().map(|(_, a)| a).collect()
    }

    async fn enroll(&self, connection: &mut Connection, job: u64) -> Result<(), Outcome> {
        let machine = self.first + job;
        let request = EnrollRequest {
            token: self.token.clone(),
            facts: self.generator.facts(machine),
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| simulator_error(&anyhow::anyhow!("enrollment: {e}")))?;
        let answer = classify(connection.post(ENROLL_PATH, None, Bytes::from(body)).await)?;
        let response: EnrollResponse = serde_json::from_slice(&answer.body)
            .map_err(|_| Outcome::Failed(Cow::Borrowed("unreadable enrollment answer")))?;
        self.enrolled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((
                job,
                AgentRecord {
                    id: response.agent_id,
                    credential: response.credential,
                    machine,
                },
            ));
        Ok(())
    }
}

impl Workload for Enrollments {
    fn run(&self, connections: &mut Connections, job: u64) -> impl Future<Output = Outcome> + Send {
        let connection = connections.next_connection();
        async move {
            match self.enroll(connection, job).await {
                Ok(()) => Outcome::Ok,
                Err(outcome) => outcome,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(status: u16, body: &str) -> Result<Answer, SendError> {
        Ok(Answer {
            status,
            retry_after: (status == 503).then_some(Duration::from_secs(30)),
            body: Bytes::from(body.to_owned()),
        })
    }

    #[test]
    fn answers_are_successes_sheds_or_failures_by_kind() {
        assert!(classify(answer(200, "{}")).is_ok());
        assert!(classify(answer(201, "{}")).is_ok());
        assert_eq!(
            classify(answer(503, "")).err(),
            Some(Outcome::Shed {
                retry_after: Some(Duration::from_secs(30))
            })
        );
        assert_eq!(
            classify(answer(
                401,
                r#"{"error":"unauthorized","detail":"send the credential"}"#
            ))
            .err(),
            Some(Outcome::Failed("http 401 unauthorized".into()))
        );
        assert_eq!(
            classify(answer(502, "<html>")).err(),
            Some(Outcome::Failed("http 502".into()))
        );
        assert_eq!(
            classify(Err(SendError::Timeout)).err(),
            Some(Outcome::Failed("timeout".into()))
        );
    }

    #[test]
    fn a_check_in_body_is_a_valid_check_in_of_the_agents_machine() {
        let generator = Arc::new(
            Generator::bookworm(super::super::inventory::GeneratorConfig::default())
                .expect("generator"),
        );
        let fleet = Fleet::new(
            vec![AgentRecord {
                id: "a".into(),
                credential: "c".into(),
                machine: 42,
            }],
            Arc::clone(&generator),
        );
        for body in [
            fleet.full_body(42).expect("body"),
            fleet.unchanged_body(42).expect("body"),
        ] {
            let check_in: fixpoint_core::protocol::CheckIn =
                serde_json::from_slice(&body).expect("a check-in");
            check_in.validate().expect("valid");
            assert_eq!(check_in.facts, generator.facts(42));
            let hash = match &check_in.inventory {
                InventoryPayload::Unchanged { hash } => hash.clone(),
                full => full
                    .to_inventory()
                    .expect("full")
                    .expect("valid")
                    .hash()
                    .clone(),
            };
            assert_eq!(
                hash,
                generator.hash(generator.inventory_of(42)).expect("hash")
            );
        }
    }
}
