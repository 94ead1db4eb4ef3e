//! What the console reads beyond the plan: each machine's check-in times and
//! history, compliance snapshots for the trend, and what each policy revision
//! changed in the plan.

use std::collections::HashMap;

use sqlx::Row;

use super::{Result, Store, from_unix, to_unix};

/// One check-in of a machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckIn {
    pub at: jiff::Timestamp,
    pub inventory: Option<String>,
}

/// One reported result, as the machine page lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultRecord {
    pub at: jiff::Timestamp,
    pub patch: String,
    pub release: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// The fleet's compliance at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub at: jiff::Timestamp,
    pub machines: i64,
    pub compliant: i64,
    pub drifting: i64,
    pub overdue: i64,
    pub drift_pairs: i64,
}

impl Store {
    /// Every enrolled machine's enrolment and last check-in, by id.
    pub async fn activity(
        &self,
    ) -> Result<HashMap<String, (jiff::Timestamp, Option<jiff::Timestamp>)>> {
        let rows = sqlx::query("SELECT id, enrolled_at, last_check_in FROM machines")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    (
                        from_unix(row.try_get("enrolled_at")?)?,
                        row.try_get::<Option<i64>, _>("last_check_in")?
                            .map(from_unix)
                            .transpose()?,
                    ),
                ))
            })
            .collect()
    }

    /// A machine's latest check-ins and results, newest first.
    pub async fn machine_history(
        &self,
        machine: &str,
        limit: i64,
    ) -> Result<(Vec<CheckIn>, Vec<ResultRecord>)> {
        let rows = sqlx::query(
            "SELECT at, inventory_sha256 FROM check_ins WHERE machine_id = $1 ORDER BY at DESC LIMIT $2",
        )
        .bind(machine)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let check_ins = rows
            .iter()
            .map(|row| {
                Ok(CheckIn {
                    at: from_unix(row.try_get("at")?)?,
                    inventory: row.try_get("inventory_sha256")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = sqlx::query(
            "SELECT at, patch_id, release_id, outcome, detail FROM install_results \
             WHERE machine_id = $1 ORDER BY at DESC, patch_id LIMIT $2",
        )
        .bind(machine)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let results = rows
            .iter()
            .map(|row| {
                Ok(ResultRecord {
                    at: from_unix(row.try_get("at")?)?,
                    patch: row.try_get("patch_id")?,
                    release: row.try_get("release_id")?,
                    outcome: row.try_get("outcome")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((check_ins, results))
    }

    /// Stores a compliance snapshot (one a second at most: a second one in
    /// the same second replaces the first).
    pub async fn record_snapshot(&self, s: &Snapshot) -> Result<()> {
        sqlx::query(
            "INSERT INTO compliance_snapshots (at, machines, compliant, drifting, overdue, drift_pairs) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (at) DO UPDATE SET machines = $2, compliant = $3, drifting = $4, overdue = $5, drift_pairs = $6",
        )
        .bind(to_unix(s.at))
        .bind(s.machines)
        .bind(s.compliant)
        .bind(s.drifting)
        .bind(s.overdue)
        .bind(s.drift_pairs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` snapshots, oldest first.
    pub async fn snapshots(&self, limit: i64) -> Result<Vec<Snapshot>> {
        let rows = sqlx::query(
            "SELECT at, machines, compliant, drifting, overdue, drift_pairs FROM compliance_snapshots \
             ORDER BY at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows
            .iter()
            .map(|row| {
                Ok(Snapshot {
                    at: from_unix(row.try_get("at")?)?,
                    machines: row.try_get("machines")?,
                    compliant: row.try_get("compliant")?,
                    drifting: row.try_get("drifting")?,
                    overdue: row.try_get("overdue")?,
                    drift_pairs: row.try_get("drift_pairs")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        list.reverse();
        Ok(list)
    }

    /// Records what applying `revision` changed in the plan (JSON).
    pub async fn record_plan_changes(&self, revision: &str, changes: &str) -> Result<()> {
        sqlx::query("UPDATE policy_revisions SET plan_changes = $2 WHERE revision = $1")
            .bind(revision)
            .bind(changes)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What each revision changed in the plan, for the revisions that have it.
    pub async fn plan_changes(&self, limit: i64) -> Result<HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT revision, plan_changes FROM policy_revisions WHERE plan_changes IS NOT NULL \
             ORDER BY attempted_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("revision")?, row.try_get("plan_changes")?)))
            .collect()
    }
}
