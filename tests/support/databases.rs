//! Stores for tests: a fresh SQLite file, and a fresh PostgreSQL database on the
//! server at 127.0.0.1:5432 (or `FIXPOINT_TEST_POSTGRES_URL`). With CI=true an
//! unreachable PostgreSQL fails the test instead of skipping its half.

use fixpoint::store::Store;
use sha2::Digest;
use sqlx::{Connection, Executor};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh SQLite store and, where the server answers, a fresh PostgreSQL one,
/// labelled `sqlite` and `postgres`.
pub async fn both(test: &str) -> Vec<(&'static str, Store)> {
    let mut stores = vec![("sqlite", sqlite(test).await)];
    if let Some(url) = fresh_postgres(test).await {
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL store {url} opens: {e}"));
        stores.push(("postgres", store));
    }
    stores
}

/// The URL of a fresh, empty PostgreSQL database named after `test`; `None`
/// (and a line on stderr) when PostgreSQL is unreachable. With CI=true an
/// unreachable PostgreSQL panics instead.
pub async fn fresh_postgres(test: &str) -> Option<String> {
    match create_postgres(test).await {
        Ok(url) => Some(url),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL is required with CI=true and is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED PostgreSQL half of {test}: {e}");
            None
        }
    }
}

pub async fn sqlite(test: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("fixpoint-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Store::open_in_data_dir(&dir)
        .await
        .expect("SQLite store opens")
}

async fn create_postgres(test: &str) -> Result<String, String> {
    let admin_url =
        std::env::var("FIXPOINT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .map_err(|e| format!("{admin_url}: {e}"))?;
    // One database per test, named after it: a rerun drops the previous run's, so none pile up.
    let db = database_name(test);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .await
        .map_err(|e| e.to_string())?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .map_err(|e| e.to_string())?;
    let _ = admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').ok_or("bad URL")?;
    Ok(format!("{base}/{db}"))
}

/// `fixpoint_test_` and the test's name as a plain identifier. PostgreSQL
/// silently cuts names at 63 bytes, which would leave the URL naming a database
/// that does not exist (and two long names the same one), so a longer name is
/// cut and given a hash of the whole.
fn database_name(test: &str) -> String {
    const MAX: usize = 63;
    let name: String = format!("fixpoint_test_{test}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.len() <= MAX {
        return name;
    }
    let digest = sha2::Sha256::digest(test.as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}_{hash}", &name[..MAX - 1 - hash.len()])
}
