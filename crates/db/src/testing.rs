//! Test databases: a temporary SQLite file, or a fresh PostgreSQL database made from
//! `GATEHOUSE_TEST_PG_URL` (an admin URL) and dropped again when the handle is dropped.

use std::path::PathBuf;

use crate::Db;

/// Environment variable with a PostgreSQL URL of a role allowed to create databases.
pub const PG_URL_VAR: &str = "GATEHOUSE_TEST_PG_URL";
/// When set to `1`, a missing PostgreSQL URL is a test failure instead of a skip.
pub const REQUIRE_PEERS_VAR: &str = "GATEHOUSE_REQUIRE_PEERS";

/// A database that exists only for one test and is removed on drop.
#[derive(Debug)]
pub struct TestDb {
    /// URL that connects to this test database.
    pub url: String,
    /// A connected pool.
    pub db: Db,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteDir(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// Errors creating a test database.
#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    /// Creating a file or directory failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The admin URL could not be parsed.
    #[error("bad {PG_URL_VAR}: {0}")]
    Url(#[from] url::ParseError),
    /// The database refused.
    #[error("db: {0}")]
    Db(#[from] crate::DbError),
    /// The driver refused.
    #[error("sqlx: {0}")]
    Sqlx(#[from] sqlx::Error),
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Creates an empty SQLite database in a fresh temporary directory.
pub async fn sqlite() -> Result<TestDb, TestDbError> {
    let dir = std::env::temp_dir().join(format!("gh_test_{}", random_suffix()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("test.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Db::connect(&url).await?;
    Ok(TestDb {
        url,
        db,
        cleanup: Cleanup::SqliteDir(dir),
    })
}

/// The admin URL from `GATEHOUSE_TEST_PG_URL`, if set and non-empty.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(PG_URL_VAR)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Whether the environment demands that peers (PostgreSQL, …) are present.
pub fn peers_required() -> bool {
    std::env::var(REQUIRE_PEERS_VAR).is_ok_and(|v| v == "1")
}

/// Creates a fresh PostgreSQL database `gh_test_<random>`; `None` when no admin URL is set.
pub async fn postgres() -> Result<Option<TestDb>, TestDbError> {
    let Some(admin_url) = postgres_admin_url() else {
        return Ok(None);
    };
    let name = format!("gh_test_{}", random_suffix());
    let admin = Db::connect_with_max(&admin_url, Some(1)).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await?;
    admin.close().await;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    let db = Db::connect(&url).await?;
    Ok(Some(TestDb {
        url,
        db,
        cleanup: Cleanup::Postgres { admin_url, name },
    }))
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                // Drop runs inside async tests; use a separate thread with its own runtime.
                let admin_url = admin_url.clone();
                let name = name.clone();
                let pool = self.db.pool().clone();
                let handle = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        pool.close().await;
                        if let Ok(admin) = Db::connect_with_max(&admin_url, Some(1)).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .execute(admin.pool())
                                .await
                            {
                                eprintln!("could not drop test database {name}: {e}");
                            }
                            admin.close().await;
                        }
                    });
                });
                let _ = handle.join();
            }
        }
    }
}
