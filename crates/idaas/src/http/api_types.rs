//! Request and query types of the admin API (responses are the domain types, which derive `ToSchema`).

use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

use crate::api_token::TokenName;
use crate::audit::AuditResult;
use crate::error::InvalidInput;
use crate::group::GroupName;
use crate::instance::{BaseUrl, InstanceName, InstanceSettings};
use crate::org_unit::OrgUnitName;
use crate::user::{CustomFields, DisplayName, Email, Phone, UserName, UserStatus};

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An identifier in an external system: 1–256 characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String)]
pub struct ExternalId(pub String);

impl TryFrom<String> for ExternalId {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "external_id",
                "must be 1 to 256 characters without control characters",
            ));
        }
        Ok(Self(s))
    }
}

/// Free text of at most 1024 characters (descriptions).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema, Default)]
#[serde(try_from = "String")]
#[schema(value_type = String)]
pub struct Description(pub String);

impl TryFrom<String> for Description {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        crate::org_unit::free_text("description", &s, 1024).map(Self)
    }
}

/// `POST /api/v1/instances`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceRequest {
    /// Display name.
    pub name: InstanceName,
    /// Custom base URL (default: the server's).
    #[serde(default)]
    pub base_url: Option<BaseUrl>,
    /// Settings (defaults when absent).
    #[serde(default)]
    pub settings: Option<InstanceSettings>,
}

/// `PATCH /api/v1/instances/{iid}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<InstanceName>,
    /// New base URL; `null` returns to the server's.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<BaseUrl>>,
}

/// `POST …/users`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// User name.
    pub username: UserName,
    /// Display name (defaults to the user name).
    #[serde(default)]
    pub display_name: Option<DisplayName>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<Email>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<Phone>,
    /// Initial password (checked against the password policy).
    #[serde(default)]
    pub password: Option<String>,
    /// Status (default enabled).
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// Administrator of the instance.
    #[serde(default)]
    pub is_admin: Option<bool>,
    /// Custom fields.
    #[serde(default)]
    pub custom_fields: Option<CustomFields>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<ExternalId>,
}

/// `PATCH …/users/{uid}`: absent fields stay, `null` clears optional ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New user name.
    #[serde(default)]
    pub username: Option<UserName>,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<DisplayName>,
    /// New e-mail (`null` clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<Email>>,
    /// New phone (`null` clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<Phone>>,
    /// New status.
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// New administrator flag.
    #[serde(default)]
    pub is_admin: Option<bool>,
    /// New custom fields (replace all).
    #[serde(default)]
    pub custom_fields: Option<CustomFields>,
    /// New external id (`null` clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<ExternalId>>,
}

/// `POST …/users/{uid}/password`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The new password.
    pub password: String,
    /// Require a change at next sign-in (default true).
    #[serde(default)]
    pub must_change: Option<bool>,
}

/// `POST …/users/{uid}/org-units`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOrgUnitRequest {
    /// The unit.
    pub org_unit_id: String,
    /// Make it the primary unit.
    #[serde(default)]
    pub primary: bool,
}

/// `POST …/org-units`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgUnitRequest {
    /// Name (unique among siblings).
    pub name: OrgUnitName,
    /// Parent unit (absent = a root).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<Description>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<ExternalId>,
}

/// `PATCH …/org-units/{ouid}`: rename, describe, move (`parent_id: null` = make it a root).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgUnitRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<OrgUnitName>,
    /// New description.
    #[serde(default)]
    pub description: Option<Description>,
    /// New external id (`null` clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<ExternalId>>,
    /// New parent (`null` = root).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<Option<String>>,
}

/// `POST …/groups`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// Name (unique per instance, case-insensitively).
    pub name: GroupName,
    /// Description.
    #[serde(default)]
    pub description: Option<Description>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<ExternalId>,
}

/// `PATCH …/groups/{gid}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<GroupName>,
    /// New description.
    #[serde(default)]
    pub description: Option<Description>,
    /// New external id (`null` clears).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<ExternalId>>,
}

/// `POST …/groups/{gid}/members`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add.
    pub user_id: String,
}

/// `POST …/api-tokens`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    /// What the token is for.
    pub name: TokenName,
    /// Expiry (unix seconds), if any.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// Query of `GET …/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListUsersParams {
    /// Substring of user name, display name or e-mail.
    pub q: Option<String>,
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Only members of this unit.
    pub org_unit_id: Option<String>,
    /// With `org_unit_id`: include members of units below it.
    pub include_descendants: Option<bool>,
    /// Only members of this group.
    pub group_id: Option<String>,
    /// Items to skip.
    pub offset: Option<i64>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// Query of paged lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Items to skip.
    pub offset: Option<i64>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// Query of `GET …/org-units`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListOrgUnitsParams {
    /// Only the children of this unit; `root` = only the roots; absent = all units.
    pub parent: Option<String>,
}

/// Query of `GET …/audit-events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// From (unix seconds, inclusive).
    pub from: Option<i64>,
    /// To (unix seconds, exclusive).
    pub to: Option<i64>,
    /// Actor id.
    pub actor: Option<String>,
    /// Action prefix, full (`urn:gatehouse:idaas:event:user:`) or short (`user:create`).
    pub action: Option<String>,
    /// `success` or `failure`.
    pub result: Option<AuditResult>,
    /// Target id.
    pub target: Option<String>,
    /// Continue after this event id.
    pub cursor: Option<String>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}
