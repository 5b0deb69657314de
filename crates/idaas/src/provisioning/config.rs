//! The provisioning configuration of one application (products.md §1.7, `ScimProvisioningConfig`):
//! SCIM 2.0 base URL, authentication (bearer token or OAuth 2.0 client credentials), scope (org
//! units and groups), actions, attribute mapping, deprovisioning mode and compatibility profile.
//!
//! Secrets (the access token, the client secret) are sealed with the master key at rest (bound to
//! the application id), held as [`Secret`] in memory (redacted in `Debug`, zeroed on drop) and never
//! returned by the API: [`ProvisioningView`] only says whether one is set.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::mapping::{AttributeMapping, ScimTarget};
use crate::attribute_expr::AttributeExpr;
use crate::error::{Error, InvalidInput, Result};
use crate::master_key::MasterKey;

/// Prefix of the action URNs (`urn:alibaba:idaas:app:scim:User:CREATE` …).
pub const ACTION_PREFIX: &str = "urn:alibaba:idaas:app:scim:";
/// Longest accepted base URL or token endpoint.
pub const MAX_URL_LEN: usize = 2048;
/// Most org units, and most groups, in a scope (the product's `MaxQuota` example is 1000).
pub const MAX_SCOPE_ENTRIES: usize = 1000;
/// Most attribute mappings.
pub const MAX_MAPPINGS: usize = 64;
/// Default number of delivery attempts before an outbox entry is dead-lettered.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The provisioning protocol (`ProvisionProtocolType`); only SCIM 2.0 is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// SCIM 2.0 (RFC 7643/7644).
    #[default]
    Scim2,
}

impl Protocol {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Scim2 => "scim2",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        (text == "scim2").then_some(Protocol::Scim2)
    }
}

/// What provisioning may do at the target (`ProvisioningActions` and `FullPushScopes`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Action {
    /// Create users entering the scope.
    #[serde(rename = "urn:alibaba:idaas:app:scim:User:CREATE")]
    UserCreate,
    /// Push user changes.
    #[serde(rename = "urn:alibaba:idaas:app:scim:User:UPDATE")]
    UserUpdate,
    /// Deprovision users leaving the scope or deleted (delete or disable, per configuration).
    #[serde(rename = "urn:alibaba:idaas:app:scim:User:DELETE")]
    UserDelete,
    /// Full push of every user in scope ("Push Now").
    #[serde(rename = "urn:alibaba:idaas:app:scim:User:PUSH")]
    UserPush,
    /// Create the groups in scope (with their members).
    #[serde(rename = "urn:alibaba:idaas:app:scim:Group:CREATE")]
    GroupCreate,
    /// Push group changes, members included.
    #[serde(rename = "urn:alibaba:idaas:app:scim:Group:UPDATE")]
    GroupUpdate,
    /// Delete groups leaving the scope or deleted.
    #[serde(rename = "urn:alibaba:idaas:app:scim:Group:DELETE")]
    GroupDelete,
}

impl Action {
    /// Every action, in display order.
    pub const ALL: [Action; 7] = [
        Action::UserCreate,
        Action::UserUpdate,
        Action::UserDelete,
        Action::UserPush,
        Action::GroupCreate,
        Action::GroupUpdate,
        Action::GroupDelete,
    ];

    /// The URN.
    pub fn urn(self) -> &'static str {
        match self {
            Action::UserCreate => "urn:alibaba:idaas:app:scim:User:CREATE",
            Action::UserUpdate => "urn:alibaba:idaas:app:scim:User:UPDATE",
            Action::UserDelete => "urn:alibaba:idaas:app:scim:User:DELETE",
            Action::UserPush => "urn:alibaba:idaas:app:scim:User:PUSH",
            Action::GroupCreate => "urn:alibaba:idaas:app:scim:Group:CREATE",
            Action::GroupUpdate => "urn:alibaba:idaas:app:scim:Group:UPDATE",
            Action::GroupDelete => "urn:alibaba:idaas:app:scim:Group:DELETE",
        }
    }

    /// Parses a URN (exact spelling).
    pub fn parse(urn: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.urn() == urn)
    }

    /// A short label for the console.
    pub fn label(self) -> &'static str {
        match self {
            Action::UserCreate => "Create users",
            Action::UserUpdate => "Update users",
            Action::UserDelete => "Deprovision users",
            Action::UserPush => "Full push of users (Push Now)",
            Action::GroupCreate => "Create groups (with members)",
            Action::GroupUpdate => "Update groups and members",
            Action::GroupDelete => "Delete groups",
        }
    }
}

/// A set of [`Action`]s (serialized as a list of URNs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Vec<String>)]
pub struct Actions(BTreeSet<Action>);

impl Actions {
    /// The default: every action (users and groups, full push).
    pub fn all() -> Self {
        Self(Action::ALL.into_iter().collect())
    }

    /// Whether `action` is allowed.
    pub fn contains(&self, action: Action) -> bool {
        self.0.contains(&action)
    }

    /// Whether any group action is allowed (groups are pushed at all).
    pub fn groups(&self) -> bool {
        [
            Action::GroupCreate,
            Action::GroupUpdate,
            Action::GroupDelete,
        ]
        .iter()
        .any(|a| self.0.contains(a))
    }

    /// The actions in order.
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.0.iter().copied()
    }

    /// Parses a list of URNs.
    pub fn parse<S: AsRef<str>>(urns: &[S]) -> Result<Self, InvalidInput> {
        let mut set = BTreeSet::new();
        for u in urns {
            let a = Action::parse(u.as_ref().trim()).ok_or_else(|| {
                InvalidInput::new(
                    "actions",
                    format!(
                        "unknown action {:?} (expected {ACTION_PREFIX}User:CREATE …)",
                        u.as_ref()
                    ),
                )
            })?;
            set.insert(a);
        }
        Ok(Self(set))
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<T: IntoIterator<Item = Action>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// How a client authenticates at the token endpoint (`AuthnMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthnMethod {
    /// HTTP Basic with client id and secret.
    #[default]
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
}

impl AuthnMethod {
    /// Wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthnMethod::ClientSecretBasic => "client_secret_basic",
            AuthnMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

/// A secret value in memory: never printed, zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret text (for the Authorization header or the token request only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How provisioning authenticates at the target (`AuthnConfiguration`, `AuthnMode` = oauth2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisioningAuth {
    /// `GrantType = bearer_token`: a fixed access token (e.g. a Cloud SSO SCIM credential).
    BearerToken {
        /// The token sent as `Authorization: Bearer …`.
        access_token: Secret,
    },
    /// `GrantType = client_credentials`: an OAuth 2.0 token obtained from `token_endpoint`.
    ClientCredentials {
        /// Token endpoint URL.
        token_endpoint: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
        /// Client authentication method.
        authn_method: AuthnMethod,
    },
}

impl ProvisioningAuth {
    /// `bearer_token` or `client_credentials`.
    pub fn mode(&self) -> AuthMode {
        match self {
            ProvisioningAuth::BearerToken { .. } => AuthMode::BearerToken,
            ProvisioningAuth::ClientCredentials { .. } => AuthMode::ClientCredentials,
        }
    }
}

/// The authentication mode (`GrantType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// A fixed bearer token.
    BearerToken,
    /// OAuth 2.0 client credentials.
    ClientCredentials,
}

impl AuthMode {
    /// Wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::BearerToken => "bearer_token",
            AuthMode::ClientCredentials => "client_credentials",
        }
    }
}

/// Who is provisioned: members of these org units (and of every unit below them) and members of
/// these groups. An empty scope provisions nobody.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct ProvisioningScope {
    /// Org unit ids (`ou_…`); descendants are included.
    #[serde(default)]
    pub org_unit_ids: Vec<String>,
    /// Group ids (`group_…`); these groups are also the groups pushed.
    #[serde(default)]
    pub group_ids: Vec<String>,
}

impl ProvisioningScope {
    /// Trims, drops empty entries, sorts and removes duplicates.
    pub fn normalized(mut self) -> Self {
        for list in [&mut self.org_unit_ids, &mut self.group_ids] {
            for id in list.iter_mut() {
                *id = id.trim().to_owned();
            }
            list.retain(|id| !id.is_empty());
            list.sort();
            list.dedup();
        }
        self
    }

    /// Whether nothing is in scope.
    pub fn is_empty(&self) -> bool {
        self.org_unit_ids.is_empty() && self.group_ids.is_empty()
    }
}

/// What happens at the target to a user who leaves the scope or is deleted (with `User:DELETE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeprovisionMode {
    /// `DELETE /Users/{id}`.
    #[default]
    Delete,
    /// Set `active: false` and keep the account.
    Disable,
}

impl DeprovisionMode {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeprovisionMode::Delete => "delete",
            DeprovisionMode::Disable => "disable",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "delete" => Some(DeprovisionMode::Delete),
            "disable" => Some(DeprovisionMode::Disable),
            _ => None,
        }
    }
}

/// Target quirks the engine works around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    /// RFC 7644 as written.
    #[default]
    Standard,
    /// AWS IAM Identity Center: no PATCH replace of whole resources, empty member lists on read,
    /// `name.givenName`/`name.familyName` required (filled from the display name when unmapped).
    AwsIamIdentityCenter,
}

impl Compatibility {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::Standard => "standard",
            Compatibility::AwsIamIdentityCenter => "aws_iam_identity_center",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "standard" => Some(Compatibility::Standard),
            "aws_iam_identity_center" => Some(Compatibility::AwsIamIdentityCenter),
            _ => None,
        }
    }

    /// A label for the console.
    pub fn label(self) -> &'static str {
        match self {
            Compatibility::Standard => "Standard SCIM 2.0",
            Compatibility::AwsIamIdentityCenter => "AWS IAM Identity Center",
        }
    }
}

/// The provisioning configuration of one application (secrets opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningConfig {
    /// The application (`app_…`).
    pub app_id: String,
    /// Its instance.
    pub instance_id: String,
    /// "Provision IDaaS Accounts to Application" switch.
    pub enabled: bool,
    /// Always SCIM 2.0.
    pub protocol: Protocol,
    /// SCIM base URL without trailing slash (`https://example.com/scim/v2`); empty only while disabled.
    pub base_url: String,
    /// Authentication; always `Some` while enabled.
    pub auth: Option<ProvisioningAuth>,
    /// Who is provisioned.
    pub scope: ProvisioningScope,
    /// What may be done at the target.
    pub actions: Actions,
    /// How SCIM user attributes are computed (`externalId` and `active` are fixed, see
    /// [`super::mapping::render_user`]).
    pub attribute_mapping: Vec<AttributeMapping>,
    /// Delete or disable leavers.
    pub deprovision_mode: DeprovisionMode,
    /// Target quirks.
    pub compatibility: Compatibility,
    /// Delivery attempts before dead-lettering.
    pub max_attempts: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl ProvisioningConfig {
    /// A disabled, unconfigured configuration with the defaults for the application's template
    /// (see [`super::mapping::default_mapping`]).
    pub fn defaults(app_id: &str, instance_id: &str, template_id: Option<&str>, now: i64) -> Self {
        Self {
            app_id: app_id.to_owned(),
            instance_id: instance_id.to_owned(),
            enabled: false,
            protocol: Protocol::Scim2,
            base_url: String::new(),
            auth: None,
            scope: ProvisioningScope::default(),
            actions: Actions::all(),
            attribute_mapping: super::mapping::default_mapping(template_id),
            deprovision_mode: DeprovisionMode::Delete,
            compatibility: super::mapping::default_compatibility(template_id),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            created_at: now,
            updated_at: now,
        }
    }

    /// The secret-free view returned by the API.
    pub fn view(&self, configured: bool) -> ProvisioningView {
        let mut auth = AuthView::default();
        match &self.auth {
            None => {}
            Some(ProvisioningAuth::BearerToken { access_token }) => {
                auth.mode = Some(AuthMode::BearerToken);
                auth.has_access_token = !access_token.expose().is_empty();
            }
            Some(ProvisioningAuth::ClientCredentials {
                token_endpoint,
                client_id,
                client_secret,
                authn_method,
            }) => {
                auth.mode = Some(AuthMode::ClientCredentials);
                auth.token_endpoint = Some(token_endpoint.clone());
                auth.client_id = Some(client_id.clone());
                auth.has_client_secret = !client_secret.expose().is_empty();
                auth.authn_method = Some(*authn_method);
            }
        }
        ProvisioningView {
            app_id: self.app_id.clone(),
            configured,
            enabled: self.enabled,
            protocol: self.protocol,
            base_url: self.base_url.clone(),
            auth,
            scope: self.scope.clone(),
            actions: self.actions.clone(),
            attribute_mapping: self.attribute_mapping.clone(),
            deprovision_mode: self.deprovision_mode,
            compatibility: self.compatibility,
            max_attempts: self.max_attempts,
            updated_at: configured.then_some(self.updated_at),
        }
    }

    /// Checks the parts that need no database: URLs, authentication completeness when enabled,
    /// a `userName` mapping, attempt bounds. `allow_private` (the "allow private network
    /// targets" switch) permits `http` and non-public hosts (tests and local demos; see
    /// [`validate_url`]).
    pub fn validate(&self, allow_private: bool) -> Result<(), InvalidInput> {
        if !self.base_url.is_empty() {
            validate_url("base_url", &self.base_url, allow_private)?;
        } else if self.enabled {
            return Err(InvalidInput::new(
                "base_url",
                "is required to enable provisioning",
            ));
        }
        match &self.auth {
            None if self.enabled => {
                return Err(InvalidInput::new(
                    "auth",
                    "is required to enable provisioning",
                ));
            }
            None => {}
            Some(ProvisioningAuth::BearerToken { access_token }) => {
                check_secret("auth.access_token", access_token)?;
            }
            Some(ProvisioningAuth::ClientCredentials {
                token_endpoint,
                client_id,
                client_secret,
                ..
            }) => {
                validate_url("auth.token_endpoint", token_endpoint, allow_private)?;
                if client_id.trim().is_empty()
                    || client_id.len() > 256
                    || client_id.chars().any(char::is_control)
                {
                    return Err(InvalidInput::new(
                        "auth.client_id",
                        "must be 1 to 256 characters without control characters",
                    ));
                }
                check_secret("auth.client_secret", client_secret)?;
            }
        }
        if self.scope.org_unit_ids.len() > MAX_SCOPE_ENTRIES
            || self.scope.group_ids.len() > MAX_SCOPE_ENTRIES
        {
            return Err(InvalidInput::new(
                "scope",
                format!("at most {MAX_SCOPE_ENTRIES} org units and {MAX_SCOPE_ENTRIES} groups"),
            ));
        }
        if self.attribute_mapping.len() > MAX_MAPPINGS {
            return Err(InvalidInput::new(
                "attribute_mapping",
                format!("at most {MAX_MAPPINGS} mappings"),
            ));
        }
        if !self
            .attribute_mapping
            .iter()
            .any(|m| m.target == ScimTarget::UserName)
        {
            return Err(InvalidInput::new(
                "attribute_mapping",
                "a mapping for userName is required",
            ));
        }
        let mut seen = BTreeSet::new();
        for m in &self.attribute_mapping {
            if !seen.insert(m.target.to_string()) {
                return Err(InvalidInput::new(
                    "attribute_mapping",
                    format!("{} is mapped twice", m.target),
                ));
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(InvalidInput::new("max_attempts", "must be 1 to 100"));
        }
        Ok(())
    }
}

fn check_secret(field: &'static str, s: &Secret) -> Result<(), InvalidInput> {
    let v = s.expose();
    if v.is_empty() || v.len() > 4096 || v.chars().any(|c| c.is_control() || c == ' ') {
        return Err(InvalidInput::new(
            field,
            "must be 1 to 4096 characters without spaces or control characters",
        ));
    }
    Ok(())
}

/// Whether `host` (as in a URL) names the local machine: `localhost`, `*.localhost`, 127.0.0.0/8, `::1`.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => {
            IpAddr::V6(*ip).is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Checks an outgoing URL (SCIM base URL, token endpoint): absolute, `https`, no credentials or
/// fragment, at most [`MAX_URL_LEN`], and not a host known to be non-public (an IP literal
/// outside the public ranges of [`crate::net::is_public`], or a `localhost` name). `allow_private`
/// is the server's "allow private network targets" switch (`Config::metadata_fetch_allow_private`,
/// tests and local demos only): it lifts the address rule and permits plain `http`. This is the
/// save-time check; the addresses actually connected to are checked again at delivery time (host
/// names by [`crate::net::PublicResolver`] on every connection, IP literals when the client is
/// built, [`super::egress`]).
pub fn validate_url(
    field: &'static str,
    text: &str,
    allow_private: bool,
) -> Result<url::Url, InvalidInput> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_URL_LEN {
        return Err(InvalidInput::new(
            field,
            format!("must be an https URL of at most {MAX_URL_LEN} characters"),
        ));
    }
    let url = url::Url::parse(text)
        .map_err(|_| InvalidInput::new(field, "is not a valid absolute URL"))?;
    let host = url
        .host()
        .ok_or_else(|| InvalidInput::new(field, "must have a host"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err(InvalidInput::new(
                field,
                "must use https (plain http only when private network targets are allowed on \
                 this server)",
            ));
        }
        _ => return Err(InvalidInput::new(field, "must be an https URL")),
    }
    if !allow_private
        && (is_loopback_host(&host) || crate::net::check_url_host(&url, false).is_err())
    {
        return Err(InvalidInput::new(
            field,
            "must not point to a loopback, private, link-local or otherwise non-public address \
             (private network targets are not allowed on this server)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidInput::new(
            field,
            "must not contain credentials (configure them under auth)",
        ));
    }
    if url.fragment().is_some() {
        return Err(InvalidInput::new(field, "must not contain a fragment"));
    }
    Ok(url)
}

/// The secret-free authentication view.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct AuthView {
    /// `bearer_token`, `client_credentials`, or absent when not configured.
    pub mode: Option<AuthMode>,
    /// Whether an access token is stored (bearer token mode; the token itself is never returned).
    pub has_access_token: bool,
    /// Token endpoint (client credentials mode).
    pub token_endpoint: Option<String>,
    /// Client id (client credentials mode).
    pub client_id: Option<String>,
    /// Whether a client secret is stored (never returned).
    pub has_client_secret: bool,
    /// Client authentication method (client credentials mode).
    pub authn_method: Option<AuthnMethod>,
}

/// The provisioning configuration of an application as the API returns it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProvisioningView {
    /// The application.
    pub app_id: String,
    /// Whether a configuration was saved (otherwise these are the defaults).
    pub configured: bool,
    /// Whether accounts are provisioned.
    pub enabled: bool,
    /// `scim2`.
    pub protocol: Protocol,
    /// SCIM base URL.
    pub base_url: String,
    /// Authentication (secrets masked).
    pub auth: AuthView,
    /// Org units and groups in scope.
    pub scope: ProvisioningScope,
    /// Allowed actions (URNs).
    pub actions: Actions,
    /// Attribute mapping.
    pub attribute_mapping: Vec<AttributeMapping>,
    /// Delete or disable leavers.
    pub deprovision_mode: DeprovisionMode,
    /// Target quirks.
    pub compatibility: Compatibility,
    /// Delivery attempts before dead-lettering.
    pub max_attempts: u32,
    /// Last change (unix seconds), when configured.
    pub updated_at: Option<i64>,
}

/// Authentication as submitted. A secret left out keeps the stored one (when the mode is unchanged).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AuthInput {
    /// `bearer_token` or `client_credentials`.
    pub mode: AuthMode,
    /// Bearer token (write-only).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Token endpoint (client credentials).
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Client id (client credentials).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Client secret (write-only).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Client authentication method (default `client_secret_basic`).
    #[serde(default)]
    pub authn_method: Option<AuthnMethod>,
}

/// One attribute mapping as submitted.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MappingInput {
    /// SCIM attribute path (`userName`, `name.givenName`, `emails[type eq "work"].value`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, …).
    pub target: String,
    /// Attribute expression (`user.username`, `user.customFieldMap.dept.fieldValue`, `"constant"`, …).
    pub expression: String,
    /// Lower-case the value (Cloud SSO and RAM compare user names case-insensitively).
    #[serde(default)]
    pub lowercase: bool,
}

/// The whole provisioning configuration as submitted (`PUT …/provisioning`). Fields left out keep
/// their stored value (or the template default when nothing was saved yet); secrets left out keep
/// the stored secret.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProvisioningInput {
    /// Turn provisioning on or off (default: keep).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `scim2` (the only protocol).
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// SCIM base URL (`https://…/scim/v2`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Authentication.
    #[serde(default)]
    pub auth: Option<AuthInput>,
    /// Org units and groups in scope.
    #[serde(default)]
    pub scope: Option<ProvisioningScope>,
    /// Allowed actions (URNs).
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// The complete attribute mapping (replaces the stored one).
    #[serde(default)]
    pub attribute_mapping: Option<Vec<MappingInput>>,
    /// `delete` or `disable`.
    #[serde(default)]
    pub deprovision_mode: Option<DeprovisionMode>,
    /// `standard` or `aws_iam_identity_center`.
    #[serde(default)]
    pub compatibility: Option<Compatibility>,
    /// Delivery attempts before dead-lettering (1–100).
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl ProvisioningInput {
    /// Applies the input to `current` (stored or defaults) and returns the new configuration
    /// (not yet validated against the database; [`ProvisioningConfig::validate`] not yet run).
    ///
    /// A stored secret is kept only while it keeps going where it went: when the base URL changes
    /// (bearer token: the token is sent there; client credentials: the access token is), or the
    /// token endpoint changes (client credentials: the client secret is sent there), the secret
    /// must be submitted again, so that whoever may edit the URLs cannot redirect a stored
    /// credential they do not know to a server of their choosing.
    pub fn apply(self, current: &ProvisioningConfig, now: i64) -> Result<ProvisioningConfig> {
        let secret_given = self.auth.as_ref().is_some_and(|a| {
            non_empty(match a.mode {
                AuthMode::BearerToken => a.access_token.as_deref(),
                AuthMode::ClientCredentials => a.client_secret.as_deref(),
            })
            .is_some()
        });
        let next = self.apply_fields(current, now)?;
        if !secret_given {
            check_secret_destination(current, &next)?;
        }
        Ok(next)
    }

    fn apply_fields(self, current: &ProvisioningConfig, now: i64) -> Result<ProvisioningConfig> {
        let mut next = current.clone();
        next.updated_at = now;
        if let Some(e) = self.enabled {
            next.enabled = e;
        }
        if let Some(p) = self.protocol {
            next.protocol = p;
        }
        if let Some(url) = self.base_url {
            next.base_url = url.trim().trim_end_matches('/').to_owned();
        }
        if let Some(a) = self.auth {
            next.auth = Some(apply_auth(a, current.auth.as_ref())?);
        }
        if let Some(scope) = self.scope {
            next.scope = scope.normalized();
        }
        if let Some(actions) = self.actions {
            next.actions = Actions::parse(&actions)?;
        }
        if let Some(mappings) = self.attribute_mapping {
            next.attribute_mapping = parse_mappings(&mappings)?;
        }
        if let Some(d) = self.deprovision_mode {
            next.deprovision_mode = d;
        }
        if let Some(c) = self.compatibility {
            next.compatibility = c;
        }
        if let Some(n) = self.max_attempts {
            next.max_attempts = n;
        }
        Ok(next)
    }
}

/// Refuses a kept (not resubmitted) secret whose destination changed between `current` and
/// `next` (see [`ProvisioningInput::apply`]).
fn check_secret_destination(current: &ProvisioningConfig, next: &ProvisioningConfig) -> Result<()> {
    let base_changed = next.base_url != current.base_url;
    match &next.auth {
        None => Ok(()),
        Some(ProvisioningAuth::BearerToken { .. }) if base_changed => Err(Error::invalid(
            "auth.access_token",
            "must be entered again when base_url changes (a stored token is never sent to a new \
             URL)",
        )),
        Some(ProvisioningAuth::BearerToken { .. }) => Ok(()),
        Some(ProvisioningAuth::ClientCredentials { token_endpoint, .. }) => {
            let endpoint_changed = !matches!(
                &current.auth,
                Some(ProvisioningAuth::ClientCredentials { token_endpoint: old, .. })
                    if old == token_endpoint
            );
            if base_changed || endpoint_changed {
                Err(Error::invalid(
                    "auth.client_secret",
                    "must be entered again when base_url or auth.token_endpoint changes (a \
                     stored secret is never sent to a new URL)",
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn apply_auth(input: AuthInput, current: Option<&ProvisioningAuth>) -> Result<ProvisioningAuth> {
    match input.mode {
        AuthMode::BearerToken => {
            let access_token = match (non_empty(input.access_token.as_deref()), current) {
                (Some(t), _) => Secret::new(t),
                (None, Some(ProvisioningAuth::BearerToken { access_token })) => {
                    access_token.clone()
                }
                (None, _) => {
                    return Err(Error::invalid(
                        "auth.access_token",
                        "is required for bearer_token",
                    ));
                }
            };
            Ok(ProvisioningAuth::BearerToken { access_token })
        }
        AuthMode::ClientCredentials => {
            let kept = match current {
                Some(ProvisioningAuth::ClientCredentials { client_secret, .. }) => {
                    Some(client_secret.clone())
                }
                _ => None,
            };
            let client_secret = match (non_empty(input.client_secret.as_deref()), kept) {
                (Some(s), _) => Secret::new(s),
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(Error::invalid(
                        "auth.client_secret",
                        "is required for client_credentials",
                    ));
                }
            };
            Ok(ProvisioningAuth::ClientCredentials {
                token_endpoint: non_empty(input.token_endpoint.as_deref()).ok_or_else(|| {
                    Error::invalid("auth.token_endpoint", "is required for client_credentials")
                })?,
                client_id: non_empty(input.client_id.as_deref()).ok_or_else(|| {
                    Error::invalid("auth.client_id", "is required for client_credentials")
                })?,
                client_secret,
                authn_method: input.authn_method.unwrap_or_default(),
            })
        }
    }
}

/// Parses submitted mappings; errors name the entry (`attribute_mapping[2]: …`).
pub fn parse_mappings(input: &[MappingInput]) -> Result<Vec<AttributeMapping>, InvalidInput> {
    input
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let target = ScimTarget::parse(&m.target).map_err(|e| {
                InvalidInput::new("attribute_mapping", format!("[{i}].target: {e}"))
            })?;
            let expression = AttributeExpr::parse(&m.expression).map_err(|e| {
                InvalidInput::new("attribute_mapping", format!("[{i}].expression: {e}"))
            })?;
            Ok(AttributeMapping {
                target,
                expression,
                lowercase: m.lowercase,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Sealed storage form of the `auth` column.

/// Associated data binding a sealed secret to its application and purpose.
fn seal_id(app_id: &str, what: &str) -> String {
    format!("provisioning:{app_id}:{what}")
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
enum StoredAuth {
    BearerToken {
        access_token_enc: String,
    },
    ClientCredentials {
        token_endpoint: String,
        client_id: String,
        client_secret_enc: String,
        authn_method: AuthnMethod,
    },
}

fn seal_err(e: web::master_key::SealError) -> Error {
    Error::Internal(format!("sealing a provisioning secret: {e}"))
}

/// The `auth` column text for `auth` (secrets sealed with `master`, bound to `app_id`).
pub fn seal_auth(
    master: &MasterKey,
    app_id: &str,
    auth: Option<&ProvisioningAuth>,
) -> Result<String> {
    let stored = match auth {
        None => return Ok("{}".to_owned()),
        Some(ProvisioningAuth::BearerToken { access_token }) => StoredAuth::BearerToken {
            access_token_enc: master
                .seal(
                    &seal_id(app_id, "access_token"),
                    access_token.expose().as_bytes(),
                )
                .map_err(seal_err)?,
        },
        Some(ProvisioningAuth::ClientCredentials {
            token_endpoint,
            client_id,
            client_secret,
            authn_method,
        }) => StoredAuth::ClientCredentials {
            token_endpoint: token_endpoint.clone(),
            client_id: client_id.clone(),
            client_secret_enc: master
                .seal(
                    &seal_id(app_id, "client_secret"),
                    client_secret.expose().as_bytes(),
                )
                .map_err(seal_err)?,
            authn_method: *authn_method,
        },
    };
    serde_json::to_string(&stored).map_err(|e| Error::Internal(format!("json encode: {e}")))
}

fn open_secret(master: &MasterKey, app_id: &str, what: &str, sealed: &str) -> Result<Secret> {
    let plain = master
        .open(&seal_id(app_id, what), sealed)
        .map_err(|e| Error::Corrupt(format!("provisioning_configs.auth {what}: {e}")))?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| Error::Corrupt(format!("provisioning_configs.auth {what}: not UTF-8")))?;
    Ok(Secret::new(text))
}

/// Opens the `auth` column text written by [`seal_auth`].
pub fn open_auth(master: &MasterKey, app_id: &str, text: &str) -> Result<Option<ProvisioningAuth>> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::Corrupt(format!("provisioning_configs.auth: {e}")))?;
    if value.get("mode").is_none() {
        return Ok(None);
    }
    let stored: StoredAuth = serde_json::from_value(value)
        .map_err(|e| Error::Corrupt(format!("provisioning_configs.auth: {e}")))?;
    Ok(Some(match stored {
        StoredAuth::BearerToken { access_token_enc } => ProvisioningAuth::BearerToken {
            access_token: open_secret(master, app_id, "access_token", &access_token_enc)?,
        },
        StoredAuth::ClientCredentials {
            token_endpoint,
            client_id,
            client_secret_enc,
            authn_method,
        } => ProvisioningAuth::ClientCredentials {
            token_endpoint,
            client_id,
            client_secret: open_secret(master, app_id, "client_secret", &client_secret_enc)?,
            authn_method,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(validate_url("u", "https://example.com/scim/v2", false).is_ok());
        assert!(validate_url("u", "https://8.8.8.8/scim/v2", false).is_ok());
        assert!(validate_url("u", "https://[2606:4700::1111]/scim", false).is_ok());
        // Loopback: plain http or https, literal or localhost name, refused unless private
        // network targets are allowed.
        for url in [
            "http://127.0.0.1:8080/scim",
            "https://127.0.0.1:8080/scim",
            "http://localhost/scim",
            "https://localhost/scim",
            "https://app.localhost./scim",
            "http://[::1]:9/scim",
            "https://[::1]:9/scim",
        ] {
            assert!(validate_url("u", url, false).is_err(), "{url}");
            assert!(validate_url("u", url, true).is_ok(), "{url}");
        }
        // Private, link-local (cloud metadata), CGNAT, unique-local, mapped and other
        // non-public literals.
        for url in [
            "https://10.0.0.5/scim",
            "https://10.255.255.255:8443/scim",
            "https://172.16.3.4/scim",
            "https://192.168.1.1/scim",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/scim",
            "https://0.0.0.0/scim",
            "https://[fc00::1]/scim",
            "https://[fd12:3456::1]/scim",
            "https://[fe80::1]/scim",
            "https://[::ffff:127.0.0.1]/scim",
            "https://[::ffff:10.0.0.1]/scim",
            // Other spellings the URL parser normalizes to a private IPv4 address.
            "https://2130706433/scim",
            "https://0x7f.1/scim",
            "https://10.1/scim",
        ] {
            let e = validate_url("u", url, false).unwrap_err();
            assert!(e.to_string().contains("non-public address"), "{url}: {e}");
            assert!(validate_url("u", url, true).is_ok(), "{url}");
        }
        assert!(validate_url("u", "http://example.com/scim", false).is_err());
        assert!(validate_url("u", "http://example.com/scim", true).is_ok());
        assert!(validate_url("u", "ftp://example.com/scim", true).is_err());
        assert!(validate_url("u", "https://user:pw@example.com/", false).is_err());
        assert!(validate_url("u", "https://example.com/#x", false).is_err());
        assert!(validate_url("u", "/relative", false).is_err());
        assert!(validate_url("u", "", false).is_err());
    }

    #[test]
    fn actions_parse_and_serialize() {
        let a = Actions::parse(&[
            "urn:alibaba:idaas:app:scim:User:CREATE",
            "urn:alibaba:idaas:app:scim:Group:DELETE",
        ])
        .unwrap();
        assert!(a.contains(Action::UserCreate));
        assert!(a.groups());
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!([
                "urn:alibaba:idaas:app:scim:User:CREATE",
                "urn:alibaba:idaas:app:scim:Group:DELETE"
            ])
        );
        assert!(Actions::parse(&["urn:alibaba:idaas:app:scim:User:EXPLODE"]).is_err());
    }

    #[test]
    fn auth_seals_and_opens() {
        let master = MasterKey::new(&[7; 32]).unwrap();
        let auth = ProvisioningAuth::ClientCredentials {
            token_endpoint: "https://idp.example.com/token".into(),
            client_id: "cid".into(),
            client_secret: Secret::new("s3cret-value"),
            authn_method: AuthnMethod::ClientSecretPost,
        };
        let text = seal_auth(&master, "app_1", Some(&auth)).unwrap();
        assert!(!text.contains("s3cret-value"));
        assert_eq!(open_auth(&master, "app_1", &text).unwrap(), Some(auth));
        // Bound to the application.
        assert!(open_auth(&master, "app_2", &text).is_err());
        assert_eq!(open_auth(&master, "app_1", "{}").unwrap(), None);
        assert_eq!(
            format!("{:?}", Secret::new("x")),
            "Secret(<redacted>)".to_owned()
        );
    }

    #[test]
    fn input_keeps_secret_when_left_out() {
        let mut cur = ProvisioningConfig::defaults("app_1", "inst_1", None, 0);
        cur.auth = Some(ProvisioningAuth::BearerToken {
            access_token: Secret::new("tok"),
        });
        let input = ProvisioningInput {
            auth: Some(AuthInput {
                mode: AuthMode::BearerToken,
                access_token: None,
                token_endpoint: None,
                client_id: None,
                client_secret: None,
                authn_method: None,
            }),
            ..ProvisioningInput::default()
        };
        let next = input.apply(&cur, 5).unwrap();
        assert_eq!(next.auth, cur.auth);
        // Switching mode requires the new secret.
        let input = ProvisioningInput {
            auth: Some(AuthInput {
                mode: AuthMode::ClientCredentials,
                access_token: None,
                token_endpoint: Some("https://t.example.com/token".into()),
                client_id: Some("c".into()),
                client_secret: None,
                authn_method: None,
            }),
            ..ProvisioningInput::default()
        };
        assert!(input.apply(&cur, 5).is_err());
    }

    fn auth_input(mode: AuthMode, secret: Option<&str>, endpoint: Option<&str>) -> AuthInput {
        AuthInput {
            mode,
            access_token: secret
                .filter(|_| mode == AuthMode::BearerToken)
                .map(Into::into),
            token_endpoint: endpoint.map(Into::into),
            client_id: endpoint.map(|_| "c".into()),
            client_secret: secret
                .filter(|_| mode == AuthMode::ClientCredentials)
                .map(Into::into),
            authn_method: None,
        }
    }

    fn invalid_field(e: &Error) -> String {
        match e {
            Error::Invalid(i) => i.to_string(),
            other => panic!("not invalid input: {other:?}"),
        }
    }

    #[test]
    fn stored_secret_is_not_sent_to_a_new_url() {
        let mut bearer = ProvisioningConfig::defaults("app_1", "inst_1", None, 0);
        bearer.base_url = "https://scim.example.com/v2".into();
        bearer.auth = Some(ProvisioningAuth::BearerToken {
            access_token: Secret::new("tok"),
        });
        let moved = |url: &str, auth: Option<AuthInput>| ProvisioningInput {
            base_url: Some(url.into()),
            auth,
            ..ProvisioningInput::default()
        };
        // Bearer: same URL (also re-spelled with a trailing slash) keeps the token, a new URL
        // with or without an auth section needs it again.
        for auth in [None, Some(auth_input(AuthMode::BearerToken, None, None))] {
            let next = moved("https://scim.example.com/v2/", auth.clone())
                .apply(&bearer, 1)
                .unwrap();
            assert_eq!(next.auth, bearer.auth);
            let e = moved("https://evil.example.net/v2", auth)
                .apply(&bearer, 1)
                .unwrap_err();
            let msg = invalid_field(&e);
            assert!(
                msg.contains("auth.access_token") && msg.contains("entered again"),
                "{msg}"
            );
        }
        let next = moved(
            "https://new.example.com/v2",
            Some(auth_input(AuthMode::BearerToken, Some("tok2"), None)),
        )
        .apply(&bearer, 1)
        .unwrap();
        assert_eq!(next.base_url, "https://new.example.com/v2");
        assert_eq!(
            next.auth,
            Some(ProvisioningAuth::BearerToken {
                access_token: Secret::new("tok2")
            })
        );
        // Other fields alone keep the token.
        let next = ProvisioningInput {
            max_attempts: Some(3),
            ..ProvisioningInput::default()
        }
        .apply(&bearer, 1)
        .unwrap();
        assert_eq!(next.auth, bearer.auth);

        // Client credentials: a new token endpoint or a new base URL needs the secret again.
        const EP: &str = "https://login.example.com/token";
        let mut cc = bearer.clone();
        cc.auth = Some(ProvisioningAuth::ClientCredentials {
            token_endpoint: EP.into(),
            client_id: "c".into(),
            client_secret: Secret::new("s3cret"),
            authn_method: AuthnMethod::ClientSecretBasic,
        });
        let same = ProvisioningInput {
            auth: Some(auth_input(AuthMode::ClientCredentials, None, Some(EP))),
            ..ProvisioningInput::default()
        };
        assert_eq!(same.apply(&cc, 1).unwrap().auth, cc.auth);
        for input in [
            ProvisioningInput {
                auth: Some(auth_input(
                    AuthMode::ClientCredentials,
                    None,
                    Some("https://evil.example.net/token"),
                )),
                ..ProvisioningInput::default()
            },
            moved(
                "https://evil.example.net/v2",
                Some(auth_input(AuthMode::ClientCredentials, None, Some(EP))),
            ),
            moved("https://evil.example.net/v2", None),
        ] {
            let msg = invalid_field(&input.apply(&cc, 1).unwrap_err());
            assert!(
                msg.contains("auth.client_secret") && msg.contains("entered again"),
                "{msg}"
            );
        }
        let next = ProvisioningInput {
            auth: Some(auth_input(
                AuthMode::ClientCredentials,
                Some("s2"),
                Some("https://login2.example.com/token"),
            )),
            ..moved("https://new.example.com/v2", None)
        }
        .apply(&cc, 1)
        .unwrap();
        assert!(matches!(
            next.auth,
            Some(ProvisioningAuth::ClientCredentials { ref client_secret, .. })
                if client_secret.expose() == "s2"
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Services: read and change an application's provisioning configuration.

mod service {
    use serde_json::json;
    use sqlx::Row;

    use super::{ProvisioningConfig, ProvisioningInput, ProvisioningScope, ProvisioningView};
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store::{self, Conn};

    /// Refuses scope entries that are not org units / groups of `instance_id`.
    async fn check_scope(
        conn: &mut Conn,
        instance_id: &str,
        scope: &ProvisioningScope,
    ) -> Result<()> {
        for (table, ids, field, what) in [
            (
                "org_units",
                &scope.org_unit_ids,
                "scope.org_unit_ids",
                "organizational unit",
            ),
            ("groups", &scope.group_ids, "scope.group_ids", "group"),
        ] {
            if ids.is_empty() {
                continue;
            }
            let ph: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM {table} WHERE instance_id = $1 AND id IN ({})",
                ph.join(", ")
            )))
            .bind(instance_id.to_owned());
            for id in ids {
                q = q.bind(id.clone());
            }
            let found: std::collections::HashSet<String> = q
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?;
            if let Some(missing) = ids.iter().find(|id| !found.contains(*id)) {
                return Err(Error::invalid(field, format!("unknown {what} {missing:?}")));
            }
        }
        Ok(())
    }

    impl Services {
        /// The saved provisioning configuration of an application of `instance_id`, if any
        /// (secrets opened; never hand it to the API as is: see [`ProvisioningConfig::view`]).
        pub async fn get_provisioning(
            &self,
            instance_id: &str,
            app_id: &str,
        ) -> Result<Option<ProvisioningConfig>> {
            let mut conn = self.store.read().await?;
            store::application::get(&mut conn, instance_id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            store::provisioning_config::get(&mut conn, &self.master_key, app_id).await
        }

        /// The provisioning configuration as the API shows it: the saved one, or the template's
        /// defaults (`configured: false`).
        pub async fn provisioning_view(
            &self,
            instance_id: &str,
            app_id: &str,
        ) -> Result<ProvisioningView> {
            let mut conn = self.store.read().await?;
            let app = store::application::get(&mut conn, instance_id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            Ok(
                match store::provisioning_config::get(&mut conn, &self.master_key, app_id).await? {
                    Some(cfg) => cfg.view(true),
                    None => ProvisioningConfig::defaults(
                        app_id,
                        instance_id,
                        app.template_id.as_deref(),
                        self.now(),
                    )
                    .view(false),
                },
            )
        }

        /// Saves an application's provisioning configuration (fields left out keep their value).
        ///
        /// When provisioning is on afterwards and it was just enabled, or its scope, mapping,
        /// actions, deprovisioning mode or compatibility changed, every user and group in scope
        /// and every object pushed before is enqueued in the same transaction (leavers get
        /// deprovisioned). Audited without secrets.
        pub async fn put_provisioning(
            &self,
            actor: &Actor,
            instance_id: &str,
            app_id: &str,
            input: ProvisioningInput,
        ) -> Result<ProvisioningConfig> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let app = store::application::get(&mut tx, instance_id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            let stored = store::provisioning_config::get(&mut tx, &self.master_key, app_id).await?;
            let current = stored.clone().unwrap_or_else(|| {
                ProvisioningConfig::defaults(app_id, instance_id, app.template_id.as_deref(), now)
            });
            let secret_sent = input.auth.as_ref().is_some_and(|a| {
                a.access_token
                    .as_deref()
                    .is_some_and(|t| !t.trim().is_empty())
                    || a.client_secret
                        .as_deref()
                        .is_some_and(|t| !t.trim().is_empty())
            });
            let next = input.apply(&current, now)?;
            next.validate(self.config.metadata_fetch_allow_private)?;
            check_scope(&mut tx, instance_id, &next.scope).await?;
            store::provisioning_config::upsert(&mut tx, &self.master_key, &next).await?;

            let was_enabled = stored.as_ref().is_some_and(|c| c.enabled);
            let reach_changed = stored.as_ref().is_none_or(|c| {
                c.scope != next.scope
                    || c.attribute_mapping != next.attribute_mapping
                    || c.actions != next.actions
                    || c.deprovision_mode != next.deprovision_mode
                    || c.compatibility != next.compatibility
            });
            let enqueued = if next.enabled && (!was_enabled || reach_changed) {
                store::outbox_enqueue::enqueue_app_scope(&mut tx, &next, now).await?
            } else {
                0
            };
            let verb = match (was_enabled, next.enabled) {
                (false, true) => "enable_provisioning",
                (true, false) => "disable_provisioning",
                _ => "update_provisioning",
            };
            let event = NewAuditEvent::new(Some(instance_id), actor, "application", verb)
                .target("application", app_id)
                .detail(json!({
                    "enabled": next.enabled,
                    "base_url": next.base_url,
                    "auth_mode": next.auth.as_ref().map(|a| a.mode().as_str()),
                    "secret_changed": secret_sent,
                    "org_unit_ids": next.scope.org_unit_ids,
                    "group_ids": next.scope.group_ids,
                    "actions": next.actions,
                    "deprovision_mode": next.deprovision_mode.as_str(),
                    "compatibility": next.compatibility.as_str(),
                    "enqueued": enqueued,
                }));
            store::audit::append(&mut tx, &event, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(next)
        }
    }
}
