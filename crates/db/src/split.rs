//! Splitting a migration script into statements.

/// Splits SQL text on `;` outside string literals, quoted identifiers and comments.
///
/// Empty statements (and comment-only ones) are dropped. Dollar-quoted bodies (`$$ … $$`) are
/// kept intact so that PostgreSQL functions survive.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut has_code = false;
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' => {
                // Literal or quoted identifier; a doubled quote is an escaped quote.
                current.push(c);
                has_code = true;
                i += 1;
                while i < chars.len() {
                    current.push(chars[i]);
                    if chars[i] == c {
                        if chars.get(i + 1) == Some(&c) {
                            current.push(c);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '-' if next == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            '$' if next == Some('$') => {
                current.push_str("$$");
                has_code = true;
                i += 2;
                while i < chars.len() && !(chars[i] == '$' && chars.get(i + 1) == Some(&'$')) {
                    current.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    current.push_str("$$");
                }
                i += 2;
            }
            ';' => {
                if has_code {
                    out.push(current.trim().to_owned());
                }
                current.clear();
                has_code = false;
                i += 1;
            }
            _ => {
                if !c.is_whitespace() {
                    has_code = true;
                }
                current.push(c);
                i += 1;
            }
        }
    }
    if has_code {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_plain_statements() {
        assert_eq!(
            split_statements("CREATE TABLE a (x TEXT);\n\nCREATE TABLE b (y TEXT)"),
            vec!["CREATE TABLE a (x TEXT)", "CREATE TABLE b (y TEXT)"]
        );
    }

    #[test]
    fn keeps_semicolons_in_literals_and_identifiers() {
        assert_eq!(
            split_statements("INSERT INTO t VALUES ('a;b', 'it''s;'); SELECT \"we;ird\" FROM t;"),
            vec![
                "INSERT INTO t VALUES ('a;b', 'it''s;')",
                "SELECT \"we;ird\" FROM t"
            ]
        );
    }

    #[test]
    fn drops_comments_and_empty_statements() {
        assert_eq!(
            split_statements("-- header; with semicolon\n;;/* block; */ SELECT 1; -- trailing\n"),
            vec!["SELECT 1"]
        );
    }

    #[test]
    fn keeps_dollar_quoted_bodies() {
        let s = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2";
        assert_eq!(
            split_statements(s),
            vec![
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
                "SELECT 2"
            ]
        );
    }
}
