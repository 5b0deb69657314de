//! Cloud SSO as SAML service provider: SP metadata, the SP-initiated AuthnRequest (optionally
//! signed with the directory's SP key: detached on HTTP-Redirect, enveloped on HTTP-POST), and the
//! ACS, which checks every rule of saml-defense.md 1–7 through `saml::response::validate_response`
//! (signed assertion required) and then the replay cache, the pending request, the user and the
//! logon IP allow-list before it opens a portal session.
//!
//! Encrypted assertions: the SP metadata publishes the directory's SP certificate for `signing` and
//! for `encryption`; the ACS decrypts an `EncryptedAssertion` with the directory's SP key (RSA-OAEP,
//! AES-CBC/GCM, see `saml::xmlenc`) and, since a signed assertion is required, accepts it only when
//! the decrypted assertion carries a valid IdP signature (Keycloak CVE-2026-2092).

use saml::algorithm::{DigestAlgorithm, SignatureAlgorithm};
use saml::metadata::{BINDING_HTTP_POST, BINDING_HTTP_REDIRECT};
use saml::response::ResponseValidationError;
use saml::xml::writer::Element;

use crate::directory::{BindingType, Directory};

/// NameID format we ask for (the NameID must equal a directory user name).
pub const NAME_ID_FORMAT_UNSPECIFIED: &str =
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// How to send the browser to the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoStart {
    /// HTTP-Redirect: a `Location` URL.
    Redirect(String),
    /// HTTP-POST: an auto-submitting page and the CSP nonce of its script.
    Post {
        /// The HTML page.
        html: String,
        /// The nonce the `Content-Security-Policy` header must allow.
        csp_nonce: String,
        /// The IdP URL (for `form-action`).
        action: String,
    },
}

/// Longest ACS uuid (from the URL path, so attacker-chosen) written to the audit log.
pub const MAX_AUDITED_ACS_UUID: usize = 64;

/// Why the ACS refused a Response. The user sees [`AcsError::user_message`]; details go to the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AcsError {
    /// No directory has this ACS URL.
    #[error("unknown ACS URL")]
    UnknownAcs,
    /// SSO is disabled for the directory.
    #[error("SSO is disabled for this directory")]
    SsoDisabled,
    /// No IdP (or no certificate) configured: fail closed.
    #[error("no identity provider configured")]
    IdpNotConfigured,
    /// The form value is not a base64 SAML message.
    #[error("malformed SAMLResponse: {0}")]
    Malformed(String),
    /// The Response carries an EncryptedAssertion and the directory has no RSA SP key to decrypt it.
    #[error("encrypted assertion but no decryption key")]
    EncryptedAssertion,
    /// The Response failed validation.
    #[error("invalid response: {0}")]
    Invalid(#[from] ResponseValidationError),
    /// The assertion ID was already used.
    #[error("assertion {0} was already used (replay)")]
    Replay(String),
    /// The NameID names no user of the directory.
    #[error("no user {0:?} in the directory")]
    UnknownUser(String),
    /// The user's logon is disabled.
    #[error("user {0:?} is disabled")]
    UserDisabled(String),
    /// The source address is not in the logon IP allow-list.
    #[error("logon from this address is not allowed")]
    AddressNotAllowed,
    /// Something else failed.
    #[error(transparent)]
    Service(#[from] crate::error::Error),
}

impl AcsError {
    /// What the error page says (generic for protocol failures, explicit for the user's account).
    pub fn user_message(&self) -> String {
        match self {
            AcsError::UnknownAcs => "This sign-in address is unknown.".to_owned(),
            AcsError::SsoDisabled => {
                "SSO is not enabled for this directory: log on with your user name and password.".to_owned()
            }
            AcsError::IdpNotConfigured => "SSO is not configured for this directory.".to_owned(),
            AcsError::EncryptedAssertion => {
                "Your identity provider sent an encrypted assertion that Cloud SSO cannot decrypt. Ask your administrator to check the encryption certificate configured for Cloud SSO.".to_owned()
            }
            AcsError::UnknownUser(name) => format!(
                "The identity provider signed you in as {name:?}, but there is no such user in this Cloud SSO directory. Ask your administrator to create the user."
            ),
            AcsError::UserDisabled(name) => format!(
                "The user {name:?} is disabled in this Cloud SSO directory. Ask your administrator."
            ),
            AcsError::AddressNotAllowed => "Logon from your network address is not allowed.".to_owned(),
            AcsError::Malformed(_) | AcsError::Invalid(_) | AcsError::Replay(_) => {
                "The sign-in response from your identity provider could not be accepted. Start again from the logon page.".to_owned()
            }
            AcsError::Service(_) => "Logon is not possible right now.".to_owned(),
        }
    }
}

/// A successful ACS: the new portal session and where to send the browser.
#[derive(Debug)]
pub struct AcsLogon {
    /// The directory.
    pub directory: Directory,
    /// The session and its cookie token.
    pub session: crate::store::session::NewSession,
    /// A path inside the directory's portal (`/{name}` or the deep link kept with the request).
    pub redirect_to: String,
}

/// Renders the SP metadata of a directory (entity ID, signing certificate, ACS over HTTP-POST).
pub fn sp_metadata_xml(
    entity_id: &str,
    acs_url: &str,
    certificate: &saml::key::Certificate,
    want_request_signed: bool,
) -> String {
    let sp = Element::new("md", "SPSSODescriptor")
        .attr(
            "AuthnRequestsSigned",
            if want_request_signed { "true" } else { "false" },
        )
        .attr("WantAssertionsSigned", "true")
        .attr("protocolSupportEnumeration", saml::metadata::SAML2_PROTOCOL)
        .children(["signing", "encryption"].map(|usage| {
            Element::new("md", "KeyDescriptor")
                .attr("use", usage)
                .child(
                    Element::new("ds", "KeyInfo").child(Element::new("ds", "X509Data").child(
                        Element::new("ds", "X509Certificate").text(certificate.to_base64()),
                    )),
                )
        }))
        .child(Element::new("md", "NameIDFormat").text(NAME_ID_FORMAT_UNSPECIFIED))
        .child(
            Element::new("md", "AssertionConsumerService")
                .attr("Binding", BINDING_HTTP_POST)
                .attr("Location", acs_url.to_owned())
                .attr("index", "0")
                .attr("isDefault", "true"),
        );
    let entity = Element::new("md", "EntityDescriptor")
        .attr("entityID", entity_id.to_owned())
        .child(sp);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        entity.to_xml()
    )
}

/// Whether a RelayState may be used as the redirect target after logon: only a path of the
/// directory's own portal (rule 8: never an open redirect).
pub fn safe_portal_target(directory: &Directory, relay_state: Option<&str>) -> Option<String> {
    let rs = relay_state?;
    let root = format!("/{}", directory.name);
    let ok =
        (rs == root || rs.starts_with(&format!("{root}/")) || rs.starts_with(&format!("{root}?")))
            && !rs.contains("//")
            && !rs.contains('\\')
            && !rs.chars().any(char::is_control);
    ok.then(|| rs.to_owned())
}

/// The `InResponseTo` a Response claims (untrusted; only to look up the pending request, which the
/// validation then binds to the signed assertion).
fn claimed_in_response_to(xml: &str) -> Option<String> {
    let doc = saml::xml::reader::parse(xml, &saml::xml::reader::Limits::default()).ok()?;
    let root = doc.root_element();
    if let Some(v) = root.attribute("InResponseTo") {
        return Some(v.to_owned());
    }
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "SubjectConfirmationData")
        .and_then(|n| n.attribute("InResponseTo"))
        .map(str::to_owned)
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store::{self, session::Session, session::SessionKind};
    use crate::user::UserStatus;

    fn instant(unix: i64) -> Result<time::OffsetDateTime> {
        time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| Error::Internal(e.to_string()))
    }

    impl Services {
        /// The SP metadata document of a directory.
        pub fn sp_metadata(&self, directory: &Directory) -> Result<String> {
            let cert = saml::key::Certificate::from_pem(&directory.sp_certificate)
                .map_err(|e| Error::Internal(format!("SP certificate: {e}")))?;
            Ok(sp_metadata_xml(
                &self.sp_entity_id(directory),
                &self.acs_url(directory),
                &cert,
                directory.sso.want_request_signed,
            ))
        }

        /// Starts SP-initiated SSO: builds the AuthnRequest (signed if WantRequestSigned), remembers
        /// its ID with the RelayState (a portal path kept for after the logon), and says how to send it.
        pub async fn start_sso(
            &self,
            directory: &Directory,
            relay_state: Option<&str>,
        ) -> Result<SsoStart> {
            if !directory.sso.enabled {
                return Err(Error::conflict("SSO is not enabled for this directory"));
            }
            let idp = directory
                .sso
                .idp
                .as_ref()
                .ok_or_else(|| Error::conflict("no identity provider configured"))?;
            let relay_state = safe_portal_target(directory, relay_state);
            let now = self.now();
            let request_id = format!("_{}", hex::encode(uuid::Uuid::new_v4().as_bytes()));
            let binding = directory.sso.binding_type;
            let protocol_binding = BINDING_HTTP_POST;
            let issue_instant = instant(now)?;
            let xml_element = Element::new("samlp", "AuthnRequest")
                .attr("ID", request_id.clone())
                .attr("Version", "2.0")
                .attr("IssueInstant", saml::instant::format_instant(issue_instant))
                .attr("Destination", idp.login_url.clone())
                .attr("AssertionConsumerServiceURL", self.acs_url(directory))
                .attr("ProtocolBinding", protocol_binding)
                .child(Element::new("saml", "Issuer").text(self.sp_entity_id(directory)))
                .child(
                    Element::new("samlp", "NameIDPolicy")
                        .attr("Format", NAME_ID_FORMAT_UNSPECIFIED)
                        .attr("AllowCreate", "false"),
                );
            let mut tx = self.store.begin_write().await?;
            store::saml_state::insert_pending(
                &mut tx,
                &request_id,
                &directory.id,
                relay_state.as_deref(),
                now,
                now + self.config.authn_request_ttl_secs,
            )
            .await?;
            tx.commit().await?;
            // The RelayState sent to the IdP is the request ID: opaque, short, and the portal target
            // stays on our side.
            let sent_relay_state = Some(request_id.as_str());
            let signer = if directory.sso.want_request_signed {
                Some(self.sp_signing_key(directory)?)
            } else {
                None
            };
            match binding {
                BindingType::Redirect => {
                    let xml = xml_element.to_xml();
                    let query = saml::binding::encode_redirect(
                        saml::binding::MessageParam::Request,
                        &xml,
                        sent_relay_state,
                        signer
                            .as_ref()
                            .map(|(k, _)| (k, SignatureAlgorithm::RsaSha256)),
                    )
                    .map_err(|e| Error::Internal(e.to_string()))?;
                    let sep = if idp.login_url.contains('?') {
                        '&'
                    } else {
                        '?'
                    };
                    Ok(SsoStart::Redirect(format!("{}{sep}{query}", idp.login_url)))
                }
                BindingType::Post => {
                    let mut el = xml_element;
                    if let Some((key, cert)) = &signer {
                        saml::dsig::sign_enveloped(
                            &mut el,
                            &request_id,
                            1,
                            key,
                            cert,
                            SignatureAlgorithm::RsaSha256,
                            DigestAlgorithm::Sha256,
                        )
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    }
                    let xml = el.to_xml();
                    let csp_nonce = web::id::new_secret("n");
                    let html = saml::binding::render_post_form(&saml::binding::PostForm {
                        action: &idp.login_url,
                        param: saml::binding::MessageParam::Request,
                        xml: &xml,
                        relay_state: sent_relay_state,
                        csp_nonce: &csp_nonce,
                    });
                    Ok(SsoStart::Post {
                        html,
                        csp_nonce,
                        action: idp.login_url.clone(),
                    })
                }
            }
        }

        /// The ACS: validates a posted `SAMLResponse` for the directory with this ACS uuid and opens
        /// a portal session. Every refusal is audited with its reason and creates no session; an
        /// unknown ACS uuid is audited with no directory (see [`Services::audit_acs_refusal`]).
        pub async fn consume_saml_response(
            &self,
            acs_uuid: &str,
            saml_response: &str,
            relay_state: Option<&str>,
            ip: Option<&str>,
        ) -> std::result::Result<AcsLogon, AcsError> {
            let directory = {
                let mut conn = self.store.read().await?;
                store::directory::get_by_acs_uuid(&mut conn, acs_uuid).await?
            };
            let Some(directory) = directory else {
                self.record_acs_refusal(None, acs_uuid, ip, &AcsError::UnknownAcs.to_string())
                    .await;
                return Err(AcsError::UnknownAcs);
            };
            match self
                .consume_for(&directory, saml_response, relay_state, ip)
                .await
            {
                Ok(logon) => Ok(logon),
                Err(e) => {
                    self.record_acs_refusal(Some(&directory.id), acs_uuid, ip, &e.to_string())
                        .await;
                    Err(e)
                }
            }
        }

        /// Audits a request the ACS refused before reading a `SAMLResponse` (an unreadable form,
        /// e.g. a body above the HTTP limit): a `logon:saml` failure with `reason`, in the
        /// directory of `acs_uuid`, or with no directory when no directory has that ACS uuid.
        pub async fn audit_acs_refusal(&self, acs_uuid: &str, ip: Option<&str>, reason: &str) {
            let directory_id = match self.store.read().await {
                Ok(mut conn) => store::directory::get_by_acs_uuid(&mut conn, acs_uuid)
                    .await
                    .ok()
                    .flatten()
                    .map(|d| d.id),
                Err(_) => None,
            };
            self.record_acs_refusal(directory_id.as_deref(), acs_uuid, ip, reason)
                .await;
        }

        /// Writes one refused-logon event (`logon:saml`, failure, target the ACS uuid, trimmed to
        /// [`MAX_AUDITED_ACS_UUID`] characters as it comes from the URL). Audit failures are logged,
        /// never shown to the user. `directory_id` is `None` for an unknown ACS uuid (stored with a
        /// NULL directory: platform events, read with [`Services::query_platform_audit`]).
        async fn record_acs_refusal(
            &self,
            directory_id: Option<&str>,
            acs_uuid: &str,
            ip: Option<&str>,
            reason: &str,
        ) {
            let actor = Actor::anonymous(ip.map(str::to_owned));
            let uuid: String = acs_uuid.chars().take(MAX_AUDITED_ACS_UUID).collect();
            let ev = NewAuditEvent::new(directory_id, &actor, "logon", "saml")
                .target("acs", &uuid)
                .failure()
                .detail(serde_json::json!({ "reason": reason }));
            if let Err(ae) = self.record_audit(&ev).await {
                tracing::warn!(error = %ae, %reason, "cannot record ACS audit event");
            }
        }

        async fn consume_for(
            &self,
            directory: &Directory,
            saml_response: &str,
            relay_state: Option<&str>,
            ip: Option<&str>,
        ) -> std::result::Result<AcsLogon, AcsError> {
            if !directory.sso.enabled {
                return Err(AcsError::SsoDisabled);
            }
            let idp = directory
                .sso
                .idp
                .as_ref()
                .ok_or(AcsError::IdpNotConfigured)?;
            let certs = self.idp_certificates(&directory.id).await?;
            if certs.is_empty() {
                return Err(AcsError::IdpNotConfigured);
            }
            let xml = saml::binding::decode_post(saml_response)
                .map_err(|e| AcsError::Malformed(e.to_string()))?;
            let now = self.now();
            let claimed = claimed_in_response_to(&xml);
            let pending = match &claimed {
                Some(id) => {
                    let mut conn = self.store.read().await?;
                    store::saml_state::get_pending(&mut conn, id, &directory.id, now)
                        .await?
                        .map(|rs| (id.clone(), rs))
                }
                None => None,
            };
            let sp_entity_id = self.sp_entity_id(directory);
            let acs_url = self.acs_url(directory);
            // The SP key decrypts EncryptedAssertions (an RSA key; none otherwise: refused).
            let decryption_keys: Vec<saml::xmlenc::DecryptionKey> =
                if xml.contains("EncryptedAssertion") {
                    let (sp_key, _) = self.sp_signing_key(directory)?;
                    saml::xmlenc::DecryptionKey::from_signing_key(&sp_key)
                        .ok()
                        .into_iter()
                        .collect()
                } else {
                    Vec::new()
                };
            let expect = saml::response::SpExpectations {
                idp_entity_id: &idp.entity_id,
                sp_entity_id: &sp_entity_id,
                acs_url: &acs_url,
                trusted_certs: &certs,
                policy: saml::algorithm::AlgorithmPolicy::STRICT,
                now: instant(now)?,
                max_skew: time::Duration::seconds(self.config.saml_clock_skew_secs),
                expected_in_response_to: pending.as_ref().map(|(id, _)| id.as_str()),
                allow_unsolicited: directory.sso.allow_unsolicited,
                require_signed_assertion: true,
                decryption_keys: &decryption_keys,
            };
            let validated = match saml::response::validate_response(&xml, &expect) {
                Ok(v) => v,
                Err(ResponseValidationError::EncryptedAssertionUnsupported) => {
                    return Err(AcsError::EncryptedAssertion);
                }
                Err(e) => return Err(AcsError::Invalid(e)),
            };
            if !directory
                .login_preference
                .allows(ip.and_then(|i| i.parse().ok()))
            {
                return Err(AcsError::AddressNotAllowed);
            }
            let name = validated.name_id.value.clone();
            let user = self
                .find_user_by_name(&directory.id, &name)
                .await?
                .ok_or_else(|| AcsError::UnknownUser(name.clone()))?;
            if user.status != UserStatus::Enabled {
                return Err(AcsError::UserDisabled(user.user_name));
            }
            // The portal target: the one kept with our request, or (unsolicited) a RelayState that
            // is a path of this portal.
            let target = match &pending {
                Some((_, kept)) => kept.clone(),
                None => safe_portal_target(directory, relay_state),
            }
            .unwrap_or_else(|| format!("/{}", directory.name));
            let replay_until = validated.replay_cache_until.unix_timestamp().max(now + 60);
            let mut tx = self.store.begin_write().await?;
            if !store::saml_state::remember_assertion(
                &mut tx,
                &directory.id,
                &validated.assertion_id,
                replay_until,
            )
            .await?
            {
                return Err(AcsError::Replay(validated.assertion_id));
            }
            if let Some((id, _)) = &pending
                && !store::saml_state::take_pending(&mut tx, id, &directory.id).await?
            {
                // Answered in parallel by another Response.
                return Err(AcsError::Replay(validated.assertion_id));
            }
            let mut expires = now + directory.portal_session_secs;
            if let Some(limit) = validated.session_not_on_or_after {
                expires = expires.min(limit.unix_timestamp());
            }
            let session = store::session::create(
                &mut tx,
                Session {
                    id_hash: String::new(),
                    kind: SessionKind::Portal,
                    directory_id: Some(directory.id.clone()),
                    user_id: Some(user.id.clone()),
                    api_token_id: None,
                    authn_method: "saml".to_owned(),
                    mfa_pending: false,
                    pending_totp_enc: None,
                    relay_state: None,
                    csrf_token: String::new(),
                    source_ip: ip.map(str::to_owned),
                    created_at: now,
                    expires_at: expires,
                },
            )
            .await?;
            let actor = Actor::user(user.id.clone(), ip.map(str::to_owned));
            let ev = NewAuditEvent::new(Some(&directory.id), &actor, "logon", "saml")
                .target("user", &user.id)
                .detail(serde_json::json!({
                    "user_name": user.user_name,
                    "issuer": validated.issuer,
                    "assertion_id": validated.assertion_id,
                    "in_response_to": validated.in_response_to,
                    "response_signed": validated.signed.response,
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await.map_err(Error::from)?;
            Ok(AcsLogon {
                directory: directory.clone(),
                session,
                redirect_to: target,
            })
        }
    }
}

impl From<sqlx::Error> for AcsError {
    fn from(e: sqlx::Error) -> Self {
        AcsError::Service(e.into())
    }
}

/// The binding URI of a [`BindingType`].
pub fn binding_uri(b: BindingType) -> &'static str {
    match b {
        BindingType::Post => BINDING_HTTP_POST,
        BindingType::Redirect => BINDING_HTTP_REDIRECT,
    }
}
