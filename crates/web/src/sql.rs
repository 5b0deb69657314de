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

/// Keyset paging: `items` was fetched with `LIMIT limit + 1`; keeps the first `limit` and returns
/// the cursor of the last kept item when the extra row shows there is more.
pub fn keyset_page<T>(
    mut items: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let keep = usize::try_from(limit).unwrap_or(0);
    let more = items.len() > keep;
    items.truncate(keep);
    let next = if more {
        items.last().map(cursor_of)
    } else {
        None
    };
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::keyset_page;

    #[test]
    fn keyset_page_cuts_at_limit_and_names_the_next_cursor() {
        let id = |s: &&str| (*s).to_owned();
        assert_eq!(
            keyset_page(vec!["a", "b", "c"], 2, id),
            (vec!["a", "b"], Some("b".into()))
        );
        assert_eq!(keyset_page(vec!["a", "b"], 2, id), (vec!["a", "b"], None));
        assert_eq!(keyset_page(Vec::<&str>::new(), 2, id), (vec![], None));
    }
}
