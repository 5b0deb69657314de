//! `gatehouse up` and the Step 1 CLI, against the real binary.

use serde_json::{Value, json};

use crate::support::{Ports, browser, cli, form, set, start_up, temp_dir};

async fn text(resp: reqwest::Response) -> (String, String) {
    let url = resp.url().to_string();
    (url, resp.text().await.unwrap())
}

/// Submits the SAML POST form on `page` to the demo SP and returns the SP's page.
async fn post_to_sp(client: &reqwest::Client, url: &str, page: &str) -> String {
    let (acs, fields) = form(page, url, "/acs");
    let fields: Vec<_> = fields
        .into_iter()
        .filter(|(n, _)| n == "SAMLResponse" || n == "RelayState")
        .collect();
    assert!(
        fields.iter().any(|(n, _)| n == "SAMLResponse"),
        "no SAMLResponse in {page}"
    );
    let resp = client.post(&acs).form(&fields).send().await.unwrap();
    assert!(
        resp.status().is_success(),
        "demo SP refused: {}",
        resp.status()
    );
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_demo_works_end_to_end_and_reset_wipes_it() {
    let dir = temp_dir("up");
    let ports = Ports::free();
    let up = start_up(&dir, ports, &[]).await;
    let demo = up.demo.clone();
    let d = &demo;

    // demo.json carries every documented key.
    let idaas = &d["idaas"];
    for key in [
        "base_url",
        "instance_id",
        "console_url",
        "signin_url",
        "portal_url",
        "api_token",
    ] {
        assert!(
            idaas[key].as_str().is_some_and(|s| !s.is_empty()),
            "idaas.{key} missing: {d}"
        );
    }
    assert!(idaas["admin"]["username"].is_string() && idaas["admin"]["password"].is_string());
    let users = idaas["users"].as_array().unwrap();
    assert!(users.len() >= 3);
    for u in users {
        for key in ["username", "password", "email"] {
            assert!(u[key].is_string(), "user.{key} missing: {u}");
        }
    }
    let app = &idaas["apps"][0];
    for key in [
        "id",
        "name",
        "template",
        "sp_entity_id",
        "acs_url",
        "metadata_url",
        "sso_url",
    ] {
        assert!(app[key].is_string(), "apps[0].{key} missing: {app}");
    }

    // SP-initiated SSO: demo SP → IDaaS sign-in (plain form) → signed Response → demo SP.
    let alice = &users[0];
    let b = browser();
    let sp_login = format!("{}login", d["demo_sp"]["url"].as_str().unwrap());
    let (url, page) = text(b.get(&sp_login).send().await.unwrap()).await;
    assert!(url.contains("/login"), "not sent to sign-in: {url}");
    let (action, mut fields) = form(&page, &url, "/login");
    set(&mut fields, "username", alice["username"].as_str().unwrap());
    set(&mut fields, "password", alice["password"].as_str().unwrap());
    let (url, page) = text(b.post(&action).form(&fields).send().await.unwrap()).await;
    let sp_page = post_to_sp(&b, &url, &page).await;
    assert!(sp_page.contains("Welcome, alice."), "{sp_page}");
    assert!(
        sp_page.contains("SP-initiated (InResponseTo checked)"),
        "{sp_page}"
    );
    // The same Response posted again is refused, with a generic message only.
    let (acs, fields) = form(&page, &url, "/acs");
    let replay = b.post(&acs).form(&fields).send().await.unwrap();
    assert_eq!(replay.status(), reqwest::StatusCode::FORBIDDEN);
    let replay_page = replay.text().await.unwrap();
    assert!(
        replay_page.contains("not accepted") && !replay_page.contains("Welcome"),
        "{replay_page}"
    );
    assert!(
        sp_page.contains("alice@demo.example"),
        "email attribute missing: {sp_page}"
    );

    // IdP-initiated from the portal (same browser session, no second sign-in).
    let portal = idaas["portal_url"].as_str().unwrap();
    let (url, page) = text(b.get(portal).send().await.unwrap()).await;
    assert!(
        page.contains("Gatehouse Demo SP"),
        "app card missing from the portal: {page}"
    );
    let demo_app = format!("/apps/{}/launch", app["id"].as_str().unwrap());
    let (launch, fields) = form(&page, &url, &demo_app);
    let (url, page) = text(b.post(&launch).form(&fields).send().await.unwrap()).await;
    let sp_page = post_to_sp(&b, &url, &page).await;
    assert!(sp_page.contains("Welcome, alice."), "{sp_page}");
    assert!(sp_page.contains("IdP-initiated"), "{sp_page}");

    // A wrong password gets the sign-in page again and no Response.
    let b2 = browser();
    let (url, page) = text(b2.get(&sp_login).send().await.unwrap()).await;
    let (action, mut fields) = form(&page, &url, "/login");
    set(&mut fields, "username", "bob");
    set(&mut fields, "password", "not-the-password");
    let (_, page) = text(b2.post(&action).form(&fields).send().await.unwrap()).await;
    assert!(!page.contains("SAMLResponse"), "{page}");

    // Cloud SSO is wired to IDaaS: its logon URL sends alice to IDaaS (already signed in there),
    // the Response lands on the ACS, the portal lists her accounts, and "Log on with a RAM role"
    // opens the account's console as the reserved role.
    let cs = &d["cloudsso"];
    for key in [
        "base_url",
        "directory_id",
        "directory_name",
        "portal_url",
        "sp_entity_id",
        "acs_url",
        "api_token",
    ] {
        assert!(
            cs[key].as_str().is_some_and(|s| !s.is_empty()),
            "cloudsso.{key} missing: {d}"
        );
    }
    for key in ["accounts", "access_configurations", "users"] {
        assert!(
            cs[key].as_array().is_some_and(|a| !a.is_empty()),
            "cloudsso.{key} missing: {d}"
        );
    }
    let (url, page) = text(
        b.get(cs["portal_url"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (idp_sso, fields) = form(&page, &url, "/saml2/sso");
    let (url, page) = text(b.post(&idp_sso).form(&fields).send().await.unwrap()).await;
    let (acs, fields) = form(&page, &url, "/saml/acs/");
    let (url, portal) = text(b.post(&acs).form(&fields).send().await.unwrap()).await;
    assert!(
        portal.contains("Signed in as") && portal.contains("alice"),
        "{url}: {portal}"
    );
    assert!(
        portal.contains("Production") && portal.contains("Staging"),
        "{portal}"
    );
    assert!(
        portal.contains("Log on with a RAM user"),
        "the demo provisions alice as a RAM user on Staging: {portal}"
    );
    let (role_logon, fields) = form(&portal, &url, "/portal/role-logon");
    let (url, page) = text(b.post(&role_logon).form(&fields).send().await.unwrap()).await;
    let (signin, fields) = form(&page, &url, "/cloud/signin/saml-role/sso");
    let (_, console) = text(b.post(&signin).form(&fields).send().await.unwrap()).await;
    assert!(
        console.contains("AliyunReservedSSO-"),
        "not signed in to a console as the reserved role: {console}"
    );

    // A restart keeps the demo; --reset makes a new one.
    let instance = idaas["instance_id"].as_str().unwrap().to_owned();
    drop(up);
    let up = start_up(&dir, ports, &[]).await;
    assert_eq!(up.demo["idaas"]["instance_id"].as_str().unwrap(), instance);
    // The restart reuses the SCIM credential, and it still opens the SCIM server.
    assert_eq!(
        up.demo["cloudsso"]["scim_token"],
        d["cloudsso"]["scim_token"]
    );
    let alice_over_scim = scim_user(&up.demo, "alice").await;
    assert_eq!(alice_over_scim["userName"], "alice", "{alice_over_scim}");
    drop(up);
    // What `up` prints names both services' entry points.
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["up", "--exit-after-setup", "--data-dir"])
        .arg(&dir)
        .args(["--idaas-port", &ports.idaas.to_string()])
        .args(["--cloudsso-port", &ports.cloudsso.to_string()])
        .args(["--demo-sp-port", &ports.demo_sp.to_string()])
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains("SCIM"),
        "`up` does not mention SCIM: {printed}"
    );
    for key in ["portal_url", "console_url", "api_token", "scim_base_url"] {
        let value = d["cloudsso"][key].as_str().unwrap();
        assert!(
            printed.contains(value),
            "`up` does not print cloudsso.{key}: {printed}"
        );
    }
    assert!(
        printed.contains(d["idaas"]["signin_url"].as_str().unwrap()),
        "{printed}"
    );
    let up = start_up(&dir, ports, &["--reset"]).await;
    assert_ne!(up.demo["idaas"]["instance_id"].as_str().unwrap(), instance);
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SCIM user `user_name` of the demo directory, read through the SCIM server with the demo's
/// credential (`Value::Null` when there is none).
async fn scim_user(demo: &Value, user_name: &str) -> Value {
    let cs = &demo["cloudsso"];
    let resp = reqwest::Client::new()
        .get(format!("{}/Users", cs["scim_base_url"].as_str().unwrap()))
        .query(&[("filter", format!("userName eq \"{user_name}\""))])
        .bearer_auth(cs["scim_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    assert!(list["totalResults"].as_i64().unwrap() <= 1, "{list}");
    list["Resources"][0].clone()
}

/// A call to an admin API (IDaaS or Cloud SSO) that must succeed.
async fn admin(
    base: &Value,
    token: &Value,
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
) -> Value {
    let mut req = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", base.as_str().unwrap()))
        .bearer_auth(token.as_str().unwrap());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The demo's users and group reach Cloud SSO over SCIM (Synchronized), and a user created in
/// IDaaS afterwards follows while `up` runs.
#[tokio::test(flavor = "multi_thread")]
async fn up_demo_syncs_accounts_to_cloudsso_over_scim() {
    let dir = temp_dir("up-scim");
    let up = start_up(&dir, Ports::free(), &[]).await;
    let d = &up.demo;
    let cs = &d["cloudsso"];
    let idaas = &d["idaas"];
    let scim_base = cs["scim_base_url"].as_str().unwrap();
    assert_eq!(
        scim_base,
        format!("{}/scim/v2", cs["base_url"].as_str().unwrap())
    );
    assert!(
        cs["scim_token"].as_str().is_some_and(|t| !t.is_empty()),
        "cloudsso.scim_token missing: {d}"
    );

    // The demo user, over SCIM with the demo credential, and Synchronized in the Cloud SSO API.
    let alice = scim_user(d, "alice").await;
    assert_eq!(alice["userName"], "alice", "{alice}");
    assert_eq!(alice["active"], true, "{alice}");
    assert!(
        alice["externalId"]
            .as_str()
            .is_some_and(|e| e.starts_with("user_")),
        "{alice}"
    );
    let directory = format!(
        "/api/v1/directories/{}",
        cs["directory_id"].as_str().unwrap()
    );
    let cs_api =
        |method, path: String, body| admin(&cs["base_url"], &cs["api_token"], method, path, body);
    let listed = cs_api(
        reqwest::Method::GET,
        format!("{directory}/users?filter=UserName%20eq%20alice"),
        None,
    )
    .await;
    assert_eq!(listed["items"][0]["user_name"], "alice", "{listed}");
    assert_eq!(
        listed["items"][0]["provision_type"], "Synchronized",
        "{listed}"
    );
    assert_eq!(listed["items"][0]["id"], alice["id"], "{listed}");
    let groups = cs_api(
        reqwest::Method::GET,
        format!("{directory}/groups?filter=GroupName%20eq%20engineers"),
        None,
    )
    .await;
    assert_eq!(
        groups["items"][0]["provision_type"], "Synchronized",
        "{groups}"
    );
    // Synchronized objects are read-only for the administrator while SCIM is on.
    let refused = reqwest::Client::new()
        .delete(format!(
            "{}{directory}/users/{}",
            cs["base_url"].as_str().unwrap(),
            alice["id"].as_str().unwrap()
        ))
        .bearer_auth(cs["api_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::CONFLICT);

    // A new IDaaS account in the demo org unit and group follows while `up` runs.
    let inst = format!(
        "/api/v1/instances/{}",
        idaas["instance_id"].as_str().unwrap()
    );
    let idaas_api = |method, path: String, body| {
        admin(&idaas["base_url"], &idaas["api_token"], method, path, body)
    };
    let erin = idaas_api(
        reqwest::Method::POST,
        format!("{inst}/users"),
        Some(json!({"username": "Erin", "display_name": "Erin Example",
                    "email": "erin@demo.example"})),
    )
    .await;
    let erin_id = erin["id"].as_str().unwrap();
    idaas_api(
        reqwest::Method::POST,
        format!("{inst}/users/{erin_id}/org-units"),
        Some(json!({"org_unit_id": idaas["org_units"][0]["id"], "primary": true})),
    )
    .await;
    idaas_api(
        reqwest::Method::POST,
        format!(
            "{inst}/groups/{}/members",
            idaas["groups"][0]["id"].as_str().unwrap()
        ),
        Some(json!({"user_id": erin_id})),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let erin_remote = loop {
        let u = scim_user(d, "erin").await;
        if !u.is_null() {
            break u;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "erin did not reach Cloud SSO over SCIM within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(erin_remote["externalId"], erin_id, "{erin_remote}");
    assert_eq!(erin_remote["displayName"], "Erin Example", "{erin_remote}");
    let engineers = groups["items"][0]["id"].as_str().unwrap().to_owned();
    let erin_cs = erin_remote["id"].as_str().unwrap().to_owned();
    loop {
        let members = cs_api(
            reqwest::Method::GET,
            format!("{directory}/groups/{engineers}/members"),
            None,
        )
        .await;
        if members.to_string().contains(&erin_cs) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "erin did not join engineers in Cloud SSO within 60 s: {members}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Step 1 of the seed procedure, scripted with the CLI: find the template in the marketplace,
/// add the application, fill CloudSSO ACS URL and Entity ID, application username = account name,
/// authorization All Users, Save, download the metadata.
#[tokio::test(flavor = "multi_thread")]
async fn cli_scripts_seed_step_1() {
    let dir = temp_dir("cli");
    let up = start_up(&dir, Ports::free(), &[]).await;

    let found: Value =
        serde_json::from_str(&cli(&dir, &["app", "templates", "--search", "Cloud SSO"])).unwrap();
    let template = found
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Alibaba Cloud - Cloud SSO")
        .unwrap_or_else(|| panic!("template not found: {found}"));
    let template_id = template["id"].as_str().unwrap();

    let app: Value = serde_json::from_str(&cli(
        &dir,
        &[
            "app",
            "create",
            "--template",
            template_id,
            "--name",
            "Alibaba Cloud - Cloud SSO",
        ],
    ))
    .unwrap();
    let app_id = app["id"].as_str().unwrap();

    let acs = "https://signin.example.com/saml/acs/0f4b7c0e-1111-4a2b-9c3d-123456789abc";
    let entity = "https://signin.example.com/saml/sp/d-00abcdef";
    let saved: Value = serde_json::from_str(&cli(
        &dir,
        &[
            "app",
            "sso",
            app_id,
            "--acs-url",
            acs,
            "--entity-id",
            entity,
            "--app-username",
            "username",
            "--authorization",
            "all-users",
        ],
    ))
    .unwrap();
    assert_eq!(saved["saml"]["acs_url"], acs, "{saved}");
    assert_eq!(saved["saml"]["sp_entity_id"], entity, "{saved}");
    assert_eq!(saved["authorization_type"], "default_all", "{saved}");

    let out = dir.join("idaas-metadata.xml");
    cli(
        &dir,
        &["app", "metadata", app_id, "-o", out.to_str().unwrap()],
    );
    let xml = std::fs::read_to_string(&out).unwrap();
    let idps = saml::metadata::parse_idp_metadata(&xml).unwrap();
    assert_eq!(idps.len(), 1);
    assert!(!idps[0].signing_certs.is_empty());
    let base = up.demo["idaas"]["base_url"].as_str().unwrap();
    assert_eq!(
        idps[0].sso_redirect_url(),
        Some(format!("{base}/login/app/{app_id}/saml2/sso").as_str())
    );

    // Step 2 with the CLI against the demo's Cloud SSO: upload this metadata, read the SP
    // information to paste back, and the SSO switch (enabling asks for confirmation).
    let sp: Value = serde_json::from_str(&cli(&dir, &["cloudsso", "sp-info"])).unwrap();
    assert_eq!(sp["sp"]["acs_url"], up.demo["cloudsso"]["acs_url"], "{sp}");
    assert_eq!(
        sp["sp"]["entity_id"], up.demo["cloudsso"]["sp_entity_id"],
        "{sp}"
    );
    cli(&dir, &["cloudsso", "sso", "disable"]);
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--demo-dir")
        .arg(&dir)
        .args(["cloudsso", "sso", "enable"])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "enabling SSO without --yes must ask for confirmation"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("password logon"));
    let idp: Value = serde_json::from_str(&cli(
        &dir,
        &["cloudsso", "upload-idp-metadata", out.to_str().unwrap()],
    ))
    .unwrap();
    assert!(
        idp["entity_id"]
            .as_str()
            .is_some_and(|e| e.contains(app_id)),
        "IdP entity from the new app's metadata: {idp}"
    );
    assert_eq!(idp["sso_enabled"], false, "{idp}");
    cli(&dir, &["cloudsso", "sso", "enable", "--yes"]);
    let idp: Value = serde_json::from_str(&cli(&dir, &["cloudsso", "idp"])).unwrap();
    assert_eq!(idp["sso_enabled"], true, "{idp}");

    // Everything else in Cloud SSO through the raw API command, relative to the directory.
    let configs: Value = serde_json::from_str(&cli(
        &dir,
        &["cloudsso", "api", "GET", "/access-configurations"],
    ))
    .unwrap();
    assert!(
        configs.to_string().contains("Administrator") && configs.to_string().contains("ReadOnly"),
        "{configs}"
    );

    // The audit log recorded the admin changes.
    let audit: Value = serde_json::from_str(&cli(&dir, &["audit"])).unwrap();
    assert!(
        audit.to_string().contains(app_id),
        "audit has no event for the app: {audit}"
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}
