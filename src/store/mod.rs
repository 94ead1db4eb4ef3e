//! Persistence with sqlx: SQLite in the data directory by default, PostgreSQL
//! for large fleets and several replicas.
//!
//! One code path serves both through sqlx's `Any` driver: queries use `$n`
//! placeholders and standard SQL (`ON CONFLICT`, no dialect functions) that
//! both databases accept, instants are Unix seconds and documents JSON text.
//! Only the migrations differ by dialect (`migrations/sqlite`, `migrations/postgres`),
//! and a test checks that they create the same tables and columns.
//!
//! The store holds no policy logic: merging advisories into patches is the
//! core's [`Catalog`]; the store only keeps the result and makes every source
//! sync one transaction, so readers see a source's old catalog or its new one,
//! never half of a sync.

use std::collections::BTreeSet;
use std::path::Path;

use fixpoint_core::catalog::{Advisory, Catalog, Patch, PatchId};
use fixpoint_core::rating::{Classification, Severity};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

mod bulk;
mod catalog;
mod console;
mod directory;
mod fleet;
mod policy;

pub use bulk::SeededMachine;
pub use catalog::{ImportStats, PatchQuery, SourceState, SourceUpdate, Validators};
pub use console::{CheckIn, ResultRecord, Snapshot};
pub use directory::DirectorySourceState;
pub use fleet::{IssuedInstruction, ReportedResult};
pub use policy::{PolicyRevision, StoredRevision};

/// Which database is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL `{0}`: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt { what: String, detail: String },
}

impl StoreError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            StoreError::Database(_) => "database",
            StoreError::Migrate(_) => "migrate",
            StoreError::UnsupportedUrl(_) => "config",
            StoreError::Corrupt { .. } => "corrupt",
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection pool to Fixpoint's database, migrated to the current schema.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` — created if missing — or
    /// `postgres://…`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let pool = match backend {
            Backend::Sqlite => {
                // Create the file if it is missing (`mode=rwc`); on every connection wait
                // on locks instead of failing, and write-ahead-log so readers never block
                // the sync writer. `synchronous = FULL` syncs the log at every commit: an
                // agent's report is acknowledged only once it is durably stored, and
                // NORMAL would survive a crash of the process but not of the machine.
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = FULL",
                                "PRAGMA busy_timeout = 10000",
                                "PRAGMA foreign_keys = ON",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await?
            }
        };
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// The embedded default: SQLite in `dir/fixpoint.db`.
    pub async fn open_in_data_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Corrupt {
            what: format!("data directory {}", dir.display()),
            detail: e.to_string(),
        })?;
        let path = dir.join("fixpoint.db");
        Store::open(&format!("sqlite://{}", path.display())).await
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The URL the store connected with: for connections of their own, such
    /// as the one that holds the leader lock.
    pub fn database_url(&self) -> String {
        self.pool.connect_options().database_url.to_string()
    }

    /// Closes every connection; pending work finishes first.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn corrupt(what: impl Into<String>, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        detail: detail.to_string(),
    }
}

fn to_unix(t: jiff::Timestamp) -> i64 {
    t.as_second()
}

fn from_unix(s: i64) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_second(s).map_err(|e| corrupt("timestamp", e))
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn enum_from_text<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| corrupt(what, e))
}

fn patch_from_row(row: &AnyRow) -> Result<Patch> {
    let id: String = row.try_get("id")?;
    let document: String = row.try_get("document")?;
    serde_json::from_str(&document).map_err(|e| corrupt(format!("patch {id}"), e))
}

#[allow(dead_code)] // used by the catalog queries; kept here beside its inverse
fn severity_from_text(text: &str) -> Result<Severity> {
    enum_from_text("severity", text)
}

#[allow(dead_code)]
fn classification_from_text(text: &str) -> Result<Classification> {
    enum_from_text("classification", text)
}

/// Placeholders `$first..$first+n` joined for an `IN (...)` or `VALUES (...)` list.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Merges stored advisories into patches (the core decides how).
fn merge(advisories: Vec<Advisory>) -> Catalog {
    Catalog::from_advisories(advisories)
}

/// Patch ids as a sorted set of strings.
fn id_set<'a>(ids: impl IntoIterator<Item = &'a PatchId>) -> BTreeSet<String> {
    ids.into_iter().map(|id| id.0.clone()).collect()
}
