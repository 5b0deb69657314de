//! SAML 2.0 metadata (SAML metadata spec): our IdP's `EntityDescriptor`, and parsers for the SP
//! metadata admins upload (IDaaS applications) and the IdP metadata Cloud SSO imports.
//!
//! Parsing goes through the hardened reader with limits sized for metadata (federation files run to
//! megabytes). The parsers tolerate what real files contain: any namespace prefix, whitespace and
//! line breaks inside base64 certificates and URLs, `Extensions`, comments, and role descriptors of
//! other kinds (AD FS's WS-Federation `RoleDescriptor`s, `AttributeAuthorityDescriptor`). Roles that
//! do not list the SAML 2.0 protocol in `protocolSupportEnumeration` are ignored.
//!
//! The metadata's own signature is not checked here: trust comes from the admin uploading the file
//! or from the URL they chose.

use roxmltree::Node;
use time::OffsetDateTime;

use crate::authn_request::parse_xs_boolean;
use crate::instant::{InstantError, format_instant, parse_instant};
use crate::key::{Certificate, KeyError};
use crate::xml::reader::{self, Limits, XmlError};
use crate::xml::writer::{Element, NS_DS as DS_NS, NS_MD as MD_NS};

/// The SAML 2.0 protocol URI, as listed in `protocolSupportEnumeration`.
pub const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// HTTP-Redirect binding URI.
pub const BINDING_HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// HTTP-POST binding URI.
pub const BINDING_HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Largest metadata document accepted.
pub const MAX_METADATA_BYTES: usize = 4 * 1024 * 1024;
/// Deepest element nesting accepted in metadata.
pub const MAX_METADATA_DEPTH: usize = 64;
/// Most XML nodes accepted in a metadata document (a federation file of 4 MiB has ~300 000).
pub const MAX_METADATA_NODES: usize = 1_000_000;

/// Why a metadata document was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The XML itself was refused by the hardened reader (DOCTYPE, size, depth, syntax).
    #[error("XML rejected: {0}")]
    Xml(#[from] XmlError),
    /// The root is neither `md:EntityDescriptor` nor `md:EntitiesDescriptor`.
    #[error("not SAML metadata: root element is {found}")]
    NotMetadata {
        /// `{namespace}local` of the root element.
        found: String,
    },
    /// An `EntityDescriptor` has no (or an empty) `entityID`.
    #[error("EntityDescriptor without entityID")]
    MissingEntityId,
    /// No entity in the document has an SP role (`SPSSODescriptor` for SAML 2.0).
    #[error("no SAML 2.0 service provider in the metadata")]
    NoServiceProvider,
    /// No entity in the document has an IdP role (`IDPSSODescriptor` for SAML 2.0).
    #[error("no SAML 2.0 identity provider in the metadata")]
    NoIdentityProvider,
    /// An SP role has no `AssertionConsumerService`.
    #[error("service provider {entity_id} has no AssertionConsumerService")]
    NoAssertionConsumerService {
        /// The entity.
        entity_id: String,
    },
    /// An IdP role has no `SingleSignOnService`.
    #[error("identity provider {entity_id} has no SingleSignOnService")]
    NoSingleSignOnService {
        /// The entity.
        entity_id: String,
    },
    /// An endpoint lacks `Binding` or `Location`.
    #[error("{element} of {entity_id} lacks the {attribute} attribute")]
    MissingAttribute {
        /// The entity.
        entity_id: String,
        /// Element local name.
        element: &'static str,
        /// Attribute name.
        attribute: &'static str,
    },
    /// A certificate is not valid base64 DER X.509.
    #[error("bad certificate in {entity_id}: {source}")]
    BadCertificate {
        /// The entity.
        entity_id: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A boolean attribute is not `true`/`false`/`1`/`0`.
    #[error("attribute {attribute} of {entity_id} is not a boolean: {value:?}")]
    BadBoolean {
        /// The entity.
        entity_id: String,
        /// Attribute name.
        attribute: &'static str,
        /// Value found.
        value: String,
    },
    /// An endpoint `index` is not an unsigned short.
    #[error("bad endpoint index {value:?} in {entity_id}")]
    BadIndex {
        /// The entity.
        entity_id: String,
        /// Value found.
        value: String,
    },
    /// `validUntil` is not an `xs:dateTime`.
    #[error("bad validUntil: {0}")]
    BadValidUntil(#[source] InstantError),
}

/// A metadata endpoint (`SingleSignOnService`, `SingleLogoutService`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Binding URI.
    pub binding: String,
    /// URL (trimmed).
    pub location: String,
    /// Separate URL for responses, if given.
    pub response_location: Option<String>,
}

/// An indexed endpoint (`AssertionConsumerService`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEndpoint {
    /// Binding URI.
    pub binding: String,
    /// URL (trimmed).
    pub location: String,
    /// The `index` attribute.
    pub index: u16,
    /// The `isDefault` attribute, if present.
    pub is_default: Option<bool>,
}

/// What we need from a service provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    /// The SP's entity ID.
    pub entity_id: String,
    /// Assertion consumer services, in document order.
    pub assertion_consumer_services: Vec<IndexedEndpoint>,
    /// Single logout services, in document order.
    pub single_logout_services: Vec<Endpoint>,
    /// Certificates for checking the SP's signatures (`use="signing"` or no `use`).
    pub signing_certs: Vec<Certificate>,
    /// Certificates for encrypting to the SP (`use="encryption"` or no `use`).
    pub encryption_certs: Vec<Certificate>,
    /// Supported NameID formats (empty elements skipped).
    pub name_id_formats: Vec<String>,
    /// `AuthnRequestsSigned`.
    pub authn_requests_signed: bool,
    /// `WantAssertionsSigned`.
    pub want_assertions_signed: bool,
    /// The earliest `validUntil` on the way from the document root to the role.
    pub valid_until: Option<OffsetDateTime>,
}

impl SpMetadata {
    /// The ACS to send HTTP-POST responses to when the request names none: the POST endpoint
    /// marked `isDefault="true"`, else the POST endpoint with the lowest index not marked
    /// `isDefault="false"`, else the POST endpoint with the lowest index.
    pub fn default_acs(&self) -> Option<&IndexedEndpoint> {
        let post = || {
            self.assertion_consumer_services
                .iter()
                .filter(|e| e.binding == BINDING_HTTP_POST)
        };
        post()
            .find(|e| e.is_default == Some(true))
            .or_else(|| {
                post()
                    .filter(|e| e.is_default != Some(false))
                    .min_by_key(|e| e.index)
            })
            .or_else(|| post().min_by_key(|e| e.index))
    }

    /// The ACS with this index.
    pub fn acs_by_index(&self, index: u16) -> Option<&IndexedEndpoint> {
        self.assertion_consumer_services
            .iter()
            .find(|e| e.index == index)
    }

    /// The ACS with exactly this location (and binding, if given).
    pub fn acs_by_location(
        &self,
        location: &str,
        binding: Option<&str>,
    ) -> Option<&IndexedEndpoint> {
        self.assertion_consumer_services
            .iter()
            .find(|e| e.location == location && binding.is_none_or(|b| b == e.binding))
    }
}

/// What Cloud SSO needs from an identity provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpDescriptorInfo {
    /// The IdP's entity ID (the `Issuer` of its responses).
    pub entity_id: String,
    /// Single sign-on services, in document order (all bindings, duplicates kept).
    pub single_sign_on_services: Vec<Endpoint>,
    /// Single logout services, in document order.
    pub single_logout_services: Vec<Endpoint>,
    /// Certificates for checking the IdP's signatures (`use="signing"` or no `use`).
    pub signing_certs: Vec<Certificate>,
    /// Supported NameID formats (empty elements skipped).
    pub name_id_formats: Vec<String>,
    /// `WantAuthnRequestsSigned`.
    pub want_authn_requests_signed: bool,
    /// The earliest `validUntil` on the way from the document root to the role.
    pub valid_until: Option<OffsetDateTime>,
}

impl IdpDescriptorInfo {
    /// The first SSO URL for `binding`.
    pub fn sso_url(&self, binding: &str) -> Option<&str> {
        self.single_sign_on_services
            .iter()
            .find(|e| e.binding == binding)
            .map(|e| e.location.as_str())
    }

    /// The first HTTP-Redirect SSO URL.
    pub fn sso_redirect_url(&self) -> Option<&str> {
        self.sso_url(BINDING_HTTP_REDIRECT)
    }

    /// The first HTTP-POST SSO URL.
    pub fn sso_post_url(&self) -> Option<&str> {
        self.sso_url(BINDING_HTTP_POST)
    }
}

/// The metadata limits: like the default reader limits, but with room for federation files.
fn metadata_limits() -> Limits {
    Limits {
        max_bytes: MAX_METADATA_BYTES,
        max_depth: MAX_METADATA_DEPTH,
        max_nodes: MAX_METADATA_NODES,
        ..Limits::default()
    }
}

/// Parses SP metadata (`EntityDescriptor` or `EntitiesDescriptor`); returns every SAML 2.0 SP in it.
pub fn parse_sp_metadata(xml: &str) -> Result<Vec<SpMetadata>, MetadataError> {
    let doc = reader::parse(xml, &metadata_limits())?;
    let mut out = Vec::new();
    for (entity, valid_until) in entities(doc.root_element())? {
        let entity_id = entity_id(entity)?;
        let Some(role) = saml2_role(entity, "SPSSODescriptor") else {
            continue;
        };
        let valid_until = earliest(valid_until, valid_until_of(role)?);
        let ctx = Ctx {
            entity_id: &entity_id,
        };
        let (signing_certs, encryption_certs) = ctx.certificates(role)?;
        let assertion_consumer_services =
            ctx.indexed_endpoints(role, "AssertionConsumerService")?;
        if assertion_consumer_services.is_empty() {
            return Err(MetadataError::NoAssertionConsumerService { entity_id });
        }
        out.push(SpMetadata {
            assertion_consumer_services,
            single_logout_services: ctx.endpoints(role, "SingleLogoutService")?,
            signing_certs,
            encryption_certs,
            name_id_formats: name_id_formats(role),
            authn_requests_signed: ctx.bool_attr(role, "AuthnRequestsSigned")?,
            want_assertions_signed: ctx.bool_attr(role, "WantAssertionsSigned")?,
            valid_until,
            entity_id,
        });
    }
    if out.is_empty() {
        return Err(MetadataError::NoServiceProvider);
    }
    Ok(out)
}

/// Parses IdP metadata (`EntityDescriptor` or `EntitiesDescriptor`); returns every SAML 2.0 IdP in it.
pub fn parse_idp_metadata(xml: &str) -> Result<Vec<IdpDescriptorInfo>, MetadataError> {
    let doc = reader::parse(xml, &metadata_limits())?;
    let mut out = Vec::new();
    for (entity, valid_until) in entities(doc.root_element())? {
        let entity_id = entity_id(entity)?;
        let Some(role) = saml2_role(entity, "IDPSSODescriptor") else {
            continue;
        };
        let valid_until = earliest(valid_until, valid_until_of(role)?);
        let ctx = Ctx {
            entity_id: &entity_id,
        };
        let (signing_certs, _) = ctx.certificates(role)?;
        let single_sign_on_services = ctx.endpoints(role, "SingleSignOnService")?;
        if single_sign_on_services.is_empty() {
            return Err(MetadataError::NoSingleSignOnService { entity_id });
        }
        out.push(IdpDescriptorInfo {
            single_sign_on_services,
            single_logout_services: ctx.endpoints(role, "SingleLogoutService")?,
            signing_certs,
            name_id_formats: name_id_formats(role),
            want_authn_requests_signed: ctx.bool_attr(role, "WantAuthnRequestsSigned")?,
            valid_until,
            entity_id,
        });
    }
    if out.is_empty() {
        return Err(MetadataError::NoIdentityProvider);
    }
    Ok(out)
}

/// Whether `node` is the metadata element `local`.
fn is_md(node: Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == local
        && node.tag_name().namespace() == Some(MD_NS)
}

/// The `validUntil` of an element, if any.
fn valid_until_of(node: Node<'_, '_>) -> Result<Option<OffsetDateTime>, MetadataError> {
    node.attribute("validUntil")
        .map(parse_instant)
        .transpose()
        .map_err(MetadataError::BadValidUntil)
}

/// The earlier of two optional instants.
fn earliest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Every `EntityDescriptor` in the document (nested `EntitiesDescriptor`s included), each with the
/// earliest `validUntil` of its ancestors and itself.
fn entities<'a, 'i>(
    root: Node<'a, 'i>,
) -> Result<Vec<(Node<'a, 'i>, Option<OffsetDateTime>)>, MetadataError> {
    if !is_md(root, "EntityDescriptor") && !is_md(root, "EntitiesDescriptor") {
        return Err(MetadataError::NotMetadata {
            found: format!(
                "{{{}}}{}",
                root.tag_name().namespace().unwrap_or(""),
                root.tag_name().name()
            ),
        });
    }
    let mut out = Vec::new();
    // Depth is bounded by the reader's depth limit, so an explicit stack stays small.
    let mut stack = vec![(root, None)];
    while let Some((node, inherited)) = stack.pop() {
        let valid_until = earliest(inherited, valid_until_of(node)?);
        if is_md(node, "EntityDescriptor") {
            out.push((node, valid_until));
        } else {
            let children: Vec<_> = node
                .children()
                .filter(|c| is_md(*c, "EntityDescriptor") || is_md(*c, "EntitiesDescriptor"))
                .collect();
            // Reverse so that popping yields document order.
            stack.extend(children.into_iter().rev().map(|c| (c, valid_until)));
        }
    }
    Ok(out)
}

/// The trimmed, non-empty `entityID`.
fn entity_id(entity: Node<'_, '_>) -> Result<String, MetadataError> {
    entity
        .attribute("entityID")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or(MetadataError::MissingEntityId)
}

/// The first role descriptor `local` whose `protocolSupportEnumeration` lists SAML 2.0.
fn saml2_role<'a, 'i>(entity: Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    entity.children().find(|c| {
        is_md(*c, local)
            && c.attribute("protocolSupportEnumeration")
                .is_some_and(|p| p.split_ascii_whitespace().any(|uri| uri == SAML2_PROTOCOL))
    })
}

/// The non-empty `NameIDFormat` values of a role.
fn name_id_formats(role: Node<'_, '_>) -> Vec<String> {
    role.children()
        .filter(|c| is_md(*c, "NameIDFormat"))
        .map(|c| reader::text_of(c).trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parsing context: the entity being read, for error messages.
struct Ctx<'e> {
    /// The entity ID.
    entity_id: &'e str,
}

impl Ctx<'_> {
    /// A required attribute of an endpoint, trimmed (URLs in real files carry stray newlines).
    fn required(
        &self,
        node: Node<'_, '_>,
        element: &'static str,
        attribute: &'static str,
    ) -> Result<String, MetadataError> {
        node.attribute(attribute)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| MetadataError::MissingAttribute {
                entity_id: self.entity_id.to_owned(),
                element,
                attribute,
            })
    }

    /// The endpoints `local` of a role.
    fn endpoints(
        &self,
        role: Node<'_, '_>,
        local: &'static str,
    ) -> Result<Vec<Endpoint>, MetadataError> {
        role.children()
            .filter(|c| is_md(*c, local))
            .map(|c| {
                Ok(Endpoint {
                    binding: self.required(c, local, "Binding")?,
                    location: self.required(c, local, "Location")?,
                    response_location: c.attribute("ResponseLocation").map(|s| s.trim().to_owned()),
                })
            })
            .collect()
    }

    /// The indexed endpoints `local` of a role.
    fn indexed_endpoints(
        &self,
        role: Node<'_, '_>,
        local: &'static str,
    ) -> Result<Vec<IndexedEndpoint>, MetadataError> {
        role.children()
            .filter(|c| is_md(*c, local))
            .map(|c| {
                let raw_index = self.required(c, local, "index")?;
                let index = raw_index
                    .parse::<u16>()
                    .map_err(|_| MetadataError::BadIndex {
                        entity_id: self.entity_id.to_owned(),
                        value: raw_index.clone(),
                    })?;
                let is_default = match c.attribute("isDefault") {
                    None => None,
                    Some(v) => {
                        Some(
                            parse_xs_boolean(v).ok_or_else(|| MetadataError::BadBoolean {
                                entity_id: self.entity_id.to_owned(),
                                attribute: "isDefault",
                                value: v.to_owned(),
                            })?,
                        )
                    }
                };
                Ok(IndexedEndpoint {
                    binding: self.required(c, local, "Binding")?,
                    location: self.required(c, local, "Location")?,
                    index,
                    is_default,
                })
            })
            .collect()
    }

    /// An optional boolean attribute, `false` when absent.
    fn bool_attr(
        &self,
        node: Node<'_, '_>,
        attribute: &'static str,
    ) -> Result<bool, MetadataError> {
        match node.attribute(attribute) {
            None => Ok(false),
            Some(v) => parse_xs_boolean(v).ok_or_else(|| MetadataError::BadBoolean {
                entity_id: self.entity_id.to_owned(),
                attribute,
                value: v.to_owned(),
            }),
        }
    }

    /// The (signing, encryption) certificates of a role's `KeyDescriptor`s; a descriptor without
    /// `use` counts for both.
    fn certificates(
        &self,
        role: Node<'_, '_>,
    ) -> Result<(Vec<Certificate>, Vec<Certificate>), MetadataError> {
        let mut signing = Vec::new();
        let mut encryption = Vec::new();
        for kd in role.children().filter(|c| is_md(*c, "KeyDescriptor")) {
            let usage = kd.attribute("use").map(str::trim);
            let certs = kd
                .children()
                .filter(|c| is_ds(*c, "KeyInfo"))
                .flat_map(|ki| ki.children().filter(|c| is_ds(*c, "X509Data")))
                .flat_map(|xd| xd.children().filter(|c| is_ds(*c, "X509Certificate")))
                .map(|c| {
                    Certificate::from_base64(&reader::text_of(c)).map_err(|source| {
                        MetadataError::BadCertificate {
                            entity_id: self.entity_id.to_owned(),
                            source,
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            for cert in certs {
                match usage {
                    Some("signing") => signing.push(cert),
                    Some("encryption") => encryption.push(cert),
                    _ => {
                        signing.push(cert.clone());
                        encryption.push(cert);
                    }
                }
            }
        }
        Ok((signing, encryption))
    }
}

/// Whether `node` is the XML-DSig element `local`.
fn is_ds(node: Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == local
        && node.tag_name().namespace() == Some(DS_NS)
}

/// Our IdP's metadata, as served at `/api/v2/{app_id}/saml2/meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP entity ID (the `Issuer` of our responses).
    pub entity_id: String,
    /// SSO URL for the HTTP-Redirect binding.
    pub sso_redirect_url: String,
    /// SSO URL for the HTTP-POST binding.
    pub sso_post_url: String,
    /// Current signing certificates (several during a rotation).
    pub signing_certs: Vec<Certificate>,
    /// NameID formats we can issue for this application.
    pub name_id_formats: Vec<String>,
    /// Whether we require SPs to sign their AuthnRequests.
    pub want_authn_requests_signed: bool,
    /// Optional `validUntil`.
    pub valid_until: Option<OffsetDateTime>,
}

impl IdpMetadata {
    /// Renders the `md:EntityDescriptor` with an XML declaration.
    pub fn to_xml(&self) -> String {
        let mut idp = Element::new("md", "IDPSSODescriptor")
            .attr(
                "WantAuthnRequestsSigned",
                if self.want_authn_requests_signed {
                    "true"
                } else {
                    "false"
                },
            )
            .attr("protocolSupportEnumeration", SAML2_PROTOCOL);
        for cert in &self.signing_certs {
            idp =
                idp.child(
                    Element::new("md", "KeyDescriptor")
                        .attr("use", "signing")
                        .child(Element::new("ds", "KeyInfo").child(
                            Element::new("ds", "X509Data").child(
                                Element::new("ds", "X509Certificate").text(cert.to_base64()),
                            ),
                        )),
                );
        }
        for format in &self.name_id_formats {
            idp = idp.child(Element::new("md", "NameIDFormat").text(format.clone()));
        }
        for (binding, location) in [
            (BINDING_HTTP_REDIRECT, &self.sso_redirect_url),
            (BINDING_HTTP_POST, &self.sso_post_url),
        ] {
            idp = idp.child(
                Element::new("md", "SingleSignOnService")
                    .attr("Binding", binding)
                    .attr("Location", location.clone()),
            );
        }
        let mut entity =
            Element::new("md", "EntityDescriptor").attr("entityID", self.entity_id.clone());
        if let Some(valid_until) = self.valid_until {
            entity = entity.attr("validUntil", format_instant(valid_until));
        }
        let entity = entity.child(idp);
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
            entity.to_xml()
        )
    }
}
