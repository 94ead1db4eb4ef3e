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
//! - **Instructions** are recorded only when a machine is given a set it was
//!   not given before by this replica (recording is idempotent, so another
//!   replica recording the same set again is harmless).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fixpoint_core::fleet::{InventoryHash, Machine};
use tokio::sync::{mpsc, oneshot, watch};

use crate::store::Store;

/// Check-ins committed together at most.
const BATCH: usize = 512;
/// Check-ins waiting for the writer at most; past that, handlers wait to queue.
const QUEUE: usize = 8192;

/// A check-in waiting to be committed.
struct Pending {
    machine: Machine,
    at: jiff::Timestamp,
    done: oneshot::Sender<Result<(), String>>,
}

/// Memory of what is known to be stored, and the check-in writer's queue.
#[derive(Debug)]
pub(super) struct FastPath {
    credentials: std::sync::RwLock<HashMap<[u8; 32], Arc<str>>>,
    inventories: std::sync::RwLock<HashSet<InventoryHash>>,
    /// The ETag of the instructions last recorded for each machine.
    recorded: std::sync::Mutex<HashMap<Arc<str>, String>>,
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
        let writer = tokio::spawn(write_loop(store, rx, stop));
        (
            FastPath {
                credentials: std::sync::RwLock::default(),
                inventories: std::sync::RwLock::default(),
                recorded: std::sync::Mutex::default(),
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

    /// Queues a check-in and waits until it is committed.
    pub(super) async fn check_in(
        &self,
        machine: Machine,
        at: jiff::Timestamp,
    ) -> Result<(), String> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { machine, at, done })
            .await
            .map_err(|_| "the server is stopping".to_owned())?;
        committed
            .await
            .map_err(|_| "the check-in writer stopped".to_owned())?
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
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
        for p in batch.drain(..) {
            // A handler that gave up (its client went away) does not mind.
            let _ = p.done.send(result.clone());
        }
    }
}
