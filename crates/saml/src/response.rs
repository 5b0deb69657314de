//! `samlp:Response` with one `saml:Assertion`: built and signed by our IdP, validated by our SP.
//!
//! Building: the assertion is signed first (signature after its `Issuer`), then the response
//! (signature after its `Issuer`), so both signatures verify in the final document.
//!
//! Validating ([`validate_response`]) follows `shared/security/saml-defense.md` rules 2, 3, 6, 7:
//! exactly one `Assertion` in the whole document, a direct child of the `Response`; signatures are
//! verified on that same parsed tree, and everything about the user is read only from the element
//! the verified signature covers. No certificate means no login. The replay cache belongs to the
//! caller, who gets the assertion ID and how long to remember it.
//!
//! Encrypted assertions ([`crate::xmlenc`]): refused unless [`SpExpectations::decryption_keys`] is
//! non-empty. The Response signature (if any) is verified before decrypting; the plaintext is parsed
//! by the same hardened reader into its own tree, which must hold exactly one `saml:Assertion`. It is
//! accepted only when a trusted signature covers it (Keycloak CVE-2026-2092): its own enveloped
//! signature, verified on the decrypted tree, or the Response signature, whose coverage of the
//! whole Response includes the ciphertext that was decrypted (not enough when
//! `require_signed_assertion` is set). Every other check then applies to the decrypted assertion.

use roxmltree::{Document, Node};
use time::{Duration, OffsetDateTime};

use crate::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use crate::dsig::{self, DsigError};
use crate::instant::{InstantError, format_instant, parse_instant};
use crate::key::{Certificate, SigningKey};
use crate::status::StatusCode;
use crate::xml::reader::{self, Limits, XmlError};
use crate::xml::writer::{Element, NS_DS as DS_NS, NS_SAML as SAML_NS, NS_SAMLP as SAMLP_NS};
use crate::xmlenc::{self, DecryptionKey, XmlEncError};

/// The bearer subject confirmation method.
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// A `saml:NameID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameId {
    /// NameID format URI.
    pub format: String,
    /// The identifier.
    pub value: String,
    /// `SPNameQualifier`, if any.
    pub sp_name_qualifier: Option<String>,
}

/// A `saml:Attribute` with its values (as plain strings; we never emit `xsi:type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// `NameFormat` URI, if any.
    pub name_format: Option<String>,
    /// `FriendlyName`, if any.
    pub friendly_name: Option<String>,
    /// Values, in order.
    pub values: Vec<String>,
}

/// Everything that goes into a successful Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseParams {
    /// `Response/@ID` (an NCName, unique).
    pub response_id: String,
    /// `Assertion/@ID` (an NCName, unique).
    pub assertion_id: String,
    /// IssueInstant of both Response and Assertion.
    pub issue_instant: OffsetDateTime,
    /// Our IdP entity ID.
    pub issuer: String,
    /// The SP's ACS URL (`Destination`, `Recipient`).
    pub destination: String,
    /// The AuthnRequest ID, or `None` for IdP-initiated SSO.
    pub in_response_to: Option<String>,
    /// The SP entity ID (`Audience`).
    pub audience: String,
    /// The subject.
    pub name_id: NameId,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    pub subject_not_on_or_after: OffsetDateTime,
    /// `Conditions/@NotBefore`.
    pub not_before: OffsetDateTime,
    /// `Conditions/@NotOnOrAfter`.
    pub not_on_or_after: OffsetDateTime,
    /// When the user authenticated.
    pub authn_instant: OffsetDateTime,
    /// `AuthnStatement/@SessionIndex`.
    pub session_index: String,
    /// `AuthnStatement/@SessionNotOnOrAfter`, if any.
    pub session_not_on_or_after: Option<OffsetDateTime>,
    /// `AuthnContextClassRef` URI.
    pub authn_context_class_ref: String,
    /// Attributes; no `AttributeStatement` is emitted when empty.
    pub attributes: Vec<Attribute>,
    /// Sign the whole Response.
    pub sign_response: bool,
    /// Sign the Assertion.
    pub sign_assertion: bool,
}

/// Everything that goes into an error Response (no assertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponseParams {
    /// `Response/@ID`.
    pub response_id: String,
    /// IssueInstant.
    pub issue_instant: OffsetDateTime,
    /// Our IdP entity ID.
    pub issuer: String,
    /// The SP's ACS URL.
    pub destination: String,
    /// The AuthnRequest ID, if the error answers one.
    pub in_response_to: Option<String>,
    /// Top-level status code (Requester, Responder or VersionMismatch).
    pub status: StatusCode,
    /// Second-level status code, if any.
    pub sub_status: Option<StatusCode>,
    /// `StatusMessage`, if any.
    pub message: Option<String>,
}

/// Why a Response could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// Neither the Response nor the Assertion would be signed.
    #[error("at least one of sign_response and sign_assertion must be true")]
    NothingSigned,
    /// The top-level status of an error Response must be a top-level code other than Success.
    #[error("{0} cannot be the top-level status of an error response")]
    BadErrorStatus(StatusCode),
    /// The second-level status must not be a top-level-only code.
    #[error("{0} cannot be a second-level status")]
    BadSubStatus(StatusCode),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(#[from] DsigError),
}

/// Builds a `samlp:Element` helper: `<saml:Issuer>issuer</saml:Issuer>`.
fn issuer_element(issuer: &str) -> Element {
    Element::new("saml", "Issuer").text(issuer.to_owned())
}

/// The `samlp:Status` element.
fn status_element(code: StatusCode, sub: Option<StatusCode>, message: Option<&str>) -> Element {
    let mut top = Element::new("samlp", "StatusCode").attr("Value", code.uri());
    if let Some(sub) = sub {
        top = top.child(Element::new("samlp", "StatusCode").attr("Value", sub.uri()));
    }
    let mut status = Element::new("samlp", "Status").child(top);
    if let Some(message) = message {
        status = status.child(Element::new("samlp", "StatusMessage").text(message.to_owned()));
    }
    status
}

/// Builds and signs a successful `samlp:Response` holding one `saml:Assertion`.
pub fn build_response(
    params: &ResponseParams,
    key: &SigningKey,
    cert: &Certificate,
    alg: SignatureAlgorithm,
    digest: DigestAlgorithm,
) -> Result<String, ResponseError> {
    if !params.sign_response && !params.sign_assertion {
        return Err(ResponseError::NothingSigned);
    }
    let issue_instant = format_instant(params.issue_instant);

    let mut name_id = Element::new("saml", "NameID").attr("Format", params.name_id.format.clone());
    if let Some(q) = &params.name_id.sp_name_qualifier {
        name_id = name_id.attr("SPNameQualifier", q.clone());
    }
    let name_id = name_id.text(params.name_id.value.clone());

    let mut confirmation_data = Element::new("saml", "SubjectConfirmationData")
        .attr(
            "NotOnOrAfter",
            format_instant(params.subject_not_on_or_after),
        )
        .attr("Recipient", params.destination.clone());
    if let Some(irt) = &params.in_response_to {
        confirmation_data = confirmation_data.attr("InResponseTo", irt.clone());
    }
    let subject = Element::new("saml", "Subject").child(name_id).child(
        Element::new("saml", "SubjectConfirmation")
            .attr("Method", CM_BEARER)
            .child(confirmation_data),
    );

    let conditions = Element::new("saml", "Conditions")
        .attr("NotBefore", format_instant(params.not_before))
        .attr("NotOnOrAfter", format_instant(params.not_on_or_after))
        .child(
            Element::new("saml", "AudienceRestriction")
                .child(Element::new("saml", "Audience").text(params.audience.clone())),
        );

    let mut authn_statement = Element::new("saml", "AuthnStatement")
        .attr("AuthnInstant", format_instant(params.authn_instant))
        .attr("SessionIndex", params.session_index.clone());
    if let Some(t) = params.session_not_on_or_after {
        authn_statement = authn_statement.attr("SessionNotOnOrAfter", format_instant(t));
    }
    let authn_statement = authn_statement.child(Element::new("saml", "AuthnContext").child(
        Element::new("saml", "AuthnContextClassRef").text(params.authn_context_class_ref.clone()),
    ));

    let mut assertion = Element::new("saml", "Assertion")
        .attr("ID", params.assertion_id.clone())
        .attr("IssueInstant", issue_instant.clone())
        .attr("Version", "2.0")
        .child(issuer_element(&params.issuer))
        .child(subject)
        .child(conditions)
        .child(authn_statement);
    if !params.attributes.is_empty() {
        let mut statement = Element::new("saml", "AttributeStatement");
        for attribute in &params.attributes {
            let mut el = Element::new("saml", "Attribute").attr("Name", attribute.name.clone());
            if let Some(f) = &attribute.name_format {
                el = el.attr("NameFormat", f.clone());
            }
            if let Some(f) = &attribute.friendly_name {
                el = el.attr("FriendlyName", f.clone());
            }
            for value in &attribute.values {
                el = el.child(Element::new("saml", "AttributeValue").text(value.clone()));
            }
            statement = statement.child(el);
        }
        assertion = assertion.child(statement);
    }
    if params.sign_assertion {
        dsig::sign_enveloped(
            &mut assertion,
            &params.assertion_id,
            1,
            key,
            cert,
            alg,
            digest,
        )?;
    }

    let mut response = Element::new("samlp", "Response")
        .attr("ID", params.response_id.clone())
        .attr("Version", "2.0")
        .attr("IssueInstant", issue_instant.clone())
        .attr("Destination", params.destination.clone());
    if let Some(irt) = &params.in_response_to {
        response = response.attr("InResponseTo", irt.clone());
    }
    let mut response = response
        .child(issuer_element(&params.issuer))
        .child(status_element(StatusCode::Success, None, None))
        .child(assertion);
    if params.sign_response {
        dsig::sign_enveloped(
            &mut response,
            &params.response_id,
            1,
            key,
            cert,
            alg,
            digest,
        )?;
    }
    Ok(response.to_xml())
}

/// Builds an error `samlp:Response`, signed at the response level when `signer` is given.
pub fn build_error_response(
    params: &ErrorResponseParams,
    signer: Option<(
        &SigningKey,
        &Certificate,
        SignatureAlgorithm,
        DigestAlgorithm,
    )>,
) -> Result<String, ResponseError> {
    if !params.status.is_top_level() || params.status == StatusCode::Success {
        return Err(ResponseError::BadErrorStatus(params.status));
    }
    if let Some(sub) = params.sub_status
        && sub.is_top_level()
        && sub != StatusCode::Requester
        && sub != StatusCode::Responder
    {
        return Err(ResponseError::BadSubStatus(sub));
    }
    let mut response = Element::new("samlp", "Response")
        .attr("ID", params.response_id.clone())
        .attr("Version", "2.0")
        .attr("IssueInstant", format_instant(params.issue_instant))
        .attr("Destination", params.destination.clone());
    if let Some(irt) = &params.in_response_to {
        response = response.attr("InResponseTo", irt.clone());
    }
    let mut response = response
        .child(issuer_element(&params.issuer))
        .child(status_element(
            params.status,
            params.sub_status,
            params.message.as_deref(),
        ));
    if let Some((key, cert, alg, digest)) = signer {
        dsig::sign_enveloped(
            &mut response,
            &params.response_id,
            1,
            key,
            cert,
            alg,
            digest,
        )?;
    }
    Ok(response.to_xml())
}

/// What the SP expects of a Response.
#[derive(Debug, Clone)]
pub struct SpExpectations<'a> {
    /// The IdP entity ID (`Issuer`).
    pub idp_entity_id: &'a str,
    /// Our SP entity ID (`Audience`).
    pub sp_entity_id: &'a str,
    /// Our ACS URL (`Destination`, `Recipient`).
    pub acs_url: &'a str,
    /// The IdP's signing certificates; empty means no login (fail closed).
    pub trusted_certs: &'a [Certificate],
    /// Accepted algorithms.
    pub policy: AlgorithmPolicy,
    /// The current time.
    pub now: OffsetDateTime,
    /// Allowed clock skew, applied to every time check.
    pub max_skew: Duration,
    /// The ID of the AuthnRequest we sent, or `None` when no request is pending.
    pub expected_in_response_to: Option<&'a str>,
    /// Accept IdP-initiated (unsolicited) responses when no request is pending.
    pub allow_unsolicited: bool,
    /// Require a signature on the Assertion itself (a Response-level signature is not enough).
    pub require_signed_assertion: bool,
    /// Our SP keys for `EncryptedAssertion`s (tried in order); empty means an encrypted assertion
    /// is refused.
    pub decryption_keys: &'a [DecryptionKey],
}

/// Which signatures a validated response carried (both verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedParts {
    /// The Response signature verified.
    pub response: bool,
    /// The Assertion signature verified.
    pub assertion: bool,
}

/// The identity data of a validated assertion, read from the verified element only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAssertion {
    /// `Response/@ID`.
    pub response_id: String,
    /// `Assertion/@ID` (key of the caller's replay cache).
    pub assertion_id: String,
    /// Keep the assertion ID in the replay cache until this instant (expiry plus skew).
    pub replay_cache_until: OffsetDateTime,
    /// The IdP entity ID.
    pub issuer: String,
    /// The subject's NameID (format is empty when the IdP sent none).
    pub name_id: NameId,
    /// The InResponseTo of the subject confirmation, if any.
    pub in_response_to: Option<String>,
    /// `Conditions/@NotOnOrAfter`, if any.
    pub not_on_or_after: Option<OffsetDateTime>,
    /// `AuthnStatement/@AuthnInstant`.
    pub authn_instant: OffsetDateTime,
    /// `AuthnStatement/@SessionIndex`, if any.
    pub session_index: Option<String>,
    /// `AuthnStatement/@SessionNotOnOrAfter`, if any.
    pub session_not_on_or_after: Option<OffsetDateTime>,
    /// `AuthnContextClassRef`, if any.
    pub authn_context_class_ref: Option<String>,
    /// All attributes of all `AttributeStatement`s, in document order.
    pub attributes: Vec<Attribute>,
    /// Which signatures were present and verified.
    pub signed: SignedParts,
}

impl ValidatedAssertion {
    /// The values of the first attribute called `name`.
    pub fn attribute_values(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.values.as_slice())
    }
}

/// Why a Response was refused. Details are for the audit log; users see a generic error.
#[derive(Debug, thiserror::Error)]
pub enum ResponseValidationError {
    /// The XML itself was refused by the hardened reader.
    #[error("XML rejected: {0}")]
    Xml(#[from] XmlError),
    /// The root element is not `samlp:Response`.
    #[error("not a Response: root element is {found}")]
    NotAResponse {
        /// `{namespace}local` of the root element.
        found: String,
    },
    /// A required attribute or element is missing.
    #[error("{element} lacks {what}")]
    Missing {
        /// Element concerned.
        element: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// An element that must appear at most once appears several times.
    #[error("{element} appears more than once")]
    Duplicate {
        /// Element local name.
        element: &'static str,
    },
    /// `Version` is not 2.0.
    #[error("unsupported SAML version {found:?}")]
    WrongVersion {
        /// Version found.
        found: String,
    },
    /// A time value is malformed.
    #[error("bad time value in {element}: {source}")]
    BadInstant {
        /// Element concerned.
        element: &'static str,
        /// Why.
        #[source]
        source: InstantError,
    },
    /// Two elements share an ID.
    #[error("duplicate ID {id:?} in document")]
    DuplicateId {
        /// The repeated ID.
        id: String,
    },
    /// The status is not Success.
    #[error("IdP returned status {status} (second level: {sub_status:?}, message: {message:?})")]
    StatusNotSuccess {
        /// Top-level status URI.
        status: String,
        /// Second-level status URI, if any.
        sub_status: Option<String>,
        /// StatusMessage, if any.
        message: Option<String>,
    },
    /// The response holds an `EncryptedAssertion` and no decryption key is configured.
    #[error("encrypted assertion received but no decryption key is configured")]
    EncryptedAssertionUnsupported,
    /// The `EncryptedAssertion` could not be decrypted.
    #[error("encrypted assertion: {0}")]
    Decryption(#[from] XmlEncError),
    /// The decrypted content is not exactly one `saml:Assertion` element.
    #[error("decrypted content is not exactly one Assertion element")]
    DecryptedNotOneAssertion,
    /// The decrypted XML was refused by the hardened reader.
    #[error("decrypted XML rejected: {0}")]
    DecryptedXml(XmlError),
    /// An encrypted assertion is neither signed itself nor inside a signed Response.
    #[error("the encrypted assertion is not covered by any signature")]
    EncryptedAssertionUnsigned,
    /// No assertion at all.
    #[error("response holds no assertion")]
    NoAssertion,
    /// More than one `Assertion` element anywhere in the document.
    #[error("response holds {count} assertions, expected exactly one")]
    MultipleAssertions {
        /// How many were found.
        count: usize,
    },
    /// The one `Assertion` is not a direct child of the `Response`.
    #[error("the assertion is not a direct child of the response")]
    AssertionMisplaced,
    /// No trusted IdP certificate configured: fail closed.
    #[error("no trusted IdP certificate configured")]
    NoTrustedCertificate,
    /// Neither the Response nor the Assertion is signed.
    #[error("neither the response nor the assertion is signed")]
    Unsigned,
    /// The Assertion must be signed itself, and is not.
    #[error("the assertion is not signed")]
    AssertionNotSigned,
    /// A signature failed to verify.
    #[error("{element} signature: {source}")]
    Signature {
        /// Which element's signature.
        element: &'static str,
        /// Why.
        #[source]
        source: DsigError,
    },
    /// The verified element is not the element being consumed.
    #[error("the signature does not cover the consumed {element}")]
    SignatureDoesNotCover {
        /// Element concerned.
        element: &'static str,
    },
    /// `Issuer` is not the expected IdP.
    #[error("{element} Issuer {found:?} is not the expected IdP")]
    WrongIssuer {
        /// Response or Assertion.
        element: &'static str,
        /// Issuer found.
        found: String,
    },
    /// `Destination` is not our ACS URL.
    #[error("Destination {found:?} is not our ACS URL")]
    WrongDestination {
        /// Destination found.
        found: String,
    },
    /// The InResponseTo does not match the pending request.
    #[error("InResponseTo {found:?} does not match the request {expected:?}")]
    InResponseToMismatch {
        /// Expected request ID.
        expected: Option<String>,
        /// Value found.
        found: Option<String>,
    },
    /// An unsolicited (IdP-initiated) response while those are not allowed.
    #[error("unsolicited response not allowed")]
    UnsolicitedNotAllowed,
    /// No bearer `SubjectConfirmation` satisfies the checks; the reasons of each candidate.
    #[error("no valid bearer SubjectConfirmation: {reasons:?}")]
    NoValidSubjectConfirmation {
        /// Why each candidate failed.
        reasons: Vec<String>,
    },
    /// The assertion's `Conditions/@NotBefore` is in the future.
    #[error("assertion not valid before {not_before}")]
    NotYetValid {
        /// NotBefore.
        not_before: OffsetDateTime,
    },
    /// The assertion's `Conditions/@NotOnOrAfter` has passed.
    #[error("assertion expired at {not_on_or_after}")]
    Expired {
        /// NotOnOrAfter.
        not_on_or_after: OffsetDateTime,
    },
    /// The assertion's `IssueInstant` is in the future.
    #[error("assertion issued in the future ({issue_instant})")]
    IssuedInFuture {
        /// IssueInstant.
        issue_instant: OffsetDateTime,
    },
    /// The IdP session the assertion refers to has already ended.
    #[error("IdP session ended at {session_not_on_or_after}")]
    SessionExpired {
        /// SessionNotOnOrAfter.
        session_not_on_or_after: OffsetDateTime,
    },
    /// No `AudienceRestriction`, or one that does not name us.
    #[error("audience restriction does not include our entity ID (found {found:?})")]
    WrongAudience {
        /// Audiences of the failing restriction.
        found: Vec<String>,
    },
    /// The assertion has no `AuthnStatement`.
    #[error("assertion has no AuthnStatement")]
    NoAuthnStatement,
    /// The subject has no `NameID` (or an `EncryptedID`/`BaseID`, which we do not read).
    #[error("subject has no NameID")]
    NoNameId,
}

type VResult<T> = Result<T, ResponseValidationError>;

/// Whether `node` is the element `{ns}local`.
fn is_el(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

/// The children `{ns}local` of `node`.
fn children_named<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is_el(*c, ns, local))
}

/// The child `{ns}local` if there is at most one.
fn at_most_one<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> VResult<Option<Node<'a, 'i>>> {
    let mut it = children_named(node, ns, local);
    let first = it.next();
    if it.next().is_some() {
        return Err(ResponseValidationError::Duplicate { element: local });
    }
    Ok(first)
}

/// The child `{ns}local`, exactly one.
fn exactly_one<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
    parent: &'static str,
) -> VResult<Node<'a, 'i>> {
    at_most_one(node, ns, local)?.ok_or(ResponseValidationError::Missing {
        element: parent,
        what: local,
    })
}

/// An optional time attribute.
fn instant_attr(
    node: Node<'_, '_>,
    name: &str,
    element: &'static str,
) -> VResult<Option<OffsetDateTime>> {
    node.attribute(name)
        .map(parse_instant)
        .transpose()
        .map_err(|source| ResponseValidationError::BadInstant { element, source })
}

/// The trimmed text of an element (all text nodes: comments never truncate it).
fn text(node: Node<'_, '_>) -> String {
    reader::text_of(node).trim().to_owned()
}

/// Rejects documents in which two elements carry the same ID (the reader's notion: `ID`, `Id`,
/// `id`), so that no verifier anywhere can be steered to another element with the same ID.
fn check_unique_ids(doc: &Document<'_>) -> VResult<()> {
    reader::check_unique_ids(doc).map_err(|e| match e {
        XmlError::DuplicateId(id) => ResponseValidationError::DuplicateId { id },
        other => ResponseValidationError::Xml(other),
    })
}

/// Reads and checks the status; `Ok` only for Success.
fn check_status(root: Node<'_, '_>) -> VResult<()> {
    let status = exactly_one(root, SAMLP_NS, "Status", "Response")?;
    let code = exactly_one(status, SAMLP_NS, "StatusCode", "Status")?;
    let value = code.attribute("Value").unwrap_or("").trim();
    if value == StatusCode::Success.uri() {
        return Ok(());
    }
    let sub_status = children_named(code, SAMLP_NS, "StatusCode")
        .next()
        .and_then(|c| c.attribute("Value"))
        .map(|v| v.trim().to_owned());
    let message = children_named(status, SAMLP_NS, "StatusMessage")
        .next()
        .map(text);
    Err(ResponseValidationError::StatusNotSuccess {
        status: value.to_owned(),
        sub_status,
        message,
    })
}

/// Validates a SAML Response (already decoded from the POST binding) and returns the identity data
/// of its one assertion. See the module docs for the rules.
pub fn validate_response(xml: &str, expect: &SpExpectations<'_>) -> VResult<ValidatedAssertion> {
    let doc = reader::parse(xml, &Limits::default())?;
    let root = doc.root_element();
    if !is_el(root, SAMLP_NS, "Response") {
        return Err(ResponseValidationError::NotAResponse {
            found: format!(
                "{{{}}}{}",
                root.tag_name().namespace().unwrap_or(""),
                root.tag_name().name()
            ),
        });
    }
    check_version(root, "Response")?;
    let response_id = root
        .attribute("ID")
        .ok_or(ResponseValidationError::Missing {
            element: "Response",
            what: "ID",
        })?
        .to_owned();
    check_unique_ids(&doc)?;
    check_status(root)?;

    // Rule 3: exactly one assertion, plain or encrypted, in the whole document, where we expect it.
    let encrypted: Vec<_> = doc
        .descendants()
        .filter(|n| is_el(*n, SAML_NS, "EncryptedAssertion"))
        .collect();
    let plain: Vec<_> = doc
        .descendants()
        .filter(|n| is_el(*n, SAML_NS, "Assertion"))
        .collect();
    let outer = match (encrypted.as_slice(), plain.as_slice()) {
        ([], []) => return Err(ResponseValidationError::NoAssertion),
        ([one], []) | ([], [one]) => *one,
        _ => {
            return Err(ResponseValidationError::MultipleAssertions {
                count: encrypted.len() + plain.len(),
            });
        }
    };
    let is_encrypted = !encrypted.is_empty();
    if is_encrypted && expect.decryption_keys.is_empty() {
        return Err(ResponseValidationError::EncryptedAssertionUnsupported);
    }
    if outer.parent() != Some(root) {
        return Err(ResponseValidationError::AssertionMisplaced);
    }

    // Rules 2 and 7: verify, then read only from what the verified signature covers. The
    // Response signature is verified before anything is decrypted.
    if expect.trusted_certs.is_empty() {
        return Err(ResponseValidationError::NoTrustedCertificate);
    }
    let response_signed = at_most_one(root, DS_NS, "Signature")?.is_some();
    let mut verified_root = None;
    if response_signed {
        let verified = dsig::verify_enveloped(&doc, root, expect.trusted_certs, &expect.policy)
            .map_err(|source| ResponseValidationError::Signature {
                element: "Response",
                source,
            })?;
        if verified.node() != root {
            return Err(ResponseValidationError::SignatureDoesNotCover {
                element: "Response",
            });
        }
        verified_root = Some(verified.node());
    }

    // Encrypted: decrypt, and parse the plaintext with the same hardened reader into its own tree,
    // which must hold exactly one saml:Assertion (inside the synthetic wrapper) and nothing else.
    let decrypted = if is_encrypted {
        Some(xmlenc::decrypt_assertion(outer, expect.decryption_keys)?)
    } else {
        None
    };
    let inner_doc = decrypted
        .as_deref()
        .map(|t| reader::parse(t, &Limits::default()))
        .transpose()
        .map_err(ResponseValidationError::DecryptedXml)?;
    let (assertion_doc, assertion) = match &inner_doc {
        Some(inner) => (inner, decrypted_assertion(inner)?),
        None => (&doc, outer),
    };

    let assertion_signed = at_most_one(assertion, DS_NS, "Signature")?.is_some();
    if !response_signed && !assertion_signed {
        return Err(if is_encrypted {
            ResponseValidationError::EncryptedAssertionUnsigned
        } else {
            ResponseValidationError::Unsigned
        });
    }
    if expect.require_signed_assertion && !assertion_signed {
        return Err(ResponseValidationError::AssertionNotSigned);
    }
    let verified_assertion = if assertion_signed {
        let verified = dsig::verify_enveloped(
            assertion_doc,
            assertion,
            expect.trusted_certs,
            &expect.policy,
        )
        .map_err(|source| ResponseValidationError::Signature {
            element: "Assertion",
            source,
        })?;
        verified.node()
    } else {
        // Only the response is signed: the consumed (plain or encrypted) assertion is the one
        // child of the verified root; for an encrypted one, the signed ciphertext is what we
        // decrypted.
        let verified_root = verified_root.ok_or(ResponseValidationError::Unsigned)?;
        let local = if is_encrypted {
            "EncryptedAssertion"
        } else {
            "Assertion"
        };
        let mut found = children_named(verified_root, SAML_NS, local);
        match (found.next(), found.next()) {
            (Some(a), None) if a == outer => assertion,
            _ => return Err(ResponseValidationError::AssertionMisplaced),
        }
    };
    if verified_assertion != assertion {
        return Err(ResponseValidationError::SignatureDoesNotCover {
            element: "Assertion",
        });
    }

    // Response-level checks.
    if let Some(issuer) = at_most_one(root, SAML_NS, "Issuer")? {
        let found = text(issuer);
        if found != expect.idp_entity_id {
            return Err(ResponseValidationError::WrongIssuer {
                element: "Response",
                found,
            });
        }
    }
    match root.attribute("Destination") {
        Some(d) if d.trim() != expect.acs_url => {
            return Err(ResponseValidationError::WrongDestination {
                found: d.to_owned(),
            });
        }
        // SAML bindings §3.5.5.2: a signed message must name its Destination.
        None if response_signed => {
            return Err(ResponseValidationError::Missing {
                element: "Response",
                what: "Destination",
            });
        }
        _ => {}
    }
    let response_irt = root.attribute("InResponseTo");
    check_in_response_to(response_irt, expect)?;

    read_assertion(
        verified_assertion,
        response_id,
        response_irt,
        expect,
        SignedParts {
            response: response_signed,
            assertion: assertion_signed,
        },
    )
}

/// The one `saml:Assertion` of a decrypted document: the synthetic wrapper must hold exactly that
/// element (whitespace aside), and the document no other assertion; IDs must be unique in it.
fn decrypted_assertion<'a, 'i>(inner: &'a Document<'i>) -> VResult<Node<'a, 'i>> {
    let wrapper = inner.root_element();
    let mut elements = Vec::new();
    for child in wrapper.children() {
        if child.is_element() {
            elements.push(child);
        } else if child.is_text() && !child.text().unwrap_or_default().trim().is_empty() {
            return Err(ResponseValidationError::DecryptedNotOneAssertion);
        }
    }
    let assertion = match elements.as_slice() {
        [one] if is_el(*one, SAML_NS, "Assertion") => *one,
        _ => return Err(ResponseValidationError::DecryptedNotOneAssertion),
    };
    let count = inner
        .descendants()
        .filter(|n| is_el(*n, SAML_NS, "Assertion") || is_el(*n, SAML_NS, "EncryptedAssertion"))
        .count();
    // The wrapper itself is named saml:EncryptedAssertion when `saml` is the SAML namespace.
    let wrapper_counts = usize::from(is_el(wrapper, SAML_NS, "EncryptedAssertion"));
    if count != 1 + wrapper_counts {
        return Err(ResponseValidationError::DecryptedNotOneAssertion);
    }
    check_unique_ids(inner)?;
    Ok(assertion)
}

/// Checks `Version="2.0"`.
fn check_version(node: Node<'_, '_>, element: &'static str) -> VResult<()> {
    match node.attribute("Version") {
        Some("2.0") => Ok(()),
        Some(other) => Err(ResponseValidationError::WrongVersion {
            found: other.to_owned(),
        }),
        None => Err(ResponseValidationError::Missing {
            element,
            what: "Version",
        }),
    }
}

/// Checks an `InResponseTo` value (absent = `None`) against the pending request.
///
/// A value must match the pending request (a response to a request we do not know is refused).
/// No value means an unsolicited response, accepted only when `allow_unsolicited` is set.
fn check_in_response_to(found: Option<&str>, expect: &SpExpectations<'_>) -> VResult<()> {
    match (expect.expected_in_response_to, found) {
        (Some(expected), Some(found)) if expected == found => Ok(()),
        (_, None) if expect.allow_unsolicited => Ok(()),
        (_, None) => Err(ResponseValidationError::UnsolicitedNotAllowed),
        (expected, found) => Err(ResponseValidationError::InResponseToMismatch {
            expected: expected.map(str::to_owned),
            found: found.map(str::to_owned),
        }),
    }
}

/// Checks and reads the verified assertion.
fn read_assertion(
    assertion: Node<'_, '_>,
    response_id: String,
    response_in_response_to: Option<&str>,
    expect: &SpExpectations<'_>,
    signed: SignedParts,
) -> VResult<ValidatedAssertion> {
    let now = expect.now;
    let skew = expect.max_skew;
    check_version(assertion, "Assertion")?;
    let assertion_id = assertion
        .attribute("ID")
        .ok_or(ResponseValidationError::Missing {
            element: "Assertion",
            what: "ID",
        })?
        .to_owned();
    let issue_instant = instant_attr(assertion, "IssueInstant", "Assertion")?.ok_or(
        ResponseValidationError::Missing {
            element: "Assertion",
            what: "IssueInstant",
        },
    )?;
    if issue_instant > now + skew {
        return Err(ResponseValidationError::IssuedInFuture { issue_instant });
    }

    let issuer = text(exactly_one(assertion, SAML_NS, "Issuer", "Assertion")?);
    if issuer != expect.idp_entity_id {
        return Err(ResponseValidationError::WrongIssuer {
            element: "Assertion",
            found: issuer,
        });
    }

    // Subject: NameID and a bearer confirmation that fits.
    let subject = exactly_one(assertion, SAML_NS, "Subject", "Assertion")?;
    let name_id_node =
        at_most_one(subject, SAML_NS, "NameID")?.ok_or(ResponseValidationError::NoNameId)?;
    let name_id = NameId {
        format: name_id_node
            .attribute("Format")
            .unwrap_or("")
            .trim()
            .to_owned(),
        value: text(name_id_node),
        sp_name_qualifier: name_id_node.attribute("SPNameQualifier").map(str::to_owned),
    };
    if name_id.value.is_empty() {
        return Err(ResponseValidationError::NoNameId);
    }
    let mut reasons = Vec::new();
    let mut confirmed: Option<(Option<String>, OffsetDateTime)> = None;
    for sc in children_named(subject, SAML_NS, "SubjectConfirmation") {
        match check_confirmation(sc, expect) {
            Ok(ok) => {
                confirmed = Some(ok);
                break;
            }
            Err(reason) => reasons.push(reason),
        }
    }
    let (in_response_to, subject_not_on_or_after) =
        confirmed.ok_or(ResponseValidationError::NoValidSubjectConfirmation { reasons })?;
    // The response and its assertion must answer the same request (or both none).
    if response_in_response_to.is_some() && response_in_response_to != in_response_to.as_deref() {
        return Err(ResponseValidationError::InResponseToMismatch {
            expected: in_response_to,
            found: response_in_response_to.map(str::to_owned),
        });
    }

    // Conditions: time window and audience.
    let conditions = exactly_one(assertion, SAML_NS, "Conditions", "Assertion")?;
    let not_before = instant_attr(conditions, "NotBefore", "Conditions")?;
    let not_on_or_after = instant_attr(conditions, "NotOnOrAfter", "Conditions")?;
    if let Some(nb) = not_before
        && now + skew < nb
    {
        return Err(ResponseValidationError::NotYetValid { not_before: nb });
    }
    if let Some(noa) = not_on_or_after
        && now - skew >= noa
    {
        return Err(ResponseValidationError::Expired {
            not_on_or_after: noa,
        });
    }
    let mut restrictions = children_named(conditions, SAML_NS, "AudienceRestriction").peekable();
    if restrictions.peek().is_none() {
        return Err(ResponseValidationError::WrongAudience { found: Vec::new() });
    }
    for restriction in restrictions {
        let audiences: Vec<String> = children_named(restriction, SAML_NS, "Audience")
            .map(text)
            .collect();
        if !audiences.iter().any(|a| a == expect.sp_entity_id) {
            return Err(ResponseValidationError::WrongAudience { found: audiences });
        }
    }

    // AuthnStatement.
    let authn = children_named(assertion, SAML_NS, "AuthnStatement")
        .next()
        .ok_or(ResponseValidationError::NoAuthnStatement)?;
    let authn_instant = instant_attr(authn, "AuthnInstant", "AuthnStatement")?.ok_or(
        ResponseValidationError::Missing {
            element: "AuthnStatement",
            what: "AuthnInstant",
        },
    )?;
    let session_not_on_or_after = instant_attr(authn, "SessionNotOnOrAfter", "AuthnStatement")?;
    if let Some(s) = session_not_on_or_after
        && now - skew >= s
    {
        return Err(ResponseValidationError::SessionExpired {
            session_not_on_or_after: s,
        });
    }
    let authn_context_class_ref = children_named(authn, SAML_NS, "AuthnContext")
        .flat_map(|c| children_named(c, SAML_NS, "AuthnContextClassRef"))
        .next()
        .map(text);

    let attributes = children_named(assertion, SAML_NS, "AttributeStatement")
        .flat_map(|s| children_named(s, SAML_NS, "Attribute"))
        .map(|a| {
            Ok(Attribute {
                name: a
                    .attribute("Name")
                    .ok_or(ResponseValidationError::Missing {
                        element: "Attribute",
                        what: "Name",
                    })?
                    .to_owned(),
                name_format: a.attribute("NameFormat").map(str::to_owned),
                friendly_name: a.attribute("FriendlyName").map(str::to_owned),
                values: children_named(a, SAML_NS, "AttributeValue")
                    .map(reader::text_of)
                    .collect(),
            })
        })
        .collect::<VResult<Vec<_>>>()?;

    let expires =
        not_on_or_after.map_or(subject_not_on_or_after, |c| c.min(subject_not_on_or_after));
    Ok(ValidatedAssertion {
        response_id,
        assertion_id,
        replay_cache_until: expires + skew,
        issuer,
        name_id,
        in_response_to,
        not_on_or_after,
        authn_instant,
        session_index: authn.attribute("SessionIndex").map(str::to_owned),
        session_not_on_or_after,
        authn_context_class_ref,
        attributes,
        signed,
    })
}

/// Checks one `SubjectConfirmation`; returns its InResponseTo and NotOnOrAfter, or why it fails.
fn check_confirmation(
    sc: Node<'_, '_>,
    expect: &SpExpectations<'_>,
) -> Result<(Option<String>, OffsetDateTime), String> {
    let method = sc.attribute("Method").unwrap_or("").trim();
    if method != CM_BEARER {
        return Err(format!("method {method:?} is not bearer"));
    }
    let data = children_named(sc, SAML_NS, "SubjectConfirmationData")
        .next()
        .ok_or("no SubjectConfirmationData")?;
    let recipient = data.attribute("Recipient").unwrap_or("").trim();
    if recipient != expect.acs_url {
        return Err(format!("Recipient {recipient:?} is not our ACS URL"));
    }
    let bad_time = |e: InstantError| e.to_string();
    let not_on_or_after = data.attribute("NotOnOrAfter").ok_or("no NotOnOrAfter")?;
    let not_on_or_after = parse_instant(not_on_or_after).map_err(bad_time)?;
    if expect.now - expect.max_skew >= not_on_or_after {
        return Err(format!("expired at {}", format_instant(not_on_or_after)));
    }
    if let Some(nb) = data.attribute("NotBefore") {
        let nb = parse_instant(nb).map_err(bad_time)?;
        if expect.now + expect.max_skew < nb {
            return Err(format!("not valid before {}", format_instant(nb)));
        }
    }
    let irt = data.attribute("InResponseTo");
    check_in_response_to(irt, expect).map_err(|e| e.to_string())?;
    Ok((irt.map(str::to_owned), not_on_or_after))
}
