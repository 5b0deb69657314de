//! SCIM User / Group JSON ↔ Cloud SSO rows.
//!
//! User: `userName` ↔ user name (`[A-Za-z0-9@_.-]`, ≤ 64), `name.givenName`/`familyName` ↔ first /
//! last name (≤ 64), `displayName` (≤ 256), the primary (else first) `emails` entry ↔ e-mail (unique,
//! ≤ 128) and its `type` ↔ `email_type`, `active` ↔ status, `externalId`; every other declared
//! attribute (other `name` parts, the whole `emails` array, `phoneNumbers`, `title`, the enterprise
//! extension …) is kept in `scim_extra` so that it round-trips. `groups` is computed from memberships.
//! Group: `displayName` ↔ name (Cloud SSO group-name rules, ≤ 128), `externalId`, `members` ↔
//! memberships (users only).

use ::scim::resource::{format_instant, weak_etag};
use ::scim::{SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_USER, ScimError, ScimType};
use serde_json::{Map, Value, json};

use crate::group::GroupName;
use crate::store::scim::{MemberRef, ScimGroupRow, ScimUserRow};
use crate::user::{UserName, UserStatus, check_email, check_len};

/// Path of the SCIM service below the public base URL.
pub const BASE_PATH: &str = "/scim/v2";

/// Key in `scim_extra` marking `active` as unassigned (never sent by the client, or removed by a
/// PATCH): while the user is enabled, `active` is then not returned. A disabled user always shows
/// `active: false`.
pub const ACTIVE_UNASSIGNED: &str = "$activeUnassigned";

/// Top-level User attributes held in columns (never copied to `scim_extra`).
const USER_COLUMN_ATTRS: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "userName",
    "displayName",
    "active",
    "groups",
    "meta",
];

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn str_at<'v>(obj: &'v Map<String, Value>, key: &str) -> Result<Option<&'v str>, ScimError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{key} must be a string"))),
    }
}

fn len_ok(field: &'static str, value: &str, max: usize) -> Result<(), ScimError> {
    check_len(field, value, max).map_err(|e| invalid(format!("{field}: {}", e.message)))
}

fn instant(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(format_instant)
        .unwrap_or_else(|_| unix.to_string())
}

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    weak_etag(&version.to_string())
}

/// The fields of a validated SCIM User body.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFields {
    /// `userName` as given (valid).
    pub user_name: String,
    /// `displayName` (`""` = none).
    pub display_name: String,
    /// The mapped e-mail (normalized).
    pub email: Option<String>,
    /// Its `type`.
    pub email_type: Option<String>,
    /// `name.givenName`.
    pub first_name: String,
    /// `name.familyName`.
    pub last_name: String,
    /// `active`, if given.
    pub active: Option<bool>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Everything else (a JSON object).
    pub extra: Value,
}

/// Reads a User body already normalized by `::scim::schema::validate_resource`.
pub fn user_fields(v: &Value) -> Result<UserFields, ScimError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "expected a JSON object"))?;
    let user_name = str_at(obj, "userName")?.ok_or_else(|| invalid("userName is required"))?;
    let user_name = UserName::try_from(user_name.to_owned())
        .map_err(|e| invalid(format!("userName {}", e.message)))?;
    let display_name = str_at(obj, "displayName")?.unwrap_or_default().to_owned();
    len_ok("displayName", &display_name, 256)?;
    let external_id = str_at(obj, "externalId")?.map(str::to_owned);
    if let Some(x) = &external_id {
        len_ok("externalId", x, 1024)?;
    }
    let active = match obj.get("active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("active must be a boolean")),
    };

    let mut extra = Map::new();
    for (k, val) in obj {
        if USER_COLUMN_ATTRS.contains(&k.as_str()) || val.is_null() {
            continue;
        }
        extra.insert(k.clone(), val.clone());
    }

    // name: givenName / familyName in columns, the other parts in extra.
    let (mut first_name, mut last_name) = (String::new(), String::new());
    if let Some(Value::Object(name)) = extra.get_mut("name") {
        if let Some(Value::String(g)) = name.remove("givenName") {
            first_name = g;
        }
        if let Some(Value::String(f)) = name.remove("familyName") {
            last_name = f;
        }
        if name.is_empty() {
            extra.remove("name");
        }
    }
    len_ok("name.givenName", &first_name, 64)?;
    len_ok("name.familyName", &last_name, 64)?;

    // emails: the primary (else first) entry with a value is the mapped e-mail.
    let (mut email, mut email_type) = (None, None);
    if let Some(Value::Array(emails)) = extra.get("emails") {
        if emails
            .iter()
            .filter(|e| e["primary"] == json!(true))
            .count()
            > 1
        {
            return Err(invalid("at most one of emails may be primary"));
        }
        let chosen = emails
            .iter()
            .find(|e| e["primary"] == json!(true) && e["value"].is_string())
            .or_else(|| emails.iter().find(|e| e["value"].is_string()));
        if let Some(e) = chosen {
            email = check_email(e["value"].as_str())
                .map_err(|err| invalid(format!("emails: {}", err.message)))?;
            email_type = e["type"].as_str().map(str::to_owned);
        }
        if emails.is_empty() {
            extra.remove("emails");
        }
    }
    Ok(UserFields {
        user_name: user_name.as_str().to_owned(),
        display_name,
        email,
        email_type,
        first_name,
        last_name,
        active,
        external_id,
        extra: Value::Object(extra),
    })
}

/// Applies `fields` to a row (the caller checked the user name). An absent `active` keeps the
/// status and marks `active` unassigned ([`ACTIVE_UNASSIGNED`]).
pub fn apply_user_fields(row: &mut ScimUserRow, f: UserFields) {
    row.user_name = f.user_name;
    row.display_name = f.display_name;
    row.email = f.email;
    row.email_type = f.email_type;
    row.first_name = f.first_name;
    row.last_name = f.last_name;
    if let Some(a) = f.active {
        row.status = if a {
            UserStatus::Enabled
        } else {
            UserStatus::Disabled
        };
    }
    row.external_id = f.external_id;
    row.extra = f.extra;
    if f.active.is_none()
        && let Some(obj) = row.extra.as_object_mut()
    {
        obj.insert(ACTIVE_UNASSIGNED.into(), json!(true));
    }
}

/// The SCIM User of a row; `groups` = its memberships.
pub fn user_json(u: &ScimUserRow, groups: &[MemberRef], scim_base: &str) -> Value {
    let mut obj = Map::new();
    let extra = u.extra.as_object().cloned().unwrap_or_default();
    let mut schemas = vec![json!(SCHEMA_USER)];
    if extra.contains_key(SCHEMA_ENTERPRISE_USER) {
        schemas.push(json!(SCHEMA_ENTERPRISE_USER));
    }
    obj.insert("schemas".into(), Value::Array(schemas));
    obj.insert("id".into(), json!(u.id));
    if let Some(x) = &u.external_id {
        obj.insert("externalId".into(), json!(x));
    }
    obj.insert("userName".into(), json!(u.user_name));
    let active_unassigned = extra.get(ACTIVE_UNASSIGNED) == Some(&json!(true));
    for (k, v) in extra {
        if k != ACTIVE_UNASSIGNED {
            obj.insert(k, v);
        }
    }
    // name
    let mut name = match obj.remove("name") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if !u.first_name.is_empty() {
        name.insert("givenName".into(), json!(u.first_name));
    }
    if !u.last_name.is_empty() {
        name.insert("familyName".into(), json!(u.last_name));
    }
    if !name.is_empty() {
        obj.insert("name".into(), Value::Object(name));
    }
    if !u.display_name.is_empty() {
        obj.insert("displayName".into(), json!(u.display_name));
    }
    // emails: the column is the source of truth for the mapped entry.
    let mut emails = match obj.remove("emails") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mapped = emails
        .iter()
        .position(|e| e["primary"] == json!(true) && e["value"].is_string())
        .or_else(|| emails.iter().position(|e| e["value"].is_string()));
    match (mapped, &u.email) {
        (Some(i), Some(e)) => {
            if let Some(entry) = emails.get_mut(i).and_then(Value::as_object_mut) {
                entry.insert("value".into(), json!(e));
            }
        }
        (Some(i), None) => {
            emails.remove(i);
        }
        (None, Some(e)) => {
            let mut entry = Map::new();
            entry.insert("value".into(), json!(e));
            if let Some(t) = &u.email_type {
                entry.insert("type".into(), json!(t));
            }
            entry.insert("primary".into(), json!(true));
            emails.insert(0, Value::Object(entry));
        }
        (None, None) => {}
    }
    if !emails.is_empty() {
        obj.insert("emails".into(), Value::Array(emails));
    }
    if !(active_unassigned && u.status == UserStatus::Enabled) {
        obj.insert("active".into(), json!(u.status == UserStatus::Enabled));
    }
    if !groups.is_empty() {
        let gs: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id,
                    "$ref": format!("{scim_base}/Groups/{}", g.id),
                    "display": g.display,
                    "type": "direct",
                })
            })
            .collect();
        obj.insert("groups".into(), Value::Array(gs));
    }
    obj.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": instant(u.created_at),
            "lastModified": instant(u.updated_at),
            "location": format!("{scim_base}/Users/{}", u.id),
            "version": etag(u.version),
        }),
    );
    Value::Object(obj)
}

/// The fields of a validated SCIM Group body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFields {
    /// `displayName` (a valid group name).
    pub name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Member user ids (deduplicated, in order).
    pub members: Vec<String>,
}

/// Reads a Group body already normalized by `::scim::schema::validate_resource`.
pub fn group_fields(v: &Value) -> Result<GroupFields, ScimError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "expected a JSON object"))?;
    let name = str_at(obj, "displayName")?.ok_or_else(|| invalid("displayName is required"))?;
    let name = GroupName::try_from(name.to_owned())
        .map_err(|e| invalid(format!("displayName {}", e.message)))?;
    let external_id = str_at(obj, "externalId")?.map(str::to_owned);
    if let Some(x) = &external_id {
        len_ok("externalId", x, 1024)?;
    }
    let mut members: Vec<String> = Vec::new();
    match obj.get("members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for m in items {
                let value = m["value"]
                    .as_str()
                    .ok_or_else(|| invalid("every member needs a value (a user id)"))?;
                if let Some(t) = m["type"].as_str()
                    && !t.eq_ignore_ascii_case("User")
                {
                    return Err(invalid(format!(
                        "member {value:?}: members may only be users, not {t:?}"
                    )));
                }
                if !members.iter().any(|x| x == value) {
                    members.push(value.to_owned());
                }
            }
        }
        Some(_) => return Err(invalid("members must be an array")),
    }
    Ok(GroupFields {
        name: name.as_str().to_owned(),
        external_id,
        members,
    })
}

/// The SCIM Group of a row with its members.
pub fn group_json(g: &ScimGroupRow, members: &[MemberRef], scim_base: &str) -> Value {
    let mut obj = Map::new();
    obj.insert("schemas".into(), json!([SCHEMA_GROUP]));
    obj.insert("id".into(), json!(g.id));
    if let Some(x) = &g.external_id {
        obj.insert("externalId".into(), json!(x));
    }
    obj.insert("displayName".into(), json!(g.name));
    if !members.is_empty() {
        let ms: Vec<Value> = members
            .iter()
            .map(|m| {
                // No `display`: clients compare members with what they sent (scim2-tester does);
                // `members.display` still filters on the user's display name.
                json!({
                    "value": m.id,
                    "$ref": format!("{scim_base}/Users/{}", m.id),
                    "type": "User",
                })
            })
            .collect();
        obj.insert("members".into(), Value::Array(ms));
    }
    obj.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": instant(g.created_at),
            "lastModified": instant(g.updated_at),
            "location": format!("{scim_base}/Groups/{}", g.id),
            "version": etag(g.version),
        }),
    );
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::ProvisionType;

    fn row() -> ScimUserRow {
        ScimUserRow {
            id: "u-1".into(),
            directory_id: "d-1".into(),
            user_name: "alice".into(),
            display_name: String::new(),
            email: None,
            email_type: None,
            first_name: String::new(),
            last_name: String::new(),
            status: UserStatus::Enabled,
            provision_type: ProvisionType::Synchronized,
            external_id: None,
            extra: json!({}),
            version: 3,
            created_at: 1_767_225_600,
            updated_at: 1_767_225_600,
        }
    }

    #[test]
    fn user_round_trip_keeps_extra_attributes() {
        let input = json!({
            "schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE_USER],
            "userName": "Alice",
            "externalId": "ext-1",
            "name": {"givenName": "Alice", "familyName": "Liddell", "middleName": "P"},
            "displayName": "Alice L",
            "emails": [{"value": "a@x.org", "type": "home"}, {"value": "A@Work.org", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+1 555", "type": "work"}],
            "title": "Dr",
            "active": false,
            SCHEMA_ENTERPRISE_USER: {"department": "R&D"},
        });
        let f = user_fields(&input).unwrap();
        assert_eq!(f.email.as_deref(), Some("A@Work.org"));
        assert_eq!(f.email_type.as_deref(), Some("work"));
        assert_eq!(
            (f.first_name.as_str(), f.last_name.as_str()),
            ("Alice", "Liddell")
        );
        let mut r = row();
        apply_user_fields(&mut r, f);
        assert_eq!(r.status, UserStatus::Disabled);
        let out = user_json(&r, &[], "https://sso/scim/v2");
        for key in [
            "userName",
            "externalId",
            "displayName",
            "emails",
            "phoneNumbers",
            "title",
            "name",
            SCHEMA_ENTERPRISE_USER,
        ] {
            assert_eq!(out[key], input[key], "{key}");
        }
        assert_eq!(out["active"], json!(false));
        assert_eq!(out["meta"]["version"], json!("W/\"3\""));
        assert_eq!(out["meta"]["created"], json!("2026-01-01T00:00:00Z"));
        assert_eq!(out["schemas"][1], json!(SCHEMA_ENTERPRISE_USER));
    }

    #[test]
    fn bad_user_values_are_invalid_value() {
        for body in [
            json!({"userName": "has space"}),
            json!({"userName": "x".repeat(65)}),
            json!({"userName": "a", "emails": [{"value": "nope"}]}),
            json!({"userName": "a", "displayName": "x".repeat(257)}),
            json!({"userName": "a", "emails": [{"value": "a@b.c", "primary": true}, {"value": "b@b.c", "primary": true}]}),
        ] {
            let e = user_fields(&body).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{body}");
        }
    }

    #[test]
    fn group_members_only_users() {
        let e = group_fields(
            &json!({"displayName": "g", "members": [{"value": "g-2", "type": "Group"}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let f = group_fields(&json!({"displayName": "g", "members": [{"value": "u-1"}, {"value": "u-1", "type": "User"}]}))
            .unwrap();
        assert_eq!(f.members, vec!["u-1".to_owned()]);
        assert!(group_fields(&json!({"displayName": "has space"})).is_err());
    }
}
