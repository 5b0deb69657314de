//! Fixed-window counters (`rate_limits`) shared by every node through the database.
//!
//! One atomic upsert counts a hit and returns the new count, so parallel requests on several nodes
//! cannot all see "under the limit". Each service's schema has its own `rate_limits` table.

use sqlx::Row;

/// A database connection of either backend (a transaction derefs to it).
type Conn = sqlx::AnyConnection;

/// Counts one hit for `key` in the window starting at `window_start`; returns the count in that
/// window including this hit. A hit in a newer window restarts the count at 1.
pub async fn hit(conn: &mut Conn, key: &str, window_start: i64) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.count + 1 ELSE 1 END, \
           window_start = excluded.window_start \
         RETURNING count",
    )
    .bind(key)
    .bind(window_start)
    .fetch_one(&mut *conn)
    .await?;
    row.try_get("count")
}

/// Deletes counters whose window started before `older_than`.
pub async fn delete_stale(conn: &mut Conn, older_than: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(older_than)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
