//! The one SQL implementation (sqlx `Any`: SQLite and PostgreSQL), one file per aggregate.
//!
//! Functions take a connection (`&mut Conn`, usually a transaction: `&mut tx`) so that a service can
//! group several writes — the change and its audit event — into one transaction. Only portable SQL:
//! `$N` placeholders, BIGINT flags and unix-second timestamps, TEXT ids and JSON.

pub mod api_token;
pub mod audit;
pub mod group;
pub mod instance;
pub mod org_unit;
pub mod session;
pub mod user;

// Applications, grants, application accounts, signing keys, parked SSO requests, rate limits (H-sso).
pub mod app_account;
pub mod application;
pub mod authn_request_id;
pub mod grant;
pub mod pending_sso;
pub use web::rate_limit;
pub mod signing_key;

// Provisioning delivery, pushed-object map and sync records (issue 4, IDAAS-PROV-ENGINE).
pub mod outbox;
pub mod outbox_enqueue;
pub mod provisioning_config;
pub mod provisioning_map;
pub mod sync_job;

use db::{Db, Tx};
pub(crate) use web::sql::{flag, like_escape};

use crate::error::{Error, Result};

/// A database connection of either backend (a transaction derefs to it).
pub type Conn = sqlx::AnyConnection;

/// Access to the IDaaS database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

/// The IDaaS schema migrations, in order.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "core",
        sql: include_str!("../../migrations/0001_core.sql"),
    },
    db::Migration {
        version: 2,
        name: "authn_request_ids",
        sql: include_str!("../../migrations/0002_authn_request_ids.sql"),
    },
    db::Migration {
        version: 3,
        name: "provisioning",
        sql: include_str!("../../migrations/0003_provisioning.sql"),
    },
    db::Migration {
        version: 4,
        name: "outbox_lease_owner",
        sql: include_str!("../../migrations/0004_outbox_lease_owner.sql"),
    },
];

/// The migration service name in `schema_migrations`.
pub const MIGRATION_SERVICE: &str = "idaas";

impl Store {
    /// Wraps a connected database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies the IDaaS migrations.
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
pub(crate) fn unique_as(
    entity: &'static str,
    field: &'static str,
) -> impl Fn(sqlx::Error) -> Error {
    move |e| {
        if db::is_unique_violation(&e) {
            Error::AlreadyExists { entity, field }
        } else {
            Error::Db(e)
        }
    }
}

/// Decodes a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{column}: {e}")))
}

/// Encodes a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("json encode: {e}")))
}

/// A bind value for dynamically assembled queries (filters).
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    /// TEXT
    Text(String),
    /// BIGINT
    Int(i64),
}

/// Builds `WHERE` clauses with numbered `$N` placeholders.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    /// Adds a bind value and returns its placeholder (`$N`).
    pub(crate) fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// Adds a clause (already containing placeholders from [`Filter::bind`]).
    pub(crate) fn clause(&mut self, c: String) {
        self.clauses.push(c);
    }

    /// ` WHERE a AND b` (or nothing).
    pub(crate) fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Builds the query with all binds applied.
    pub(crate) fn query(
        &self,
        sql: String,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}
