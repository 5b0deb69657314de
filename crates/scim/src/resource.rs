//! Typed SCIM resources (RFC 7643 §4): User with the enterprise extension, Group, and `meta`.
//!
//! Serde maps canonical attribute names; run [`crate::schema::validate_resource`] first on outside input
//! to reject unknown attributes and normalize case. Unknown fields are ignored by serde here.

use crate::error::{SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_USER, ScimError, ScimType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Resource metadata (RFC 7643 §3.1 `meta`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `User` or `Group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Creation instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last modification instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Resource URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Weak ETag, `W/"…"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Formats an instant as RFC 3339 (UTC offset kept as given).
pub fn format_instant(t: OffsetDateTime) -> String {
    // Formatting a valid OffsetDateTime as RFC 3339 only fails for years outside 0..=9999.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The weak ETag for a version string: `W/"version"` (quotes inside are dropped).
pub fn weak_etag(version: &str) -> String {
    let clean: String = version.chars().filter(|c| *c != '"').collect();
    format!("W/\"{clean}\"")
}

impl Meta {
    /// Builds `meta` with RFC 3339 instants and `version` as the weak ETag of `version`.
    pub fn new(
        resource_type: &str,
        created: OffsetDateTime,
        last_modified: OffsetDateTime,
        location: &str,
        version: &str,
    ) -> Self {
        Meta {
            resource_type: Some(resource_type.to_string()),
            created: Some(format_instant(created)),
            last_modified: Some(format_instant(last_modified)),
            location: Some(location.to_string()),
            version: Some(weak_etag(version)),
        }
    }
}

/// The components of a user's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// Full name, formatted for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Middle name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Honorific prefix ("Ms.").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    /// Honorific suffix ("III").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
}

/// One value of a simple multi-valued attribute (emails, phoneNumbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiValue {
    /// The value (address, number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Display form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Label such as `work`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Whether this is the primary value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// A group member (or, as [`GroupRef`], a group of a user).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The `id` of the member resource.
    pub value: String,
    /// URI of the member resource.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    /// Display name of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// `User` or `Group` (for a [`GroupRef`]: `direct` or `indirect`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

impl Member {
    /// A member of type `User` with this id.
    pub fn user(id: impl Into<String>) -> Self {
        Member {
            value: id.into(),
            ref_: None,
            display: None,
            type_: Some("User".into()),
        }
    }
}

/// A group a user belongs to (User `groups`, readOnly).
pub type GroupRef = Member;

/// The user's manager (enterprise extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    /// The manager's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// URI of the manager's resource.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    /// The manager's display name (readOnly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Enterprise User extension attributes (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseUser {
    /// Employee number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// Cost center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    /// Organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
}

/// A SCIM User (RFC 7643 §4.1) with the attributes Gatehouse stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Schema URNs; [`User::to_value`] fills them in.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Service provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Sign-in name (required, unique, case-insensitive).
    pub user_name: String,
    /// Name components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// User type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// Preferred language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// Locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Administrative status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<MultiValue>,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<MultiValue>,
    /// Groups (readOnly, set by the service provider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRef>,
    /// Enterprise extension.
    #[serde(
        default,
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<EnterpriseUser>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

fn decode_error(what: &str, e: serde_json::Error) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, format!("invalid {what}: {e}"))
}

impl User {
    /// A user with only `userName` set.
    pub fn new(user_name: impl Into<String>) -> Self {
        User {
            user_name: user_name.into(),
            ..User::default()
        }
    }

    /// The primary email's value, else the first email's.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .and_then(|e| e.value.as_deref())
    }

    /// JSON with `schemas` set to the core URN (plus the enterprise URN when the extension is present).
    pub fn to_value(&self) -> Value {
        let mut u = self.clone();
        u.schemas = vec![SCHEMA_USER.to_string()];
        if u.enterprise.is_some() {
            u.schemas.push(SCHEMA_ENTERPRISE_USER.to_string());
        }
        serde_json::to_value(&u).unwrap_or(Value::Null)
    }

    /// Reads a user from (canonically-named) JSON; 400 invalidValue if the shape is wrong.
    pub fn from_value(v: &Value) -> Result<Self, ScimError> {
        User::deserialize(v).map_err(|e| decode_error("User", e))
    }
}

/// A SCIM Group (RFC 7643 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Schema URNs; [`Group::to_value`] fills them in.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Service provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Display name (required).
    pub display_name: String,
    /// Members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl Group {
    /// A group with only `displayName` set.
    pub fn new(display_name: impl Into<String>) -> Self {
        Group {
            display_name: display_name.into(),
            ..Group::default()
        }
    }

    /// JSON with `schemas` set to the Group URN.
    pub fn to_value(&self) -> Value {
        let mut g = self.clone();
        g.schemas = vec![SCHEMA_GROUP.to_string()];
        serde_json::to_value(&g).unwrap_or(Value::Null)
    }

    /// Reads a group from (canonically-named) JSON; 400 invalidValue if the shape is wrong.
    pub fn from_value(v: &Value) -> Result<Self, ScimError> {
        Group::deserialize(v).map_err(|e| decode_error("Group", e))
    }
}
