//! From IDaaS objects to SCIM resources: the attribute mapping (a SCIM attribute path computed by
//! an attribute expression, see [`crate::attribute_expr`]), the template defaults, rendering of
//! users and groups as SCIM JSON, and a stable hash of a rendered resource for drift detection.
//!
//! Two attributes are not mappable because the engine relies on them: `externalId` is always the
//! IDaaS id (the anchor for adopting existing remote objects) and `active` is always "status is
//! enabled".
//!
//! Resources are rendered as `serde_json::Value` (RFC 7643 JSON) rather than the typed
//! `scim::resource` structs: mapped targets are dynamic paths, and the engine hashes and sends JSON.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::Row;
use utoipa::ToSchema;

use super::config::{Compatibility, ProvisioningConfig};
use crate::attribute_expr::{AttributeExpr, EvalContext, GroupRef, OrgUnitRef, UserAttributes};
use crate::error::Result;
use crate::group::Group;
use crate::store::Conn;
use crate::user::{User, UserStatus};

/// Core User schema URN.
pub const SCHEMA_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Enterprise User extension URN.
pub const SCHEMA_ENTERPRISE_USER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Core Group schema URN.
pub const SCHEMA_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

const CORE_ATTRS: [&str; 9] = [
    "userName",
    "displayName",
    "nickName",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "profileUrl",
];
const NAME_PARTS: [&str; 6] = [
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
];
const MULTI_TYPES: [&str; 4] = ["work", "home", "other", "mobile"];
const ENTERPRISE_ATTRS: [&str; 5] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
];

/// A SCIM User attribute a mapping may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimTarget {
    /// `userName` (required in every mapping).
    UserName,
    /// A single-valued core string attribute (`displayName`, `nickName`, `title`, …).
    Core(&'static str),
    /// A part of `name` (`name.givenName` …).
    Name(&'static str),
    /// `emails[type eq "<type>"].value`; the first e-mail mapped is the primary one.
    Email(&'static str),
    /// `phoneNumbers[type eq "<type>"].value`; the first number mapped is the primary one.
    Phone(&'static str),
    /// An enterprise extension string attribute (`…:enterprise:2.0:User:department` …).
    Enterprise(&'static str),
    /// `…:enterprise:2.0:User:manager.value`.
    EnterpriseManager,
}

/// Why a target path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a writable attribute of this implementation.
    #[error("unsupported SCIM attribute {0:?}")]
    Unsupported(String),
    /// An attribute the engine sets itself.
    #[error("{0} is set by provisioning itself and cannot be mapped")]
    Reserved(&'static str),
}

fn find(list: &[&'static str], name: &str) -> Option<&'static str> {
    list.iter().copied().find(|a| a.eq_ignore_ascii_case(name))
}

/// Parses `[type eq "work"].value` after a multi-valued attribute name.
fn multi_type(rest: &str) -> Option<&'static str> {
    let rest = rest.trim();
    if rest.is_empty() || rest.eq_ignore_ascii_case(".value") {
        return Some("work");
    }
    let inner = rest.strip_prefix('[')?;
    let (filter, after) = inner.split_once(']')?;
    if !after.eq_ignore_ascii_case(".value") {
        return None;
    }
    let mut words = filter.split_whitespace();
    let (attr, op, value) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some()
        || !attr.eq_ignore_ascii_case("type")
        || !op.eq_ignore_ascii_case("eq")
    {
        return None;
    }
    let value = value.strip_prefix('"')?.strip_suffix('"')?;
    find(&MULTI_TYPES, value)
}

impl ScimTarget {
    /// Parses an attribute path (names case-insensitive, optionally URN-qualified).
    pub fn parse(path: &str) -> Result<Self, TargetError> {
        let unsupported = || TargetError::Unsupported(path.to_owned());
        let p = path.trim();
        let lower = p.to_ascii_lowercase();
        let ent_prefix = format!("{}:", SCHEMA_ENTERPRISE_USER.to_ascii_lowercase());
        if let Some(rest) = lower.strip_prefix(&ent_prefix) {
            let rest = &p[p.len() - rest.len()..];
            if rest.eq_ignore_ascii_case("manager") || rest.eq_ignore_ascii_case("manager.value") {
                return Ok(ScimTarget::EnterpriseManager);
            }
            return find(&ENTERPRISE_ATTRS, rest)
                .map(ScimTarget::Enterprise)
                .ok_or_else(unsupported);
        }
        let core_prefix = format!("{}:", SCHEMA_USER.to_ascii_lowercase());
        let p = match lower.strip_prefix(&core_prefix) {
            Some(rest) => &p[p.len() - rest.len()..],
            None => p,
        };
        for reserved in [
            "externalId",
            "active",
            "id",
            "meta",
            "schemas",
            "groups",
            "password",
        ] {
            if p.eq_ignore_ascii_case(reserved) {
                return Err(TargetError::Reserved(reserved));
            }
        }
        if p.eq_ignore_ascii_case("userName") {
            return Ok(ScimTarget::UserName);
        }
        if let Some(a) = find(&CORE_ATTRS, p) {
            return Ok(ScimTarget::Core(a));
        }
        if let Some((head, part)) = p.split_once('.')
            && head.eq_ignore_ascii_case("name")
        {
            return find(&NAME_PARTS, part)
                .map(ScimTarget::Name)
                .ok_or_else(unsupported);
        }
        for (attr, phone) in [("emails", false), ("phoneNumbers", true)] {
            if p.len() >= attr.len() && p[..attr.len()].eq_ignore_ascii_case(attr) {
                let t = multi_type(&p[attr.len()..]).ok_or_else(unsupported)?;
                return Ok(if phone {
                    ScimTarget::Phone(t)
                } else {
                    ScimTarget::Email(t)
                });
            }
        }
        Err(unsupported())
    }

    /// Whether the value goes into the enterprise extension.
    pub fn is_enterprise(self) -> bool {
        matches!(
            self,
            ScimTarget::Enterprise(_) | ScimTarget::EnterpriseManager
        )
    }
}

impl fmt::Display for ScimTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScimTarget::UserName => f.write_str("userName"),
            ScimTarget::Core(a) => f.write_str(a),
            ScimTarget::Name(p) => write!(f, "name.{p}"),
            ScimTarget::Email(t) => write!(f, "emails[type eq \"{t}\"].value"),
            ScimTarget::Phone(t) => write!(f, "phoneNumbers[type eq \"{t}\"].value"),
            ScimTarget::Enterprise(a) => write!(f, "{SCHEMA_ENTERPRISE_USER}:{a}"),
            ScimTarget::EnterpriseManager => write!(f, "{SCHEMA_ENTERPRISE_USER}:manager.value"),
        }
    }
}

impl Serialize for ScimTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScimTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One mapping: `target` gets the value of `expression` (omitted when the expression yields nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttributeMapping {
    /// SCIM attribute path.
    #[schema(value_type = String, example = "userName")]
    pub target: ScimTarget,
    /// Attribute expression (products.md §1.5).
    #[schema(value_type = String, example = "user.username")]
    pub expression: AttributeExpr,
    /// Lower-case the value before sending it.
    #[serde(default)]
    pub lowercase: bool,
}

fn mapping(target: ScimTarget, expression: &str, lowercase: bool) -> AttributeMapping {
    match AttributeExpr::parse(expression) {
        Ok(expression) => AttributeMapping {
            target,
            expression,
            lowercase,
        },
        // The defaults below are constants covered by a unit test.
        Err(e) => unreachable!("default expression {expression:?} does not parse: {e}"),
    }
}

/// The default mapping for an application created from `template_id`.
///
/// userName = account name (lower-cased for Alibaba Cloud Cloud SSO and RAM, products.md §1.7),
/// displayName, name.givenName / name.familyName from the custom fields `givenName` / `familyName`
/// when present, the e-mail as the primary work e-mail, the phone number (generic targets only).
/// `externalId` (= IDaaS user id) and `active` (= status enabled) are always sent.
pub fn default_mapping(template_id: Option<&str>) -> Vec<AttributeMapping> {
    use crate::marketplace::{CLOUD_SSO, RAM_ROLE};
    let alibaba = matches!(template_id, Some(CLOUD_SSO | RAM_ROLE));
    let mut m = vec![
        mapping(ScimTarget::UserName, "user.username", alibaba),
        mapping(ScimTarget::Core("displayName"), "user.displayName", false),
        mapping(
            ScimTarget::Name("givenName"),
            "user.customFieldMap.givenName.fieldValue",
            false,
        ),
        mapping(
            ScimTarget::Name("familyName"),
            "user.customFieldMap.familyName.fieldValue",
            false,
        ),
        mapping(ScimTarget::Email("work"), "user.email", false),
    ];
    if !alibaba {
        m.push(mapping(
            ScimTarget::Phone("work"),
            "user.phoneNumber",
            false,
        ));
    }
    m
}

/// The default compatibility profile for a template (AWS IAM Identity Center for its template).
pub fn default_compatibility(template_id: Option<&str>) -> Compatibility {
    if template_id == Some(crate::marketplace::AWS_IAM_IDENTITY_CENTER) {
        Compatibility::AwsIamIdentityCenter
    } else {
        Compatibility::Standard
    }
}

/// What an expression may read about one user, for one application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderContext {
    /// Org units, groups, custom fields …
    pub attributes: UserAttributes,
    /// The user's application account for this application (`appUser.username`).
    pub app_username: Option<String>,
}

/// Why a user could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The `userName` expression yielded nothing (e.g. `appUser.username` without an application account).
    #[error("the userName mapping yields no value for this user")]
    MissingUserName,
}

fn base_attributes(user: &User) -> UserAttributes {
    UserAttributes {
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        phone_number: user.phone.clone(),
        status: user.status.as_str().to_owned(),
        primary_ou_id: user.primary_ou_id.clone(),
        org_units: Vec::new(),
        groups: Vec::new(),
        custom_fields: user
            .custom_fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Loads the render context of one user for `app_id` (3 queries).
pub async fn load_context(conn: &mut Conn, app_id: &str, user: &User) -> Result<RenderContext> {
    let mut map =
        load_contexts(conn, app_id, &user.instance_id, std::slice::from_ref(user)).await?;
    Ok(map.remove(&user.id).unwrap_or_default())
}

/// Loads the render contexts of `users` (all of `instance_id`) for `app_id` in 3 queries,
/// whatever their number (full sync of 10,000 users). Keyed by user id.
pub async fn load_contexts(
    conn: &mut Conn,
    app_id: &str,
    instance_id: &str,
    users: &[User],
) -> Result<HashMap<String, RenderContext>> {
    let mut out: HashMap<String, RenderContext> = users
        .iter()
        .map(|u| {
            (
                u.id.clone(),
                RenderContext {
                    attributes: base_attributes(u),
                    app_username: None,
                },
            )
        })
        .collect();
    if users.is_empty() {
        return Ok(out);
    }
    // One user: filter in SQL; many: read the instance's memberships once and pick in memory.
    let single = (users.len() == 1).then(|| users[0].id.clone());
    let user_clause = if single.is_some() {
        " AND m.user_id = $2"
    } else {
        ""
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT m.user_id AS user_id, o.id AS id, o.name AS name, o.external_id AS external_id \
         FROM user_org_units m JOIN org_units o ON o.id = m.ou_id \
         WHERE o.instance_id = $1{user_clause} ORDER BY o.name, o.id"
    )))
    .bind(instance_id);
    if let Some(u) = &single {
        q = q.bind(u.clone());
    }
    for r in q.fetch_all(&mut *conn).await? {
        let uid: String = r.try_get("user_id")?;
        if let Some(ctx) = out.get_mut(&uid) {
            ctx.attributes.org_units.push(OrgUnitRef {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                external_id: r.try_get("external_id")?,
            });
        }
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT m.user_id AS user_id, g.id AS id, g.name AS name, g.external_id AS external_id \
         FROM group_members m JOIN groups g ON g.id = m.group_id \
         WHERE g.instance_id = $1{user_clause} ORDER BY g.name, g.id"
    )))
    .bind(instance_id);
    if let Some(u) = &single {
        q = q.bind(u.clone());
    }
    for r in q.fetch_all(&mut *conn).await? {
        let uid: String = r.try_get("user_id")?;
        if let Some(ctx) = out.get_mut(&uid) {
            ctx.attributes.groups.push(GroupRef {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                external_id: r.try_get("external_id")?,
            });
        }
    }
    let rows =
        match &single {
            Some(u) => sqlx::query(
                "SELECT user_id, app_username FROM app_accounts WHERE app_id = $1 AND user_id = $2",
            )
            .bind(app_id)
            .bind(u.clone())
            .fetch_all(&mut *conn)
            .await?,
            None => {
                sqlx::query("SELECT user_id, app_username FROM app_accounts WHERE app_id = $1")
                    .bind(app_id)
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
    for r in rows {
        let uid: String = r.try_get("user_id")?;
        if let Some(ctx) = out.get_mut(&uid) {
            ctx.app_username = Some(r.try_get("app_username")?);
        }
    }
    Ok(out)
}

fn set_path(obj: &mut Map<String, Value>, key: &str, sub: &str, value: Value) {
    let entry = obj
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = entry {
        m.insert(sub.to_owned(), value);
    }
}

/// Renders `user` as a SCIM User (RFC 7643 JSON) according to the mapping of `cfg`.
///
/// Always present: `schemas`, `userName`, `externalId` (= the IDaaS user id) and `active`
/// (= status enabled). Mapped attributes whose expression yields nothing are left out. With the
/// AWS IAM Identity Center profile, `displayName`, `name.givenName` and `name.familyName` (which
/// that target requires) fall back to the display name, then the user name.
pub fn render_user(
    cfg: &ProvisioningConfig,
    user: &User,
    ctx: &RenderContext,
) -> Result<Value, RenderError> {
    let eval_ctx = EvalContext {
        user: &ctx.attributes,
        app_username: ctx.app_username.as_deref(),
    };
    let mut obj = Map::new();
    let mut enterprise = Map::new();
    let mut emails: Vec<Value> = Vec::new();
    let mut phones: Vec<Value> = Vec::new();
    let mut user_name = None;
    for m in &cfg.attribute_mapping {
        let Some(mut v) = m.expression.eval(&eval_ctx) else {
            continue;
        };
        if m.lowercase {
            v = v.to_lowercase();
        }
        if v.is_empty() {
            continue;
        }
        match m.target {
            ScimTarget::UserName => user_name = Some(v),
            ScimTarget::Core(a) => {
                obj.insert(a.to_owned(), Value::String(v));
            }
            ScimTarget::Name(p) => set_path(&mut obj, "name", p, Value::String(v)),
            ScimTarget::Email(t) => {
                emails.push(json!({"value": v, "type": t, "primary": emails.is_empty()}))
            }
            ScimTarget::Phone(t) => {
                phones.push(json!({"value": v, "type": t, "primary": phones.is_empty()}))
            }
            ScimTarget::Enterprise(a) => {
                enterprise.insert(a.to_owned(), Value::String(v));
            }
            ScimTarget::EnterpriseManager => {
                enterprise.insert("manager".to_owned(), json!({ "value": v }));
            }
        }
    }
    let user_name = user_name.ok_or(RenderError::MissingUserName)?;
    if cfg.compatibility == Compatibility::AwsIamIdentityCenter {
        let fallback = obj
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| user_name.clone());
        obj.entry("displayName".to_owned())
            .or_insert_with(|| Value::String(fallback.clone()));
        for part in ["givenName", "familyName"] {
            let has = obj
                .get("name")
                .and_then(|n| n.get(part))
                .is_some_and(|v| v.is_string());
            if !has {
                set_path(&mut obj, "name", part, Value::String(fallback.clone()));
            }
        }
    }
    let mut schemas = vec![Value::String(SCHEMA_USER.to_owned())];
    if !enterprise.is_empty() {
        schemas.push(Value::String(SCHEMA_ENTERPRISE_USER.to_owned()));
        obj.insert(SCHEMA_ENTERPRISE_USER.to_owned(), Value::Object(enterprise));
    }
    if !emails.is_empty() {
        obj.insert("emails".to_owned(), Value::Array(emails));
    }
    if !phones.is_empty() {
        obj.insert("phoneNumbers".to_owned(), Value::Array(phones));
    }
    obj.insert("schemas".to_owned(), Value::Array(schemas));
    obj.insert("userName".to_owned(), Value::String(user_name));
    obj.insert("externalId".to_owned(), Value::String(user.id.clone()));
    obj.insert(
        "active".to_owned(),
        Value::Bool(user.status == UserStatus::Enabled),
    );
    Ok(Value::Object(obj))
}

/// Renders `group` as a SCIM Group: `displayName` = name, `externalId` = the IDaaS group id,
/// `members` = `member_remote_ids` (the target's ids of the members, sorted and de-duplicated so
/// that the rendering, and its [`state_hash`], do not depend on their order).
pub fn render_group(
    _cfg: &ProvisioningConfig,
    group: &Group,
    member_remote_ids: &[String],
) -> Value {
    let mut ids: Vec<&String> = member_remote_ids.iter().collect();
    ids.sort();
    ids.dedup();
    let members: Vec<Value> = ids.into_iter().map(|id| json!({ "value": id })).collect();
    json!({
        "schemas": [SCHEMA_GROUP],
        "displayName": group.name,
        "externalId": group.id,
        "members": members,
    })
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Canonical JSON text: object keys sorted at every level, no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

/// SHA-256 (hex) of [`canonical_json`]: equal for equal resources whatever their key order.
pub fn state_hash(v: &Value) -> String {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical_json(v).as_bytes());
    hex::encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::config::ProvisioningConfig;

    fn user() -> User {
        let mut custom = Map::new();
        custom.insert("givenName".into(), json!("Alice"));
        custom.insert("dept".into(), json!("R&D"));
        User {
            id: "user_1".into(),
            instance_id: "inst_1".into(),
            username: "Alice.Smith".into(),
            display_name: "Alice Smith".into(),
            email: Some("alice@example.com".into()),
            phone: None,
            status: UserStatus::Enabled,
            is_admin: false,
            custom_fields: custom,
            primary_ou_id: None,
            external_id: None,
            mfa_enabled: false,
            must_change_password: false,
            has_password: false,
            locked_until: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn ctx(u: &User) -> RenderContext {
        RenderContext {
            attributes: base_attributes(u),
            app_username: None,
        }
    }

    #[test]
    fn targets_parse_and_print() {
        for (text, canon) in [
            ("userName", "userName"),
            ("USERNAME", "userName"),
            ("displayname", "displayName"),
            ("name.givenName", "name.givenName"),
            ("emails", "emails[type eq \"work\"].value"),
            (
                "emails[type eq \"home\"].value",
                "emails[type eq \"home\"].value",
            ),
            (
                "phoneNumbers[type eq \"mobile\"].value",
                "phoneNumbers[type eq \"mobile\"].value",
            ),
            ("urn:ietf:params:scim:schemas:core:2.0:User:title", "title"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ),
        ] {
            let t = ScimTarget::parse(text).unwrap();
            assert_eq!(t.to_string(), canon, "{text}");
            assert_eq!(ScimTarget::parse(canon).unwrap(), t);
        }
        for bad in [
            "",
            "foo",
            "name.nope",
            "emails[type eq \"fax\"].value",
            "emails[value eq \"x\"].value",
        ] {
            assert!(
                matches!(ScimTarget::parse(bad), Err(TargetError::Unsupported(_))),
                "{bad}"
            );
        }
        for reserved in ["externalId", "active", "id", "groups"] {
            assert!(matches!(
                ScimTarget::parse(reserved),
                Err(TargetError::Reserved(_))
            ));
        }
    }

    #[test]
    fn defaults_parse_and_cloud_sso_lowercases() {
        let cs = default_mapping(Some(crate::marketplace::CLOUD_SSO));
        assert!(
            cs.iter()
                .any(|m| m.target == ScimTarget::UserName && m.lowercase)
        );
        let generic = default_mapping(None);
        assert!(
            generic
                .iter()
                .any(|m| m.target == ScimTarget::UserName && !m.lowercase)
        );
        assert!(
            generic
                .iter()
                .any(|m| m.target == ScimTarget::Phone("work"))
        );
    }

    #[test]
    fn cloud_sso_default_rendering() {
        let cfg =
            ProvisioningConfig::defaults("app_1", "inst_1", Some(crate::marketplace::CLOUD_SSO), 0);
        let u = user();
        let v = render_user(&cfg, &u, &ctx(&u)).unwrap();
        assert_eq!(
            v,
            json!({
                "schemas": [SCHEMA_USER],
                "userName": "alice.smith",
                "externalId": "user_1",
                "active": true,
                "displayName": "Alice Smith",
                "name": {"givenName": "Alice"},
                "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
            })
        );
        let mut disabled = u.clone();
        disabled.status = UserStatus::Disabled;
        assert_eq!(
            render_user(&cfg, &disabled, &ctx(&disabled)).unwrap()["active"],
            json!(false)
        );
    }

    #[test]
    fn aws_profile_fills_required_names_and_enterprise() {
        let mut cfg = ProvisioningConfig::defaults("app_1", "inst_1", None, 0);
        cfg.compatibility = Compatibility::AwsIamIdentityCenter;
        cfg.attribute_mapping.push(AttributeMapping {
            target: ScimTarget::Enterprise("department"),
            expression: AttributeExpr::parse("user.customFieldMap.dept.fieldValue").unwrap(),
            lowercase: false,
        });
        let u = user();
        let v = render_user(&cfg, &u, &ctx(&u)).unwrap();
        assert_eq!(v["userName"], json!("Alice.Smith"));
        assert_eq!(
            v["name"],
            json!({"givenName": "Alice", "familyName": "Alice Smith"})
        );
        assert_eq!(v[SCHEMA_ENTERPRISE_USER]["department"], json!("R&D"));
        assert_eq!(v["schemas"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn missing_username_is_an_error() {
        let mut cfg = ProvisioningConfig::defaults("app_1", "inst_1", None, 0);
        cfg.attribute_mapping[0].expression = AttributeExpr::parse("appUser.username").unwrap();
        let u = user();
        assert_eq!(
            render_user(&cfg, &u, &ctx(&u)),
            Err(RenderError::MissingUserName)
        );
    }

    #[test]
    fn group_rendering_and_hash_are_order_independent() {
        let cfg = ProvisioningConfig::defaults("app_1", "inst_1", None, 0);
        let g = Group {
            id: "group_1".into(),
            instance_id: "inst_1".into(),
            name: "Admins".into(),
            description: String::new(),
            external_id: None,
            created_at: 0,
            updated_at: 0,
        };
        let a = render_group(&cfg, &g, &["r2".into(), "r1".into(), "r2".into()]);
        let b = render_group(&cfg, &g, &["r1".into(), "r2".into()]);
        assert_eq!(a, b);
        assert_eq!(a["members"], json!([{"value": "r1"}, {"value": "r2"}]));
        assert_eq!(state_hash(&a), state_hash(&b));
        let x: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":0,"y":1}],"c":"é"}}"#).unwrap();
        let y: Value =
            serde_json::from_str(r#"{"a":{"c":"é","d":[1,{"y":1,"z":0}]},"b":1}"#).unwrap();
        assert_eq!(
            canonical_json(&x),
            r#"{"a":{"c":"é","d":[1,{"y":1,"z":0}]},"b":1}"#
        );
        assert_eq!(state_hash(&x), state_hash(&y));
        assert_eq!(state_hash(&x).len(), 64);
        assert_ne!(state_hash(&x), state_hash(&json!({"b": 2})));
    }
}
