//! Shared persistence plumbing: one code path for SQLite and PostgreSQL over sqlx's `Any` driver.
//!
//! Owns connecting (with the SQLite pragmas every service relies on), write transactions that do not
//! deadlock on SQLite, a small migration runner and error classification. Services keep their own
//! SQL and schemas; SQL written for this crate must be portable: `$N` placeholders, BIGINT for flags
//! and timestamps (the `Any` driver cannot decode SQLite booleans), TEXT for ids and JSON.
#![forbid(unsafe_code)]

mod migrate;
mod split;
#[cfg(feature = "test-support")]
pub mod testing;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Executor};

pub use migrate::Migration;
pub use split::split_statements;

/// A write or read transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL has a scheme we do not support.
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The driver reported an error.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed; nothing of it was applied.
    #[error("migration {service}/{version} ({name}) failed: {source}")]
    Migration {
        /// Service that owns the migration.
        service: String,
        /// Version of the failing migration.
        version: i64,
        /// Name of the failing migration.
        name: String,
        /// The underlying driver error.
        source: sqlx::Error,
    },
    /// Migrations were given out of order or with duplicate versions.
    #[error("migrations of {service} must have strictly increasing versions")]
    MigrationOrder {
        /// Service that owns the migrations.
        service: String,
    },
    /// An applied migration has a different name than the one given now.
    #[error("migration {service}/{version} was applied as {applied:?} but is now named {given:?}")]
    MigrationMismatch {
        /// Service that owns the migration.
        service: String,
        /// Version of the migration.
        version: i64,
        /// Name recorded in the database.
        applied: String,
        /// Name given by the code.
        given: String,
    },
}

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded default, WAL mode).
    Sqlite,
    /// PostgreSQL (multi-node deployments).
    Postgres,
}

impl Backend {
    /// Detects the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// How long a SQLite connection waits for a lock before failing with SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// A connection pool to SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `sqlite://path?mode=rwc` or `postgres://…`.
    ///
    /// SQLite connections get WAL journaling, foreign keys ON and a busy timeout.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with_max(url, None).await
    }

    /// Connects like [`Db::connect`] with an explicit maximum pool size.
    pub async fn connect_with_max(
        url: &str,
        max_connections: Option<u32>,
    ) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let max = max_connections.unwrap_or(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        });
        let mut options = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlite_pragmas(conn).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Db { pool, backend })
    }

    /// The backend this pool talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool (for reads: `query.fetch_one(db.pool())`).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write.
    ///
    /// On SQLite this is `BEGIN IMMEDIATE`: the write lock is taken up front, so two writers never
    /// deadlock upgrading a read lock (which SQLite answers with SQLITE_BUSY regardless of the
    /// busy timeout). On PostgreSQL it is a plain `BEGIN`.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Begins a read transaction (consistent snapshot for several reads).
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin().await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the not yet applied `migrations` of `service`, each in its own transaction.
    pub async fn migrate(&self, service: &str, migrations: &[Migration]) -> Result<(), DbError> {
        migrate::run(self, service, migrations).await
    }
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // busy_timeout first: switching to WAL needs a lock another connection may hold briefly.
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
    )))
    .await?;
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    Ok(())
}

/// Whether `err` is a unique-constraint (or primary-key) violation on either backend.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Whether `err` is a foreign-key violation on either backend.
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_foreign_key_violation())
}
