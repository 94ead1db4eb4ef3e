//! Stores for tests: a fresh SQLite file, and a fresh PostgreSQL database on the
//! server at 127.0.0.1:5432 (or `FIXPOINT_TEST_POSTGRES_URL`). With CI=true an
//! unreachable PostgreSQL fails the test instead of skipping its half.

use fixpoint::store::Store;
use sqlx::{Connection, Executor};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh SQLite store and, where the server answers, a fresh PostgreSQL one,
/// labelled `sqlite` and `postgres`.
pub async fn both(test: &str) -> Vec<(&'static str, Store)> {
    let mut stores = vec![("sqlite", sqlite(test).await)];
    match postgres(test).await {
        Ok(store) => stores.push(("postgres", store)),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL is required with CI=true and is unreachable: {e}")
        }
        Err(e) => eprintln!("SKIPPED PostgreSQL half of {test}: {e}"),
    }
    stores
}

pub async fn sqlite(test: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("fixpoint-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Store::open_in_data_dir(&dir)
        .await
        .expect("SQLite store opens")
}

async fn postgres(test: &str) -> Result<Store, String> {
    let admin_url =
        std::env::var("FIXPOINT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .map_err(|e| format!("{admin_url}: {e}"))?;
    // One database per test, named after it: a rerun drops the previous run's, so none pile up.
    let db = format!("fixpoint_test_{}", test.replace('-', "_"));
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
    let (base, _) = admin_url.rsplit_once('/').ok_or("bad URL")?;
    Store::open(&format!("{base}/{db}"))
        .await
        .map_err(|e| e.to_string())
}
