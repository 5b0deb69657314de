//! `audit_log`: append (inside the caller's transaction), query, retention.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Bind, Conn, Filter, from_json, like_escape, to_json};
use crate::audit::{
    ACTION_PREFIX, ActorType, AuditEvent, AuditPage, AuditQuery, AuditResult, NewAuditEvent,
};
use crate::error::Result;
use crate::id;

const COLUMNS: &str = "id, instance_id, at, actor_type, actor_id, action, target_type, target_id, result, source_ip, detail";

fn from_row(row: &AnyRow) -> Result<AuditEvent> {
    let detail: String = row.try_get("detail")?;
    let result: String = row.try_get("result")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        at: row.try_get("at")?,
        actor_type: ActorType::parse(&row.try_get::<String, _>("actor_type")?),
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        result: if result == "success" {
            AuditResult::Success
        } else {
            AuditResult::Failure
        },
        source_ip: row.try_get("source_ip")?,
        detail: from_json("detail", &detail)?,
    })
}

/// Appends an event at time `now` (call inside the transaction of the change it records).
pub async fn append(conn: &mut Conn, event: &NewAuditEvent, now: i64) -> Result<String> {
    let id = id::new_time_ordered_id("evt", now);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&id)
    .bind(&event.instance_id)
    .bind(now)
    .bind(event.actor.actor_type.as_str())
    .bind(&event.actor.actor_id)
    .bind(&event.action)
    .bind(&event.target_type)
    .bind(&event.target_id)
    .bind(event.result.as_str())
    .bind(&event.actor.source_ip)
    .bind(to_json(&event.detail)?)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Events of `instance_id` (or platform events for `None`) matching `q`, newest first.
pub async fn query(
    conn: &mut Conn,
    instance_id: Option<&str>,
    q: &AuditQuery,
) -> Result<AuditPage> {
    let mut w = Filter::default();
    match instance_id {
        Some(i) => {
            let p = w.bind(Bind::Text(i.to_owned()));
            w.clause(format!("instance_id = {p}"));
        }
        None => w.clause("instance_id IS NULL".to_owned()),
    }
    if let Some(from) = q.from {
        let p = w.bind(Bind::Int(from));
        w.clause(format!("at >= {p}"));
    }
    if let Some(to) = q.to {
        let p = w.bind(Bind::Int(to));
        w.clause(format!("at < {p}"));
    }
    if let Some(a) = &q.actor_id {
        let p = w.bind(Bind::Text(a.clone()));
        w.clause(format!("actor_id = {p}"));
    }
    if let Some(prefix) = q.action_prefix.as_deref().filter(|s| !s.is_empty()) {
        let full = if prefix.starts_with("urn:") {
            prefix.to_owned()
        } else {
            format!("{ACTION_PREFIX}{prefix}")
        };
        let p = w.bind(Bind::Text(format!("{}%", like_escape(&full))));
        w.clause(format!("action LIKE {p} ESCAPE '\\'"));
    }
    if let Some(t) = &q.target_id {
        let p = w.bind(Bind::Text(t.clone()));
        w.clause(format!("target_id = {p}"));
    }
    if let Some(r) = q.result {
        let p = w.bind(Bind::Text(r.as_str().to_owned()));
        w.clause(format!("result = {p}"));
    }
    if let Some(c) = &q.cursor {
        let p = w.bind(Bind::Text(c.clone()));
        w.clause(format!("id < {p}"));
    }
    let limit = q.limit.clamp(1, 500);
    let rows = w
        .query(format!(
            "SELECT {COLUMNS} FROM audit_log{} ORDER BY id DESC LIMIT {}",
            w.where_sql(),
            limit + 1
        ))
        .fetch_all(&mut *conn)
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let (items, next_cursor) = web::sql::keyset_page(items, limit, |e| e.id.clone());
    Ok(AuditPage { next_cursor, items })
}

/// Deletes events of `instance_id` (or platform events for `None`) older than `before`.
pub async fn delete_older_than(
    conn: &mut Conn,
    instance_id: Option<&str>,
    before: i64,
) -> Result<u64> {
    let r = match instance_id {
        Some(i) => {
            sqlx::query("DELETE FROM audit_log WHERE instance_id = $1 AND at < $2")
                .bind(i)
                .bind(before)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM audit_log WHERE instance_id IS NULL AND at < $1")
                .bind(before)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(r.rows_affected())
}

/// Deletes events of instances that no longer exist and are older than `before`.
pub async fn delete_orphans_older_than(conn: &mut Conn, before: i64) -> Result<u64> {
    let r = sqlx::query(
        "DELETE FROM audit_log WHERE instance_id IS NOT NULL AND at < $1 \
         AND instance_id NOT IN (SELECT id FROM instances)",
    )
    .bind(before)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}
