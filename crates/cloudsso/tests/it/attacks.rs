//! Attacks on the real ACS over HTTP (saml-defense.md; issue 3 "Attacks"). Every variant is built
//! here by string surgery on a correctly signed Response from `saml::response::build_response`
//! (or signed by an attacker key), posted to `POST /saml/acs/{uuid}`, and must be refused: a 4xx
//! page, no portal session cookie, the portal still closed afterwards (with whatever cookies the
//! refusal set), and exactly one new audit event, a `logon:saml` failure. Each group also shows
//! that the untouched Response is accepted, so the refusals are not an artefact of the setup.
//!
//! XSW1–XSW8 follow Somorovsky et al., "On Breaking SAML" (USENIX Security 2012) and the SAML
//! Raider catalogue. SQLite only: the ACS logic does not depend on the backend.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use cloudsso::Clock;
use cloudsso::audit::{Actor, AuditResult};
use cloudsso::directory::{BindingType, Directory};
use cloudsso::sso_settings::{ManualIdpConfig, SsoSettingsPatch};
use cloudsso::user::{NewUser, UserName, UserStatus};
use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{NameId, ResponseParams, SpExpectations};
use saml::xml::c14n::{C14nOptions, canonicalize};
use time::OffsetDateTime;

use crate::support::{Backend, T0, TestServer};

const IDP_ENTITY: &str = "https://idp.attacks.test/entity";
/// The user the IdP signs in.
const ALICE: &str = "alice@x.com";
/// The user every forgery tries to become (exists, enabled).
const ADMIN: &str = "admin";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn rsa_idp() -> (SigningKey, Certificate) {
    let key = SigningKey::generate_rsa(2048).unwrap();
    let cert = Certificate::self_signed(
        &key,
        "attack test idp",
        at(T0) - time::Duration::days(30),
        OffsetDateTime::now_utc() + time::Duration::days(3650),
    )
    .unwrap();
    (key, cert)
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        user_name: UserName::try_from(name.to_owned()).unwrap(),
        display_name: String::new(),
        email: None,
        first_name: String::new(),
        last_name: String::new(),
        description: String::new(),
        status: UserStatus::Enabled,
        password: None,
        mfa_required: false,
    }
}

/// What the ACS answered.
struct Outcome {
    status: u16,
    /// Every `Set-Cookie` value (name=value part only).
    cookies: Vec<String>,
    body: String,
}

impl Outcome {
    fn portal_cookie(&self) -> Option<&String> {
        self.cookies.iter().find(|c| c.starts_with("gh_cs_portal_"))
    }
}

/// A running server with one directory whose SSO trusts an RSA test IdP; users alice@x.com and
/// admin exist.
struct Fx {
    srv: TestServer,
    d: Directory,
    key: SigningKey,
    cert: Certificate,
}

impl Fx {
    async fn new(name: &str) -> Fx {
        let srv = TestServer::start(Backend::Sqlite)
            .await
            .expect("sqlite server");
        let (key, cert) = rsa_idp();
        let d = sso_directory(&srv, name, &cert).await;
        Fx { srv, d, key, cert }
    }

    async fn stop(self) {
        self.srv.stop().await;
    }

    async fn add_user(&self, name: &str) {
        self.srv
            .services
            .create_user(&Actor::system(), &self.d.id, new_user(name))
            .await
            .unwrap();
    }

    /// Starts SP-initiated SSO over HTTP and returns the pending AuthnRequest ID.
    async fn request(&self) -> String {
        request_on(&self.srv, &self.d).await
    }

    fn params(&self, in_response_to: Option<&str>, name_id: &str) -> ResponseParams {
        let now = self.srv.clock.now();
        ResponseParams {
            response_id: format!("_r{}", uuid::Uuid::new_v4().simple()),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            issue_instant: at(now),
            issuer: IDP_ENTITY.into(),
            destination: self.srv.services.acs_url(&self.d),
            in_response_to: in_response_to.map(str::to_owned),
            audience: self.srv.services.sp_entity_id(&self.d),
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

    fn sign(&self, p: &ResponseParams) -> String {
        sign_with(p, &self.key, &self.cert)
    }

    /// A fresh pending request and a correctly signed Response (assertion signed) for alice.
    async fn good(&self) -> (ResponseParams, String) {
        let rid = self.request().await;
        let p = self.params(Some(&rid), ALICE);
        let xml = self.sign(&p);
        (p, xml)
    }

    /// Like [`Fx::good`] with the signing mode chosen.
    async fn good_signed(&self, response: bool, assertion: bool) -> (ResponseParams, String) {
        let rid = self.request().await;
        let mut p = self.params(Some(&rid), ALICE);
        p.sign_response = response;
        p.sign_assertion = assertion;
        let xml = self.sign(&p);
        (p, xml)
    }

    /// Posts a raw (already encoded) `SAMLResponse` form value.
    async fn post_value(&self, value: &str) -> Outcome {
        self.post_body(
            url_form(&[("SAMLResponse", value)]),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    async fn post_xml(&self, xml: &str) -> Outcome {
        self.post_value(&B64.encode(xml)).await
    }

    async fn post_body(&self, body: String, content_type: &str) -> Outcome {
        let resp = self
            .srv
            .client
            .post(self.srv.url(&format!("/saml/acs/{}", self.d.acs_uuid)))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let cookies = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect();
        Outcome {
            status,
            cookies,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    /// The portal's status with these cookies.
    async fn portal_status(&self, cookies: &[String]) -> (u16, String) {
        let mut req = self
            .srv
            .client
            .get(self.srv.url(&format!("/{}", self.d.name)));
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// The newest audit event id of the directory.
    async fn last_event_id(&self) -> Option<String> {
        self.srv
            .services
            .query_audit(&self.d.id, None, None, 1)
            .await
            .unwrap()
            .items
            .first()
            .map(|e| e.id.clone())
    }

    /// The events newer than `since`, newest first.
    async fn events_since(&self, since: Option<&str>) -> Vec<cloudsso::audit::AuditEvent> {
        let page = self
            .srv
            .services
            .query_audit(&self.d.id, None, None, 50)
            .await
            .unwrap();
        page.items
            .into_iter()
            .take_while(|e| Some(e.id.as_str()) != since)
            .collect()
    }

    /// Sends an attack (a finished request body) and checks every refusal property; returns the
    /// audited reason.
    async fn refuse_body(&self, what: &str, body: String, content_type: &str) -> String {
        let before = self.last_event_id().await;
        let out = self.post_body(body, content_type).await;
        self.check_refused(what, &out, before.as_deref()).await
    }

    async fn refuse_value(&self, what: &str, value: &str) -> String {
        self.refuse_body(
            what,
            url_form(&[("SAMLResponse", value)]),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    async fn refuse(&self, what: &str, xml: &str) -> String {
        self.refuse_value(what, &B64.encode(xml)).await
    }

    async fn check_refused(&self, what: &str, out: &Outcome, before: Option<&str>) -> String {
        assert!(
            (400..500).contains(&out.status),
            "{what}: expected a 4xx refusal, got {} {}",
            out.status,
            out.body
        );
        assert!(
            out.portal_cookie().is_none(),
            "{what}: a portal session cookie was set: {:?}",
            out.cookies
        );
        assert!(
            out.body.contains("Logon failed"),
            "{what}: not the refusal page: {}",
            out.body
        );
        let (portal, _) = self.portal_status(&out.cookies).await;
        assert_eq!(
            portal, 303,
            "{what}: the portal must stay closed after the refusal"
        );
        let events = self.events_since(before).await;
        assert_eq!(
            events.len(),
            1,
            "{what}: expected exactly one new audit event, got {events:?}"
        );
        let ev = &events[0];
        assert!(
            ev.action.ends_with("logon:saml") && ev.result == AuditResult::Failure,
            "{what}: expected a logon:saml failure, got {ev:?}"
        );
        let reason = ev.detail["reason"].as_str().unwrap_or_default().to_owned();
        assert!(!reason.is_empty(), "{what}: the audit event has no reason");
        eprintln!("ATTACK refused  {what}: {} / {reason}", out.status);
        reason
    }

    /// Posts a Response that must be accepted: a session for `user` that opens the portal.
    async fn accept(&self, what: &str, xml: &str, user: &str) {
        let before = self.last_event_id().await;
        let out = self.post_xml(xml).await;
        assert_eq!(out.status, 303, "{what}: {}", out.body);
        let cookie = out
            .portal_cookie()
            .unwrap_or_else(|| panic!("{what}: no session cookie"))
            .clone();
        let (portal, page) = self.portal_status(&[cookie]).await;
        assert_eq!(portal, 200, "{what}: the portal must open");
        assert!(page.contains(user), "{what}: portal is not {user}'s");
        let events = self.events_since(before.as_deref()).await;
        let success: Vec<_> = events
            .iter()
            .filter(|e| e.action.ends_with("logon:saml") && e.result == AuditResult::Success)
            .collect();
        assert_eq!(success.len(), 1, "{what}: {events:?}");
        assert_eq!(
            success[0].detail["user_name"].as_str(),
            Some(user),
            "{what}: signed in as the wrong user"
        );
        eprintln!("ATTACK control  {what}: accepted as {user}");
    }

    /// The library-level expectations the ACS uses (to prove a hand-signed variant is correct).
    fn expectations<'a>(
        &'a self,
        sp: &'a str,
        acs: &'a str,
        certs: &'a [Certificate],
        in_response_to: &'a str,
        policy: AlgorithmPolicy,
    ) -> SpExpectations<'a> {
        SpExpectations {
            idp_entity_id: IDP_ENTITY,
            sp_entity_id: sp,
            acs_url: acs,
            trusted_certs: certs,
            policy,
            now: at(self.srv.clock.now()),
            max_skew: time::Duration::seconds(120),
            expected_in_response_to: Some(in_response_to),
            allow_unsolicited: false,
            require_signed_assertion: true,
            decryption_keys: &[],
        }
    }
}

/// A directory with SSO on (HTTP-Redirect), trusting `cert`, with users alice@x.com and admin.
async fn sso_directory(srv: &TestServer, name: &str, cert: &Certificate) -> Directory {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory(name).await;
    for u in [ALICE, ADMIN] {
        s.create_user(&a, &d.id, new_user(u)).await.unwrap();
    }
    s.configure_idp_manually(
        &a,
        &d.id,
        ManualIdpConfig {
            entity_id: Some(IDP_ENTITY.into()),
            login_url: Some("https://idp.attacks.test/sso".into()),
            x509_certificate: Some(cert.to_pem()),
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
    s.get_directory(&d.id).await.unwrap()
}

async fn request_on(srv: &TestServer, d: &Directory) -> String {
    let resp = srv
        .client
        .get(srv.url(&format!("/{}/login", d.name)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "login must redirect to the IdP");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let query = location.split_once('?').unwrap().1;
    let msg = saml::binding::decode_redirect(query).unwrap();
    saml::authn_request::AuthnRequest::parse(&msg.xml)
        .unwrap()
        .id
}

fn sign_with(p: &ResponseParams, key: &SigningKey, cert: &Certificate) -> String {
    saml::response::build_response(
        p,
        key,
        cert,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha256,
    )
    .unwrap()
}

fn url_form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

// ---- string surgery -------------------------------------------------------------------------

/// The byte range of the first `<{tag}` element (matching its own end tag, nesting-aware).
fn element_range(xml: &str, tag: &str, from: usize) -> (usize, usize) {
    let close = format!("</{tag}>");
    // The next start tag of exactly `tag` (not `ds:SignatureValue` for `ds:Signature`).
    let find_open = |at: usize| -> Option<usize> {
        let open = format!("<{tag}");
        let mut i = at;
        while let Some(o) = xml[i..].find(&open) {
            let end = i + o + open.len();
            if matches!(xml.as_bytes().get(end), Some(b' ' | b'>' | b'/')) {
                return Some(i + o);
            }
            i = end;
        }
        None
    };
    let start = find_open(from).unwrap_or_else(|| panic!("no {tag}"));
    let mut depth = 0usize;
    let mut i = start;
    loop {
        let next_open = find_open(i);
        let next_close = i + xml[i..]
            .find(&close)
            .unwrap_or_else(|| panic!("unclosed {tag}"));
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                i = o + 1;
            }
            _ => {
                depth -= 1;
                i = next_close + close.len();
                if depth == 0 {
                    return (start, i);
                }
            }
        }
    }
}

/// The first `saml:Assertion` of a document.
fn assertion_of(xml: &str) -> String {
    let (s, e) = element_range(xml, "saml:Assertion", 0);
    xml[s..e].to_owned()
}

/// The first `ds:Signature` removed.
fn strip_signature(xml: &str) -> String {
    let (s, e) = element_range(xml, "ds:Signature", 0);
    format!("{}{}", &xml[..s], &xml[e..])
}

/// Inserts `content` as the last child of the first `ds:Signature`.
fn into_signature(xml: &str, content: &str) -> String {
    let (_, e) = element_range(xml, "ds:Signature", 0);
    let at = e - "</ds:Signature>".len();
    format!("{}{content}{}", &xml[..at], &xml[at..])
}

/// The NameID alice → admin.
fn to_admin(xml: &str) -> String {
    let forged = xml.replace(&format!(">{ALICE}<"), &format!(">{ADMIN}<"));
    assert_ne!(forged, xml, "nothing to forge");
    forged
}

/// An unsigned assertion for admin with a new ID, made from a signed one.
fn forged_unsigned(assertion: &str, old_id: &str, new_id: &str) -> String {
    to_admin(&strip_signature(assertion)).replacen(
        &format!("ID=\"{old_id}\""),
        &format!("ID=\"{new_id}\""),
        1,
    )
}

/// The signed assertion's content changed to admin, its ID set to `new_id`, signature kept.
fn forged_keeping_signature(assertion: &str, old_id: &str, new_id: &str) -> String {
    to_admin(assertion).replacen(&format!("ID=\"{old_id}\""), &format!("ID=\"{new_id}\""), 1)
}

/// Inserts `content` right before `<samlp:Status` (where `samlp:Extensions` belongs).
fn before_status(xml: &str, content: &str) -> String {
    let at = xml.find("<samlp:Status").unwrap();
    format!("{}{content}{}", &xml[..at], &xml[at..])
}

/// Inserts `content` right before the closing tag of the root Response.
fn at_response_end(xml: &str, content: &str) -> String {
    let at = xml.rfind("</samlp:Response>").unwrap();
    format!("{}{content}{}", &xml[..at], &xml[at..])
}

// ---- SHA-1 signing (our signer refuses it) ----------------------------------------------------

fn rsa_sha1_sign(key: &SigningKey, data: &[u8]) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("gh-attacks-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_path = dir.join("key.pem");
    std::fs::write(&key_path, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let child = Command::new("openssl")
        .args(["dgst", "-sha1", "-sign"])
        .arg(&key_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let result = match child {
        Ok(mut child) => {
            child.stdin.take().unwrap().write_all(data).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "openssl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(out.stdout)
        }
        Err(e) => {
            assert!(
                !db::testing::peers_required(),
                "GATEHOUSE_REQUIRE_PEERS=1 but openssl cannot run: {e}"
            );
            eprintln!("SKIP RSA-SHA1 variants: cannot run openssl ({e})");
            None
        }
    };
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

/// Re-signs the (only) signature of an assertion-signed Response with the chosen algorithms,
/// computing the digest and the signature ourselves. `None` when RSA-SHA1 is asked for and the
/// `openssl` CLI is missing.
fn resign(
    xml: &str,
    key: &SigningKey,
    sig: SignatureAlgorithm,
    digest: DigestAlgorithm,
) -> Option<String> {
    let limits = saml::xml::reader::Limits::default();
    let doc = saml::xml::reader::parse(xml, &limits).unwrap();
    let assertion = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "Assertion")
        .unwrap();
    let signature = assertion
        .children()
        .find(|n| {
            n.is_element()
                && n.tag_name().namespace() == Some(DSIG_NS)
                && n.tag_name().name() == "Signature"
        })
        .unwrap();
    let prefixes: Vec<String> = signature
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "InclusiveNamespaces")
        .and_then(|n| n.attribute("PrefixList"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let canonical = canonicalize(
        assertion,
        &C14nOptions {
            with_comments: false,
            inclusive_prefixes: prefixes,
            exclude: Some(signature.id()),
        },
    )
    .unwrap();
    let old_digest = signature
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "DigestValue")
        .and_then(|n| n.text())
        .unwrap()
        .to_owned();
    assert_eq!(
        B64.encode(DigestAlgorithm::Sha256.digest(canonical.as_bytes())),
        old_digest,
        "our canonical form must reproduce the signer's digest"
    );
    let new_digest = B64.encode(digest.digest(canonical.as_bytes()));
    drop(doc);
    let xml = xml
        .replacen(
            &format!("Algorithm=\"{}\"", DigestAlgorithm::Sha256.uri()),
            &format!("Algorithm=\"{}\"", digest.uri()),
            1,
        )
        .replacen(&old_digest, &new_digest, 1)
        .replacen(
            &format!("Algorithm=\"{}\"", SignatureAlgorithm::RsaSha256.uri()),
            &format!("Algorithm=\"{}\"", sig.uri()),
            1,
        );
    let doc = saml::xml::reader::parse(&xml, &limits).unwrap();
    let signed_info = doc
        .descendants()
        .find(|n| {
            n.is_element()
                && n.tag_name().namespace() == Some(DSIG_NS)
                && n.tag_name().name() == "SignedInfo"
        })
        .unwrap();
    let si = canonicalize(signed_info, &C14nOptions::default()).unwrap();
    let old_value = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "SignatureValue")
        .and_then(|n| n.text())
        .unwrap()
        .to_owned();
    let value = match sig {
        SignatureAlgorithm::RsaSha1 => rsa_sha1_sign(key, si.as_bytes())?,
        other => key.sign(other, si.as_bytes()).unwrap(),
    };
    drop(doc);
    Some(xml.replacen(&old_value, &B64.encode(value), 1))
}

// ---- the tests ------------------------------------------------------------------------------

/// XSW1–XSW8 and further wrapping placements: the forged assertion names `admin`, who exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xsw_variants_are_refused() {
    let fx = Fx::new("atk-xsw").await;

    // XSW1 / XSW2: response-level. The evil Response gets a new ID and a forged assertion; a copy
    // of the original signed Response (without its signature) is hidden inside the signature
    // (XSW1) or placed before it (XSW2), so the reference still finds "its" element.
    for (response_only, label) in [(true, "response signed"), (false, "both signed")] {
        for xsw in [1, 2] {
            let (p, xml) = fx.good_signed(true, !response_only).await;
            let original_assertion = assertion_of(&xml);
            let clone = strip_signature(&xml);
            let forged = if response_only {
                to_admin(&original_assertion).replacen(
                    &format!("ID=\"{}\"", p.assertion_id),
                    "ID=\"_evil_assertion\"",
                    1,
                )
            } else {
                // The evil assertion loses its own signature (a forged one could not keep it).
                forged_unsigned(&original_assertion, &p.assertion_id, "_evil_assertion")
            };
            let evil = xml
                .replacen(
                    &format!("ID=\"{}\"", p.response_id),
                    "ID=\"_evil_response\"",
                    1,
                )
                .replacen(&original_assertion, &forged, 1);
            let attack = if xsw == 1 {
                into_signature(&evil, &clone)
            } else {
                let at = evil.find("<ds:Signature").unwrap();
                format!("{}{clone}{}", &evil[..at], &evil[at..])
            };
            assert!(attack.contains(">admin<"));
            fx.refuse(&format!("XSW{xsw} ({label})"), &attack).await;
        }
    }

    // Assertion-level variants on an assertion-signed Response.
    let (p, xml) = fx.good().await;
    let aid = p.assertion_id.clone();
    let original = assertion_of(&xml);
    let unsigned_copy = strip_signature(&original);
    let mut cases: Vec<(String, String)> = Vec::new();

    // XSW3: the evil assertion (new ID, unsigned) before the signed one.
    cases.push((
        "XSW3 evil assertion before the signed one".into(),
        xml.replacen(
            &original,
            &format!(
                "{}{original}",
                forged_unsigned(&original, &aid, "_evil_assertion")
            ),
            1,
        ),
    ));
    // ... and after it.
    cases.push((
        "XSW3' evil assertion after the signed one".into(),
        xml.replacen(
            &original,
            &format!(
                "{original}{}",
                forged_unsigned(&original, &aid, "_evil_assertion")
            ),
            1,
        ),
    ));
    // ... with the same ID as the signed one.
    cases.push((
        "XSW3'' evil assertion with the signed assertion's ID".into(),
        xml.replacen(
            &original,
            &format!("{}{original}", forged_unsigned(&original, &aid, &aid)),
            1,
        ),
    ));
    // XSW4: the evil assertion wraps the signed one.
    let evil = forged_unsigned(&original, &aid, "_evil_assertion");
    let wrapped = at_end_of_assertion(&evil, &original);
    cases.push((
        "XSW4 signed assertion wrapped inside the evil assertion".into(),
        xml.replacen(&original, &wrapped, 1),
    ));
    // XSW5: the signed assertion altered (new ID, signature kept); an unsigned copy of the
    // original appended to the Response.
    cases.push((
        "XSW5 altered assertion keeps the signature, copy appended to the Response".into(),
        at_response_end(
            &xml.replacen(
                &original,
                &forged_keeping_signature(&original, &aid, "_evil_assertion"),
                1,
            ),
            &unsigned_copy,
        ),
    ));
    cases.push((
        "XSW5' same, altered assertion keeps its ID".into(),
        at_response_end(
            &xml.replacen(
                &original,
                &forged_keeping_signature(&original, &aid, &aid),
                1,
            ),
            &unsigned_copy,
        ),
    ));
    // XSW6: the unsigned copy inside the altered assertion's ds:Signature.
    cases.push((
        "XSW6 copy inside the altered assertion's Signature".into(),
        xml.replacen(
            &original,
            &into_signature(
                &forged_keeping_signature(&original, &aid, "_evil_assertion"),
                &unsigned_copy,
            ),
            1,
        ),
    ));
    // XSW7: Extensions. (a) the signed assertion in Extensions, the evil one in its place;
    // (b) the unsigned copy in Extensions, the altered assertion keeps the signature.
    cases.push((
        "XSW7 signed assertion in Extensions, evil assertion in place".into(),
        before_status(
            &xml.replacen(
                &original,
                &forged_unsigned(&original, &aid, "_evil_assertion"),
                1,
            ),
            &format!("<samlp:Extensions>{original}</samlp:Extensions>"),
        ),
    ));
    cases.push((
        "XSW7' copy in Extensions, altered assertion keeps the signature".into(),
        before_status(
            &xml.replacen(
                &original,
                &forged_keeping_signature(&original, &aid, "_evil_assertion"),
                1,
            ),
            &format!("<samlp:Extensions>{unsigned_copy}</samlp:Extensions>"),
        ),
    ));
    cases.push((
        "XSW7'' only the signed assertion, moved into Extensions".into(),
        before_status(
            &xml.replacen(&original, "", 1),
            &format!("<samlp:Extensions>{original}</samlp:Extensions>"),
        ),
    ));
    // XSW8: the unsigned copy in a ds:Object of the altered assertion's signature.
    cases.push((
        "XSW8 copy in ds:Object of the altered assertion's Signature".into(),
        xml.replacen(
            &original,
            &into_signature(
                &forged_keeping_signature(&original, &aid, "_evil_assertion"),
                &format!("<ds:Object>{unsigned_copy}</ds:Object>"),
            ),
            1,
        ),
    ));
    cases.push((
        "XSW8' signed original in ds:Object, altered copy keeps ID and signature".into(),
        xml.replacen(
            &original,
            &into_signature(
                &forged_keeping_signature(&original, &aid, &aid),
                &format!("<ds:Object>{original}</ds:Object>"),
            ),
            1,
        ),
    ));
    // The signed assertion inside the evil assertion's Advice, and inside its Subject.
    let advice = evil.replacen(
        "</saml:Conditions>",
        &format!("</saml:Conditions><saml:Advice>{original}</saml:Advice>"),
        1,
    );
    cases.push((
        "signed assertion in the evil assertion's Advice".into(),
        xml.replacen(&original, &advice, 1),
    ));
    let subject = evil.replacen("</saml:Subject>", &format!("{original}</saml:Subject>"), 1);
    cases.push((
        "signed assertion in the evil assertion's Subject".into(),
        xml.replacen(&original, &subject, 1),
    ));
    // The signed assertion inside the Status (StatusDetail) with the evil one in place.
    cases.push((
        "signed assertion in StatusDetail, evil assertion in place".into(),
        xml.replacen(
            &original,
            &forged_unsigned(&original, &aid, "_evil_assertion"),
            1,
        )
        .replacen(
            "</samlp:Status>",
            &format!("<samlp:StatusDetail>{original}</samlp:StatusDetail></samlp:Status>"),
            1,
        ),
    ));

    for (what, attack) in &cases {
        assert_ne!(attack, &xml, "{what}: nothing changed");
        fx.refuse(what, attack).await;
    }
    // The untouched Response is accepted (its request is still pending).
    fx.accept("XSW control: untouched Response", &xml, ALICE)
        .await;
    fx.stop().await;
}

/// Inserts `content` before the closing tag of an assertion string.
fn at_end_of_assertion(assertion: &str, content: &str) -> String {
    let at = assertion.rfind("</saml:Assertion>").unwrap();
    format!("{}{content}{}", &assertion[..at], &assertion[at..])
}

/// `alice@x.com<!---->.evil` is `alice@x.com.evil`, never `alice@x.com`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_injection_never_signs_in_as_the_prefix() {
    let fx = Fx::new("atk-comment").await;
    let evil_name = format!("{ALICE}.evil");
    let injected = |fx_xml: &str, replacement: &str| {
        let out = fx_xml.replacen(&format!(">{evil_name}<"), replacement, 1);
        assert_ne!(out, fx_xml);
        out
    };
    let variants = [
        format!(">{ALICE}<!---->.evil<"),
        format!(">{ALICE}<!-- x -->.evil<"),
        format!("><!---->{ALICE}<!---->.evil<!----><"),
        format!(">{ALICE}<![CDATA[.evil]]><"),
    ];
    // No user alice@x.com.evil: refused, whatever the split.
    for v in &variants {
        let rid = fx.request().await;
        let xml = injected(&fx.sign(&fx.params(Some(&rid), &evil_name)), v);
        let reason = fx
            .refuse(&format!("comment injection {v} (no such user)"), &xml)
            .await;
        assert!(
            reason.contains(&evil_name),
            "the NameID must be read whole: {reason}"
        );
    }
    // With the user alice@x.com.evil: signs in as that user, never as alice@x.com.
    fx.add_user(&evil_name).await;
    for v in &variants {
        let rid = fx.request().await;
        let xml = injected(&fx.sign(&fx.params(Some(&rid), &evil_name)), v);
        fx.accept(&format!("comment injection {v}"), &xml, &evil_name)
            .await;
    }
    fx.stop().await;
}

/// Removed, foreign, tampered and SHA-1 signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_attacks_are_refused() {
    let fx = Fx::new("atk-sig").await;

    // Signature removed (assertion-signed; and both-signed with both removed).
    let (_, xml) = fx.good().await;
    fx.refuse("signature removed", &strip_signature(&xml)).await;
    let (_, xml) = fx.good_signed(true, true).await;
    fx.refuse(
        "both signatures removed",
        &strip_signature(&strip_signature(&xml)),
    )
    .await;
    // Response signature kept, assertion signature removed (breaks the response digest).
    let a = xml.find("<saml:Assertion").unwrap();
    let inner = format!("{}{}", &xml[..a], strip_signature(&xml[a..]));
    fx.refuse(
        "assertion signature removed under a response signature",
        &inner,
    )
    .await;
    // Empty SignatureValue.
    let (_, xml) = fx.good().await;
    let (s, _) = element_range(&xml, "ds:SignatureValue", 0);
    let e = xml[s..].find("</ds:SignatureValue>").unwrap() + s;
    let open_end = xml[s..].find('>').unwrap() + s + 1;
    fx.refuse(
        "empty SignatureValue",
        &format!("{}{}", &xml[..open_end], &xml[e..]),
    )
    .await;

    // Unknown key: a whole Response signed by an attacker; and one that claims the trusted
    // certificate in KeyInfo.
    let (attacker_key, attacker_cert) = rsa_idp();
    let rid = fx.request().await;
    let p = fx.params(Some(&rid), ADMIN);
    let xml = sign_with(&p, &attacker_key, &attacker_cert);
    fx.refuse("signed by an unknown key", &xml).await;
    let lying = xml.replacen(&attacker_cert.to_base64(), &fx.cert.to_base64(), 1);
    assert_ne!(lying, xml);
    fx.refuse(
        "unknown key, KeyInfo claims the trusted certificate",
        &lying,
    )
    .await;
    // An attacker signs its own assertion, wrapped next to a genuine signed one.
    let (_, genuine) = fx.good().await;
    let mut p2 = fx.params(Some(&rid), ADMIN);
    p2.assertion_id = "_attacker_assertion".into();
    let own = assertion_of(&sign_with(&p2, &attacker_key, &attacker_cert));
    let genuine_a = assertion_of(&genuine);
    fx.refuse(
        "attacker-signed assertion beside a genuine one",
        &genuine.replacen(&genuine_a, &format!("{own}{genuine_a}"), 1),
    )
    .await;

    // Content modified after signing: the NameID, then the Audience, then a time.
    let (p, xml) = fx.good().await;
    fx.refuse("NameID changed after signing", &to_admin(&xml))
        .await;
    fx.refuse(
        "Audience changed after signing",
        &xml.replacen(&p.audience, "https://other-sp.test", 1),
    )
    .await;
    let expiry = saml::instant::format_instant(p.not_on_or_after);
    let later = saml::instant::format_instant(p.not_on_or_after + time::Duration::days(365));
    fx.refuse(
        "NotOnOrAfter extended after signing",
        &xml.replace(&expiry, &later),
    )
    .await;

    // SHA-1, refused by default. Each variant is first shown valid to the library when SHA-1 is
    // allowed, so the refusal is about the algorithm only.
    let sp = fx.srv.services.sp_entity_id(&fx.d);
    let acs = fx.srv.services.acs_url(&fx.d);
    let certs = [fx.cert.clone()];
    for (sig, digest, what) in [
        (
            SignatureAlgorithm::RsaSha1,
            DigestAlgorithm::Sha1,
            "RSA-SHA1 signature, SHA-1 digest",
        ),
        (
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha1,
            "RSA-SHA256 signature, SHA-1 digest",
        ),
        (
            SignatureAlgorithm::RsaSha1,
            DigestAlgorithm::Sha256,
            "RSA-SHA1 signature, SHA-256 digest",
        ),
    ] {
        let (p, xml) = fx.good().await;
        let Some(weak) = resign(&xml, &fx.key, sig, digest) else {
            continue;
        };
        let irt = p.in_response_to.clone().unwrap();
        let lax = fx.expectations(
            &sp,
            &acs,
            &certs,
            &irt,
            AlgorithmPolicy { allow_sha1: true },
        );
        let v = saml::response::validate_response(&weak, &lax)
            .unwrap_or_else(|e| panic!("{what}: our SHA-1 signature must be valid: {e}"));
        assert_eq!(v.name_id.value, ALICE);
        let strict = fx.expectations(&sp, &acs, &certs, &irt, AlgorithmPolicy::STRICT);
        assert!(saml::response::validate_response(&weak, &strict).is_err());
        fx.refuse(what, &weak).await;
    }
    // Control: our re-signing with SHA-256 is accepted by the ACS.
    let (_, xml) = fx.good().await;
    let same = resign(
        &xml,
        &fx.key,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    fx.accept("signature control: re-signed with SHA-256", &same, ALICE)
        .await;
    fx.stop().await;
}

/// Time window, parties, InResponseTo, unsolicited, replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_checks_are_refused() {
    let fx = Fx::new("atk-proto").await;
    let now = fx.srv.clock.now();

    // Expired (issued an hour ago, valid five minutes), and not yet valid (an hour ahead).
    let rid = fx.request().await;
    let mut p = fx.params(Some(&rid), ALICE);
    let past = now - 3600;
    p.issue_instant = at(past);
    p.authn_instant = at(past);
    p.not_before = at(past - 60);
    p.not_on_or_after = at(past + 300);
    p.subject_not_on_or_after = at(past + 300);
    fx.refuse("expired", &fx.sign(&p)).await;
    let mut p = fx.params(Some(&rid), ALICE);
    let later = now + 3600;
    p.issue_instant = at(later);
    p.authn_instant = at(later);
    p.not_before = at(later);
    p.not_on_or_after = at(later + 300);
    p.subject_not_on_or_after = at(later + 300);
    fx.refuse("not yet valid", &fx.sign(&p)).await;
    // Only the subject confirmation expired.
    let mut p = fx.params(Some(&rid), ALICE);
    p.subject_not_on_or_after = at(now - 600);
    fx.refuse("SubjectConfirmationData expired", &fx.sign(&p))
        .await;
    // Only the Conditions expired, and only the Conditions not yet valid.
    let mut p = fx.params(Some(&rid), ALICE);
    p.not_before = at(now - 900);
    p.not_on_or_after = at(now - 600);
    fx.refuse("Conditions NotOnOrAfter passed", &fx.sign(&p))
        .await;
    let mut p = fx.params(Some(&rid), ALICE);
    p.not_before = at(now + 3600);
    p.not_on_or_after = at(now + 3900);
    fx.refuse("Conditions NotBefore in the future", &fx.sign(&p))
        .await;

    // Wrong audience.
    let mut p = fx.params(Some(&rid), ALICE);
    p.audience = "https://other-sp.test".into();
    fx.refuse("wrong audience", &fx.sign(&p)).await;

    // Wrong recipient (signed), right Destination.
    let acs = fx.srv.services.acs_url(&fx.d);
    let mut p = fx.params(Some(&rid), ALICE);
    p.destination = format!(
        "{}/saml/acs/00000000-0000-0000-0000-000000000000",
        fx.srv.base
    );
    let xml = fx.sign(&p).replacen(
        &format!("Destination=\"{}\"", p.destination),
        &format!("Destination=\"{acs}\""),
        1,
    );
    assert!(xml.contains(&format!("Recipient=\"{}\"", p.destination)));
    fx.refuse("wrong recipient", &xml).await;

    // Wrong destination: changed on the unsigned Response, and signed wrong by the IdP.
    let p = fx.params(Some(&rid), ALICE);
    let xml = fx.sign(&p).replacen(
        &format!("Destination=\"{acs}\""),
        "Destination=\"https://evil.test/acs\"",
        1,
    );
    fx.refuse("wrong destination (unsigned Response)", &xml)
        .await;
    let mut p = fx.params(Some(&rid), ALICE);
    p.sign_response = true;
    p.destination = "https://evil.test/acs".into();
    fx.refuse("wrong destination (signed by the IdP)", &fx.sign(&p))
        .await;

    // Wrong issuer (signed by the trusted key), and only the Response Issuer changed.
    let mut p = fx.params(Some(&rid), ALICE);
    p.issuer = "https://evil.test/idp".into();
    fx.refuse("wrong issuer", &fx.sign(&p)).await;
    let p = fx.params(Some(&rid), ALICE);
    let xml = fx.sign(&p);
    let first_issuer = format!(">{IDP_ENTITY}</saml:Issuer>");
    let xml = xml.replacen(&first_issuer, ">https://evil.test/idp</saml:Issuer>", 1);
    fx.refuse("wrong Response issuer", &xml).await;
    // Only the (signed) assertion Issuer wrong: the unsigned Response Issuer set back.
    let mut p = fx.params(Some(&rid), ALICE);
    p.issuer = "https://evil.test/idp".into();
    let xml = fx
        .sign(&p)
        .replacen(">https://evil.test/idp</saml:Issuer>", &first_issuer, 1);
    fx.refuse("wrong assertion issuer", &xml).await;

    // InResponseTo: a request is pending (rid), the Response answers another ID; one of another
    // directory trusting the same IdP; the Response and assertion disagree.
    let p = fx.params(Some("_never-sent"), ALICE);
    fx.refuse("InResponseTo of a request never sent", &fx.sign(&p))
        .await;
    let other = sso_directory(&fx.srv, "atk-proto-other", &fx.cert).await;
    let other_rid = request_on(&fx.srv, &other).await;
    let p = fx.params(Some(&other_rid), ALICE);
    fx.refuse(
        "InResponseTo of another directory's pending request",
        &fx.sign(&p),
    )
    .await;
    let p = fx.params(Some(&rid), ALICE);
    let other_rid2 = fx.request().await;
    let xml = fx.sign(&p).replacen(
        &format!("InResponseTo=\"{rid}\""),
        &format!("InResponseTo=\"{other_rid2}\""),
        1,
    );
    fx.refuse(
        "Response InResponseTo differs from the signed assertion's",
        &xml,
    )
    .await;

    // Unsolicited while not enabled.
    let p = fx.params(None, ALICE);
    fx.refuse("unsolicited (not enabled)", &fx.sign(&p)).await;

    // Replay: an accepted Response, posted again; then a second Response to the answered request.
    let p = fx.params(Some(&rid), ALICE);
    let xml = fx.sign(&p);
    fx.accept("protocol control: correct Response", &xml, ALICE)
        .await;
    fx.refuse("replay of an accepted Response", &xml).await;
    let p = fx.params(Some(&rid), ALICE);
    fx.refuse("new Response to an answered request", &fx.sign(&p))
        .await;
    // Replayed later while the assertion is still in the window (clock + 2 min).
    fx.srv.clock.advance(120);
    fx.refuse("replay two minutes later", &xml).await;

    // The replay cache itself: with unsolicited Responses allowed there is no pending request to
    // consume, so only the cache stops a second use of the same assertion.
    fx.srv
        .services
        .update_sso_settings(
            &Actor::system(),
            &fx.d.id,
            SsoSettingsPatch {
                allow_unsolicited: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let p = fx.params(None, ALICE);
    let xml = fx.sign(&p);
    fx.accept(
        "replay control: unsolicited Response (enabled)",
        &xml,
        ALICE,
    )
    .await;
    let reason = fx
        .refuse("replay of an accepted unsolicited Response", &xml)
        .await;
    assert!(reason.contains("replay"), "{reason}");
    fx.srv.clock.advance(120);
    let reason = fx
        .refuse("replay of an unsolicited Response two minutes later", &xml)
        .await;
    assert!(reason.contains("replay"), "{reason}");
    fx.stop().await;
}

/// DOCTYPE/XXE, billion laughs, oversized bodies, bad encodings, encrypted assertions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parser_attacks_are_refused() {
    let fx = Fx::new("atk-parse").await;

    // XXE: an external entity to /etc/passwd used as the NameID (the Response is signed over
    // the literal `&xxe;`, so only an entity-expanding parser could see anything else).
    let (_, xml) = fx.good().await;
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        xml.replacen(&format!(">{ALICE}<"), ">&xxe;<", 1)
    );
    fx.refuse("XXE external entity (file:///etc/passwd)", &xxe)
        .await;
    let dtd = format!(
        "<!DOCTYPE samlp:Response SYSTEM \"http://127.0.0.1:9/evil.dtd\">{}",
        xml
    );
    fx.refuse("DOCTYPE with an external DTD", &dtd).await;
    let plain = format!("<!DOCTYPE samlp:Response>{xml}");
    fx.refuse("bare DOCTYPE before a valid signed Response", &plain)
        .await;
    let mut laughs =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    laughs.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = format!("&lol{};", i - 1);
        laughs.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", prev.repeat(10)));
    }
    laughs.push_str("]>\n");
    laughs.push_str(&xml.replacen(&format!(">{ALICE}<"), ">&lol9;<", 1));
    fx.refuse("billion laughs", &laughs).await;
    // An internal entity without DOCTYPE is not well-formed.
    fx.refuse(
        "undeclared entity reference",
        &xml.replacen(&format!(">{ALICE}<"), ">&admin;<", 1),
    )
    .await;

    // Oversized: an XML document above the parser's limit (256 KiB) inside the body limit; a
    // deep nesting bomb; then a body above the HTTP limit (refused before the Response is read,
    // audited all the same).
    let (_, xml) = fx.good().await;
    let padding = format!("<!--{}-->", "x".repeat(300 * 1024));
    let big = xml.replacen("<samlp:Status", &format!("{padding}<samlp:Status"), 1);
    fx.refuse("oversized XML (300 KiB)", &big).await;
    let deep = xml.replacen(
        "<samlp:Status",
        &format!(
            "<samlp:Extensions>{}{}</samlp:Extensions><samlp:Status",
            "<x>".repeat(5000),
            "</x>".repeat(5000)
        ),
        1,
    );
    fx.refuse("nesting bomb (5000 levels)", &deep).await;
    let huge = url_form(&[("SAMLResponse", &"A".repeat(2 * 1024 * 1024))]);
    let reason = fx
        .refuse_body(
            "body above the HTTP limit (2 MiB)",
            huge,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert!(reason.contains("byte limit"), "{reason}");

    // Bad encodings.
    fx.refuse_value("bad base64", "%%%not base64!!!").await;
    fx.refuse_value("base64 of non-UTF-8", &B64.encode([0xff, 0xfe, 0x00, 0x80]))
        .await;
    fx.refuse_value("base64 of non-XML", &B64.encode("hello, world"))
        .await;
    fx.refuse_value("empty SAMLResponse", "").await;
    // Deflated (Redirect-binding encoding) on the POST binding.
    let (_, xml) = fx.good().await;
    fx.refuse_value(
        "deflated Response on the POST binding",
        &B64.encode(saml::binding::deflate(xml.as_bytes())),
    )
    .await;

    // EncryptedAssertion, unsigned, in place of the signed assertion; and beside it.
    let (p, xml) = fx.good().await;
    let original = assertion_of(&xml);
    let encrypted = "<saml:EncryptedAssertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\"><xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>";
    fx.refuse(
        "unsigned EncryptedAssertion",
        &xml.replacen(&original, encrypted, 1),
    )
    .await;
    fx.refuse(
        "unsigned EncryptedAssertion beside the signed assertion",
        &xml.replacen(&original, &format!("{encrypted}{original}"), 1),
    )
    .await;
    let mut rp = fx.params(p.in_response_to.as_deref(), ALICE);
    rp.sign_response = true;
    rp.sign_assertion = false;
    let resp_signed = fx.sign(&rp);
    let ra = assertion_of(&resp_signed);
    fx.refuse(
        "unsigned EncryptedAssertion under a (now broken) response signature",
        &resp_signed.replacen(&ra, encrypted, 1),
    )
    .await;
    fx.accept("parser control: untouched Response", &xml, ALICE)
        .await;
    fx.stop().await;
}
