//! The IdP side of SAML SSO, without I/O: checking an AuthnRequest against the application it names,
//! deciding whether the current sign-in satisfies it, and assembling the Response.
//!
//! The HTTP handlers (`http/saml.rs`) decode the binding, load the application, the session and the
//! signing key, and call in here; everything here is a pure function of those inputs, so each rule
//! (ACS allow-list, signed-request requirement, ForceAuthn, IsPassive, RequestedAuthnContext) has a
//! unit test.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use saml::authn_request::{AuthnContextComparison, AuthnRequest, RequestedAuthnContext};
use saml::status::StatusCode;

use crate::application::{Application, NameIdError, SamlConfig, parse_http_url};
use crate::attribute_expr::EvalContext;

/// `PasswordProtectedTransport`: what a password sign-in over HTTPS is.
pub const AC_PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
/// `Password`.
pub const AC_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
/// `unspecified`.
pub const AC_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";
/// `TimeSyncToken`: a TOTP-style one-time code (accepted as an MFA request).
pub const AC_TIME_SYNC_TOKEN: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken";
/// REFEDS MFA profile: what we emit after password + TOTP.
pub const AC_REFEDS_MFA: &str = "https://refeds.org/profile/mfa";
/// `MobileTwoFactorUnregistered` (accepted as an MFA request).
pub const AC_MOBILE_TWO_FACTOR_UNREGISTERED: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered";
/// `MobileTwoFactorContract` (accepted as an MFA request).
pub const AC_MOBILE_TWO_FACTOR_CONTRACT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract";

/// The only response binding we deliver with.
pub const BINDING_HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// How long a parked AuthnRequest waits for the user to sign in.
pub const PENDING_TTL_SECS: i64 = 600;

/// Oldest AuthnRequest accepted (IssueInstant age, on top of the application's clock skew).
pub const MAX_REQUEST_AGE_SECS: i64 = 300;

/// How strongly the user signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthnLevel {
    /// Password only.
    Password,
    /// Password and a TOTP code.
    Mfa,
}

impl AuthnLevel {
    /// From the session's `authn_methods` (`password` or `password+totp`).
    pub fn from_methods(methods: &str) -> Self {
        if methods.split('+').any(|m| m == "totp") {
            AuthnLevel::Mfa
        } else {
            AuthnLevel::Password
        }
    }

    /// The class we state in the assertion.
    pub fn class_ref(self) -> &'static str {
        match self {
            AuthnLevel::Password => AC_PASSWORD_PROTECTED_TRANSPORT,
            AuthnLevel::Mfa => AC_REFEDS_MFA,
        }
    }
}

/// The strength of a requested class; `None` for classes we cannot produce.
fn class_level(class_ref: &str) -> Option<u8> {
    match class_ref {
        AC_UNSPECIFIED => Some(0),
        AC_PASSWORD | AC_PASSWORD_PROTECTED_TRANSPORT => Some(1),
        AC_TIME_SYNC_TOKEN
        | AC_REFEDS_MFA
        | AC_MOBILE_TWO_FACTOR_UNREGISTERED
        | AC_MOBILE_TWO_FACTOR_CONTRACT => Some(2),
        _ => None,
    }
}

fn level_value(level: AuthnLevel) -> u8 {
    match level {
        AuthnLevel::Password => 1,
        AuthnLevel::Mfa => 2,
    }
}

/// The requested authentication context, reduced to what we need once the request is parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRequest {
    /// `exact`, `minimum`, `maximum` or `better`.
    pub comparison: String,
    /// Requested class refs.
    pub class_refs: Vec<String>,
}

impl ContextRequest {
    fn from_request(r: &RequestedAuthnContext) -> Self {
        Self {
            comparison: r.comparison.as_str().to_owned(),
            class_refs: r.class_refs.clone(),
        }
    }

    fn comparison(&self) -> AuthnContextComparison {
        match self.comparison.as_str() {
            "minimum" => AuthnContextComparison::Minimum,
            "maximum" => AuthnContextComparison::Maximum,
            "better" => AuthnContextComparison::Better,
            _ => AuthnContextComparison::Exact,
        }
    }

    /// The weakest sign-in level that satisfies the request, or `None` if no level can.
    pub fn required_level(&self) -> Option<AuthnLevel> {
        [AuthnLevel::Password, AuthnLevel::Mfa]
            .into_iter()
            .find(|l| self.class_for(*l).is_some())
    }

    /// The class ref to state for a sign-in of `level`, or `None` if that level does not satisfy.
    pub fn class_for(&self, level: AuthnLevel) -> Option<String> {
        let achieved = level_value(level);
        let known: Vec<(u8, &str)> = self
            .class_refs
            .iter()
            .filter_map(|c| class_level(c).map(|l| (l, c.as_str())))
            .collect();
        match self.comparison() {
            // One of the listed classes, which our sign-in must be at least as strong as.
            AuthnContextComparison::Exact => known
                .iter()
                .find(|(l, _)| *l <= achieved)
                .map(|(_, c)| (*c).to_owned()),
            AuthnContextComparison::Minimum => {
                let min = known.iter().map(|(l, _)| *l).min()?;
                (achieved >= min).then(|| level.class_ref().to_owned())
            }
            AuthnContextComparison::Maximum => {
                let max = known.iter().map(|(l, _)| *l).max()?;
                if achieved <= max {
                    Some(level.class_ref().to_owned())
                } else {
                    // A stronger sign-in also used a password; state the strongest allowed class.
                    known
                        .iter()
                        .filter(|(l, _)| *l == max)
                        .map(|(_, c)| (*c).to_owned())
                        .next()
                }
            }
            AuthnContextComparison::Better => {
                let max = if known.len() == self.class_refs.len() {
                    known.iter().map(|(l, _)| *l).max()?
                } else {
                    return None;
                };
                (achieved > max).then(|| level.class_ref().to_owned())
            }
        }
    }
}

/// A validated AuthnRequest, kept while the user signs in (stored as JSON in `pending_sso.request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedRequest {
    /// The request ID (`InResponseTo`); `None` for IdP-initiated SSO.
    pub request_id: Option<String>,
    /// Where the Response goes (the registered ACS, or a signed request's own).
    pub acs_url: String,
    /// The SP demanded a fresh sign-in.
    pub force_authn: bool,
    /// The SP forbade interaction.
    pub is_passive: bool,
    /// Requested authentication context.
    pub context: Option<ContextRequest>,
    /// When we received the request (ForceAuthn needs a sign-in after this).
    pub received_at: i64,
    /// ForceAuthn: the session that existed when the request was first seen (it cannot satisfy it).
    #[serde(default)]
    pub stale_session: Option<String>,
    /// ForceAuthn: `stale_session` has been recorded.
    #[serde(default)]
    pub force_checked: bool,
}

/// Why an AuthnRequest is refused before anything is sent to the SP (shown as a page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefusal {
    /// The application's SP entity ID or ACS URL is not configured yet.
    #[error("the application's SAML settings are incomplete")]
    NotConfigured,
    /// The Issuer is not this application's SP entity ID.
    #[error("the request comes from an unknown service provider")]
    UnknownIssuer,
    /// The requested ACS URL is not the registered one (and no signed request allows it).
    #[error("the request asks for an assertion consumer service that is not registered")]
    AcsMismatch,
    /// The application requires signed requests and this one is unsigned or its signature failed.
    #[error("the request must be signed by the service provider")]
    SignatureRequired,
    /// The request carries a signature but no SP certificate is configured to verify it (fail
    /// closed: saml-defense.md rule 7).
    #[error("the request is signed but no certificate of the service provider is configured")]
    SignatureUnverifiable,
    /// `Destination` is present and is not this application's SSO URL.
    #[error("the request is addressed to another destination")]
    WrongDestination,
    /// `IssueInstant` is in the future or too old (beyond the clock skew and maximum age).
    #[error("the request is too old or not yet valid; check the clocks")]
    Stale,
    /// A request with this ID was already received for this application.
    #[error("the request was already received (replay)")]
    Replayed,
}

/// Why a Response must carry an error status instead of an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamlFailure {
    /// Second-level status code (the top level is Requester or Responder).
    pub sub_status: StatusCode,
    /// Short message for `StatusMessage`.
    pub message: &'static str,
}

impl SamlFailure {
    /// The top-level status for this failure.
    pub fn top_status(self) -> StatusCode {
        match self.sub_status {
            StatusCode::NoPassive | StatusCode::NoAuthnContext | StatusCode::RequestDenied => {
                StatusCode::Responder
            }
            _ => StatusCode::Requester,
        }
    }
}

/// Checks a parsed AuthnRequest against the application it was sent to.
///
/// `signature_verified` is true only when the request (its Redirect detached signature, or its
/// enveloped POST signature) verified with one of the application's SP certificates. `sso_url` is
/// this application's SSO URL, which a present `Destination` must equal. `IssueInstant` must lie
/// within the application's clock skew of now, and be at most [`MAX_REQUEST_AGE_SECS`] old.
/// (Replays are refused by the caller, which keeps the request IDs: see [`replay_expiry`].)
pub fn check_request(
    config: &SamlConfig,
    request: &AuthnRequest,
    signature_verified: bool,
    sso_url: &str,
    now: i64,
) -> Result<Result<ParkedRequest, (ParkedRequest, SamlFailure)>, RequestRefusal> {
    let sp = config.sp_binding().ok_or(RequestRefusal::NotConfigured)?;
    if request.issuer.trim() != sp.entity_id {
        return Err(RequestRefusal::UnknownIssuer);
    }
    if let Some(d) = request.destination.as_deref()
        && d.trim() != sso_url
    {
        return Err(RequestRefusal::WrongDestination);
    }
    let skew = i64::from(config.clock_skew_secs);
    let issued = request.issue_instant.unix_timestamp();
    if issued > now + skew || issued < now - skew - MAX_REQUEST_AGE_SECS {
        return Err(RequestRefusal::Stale);
    }
    if config.want_signed_requests && !signature_verified {
        return Err(RequestRefusal::SignatureRequired);
    }
    let acs_url = match request
        .assertion_consumer_service_url
        .as_deref()
        .map(str::trim)
    {
        None => sp.acs_url.clone(),
        Some(url) if url == sp.acs_url => sp.acs_url.clone(),
        Some(url)
            if signature_verified
                && config.allow_acs_from_signed_requests
                && parse_http_url(url).is_some() =>
        {
            url.to_owned()
        }
        Some(_) => return Err(RequestRefusal::AcsMismatch),
    };
    let parked = ParkedRequest {
        request_id: Some(request.id.clone()),
        acs_url,
        force_authn: request.force_authn,
        is_passive: request.is_passive,
        context: request
            .requested_authn_context
            .as_ref()
            .map(ContextRequest::from_request),
        received_at: now,
        stale_session: None,
        force_checked: false,
    };
    if let Some(binding) = request.protocol_binding.as_deref()
        && binding != BINDING_HTTP_POST
    {
        let failure = SamlFailure {
            sub_status: StatusCode::UnsupportedBinding,
            message: "only HTTP-POST responses are supported",
        };
        return Ok(Err((parked, failure)));
    }
    if let Some(ctx) = &parked.context
        && ctx.required_level().is_none()
    {
        let failure = SamlFailure {
            sub_status: StatusCode::NoAuthnContext,
            message: "the requested authentication context is not supported",
        };
        return Ok(Err((parked, failure)));
    }
    Ok(Ok(parked))
}

/// Until when the ID of `request` must be remembered to refuse a replay: after that the request
/// is refused as [`RequestRefusal::Stale`] anyway.
pub fn replay_expiry(config: &SamlConfig, request: &AuthnRequest) -> i64 {
    request.issue_instant.unix_timestamp()
        + MAX_REQUEST_AGE_SECS
        + i64::from(config.clock_skew_secs)
}

/// The sign-in a request is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInState {
    /// Level reached.
    pub level: AuthnLevel,
    /// When the user authenticated (unix seconds).
    pub authn_instant: i64,
}

/// What to do with a request, given the current sign-in (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Issue an assertion with this AuthnContextClassRef.
    Answer {
        /// The class ref to state.
        class_ref: String,
    },
    /// The user must sign in (again) first, reaching at least this level.
    SignIn {
        /// Minimum level.
        level: AuthnLevel,
    },
    /// Answer with an error status.
    Fail(SamlFailure),
}

/// Decides how to answer `parked`. `can_reach_mfa` tells whether the user could pass a second factor
/// if asked (has a TOTP); it is only consulted when a sign-in exists.
pub fn decide(
    parked: &ParkedRequest,
    sign_in: Option<SignInState>,
    can_reach_mfa: bool,
) -> Decision {
    let required = parked
        .context
        .as_ref()
        .and_then(ContextRequest::required_level)
        .unwrap_or(AuthnLevel::Password);
    let no_passive = SamlFailure {
        sub_status: StatusCode::NoPassive,
        message: "the user is not signed in",
    };
    let Some(state) = sign_in else {
        return if parked.is_passive {
            Decision::Fail(no_passive)
        } else {
            Decision::SignIn { level: required }
        };
    };
    if parked.force_authn && state.authn_instant < parked.received_at {
        return if parked.is_passive {
            Decision::Fail(no_passive)
        } else {
            Decision::SignIn {
                level: required.max(state.level),
            }
        };
    }
    let class = match &parked.context {
        None => Some(state.level.class_ref().to_owned()),
        Some(ctx) => ctx.class_for(state.level),
    };
    match class {
        Some(class_ref) => Decision::Answer { class_ref },
        None if state.level < AuthnLevel::Mfa && can_reach_mfa && !parked.is_passive => {
            Decision::SignIn {
                level: AuthnLevel::Mfa,
            }
        }
        None => Decision::Fail(SamlFailure {
            sub_status: StatusCode::NoAuthnContext,
            message: "the requested authentication context cannot be satisfied",
        }),
    }
}

/// Why no assertion can be issued for an authorized, signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// The NameID value could not be chosen.
    #[error(transparent)]
    NameId(#[from] NameIdError),
}

/// The subject and attributes of an assertion for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionContent {
    /// NameID.
    pub name_id: saml::response::NameId,
    /// Attributes with a value (statements whose expression yields nothing are left out).
    pub attributes: Vec<saml::response::Attribute>,
}

/// Evaluates the NameID rule and the attribute statements for a user.
pub fn assertion_content(
    config: &SamlConfig,
    ctx: &EvalContext<'_>,
) -> Result<AssertionContent, AssertionError> {
    let mut value = config.application_account.resolve(ctx)?;
    if config.name_id_lowercase {
        value = value.to_lowercase();
    }
    let attributes = config
        .attribute_statements
        .iter()
        .filter_map(|s| {
            s.value_expression
                .eval(ctx)
                .map(|v| saml::response::Attribute {
                    name: s.name.clone(),
                    name_format: None,
                    friendly_name: None,
                    values: vec![v],
                })
        })
        .collect();
    Ok(AssertionContent {
        name_id: saml::response::NameId {
            format: config.name_id_format.uri().to_owned(),
            value,
            sp_name_qualifier: None,
        },
        attributes,
    })
}

/// Inputs of [`response_params`] other than the content.
#[derive(Debug, Clone)]
pub struct ResponseContext<'a> {
    /// The application.
    pub app: &'a Application,
    /// Our IdP entity ID for this app.
    pub issuer: &'a str,
    /// The request being answered.
    pub parked: &'a ParkedRequest,
    /// The session's authentication instant.
    pub authn_instant: i64,
    /// The class ref to state.
    pub class_ref: &'a str,
    /// `SessionIndex`.
    pub session_index: &'a str,
    /// Session expiry (`SessionNotOnOrAfter`).
    pub session_expires_at: i64,
    /// Now.
    pub now: i64,
}

fn instant(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A fresh SAML ID (an NCName: starts with `_`).
pub fn new_saml_id() -> String {
    let mut bytes = [0u8; 20];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    }
    format!("_{}", hex::encode(bytes))
}

/// Builds the parameters of a successful Response.
pub fn response_params(
    rc: &ResponseContext<'_>,
    content: AssertionContent,
) -> saml::response::ResponseParams {
    let cfg = &rc.app.saml;
    let audience = cfg.sp_entity_id.clone().unwrap_or_default();
    let now = instant(rc.now);
    let validity = time::Duration::seconds(i64::from(cfg.assertion_validity_secs));
    let skew = time::Duration::seconds(i64::from(cfg.clock_skew_secs));
    saml::response::ResponseParams {
        response_id: new_saml_id(),
        assertion_id: new_saml_id(),
        issue_instant: now,
        issuer: rc.issuer.to_owned(),
        destination: rc.parked.acs_url.clone(),
        in_response_to: rc.parked.request_id.clone(),
        audience,
        name_id: content.name_id,
        subject_not_on_or_after: now + validity,
        not_before: now - skew,
        not_on_or_after: now + validity,
        authn_instant: instant(rc.authn_instant),
        session_index: rc.session_index.to_owned(),
        session_not_on_or_after: Some(instant(rc.session_expires_at)),
        authn_context_class_ref: rc.class_ref.to_owned(),
        attributes: content.attributes,
        sign_response: cfg.response_signed,
        sign_assertion: cfg.assertion_signed,
    }
}

/// The `SessionIndex` for a session and application: derived, so it neither reveals the session
/// token nor links the user across applications.
pub fn session_index(session_id_hash: &str, app_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{session_id_hash}:{app_id}").as_bytes(),
    );
    format!("_s{}", hex::encode(&d.as_ref()[..16]))
}

/// An IdP-initiated request for `app` (no `InResponseTo`), if the app allows it.
pub fn idp_initiated(config: &SamlConfig, now: i64) -> Option<ParkedRequest> {
    if config.init_login_type != crate::application::InitLoginType::IdaasOrAppInitSso {
        return None;
    }
    let sp = config.sp_binding()?;
    Some(ParkedRequest {
        request_id: None,
        acs_url: sp.acs_url,
        force_authn: false,
        is_passive: false,
        context: None,
        received_at: now,
        stale_session: None,
        force_checked: false,
    })
}

// ---------------------------------------------------------------------------------------------
// Services: receiving requests, parking them during sign-in, answering.

pub use services::{InboundMessage, SsoOutcome};

mod services {
    use serde_json::json;

    use super::{
        AuthnLevel, Decision, PENDING_TTL_SECS, ParkedRequest, RequestRefusal, ResponseContext,
        SamlFailure, SignInState,
    };
    use crate::application::{Application, default_idp_entity_id, sso_url};
    use crate::attribute_expr::{EvalContext, GroupRef, OrgUnitRef, UserAttributes};
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::id;
    use crate::instance::Instance;
    use crate::services::Services;
    use crate::signing_key::KeyAlgorithm;
    use crate::store;
    use crate::store::pending_sso::PendingSso;
    use crate::store::session::Session;
    use crate::user::User;

    /// An AuthnRequest as it arrived.
    #[derive(Debug, Clone)]
    pub enum InboundMessage {
        /// HTTP-Redirect: the raw (still URL-encoded) query string.
        Redirect {
            /// Query string without `?`.
            raw_query: String,
        },
        /// HTTP-POST: the form fields.
        Post {
            /// `SAMLRequest` value.
            saml_request: String,
            /// `RelayState`.
            relay_state: Option<String>,
        },
    }

    /// What the browser gets.
    #[derive(Debug, Clone)]
    pub enum SsoOutcome {
        /// An auto-submitting form posting `SAMLResponse` to the SP.
        Post {
            /// ACS URL.
            acs_url: String,
            /// The signed Response XML.
            xml: String,
            /// RelayState to pass back.
            relay_state: Option<String>,
        },
        /// Redirect (to the sign-in page or the continue URL).
        Redirect {
            /// Location (path on this server).
            location: String,
        },
        /// A page explaining why SSO cannot proceed.
        Page {
            /// HTTP status.
            status: u16,
            /// Title.
            title: &'static str,
            /// Message.
            message: String,
        },
    }

    fn page(status: u16, title: &'static str, message: impl Into<String>) -> SsoOutcome {
        SsoOutcome::Page {
            status,
            title,
            message: message.into(),
        }
    }

    fn already_answered() -> SsoOutcome {
        page(
            410,
            "Sign-on expired",
            "This sign-on request was already answered.",
        )
    }

    fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    /// The path a parked request continues at after sign-in.
    pub fn continue_path(instance_id: &str, pending_id: &str) -> String {
        format!("/i/{instance_id}/sso/{pending_id}")
    }

    impl Services {
        async fn load_app_instance(&self, app_id: &str) -> Result<Option<(Application, Instance)>> {
            let mut conn = self.store.read().await?;
            let Some(app) = store::application::get_any(&mut conn, app_id).await? else {
                return Ok(None);
            };
            let instance = store::instance::get(&mut conn, &app.instance_id)
                .await?
                .ok_or(Error::NotFound("instance"))?;
            Ok(Some((app, instance)))
        }

        /// IdP metadata XML of an application (signing certificates of the app's algorithm, including
        /// `next` and `retired` keys during a rotation).
        pub async fn idp_metadata(&self, app_id: &str) -> Result<String> {
            let (app, instance) = self
                .load_app_instance(app_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            let base = self.instance_base_url(&instance).to_owned();
            let certs = self
                .published_certificates(
                    &instance.id,
                    KeyAlgorithm::from(app.saml.signature_algorithm),
                )
                .await?;
            let sso = sso_url(&base, &app.id);
            let md = saml::metadata::IdpMetadata {
                entity_id: app
                    .saml
                    .idp_entity_id
                    .clone()
                    .unwrap_or_else(|| default_idp_entity_id(&base, &app.id)),
                sso_redirect_url: sso.clone(),
                sso_post_url: sso,
                signing_certs: certs,
                name_id_formats: vec![app.saml.name_id_format.uri().to_owned()],
                want_authn_requests_signed: app.saml.want_signed_requests,
                valid_until: None,
            };
            Ok(md.to_xml())
        }

        async fn audit_sso(
            &self,
            app: &Application,
            user_id: Option<&str>,
            source_ip: Option<&str>,
            ok: bool,
            detail: serde_json::Value,
        ) -> Result<()> {
            self.finish_sso(app, None, user_id, source_ip, ok, detail)
                .await
                .map(|_| ())
        }

        /// Consumes the parked request `pending_id` (if any) and records the outcome of the SSO in
        /// the audit log, in ONE transaction: a parked request is never consumed without its audit
        /// event. `false` (nothing written) when the parked request was already consumed.
        async fn finish_sso(
            &self,
            app: &Application,
            pending_id: Option<&str>,
            user_id: Option<&str>,
            source_ip: Option<&str>,
            ok: bool,
            detail: serde_json::Value,
        ) -> Result<bool> {
            let actor = match user_id {
                Some(u) => Actor::user(u, source_ip.map(str::to_owned)),
                None => Actor::anonymous(source_ip.map(str::to_owned)),
            };
            let mut event = NewAuditEvent::new(Some(&app.instance_id), &actor, "sso", "saml2")
                .target("application", &app.id)
                .detail(detail);
            if !ok {
                event = event.failure();
            }
            let mut tx = self.store.begin_write().await?;
            if let Some(id) = pending_id
                && !store::pending_sso::delete(&mut tx, id).await?
            {
                return Ok(false);
            }
            store::audit::append(&mut tx, &event, self.now()).await?;
            tx.commit().await?;
            Ok(true)
        }

        /// Receives an AuthnRequest at `/login/app/{app_id}/saml2/sso`. `session` is the caller's
        /// session of the app's instance, if the cookie came along (never for cross-site POSTs).
        pub async fn sso_receive(
            &self,
            app_id: &str,
            message: InboundMessage,
            session: Option<Session>,
            source_ip: Option<&str>,
        ) -> Result<SsoOutcome> {
            let Some((app, instance)) = self.load_app_instance(app_id).await? else {
                return Ok(page(
                    404,
                    "Unknown application",
                    "This single sign-on address does not belong to any application.",
                ));
            };
            if !app.sso_usable() {
                self.audit_sso(
                    &app,
                    None,
                    source_ip,
                    false,
                    json!({ "reason": "application or SSO disabled" }),
                )
                .await?;
                return Ok(page(
                    403,
                    "Application unavailable",
                    "Single sign-on to this application is disabled. Contact your administrator.",
                ));
            }
            let sp_certs: Vec<saml::key::Certificate> = app
                .saml
                .sp_certificates
                .iter()
                .filter_map(|c| saml::key::Certificate::from_base64(c).ok())
                .collect();
            let policy = saml::algorithm::AlgorithmPolicy::STRICT;
            let bad_request = |detail: String| self.refuse_request(&app, source_ip, detail);
            let posted = matches!(message, InboundMessage::Post { .. });
            let (xml, relay_state, mut verified) = match message {
                InboundMessage::Redirect { raw_query } => {
                    let msg = match saml::binding::decode_redirect(&raw_query) {
                        Ok(m) => m,
                        Err(e) => return bad_request(e.to_string()).await,
                    };
                    if msg.param != saml::binding::MessageParam::Request {
                        return bad_request("not a SAMLRequest".into()).await;
                    }
                    let verified = match &msg.signature {
                        None => false,
                        // Fail closed (rule 7): a signature we cannot check is not ignored.
                        Some(_) if sp_certs.is_empty() => {
                            return self
                                .refuse_checked(
                                    &app,
                                    source_ip,
                                    RequestRefusal::SignatureUnverifiable,
                                    None,
                                )
                                .await;
                        }
                        Some(_) => match msg.verify_signature(&sp_certs, &policy) {
                            Ok(_) => true,
                            Err(e) => return bad_request(format!("signature: {e}")).await,
                        },
                    };
                    (msg.xml, msg.relay_state, verified)
                }
                InboundMessage::Post {
                    saml_request,
                    relay_state,
                } => {
                    if relay_state
                        .as_ref()
                        .is_some_and(|r| r.len() > saml::binding::MAX_RELAY_STATE_BYTES)
                    {
                        return bad_request("RelayState too long".into()).await;
                    }
                    match saml::binding::decode_post(&saml_request) {
                        Ok(xml) => (xml, relay_state, false),
                        Err(e) => return bad_request(e.to_string()).await,
                    }
                }
            };
            let mut request = match saml::authn_request::AuthnRequest::parse(&xml) {
                Ok(r) => r,
                Err(e) => return bad_request(e.to_string()).await,
            };
            if request.has_enveloped_signature && sp_certs.is_empty() {
                return self
                    .refuse_checked(
                        &app,
                        source_ip,
                        RequestRefusal::SignatureUnverifiable,
                        Some(&request.issuer),
                    )
                    .await;
            }
            if request.has_enveloped_signature {
                match saml::authn_request::AuthnRequest::parse_verified(&xml, &sp_certs, &policy) {
                    Ok(r) => {
                        request = r;
                        verified = true;
                    }
                    Err(e) => return bad_request(format!("signature: {e}")).await,
                }
            }
            let now = self.now();
            let sso = sso_url(&self.instance_base_url(&instance), &app.id);
            let checked = super::check_request(&app.saml, &request, verified, &sso, now);
            if checked.is_ok() {
                // Replay cache: the ID is remembered until the request would be refused as stale.
                let mut tx = self.store.begin_write().await?;
                let fresh = store::authn_request_id::remember(
                    &mut tx,
                    &app.id,
                    &request.id,
                    super::replay_expiry(&app.saml, &request),
                )
                .await?;
                tx.commit().await?;
                if !fresh {
                    return self
                        .refuse_checked(
                            &app,
                            source_ip,
                            RequestRefusal::Replayed,
                            Some(&request.issuer),
                        )
                        .await;
                }
            }
            let parked = match checked {
                Err(refusal) => {
                    return self
                        .refuse_checked(&app, source_ip, refusal, Some(&request.issuer))
                        .await;
                }
                Ok(Err((parked, failure))) => {
                    self.audit_sso(
                        &app,
                        None,
                        source_ip,
                        false,
                        json!({ "reason": failure.message }),
                    )
                    .await?;
                    return self
                        .error_response(&app, &instance, &parked, failure, relay_state)
                        .await;
                }
                Ok(Ok(parked)) => parked,
            };
            if posted {
                // A cross-site POST carries no Lax cookie: continue on a same-site GET that does.
                let id = self
                    .park_request(&app, &instance, &parked, relay_state)
                    .await?;
                return Ok(SsoOutcome::Redirect {
                    location: continue_path(&instance.id, &id),
                });
            }
            self.answer(
                &app,
                &instance,
                parked,
                relay_state,
                session,
                source_ip,
                None,
            )
            .await
        }

        /// Refuses a request for `refusal` (audited) with a page; nothing goes to the SP.
        async fn refuse_checked(
            &self,
            app: &Application,
            source_ip: Option<&str>,
            refusal: RequestRefusal,
            issuer: Option<&str>,
        ) -> Result<SsoOutcome> {
            self.audit_sso(
                app,
                None,
                source_ip,
                false,
                json!({ "reason": refusal.to_string(), "issuer": issuer }),
            )
            .await?;
            let status = if refusal == RequestRefusal::NotConfigured {
                409
            } else {
                400
            };
            Ok(page(status, "Sign-on request refused", refusal.to_string()))
        }

        async fn refuse_request(
            &self,
            app: &Application,
            source_ip: Option<&str>,
            detail: String,
        ) -> Result<SsoOutcome> {
            self.audit_sso(
                app,
                None,
                source_ip,
                false,
                json!({ "reason": "bad request", "error": detail }),
            )
            .await?;
            Ok(page(
                400,
                "Invalid sign-on request",
                "The application sent a sign-on request that could not be accepted.",
            ))
        }

        async fn park_request(
            &self,
            app: &Application,
            instance: &Instance,
            parked: &ParkedRequest,
            relay_state: Option<String>,
        ) -> Result<String> {
            let now = self.now();
            let id = id::new_id("sso");
            let p = PendingSso {
                id: id.clone(),
                instance_id: instance.id.clone(),
                app_id: app.id.clone(),
                request: serde_json::to_string(parked).map_err(internal)?,
                relay_state,
                created_at: now,
                expires_at: now + PENDING_TTL_SECS,
            };
            let mut tx = self.store.begin_write().await?;
            store::pending_sso::insert(&mut tx, &p).await?;
            tx.commit().await?;
            Ok(id)
        }

        /// Parks a request and sends the browser through the sign-in page.
        async fn park(
            &self,
            app: &Application,
            instance: &Instance,
            parked: &ParkedRequest,
            relay_state: Option<String>,
            level: AuthnLevel,
            reuse_id: Option<&str>,
        ) -> Result<SsoOutcome> {
            let id = match reuse_id {
                Some(id) => id.to_owned(),
                None => {
                    self.park_request(app, instance, parked, relay_state)
                        .await?
                }
            };
            let cont = continue_path(&instance.id, &id);
            let mut location = format!(
                "/i/{}/login?continue={}",
                instance.id,
                crate::http::auth::query_escape(&cont)
            );
            if parked.force_authn {
                location.push_str("&force=1");
            }
            if level == AuthnLevel::Mfa {
                location.push_str("&mfa=1");
            }
            Ok(SsoOutcome::Redirect { location })
        }

        /// Continues a parked request after sign-in (`/i/{iid}/sso/{pending_id}`).
        pub async fn sso_continue(
            &self,
            instance: &Instance,
            pending_id: &str,
            session: Option<Session>,
            source_ip: Option<&str>,
        ) -> Result<SsoOutcome> {
            let now = self.now();
            let pending = {
                let mut conn = self.store.read().await?;
                store::pending_sso::get(&mut conn, &instance.id, pending_id, now).await?
            };
            let Some(pending) = pending else {
                return Ok(page(
                    410,
                    "Sign-on expired",
                    "This sign-on request has expired. Go back to the application and start again.",
                ));
            };
            let Some((app, _)) = self.load_app_instance(&pending.app_id).await? else {
                return Ok(page(
                    404,
                    "Unknown application",
                    "The application no longer exists.",
                ));
            };
            if !app.sso_usable() {
                return Ok(page(
                    403,
                    "Application unavailable",
                    "Single sign-on to this application is disabled. Contact your administrator.",
                ));
            }
            let parked: ParkedRequest = serde_json::from_str(&pending.request).map_err(internal)?;
            self.answer(
                &app,
                instance,
                parked,
                pending.relay_state.clone(),
                session,
                source_ip,
                Some(&pending.id),
            )
            .await
        }

        /// IdP-initiated SSO from the portal.
        pub async fn sso_launch(
            &self,
            instance: &Instance,
            session: Session,
            app_id: &str,
            relay_state: Option<&str>,
            source_ip: Option<&str>,
        ) -> Result<SsoOutcome> {
            let app = {
                let mut conn = self.store.read().await?;
                store::application::get(&mut conn, &instance.id, app_id).await?
            };
            let Some(app) = app else {
                return Ok(page(
                    404,
                    "Unknown application",
                    "This application does not exist.",
                ));
            };
            if !app.sso_usable() {
                return Ok(page(
                    403,
                    "Application unavailable",
                    "Single sign-on to this application is disabled.",
                ));
            }
            let Some(parked) = super::idp_initiated(&app.saml, self.now()) else {
                if let Some(url) = app.saml.init_login_url.clone()
                    && app.saml.init_login_type == crate::application::InitLoginType::OnlyAppInitSso
                {
                    return Ok(SsoOutcome::Redirect { location: url });
                }
                return Ok(page(
                    409,
                    "Open the application itself",
                    "This application cannot be started from the portal: open it directly and sign in from there.",
                ));
            };
            // RelayState from the portal is taken only from the app's own list.
            let relay = match relay_state.filter(|r| !r.is_empty()) {
                Some(r) if app.saml.offers_relay_state(r) => Some(r.to_owned()),
                Some(_) => {
                    return Ok(page(
                        400,
                        "Unknown link",
                        "This link is not configured for the application.",
                    ));
                }
                None => app.saml.default_relay_state.clone(),
            };
            self.answer(
                &app,
                instance,
                parked,
                relay,
                Some(session),
                source_ip,
                None,
            )
            .await
        }

        async fn error_response(
            &self,
            app: &Application,
            instance: &Instance,
            parked: &ParkedRequest,
            failure: SamlFailure,
            relay_state: Option<String>,
        ) -> Result<SsoOutcome> {
            let base = self.instance_base_url(instance).to_owned();
            let issuer = app.saml.idp_entity_id_or_default(&base, &app.id);
            let key = self
                .active_signing_key(
                    &instance.id,
                    KeyAlgorithm::from(app.saml.signature_algorithm),
                )
                .await?;
            let params = saml::response::ErrorResponseParams {
                response_id: super::new_saml_id(),
                issue_instant: time::OffsetDateTime::from_unix_timestamp(self.now())
                    .map_err(internal)?,
                issuer,
                destination: parked.acs_url.clone(),
                in_response_to: parked.request_id.clone(),
                status: failure.top_status(),
                sub_status: Some(failure.sub_status),
                message: Some(failure.message.to_owned()),
            };
            let alg = key.stored.algorithm.signature_algorithm();
            let xml = saml::response::build_error_response(
                &params,
                Some((
                    &key.key,
                    &key.certificate,
                    alg,
                    saml::algorithm::DigestAlgorithm::Sha256,
                )),
            )
            .map_err(internal)?;
            Ok(SsoOutcome::Post {
                acs_url: parked.acs_url.clone(),
                xml,
                relay_state,
            })
        }

        #[allow(clippy::too_many_arguments)]
        async fn answer(
            &self,
            app: &Application,
            instance: &Instance,
            parked: ParkedRequest,
            relay_state: Option<String>,
            session: Option<Session>,
            source_ip: Option<&str>,
            pending_id: Option<&str>,
        ) -> Result<SsoOutcome> {
            let session = session.filter(|s| !s.mfa_pending && s.instance_id == instance.id);
            let mut parked = parked;
            if parked.force_authn && !parked.force_checked {
                // The session present when the request is first seen cannot satisfy ForceAuthn,
                // whatever its timestamps (they have one-second resolution).
                parked.force_checked = true;
                parked.stale_session = session.as_ref().map(|s| s.id_hash.clone());
                if let Some(pid) = pending_id {
                    let mut conn = self.store.read().await?;
                    store::pending_sso::update_request(
                        &mut conn,
                        pid,
                        &serde_json::to_string(&parked).map_err(internal)?,
                    )
                    .await?;
                }
            }
            let stale = parked.force_authn
                && session
                    .as_ref()
                    .is_some_and(|s| parked.stale_session.as_deref() == Some(s.id_hash.as_str()));
            let user = match &session {
                Some(s) => {
                    let mut conn = self.store.read().await?;
                    store::user::get(&mut conn, &instance.id, &s.user_id).await?
                }
                None => None,
            };
            let state = session.as_ref().map(|s| SignInState {
                level: AuthnLevel::from_methods(&s.authn_methods),
                authn_instant: if stale { i64::MIN } else { s.authn_instant },
            });
            let can_mfa = user.as_ref().is_some_and(|u| u.mfa_enabled);
            let state = if user.is_some() { state } else { None };
            match super::decide(&parked, state, can_mfa) {
                Decision::SignIn { level } => {
                    self.park(app, instance, &parked, relay_state, level, pending_id)
                        .await
                }
                Decision::Fail(failure) => {
                    if !self
                        .finish_sso(
                            app,
                            pending_id,
                            user.as_ref().map(|u| u.id.as_str()),
                            source_ip,
                            false,
                            json!({ "reason": failure.message }),
                        )
                        .await?
                    {
                        return Ok(already_answered());
                    }
                    self.error_response(app, instance, &parked, failure, relay_state)
                        .await
                }
                Decision::Answer { class_ref } => {
                    let (Some(session), Some(user)) = (session, user) else {
                        return Err(Error::Internal("answer without a session".into()));
                    };
                    if user.must_change_password {
                        let cont = match pending_id {
                            Some(p) => continue_path(&instance.id, p),
                            None => continue_path(
                                &instance.id,
                                &self
                                    .park_request(app, instance, &parked, relay_state)
                                    .await?,
                            ),
                        };
                        return Ok(SsoOutcome::Redirect {
                            location: format!(
                                "/i/{}/password?continue={}",
                                instance.id,
                                crate::http::auth::query_escape(&cont)
                            ),
                        });
                    }
                    if !self.is_authorized(app, &user).await? {
                        if !self
                            .finish_sso(
                                app,
                                pending_id,
                                Some(&user.id),
                                source_ip,
                                false,
                                json!({ "reason": "not authorized" }),
                            )
                            .await?
                        {
                            return Ok(already_answered());
                        }
                        return Ok(page(
                            403,
                            "Access denied",
                            "You are not authorized to use this application. Contact your administrator.",
                        ));
                    }
                    let attrs = self.user_attributes(&user).await?;
                    let app_username = {
                        let mut conn = self.store.read().await?;
                        store::app_account::get(&mut conn, &app.id, &user.id)
                            .await?
                            .map(|a| a.app_username)
                    };
                    let ctx = EvalContext {
                        user: &attrs,
                        app_username: app_username.as_deref(),
                    };
                    let content = match super::assertion_content(&app.saml, &ctx) {
                        Ok(c) => c,
                        Err(e) => {
                            if !self
                                .finish_sso(
                                    app,
                                    pending_id,
                                    Some(&user.id),
                                    source_ip,
                                    false,
                                    json!({ "reason": e.to_string() }),
                                )
                                .await?
                            {
                                return Ok(already_answered());
                            }
                            return Ok(page(
                                403,
                                "No application account",
                                "Single sign-on cannot proceed: you have no account for this application. Contact your administrator.",
                            ));
                        }
                    };
                    let base = self.instance_base_url(instance).to_owned();
                    let issuer = app.saml.idp_entity_id_or_default(&base, &app.id);
                    let session_index = super::session_index(&session.id_hash, &app.id);
                    let rc = ResponseContext {
                        app,
                        issuer: &issuer,
                        parked: &parked,
                        authn_instant: session.authn_instant,
                        class_ref: &class_ref,
                        session_index: &session_index,
                        session_expires_at: session.expires_at,
                        now: self.now(),
                    };
                    let name_id = content.name_id.value.clone();
                    let params = super::response_params(&rc, content);
                    let key = self
                        .active_signing_key(
                            &instance.id,
                            KeyAlgorithm::from(app.saml.signature_algorithm),
                        )
                        .await?;
                    let alg = key.stored.algorithm.signature_algorithm();
                    let xml = saml::response::build_response(
                        &params,
                        &key.key,
                        &key.certificate,
                        alg,
                        saml::algorithm::DigestAlgorithm::Sha256,
                    )
                    .map_err(internal)?;
                    // The parked request is consumed with the audit event of the answer: of two
                    // parallel continuations only one gets the Response.
                    if !self
                        .finish_sso(
                            app,
                            pending_id,
                            Some(&user.id),
                            source_ip,
                            true,
                            json!({
                                "name_id": name_id,
                                "in_response_to": parked.request_id,
                                "acs_url": parked.acs_url,
                                "authn_context": class_ref,
                                "idp_initiated": parked.request_id.is_none(),
                            }),
                        )
                        .await?
                    {
                        return Ok(already_answered());
                    }
                    Ok(SsoOutcome::Post {
                        acs_url: parked.acs_url.clone(),
                        xml,
                        relay_state,
                    })
                }
            }
        }

        /// Everything an attribute expression may read about `user`.
        pub async fn user_attributes(&self, user: &User) -> Result<UserAttributes> {
            let mut conn = self.store.read().await?;
            let rows = sqlx::query(
                "SELECT o.id AS id, o.name AS name, o.external_id AS external_id FROM org_units o \
                 JOIN user_org_units m ON m.ou_id = o.id WHERE m.user_id = $1 ORDER BY o.name, o.id",
            )
            .bind(&user.id)
            .fetch_all(&mut *conn)
            .await?;
            let mut org_units = Vec::new();
            for r in &rows {
                use sqlx::Row;
                org_units.push(OrgUnitRef {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    external_id: r.try_get("external_id")?,
                });
            }
            let rows = sqlx::query(
                "SELECT g.id AS id, g.name AS name, g.external_id AS external_id FROM groups g \
                 JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name, g.id",
            )
            .bind(&user.id)
            .fetch_all(&mut *conn)
            .await?;
            let mut groups = Vec::new();
            for r in &rows {
                use sqlx::Row;
                groups.push(GroupRef {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    external_id: r.try_get("external_id")?,
                });
            }
            let custom_fields = user
                .custom_fields
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect();
            Ok(UserAttributes {
                username: user.username.clone(),
                display_name: user.display_name.clone(),
                email: user.email.clone(),
                phone_number: user.phone.clone(),
                status: user.status.as_str().to_owned(),
                primary_ou_id: user.primary_ou_id.clone(),
                org_units,
                groups,
                custom_fields,
            })
        }
    }
}

pub use services::continue_path;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{AccountField, AccountMapping, AttributeStatement, NameIdFormat};
    use crate::attribute_expr::{AttributeExpr, UserAttributes};

    const SSO: &str = "https://idp.example/login/app/app_1/saml2/sso";

    fn config() -> SamlConfig {
        SamlConfig {
            sp_entity_id: Some("https://sp.example/meta".into()),
            acs_url: Some("https://sp.example/acs".into()),
            ..SamlConfig::default()
        }
    }

    fn request() -> AuthnRequest {
        AuthnRequest {
            id: "_req1".into(),
            issue_instant: OffsetDateTime::UNIX_EPOCH,
            destination: None,
            issuer: "https://sp.example/meta".into(),
            assertion_consumer_service_url: Some("https://sp.example/acs".into()),
            assertion_consumer_service_index: None,
            protocol_binding: Some(BINDING_HTTP_POST.into()),
            force_authn: false,
            is_passive: false,
            name_id_policy: None,
            requested_authn_context: None,
            has_enveloped_signature: false,
        }
    }

    fn ctx(comparison: AuthnContextComparison, refs: &[&str]) -> RequestedAuthnContext {
        RequestedAuthnContext {
            comparison,
            class_refs: refs.iter().map(|s| (*s).to_owned()).collect(),
            decl_refs: vec![],
        }
    }

    #[test]
    fn issuer_acs_and_signature_rules() {
        let c = config();
        assert!(
            check_request(&c, &request(), false, SSO, 0)
                .unwrap()
                .is_ok()
        );
        let r = AuthnRequest {
            issuer: "https://evil.example".into(),
            ..request()
        };
        assert_eq!(
            check_request(&c, &r, false, SSO, 0),
            Err(RequestRefusal::UnknownIssuer)
        );
        let foreign = AuthnRequest {
            assertion_consumer_service_url: Some("https://evil.example/acs".into()),
            ..request()
        };
        assert_eq!(
            check_request(&c, &foreign, false, SSO, 0),
            Err(RequestRefusal::AcsMismatch)
        );
        // A signed request may name its own ACS only when the app allows it.
        assert_eq!(
            check_request(&c, &foreign, true, SSO, 0),
            Err(RequestRefusal::AcsMismatch)
        );
        let allowing = SamlConfig {
            allow_acs_from_signed_requests: true,
            ..config()
        };
        assert_eq!(
            check_request(&allowing, &foreign, true, SSO, 0)
                .unwrap()
                .unwrap()
                .acs_url,
            "https://evil.example/acs"
        );
        assert_eq!(
            check_request(&allowing, &foreign, false, SSO, 0),
            Err(RequestRefusal::AcsMismatch)
        );
        let signed_only = SamlConfig {
            want_signed_requests: true,
            ..config()
        };
        assert_eq!(
            check_request(&signed_only, &request(), false, SSO, 0),
            Err(RequestRefusal::SignatureRequired)
        );
        assert!(
            check_request(&signed_only, &request(), true, SSO, 0)
                .unwrap()
                .is_ok()
        );
        let no_acs = AuthnRequest {
            assertion_consumer_service_url: None,
            ..request()
        };
        assert_eq!(
            check_request(&c, &no_acs, false, SSO, 0)
                .unwrap()
                .unwrap()
                .acs_url,
            "https://sp.example/acs"
        );
        assert_eq!(
            check_request(&SamlConfig::default(), &request(), false, SSO, 0),
            Err(RequestRefusal::NotConfigured)
        );
    }

    #[test]
    fn unsupported_binding_and_context_are_saml_errors() {
        let r = AuthnRequest {
            protocol_binding: Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact".into()),
            ..request()
        };
        let (_, f) = check_request(&config(), &r, false, SSO, 0)
            .unwrap()
            .unwrap_err();
        assert_eq!(f.sub_status, StatusCode::UnsupportedBinding);
        let r = AuthnRequest {
            requested_authn_context: Some(ctx(
                AuthnContextComparison::Exact,
                &["urn:example:smartcard"],
            )),
            ..request()
        };
        let (parked, f) = check_request(&config(), &r, false, SSO, 0)
            .unwrap()
            .unwrap_err();
        assert_eq!(f.sub_status, StatusCode::NoAuthnContext);
        assert_eq!(parked.request_id.as_deref(), Some("_req1"));
    }

    fn parked(r: AuthnRequest) -> ParkedRequest {
        check_request(&config(), &r, false, SSO, 100)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn sessions_passive_and_force() {
        let p = parked(request());
        assert_eq!(
            decide(&p, None, false),
            Decision::SignIn {
                level: AuthnLevel::Password
            }
        );
        let pw = SignInState {
            level: AuthnLevel::Password,
            authn_instant: 50,
        };
        assert_eq!(
            decide(&p, Some(pw), false),
            Decision::Answer {
                class_ref: AC_PASSWORD_PROTECTED_TRANSPORT.into()
            }
        );
        let passive = parked(AuthnRequest {
            is_passive: true,
            ..request()
        });
        assert!(
            matches!(decide(&passive, None, false), Decision::Fail(f) if f.sub_status == StatusCode::NoPassive)
        );
        assert!(matches!(
            decide(&passive, Some(pw), false),
            Decision::Answer { .. }
        ));
        let force = parked(AuthnRequest {
            force_authn: true,
            ..request()
        });
        assert_eq!(
            decide(&force, Some(pw), false),
            Decision::SignIn {
                level: AuthnLevel::Password
            }
        );
        let fresh = SignInState {
            level: AuthnLevel::Password,
            authn_instant: 150,
        };
        assert!(matches!(
            decide(&force, Some(fresh), false),
            Decision::Answer { .. }
        ));
    }

    #[test]
    fn requested_contexts() {
        let pw = SignInState {
            level: AuthnLevel::Password,
            authn_instant: 200,
        };
        let mfa = SignInState {
            level: AuthnLevel::Mfa,
            authn_instant: 200,
        };
        let exact_ppt = parked(AuthnRequest {
            requested_authn_context: Some(ctx(
                AuthnContextComparison::Exact,
                &[AC_PASSWORD_PROTECTED_TRANSPORT],
            )),
            ..request()
        });
        assert_eq!(
            decide(&exact_ppt, Some(pw), false),
            Decision::Answer {
                class_ref: AC_PASSWORD_PROTECTED_TRANSPORT.into()
            }
        );
        assert_eq!(
            decide(&exact_ppt, Some(mfa), false),
            Decision::Answer {
                class_ref: AC_PASSWORD_PROTECTED_TRANSPORT.into()
            }
        );
        let want_mfa = parked(AuthnRequest {
            requested_authn_context: Some(ctx(AuthnContextComparison::Exact, &[AC_REFEDS_MFA])),
            ..request()
        });
        assert_eq!(
            decide(&want_mfa, None, false),
            Decision::SignIn {
                level: AuthnLevel::Mfa
            }
        );
        assert_eq!(
            decide(&want_mfa, Some(pw), true),
            Decision::SignIn {
                level: AuthnLevel::Mfa
            }
        );
        assert!(
            matches!(decide(&want_mfa, Some(pw), false), Decision::Fail(f) if f.sub_status == StatusCode::NoAuthnContext)
        );
        assert_eq!(
            decide(&want_mfa, Some(mfa), false),
            Decision::Answer {
                class_ref: AC_REFEDS_MFA.into()
            }
        );
        let minimum = parked(AuthnRequest {
            requested_authn_context: Some(ctx(AuthnContextComparison::Minimum, &[AC_PASSWORD])),
            ..request()
        });
        assert_eq!(
            decide(&minimum, Some(mfa), false),
            Decision::Answer {
                class_ref: AC_REFEDS_MFA.into()
            }
        );
        let better = parked(AuthnRequest {
            requested_authn_context: Some(ctx(
                AuthnContextComparison::Better,
                &[AC_PASSWORD_PROTECTED_TRANSPORT],
            )),
            ..request()
        });
        assert!(matches!(
            decide(&better, Some(pw), false),
            Decision::Fail(_)
        ));
        assert_eq!(
            decide(&better, Some(mfa), false),
            Decision::Answer {
                class_ref: AC_REFEDS_MFA.into()
            }
        );
        let maximum = parked(AuthnRequest {
            requested_authn_context: Some(ctx(
                AuthnContextComparison::Maximum,
                &[AC_PASSWORD_PROTECTED_TRANSPORT],
            )),
            ..request()
        });
        assert_eq!(
            decide(&maximum, Some(mfa), false),
            Decision::Answer {
                class_ref: AC_PASSWORD_PROTECTED_TRANSPORT.into()
            }
        );
    }

    #[test]
    fn content_and_lowercase() {
        let user = UserAttributes {
            username: "Alice".into(),
            email: Some("A@Example.com".into()),
            ..UserAttributes::default()
        };
        let cfg = SamlConfig {
            name_id_format: NameIdFormat::EmailAddress,
            application_account: AccountMapping::IdaasAccount {
                field: AccountField::Email,
            },
            name_id_lowercase: true,
            attribute_statements: vec![
                AttributeStatement {
                    name: "uid".into(),
                    value_expression: AttributeExpr::parse("user.username").unwrap(),
                },
                AttributeStatement {
                    name: "phone".into(),
                    value_expression: AttributeExpr::parse("user.phoneNumber").unwrap(),
                },
            ],
            ..config()
        };
        let c = assertion_content(
            &cfg,
            &EvalContext {
                user: &user,
                app_username: None,
            },
        )
        .unwrap();
        assert_eq!(c.name_id.value, "a@example.com");
        assert_eq!(c.name_id.format, NameIdFormat::EmailAddress.uri());
        assert_eq!(c.attributes.len(), 1, "empty values are left out");
        assert_eq!(c.attributes[0].values, vec!["Alice".to_owned()]);
        let app_only = SamlConfig {
            application_account: AccountMapping::ApplicationAccount,
            ..config()
        };
        assert_eq!(
            assertion_content(
                &app_only,
                &EvalContext {
                    user: &user,
                    app_username: None
                }
            ),
            Err(AssertionError::NameId(NameIdError::NoApplicationAccount))
        );
    }

    #[test]
    fn idp_initiated_respects_mode() {
        assert!(
            idp_initiated(&config(), 0).is_none(),
            "IdP-initiated SSO is opt-in"
        );
        let opted_in = SamlConfig {
            init_login_type: crate::application::InitLoginType::IdaasOrAppInitSso,
            ..config()
        };
        assert!(idp_initiated(&opted_in, 0).is_some());
        let only_app = SamlConfig {
            init_login_type: crate::application::InitLoginType::OnlyAppInitSso,
            init_login_url: Some("https://sp.example/login".into()),
            ..config()
        };
        assert!(idp_initiated(&only_app, 0).is_none());
        assert!(new_saml_id().starts_with('_'));
        assert_eq!(session_index("h", "a"), session_index("h", "a"));
        assert_ne!(session_index("h", "a"), session_index("h", "b"));
    }
}
