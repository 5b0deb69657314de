//! Step 1 of the seed procedure and browser SSO in a real headless Chromium, driven through
//! chromedriver: an admin adds "Alibaba Cloud - Cloud SSO" in the console and fills its Single
//! Sign-On tab; a user signs in to the demo SP (SP-initiated, through the auto-submitting POST form
//! that runs only under its CSP nonce) and opens it from the portal (IdP-initiated).
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian `chromium`, `chromium-driver`;
//! `GATEHOUSE_CHROMIUM` / `GATEHOUSE_CHROMEDRIVER` override the paths). Without them the test prints
//! a SKIP line and passes, unless `GATEHOUSE_REQUIRE_PEERS=1`.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::chromium::{
    WAIT, body_text, click_button, find, on_page, open_browser, peers, s, start_driver,
};
use crate::support::{Ports, start_up, temp_dir};

/// The name of the marketplace template (and of the application) in Step 1.
const CLOUD_SSO: &str = "Alibaba Cloud - Cloud SSO";
/// What Cloud SSO shows under Settings > SSO Logon (made up, in its format).
const CLOUDSSO_ACS: &str =
    "https://signin.example.com/saml/acs/0f4b7c0e-1111-4a2b-9c3d-123456789abc";
const CLOUDSSO_ENTITY: &str = "https://signin.example.com/saml/sp/d-00abcdef";

/// chromedriver's log endpoint (`performance` = DevTools events, `browser` = the console); each
/// call returns and clears the entries since the last one.
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({"type": self.0}).to_string()))
    }
}

/// What the browser saw since the last call: the DevTools events and the console messages.
async fn browser_events(c: &Client) -> (Vec<Value>, Vec<String>) {
    let perf = c.issue_cmd(GetLog("performance")).await.unwrap();
    let events = perf
        .as_array()
        .unwrap_or_else(|| panic!("performance log: {perf}"))
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .map(|m| m["message"].clone())
        .collect();
    let console = c.issue_cmd(GetLog("browser")).await.unwrap();
    let console = console
        .as_array()
        .unwrap_or_else(|| panic!("browser log: {console}"))
        .iter()
        .map(|e| format!("{} {}", s(&e["level"]), s(&e["message"])))
        .collect();
    (events, console)
}

/// Checks, from what the browser itself saw, that the page at a URL containing `form_page` carried
/// our CSP (script only with a nonce, form-action only to the SP), that a POST then went to
/// `acs`, and that the console shows no CSP violation. Returns the DevTools events it read.
async fn assert_post_form_under_csp(c: &Client, form_page: &str, acs: &str) -> Vec<Value> {
    let (events, console) = browser_events(c).await;
    let csp = events
        .iter()
        .filter(|e| e["method"] == "Network.responseReceived")
        .map(|e| &e["params"]["response"])
        .find(|r| r["url"].as_str().is_some_and(|u| u.contains(form_page)))
        .and_then(|r| {
            r["headers"].as_object()?.iter().find_map(|(k, v)| {
                k.eq_ignore_ascii_case("content-security-policy")
                    .then(|| v.as_str())?
            })
        })
        .unwrap_or_else(|| panic!("no CSP on a response from *{form_page}* in {events:#?}"))
        .to_owned();
    let origin = url::Url::parse(acs).unwrap().origin().ascii_serialization();
    for part in [
        "default-src 'none'",
        "script-src 'nonce-",
        &format!("form-action {origin}"),
    ] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part:?}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["method"] == "Network.requestWillBeSent"
                && e["params"]["request"]["url"] == acs
                && e["params"]["request"]["method"] == "POST"),
        "the browser did not POST to {acs}"
    );
    let violations: Vec<_> = console
        .iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
        .collect();
    assert!(
        violations.is_empty(),
        "CSP violations in the console: {violations:?}"
    );
    events
}

/// The form control a `<label>` with this exact text is for (as a person finds it).
async fn labelled(c: &Client, label: &str) -> Element {
    let xpath = format!("//label[normalize-space()='{label}']");
    let l = find(c, Locator::XPath(&xpath)).await;
    let id = l
        .attr("for")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("label {label:?} has no `for`"));
    find(c, Locator::Id(&id)).await
}

async fn value(el: &Element) -> String {
    el.prop("value").await.unwrap().unwrap_or_default()
}

async fn type_into(el: &Element, text: &str) {
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
    assert_eq!(value(el).await, text);
}

/// Fills the IDaaS sign-in form (the browser must be on it) and submits it.
async fn sign_in(c: &Client, username: &str, password: &str) {
    let user = on_page(c, "/login", Locator::Id("username")).await;
    assert_eq!(
        user.attr("name").await.unwrap().as_deref(),
        Some("username")
    );
    type_into(&labelled(c, "User name").await, username).await;
    type_into(&labelled(c, "Password").await, password).await;
    click_button(c, "Sign in").await;
}

/// The `<td>` of the demo SP's result table row `name`.
async fn sp_row(c: &Client, name: &str) -> String {
    let xpath = format!("//tr[th[normalize-space()='{name}']]/td");
    find(c, Locator::XPath(&xpath)).await.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_seed_step_1_and_sso() {
    let Some((chromium, chromedriver)) = peers() else {
        return;
    };
    let dir = temp_dir("browser");
    let up = start_up(&dir.join("data"), Ports::free(), &[]).await;
    let driver = start_driver(&chromedriver, &dir).await;
    let client = open_browser(&driver, &chromium, &dir).await;

    let (c, demo, downloads) = (client.clone(), up.demo.clone(), dir.join("downloads"));
    let outcome = tokio::spawn(async move {
        let app_id = console_step_1(&c, &demo, &downloads).await;
        browser_sso(&c, &demo, &app_id).await;
    })
    .await;

    if let Err(e) = outcome {
        let shot = dir.join("failure.png");
        match client.screenshot().await {
            Ok(png) => {
                std::fs::write(&shot, png).unwrap();
                eprintln!("browser screenshot: {}", shot.display());
            }
            Err(err) => eprintln!("no screenshot: {err}"),
        }
        if let Ok(url) = client.current_url().await {
            eprintln!("browser was at {url}");
        }
        if let Ok(html) = client.source().await {
            let page = dir.join("failure.html");
            std::fs::write(&page, html).unwrap();
            eprintln!("page source: {}", page.display());
        }
        eprintln!(
            "chromedriver log: {}",
            dir.join("chromedriver.log").display()
        );
        eprintln!(
            "gatehouse data (demo.json, idaas.db): {}",
            up.data_dir.display()
        );
        let _ = client.close().await;
        drop(driver);
        drop(up);
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("browser test task failed: {e}"),
        }
    }
    client.close().await.unwrap();
    drop(driver);
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Step 1 (and the manual configuration of Step 2) as the guide tells a person to do it; returns
/// the new application's id.
async fn console_step_1(c: &Client, d: &Value, downloads: &Path) -> String {
    let idaas = &d["idaas"];
    let (base, iid) = (s(&idaas["base_url"]), s(&idaas["instance_id"]));

    // 1-2. Log on to the console of the instance: it sends a browser without a session to sign in.
    c.goto(s(&idaas["console_url"])).await.unwrap();
    sign_in(
        c,
        s(&idaas["admin"]["username"]),
        s(&idaas["admin"]["password"]),
    )
    .await;

    // 3. Applications > Applications, Add Application, search the marketplace.
    on_page(
        c,
        &format!("/i/{iid}/console/apps"),
        Locator::XPath("//h1[normalize-space()='Applications']"),
    )
    .await;
    find(c, Locator::LinkText("Add Application"))
        .await
        .click()
        .await
        .unwrap();
    let search = on_page(c, "/console/apps/marketplace", Locator::Id("q")).await;
    assert_eq!(
        labelled(c, "Search the marketplace").await.element_id(),
        search.element_id()
    );
    type_into(&search, "Cloud SSO").await;
    click_button(c, "Search").await;
    let card = format!(
        "//div[contains(concat(' ', normalize-space(@class), ' '), ' template ')]\
         [strong[normalize-space()='{CLOUD_SSO}']]"
    );
    on_page(c, "q=Cloud", Locator::XPath(&card)).await;
    let add = format!("{card}//a[normalize-space()='Add Application']");
    find(c, Locator::XPath(&add)).await.click().await.unwrap();

    // 4. Confirm the application name (SAML 2.0) and click Add.
    let name = on_page(c, "/console/apps/new", Locator::Id("name")).await;
    assert_eq!(
        labelled(c, "Application name").await.element_id(),
        name.element_id()
    );
    assert_eq!(value(&name).await, CLOUD_SSO);
    assert!(body_text(c).await.contains("Protocol: SAML 2.0"));
    click_button(c, "Add").await;

    // Then on the app's Sign-on > Single Sign-On tab.
    on_page(
        c,
        "/sso",
        Locator::XPath("//label[normalize-space()='CloudSSO ACS URL']"),
    )
    .await;
    let url = c.current_url().await.unwrap();
    let segments: Vec<&str> = url.path_segments().unwrap().collect();
    let [_, found_iid, "console", "apps", app_id, "sso"] = segments.as_slice() else {
        panic!("not the Single Sign-On tab of a new app: {url}");
    };
    assert_eq!(*found_iid, iid);
    let app_id = (*app_id).to_owned();
    let text = body_text(c).await;
    assert!(text.contains(CLOUD_SSO), "{text}");
    assert!(text.contains("Sign-on › Single Sign-On"), "{text}");

    // Enable Single Sign-On Configuration; CloudSSO ACS URL and Entity ID; Application Username =
    // IDaaS account name; Authorization Scope = All Users; Save.
    let toggle = find(
        c,
        Locator::XPath(
            "//label[contains(normalize-space(), 'Single Sign-On Configuration')]\
             /input[@type='checkbox']",
        ),
    )
    .await;
    if !toggle.is_selected().await.unwrap() {
        toggle.click().await.unwrap();
    }
    type_into(&labelled(c, "CloudSSO ACS URL").await, CLOUDSSO_ACS).await;
    type_into(&labelled(c, "CloudSSO Entity ID").await, CLOUDSSO_ENTITY).await;
    labelled(c, "Application Username")
        .await
        .select_by_label("IDaaS account name")
        .await
        .unwrap();
    let all_users = "//fieldset[legend[normalize-space()='Authorization Scope']]\
                     //label[normalize-space()='All Users']/input[@type='radio']";
    find(c, Locator::XPath(all_users))
        .await
        .click()
        .await
        .unwrap();
    click_button(c, "Save").await;
    on_page(
        c,
        &format!("/apps/{app_id}/sso"),
        Locator::XPath("//p[@role='status'][normalize-space()='Saved.']"),
    )
    .await;
    assert!(
        c.find(Locator::Css("[role=alert]")).await.is_err(),
        "Save showed an error: {}",
        body_text(c).await
    );

    // Back to Applications: the app is listed with SSO enabled; its Sign-on page shows what we saved.
    find(c, Locator::LinkText("Applications"))
        .await
        .click()
        .await
        .unwrap();
    // The demo already has a "Cloud SSO" application of the same name: find ours by its link.
    let row = format!("//tr[.//a[contains(@href, '/apps/{app_id}/sso')]]");
    let row_el = on_page(c, "/console/apps", Locator::XPath(&row)).await;
    let cells: Vec<String> = {
        let mut v = Vec::new();
        for td in row_el.find_all(Locator::Css("td")).await.unwrap() {
            v.push(td.text().await.unwrap());
        }
        v
    };
    assert_eq!(cells[1], CLOUD_SSO, "template column: {cells:?}");
    assert_eq!(cells[3], "Enabled", "SSO column: {cells:?}");
    row_el
        .find(Locator::LinkText("Sign-on"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    on_page(
        c,
        &format!("/apps/{app_id}/sso"),
        Locator::XPath("//label[normalize-space()='CloudSSO ACS URL']"),
    )
    .await;
    assert_eq!(
        value(&labelled(c, "CloudSSO ACS URL").await).await,
        CLOUDSSO_ACS
    );
    assert_eq!(
        value(&labelled(c, "CloudSSO Entity ID").await).await,
        CLOUDSSO_ENTITY
    );
    assert_eq!(
        value(&labelled(c, "Application Username").await).await,
        "username"
    );
    assert!(
        find(c, Locator::XPath(all_users))
            .await
            .is_selected()
            .await
            .unwrap()
    );
    let toggle = find(
        c,
        Locator::XPath(
            "//label[contains(normalize-space(), 'Single Sign-On Configuration')]\
             /input[@type='checkbox']",
        ),
    )
    .await;
    assert!(toggle.is_selected().await.unwrap(), "SSO toggle not saved");

    // The API agrees.
    let app: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/instances/{iid}/apps/{app_id}"))
        .bearer_auth(s(&idaas["api_token"]))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app["name"], CLOUD_SSO, "{app}");
    assert_eq!(app["saml"]["acs_url"], CLOUDSSO_ACS, "{app}");
    assert_eq!(app["saml"]["sp_entity_id"], CLOUDSSO_ENTITY, "{app}");
    assert_eq!(
        app["saml"]["application_account"],
        json!({"type": "idaas_account", "field": "username"}),
        "{app}"
    );
    assert_eq!(app["authorization_type"], "default_all", "{app}");
    assert_eq!(app["sso_status"], "enabled", "{app}");

    // Application Settings > Download: the browser saves the IdP metadata file.
    let idp_entity = find(
        c,
        Locator::XPath("//p[starts-with(normalize-space(), 'IdP Entity ID:')]/code[1]"),
    )
    .await
    .text()
    .await
    .unwrap();
    let link = find(c, Locator::Id("download-metadata")).await;
    assert_eq!(link.text().await.unwrap(), "Download");
    link.click().await.unwrap();
    let file = downloads.join(format!("idaas-{app_id}-metadata.xml"));
    let xml = until!(
        format!("the download {}", file.display()),
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.contains("EntityDescriptor"))
    );
    let idps = saml::metadata::parse_idp_metadata(&xml).unwrap();
    assert_eq!(idps.len(), 1, "{xml}");
    assert_eq!(idps[0].entity_id, idp_entity);
    assert!(
        !idps[0].signing_certs.is_empty(),
        "no signing certificate: {xml}"
    );
    assert_eq!(
        idps[0].sso_redirect_url(),
        Some(format!("{base}/login/app/{app_id}/saml2/sso").as_str())
    );
    app_id
}

/// SP-initiated and IdP-initiated SSO with the demo SP, as a user.
async fn browser_sso(c: &Client, d: &Value, cloud_sso_app: &str) {
    let idaas = &d["idaas"];
    let iid = s(&idaas["instance_id"]);
    let portal = s(&idaas["portal_url"]);
    let sp = s(&d["demo_sp"]["url"]);
    let alice = idaas["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap_or_else(|| panic!("no alice in demo.json: {d}"));

    // The admin signs out from the portal; the session cookie is gone and the console asks again.
    c.goto(portal).await.unwrap();
    on_page(
        c,
        "/portal",
        Locator::XPath("//button[normalize-space()='Sign out']"),
    )
    .await
    .click()
    .await
    .unwrap();
    let cookie = format!("gh_session_{iid}");
    until!(
        "the session cookie to go",
        async {
            let url = c.current_url().await.ok()?;
            let cookies = c.get_all_cookies().await.ok()?;
            (!url.path().ends_with("/portal") && !cookies.iter().any(|k| k.name() == cookie))
                .then_some(())
        }
        .await
    );
    c.goto(s(&idaas["console_url"])).await.unwrap();
    on_page(c, "/login", Locator::Id("username")).await;

    // SP-initiated: demo SP → IDaaS sign-in (another origin). A wrong password first: an error,
    // no Response; then the right one on the same form.
    c.goto(sp).await.unwrap();
    let signin = on_page(c, sp, Locator::Id("signin")).await;
    assert_eq!(signin.text().await.unwrap(), "Sign in with Gatehouse");
    signin.click().await.unwrap();
    sign_in(c, "alice", "not-the-password").await;
    let error = on_page(c, "/login", Locator::Css("p.error[role=alert]")).await;
    assert!(!error.text().await.unwrap().trim().is_empty());
    assert!(!c.source().await.unwrap().contains("SAMLResponse"));
    sign_in(c, "alice", s(&alice["password"])).await;

    // The auto-submitting form (script allowed only by the CSP nonce) posts the Response to the SP.
    let acs = format!("{}acs", sp);
    let welcome = on_page(c, &acs, Locator::Id("welcome")).await;
    assert_eq!(welcome.text().await.unwrap(), "Welcome, alice.");
    assert_eq!(
        sp_row(c, "Flow").await,
        "SP-initiated (InResponseTo checked)"
    );
    assert_eq!(sp_row(c, "attribute email").await, s(&alice["email"]));
    assert_post_form_under_csp(c, &format!("/i/{iid}/sso/"), &acs).await;

    // Again from the SP: the IDaaS session cookie comes along on the redirect from the SP's page,
    // so no sign-in form this time.
    c.goto(sp).await.unwrap();
    on_page(c, sp, Locator::Id("signin"))
        .await
        .click()
        .await
        .unwrap();
    let welcome = on_page(c, &acs, Locator::Id("welcome")).await;
    assert_eq!(welcome.text().await.unwrap(), "Welcome, alice.");
    assert_eq!(
        sp_row(c, "Flow").await,
        "SP-initiated (InResponseTo checked)"
    );

    // IdP-initiated: the portal lists the demo SP (and the Cloud SSO app authorized for All Users
    // in Step 1); Open lands on the SP.
    c.goto(portal).await.unwrap();
    let card = on_page(
        c,
        "/portal",
        Locator::XPath(
            "//div[contains(concat(' ', normalize-space(@class), ' '), ' app ')]\
             [strong[normalize-space()='Gatehouse Demo SP']]",
        ),
    )
    .await;
    let cloud_sso_card =
        format!("//div[@data-app-id='{cloud_sso_app}'][strong[normalize-space()='{CLOUD_SSO}']]");
    assert!(
        c.find(Locator::XPath(&cloud_sso_card)).await.is_ok(),
        "the Cloud SSO app (All Users) is not on alice's portal: {}",
        body_text(c).await
    );
    card.find(Locator::XPath(".//button[normalize-space()='Open']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let welcome = on_page(c, &acs, Locator::Id("welcome")).await;
    assert_eq!(welcome.text().await.unwrap(), "Welcome, alice.");
    assert_eq!(sp_row(c, "Flow").await, "IdP-initiated");
    assert_post_form_under_csp(c, "/launch", &acs).await;

    // HTTP-POST binding from a page on another site (the SP as http://localhost:port, IDaaS on
    // 127.0.0.1): Chromium leaves the SameSite=Lax session cookie off that POST, so IDaaS parks
    // the request and answers it on a same-site GET, where the cookie comes along; no sign-in.
    // The AuthnRequest is one the demo SP issued (so it expects the InResponseTo), re-sent with
    // the POST binding, as an SP using that binding would.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects.get(format!("{sp}login")).send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (sso_url, query) = location.split_once('?').unwrap();
    let xml = saml::binding::decode_redirect(query).unwrap().xml;
    let other_site = sp.replace("://127.0.0.1:", "://localhost:");
    assert_ne!(other_site, sp, "the demo SP is not on 127.0.0.1: {sp}");
    c.goto(&other_site).await.unwrap();
    on_page(c, &other_site, Locator::Id("signin")).await;
    browser_events(c).await;
    c.execute(
        "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];\
         const i = document.createElement('input'); i.type = 'hidden'; i.name = 'SAMLRequest';\
         i.value = arguments[1]; f.appendChild(i); document.body.appendChild(f); f.submit();",
        vec![json!(sso_url), json!(saml::binding::encode_post(&xml))],
    )
    .await
    .unwrap();
    let welcome = on_page(c, &acs, Locator::Id("welcome")).await;
    assert_eq!(welcome.text().await.unwrap(), "Welcome, alice.");
    assert_eq!(
        sp_row(c, "Flow").await,
        "SP-initiated (InResponseTo checked)"
    );
    let events = assert_post_form_under_csp(c, &format!("/i/{iid}/sso/"), &acs).await;
    let cookie_blocked_on_post = events.iter().any(|e| {
        e["method"] == "Network.requestWillBeSentExtraInfo"
            && e["params"]["associatedCookies"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter().any(|k| {
                        k["cookie"]["name"] == cookie.as_str()
                            && k["blockedReasons"].to_string().contains("SameSiteLax")
                    })
                })
    });
    assert!(
        cookie_blocked_on_post,
        "Chromium did not treat the POST from {other_site} as cross-site (no SameSiteLax block)"
    );
    let continued = events.iter().any(|e| {
        e["method"] == "Network.requestWillBeSent"
            && e["params"]["request"]["url"]
                .as_str()
                .is_some_and(|u| u.contains(&format!("/i/{iid}/sso/")))
    });
    assert!(
        continued,
        "IDaaS did not continue on /i/{iid}/sso/: {events:#?}"
    );
}
