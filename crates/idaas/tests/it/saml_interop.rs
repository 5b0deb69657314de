//! Interop: two SAML SP implementations we did not write (pysaml2 and python3-saml, through
//! `interop/sp/sp_check.py`) build AuthnRequests for our IdP and validate its Responses; the
//! `xmlsec1` CLI verifies every signature we make.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::saml_negative::saml_app;
use crate::signin::{Browser, Idp, PASSWORD, response_xml, saml_post_form};
use crate::support::Backend;
use idaas::audit::Actor;

const SP: &str = "https://sp.example/md";
const ACS: &str = "http://127.0.0.1:8081/acs";
const IMPLS: [&str; 2] = ["pysaml2", "python3-saml"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn peers_required() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn skip(what: &str) {
    if peers_required() {
        panic!("GATEHOUSE_REQUIRE_PEERS=1 but {what}");
    }
    eprintln!("SKIP saml interop: {what}");
}

struct Harness {
    python: PathBuf,
    script: PathBuf,
    dir: PathBuf,
    xmlsec1: Option<PathBuf>,
}

impl Harness {
    fn find() -> Option<Harness> {
        let python = std::env::var_os("GATEHOUSE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
        let script = repo_root().join("interop/sp/sp_check.py");
        if !python.exists() || !script.exists() {
            skip(&format!(
                "python ({}) or {} missing",
                python.display(),
                script.display()
            ));
            return None;
        }
        let xmlsec1 = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("xmlsec1"))
                .find(|p| p.exists())
        });
        if xmlsec1.is_none() {
            skip("xmlsec1 not on PATH (signature cross-checks skipped)");
        }
        let dir = std::env::temp_dir().join(format!("gh-interop-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Some(Harness {
            python,
            script,
            dir,
            xmlsec1,
        })
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn run(&self, args: &[&str]) -> Value {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "sp_check {args:?} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON {e}: {stdout}"))
    }

    fn authn_request(&self, imp: &str, metadata: &str, binding: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "authn-request",
            "--impl",
            imp,
            "--idp-metadata",
            metadata,
            "--sp-entity-id",
            SP,
            "--acs-url",
            ACS,
            "--binding",
            binding,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    #[allow(clippy::too_many_arguments)]
    fn consume(
        &self,
        imp: &str,
        metadata: &str,
        sp: &str,
        acs: &str,
        response_b64: &str,
        request_id: Option<&str>,
        extra: &[&str],
    ) -> Value {
        let file = self.file(&format!("resp-{}.b64", uuid::Uuid::new_v4()), response_b64);
        let mut args = vec![
            "consume",
            "--impl",
            imp,
            "--idp-metadata",
            metadata,
            "--sp-entity-id",
            sp,
            "--acs-url",
            acs,
            "--saml-response-file",
            &file,
        ];
        match request_id {
            Some(id) => args.extend_from_slice(&["--request-id", id]),
            None => args.push("--unsolicited"),
        }
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Verifies the Response signature and the Assertion signature (those present) with xmlsec1.
    fn xmlsec_verify(&self, xml: &str, cert_pem: &str) {
        let Some(bin) = &self.xmlsec1 else { return };
        let file = self.file(&format!("resp-{}.xml", uuid::Uuid::new_v4()), xml);
        let cert = self.file("idp-cert.pem", cert_pem);
        let response_signed = xml
            .find("<ds:Signature")
            .is_some_and(|s| xml.find("<saml:Assertion").is_some_and(|a| s < a));
        let assertion_signed = xml
            .find("<saml:Assertion")
            .is_some_and(|a| xml[a..].contains("<ds:Signature"));
        let mut checks = Vec::new();
        if response_signed {
            checks.push("/*[local-name()='Response']/*[local-name()='Signature']");
        }
        if assertion_signed {
            checks.push("//*[local-name()='Assertion']/*[local-name()='Signature']");
        }
        assert!(!checks.is_empty(), "nothing signed: {xml}");
        for xpath in checks {
            let out = Command::new(bin)
                .args([
                    "--verify",
                    "--pubkey-cert-pem",
                    &cert,
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                    "--node-xpath",
                    xpath,
                    &file,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "xmlsec1 rejected {xpath}: {}\n{xml}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pem(b64_der: &str) -> String {
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64_der.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

struct Ctx {
    idp: Idp,
    h: Harness,
    app: String,
    browser: Browser,
    metadata: String,
    cert_pem: String,
}

impl Ctx {
    async fn patch(&self, saml: Value) {
        let (st, body) = crate::support::send(
            self.idp
                .api(reqwest::Method::PATCH, &format!("/apps/{}", self.app))
                .json(&json!({ "saml": saml })),
        )
        .await;
        assert_eq!(st, 200, "{body}");
    }

    /// SP-initiated over `binding`; returns (request id, SAMLResponse value).
    async fn sp_initiated(&self, imp: &str, binding: &str, extra: &[&str]) -> (String, String) {
        let req = self.h.authn_request(imp, &self.metadata, binding, extra);
        let request_id = req["request_id"].as_str().unwrap().to_owned();
        let page = if binding == "redirect" {
            self.browser
                .get(req["redirect_url"].as_str().unwrap())
                .await
        } else {
            let mut form = vec![("SAMLRequest", req["saml_request"].as_str().unwrap())];
            if let Some(rs) = req["relay_state"].as_str() {
                form.push(("RelayState", rs));
            }
            let first = self
                .browser
                .post(req["sso_url"].as_str().unwrap(), &form)
                .await;
            self.browser.follow(first).await
        };
        let (action, resp, _) = saml_post_form(&page.body).unwrap_or_else(|| {
            panic!(
                "{imp} {binding}: no response form: {} {}",
                page.status, page.body
            )
        });
        assert_eq!(action, ACS);
        let xml = response_xml(&resp);
        assert!(
            xml.contains(&format!("InResponseTo=\"{request_id}\"")),
            "{xml}"
        );
        self.h.xmlsec_verify(&xml, &self.cert_pem);
        (request_id, resp)
    }
}

async fn setup() -> Option<Ctx> {
    let h = Harness::find()?;
    let idp = Idp::start(Backend::Sqlite).await?;
    let alice = idp.user("alice").await;
    let group = idp
        .srv
        .services
        .create_group(
            &Actor::system(),
            &idp.iid,
            idaas::group::NewGroup {
                name: idaas::group::GroupName::parse("Admins").unwrap(),
                description: String::new(),
                external_id: Some("ext-admins".into()),
            },
        )
        .await
        .unwrap();
    idp.srv
        .services
        .add_group_member(&Actor::system(), &idp.iid, &group.id, &alice.id)
        .await
        .unwrap();
    let app = saml_app(
        &idp,
        json!({
            "sp_entity_id": SP,
            "acs_url": ACS,
            "default_relay_state": "https://sp.example/home",
            "init_login_type": "idaas_or_app_init_sso",
            "attribute_statements": [
                { "name": "email", "value_expression": "user.email" },
                { "name": "displayName", "value_expression": "user.displayName" },
                { "name": "groups", "value_expression": "ArrayJoin(ArrayMap(user.groups, __item.groupExternalId), \",\")" },
                { "name": "role", "value_expression": "\"admin\"" }
            ]
        }),
        "default_all",
    )
    .await;
    let browser = idp.browser();
    assert_eq!(
        browser
            .sign_in(&idp.iid, "alice", PASSWORD, None)
            .await
            .status,
        303
    );
    let md = browser.get(&format!("/api/v2/{app}/saml2/meta")).await;
    assert_eq!(md.status, 200);
    let metadata = h.file("idp.xml", &md.body);
    let (_, keys) = crate::support::send(idp.api(reqwest::Method::GET, "/signing-keys")).await;
    let cert_pem = pem(keys[0]["certificate"].as_str().unwrap());
    Some(Ctx {
        idp,
        h,
        app,
        browser,
        metadata,
        cert_pem,
    })
}

fn assert_alice(v: &Value, imp: &str) {
    assert_eq!(v["ok"], true, "{imp}: {v}");
    assert_eq!(v["name_id"], "alice", "{imp}: {v}");
    let attrs = &v["attributes"];
    assert_eq!(attrs["email"], json!(["alice@example.com"]), "{imp}: {v}");
    assert_eq!(attrs["displayName"], json!(["alice Example"]), "{imp}: {v}");
    assert_eq!(attrs["groups"], json!(["ext-admins"]), "{imp}: {v}");
    assert_eq!(attrs["role"], json!(["admin"]), "{imp}: {v}");
    assert!(
        v["session_index"]
            .as_str()
            .is_some_and(|s| s.starts_with("_s")),
        "{imp}: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_and_idp_initiated_with_two_sp_libraries() {
    let Some(c) = setup().await else { return };
    for imp in IMPLS {
        // SP-initiated, both bindings, InResponseTo checked by the library.
        for binding in ["redirect", "post"] {
            let (id, resp) = c.sp_initiated(imp, binding, &[]).await;
            let v =
                c.h.consume(imp, &c.metadata, SP, ACS, &resp, Some(&id), &[]);
            assert_alice(&v, imp);
            // The same Response for another request ID is refused.
            let v = c.h.consume(
                imp,
                &c.metadata,
                SP,
                ACS,
                &resp,
                Some("_other_request"),
                &[],
            );
            assert_eq!(
                v["ok"], false,
                "{imp} {binding}: wrong InResponseTo accepted: {v}"
            );
            // And presented to another SP (other entity ID and ACS) it is refused.
            let v = c.h.consume(
                imp,
                &c.metadata,
                "https://other-sp.example/md",
                "http://127.0.0.1:8082/acs",
                &resp,
                Some(&id),
                &[],
            );
            assert_eq!(
                v["ok"], false,
                "{imp} {binding}: another SP accepted it: {v}"
            );
            let v = c.h.consume(
                imp,
                &c.metadata,
                "https://other-sp.example/md",
                ACS,
                &resp,
                Some(&id),
                &[],
            );
            assert_eq!(
                v["ok"], false,
                "{imp} {binding}: wrong audience accepted: {v}"
            );
        }
        // IdP-initiated from the portal (unsolicited allowed), default RelayState.
        let csrf = c.browser.portal_csrf(&c.idp.iid).await;
        let page = c
            .browser
            .post(
                &format!("/i/{}/portal/apps/{}/launch", c.idp.iid, c.app),
                &[("csrf", &csrf)],
            )
            .await;
        let (_, resp, relay) = saml_post_form(&page.body).expect("launch form");
        assert_eq!(relay.as_deref(), Some("https://sp.example/home"));
        let xml = response_xml(&resp);
        assert!(!xml.contains("InResponseTo"));
        c.h.xmlsec_verify(&xml, &c.cert_pem);
        let v = c.h.consume(imp, &c.metadata, SP, ACS, &resp, None, &[]);
        assert_alice(&v, imp);
        let v =
            c.h.consume(imp, &c.metadata, SP, ACS, &resp, Some("_expected"), &[]);
        assert_eq!(
            v["ok"], false,
            "{imp}: unsolicited accepted while a request was pending: {v}"
        );
    }
    c.idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_modes_verify_everywhere() {
    let Some(c) = setup().await else { return };
    for (assertion, response) in [(true, false), (false, true), (true, true)] {
        c.patch(json!({ "assertion_signed": assertion, "response_signed": response }))
            .await;
        let mut flags = Vec::new();
        if assertion {
            flags.push("--want-assertions-signed");
        }
        if response {
            flags.push("--want-response-signed");
        }
        for imp in IMPLS {
            let (id, resp) = c.sp_initiated(imp, "redirect", &[]).await;
            let xml = response_xml(&resp);
            assert_eq!(
                xml.matches("<ds:SignatureValue>").count(),
                usize::from(assertion) + usize::from(response),
                "{xml}"
            );
            let v =
                c.h.consume(imp, &c.metadata, SP, ACS, &resp, Some(&id), &flags);
            assert_alice(&v, imp);
        }
    }
    // Signed only at the Response level: an SP that demands a signed assertion refuses it.
    c.patch(json!({ "assertion_signed": false, "response_signed": true }))
        .await;
    for imp in IMPLS {
        let (id, resp) = c.sp_initiated(imp, "redirect", &[]).await;
        let v = c.h.consume(
            imp,
            &c.metadata,
            SP,
            ACS,
            &resp,
            Some(&id),
            &["--want-assertions-signed"],
        );
        assert_eq!(
            v["ok"], false,
            "{imp}: unsigned assertion accepted under want-assertions-signed: {v}"
        );
    }
    c.idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_name_id_format() {
    let Some(c) = setup().await else { return };
    let formats = [
        (
            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            "username",
            "alice",
        ),
        (
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "email",
            "alice@example.com",
        ),
        (
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "username",
            "alice",
        ),
        (
            "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            "username",
            "alice",
        ),
    ];
    for (format, field, expected) in formats {
        c.patch(json!({ "name_id_format": format, "application_account": { "type": "idaas_account", "field": field } })).await;
        let md = c
            .browser
            .get(&format!("/api/v2/{}/saml2/meta", c.app))
            .await;
        let metadata = c.h.file("idp-fmt.xml", &md.body);
        for imp in IMPLS {
            let req =
                c.h.authn_request(imp, &metadata, "redirect", &["--name-id-format", format]);
            let id = req["request_id"].as_str().unwrap();
            let page = c.browser.get(req["redirect_url"].as_str().unwrap()).await;
            let (_, resp, _) = saml_post_form(&page.body)
                .unwrap_or_else(|| panic!("{imp} {format}: {}", page.body));
            let v = c.h.consume(imp, &metadata, SP, ACS, &resp, Some(id), &[]);
            assert_eq!(v["ok"], true, "{imp} {format}: {v}");
            assert_eq!(v["name_id"], expected, "{imp} {format}: {v}");
            assert_eq!(v["name_id_format"], format, "{imp} {format}: {v}");
        }
    }
    c.idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_and_rotated_keys_verify_with_xmlsec1() {
    let Some(c) = setup().await else { return };
    // ECDSA P-256 signatures.
    c.patch(json!({ "signature_algorithm": "ECDSA-SHA256" }))
        .await;
    let page = c
        .browser
        .get(&crate::saml_negative::redirect_path(
            &c.app,
            &crate::saml_negative::authn_request("_e1", SP, Some(ACS), "", ""),
            None,
        ))
        .await;
    let xml = response_xml(&saml_post_form(&page.body).unwrap().1);
    assert!(xml.contains("xmldsig-more#ecdsa-sha256"));
    let (_, keys) = crate::support::send(c.idp.api(reqwest::Method::GET, "/signing-keys")).await;
    let ec = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["algorithm"] == "ecdsa-sha256")
        .unwrap();
    c.h.xmlsec_verify(&xml, &pem(ec["certificate"].as_str().unwrap()));
    // After a rotation the new key signs, and the libraries accept it from fresh metadata.
    c.patch(json!({ "signature_algorithm": "RSA-SHA256" }))
        .await;
    let (st, next) = crate::support::send(
        c.idp
            .api(reqwest::Method::POST, "/signing-keys")
            .json(&json!({ "algorithm": "rsa-sha256" })),
    )
    .await;
    assert_eq!(st, 201, "{next}");
    let (st, _) = crate::support::send(c.idp.api(
        reqwest::Method::POST,
        &format!(
            "/signing-keys/{}/activate?force=true",
            next["id"].as_str().unwrap()
        ),
    ))
    .await;
    assert_eq!(st, 200);
    let md = c
        .browser
        .get(&format!("/api/v2/{}/saml2/meta", c.app))
        .await;
    let metadata = c.h.file("idp-rotated.xml", &md.body);
    for imp in IMPLS {
        let req = c.h.authn_request(imp, &metadata, "redirect", &[]);
        let page = c.browser.get(req["redirect_url"].as_str().unwrap()).await;
        let (_, resp, _) = saml_post_form(&page.body).unwrap();
        c.h.xmlsec_verify(
            &response_xml(&resp),
            &pem(next["certificate"].as_str().unwrap()),
        );
        let v = c.h.consume(
            imp,
            &metadata,
            SP,
            ACS,
            &resp,
            req["request_id"].as_str(),
            &[],
        );
        assert_alice(&v, imp);
    }
    c.idp.stop().await;
}
