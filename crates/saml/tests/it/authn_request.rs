//! AuthnRequest parsing and the HTTP-Redirect / HTTP-POST bindings, including the attacks of
//! saml-defense.md: XXE and DOCTYPE, deflate bombs, forged or re-encoded redirect signatures, SHA-1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::authn_request::{AuthnContextComparison, AuthnRequest, AuthnRequestError};
use saml::binding::{
    BindingError, MAX_INFLATED_BYTES, MAX_POST_VALUE_BYTES, MessageParam, PostForm, decode_post,
    decode_redirect, deflate, encode_post, encode_redirect, render_post_form,
};
use saml::dsig;
use saml::key::{Certificate, SigningKey};
use saml::xml::reader::XmlError;
use saml::xml::writer::Element;
use time::macros::datetime;

const REQUEST: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24" Version="2.0" ProviderName="SP test" IssueInstant="2014-07-16T23:52:45Z" Destination="https://idp.example.com/SSOService.php" ForceAuthn="1" IsPassive="false" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="https://sp.example.com/index.php?acs">
  <saml:Issuer>
     https://sp.example.com/metadata.php
  </saml:Issuer>
  <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true" SPNameQualifier="https://sp.example.com"/>
  <samlp:RequestedAuthnContext Comparison="minimum">
    <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
    <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509</saml:AuthnContextClassRef>
  </samlp:RequestedAuthnContext>
</samlp:AuthnRequest>"#;

fn rsa() -> (SigningKey, Certificate) {
    let key = SigningKey::generate_rsa(2048).unwrap();
    let cert = Certificate::self_signed(
        &key,
        "sp",
        datetime!(2026-01-01 00:00:00 UTC),
        datetime!(2036-01-01 00:00:00 UTC),
    )
    .unwrap();
    (key, cert)
}

fn ecdsa() -> (SigningKey, Certificate) {
    let key = SigningKey::generate_ecdsa_p256().unwrap();
    let cert = Certificate::self_signed(
        &key,
        "sp",
        datetime!(2026-01-01 00:00:00 UTC),
        datetime!(2036-01-01 00:00:00 UTC),
    )
    .unwrap();
    (key, cert)
}

#[test]
fn parses_every_field() {
    let r = AuthnRequest::parse(REQUEST).unwrap();
    assert_eq!(r.id, "ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24");
    assert_eq!(r.issue_instant, datetime!(2014-07-16 23:52:45 UTC));
    assert_eq!(
        r.destination.as_deref(),
        Some("https://idp.example.com/SSOService.php")
    );
    assert_eq!(r.issuer, "https://sp.example.com/metadata.php");
    assert_eq!(
        r.assertion_consumer_service_url.as_deref(),
        Some("https://sp.example.com/index.php?acs")
    );
    assert_eq!(r.assertion_consumer_service_index, None);
    assert_eq!(
        r.protocol_binding.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    assert!(r.force_authn);
    assert!(!r.is_passive);
    let policy = r.name_id_policy.unwrap();
    assert_eq!(
        policy.format.as_deref(),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(policy.allow_create, Some(true));
    assert_eq!(
        policy.sp_name_qualifier.as_deref(),
        Some("https://sp.example.com")
    );
    let ctx = r.requested_authn_context.unwrap();
    assert_eq!(ctx.comparison, AuthnContextComparison::Minimum);
    assert_eq!(ctx.class_refs.len(), 2);
    assert_eq!(
        ctx.class_refs[1],
        "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
    );
    assert!(!r.has_enveloped_signature);
}

#[test]
fn minimal_request_and_defaults() {
    let xml = r#"<p:AuthnRequest xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a1" Version="2.0" IssueInstant="2026-01-01T00:00:00.5Z" AssertionConsumerServiceIndex="3"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">sp</Issuer><p:RequestedAuthnContext><a:AuthnContextClassRef xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion">x</a:AuthnContextClassRef></p:RequestedAuthnContext></p:AuthnRequest>"#;
    let r = AuthnRequest::parse(xml).unwrap();
    assert_eq!(r.issuer, "sp");
    assert_eq!(r.assertion_consumer_service_index, Some(3));
    assert!(!r.force_authn && !r.is_passive);
    assert_eq!(r.name_id_policy, None);
    assert_eq!(
        r.requested_authn_context.unwrap().comparison,
        AuthnContextComparison::Exact
    );
}

/// A malformed request and the check its error must pass.
type BadCase = (String, fn(&AuthnRequestError) -> bool);

#[test]
fn malformed_requests_are_refused_with_specific_errors() {
    let cases: Vec<BadCase> = vec![
        (REQUEST.replace(r#" ID="ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24""#, ""), |e| {
            matches!(e, AuthnRequestError::MissingId)
        }),
        (REQUEST.replace(r#"ID="ONELOGIN_"#, r#"ID="1ONELOGIN_"#), |e| {
            matches!(e, AuthnRequestError::InvalidId { .. })
        }),
        (REQUEST.replace(r#"Version="2.0""#, r#"Version="1.1""#), |e| {
            matches!(e, AuthnRequestError::WrongVersion { found } if found == "1.1")
        }),
        (REQUEST.replace(r#" Version="2.0""#, ""), |e| {
            matches!(e, AuthnRequestError::MissingVersion)
        }),
        (REQUEST.replace(r#"ForceAuthn="1""#, r#"ForceAuthn="yes""#), |e| {
            matches!(e, AuthnRequestError::BadBoolean { attribute: "ForceAuthn", .. })
        }),
        (REQUEST.replace(r#"AllowCreate="true""#, r#"AllowCreate="True""#), |e| {
            matches!(e, AuthnRequestError::BadBoolean { attribute: "AllowCreate", .. })
        }),
        (REQUEST.replace("2014-07-16T23:52:45Z", "16/07/2014"), |e| {
            matches!(e, AuthnRequestError::BadIssueInstant(_))
        }),
        (REQUEST.replace(r#" IssueInstant="2014-07-16T23:52:45Z""#, ""), |e| {
            matches!(e, AuthnRequestError::MissingIssueInstant)
        }),
        (
            REQUEST.replace(
                "<saml:Issuer>\n     https://sp.example.com/metadata.php\n  </saml:Issuer>",
                "",
            ),
            |e| matches!(e, AuthnRequestError::MissingIssuer),
        ),
        (
            REQUEST.replace("  <saml:Issuer>", "<saml:Issuer>other</saml:Issuer><saml:Issuer>"),
            |e| matches!(e, AuthnRequestError::DuplicateElement { name: "Issuer" }),
        ),
        (
            REQUEST.replace(r#"IsPassive="false""#, r#"AssertionConsumerServiceIndex="1""#),
            |e| matches!(e, AuthnRequestError::AcsIndexAndUrl),
        ),
        (REQUEST.replace(r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="https://sp.example.com/index.php?acs""#, r#"AssertionConsumerServiceIndex="70000""#), |e| {
            matches!(e, AuthnRequestError::BadAcsIndex { .. })
        }),
        (REQUEST.replace(r#"Comparison="minimum""#, r#"Comparison="most""#), |e| {
            matches!(e, AuthnRequestError::BadComparison { .. })
        }),
        (
            REQUEST
                .replace("samlp:AuthnRequest", "samlp:LogoutRequest"),
            |e| matches!(e, AuthnRequestError::NotAnAuthnRequest { .. }),
        ),
        (
            // Right local name, wrong namespace.
            REQUEST.replace(
                r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol""#,
                r#"xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol""#,
            ),
            |e| matches!(e, AuthnRequestError::NotAnAuthnRequest { .. }),
        ),
    ];
    for (xml, expected) in cases {
        let err = AuthnRequest::parse(&xml).unwrap_err();
        assert!(expected(&err), "unexpected error {err:?} for\n{xml}");
    }
}

#[test]
fn doctype_xxe_and_entities_are_refused() {
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n{}",
        REQUEST.replace("https://sp.example.com/metadata.php", "&x;")
    );
    assert!(matches!(
        AuthnRequest::parse(&xxe),
        Err(AuthnRequestError::Xml(XmlError::Doctype))
    ));
    let laughs = format!(
        "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}",
        REQUEST.replace("https://sp.example.com/metadata.php", "&b;")
    );
    assert!(matches!(
        AuthnRequest::parse(&laughs),
        Err(AuthnRequestError::Xml(XmlError::Doctype))
    ));
    let undeclared = REQUEST.replace("https://sp.example.com/metadata.php", "&x;");
    assert!(matches!(
        AuthnRequest::parse(&undeclared),
        Err(AuthnRequestError::Xml(_))
    ));
}

/// Builds a signed AuthnRequest with our writer.
fn signed_request(key: &SigningKey, cert: &Certificate, alg: SignatureAlgorithm) -> String {
    let mut req = Element::new("samlp", "AuthnRequest")
        .attr("ID", "_req1")
        .attr("Version", "2.0")
        .attr("IssueInstant", "2026-05-01T10:00:00Z")
        .attr("AssertionConsumerServiceURL", "https://sp.example.com/acs")
        .child(Element::new("saml", "Issuer").text("https://sp.example.com"))
        .child(Element::new("samlp", "NameIDPolicy").attr(
            "Format",
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        ));
    dsig::sign_enveloped(
        &mut req,
        "_req1",
        1,
        key,
        cert,
        alg,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    req.to_xml()
}

#[test]
fn enveloped_signature_verifies_and_tampering_fails() {
    for (key, cert, alg) in [
        {
            let (k, c) = rsa();
            (k, c, SignatureAlgorithm::RsaSha256)
        },
        {
            let (k, c) = ecdsa();
            (k, c, SignatureAlgorithm::EcdsaSha256)
        },
    ] {
        let xml = signed_request(&key, &cert, alg);
        let plain = AuthnRequest::parse(&xml).unwrap();
        assert!(plain.has_enveloped_signature);
        let verified = AuthnRequest::parse_verified(
            &xml,
            std::slice::from_ref(&cert),
            &AlgorithmPolicy::STRICT,
        )
        .unwrap();
        assert_eq!(verified, plain);
        assert_eq!(
            verified.assertion_consumer_service_url.as_deref(),
            Some("https://sp.example.com/acs")
        );

        // Exfiltration attempt: change the ACS URL of a signed request.
        let tampered = xml.replace("https://sp.example.com/acs", "https://evil.example.com/acs");
        assert!(matches!(
            AuthnRequest::parse_verified(
                &tampered,
                std::slice::from_ref(&cert),
                &AlgorithmPolicy::STRICT
            ),
            Err(AuthnRequestError::Signature(_))
        ));
        // Wrong key.
        let (_, other) = ecdsa();
        assert!(matches!(
            AuthnRequest::parse_verified(&xml, &[other], &AlgorithmPolicy::STRICT),
            Err(AuthnRequestError::Signature(_))
        ));
        // No certificate: fail closed.
        assert!(AuthnRequest::parse_verified(&xml, &[], &AlgorithmPolicy::STRICT).is_err());
    }
    let (_, cert) = rsa();
    assert!(matches!(
        AuthnRequest::parse_verified(REQUEST, &[cert], &AlgorithmPolicy::STRICT),
        Err(AuthnRequestError::Unsigned)
    ));
}

/// Re-signs the first signature of `xml` with RSA-SHA1 / SHA-1 using xmlsec1 (our own signer
/// never produces SHA-1). `None` (skip) when xmlsec1 is missing, see [`crate::support::missing_peer`].
pub(crate) fn resign_with_sha1(
    test: &str,
    xml: &str,
    key: &SigningKey,
    cert: &Certificate,
) -> Option<String> {
    let xmlsec = crate::support::xmlsec1(&format!("{test} (xmlsec1 makes the SHA-1 signature)"))?;
    let dir = crate::support::temp_dir("sha1");
    let template = xml
        .replacen(
            SignatureAlgorithm::RsaSha256.uri(),
            SignatureAlgorithm::RsaSha1.uri(),
            1,
        )
        .replacen(
            DigestAlgorithm::Sha256.uri(),
            DigestAlgorithm::Sha1.uri(),
            1,
        );
    std::fs::write(dir.join("in.xml"), template).unwrap();
    std::fs::write(dir.join("key.pem"), key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.to_pem()).unwrap();
    let out = std::process::Command::new(&xmlsec)
        .arg("--sign")
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        ])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
        .arg("--privkey-pem")
        .arg(format!(
            "{},{}",
            dir.join("key.pem").display(),
            dir.join("cert.pem").display()
        ))
        .arg("--output")
        .arg(dir.join("out.xml"))
        .arg(dir.join("in.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmlsec1 --sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = std::fs::read_to_string(dir.join("out.xml")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(signed.contains(SignatureAlgorithm::RsaSha1.uri()));
    Some(signed)
}

#[test]
fn sha1_enveloped_signature_needs_the_policy() {
    let (key, cert) = rsa();
    let xml = signed_request(&key, &cert, SignatureAlgorithm::RsaSha256);
    let Some(sha1) = resign_with_sha1(
        "sha1_enveloped_signature_needs_the_policy",
        &xml,
        &key,
        &cert,
    ) else {
        return;
    };
    let certs = std::slice::from_ref(&cert);
    assert!(matches!(
        AuthnRequest::parse_verified(&sha1, certs, &AlgorithmPolicy::STRICT),
        Err(AuthnRequestError::Signature(_))
    ));
    let r =
        AuthnRequest::parse_verified(&sha1, certs, &AlgorithmPolicy { allow_sha1: true }).unwrap();
    assert_eq!(r.id, "_req1");
}

// ---------------------------------------------------------------- HTTP-Redirect

#[test]
fn redirect_round_trip_unsigned() {
    let query = encode_redirect(
        MessageParam::Request,
        REQUEST,
        Some("https://sp/x?a=1&b=2 c"),
        None,
    )
    .unwrap();
    let msg = decode_redirect(&format!("?{query}&extra=ignored")).unwrap();
    assert_eq!(msg.param, MessageParam::Request);
    assert_eq!(msg.xml, REQUEST);
    assert_eq!(msg.relay_state.as_deref(), Some("https://sp/x?a=1&b=2 c"));
    assert!(msg.signature.is_none());
    let (_, cert) = ecdsa();
    assert!(matches!(
        msg.verify_signature(&[cert], &AlgorithmPolicy::STRICT),
        Err(BindingError::Unsigned)
    ));
    let r = AuthnRequest::parse(&msg.xml).unwrap();
    assert_eq!(r.issuer, "https://sp.example.com/metadata.php");
}

#[test]
fn redirect_signatures_rsa_and_ecdsa() {
    for (key, cert, alg) in [
        {
            let (k, c) = rsa();
            (k, c, SignatureAlgorithm::RsaSha256)
        },
        {
            let (k, c) = rsa();
            (k, c, SignatureAlgorithm::RsaSha512)
        },
        {
            let (k, c) = ecdsa();
            (k, c, SignatureAlgorithm::EcdsaSha256)
        },
    ] {
        let query = encode_redirect(
            MessageParam::Request,
            REQUEST,
            Some("state+1/2"),
            Some((&key, alg)),
        )
        .unwrap();
        let msg = decode_redirect(&query).unwrap();
        assert_eq!(msg.relay_state.as_deref(), Some("state+1/2"));
        let (_, stranger) = ecdsa();
        assert_eq!(
            msg.verify_signature(&[stranger.clone(), cert.clone()], &AlgorithmPolicy::STRICT)
                .unwrap(),
            alg
        );
        assert!(matches!(
            msg.verify_signature(&[stranger], &AlgorithmPolicy::STRICT),
            Err(BindingError::SignatureInvalid)
        ));
        assert!(matches!(
            msg.verify_signature(&[], &AlgorithmPolicy::STRICT),
            Err(BindingError::NoTrustedCertificate)
        ));

        // Change the RelayState after signing.
        let tampered = query.replace("RelayState=state", "RelayState=evil");
        let msg = decode_redirect(&tampered).unwrap();
        assert!(matches!(
            msg.verify_signature(std::slice::from_ref(&cert), &AlgorithmPolicy::STRICT),
            Err(BindingError::SignatureInvalid)
        ));
        // Drop the RelayState after signing.
        let dropped: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("RelayState="))
            .collect();
        let msg = decode_redirect(&dropped.join("&")).unwrap();
        assert!(matches!(
            msg.verify_signature(std::slice::from_ref(&cert), &AlgorithmPolicy::STRICT),
            Err(BindingError::SignatureInvalid)
        ));
    }
}

#[test]
fn redirect_signature_is_over_the_raw_octets_not_a_re_encoding() {
    let (key, cert) = rsa();
    let certs = std::slice::from_ref(&cert);
    // Some SPs percent-encode with lowercase hex: the signature covers those exact octets.
    let b64 = STANDARD.encode(deflate(REQUEST.as_bytes()));
    let lower = |s: &str| -> String {
        s.replace('+', "%2b")
            .replace('/', "%2f")
            .replace('=', "%3d")
            .replace(':', "%3a")
    };
    let mut signed = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        lower(&b64),
        lower("a/b"),
        lower(SignatureAlgorithm::RsaSha256.uri()).replace('#', "%23")
    );
    let sig = key
        .sign(SignatureAlgorithm::RsaSha256, signed.as_bytes())
        .unwrap();
    signed.push_str("&Signature=");
    signed.push_str(&lower(&STANDARD.encode(sig)));
    let msg = decode_redirect(&signed).unwrap();
    assert_eq!(msg.xml, REQUEST);
    assert_eq!(msg.relay_state.as_deref(), Some("a/b"));
    assert_eq!(
        msg.verify_signature(certs, &AlgorithmPolicy::STRICT)
            .unwrap(),
        SignatureAlgorithm::RsaSha256
    );

    // The same message re-encoded with uppercase escapes decodes to the same values, but the
    // signature was over the lowercase octets, so it must fail: we never re-encode.
    let reencoded = signed
        .split('&')
        .map(|p| {
            if p.starts_with("Signature=") {
                p.to_owned()
            } else {
                p.replace("%2b", "%2B")
                    .replace("%2f", "%2F")
                    .replace("%3d", "%3D")
                    .replace("%3a", "%3A")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    assert_ne!(reencoded, signed);
    let msg2 = decode_redirect(&reencoded).unwrap();
    assert_eq!(msg2.xml, msg.xml);
    assert_eq!(msg2.relay_state, msg.relay_state);
    assert!(matches!(
        msg2.verify_signature(certs, &AlgorithmPolicy::STRICT),
        Err(BindingError::SignatureInvalid)
    ));

    // Parameter order is fixed by the spec: a signature over another order does not verify.
    let (k2, c2) = rsa();
    let query = encode_redirect(MessageParam::Request, REQUEST, Some("rs"), None).unwrap();
    let mut parts: Vec<&str> = query.split('&').collect();
    parts.reverse();
    let sigalg = format!(
        "SigAlg={}",
        lower(SignatureAlgorithm::RsaSha256.uri()).replace('#', "%23")
    );
    let mut wrong_order = format!("{}&{}", parts.join("&"), sigalg);
    let sig = k2
        .sign(SignatureAlgorithm::RsaSha256, wrong_order.as_bytes())
        .unwrap();
    wrong_order.push_str(&format!("&Signature={}", lower(&STANDARD.encode(sig))));
    let msg3 = decode_redirect(&wrong_order).unwrap();
    assert!(matches!(
        msg3.verify_signature(&[c2], &AlgorithmPolicy::STRICT),
        Err(BindingError::SignatureInvalid)
    ));
}

#[test]
fn redirect_sha1_refused_unless_allowed() {
    let (key, cert) = rsa();
    // Our signer refuses SHA-1 outright.
    assert!(matches!(
        encode_redirect(
            MessageParam::Request,
            REQUEST,
            None,
            Some((&key, SignatureAlgorithm::RsaSha1))
        ),
        Err(BindingError::Signing(_))
    ));
    // An SP signing with RSA-SHA1 (done here with the openssl CLI).
    let unsigned = encode_redirect(MessageParam::Request, REQUEST, Some("rs"), None).unwrap();
    let signed_octets = format!(
        "{unsigned}&SigAlg={}",
        form_encode(SignatureAlgorithm::RsaSha1.uri())
    );
    let Some(openssl) = crate::support::openssl("redirect_sha1_refused_unless_allowed") else {
        return;
    };
    let dir = crate::support::temp_dir("redirect-sha1");
    std::fs::write(dir.join("key.pem"), key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(dir.join("data"), &signed_octets).unwrap();
    let out = std::process::Command::new(&openssl)
        .args(["dgst", "-sha1", "-sign"])
        .arg(dir.join("key.pem"))
        .arg(dir.join("data"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let query = format!(
        "{signed_octets}&Signature={}",
        form_encode(&STANDARD.encode(&out.stdout))
    );
    let msg = decode_redirect(&query).unwrap();
    let certs = std::slice::from_ref(&cert);
    assert!(matches!(
        msg.verify_signature(certs, &AlgorithmPolicy::STRICT),
        Err(BindingError::AlgorithmNotAllowed { .. })
    ));
    assert_eq!(
        msg.verify_signature(certs, &AlgorithmPolicy { allow_sha1: true })
            .unwrap(),
        SignatureAlgorithm::RsaSha1
    );
    // Unknown algorithm URIs (DSA) are refused by name.
    let dsa = query.replace("rsa-sha1", "dsa-sha1");
    let msg = decode_redirect(&dsa).unwrap();
    assert!(matches!(
        msg.verify_signature(certs, &AlgorithmPolicy { allow_sha1: true }),
        Err(BindingError::UnknownAlgorithm { .. })
    ));
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn redirect_decoding_errors() {
    let good = encode_redirect(MessageParam::Request, REQUEST, Some("rs"), None).unwrap();
    let value = |q: &str| {
        q.split('&')
            .next()
            .unwrap()
            .trim_start_matches("SAMLRequest=")
            .to_owned()
    };

    assert!(matches!(
        decode_redirect("RelayState=x"),
        Err(BindingError::MissingMessage)
    ));
    assert!(matches!(
        decode_redirect(""),
        Err(BindingError::MissingMessage)
    ));
    assert!(matches!(
        decode_redirect(&format!("{good}&SAMLResponse={}", value(&good))),
        Err(BindingError::BothRequestAndResponse)
    ));
    assert!(matches!(
        decode_redirect(&format!("{good}&RelayState=again")),
        Err(BindingError::DuplicateParameter { name }) if name == "RelayState"
    ));
    assert!(matches!(
        decode_redirect("SAMLRequest=%%%"),
        Err(BindingError::BadUrlEncoding { .. })
    ));
    assert!(matches!(
        decode_redirect("SAMLRequest=not*base64!"),
        Err(BindingError::BadBase64 {
            name: "SAMLRequest"
        })
    ));
    // Valid base64 of data that is not DEFLATE.
    let not_deflate = STANDARD.encode([0xffu8, 0xff, 0xff, 0xff]);
    assert!(matches!(
        decode_redirect(&format!("SAMLRequest={}", url_encode(&not_deflate))),
        Err(BindingError::BadDeflate)
    ));
    // Deflated but not UTF-8.
    let latin1 = STANDARD.encode(deflate(b"<a>\xe9</a>"));
    assert!(matches!(
        decode_redirect(&format!("SAMLRequest={}", url_encode(&latin1))),
        Err(BindingError::NotUtf8)
    ));
    // RelayState too long.
    let long_rs = "r".repeat(1025);
    assert!(matches!(
        decode_redirect(&format!(
            "SAMLRequest={}&RelayState={long_rs}",
            value(&good)
        )),
        Err(BindingError::RelayStateTooLong { .. })
    ));
    assert!(matches!(
        encode_redirect(MessageParam::Request, REQUEST, Some(&long_rs), None),
        Err(BindingError::RelayStateTooLong { .. })
    ));
    assert!(
        decode_redirect(&format!(
            "SAMLRequest={}&RelayState={}",
            value(&good),
            "r".repeat(1024)
        ))
        .is_ok()
    );
    // Signature without SigAlg and the reverse.
    assert!(matches!(
        decode_redirect(&format!("{good}&Signature=AAAA")),
        Err(BindingError::IncompleteSignature)
    ));
    assert!(matches!(
        decode_redirect(&format!("{good}&SigAlg=x")),
        Err(BindingError::IncompleteSignature)
    ));
    // Overlong query.
    let huge = format!("SAMLRequest={}", "A".repeat(70 * 1024));
    assert!(matches!(
        decode_redirect(&huge),
        Err(BindingError::QueryTooLong { .. })
    ));
}

fn url_encode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn deflate_bomb_is_stopped_at_the_cap() {
    // 8 MiB of spaces deflates to ~8 KiB: well inside the query limit, far over the output cap.
    let bomb = vec![b' '; 8 * 1024 * 1024];
    let packed = deflate(&bomb);
    assert!(packed.len() < 40 * 1024, "bomb is {} bytes", packed.len());
    let query = format!("SAMLRequest={}", url_encode(&STANDARD.encode(&packed)));
    assert!(matches!(
        decode_redirect(&query),
        Err(BindingError::InflatedTooLarge {
            max: MAX_INFLATED_BYTES
        })
    ));
    // Just under the cap passes.
    let fine = format!("<a>{}</a>", " ".repeat(MAX_INFLATED_BYTES - 7));
    let query = format!(
        "SAMLRequest={}",
        url_encode(&STANDARD.encode(deflate(fine.as_bytes())))
    );
    assert_eq!(
        decode_redirect(&query).unwrap().xml.len(),
        MAX_INFLATED_BYTES
    );
}

#[test]
fn redirect_carrying_a_doctype_is_refused_by_the_reader() {
    let evil = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        REQUEST.replace("https://sp.example.com/metadata.php", "&x;")
    );
    let query = encode_redirect(MessageParam::Request, &evil, None, None).unwrap();
    let msg = decode_redirect(&query).unwrap();
    assert!(matches!(
        AuthnRequest::parse(&msg.xml),
        Err(AuthnRequestError::Xml(XmlError::Doctype))
    ));
}

// ---------------------------------------------------------------- HTTP-POST

#[test]
fn post_values_decode_with_whitespace_and_limits() {
    let b64 = encode_post(REQUEST);
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert_eq!(decode_post(&format!(" {wrapped}\n")).unwrap(), REQUEST);
    assert!(matches!(
        decode_post("@@@@"),
        Err(BindingError::BadBase64 { .. })
    ));
    assert!(matches!(
        decode_post(&STANDARD.encode(b"\xff\xfe")),
        Err(BindingError::NotUtf8)
    ));
    let too_big = "A".repeat(MAX_POST_VALUE_BYTES + 4);
    assert!(matches!(
        decode_post(&too_big),
        Err(BindingError::PostValueTooLarge { .. })
    ));
}

#[test]
fn post_form_is_escaped_and_self_submitting() {
    let xml = "<samlp:Response>é</samlp:Response>";
    let html = render_post_form(&PostForm {
        action: "https://sp.example.com/acs?a=1&b=\"2\"",
        param: MessageParam::Response,
        xml,
        relay_state: Some("\"><script>alert(1)</script>"),
        csp_nonce: "n0nc3\"x",
    });
    assert!(html.contains(r#"<form id="saml-post" method="post" action="https://sp.example.com/acs?a=1&amp;b=&quot;2&quot;">"#));
    assert!(html.contains(&format!(
        r#"<input type="hidden" name="SAMLResponse" value="{}">"#,
        encode_post(xml)
    )));
    assert!(html.contains(
        r#"<input type="hidden" name="RelayState" value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">"#
    ));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains(
        r#"<script nonce="n0nc3&quot;x">document.getElementById("saml-post").submit();</script>"#
    ));
    assert!(html.contains("<noscript>"));
    assert!(html.contains(r#"<button type="submit">"#));
    // Exactly one script element, and no inline event handlers (CSP without 'unsafe-inline').
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("onload"));
    // The value posted decodes back to the XML.
    let start = html.find(r#"name="SAMLResponse" value=""#).unwrap()
        + r#"name="SAMLResponse" value=""#.len();
    let end = start + html[start..].find('"').unwrap();
    assert_eq!(decode_post(&html[start..end]).unwrap(), xml);

    let no_rs = render_post_form(&PostForm {
        action: "https://sp/acs",
        param: MessageParam::Request,
        xml,
        relay_state: None,
        csp_nonce: "abc",
    });
    assert!(!no_rs.contains("RelayState"));
    assert!(no_rs.contains(r#"name="SAMLRequest""#));
}

/// What our SP side writes, our IdP side reads back field for field (and it survives the
/// HTTP-Redirect encoding).
#[test]
fn written_request_round_trips_through_redirect_binding() {
    let parsed = AuthnRequest::parse(REQUEST).unwrap();
    let written = AuthnRequest {
        id: "_req1".into(),
        destination: Some("https://idp.example.com/login/app/app_1/saml2/sso".into()),
        has_enveloped_signature: false,
        ..parsed
    };
    let xml = written.to_xml();
    assert!(!xml.contains('\n'), "no whitespace between elements: {xml}");
    let query = encode_redirect(MessageParam::Request, &xml, Some("rs"), None).unwrap();
    let msg = decode_redirect(&query).unwrap();
    assert_eq!(msg.relay_state.as_deref(), Some("rs"));
    let back = AuthnRequest::parse(&msg.xml).unwrap();
    assert_eq!(back, written);
}
