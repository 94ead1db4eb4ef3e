//! The audit trail of policy revisions: every revision the server attempted,
//! whether it was applied, and the diagnostics of one that was not.

use sqlx::Row;

use super::{Result, Store, from_unix, to_unix};

/// One attempted policy revision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRevision {
    /// A commit id, or for a plain directory the SHA-256 of its files.
    pub revision: String,
    pub author: Option<String>,
    pub committed_at: Option<jiff::Timestamp>,
    pub attempted_at: jiff::Timestamp,
    /// Whether it validated and became the revision the server reconciles.
    pub applied: bool,
    /// The diagnostics, as JSON (an array), for a revision that was not applied.
    pub diagnostics: String,
}

/// A revision's policy files as the leader stored them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRevision {
    pub revision: String,
    pub author: Option<String>,
    pub committed_at: Option<jiff::Timestamp>,
    pub files: String,
}

impl Store {
    /// Records an attempt at a revision; a revision attempted again keeps one
    /// row with the latest attempt. `files` is the revision's policy files as
    /// the leader read them (opaque text to the store), so that followers can
    /// read the same ones with [`Store::latest_policy_files`].
    pub async fn record_policy_revision(&self, r: &PolicyRevision, files: &str) -> Result<()> {
        // Only the leader writes revisions, so the next sequence number cannot race.
        sqlx::query(
            "INSERT INTO policy_revisions \
             (revision, author, committed_at, attempted_at, applied, diagnostics, files, attempt_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     (SELECT COALESCE(MAX(attempt_seq), 0) + 1 FROM policy_revisions)) \
             ON CONFLICT (revision) DO UPDATE SET attempted_at = $4, applied = $5, diagnostics = $6, \
                 files = $7, \
                 attempt_seq = (SELECT COALESCE(MAX(attempt_seq), 0) + 1 FROM policy_revisions)",
        )
        .bind(&r.revision)
        .bind(r.author.as_deref())
        .bind(r.committed_at.map(to_unix))
        .bind(to_unix(r.attempted_at))
        .bind(i64::from(r.applied))
        .bind(&r.diagnostics)
        .bind(files)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The most recently attempted revision whose files are stored (only an
    /// applied one with `applied_only`): the revision, its author and commit
    /// time, and the files as [`Store::record_policy_revision`] was given them.
    pub async fn latest_policy_files(&self, applied_only: bool) -> Result<Option<StoredRevision>> {
        let sql = if applied_only {
            "SELECT revision, author, committed_at, files FROM policy_revisions \
             WHERE files IS NOT NULL AND applied = 1 ORDER BY attempt_seq DESC, revision LIMIT 1"
        } else {
            "SELECT revision, author, committed_at, files FROM policy_revisions \
             WHERE files IS NOT NULL ORDER BY attempt_seq DESC, revision LIMIT 1"
        };
        let row = sqlx::query(sql).fetch_optional(&self.pool).await?;
        row.map(|row| {
            Ok(StoredRevision {
                revision: row.try_get("revision")?,
                author: row.try_get("author")?,
                committed_at: row
                    .try_get::<Option<i64>, _>("committed_at")?
                    .map(from_unix)
                    .transpose()?,
                files: row.try_get("files")?,
            })
        })
        .transpose()
    }

    /// The most recent attempts, newest first.
    pub async fn policy_revisions(&self, limit: i64) -> Result<Vec<PolicyRevision>> {
        let rows = sqlx::query(
            "SELECT revision, author, committed_at, attempted_at, applied, diagnostics \
             FROM policy_revisions ORDER BY attempt_seq DESC, attempted_at DESC, revision LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PolicyRevision {
                    revision: row.try_get("revision")?,
                    author: row.try_get("author")?,
                    committed_at: row
                        .try_get::<Option<i64>, _>("committed_at")?
                        .map(from_unix)
                        .transpose()?,
                    attempted_at: from_unix(row.try_get("attempted_at")?)?,
                    applied: row.try_get::<i64, _>("applied")? != 0,
                    diagnostics: row.try_get("diagnostics")?,
                })
            })
            .collect()
    }
}
