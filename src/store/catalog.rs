//! The catalog tables: sources, their advisories, and the merged patches.

use std::collections::BTreeSet;

use fixpoint_core::catalog::{Advisory, Catalog, Patch, PatchId};
use fixpoint_core::rating::Severity;
// Dynamic SQL here is built only from constant text and `$n` placeholders;
// every value is bound, so `AssertSqlSafe` holds.
use sqlx::{AssertSqlSafe, Row};

use super::{
    Result, Store, corrupt, enum_text, from_unix, id_set, merge, patch_from_row, placeholders,
    to_unix,
};

/// What the last successful import remembers of a fetched URL: its HTTP
/// validators, and for an APT `InRelease` the `Date` accepted (a later fetch
/// with an older `Date` is a replay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub accepted_date: Option<jiff::Timestamp>,
}

/// What a sync learnt about a source, saved with its advisories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceUpdate {
    pub name: String,
    pub kind: String,
    pub location: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_sha256: Option<String>,
    pub release_date: Option<jiff::Timestamp>,
    /// Validators of the documents imported, saved only if the import commits.
    pub validators: Vec<(String, Validators)>,
}

/// A source's sync state as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceState {
    pub name: String,
    pub kind: String,
    pub location: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_sha256: Option<String>,
    pub release_date: Option<jiff::Timestamp>,
    pub last_attempt_at: Option<jiff::Timestamp>,
    pub last_success_at: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
    pub advisories: i64,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportStats {
    pub advisories: usize,
    /// Patches created, changed or removed by this import.
    pub patches_touched: usize,
}

/// A catalog search; every given criterion must match.
#[derive(Debug, Clone, Default)]
pub struct PatchQuery {
    pub cve: Option<String>,
    /// Source or binary package name (exact).
    pub package: Option<String>,
    pub severity: Option<Severity>,
    pub released_after: Option<jiff::Timestamp>,
    pub released_before: Option<jiff::Timestamp>,
    pub limit: Option<u32>,
}

/// Rows per multi-row INSERT: few round trips, well under SQLite's 32,766-parameter limit.
const BATCH: usize = 200;

impl Store {
    /// Replaces everything `update.name` said with `advisories`, in one
    /// transaction, and recomputes the patches they touch.
    pub async fn replace_source(
        &self,
        update: &SourceUpdate,
        advisories: &[Advisory],
        now: jiff::Timestamp,
    ) -> Result<ImportStats> {
        let mut tx = self.pool.begin().await?;

        let old: Vec<String> =
            sqlx::query("SELECT DISTINCT patch_id FROM advisories WHERE source = $1")
                .bind(&update.name)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM advisories WHERE source = $1")
            .bind(&update.name)
            .execute(&mut *tx)
            .await?;

        // One row per (advisory id, patch id); a repeat within a source keeps the last.
        let mut rows: Vec<(String, String, String)> = Vec::with_capacity(advisories.len());
        let mut seen = BTreeSet::new();
        for a in advisories.iter().rev() {
            if seen.insert((a.reference.id.clone(), a.patch.0.clone())) {
                let doc = serde_json::to_string(a).map_err(|e| corrupt("advisory", e))?;
                rows.push((a.reference.id.clone(), a.patch.0.clone(), doc));
            }
        }
        for chunk in rows.chunks(BATCH) {
            let mut q = sqlx::query(insert_sql(
                "advisories (source, advisory_id, patch_id, document)",
                chunk.len(),
                4,
            ));
            for (advisory_id, patch_id, doc) in chunk {
                q = q
                    .bind(&update.name)
                    .bind(advisory_id)
                    .bind(patch_id)
                    .bind(doc);
            }
            q.execute(&mut *tx).await?;
        }

        let mut affected: BTreeSet<String> = old.into_iter().collect();
        affected.extend(id_set(advisories.iter().map(|a| &a.patch)));
        let affected: Vec<String> = affected.into_iter().collect();
        let patches_touched = affected.len();
        recompute_patches(&mut tx, &affected).await?;

        sqlx::query(
            "INSERT INTO catalog_sources (name, kind, location, etag, last_modified, content_sha256, \
             release_date, last_attempt_at, last_success_at, last_error, advisories) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, NULL, $9) \
             ON CONFLICT (name) DO UPDATE SET kind = $2, location = $3, etag = $4, last_modified = $5, \
             content_sha256 = $6, release_date = $7, last_attempt_at = $8, last_success_at = $8, \
             last_error = NULL, advisories = $9",
        )
        .bind(&update.name)
        .bind(&update.kind)
        .bind(&update.location)
        .bind(&update.etag)
        .bind(&update.last_modified)
        .bind(&update.content_sha256)
        .bind(update.release_date.map(to_unix))
        .bind(to_unix(now))
        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;

        for (url, v) in &update.validators {
            sqlx::query(
                "INSERT INTO http_cache (url, etag, last_modified, accepted_date) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (url) DO UPDATE SET etag = $2, last_modified = $3, accepted_date = $4",
            )
            .bind(url)
            .bind(&v.etag)
            .bind(&v.last_modified)
            .bind(v.accepted_date.map(to_unix))
            .execute(&mut *tx)
            .await?;
        }

        tx.commit().await?;
        Ok(ImportStats {
            advisories: rows.len(),
            patches_touched,
        })
    }

    /// Records a failed sync attempt; the source's catalog stays as it was.
    pub async fn record_source_failure(
        &self,
        name: &str,
        kind: &str,
        location: &str,
        error: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO catalog_sources (name, kind, location, last_attempt_at, last_error) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET last_attempt_at = $4, last_error = $5",
        )
        .bind(name)
        .bind(kind)
        .bind(location)
        .bind(to_unix(now))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a sync that found nothing new (HTTP 304 or identical content).
    pub async fn record_source_unchanged(&self, name: &str, now: jiff::Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE catalog_sources SET last_attempt_at = $2, last_success_at = $2, last_error = NULL \
             WHERE name = $1",
        )
        .bind(name)
        .bind(to_unix(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The validators saved for `url` by the last import that fetched it.
    pub async fn validators(&self, url: &str) -> Result<Option<Validators>> {
        let row =
            sqlx::query("SELECT etag, last_modified, accepted_date FROM http_cache WHERE url = $1")
                .bind(url)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Some(Validators {
                etag: r.try_get("etag")?,
                last_modified: r.try_get("last_modified")?,
                accepted_date: r
                    .try_get::<Option<i64>, _>("accepted_date")?
                    .map(from_unix)
                    .transpose()?,
            }),
            None => None,
        })
    }

    /// The advisories a source's last import stored.
    pub async fn advisories_of(&self, source: &str) -> Result<Vec<Advisory>> {
        let rows = sqlx::query("SELECT document FROM advisories WHERE source = $1")
            .bind(source)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let doc: String = r.try_get("document")?;
                serde_json::from_str(&doc)
                    .map_err(|e| corrupt(format!("advisory of source {source}"), e))
            })
            .collect()
    }

    pub async fn source(&self, name: &str) -> Result<Option<SourceState>> {
        let row = sqlx::query(AssertSqlSafe(format!("{SOURCE_COLUMNS} WHERE name = $1")))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source_from_row).transpose()
    }

    pub async fn sources(&self) -> Result<Vec<SourceState>> {
        let rows = sqlx::query(AssertSqlSafe(format!("{SOURCE_COLUMNS} ORDER BY name")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(source_from_row).collect()
    }

    pub async fn patch(&self, id: &str) -> Result<Option<Patch>> {
        let row = sqlx::query("SELECT id, document FROM patches WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(patch_from_row).transpose()
    }

    /// Patches matching `query`, newest first.
    pub async fn search(&self, query: &PatchQuery) -> Result<Vec<Patch>> {
        let mut sql = String::from("SELECT p.id, p.document FROM patches p WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if query.cve.is_some() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM patch_cves c WHERE c.patch_id = p.id AND c.cve = ${})",
                next()
            ));
        }
        if query.package.is_some() {
            sql.push_str(&format!(
                " AND (p.product = ${a} OR EXISTS (SELECT 1 FROM patch_packages k WHERE k.patch_id = p.id AND k.package = ${a}))",
                a = next()
            ));
        }
        if query.severity.is_some() {
            sql.push_str(&format!(" AND p.severity = ${}", next()));
        }
        if query.released_after.is_some() {
            sql.push_str(&format!(" AND p.released_at >= ${}", next()));
        }
        if query.released_before.is_some() {
            sql.push_str(&format!(" AND p.released_at < ${}", next()));
        }
        sql.push_str(" ORDER BY p.released_at DESC, p.id");
        if let Some(limit) = query.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(cve) = &query.cve {
            q = q.bind(cve.to_ascii_uppercase());
        }
        if let Some(package) = &query.package {
            q = q.bind(package);
        }
        if let Some(severity) = &query.severity {
            q = q.bind(enum_text(severity));
        }
        if let Some(t) = query.released_after {
            q = q.bind(to_unix(t));
        }
        if let Some(t) = query.released_before {
            q = q.bind(to_unix(t));
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(patch_from_row).collect()
    }

    /// The whole catalog, for planning.
    pub async fn catalog(&self) -> Result<Catalog> {
        let rows = sqlx::query("SELECT id, document FROM patches")
            .fetch_all(&self.pool)
            .await?;
        let mut catalog = Catalog::default();
        for row in &rows {
            let patch = patch_from_row(row)?;
            catalog.patches.insert(patch.id.clone(), patch);
        }
        Ok(catalog)
    }

    pub async fn patch_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM patches")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}

const SOURCE_COLUMNS: &str = "SELECT name, kind, location, etag, last_modified, content_sha256, \
    release_date, last_attempt_at, last_success_at, last_error, advisories FROM catalog_sources";

fn source_from_row(row: &sqlx::any::AnyRow) -> Result<SourceState> {
    let time = |col: &str| -> Result<Option<jiff::Timestamp>> {
        row.try_get::<Option<i64>, _>(col)?
            .map(from_unix)
            .transpose()
    };
    Ok(SourceState {
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        location: row.try_get("location")?,
        etag: row.try_get("etag")?,
        last_modified: row.try_get("last_modified")?,
        content_sha256: row.try_get("content_sha256")?,
        release_date: time("release_date")?,
        last_attempt_at: time("last_attempt_at")?,
        last_success_at: time("last_success_at")?,
        last_error: row.try_get("last_error")?,
        advisories: row.try_get("advisories")?,
    })
}

/// Re-merges the advisories of `ids` into their patches and rewrites the
/// patch rows and their index tables; ids left without advisories are removed.
async fn recompute_patches(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ids: &[String],
) -> Result<()> {
    for chunk in ids.chunks(BATCH) {
        let list = placeholders(1, chunk.len());
        let mut advisories = Vec::new();
        let sql = format!("SELECT patch_id, document FROM advisories WHERE patch_id IN ({list})");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut **tx).await? {
            let doc: String = row.try_get("document")?;
            let a: Advisory = serde_json::from_str(&doc).map_err(|e| {
                corrupt(
                    format!(
                        "advisory of {}",
                        row.try_get::<String, _>("patch_id").unwrap_or_default()
                    ),
                    e,
                )
            })?;
            advisories.push(a);
        }
        for table in [
            "patches",
            "patch_cves",
            "patch_packages",
            "patch_supersedence",
        ] {
            let column = if table == "patches" { "id" } else { "patch_id" };
            let sql = format!("DELETE FROM {table} WHERE {column} IN ({list})");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&mut **tx).await?;
        }
        let merged = merge(advisories);
        insert_patches(tx, merged.patches.values()).await?;
    }
    Ok(())
}

async fn insert_patches<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    patches: impl Iterator<Item = &'a Patch>,
) -> Result<()> {
    let patches: Vec<&Patch> = patches.collect();
    for chunk in patches.chunks(BATCH / 2) {
        let mut q = sqlx::query(insert_sql(
            "patches (id, vendor, product, title, classification, severity, released_at, max_cvss, known_exploited, document)",
            chunk.len(),
            10,
        ));
        for p in chunk {
            // `superseded_by` is derived when read; store the patch without it.
            let mut stored = (*p).clone();
            stored.superseded_by.clear();
            let doc = serde_json::to_string(&stored).map_err(|e| corrupt("patch", e))?;
            q = q
                .bind(&p.id.0)
                .bind(&p.vendor)
                .bind(&p.product)
                .bind(&p.title)
                .bind(enum_text(&p.classification))
                .bind(enum_text(&p.severity))
                .bind(p.released.map(to_unix))
                .bind(p.max_cvss())
                .bind(i64::from(p.known_exploited()))
                .bind(doc);
        }
        q.execute(&mut **tx).await?;

        let cves: Vec<(&str, &str)> = chunk
            .iter()
            .flat_map(|p| p.cves().map(move |c| (p.id.0.as_str(), c)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        insert_pairs(tx, "patch_cves (patch_id, cve)", &cves).await?;
        let sup: Vec<(&str, &str)> = chunk
            .iter()
            .flat_map(|p| {
                p.supersedes
                    .iter()
                    .map(move |s| (p.id.0.as_str(), s.0.as_str()))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        insert_pairs(tx, "patch_supersedence (patch_id, supersedes)", &sup).await?;

        let mut packages: BTreeSet<(&str, &str, &str, Option<&str>)> = BTreeSet::new();
        for p in chunk {
            for f in &p.fixes {
                // One row per (patch, platform, package); the first fixed version wins.
                if !packages
                    .iter()
                    .any(|(id, pl, pk, _)| *id == p.id.0 && *pl == f.platform.0 && *pk == f.package)
                {
                    packages.insert((&p.id.0, &f.platform.0, &f.package, f.fixed.as_deref()));
                }
            }
        }
        let packages: Vec<_> = packages.into_iter().collect();
        for rows in packages.chunks(BATCH) {
            let mut q = sqlx::query(insert_sql(
                "patch_packages (patch_id, platform, package, fixed)",
                rows.len(),
                4,
            ));
            for (id, platform, package, fixed) in rows {
                q = q.bind(*id).bind(*platform).bind(*package).bind(*fixed);
            }
            q.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// `INSERT INTO {table_and_columns} VALUES ($1, …), (…)` for `rows` rows of
/// `width` bound values each. Built only from constant text and placeholders,
/// so `AssertSqlSafe` holds.
fn insert_sql(table_and_columns: &str, rows: usize, width: usize) -> AssertSqlSafe<String> {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("({})", placeholders(i * width + 1, width)))
        .collect();
    AssertSqlSafe(format!(
        "INSERT INTO {table_and_columns} VALUES {}",
        values.join(", ")
    ))
}

async fn insert_pairs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table_and_columns: &str,
    pairs: &[(&str, &str)],
) -> Result<()> {
    for rows in pairs.chunks(BATCH) {
        let mut q = sqlx::query(insert_sql(table_and_columns, rows.len(), 2));
        for (a, b) in rows {
            q = q.bind(*a).bind(*b);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Fills `superseded_by` of a patch read from the store.
impl Store {
    pub async fn patch_with_supersedence(&self, id: &str) -> Result<Option<Patch>> {
        let Some(mut patch) = self.patch(id).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT patch_id FROM patch_supersedence WHERE supersedes = $1 ORDER BY patch_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        patch.superseded_by = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0).map(PatchId))
            .collect::<Result<_, _>>()?;
        Ok(Some(patch))
    }
}
