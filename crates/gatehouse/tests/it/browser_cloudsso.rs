//! Step 2 of the seed procedure in a real headless Chromium: an administrator signs in to the Cloud
//! SSO console with the demo's API token, opens Settings > SSO Logon, finds the ACS URL and Entity
//! ID to copy, turns SSO off (confirming) so the portal shows the password form, uploads the IdP
//! metadata file downloaded from IDaaS through the file input, and turns SSO back on so the logon
//! URL sends the browser to IDaaS.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver like `browser.rs` (same overrides, same SKIP
//! rule); the driver helpers are shared with it in `chromium.rs`.

use std::path::Path;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{
    body_text, click_button, find, on_page, open_browser, peers, s, start_driver,
};
use crate::support::{Ports, start_up, temp_dir};

async fn text_of(c: &Client, id: &str) -> String {
    find(c, Locator::Id(id)).await.text().await.unwrap()
}

/// Clicks the SSO switch button `label`, checks the confirmation says `warning`, clicks OK.
async fn switch_sso(c: &Client, label: &str, warning: &str, done: &str) {
    click_button(c, label).await;
    on_page(
        c,
        "/settings/sso",
        Locator::XPath("//button[normalize-space()='OK']"),
    )
    .await;
    let text = body_text(c).await;
    assert!(
        text.contains(warning),
        "confirmation lacks {warning:?}: {text}"
    );
    click_button(c, "OK").await;
    on_page(c, &format!("done={done}"), Locator::Id("sso-status")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_cloudsso_console_step_2() {
    let Some((chromium, chromedriver)) = peers() else {
        return;
    };
    let dir = temp_dir("browser-cloudsso");
    let up = start_up(&dir.join("data"), Ports::free(), &[]).await;
    let driver = start_driver(&chromedriver, &dir).await;
    let client = open_browser(&driver, &chromium, &dir).await;

    let (c, demo, work) = (client.clone(), up.demo.clone(), dir.clone());
    let outcome = tokio::spawn(async move { console_step_2(&c, &demo, &work).await }).await;

    if let Err(e) = outcome {
        let shot = dir.join("failure.png");
        if let Ok(png) = client.screenshot().await {
            std::fs::write(&shot, png).unwrap();
            eprintln!("browser screenshot: {}", shot.display());
        }
        if let Ok(url) = client.current_url().await {
            eprintln!("browser was at {url}");
        }
        if let Ok(html) = client.source().await {
            let page = dir.join("failure.html");
            std::fs::write(&page, html).unwrap();
            eprintln!("page source: {}", page.display());
        }
        eprintln!("gatehouse data: {}", up.data_dir.display());
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

async fn console_step_2(c: &Client, d: &Value, work: &Path) {
    let cs = &d["cloudsso"];
    let base = s(&cs["base_url"]);
    let portal = s(&cs["portal_url"]);
    let idaas_base = s(&d["idaas"]["base_url"]);

    // Log on to the Cloud SSO console: without a session it asks for the admin API token.
    c.goto(&format!("{base}/console")).await.unwrap();
    let token = on_page(c, "/console/login", Locator::Id("api_token")).await;
    token.send_keys(s(&cs["api_token"])).await.unwrap();
    click_button(c, "Sign in").await;

    // The overview lists the directory and its User Logon URL; Settings > SSO Logon.
    on_page(
        c,
        "/console",
        Locator::XPath("//h2[normalize-space()='Directories']"),
    )
    .await;
    let text = body_text(c).await;
    assert!(text.contains(s(&cs["directory_name"])), "{text}");
    assert!(text.contains(portal), "{text}");
    find(c, Locator::LinkText("Settings"))
        .await
        .click()
        .await
        .unwrap();
    on_page(
        c,
        "/settings",
        Locator::XPath("//h2[normalize-space()='SSO Logon']"),
    )
    .await;

    // The SP information to copy is what the IdP was given.
    assert_eq!(text_of(c, "acs-url").await, s(&cs["acs_url"]));
    assert_eq!(text_of(c, "sp-entity-id").await, s(&cs["sp_entity_id"]));
    assert_eq!(text_of(c, "sso-status").await, "Enabled");

    // Turn SSO off: the confirmation says password logon comes back; the portal asks for a password.
    switch_sso(
        c,
        "Disable SSO",
        "Disabling SSO restores username-password logon",
        "sso_off",
    )
    .await;
    assert_eq!(text_of(c, "sso-status").await, "Disabled");
    assert_eq!(text_of(c, "password-logon-status").await, "Enabled");
    let settings = c.current_url().await.unwrap();
    c.goto(portal).await.unwrap();
    on_page(c, "/login", Locator::Id("password")).await;
    find(c, Locator::Id("username")).await;

    // Configure Identity Provider: upload the metadata file downloaded from IDaaS.
    let app = d["idaas"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["template"] == "apt_cloudsso_saml")
        .unwrap_or_else(|| panic!("no Cloud SSO application in demo.json"));
    let resp = reqwest::get(s(&app["metadata_url"])).await.unwrap();
    assert!(
        resp.status().is_success(),
        "IdP metadata: {}",
        resp.status()
    );
    let metadata = resp.text().await.unwrap();
    let file = work.join("idaas-idp-metadata.xml");
    std::fs::write(&file, &metadata).unwrap();
    c.goto(settings.as_str()).await.unwrap();
    let input = on_page(c, "/settings", Locator::Id("metadata-file")).await;
    input.send_keys(&file.display().to_string()).await.unwrap();
    click_button(c, "Upload metadata").await;
    on_page(c, "done=metadata", Locator::Id("idp-entity-id")).await;
    let login_url = text_of(c, "idp-login-url").await;
    assert!(
        login_url.starts_with(&format!("{idaas_base}/login/app/")),
        "IdP logon URL {login_url}"
    );

    // Turn SSO back on: the confirmation says password logon stops; the logon URL goes to IDaaS.
    switch_sso(
        c,
        "Enable SSO",
        "Enabling SSO disables username-password logon",
        "sso_on",
    )
    .await;
    assert_eq!(text_of(c, "sso-status").await, "Enabled");
    assert_eq!(text_of(c, "password-logon-status").await, "Disabled");
    c.goto(portal).await.unwrap();
    on_page(c, idaas_base, Locator::Id("username")).await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.as_str().contains("/login"),
        "not at the IDaaS sign-in: {url}"
    );

    // Sign out of the console.
    c.goto(settings.as_str()).await.unwrap();
    on_page(c, "/settings", Locator::Id("sso-status")).await;
    click_button(c, "Sign out").await;
    on_page(c, "/console/login", Locator::Id("api_token")).await;
}
