//! Applications (products.md §1.2–1.4, §1.8): an SSO-enabled service provider registered in an
//! instance, with its SAML configuration, authorization type and application accounts.
//!
//! The SAML configuration is one typed value ([`SamlConfig`]) stored as JSON. It is validated as a
//! whole whenever it changes ([`SamlConfig::validate`]); SSO additionally needs the SP fields to be
//! filled in ([`SamlConfig::sp_binding`]), because a template app is created before the admin knows
//! the SP's ACS URL and entity ID (seed guide, Step 1).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::attribute_expr::{AttributeExpr, EvalContext};

/// Longest RelayState we store or pass through.
pub const MAX_RELAY_STATE_LEN: usize = 1024;
/// Longest entity ID accepted (SAML core limits entityID to 1024 characters).
pub const MAX_ENTITY_ID_LEN: usize = 1024;
/// Most attribute statements per application.
pub const MAX_ATTRIBUTE_STATEMENTS: usize = 64;
/// Most optional RelayStates per application.
pub const MAX_OPTIONAL_RELAY_STATES: usize = 20;
/// Most SP certificates per application.
pub const MAX_SP_CERTIFICATES: usize = 4;

/// Where the application came from (`ApplicationSourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// Created from a marketplace template; the template's simplified form applies.
    Template,
    /// A standard-protocol application (or a template app converted to it).
    Standard,
}

impl SourceType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Template => "template",
            SourceType::Standard => "standard",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "template" => Some(SourceType::Template),
            "standard" => Some(SourceType::Standard),
            _ => None,
        }
    }
}

/// Enabled/disabled, for both the application and its SSO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// On.
    Enabled,
    /// Off.
    Disabled,
}

impl Status {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(Status::Enabled),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }

    /// Console label (`Enabled` / `Disabled`).
    pub fn label(self) -> &'static str {
        match self {
            Status::Enabled => "Enabled",
            Status::Disabled => "Disabled",
        }
    }
}

/// Who may use the application (products.md §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationType {
    /// Every enabled account of the instance ("All Users").
    DefaultAll,
    /// Only accounts covered by a grant to the user, one of its org units (or an ancestor), or a group.
    AuthorizeRequired,
}

impl AuthorizationType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationType::DefaultAll => "default_all",
            AuthorizationType::AuthorizeRequired => "authorize_required",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "default_all" => Some(AuthorizationType::DefaultAll),
            "authorize_required" => Some(AuthorizationType::AuthorizeRequired),
            _ => None,
        }
    }
}

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Application {
    /// `app_…`, globally unique.
    pub id: String,
    /// Owning instance.
    pub instance_id: String,
    /// Display name.
    pub name: String,
    /// Marketplace template it was created from (kept after conversion).
    pub template_id: Option<String>,
    /// Template or standard.
    pub source_type: SourceType,
    /// Always `saml2` for now (one protocol per app, immutable).
    pub sso_type: String,
    /// Application status.
    pub status: Status,
    /// SSO status.
    pub sso_status: Status,
    /// Authorization scope.
    pub authorization_type: AuthorizationType,
    /// SAML settings.
    pub saml: SamlConfig,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Application {
    /// Whether the app may be used for SSO right now (both switches on).
    pub fn sso_usable(&self) -> bool {
        self.status == Status::Enabled && self.sso_status == Status::Enabled
    }

    /// Whether the template's "smart configuration" is still offered (only before conversion).
    pub fn smart_config_available(&self) -> bool {
        self.source_type == SourceType::Template
            && self
                .template_id
                .as_deref()
                .and_then(crate::marketplace::find)
                .is_some_and(|t| t.smart_config)
    }
}

/// The four NameID formats (`NameIdFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
pub enum NameIdFormat {
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`
    #[default]
    #[serde(rename = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")]
    Unspecified,
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`
    #[serde(rename = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")]
    EmailAddress,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")]
    Persistent,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")]
    Transient,
}

impl NameIdFormat {
    /// Every format, in console order.
    pub const ALL: [NameIdFormat; 4] = [
        NameIdFormat::Unspecified,
        NameIdFormat::EmailAddress,
        NameIdFormat::Persistent,
        NameIdFormat::Transient,
    ];

    /// The format URI.
    pub fn uri(self) -> &'static str {
        match self {
            NameIdFormat::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            NameIdFormat::EmailAddress => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            NameIdFormat::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            NameIdFormat::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        }
    }

    /// Parses a format URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.uri() == uri.trim())
    }

    /// Console label.
    pub fn label(self) -> &'static str {
        match self {
            NameIdFormat::Unspecified => "1.1 Unspecified",
            NameIdFormat::EmailAddress => "1.1 Email address",
            NameIdFormat::Persistent => "2.0 Persistent",
            NameIdFormat::Transient => "2.0 Transient",
        }
    }
}

/// An IDaaS account field usable as the application username.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountField {
    /// IDaaS account name.
    Username,
    /// IDaaS e-mail address.
    Email,
}

/// How the NameID value (the "application account") is chosen (products.md §1.4, options 1–4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AccountMapping {
    /// Option 1: the IDaaS account name or e-mail; no per-user mapping.
    IdaasAccount {
        /// Which field.
        field: AccountField,
    },
    /// Option 2: the mapped application account; SSO fails for users without one.
    ApplicationAccount,
    /// Option 3: the mapped application account, else the given IDaaS field.
    PrimaryApplicationAccount {
        /// Fall-back field.
        fallback: AccountField,
    },
    /// Option 4: an expression (`NameIdValueExpression`).
    Expression {
        /// The expression.
        #[schema(value_type = String)]
        expression: AttributeExpr,
    },
}

impl Default for AccountMapping {
    fn default() -> Self {
        AccountMapping::IdaasAccount {
            field: AccountField::Username,
        }
    }
}

/// Why no NameID value could be produced for a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameIdError {
    /// Option 2 and the user has no application account for this app.
    #[error("no application account is mapped to this user")]
    NoApplicationAccount,
    /// The selected field is empty for this user (e.g. no e-mail).
    #[error("the user has no value for the application account field")]
    MissingValue,
}

impl AccountMapping {
    /// Picks the NameID value for a user.
    pub fn resolve(&self, ctx: &EvalContext<'_>) -> Result<String, NameIdError> {
        let field = |f: AccountField| match f {
            AccountField::Username => Some(ctx.user.username.clone()).filter(|v| !v.is_empty()),
            AccountField::Email => ctx.user.email.clone().filter(|v| !v.is_empty()),
        };
        let app_account = ctx
            .app_username
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        match self {
            AccountMapping::IdaasAccount { field: f } => field(*f).ok_or(NameIdError::MissingValue),
            AccountMapping::ApplicationAccount => {
                app_account.ok_or(NameIdError::NoApplicationAccount)
            }
            AccountMapping::PrimaryApplicationAccount { fallback } => app_account
                .or_else(|| field(*fallback))
                .ok_or(NameIdError::MissingValue),
            AccountMapping::Expression { expression } => {
                expression.eval(ctx).ok_or(NameIdError::MissingValue)
            }
        }
    }
}

/// One `<Attribute>` of the assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributeStatement {
    /// Attribute `Name`.
    pub name: String,
    /// Value expression.
    #[schema(value_type = String)]
    pub value_expression: AttributeExpr,
}

/// A named RelayState offered on the portal card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptionalRelayState {
    /// Link text.
    pub display_name: String,
    /// The RelayState value (usually a URL on the SP side).
    pub relay_state: String,
}

/// Who may start SSO (`InitLoginType`).
///
/// IdP-initiated SSO (an unsolicited Response) is opt-in per application (saml-defense.md rule 8):
/// new applications accept only SP-initiated SSO until an administrator chooses
/// `idaas_or_app_init_sso`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum InitLoginType {
    /// From the IDaaS portal (IdP-initiated) or from the app (SP-initiated). Opt-in.
    IdaasOrAppInitSso,
    /// Only from the app (the default); the portal links to `init_login_url` when one is set.
    #[default]
    OnlyAppInitSso,
}

/// The signature algorithm of responses and assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    #[default]
    #[serde(rename = "RSA-SHA256")]
    RsaSha256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ECDSA-SHA256")]
    EcdsaSha256,
}

impl SignatureAlgorithm {
    /// The signing-key algorithm text in the database (`signing_keys.algorithm`).
    pub fn key_algorithm(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => "rsa-sha256",
            SignatureAlgorithm::EcdsaSha256 => "ecdsa-sha256",
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_validity() -> u32 {
    300
}
fn default_skew() -> u32 {
    120
}

/// Every configurable field of a SAML application (products.md §1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SamlConfig {
    /// SP entity ID (`SpEntityId`); empty until the admin fills it in.
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    /// ACS URL (`SpSsoAcsUrl`); empty until the admin fills it in.
    #[serde(default)]
    pub acs_url: Option<String>,
    /// NameID format.
    #[serde(default)]
    pub name_id_format: NameIdFormat,
    /// Application account = NameID value rule.
    #[serde(default)]
    pub application_account: AccountMapping,
    /// Lower-case the NameID value (Alibaba Cloud targets are case-insensitive).
    #[serde(default)]
    pub name_id_lowercase: bool,
    /// Attribute statements.
    #[serde(default)]
    pub attribute_statements: Vec<AttributeStatement>,
    /// Sign the assertion.
    #[serde(default = "default_true")]
    pub assertion_signed: bool,
    /// Sign the response.
    #[serde(default = "default_true")]
    pub response_signed: bool,
    /// Signature algorithm.
    #[serde(default)]
    pub signature_algorithm: SignatureAlgorithm,
    /// RelayState for IdP-initiated SSO.
    #[serde(default)]
    pub default_relay_state: Option<String>,
    /// Extra named RelayStates on the portal card (need a default one).
    #[serde(default)]
    pub optional_relay_states: Vec<OptionalRelayState>,
    /// Who may start SSO.
    #[serde(default)]
    pub init_login_type: InitLoginType,
    /// Where the portal sends users when only the app may start SSO (optional: without it the
    /// portal tells users to open the application itself).
    #[serde(default)]
    pub init_login_url: Option<String>,
    /// IdP entity ID; default `{instance_base}/api/v2/{app_id}/saml2/meta`.
    #[serde(default)]
    pub idp_entity_id: Option<String>,
    /// Assertion lifetime (NotOnOrAfter - IssueInstant), seconds.
    #[serde(default = "default_validity")]
    pub assertion_validity_secs: u32,
    /// Clock skew granted to the SP (NotBefore is set this far in the past), seconds.
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u32,
    /// Accept another ACS URL from a request signed with the SP's key.
    #[serde(default)]
    pub allow_acs_from_signed_requests: bool,
    /// Refuse AuthnRequests that are not signed with one of `sp_certificates`.
    #[serde(default)]
    pub want_signed_requests: bool,
    /// SP signing certificates (base64 DER) for AuthnRequest signatures.
    #[serde(default)]
    pub sp_certificates: Vec<String>,
}

impl Default for SamlConfig {
    fn default() -> Self {
        Self {
            sp_entity_id: None,
            acs_url: None,
            name_id_format: NameIdFormat::default(),
            application_account: AccountMapping::default(),
            name_id_lowercase: false,
            attribute_statements: Vec::new(),
            assertion_signed: true,
            response_signed: true,
            signature_algorithm: SignatureAlgorithm::default(),
            default_relay_state: None,
            optional_relay_states: Vec::new(),
            init_login_type: InitLoginType::default(),
            init_login_url: None,
            idp_entity_id: None,
            assertion_validity_secs: default_validity(),
            clock_skew_secs: default_skew(),
            allow_acs_from_signed_requests: false,
            want_signed_requests: false,
            sp_certificates: Vec::new(),
        }
    }
}

/// Why a SAML configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `ResponseSigned` and `AssertionSigned` cannot both be false.
    #[error("sign the response, the assertion, or both")]
    NothingSigned,
    /// The ACS URL is not an absolute http(s) URL without fragment.
    #[error("the ACS URL must be an absolute http(s) URL without fragment")]
    InvalidAcsUrl,
    /// An entity ID is empty, too long or contains white space.
    #[error("the {which} entity ID must be 1–1024 characters without white space")]
    InvalidEntityId {
        /// `SP` or `IdP`.
        which: &'static str,
    },
    /// Optional RelayStates need a default RelayState.
    #[error("set a default RelayState before adding optional RelayStates")]
    OptionalRelayStatesWithoutDefault,
    /// A RelayState is empty or longer than [`MAX_RELAY_STATE_LEN`].
    #[error("a RelayState must be 1–{MAX_RELAY_STATE_LEN} characters")]
    InvalidRelayState,
    /// An optional RelayState has no display name.
    #[error("every optional RelayState needs a display name")]
    MissingRelayStateName,
    /// `init_login_url`, when set, must be an http(s) URL.
    #[error("the application's sign-in URL (InitLoginUrl) must be an http(s) URL")]
    MissingInitLoginUrl,
    /// An attribute statement has an empty or duplicated name.
    #[error("attribute names must be non-empty and unique: {0:?}")]
    InvalidAttributeName(String),
    /// Too many entries in a list.
    #[error("too many {0}")]
    TooMany(&'static str),
    /// Validity or skew out of range.
    #[error("assertion validity must be 30–86400 s and clock skew 0–600 s")]
    InvalidTiming,
    /// An SP certificate is not base64 DER X.509.
    #[error("SP certificate {index} is not a base64 DER X.509 certificate")]
    InvalidCertificate {
        /// 0-based index.
        index: usize,
    },
    /// Signed requests are wanted but no SP certificate is configured (fail closed).
    #[error("signed requests need at least one SP certificate")]
    SignedRequestsWithoutCertificate,
}

/// The SP fields SSO cannot work without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpBinding {
    /// SP entity ID.
    pub entity_id: String,
    /// Registered ACS URL.
    pub acs_url: String,
}

fn valid_entity_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_ENTITY_ID_LEN && !value.chars().any(char::is_whitespace)
}

/// Parses an absolute http(s) URL without fragment.
pub fn parse_http_url(value: &str) -> Option<Url> {
    let url = Url::parse(value.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some() && url.fragment().is_none())
        .then_some(url)
}

fn blank_to_none(value: &mut Option<String>) {
    if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
        *value = None;
    } else if let Some(v) = value {
        *v = v.trim().to_owned();
    }
}

impl SamlConfig {
    /// Trims text fields and turns blanks into `None` (forms submit empty strings).
    pub fn normalize(&mut self) {
        blank_to_none(&mut self.sp_entity_id);
        blank_to_none(&mut self.acs_url);
        blank_to_none(&mut self.default_relay_state);
        blank_to_none(&mut self.init_login_url);
        blank_to_none(&mut self.idp_entity_id);
        for s in &mut self.attribute_statements {
            s.name = s.name.trim().to_owned();
        }
        self.sp_certificates = self
            .sp_certificates
            .iter()
            .map(|c| {
                c.chars()
                    .filter(|ch| !ch.is_whitespace())
                    .collect::<String>()
            })
            .filter(|c| !c.is_empty())
            .collect();
    }

    /// Checks every rule that does not depend on other records.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.assertion_signed && !self.response_signed {
            return Err(ConfigError::NothingSigned);
        }
        if let Some(acs) = &self.acs_url
            && parse_http_url(acs).is_none()
        {
            return Err(ConfigError::InvalidAcsUrl);
        }
        if let Some(id) = &self.sp_entity_id
            && !valid_entity_id(id)
        {
            return Err(ConfigError::InvalidEntityId { which: "SP" });
        }
        if let Some(id) = &self.idp_entity_id
            && !valid_entity_id(id)
        {
            return Err(ConfigError::InvalidEntityId { which: "IdP" });
        }
        if let Some(rs) = &self.default_relay_state
            && (rs.is_empty() || rs.len() > MAX_RELAY_STATE_LEN)
        {
            return Err(ConfigError::InvalidRelayState);
        }
        if !self.optional_relay_states.is_empty() && self.default_relay_state.is_none() {
            return Err(ConfigError::OptionalRelayStatesWithoutDefault);
        }
        if self.optional_relay_states.len() > MAX_OPTIONAL_RELAY_STATES {
            return Err(ConfigError::TooMany("optional RelayStates"));
        }
        for o in &self.optional_relay_states {
            if o.display_name.trim().is_empty() {
                return Err(ConfigError::MissingRelayStateName);
            }
            if o.relay_state.is_empty() || o.relay_state.len() > MAX_RELAY_STATE_LEN {
                return Err(ConfigError::InvalidRelayState);
            }
        }
        if let Some(url) = &self.init_login_url
            && parse_http_url(url).is_none()
        {
            return Err(ConfigError::MissingInitLoginUrl);
        }
        if self.attribute_statements.len() > MAX_ATTRIBUTE_STATEMENTS {
            return Err(ConfigError::TooMany("attribute statements"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.attribute_statements {
            if s.name.is_empty() || s.name.len() > 512 || !seen.insert(s.name.as_str()) {
                return Err(ConfigError::InvalidAttributeName(s.name.clone()));
            }
        }
        if !(30..=86_400).contains(&self.assertion_validity_secs) || self.clock_skew_secs > 600 {
            return Err(ConfigError::InvalidTiming);
        }
        if self.sp_certificates.len() > MAX_SP_CERTIFICATES {
            return Err(ConfigError::TooMany("SP certificates"));
        }
        for (index, cert) in self.sp_certificates.iter().enumerate() {
            if !is_certificate(cert) {
                return Err(ConfigError::InvalidCertificate { index });
            }
        }
        if self.want_signed_requests && self.sp_certificates.is_empty() {
            return Err(ConfigError::SignedRequestsWithoutCertificate);
        }
        Ok(())
    }

    /// The SP entity ID and ACS URL, when both are set.
    pub fn sp_binding(&self) -> Option<SpBinding> {
        Some(SpBinding {
            entity_id: self.sp_entity_id.clone()?,
            acs_url: self.acs_url.clone()?,
        })
    }

    /// The IdP entity ID for an app at `instance_base_url`.
    pub fn idp_entity_id_or_default(&self, instance_base_url: &str, app_id: &str) -> String {
        self.idp_entity_id
            .clone()
            .unwrap_or_else(|| default_idp_entity_id(instance_base_url, app_id))
    }

    /// Whether `relay_state` is the default or one of the optional RelayStates.
    pub fn offers_relay_state(&self, relay_state: &str) -> bool {
        self.default_relay_state.as_deref() == Some(relay_state)
            || self
                .optional_relay_states
                .iter()
                .any(|o| o.relay_state == relay_state)
    }
}

/// `{instance_base}/api/v2/{app_id}/saml2/meta`, the default IdP entity ID and metadata URL.
pub fn default_idp_entity_id(instance_base_url: &str, app_id: &str) -> String {
    format!(
        "{}/api/v2/{app_id}/saml2/meta",
        instance_base_url.trim_end_matches('/')
    )
}

/// `{instance_base}/login/app/{app_id}/saml2/sso`, the SSO endpoint.
pub fn sso_url(instance_base_url: &str, app_id: &str) -> String {
    format!(
        "{}/login/app/{app_id}/saml2/sso",
        instance_base_url.trim_end_matches('/')
    )
}

fn is_certificate(b64: &str) -> bool {
    saml::key::Certificate::from_base64(b64).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute_expr::UserAttributes;

    fn user() -> UserAttributes {
        UserAttributes {
            username: "Alice".into(),
            email: Some("alice@example.com".into()),
            status: "enabled".into(),
            ..UserAttributes::default()
        }
    }

    #[test]
    fn defaults_are_valid_and_json_round_trips() {
        let c = SamlConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["name_id_format"],
            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
        );
        assert_eq!(json["signature_algorithm"], "RSA-SHA256");
        assert_eq!(
            json["application_account"],
            serde_json::json!({"type": "idaas_account", "field": "username"})
        );
        let back: SamlConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let minimal: SamlConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(minimal, c);
    }

    #[test]
    fn rules() {
        let ok = SamlConfig {
            sp_entity_id: Some("urn:alibaba:cloudcomputing".into()),
            acs_url: Some("https://signin.aliyun.com/saml-role/sso".into()),
            ..SamlConfig::default()
        };
        ok.validate().unwrap();
        let bad = |f: fn(&mut SamlConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(
            bad(|c| {
                c.assertion_signed = false;
                c.response_signed = false;
            }),
            ConfigError::NothingSigned
        );
        assert_eq!(
            bad(|c| c.acs_url = Some("javascript:alert(1)".into())),
            ConfigError::InvalidAcsUrl
        );
        assert_eq!(
            bad(|c| c.acs_url = Some("https://sp/acs#x".into())),
            ConfigError::InvalidAcsUrl
        );
        assert_eq!(
            bad(|c| c.acs_url = Some("/relative".into())),
            ConfigError::InvalidAcsUrl
        );
        assert_eq!(
            bad(|c| c.sp_entity_id = Some("has space".into())),
            ConfigError::InvalidEntityId { which: "SP" }
        );
        assert_eq!(
            bad(|c| c.optional_relay_states = vec![OptionalRelayState {
                display_name: "A".into(),
                relay_state: "x".into()
            }]),
            ConfigError::OptionalRelayStatesWithoutDefault
        );
        assert_eq!(
            bad(|c| c.init_login_url = Some("javascript:alert(1)".into())),
            ConfigError::MissingInitLoginUrl
        );
        // IdP-initiated SSO is opt-in: the default accepts only SP-initiated SSO, with or without
        // an InitLoginUrl.
        assert_eq!(
            SamlConfig::default().init_login_type,
            InitLoginType::OnlyAppInitSso
        );
        let mut only_app_no_url = ok.clone();
        only_app_no_url.init_login_type = InitLoginType::OnlyAppInitSso;
        only_app_no_url.init_login_url = None;
        only_app_no_url.validate().unwrap();
        assert_eq!(
            bad(|c| c.assertion_validity_secs = 5),
            ConfigError::InvalidTiming
        );
        assert_eq!(
            bad(|c| c.sp_certificates = vec!["AAAA".into()]),
            ConfigError::InvalidCertificate { index: 0 }
        );
        assert_eq!(
            bad(|c| c.want_signed_requests = true),
            ConfigError::SignedRequestsWithoutCertificate
        );
        assert_eq!(
            bad(|c| {
                let dup = AttributeStatement {
                    name: "a".into(),
                    value_expression: AttributeExpr::parse("user.email").unwrap(),
                };
                c.attribute_statements = vec![dup.clone(), dup];
            }),
            ConfigError::InvalidAttributeName("a".into())
        );
        let mut with_only_app = ok.clone();
        with_only_app.init_login_type = InitLoginType::OnlyAppInitSso;
        with_only_app.init_login_url =
            Some("http://127.0.0.1:8000/start_login?enterprise_code=ABCDEF".into());
        with_only_app.validate().unwrap();
    }

    #[test]
    fn normalize_blanks() {
        let mut c = SamlConfig {
            sp_entity_id: Some("  ".into()),
            acs_url: Some(" https://sp.example/acs ".into()),
            sp_certificates: vec!["MII\nABC ".into(), " ".into()],
            ..SamlConfig::default()
        };
        c.normalize();
        assert_eq!(c.sp_entity_id, None);
        assert_eq!(c.acs_url.as_deref(), Some("https://sp.example/acs"));
        assert_eq!(c.sp_certificates, vec!["MIIABC".to_owned()]);
        assert!(c.sp_binding().is_none());
    }

    #[test]
    fn name_id_options() {
        let u = user();
        let with = EvalContext {
            user: &u,
            app_username: Some("alice.app"),
        };
        let without = EvalContext {
            user: &u,
            app_username: None,
        };
        let m1 = AccountMapping::IdaasAccount {
            field: AccountField::Email,
        };
        assert_eq!(m1.resolve(&without).unwrap(), "alice@example.com");
        assert_eq!(
            AccountMapping::ApplicationAccount.resolve(&with).unwrap(),
            "alice.app"
        );
        assert_eq!(
            AccountMapping::ApplicationAccount.resolve(&without),
            Err(NameIdError::NoApplicationAccount)
        );
        let m3 = AccountMapping::PrimaryApplicationAccount {
            fallback: AccountField::Username,
        };
        assert_eq!(m3.resolve(&with).unwrap(), "alice.app");
        assert_eq!(m3.resolve(&without).unwrap(), "Alice");
        let no_mail = UserAttributes {
            email: None,
            ..user()
        };
        let ctx = EvalContext {
            user: &no_mail,
            app_username: None,
        };
        assert_eq!(m1.resolve(&ctx), Err(NameIdError::MissingValue));
        let m4 = AccountMapping::Expression {
            expression: AttributeExpr::parse("user.displayName").unwrap(),
        };
        assert_eq!(m4.resolve(&ctx), Err(NameIdError::MissingValue));
    }

    #[test]
    fn urls() {
        assert_eq!(
            default_idp_entity_id("https://login.example.com/", "app_1"),
            "https://login.example.com/api/v2/app_1/saml2/meta"
        );
        assert_eq!(
            sso_url("http://127.0.0.1:8080", "app_1"),
            "http://127.0.0.1:8080/login/app/app_1/saml2/sso"
        );
        assert_eq!(
            NameIdFormat::from_uri("urn:oasis:names:tc:SAML:2.0:nameid-format:transient"),
            Some(NameIdFormat::Transient)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Services: applications, authorization, application accounts, SP metadata import.

pub use services::*;

mod services {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::{Application, AuthorizationType, SamlConfig, SourceType, Status};
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, InvalidInput, Result};
    use crate::id;
    use crate::instance::Instance;
    use crate::marketplace;
    use crate::services::Services;
    use crate::store::app_account::AppAccount;
    use crate::store::grant::{Grant, SubjectType};
    use crate::store::{self, Conn};

    /// Create an application from a marketplace template (the standard "SAML 2.0" included).
    #[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
    pub struct NewApplication {
        /// Template id (`apt_…`); see `GET /api/v1/instances/{iid}/marketplace/templates`.
        pub template_id: String,
        /// Display name; defaults to the template name.
        #[serde(default)]
        pub name: Option<String>,
    }

    /// A change to an application. The `saml` object is merged into the stored configuration
    /// (fields left out keep their value; `null` clears an optional field).
    #[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
    pub struct ApplicationUpdate {
        /// New display name.
        #[serde(default)]
        pub name: Option<String>,
        /// Authorization scope.
        #[serde(default)]
        pub authorization_type: Option<AuthorizationType>,
        /// Partial SAML configuration (see [`SamlConfig`]).
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        pub saml: Option<serde_json::Value>,
    }

    /// What an SP metadata import filled in.
    #[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
    pub struct MetadataImport {
        /// The SP entity ID taken over.
        pub sp_entity_id: String,
        /// The ACS URL taken over (HTTP-POST, default first).
        pub acs_url: String,
        /// Number of SP signing certificates taken over.
        pub sp_certificates: usize,
        /// The application after the import.
        pub application: Application,
    }

    fn parse_name(name: &str) -> Result<String, InvalidInput> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 128 characters without control characters",
            ));
        }
        Ok(name.to_owned())
    }

    fn invalid_config(e: super::ConfigError) -> Error {
        Error::invalid("saml", e.to_string())
    }

    /// Merges `patch` into `base` (JSON objects recursively; anything else replaces).
    fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    // Lists and enums are replaced as a whole; nested plain objects merge.
                    match b.get_mut(&k) {
                        Some(existing)
                            if existing.is_object()
                                && v.is_object()
                                && k != "application_account" =>
                        {
                            merge(existing, v)
                        }
                        _ => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (b, p) => *b = p,
        }
    }

    impl Services {
        async fn audit_in(&self, conn: &mut Conn, event: NewAuditEvent) -> Result<()> {
            store::audit::append(conn, &event, self.now()).await?;
            Ok(())
        }

        /// Creates an application from a template; SSO starts enabled, authorization "All Users"
        /// for template apps is left to the admin (default: authorize_required for safety).
        pub async fn create_application(
            &self,
            instance: &Instance,
            actor: &Actor,
            new: NewApplication,
        ) -> Result<Application> {
            let template = marketplace::find(&new.template_id)
                .ok_or_else(|| Error::invalid("template_id", "unknown marketplace template"))?;
            let name = parse_name(new.name.as_deref().unwrap_or(template.name))?;
            let now = self.now();
            let app = Application {
                id: id::new_id("app"),
                instance_id: instance.id.clone(),
                name,
                template_id: Some(template.id.to_owned()),
                source_type: if template.id == marketplace::SAML2_STANDARD {
                    SourceType::Standard
                } else {
                    SourceType::Template
                },
                sso_type: "saml2".to_owned(),
                status: Status::Enabled,
                sso_status: Status::Enabled,
                authorization_type: AuthorizationType::AuthorizeRequired,
                saml: template.default_config(),
                created_at: now,
                updated_at: now,
            };
            let mut tx = self.store.begin_write().await?;
            store::application::insert(&mut tx, &app).await?;
            let event = NewAuditEvent::new(Some(&instance.id), actor, "application", "create")
                .target("application", &app.id)
                .detail(json!({ "name": app.name, "template_id": template.id }));
            self.audit_in(&mut tx, event).await?;
            tx.commit().await?;
            Ok(app)
        }

        /// One application of the instance.
        pub async fn get_application(
            &self,
            instance_id: &str,
            app_id: &str,
        ) -> Result<Application> {
            let mut conn = self.store.read().await?;
            store::application::get(&mut conn, instance_id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))
        }

        /// Applications of the instance, optionally filtered by name.
        pub async fn list_applications(
            &self,
            instance_id: &str,
            query: Option<&str>,
        ) -> Result<Vec<Application>> {
            let mut conn = self.store.read().await?;
            store::application::list(&mut conn, instance_id, query).await
        }

        /// Loads, changes and stores an application in one transaction with its audit event.
        async fn change_application<F>(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            verb: &str,
            change: F,
        ) -> Result<Application>
        where
            F: FnOnce(&mut Application) -> Result<serde_json::Value>,
        {
            let mut tx = self.store.begin_write().await?;
            let mut app = store::application::get(&mut tx, &instance.id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            let detail = change(&mut app)?;
            app.updated_at = self.now();
            store::application::update(&mut tx, &app).await?;
            let event = NewAuditEvent::new(Some(&instance.id), actor, "application", verb)
                .target("application", &app.id)
                .detail(detail);
            self.audit_in(&mut tx, event).await?;
            tx.commit().await?;
            Ok(app)
        }

        /// Applies an [`ApplicationUpdate`].
        pub async fn update_application(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            update: ApplicationUpdate,
        ) -> Result<Application> {
            self.change_application(instance, actor, app_id, "update", |app| {
                let mut changed = Vec::new();
                if let Some(name) = &update.name {
                    app.name = parse_name(name)?;
                    changed.push("name".to_owned());
                }
                if let Some(t) = update.authorization_type {
                    app.authorization_type = t;
                    changed.push("authorization_type".to_owned());
                }
                if let Some(patch) = update.saml.clone() {
                    if !patch.is_object() {
                        return Err(Error::invalid("saml", "must be an object"));
                    }
                    if let Some(obj) = patch.as_object() {
                        changed.extend(obj.keys().map(|k| format!("saml.{k}")));
                    }
                    let mut current = serde_json::to_value(&app.saml)
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    merge(&mut current, patch);
                    let mut cfg: SamlConfig = serde_json::from_value(current)
                        .map_err(|e| Error::invalid("saml", e.to_string()))?;
                    cfg.normalize();
                    cfg.validate().map_err(invalid_config)?;
                    app.saml = cfg;
                }
                Ok(json!({ "changed": changed }))
            })
            .await
        }

        /// Enables or disables the application.
        pub async fn set_application_status(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            status: Status,
        ) -> Result<Application> {
            let verb = if status == Status::Enabled {
                "enable"
            } else {
                "disable"
            };
            self.change_application(instance, actor, app_id, verb, |app| {
                app.status = status;
                Ok(json!({ "status": status.as_str() }))
            })
            .await
        }

        /// Enables or disables SSO of the application.
        pub async fn set_sso_status(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            status: Status,
        ) -> Result<Application> {
            let verb = if status == Status::Enabled {
                "enable_sso"
            } else {
                "disable_sso"
            };
            self.change_application(instance, actor, app_id, verb, |app| {
                app.sso_status = status;
                Ok(json!({ "sso_status": status.as_str() }))
            })
            .await
        }

        /// Converts a template application to the standard SAML template (one way).
        pub async fn convert_to_standard(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
        ) -> Result<Application> {
            self.change_application(instance, actor, app_id, "convert_to_standard", |app| {
                if app.source_type == SourceType::Standard {
                    return Err(Error::invalid(
                        "source_type",
                        "the application already uses the standard SAML template",
                    ));
                }
                app.source_type = SourceType::Standard;
                Ok(json!({ "from_template": app.template_id }))
            })
            .await
        }

        /// Deletes an application.
        pub async fn delete_application(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
        ) -> Result<()> {
            let mut tx = self.store.begin_write().await?;
            if !store::application::delete(&mut tx, &instance.id, app_id).await? {
                return Err(Error::NotFound("application"));
            }
            let event = NewAuditEvent::new(Some(&instance.id), actor, "application", "delete")
                .target("application", app_id);
            self.audit_in(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Pre-fills the SAML configuration from SP metadata XML (entity ID, ACS, signing certs).
        pub async fn import_sp_metadata(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            xml: &str,
            source: &str,
        ) -> Result<MetadataImport> {
            let sps = saml::metadata::parse_sp_metadata(xml)
                .map_err(|e| Error::invalid("metadata", e.to_string()))?;
            let sp = match sps.as_slice() {
                [one] => one.clone(),
                _ => {
                    return Err(Error::invalid(
                        "metadata",
                        format!(
                            "the metadata describes {} service providers; upload one",
                            sps.len()
                        ),
                    ));
                }
            };
            let post = saml::metadata::BINDING_HTTP_POST;
            let mut acs: Vec<_> = sp
                .assertion_consumer_services
                .iter()
                .filter(|a| a.binding == post)
                .collect();
            acs.sort_by_key(|a| (a.is_default != Some(true), a.index));
            let acs = acs.first().map(|a| a.location.clone()).ok_or_else(|| {
                Error::invalid(
                    "metadata",
                    "the SP has no HTTP-POST assertion consumer service",
                )
            })?;
            let certs: Vec<String> = sp
                .signing_certs
                .iter()
                .take(super::MAX_SP_CERTIFICATES)
                .map(|c| c.to_base64())
                .collect();
            let entity_id = sp.entity_id.clone();
            let name_id_format = match sp.name_id_formats.as_slice() {
                [one] => super::NameIdFormat::from_uri(one),
                _ => None,
            };
            let app = self
                .change_application(instance, actor, app_id, "import_metadata", |app| {
                    let mut cfg = app.saml.clone();
                    cfg.sp_entity_id = Some(entity_id.clone());
                    cfg.acs_url = Some(acs.clone());
                    cfg.sp_certificates = certs.clone();
                    if let Some(f) = name_id_format {
                        cfg.name_id_format = f;
                    }
                    if cfg.want_signed_requests && cfg.sp_certificates.is_empty() {
                        cfg.want_signed_requests = false;
                    }
                    cfg.normalize();
                    cfg.validate().map_err(invalid_config)?;
                    app.saml = cfg;
                    Ok(json!({ "source": source, "sp_entity_id": entity_id, "acs_url": acs }))
                })
                .await?;
            Ok(MetadataImport {
                sp_entity_id: entity_id,
                acs_url: acs,
                sp_certificates: certs.len(),
                application: app,
            })
        }

        /// Fetches SP metadata from `url` (SSRF-guarded, see [`crate::application::fetch`]) and imports it.
        pub async fn import_sp_metadata_url(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            url: &str,
        ) -> Result<MetadataImport> {
            let xml = super::fetch::fetch_metadata(url, self.config.metadata_fetch_allow_private)
                .await
                .map_err(|e| Error::invalid("url", e.to_string()))?;
            self.import_sp_metadata(instance, actor, app_id, &xml, url)
                .await
        }

        /// Grants of an application.
        pub async fn list_grants(&self, instance_id: &str, app_id: &str) -> Result<Vec<Grant>> {
            self.get_application(instance_id, app_id).await?;
            let mut conn = self.store.read().await?;
            store::grant::list(&mut conn, app_id).await
        }

        /// Adds or removes a grant.
        pub async fn set_grant(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            subject_type: SubjectType,
            subject_id: &str,
            granted: bool,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::application::get(&mut tx, &instance.id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            if granted {
                if !store::grant::subject_exists(&mut tx, &instance.id, subject_type, subject_id)
                    .await?
                {
                    return Err(Error::NotFound("grant subject"));
                }
                store::grant::add(&mut tx, app_id, subject_type, subject_id, now).await?;
            } else if !store::grant::remove(&mut tx, app_id, subject_type, subject_id).await? {
                return Err(Error::NotFound("grant"));
            }
            let verb = if granted { "authorize" } else { "revoke" };
            let event = NewAuditEvent::new(Some(&instance.id), actor, "application", verb)
                .target("application", app_id)
                .detail(json!({ "subject_type": subject_type.as_str(), "subject_id": subject_id }));
            self.audit_in(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Whether `user` may use `app` (authorization type and grants; the user must be enabled).
        pub async fn is_authorized(
            &self,
            app: &Application,
            user: &crate::user::User,
        ) -> Result<bool> {
            if user.status != crate::user::UserStatus::Enabled
                || user.instance_id != app.instance_id
            {
                return Ok(false);
            }
            match app.authorization_type {
                AuthorizationType::DefaultAll => Ok(true),
                AuthorizationType::AuthorizeRequired => {
                    let mut conn = self.store.read().await?;
                    store::grant::covers(&mut conn, &app.id, &user.id).await
                }
            }
        }

        /// Enabled, SSO-enabled applications `user` may use (the portal list).
        pub async fn portal_applications(
            &self,
            instance_id: &str,
            user: &crate::user::User,
        ) -> Result<Vec<Application>> {
            let apps = self.list_applications(instance_id, None).await?;
            let granted = {
                let mut conn = self.store.read().await?;
                store::grant::granted_app_ids(&mut conn, &user.id).await?
            };
            Ok(apps
                .into_iter()
                .filter(|a| a.sso_usable())
                .filter(|a| {
                    a.authorization_type == AuthorizationType::DefaultAll || granted.contains(&a.id)
                })
                .collect())
        }

        /// Application accounts of an application.
        pub async fn list_app_accounts(
            &self,
            instance_id: &str,
            app_id: &str,
        ) -> Result<Vec<AppAccount>> {
            self.get_application(instance_id, app_id).await?;
            let mut conn = self.store.read().await?;
            store::app_account::list(&mut conn, app_id).await
        }

        /// Maps a user to an application username (replacing an existing mapping).
        pub async fn set_app_account(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            user_id: &str,
            app_username: &str,
        ) -> Result<AppAccount> {
            let app_username = app_username.trim();
            if app_username.is_empty()
                || app_username.chars().count() > 256
                || app_username.chars().any(char::is_control)
            {
                return Err(Error::invalid(
                    "app_username",
                    "must be 1 to 256 characters without control characters",
                ));
            }
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::application::get(&mut tx, &instance.id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            store::user::get(&mut tx, &instance.id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            let account = store::app_account::upsert(
                &mut tx,
                &AppAccount {
                    id: id::new_id("aac"),
                    app_id: app_id.to_owned(),
                    user_id: user_id.to_owned(),
                    app_username: app_username.to_owned(),
                    created_at: now,
                },
            )
            .await?;
            // `appUser.username` may be mapped for provisioning.
            store::outbox_enqueue::enqueue_for_app(
                &mut tx,
                app_id,
                store::outbox_enqueue::ObjectType::User,
                user_id,
                now,
            )
            .await?;
            let event = NewAuditEvent::new(Some(&instance.id), actor, "application", "set_account")
                .target("application", app_id)
                .detail(json!({ "user_id": user_id, "app_username": app_username }));
            self.audit_in(&mut tx, event).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(account)
        }

        /// Removes an application account.
        pub async fn delete_app_account(
            &self,
            instance: &Instance,
            actor: &Actor,
            app_id: &str,
            account_id: &str,
        ) -> Result<()> {
            let mut tx = self.store.begin_write().await?;
            store::application::get(&mut tx, &instance.id, app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            store::outbox_enqueue::enqueue_app_account_user(
                &mut tx,
                app_id,
                account_id,
                self.now(),
            )
            .await?;
            if !store::app_account::delete(&mut tx, app_id, account_id).await? {
                return Err(Error::NotFound("application account"));
            }
            let event =
                NewAuditEvent::new(Some(&instance.id), actor, "application", "remove_account")
                    .target("application", app_id)
                    .detail(json!({ "account_id": account_id }));
            self.audit_in(&mut tx, event).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }
    }
}

pub mod fetch {
    //! Fetching SP metadata from an admin-given URL without becoming an SSRF proxy
    //! (saml-defense.md rule 10): https only, public addresses only (checked after DNS resolution and
    //! pinned for the connection, so a rebinding DNS answer cannot switch targets), every redirect
    //! re-checked, 1 MiB and 10 s limits.

    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    /// Largest metadata document fetched.
    pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
    /// Total time allowed for a fetch.
    pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
    /// Redirects followed at most.
    pub const MAX_REDIRECTS: usize = 3;

    /// Why a metadata URL was not fetched.
    #[derive(Debug, thiserror::Error)]
    pub enum FetchError {
        /// Not a URL.
        #[error("not a valid URL")]
        InvalidUrl,
        /// Only https (http is allowed only together with private addresses, for tests).
        #[error("only https URLs are allowed")]
        SchemeNotAllowed,
        /// The host resolves to a private, loopback, link-local or otherwise non-public address.
        #[error("the host resolves to a non-public address")]
        AddressNotAllowed,
        /// DNS resolution failed.
        #[error("the host name could not be resolved")]
        Resolve,
        /// Network error or timeout.
        #[error("fetching failed: {0}")]
        Http(String),
        /// The server did not answer 200.
        #[error("the server answered HTTP {0}")]
        Status(u16),
        /// Larger than [`MAX_METADATA_BYTES`].
        #[error("the metadata is larger than 1 MiB")]
        TooLarge,
        /// More than [`MAX_REDIRECTS`] redirects, or a redirect without a usable location.
        #[error("too many or invalid redirects")]
        Redirects,
        /// The body is not UTF-8.
        #[error("the metadata is not UTF-8 text")]
        NotUtf8,
    }

    /// Whether an address is public (not loopback, private, link-local, CGNAT, documentation,
    /// multicast, 6to4, Teredo, IPv4-compatible or -mapped, site-local, …): see [`crate::net::is_public`].
    pub fn is_public(ip: IpAddr) -> bool {
        crate::net::is_public(ip)
    }

    async fn resolve_checked(
        url: &url::Url,
        allow_private: bool,
    ) -> Result<SocketAddr, FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            _ => return Err(FetchError::SchemeNotAllowed),
        }
        let host = url.host_str().ok_or(FetchError::InvalidUrl)?;
        let port = url.port_or_known_default().ok_or(FetchError::InvalidUrl)?;
        let addrs = crate::net::resolve_public(host, port, allow_private)
            .await
            .map_err(|e| match e {
                crate::net::EgressError::Resolve { .. } => FetchError::Resolve,
                crate::net::EgressError::NotPublic { .. } => FetchError::AddressNotAllowed,
            })?;
        addrs.first().copied().ok_or(FetchError::Resolve)
    }

    /// Fetches a metadata document.
    pub async fn fetch_metadata(url: &str, allow_private: bool) -> Result<String, FetchError> {
        fetch_metadata_with(url, |_| allow_private).await
    }

    /// Fetches a metadata document; `allow_private(hop)` tells whether hop `hop` (0 = `url`,
    /// 1.. = the redirects) may use http and non-public addresses. Every hop is checked on its own.
    pub async fn fetch_metadata_with(
        url: &str,
        allow_private: impl Fn(usize) -> bool + Sync,
    ) -> Result<String, FetchError> {
        tokio::time::timeout(FETCH_TIMEOUT, fetch_inner(url, &allow_private))
            .await
            .map_err(|_| FetchError::Http("timed out".into()))?
    }

    async fn fetch_inner(
        url: &str,
        allow_private: &(dyn Fn(usize) -> bool + Sync),
    ) -> Result<String, FetchError> {
        let mut current = url::Url::parse(url.trim()).map_err(|_| FetchError::InvalidUrl)?;
        for hop in 0..=MAX_REDIRECTS {
            let addr = resolve_checked(&current, allow_private(hop)).await?;
            let host = current.host_str().ok_or(FetchError::InvalidUrl)?.to_owned();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(FETCH_TIMEOUT)
                .resolve(&host, addr)
                .build()
                .map_err(|e| FetchError::Http(e.to_string()))?;
            let mut resp = client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| FetchError::Http(e.to_string()))?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::Redirects)?;
                current = current.join(location).map_err(|_| FetchError::Redirects)?;
                continue;
            }
            if status.as_u16() != 200 {
                return Err(FetchError::Status(status.as_u16()));
            }
            if resp
                .content_length()
                .is_some_and(|l| l > MAX_METADATA_BYTES as u64)
            {
                return Err(FetchError::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| FetchError::Http(e.to_string()))?
            {
                if body.len() + chunk.len() > MAX_METADATA_BYTES {
                    return Err(FetchError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            return String::from_utf8(body).map_err(|_| FetchError::NotUtf8);
        }
        Err(FetchError::Redirects)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn public_addresses() {
            for bad in [
                "127.0.0.1",
                "10.1.2.3",
                "172.16.0.1",
                "192.168.1.1",
                "169.254.169.254",
                "100.64.0.1",
                "0.0.0.0",
                "::1",
                "fe80::1",
                "fd00::1",
                "::ffff:127.0.0.1",
                "224.0.0.1",
                // 6to4, Teredo, IPv4-compatible, IPv4-mapped, site-local (see crate::net for all).
                "2002:7f00:1::1",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "::7f00:1",
                "::ffff:0:0",
                "fec0::1",
                "192.0.0.1",
                "198.18.0.1",
                "255.255.255.255",
                "203.0.113.5",
            ] {
                assert!(!is_public(bad.parse().unwrap()), "{bad}");
            }
            for good in ["8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"] {
                assert!(is_public(good.parse().unwrap()), "{good}");
            }
        }

        /// A one-shot-per-connection HTTP server on 127.0.0.1: `/start` redirects to `location`,
        /// anything else answers a small body.
        async fn redirect_server(location: impl Fn(u16) -> String + Send + 'static) -> u16 {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let resp = if req.starts_with("GET /start ") {
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            location(port)
                        )
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nmetadata"
                            .to_owned()
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                }
            });
            port
        }

        #[tokio::test]
        async fn redirect_to_private_address_is_refused() {
            // The server is reachable (private allowed for every hop): the redirect is followed.
            let port = redirect_server(|p| format!("http://127.0.0.1:{p}/md")).await;
            let start = format!("http://127.0.0.1:{port}/start");
            assert_eq!(
                fetch_metadata_with(&start, |_| true).await.unwrap(),
                "metadata"
            );
            // Private allowed only for the first hop: an https redirect to a loopback address is
            // refused by the address check, not merely by the scheme.
            let port = redirect_server(|p| format!("https://127.0.0.1:{p}/md")).await;
            let start = format!("http://127.0.0.1:{port}/start");
            assert!(matches!(
                fetch_metadata_with(&start, |hop| hop == 0).await,
                Err(FetchError::AddressNotAllowed)
            ));
            // Same for a redirect naming a host that resolves to loopback, and for http.
            let port = redirect_server(|p| format!("https://localhost:{p}/md")).await;
            assert!(matches!(
                fetch_metadata_with(&format!("http://127.0.0.1:{port}/start"), |hop| hop == 0)
                    .await,
                Err(FetchError::AddressNotAllowed)
            ));
            let port = redirect_server(|p| format!("http://127.0.0.1:{p}/md")).await;
            assert!(matches!(
                fetch_metadata_with(&format!("http://127.0.0.1:{port}/start"), |hop| hop == 0)
                    .await,
                Err(FetchError::SchemeNotAllowed)
            ));
        }

        #[tokio::test]
        async fn refuses_http_and_loopback() {
            assert!(matches!(
                fetch_metadata("http://example.com/m", false).await,
                Err(FetchError::SchemeNotAllowed)
            ));
            assert!(matches!(
                fetch_metadata("https://127.0.0.1/m", false).await,
                Err(FetchError::AddressNotAllowed)
            ));
            assert!(matches!(
                fetch_metadata("https://localhost/m", false).await,
                Err(FetchError::AddressNotAllowed)
            ));
            assert!(matches!(
                fetch_metadata("ftp://x/m", true).await,
                Err(FetchError::SchemeNotAllowed)
            ));
            assert!(matches!(
                fetch_metadata("not a url", true).await,
                Err(FetchError::InvalidUrl)
            ));
        }
    }
}
