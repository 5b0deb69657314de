//! The expression language of SAML attribute statements and NameID values (products.md §1.5).
//!
//! Admins write small expressions such as `user.email`, `"constant"`,
//! `ArrayJoin(ArrayMap(user.groups, __item.groupId), ",")` or `user.customFieldMap.dept.fieldValue`.
//! They are parsed once, when the application is saved, into a typed tree: unknown variables, wrong
//! argument counts and type errors (joining something that is not a list of strings) are refused at
//! that point, never at sign-in time. Evaluation is total: a missing value (a user without e-mail)
//! yields `None` and the caller decides what that means.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest expression text accepted.
pub const MAX_EXPRESSION_LEN: usize = 1024;
/// Deepest nesting of function calls accepted.
pub const MAX_DEPTH: usize = 8;

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The text is empty.
    #[error("the expression is empty")]
    Empty,
    /// The text is longer than [`MAX_EXPRESSION_LEN`].
    #[error("the expression is longer than {MAX_EXPRESSION_LEN} characters")]
    TooLong,
    /// Calls nest deeper than [`MAX_DEPTH`].
    #[error("the expression nests deeper than {MAX_DEPTH} calls")]
    TooDeep,
    /// A character that starts no token.
    #[error("unexpected character {found:?} at offset {offset}")]
    UnexpectedChar {
        /// Byte offset.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A string constant without its closing quote.
    #[error("string constant starting at offset {offset} is not closed")]
    UnterminatedString {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// An escape other than `\"` or `\\`.
    #[error("invalid escape at offset {offset}")]
    InvalidEscape {
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// A token where another was required.
    #[error("expected {expected} at offset {offset}")]
    Expected {
        /// What the grammar required.
        expected: &'static str,
        /// Byte offset (the text length at the end).
        offset: usize,
    },
    /// Tokens after a complete expression.
    #[error("unexpected input after the expression at offset {offset}")]
    TrailingInput {
        /// Byte offset.
        offset: usize,
    },
    /// A variable path that does not exist.
    #[error("unknown variable {path:?}")]
    UnknownVariable {
        /// The dotted path as written.
        path: String,
    },
    /// A function name that does not exist.
    #[error("unknown function {name:?}")]
    UnknownFunction {
        /// The name as written.
        name: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("{function} takes {expected} argument(s), found {found}")]
    WrongArity {
        /// Function name.
        function: &'static str,
        /// Required count.
        expected: usize,
        /// Given count.
        found: usize,
    },
    /// An argument of the wrong type.
    #[error("argument {position} of {function} must be {expected}")]
    TypeMismatch {
        /// Function name.
        function: &'static str,
        /// 1-based argument position.
        position: usize,
        /// What the argument must be.
        expected: &'static str,
    },
    /// `__item.x` where the list elements have no field `x`.
    #[error("{collection} items have no field {field:?}")]
    UnknownItemField {
        /// The collection mapped over.
        collection: &'static str,
        /// The field as written.
        field: String,
    },
}

/// A user attribute with a single string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    /// `user.username`
    Username,
    /// `user.displayName`
    DisplayName,
    /// `user.email`
    Email,
    /// `user.phoneNumber` (also the deprecated `user.phone`)
    PhoneNumber,
    /// `user.status` (`enabled` | `disabled`)
    Status,
    /// `user.primaryOrganizationalUnitId`
    PrimaryOrganizationalUnitId,
}

/// A list-valued user attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `user.groups`
    Groups,
    /// `user.organizationalUnits`
    OrganizationalUnits,
    /// `user.customFields`
    CustomFields,
}

impl Collection {
    fn name(self) -> &'static str {
        match self {
            Collection::Groups => "user.groups",
            Collection::OrganizationalUnits => "user.organizationalUnits",
            Collection::CustomFields => "user.customFields",
        }
    }

    fn item_field(self, field: &str) -> Option<ItemField> {
        Some(match (self, field) {
            (Collection::Groups, "groupId") => ItemField::GroupId,
            (Collection::Groups, "groupName") => ItemField::GroupName,
            (Collection::Groups, "groupExternalId") => ItemField::GroupExternalId,
            (Collection::OrganizationalUnits, "organizationalUnitId") => {
                ItemField::OrganizationalUnitId
            }
            (Collection::OrganizationalUnits, "organizationalUnitName") => {
                ItemField::OrganizationalUnitName
            }
            (Collection::OrganizationalUnits, "organizationalUnitExternalId") => {
                ItemField::OrganizationalUnitExternalId
            }
            (Collection::CustomFields, "fieldName") => ItemField::FieldName,
            (Collection::CustomFields, "fieldValue") => ItemField::FieldValue,
            _ => return None,
        })
    }
}

/// A field of one element of a [`Collection`] (`__item.groupId` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemField {
    /// Group id.
    GroupId,
    /// Group name.
    GroupName,
    /// Group external id.
    GroupExternalId,
    /// Organizational unit id.
    OrganizationalUnitId,
    /// Organizational unit name.
    OrganizationalUnitName,
    /// Organizational unit external id.
    OrganizationalUnitExternalId,
    /// Custom field name.
    FieldName,
    /// Custom field value.
    FieldValue,
}

/// A parsed expression producing one string (or nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A string constant.
    Constant(String),
    /// A single-valued user attribute.
    User(UserField),
    /// `user.customFieldMap.<name>.fieldValue`
    CustomField(String),
    /// `appUser.username`: the user's application account for this app.
    AppUsername,
    /// `ArrayJoin(ArrayMap(<collection>, __item.<field>), "<separator>")`
    Join {
        /// The list mapped over.
        collection: Collection,
        /// The field taken from each element.
        field: ItemField,
        /// Separator between values.
        separator: String,
    },
    /// `ObjectToJsonString(<collection>)`
    Json(Collection),
}

/// An organizational unit the user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrgUnitRef {
    /// Id (`ou_…`).
    pub id: String,
    /// Name.
    pub name: String,
    /// External id, if any.
    pub external_id: Option<String>,
}

/// A group the user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRef {
    /// Id (`group_…`).
    pub id: String,
    /// Name.
    pub name: String,
    /// External id, if any.
    pub external_id: Option<String>,
}

/// Everything an expression may read about a user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserAttributes {
    /// Account name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number without country code.
    pub phone_number: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Primary organizational unit id.
    pub primary_ou_id: Option<String>,
    /// Organizational units (memberships).
    pub org_units: Vec<OrgUnitRef>,
    /// Groups.
    pub groups: Vec<GroupRef>,
    /// Custom field values by field name.
    pub custom_fields: BTreeMap<String, String>,
}

/// The inputs of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// The signed-in user.
    pub user: &'a UserAttributes,
    /// The user's application account name for the application, if mapped.
    pub app_username: Option<&'a str>,
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

impl Expr {
    /// Evaluates the expression; `None` when the value is absent.
    pub fn eval(&self, ctx: &EvalContext<'_>) -> Option<String> {
        let user = ctx.user;
        match self {
            Expr::Constant(c) => Some(c.clone()),
            Expr::User(field) => match field {
                UserField::Username => non_empty(Some(&user.username)),
                UserField::DisplayName => non_empty(Some(&user.display_name)),
                UserField::Email => non_empty(user.email.as_deref()),
                UserField::PhoneNumber => non_empty(user.phone_number.as_deref()),
                UserField::Status => non_empty(Some(&user.status)),
                UserField::PrimaryOrganizationalUnitId => non_empty(user.primary_ou_id.as_deref()),
            },
            Expr::CustomField(name) => non_empty(user.custom_fields.get(name).map(String::as_str)),
            Expr::AppUsername => non_empty(ctx.app_username),
            Expr::Join {
                collection,
                field,
                separator,
            } => {
                let values: Vec<String> = items(user, *collection)
                    .into_iter()
                    .map(|item| item.get(*field).unwrap_or_default())
                    .collect();
                Some(values.join(separator))
            }
            Expr::Json(collection) => {
                let list: Vec<serde_json::Value> = items(user, *collection)
                    .into_iter()
                    .map(|item| item.to_json())
                    .collect();
                Some(serde_json::Value::Array(list).to_string())
            }
        }
    }
}

enum Item<'a> {
    Group(&'a GroupRef),
    OrgUnit(&'a OrgUnitRef),
    Field(&'a str, &'a str),
}

impl Item<'_> {
    fn get(&self, field: ItemField) -> Option<String> {
        match (self, field) {
            (Item::Group(g), ItemField::GroupId) => Some(g.id.clone()),
            (Item::Group(g), ItemField::GroupName) => Some(g.name.clone()),
            (Item::Group(g), ItemField::GroupExternalId) => g.external_id.clone(),
            (Item::OrgUnit(o), ItemField::OrganizationalUnitId) => Some(o.id.clone()),
            (Item::OrgUnit(o), ItemField::OrganizationalUnitName) => Some(o.name.clone()),
            (Item::OrgUnit(o), ItemField::OrganizationalUnitExternalId) => o.external_id.clone(),
            (Item::Field(n, _), ItemField::FieldName) => Some((*n).to_owned()),
            (Item::Field(_, v), ItemField::FieldValue) => Some((*v).to_owned()),
            _ => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Item::Group(g) => serde_json::json!({
                "groupId": g.id, "groupName": g.name, "groupExternalId": g.external_id,
            }),
            Item::OrgUnit(o) => serde_json::json!({
                "organizationalUnitId": o.id, "organizationalUnitName": o.name,
                "organizationalUnitExternalId": o.external_id,
            }),
            Item::Field(n, v) => serde_json::json!({ "fieldName": n, "fieldValue": v }),
        }
    }
}

fn items(user: &UserAttributes, collection: Collection) -> Vec<Item<'_>> {
    match collection {
        Collection::Groups => user.groups.iter().map(Item::Group).collect(),
        Collection::OrganizationalUnits => user.org_units.iter().map(Item::OrgUnit).collect(),
        Collection::CustomFields => user
            .custom_fields
            .iter()
            .map(|(n, v)| Item::Field(n.as_str(), v.as_str()))
            .collect(),
    }
}

/// An expression together with the text the admin wrote (kept for display and storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeExpr {
    source: String,
    expr: Expr,
}

impl AttributeExpr {
    /// Parses and type-checks `source`.
    pub fn parse(source: &str) -> Result<Self, ExprError> {
        let expr = parse(source)?;
        Ok(Self {
            source: source.trim().to_owned(),
            expr,
        })
    }

    /// The expression text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The typed tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Evaluates the expression.
    pub fn eval(&self, ctx: &EvalContext<'_>) -> Option<String> {
        self.expr.eval(ctx)
    }
}

impl fmt::Display for AttributeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for AttributeExpr {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for AttributeExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for AttributeExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Dot,
    Comma,
    LParen,
    RParen,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(offset, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '.' | ',' | '(' | ')' => {
                chars.next();
                out.push((
                    offset,
                    match c {
                        '.' => Tok::Dot,
                        ',' => Tok::Comma,
                        '(' => Tok::LParen,
                        _ => Tok::RParen,
                    },
                ));
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, '"')) => value.push('"'),
                            Some((_, '\\')) => value.push('\\'),
                            _ => return Err(ExprError::InvalidEscape { offset: i }),
                        },
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(ExprError::UnterminatedString { offset });
                }
                out.push((offset, Tok::Str(value)));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-' => {
                let mut ident = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-' {
                        ident.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push((offset, Tok::Ident(ident)));
            }
            found => return Err(ExprError::UnexpectedChar { offset, found }),
        }
    }
    Ok(out)
}

/// An argument before type checking.
#[derive(Debug)]
enum Raw {
    Str(String),
    Path(Vec<String>),
    Call(String, Vec<Raw>),
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(o, _)| *o)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn expect(&mut self, tok: Tok, expected: &'static str) -> Result<(), ExprError> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ExprError::Expected {
                expected,
                offset: self.offset(),
            })
        }
    }

    fn raw(&mut self, depth: usize) -> Result<Raw, ExprError> {
        if depth > MAX_DEPTH {
            return Err(ExprError::TooDeep);
        }
        let offset = self.offset();
        match self.toks.get(self.pos).cloned() {
            Some((_, Tok::Str(s))) => {
                self.pos += 1;
                Ok(Raw::Str(s))
            }
            Some((_, Tok::Ident(first))) => {
                self.pos += 1;
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.raw(depth + 1)?);
                            if self.peek() == Some(&Tok::Comma) {
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(Tok::RParen, "')' or ','")?;
                    return Ok(Raw::Call(first, args));
                }
                let mut path = vec![first];
                while self.peek() == Some(&Tok::Dot) {
                    self.pos += 1;
                    match self.toks.get(self.pos).cloned() {
                        Some((_, Tok::Ident(seg))) => {
                            self.pos += 1;
                            path.push(seg);
                        }
                        _ => {
                            return Err(ExprError::Expected {
                                expected: "a name after '.'",
                                offset: self.offset(),
                            });
                        }
                    }
                }
                Ok(Raw::Path(path))
            }
            _ => Err(ExprError::Expected {
                expected: "a variable, a function call or a \"constant\"",
                offset,
            }),
        }
    }
}

fn parse(text: &str) -> Result<Expr, ExprError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ExprError::Empty);
    }
    if trimmed.len() > MAX_EXPRESSION_LEN {
        return Err(ExprError::TooLong);
    }
    let mut parser = Parser {
        toks: lex(trimmed)?,
        pos: 0,
        end: trimmed.len(),
    };
    let raw = parser.raw(0)?;
    if parser.pos != parser.toks.len() {
        return Err(ExprError::TrailingInput {
            offset: parser.offset(),
        });
    }
    check_string(raw)
}

fn path_text(path: &[String]) -> String {
    path.join(".")
}

fn user_field(path: &[String]) -> Option<UserField> {
    let [root, name] = path else { return None };
    if root != "user" {
        return None;
    }
    Some(match name.as_str() {
        "username" => UserField::Username,
        "displayName" => UserField::DisplayName,
        "email" => UserField::Email,
        "phoneNumber" | "phone" => UserField::PhoneNumber,
        "status" => UserField::Status,
        "primaryOrganizationalUnitId" => UserField::PrimaryOrganizationalUnitId,
        _ => return None,
    })
}

fn collection(path: &[String]) -> Option<Collection> {
    let [root, name] = path else { return None };
    if root != "user" {
        return None;
    }
    Some(match name.as_str() {
        "groups" => Collection::Groups,
        "organizationalUnits" => Collection::OrganizationalUnits,
        "customFields" => Collection::CustomFields,
        _ => return None,
    })
}

/// Type-checks a top-level expression (which must produce a string).
fn check_string(raw: Raw) -> Result<Expr, ExprError> {
    match raw {
        Raw::Str(s) => Ok(Expr::Constant(s)),
        Raw::Path(path) => {
            if let Some(field) = user_field(&path) {
                return Ok(Expr::User(field));
            }
            match path
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["appUser", "username"] => Ok(Expr::AppUsername),
                ["user", "customFieldMap", name, "fieldValue"] if !name.is_empty() => {
                    Ok(Expr::CustomField((*name).to_owned()))
                }
                _ => Err(ExprError::UnknownVariable {
                    path: path_text(&path),
                }),
            }
        }
        Raw::Call(name, args) => match name.as_str() {
            "ArrayJoin" => {
                let [list, sep] = take_args::<2>("ArrayJoin", args)?;
                let (collection, field) = check_mapped_list(list)?;
                let Raw::Str(separator) = sep else {
                    return Err(ExprError::TypeMismatch {
                        function: "ArrayJoin",
                        position: 2,
                        expected: "a \"constant\" separator",
                    });
                };
                Ok(Expr::Join {
                    collection,
                    field,
                    separator,
                })
            }
            "ObjectToJsonString" => {
                let [arg] = take_args::<1>("ObjectToJsonString", args)?;
                match arg {
                    Raw::Path(path) => match collection(&path) {
                        Some(c) => Ok(Expr::Json(c)),
                        None => Err(ExprError::TypeMismatch {
                            function: "ObjectToJsonString",
                            position: 1,
                            expected: "user.groups, user.organizationalUnits or user.customFields",
                        }),
                    },
                    _ => Err(ExprError::TypeMismatch {
                        function: "ObjectToJsonString",
                        position: 1,
                        expected: "user.groups, user.organizationalUnits or user.customFields",
                    }),
                }
            }
            "ArrayMap" => Err(ExprError::TypeMismatch {
                function: "ArrayMap",
                position: 0,
                expected: "wrapped in ArrayJoin(…, \"separator\") to produce a string",
            }),
            _ => Err(ExprError::UnknownFunction { name }),
        },
    }
}

/// Type-checks `ArrayMap(<collection>, __item.<field>)`.
fn check_mapped_list(raw: Raw) -> Result<(Collection, ItemField), ExprError> {
    const EXPECTED: &str = "ArrayMap(<list>, __item.<field>)";
    let Raw::Call(name, args) = raw else {
        return Err(ExprError::TypeMismatch {
            function: "ArrayJoin",
            position: 1,
            expected: EXPECTED,
        });
    };
    if name != "ArrayMap" {
        return Err(
            if matches!(name.as_str(), "ArrayJoin" | "ObjectToJsonString") {
                ExprError::TypeMismatch {
                    function: "ArrayJoin",
                    position: 1,
                    expected: EXPECTED,
                }
            } else {
                ExprError::UnknownFunction { name }
            },
        );
    }
    let [list, item] = take_args::<2>("ArrayMap", args)?;
    let coll = match list {
        Raw::Path(path) => collection(&path).ok_or_else(|| {
            if user_field(&path).is_some() {
                ExprError::TypeMismatch {
                    function: "ArrayMap",
                    position: 1,
                    expected: "a list",
                }
            } else {
                ExprError::UnknownVariable {
                    path: path_text(&path),
                }
            }
        })?,
        _ => {
            return Err(ExprError::TypeMismatch {
                function: "ArrayMap",
                position: 1,
                expected: "a list",
            });
        }
    };
    let field = match item {
        Raw::Path(path) if path.len() == 2 && path[0] == "__item" => coll
            .item_field(&path[1])
            .ok_or_else(|| ExprError::UnknownItemField {
                collection: coll.name(),
                field: path[1].clone(),
            })?,
        _ => {
            return Err(ExprError::TypeMismatch {
                function: "ArrayMap",
                position: 2,
                expected: "__item.<field>",
            });
        }
    };
    Ok((coll, field))
}

fn take_args<const N: usize>(
    function: &'static str,
    args: Vec<Raw>,
) -> Result<[Raw; N], ExprError> {
    let found = args.len();
    args.try_into().map_err(|_| ExprError::WrongArity {
        function,
        expected: N,
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserAttributes {
        UserAttributes {
            username: "alice".into(),
            display_name: "Alice Liddell".into(),
            email: Some("alice@example.com".into()),
            phone_number: None,
            status: "enabled".into(),
            primary_ou_id: Some("ou_root".into()),
            org_units: vec![
                OrgUnitRef {
                    id: "ou_root".into(),
                    name: "Root".into(),
                    external_id: None,
                },
                OrgUnitRef {
                    id: "ou_eng".into(),
                    name: "Eng".into(),
                    external_id: Some("E1".into()),
                },
            ],
            groups: vec![
                GroupRef {
                    id: "group_a".into(),
                    name: "Admins".into(),
                    external_id: Some("ext-a".into()),
                },
                GroupRef {
                    id: "group_b".into(),
                    name: "Devs".into(),
                    external_id: None,
                },
            ],
            custom_fields: BTreeMap::from([("dept".to_owned(), "R&D".to_owned())]),
        }
    }

    fn eval(src: &str) -> Option<String> {
        let user = alice();
        AttributeExpr::parse(src).unwrap().eval(&EvalContext {
            user: &user,
            app_username: Some("a.liddell"),
        })
    }

    #[test]
    fn documented_variables() {
        assert_eq!(eval("user.username").as_deref(), Some("alice"));
        assert_eq!(eval("user.displayName").as_deref(), Some("Alice Liddell"));
        assert_eq!(eval("user.email").as_deref(), Some("alice@example.com"));
        assert_eq!(eval("user.phoneNumber"), None);
        assert_eq!(eval("user.phone"), None);
        assert_eq!(eval("user.status").as_deref(), Some("enabled"));
        assert_eq!(
            eval("user.primaryOrganizationalUnitId").as_deref(),
            Some("ou_root")
        );
        assert_eq!(eval("appUser.username").as_deref(), Some("a.liddell"));
        assert_eq!(
            eval("user.customFieldMap.dept.fieldValue").as_deref(),
            Some("R&D")
        );
        assert_eq!(eval("user.customFieldMap.nope.fieldValue"), None);
        assert_eq!(
            eval(r#""https://home.console.aliyun.com""#).as_deref(),
            Some("https://home.console.aliyun.com")
        );
        assert_eq!(
            eval(r#""say \"hi\" \\ bye""#).as_deref(),
            Some(r#"say "hi" \ bye"#)
        );
    }

    #[test]
    fn lists_and_json() {
        assert_eq!(
            eval(r#"ArrayJoin(ArrayMap(user.groups, __item.groupId), ",")"#).as_deref(),
            Some("group_a,group_b")
        );
        assert_eq!(
            eval(r#"ArrayJoin(ArrayMap(user.groups, __item.groupExternalId), ",")"#).as_deref(),
            Some("ext-a,")
        );
        assert_eq!(
            eval(r#"ArrayJoin( ArrayMap( user.organizationalUnits , __item.organizationalUnitId ) , ";" )"#).as_deref(),
            Some("ou_root;ou_eng")
        );
        let json: serde_json::Value =
            serde_json::from_str(&eval("ObjectToJsonString(user.groups)").unwrap()).unwrap();
        assert_eq!(json[0]["groupId"], "group_a");
        assert_eq!(json[1]["groupExternalId"], serde_json::Value::Null);
        let ous: serde_json::Value =
            serde_json::from_str(&eval("ObjectToJsonString(user.organizationalUnits)").unwrap())
                .unwrap();
        assert_eq!(ous[1]["organizationalUnitExternalId"], "E1");
        let cf: serde_json::Value =
            serde_json::from_str(&eval("ObjectToJsonString(user.customFields)").unwrap()).unwrap();
        assert_eq!(
            cf,
            serde_json::json!([{"fieldName": "dept", "fieldValue": "R&D"}])
        );
    }

    #[test]
    fn negative_cases() {
        let err = |s: &str| AttributeExpr::parse(s).unwrap_err();
        assert_eq!(err(""), ExprError::Empty);
        assert_eq!(err("   "), ExprError::Empty);
        assert_eq!(
            err(&format!("\"{}\"", "a".repeat(2000))),
            ExprError::TooLong
        );
        assert_eq!(
            err("user.password"),
            ExprError::UnknownVariable {
                path: "user.password".into()
            }
        );
        assert_eq!(
            err("user"),
            ExprError::UnknownVariable {
                path: "user".into()
            }
        );
        assert_eq!(
            err("appUser.email"),
            ExprError::UnknownVariable {
                path: "appUser.email".into()
            }
        );
        assert_eq!(
            err("user.customFieldMap.x"),
            ExprError::UnknownVariable {
                path: "user.customFieldMap.x".into()
            }
        );
        assert_eq!(err("\"open"), ExprError::UnterminatedString { offset: 0 });
        assert_eq!(
            err(r#""bad \n escape""#),
            ExprError::InvalidEscape { offset: 5 }
        );
        assert_eq!(
            err("user.username + \"x\""),
            ExprError::UnexpectedChar {
                offset: 14,
                found: '+'
            }
        );
        assert_eq!(
            err("user.username user.email"),
            ExprError::TrailingInput { offset: 14 }
        );
        assert_eq!(
            err("user."),
            ExprError::Expected {
                expected: "a name after '.'",
                offset: 5
            }
        );
        assert_eq!(
            err("Lower(user.username)"),
            ExprError::UnknownFunction {
                name: "Lower".into()
            }
        );
        assert_eq!(
            err("ArrayJoin(ArrayMap(user.groups, __item.groupId))"),
            ExprError::WrongArity {
                function: "ArrayJoin",
                expected: 2,
                found: 1
            }
        );
        assert!(matches!(
            err("ArrayJoin(user.groups, \",\")"),
            ExprError::TypeMismatch {
                function: "ArrayJoin",
                position: 1,
                ..
            }
        ));
        assert!(matches!(
            err("ArrayJoin(ArrayMap(user.groups, __item.groupId), user.email)"),
            ExprError::TypeMismatch {
                function: "ArrayJoin",
                position: 2,
                ..
            }
        ));
        assert!(matches!(
            err("ArrayJoin(ArrayMap(user.email, __item.groupId), \",\")"),
            ExprError::TypeMismatch {
                function: "ArrayMap",
                position: 1,
                ..
            }
        ));
        assert_eq!(
            err("ArrayJoin(ArrayMap(user.groups, __item.organizationalUnitId), \",\")"),
            ExprError::UnknownItemField {
                collection: "user.groups",
                field: "organizationalUnitId".into()
            }
        );
        assert!(matches!(
            err("ArrayJoin(ArrayMap(user.groups, item.groupId), \",\")"),
            ExprError::TypeMismatch {
                function: "ArrayMap",
                position: 2,
                ..
            }
        ));
        assert!(matches!(
            err("ArrayMap(user.groups, __item.groupId)"),
            ExprError::TypeMismatch {
                function: "ArrayMap",
                ..
            }
        ));
        assert!(matches!(
            err("ObjectToJsonString(user.email)"),
            ExprError::TypeMismatch {
                function: "ObjectToJsonString",
                ..
            }
        ));
        assert!(matches!(
            err("ObjectToJsonString(\"x\")"),
            ExprError::TypeMismatch {
                function: "ObjectToJsonString",
                ..
            }
        ));
        assert!(matches!(
            err("ArrayJoin(ArrayMap(user.groups, __item.groupId), \",\""),
            ExprError::Expected { .. }
        ));
        assert_eq!(
            err("user.email;"),
            ExprError::UnexpectedChar {
                offset: 10,
                found: ';'
            }
        );
        assert!(matches!(err("(user.email)"), ExprError::Expected { .. }));
        let deep = format!(
            "{}\"x\"{}",
            "ObjectToJsonString(".repeat(20),
            ")".repeat(20)
        );
        assert_eq!(err(&deep), ExprError::TooDeep);
    }

    #[test]
    fn serde_round_trip_validates() {
        let e: AttributeExpr = serde_json::from_str("\"user.email\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"user.email\"");
        assert!(serde_json::from_str::<AttributeExpr>("\"user.nope\"").is_err());
    }
}
