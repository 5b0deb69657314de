//! SCIM filters (`::scim::filter::Filter`) and `sortBy` to portable SQL: every value is a bind
//! parameter (`$N`), every column comes from a fixed table below; nothing from the request is pasted
//! into the SQL text. The same SQL runs on SQLite and PostgreSQL:
//! - case-insensitive attributes compare `lower(col)` with `lower($N)`, or a lower-cased key column
//!   (`user_name_key`, `email_key`, `name_key`) with the value lower-cased in Rust;
//! - `co`/`sw`/`ew` use `LIKE … ESCAPE '\'` on case-insensitive attributes and `substr`/`replace`
//!   on case-exact ones (SQLite's `LIKE` ignores ASCII case);
//! - ordering comparisons (`gt`…) and `ORDER BY` on text use byte order (`COLLATE "C"` on PostgreSQL);
//! - dateTime attributes compare instants (unix seconds columns).
//!
//! Filterable — Users: `id`, `externalId`, `userName`, `displayName`, `name.givenName`,
//! `name.familyName`, `name` (pr), `emails`/`emails.value`/`emails.type` (the mapped e-mail),
//! `emails[…]`, `active`, `groups`/`groups.value`/`groups.display`, `groups[…]`, `meta.created`,
//! `meta.lastModified`. Groups: `id`, `externalId`, `displayName`, `members`/`members.value`/
//! `members.display`, `members[…]`, `meta.created`, `meta.lastModified`. Anything else is
//! `400 invalidFilter`.

use ::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use ::scim::{SCHEMA_GROUP, SCHEMA_USER, ScimError, ScimType};
use db::Backend;

use crate::store::like_escape;
pub use crate::store::scim::{Bind, SqlWhere};

/// Which resource a filter applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/Users` (table `users`).
    User,
    /// `/Groups` (table `groups`).
    Group,
}

impl Resource {
    fn core_urn(self) -> &'static str {
        match self {
            Resource::User => SCHEMA_USER,
            Resource::Group => SCHEMA_GROUP,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Resource::User => "users",
            Resource::Group => "groups",
        }
    }
}

/// How a column compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text; `ci` = case-insensitive; `key` = the column already holds the Rust-lower-cased value.
    Text { ci: bool, key: bool },
    /// Boolean; the expression is the SQL condition for `true`.
    Bool,
    /// Unix seconds compared with an RFC 3339 instant.
    Instant,
    /// A complex attribute: only `pr`.
    Complex,
}

/// One column (or condition) an attribute maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    /// SQL expression (for `Bool`: the condition that means `true`).
    expr: &'static str,
    /// SQL condition: the attribute has a value.
    present: &'static str,
    kind: Kind,
}

/// A multi-valued attribute stored in another table, matched with `EXISTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// A user's `groups`.
    UserGroups,
    /// A group's `members`.
    GroupMembers,
}

impl Rel {
    fn exists_prefix(self) -> &'static str {
        match self {
            Rel::UserGroups => {
                "EXISTS (SELECT 1 FROM group_members gm JOIN groups gg ON gg.id = gm.group_id \
                 WHERE gm.user_id = users.id"
            }
            Rel::GroupMembers => {
                "EXISTS (SELECT 1 FROM group_members gm JOIN users mu ON mu.id = gm.user_id \
                 WHERE gm.group_id = groups.id"
            }
        }
    }

    fn field(self, sub: &str) -> Option<Field> {
        let text = |expr, ci, key| Field {
            expr,
            present: "1=1",
            kind: Kind::Text { ci, key },
        };
        match (self, sub) {
            (Rel::UserGroups, "value") => Some(text("gm.group_id", false, false)),
            (Rel::GroupMembers, "value") => Some(text("gm.user_id", false, false)),
            (Rel::UserGroups, "display") => Some(text("gg.name_key", true, true)),
            (Rel::GroupMembers, "display") => Some(text(
                "lower(CASE WHEN mu.display_name <> '' THEN mu.display_name ELSE mu.user_name END)",
                true,
                true,
            )),
            _ => None,
        }
    }
}

/// What an attribute path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Field(Field),
    /// A sub-attribute (`None` = the default `value`) of a related multi-valued attribute.
    Related(Rel, Option<String>),
}

fn text(expr: &'static str, present: &'static str, ci: bool, key: bool) -> Target {
    Target::Field(Field {
        expr,
        present,
        kind: Kind::Text { ci, key },
    })
}

fn unsupported(path: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidFilter,
        format!("attribute {path:?} is not supported in filters"),
    )
}

/// The lower-cased (name, sub) of a path after checking its schema URN.
fn normalize(res: Resource, path: &AttrPath) -> Result<(String, Option<String>), ScimError> {
    if let Some(uri) = &path.uri
        && !uri.eq_ignore_ascii_case(res.core_urn())
    {
        return Err(unsupported(&path.to_string()));
    }
    Ok((
        path.name.to_ascii_lowercase(),
        path.sub.as_ref().map(|s| s.to_ascii_lowercase()),
    ))
}

/// Resolves a top-level attribute path.
fn resolve(res: Resource, path: &AttrPath) -> Result<Target, ScimError> {
    let (name, sub) = normalize(res, path)?;
    let t = match (res, name.as_str(), sub.as_deref()) {
        (Resource::User, "id", None) => text("users.id", "1=1", false, false),
        (Resource::User, "externalid", None) => text(
            "users.external_id",
            "users.external_id IS NOT NULL",
            false,
            false,
        ),
        (Resource::User, "username", None) => text("users.user_name_key", "1=1", true, true),
        (Resource::User, "displayname", None) => text(
            "lower(users.display_name)",
            "users.display_name <> ''",
            true,
            false,
        ),
        (Resource::User, "name", Some("givenname")) => text(
            "lower(users.first_name)",
            "users.first_name <> ''",
            true,
            false,
        ),
        (Resource::User, "name", Some("familyname")) => text(
            "lower(users.last_name)",
            "users.last_name <> ''",
            true,
            false,
        ),
        (Resource::User, "name", None) => Target::Field(Field {
            expr: "",
            present: "(users.first_name <> '' OR users.last_name <> '')",
            kind: Kind::Complex,
        }),
        (Resource::User, "emails", None | Some("value")) => {
            text("users.email_key", "users.email_key IS NOT NULL", true, true)
        }
        (Resource::User, "emails", Some("type")) => text(
            "lower(users.email_type)",
            "users.email_type IS NOT NULL",
            true,
            false,
        ),
        (Resource::User, "active", None) => Target::Field(Field {
            expr: "users.status = 'Enabled'",
            present: "1=1",
            kind: Kind::Bool,
        }),
        (Resource::User, "groups", sub) => Target::Related(Rel::UserGroups, sub.map(str::to_owned)),
        (Resource::User, "meta", Some("created")) => Target::Field(Field {
            expr: "users.created_at",
            present: "1=1",
            kind: Kind::Instant,
        }),
        (Resource::User, "meta", Some("lastmodified")) => Target::Field(Field {
            expr: "users.updated_at",
            present: "1=1",
            kind: Kind::Instant,
        }),
        (Resource::Group, "id", None) => text("groups.id", "1=1", false, false),
        (Resource::Group, "externalid", None) => text(
            "groups.external_id",
            "groups.external_id IS NOT NULL",
            false,
            false,
        ),
        (Resource::Group, "displayname", None) => text("groups.name_key", "1=1", true, true),
        (Resource::Group, "members", sub) => {
            Target::Related(Rel::GroupMembers, sub.map(str::to_owned))
        }
        (Resource::Group, "meta", Some("created")) => Target::Field(Field {
            expr: "groups.created_at",
            present: "1=1",
            kind: Kind::Instant,
        }),
        (Resource::Group, "meta", Some("lastmodified")) => Target::Field(Field {
            expr: "groups.updated_at",
            present: "1=1",
            kind: Kind::Instant,
        }),
        (_, "meta", None) => Target::Field(Field {
            expr: "",
            present: "1=1",
            kind: Kind::Complex,
        }),
        _ => return Err(unsupported(&path.to_string())),
    };
    Ok(t)
}

/// Where a filter is being translated: at the top, or inside `attr[…]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Related(Rel),
    /// Inside `emails[…]` (the columns of the same row).
    Emails,
}

struct Builder {
    backend: Backend,
    res: Resource,
    binds: Vec<Bind>,
    first: usize,
    /// Cross-resource search: a top-level attribute `res` does not have is unassigned (instead of
    /// `400 invalidFilter`), and its path is recorded in `absent`.
    lenient: bool,
    absent: Vec<String>,
}

impl Builder {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first + self.binds.len() - 1)
    }

    fn collate(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " COLLATE \"C\"",
            Backend::Sqlite => "",
        }
    }

    fn filter(&mut self, f: &Filter, ctx: Ctx) -> Result<String, ScimError> {
        match f {
            Filter::And(a, b) => Ok(format!(
                "({} AND {})",
                self.filter(a, ctx)?,
                self.filter(b, ctx)?
            )),
            Filter::Or(a, b) => Ok(format!(
                "({} OR {})",
                self.filter(a, ctx)?,
                self.filter(b, ctx)?
            )),
            Filter::Not(a) => Ok(format!("(NOT {})", self.filter(a, ctx)?)),
            Filter::Present(path) => match self.target(path, ctx)? {
                None => Ok("(1=0)".to_owned()),
                Some(Target::Field(field)) => Ok(format!("({})", field.present)),
                Some(Target::Related(rel, sub)) => {
                    let field = rel_field(rel, sub.as_deref(), path)?;
                    Ok(format!("{} AND {})", rel.exists_prefix(), field.present))
                }
            },
            Filter::Compare { path, op, value } => match self.target(path, ctx)? {
                // Unassigned: like any attribute without a value, only `ne` (other than
                // `ne null`) and `eq null` match.
                None => Ok(match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => "(1=1)",
                    (CompareOp::Ne, CompValue::Null) => "(1=0)",
                    (CompareOp::Ne, _) => "(1=1)",
                    _ => "(1=0)",
                }
                .to_owned()),
                Some(Target::Field(field)) => self.compare(&field, *op, value, path),
                Some(Target::Related(rel, sub)) => {
                    let field = rel_field(rel, sub.as_deref(), path)?;
                    if *op == CompareOp::Ne {
                        let eq = self.compare(&field, CompareOp::Eq, value, path)?;
                        Ok(format!("(NOT {} AND {}))", rel.exists_prefix(), eq))
                    } else {
                        let c = self.compare(&field, *op, value, path)?;
                        Ok(format!("{} AND {})", rel.exists_prefix(), c))
                    }
                }
            },
            Filter::ValuePath { attr, filter } => {
                if ctx != Ctx::Top {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidFilter,
                        "value filters cannot be nested",
                    ));
                }
                if attr.sub.is_some() {
                    return Err(unsupported(&attr.to_string()));
                }
                let Some(resolved) = self.resolve_top(attr)? else {
                    return Ok("(1=0)".to_owned());
                };
                match resolved {
                    Target::Related(rel, None) => {
                        let inner = self.filter(filter, Ctx::Related(rel))?;
                        Ok(format!("{} AND {})", rel.exists_prefix(), inner))
                    }
                    Target::Field(Field {
                        kind: Kind::Text { .. },
                        ..
                    }) if self.res == Resource::User
                        && attr.name.eq_ignore_ascii_case("emails") =>
                    {
                        let inner = self.filter(filter, Ctx::Emails)?;
                        Ok(format!("(users.email_key IS NOT NULL AND {inner})"))
                    }
                    _ => Err(unsupported(&attr.to_string())),
                }
            }
        }
    }

    /// Resolves a top-level path; `None` = the resource type does not have it (lenient mode only).
    fn resolve_top(&mut self, path: &AttrPath) -> Result<Option<Target>, ScimError> {
        match resolve(self.res, path) {
            Ok(t) => Ok(Some(t)),
            Err(_) if self.lenient => {
                self.absent.push(path.to_string());
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Resolves a path in its context (`None`: see [`Builder::resolve_top`]).
    fn target(&mut self, path: &AttrPath, ctx: Ctx) -> Result<Option<Target>, ScimError> {
        match ctx {
            Ctx::Top => self.resolve_top(path),
            Ctx::Related(rel) => {
                if path.uri.is_some() || path.sub.is_some() {
                    return Err(unsupported(&path.to_string()));
                }
                rel.field(&path.name.to_ascii_lowercase())
                    .map(|f| Some(Target::Field(f)))
                    .ok_or_else(|| unsupported(&path.to_string()))
            }
            Ctx::Emails => {
                if path.uri.is_some() || path.sub.is_some() {
                    return Err(unsupported(&path.to_string()));
                }
                email_field(&path.name.to_ascii_lowercase())
                    .map(|f| Some(Target::Field(f)))
                    .ok_or_else(|| unsupported(&path.to_string()))
            }
        }
    }

    fn compare(
        &mut self,
        field: &Field,
        op: CompareOp,
        value: &CompValue,
        path: &AttrPath,
    ) -> Result<String, ScimError> {
        let present = field.present;
        if let CompValue::Null = value {
            // `eq null` = not present, `ne null` = present (RFC 7644 §3.4.2.2 treats null as absent).
            return match op {
                CompareOp::Eq => Ok(format!("(NOT ({present}))")),
                CompareOp::Ne => Ok(format!("({present})")),
                _ => Err(bad_value(path, "null compares only with eq or ne")),
            };
        }
        match field.kind {
            Kind::Complex => Err(ScimError::bad_request(
                ScimType::InvalidFilter,
                format!("{path} is complex: compare one of its sub-attributes"),
            )),
            Kind::Bool => {
                let CompValue::Bool(b) = value else {
                    return Err(bad_value(path, "expects true or false"));
                };
                let truth = match op {
                    CompareOp::Eq => *b,
                    CompareOp::Ne => !*b,
                    _ => return Err(bad_value(path, "booleans compare only with eq or ne")),
                };
                Ok(if truth {
                    format!("({})", field.expr)
                } else {
                    format!("(NOT ({}))", field.expr)
                })
            }
            Kind::Instant => {
                let CompValue::String(s) = value else {
                    return Err(bad_value(path, "expects an RFC 3339 date-time string"));
                };
                let t =
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| bad_value(path, "expects an RFC 3339 date-time string"))?;
                let secs = t.unix_timestamp();
                let whole = t.nanosecond() == 0;
                let col = field.expr;
                // The column holds whole seconds: compare exactly with a fractional instant.
                let (sql_op, bound) = match op {
                    CompareOp::Eq if !whole => return Ok("(1=0)".to_owned()),
                    CompareOp::Ne if !whole => return Ok("(1=1)".to_owned()),
                    CompareOp::Eq => ("=", secs),
                    CompareOp::Ne => ("<>", secs),
                    CompareOp::Gt => (">", secs),
                    CompareOp::Ge if whole => (">=", secs),
                    CompareOp::Ge => (">", secs),
                    CompareOp::Lt if whole => ("<", secs),
                    CompareOp::Lt => ("<=", secs),
                    CompareOp::Le => ("<=", secs),
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                        return Err(bad_value(path, "date-times do not support co, sw or ew"));
                    }
                };
                let p = self.param(Bind::Int(bound));
                Ok(format!("({col} {sql_op} {p})"))
            }
            Kind::Text { ci, key } => {
                let CompValue::String(s) = value else {
                    return Err(bad_value(path, "expects a string"));
                };
                let v = if key { s.to_lowercase() } else { s.clone() };
                let col = field.expr;
                let wrap = |p: String| {
                    if ci && !key { format!("lower({p})") } else { p }
                };
                let cond = match op {
                    CompareOp::Eq | CompareOp::Ne => {
                        let p = wrap(self.param(Bind::Text(v)));
                        format!("{col} = {p}")
                    }
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew if v.is_empty() => {
                        "1=1".to_owned()
                    }
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew if ci => {
                        let esc = like_escape(&v);
                        let pattern = match op {
                            CompareOp::Co => format!("%{esc}%"),
                            CompareOp::Sw => format!("{esc}%"),
                            _ => format!("%{esc}"),
                        };
                        let p = wrap(self.param(Bind::Text(pattern)));
                        format!("{col} LIKE {p} ESCAPE '\\'")
                    }
                    CompareOp::Co => {
                        let p = self.param(Bind::Text(v));
                        format!("length(replace({col}, {p}, '')) < length({col})")
                    }
                    CompareOp::Sw => {
                        let p = self.param(Bind::Text(v));
                        format!("substr({col}, 1, length({p})) = {p}")
                    }
                    CompareOp::Ew => {
                        let p = self.param(Bind::Text(v));
                        format!(
                            "length({col}) >= length({p}) AND \
                             substr({col}, length({col}) - length({p}) + 1) = {p}"
                        )
                    }
                    CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                        let sql_op = match op {
                            CompareOp::Gt => ">",
                            CompareOp::Ge => ">=",
                            CompareOp::Lt => "<",
                            _ => "<=",
                        };
                        let p = wrap(self.param(Bind::Text(v)));
                        format!("{col}{} {sql_op} {p}", self.collate())
                    }
                };
                if op == CompareOp::Ne {
                    Ok(format!("(NOT ({present} AND {cond}))"))
                } else {
                    Ok(format!("({present} AND {cond})"))
                }
            }
        }
    }
}

fn email_field(sub: &str) -> Option<Field> {
    match sub {
        "value" => Some(Field {
            expr: "users.email_key",
            present: "users.email_key IS NOT NULL",
            kind: Kind::Text {
                ci: true,
                key: true,
            },
        }),
        "type" => Some(Field {
            expr: "lower(users.email_type)",
            present: "users.email_type IS NOT NULL",
            kind: Kind::Text {
                ci: true,
                key: false,
            },
        }),
        _ => None,
    }
}

fn rel_field(rel: Rel, sub: Option<&str>, path: &AttrPath) -> Result<Field, ScimError> {
    rel.field(sub.unwrap_or("value"))
        .ok_or_else(|| unsupported(&path.to_string()))
}

fn bad_value(path: &AttrPath, why: &str) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, format!("{path}: {why}"))
}

/// Translates a filter on `res` to a `WHERE` fragment whose placeholders start at `$first_param`.
pub fn translate(
    filter: Option<&Filter>,
    res: Resource,
    backend: Backend,
    first_param: usize,
) -> Result<SqlWhere, ScimError> {
    let Some(filter) = filter else {
        return Ok(SqlWhere {
            sql: "1=1".to_owned(),
            binds: Vec::new(),
        });
    };
    let mut b = Builder {
        backend,
        res,
        binds: Vec::new(),
        first: first_param,
        lenient: false,
        absent: Vec::new(),
    };
    let sql = b.filter(filter, Ctx::Top)?;
    Ok(SqlWhere {
        sql,
        binds: b.binds,
    })
}

/// [`translate`] for a search across resource types (RFC 7644 §3.4.2.2: "for filtered attributes
/// that are not part of a particular resource type, the service provider SHALL treat the attribute
/// as if there is no attribute value"): a top-level attribute `res` does not have is unassigned
/// rather than an error. Also returns those attributes' paths (the caller refuses a filter naming
/// an attribute that no resource type has). Everything else (a wrong value type, an unknown
/// sub-attribute of an attribute `res` has, nesting) is still `400 invalidFilter`.
pub fn translate_lenient(
    filter: Option<&Filter>,
    res: Resource,
    backend: Backend,
    first_param: usize,
) -> Result<(SqlWhere, Vec<String>), ScimError> {
    let Some(filter) = filter else {
        return Ok((translate(None, res, backend, first_param)?, Vec::new()));
    };
    let mut b = Builder {
        backend,
        res,
        binds: Vec::new(),
        first: first_param,
        lenient: true,
        absent: Vec::new(),
    };
    let sql = b.filter(filter, Ctx::Top)?;
    Ok((
        SqlWhere {
            sql,
            binds: b.binds,
        },
        b.absent,
    ))
}

/// What `sortBy` sorts on for one resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// SQL condition: the resource has a value.
    pub present: &'static str,
    /// SQL expression of the value.
    pub expr: &'static str,
    /// Text (byte order: `COLLATE "C"` on PostgreSQL) rather than a number.
    pub text: bool,
}

/// The sort key of `path` on `res`, `None` if `res` cannot be sorted on it (no such attribute, or
/// a complex or multi-valued one).
pub fn sort_key(path: &AttrPath, res: Resource) -> Option<SortKey> {
    match resolve(res, path).ok()? {
        Target::Field(f) if f.kind != Kind::Complex => Some(SortKey {
            present: f.present,
            expr: f.expr,
            text: matches!(f.kind, Kind::Text { .. }),
        }),
        _ => None,
    }
}

/// The `ORDER BY` clause for `sortBy`/`sortOrder` (absent values last, then by id). An attribute
/// that cannot be sorted on is `400 invalidValue`.
pub fn order_by(
    sort_by: Option<&AttrPath>,
    descending: bool,
    res: Resource,
    backend: Backend,
) -> Result<String, ScimError> {
    let table = res.table();
    let Some(path) = sort_by else {
        return Ok(format!("{table}.created_at, {table}.id"));
    };
    let not_sortable = || {
        ScimError::bad_request(
            ScimType::InvalidValue,
            format!("sortBy {path} is not supported"),
        )
    };
    let target = resolve(res, path).map_err(|_| not_sortable())?;
    let field = match target {
        Target::Field(f) if f.kind != Kind::Complex => f,
        _ => return Err(not_sortable()),
    };
    let dir = if descending { "DESC" } else { "ASC" };
    let collate = match (field.kind, backend) {
        (Kind::Text { .. }, Backend::Postgres) => " COLLATE \"C\"",
        _ => "",
    };
    Ok(format!(
        "CASE WHEN {} THEN 0 ELSE 1 END, {}{collate} {dir}, {table}.id {dir}",
        field.present, field.expr
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::scim::filter::parse_filter;

    fn sql(f: &str, res: Resource) -> Result<SqlWhere, ScimError> {
        let f = parse_filter(f).unwrap();
        translate(Some(&f), res, Backend::Postgres, 2)
    }

    #[test]
    fn values_are_bound_never_pasted() {
        let w = sql(r#"userName eq "x' OR 1=1 --""#, Resource::User).unwrap();
        assert!(!w.sql.contains("OR 1=1"), "{}", w.sql);
        assert_eq!(w.binds, vec![Bind::Text("x' or 1=1 --".into())]);
        assert!(w.sql.contains("$2"));
    }

    #[test]
    fn like_patterns_are_escaped() {
        let w = sql(r#"displayName co "50%_\\""#, Resource::User).unwrap();
        assert_eq!(w.binds, vec![Bind::Text("%50\\%\\_\\\\%".into())]);
        assert!(w.sql.contains("ESCAPE"));
    }

    #[test]
    fn placeholders_number_from_the_offset() {
        let w = sql(
            r#"(userName sw "a" or emails[type eq "work" and value ew "@x.org"]) and not (active eq false)"#,
            Resource::User,
        )
        .unwrap();
        assert_eq!(w.binds.len(), 3);
        for n in 2..5 {
            assert!(w.sql.contains(&format!("${n}")), "{}", w.sql);
        }
        assert!(!w.sql.contains("$5"));
    }

    #[test]
    fn unsupported_attributes_and_types_are_invalid_filter() {
        for f in [
            r#"title eq "x""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
            r#"userName eq 5"#,
            r#"active gt true"#,
            r#"meta.created co "2026""#,
            r#"meta.lastModified gt "yesterday""#,
            r#"name eq "x""#,
        ] {
            let e = sql(f, Resource::User).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{f}");
        }
        let e = sql(r#"userName eq "x""#, Resource::Group).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn fractional_instants_compare_exactly() {
        let w = sql(
            r#"meta.created ge "2026-01-01T00:00:00.5Z""#,
            Resource::User,
        )
        .unwrap();
        assert!(w.sql.contains(" > $2"), "{}", w.sql);
        assert_eq!(w.binds, vec![Bind::Int(1_767_225_600)]);
    }

    #[test]
    fn sort_clauses() {
        let p = AttrPath::parse("userName").unwrap();
        let o = order_by(Some(&p), true, Resource::User, Backend::Sqlite).unwrap();
        assert!(o.contains("users.user_name_key ASC") || o.contains("users.user_name_key DESC"));
        let p = AttrPath::parse("members").unwrap();
        assert!(order_by(Some(&p), false, Resource::Group, Backend::Sqlite).is_err());
    }
}
