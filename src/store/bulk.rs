//! Bulk seeding, for `fixpoint simulate seed`: many machines enrolled and
//! checked in at once, as if each had enrolled through the API (only the
//! SHA-256 of its credential stored) and sent its inventory once. Enrolling a
//! million machines one request at a time takes hours; here it is many rows a
//! statement and many statements a transaction.

use fixpoint_core::fleet::{Inventory, Machine};

use super::{Result, Store, corrupt, placeholders, to_unix};

/// A machine to seed: its facts and inventory hash, and the hex SHA-256 of
/// the credential its agent will send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededMachine {
    pub machine: Machine,
    pub credential_hash: String,
}

/// Rows a statement: 7 values each, far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound values.
const ROWS_PER_STATEMENT: usize = 1_000;

/// `INSERT INTO {table_and_columns} VALUES ($1, …), (…) {tail}` for `rows`
/// rows of `width` values. Built only from constant text and placeholders:
/// every value is bound, so `AssertSqlSafe` holds.
fn insert_sql(
    table_and_columns: &str,
    rows: usize,
    width: usize,
    tail: &str,
) -> sqlx::AssertSqlSafe<String> {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("({})", placeholders(i * width + 1, width)))
        .collect();
    sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table_and_columns} VALUES {} {tail}",
        values.join(", ")
    ))
}

impl Store {
    /// Stores inventories, each unless one with the same content is there (a
    /// fleet has few distinct inventories, so one at a time is enough).
    pub async fn put_inventories(
        &self,
        inventories: &[Inventory],
        now: jiff::Timestamp,
    ) -> Result<()> {
        for inventory in inventories {
            self.put_inventory(inventory, now).await?;
        }
        Ok(())
    }

    /// Enrolls `machines` as checked in at `now` with their inventories (which
    /// must be stored already), in one transaction: a machine enrolled already
    /// gets the new credential, facts and inventory, as [`Store::enroll`] and
    /// [`Store::check_in`] would give it.
    pub async fn seed_machines(
        &self,
        machines: &[SeededMachine],
        now: jiff::Timestamp,
    ) -> Result<()> {
        let at = to_unix(now);
        let mut tx = self.pool.begin().await?;
        for chunk in machines.chunks(ROWS_PER_STATEMENT) {
            let facts = chunk
                .iter()
                .map(|m| serde_json::to_string(&m.machine).map_err(|e| corrupt("machine facts", e)))
                .collect::<Result<Vec<_>>>()?;
            let mut q = sqlx::query(insert_sql(
                "machines (id, hostname, credential_hash, enrolled_at, last_check_in, \
                 inventory_sha256, facts)",
                chunk.len(),
                7,
                "ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, \
                 credential_hash = excluded.credential_hash, enrolled_at = excluded.enrolled_at, \
                 last_check_in = excluded.last_check_in, \
                 inventory_sha256 = excluded.inventory_sha256, facts = excluded.facts",
            ));
            for (m, facts) in chunk.iter().zip(facts) {
                q = q
                    .bind(m.machine.id.clone())
                    .bind(m.machine.hostname.clone())
                    .bind(m.credential_hash.clone())
                    .bind(at)
                    .bind(at)
                    .bind(m.machine.inventory.as_str().to_owned())
                    .bind(facts);
            }
            q.execute(&mut *tx).await?;
            let mut q = sqlx::query(insert_sql(
                "check_ins (machine_id, at, inventory_sha256)",
                chunk.len(),
                3,
                "ON CONFLICT (machine_id, at) DO UPDATE SET inventory_sha256 = excluded.inventory_sha256",
            ));
            for m in chunk {
                q = q
                    .bind(m.machine.id.clone())
                    .bind(at)
                    .bind(m.machine.inventory.as_str().to_owned());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
