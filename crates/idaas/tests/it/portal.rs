//! The user portal (authorized apps, RelayState links, IdP-initiated launch rules) and the admin
//! console pages of Step 1 of the Cloud SSO guide.

use serde_json::json;

use crate::saml_negative::{SP_ACS, SP_ENTITY, saml_app};
use crate::signin::{Idp, PASSWORD, input_value, response_xml, saml_post_form};
use crate::support::send;

async fn run_portal(idp: Idp) {
    idp.user("alice").await;
    let visible = saml_app(
        &idp,
        json!({ "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS, "default_relay_state": "https://sp.example/home",
                "init_login_type": "idaas_or_app_init_sso",
                "optional_relay_states": [{ "display_name": "Billing", "relay_state": "https://sp.example/billing" }] }),
        "default_all",
    )
    .await;
    let hidden = saml_app(&idp, json!({ "sp_entity_id": "https://hidden.example", "acs_url": "https://hidden.example/acs", "init_login_type": "idaas_or_app_init_sso" }), "authorize_required").await;
    let sso_off = saml_app(
        &idp,
        json!({ "sp_entity_id": "https://off.example", "acs_url": "https://off.example/acs" }),
        "default_all",
    )
    .await;
    send(idp.api(
        reqwest::Method::POST,
        &format!("/apps/{sso_off}/sso/disable"),
    ))
    .await;
    let app_only = saml_app(
        &idp,
        json!({ "sp_entity_id": "https://apponly.example", "acs_url": "https://apponly.example/acs", "init_login_type": "only_app_init_sso", "init_login_url": "https://apponly.example/start" }),
        "default_all",
    )
    .await;
    // IdP-initiated SSO is opt-in: a new application without a choice accepts only SP-initiated.
    let by_default = saml_app(
        &idp,
        json!({ "sp_entity_id": "https://default.example", "acs_url": "https://default.example/acs" }),
        "default_all",
    )
    .await;
    let (_, app) = send(idp.api(reqwest::Method::GET, &format!("/apps/{by_default}"))).await;
    assert_eq!(app["saml"]["init_login_type"], "only_app_init_sso", "{app}");
    let b = idp.browser();
    b.sign_in(&idp.iid, "alice", PASSWORD, None).await;
    let portal = b.get(&format!("/i/{}/portal", idp.iid)).await;
    let card = |id: &str| {
        let at = portal.body.find(&format!("data-app-id=\"{id}\"")).unwrap();
        portal.body[at..at + portal.body[at..].find("</div>").unwrap()].to_owned()
    };
    assert!(card(&visible).contains("/launch"), "{}", card(&visible));
    let default_card = card(&by_default);
    assert!(!default_card.contains("/launch"), "{default_card}");
    assert!(default_card.contains("Open this application from the application itself"));
    let only_card = card(&app_only);
    assert!(!only_card.contains("/launch"), "{only_card}");
    assert!(
        only_card.contains("href=\"https://apponly.example/start\""),
        "{only_card}"
    );
    assert_eq!(portal.status, 200);
    assert!(portal.body.contains(&format!("data-app-id=\"{visible}\"")));
    assert!(portal.body.contains(&format!("data-app-id=\"{app_only}\"")));
    assert!(!portal.body.contains(&hidden), "not authorized: not shown");
    assert!(!portal.body.contains(&sso_off), "SSO disabled: not shown");
    assert!(portal.body.contains("Billing"));
    let csrf = input_value(&portal.body, "csrf").unwrap();
    let launch = |app: &str| format!("/i/{}/portal/apps/{app}/launch", idp.iid);
    // Optional RelayState from the app's list.
    let page = b
        .post(
            &launch(&visible),
            &[
                ("csrf", &csrf),
                ("relay_state", "https://sp.example/billing"),
            ],
        )
        .await;
    let (_, resp, relay) = saml_post_form(&page.body).unwrap();
    assert_eq!(relay.as_deref(), Some("https://sp.example/billing"));
    assert!(!response_xml(&resp).contains("InResponseTo"));
    // A RelayState not in the list is refused (never used as an open redirect).
    let page = b
        .post(
            &launch(&visible),
            &[("csrf", &csrf), ("relay_state", "https://evil.example")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(!page.body.contains("SAMLResponse"));
    // Without the CSRF token: refused.
    assert_eq!(
        b.post(&launch(&visible), &[("csrf", "nope")]).await.status,
        403
    );
    // Not authorized / SSO disabled: no assertion.
    let page = b.post(&launch(&hidden), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 403);
    assert!(!page.body.contains("SAMLResponse"));
    assert_eq!(
        b.post(&launch(&sso_off), &[("csrf", &csrf)]).await.status,
        403
    );
    // Not opted in and no InitLoginUrl: a launch yields no assertion.
    let page = b.post(&launch(&by_default), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
    // App-initiated only: the portal sends the user to the app's sign-in URL instead.
    let page = b.post(&launch(&app_only), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("https://apponly.example/start")
    );
    idp.stop().await;
}
crate::both_idps!(portal_apps_and_launch, run_portal);

async fn run_console_step1(idp: Idp) {
    idp.user_with("admin", true).await;
    idp.user("alice").await;
    let b = idp.browser();
    // Non-admins do not get the console.
    let u = idp.browser();
    u.sign_in(&idp.iid, "alice", PASSWORD, None).await;
    assert_eq!(
        u.get(&format!("/i/{}/console/apps", idp.iid)).await.status,
        403
    );
    b.sign_in(&idp.iid, "admin", PASSWORD, None).await;
    // Applications > Add Application > search the marketplace.
    let apps = b.get(&format!("/i/{}/console/apps", idp.iid)).await;
    assert_eq!(apps.status, 200);
    assert!(apps.body.contains("Add Application"));
    let market = b
        .get(&format!(
            "/i/{}/console/apps/marketplace?q=Alibaba+Cloud+-+Cloud+SSO",
            idp.iid
        ))
        .await;
    assert!(
        market
            .body
            .contains("data-template-id=\"apt_cloudsso_saml\"")
    );
    // Confirm the name and Add.
    let confirm = b
        .get(&format!(
            "/i/{}/console/apps/new?template_id=apt_cloudsso_saml",
            idp.iid
        ))
        .await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("SAML 2.0"));
    let csrf = input_value(&confirm.body, "csrf").unwrap();
    // An invalid name shows the form again with what was typed and the error (nothing created).
    let long_name = "N".repeat(200);
    let refused = b
        .post(
            &format!("/i/{}/console/apps", idp.iid),
            &[
                ("csrf", &csrf),
                ("template_id", "apt_cloudsso_saml"),
                ("name", &long_name),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    assert_eq!(
        input_value(&refused.body, "name").as_deref(),
        Some(&*long_name)
    );
    let (_, none) = send(idp.api(reqwest::Method::GET, "/apps")).await;
    assert_eq!(none.as_array().unwrap().len(), 0, "{none}");
    // Add: 303 to the new app's Single Sign-On tab with a one-shot notice.
    let created = b
        .post(
            &format!("/i/{}/console/apps", idp.iid),
            &[
                ("csrf", &csrf),
                ("template_id", "apt_cloudsso_saml"),
                ("name", "Alibaba Cloud - Cloud SSO"),
            ],
        )
        .await;
    assert_eq!(created.status, 303);
    let created_at = created.location.unwrap();
    let tab_path = created_at.strip_suffix("?created=1").unwrap().to_owned();
    assert!(tab_path.ends_with("/sso"), "{tab_path}");
    let app_id = tab_path.split('/').nth(5).unwrap().to_owned();
    // Sign-on > Single Sign-On tab with the template's labels; download the metadata.
    let tab = b.get(&created_at).await;
    assert_eq!(tab.status, 200);
    assert!(tab.body.contains("Application added."), "{}", tab.body);
    let tab = b.get(&tab_path).await;
    assert_eq!(tab.status, 200);
    assert!(
        !tab.body.contains("role=\"status\""),
        "no notice without the flag"
    );
    for label in [
        "CloudSSO ACS URL",
        "CloudSSO Entity ID",
        "Application Username",
        "All Users",
        "Manually",
        "Download",
    ] {
        assert!(tab.body.contains(label), "missing {label}");
    }
    let md = b
        .get(&format!("/api/v2/{app_id}/saml2/meta?download=1"))
        .await;
    assert_eq!(md.status, 200);
    assert!(
        md.headers
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(saml::metadata::parse_idp_metadata(&md.body).is_ok());
    // Paste Cloud SSO's ACS URL and Entity ID, All Users, Save.
    let csrf = input_value(&tab.body, "csrf").unwrap();
    let saved = b
        .post(
            &tab_path,
            &[
                ("csrf", &csrf),
                ("sso_enabled", "1"),
                (
                    "acs_url",
                    "https://signin-cn-shanghai.alibabacloudsso.com/saml/acs/6f1b",
                ),
                (
                    "sp_entity_id",
                    "https://signin-cn-shanghai.alibabacloudsso.com/saml/sp/d-0001",
                ),
                ("application_account", "username"),
                ("authorization_type", "default_all"),
            ],
        )
        .await;
    // Save answers 303 See Other to the tab, which then shows "Saved." (once: not on a plain GET).
    assert_eq!(saved.status, 303, "{}", saved.body);
    let saved_at = saved.location.unwrap();
    assert_eq!(saved_at, format!("{tab_path}?saved=1"));
    let after = b.get(&saved_at).await;
    assert_eq!(after.status, 200);
    assert!(after.body.contains("Saved."), "{}", after.body);
    assert!(!b.get(&tab_path).await.body.contains("Saved."));
    // IdP-initiated SSO is off until chosen in the form; then the API shows the choice.
    let (_, app) = send(idp.api(reqwest::Method::GET, &format!("/apps/{app_id}"))).await;
    assert_eq!(app["saml"]["init_login_type"], "only_app_init_sso");
    assert!(
        after.body.contains("value=\"only_app_init_sso\" checked"),
        "{}",
        after.body
    );
    let csrf = input_value(&after.body, "csrf").unwrap();
    let saved = b
        .post(
            &tab_path,
            &[
                ("csrf", &csrf),
                ("sso_enabled", "1"),
                (
                    "acs_url",
                    "https://signin-cn-shanghai.alibabacloudsso.com/saml/acs/6f1b",
                ),
                (
                    "sp_entity_id",
                    "https://signin-cn-shanghai.alibabacloudsso.com/saml/sp/d-0001",
                ),
                ("application_account", "username"),
                ("init_login_type", "idaas_or_app_init_sso"),
                (
                    "init_login_url",
                    "https://signin-cn-shanghai.alibabacloudsso.com/start",
                ),
                ("authorization_type", "default_all"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, app) = send(idp.api(reqwest::Method::GET, &format!("/apps/{app_id}"))).await;
    assert_eq!(
        app["saml"]["init_login_type"], "idaas_or_app_init_sso",
        "{app}"
    );
    assert_eq!(
        app["saml"]["init_login_url"],
        "https://signin-cn-shanghai.alibabacloudsso.com/start"
    );
    // The Applications list labels the switches.
    let list = b.get(&format!("/i/{}/console/apps", idp.iid)).await;
    assert!(
        list.body.contains("<td>Enabled</td><td>Enabled</td>"),
        "{}",
        list.body
    );
    assert!(!list.body.contains(">enabled<"), "{}", list.body);
    let (_, app) = send(idp.api(reqwest::Method::GET, &format!("/apps/{app_id}"))).await;
    assert_eq!(
        app["saml"]["acs_url"],
        "https://signin-cn-shanghai.alibabacloudsso.com/saml/acs/6f1b"
    );
    assert_eq!(app["authorization_type"], "default_all");
    assert_eq!(app["sso_status"], "enabled");
    // A bad value shows the error and keeps the stored configuration.
    let bad = b
        .post(
            &tab_path,
            &[
                ("csrf", &csrf),
                ("sso_enabled", "1"),
                ("acs_url", "not a url"),
                ("sp_entity_id", "x"),
                ("authorization_type", "default_all"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""), "{}", bad.body);
    assert!(bad.body.contains("ACS URL"));
    // The form shows what was submitted, not the stored values.
    assert_eq!(
        input_value(&bad.body, "acs_url").as_deref(),
        Some("not a url")
    );
    assert_eq!(input_value(&bad.body, "sp_entity_id").as_deref(), Some("x"));
    let (_, app) = send(idp.api(reqwest::Method::GET, &format!("/apps/{app_id}"))).await;
    assert_eq!(
        app["saml"]["acs_url"], "https://signin-cn-shanghai.alibabacloudsso.com/saml/acs/6f1b",
        "a refused Save changes nothing"
    );
    // The saved app works for SSO right away, with the lower-cased account name.
    let alice = idp.browser();
    alice.sign_in(&idp.iid, "alice", PASSWORD, None).await;
    let req = crate::saml_negative::authn_request(
        "_c1",
        "https://signin-cn-shanghai.alibabacloudsso.com/saml/sp/d-0001",
        None,
        "",
        "",
    );
    let page = alice
        .get(&crate::saml_negative::redirect_path(&app_id, &req, None))
        .await;
    let xml = response_xml(&saml_post_form(&page.body).expect("SSO after Save").1);
    assert!(xml.contains(">alice</saml:NameID>"));
    // Convert to the standard template from the console.
    let conv = b
        .post(
            &format!("/i/{}/console/apps/{app_id}/convert", idp.iid),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(conv.status, 303, "{}", conv.body);
    let conv_at = conv.location.unwrap();
    assert_eq!(conv_at, format!("{tab_path}?converted=1"));
    let page = b.get(&conv_at).await;
    assert!(
        page.body
            .contains("Converted to the standard SAML template.")
    );
    assert!(page.body.contains("NameID format"));
    // Converting again is refused on the page.
    let again = b
        .post(
            &format!("/i/{}/console/apps/{app_id}/convert", idp.iid),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(
        again
            .body
            .contains("already uses the standard SAML template")
    );
    // Forms without the CSRF token are refused.
    assert_eq!(
        b.post(
            &tab_path,
            &[("csrf", "forged"), ("acs_url", "https://x/acs")]
        )
        .await
        .status,
        403
    );
    idp.stop().await;
}
crate::both_idps!(console_cloud_sso_step1, run_console_step1);
