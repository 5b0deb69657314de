//! SSO logon settings (products.md §2.4): the external IdP (from an uploaded metadata document or
//! configured by hand), up to two IdP signing certificates (both used to verify), WantRequestSigned,
//! BindingType, unsolicited responses, and the SSO switch. Enabling SSO turns password logon off;
//! disabling it turns password logon back on. The IdP can be cleared only while SSO is off.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::directory::BindingType;
use crate::error::InvalidInput;
use crate::store::directory::IdpCertificate;

/// Most IdP signing certificates per directory.
pub const MAX_IDP_CERTIFICATES: usize = 2;

/// Longest IdP entity ID / logon URL we store.
const MAX_URI_CHARS: usize = 1024;

/// The IdP configuration as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IdpInfo {
    /// IdP entity ID.
    pub entity_id: Option<String>,
    /// IdP logon URL (where AuthnRequests go).
    pub login_url: Option<String>,
    /// Whether the configuration came from an uploaded metadata document.
    pub from_metadata: bool,
    /// Signing certificates (≤ 2), all trusted.
    pub certificates: Vec<IdpCertificate>,
    /// `SSOStatus`.
    pub sso_enabled: bool,
    /// `WantRequestSigned`.
    pub want_request_signed: bool,
    /// `BindingType`.
    pub binding_type: BindingType,
    /// Whether IdP-initiated responses are accepted.
    pub allow_unsolicited: bool,
}

/// Manual IdP configuration: only the values given change ("replaces only the values that differ").
/// A certificate replaces all existing certificates.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ManualIdpConfig {
    /// IdP entity ID.
    pub entity_id: Option<String>,
    /// IdP logon URL.
    pub login_url: Option<String>,
    /// X.509 certificate (PEM) the IdP signs with; replaces all existing certificates.
    pub x509_certificate: Option<String>,
}

/// The SSO switches (absent = unchanged).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SsoSettingsPatch {
    /// `SSOStatus`: `true` enables SSO (and disables password logon).
    pub sso_enabled: Option<bool>,
    /// `WantRequestSigned`.
    pub want_request_signed: Option<bool>,
    /// `BindingType`.
    pub binding_type: Option<BindingType>,
    /// Accept IdP-initiated (unsolicited) responses.
    pub allow_unsolicited: Option<bool>,
}

/// Checks an entity ID: non-empty, ≤ 1024 characters, no whitespace or control characters.
pub fn check_entity_id(value: &str) -> Result<String, InvalidInput> {
    let v = value.trim();
    if v.is_empty()
        || v.chars().count() > MAX_URI_CHARS
        || v.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(InvalidInput::new(
            "entity_id",
            "must be 1 to 1024 characters without spaces",
        ));
    }
    Ok(v.to_owned())
}

/// Checks a logon URL: an absolute `http`/`https` URL.
pub fn check_login_url(value: &str) -> Result<String, InvalidInput> {
    let v = value.trim();
    let ok = v.chars().count() <= MAX_URI_CHARS
        && url::Url::parse(v)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        return Err(InvalidInput::new(
            "login_url",
            "must be an absolute http(s) URL",
        ));
    }
    Ok(v.to_owned())
}

/// Parses a PEM (or bare base64) X.509 certificate.
pub fn parse_certificate(text: &str) -> Result<saml::key::Certificate, InvalidInput> {
    let text = text.trim();
    let parsed = if text.contains("-----BEGIN") {
        saml::key::Certificate::from_pem(text)
    } else {
        saml::key::Certificate::from_base64(text)
    };
    parsed.map_err(|e| {
        InvalidInput::new("x509_certificate", format!("not an X.509 certificate: {e}"))
    })
}

/// Picks the logon URL for a binding from parsed metadata (falls back to the other binding and
/// says which one it is).
fn login_url_for(
    idp: &saml::metadata::IdpDescriptorInfo,
    preferred: BindingType,
) -> Option<(String, BindingType)> {
    let post = idp
        .sso_post_url()
        .map(|u| (u.to_owned(), BindingType::Post));
    let redirect = idp
        .sso_redirect_url()
        .map(|u| (u.to_owned(), BindingType::Redirect));
    match preferred {
        BindingType::Post => post.or(redirect),
        BindingType::Redirect => redirect.or(post),
    }
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::Directory;
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store::{self, Conn};

    fn cert_row(cert: &saml::key::Certificate, now: i64) -> IdpCertificate {
        IdpCertificate {
            id: crate::directory::prefixed_id("cert", 16),
            certificate: cert.to_pem(),
            fingerprint: cert.sha256_fingerprint(),
            created_at: now,
        }
    }

    async fn load(conn: &mut Conn, directory_id: &str) -> Result<Directory> {
        store::directory::get(conn, directory_id)
            .await?
            .ok_or(Error::NotFound("directory"))
    }

    impl Services {
        /// The IdP configuration and SSO switches of a directory.
        pub async fn get_idp_info(&self, directory_id: &str) -> Result<IdpInfo> {
            let mut conn = self.store.read().await?;
            let d = load(&mut conn, directory_id).await?;
            let certificates = store::directory::list_certs(&mut conn, directory_id).await?;
            Ok(IdpInfo {
                entity_id: d.sso.idp.as_ref().map(|i| i.entity_id.clone()),
                login_url: d.sso.idp.as_ref().map(|i| i.login_url.clone()),
                from_metadata: d.sso.idp.as_ref().is_some_and(|i| i.from_metadata),
                certificates,
                sso_enabled: d.sso.enabled,
                want_request_signed: d.sso.want_request_signed,
                binding_type: d.sso.binding_type,
                allow_unsolicited: d.sso.allow_unsolicited,
            })
        }

        /// The trusted IdP certificates of a directory (parsed).
        pub async fn idp_certificates(
            &self,
            directory_id: &str,
        ) -> Result<Vec<saml::key::Certificate>> {
            let mut conn = self.store.read().await?;
            store::directory::list_certs(&mut conn, directory_id)
                .await?
                .iter()
                .map(|c| {
                    saml::key::Certificate::from_pem(&c.certificate)
                        .map_err(|e| Error::Corrupt(format!("idp certificate {}: {e}", c.id)))
                })
                .collect()
        }

        /// Configures the IdP from an uploaded metadata document (replaces everything: entity ID,
        /// logon URL, certificates, and WantRequestSigned from `WantAuthnRequestsSigned`). A document
        /// with several IdPs needs `entity_id` to pick one ([`Error::ChooseIdentityProvider`] lists
        /// them). The logon URL follows the directory's binding; if the IdP has no endpoint for it,
        /// the binding switches to the one it has.
        pub async fn configure_idp_from_metadata(
            &self,
            actor: &Actor,
            directory_id: &str,
            metadata_xml: &str,
            entity_id: Option<&str>,
        ) -> Result<IdpInfo> {
            let idps = saml::metadata::parse_idp_metadata(metadata_xml)
                .map_err(|e| Error::invalid("metadata", e.to_string()))?;
            let idp = match (idps.as_slice(), entity_id) {
                ([], _) => {
                    return Err(Error::invalid(
                        "metadata",
                        "no SAML 2.0 identity provider in the metadata",
                    ));
                }
                (all, Some(wanted)) => {
                    all.iter().find(|i| i.entity_id == wanted).ok_or_else(|| {
                        Error::invalid(
                            "entity_id",
                            format!(
                                "the metadata has no identity provider {wanted:?}; it has: {}",
                                all.iter()
                                    .map(|i| i.entity_id.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?
                }
                ([one], None) => one,
                (many, None) => {
                    return Err(Error::ChooseIdentityProvider(
                        many.iter().map(|i| i.entity_id.clone()).collect(),
                    ));
                }
            };
            let entity = check_entity_id(&idp.entity_id)?;
            if idp.signing_certs.is_empty() {
                return Err(Error::invalid(
                    "metadata",
                    format!("identity provider {entity} has no signing certificate"),
                ));
            }
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let mut d = load(&mut tx, directory_id).await?;
            let (login_url, binding) = login_url_for(idp, d.sso.binding_type).ok_or_else(|| {
                Error::invalid(
                    "metadata",
                    format!("identity provider {entity} has no HTTP-POST or HTTP-Redirect SingleSignOnService"),
                )
            })?;
            check_login_url(&login_url)?;
            d.sso.binding_type = binding;
            d.sso.want_request_signed = idp.want_authn_requests_signed;
            store::directory::set_idp(
                &mut tx,
                directory_id,
                Some(&entity),
                Some(&login_url),
                Some(metadata_xml),
                now,
            )
            .await?;
            store::directory::update_sso_flags(&mut tx, directory_id, &d.sso, now).await?;
            store::directory::clear_certs(&mut tx, directory_id).await?;
            // Two at most (products.md §2.11); metadata lists the current certificate first.
            let mut fingerprints = Vec::new();
            for cert in idp.signing_certs.iter().take(MAX_IDP_CERTIFICATES) {
                let row = cert_row(cert, now);
                fingerprints.push(row.fingerprint.clone());
                store::directory::add_cert(&mut tx, directory_id, &row).await?;
            }
            let ev = NewAuditEvent::new(Some(directory_id), actor, "sso", "configure_idp_metadata")
                .target("directory", directory_id)
                .detail(serde_json::json!({
                    "entity_id": entity,
                    "login_url": login_url,
                    "binding_type": binding,
                    "certificates": fingerprints,
                    "certificates_ignored": idp.signing_certs.len().saturating_sub(MAX_IDP_CERTIFICATES),
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.get_idp_info(directory_id).await
        }

        /// Configures the IdP by hand: entity ID, logon URL and/or a certificate (which replaces all
        /// certificates). The first manual configuration needs all three.
        pub async fn configure_idp_manually(
            &self,
            actor: &Actor,
            directory_id: &str,
            config: ManualIdpConfig,
        ) -> Result<IdpInfo> {
            let entity = config
                .entity_id
                .as_deref()
                .map(check_entity_id)
                .transpose()?;
            let login = config
                .login_url
                .as_deref()
                .map(check_login_url)
                .transpose()?;
            let cert = config
                .x509_certificate
                .as_deref()
                .map(parse_certificate)
                .transpose()?;
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let d = load(&mut tx, directory_id).await?;
            let entity = entity
                .or_else(|| d.sso.idp.as_ref().map(|i| i.entity_id.clone()))
                .ok_or_else(|| Error::invalid("entity_id", "is required"))?;
            let login = login
                .or_else(|| d.sso.idp.as_ref().map(|i| i.login_url.clone()))
                .ok_or_else(|| Error::invalid("login_url", "is required"))?;
            if cert.is_none()
                && store::directory::list_certs(&mut tx, directory_id)
                    .await?
                    .is_empty()
            {
                return Err(Error::invalid("x509_certificate", "is required"));
            }
            store::directory::set_idp(
                &mut tx,
                directory_id,
                Some(&entity),
                Some(&login),
                None,
                now,
            )
            .await?;
            let mut fingerprint = None;
            if let Some(cert) = &cert {
                store::directory::clear_certs(&mut tx, directory_id).await?;
                let row = cert_row(cert, now);
                fingerprint = Some(row.fingerprint.clone());
                store::directory::add_cert(&mut tx, directory_id, &row).await?;
            }
            let ev = NewAuditEvent::new(Some(directory_id), actor, "sso", "configure_idp_manual")
                .target("directory", directory_id)
                .detail(serde_json::json!({
                    "entity_id": entity,
                    "login_url": login,
                    "certificate": fingerprint,
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.get_idp_info(directory_id).await
        }

        /// Adds an IdP signing certificate (rotation: at most two, both trusted).
        pub async fn add_idp_certificate(
            &self,
            actor: &Actor,
            directory_id: &str,
            pem: &str,
        ) -> Result<IdpCertificate> {
            let cert = parse_certificate(pem)?;
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            load(&mut tx, directory_id).await?;
            let existing = store::directory::list_certs(&mut tx, directory_id).await?;
            let row = cert_row(&cert, now);
            if existing.iter().any(|c| c.fingerprint == row.fingerprint) {
                return Err(Error::AlreadyExists {
                    entity: "IdP certificate",
                    field: "fingerprint",
                });
            }
            if existing.len() >= MAX_IDP_CERTIFICATES {
                return Err(Error::LimitExceeded("at most two IdP signing certificates"));
            }
            store::directory::add_cert(&mut tx, directory_id, &row).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "sso", "add_idp_certificate")
                .target("idp_certificate", &row.id)
                .detail(serde_json::json!({ "fingerprint": row.fingerprint }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(row)
        }

        /// Removes an IdP certificate; the last one cannot go while SSO is enabled.
        pub async fn remove_idp_certificate(
            &self,
            actor: &Actor,
            directory_id: &str,
            certificate_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let d = load(&mut tx, directory_id).await?;
            let existing = store::directory::list_certs(&mut tx, directory_id).await?;
            if !existing.iter().any(|c| c.id == certificate_id) {
                return Err(Error::NotFound("IdP certificate"));
            }
            if d.sso.enabled && existing.len() == 1 {
                return Err(Error::conflict(
                    "the last IdP certificate cannot be removed while SSO is enabled",
                ));
            }
            store::directory::remove_cert(&mut tx, directory_id, certificate_id).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "sso", "remove_idp_certificate")
                .target("idp_certificate", certificate_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Clears the IdP configuration (entity ID, logon URL, metadata, certificates): only while SSO
        /// is disabled.
        pub async fn clear_idp(&self, actor: &Actor, directory_id: &str) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let d = load(&mut tx, directory_id).await?;
            if d.sso.enabled {
                return Err(Error::conflict(
                    "disable SSO before clearing the IdP information",
                ));
            }
            store::directory::set_idp(&mut tx, directory_id, None, None, None, now).await?;
            store::directory::clear_certs(&mut tx, directory_id).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "sso", "clear_idp")
                .target("directory", directory_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Changes the SSO switches. Enabling SSO needs a configured IdP with a certificate and turns
        /// password logon off; disabling turns it back on. Switching the logon method ends the
        /// directory's portal sessions. A binding without an endpoint in the uploaded metadata is refused.
        pub async fn update_sso_settings(
            &self,
            actor: &Actor,
            directory_id: &str,
            patch: SsoSettingsPatch,
        ) -> Result<IdpInfo> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let mut d = load(&mut tx, directory_id).await?;
            let before = d.sso.clone();
            if let Some(b) = patch.want_request_signed {
                d.sso.want_request_signed = b;
            }
            if let Some(b) = patch.allow_unsolicited {
                d.sso.allow_unsolicited = b;
            }
            if let Some(binding) = patch.binding_type
                && binding != d.sso.binding_type
            {
                d.sso.binding_type = binding;
                // With uploaded metadata, follow the endpoint of the new binding.
                let metadata: Option<String> =
                    sqlx::query_scalar("SELECT idp_metadata FROM directories WHERE id = $1")
                        .bind(directory_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if let (Some(xml), Some(idp)) = (metadata, &d.sso.idp) {
                    let parsed = saml::metadata::parse_idp_metadata(&xml)
                        .map_err(|e| Error::Corrupt(format!("stored metadata: {e}")))?;
                    let info = parsed
                        .iter()
                        .find(|i| i.entity_id == idp.entity_id)
                        .ok_or_else(|| Error::Corrupt("stored metadata lost its IdP".to_owned()))?;
                    match login_url_for(info, binding) {
                        Some((url, b)) if b == binding => {
                            store::directory::set_idp(
                                &mut tx,
                                directory_id,
                                Some(&idp.entity_id),
                                Some(&url),
                                Some(&xml),
                                now,
                            )
                            .await?;
                        }
                        _ => {
                            return Err(Error::invalid(
                                "binding_type",
                                format!(
                                    "the identity provider has no {} SingleSignOnService",
                                    binding.as_str()
                                ),
                            ));
                        }
                    }
                }
            }
            if let Some(enable) = patch.sso_enabled {
                if enable
                    && !d.sso.enabled
                    && (d.sso.idp.is_none()
                        || store::directory::list_certs(&mut tx, directory_id)
                            .await?
                            .is_empty())
                {
                    return Err(Error::conflict(
                        "configure the identity provider (entity ID, logon URL, certificate) before enabling SSO",
                    ));
                }
                d.sso.enabled = enable;
            }
            store::directory::update_sso_flags(&mut tx, directory_id, &d.sso, now).await?;
            let switched = before.enabled != d.sso.enabled;
            if switched {
                store::session::delete_portal_sessions_of_directory(&mut tx, directory_id).await?;
            }
            let verb = match (switched, d.sso.enabled) {
                (true, true) => "enable",
                (true, false) => "disable",
                _ => "update",
            };
            let ev = NewAuditEvent::new(Some(directory_id), actor, "sso", verb)
                .target("directory", directory_id)
                .detail(serde_json::json!({
                    "sso_enabled": d.sso.enabled,
                    "password_logon_enabled": !d.sso.enabled,
                    "want_request_signed": d.sso.want_request_signed,
                    "binding_type": d.sso.binding_type,
                    "allow_unsolicited": d.sso.allow_unsolicited,
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.get_idp_info(directory_id).await
        }
    }
}
