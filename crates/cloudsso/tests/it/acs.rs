//! The ACS over HTTP: a Response signed by a test IdP key opens a portal session; every attack or
//! mistake is refused with no session cookie. Also the SP-initiated request (signed detached on
//! Redirect, enveloped on POST) and the SP metadata.

use std::sync::Arc;

use base64::Engine;
use cloudsso::Clock;
use cloudsso::audit::Actor;
use cloudsso::directory::{BindingType, Directory};
use cloudsso::sso_settings::{ManualIdpConfig, SsoSettingsPatch};
use cloudsso::user::{NewUser, UserName, UserStatus};
use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{NameId, ResponseParams};
use time::OffsetDateTime;

use crate::both_servers;
use crate::support::TestServer;

pub const IDP_ENTITY: &str = "https://idp.test/entity";

/// A fresh ECDSA P-256 IdP key and self-signed certificate.
pub fn idp_key() -> (SigningKey, Certificate) {
    let key = SigningKey::generate_ecdsa_p256().unwrap();
    let now = OffsetDateTime::now_utc();
    let cert = Certificate::self_signed(
        &key,
        "test idp",
        now - time::Duration::days(1),
        now + time::Duration::days(3650),
    )
    .unwrap();
    (key, cert)
}

pub struct Sso {
    pub d: Directory,
    pub key: Arc<(SigningKey, Certificate)>,
}

fn user(name: &str, status: UserStatus) -> NewUser {
    NewUser {
        user_name: UserName::try_from(name.to_owned()).unwrap(),
        display_name: String::new(),
        email: None,
        first_name: String::new(),
        last_name: String::new(),
        description: String::new(),
        status,
        password: None,
        mfa_required: false,
    }
}

/// A directory with SSO on (HTTP-Redirect requests), users alice (enabled) and dave (disabled).
pub async fn sso_directory(srv: &TestServer, name: &str) -> Sso {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory(name).await;
    s.create_user(&a, &d.id, user("alice@example.com", UserStatus::Enabled))
        .await
        .unwrap();
    s.create_user(&a, &d.id, user("dave", UserStatus::Disabled))
        .await
        .unwrap();
    let key = idp_key();
    s.configure_idp_manually(
        &a,
        &d.id,
        ManualIdpConfig {
            entity_id: Some(IDP_ENTITY.into()),
            login_url: Some("https://idp.test/sso".into()),
            x509_certificate: Some(key.1.to_pem()),
        },
    )
    .await
    .unwrap();
    s.update_sso_settings(
        &a,
        &d.id,
        SsoSettingsPatch {
            sso_enabled: Some(true),
            binding_type: Some(BindingType::Redirect),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Sso {
        d: s.get_directory(&d.id).await.unwrap(),
        key: Arc::new(key),
    }
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

impl Sso {
    /// Starts SP-initiated SSO over HTTP; returns the AuthnRequest ID and the raw redirect query.
    pub async fn start(&self, srv: &TestServer, path_and_query: &str) -> (String, String) {
        let resp = srv
            .client
            .get(srv.url(path_and_query))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "login must redirect to the IdP");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("https://idp.test/sso?"), "{location}");
        let query = location.split_once('?').unwrap().1.to_owned();
        let msg = saml::binding::decode_redirect(&query).unwrap();
        let req = saml::authn_request::AuthnRequest::parse(&msg.xml).unwrap();
        assert_eq!(req.issuer, srv.services.sp_entity_id(&self.d));
        assert_eq!(
            req.assertion_consumer_service_url.as_deref(),
            Some(srv.services.acs_url(&self.d).as_str())
        );
        (req.id, query)
    }

    pub fn params(
        &self,
        srv: &TestServer,
        in_response_to: Option<&str>,
        name_id: &str,
    ) -> ResponseParams {
        let now = srv.clock.now();
        ResponseParams {
            response_id: format!("_r{}", uuid::Uuid::new_v4().simple()),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            issue_instant: at(now),
            issuer: IDP_ENTITY.into(),
            destination: srv.services.acs_url(&self.d),
            in_response_to: in_response_to.map(str::to_owned),
            audience: srv.services.sp_entity_id(&self.d),
            name_id: NameId {
                format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
                value: name_id.into(),
                sp_name_qualifier: None,
            },
            subject_not_on_or_after: at(now + 300),
            not_before: at(now - 60),
            not_on_or_after: at(now + 300),
            authn_instant: at(now),
            session_index: "_s1".into(),
            session_not_on_or_after: None,
            authn_context_class_ref:
                "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
            attributes: vec![],
            sign_response: false,
            sign_assertion: true,
        }
    }

    pub fn sign(&self, p: &ResponseParams) -> String {
        saml::response::build_response(
            p,
            &self.key.0,
            &self.key.1,
            SignatureAlgorithm::EcdsaSha256,
            DigestAlgorithm::Sha256,
        )
        .unwrap()
    }
}

/// Posts a Response to the ACS: (status, whether a cookie was set, Location, body).
pub async fn post_acs(
    srv: &TestServer,
    d: &Directory,
    xml: &str,
    relay_state: Option<&str>,
) -> (u16, bool, Option<String>, String) {
    let mut form = vec![(
        "SAMLResponse",
        base64::engine::general_purpose::STANDARD.encode(xml),
    )];
    if let Some(rs) = relay_state {
        form.push(("RelayState", rs.to_owned()));
    }
    let resp = srv
        .client
        .post(srv.url(&format!("/saml/acs/{}", d.acs_uuid)))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().contains("gh_cs_portal_"));
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, cookie, location, resp.text().await.unwrap())
}

async fn assert_refused(srv: &TestServer, sso: &Sso, xml: &str, what: &str) {
    let (status, cookie, _, _) = post_acs(srv, &sso.d, xml, None).await;
    assert!(status >= 400, "{what}: status {status}");
    assert!(!cookie, "{what}: a session cookie was set");
}

both_servers!(accepts_a_signed_response_and_refuses_replay, |srv| {
    let sso = sso_directory(&srv, "acs-ok").await;
    let deep = "/acs-ok/login?quickLogin=true&accountId=123&accessConfigurationName=Admin&landingPage=%2Fcloud%2Fconsole";
    let (rid, query) = sso.start(&srv, deep).await;
    assert!(query.contains("RelayState="), "RelayState kept");
    let xml = sso.sign(&sso.params(&srv, Some(&rid), "ALICE@example.com"));
    let (status, cookie, location, _) = post_acs(&srv, &sso.d, &xml, Some(&rid)).await;
    assert_eq!(status, 303);
    assert!(cookie);
    let location = location.unwrap();
    assert!(
        location.starts_with("/acs-ok?")
            && location.contains("quickLogin=true")
            && location.contains("accountId=123"),
        "{location}"
    );
    // The same Response again: replay.
    assert_refused(&srv, &sso, &xml, "replay").await;
    // A new Response to the already answered request.
    let again = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));
    assert_refused(&srv, &sso, &again, "second answer to one request").await;
    // The audit log has the successful SSO logon.
    let page = srv
        .services
        .query_audit(&sso.d.id, Some("logon:saml"), None, 50)
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .any(|e| e.result == cloudsso::audit::AuditResult::Success)
    );
});

both_servers!(portal_session_from_acs_opens_the_portal, |srv| {
    let sso = sso_directory(&srv, "acs-portal").await;
    let (rid, _) = sso.start(&srv, "/acs-portal/login").await;
    let xml = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));
    let form = [(
        "SAMLResponse",
        base64::engine::general_purpose::STANDARD.encode(&xml),
    )];
    let resp = srv
        .client
        .post(srv.url(&format!("/saml/acs/{}", sso.d.acs_uuid)))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=28800")
    );
    let page = srv
        .client
        .get(srv.url("/acs-portal"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("alice@example.com"), "{body}");
    // Without the cookie: to the logon page.
    let anon = srv.client.get(srv.url("/acs-portal")).send().await.unwrap();
    assert_eq!(anon.status(), 303);
    // After 8 hours the session is gone.
    srv.clock.advance(8 * 3600 + 1);
    let late = srv
        .client
        .get(srv.url("/acs-portal"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 303);
});

both_servers!(refuses_bad_responses_without_a_session, |srv| {
    let sso = sso_directory(&srv, "acs-bad").await;
    let (rid, _) = sso.start(&srv, "/acs-bad/login").await;

    let mut p = sso.params(&srv, Some(&rid), "alice@example.com");
    p.sign_assertion = false;
    p.sign_response = true;
    assert_refused(&srv, &sso, &sso.sign(&p), "unsigned assertion").await;

    let mut p = sso.params(&srv, Some(&rid), "alice@example.com");
    p.issuer = "https://evil.test".into();
    assert_refused(&srv, &sso, &sso.sign(&p), "wrong issuer").await;

    let mut p = sso.params(&srv, Some(&rid), "alice@example.com");
    p.audience = "https://other-sp.test".into();
    assert_refused(&srv, &sso, &sso.sign(&p), "wrong audience").await;

    // Recipient wrong (signed), Destination right.
    let good_acs = srv.services.acs_url(&sso.d);
    let mut p = sso.params(&srv, Some(&rid), "alice@example.com");
    p.destination = format!("{}/other/acs", srv.base);
    let xml = sso.sign(&p).replacen(
        &format!("Destination=\"{}\"", p.destination),
        &format!("Destination=\"{good_acs}\""),
        1,
    );
    assert!(xml.contains(&format!("Recipient=\"{}\"", p.destination)));
    assert_refused(&srv, &sso, &xml, "wrong recipient").await;

    // Destination wrong (Response is not signed, the assertion is).
    let p = sso.params(&srv, Some(&rid), "alice@example.com");
    let xml = sso.sign(&p).replacen(
        &format!("Destination=\"{good_acs}\""),
        "Destination=\"https://evil.test/acs\"",
        1,
    );
    assert_refused(&srv, &sso, &xml, "wrong destination").await;

    // Not yet valid, then expired.
    let mut p = sso.params(&srv, Some(&rid), "alice@example.com");
    let later = srv.clock.now() + 3600;
    p.issue_instant = at(later);
    p.not_before = at(later);
    p.not_on_or_after = at(later + 300);
    p.subject_not_on_or_after = at(later + 300);
    p.authn_instant = at(later);
    assert_refused(&srv, &sso, &sso.sign(&p), "not yet valid").await;
    let stale = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));

    // InResponseTo of a request we never sent.
    let p = sso.params(&srv, Some("_never-sent"), "alice@example.com");
    assert_refused(&srv, &sso, &sso.sign(&p), "InResponseTo mismatch").await;

    // Unsolicited while not enabled.
    let p = sso.params(&srv, None, "alice@example.com");
    assert_refused(&srv, &sso, &sso.sign(&p), "unsolicited").await;

    // Signed by an unknown key.
    let other = idp_key();
    let p = sso.params(&srv, Some(&rid), "alice@example.com");
    let xml = saml::response::build_response(
        &p,
        &other.0,
        &other.1,
        SignatureAlgorithm::EcdsaSha256,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    assert_refused(&srv, &sso, &xml, "unknown key").await;

    // Content modified after signing.
    let xml = sso
        .sign(&sso.params(&srv, Some(&rid), "alice@example.com"))
        .replace("alice@example.com", "dave");
    assert_refused(&srv, &sso, &xml, "modified").await;

    // Unknown and disabled users: a clear page, no session.
    let (rid2, _) = sso.start(&srv, "/acs-bad/login").await;
    let (status, cookie, _, body) = post_acs(
        &srv,
        &sso.d,
        &sso.sign(&sso.params(&srv, Some(&rid2), "mallory")),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert!(!cookie);
    assert!(body.contains("no such user"), "{body}");
    let (rid3, _) = sso.start(&srv, "/acs-bad/login").await;
    let (status, cookie, _, body) = post_acs(
        &srv,
        &sso.d,
        &sso.sign(&sso.params(&srv, Some(&rid3), "DAVE")),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert!(!cookie);
    assert!(body.contains("disabled"), "{body}");

    // Expired (10 minutes later the 5-minute assertion is stale even with skew).
    srv.clock.advance(600);
    assert_refused(&srv, &sso, &stale, "expired").await;

    // Everything was audited as failures.
    let page = srv
        .services
        .query_audit(&sso.d.id, Some("logon:saml"), None, 100)
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .filter(|e| e.result == cloudsso::audit::AuditResult::Failure)
            .count()
            >= 12
    );
});

both_servers!(
    unsolicited_only_when_enabled_and_both_certificates_verify,
    |srv| {
        let sso = sso_directory(&srv, "acs-unsol").await;
        let a = Actor::system();
        srv.services
            .update_sso_settings(
                &a,
                &sso.d.id,
                SsoSettingsPatch {
                    allow_unsolicited: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let p = sso.params(&srv, None, "alice@example.com");
        let (status, cookie, location, _) =
            post_acs(&srv, &sso.d, &sso.sign(&p), Some("https://evil.test/")).await;
        assert_eq!(status, 303);
        assert!(cookie);
        assert_eq!(
            location.as_deref(),
            Some("/acs-unsol"),
            "foreign RelayState is not a redirect target"
        );
        // A second certificate: both verify.
        let second = idp_key();
        srv.services
            .add_idp_certificate(&a, &sso.d.id, &second.1.to_pem())
            .await
            .unwrap();
        let p = sso.params(&srv, None, "alice@example.com");
        let xml = saml::response::build_response(
            &p,
            &second.0,
            &second.1,
            SignatureAlgorithm::EcdsaSha256,
            DigestAlgorithm::Sha256,
        )
        .unwrap();
        let (status, cookie, _, _) = post_acs(&srv, &sso.d, &xml, None).await;
        assert_eq!((status, cookie), (303, true));
        let p = sso.params(&srv, None, "alice@example.com");
        let (status, cookie, _, _) = post_acs(&srv, &sso.d, &sso.sign(&p), None).await;
        assert_eq!((status, cookie), (303, true));
        // SSO off: the ACS refuses.
        srv.services
            .update_sso_settings(
                &a,
                &sso.d.id,
                SsoSettingsPatch {
                    sso_enabled: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let p = sso.params(&srv, None, "alice@example.com");
        assert_refused(&srv, &sso, &sso.sign(&p), "SSO disabled").await;
    }
);

both_servers!(signed_requests_and_sp_metadata, |srv| {
    let sso = sso_directory(&srv, "acs-signed").await;
    let a = Actor::system();
    srv.services
        .update_sso_settings(
            &a,
            &sso.d.id,
            SsoSettingsPatch {
                want_request_signed: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (_, query) = sso.start(&srv, "/acs-signed/login").await;
    let msg = saml::binding::decode_redirect(&query).unwrap();
    let sp_cert = Certificate::from_pem(&sso.d.sp_certificate).unwrap();
    msg.verify_signature(std::slice::from_ref(&sp_cert), &AlgorithmPolicy::STRICT)
        .unwrap();
    // POST binding: an enveloped signature that verifies with the SP certificate.
    srv.services
        .update_sso_settings(
            &a,
            &sso.d.id,
            SsoSettingsPatch {
                binding_type: Some(BindingType::Post),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let resp = srv
        .client
        .get(srv.url("/acs-signed/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action https://idp.test"), "{csp}");
    let html = resp.text().await.unwrap();
    let value = html
        .split("name=\"SAMLRequest\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let xml = saml::binding::decode_post(value).unwrap();
    let req = saml::authn_request::AuthnRequest::parse_verified(
        &xml,
        &[sp_cert],
        &AlgorithmPolicy::STRICT,
    );
    assert!(req.is_ok(), "{req:?}");
    // SP metadata download.
    let md = srv
        .client
        .get(srv.url(&format!("/saml/sp/{}/metadata", sso.d.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(md.status(), 200);
    let sp = saml::metadata::parse_sp_metadata(&md.text().await.unwrap()).unwrap();
    assert_eq!(sp[0].entity_id, srv.services.sp_entity_id(&sso.d));
    assert_eq!(
        sp[0].default_acs().unwrap().location,
        srv.services.acs_url(&sso.d)
    );
    assert!(sp[0].authn_requests_signed);
});

/// Replaces the `saml:Assertion` of `xml` by a `saml:EncryptedAssertion` to `cert` (AES-256-GCM,
/// RSA-OAEP-MGF1P key transport inline in `KeyInfo`, as xmlsec1 and pysaml2 produce); with
/// `strip_signature`, the assertion's own `ds:Signature` is removed first.
fn encrypt_assertion(xml: &str, cert: &Certificate, strip_signature: bool) -> String {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
    let b64 = base64::engine::general_purpose::STANDARD;
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let mut assertion = xml[start..end].to_owned();
    if strip_signature {
        let s = assertion.find("<ds:Signature").unwrap();
        let e = assertion.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        assertion.replace_range(s..e, "");
    }
    let rng = SystemRandom::new();
    let mut cek = [0u8; 32];
    let mut nonce = [0u8; 12];
    rng.fill(&mut cek).unwrap();
    rng.fill(&mut nonce).unwrap();
    let mut data = assertion.into_bytes();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).unwrap())
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .unwrap();
    let mut cipher = nonce.to_vec();
    cipher.extend_from_slice(&data);
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(cert.spki_der()).unwrap())
            .unwrap();
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA1_MGF1SHA1, &cek, &mut wrapped, None)
        .unwrap();
    let xenc = "http://www.w3.org/2001/04/xmlenc#";
    let encrypted = format!(
        r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="{xenc}" Type="{xenc}Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{xenc}rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        b64.encode(wrapped),
        b64.encode(cipher)
    );
    format!("{}{encrypted}{}", &xml[..start], &xml[end..])
}

both_servers!(encrypted_assertion_signs_in_only_when_signed, |srv| {
    let sso = sso_directory(&srv, "acs-enc").await;
    // The SP metadata advertises the SP certificate for encryption; IdPs encrypt to it.
    let md = srv.services.sp_metadata(&sso.d).unwrap();
    let sp = saml::metadata::parse_sp_metadata(&md).unwrap();
    let enc_cert = sp[0].encryption_certs.first().unwrap().clone();
    assert_eq!(enc_cert.der(), sp[0].signing_certs[0].der());

    // Encrypted, assertion not signed: refused, no session.
    let (rid, _) = sso.start(&srv, "/acs-enc/login").await;
    let xml = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));
    let unsigned = encrypt_assertion(&xml, &enc_cert, true);
    assert_refused(&srv, &sso, &unsigned, "encrypted unsigned assertion").await;
    // Encrypted to another key: refused.
    let (rid, _) = sso.start(&srv, "/acs-enc/login").await;
    let xml = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));
    let wrong = {
        let k = SigningKey::generate_rsa(2048).unwrap();
        let c = Certificate::self_signed(
            &k,
            "other sp",
            at(srv.clock.now() - 60),
            at(srv.clock.now() + 3600),
        )
        .unwrap();
        encrypt_assertion(&xml, &c, false)
    };
    assert_refused(&srv, &sso, &wrong, "encrypted to another key").await;

    // Encrypted and signed: signs in.
    let signed = encrypt_assertion(&xml, &enc_cert, false);
    assert!(!signed.contains("alice@example.com"));
    let (status, cookie, location, body) = post_acs(&srv, &sso.d, &signed, None).await;
    assert_eq!(status, 303, "{body}");
    assert!(cookie);
    assert_eq!(location.as_deref(), Some("/acs-enc"));
});

both_servers!(refusals_before_the_response_is_read_are_audited, |srv| {
    use cloudsso::audit::AuditResult;
    // An ACS uuid no directory has: 404, no cookie, one event with no directory.
    let unknown = uuid::Uuid::new_v4().to_string();
    let resp = srv
        .client
        .post(srv.url(&format!("/saml/acs/{unknown}")))
        .form(&[("SAMLResponse", "PHNhbWxwOlJlc3BvbnNlLz4=")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers().get("set-cookie").is_none());
    assert!(resp.text().await.unwrap().contains("Logon failed"));
    let platform = srv
        .services
        .query_platform_audit(Some("logon:saml"), None, 500)
        .await
        .unwrap();
    let ev: Vec<_> = platform
        .items
        .iter()
        .filter(|e| e.target_id.as_deref() == Some(unknown.as_str()))
        .collect();
    assert_eq!(ev.len(), 1, "one event for the unknown ACS: {platform:?}");
    assert_eq!(ev[0].directory_id, None);
    assert_eq!(ev[0].result, AuditResult::Failure);
    assert_eq!(ev[0].target_type.as_deref(), Some("acs"));
    assert_eq!(ev[0].detail["reason"], "unknown ACS URL");
    assert!(ev[0].source_ip.is_some(), "the source address is recorded");

    // An attacker-chosen path segment is stored trimmed.
    let long = "u".repeat(3000);
    let resp = srv
        .client
        .post(srv.url(&format!("/saml/acs/{long}")))
        .form(&[("SAMLResponse", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let platform = srv
        .services
        .query_platform_audit(Some("logon:saml"), None, 500)
        .await
        .unwrap();
    let trimmed = "u".repeat(cloudsso::saml_sp::MAX_AUDITED_ACS_UUID);
    assert!(
        platform
            .items
            .iter()
            .any(|e| e.target_id.as_deref() == Some(trimmed.as_str()))
    );

    // A body above the HTTP limit (1 MiB) at a real ACS: 413 page, no session, audited in the
    // directory with the reason.
    let sso = sso_directory(&srv, "acs-huge").await;
    let huge = "A".repeat(srv.services.config.max_body_bytes + 1024);
    let resp = srv
        .client
        .post(srv.url(&format!("/saml/acs/{}", sso.d.acs_uuid)))
        .form(&[("SAMLResponse", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(resp.headers().get("set-cookie").is_none());
    assert!(resp.text().await.unwrap().contains("Logon failed"));
    let page = srv
        .services
        .query_audit(&sso.d.id, Some("logon:saml"), None, 50)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "{page:?}");
    let ev = &page.items[0];
    assert_eq!(ev.result, AuditResult::Failure);
    assert_eq!(ev.directory_id.as_deref(), Some(sso.d.id.as_str()));
    assert_eq!(ev.target_id.as_deref(), Some(sso.d.acs_uuid.as_str()));
    let reason = ev.detail["reason"].as_str().unwrap();
    let limit = format!(
        "above the {} byte limit",
        srv.services.config.max_body_bytes
    );
    assert!(reason.contains(&limit), "{reason}");

    // Not a form at all (wrong content type): refused and audited too.
    let resp = srv
        .client
        .post(srv.url(&format!("/saml/acs/{}", sso.d.acs_uuid)))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let page = srv
        .services
        .query_audit(&sso.d.id, Some("logon:saml"), None, 50)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "{page:?}");
    assert!(
        page.items[0].detail["reason"]
            .as_str()
            .unwrap()
            .starts_with("unreadable form"),
        "{:?}",
        page.items[0]
    );
});
