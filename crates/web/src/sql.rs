//! Small helpers for portable SQL (sqlx `Any`: SQLite and PostgreSQL) shared by the services' stores.

/// Stores a flag as BIGINT 0/1 (the `Any` driver cannot decode SQLite booleans).
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
