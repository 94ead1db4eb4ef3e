//! The check-in fast path: a check-in that changes nothing must cost little
//! more than parsing it.
//!
//! - **Credentials** are looked up in the database once per agent and then
//!   kept in memory, by the SHA-256 of the credential (agents are never
//!   re-keyed in place: enrolling again makes a new agent).
//! - **Inventories** are content-addressed and never change, so the hashes
//!   known to be stored are kept in memory; a full inventory that is already
//!   stored is not written again.
//! - **Check-ins are group-committed**: each handler queues its machine and
//!   waits until its row is committed, and one writer commits whatever has
//!   queued meanwhile in one transaction. Under load a commit (and its fsync)
//!   carries hundreds of check-ins; alone, a check-in waits for its own. An
//!   agent is answered only once its check-in is durable, as before.
//! - **A check-in that changes nothing is written behind**: when a machine's
//!   facts and inventory are exactly what this replica last committed for it,
//!   its check-in (the time, and the history row) is queued for the same
//!   writer and answered without waiting for the commit. Nothing the agent
//!   told the server is then at risk: its state is already durable, and a
//!   crash loses at most the last-seen times of the check-ins still queued
//!   (at most [`QUEUE`], typically well under a second of them). A check-in
//!   that changes anything, or the first one a replica sees of a machine, is
//!   committed before it is answered.
//! - **Instructions** are recorded only when a machine is given a set it was
//!   not given before by this replica (recording is idempotent, so another
//!   replica recording the same set again is harmless).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use fixpoint_core::fleet::{InventoryHash, Machine};
use tokio::sync::{mpsc, oneshot, watch};

use crate::store::Store;

/// Check-ins committed together at most.
const BATCH: usize = 2048;
/// Check-ins waiting for the writer at most; past that, handlers wait to queue.
const QUEUE: usize = 8192;

/// A check-in waiting to be committed.
struct Pending {
    machine: Machine,
    at: jiff::Timestamp,
    /// Told when it is committed; `None` for a check-in written behind.
    done: Option<oneshot::Sender<Result<(), String>>>,
    /// The digest to remember as committed for the machine.
    digest: (u64, u64),
}

/// What each machine's row held when this replica last committed it: the
/// hash of its id, to the hash of its facts and inventory as stored.
type Committed = std::sync::Mutex<HashMap<u64, u64>>;

/// Memory of what is known to be stored, and the check-in writer's queue.
#[derive(Debug)]
pub(super) struct FastPath {
    credentials: std::sync::RwLock<HashMap<[u8; 32], Arc<str>>>,
    inventories: std::sync::RwLock<HashSet<InventoryHash>>,
    /// The ETag of the instructions last recorded for each machine.
    recorded: std::sync::Mutex<HashMap<Arc<str>, String>>,
    committed: Arc<Committed>,
    /// Keys the digests (fixed per process, so a digest is stable while it runs).
    hasher: std::hash::RandomState,
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("machine", &self.machine.id)
            .finish_non_exhaustive()
    }
}

impl FastPath {
    /// The fast path and its writer, which runs until `stop` and then commits
    /// what is still queued.
    pub(super) fn start(
        store: Store,
        stop: watch::Receiver<bool>,
    ) -> (FastPath, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let committed = Arc::new(Committed::default());
        let writer = tokio::spawn(write_loop(store, rx, Arc::clone(&committed), stop));
        (
            FastPath {
                credentials: std::sync::RwLock::default(),
                inventories: std::sync::RwLock::default(),
                recorded: std::sync::Mutex::default(),
                committed,
                hasher: std::hash::RandomState::new(),
                queue,
            },
            writer,
        )
    }

    /// The agent a credential's SHA-256 belongs to, if this replica has seen it.
    pub(super) fn agent(&self, digest: &[u8; 32]) -> Option<Arc<str>> {
        self.credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(digest)
            .cloned()
    }

    pub(super) fn remember_agent(&self, digest: [u8; 32], agent: Arc<str>) {
        self.credentials
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(digest, agent);
    }

    /// Whether the inventory is known to be stored.
    pub(super) fn has_inventory(&self, hash: &InventoryHash) -> bool {
        self.inventories
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(hash)
    }

    pub(super) fn remember_inventory(&self, hash: InventoryHash) {
        self.inventories
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(hash);
    }

    /// Whether `etag` is the instruction set last recorded for `agent`.
    pub(super) fn recorded(&self, agent: &str, etag: &str) -> bool {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(agent)
            .is_some_and(|e| e == etag)
    }

    pub(super) fn remember_recorded(&self, agent: Arc<str>, etag: String) {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(agent, etag);
    }

    /// The machine's id and its row's content, hashed.
    fn digest(&self, machine: &Machine) -> Result<(u64, u64), String> {
        let mut id = self.hasher.build_hasher();
        id.write(machine.id.as_bytes());
        let mut row = self.hasher.build_hasher();
        let facts = serde_json::to_vec(machine).map_err(|e| format!("machine facts: {e}"))?;
        row.write(&facts);
        Ok((id.finish(), row.finish()))
    }

    /// Queues a check-in. One that changes the machine's row is waited for
    /// until it is committed; one that changes nothing since this replica
    /// last committed the machine is written behind (then `Ok(true)`).
    pub(super) async fn check_in(
        &self,
        machine: Machine,
        at: jiff::Timestamp,
    ) -> Result<bool, String> {
        let digest = self.digest(&machine)?;
        let unchanged = self
            .committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest.0)
            == Some(&digest.1);
        let stopping = |_| "the server is stopping".to_owned();
        if unchanged {
            self.queue
                .send(Pending {
                    machine,
                    at,
                    done: None,
                    digest,
                })
                .await
                .map_err(stopping)?;
            return Ok(true);
        }
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending {
                machine,
                at,
                done: Some(done),
                digest,
            })
            .await
            .map_err(stopping)?;
        committed
            .await
            .map_err(|_| "the check-in writer stopped".to_owned())??;
        Ok(false)
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
    committed: Arc<Committed>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            p = rx.recv() => p,
            _ = stop.changed() => {
                // The HTTP server has finished its requests: commit what is left.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else {
            return;
        };
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let rows: Vec<(&Machine, jiff::Timestamp)> =
            batch.iter().map(|p| (&p.machine, p.at)).collect();
        let result = store.check_in_batch(&rows).await.map_err(|e| e.to_string());
        drop(rows);
        {
            let mut committed = committed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for p in &batch {
                if result.is_ok() {
                    committed.insert(p.digest.0, p.digest.1);
                } else {
                    // Not stored: the machine's next check-in is committed before its answer.
                    committed.remove(&p.digest.0);
                }
            }
        }
        if let Err(e) = &result {
            let behind = batch.iter().filter(|p| p.done.is_none()).count();
            if behind > 0 {
                tracing::warn!(error = %e, check_ins = behind, "check-ins written behind were not stored; their machines' last-seen times are older than they should be");
            }
        }
        for p in batch.drain(..) {
            // A handler that gave up (its client went away) does not mind.
            if let Some(done) = p.done {
                let _ = done.send(result.clone());
            }
        }
    }
}
