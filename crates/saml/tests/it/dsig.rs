//! XML-DSig: round trips and the attacks our verifier must reject.
use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::dsig::{self, DsigError};
use saml::key::{Certificate, SigningKey};
use saml::xml::reader::{self, Limits, XmlError};
use saml::xml::writer::Element;

use crate::support;

/// A SAML-like Response with an Assertion; signs the assertion and/or the response.
pub fn response(
    name_id: &str,
    sign_assertion: bool,
    sign_response: bool,
    key: &SigningKey,
    cert: &Certificate,
    alg: SignatureAlgorithm,
    digest: DigestAlgorithm,
) -> String {
    let mut assertion = Element::new("saml", "Assertion")
        .attr("ID", "_a1")
        .attr("Version", "2.0")
        .attr("IssueInstant", "2026-01-01T00:00:00Z")
        .child(Element::new("saml", "Issuer").text("https://idp.example.com"))
        .child(
            Element::new("saml", "Subject").child(
                Element::new("saml", "NameID")
                    .attr(
                        "Format",
                        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                    )
                    .text(name_id.to_owned()),
            ),
        )
        .child(
            Element::new("saml", "AttributeStatement").child(
                Element::new("saml", "Attribute")
                    .attr("Name", "mail")
                    .child(
                        Element::new("saml", "AttributeValue")
                            .declare_for_content("xs")
                            .attr("xsi:type", "xs:string")
                            .text("a&b <c> \"d\"\r\n\tx"),
                    ),
            ),
        );
    if sign_assertion {
        dsig::sign_enveloped(&mut assertion, "_a1", 1, key, cert, alg, digest).unwrap();
    }
    let mut response = Element::new("samlp", "Response")
        .attr("ID", "_r1")
        .attr("Version", "2.0")
        .attr("IssueInstant", "2026-01-01T00:00:00Z")
        .attr("Destination", "https://sp.example.com/acs?a=1&b=2")
        .child(Element::new("saml", "Issuer").text("https://idp.example.com"))
        .child(
            Element::new("samlp", "Status").child(
                Element::new("samlp", "StatusCode")
                    .attr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success"),
            ),
        )
        .child(assertion);
    if sign_response {
        dsig::sign_enveloped(&mut response, "_r1", 1, key, cert, alg, digest).unwrap();
    }
    response.to_xml()
}

fn rsa_response(name_id: &str) -> String {
    let (k, c) = support::rsa();
    response(
        name_id,
        true,
        true,
        k,
        c,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha256,
    )
}

fn strict() -> AlgorithmPolicy {
    AlgorithmPolicy::default()
}

fn verify_root(
    xml: &str,
    trusted: &[Certificate],
    policy: &AlgorithmPolicy,
) -> Result<(), DsigError> {
    let doc = reader::parse(xml, &Limits::default())?;
    dsig::verify_enveloped(&doc, doc.root_element(), trusted, policy).map(|_| ())
}

fn assertion_of<'a>(doc: &'a roxmltree::Document<'a>) -> roxmltree::Node<'a, 'a> {
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name("Assertion"))
        .unwrap()
}

fn verify_assertion(xml: &str, trusted: &[Certificate]) -> Result<(), DsigError> {
    let doc = reader::parse(xml, &Limits::default())?;
    dsig::verify_enveloped(&doc, assertion_of(&doc), trusted, &strict()).map(|_| ())
}

/// Cuts the first `<ds:Signature ...>…</ds:Signature>` out of `xml`.
fn remove_first_signature(xml: &str) -> String {
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml[start..].find("</ds:Signature>").unwrap() + start + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

#[test]
fn round_trip_all_algorithms() {
    let (rk, rc) = support::rsa();
    let (ek, ec) = support::ecdsa();
    for (k, c, alg, dig) in [
        (
            rk,
            rc,
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha256,
        ),
        (
            rk,
            rc,
            SignatureAlgorithm::RsaSha384,
            DigestAlgorithm::Sha384,
        ),
        (
            rk,
            rc,
            SignatureAlgorithm::RsaSha512,
            DigestAlgorithm::Sha512,
        ),
        (
            ek,
            ec,
            SignatureAlgorithm::EcdsaSha256,
            DigestAlgorithm::Sha256,
        ),
    ] {
        let xml = response("alice@example.com", true, true, k, c, alg, dig);
        let doc = reader::parse(&xml, &Limits::default()).unwrap();
        let v =
            dsig::verify_enveloped(&doc, doc.root_element(), std::slice::from_ref(c), &strict())
                .unwrap();
        assert_eq!(v.node(), doc.root_element());
        assert_eq!(v.algorithm(), alg);
        assert_eq!(v.digest_algorithm(), dig);
        assert_eq!(v.certificate(), c);
        let a =
            dsig::verify_enveloped(&doc, assertion_of(&doc), std::slice::from_ref(c), &strict())
                .unwrap();
        assert_eq!(a.node().attribute("ID"), Some("_a1"));
        let by_id = dsig::verify_by_id(&doc, "_a1", std::slice::from_ref(c), &strict()).unwrap();
        assert_eq!(by_id.node(), a.node());
        // the other key among the trusted ones does not matter
        let both = [support::other_rsa().1.clone(), c.clone()];
        dsig::verify_enveloped(&doc, doc.root_element(), &both, &strict()).unwrap();
    }
}

#[test]
fn signature_layout_is_saml_conventional() {
    let xml = rsa_response("alice@example.com");
    let doc = reader::parse(&xml, &Limits::default()).unwrap();
    let kids: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(kids, ["Issuer", "Signature", "Status", "Assertion"]);
    assert!(xml.contains(r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"></ec:InclusiveNamespaces>"#));
}

#[test]
fn signature_removed_is_rejected() {
    let (_, c) = support::rsa();
    let xml = rsa_response("alice@example.com");
    let stripped = remove_first_signature(&xml);
    assert!(matches!(
        verify_root(&stripped, std::slice::from_ref(c), &strict()),
        Err(DsigError::MissingSignature)
    ));
    // the assertion signature still verifies on its own: removing the outer one does not touch it
    verify_assertion(&stripped, std::slice::from_ref(c)).unwrap();
    let unsigned = remove_first_signature(&stripped);
    assert!(matches!(
        verify_assertion(&unsigned, std::slice::from_ref(c)),
        Err(DsigError::MissingSignature)
    ));
}

#[test]
fn modified_content_is_rejected() {
    let (_, c) = support::rsa();
    let xml = rsa_response("alice@example.com");
    let forged = xml.replace("alice@example.com", "admin@example.com");
    assert!(matches!(
        verify_root(&forged, std::slice::from_ref(c), &strict()),
        Err(DsigError::DigestMismatch)
    ));
    assert!(matches!(
        verify_assertion(&forged, std::slice::from_ref(c)),
        Err(DsigError::DigestMismatch)
    ));
    // attribute change outside the assertion: only the response signature covers it
    let forged = xml.replace("acs?a=1&amp;b=2", "acs?a=1&amp;b=3");
    assert!(matches!(
        verify_root(&forged, std::slice::from_ref(c), &strict()),
        Err(DsigError::DigestMismatch)
    ));
    verify_assertion(&forged, std::slice::from_ref(c)).unwrap();
    // SignedInfo changed (digest algorithm swapped): the signature breaks
    let forged = xml.replacen("xmlenc#sha256", "xmldsig-more#sha384", 1);
    assert!(matches!(
        verify_root(&forged, std::slice::from_ref(c), &strict()),
        Err(DsigError::BadSignature)
    ));
}

#[test]
fn unknown_or_missing_keys_are_rejected() {
    let (_, c) = support::rsa();
    let (ak, ac) = support::other_rsa();
    let xml = rsa_response("alice@example.com");
    assert!(matches!(
        verify_root(&xml, std::slice::from_ref(ac), &strict()),
        Err(DsigError::BadSignature)
    ));
    assert!(matches!(
        verify_root(&xml, &[], &strict()),
        Err(DsigError::NoTrustedKey)
    ));
    // attacker-signed, with the attacker's certificate in KeyInfo: never trusted by itself
    let evil = response(
        "admin@example.com",
        true,
        true,
        ak,
        ac,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha256,
    );
    assert!(matches!(
        verify_root(&evil, std::slice::from_ref(c), &strict()),
        Err(DsigError::BadSignature)
    ));
    // attacker-signed, but KeyInfo names the trusted certificate
    let evil = evil.replace(&ac.to_base64(), &c.to_base64());
    assert!(matches!(
        verify_root(&evil, std::slice::from_ref(c), &strict()),
        Err(DsigError::BadSignature)
    ));
    // an ECDSA certificate cannot verify an RSA signature
    assert!(matches!(
        verify_root(&xml, &[support::ecdsa().1.clone()], &strict()),
        Err(DsigError::BadSignature)
    ));
}

#[test]
fn sha1_is_refused_unless_allowed() {
    let (k, c) = support::rsa();
    let xml = response(
        "alice@example.com",
        false,
        true,
        k,
        c,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha1,
    );
    let uri = DigestAlgorithm::Sha1.uri();
    match verify_root(&xml, std::slice::from_ref(c), &strict()) {
        Err(DsigError::DisallowedAlgorithm(u)) => assert_eq!(u, uri),
        other => panic!("expected DisallowedAlgorithm, got {other:?}"),
    }
    verify_root(
        &xml,
        std::slice::from_ref(c),
        &AlgorithmPolicy { allow_sha1: true },
    )
    .unwrap();
    // rsa-sha1 signature method
    let xml = rsa_response("alice@example.com").replacen(
        SignatureAlgorithm::RsaSha256.uri(),
        SignatureAlgorithm::RsaSha1.uri(),
        1,
    );
    assert!(matches!(
        verify_root(&xml, std::slice::from_ref(c), &strict()),
        Err(DsigError::DisallowedAlgorithm(_))
    ));
    assert!(matches!(
        verify_root(
            &xml,
            std::slice::from_ref(c),
            &AlgorithmPolicy { allow_sha1: true }
        ),
        Err(DsigError::BadSignature)
    ));
    // an unknown algorithm is refused the same way
    let xml = rsa_response("alice@example.com").replacen(
        SignatureAlgorithm::RsaSha256.uri(),
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        1,
    );
    assert!(matches!(
        verify_root(&xml, std::slice::from_ref(c), &strict()),
        Err(DsigError::DisallowedAlgorithm(_))
    ));
}

#[test]
fn two_references_are_rejected() {
    let (_, c) = support::rsa();
    let xml = rsa_response("alice@example.com");
    let start = xml.find("<ds:Reference").unwrap();
    let end = xml[start..].find("</ds:Reference>").unwrap() + start + "</ds:Reference>".len();
    let reference = xml[start..end].to_owned();
    let second = reference.replace("URI=\"#_r1\"", "URI=\"#_a1\"");
    let doubled = format!("{}{}{}", &xml[..end], second, &xml[end..]);
    assert!(matches!(
        verify_root(&doubled, std::slice::from_ref(c), &strict()),
        Err(DsigError::MultipleReferences)
    ));
}

#[test]
fn reference_to_another_element_is_rejected() {
    let (_, c) = support::rsa();
    let xml = rsa_response("alice@example.com");
    // Reference of the response pointed at the assertion
    let moved = xml.replacen("URI=\"#_r1\"", "URI=\"#_a1\"", 1);
    match verify_root(&moved, std::slice::from_ref(c), &strict()) {
        Err(DsigError::ReferenceUriMismatch { expected, found }) => {
            assert_eq!(expected, "#_r1");
            assert_eq!(found, "#_a1");
        }
        other => panic!("expected ReferenceUriMismatch, got {other:?}"),
    }
    // empty URI (whole document) is not accepted either
    let whole = xml.replacen("URI=\"#_r1\"", "URI=\"\"", 1);
    assert!(matches!(
        verify_root(&whole, std::slice::from_ref(c), &strict()),
        Err(DsigError::ReferenceUriMismatch { .. })
    ));
}

#[test]
fn signature_wrapping_is_rejected() {
    let (k, c) = support::rsa();
    // Only the assertion is signed (common IdP setting).
    let xml = response(
        "alice@example.com",
        true,
        false,
        k,
        c,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha256,
    );
    verify_assertion(&xml, std::slice::from_ref(c)).unwrap();
    let a_start = xml.find("<saml:Assertion").unwrap();
    let a_end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let signed = &xml[a_start..a_end];
    let forged_unsigned =
        remove_first_signature(signed).replace("alice@example.com", "admin@example.com");

    // XSW: forged copy with the same ID first, the signed original hidden in Extensions.
    let hidden = format!("<samlp:Extensions>{signed}</samlp:Extensions>");
    let wrapped = format!(
        "{}{}{}{}",
        &xml[..a_start],
        hidden,
        forged_unsigned,
        &xml[a_end..]
    );
    let doc = reader::parse(&wrapped, &Limits::default()).unwrap();
    let forged = assertion_of(&doc);
    assert!(
        matches!(dsig::verify_enveloped(&doc, forged, std::slice::from_ref(c), &strict()), Err(DsigError::DuplicateId(id)) if id == "_a1")
    );
    assert!(matches!(
        dsig::verify_by_id(&doc, "_a1", std::slice::from_ref(c), &strict()),
        Err(DsigError::DuplicateId(_))
    ));

    // XSW: forged copy with a new ID, carrying the original signature (Reference still #_a1).
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let forged_new_id = forged_unsigned
        .replacen("ID=\"_a1\"", "ID=\"_evil\"", 1)
        .replacen(
            "</saml:Issuer>",
            &format!("</saml:Issuer>{}", &signed[sig_start..sig_end]),
            1,
        );
    let wrapped = format!(
        "{}{}{}{}",
        &xml[..a_start],
        hidden,
        forged_new_id,
        &xml[a_end..]
    );
    let doc = reader::parse(&wrapped, &Limits::default()).unwrap();
    let forged = assertion_of(&doc);
    assert_eq!(forged.attribute("ID"), Some("_evil"));
    assert!(matches!(
        dsig::verify_enveloped(&doc, forged, std::slice::from_ref(c), &strict()),
        Err(DsigError::ReferenceUriMismatch { .. })
    ));

    // XSW: forged assertion without signature, original moved inside it (signature is not a child).
    let nested = forged_unsigned
        .replacen("ID=\"_a1\"", "ID=\"_evil\"", 1)
        .replacen(
            "</saml:Issuer>",
            &format!("</saml:Issuer><samlp:Extensions>{signed}</samlp:Extensions>"),
            1,
        );
    let wrapped = format!("{}{}{}", &xml[..a_start], nested, &xml[a_end..]);
    let doc = reader::parse(&wrapped, &Limits::default()).unwrap();
    assert!(matches!(
        dsig::verify_enveloped(&doc, assertion_of(&doc), std::slice::from_ref(c), &strict()),
        Err(DsigError::MissingSignature)
    ));

    // Two signatures on one element.
    let sig = &signed[sig_start..sig_end];
    let doubled = xml.replacen(sig, &format!("{sig}{sig}"), 1);
    assert!(matches!(
        verify_assertion(&doubled, std::slice::from_ref(c)),
        Err(DsigError::MultipleSignatures)
    ));

    // ds:Object smuggling inside the signature.
    let with_object = xml.replacen("</ds:KeyInfo>", "</ds:KeyInfo><ds:Object>x</ds:Object>", 1);
    assert!(matches!(
        verify_assertion(&with_object, std::slice::from_ref(c)),
        Err(DsigError::UnexpectedElement(_))
    ));
}

#[test]
fn wrong_transforms_are_rejected() {
    let (_, c) = support::rsa();
    let xml = rsa_response("alice@example.com");
    let xpath = xml.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">",
        1,
    );
    assert!(
        matches!(verify_root(&xpath, std::slice::from_ref(c), &strict()), Err(DsigError::UnsupportedTransform(u)) if u.contains("xpath"))
    );
    let inclusive = xml.replacen(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\">",
        1,
    );
    assert!(matches!(
        verify_root(&inclusive, std::slice::from_ref(c), &strict()),
        Err(DsigError::UnsupportedCanonicalization(_))
    ));
    let no_enveloped = xml.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform>",
        "",
        1,
    );
    assert!(matches!(
        verify_root(&no_enveloped, std::slice::from_ref(c), &strict()),
        Err(DsigError::UnsupportedTransform(_))
    ));
    let extra = xml.replacen(
        "</ds:Transforms>",
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform></ds:Transforms>",
        1,
    );
    assert!(matches!(
        verify_root(&extra, std::slice::from_ref(c), &strict()),
        Err(DsigError::UnsupportedTransform(_))
    ));
}

#[test]
fn doctype_documents_are_rejected_by_the_reader() {
    let xml = rsa_response("alice@example.com");
    let with_dtd = format!("<!DOCTYPE samlp:Response [<!ENTITY e \"alice\">]>{xml}");
    assert_eq!(
        reader::parse(&with_dtd, &Limits::default()).unwrap_err(),
        XmlError::Doctype
    );
    assert!(matches!(
        verify_root(&with_dtd, &[support::rsa().1.clone()], &strict()),
        Err(DsigError::Xml(XmlError::Doctype))
    ));
}

#[test]
fn comment_injection_reads_the_full_text() {
    let (_, c) = support::rsa();
    let xml = rsa_response("alice@example.com.evil.com");
    let injected = xml.replacen(
        "alice@example.com.evil.com",
        "alice@example.com<!---->.evil.com",
        1,
    );
    assert_ne!(injected, xml);
    let doc = reader::parse(&injected, &Limits::default()).unwrap();
    // Comments are not signed content: the signature still verifies...
    let v = dsig::verify_enveloped(&doc, assertion_of(&doc), std::slice::from_ref(c), &strict())
        .unwrap();
    // ...and the value read from the verified node is the whole signed value.
    let name_id = v
        .node()
        .descendants()
        .find(|n| n.has_tag_name("NameID"))
        .unwrap();
    assert_eq!(reader::text_of(name_id), "alice@example.com.evil.com");

    // A comment inside DigestValue (xml-crypto CVE-2025-29775) does not cut the value either.
    let start = injected.find("<ds:DigestValue>").unwrap() + "<ds:DigestValue>".len();
    let with_comment = format!(
        "{}{}<!--x-->{}",
        &injected[..start],
        &injected[start..start + 10],
        &injected[start + 10..]
    );
    verify_root(&with_comment, std::slice::from_ref(c), &strict()).unwrap();
}

#[test]
fn signing_checks_its_inputs() {
    let (k, c) = support::rsa();
    let mut e = Element::new("samlp", "Response")
        .attr("ID", "_x")
        .child(Element::new("saml", "Issuer").text("i"));
    assert!(matches!(
        dsig::sign_enveloped(
            &mut e,
            "_y",
            1,
            k,
            c,
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha256
        ),
        Err(DsigError::IdMismatch { .. })
    ));
    assert!(matches!(
        dsig::sign_enveloped(
            &mut e,
            "_x",
            5,
            k,
            c,
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha256
        ),
        Err(DsigError::InsertPosition { index: 5, len: 1 })
    ));
    assert!(matches!(
        dsig::sign_enveloped(
            &mut e,
            "_x",
            1,
            k,
            c,
            SignatureAlgorithm::EcdsaSha256,
            DigestAlgorithm::Sha256
        ),
        Err(DsigError::KeyAlgorithmMismatch(_))
    ));
    let mut bad = Element::with_prefix("zz", "R").attr("ID", "_x");
    assert!(matches!(
        dsig::sign_enveloped(
            &mut bad,
            "_x",
            0,
            k,
            c,
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha256
        ),
        Err(DsigError::Writer(_))
    ));
}

#[test]
fn redirect_binding_helpers() {
    let (k, c) = support::rsa();
    let data = b"SAMLRequest=abc&RelayState=xyz&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256";
    let sig = dsig::sign_bytes(k, SignatureAlgorithm::RsaSha256, data).unwrap();
    let trusted = [support::other_rsa().1.clone(), c.clone()];
    assert_eq!(
        dsig::verify_bytes(
            &trusted,
            &strict(),
            SignatureAlgorithm::RsaSha256,
            data,
            &sig
        )
        .unwrap(),
        c
    );
    assert!(matches!(
        dsig::verify_bytes(
            &trusted,
            &strict(),
            SignatureAlgorithm::RsaSha256,
            b"SAMLRequest=abd",
            &sig
        ),
        Err(DsigError::BadSignature)
    ));
    assert!(matches!(
        dsig::verify_bytes(&[], &strict(), SignatureAlgorithm::RsaSha256, data, &sig),
        Err(DsigError::NoTrustedKey)
    ));
    assert!(matches!(
        dsig::verify_bytes(&trusted, &strict(), SignatureAlgorithm::RsaSha1, data, &sig),
        Err(DsigError::DisallowedAlgorithm(_))
    ));
}
