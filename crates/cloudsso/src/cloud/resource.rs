//! The objects of the built-in resource directory: accounts and their RAM roles, users, custom
//! policies, SAML providers, policy attachments, STS credentials and console sessions.

use serde::Serialize;
use utoipa::ToSchema;

/// An account of the resource directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CloudAccount {
    /// 16-digit account ID.
    pub id: String,
    /// The Cloud SSO directory whose resource directory holds it.
    pub directory_id: String,
    /// Display name.
    pub name: String,
    /// Folder path in the resource directory, e.g. `/` or `/Production`.
    pub folder: String,
    /// Whether this is the management account.
    pub is_management: bool,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

/// A RAM SAML provider (the IdP a role-based SSO trusts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SamlProvider {
    /// Account holding it.
    pub account_id: String,
    /// Provider name.
    pub name: String,
    /// `acs:ram::{account}:saml-provider/{name}`.
    pub arn: String,
    /// Description.
    pub description: String,
    /// The trusted IdP's entity ID (the Issuer it must send).
    pub idp_entity_id: String,
    /// The trusted IdP signing certificates (base64 DER).
    pub certificates: Vec<String>,
    /// Created by Cloud SSO (`AliyunReservedSSO-…`): cannot be changed or deleted through RAM.
    pub reserved: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A RAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Role {
    /// Account holding it.
    pub account_id: String,
    /// Role name.
    pub name: String,
    /// `acs:ram::{account}:role/{name}`.
    pub arn: String,
    /// Numeric role ID.
    pub role_id: String,
    /// Description.
    pub description: String,
    /// The trust policy (who may assume it).
    pub trust_policy: String,
    /// Longest session in seconds.
    pub max_session_duration: i64,
    /// Created by Cloud SSO: cannot be changed or deleted through RAM.
    pub reserved: bool,
    /// Attached policies.
    pub policies: Vec<PolicyRef>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A RAM user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RamUser {
    /// Account holding it.
    pub account_id: String,
    /// User name.
    pub name: String,
    /// Numeric user ID.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// The RAM user provisioning that manages it, if any.
    pub provisioning_id: Option<String>,
    /// The Cloud SSO user it stands for, if provisioned.
    pub sso_user_id: Option<String>,
    /// Attached policies.
    pub policies: Vec<PolicyRef>,
    /// Creation time.
    pub created_at: i64,
}

/// `System` (the catalogue) or `Custom` (a policy of the account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub enum PolicyType {
    /// A system policy of the catalogue.
    System,
    /// A custom policy of the account.
    Custom,
}

impl PolicyType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::System => "System",
            PolicyType::Custom => "Custom",
        }
    }

    /// Parses the database / API text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "System" => Some(PolicyType::System),
            "Custom" => Some(PolicyType::Custom),
            _ => None,
        }
    }
}

/// A reference to a policy attached to a role or user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PolicyRef {
    /// System or Custom.
    pub policy_type: PolicyType,
    /// Policy name.
    pub policy_name: String,
}

/// A custom policy of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CustomPolicy {
    /// Account holding it.
    pub account_id: String,
    /// Policy name.
    pub name: String,
    /// Description.
    pub description: String,
    /// RAM policy JSON.
    pub document: String,
    /// Created by Cloud SSO: cannot be changed or deleted through RAM.
    pub reserved: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A policy with its document, as the console shows effective permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EffectivePolicy {
    /// System or Custom.
    pub policy_type: PolicyType,
    /// Policy name.
    pub policy_name: String,
    /// RAM policy JSON.
    pub document: String,
}

/// A stored STS credential (the secret stays sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// `STS.…`.
    pub access_key_id: String,
    /// The secret sealed with the master key (record id = access key id).
    pub secret_enc: String,
    /// SHA-256 of the SecurityToken.
    pub token_hash: String,
    /// The account.
    pub account_id: String,
    /// The assumed role.
    pub role_name: String,
    /// Its ID.
    pub role_id: String,
    /// RoleSessionName.
    pub session_name: String,
    /// The SAML provider that vouched.
    pub provider_arn: String,
    /// Issued at.
    pub created_at: i64,
    /// Expires at.
    pub expires_at: i64,
}

/// Who a cloud console session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum IdentityType {
    /// A role session (role-based SSO).
    AssumedRoleUser,
    /// A RAM user (user-based SSO).
    RamUser,
}

impl IdentityType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityType::AssumedRoleUser => "AssumedRoleUser",
            IdentityType::RamUser => "RAMUser",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "AssumedRoleUser" => Some(IdentityType::AssumedRoleUser),
            "RAMUser" => Some(IdentityType::RamUser),
            _ => None,
        }
    }
}

/// A console session of the built-in cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The account.
    pub account_id: String,
    /// Role session or RAM user.
    pub identity_type: IdentityType,
    /// Role name or RAM user name.
    pub principal_name: String,
    /// RoleSessionName (or the RAM user name).
    pub session_name: String,
    /// Opened at.
    pub created_at: i64,
    /// Expires at.
    pub expires_at: i64,
}

/// A new random account ID (16 digits, not starting with 0).
pub fn new_account_id() -> String {
    random_digits(16, '1')
}

/// A new random role or user ID (`3` or `2` followed by 18 digits, like RAM's).
pub fn new_principal_id(first: char) -> String {
    random_digits(19, first)
}

fn random_digits(len: usize, first: char) -> String {
    let mut buf = vec![0u8; len];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut buf);
    }
    let mut out = String::with_capacity(len);
    for (i, b) in buf.iter().enumerate() {
        if i == 0 {
            out.push(if first == '1' {
                char::from(b'1' + b % 9)
            } else {
                first
            });
        } else {
            out.push(char::from(b'0' + b % 10));
        }
    }
    out
}
