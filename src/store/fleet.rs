//! The fleet as agents report it: enrolled machines with their credentials'
//! hashes, distinct inventories stored once, check-ins, and install results
//! counted once per instruction.

use fixpoint_core::catalog::{PatchId, Platform};
use fixpoint_core::fleet::{
    Fleet, InstallResult, InstalledPackage, Inventory, InventoryHash, Machine, Outcome,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, corrupt, from_unix, placeholders, to_unix};

/// How an inventory is stored: its platform and packages, as JSON.
#[derive(Serialize, Deserialize)]
struct InventoryDocument {
    platform: String,
    packages: Vec<InstalledPackage>,
}

/// One result an agent reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedResult {
    pub machine: String,
    /// The instruction it answers; a report retried with the same id is a duplicate.
    pub instruction: String,
    pub patch: PatchId,
    pub release: Option<String>,
    pub outcome: Outcome,
    pub at: jiff::Timestamp,
    /// The error or log tail.
    pub detail: Option<String>,
}

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "succeeded",
        Outcome::PendingReboot => "pendingReboot",
        Outcome::Failed => "failed",
    }
}

fn outcome_from(text: &str) -> Option<Outcome> {
    match text {
        "succeeded" => Some(Outcome::Succeeded),
        "pendingReboot" => Some(Outcome::PendingReboot),
        "failed" => Some(Outcome::Failed),
        _ => None,
    }
}

/// Machines a check-in statement carries at most (5 bound values each: well
/// under SQLite's and PostgreSQL's limits on parameters).
const CHECK_IN_CHUNK: usize = 256;

impl Store {
    /// Enrolls a machine: its id, facts and the hash of the credential it was
    /// given (never the credential itself). Enrolling an id again replaces its
    /// credential and facts.
    pub async fn enroll(
        &self,
        machine: &Machine,
        credential_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let facts = serde_json::to_string(machine).map_err(|e| corrupt("machine facts", e))?;
        sqlx::query(
            "INSERT INTO machines (id, hostname, credential_hash, enrolled_at, facts) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET hostname = $2, credential_hash = $3, enrolled_at = $4, facts = $5",
        )
        .bind(&machine.id)
        .bind(&machine.hostname)
        .bind(credential_hash)
        .bind(to_unix(now))
        .bind(facts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The machine a credential hash belongs to.
    pub async fn machine_with_credential(&self, credential_hash: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM machines WHERE credential_hash = $1")
                .bind(credential_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Whether an inventory with this hash is stored.
    pub async fn has_inventory(&self, hash: &InventoryHash) -> Result<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT sha256 FROM inventories WHERE sha256 = $1")
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Stores an inventory unless one with the same content is there.
    pub async fn put_inventory(&self, inventory: &Inventory, now: jiff::Timestamp) -> Result<()> {
        let document = serde_json::to_vec(&InventoryDocument {
            platform: inventory.platform().to_string(),
            packages: inventory.packages().to_vec(),
        })
        .map_err(|e| corrupt("inventory", e))?;
        sqlx::query(
            "INSERT INTO inventories (sha256, document, first_seen) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(inventory.hash().as_str())
        .bind(document)
        .bind(to_unix(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a check-in: the machine's current facts and inventory (which
    /// must be stored already).
    pub async fn check_in(&self, machine: &Machine, now: jiff::Timestamp) -> Result<()> {
        self.check_in_batch(&[(machine, now)]).await
    }

    /// Records several check-ins in one transaction (one commit, one sync of
    /// the log) with two statements per [`CHECK_IN_CHUNK`] machines: a machine
    /// that checks in twice ends with the later, and both are in its history.
    pub async fn check_in_batch(&self, check_ins: &[(&Machine, jiff::Timestamp)]) -> Result<()> {
        // One statement may touch a row once (PostgreSQL refuses an upsert that would
        // update a row twice, and an UPDATE … FROM with two matches picks either): the
        // machine row gets each machine's last check-in, the history each distinct
        // (machine, second) once, the last.
        let mut last: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(check_ins.len());
        let mut last_at: std::collections::HashMap<(&str, i64), usize> =
            std::collections::HashMap::with_capacity(check_ins.len());
        for (i, (machine, at)) in check_ins.iter().enumerate() {
            last.insert(machine.id.as_str(), i);
            last_at.insert((machine.id.as_str(), to_unix(*at)), i);
        }
        let mut rows: Vec<(&Machine, i64, String)> = Vec::with_capacity(last.len());
        let mut history: Vec<(&Machine, i64)> = Vec::with_capacity(last_at.len());
        for (i, (machine, at)) in check_ins.iter().enumerate() {
            let at = to_unix(*at);
            if last.get(machine.id.as_str()) == Some(&i) {
                let facts =
                    serde_json::to_string(machine).map_err(|e| corrupt("machine facts", e))?;
                rows.push((machine, at, facts));
            }
            if last_at.get(&(machine.id.as_str(), at)) == Some(&i) {
                history.push((machine, at));
            }
        }
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(CHECK_IN_CHUNK) {
            // `VALUES` columns are column1, column2, … in SQLite and PostgreSQL alike.
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * 5 + 1, 5)))
                .collect();
            let update = format!(
                "UPDATE machines SET hostname = v.column2, facts = v.column3, \
                 inventory_sha256 = v.column4, last_check_in = v.column5 \
                 FROM (VALUES {}) AS v WHERE machines.id = v.column1",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(update));
            for (machine, at, facts) in chunk {
                q = q
                    .bind(machine.id.as_str())
                    .bind(machine.hostname.as_str())
                    .bind(facts.as_str())
                    .bind(machine.inventory.as_str())
                    .bind(*at);
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in history.chunks(CHECK_IN_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * 3 + 1, 3)))
                .collect();
            let insert = format!(
                "INSERT INTO check_ins (machine_id, at, inventory_sha256) VALUES {} \
                 ON CONFLICT (machine_id, at) DO UPDATE SET inventory_sha256 = excluded.inventory_sha256",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert));
            for (machine, at) in chunk {
                q = q
                    .bind(machine.id.as_str())
                    .bind(*at)
                    .bind(machine.inventory.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores reported results in one transaction; returns how many were new
    /// (the rest repeated an instruction id already stored). Only the
    /// instruction id makes a duplicate: any other conflict is an error, never
    /// a result silently dropped.
    pub async fn record_results(&self, results: &[ReportedResult]) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let mut new = 0;
        for r in results {
            let done = sqlx::query(
                "INSERT INTO install_results (machine_id, patch_id, release_id, at, outcome, detail, instruction_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (machine_id, instruction_id) DO NOTHING",
            )
            .bind(&r.machine)
            .bind(r.patch.as_str())
            .bind(r.release.as_deref())
            .bind(to_unix(r.at))
            .bind(outcome_text(r.outcome))
            .bind(r.detail.as_deref())
            .bind(&r.instruction)
            .execute(&mut *tx)
            .await?;
            new += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        tx.commit().await?;
        Ok(new)
    }

    /// The fleet: every machine that has checked in with an inventory, the
    /// inventories they use, and their results.
    pub async fn fleet(&self) -> Result<Fleet> {
        let mut fleet = Fleet::new();
        let rows = sqlx::query(
            "SELECT DISTINCT i.sha256, i.document FROM inventories i \
             JOIN machines m ON m.inventory_sha256 = i.sha256 ORDER BY i.sha256",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let sha: String = row.try_get("sha256")?;
            let bytes: Vec<u8> = row.try_get("document")?;
            let doc: InventoryDocument = serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(format!("inventory {sha}"), e))?;
            let inventory = Inventory::new(Platform(doc.platform), doc.packages)
                .map_err(|e| corrupt(format!("inventory {sha}"), e))?;
            if inventory.hash().as_str() != sha {
                return Err(corrupt(
                    format!("inventory {sha}"),
                    format!("its content hashes to {}", inventory.hash()),
                ));
            }
            fleet.add_inventory(inventory);
        }
        let rows = sqlx::query(
            "SELECT id, facts, inventory_sha256 FROM machines \
             WHERE inventory_sha256 IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let facts: String = row.try_get("facts")?;
            let sha: String = row.try_get("inventory_sha256")?;
            let mut machine: Machine = serde_json::from_str(&facts)
                .map_err(|e| corrupt(format!("facts of machine {id}"), e))?;
            machine.id = id.clone();
            machine.inventory = sha
                .parse()
                .map_err(|_| corrupt(format!("machine {id}"), "inventory hash"))?;
            fleet
                .add_machine(machine)
                .map_err(|e| corrupt(format!("machine {id}"), e))?;
        }
        let rows = sqlx::query(
            "SELECT machine_id, patch_id, at, outcome, detail FROM install_results ORDER BY machine_id, at",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let machine: String = row.try_get("machine_id")?;
            if fleet.machine(&machine).is_none() {
                continue;
            }
            let outcome: String = row.try_get("outcome")?;
            let Some(outcome) = outcome_from(&outcome) else {
                continue;
            };
            fleet
                .add_result(InstallResult {
                    machine: machine.clone(),
                    patch: PatchId(row.try_get("patch_id")?),
                    outcome,
                    at: from_unix(row.try_get("at")?)?,
                    error: row.try_get("detail")?,
                })
                .map_err(|e| corrupt(format!("result of machine {machine}"), e))?;
        }
        Ok(fleet)
    }
}

/// An instruction given to a machine, as a report refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedInstruction {
    pub id: String,
    /// The patch it installs, or `remove:<package>/<version>` for a removal.
    pub patch: String,
    pub release: Option<String>,
}

impl Store {
    /// Remembers the instructions given to a machine (those already known are kept).
    pub async fn record_instructions(
        &self,
        machine: &str,
        issued: &[IssuedInstruction],
        now: jiff::Timestamp,
    ) -> Result<()> {
        if issued.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for i in issued {
            sqlx::query(
                "INSERT INTO instructions (machine_id, instruction_id, patch_id, release_id, issued_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(machine)
            .bind(&i.id)
            .bind(&i.patch)
            .bind(i.release.as_deref())
            .bind(to_unix(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An instruction given to `machine`, by id.
    pub async fn instruction(&self, machine: &str, id: &str) -> Result<Option<IssuedInstruction>> {
        let row = sqlx::query(
            "SELECT patch_id, release_id FROM instructions WHERE machine_id = $1 AND instruction_id = $2",
        )
        .bind(machine)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(IssuedInstruction {
                id: id.to_owned(),
                patch: r.try_get("patch_id")?,
                release: r.try_get("release_id")?,
            })
        })
        .transpose()
    }
}
