//! IdPs we did not write (issue 3): pysaml2's `saml2.server.Server` and samlify's IdentityProvider,
//! driven through `interop/idp/{pysaml2_idp.py,samlify_idp.js}`. For each: a fresh server and
//! directory configured over the admin API only (user, IdP metadata produced by the peer, SSO on);
//! then (a) an IdP-initiated Response (assertion signed; and Response + assertion signed) opens a
//! portal session; (b) SP-initiated over both bindings: the peer parses our AuthnRequest and its
//! answer (InResponseTo = our request ID) is accepted; (c) the peer's Response for another SP
//! entity ID is refused with no session.
//!
//! Peers: `$GATEHOUSE_PYTHON` (default `<repo>/.venv/bin/python`) with pysaml2 and `xmlsec1` on
//! PATH; `node` on PATH with `interop/node_modules` (`npm ci` in `interop/`); `openssl` makes the
//! IdP key and certificate. Missing peers: SKIP, or a failure under `GATEHOUSE_REQUIRE_PEERS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Backend, TestServer};

const USER: &str = "alice@example.com";
const OTHER_SP: &str = "https://other-sp.example/saml/metadata";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A third-party IdP harness: how to run it.
struct Peer {
    name: &'static str,
    program: PathBuf,
    script: PathBuf,
}

/// A peer is missing: prints SKIP, or fails the test under GATEHOUSE_REQUIRE_PEERS=1.
fn missing<T>(what: String) -> Option<T> {
    if db::testing::peers_required() {
        panic!("GATEHOUSE_REQUIRE_PEERS=1 but {what}");
    }
    eprintln!("SKIP idp_interop: {what}");
    None
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn pysaml2_peer() -> Option<Peer> {
    let python = std::env::var_os("GATEHOUSE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import saml2.server"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return missing(format!(
            "{} cannot import pysaml2 (set GATEHOUSE_PYTHON; scripts/setup-test-env.sh)",
            python.display()
        ));
    }
    if !on_path("xmlsec1") {
        return missing("xmlsec1 is not on PATH (pysaml2 signs with it)".into());
    }
    Some(Peer {
        name: "pysaml2",
        program: python,
        script: repo_root().join("interop/idp/pysaml2_idp.py"),
    })
}

fn samlify_peer() -> Option<Peer> {
    if !on_path("node") {
        return missing("node is not on PATH".into());
    }
    let modules = repo_root().join("interop/node_modules");
    if !modules.join("samlify").is_dir() || !modules.join("@authenio/samlify-node-xmllint").is_dir()
    {
        return missing(format!(
            "samlify is not installed in {} (run `npm ci` in interop/; scripts/setup-test-env.sh)",
            modules.display()
        ));
    }
    Some(Peer {
        name: "samlify",
        program: PathBuf::from("node"),
        script: repo_root().join("interop/idp/samlify_idp.js"),
    })
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "gh-idp-interop-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The peer's IdP identity: an RSA-2048 key and self-signed certificate made by `openssl`.
struct IdpIdentity {
    key: PathBuf,
    cert: PathBuf,
    entity_id: String,
    sso_url: String,
}

impl IdpIdentity {
    fn new(tmp: &TempDir, peer: &str) -> Option<IdpIdentity> {
        let key = tmp.file("idp.key");
        let cert = tmp.file("idp.crt");
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
            .args(["-days", "30", "-subj"])
            .arg(format!("/CN={peer} interop idp"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(IdpIdentity {
                key,
                cert,
                entity_id: format!("https://{peer}.idp.example/saml/metadata"),
                sso_url: format!("https://{peer}.idp.example/saml/sso"),
            }),
            Ok(o) => panic!("openssl req failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => missing(format!("openssl cannot run: {e}")),
        }
    }
}

impl Peer {
    /// Runs the harness; its stdout on success, a panic with its stderr otherwise.
    fn run(&self, idp: &IdpIdentity, command: &str, extra: &[&str]) -> String {
        let out = Command::new(&self.program)
            .arg(&self.script)
            .arg(command)
            .arg("--key")
            .arg(&idp.key)
            .arg("--cert")
            .arg(&idp.cert)
            .args(["--entity-id", &idp.entity_id, "--sso-url", &idp.sso_url])
            .args(extra)
            .current_dir(repo_root().join("interop"))
            .output()
            .unwrap_or_else(|e| panic!("{} harness cannot run: {e}", self.name));
        assert!(
            out.status.success(),
            "{} {command} exited {}: {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A Response from the peer: `(base64 SAMLResponse, InResponseTo it answers)`.
    fn respond(&self, idp: &IdpIdentity, extra: &[&str]) -> (String, Option<String>) {
        let out = self.run(idp, "respond", &[&["--name-id", USER], extra].concat());
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        (
            v["saml_response"].as_str().unwrap().to_owned(),
            v["in_response_to"].as_str().map(str::to_owned),
        )
    }
}

/// Posts a base64 `SAMLResponse` to the ACS: (status, portal cookie `name=value` if set, body).
async fn post_acs(
    srv: &TestServer,
    acs_url: &str,
    saml_response: &str,
    relay_state: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut form = vec![("SAMLResponse", saml_response.to_owned())];
    if let Some(rs) = relay_state {
        form.push(("RelayState", rs.to_owned()));
    }
    let resp = srv.client.post(acs_url).form(&form).send().await.unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("gh_cs_portal_"))
        .map(|v| v.split(';').next().unwrap().to_owned());
    (status, cookie, resp.text().await.unwrap())
}

/// The value of `<input name="{name}" value="…">` in our auto-submitting form, HTML-unescaped.
fn form_value(html: &str, name: &str) -> Option<String> {
    let raw = html
        .split(&format!("name=\"{name}\" value=\""))
        .nth(1)?
        .split('"')
        .next()?;
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').unwrap() + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") || e.starts_with("#X") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            e => panic!("unknown entity &{e};"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A directory configured over the admin API with the peer's metadata; returns its JSON view.
async fn configure(srv: &TestServer, peer: &Peer, idp: &IdpIdentity, name: &str) -> Value {
    let created = srv
        .platform(reqwest::Method::POST, "/api/v1/directories")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let d: Value = created.json().await.unwrap();
    let id = d["id"].as_str().unwrap().to_owned();
    let user = srv
        .platform(
            reqwest::Method::POST,
            &format!("/api/v1/directories/{id}/users"),
        )
        .json(&json!({ "user_name": USER, "display_name": "Alice Interop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201, "{}", user.text().await.unwrap());

    let metadata = peer.run(idp, "metadata", &[]);
    let uploaded = srv
        .platform(
            reqwest::Method::POST,
            &format!("/api/v1/directories/{id}/saml/idp/metadata"),
        )
        .json(&json!({ "metadata": metadata }))
        .send()
        .await
        .unwrap();
    let status = uploaded.status();
    let info: Value = uploaded.json().await.unwrap();
    assert_eq!(status, 200, "{} metadata upload: {info}", peer.name);
    assert_eq!(info["entity_id"], idp.entity_id.as_str(), "{info}");
    assert_eq!(info["login_url"], idp.sso_url.as_str(), "{info}");
    assert_eq!(info["from_metadata"], true, "{info}");
    assert_eq!(info["certificates"].as_array().unwrap().len(), 1, "{info}");

    let sso = srv
        .platform(
            reqwest::Method::PATCH,
            &format!("/api/v1/directories/{id}/sso"),
        )
        .json(&json!({ "sso_enabled": true, "allow_unsolicited": true }))
        .send()
        .await
        .unwrap();
    let status = sso.status();
    let info: Value = sso.json().await.unwrap();
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sso_enabled"], true, "{info}");
    assert_eq!(info["allow_unsolicited"], true, "{info}");
    d
}

async fn set_binding(srv: &TestServer, id: &str, binding: &str) {
    let resp = srv
        .platform(
            reqwest::Method::PATCH,
            &format!("/api/v1/directories/{id}/sso"),
        )
        .json(&json!({ "binding_type": binding }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// Asserts the Response opened a portal session for the user, and that the portal shows them.
async fn assert_portal_session(
    srv: &TestServer,
    what: &str,
    name: &str,
    (status, cookie, body): (u16, Option<String>, String),
) {
    assert_eq!(status, 303, "{what}: status {status}: {body}");
    let cookie = cookie.unwrap_or_else(|| panic!("{what}: no portal session cookie"));
    let page = srv
        .client
        .get(srv.url(&format!("/{name}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "{what}: portal");
    let body = page.text().await.unwrap();
    assert!(
        body.contains(USER),
        "{what}: portal does not show the user: {body}"
    );
}

async fn run_peer(peer: Peer) {
    let tmp = TempDir::new(peer.name);
    let Some(idp) = IdpIdentity::new(&tmp, peer.name) else {
        return;
    };
    let Some(srv) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    // The peers sign with the real time; the test server's manual clock follows it.
    srv.clock
        .set(time::OffsetDateTime::now_utc().unix_timestamp());
    let name = format!("interop-{}", peer.name);
    let d = configure(&srv, &peer, &idp, &name).await;
    let id = d["id"].as_str().unwrap();
    let acs_url = d["sp"]["acs_url"].as_str().unwrap().to_owned();
    let sp_entity_id = d["sp"]["entity_id"].as_str().unwrap().to_owned();

    // Our SP metadata, as the peer's administrator would download it.
    let md = srv
        .client
        .get(d["sp"]["metadata_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(md.status(), 200);
    let sp_md = tmp.file("sp.xml");
    std::fs::write(&sp_md, md.text().await.unwrap()).unwrap();
    let sp_md = sp_md.to_str().unwrap();

    // (a) IdP-initiated: assertion signed, then Response and assertion signed.
    for extra in [&[][..], &["--sign-response"][..]] {
        let what = format!("{} unsolicited {extra:?}", peer.name);
        let (resp, irt) = peer.respond(&idp, &[&["--sp-metadata", sp_md], extra].concat());
        assert_eq!(irt, None);
        let xml = base64::engine::general_purpose::STANDARD
            .decode(&resp)
            .unwrap();
        let xml = String::from_utf8(xml).unwrap();
        assert!(!xml.contains("InResponseTo"), "{what}: {xml}");
        assert!(xml.contains(&sp_entity_id), "{what}: audience");
        let result = post_acs(&srv, &acs_url, &resp, None).await;
        assert_portal_session(&srv, &what, &name, result).await;
        // The same Response again: replay.
        let (status, cookie, _) = post_acs(&srv, &acs_url, &resp, None).await;
        assert!(status >= 400 && cookie.is_none(), "{what}: replay accepted");
    }

    // (b) SP-initiated over both bindings: the peer parses our AuthnRequest and answers it.
    for binding in ["Post", "Redirect"] {
        let what = format!("{} SP-initiated {binding}", peer.name);
        set_binding(&srv, id, binding).await;
        let login = srv
            .client
            .get(srv.url(&format!("/{name}/login")))
            .send()
            .await
            .unwrap();
        let (request, relay_state, request_xml) = if binding == "Post" {
            assert_eq!(login.status(), 200, "{what}");
            let html = login.text().await.unwrap();
            assert!(html.contains(&idp.sso_url), "{what}: form action: {html}");
            let request = form_value(&html, "SAMLRequest").unwrap();
            let xml = saml::binding::decode_post(&request).unwrap();
            (request, form_value(&html, "RelayState"), xml)
        } else {
            assert_eq!(login.status(), 303, "{what}");
            let location = login.headers()["location"].to_str().unwrap().to_owned();
            let (target, query) = location.split_once('?').unwrap();
            assert_eq!(target, idp.sso_url, "{what}");
            let xml = saml::binding::decode_redirect(query).unwrap().xml;
            let mut request = None;
            let mut relay_state = None;
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                match &*k {
                    "SAMLRequest" => request = Some(v.into_owned()),
                    "RelayState" => relay_state = Some(v.into_owned()),
                    _ => {}
                }
            }
            (request.unwrap(), relay_state, xml)
        };
        let ours = saml::authn_request::AuthnRequest::parse(&request_xml).unwrap();
        let lower = binding.to_ascii_lowercase();
        let (resp, irt) = peer.respond(
            &idp,
            &[
                "--sp-metadata",
                sp_md,
                "--authn-request",
                &request,
                "--binding",
                &lower,
            ],
        );
        assert_eq!(
            irt.as_deref(),
            Some(ours.id.as_str()),
            "{what}: InResponseTo"
        );
        let result = post_acs(&srv, &acs_url, &resp, relay_state.as_deref()).await;
        assert_portal_session(&srv, &what, &name, result).await;
    }

    // (c) A Response from the same IdP for another SP entity ID: refused, no session.
    for extra in [&[][..], &["--sign-response"][..]] {
        let what = format!("{} for another SP {extra:?}", peer.name);
        let (resp, _) = peer.respond(
            &idp,
            &[
                &["--sp-entity-id", OTHER_SP, "--acs-url", acs_url.as_str()],
                extra,
            ]
            .concat(),
        );
        let (status, cookie, body) = post_acs(&srv, &acs_url, &resp, None).await;
        assert!(status >= 400, "{what}: status {status}: {body}");
        assert!(cookie.is_none(), "{what}: a session cookie was set");
    }
    // Exactly the refusals above were audited, each for its own reason: the other-SP Responses
    // for their audience (not, say, their signature), the replays as replays.
    let audit = srv
        .services
        .query_audit(id, Some("logon:saml"), None, 100)
        .await
        .unwrap();
    let reasons: Vec<String> = audit
        .items
        .iter()
        .filter(|e| e.result == cloudsso::audit::AuditResult::Failure)
        .map(|e| e.detail["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    let count = |needle: &str| reasons.iter().filter(|r| r.contains(needle)).count();
    assert_eq!(reasons.len(), 4, "{}: {reasons:#?}", peer.name);
    assert_eq!(
        count("audience restriction does not include our entity ID"),
        2,
        "{}: {reasons:#?}",
        peer.name
    );
    assert_eq!(count("(replay)"), 2, "{}: {reasons:#?}", peer.name);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_idp_responses_are_accepted() {
    if let Some(peer) = pysaml2_peer() {
        run_peer(peer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samlify_idp_responses_are_accepted() {
    if let Some(peer) = samlify_peer() {
        run_peer(peer).await;
    }
}
