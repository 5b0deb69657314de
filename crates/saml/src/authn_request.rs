//! `samlp:AuthnRequest` (SAML core §3.4.1) as a typed value, read through the hardened XML reader.
//!
//! [`AuthnRequest::parse`] reads an unsigned (or detached-signed, HTTP-Redirect) request;
//! [`AuthnRequest::parse_verified`] verifies the enveloped signature against the SP's certificates
//! first and reads the fields from the verified element only.

use roxmltree::Node;
use time::OffsetDateTime;

use crate::algorithm::AlgorithmPolicy;
use crate::dsig::{self, DsigError};
use crate::instant::{InstantError, parse_instant};
use crate::key::Certificate;
use crate::xml::reader::{self, Limits, XmlError};
use crate::xml::writer::{NS_DS as DS_NS, NS_SAML as SAML_NS, NS_SAMLP as SAMLP_NS};

/// Why an AuthnRequest was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthnRequestError {
    /// The XML itself was refused by the hardened reader (DOCTYPE, size, depth, syntax).
    #[error("XML rejected: {0}")]
    Xml(#[from] XmlError),
    /// The root element is not `samlp:AuthnRequest`.
    #[error("not an AuthnRequest: root element is {found}")]
    NotAnAuthnRequest {
        /// `{namespace}local` of the root element found.
        found: String,
    },
    /// The required `ID` attribute is missing.
    #[error("AuthnRequest has no ID")]
    MissingId,
    /// The `ID` attribute is not an NCName.
    #[error("AuthnRequest ID is not an NCName: {id:?}")]
    InvalidId {
        /// The ID found.
        id: String,
    },
    /// The required `Version` attribute is missing.
    #[error("AuthnRequest has no Version")]
    MissingVersion,
    /// `Version` is not `2.0`.
    #[error("unsupported SAML version {found:?} (expected 2.0)")]
    WrongVersion {
        /// The version found.
        found: String,
    },
    /// The required `IssueInstant` attribute is missing.
    #[error("AuthnRequest has no IssueInstant")]
    MissingIssueInstant,
    /// `IssueInstant` is not an `xs:dateTime`.
    #[error("bad IssueInstant: {0}")]
    BadIssueInstant(#[source] InstantError),
    /// No `saml:Issuer`, or an empty one (we need it to find the SP).
    #[error("AuthnRequest has no Issuer")]
    MissingIssuer,
    /// A child element that may appear once appears several times.
    #[error("element {name} appears more than once")]
    DuplicateElement {
        /// Local name of the repeated element.
        name: &'static str,
    },
    /// A boolean attribute is not `true`/`false`/`1`/`0`.
    #[error("attribute {attribute} is not a boolean: {value:?}")]
    BadBoolean {
        /// Attribute name.
        attribute: &'static str,
        /// Value found.
        value: String,
    },
    /// `AssertionConsumerServiceIndex` is not an unsigned short.
    #[error("bad AssertionConsumerServiceIndex {value:?}")]
    BadAcsIndex {
        /// Value found.
        value: String,
    },
    /// Both an ACS index and an ACS URL/ProtocolBinding are given; SAML core makes them exclusive.
    #[error(
        "AssertionConsumerServiceIndex is exclusive with AssertionConsumerServiceURL/ProtocolBinding"
    )]
    AcsIndexAndUrl,
    /// `RequestedAuthnContext/@Comparison` is not one of exact, minimum, maximum, better.
    #[error("bad RequestedAuthnContext Comparison {value:?}")]
    BadComparison {
        /// Value found.
        value: String,
    },
    /// A signed request was required but the request has no enveloped signature.
    #[error("AuthnRequest is not signed")]
    Unsigned,
    /// The enveloped signature did not verify.
    #[error("AuthnRequest signature: {0}")]
    Signature(#[from] DsigError),
}

/// `RequestedAuthnContext/@Comparison` (SAML core §3.3.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthnContextComparison {
    /// The context must be exactly one of those listed (the default).
    #[default]
    Exact,
    /// At least as strong as one of those listed.
    Minimum,
    /// As strong as possible but no stronger than one of those listed.
    Maximum,
    /// Stronger than any of those listed.
    Better,
}

impl AuthnContextComparison {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Minimum => "minimum",
            Self::Maximum => "maximum",
            Self::Better => "better",
        }
    }
}

/// `samlp:NameIDPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameIdPolicy {
    /// Requested NameID format URI.
    pub format: Option<String>,
    /// Whether the IdP may create a new identifier for the principal.
    pub allow_create: Option<bool>,
    /// Requested SPNameQualifier.
    pub sp_name_qualifier: Option<String>,
}

/// `samlp:RequestedAuthnContext`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestedAuthnContext {
    /// How to compare the listed contexts with the one used.
    pub comparison: AuthnContextComparison,
    /// `saml:AuthnContextClassRef` values, in document order.
    pub class_refs: Vec<String>,
    /// `saml:AuthnContextDeclRef` values, in document order.
    pub decl_refs: Vec<String>,
}

/// A parsed `samlp:AuthnRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// The request ID (goes back as `InResponseTo`).
    pub id: String,
    /// When the SP issued the request.
    pub issue_instant: OffsetDateTime,
    /// The URL the request was sent to, if stated.
    pub destination: Option<String>,
    /// The SP's entity ID.
    pub issuer: String,
    /// Requested ACS URL (must be checked against the SP's registered ACS URLs).
    pub assertion_consumer_service_url: Option<String>,
    /// Requested ACS by index in the SP's metadata.
    pub assertion_consumer_service_index: Option<u16>,
    /// Requested response binding URI.
    pub protocol_binding: Option<String>,
    /// The SP demands fresh authentication.
    pub force_authn: bool,
    /// The IdP must not interact with the user.
    pub is_passive: bool,
    /// Requested NameID policy.
    pub name_id_policy: Option<NameIdPolicy>,
    /// Requested authentication context.
    pub requested_authn_context: Option<RequestedAuthnContext>,
    /// The request carries an enveloped `ds:Signature` (verified only by [`AuthnRequest::parse_verified`]).
    pub has_enveloped_signature: bool,
}

impl AuthnRequest {
    /// Writes the request as XML (the SP side: our Cloud SSO and the demo SP). The output is in
    /// exclusive canonical form; for the HTTP-Redirect binding it is sent unsigned and signed
    /// detached by [`crate::binding::encode_redirect`].
    pub fn to_xml(&self) -> String {
        use crate::xml::writer::Element;
        let mut root = Element::new("samlp", "AuthnRequest")
            .attr("ID", self.id.clone())
            .attr("Version", "2.0")
            .attr(
                "IssueInstant",
                crate::instant::format_instant(self.issue_instant),
            )
            .attr_opt("Destination", self.destination.clone())
            .attr_opt(
                "AssertionConsumerServiceURL",
                self.assertion_consumer_service_url.clone(),
            )
            .attr_opt(
                "AssertionConsumerServiceIndex",
                self.assertion_consumer_service_index.map(|i| i.to_string()),
            )
            .attr_opt("ProtocolBinding", self.protocol_binding.clone())
            .child(Element::new("saml", "Issuer").text(self.issuer.clone()));
        if self.force_authn {
            root = root.attr("ForceAuthn", "true");
        }
        if self.is_passive {
            root = root.attr("IsPassive", "true");
        }
        if let Some(p) = &self.name_id_policy {
            root = root.child(
                Element::new("samlp", "NameIDPolicy")
                    .attr_opt("Format", p.format.clone())
                    .attr_opt("SPNameQualifier", p.sp_name_qualifier.clone())
                    .attr_opt("AllowCreate", p.allow_create.map(|b| b.to_string())),
            );
        }
        if let Some(rac) = &self.requested_authn_context {
            let mut el = Element::new("samlp", "RequestedAuthnContext")
                .attr("Comparison", rac.comparison.as_str());
            for c in &rac.class_refs {
                el = el.child(Element::new("saml", "AuthnContextClassRef").text(c.clone()));
            }
            for d in &rac.decl_refs {
                el = el.child(Element::new("saml", "AuthnContextDeclRef").text(d.clone()));
            }
            root = root.child(el);
        }
        root.to_xml()
    }

    /// Parses an AuthnRequest without checking any signature.
    pub fn parse(xml: &str) -> Result<Self, AuthnRequestError> {
        let doc = reader::parse(xml, &Limits::default())?;
        Self::from_element(doc.root_element())
    }

    /// Parses an AuthnRequest that must carry an enveloped signature made by one of `trusted_certs`.
    ///
    /// The fields are read from the element the signature covers, in the same parsed tree.
    pub fn parse_verified(
        xml: &str,
        trusted_certs: &[Certificate],
        policy: &AlgorithmPolicy,
    ) -> Result<Self, AuthnRequestError> {
        let doc = reader::parse(xml, &Limits::default())?;
        let root = doc.root_element();
        check_root(root)?;
        if signature_children(root).next().is_none() {
            return Err(AuthnRequestError::Unsigned);
        }
        let verified = dsig::verify_enveloped(&doc, root, trusted_certs, policy)?;
        let node = verified.node();
        Self::from_element(node)
    }

    /// Reads an AuthnRequest from an element of an already parsed document.
    pub fn from_element(root: Node<'_, '_>) -> Result<Self, AuthnRequestError> {
        check_root(root)?;

        let id = root.attribute("ID").ok_or(AuthnRequestError::MissingId)?;
        if !is_ncname(id) {
            return Err(AuthnRequestError::InvalidId { id: id.to_owned() });
        }
        match root.attribute("Version") {
            None => return Err(AuthnRequestError::MissingVersion),
            Some("2.0") => {}
            Some(other) => {
                return Err(AuthnRequestError::WrongVersion {
                    found: other.to_owned(),
                });
            }
        }
        let issue_instant = parse_instant(
            root.attribute("IssueInstant")
                .ok_or(AuthnRequestError::MissingIssueInstant)?,
        )
        .map_err(AuthnRequestError::BadIssueInstant)?;

        let issuer = single_child(root, SAML_NS, "Issuer")?
            .map(|n| reader::text_of(n).trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or(AuthnRequestError::MissingIssuer)?;

        let assertion_consumer_service_url = root
            .attribute("AssertionConsumerServiceURL")
            .map(|s| s.trim().to_owned());
        let protocol_binding = root
            .attribute("ProtocolBinding")
            .map(|s| s.trim().to_owned());
        let assertion_consumer_service_index = root
            .attribute("AssertionConsumerServiceIndex")
            .map(|v| {
                v.trim()
                    .parse::<u16>()
                    .map_err(|_| AuthnRequestError::BadAcsIndex {
                        value: v.to_owned(),
                    })
            })
            .transpose()?;
        if assertion_consumer_service_index.is_some()
            && (assertion_consumer_service_url.is_some() || protocol_binding.is_some())
        {
            return Err(AuthnRequestError::AcsIndexAndUrl);
        }

        let force_authn = bool_attr(root, "ForceAuthn")?.unwrap_or(false);
        let is_passive = bool_attr(root, "IsPassive")?.unwrap_or(false);

        let name_id_policy = single_child(root, SAMLP_NS, "NameIDPolicy")?
            .map(|n| -> Result<NameIdPolicy, AuthnRequestError> {
                Ok(NameIdPolicy {
                    format: n.attribute("Format").map(|s| s.trim().to_owned()),
                    allow_create: bool_attr(n, "AllowCreate")?,
                    sp_name_qualifier: n.attribute("SPNameQualifier").map(str::to_owned),
                })
            })
            .transpose()?;

        let requested_authn_context = single_child(root, SAMLP_NS, "RequestedAuthnContext")?
            .map(|n| -> Result<RequestedAuthnContext, AuthnRequestError> {
                let comparison = match n.attribute("Comparison").map(str::trim) {
                    None | Some("exact") => AuthnContextComparison::Exact,
                    Some("minimum") => AuthnContextComparison::Minimum,
                    Some("maximum") => AuthnContextComparison::Maximum,
                    Some("better") => AuthnContextComparison::Better,
                    Some(other) => {
                        return Err(AuthnRequestError::BadComparison {
                            value: other.to_owned(),
                        });
                    }
                };
                let texts = |local: &str| -> Vec<String> {
                    n.children()
                        .filter(|c| is_element(*c, SAML_NS, local))
                        .map(|c| reader::text_of(c).trim().to_owned())
                        .collect()
                };
                Ok(RequestedAuthnContext {
                    comparison,
                    class_refs: texts("AuthnContextClassRef"),
                    decl_refs: texts("AuthnContextDeclRef"),
                })
            })
            .transpose()?;

        let has_enveloped_signature = match signature_children(root).count() {
            0 => false,
            1 => true,
            _ => return Err(AuthnRequestError::DuplicateElement { name: "Signature" }),
        };

        Ok(Self {
            id: id.to_owned(),
            issue_instant,
            destination: root.attribute("Destination").map(|s| s.trim().to_owned()),
            issuer,
            assertion_consumer_service_url,
            assertion_consumer_service_index,
            protocol_binding,
            force_authn,
            is_passive,
            name_id_policy,
            requested_authn_context,
            has_enveloped_signature,
        })
    }
}

/// Checks that `root` is a `samlp:AuthnRequest`.
fn check_root(root: Node<'_, '_>) -> Result<(), AuthnRequestError> {
    if is_element(root, SAMLP_NS, "AuthnRequest") {
        Ok(())
    } else {
        Err(AuthnRequestError::NotAnAuthnRequest {
            found: format!(
                "{{{}}}{}",
                root.tag_name().namespace().unwrap_or(""),
                root.tag_name().name()
            ),
        })
    }
}

/// The `ds:Signature` children of `node`.
fn signature_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(|c| is_element(*c, DS_NS, "Signature"))
}

/// Whether `node` is the element `{ns}local`.
fn is_element(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

/// The child `{ns}local` if there is at most one, an error if several.
fn single_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    local: &'static str,
) -> Result<Option<Node<'a, 'i>>, AuthnRequestError> {
    let mut found = node.children().filter(|c| is_element(*c, ns, local));
    let first = found.next();
    if found.next().is_some() {
        return Err(AuthnRequestError::DuplicateElement { name: local });
    }
    Ok(first)
}

/// Reads an optional `xs:boolean` attribute.
fn bool_attr(node: Node<'_, '_>, name: &'static str) -> Result<Option<bool>, AuthnRequestError> {
    match node.attribute(name) {
        None => Ok(None),
        Some(v) => parse_xs_boolean(v)
            .map(Some)
            .ok_or_else(|| AuthnRequestError::BadBoolean {
                attribute: name,
                value: v.to_owned(),
            }),
    }
}

/// Parses an `xs:boolean` lexical value (surrounding whitespace allowed, as the schema collapses it).
pub fn parse_xs_boolean(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Whether `s` is an XML NCName (a name without a colon), the lexical space of `xs:ID`.
pub fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start_ok = |c: char| c == '_' || c.is_alphabetic();
    start_ok(first)
        && chars.all(|c| start_ok(c) || c.is_alphanumeric() || matches!(c, '-' | '.' | '\u{B7}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncname() {
        assert!(is_ncname("_abc-1.2"));
        assert!(is_ncname("id123"));
        assert!(!is_ncname(""));
        assert!(!is_ncname("1abc"));
        assert!(!is_ncname("a:b"));
        assert!(!is_ncname("-a"));
        assert!(!is_ncname("a b"));
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_xs_boolean("true"), Some(true));
        assert_eq!(parse_xs_boolean(" 0 "), Some(false));
        assert_eq!(parse_xs_boolean("TRUE"), None);
        assert_eq!(parse_xs_boolean("yes"), None);
    }
}
