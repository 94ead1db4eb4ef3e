//! The fleet snapshot file: every distinct inventory once, keyed by its
//! hash, and the machines that refer to them. The format is documented in
//! `docs/fleet-snapshot.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::Platform;

use super::{
    Fleet, FleetError, InstallResult, InstalledPackage, Inventory, InventoryHash, Machine,
};

/// The `apiVersion` a snapshot declares.
pub const SNAPSHOT_API_VERSION: &str = "fixpoint.dev/v1alpha1";
/// The `kind` a snapshot declares.
pub const SNAPSHOT_KIND: &str = "FleetSnapshot";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Snapshot {
    api_version: String,
    kind: String,
    #[serde(default)]
    inventories: BTreeMap<String, SnapshotInventory>,
    #[serde(default)]
    machines: Vec<Machine>,
    /// Install results agents reported, in any order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    results: Vec<InstallResult>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SnapshotInventory {
    platform: String,
    packages: Vec<InstalledPackage>,
}

impl Fleet {
    /// Reads a fleet snapshot (JSON, see `docs/fleet-snapshot.md`).
    ///
    /// Every inventory's content must hash to its key (so a snapshot cannot
    /// claim two machines share an image when they do not), and every
    /// machine's `inventory` must be one of the keys. Errors say which
    /// inventory or machine, or the line and column of a syntax error.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Fleet, FleetError> {
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| FleetError::SnapshotSyntax {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        if snapshot.api_version != SNAPSHOT_API_VERSION || snapshot.kind != SNAPSHOT_KIND {
            return Err(FleetError::SnapshotSyntax {
                line: 1,
                column: 1,
                message: format!(
                    "expected apiVersion {SNAPSHOT_API_VERSION:?} and kind {SNAPSHOT_KIND:?}, found {:?} and {:?}",
                    snapshot.api_version, snapshot.kind
                ),
            });
        }
        let mut fleet = Fleet::new();
        for (key, content) in snapshot.inventories {
            let claimed: InventoryHash =
                key.parse().map_err(|_| FleetError::SnapshotInventory {
                    key: key.clone(),
                    message: "the key is not a SHA-256 (64 hex digits)".into(),
                })?;
            let inventory =
                Inventory::new(Platform(content.platform), content.packages).map_err(|e| {
                    FleetError::SnapshotInventory {
                        key: key.clone(),
                        message: match e {
                            FleetError::InvalidInventory(m) => m,
                            other => other.to_string(),
                        },
                    }
                })?;
            if inventory.hash() != &claimed {
                return Err(FleetError::HashMismatch {
                    key,
                    actual: inventory.hash().to_string(),
                });
            }
            fleet.add_inventory(inventory);
        }
        for machine in snapshot.machines {
            fleet.add_machine(machine)?;
        }
        for result in snapshot.results {
            fleet.add_result(result)?;
        }
        Ok(fleet)
    }

    /// Writes the fleet as a snapshot that [`Fleet::from_snapshot`] reads back
    /// into an equal fleet: pretty-printed JSON, inventories in hash order,
    /// machines in the fleet's order.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let snapshot = Snapshot {
            api_version: SNAPSHOT_API_VERSION.into(),
            kind: SNAPSHOT_KIND.into(),
            inventories: self
                .inventories
                .iter()
                .map(|(hash, inventory)| {
                    (
                        hash.to_string(),
                        SnapshotInventory {
                            platform: inventory.platform().to_string(),
                            packages: inventory
                                .packages()
                                .iter()
                                .map(|p| {
                                    let mut p = p.clone();
                                    // Written only where they say something.
                                    if p.source == p.name {
                                        p.source.clear();
                                    }
                                    if p.source_version == p.version {
                                        p.source_version.clear();
                                    }
                                    p
                                })
                                .collect(),
                        },
                    )
                })
                .collect(),
            machines: self.machines.clone(),
            results: self.results().cloned().collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&snapshot)
            .expect("a snapshot has only string keys and serialisable values");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(inventories: &str, machines: &str) -> String {
        format!(
            r#"{{"apiVersion": "fixpoint.dev/v1alpha1", "kind": "FleetSnapshot",
  "inventories": {{{inventories}}},
  "machines": [{machines}]}}"#
        )
    }

    fn jq_inventory() -> Inventory {
        Inventory::new(
            Platform::new("debian", Some("12")),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1")],
        )
        .expect("valid")
    }

    fn jq_entry(key: &str) -> String {
        format!(
            r#""{key}": {{"platform": "debian:12", "packages": [{{"name": "jq", "architecture": "amd64", "version": "1.6-2.1"}}]}}"#
        )
    }

    fn machine_entry(id: &str, inventory: &str) -> String {
        format!(
            r#"{{"id": "{id}", "hostname": "{id}", "os": {{"family": "debian", "version": "12"}}, "timeZone": "Europe/Berlin", "inventory": "{inventory}"}}"#
        )
    }

    #[test]
    fn a_snapshot_round_trips() {
        let hash = jq_inventory().hash().to_string();
        let text = snapshot(
            &jq_entry(&hash),
            &[machine_entry("a", &hash), machine_entry("b", &hash)].join(","),
        );
        let fleet = Fleet::from_snapshot(text.as_bytes()).expect("valid");
        assert_eq!(fleet.machines().len(), 2);
        assert_eq!(fleet.inventories().len(), 1);
        assert_eq!(
            fleet.machines()[0].time_zone.as_deref(),
            Some("Europe/Berlin")
        );
        let again = Fleet::from_snapshot(&fleet.to_snapshot()).expect("its own output reads back");
        assert_eq!(again, fleet);
    }

    fn with_results(inventories: &str, machines: &str, results: &str) -> String {
        let mut text = snapshot(inventories, machines);
        text.truncate(text.len() - 1);
        format!("{text},\n  \"results\": [{results}]}}")
    }

    const FAIL: &str = r#"{"machine": "a", "patch": "jq/1.6-2.1+deb12u1", "outcome": "failed", "at": "2026-11-20T02:00:00Z", "error": "dpkg was interrupted"}"#;
    const FAIL_AGAIN: &str = r#"{"machine": "a", "patch": "jq/1.6-2.1+deb12u1", "outcome": "failed", "at": "2026-11-21T02:00:00Z"}"#;
    const OK: &str = r#"{"machine": "a", "patch": "jq/1.6-2.1+deb12u1", "outcome": "pendingReboot", "at": "2026-11-19T02:00:00Z"}"#;

    #[test]
    fn results_are_read_in_any_order_and_round_trip() {
        let hash = jq_inventory().hash().to_string();
        let text = with_results(
            &jq_entry(&hash),
            &machine_entry("a", &hash),
            &[FAIL_AGAIN, OK, FAIL].join(","),
        );
        let fleet = Fleet::from_snapshot(text.as_bytes()).expect("valid");
        let patch = crate::catalog::PatchId("jq/1.6-2.1+deb12u1".into());
        let h = fleet.history("a", &patch);
        assert_eq!(h.failures_in_a_row(), 2);
        assert_eq!(
            h.failing_since(),
            Some("2026-11-20T02:00:00Z".parse().expect("instant"))
        );
        assert_eq!(
            h.last_success(),
            Some("2026-11-19T02:00:00Z".parse().expect("instant"))
        );
        assert_eq!(
            h.latest().map(|r| r.at),
            Some("2026-11-21T02:00:00Z".parse().expect("instant"))
        );
        assert!(
            fleet
                .history("a", &crate::catalog::PatchId("other/1".into()))
                .is_empty()
        );
        let again = Fleet::from_snapshot(&fleet.to_snapshot()).expect("reads back");
        assert_eq!(again, fleet);
    }

    #[test]
    fn a_result_for_an_unknown_machine_or_with_a_bad_outcome_is_refused() {
        let hash = jq_inventory().hash().to_string();
        let unknown = FAIL.replace(r#""machine": "a""#, r#""machine": "zz""#);
        let err = Fleet::from_snapshot(
            with_results(&jq_entry(&hash), &machine_entry("a", &hash), &unknown).as_bytes(),
        )
        .expect_err("unknown machine");
        assert_eq!(
            err.to_string(),
            "result for machine \"zz\", patch jq/1.6-2.1+deb12u1: no machine of the fleet has this id"
        );
        let bad = FAIL.replace("failed", "exploded");
        let err = Fleet::from_snapshot(
            with_results(&jq_entry(&hash), &machine_entry("a", &hash), &bad).as_bytes(),
        )
        .expect_err("bad outcome");
        assert!(
            err.to_string().contains("unknown variant `exploded`"),
            "{err}"
        );
    }

    #[test]
    fn set_inventory_moves_a_machine_to_new_content() {
        let hash = jq_inventory().hash().to_string();
        let mut fleet =
            Fleet::from_snapshot(snapshot(&jq_entry(&hash), &machine_entry("a", &hash)).as_bytes())
                .expect("valid");
        let newer = Inventory::new(
            Platform::new("debian", Some("12")),
            vec![InstalledPackage::new("jq", "amd64", "1.6-2.1+deb12u1")],
        )
        .expect("valid");
        let new_hash = fleet.set_inventory("a", newer).expect("machine a");
        assert_eq!(fleet.machine("a").map(|m| &m.inventory), Some(&new_hash));
        assert_eq!(fleet.position("a"), Some(0));
        assert_eq!(
            fleet.inventories().len(),
            2,
            "the old one stays until pruned"
        );
        fleet.prune_inventories();
        assert_eq!(fleet.inventories().len(), 1);
        assert!(fleet.set_inventory("nobody", jq_inventory()).is_err());
    }

    #[test]
    fn an_inventory_whose_content_does_not_match_its_key_is_refused() {
        let wrong = "0".repeat(64);
        let err =
            Fleet::from_snapshot(snapshot(&jq_entry(&wrong), "").as_bytes()).expect_err("mismatch");
        assert_eq!(
            err,
            FleetError::HashMismatch {
                key: wrong,
                actual: jq_inventory().hash().to_string()
            }
        );
        let err = Fleet::from_snapshot(snapshot(&jq_entry("abc"), "").as_bytes())
            .expect_err("not a hash");
        assert!(matches!(err, FleetError::SnapshotInventory { .. }), "{err}");
    }

    #[test]
    fn a_machine_naming_a_missing_inventory_is_refused() {
        let hash = jq_inventory().hash().to_string();
        let other = "f".repeat(64);
        let err = Fleet::from_snapshot(
            snapshot(&jq_entry(&hash), &machine_entry("web-1", &other)).as_bytes(),
        )
        .expect_err("unknown inventory");
        assert_eq!(
            err,
            FleetError::UnknownInventory {
                machine: "web-1".into(),
                inventory: other
            }
        );
    }

    #[test]
    fn syntax_errors_and_unknown_fields_carry_their_position() {
        let err = Fleet::from_snapshot(b"{\n  \"apiVersion\": \"fixpoint.dev/v1alpha1\",\n  \"kind\": \"FleetSnapshot\",\n  \"machiness\": []\n}")
            .expect_err("typo");
        assert!(
            matches!(err, FleetError::SnapshotSyntax { line: 4, .. }),
            "{err}"
        );
        let err = Fleet::from_snapshot(b"{\"apiVersion\": \"v0\", \"kind\": \"FleetSnapshot\"}")
            .expect_err("wrong version");
        assert!(err.to_string().contains("apiVersion"), "{err}");
    }
}
