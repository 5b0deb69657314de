//! The one SQL implementation (sqlx `Any`: SQLite and PostgreSQL), one file per aggregate.
//!
//! Functions take a connection (`&mut Conn`, usually a transaction: `&mut tx`) so that a service can
//! group several writes — the change and its audit event — into one transaction. Only portable SQL:
//! `$N` placeholders, BIGINT flags and unix-second timestamps, TEXT ids and JSON.

pub mod access;
pub mod api_token;
pub mod audit;
pub mod cloud;
pub mod directory;
pub mod group;
pub use web::rate_limit;
pub mod saml_state;
pub mod scim;
pub mod scim_credential;
pub mod session;
pub mod user;

use db::{Db, Tx};
pub use web::sql::{flag, like_escape};

use crate::error::{Error, Result};

/// A database connection of either backend (a transaction derefs to it).
pub type Conn = sqlx::AnyConnection;

/// Access to the Cloud SSO database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

/// The Cloud SSO schema migrations, in order.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "core",
        sql: include_str!("../../migrations/0001_core.sql"),
    },
    db::Migration {
        version: 2,
        name: "cloud",
        sql: include_str!("../../migrations/0002_cloud.sql"),
    },
    db::Migration {
        version: 3,
        name: "scim",
        sql: include_str!("../../migrations/0003_scim.sql"),
    },
];

/// Tables of other areas that reference a directory user or group by id, checked before deleting it
/// (products.md §2.2: remove access assignments first): `(table, principal id column, what to tell
/// the admin)`. User and group ids are distinct random ids, so the id alone identifies the principal.
pub const PRINCIPAL_REFERENCES: &[(&str, &str, &str)] = &[
    ("access_assignments", "principal_id", "access assignments"),
    (
        "ram_user_provisionings",
        "principal_id",
        "RAM user provisionings",
    ),
];

/// What still references the principal (user or group id), per [`PRINCIPAL_REFERENCES`].
pub async fn principal_references(
    conn: &mut Conn,
    principal_id: &str,
) -> Result<Vec<&'static str>> {
    let mut found = Vec::new();
    for (table, column, what) in PRINCIPAL_REFERENCES {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE {column} = $1"
        )))
        .bind(principal_id)
        .fetch_one(&mut *conn)
        .await?;
        if n > 0 {
            found.push(*what);
        }
    }
    Ok(found)
}

/// The migration service name in `schema_migrations`.
pub const MIGRATION_SERVICE: &str = "cloudsso";

impl Store {
    /// Wraps a connected database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies the Cloud SSO migrations.
    pub async fn migrate(&self) -> std::result::Result<(), db::DbError> {
        self.db.migrate(MIGRATION_SERVICE, MIGRATIONS).await
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(self.db.begin_write().await?)
    }

    /// Acquires a pooled connection for reads.
    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.pool().acquire().await?)
    }
}

/// Maps a unique violation to [`Error::AlreadyExists`], other errors to [`Error::Db`].
pub fn unique_as(entity: &'static str, field: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |e| {
        if db::is_unique_violation(&e) {
            Error::AlreadyExists { entity, field }
        } else {
            Error::Db(e)
        }
    }
}

/// Decodes a JSON column.
pub fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{column}: {e}")))
}

/// Encodes a JSON column.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("json encode: {e}")))
}
