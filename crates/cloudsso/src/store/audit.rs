//! `audit_log`: append (inside the caller's transaction) and query.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, from_json, like_escape, to_json};
use crate::audit::{ACTION_PREFIX, ActorType, AuditEvent, AuditPage, AuditResult, NewAuditEvent};
use crate::error::Result;

const COLUMNS: &str = "id, directory_id, at, actor_type, actor_id, action, target_type, target_id, result, source_ip, detail";

fn from_row(row: &AnyRow) -> Result<AuditEvent> {
    let detail: String = row.try_get("detail")?;
    let result: String = row.try_get("result")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
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
    let id = web::id::new_time_ordered_id("evt", now);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&id)
    .bind(&event.directory_id)
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

/// Events of a directory, newest first.
pub async fn query(
    conn: &mut Conn,
    directory_id: &str,
    action_prefix: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<AuditPage> {
    query_in(conn, Some(directory_id), action_prefix, cursor, limit).await
}

/// Events of no directory (platform events, e.g. a POST to an unknown ACS URL), newest first.
pub async fn query_platform(
    conn: &mut Conn,
    action_prefix: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<AuditPage> {
    query_in(conn, None, action_prefix, cursor, limit).await
}

/// Events of `directory_id`, or of no directory when `None`, newest first.
async fn query_in(
    conn: &mut Conn,
    directory_id: Option<&str>,
    action_prefix: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<AuditPage> {
    let (mut sql, mut binds) = match directory_id {
        Some(d) => (
            format!("SELECT {COLUMNS} FROM audit_log WHERE directory_id = $1"),
            vec![d.to_owned()],
        ),
        None => (
            format!("SELECT {COLUMNS} FROM audit_log WHERE directory_id IS NULL"),
            Vec::new(),
        ),
    };
    if let Some(prefix) = action_prefix.filter(|s| !s.is_empty()) {
        let full = if prefix.starts_with("urn:") {
            prefix.to_owned()
        } else {
            format!("{ACTION_PREFIX}{prefix}")
        };
        binds.push(format!("{}%", like_escape(&full)));
        sql.push_str(&format!(" AND action LIKE ${} ESCAPE '\\'", binds.len()));
    }
    if let Some(c) = cursor {
        binds.push(c.to_owned());
        sql.push_str(&format!(" AND id < ${}", binds.len()));
    }
    let limit = limit.clamp(1, 500);
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let (items, next_cursor) = web::sql::keyset_page(items, limit, |e| e.id.clone());
    Ok(AuditPage { next_cursor, items })
}
