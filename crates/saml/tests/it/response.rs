//! Responses: build, sign and validate round trips (RSA and ECDSA; assertion, response or both
//! signed), and the validator against every attack of saml-defense.md that applies to an SP:
//! wrong audience/recipient/destination/issuer, time window, InResponseTo, unsolicited responses,
//! several assertions, signature wrapping (XSW), comment injection, removed or broken signatures.

use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{
    Attribute, ErrorResponseParams, NameId, ResponseError, ResponseParams,
    ResponseValidationError as E, SpExpectations, ValidatedAssertion, build_error_response,
    build_response, validate_response,
};
use saml::status::StatusCode;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const IDP: &str = "https://idaas.example.com/api/v2/app_1/saml2/meta";
const SP: &str = "urn:alibaba:cloudcomputing";
const ACS: &str = "https://signin.example.com/saml/acs/42";
const REQ_ID: &str = "_req-123";
const NOW: OffsetDateTime = datetime!(2026-05-01 10:00:00 UTC);

struct Idp {
    key: SigningKey,
    cert: Certificate,
    alg: SignatureAlgorithm,
}

fn rsa_idp() -> Idp {
    let key = SigningKey::generate_rsa(2048).unwrap();
    let cert = Certificate::self_signed(
        &key,
        "idp",
        NOW - Duration::days(1),
        NOW + Duration::days(365),
    )
    .unwrap();
    Idp {
        key,
        cert,
        alg: SignatureAlgorithm::RsaSha256,
    }
}

fn ec_idp() -> Idp {
    let key = SigningKey::generate_ecdsa_p256().unwrap();
    let cert = Certificate::self_signed(
        &key,
        "idp",
        NOW - Duration::days(1),
        NOW + Duration::days(365),
    )
    .unwrap();
    Idp {
        key,
        cert,
        alg: SignatureAlgorithm::EcdsaSha256,
    }
}

fn params(sign_response: bool, sign_assertion: bool) -> ResponseParams {
    ResponseParams {
        response_id: "_resp-1".into(),
        assertion_id: "_assert-1".into(),
        issue_instant: NOW,
        issuer: IDP.into(),
        destination: ACS.into(),
        in_response_to: Some(REQ_ID.into()),
        audience: SP.into(),
        name_id: NameId {
            format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            value: "alice@example.com".into(),
            sp_name_qualifier: Some(SP.into()),
        },
        subject_not_on_or_after: NOW + Duration::minutes(5),
        not_before: NOW - Duration::seconds(30),
        not_on_or_after: NOW + Duration::minutes(5),
        authn_instant: NOW - Duration::seconds(2),
        session_index: "_session-9".into(),
        session_not_on_or_after: Some(NOW + Duration::hours(8)),
        authn_context_class_ref:
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
        attributes: vec![
            Attribute {
                name: "https://www.aliyun.com/SAML-Role/Attributes/RoleSessionName".into(),
                name_format: Some("urn:oasis:names:tc:SAML:2.0:attrname-format:uri".into()),
                friendly_name: None,
                values: vec!["alice".into()],
            },
            Attribute {
                name: "groups".into(),
                name_format: None,
                friendly_name: Some("Groups".into()),
                values: vec!["admins".into(), "dev & ops <x>".into()],
            },
        ],
        sign_response,
        sign_assertion,
    }
}

fn build(idp: &Idp, p: &ResponseParams) -> String {
    build_response(p, &idp.key, &idp.cert, idp.alg, DigestAlgorithm::Sha256).unwrap()
}

fn expect(certs: &[Certificate]) -> SpExpectations<'_> {
    SpExpectations {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        trusted_certs: certs,
        policy: AlgorithmPolicy::STRICT,
        now: NOW + Duration::seconds(1),
        max_skew: Duration::seconds(60),
        expected_in_response_to: Some(REQ_ID),
        allow_unsolicited: false,
        require_signed_assertion: false,
        decryption_keys: &[],
    }
}

fn check_valid(v: &ValidatedAssertion, p: &ResponseParams) {
    assert_eq!(v.response_id, p.response_id);
    assert_eq!(v.assertion_id, p.assertion_id);
    assert_eq!(v.issuer, IDP);
    assert_eq!(v.name_id, p.name_id);
    assert_eq!(v.in_response_to.as_deref(), p.in_response_to.as_deref());
    assert_eq!(v.not_on_or_after, Some(p.not_on_or_after));
    assert_eq!(
        v.replay_cache_until,
        p.not_on_or_after + Duration::seconds(60)
    );
    assert_eq!(v.authn_instant, p.authn_instant);
    assert_eq!(v.session_index.as_deref(), Some(p.session_index.as_str()));
    assert_eq!(v.session_not_on_or_after, p.session_not_on_or_after);
    assert_eq!(
        v.authn_context_class_ref.as_deref(),
        Some(p.authn_context_class_ref.as_str())
    );
    assert_eq!(v.attributes, p.attributes);
    assert_eq!(
        v.attribute_values("groups"),
        Some(&["admins".to_owned(), "dev & ops <x>".to_owned()][..])
    );
}

#[test]
fn round_trip_rsa_and_ecdsa_all_signing_modes() {
    for idp in [rsa_idp(), ec_idp()] {
        for (sign_response, sign_assertion) in [(false, true), (true, false), (true, true)] {
            let p = params(sign_response, sign_assertion);
            let xml = build(&idp, &p);
            let certs = [idp.cert.clone()];
            let v = validate_response(&xml, &expect(&certs)).unwrap_or_else(|e| {
                panic!("{:?} {sign_response}/{sign_assertion}: {e}\n{xml}", idp.alg)
            });
            check_valid(&v, &p);
            assert_eq!(v.signed.response, sign_response);
            assert_eq!(v.signed.assertion, sign_assertion);

            let mut strict = expect(&certs);
            strict.require_signed_assertion = true;
            let r = validate_response(&xml, &strict);
            if sign_assertion {
                assert!(r.is_ok());
            } else {
                assert!(matches!(r, Err(E::AssertionNotSigned)), "{r:?}");
            }
        }
    }
}

#[test]
fn document_shape() {
    let idp = ec_idp();
    let xml = build(&idp, &params(true, true));
    assert!(xml.starts_with("<samlp:Response "));
    for needle in [
        r#"Destination="https://signin.example.com/saml/acs/42""#,
        r#"InResponseTo="_req-123""#,
        r#"IssueInstant="2026-05-01T10:00:00Z""#,
        r#"Version="2.0""#,
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success">"#,
        r#"Method="urn:oasis:names:tc:SAML:2.0:cm:bearer""#,
        r#"Recipient="https://signin.example.com/saml/acs/42""#,
        r#"<saml:Audience>urn:alibaba:cloudcomputing</saml:Audience>"#,
        r#"SessionIndex="_session-9""#,
        r#"NotBefore="2026-05-01T09:59:30Z""#,
        r#"<saml:AttributeValue>dev &amp; ops &lt;x&gt;</saml:AttributeValue>"#,
    ] {
        assert!(xml.contains(needle), "missing {needle} in\n{xml}");
    }
    assert!(!xml.contains("xsi:type"));
    // Each signature comes right after its Issuer.
    let resp_issuer_end = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    assert!(xml[resp_issuer_end..].starts_with("<ds:Signature"));
    let a = xml.find("<saml:Assertion").unwrap();
    let a_issuer_end = a + xml[a..].find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    assert!(xml[a_issuer_end..].starts_with("<ds:Signature"));

    // No attributes, no AttributeStatement.
    let mut p = params(false, true);
    p.attributes.clear();
    p.session_not_on_or_after = None;
    p.in_response_to = None;
    let xml = build(&idp, &p);
    assert!(!xml.contains("AttributeStatement"));
    assert!(!xml.contains("SessionNotOnOrAfter"));
    assert!(!xml.contains("InResponseTo"));
}

#[test]
fn nothing_signed_is_refused_when_building() {
    let idp = ec_idp();
    let r = build_response(
        &params(false, false),
        &idp.key,
        &idp.cert,
        idp.alg,
        DigestAlgorithm::Sha256,
    );
    assert!(matches!(r, Err(ResponseError::NothingSigned)));
}

#[test]
fn error_responses() {
    let idp = rsa_idp();
    let p = ErrorResponseParams {
        response_id: "_err-1".into(),
        issue_instant: NOW,
        issuer: IDP.into(),
        destination: ACS.into(),
        in_response_to: Some(REQ_ID.into()),
        status: StatusCode::Responder,
        sub_status: Some(StatusCode::RequestDenied),
        message: Some("user is not assigned to this application".into()),
    };
    let certs = [idp.cert.clone()];
    for signed in [false, true] {
        let signer = signed.then_some((&idp.key, &idp.cert, idp.alg, DigestAlgorithm::Sha256));
        let xml = build_error_response(&p, signer).unwrap();
        assert_eq!(xml.contains("<ds:Signature"), signed);
        assert!(!xml.contains("Assertion"));
        match validate_response(&xml, &expect(&certs)) {
            Err(E::StatusNotSuccess {
                status,
                sub_status,
                message,
            }) => {
                assert_eq!(status, StatusCode::Responder.uri());
                assert_eq!(sub_status, Some(StatusCode::RequestDenied.uri()));
                assert_eq!(
                    message.as_deref(),
                    Some("user is not assigned to this application")
                );
            }
            other => panic!("{other:?}"),
        }
    }
    let mut bad = p.clone();
    bad.status = StatusCode::Success;
    assert!(matches!(
        build_error_response(&bad, None),
        Err(ResponseError::BadErrorStatus(_))
    ));
    bad.status = StatusCode::AuthnFailed;
    assert!(matches!(
        build_error_response(&bad, None),
        Err(ResponseError::BadErrorStatus(_))
    ));
}

/// Runs the validator with a modified expectation and asserts the error.
macro_rules! rejects {
    ($xml:expr, $exp:expr, $pat:pat) => {{
        let r = validate_response(&$xml, &$exp);
        assert!(
            matches!(r, Err($pat)),
            "expected {}, got {:?}",
            stringify!($pat),
            r
        );
    }};
}

#[test]
fn wrong_parties_are_rejected() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    for (sr, sa) in [(true, false), (false, true), (true, true)] {
        let xml = build(&idp, &params(sr, sa));
        let mut e = expect(&certs);
        e.sp_entity_id = "https://other-sp.example.com";
        rejects!(xml, e, E::WrongAudience { .. });
        let mut e = expect(&certs);
        e.idp_entity_id = "https://other-idp.example.com";
        rejects!(xml, e, E::WrongIssuer { .. });
        let mut e = expect(&certs);
        e.acs_url = "https://signin.example.com/saml/acs/43";
        // Destination (on the response) or Recipient (in the assertion) must name our ACS.
        rejects!(
            xml,
            e,
            E::WrongDestination { .. } | E::NoValidSubjectConfirmation { .. }
        );
    }

    // Signed values cannot be changed by the attacker, so build responses with the wrong values.
    let mut p = params(true, true);
    p.destination = "https://evil.example.com/acs".into();
    rejects!(build(&idp, &p), expect(&certs), E::WrongDestination { .. });

    // Recipient wrong but Destination right (only the assertion signed, Destination edited to ours).
    let mut p = params(false, true);
    p.destination = "https://evil.example.com/acs".into();
    let xml = build(&idp, &p).replace(
        r#"Destination="https://evil.example.com/acs""#,
        r#"Destination="https://signin.example.com/saml/acs/42""#,
    );
    rejects!(xml, expect(&certs), E::NoValidSubjectConfirmation { .. });

    let mut p = params(true, true);
    p.audience = "https://other-sp.example.com".into();
    rejects!(build(&idp, &p), expect(&certs), E::WrongAudience { .. });
}

#[test]
fn time_window_is_enforced_with_skew() {
    let idp = ec_idp();
    let certs = [idp.cert.clone()];
    let xml = build(&idp, &params(true, true));
    let at = |now: OffsetDateTime| {
        let mut e = expect(&certs);
        e.now = now;
        validate_response(&xml, &e)
    };
    // IssueInstant is NOW; with 60 s skew, NOW-60s is the earliest accepted instant.
    assert!(at(NOW - Duration::seconds(60)).is_ok());
    rejects!(
        xml,
        {
            let mut e = expect(&certs);
            e.now = NOW - Duration::seconds(61);
            e
        },
        E::IssuedInFuture { .. }
    );
    // NotOnOrAfter is NOW+5min; with skew, NOW+6min is the first refused instant.
    assert!(at(NOW + Duration::minutes(6) - Duration::seconds(1)).is_ok());
    assert!(matches!(
        at(NOW + Duration::minutes(6)),
        Err(E::Expired { .. } | E::NoValidSubjectConfirmation { .. })
    ));
    assert!(at(NOW + Duration::hours(1)).is_err());

    // NotBefore in the future (NOW+30s): accepted from NOW-30s on.
    let mut p = params(true, true);
    p.not_before = NOW + Duration::seconds(30);
    let later = build(&idp, &p);
    let mut e = expect(&certs);
    e.now = NOW - Duration::seconds(30);
    assert!(validate_response(&later, &e).is_ok());
    e.now = NOW - Duration::seconds(31);
    rejects!(later, e, E::NotYetValid { .. });

    // Subject confirmation expiring before the conditions.
    let mut p = params(true, true);
    p.subject_not_on_or_after = NOW - Duration::minutes(2);
    rejects!(
        build(&idp, &p),
        expect(&certs),
        E::NoValidSubjectConfirmation { .. }
    );
    // Issued in the future.
    let mut p = params(true, true);
    p.issue_instant = NOW + Duration::minutes(3);
    rejects!(build(&idp, &p), expect(&certs), E::IssuedInFuture { .. });
    // IdP session already over.
    let mut p = params(true, true);
    p.session_not_on_or_after = Some(NOW - Duration::minutes(5));
    rejects!(build(&idp, &p), expect(&certs), E::SessionExpired { .. });
    // Replay-cache horizon is the earlier of the two expiries, plus skew.
    let mut p = params(true, true);
    p.subject_not_on_or_after = NOW + Duration::minutes(2);
    let v = validate_response(&build(&idp, &p), &expect(&certs)).unwrap();
    assert_eq!(v.replay_cache_until, NOW + Duration::minutes(3));
}

#[test]
fn in_response_to_and_unsolicited() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    let solicited = build(&idp, &params(true, true));
    let mut e = expect(&certs);
    e.expected_in_response_to = Some("_another-request");
    rejects!(solicited, e, E::InResponseToMismatch { .. });
    // A solicited response arriving when no request is pending.
    let mut e = expect(&certs);
    e.expected_in_response_to = None;
    e.allow_unsolicited = true;
    rejects!(solicited, e, E::InResponseToMismatch { .. });

    let mut p = params(true, true);
    p.in_response_to = None;
    let unsolicited = build(&idp, &p);
    let mut e = expect(&certs);
    e.expected_in_response_to = None;
    rejects!(unsolicited, e, E::UnsolicitedNotAllowed);
    e.allow_unsolicited = true;
    let v = validate_response(&unsolicited, &e).unwrap();
    assert_eq!(v.in_response_to, None);
    // An unsolicited response while a request is pending: allowed only with allow_unsolicited.
    rejects!(unsolicited, expect(&certs), E::UnsolicitedNotAllowed);
    let mut e = expect(&certs);
    e.allow_unsolicited = true;
    assert!(validate_response(&unsolicited, &e).is_ok());

    // Response and assertion disagreeing: the (unsigned) response claims the pending request,
    // the signed assertion is unsolicited.
    let mut p = params(false, true);
    p.in_response_to = None;
    let xml = build(&idp, &p).replacen(
        "<samlp:Response ",
        r#"<samlp:Response InResponseTo="_req-123" "#,
        1,
    );
    let mut e = expect(&certs);
    e.allow_unsolicited = true;
    rejects!(xml, e, E::InResponseToMismatch { .. });

    // InResponseTo on the (unsigned) response edited to match, but the signed assertion says other.
    let mut p = params(false, true);
    p.in_response_to = Some("_old-request".into());
    let xml = build(&idp, &p).replacen(
        r#"InResponseTo="_old-request""#,
        r#"InResponseTo="_req-123""#,
        1,
    );
    rejects!(xml, expect(&certs), E::NoValidSubjectConfirmation { .. });
}

/// The first `<saml:Assertion …>…</saml:Assertion>` of a document.
fn assertion_of(xml: &str) -> &str {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    &xml[start..end]
}

/// Removes the first `<ds:Signature …>…</ds:Signature>` at or after `from`.
fn remove_signature_after(xml: &str, from: usize) -> String {
    let start = from + xml[from..].find("<ds:Signature").unwrap();
    let end = start + xml[start..].find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

/// A forged, unsigned copy of an assertion for `mallory@evil.com` with a new ID.
fn forged(assertion: &str, id: &str) -> String {
    let unsigned = if assertion.contains("<ds:Signature") {
        remove_signature_after(assertion, 0)
    } else {
        assertion.to_owned()
    };
    unsigned
        .replace("alice@example.com", "mallory@evil.com")
        .replace(r#"ID="_assert-1""#, &format!(r#"ID="{id}""#))
}

#[test]
fn two_assertions_are_rejected() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    let xml = build(&idp, &params(false, true));
    let other = build(
        &idp,
        &ResponseParams {
            assertion_id: "_assert-2".into(),
            ..params(false, true)
        },
    );
    let second = assertion_of(&other);
    let doubled = xml.replace("</samlp:Response>", &format!("{second}</samlp:Response>"));
    rejects!(doubled, expect(&certs), E::MultipleAssertions { count: 2 });
}

#[test]
fn xsw_forged_unsigned_assertion_beside_the_signed_one() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    for (sr, sa) in [(false, true), (true, true), (true, false)] {
        let xml = build(&idp, &params(sr, sa));
        let original = assertion_of(&xml).to_owned();
        let fake = forged(&original, "_forged");
        // Before and after the signed assertion.
        let before = xml.replace(&original, &format!("{fake}{original}"));
        rejects!(before, expect(&certs), E::MultipleAssertions { count: 2 });
        let after = xml.replace(&original, &format!("{original}{fake}"));
        rejects!(after, expect(&certs), E::MultipleAssertions { count: 2 });
        // Same ID as the signed one.
        let same_id = xml.replace(
            &original,
            &format!("{}{original}", forged(&original, "_assert-1")),
        );
        rejects!(
            same_id,
            expect(&certs),
            E::DuplicateId { .. } | E::MultipleAssertions { .. }
        );
    }
}

#[test]
fn xsw_signed_assertion_moved_into_extensions() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    let xml = build(&idp, &params(false, true));
    let original = assertion_of(&xml).to_owned();
    let fake = forged(&original, "_forged");
    let status_start = xml.find("<samlp:Status>").unwrap();
    let extensions = format!("<samlp:Extensions>{original}</samlp:Extensions>");
    // Signed assertion hidden in Extensions, forged one where the application looks.
    let wrapped = format!(
        "{}{extensions}{}",
        &xml[..status_start],
        &xml[status_start..]
    )
    .replace(
        &format!("{original}</samlp:Response>"),
        &format!("{fake}</samlp:Response>"),
    );
    assert_eq!(wrapped.matches("<saml:Assertion").count(), 2);
    rejects!(wrapped, expect(&certs), E::MultipleAssertions { count: 2 });
    // Only the signed assertion, but not where it belongs.
    let moved = format!(
        "{}{extensions}{}",
        &xml[..status_start],
        &xml[status_start..]
    )
    .replace(&format!("{original}</samlp:Response>"), "</samlp:Response>");
    assert_eq!(moved.matches("<saml:Assertion").count(), 1);
    rejects!(moved, expect(&certs), E::AssertionMisplaced);
}

#[test]
fn xsw_signed_assertion_moved_into_signature_object() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    let xml = build(&idp, &params(false, true));
    let original = assertion_of(&xml).to_owned();
    // The forged assertion keeps the original ID and signature; the original goes into ds:Object.
    let mut fake = original.replace("alice@example.com", "mallory@evil.com");
    let sig_end = fake.find("</ds:Signature>").unwrap();
    fake.insert_str(sig_end, &format!("<ds:Object>{original}</ds:Object>"));
    let wrapped = xml.replace(&original, &fake);
    rejects!(
        wrapped,
        expect(&certs),
        E::DuplicateId { .. } | E::MultipleAssertions { .. }
    );
    // Same with a new ID on the forged assertion.
    let wrapped = xml.replace(
        &original,
        &fake.replacen(r#"ID="_assert-1""#, r#"ID="_forged""#, 1),
    );
    rejects!(wrapped, expect(&certs), E::MultipleAssertions { count: 2 });
}

#[test]
fn xsw_wrapped_response() {
    // XSW1/2: a new unsigned Response around a forged assertion, the original signed Response
    // hidden inside the copied signature's Object.
    let idp = ec_idp();
    let certs = [idp.cert.clone()];
    let xml = build(&idp, &params(true, false));
    let original = assertion_of(&xml).to_owned();
    let mut evil = xml
        .replacen(r#"ID="_resp-1""#, r#"ID="_evil""#, 1)
        .replace(&original, &forged(&original, "_forged"));
    let sig_end = evil.find("</ds:Signature>").unwrap();
    evil.insert_str(sig_end, &format!("<ds:Object>{xml}</ds:Object>"));
    rejects!(
        evil,
        expect(&certs),
        E::MultipleAssertions { .. } | E::DuplicateId { .. }
    );
    // Without the hidden original: the copied signature references another ID.
    let mut evil = xml
        .replacen(r#"ID="_resp-1""#, r#"ID="_evil""#, 1)
        .replace(&original, &forged(&original, "_forged"));
    let r = validate_response(&evil, &expect(&certs));
    assert!(
        matches!(
            r,
            Err(E::Signature {
                element: "Response",
                ..
            })
        ),
        "{r:?}"
    );
    // Keeping the response ID but swapping the assertion breaks the digest.
    evil = xml.replace(&original, &forged(&original, "_assert-1"));
    rejects!(
        evil,
        expect(&certs),
        E::Signature {
            element: "Response",
            ..
        }
    );
}

#[test]
fn comment_injection_in_name_id_is_read_fully() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    for (sr, sa) in [(false, true), (true, false)] {
        let mut p = params(sr, sa);
        p.name_id.value = "admin@example.com.evil.com".into();
        let xml = build(&idp, &p).replace(
            ">admin@example.com.evil.com<",
            ">admin@example.com<!---->.evil.com<",
        );
        assert!(xml.contains("admin@example.com<!---->.evil.com"));
        // The signature still verifies (c14n drops comments) and the full value is read.
        let v = validate_response(&xml, &expect(&certs)).unwrap();
        assert_eq!(v.name_id.value, "admin@example.com.evil.com");
    }
}

#[test]
fn removed_or_broken_signatures_are_rejected() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];

    // Assertion-only signed, signature removed: nothing signed.
    let xml = build(&idp, &params(false, true));
    let a = xml.find("<saml:Assertion").unwrap();
    rejects!(remove_signature_after(&xml, a), expect(&certs), E::Unsigned);
    // Both signed, assertion signature removed: accepted on the response signature unless the
    // assertion itself must be signed.
    let both = build(&idp, &params(true, true));
    let a = both.find("<saml:Assertion").unwrap();
    let stripped = remove_signature_after(&both, a);
    // Removing it changes the response digest too.
    rejects!(
        stripped,
        expect(&certs),
        E::Signature {
            element: "Response",
            ..
        }
    );
    // Both signed, response signature removed: the assertion signature still holds.
    let no_resp_sig = remove_signature_after(&both, 0);
    let v = validate_response(&no_resp_sig, &expect(&certs)).unwrap();
    assert!(!v.signed.response && v.signed.assertion);
    // ...but then Destination is no longer covered and may be missing only because it is unsigned.

    // Content modified under each signature.
    for (sr, sa) in [(false, true), (true, false), (true, true)] {
        let xml = build(&idp, &params(sr, sa));
        for (from, to) in [
            ("alice@example.com", "admin@example.com"),
            (">admins<", ">root<"),
            ("2026-05-01T10:05:00Z", "2036-05-01T10:05:00Z"),
        ] {
            let tampered = xml.replace(from, to);
            assert_ne!(tampered, xml);
            rejects!(tampered, expect(&certs), E::Signature { .. });
        }
    }

    // Wrong certificate; no certificate at all.
    let other = ec_idp();
    let xml = build(&idp, &params(true, true));
    rejects!(
        xml,
        expect(std::slice::from_ref(&other.cert)),
        E::Signature { .. }
    );
    rejects!(xml, expect(&[]), E::NoTrustedCertificate);
    // The right certificate among several.
    assert!(validate_response(&xml, &expect(&[other.cert.clone(), idp.cert.clone()])).is_ok());
}

#[test]
fn sha1_signatures_need_the_policy() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    // Our signer never produces SHA-1.
    let r = build_response(
        &params(true, true),
        &idp.key,
        &idp.cert,
        SignatureAlgorithm::RsaSha1,
        DigestAlgorithm::Sha1,
    );
    assert!(matches!(r, Err(ResponseError::Signing(_))));
    // An IdP that signs the assertion with RSA-SHA1 (xmlsec1 does it here).
    let xml = build(&idp, &params(false, true));
    let Some(sha1) = crate::authn_request::resign_with_sha1(
        "sha1_signatures_need_the_policy",
        &xml,
        &idp.key,
        &idp.cert,
    ) else {
        return;
    };
    rejects!(
        sha1,
        expect(&certs),
        E::Signature {
            element: "Assertion",
            ..
        }
    );
    let mut e = expect(&certs);
    e.policy = AlgorithmPolicy { allow_sha1: true };
    let v = validate_response(&sha1, &e).unwrap();
    assert_eq!(v.name_id.value, "alice@example.com");
}

#[test]
fn other_refusals() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    let xml = build(&idp, &params(true, true));

    let doctype = format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{xml}");
    rejects!(doctype, expect(&certs), E::Xml(_));
    rejects!(
        xml.replace("samlp:Response", "samlp:ArtifactResponse"),
        expect(&certs),
        E::NotAResponse { .. }
    );

    let encrypted = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" IssueInstant="2026-05-01T10:00:00Z"><saml:Issuer>https://idaas.example.com/api/v2/app_1/saml2/meta</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion></samlp:Response>"#;
    rejects!(encrypted, expect(&certs), E::EncryptedAssertionUnsupported);
    let empty = encrypted.replace(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>"#,
        "",
    );
    rejects!(empty, expect(&certs), E::NoAssertion);
    rejects!(
        encrypted.replace(r#" Version="2.0""#, r#" Version="1.1""#),
        expect(&certs),
        E::WrongVersion { .. }
    );

    // Subject confirmation method other than bearer (built, then signed again is impossible for
    // an attacker; here the IdP itself would be wrong): edit an unsigned-assertion response.
    let resp_only = build(&idp, &params(true, false));
    let holder = resp_only.replace(
        "urn:oasis:names:tc:SAML:2.0:cm:bearer",
        "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
    );
    // The response signature covers it, so tampering shows as a signature error.
    rejects!(holder, expect(&certs), E::Signature { .. });
}

/// A response written by hand with the writer and signed by the IdP key, with the given
/// subject confirmation method.
fn hand_built(idp: &Idp, method: &'static str) -> String {
    use saml::dsig;
    use saml::xml::writer::Element;
    let subject = Element::new("saml", "Subject")
        .child(
            Element::new("saml", "NameID")
                .attr(
                    "Format",
                    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                )
                .text("alice@example.com"),
        )
        .child(
            Element::new("saml", "SubjectConfirmation")
                .attr("Method", method)
                .child(
                    Element::new("saml", "SubjectConfirmationData")
                        .attr("InResponseTo", REQ_ID)
                        .attr("NotOnOrAfter", "2026-05-01T10:05:00Z")
                        .attr("Recipient", ACS),
                ),
        );
    let mut assertion = Element::new("saml", "Assertion")
        .attr("ID", "_a")
        .attr("IssueInstant", "2026-05-01T10:00:00Z")
        .attr("Version", "2.0")
        .child(Element::new("saml", "Issuer").text(IDP))
        .child(subject)
        .child(
            Element::new("saml", "Conditions")
                .attr("NotBefore", "2026-05-01T09:59:00Z")
                .attr("NotOnOrAfter", "2026-05-01T10:05:00Z")
                .child(
                    Element::new("saml", "AudienceRestriction")
                        .child(Element::new("saml", "Audience").text(SP)),
                ),
        )
        .child(
            Element::new("saml", "AuthnStatement")
                .attr("AuthnInstant", "2026-05-01T10:00:00Z")
                .child(
                    Element::new("saml", "AuthnContext").child(
                        Element::new("saml", "AuthnContextClassRef")
                            .text("urn:oasis:names:tc:SAML:2.0:ac:classes:Password"),
                    ),
                ),
        );
    dsig::sign_enveloped(
        &mut assertion,
        "_a",
        1,
        &idp.key,
        &idp.cert,
        idp.alg,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    Element::new("samlp", "Response")
        .attr("ID", "_r")
        .attr("Version", "2.0")
        .attr("IssueInstant", "2026-05-01T10:00:00Z")
        .attr("Destination", ACS)
        .attr("InResponseTo", REQ_ID)
        .child(Element::new("saml", "Issuer").text(IDP))
        .child(
            Element::new("samlp", "Status").child(
                Element::new("samlp", "StatusCode")
                    .attr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success"),
            ),
        )
        .child(assertion)
        .to_xml()
}

/// A confirmation method other than bearer, correctly signed by the IdP, is still refused.
#[test]
fn non_bearer_confirmation_is_refused() {
    let idp = rsa_idp();
    let certs = [idp.cert.clone()];
    let bearer = hand_built(&idp, "urn:oasis:names:tc:SAML:2.0:cm:bearer");
    let v = validate_response(&bearer, &expect(&certs)).unwrap();
    assert_eq!(v.session_index, None);
    assert_eq!(v.attributes, vec![]);
    let hok = hand_built(&idp, "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key");
    rejects!(hok, expect(&certs), E::NoValidSubjectConfirmation { .. });
}

/// Every response we sign must verify with an independent implementation (xmlsec1).
#[test]
fn xmlsec1_verifies_our_signatures() {
    let Some(xmlsec) = crate::support::xmlsec1("xmlsec1_verifies_our_signatures") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("gatehouse-resp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let verify = |cert: &std::path::Path, doc: &str| {
        let file = dir.join("doc.xml");
        std::fs::write(&file, doc).unwrap();
        // xmlsec1 verifies the first ds:Signature in document order.
        std::process::Command::new(&xmlsec)
            .args(["--verify", "--enabled-reference-uris", "same-doc"])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .arg("--pubkey-cert-pem")
            .arg(cert)
            .arg(&file)
            .output()
            .unwrap()
    };
    for idp in [rsa_idp(), ec_idp()] {
        let cert_path = dir.join("cert.pem");
        std::fs::write(&cert_path, idp.cert.to_pem()).unwrap();
        for (sr, sa) in [(true, false), (false, true), (true, true)] {
            let xml = build(&idp, &params(sr, sa));
            let mut docs = vec![xml.clone()];
            if sr && sa {
                docs.push(assertion_of(&xml).to_owned());
            }
            for doc in docs {
                let out = verify(&cert_path, &doc);
                assert!(
                    out.status.success(),
                    "xmlsec1 refused {:?} sr={sr} sa={sa}: {}\n{doc}",
                    idp.alg,
                    String::from_utf8_lossy(&out.stderr)
                );
                // And refuses a tampered copy.
                let out = verify(
                    &cert_path,
                    &doc.replace("alice@example.com", "eve@example.com"),
                );
                assert!(!out.status.success());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// python3-saml (an independent SP implementation) accepts what we build, in every signing mode.
#[test]
fn python3_saml_accepts_our_responses() {
    let Some(python) = crate::support::python(
        "python3_saml_accepts_our_responses",
        &["onelogin.saml2.response", "onelogin.saml2.settings"],
    ) else {
        return;
    };
    let script = r#"
import base64, json, sys
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
cfg = json.loads(sys.stdin.read())
settings = OneLogin_Saml2_Settings({
    "strict": True,
    "sp": {"entityId": cfg["sp"], "assertionConsumerService": {"url": cfg["acs"]},
           "NameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
    "idp": {"entityId": cfg["idp"], "singleSignOnService": {"url": "https://idp.example.com/sso"},
            "x509cert": cfg["cert"]},
    "security": {"wantAssertionsSigned": cfg["want_assertions_signed"], "wantMessagesSigned": cfg["want_messages_signed"],
                 "rejectDeprecatedAlgorithm": True},
}, sp_validation_only=True)
resp = OneLogin_Saml2_Response(settings, base64.b64encode(cfg["xml"].encode()).decode())
ok = resp.is_valid({"https": "on", "http_host": "sp.example.com", "script_name": "/acs", "server_port": "443"},
                   cfg["request_id"], raise_exceptions=False)
print(json.dumps({"ok": ok, "error": resp.get_error(), "nameid": resp.get_nameid() if ok else None,
                  "attrs": resp.get_attributes() if ok else None}))
"#;
    let now = OffsetDateTime::now_utc();
    for idp in [rsa_idp(), ec_idp()] {
        for (sr, sa) in [(true, false), (false, true), (true, true)] {
            let mut p = params(sr, sa);
            p.destination = "https://sp.example.com/acs".into();
            p.issue_instant = now;
            p.authn_instant = now;
            p.not_before = now - Duration::seconds(30);
            p.not_on_or_after = now + Duration::minutes(5);
            p.subject_not_on_or_after = now + Duration::minutes(5);
            p.session_not_on_or_after = Some(now + Duration::hours(8));
            let xml = build(&idp, &p);
            let cfg = serde_json::json!({
                "sp": SP, "acs": "https://sp.example.com/acs", "idp": IDP,
                "cert": idp.cert.to_base64(), "xml": xml, "request_id": REQ_ID,
                "want_assertions_signed": sa, "want_messages_signed": sr,
            });
            let mut child = std::process::Command::new(&python)
                .arg("-c")
                .arg(script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(cfg.to_string().as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "python: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            assert_eq!(
                result["ok"], true,
                "{:?} sr={sr} sa={sa}: {result}\n{xml}",
                idp.alg
            );
            assert_eq!(result["nameid"], "alice@example.com");
            assert_eq!(result["attrs"]["groups"][1], "dev & ops <x>");
        }
    }
}
