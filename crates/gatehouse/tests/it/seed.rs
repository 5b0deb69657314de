//! The seed procedure (seed guide Steps 1–3, manual configuration) end to end over HTTP on fresh
//! IDaaS and Cloud SSO servers, not the pre-wired demo of `gatehouse up`.
//!
//! Both servers run in-process on SQLite temp files; only the bootstrap API tokens are made with
//! their `Services`. Everything else goes over HTTP the way an administrator and a user would:
//! IDaaS app from the marketplace template → IdP metadata → Cloud SSO directory, users, metadata
//! upload, SSO switch (password logon stops) → ACS URL and Entity ID back into IDaaS, All Users →
//! the user opens the logon URL, signs in at IDaaS, lands in the portal, logs on with a RAM role
//! into a member account's console, fetches STS credentials and makes a signed GetCallerIdentity,
//! and logs on as a RAM user. An IDaaS user without authorization gets no Cloud SSO session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine as _;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{form, set, temp_dir};

/// An admin API client (bearer token, JSON, every call must succeed).
struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {path} {body:?} → {status}: {text}"
        );
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON from {path}: {text}"))
        }
    }
}

/// A browser: one cookie jar, used by a client that follows redirects and one that does not.
struct Browser {
    follow: Client,
    manual: Client,
}

fn browser() -> Browser {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    Browser {
        follow: Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .build()
            .unwrap(),
        manual: Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

async fn page(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let url = resp.url().to_string();
    (status, url, resp.text().await.unwrap())
}

/// Posts the auto-submitting SAML form of `html` (the one whose action contains `action_part`)
/// as the browser's script would: only its SAMLRequest/SAMLResponse and RelayState.
async fn submit_saml_form(
    b: &Browser,
    url: &str,
    html: &str,
    action_part: &str,
    param: &str,
) -> (StatusCode, String, String) {
    let (action, fields) = form(html, url, action_part);
    let fields: Vec<_> = fields
        .into_iter()
        .filter(|(n, _)| n == param || n == "RelayState")
        .collect();
    assert!(
        fields.iter().any(|(n, _)| n == param),
        "no {param} in the form to {action}:\n{html}"
    );
    page(b.follow.post(&action).form(&fields).send().await.unwrap()).await
}

/// Opens the Cloud SSO logon URL and signs in at IDaaS; returns the IDaaS page that follows the
/// sign-in (the auto-POST form to the Cloud SSO ACS when the user may use the app).
async fn sign_in_through_idaas(
    b: &Browser,
    logon_url: &str,
    idaas_base: &str,
    username: &str,
    password: &str,
) -> (StatusCode, String, String) {
    let (status, mut url, mut html) = page(b.follow.get(logon_url).send().await.unwrap()).await;
    assert!(status.is_success(), "{logon_url} → {status}: {html}");
    // BindingType Post: Cloud SSO answers with an auto-submitting AuthnRequest form to the IdP.
    if !url.starts_with(idaas_base) {
        (_, url, html) = submit_saml_form(b, &url, &html, "/saml2/sso", "SAMLRequest").await;
    }
    assert!(
        url.starts_with(idaas_base) && url.contains("/login"),
        "the logon URL did not lead to the IDaaS sign-in page: {url}\n{html}"
    );
    let (action, mut fields) = form(&html, &url, "/login");
    for input in ["csrf", "continue"] {
        assert!(
            fields.iter().any(|(n, _)| n == input),
            "sign-in form has no {input}: {html}"
        );
    }
    set(&mut fields, "username", username);
    set(&mut fields, "password", password);
    page(b.follow.post(&action).form(&fields).send().await.unwrap()).await
}

/// Waits until an asynchronous Cloud SSO task finished (`GET …/tasks/{id}`) and asserts it succeeded.
async fn wait_for_task(api: &Api, directory_path: &str, task: &Value) {
    let id = task["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not a task: {task}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = api
            .call(Method::GET, &format!("{directory_path}/tasks/{id}"), None)
            .await;
        match t["status"].as_str() {
            Some("Success") => return,
            Some("InProgress") => {}
            _ => panic!("task failed: {t}"),
        }
        assert!(Instant::now() < deadline, "task still in progress: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- client side of the request signature (crates/cloudsso/src/cloud/signature.rs docs) ----

/// RFC 3986: `A-Z a-z 0-9 - _ . ~` stay, every other UTF-8 byte becomes upper-case `%XX`.
fn rfc3986(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Adds the authentication parameters and the `Signature` (GH-HMAC-SHA256, version 1.0).
fn sign(
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    credentials: &Value,
    nonce: &str,
) -> Vec<(String, String)> {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap();
    let cred = |k: &str| credentials[k].as_str().unwrap().to_owned();
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    all.extend([
        ("AccessKeyId".to_owned(), cred("AccessKeyId")),
        ("SecurityToken".to_owned(), cred("SecurityToken")),
        ("Timestamp".to_owned(), timestamp),
        ("SignatureNonce".to_owned(), nonce.to_owned()),
        ("SignatureMethod".to_owned(), "HMAC-SHA256".to_owned()),
        ("SignatureVersion".to_owned(), "1.0".to_owned()),
    ]);
    let mut encoded: Vec<(String, String)> =
        all.iter().map(|(n, v)| (rfc3986(n), rfc3986(v))).collect();
    encoded.sort();
    let canonical = encoded
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let string_to_sign = format!("{method}\n{path}\n{canonical}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, cred("AccessKeySecret").as_bytes());
    let tag = hmac::sign(&key, string_to_sign.as_bytes());
    all.push((
        "Signature".to_owned(),
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
    ));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_procedure_manual_configuration_end_to_end() {
    let dir = temp_dir("seed");
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let idaas_srv = idaas::Server::start(idaas::Config::for_tests(sqlite("idaas.db")))
        .await
        .unwrap();
    let cs_srv = cloudsso::Server::start(cloudsso::Config::for_tests(sqlite("cloudsso.db")))
        .await
        .unwrap();
    let idaas_base = idaas_srv.base_url().to_owned();
    let cs_base = cs_srv.base_url().to_owned();

    // Bootstrap: one platform API token per service (in-process, like `gatehouse up` does).
    let idaas_token = idaas_srv
        .services()
        .create_api_token(
            &idaas::audit::Actor::system(),
            None,
            idaas::api_token::TokenName::try_from("seed test".to_owned()).unwrap(),
            None,
        )
        .await
        .unwrap();
    let cs_token = cs_srv
        .services()
        .create_api_token(
            &cloudsso::audit::Actor::system(),
            None,
            cloudsso::api_token::TokenName::try_from("seed test".to_owned()).unwrap(),
            None,
        )
        .await
        .unwrap();
    let http = Client::new();
    let idaas_api = Api {
        client: http.clone(),
        base: idaas_base.clone(),
        token: idaas_token.secret.clone(),
    };
    let cs_api = Api {
        client: http.clone(),
        base: cs_base.clone(),
        token: cs_token.secret.clone(),
    };

    // ---- IDaaS: instance and users ----
    let instance = idaas_api
        .call(
            Method::POST,
            "/api/v1/instances",
            Some(json!({"name": "Example Corp"})),
        )
        .await;
    let ip = format!("/api/v1/instances/{}", instance["id"].as_str().unwrap());
    let idaas_password = "Idaas-Seed-Pass-42";
    for (username, display) in [("alice", "Alice Liddell"), ("bob", "Bob Builder")] {
        let user = idaas_api
            .call(
                Method::POST,
                &format!("{ip}/users"),
                Some(json!({"username": username, "display_name": display,
                            "email": format!("{username}@example.com")})),
            )
            .await;
        idaas_api
            .call(
                Method::POST,
                &format!("{ip}/users/{}/password", user["id"].as_str().unwrap()),
                Some(json!({"password": idaas_password, "must_change": false})),
            )
            .await;
    }

    // ---- IDaaS Step 1: the app from the marketplace template ----
    let found = idaas_api
        .call(
            Method::GET,
            &format!("{ip}/marketplace/templates?q=Alibaba%20Cloud%20-%20Cloud%20SSO"),
            None,
        )
        .await;
    let template = found
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Alibaba Cloud - Cloud SSO")
        .unwrap_or_else(|| panic!("template not in the marketplace: {found}"));
    let app = idaas_api
        .call(
            Method::POST,
            &format!("{ip}/apps"),
            Some(json!({"template_id": template["id"], "name": "Alibaba Cloud - Cloud SSO"})),
        )
        .await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    let app_path = format!("{ip}/apps/{app_id}");
    // The Single Sign-On Configuration toggle.
    idaas_api
        .call(Method::POST, &format!("{app_path}/sso/enable"), None)
        .await;

    // Application Settings > Download: the IdP metadata.
    let meta = http
        .get(format!("{idaas_base}/api/v2/{app_id}/saml2/meta"))
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), StatusCode::OK);
    let idp_metadata = meta.text().await.unwrap();

    // ---- Cloud SSO: directory, the same users (user name = IDaaS account name) ----
    let directory = cs_api
        .call(
            Method::POST,
            "/api/v1/directories",
            Some(json!({"name": "example-corp"})),
        )
        .await;
    let did = directory["id"].as_str().unwrap().to_owned();
    let dir_name = directory["name"].as_str().unwrap().to_owned();
    let dp = format!("/api/v1/directories/{did}");
    let cs_password = "Cloud-Seed-Pass-42";
    let mut cs_users = Vec::new();
    for (username, display) in [("alice", "Alice Liddell"), ("bob", "Bob Builder")] {
        let user = cs_api
            .call(
                Method::POST,
                &format!("{dp}/users"),
                Some(json!({"user_name": username, "display_name": display,
                            "email": format!("{username}@example.com"),
                            "password": cs_password})),
            )
            .await;
        cs_users.push(user["id"].as_str().unwrap().to_owned());
    }
    let alice_id = cs_users[0].clone();

    // Before SSO, the directory password signs alice in (MFA, on by default, switched off so the
    // check stays a plain password logon).
    cs_api
        .call(
            Method::PUT,
            &format!("{dp}/settings"),
            Some(json!({"mfa_setting": "Disabled"})),
        )
        .await;
    let logon_url = format!("{cs_base}/{dir_name}");
    let before = browser();
    let login_url = format!("{logon_url}/login");
    let (_, url, login_page) = page(before.manual.get(&login_url).send().await.unwrap()).await;
    let (action, mut fields) = form(&login_page, &url, "/login");
    set(&mut fields, "username", "alice");
    set(&mut fields, "password", cs_password);
    let resp = before
        .manual
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "password logon before SSO failed"
    );
    let (status, _, html) = page(before.manual.get(&logon_url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Signed in as <strong>alice</strong>"),
        "{html}"
    );

    // Settings > SSO Logon > Configure Identity Provider: upload the metadata file.
    let idp = cs_api
        .call(
            Method::POST,
            &format!("{dp}/saml/idp/metadata"),
            Some(json!({"metadata": idp_metadata})),
        )
        .await;
    assert_eq!(idp["entity_id"], app["idp_entity_id"], "{idp}");
    assert!(
        idp["login_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{idaas_base}/login/app/{app_id}/saml2/sso")),
        "{idp}"
    );
    assert_eq!(idp["certificates"].as_array().unwrap().len(), 1, "{idp}");
    assert_eq!(idp["sso_enabled"], false);

    // The SSO switch: enabling SSO turns password logon off.
    let idp = cs_api
        .call(
            Method::PATCH,
            &format!("{dp}/sso"),
            Some(json!({"sso_enabled": true})),
        )
        .await;
    assert_eq!(idp["sso_enabled"], true, "{idp}");
    let refused = browser();
    let resp = refused
        .manual
        .post(format!("{logon_url}/login"))
        .form(&[("username", "alice"), ("password", cs_password)])
        .send()
        .await
        .unwrap();
    let set_cookies: Vec<String> = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let (status, _, html) = page(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
    assert!(html.contains("Password logon is disabled"), "{html}");
    assert!(
        !set_cookies.iter().any(|c| c.starts_with("gh_cs_portal_")),
        "a refused logon set a session cookie: {set_cookies:?}"
    );
    // Switching the logon method also ended the password session opened before.
    let resp = before
        .manual
        .get(format!("{logon_url}/portal/accounts.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // The SP information to copy: ACS URL and Entity ID.
    let sp = cs_api
        .call(Method::GET, &format!("{dp}/saml/sp"), None)
        .await;
    let acs_url = sp["acs_url"].as_str().unwrap().to_owned();
    let sp_entity_id = sp["entity_id"].as_str().unwrap().to_owned();
    assert!(acs_url.starts_with(&format!("{cs_base}/saml/acs/")), "{sp}");
    assert_eq!(sp_entity_id, format!("{cs_base}/saml/sp/{did}"), "{sp}");
    assert_eq!(sp["portal_url"], logon_url.as_str(), "{sp}");

    // ---- IDaaS: paste them, Application Username = IDaaS account name, All Users, Save ----
    let saved = idaas_api
        .call(
            Method::PATCH,
            &app_path,
            Some(json!({
                "authorization_type": "default_all",
                "saml": {
                    "acs_url": acs_url,
                    "sp_entity_id": sp_entity_id,
                    "application_account": {"type": "idaas_account", "field": "username"}
                }
            })),
        )
        .await;
    assert_eq!(saved["saml"]["acs_url"], acs_url.as_str(), "{saved}");
    assert_eq!(saved["authorization_type"], "default_all", "{saved}");
    assert_eq!(saved["sso_status"], "enabled", "{saved}");

    // ---- Cloud side: accounts, access configuration, assignment, RAM user provisioning ----
    cs_api
        .call(
            Method::POST,
            &format!("{dp}/cloud/accounts"),
            Some(json!({"name": "Management", "is_management": true})),
        )
        .await;
    let member = cs_api
        .call(
            Method::POST,
            &format!("{dp}/cloud/accounts"),
            Some(json!({"name": "Production", "folder": "/Prod"})),
        )
        .await;
    let member_id = member["id"].as_str().unwrap().to_owned();
    let ac = cs_api
        .call(
            Method::POST,
            &format!("{dp}/access-configurations"),
            Some(
                json!({"name": "ReadOnly", "description": "read-only access",
                        "system_policies": ["ReadOnlyAccess"]}),
            ),
        )
        .await;
    let task = cs_api
        .call(
            Method::POST,
            &format!("{dp}/access-assignments"),
            Some(
                json!({"access_configuration_id": ac["id"], "target_type": "RD-Account",
                        "target_id": member_id, "principal_type": "User",
                        "principal_id": alice_id}),
            ),
        )
        .await;
    wait_for_task(&cs_api, &dp, &task).await;
    let created = cs_api
        .call(
            Method::POST,
            &format!("{dp}/user-provisionings"),
            Some(json!({"principal_type": "User", "principal_id": alice_id,
                        "target_type": "RD-Account", "target_id": member_id})),
        )
        .await;
    wait_for_task(&cs_api, &dp, &created["task"]).await;
    // Login preferences: AllowUserToGetCredentials (over the admin API).
    cs_api
        .call(
            Method::PUT,
            &format!("{dp}/settings"),
            Some(json!({"login_preference": {"allow_user_to_get_credentials": true}})),
        )
        .await;

    // ---- Step 3: alice opens the logon URL, signs in at IDaaS, lands in the portal ----
    let alice = browser();
    let (status, url, html) =
        sign_in_through_idaas(&alice, &logon_url, &idaas_base, "alice", idaas_password).await;
    assert!(status.is_success(), "IDaaS sign-in → {status}: {html}");
    let (status, url, html) = submit_saml_form(&alice, &url, &html, &acs_url, "SAMLResponse").await;
    assert_eq!(status, StatusCode::OK, "ACS → {url}: {html}");
    assert!(url.starts_with(&logon_url), "not in the portal: {url}");
    assert!(
        html.contains("Signed in as <strong>alice</strong>"),
        "{html}"
    );
    assert!(html.contains(&member_id), "member account missing: {html}");
    assert!(html.contains("Log on with a RAM role: ReadOnly"), "{html}");
    assert!(html.contains("Log on with a RAM user"), "{html}");
    let accounts: Value = alice
        .follow
        .get(format!("{logon_url}/portal/accounts.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 1, "only the assigned account: {accounts:?}");
    assert_eq!(accounts[0]["account"]["id"], member_id.as_str());
    assert_eq!(accounts[0]["access_configurations"][0]["name"], "ReadOnly");
    let portal_url = url;
    let portal_html = html;

    // "Log on with a RAM role" → the role sign-in endpoint → the console as the reserved role.
    let (logon, fields) = form(&portal_html, &portal_url, "/portal/role-logon");
    let (status, url, html) = page(
        alice
            .follow
            .post(&logon)
            .form(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, url, html) = submit_saml_form(
        &alice,
        &url,
        &html,
        "/cloud/signin/saml-role/sso",
        "SAMLResponse",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "role sign-in → {url}: {html}");
    assert!(
        url.starts_with(&format!("{cs_base}/cloud/console")),
        "{url}"
    );
    let role_arn = format!(
        "acs:ram::{}:assumed-role/AliyunReservedSSO-ReadOnly/alice",
        member_id
    );
    assert!(html.contains("RAM role session"), "{html}");
    assert!(
        html.contains("<dd id=\"principal\">AliyunReservedSSO-ReadOnly</dd>"),
        "{html}"
    );
    assert!(html.contains(&role_arn), "{html}");
    assert!(html.contains(&format!("({})", member_id)), "{html}");
    assert!(html.contains("ReadOnlyAccess"), "{html}");

    // STS credentials for the CLI, then a signed GetCallerIdentity with them.
    let (creds, fields) = form(&portal_html, &portal_url, "/portal/credentials");
    let resp = alice
        .follow
        .post(&creds)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let sts: Value = resp.json().await.unwrap();
    let credentials = &sts["Credentials"];
    for key in [
        "AccessKeyId",
        "AccessKeySecret",
        "SecurityToken",
        "Expiration",
    ] {
        assert!(
            credentials[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing: {sts}"
        );
    }
    assert_eq!(sts["AssumedRoleUser"]["Arn"], role_arn.as_str(), "{sts}");
    let sts_url = format!("{cs_base}/cloud/sts");
    let nonce = format!("seed-{}", rand::random::<u64>());
    let signed = sign(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        credentials,
        &nonce,
    );
    let resp = http.post(&sts_url).form(&signed).send().await.unwrap();
    let status = resp.status();
    let identity: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{identity}");
    assert_eq!(identity["AccountId"], member_id.as_str(), "{identity}");
    assert_eq!(identity["Arn"], role_arn.as_str(), "{identity}");
    assert_eq!(identity["IdentityType"], "AssumedRoleUser", "{identity}");
    // The same request again is a replay; a changed parameter breaks the signature.
    let replay = http.post(&sts_url).form(&signed).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    let mut tampered = sign(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        credentials,
        &format!("seed-{}", rand::random::<u64>()),
    );
    set(
        &mut tampered,
        "SignatureNonce",
        &format!("seed-{}", rand::random::<u64>()),
    );
    let resp = http.post(&sts_url).form(&tampered).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // "Log on with a RAM user" → the account's user sign-in endpoint → console as that RAM user.
    let (logon, fields) = form(&portal_html, &portal_url, "/portal/user-logon");
    let (status, url, html) = page(
        alice
            .follow
            .post(&logon)
            .form(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, url, html) = submit_saml_form(
        &alice,
        &url,
        &html,
        &format!("/cloud/signin/saml/{}/sso", member_id),
        "SAMLResponse",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "user sign-in → {url}: {html}");
    assert!(
        url.starts_with(&format!("{cs_base}/cloud/console")),
        "{url}"
    );
    assert!(
        html.contains("<dd id=\"identity-type\">RAM user</dd>"),
        "{html}"
    );
    assert!(html.contains("<dd id=\"principal\">alice</dd>"), "{html}");
    assert!(html.contains(&format!("({})", member_id)), "{html}");

    // ---- Authorization switched to Manually, no grant: bob signs in at IDaaS but gets no
    // Response, and Cloud SSO gives him no session ----
    let saved = idaas_api
        .call(
            Method::PATCH,
            &app_path,
            Some(json!({"authorization_type": "authorize_required"})),
        )
        .await;
    assert_eq!(saved["authorization_type"], "authorize_required");
    let bob = browser();
    let (_, url, html) =
        sign_in_through_idaas(&bob, &logon_url, &idaas_base, "bob", idaas_password).await;
    assert!(
        !html.contains("SAMLResponse"),
        "IDaaS issued a Response to an unauthorized user ({url}):\n{html}"
    );
    assert!(html.contains("not authorized"), "{html}");
    let resp = bob
        .manual
        .get(format!("{logon_url}/portal/accounts.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "bob has a Cloud SSO session"
    );

    cs_srv.shutdown().await;
    idaas_srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
