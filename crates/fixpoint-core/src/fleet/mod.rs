//! The fleet: machines, their facts, and their inventories, deduplicated by
//! content hash so that machines built from one image share one inventory.
//!
//! ```text
//!  /var/lib/dpkg/status ──parse_dpkg_status──▶ [InstalledPackage] ─┐
//!  /etc/os-release ──parse_os_release──▶ OsRelease::platform() ─────┴─▶ Inventory::new ──▶ Inventory (+ InventoryHash)
//!  snapshot JSON ──Fleet::from_snapshot──▶ Fleet { machines, inventories: hash → Arc<Inventory> }
//! ```
//!
//! Until the server stores check-ins, a fleet comes from a snapshot file
//! (inventories and facts, `docs/fleet-snapshot.md`); the simulator and the
//! tests use the same format. Everything here is pure: the agent and the server
//! read the files and pass their bytes in.

mod dpkg;
mod inventory;
mod results;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::PatchId;

pub use dpkg::{OsRelease, parse_dpkg_status, parse_os_release};
pub use inventory::{InstalledPackage, Inventory, InventoryHash};
pub use results::{History, InstallResult, Outcome};
pub use snapshot::{SNAPSHOT_API_VERSION, SNAPSHOT_KIND};

/// Everything that can go wrong reading a machine or a fleet, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error("dpkg status line {line}: {message}")]
    DpkgStatus { line: usize, message: String },

    #[error("os-release line {line}: {message}")]
    OsRelease { line: usize, message: String },

    #[error("invalid inventory: {0}")]
    InvalidInventory(String),

    #[error("invalid inventory hash {0:?}: expected 64 hex digits (SHA-256)")]
    InvalidHash(String),

    #[error("snapshot line {line} column {column}: {message}")]
    SnapshotSyntax {
        line: usize,
        column: usize,
        message: String,
    },

    #[error("snapshot inventory {key}: {message}")]
    SnapshotInventory { key: String, message: String },

    #[error("snapshot inventory {key}: its content hashes to {actual}, not to its key")]
    HashMismatch { key: String, actual: String },

    #[error("machine {machine:?}: {message}")]
    InvalidMachine { machine: String, message: String },

    #[error("machine {machine:?}: inventory {inventory} is not in the fleet")]
    UnknownInventory { machine: String, inventory: String },

    #[error("machine id {0:?} appears more than once")]
    DuplicateMachine(String),

    #[error("result for machine {machine:?}, patch {patch}: {message}")]
    InvalidResult {
        machine: String,
        patch: String,
        message: String,
    },
}

impl FleetError {
    /// A short, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            FleetError::DpkgStatus { .. } => "dpkg_status",
            FleetError::OsRelease { .. } => "os_release",
            FleetError::InvalidInventory(_) | FleetError::SnapshotInventory { .. } => "inventory",
            FleetError::InvalidHash(_) | FleetError::HashMismatch { .. } => "hash",
            FleetError::SnapshotSyntax { .. } => "syntax",
            FleetError::InvalidMachine { .. }
            | FleetError::UnknownInventory { .. }
            | FleetError::DuplicateMachine(_) => "machine",
            FleetError::InvalidResult { .. } => "result",
        }
    }
}

/// The operating system a machine reports: family and version, as policies match them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OsFacts {
    /// `debian`, `ubuntu`, `rhel`, `windows`.
    #[schemars(length(min = 1), pattern(r"\S"))]
    pub family: String,
    /// `12`, `24.04`, `10.0.19045`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Where a machine sits in the directory (LDAP, Active Directory).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryFacts {
    /// The organisational unit, as a distinguished name: `OU=Servers,DC=corp,DC=example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou: Option<String>,
    /// Group names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// One machine and the facts policies match on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Machine {
    /// Stable identifier (the agent's enrolment id).
    pub id: String,
    pub hostname: String,
    /// Free-form labels (`role: web`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub os: OsFacts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub directory: DirectoryFacts,
    /// The machine's IANA time zone (`Europe/Berlin`), for windows evaluated in
    /// machine time; `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The running kernel's release, as the agent reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The machine waits for a restart its package manager asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reboot_required: bool,
    /// The hash of the machine's inventory, a key of [`Fleet::inventories`].
    pub inventory: InventoryHash,
}

fn is_default(d: &DirectoryFacts) -> bool {
    d == &DirectoryFacts::default()
}

/// Machines and their inventories, each distinct inventory stored once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    machines: Vec<Machine>,
    /// Position of each machine in `machines`, by id: adding a machine is
    /// O(log n), not a scan (a 100,000-machine fleet took 30 s to build with one).
    by_id: BTreeMap<String, usize>,
    inventories: BTreeMap<InventoryHash, Arc<Inventory>>,
    /// Reported install results by machine id, each list ordered by patch,
    /// then time.
    results: BTreeMap<String, Vec<InstallResult>>,
}

impl Fleet {
    pub fn new() -> Fleet {
        Fleet::default()
    }

    /// Stores an inventory unless one with the same content is already there;
    /// returns its hash for a [`Machine::inventory`].
    pub fn add_inventory(&mut self, inventory: Inventory) -> InventoryHash {
        let hash = inventory.hash().clone();
        self.inventories
            .entry(hash.clone())
            .or_insert_with(|| Arc::new(inventory));
        hash
    }

    /// Adds a machine whose inventory is already in the fleet; ids are unique
    /// and neither id nor hostname may be empty.
    pub fn add_machine(&mut self, machine: Machine) -> Result<(), FleetError> {
        let invalid = |message: &str| FleetError::InvalidMachine {
            machine: machine.id.clone(),
            message: message.to_owned(),
        };
        if machine.id.trim().is_empty() {
            return Err(invalid("the id is empty"));
        }
        if machine.hostname.trim().is_empty() {
            return Err(invalid("the hostname is empty"));
        }
        if machine.os.family.trim().is_empty() {
            return Err(invalid("os.family is empty"));
        }
        if machine
            .time_zone
            .as_deref()
            .is_some_and(|tz| tz.trim().is_empty() || tz.contains(char::is_whitespace))
        {
            return Err(invalid(
                "timeZone must be an IANA name such as Europe/Berlin",
            ));
        }
        if !self.inventories.contains_key(&machine.inventory) {
            return Err(FleetError::UnknownInventory {
                machine: machine.id.clone(),
                inventory: machine.inventory.to_string(),
            });
        }
        if self.by_id.contains_key(&machine.id) {
            return Err(FleetError::DuplicateMachine(machine.id));
        }
        self.by_id.insert(machine.id.clone(), self.machines.len());
        self.machines.push(machine);
        Ok(())
    }

    /// Records an install result an agent reported for a machine of the fleet.
    pub fn add_result(&mut self, result: InstallResult) -> Result<(), FleetError> {
        if !self.by_id.contains_key(&result.machine) {
            return Err(FleetError::InvalidResult {
                machine: result.machine.clone(),
                patch: result.patch.to_string(),
                message: "no machine of the fleet has this id".into(),
            });
        }
        if result.patch.as_str().trim().is_empty() {
            return Err(FleetError::InvalidResult {
                machine: result.machine.clone(),
                patch: String::new(),
                message: "the patch id is empty".into(),
            });
        }
        let list = self.results.entry(result.machine.clone()).or_default();
        let at = list.partition_point(|r| (&r.patch, r.at) <= (&result.patch, result.at));
        list.insert(at, result);
        Ok(())
    }

    /// Every result reported for a machine, ordered by patch, then time.
    pub fn results_of(&self, machine: &str) -> &[InstallResult] {
        self.results.get(machine).map_or(&[], Vec::as_slice)
    }

    /// The reported history of one patch on one machine.
    pub fn history(&self, machine: &str, patch: &PatchId) -> History<'_> {
        let all = self.results_of(machine);
        let start = all.partition_point(|r| &r.patch < patch);
        let end = start + all[start..].partition_point(|r| &r.patch == patch);
        History::new(&all[start..end])
    }

    /// Every reported result, by machine id.
    pub fn results(&self) -> impl Iterator<Item = &InstallResult> {
        self.results.values().flatten()
    }

    /// The position of the machine with this id in [`Fleet::machines`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Gives machine `id` a new inventory (stored unless already there) and
    /// returns its hash. The previous inventory stays until
    /// [`Fleet::prune_inventories`].
    pub fn set_inventory(
        &mut self,
        id: &str,
        inventory: Inventory,
    ) -> Result<InventoryHash, FleetError> {
        let Some(&i) = self.by_id.get(id) else {
            return Err(FleetError::InvalidMachine {
                machine: id.to_owned(),
                message: "no machine of the fleet has this id".into(),
            });
        };
        let hash = self.add_inventory(inventory);
        self.machines[i].inventory = hash.clone();
        Ok(hash)
    }

    /// Gives machine `id` the facts of its directory object (its OU and
    /// groups), as the server's directory sync found them.
    pub fn set_directory(&mut self, id: &str, facts: DirectoryFacts) -> Result<(), FleetError> {
        let Some(&i) = self.by_id.get(id) else {
            return Err(FleetError::InvalidMachine {
                machine: id.to_owned(),
                message: "no machine of the fleet has this id".into(),
            });
        };
        self.machines[i].directory = facts;
        Ok(())
    }

    /// The machine with this id.
    pub fn machine(&self, id: &str) -> Option<&Machine> {
        self.by_id.get(id).and_then(|&i| self.machines.get(i))
    }

    /// The machines, in the order they were added.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// Every distinct inventory, by hash.
    pub fn inventories(&self) -> &BTreeMap<InventoryHash, Arc<Inventory>> {
        &self.inventories
    }

    pub fn inventory(&self, hash: &InventoryHash) -> Option<&Arc<Inventory>> {
        self.inventories.get(hash)
    }

    /// The inventory of a machine of this fleet.
    pub fn inventory_of(&self, machine: &Machine) -> Option<&Arc<Inventory>> {
        self.inventories.get(&machine.inventory)
    }

    /// Drops inventories no machine refers to.
    pub fn prune_inventories(&mut self) {
        let used: BTreeSet<&InventoryHash> = self.machines.iter().map(|m| &m.inventory).collect();
        let unused: Vec<InventoryHash> = self
            .inventories
            .keys()
            .filter(|h| !used.contains(h))
            .cloned()
            .collect();
        for hash in unused {
            self.inventories.remove(&hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Platform;

    fn inventory(version: &str) -> Inventory {
        Inventory::new(
            Platform::new("debian", Some("12")),
            vec![InstalledPackage::new("jq", "amd64", version)],
        )
        .expect("valid")
    }

    fn machine(id: &str, inventory: InventoryHash) -> Machine {
        Machine {
            id: id.into(),
            hostname: format!("{id}.corp.example"),
            labels: BTreeMap::new(),
            os: OsFacts {
                family: "debian".into(),
                version: Some("12".into()),
            },
            site: None,
            directory: DirectoryFacts::default(),
            time_zone: None,
            kernel: None,
            reboot_required: false,
            inventory,
        }
    }

    #[test]
    fn machines_built_from_one_image_share_one_inventory() {
        let mut fleet = Fleet::new();
        let a = fleet.add_inventory(inventory("1.6-2.1"));
        let b = fleet.add_inventory(inventory("1.6-2.1"));
        let c = fleet.add_inventory(inventory("1.6-2.1+deb12u1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        for (id, hash) in [("web-1", &a), ("web-2", &b), ("db-1", &c)] {
            fleet
                .add_machine(machine(id, hash.clone()))
                .expect("valid machine");
        }
        assert_eq!(fleet.machines().len(), 3);
        assert_eq!(fleet.inventories().len(), 2);
        let first = fleet.inventory_of(&fleet.machines()[0]).expect("stored");
        let second = fleet.inventory_of(&fleet.machines()[1]).expect("stored");
        assert!(Arc::ptr_eq(first, second));
    }

    #[test]
    fn a_machine_needs_a_known_inventory_and_a_unique_id() {
        let mut fleet = Fleet::new();
        let known = fleet.add_inventory(inventory("1"));
        let unknown = inventory("2").hash().clone();
        assert!(matches!(
            fleet.add_machine(machine("m", unknown)),
            Err(FleetError::UnknownInventory { .. })
        ));
        fleet
            .add_machine(machine("m", known.clone()))
            .expect("valid");
        assert_eq!(
            fleet.add_machine(machine("m", known.clone())),
            Err(FleetError::DuplicateMachine("m".into()))
        );
        assert!(matches!(
            fleet.add_machine(machine(" ", known)),
            Err(FleetError::InvalidMachine { .. })
        ));
    }

    #[test]
    fn pruning_drops_only_unreferenced_inventories() {
        let mut fleet = Fleet::new();
        let used = fleet.add_inventory(inventory("1"));
        fleet.add_inventory(inventory("2"));
        fleet
            .add_machine(machine("m", used.clone()))
            .expect("valid");
        fleet.prune_inventories();
        assert_eq!(fleet.inventories().keys().collect::<Vec<_>>(), vec![&used]);
    }
}
