//! Directory computers (see `crate::directory`) and each directory source's sync state.
//!
//! A sync's computers replace the source's previous ones in one transaction: readers see
//! the old list or the new one, and a failed sync (recorded with
//! [`Store::record_directory_failure`]) leaves the old list in place.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, corrupt, from_unix, placeholders, to_unix};
use crate::directory::DirectoryComputer;

/// A directory source's sync state as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectorySourceState {
    pub name: String,
    /// The URL and base DN it reads.
    pub location: String,
    pub last_attempt_at: Option<jiff::Timestamp>,
    pub last_success_at: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
    /// Computers the last successful sync stored.
    pub computers: i64,
}

/// Values a row of `directory_computers`.
const WIDTH: usize = 10;
/// Rows a statement: 5,000 values, far below SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 500;

const COLUMNS: &str =
    "source, dn, name, dns_host_name, os, os_version, ou, group_dns, last_logon, disabled";

impl Store {
    /// Replaces `source`'s computers with `computers` and records a successful sync at
    /// `at`, in one transaction.
    pub async fn replace_directory(
        &self,
        source: &str,
        location: &str,
        computers: &[DirectoryComputer],
        at: jiff::Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM directory_computers WHERE source = $1")
            .bind(source)
            .execute(&mut *tx)
            .await?;
        for chunk in computers.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * WIDTH + 1, WIDTH)))
                .collect();
            // Only constant text and placeholders: every value is bound.
            let sql = sqlx::AssertSqlSafe(format!(
                "INSERT INTO directory_computers ({COLUMNS}) VALUES {}",
                values.join(", ")
            ));
            let mut query = sqlx::query(sql);
            for c in chunk {
                let groups =
                    serde_json::to_string(&c.groups).map_err(|e| corrupt("directory groups", e))?;
                query = query
                    .bind(source.to_owned())
                    .bind(c.dn.clone())
                    .bind(c.name.clone())
                    .bind(c.dns_host_name.clone())
                    .bind(c.os.clone())
                    .bind(c.os_version.clone())
                    .bind(c.ou.clone())
                    .bind(groups)
                    .bind(c.last_logon.map(to_unix))
                    .bind(i64::from(c.disabled));
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO directory_sources \
             (name, location, last_attempt_at, last_success_at, last_error, computers) \
             VALUES ($1, $2, $3, $3, NULL, $4) \
             ON CONFLICT (name) DO UPDATE SET location = $2, last_attempt_at = $3, \
             last_success_at = $3, last_error = NULL, computers = $4",
        )
        .bind(source)
        .bind(location)
        .bind(to_unix(at))
        .bind(i64::try_from(computers.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed sync of `source` at `at`; its computers stay as they were.
    pub async fn record_directory_failure(
        &self,
        source: &str,
        location: &str,
        error: &str,
        at: jiff::Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO directory_sources (name, location, last_attempt_at, last_error) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET location = $2, last_attempt_at = $3, last_error = $4",
        )
        .bind(source)
        .bind(location)
        .bind(to_unix(at))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every directory source's sync state, by name.
    pub async fn directory_sources(&self) -> Result<Vec<DirectorySourceState>> {
        let rows = sqlx::query(
            "SELECT name, location, last_attempt_at, last_success_at, last_error, computers \
             FROM directory_sources ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DirectorySourceState {
                    name: r.try_get("name")?,
                    location: r.try_get("location")?,
                    last_attempt_at: r
                        .try_get::<Option<i64>, _>("last_attempt_at")?
                        .map(from_unix)
                        .transpose()?,
                    last_success_at: r
                        .try_get::<Option<i64>, _>("last_success_at")?
                        .map(from_unix)
                        .transpose()?,
                    last_error: r.try_get("last_error")?,
                    computers: r.try_get("computers")?,
                })
            })
            .collect()
    }

    /// Every stored directory computer of every source, by source, then DN.
    pub async fn directory_computers(&self) -> Result<Vec<(String, DirectoryComputer)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM directory_computers ORDER BY source, dn"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(computer_row).collect()
    }

    /// The stored computers of one source, by DN.
    pub async fn directory_computers_of(&self, source: &str) -> Result<Vec<DirectoryComputer>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM directory_computers WHERE source = $1 ORDER BY dn"
        )))
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| computer_row(r).map(|(_, c)| c))
            .collect()
    }
}

fn computer_row(r: &AnyRow) -> Result<(String, DirectoryComputer)> {
    let groups: String = r.try_get("group_dns")?;
    Ok((
        r.try_get("source")?,
        DirectoryComputer {
            dn: r.try_get("dn")?,
            name: r.try_get("name")?,
            dns_host_name: r.try_get("dns_host_name")?,
            os: r.try_get("os")?,
            os_version: r.try_get("os_version")?,
            ou: r.try_get("ou")?,
            groups: serde_json::from_str(&groups).map_err(|e| corrupt("directory groups", e))?,
            last_logon: r
                .try_get::<Option<i64>, _>("last_logon")?
                .map(from_unix)
                .transpose()?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
        },
    ))
}
