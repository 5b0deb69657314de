//! Enveloped XML-DSig: signing outbound elements built with [`crate::xml::writer`], and strict
//! verification of inbound elements parsed by [`crate::xml::reader`].
//!
//! Verification accepts exactly one profile, the one SAML uses: one `ds:Signature` child of the
//! signed element, exclusive c14n for `SignedInfo`, exactly one `Reference` whose URI is `#` + the
//! element's own `ID`, transforms enveloped-signature then exc-c14n (optionally with
//! `InclusiveNamespaces`), algorithms from the [`AlgorithmPolicy`] allow-list, and a key from the
//! caller's trusted certificates only. The caller reads identity data from
//! [`VerifiedElement::node`] and nothing else ("see what is signed").

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use roxmltree::{Document, Node};

use crate::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use crate::key::{Certificate, KeyError, SigningKey, decode_base64_lenient};
use crate::xml::c14n::{self, C14nError, C14nOptions};
use crate::xml::reader::{self, XmlError};
use crate::xml::writer::{Element, NS_DS, NS_EC, WriterError};

/// `CanonicalizationMethod` / `Transform` URI of exclusive c14n without comments.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Exclusive c14n with comments.
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
/// The enveloped-signature transform.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Why signing or verification failed. Details are for the audit log, not for end users.
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    /// The document was refused by the hardened reader (includes duplicate IDs).
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// Canonicalization failed.
    #[error(transparent)]
    C14n(#[from] C14nError),
    /// A key or certificate problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The element to sign uses an unbound prefix.
    #[error(transparent)]
    Writer(#[from] WriterError),
    /// No trusted certificate configured: verification fails closed.
    #[error("no trusted signing certificate configured")]
    NoTrustedKey,
    /// The element has no `ds:Signature` child.
    #[error("element is not signed")]
    MissingSignature,
    /// The element has more than one `ds:Signature` child.
    #[error("element has more than one ds:Signature")]
    MultipleSignatures,
    /// `SignedInfo` has more (or fewer) than one `Reference`.
    #[error("SignedInfo must contain exactly one Reference")]
    MultipleReferences,
    /// The Reference does not point at the element that carries the signature.
    #[error("Reference URI {found:?} does not match the signed element ({expected:?})")]
    ReferenceUriMismatch {
        /// `#` + the element's ID.
        expected: String,
        /// The URI found in the Reference.
        found: String,
    },
    /// The signed element has no `ID` attribute.
    #[error("signed element has no ID attribute")]
    MissingId,
    /// An ID value occurs on more than one element.
    #[error("duplicate ID {0:?}")]
    DuplicateId(String),
    /// A transform other than enveloped-signature followed by exc-c14n.
    #[error("unsupported transform: {0}")]
    UnsupportedTransform(String),
    /// A canonicalization method other than exclusive c14n.
    #[error("unsupported canonicalization method: {0}")]
    UnsupportedCanonicalization(String),
    /// An algorithm that is unknown or not in the allow-list.
    #[error("algorithm not allowed: {0}")]
    DisallowedAlgorithm(String),
    /// The certificate's key type or curve does not fit the signature algorithm.
    #[error("key does not fit algorithm {0:?}")]
    KeyAlgorithmMismatch(SignatureAlgorithm),
    /// The digest of the referenced content differs from `DigestValue`.
    #[error("digest mismatch")]
    DigestMismatch,
    /// `SignatureValue` does not verify with any trusted certificate.
    #[error("signature does not verify with a trusted key")]
    BadSignature,
    /// A required `ds:` element is missing.
    #[error("missing {0}")]
    MissingElement(&'static str),
    /// An element that the accepted profile does not allow.
    #[error("unexpected element {0}")]
    UnexpectedElement(String),
    /// A required attribute is missing.
    #[error("missing attribute {0}")]
    MissingAttribute(&'static str),
    /// A base64 value could not be decoded.
    #[error("invalid base64 in {0}")]
    Base64(&'static str),
    /// Signing: the element's `ID` attribute is not the id to reference.
    #[error("element ID {found:?} differs from the id to sign {expected:?}")]
    IdMismatch {
        /// The id passed to the signer.
        expected: String,
        /// The element's `ID` attribute, if any.
        found: Option<String>,
    },
    /// Signing: the insert position is past the element's children.
    #[error("cannot insert the signature at {index}: element has {len} children")]
    InsertPosition {
        /// Requested index.
        index: usize,
        /// Number of child nodes.
        len: usize,
    },
    /// The node passed does not belong to the document passed, or is not an element.
    #[error("node is not an element of the given document")]
    ForeignNode,
}

fn map_xml(e: XmlError) -> DsigError {
    match e {
        XmlError::DuplicateId(id) => DsigError::DuplicateId(id),
        other => DsigError::Xml(other),
    }
}

/// Signs `data` for the HTTP-Redirect binding (the raw `SAMLRequest=…&RelayState=…&SigAlg=…`
/// octets). ECDSA signatures are raw `r||s`.
pub fn sign_bytes(
    key: &SigningKey,
    alg: SignatureAlgorithm,
    data: &[u8],
) -> Result<Vec<u8>, DsigError> {
    Ok(key.sign(alg, data)?)
}

/// Verifies a detached signature (HTTP-Redirect binding) against the trusted certificates.
/// Returns the certificate that verified it.
pub fn verify_bytes<'c>(
    trusted: &'c [Certificate],
    policy: &AlgorithmPolicy,
    alg: SignatureAlgorithm,
    data: &[u8],
    signature: &[u8],
) -> Result<&'c Certificate, DsigError> {
    if trusted.is_empty() {
        return Err(DsigError::NoTrustedKey);
    }
    if !policy.allows_signature(alg) {
        return Err(DsigError::DisallowedAlgorithm(alg.uri().to_owned()));
    }
    trusted
        .iter()
        .find(|c| c.verify_signature(alg, data, signature).is_ok())
        .ok_or(DsigError::BadSignature)
}

/// Signs `element` (enveloped) and inserts the `ds:Signature` as child node number `insert_at`
/// (SAML: 1, right after `Issuer`). `id` must be the element's `ID` attribute.
///
/// The digest is taken over `element.to_xml()`, which the writer guarantees to be the exclusive
/// canonical form of the element without its signature. Prefixes forced with
/// [`Element::declare_for_content`] are listed in the transform's `InclusiveNamespaces`.
pub fn sign_enveloped(
    element: &mut Element,
    id: &str,
    insert_at: usize,
    key: &SigningKey,
    cert: &Certificate,
    alg: SignatureAlgorithm,
    digest: DigestAlgorithm,
) -> Result<(), DsigError> {
    match element.attribute("ID") {
        Some(v) if v == id => {}
        other => {
            return Err(DsigError::IdMismatch {
                expected: id.to_owned(),
                found: other.map(str::to_owned),
            });
        }
    }
    let len = element.child_nodes().len();
    if insert_at > len {
        return Err(DsigError::InsertPosition {
            index: insert_at,
            len,
        });
    }
    if !key.supports(alg) {
        return Err(DsigError::KeyAlgorithmMismatch(alg));
    }
    element.check_namespaces()?;

    let prefixes = element.content_prefixes();
    let canonical = element.to_xml();
    let digest_value = B64.encode(digest.digest(canonical.as_bytes()));
    drop(canonical);

    let mut exc = Element::new("ds", "Transform").attr("Algorithm", EXC_C14N);
    if !prefixes.is_empty() {
        exc = exc.child(
            Element::new("ec", "InclusiveNamespaces").attr("PrefixList", prefixes.join(" ")),
        );
    }
    let signed_info = Element::new("ds", "SignedInfo")
        .child(Element::new("ds", "CanonicalizationMethod").attr("Algorithm", EXC_C14N))
        .child(Element::new("ds", "SignatureMethod").attr("Algorithm", alg.uri()))
        .child(
            Element::new("ds", "Reference")
                .attr("URI", format!("#{id}"))
                .child(
                    Element::new("ds", "Transforms")
                        .child(
                            Element::new("ds", "Transform").attr("Algorithm", ENVELOPED_SIGNATURE),
                        )
                        .child(exc),
                )
                .child(Element::new("ds", "DigestMethod").attr("Algorithm", digest.uri()))
                .child(Element::new("ds", "DigestValue").text(digest_value)),
        );
    // SignedInfo is canonicalized as its own apex: its standalone serialization is exactly that.
    let signature_value = B64.encode(key.sign(alg, signed_info.to_xml().as_bytes())?);
    let signature = Element::new("ds", "Signature")
        .child(signed_info)
        .child(Element::new("ds", "SignatureValue").text(signature_value))
        .child(
            Element::new("ds", "KeyInfo").child(
                Element::new("ds", "X509Data")
                    .child(Element::new("ds", "X509Certificate").text(cert.to_base64())),
            ),
        );
    element.insert(insert_at, signature);
    Ok(())
}

/// An element whose enveloped signature verified. Read identity data only from [`Self::node`].
#[derive(Clone, Debug)]
pub struct VerifiedElement<'a> {
    node: Node<'a, 'a>,
    signature: Node<'a, 'a>,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm,
    certificate: Certificate,
}

impl<'a> VerifiedElement<'a> {
    /// The signed element (the one the Reference covers).
    pub fn node(&self) -> Node<'a, 'a> {
        self.node
    }
    /// The `ds:Signature` element (excluded from the signed content).
    pub fn signature_node(&self) -> Node<'a, 'a> {
        self.signature
    }
    /// The signature algorithm used.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
    /// The digest algorithm used.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest
    }
    /// The trusted certificate that verified the signature.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

fn is_ds<'a, 'i>(n: &Node<'a, 'i>, local: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(NS_DS) && n.tag_name().name() == local
}

fn describe(n: &Node<'_, '_>) -> String {
    match n.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", n.tag_name().name()),
        None => n.tag_name().name().to_owned(),
    }
}

/// The element children of `n`; any non-whitespace text child is an error.
fn element_children<'a, 'i>(n: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, DsigError> {
    let mut out = Vec::new();
    for c in n.children() {
        if c.is_element() {
            out.push(c);
        } else if c.is_text() && !c.text().unwrap_or_default().trim().is_empty() {
            return Err(DsigError::UnexpectedElement(format!(
                "text inside {}",
                describe(&n)
            )));
        }
    }
    Ok(out)
}

fn algorithm_attr<'a>(n: Node<'a, '_>) -> Result<&'a str, DsigError> {
    n.attribute("Algorithm")
        .ok_or(DsigError::MissingAttribute("Algorithm"))
}

/// Reads an exc-c14n method/transform: returns (with_comments, inclusive prefixes).
fn exc_c14n_params(n: Node<'_, '_>, uri: &str) -> Result<Option<(bool, Vec<String>)>, DsigError> {
    let with_comments = match uri {
        EXC_C14N => false,
        EXC_C14N_WITH_COMMENTS => true,
        _ => return Ok(None),
    };
    let mut prefixes = Vec::new();
    let kids = element_children(n)?;
    if kids.len() > 1 {
        return Err(DsigError::UnexpectedElement(describe(&kids[1])));
    }
    if let Some(k) = kids.first() {
        if !(k.tag_name().namespace() == Some(NS_EC)
            && k.tag_name().name() == "InclusiveNamespaces")
        {
            return Err(DsigError::UnexpectedElement(describe(k)));
        }
        let list = k
            .attribute("PrefixList")
            .ok_or(DsigError::MissingAttribute("PrefixList"))?;
        prefixes = list.split_ascii_whitespace().map(str::to_owned).collect();
    }
    Ok(Some((with_comments, prefixes)))
}

/// Verifies the enveloped signature of `element` (see the module documentation for the exact
/// profile). `trusted` are the configured certificates; the certificate inside `KeyInfo` is only
/// used to choose among them.
pub fn verify_enveloped<'a>(
    doc: &'a Document<'a>,
    element: Node<'a, 'a>,
    trusted: &[Certificate],
    policy: &AlgorithmPolicy,
) -> Result<VerifiedElement<'a>, DsigError> {
    if trusted.is_empty() {
        return Err(DsigError::NoTrustedKey);
    }
    if !element.is_element() || !std::ptr::eq(element.document(), doc) {
        return Err(DsigError::ForeignNode);
    }
    reader::check_unique_ids(doc).map_err(map_xml)?;
    let id = element.attribute("ID").ok_or(DsigError::MissingId)?;

    // Exactly one ds:Signature child.
    let mut sigs = element.children().filter(|c| is_ds(c, "Signature"));
    let signature = sigs.next().ok_or(DsigError::MissingSignature)?;
    if sigs.next().is_some() {
        return Err(DsigError::MultipleSignatures);
    }

    // Signature = SignedInfo, SignatureValue, KeyInfo?
    let parts = element_children(signature)?;
    let signed_info = *parts
        .first()
        .filter(|n| is_ds(n, "SignedInfo"))
        .ok_or(DsigError::MissingElement("SignedInfo"))?;
    let sig_value_node = *parts
        .get(1)
        .filter(|n| is_ds(n, "SignatureValue"))
        .ok_or(DsigError::MissingElement("SignatureValue"))?;
    let key_info = match parts.get(2) {
        Some(n) if is_ds(n, "KeyInfo") => Some(*n),
        Some(n) => return Err(DsigError::UnexpectedElement(describe(n))),
        None => None,
    };
    if let Some(extra) = parts.get(3) {
        return Err(DsigError::UnexpectedElement(describe(extra)));
    }

    // SignedInfo = CanonicalizationMethod, SignatureMethod, Reference
    let si = element_children(signed_info)?;
    let c14n_method = *si
        .first()
        .filter(|n| is_ds(n, "CanonicalizationMethod"))
        .ok_or(DsigError::MissingElement("CanonicalizationMethod"))?;
    let sig_method = *si
        .get(1)
        .filter(|n| is_ds(n, "SignatureMethod"))
        .ok_or(DsigError::MissingElement("SignatureMethod"))?;
    let references: Vec<Node<'a, 'a>> = si[2..]
        .iter()
        .copied()
        .filter(|n| is_ds(n, "Reference"))
        .collect();
    if let Some(other) = si[2..].iter().find(|n| !is_ds(n, "Reference")) {
        return Err(DsigError::UnexpectedElement(describe(other)));
    }
    let reference = match references.as_slice() {
        [r] => *r,
        [] => return Err(DsigError::MissingElement("Reference")),
        _ => return Err(DsigError::MultipleReferences),
    };

    let cm_uri = algorithm_attr(c14n_method)?;
    let (si_comments, si_prefixes) = exc_c14n_params(c14n_method, cm_uri)?
        .ok_or_else(|| DsigError::UnsupportedCanonicalization(cm_uri.to_owned()))?;
    let sm_uri = algorithm_attr(sig_method)?;
    let algorithm = policy
        .signature_from_uri(sm_uri)
        .ok_or_else(|| DsigError::DisallowedAlgorithm(sm_uri.to_owned()))?;
    if let Some(k) = element_children(sig_method)?.first() {
        return Err(DsigError::UnexpectedElement(describe(k)));
    }

    // Reference
    let expected = format!("#{id}");
    let found = reference.attribute("URI").unwrap_or_default();
    if found != expected {
        return Err(DsigError::ReferenceUriMismatch {
            expected,
            found: found.to_owned(),
        });
    }
    let rparts = element_children(reference)?;
    let transforms = *rparts
        .first()
        .filter(|n| is_ds(n, "Transforms"))
        .ok_or(DsigError::MissingElement("Transforms"))?;
    let digest_method = *rparts
        .get(1)
        .filter(|n| is_ds(n, "DigestMethod"))
        .ok_or(DsigError::MissingElement("DigestMethod"))?;
    let digest_value_node = *rparts
        .get(2)
        .filter(|n| is_ds(n, "DigestValue"))
        .ok_or(DsigError::MissingElement("DigestValue"))?;
    if let Some(extra) = rparts.get(3) {
        return Err(DsigError::UnexpectedElement(describe(extra)));
    }
    let tlist = element_children(transforms)?;
    let mut ref_prefixes: Option<Vec<String>> = None;
    let mut saw_enveloped = false;
    for t in &tlist {
        if !is_ds(t, "Transform") {
            return Err(DsigError::UnexpectedElement(describe(t)));
        }
        let uri = algorithm_attr(*t)?;
        if uri == ENVELOPED_SIGNATURE && !saw_enveloped && ref_prefixes.is_none() {
            if let Some(k) = element_children(*t)?.first() {
                return Err(DsigError::UnexpectedElement(describe(k)));
            }
            saw_enveloped = true;
        } else if saw_enveloped && ref_prefixes.is_none() {
            match exc_c14n_params(*t, uri)? {
                // Same-document "#id" references drop comments before any transform, so the
                // WithComments variant canonicalizes without comments here (as xmlsec does).
                Some((_, p)) => ref_prefixes = Some(p),
                None => return Err(DsigError::UnsupportedTransform(uri.to_owned())),
            }
        } else {
            return Err(DsigError::UnsupportedTransform(uri.to_owned()));
        }
    }
    let ref_prefixes = match (saw_enveloped, ref_prefixes) {
        (true, Some(p)) => p,
        (false, _) => {
            return Err(DsigError::UnsupportedTransform(
                "enveloped-signature transform missing".into(),
            ));
        }
        (true, None) => {
            return Err(DsigError::UnsupportedTransform(
                "exc-c14n transform missing".into(),
            ));
        }
    };
    let dm_uri = algorithm_attr(digest_method)?;
    let digest = policy
        .digest_from_uri(dm_uri)
        .ok_or_else(|| DsigError::DisallowedAlgorithm(dm_uri.to_owned()))?;
    let digest_expected = decode_base64_lenient(&reader::text_of(digest_value_node))
        .ok_or(DsigError::Base64("DigestValue"))?;
    let signature_bytes = decode_base64_lenient(&reader::text_of(sig_value_node))
        .ok_or(DsigError::Base64("SignatureValue"))?;

    // 1. SignatureValue over the canonical SignedInfo, with a trusted key.
    let si_canonical = c14n::canonicalize(
        signed_info,
        &C14nOptions {
            with_comments: si_comments,
            inclusive_prefixes: si_prefixes,
            exclude: None,
        },
    )?;
    let hinted = key_info.and_then(|k| {
        k.descendants()
            .find(|n| is_ds(n, "X509Certificate"))
            .and_then(|n| Certificate::from_base64(&reader::text_of(n)).ok())
    });
    let candidates: Vec<&Certificate> = match hinted
        .as_ref()
        .and_then(|h| trusted.iter().find(|t| *t == h))
    {
        Some(t) => vec![t],
        None => trusted.iter().collect(),
    };
    let certificate = candidates
        .into_iter()
        .find(|c| {
            c.verify_signature(algorithm, si_canonical.as_bytes(), &signature_bytes)
                .is_ok()
        })
        .ok_or(DsigError::BadSignature)?
        .clone();

    // 2. The digest of the element without its signature.
    let canonical = c14n::canonicalize(
        element,
        &C14nOptions {
            with_comments: false,
            inclusive_prefixes: ref_prefixes,
            exclude: Some(signature.id()),
        },
    )?;
    let actual = digest.digest(canonical.as_bytes());
    verify_slices_are_equal(actual.as_ref(), &digest_expected)
        .map_err(|_| DsigError::DigestMismatch)?;

    Ok(VerifiedElement {
        node: element,
        signature,
        algorithm,
        digest,
        certificate,
    })
}

/// Convenience: finds the element with `ID` = `id` (unique in the document) and verifies it.
pub fn verify_by_id<'a>(
    doc: &'a Document<'a>,
    id: &str,
    trusted: &[Certificate],
    policy: &AlgorithmPolicy,
) -> Result<VerifiedElement<'a>, DsigError> {
    let el = reader::element_by_id(doc, id).map_err(map_xml)?;
    verify_enveloped(doc, el, trusted, policy)
}
