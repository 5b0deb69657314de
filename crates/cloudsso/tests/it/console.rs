//! The console over HTTP: sign-in with an admin API token, CSRF on every form, Settings > SSO
//! Logon (metadata upload, several IdPs, manual configuration, the SSO switch and its
//! confirmation, options, Clear IdP), and the login CSRF token of the portal's password form.

use base64::Engine;
use cloudsso::audit::Actor;
use cloudsso::directory::{BindingType, Directory, DirectorySettingsPatch};
use cloudsso::password_logon::MfaSetting;
use cloudsso::user::{NewUser, UserName, UserStatus};

use crate::acs::idp_key;
use crate::both_servers;
use crate::support::{TestServer, metadata_fixtures};

const PW: &str = "Correct-Horse-7";

/// A client with a cookie jar that does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `value` of the first input named `name`.
fn input_value(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no input {name} in:\n{html}"))
        + key.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&amp;", "&")
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A directory with user alice (password `PW`) and MFA off, and a token for it.
async fn setup(srv: &TestServer, name: &str) -> (Directory, String) {
    let s = &srv.services;
    let d = srv.directory(name).await;
    s.update_directory_settings(
        &Actor::system(),
        &d.id,
        DirectorySettingsPatch {
            mfa_setting: Some(MfaSetting::Disabled),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.create_user(
        &Actor::system(),
        &d.id,
        NewUser {
            user_name: UserName::try_from("alice".to_owned()).unwrap(),
            display_name: "Alice".into(),
            email: None,
            first_name: String::new(),
            last_name: String::new(),
            description: String::new(),
            status: UserStatus::Enabled,
            password: Some(PW.into()),
            mfa_required: false,
        },
    )
    .await
    .unwrap();
    let token = s
        .create_api_token(
            &Actor::system(),
            Some(&d.id),
            "console".to_owned().try_into().unwrap(),
            None,
        )
        .await
        .unwrap();
    (s.get_directory(&d.id).await.unwrap(), token.secret)
}

/// Signs `b` in to the console with `token`; returns the session's CSRF token.
async fn console_login(srv: &TestServer, b: &reqwest::Client, token: &str) -> String {
    let html = b
        .get(srv.url("/console/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf");
    let resp = b
        .post(srv.url("/console/login"))
        .form(&[("csrf", csrf.as_str()), ("api_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/console");
    let html = b
        .get(srv.url("/console"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    input_value(&html, "csrf")
}

/// IdP metadata for `entity` signing with `cert_b64` (one EntityDescriptor).
fn idp_entity(entity: &str, cert_b64: &str) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{entity}/sso"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{entity}/sso-post"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// A multipart/form-data body (text fields, then the file as `metadata`).
fn multipart(fields: &[(&str, &str)], file: Option<&str>) -> (String, Vec<u8>) {
    let boundary = "----gatehouse-test-boundary-7f3a";
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    if let Some(xml) = file {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"; filename=\"idp.xml\"\r\n\
             Content-Type: text/xml\r\n\r\n{xml}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

async fn upload(
    srv: &TestServer,
    b: &reqwest::Client,
    d: &Directory,
    fields: &[(&str, &str)],
    file: Option<&str>,
) -> reqwest::Response {
    let (ct, body) = multipart(fields, file);
    b.post(srv.url(&format!(
        "/console/directories/{}/settings/idp/metadata",
        d.id
    )))
    .header("content-type", ct)
    .body(body)
    .send()
    .await
    .unwrap()
}

async fn post_form(
    srv: &TestServer,
    b: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    b.post(srv.url(path)).form(form).send().await.unwrap()
}

/// A password logon through the portal form (GET for the CSRF token, then POST).
async fn password_logon(srv: &TestServer, d: &Directory) -> reqwest::Response {
    let b = browser();
    let resp = b
        .get(srv.url(&format!("/{}/login", d.name)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "no password form while SSO is off");
    let html = resp.text().await.unwrap();
    let csrf = input_value(&html, "csrf");
    post_form(
        srv,
        &b,
        &format!("/{}/login", d.name),
        &[("csrf", &csrf), ("username", "alice"), ("password", PW)],
    )
    .await
}

both_servers!(console_sign_in_and_csrf, |srv| {
    let (d, token) = setup(&srv, "console-auth").await;
    let other = srv.directory("console-other").await;
    let b = browser();

    // No session: pages send to the sign-in page, forms are refused.
    let resp = b.get(srv.url("/console")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/console/login");
    let settings = format!("/console/directories/{}/settings", d.id);
    let resp = b.get(srv.url(&settings)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/sso"),
        &[("sso_enabled", "false"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), 401);

    // The sign-in form needs its login CSRF token.
    let resp = browser()
        .post(srv.url("/console/login"))
        .form(&[("csrf", "lcsrf_forged"), ("api_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("gh_cs_console="))
    );

    // A wrong token is refused.
    let html = b
        .get(srv.url("/console/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let login_csrf = input_value(&html, "csrf");
    let resp = post_form(
        &srv,
        &b,
        "/console/login",
        &[("csrf", &login_csrf), ("api_token", "ght_wrong")],
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Invalid or expired API token")
    );

    // The directory token signs in; the overview shows the directory and its User Logon URL.
    let csrf = console_login(&srv, &b, &token).await;
    let html = b
        .get(srv.url("/console"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("console-auth"), "{html}");
    assert!(html.contains(&srv.services.portal_url(&d)), "{html}");
    assert!(!html.contains("console-other"), "{html}");
    // /console/settings goes to the only directory.
    let resp = b.get(srv.url("/console/settings")).send().await.unwrap();
    assert_eq!(location(&resp), settings);
    // Another directory does not exist for this token.
    let resp = b
        .get(srv.url(&format!("/console/directories/{}/settings", other.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Every form needs the session's CSRF token.
    for (path, form) in [
        (
            format!("{settings}/sso"),
            vec![("sso_enabled", "true"), ("confirm", "yes")],
        ),
        (format!("{settings}/idp/clear"), vec![]),
        (
            format!("{settings}/idp/manual"),
            vec![("entity_id", "https://evil.example")],
        ),
        (
            format!("{settings}/options"),
            vec![("binding_type", "Redirect")],
        ),
        ("/console/logout".to_owned(), vec![]),
    ] {
        let mut with_wrong = form.clone();
        with_wrong.push(("csrf", "csrf_wrong"));
        for f in [form, with_wrong] {
            let resp = post_form(&srv, &b, &path, &f).await;
            assert_eq!(resp.status(), 403, "{path} {f:?}");
        }
    }
    let resp = upload(&srv, &b, &d, &[], Some("<x/>")).await;
    assert_eq!(resp.status(), 403);
    let resp = upload(&srv, &b, &d, &[("csrf", "csrf_wrong")], Some("<x/>")).await;
    assert_eq!(resp.status(), 403);
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert!(info.entity_id.is_none() && !info.sso_enabled);

    // The console session also serves the admin API, with the X-CSRF-Token header.
    let api = format!("/api/v1/directories/{}/saml/sp", d.id);
    assert_eq!(b.get(srv.url(&api)).send().await.unwrap().status(), 200);

    // Sign out: the session is gone.
    let resp = post_form(&srv, &b, "/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/console/login");
    let resp = b.get(srv.url("/console")).send().await.unwrap();
    assert_eq!(location(&resp), "/console/login");
    assert_eq!(b.get(srv.url(&api)).send().await.unwrap().status(), 401);
});

both_servers!(console_sso_logon_settings, |srv| {
    let (d, token) = setup(&srv, "console-sso").await;
    let b = browser();
    let csrf = console_login(&srv, &b, &token).await;
    let settings = format!("/console/directories/{}/settings", d.id);

    // The SP information to copy.
    let html = b
        .get(srv.url(&settings))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sp = srv.services.sp_info(&d);
    assert!(
        html.contains(&format!("<code id=\"acs-url\">{}</code>", sp.acs_url)),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<code id=\"sp-entity-id\">{}</code>",
            sp.entity_id
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/saml/sp/{}/metadata\"", d.id)),
        "{html}"
    );
    assert!(html.contains("enctype=\"multipart/form-data\""));

    // Enabling SSO before an IdP is configured is refused (on the page, with the reason).
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/sso"),
        &[("csrf", &csrf), ("sso_enabled", "true"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("configure the identity provider")
    );

    // Upload a metadata file.
    let (_, cert) = idp_key();
    let xml = idp_entity("https://idp.one.test", &cert.to_base64());
    let resp = upload(&srv, &b, &d, &[("csrf", &csrf)], Some(&xml)).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{settings}?done=metadata"));
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert_eq!(info.entity_id.as_deref(), Some("https://idp.one.test"));
    assert!(info.from_metadata);
    let html = b
        .get(srv.url(&format!("{settings}?done=metadata")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("The IdP metadata was uploaded."));
    assert!(html.contains("https://idp.one.test"));
    assert!(html.contains(&info.certificates[0].fingerprint), "{html}");
    let expiry = cert
        .not_after()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(html.contains(&expiry), "expiry {expiry} not shown");

    // Password logon works while SSO is off.
    assert_eq!(password_logon(&srv, &d).await.status(), 303);

    // The switch: without confirmation nothing changes and the warning is shown.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/sso"),
        &[("csrf", &csrf), ("sso_enabled", "true")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Enabling SSO disables username-password logon"),
        "{html}"
    );
    assert_eq!(input_value(&html, "confirm"), "yes");
    assert!(!srv.services.get_idp_info(&d.id).await.unwrap().sso_enabled);
    // Confirmed: SSO on.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/sso"),
        &[("csrf", &csrf), ("sso_enabled", "true"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(srv.services.get_idp_info(&d.id).await.unwrap().sso_enabled);

    // Password logon is refused: no form, and a posted password opens no session.
    let resp = browser()
        .get(srv.url(&format!("/{}/login", d.name)))
        .send()
        .await
        .unwrap();
    // (BindingType Post, the default: the auto-submitted AuthnRequest form, no password form.)
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("action=\"https://idp.one.test/sso-post\""),
        "{html}"
    );
    assert!(!html.contains("name=\"password\""), "{html}");
    let resp = post_form(
        &srv,
        &browser(),
        &format!("/{}/login", d.name),
        &[("username", "alice"), ("password", PW)],
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("gh_cs_portal_"))
    );
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Password logon is disabled")
    );

    // Clear IdP is refused while SSO is on.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/idp/clear"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("disable SSO before clearing")
    );
    assert!(
        srv.services
            .get_idp_info(&d.id)
            .await
            .unwrap()
            .entity_id
            .is_some()
    );

    // Disabling (confirmed) restores password logon.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/sso"),
        &[("csrf", &csrf), ("sso_enabled", "false")],
    )
    .await;
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Disabling SSO restores username-password logon")
    );
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/sso"),
        &[
            ("csrf", &csrf),
            ("sso_enabled", "false"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{settings}?done=sso_off"));
    let resp = password_logon(&srv, &d).await;
    assert_eq!(resp.status(), 303);
    assert!(
        set_cookies(&resp)
            .iter()
            .any(|c| c.starts_with("gh_cs_portal_"))
    );

    // Options: WantRequestSigned and BindingType.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/options"),
        &[
            ("csrf", &csrf),
            ("want_request_signed", "true"),
            ("binding_type", "Redirect"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert!(info.want_request_signed);
    assert_eq!(info.binding_type, BindingType::Redirect);
    assert_eq!(info.login_url.as_deref(), Some("https://idp.one.test/sso"));
    // An unchecked box turns WantRequestSigned off.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/options"),
        &[("csrf", &csrf), ("binding_type", "Redirect")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(
        !srv.services
            .get_idp_info(&d.id)
            .await
            .unwrap()
            .want_request_signed
    );
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/options"),
        &[("csrf", &csrf), ("binding_type", "Sideways")],
    )
    .await;
    assert_eq!(resp.status(), 400);

    // Manual configuration: a new certificate replaces the old one.
    let (_, cert2) = idp_key();
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/idp/manual"),
        &[
            ("csrf", &csrf),
            ("entity_id", "https://idp.manual.test"),
            ("login_url", "https://idp.manual.test/sso"),
            ("x509_certificate", &cert2.to_pem()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert_eq!(info.entity_id.as_deref(), Some("https://idp.manual.test"));
    assert_eq!(info.certificates.len(), 1);
    assert_eq!(info.certificates[0].fingerprint, cert2.sha256_fingerprint());
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/idp/manual"),
        &[("csrf", &csrf), ("login_url", "not a url")],
    )
    .await;
    assert_eq!(resp.status(), 400);

    // Clear IdP while SSO is off.
    let resp = post_form(
        &srv,
        &b,
        &format!("{settings}/idp/clear"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert!(info.entity_id.is_none() && info.certificates.is_empty());
});

both_servers!(console_metadata_with_several_idps_asks_which, |srv| {
    let (d, token) = setup(&srv, "console-many").await;
    let b = browser();
    let csrf = console_login(&srv, &b, &token).await;
    let (_, c1) = idp_key();
    let (_, c2) = idp_key();
    let xml = format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{}{}</md:EntitiesDescriptor>",
        idp_entity("https://idp.a.test", &c1.to_base64()),
        idp_entity("https://idp.b.test", &c2.to_base64()),
    );
    let resp = upload(&srv, &b, &d, &[("csrf", &csrf)], Some(&xml)).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("type=\"radio\" name=\"entity_id\" value=\"https://idp.a.test\""),
        "{html}"
    );
    assert!(
        html.contains("type=\"radio\" name=\"entity_id\" value=\"https://idp.b.test\""),
        "{html}"
    );
    assert!(
        srv.services
            .get_idp_info(&d.id)
            .await
            .unwrap()
            .entity_id
            .is_none()
    );
    // The chooser re-posts the same file.
    let b64 = input_value(&html, "metadata_b64");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap(),
        xml.as_bytes()
    );
    let resp = upload(
        &srv,
        &b,
        &d,
        &[
            ("csrf", &csrf),
            ("metadata_b64", &b64),
            ("entity_id", "https://idp.b.test"),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status(), 303);
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert_eq!(info.entity_id.as_deref(), Some("https://idp.b.test"));
    assert_eq!(info.certificates[0].fingerprint, c2.sha256_fingerprint());

    // Not metadata at all: the page says why.
    let resp = upload(&srv, &b, &d, &[("csrf", &csrf)], Some("<nope/>")).await;
    assert_eq!(resp.status(), 400);
    // No file chosen.
    let resp = upload(&srv, &b, &d, &[("csrf", &csrf)], None).await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Choose a metadata file")
    );
});

both_servers!(console_uploads_a_real_idp_metadata_file, |srv| {
    let Some(dir) = metadata_fixtures() else {
        return;
    };
    let (d, token) = setup(&srv, "console-okta").await;
    let b = browser();
    let csrf = console_login(&srv, &b, &token).await;
    let xml = std::fs::read_to_string(dir.join("okta-idp-oktapreview.xml")).unwrap();
    let resp = upload(&srv, &b, &d, &[("csrf", &csrf)], Some(&xml)).await;
    assert_eq!(resp.status(), 303);
    let info = srv.services.get_idp_info(&d.id).await.unwrap();
    assert!(
        info.entity_id
            .as_deref()
            .is_some_and(|e| e.contains("okta")),
        "{info:?}"
    );
    assert!(!info.certificates.is_empty());
});

both_servers!(platform_token_console_sees_every_directory, |srv| {
    let a = srv.directory("console-plat-a").await;
    let _b = srv.directory("console-plat-b").await;
    let b = browser();
    console_login(&srv, &b, &srv.platform_token.clone()).await;
    let html = b
        .get(srv.url("/console"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("console-plat-a") && html.contains("console-plat-b"),
        "{html}"
    );
    // Several directories: /console/settings goes back to the overview.
    let resp = b.get(srv.url("/console/settings")).send().await.unwrap();
    assert_eq!(location(&resp), "/console");
    let resp = b
        .get(srv.url(&format!("/console/directories/{}/settings", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
});

both_servers!(portal_password_form_requires_login_csrf, |srv| {
    let (d, _) = setup(&srv, "login-csrf").await;
    let path = format!("/{}/login", d.name);
    // No token (a cross-site form): refused, no session.
    let resp = post_form(
        &srv,
        &browser(),
        &path,
        &[("username", "alice"), ("password", PW)],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("gh_cs_portal_"))
    );
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Your logon form expired")
    );
    // A token without its cookie (or with another browser's cookie): refused.
    let b = browser();
    let html = b
        .get(srv.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf");
    let resp = post_form(
        &srv,
        &browser(),
        &path,
        &[("csrf", &csrf), ("username", "alice"), ("password", PW)],
    )
    .await;
    assert_eq!(resp.status(), 403);
    let other = browser();
    other.get(srv.url(&path)).send().await.unwrap();
    let resp = post_form(
        &srv,
        &other,
        &path,
        &[("csrf", &csrf), ("username", "alice"), ("password", PW)],
    )
    .await;
    assert_eq!(resp.status(), 403);
    // The form's own token: logged on.
    let resp = post_form(
        &srv,
        &b,
        &path,
        &[("csrf", &csrf), ("username", "alice"), ("password", PW)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(
        set_cookies(&resp)
            .iter()
            .any(|c| c.starts_with("gh_cs_portal_"))
    );
});
