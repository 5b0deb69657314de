//! The migration runner: `schema_migrations(service, version, name, applied_at)`.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AnyConnection, Row};

use crate::{Backend, Db, DbError, split_statements};

/// One migration of one service: applied once, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Strictly increasing version within the service.
    pub version: i64,
    /// Human-readable name (recorded; must not change once applied).
    pub name: &'static str,
    /// The SQL script (several statements separated by `;`).
    pub sql: &'static str,
}

/// Key for `pg_advisory_xact_lock`: serialises migrations of concurrently starting nodes.
const PG_MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

async fn lock(conn: &mut AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) async fn run(db: &Db, service: &str, migrations: &[Migration]) -> Result<(), DbError> {
    if migrations.windows(2).any(|w| w[0].version >= w[1].version) {
        return Err(DbError::MigrationOrder {
            service: service.to_owned(),
        });
    }
    let mut tx = db.begin_write().await?;
    lock(&mut tx, db.backend).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            service TEXT NOT NULL,
            version BIGINT NOT NULL,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL,
            PRIMARY KEY (service, version)
        )",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    for m in migrations {
        let mut tx = db.begin_write().await?;
        lock(&mut tx, db.backend).await?;
        let applied =
            sqlx::query("SELECT name FROM schema_migrations WHERE service = $1 AND version = $2")
                .bind(service)
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = applied {
            let name: String = row.try_get("name")?;
            if name != m.name {
                return Err(DbError::MigrationMismatch {
                    service: service.to_owned(),
                    version: m.version,
                    applied: name,
                    given: m.name.to_owned(),
                });
            }
            continue;
        }
        let fail = |source| DbError::Migration {
            service: service.to_owned(),
            version: m.version,
            name: m.name.to_owned(),
            source,
        };
        for statement in split_statements(m.sql) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (service, version, name, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(service)
        .bind(m.version)
        .bind(m.name)
        .bind(now_unix())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            service,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    }
    Ok(())
}
