//! The cloud's sign-in endpoints and STS: verifying role-based (and user-based) SAML Responses,
//! issuing temporary credentials (`AssumeRoleWithSAML`), answering signed `GetCallerIdentity`
//! requests, and the console sessions the sign-in endpoints open.
//!
//! A role Response is verified against the SAML provider its Role attribute names: the unverified
//! document is only read to find candidate providers (at most [`MAX_CANDIDATE_PROVIDERS`]); the
//! decision uses nothing but what `saml::response::validate_response` returns for the provider
//! whose certificate verified the signed assertion. Then the verified Role pairs must contain the
//! requested role with that provider, the role must exist, and its trust policy must let that
//! provider assume it (`saml:recipient` = our role sign-in endpoint).

use std::collections::BTreeMap;

use saml::algorithm::AlgorithmPolicy;
use saml::key::Certificate;
use saml::response::{SpExpectations, ValidatedAssertion};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::arn::{RoleArn, RolePair, RoleSessionName, SamlProviderArn, assumed_role_arn};
use super::credentials::{self, IssuedCredentials};
use super::policy::{ConditionContext, PolicyDocument, PolicyKind};
use super::ram::effective_policies;
use super::resource::{
    CloudAccount, ConsoleSession, EffectivePolicy, IdentityType, Role, SamlProvider,
    StoredCredential,
};
use super::signature::{SignatureError, SignedRequest};
use crate::error::Error;
use crate::role_logon::{ROLE_ATTRIBUTE, ROLE_SESSION_NAME_ATTRIBUTE, SESSION_DURATION_ATTRIBUTE};
use crate::services::Services;
use crate::store::{self, cloud::PrincipalKind};

/// Most distinct SAML providers one Response may make us try.
pub const MAX_CANDIDATE_PROVIDERS: usize = 5;
/// Shortest and longest `SAMLAssertion` parameter (base64 characters).
pub const SAML_ASSERTION_CHARS: std::ops::RangeInclusive<usize> = 4..=100_000;
/// Clock skew allowed on assertion times.
pub const ASSERTION_SKEW_SECONDS: i64 = 180;
/// Name of the cloud console cookie.
pub const CONSOLE_COOKIE: &str = "gh_cloud_console";

/// Why a sign-in or STS call was refused (codes follow Alibaba Cloud's where they exist).
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    /// A parameter is missing or malformed.
    #[error("{code}: {message}")]
    InvalidParameter {
        /// Error code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// The SAML Response failed verification.
    #[error("AuthenticationFail.Saml: the SAML response was refused: {0}")]
    SamlRefused(String),
    /// The assertion was already used.
    #[error("AuthenticationFail.Saml.Replay: the SAML assertion was already used")]
    Replayed,
    /// The SAML provider does not exist.
    #[error("EntityNotExist.SAMLProvider: {0}")]
    UnknownProvider(String),
    /// The role does not exist.
    #[error("EntityNotExist.Role: {0}")]
    UnknownRole(String),
    /// The verified Role attribute does not contain the requested role and provider.
    #[error("AuthenticationFail.Saml.RoleNotInAssertion: the assertion does not grant {0}")]
    RoleNotInAssertion(String),
    /// The role's trust policy does not trust the provider.
    #[error(
        "AuthenticationFail.NoPermission: the trust policy of {role} does not trust {provider}"
    )]
    NotTrusted {
        /// Role ARN.
        role: String,
        /// Provider ARN.
        provider: String,
    },
    /// The signed request was refused.
    #[error("{}: {}", signature_code(.0), .0)]
    Signature(#[from] SignatureError),
    /// A storage or internal failure.
    #[error("internal error: {0}")]
    Internal(#[from] Error),
}

fn signature_code(e: &SignatureError) -> &'static str {
    match e {
        SignatureError::Expired { .. } => "InvalidTimeStamp.Expired",
        SignatureError::UnknownAccessKey => "InvalidAccessKeyId.NotFound",
        SignatureError::CredentialsExpired => "InvalidSecurityToken.Expired",
        SignatureError::SecurityTokenMismatch => "InvalidSecurityToken.MismatchWithAccessKey",
        SignatureError::SignatureMismatch => "SignatureDoesNotMatch",
        SignatureError::Replayed => "SignatureNonceUsed",
        _ => "MissingParameter",
    }
}

impl From<sqlx::Error> for StsError {
    fn from(e: sqlx::Error) -> Self {
        StsError::Internal(Error::Db(e))
    }
}

impl StsError {
    /// The error code (Alibaba Cloud style).
    pub fn code(&self) -> &'static str {
        match self {
            StsError::InvalidParameter { code, .. } => code,
            StsError::SamlRefused(_) => "AuthenticationFail.Saml",
            StsError::Replayed => "AuthenticationFail.Saml.Replay",
            StsError::UnknownProvider(_) => "EntityNotExist.SAMLProvider",
            StsError::UnknownRole(_) => "EntityNotExist.Role",
            StsError::RoleNotInAssertion(_) => "AuthenticationFail.Saml.RoleNotInAssertion",
            StsError::NotTrusted { .. } => "AuthenticationFail.NoPermission",
            StsError::Signature(e) => signature_code(e),
            StsError::Internal(_) => "InternalError",
        }
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> StsError {
    StsError::InvalidParameter {
        code,
        message: message.into(),
    }
}

/// A role session proven by a verified assertion.
#[derive(Debug, Clone)]
pub struct VerifiedRoleSession {
    /// The account.
    pub account: CloudAccount,
    /// The role assumed.
    pub role: Role,
    /// The provider that vouched.
    pub provider: SamlProvider,
    /// RoleSessionName.
    pub session_name: RoleSessionName,
    /// The session length the assertion asks for (SessionDuration attribute), if any.
    pub requested_seconds: Option<i64>,
}

/// What `AssumeRoleWithSAML` returns.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleResult {
    /// The credentials.
    pub credentials: CredentialsView,
    /// The assumed role.
    pub assumed_role_user: AssumedRoleUser,
    /// The SAML assertion's subject.
    #[serde(rename = "SAMLAssertionInfo")]
    pub saml_assertion_info: SamlAssertionInfo,
}

/// Temporary credentials as STS returns them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsView {
    /// `STS.…`.
    pub access_key_id: String,
    /// The secret (shown once).
    pub access_key_secret: String,
    /// The security token.
    pub security_token: String,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub expiration: String,
}

impl CredentialsView {
    /// The view of freshly issued credentials.
    pub fn of(c: &IssuedCredentials) -> Self {
        Self {
            access_key_id: c.access_key_id.clone(),
            access_key_secret: c.access_key_secret.expose().to_owned(),
            security_token: c.security_token.clone(),
            expiration: c.expiration(),
        }
    }
}

/// The role session.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    /// `acs:ram::{account}:assumed-role/{role}/{session}`.
    pub arn: String,
    /// `{role_id}:{session}`.
    pub assumed_role_id: String,
}

/// The assertion's subject.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SamlAssertionInfo {
    /// NameID value.
    pub subject: String,
    /// NameID format.
    pub subject_type: String,
    /// Issuer.
    pub issuer: String,
    /// Recipient (our sign-in endpoint).
    pub recipient: String,
}

/// What `GetCallerIdentity` returns.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CallerIdentity {
    /// Account ID.
    pub account_id: String,
    /// `acs:ram::{account}:assumed-role/{role}/{session}`.
    pub arn: String,
    /// `AssumedRoleUser`.
    pub identity_type: String,
    /// `{role_id}:{session}`.
    pub user_id: String,
    /// Same as `user_id`.
    pub principal_id: String,
    /// The role ID.
    pub role_id: String,
}

/// What the console landing page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsoleView {
    /// The account.
    pub account: CloudAccount,
    /// Role session or RAM user.
    pub identity_type: IdentityType,
    /// Role or RAM user name.
    pub principal_name: String,
    /// RoleSessionName or RAM user name.
    pub session_name: String,
    /// The identity's ARN.
    pub arn: String,
    /// When the session ends.
    pub expires_at: i64,
    /// The policies in force.
    pub policies: Vec<EffectivePolicy>,
}

/// Role pairs named in an unverified document, to find which providers to try.
fn candidate_pairs(xml: &str) -> Vec<RolePair> {
    let Ok(doc) = saml::xml::reader::parse(xml, &saml::xml::reader::Limits::default()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for attr in doc.descendants().filter(|n| {
        n.is_element()
            && n.tag_name().name() == "Attribute"
            && n.attribute("Name") == Some(ROLE_ATTRIBUTE)
    }) {
        for value in attr.children().filter(|c| c.is_element()) {
            if let Ok(pair) = RolePair::parse(saml::xml::reader::text_of(value).trim()) {
                out.push(pair);
            }
        }
    }
    out
}

fn verified_pairs(assertion: &ValidatedAssertion) -> Vec<RolePair> {
    assertion
        .attribute_values(ROLE_ATTRIBUTE)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| RolePair::parse(v.trim()).ok())
        .collect()
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

impl Services {
    /// Verifies a role-based SAML Response (XML) posted to the role sign-in endpoint or given to STS.
    /// `requested` is STS's (RoleArn, PrincipalArn); the sign-in endpoint passes `None` and takes
    /// the first verified pair of the provider that verified.
    pub async fn verify_role_response(
        &self,
        xml: &str,
        requested: Option<(&RoleArn, &SamlProviderArn)>,
    ) -> Result<VerifiedRoleSession, StsError> {
        let mut providers: Vec<SamlProviderArn> = match requested {
            Some((_, p)) => vec![p.clone()],
            None => candidate_pairs(xml)
                .into_iter()
                .map(|p| p.provider)
                .collect(),
        };
        providers.dedup_by(|a, b| a.same_as(b));
        providers.truncate(MAX_CANDIDATE_PROVIDERS);
        if providers.is_empty() {
            return Err(bad(
                "InvalidParameter.SAMLAssertion",
                "the assertion names no role and SAML provider",
            ));
        }
        let acs = self.cloud_role_acs_url();
        let audience = self.cloud_role_sso_entity_id();
        let now = self.now();
        let mut last_error = None;
        let mut verified = None;
        for arn in &providers {
            let (account, provider) = {
                let mut conn = self.store.read().await?;
                let account = store::cloud::get_account(&mut conn, arn.account.as_str()).await?;
                let provider = store::cloud::get_provider(
                    &mut conn,
                    arn.account.as_str(),
                    arn.provider.as_str(),
                )
                .await?;
                (account, provider)
            };
            let (Some(account), Some(provider)) = (account, provider) else {
                last_error = Some(StsError::UnknownProvider(arn.to_string()));
                continue;
            };
            let certs: Vec<Certificate> = provider
                .certificates
                .iter()
                .filter_map(|c| Certificate::from_base64(c).ok())
                .collect();
            let expect = SpExpectations {
                idp_entity_id: &provider.idp_entity_id,
                sp_entity_id: &audience,
                acs_url: &acs,
                trusted_certs: &certs,
                policy: AlgorithmPolicy::STRICT,
                now: OffsetDateTime::from_unix_timestamp(now)
                    .map_err(|e| Error::Internal(e.to_string()))?,
                max_skew: time::Duration::seconds(ASSERTION_SKEW_SECONDS),
                expected_in_response_to: None,
                allow_unsolicited: true,
                require_signed_assertion: true,
                decryption_keys: &[],
            };
            match saml::response::validate_response(xml, &expect) {
                Ok(assertion) => {
                    verified = Some((account, provider, assertion));
                    break;
                }
                Err(e) => last_error = Some(StsError::SamlRefused(e.to_string())),
            }
        }
        let Some((account, provider, assertion)) = verified else {
            return Err(
                last_error.unwrap_or_else(|| StsError::SamlRefused("no provider verified".into()))
            );
        };
        let provider_arn =
            SamlProviderArn::parse(&provider.arn).map_err(|e| Error::Internal(e.to_string()))?;
        let pairs = verified_pairs(&assertion);
        let pair = match requested {
            Some((role, _)) => pairs
                .into_iter()
                .find(|p| p.role.same_as(role) && p.provider.same_as(&provider_arn))
                .ok_or_else(|| StsError::RoleNotInAssertion(role.to_string()))?,
            None => pairs
                .into_iter()
                .find(|p| p.provider.same_as(&provider_arn))
                .ok_or_else(|| StsError::RoleNotInAssertion(provider.arn.clone()))?,
        };
        let session_name = assertion
            .attribute_values(ROLE_SESSION_NAME_ATTRIBUTE)
            .and_then(|v| v.first())
            .ok_or_else(|| {
                bad(
                    "InvalidParameter.SAMLAssertion",
                    "the assertion has no RoleSessionName",
                )
            })
            .and_then(|v| {
                RoleSessionName::parse(v.trim())
                    .map_err(|e| bad("InvalidParameter.RoleSessionName", e.to_string()))
            })?;
        let requested_seconds = assertion
            .attribute_values(SESSION_DURATION_ATTRIBUTE)
            .and_then(|v| v.first())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let role = {
            let mut conn = self.store.read().await?;
            store::cloud::get_role(
                &mut conn,
                pair.role.account.as_str(),
                pair.role.role.as_str(),
            )
            .await?
        }
        .ok_or_else(|| StsError::UnknownRole(pair.role.to_string()))?;
        let trust = PolicyDocument::parse(&role.trust_policy, PolicyKind::Trust)
            .map_err(|e| Error::Corrupt(format!("trust policy of {}: {e}", role.arn)))?;
        let mut context = ConditionContext::new();
        context.insert("saml:recipient".into(), acs.clone());
        context.insert("saml:iss".into(), assertion.issuer.clone());
        context.insert("saml:sub".into(), assertion.name_id.value.clone());
        if !trust.trusts_saml_provider(&provider.arn, &context) {
            return Err(StsError::NotTrusted {
                role: role.arn.clone(),
                provider: provider.arn.clone(),
            });
        }
        // Consume the assertion last, so that a refused attempt does not burn it.
        let mut tx = self.store.begin_write().await?;
        let fresh = store::cloud::record_assertion(
            &mut tx,
            &assertion.issuer,
            &assertion.assertion_id,
            unix(assertion.replay_cache_until),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        if !fresh {
            return Err(StsError::Replayed);
        }
        Ok(VerifiedRoleSession {
            account,
            role,
            provider,
            session_name,
            requested_seconds,
        })
    }

    /// `AssumeRoleWithSAML`: verifies the base64 `SAMLAssertion` for `RoleArn` and `PrincipalArn`
    /// and issues credentials for `DurationSeconds` (900 to the role's maximum, default 3600).
    pub async fn assume_role_with_saml(
        &self,
        saml_assertion: &str,
        role_arn: &str,
        principal_arn: &str,
        duration_seconds: Option<i64>,
    ) -> Result<AssumeRoleResult, StsError> {
        let len = saml_assertion.trim().len();
        if !SAML_ASSERTION_CHARS.contains(&len) {
            return Err(bad(
                "InvalidParameter.SAMLAssertion",
                "SAMLAssertion must be 4 to 100000 base64 characters",
            ));
        }
        let role_arn =
            RoleArn::parse(role_arn).map_err(|e| bad("InvalidParameter.RoleArn", e.to_string()))?;
        let provider_arn = SamlProviderArn::parse(principal_arn)
            .map_err(|e| bad("InvalidParameter.PrincipalArn", e.to_string()))?;
        let xml = saml::binding::decode_post(saml_assertion)
            .map_err(|e| bad("InvalidParameter.SAMLAssertion", e.to_string()))?;
        let verified = self
            .verify_role_response(&xml, Some((&role_arn, &provider_arn)))
            .await?;
        let duration =
            duration_seconds.unwrap_or_else(|| 3600.min(verified.role.max_session_duration));
        if duration < 900 || duration > verified.role.max_session_duration {
            return Err(bad(
                "InvalidParameter.DurationSeconds",
                format!(
                    "DurationSeconds must be 900 to {}",
                    verified.role.max_session_duration
                ),
            ));
        }
        let (issued, arn, assumed_id) = self.issue_credentials(&verified, duration).await?;
        Ok(AssumeRoleResult {
            credentials: CredentialsView::of(&issued),
            assumed_role_user: AssumedRoleUser {
                arn,
                assumed_role_id: assumed_id,
            },
            saml_assertion_info: SamlAssertionInfo {
                subject: verified.session_name.to_string(),
                subject_type: crate::role_logon::NAME_ID_PERSISTENT.to_owned(),
                issuer: verified.provider.idp_entity_id.clone(),
                recipient: self.cloud_role_acs_url(),
            },
        })
    }

    async fn issue_credentials(
        &self,
        verified: &VerifiedRoleSession,
        duration: i64,
    ) -> Result<(IssuedCredentials, String, String), StsError> {
        let now = self.now();
        let issued = credentials::generate(now, duration);
        let secret_enc = self
            .master_key
            .seal(
                &issued.access_key_id,
                issued.access_key_secret.expose().as_bytes(),
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
        let stored = StoredCredential {
            access_key_id: issued.access_key_id.clone(),
            secret_enc,
            token_hash: web::id::hash_secret(&issued.security_token),
            account_id: verified.account.id.clone(),
            role_name: verified.role.name.clone(),
            role_id: verified.role.role_id.clone(),
            session_name: verified.session_name.to_string(),
            provider_arn: verified.provider.arn.clone(),
            created_at: now,
            expires_at: issued.expires_at,
        };
        let mut tx = self.store.begin_write().await?;
        store::cloud::insert_credential(&mut tx, &stored).await?;
        tx.commit().await.map_err(Error::from)?;
        let role_arn =
            RoleArn::parse(&verified.role.arn).map_err(|e| Error::Internal(e.to_string()))?;
        let arn = assumed_role_arn(&role_arn, &verified.session_name);
        let assumed_id = format!("{}:{}", verified.role.role_id, verified.session_name);
        Ok((issued, arn, assumed_id))
    }

    /// Verifies a signed request made with STS credentials (see `cloud::signature`) and returns the
    /// credential it was made with. The nonce is recorded only after the signature verified.
    pub async fn authenticate_signed_request(
        &self,
        method: &str,
        path: &str,
        params: Vec<(String, String)>,
    ) -> Result<StoredCredential, StsError> {
        let request = SignedRequest::parse(method, path, params)?;
        let now = self.now();
        request.check_freshness(now)?;
        let credential = {
            let mut conn = self.store.read().await?;
            store::cloud::get_credential(&mut conn, request.access_key_id()).await?
        }
        .ok_or(SignatureError::UnknownAccessKey)?;
        if now >= credential.expires_at {
            return Err(SignatureError::CredentialsExpired.into());
        }
        if !web::id::constant_time_eq(
            &credential.token_hash,
            &web::id::hash_secret(request.security_token()),
        ) {
            return Err(SignatureError::SecurityTokenMismatch.into());
        }
        let secret = self
            .master_key
            .open(&credential.access_key_id, &credential.secret_enc)
            .map_err(|e| Error::Internal(format!("credential secret: {e}")))?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| Error::Corrupt("credential secret".into()))?;
        request.verify(&secret)?;
        let mut tx = self.store.begin_write().await?;
        let fresh = store::cloud::record_nonce(
            &mut tx,
            &credential.access_key_id,
            request.nonce(),
            request.nonce_expires_at(),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        if !fresh {
            return Err(SignatureError::Replayed.into());
        }
        Ok(credential)
    }

    /// `GetCallerIdentity` for a verified credential.
    pub fn caller_identity(&self, credential: &StoredCredential) -> CallerIdentity {
        let user_id = format!("{}:{}", credential.role_id, credential.session_name);
        CallerIdentity {
            account_id: credential.account_id.clone(),
            arn: format!(
                "acs:ram::{}:assumed-role/{}/{}",
                credential.account_id, credential.role_name, credential.session_name
            ),
            identity_type: "AssumedRoleUser".to_owned(),
            principal_id: user_id.clone(),
            user_id,
            role_id: credential.role_id.clone(),
        }
    }

    /// Opens a console session; returns the cookie token.
    pub async fn open_cloud_console_session(
        &self,
        account_id: &str,
        identity_type: IdentityType,
        principal_name: &str,
        session_name: &str,
        seconds: i64,
    ) -> Result<String, Error> {
        let now = self.now();
        let token = web::id::new_secret("ghc");
        let session = ConsoleSession {
            account_id: account_id.to_owned(),
            identity_type,
            principal_name: principal_name.to_owned(),
            session_name: session_name.to_owned(),
            created_at: now,
            expires_at: now + seconds.max(60),
        };
        let mut tx = self.store.begin_write().await?;
        store::cloud::insert_console_session(&mut tx, &web::id::hash_secret(&token), &session)
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// What the console landing page shows for a session cookie token, if it is valid.
    pub async fn cloud_console_view(&self, token: &str) -> Result<Option<ConsoleView>, Error> {
        let mut conn = self.store.read().await?;
        let Some(session) =
            store::cloud::get_console_session(&mut conn, &web::id::hash_secret(token), self.now())
                .await?
        else {
            return Ok(None);
        };
        let Some(account) = store::cloud::get_account(&mut conn, &session.account_id).await? else {
            return Ok(None);
        };
        let (arn, refs) = match session.identity_type {
            IdentityType::AssumedRoleUser => {
                let Some(role) =
                    store::cloud::get_role(&mut conn, &account.id, &session.principal_name).await?
                else {
                    return Ok(None);
                };
                (
                    format!(
                        "acs:ram::{}:assumed-role/{}/{}",
                        account.id, role.name, session.session_name
                    ),
                    role.policies,
                )
            }
            IdentityType::RamUser => {
                let refs = store::cloud::attached(
                    &mut conn,
                    &account.id,
                    PrincipalKind::User,
                    &session.principal_name,
                )
                .await?;
                (
                    format!("acs:ram::{}:user/{}", account.id, session.principal_name),
                    refs,
                )
            }
        };
        let policies = effective_policies(&mut conn, &account.id, &refs).await?;
        Ok(Some(ConsoleView {
            account,
            identity_type: session.identity_type,
            principal_name: session.principal_name,
            session_name: session.session_name,
            arn,
            expires_at: session.expires_at,
            policies,
        }))
    }

    /// Ends a console session.
    pub async fn close_cloud_console_session(&self, token: &str) -> Result<(), Error> {
        let mut tx = self.store.begin_write().await?;
        store::cloud::delete_console_session(&mut tx, &web::id::hash_secret(token)).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Collects form fields into (name, value) pairs, keeping duplicates (the signature check refuses them).
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of each field (for unsigned actions).
pub fn first_values(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    map
}

impl Services {
    /// Verifies a user-based SSO Response posted to an account's user sign-in endpoint: signed by
    /// the role-SSO key of the directory owning the account, NameID `{ram_user}@{account}.onaliyun.com`
    /// (or the bare RAM user name) naming an existing RAM user.
    pub async fn verify_user_response(
        &self,
        account_id: &str,
        xml: &str,
    ) -> Result<(CloudAccount, super::resource::RamUser), StsError> {
        let account = {
            let mut conn = self.store.read().await?;
            store::cloud::get_account(&mut conn, account_id).await?
        }
        .ok_or_else(|| bad("EntityNotExist.Account", format!("no account {account_id}")))?;
        let key = self.role_sso_key(&account.directory_id).await?;
        let certs = [key.certificate];
        let acs = self.cloud_user_acs_url(&account.id);
        let audience = self.cloud_user_sso_entity_id(&account.id);
        let issuer = self.role_idp_entity_id(&account.directory_id);
        let expect = SpExpectations {
            idp_entity_id: &issuer,
            sp_entity_id: &audience,
            acs_url: &acs,
            trusted_certs: &certs,
            policy: AlgorithmPolicy::STRICT,
            now: OffsetDateTime::from_unix_timestamp(self.now())
                .map_err(|e| Error::Internal(e.to_string()))?,
            max_skew: time::Duration::seconds(ASSERTION_SKEW_SECONDS),
            expected_in_response_to: None,
            allow_unsolicited: true,
            require_signed_assertion: true,
            decryption_keys: &[],
        };
        let assertion = saml::response::validate_response(xml, &expect)
            .map_err(|e| StsError::SamlRefused(e.to_string()))?;
        let name_id = assertion.name_id.value.trim();
        let suffix = format!("@{}.onaliyun.com", account.id);
        let user_name = name_id.strip_suffix(suffix.as_str()).unwrap_or(name_id);
        let user = {
            let mut conn = self.store.read().await?;
            store::cloud::get_user(&mut conn, &account.id, user_name).await?
        }
        .ok_or_else(|| bad("EntityNotExist.User", format!("no RAM user {user_name}")))?;
        let mut tx = self.store.begin_write().await?;
        let fresh = store::cloud::record_assertion(
            &mut tx,
            &assertion.issuer,
            &assertion.assertion_id,
            unix(assertion.replay_cache_until),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        if !fresh {
            return Err(StsError::Replayed);
        }
        Ok((account, user))
    }
}
