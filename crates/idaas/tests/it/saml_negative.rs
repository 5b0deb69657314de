//! SSO endpoint behaviour: happy paths on both bindings, parking during sign-in, and every refusal
//! (foreign ACS, unknown issuer, DOCTYPE, oversized, bad deflate/base64, signature rules, passive,
//! unauthorized/disabled/locked users, disabled apps, missing application account).

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::signin::{Browser, Idp, PASSWORD, response_xml, saml_post_form, urlencode};
use idaas::audit::Actor;
use idaas::instance::InstanceSettings;

pub const SP_ENTITY: &str = "https://sp.example/meta";
pub const SP_ACS: &str = "https://sp.example/acs";

/// Creates a standard SAML app, applies `saml` and the authorization type; returns its id.
pub async fn saml_app(idp: &Idp, saml: Value, authorization_type: &str) -> String {
    let (status, app) = crate::support::send(
        idp.api(reqwest::Method::POST, "/apps")
            .json(&json!({ "template_id": "apt_saml2_standard", "name": "Test SP" })),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let id = app["id"].as_str().unwrap().to_owned();
    let (status, body) = crate::support::send(
        idp.api(reqwest::Method::PATCH, &format!("/apps/{id}"))
            .json(&json!({ "saml": saml, "authorization_type": authorization_type })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    id
}

/// An AuthnRequest; `attrs` are extra attributes of the root, `inner` extra children after Issuer.
pub fn authn_request(
    id: &str,
    issuer: &str,
    acs: Option<&str>,
    attrs: &str,
    inner: &str,
) -> String {
    let acs = acs
        .map(|a| format!(" AssertionConsumerServiceURL=\"{a}\""))
        .unwrap_or_default();
    let now = now_instant(0);
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
         ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" \
         ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"{acs}{attrs}>\
         <saml:Issuer>{issuer}</saml:Issuer>{inner}</samlp:AuthnRequest>"
    )
}

/// Now plus `offset_secs`, as an xs:dateTime in UTC.
pub fn now_instant(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub fn sso_path(app_id: &str) -> String {
    format!("/login/app/{app_id}/saml2/sso")
}

/// `sso?SAMLRequest=…` for the Redirect binding.
pub fn redirect_path(app_id: &str, xml: &str, relay: Option<&str>) -> String {
    let q = saml::binding::encode_redirect(saml::binding::MessageParam::Request, xml, relay, None)
        .unwrap();
    format!("{}?{q}", sso_path(app_id))
}

/// The status code URIs of a Response.
pub fn statuses(xml: &str) -> Vec<String> {
    xml.match_indices("StatusCode Value=\"")
        .map(|(i, m)| {
            let rest = &xml[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

async fn signed_in(idp: &Idp, username: &str) -> Browser {
    let b = idp.browser();
    let p = b.sign_in(&idp.iid, username, PASSWORD, None).await;
    assert_eq!(p.status, 303, "{}", p.body);
    b
}

fn assert_refused(page: &crate::signin::Page, status: u16) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        !page.body.contains("SAMLResponse"),
        "no assertion may be sent: {}",
        page.body
    );
}

async fn run_sso_rules(idp: Idp) {
    idp.user("alice").await;
    let app = saml_app(
        &idp,
        json!({ "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS }),
        "default_all",
    )
    .await;
    let b = signed_in(&idp, "alice").await;

    // Happy path, Redirect binding, with RelayState.
    let page = b
        .get(&redirect_path(
            &app,
            &authn_request("_r1", SP_ENTITY, Some(SP_ACS), "", ""),
            Some("rs-1"),
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'nonce-") && csp.contains("form-action https://sp.example"),
        "{csp}"
    );
    assert!(page.body.contains("<noscript>"));
    let (action, resp, relay) = saml_post_form(&page.body).unwrap();
    assert_eq!(action, SP_ACS);
    assert_eq!(relay.as_deref(), Some("rs-1"));
    let xml = response_xml(&resp);
    assert!(
        xml.contains("InResponseTo=\"_r1\"") && xml.contains(">alice</saml:NameID>"),
        "{xml}"
    );
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"));
    assert!(xml.contains("Recipient=\"https://sp.example/acs\""));
    assert!(xml.contains("<saml:Audience>https://sp.example/meta</saml:Audience>"));

    // Refusals that never reach the SP.
    let foreign = b
        .get(&redirect_path(
            &app,
            &authn_request("_r2", SP_ENTITY, Some("https://evil.example/acs"), "", ""),
            None,
        ))
        .await;
    assert_refused(&foreign, 400);
    assert!(foreign.body.contains("not registered"));
    assert_refused(
        &b.get(&redirect_path(
            &app,
            &authn_request("_r3", "https://other.example/meta", None, "", ""),
            None,
        ))
        .await,
        400,
    );
    let doctype = format!(
        "<!DOCTYPE x [<!ENTITY e \"boom\">]>{}",
        authn_request("_r4", SP_ENTITY, None, "", "")
    );
    assert_refused(&b.get(&redirect_path(&app, &doctype, None)).await, 400);
    // Oversized: an inflated message above the cap (a deflate bomb is tiny on the wire) …
    let padded = authn_request("_big", SP_ENTITY, None, "", &" ".repeat(200 * 1024));
    let bomb = STANDARD.encode(saml::binding::deflate(padded.as_bytes()));
    assert_refused(
        &b.get(&format!(
            "{}?SAMLRequest={}",
            sso_path(&app),
            urlencode(&bomb)
        ))
        .await,
        400,
    );
    // … and a POST body above the server's body limit.
    // (On its own connection: the server closes it mid-upload, which must not break the next
    // request of `b` on a pooled connection.)
    let huge = "A".repeat(2 * 1024 * 1024);
    let page = idp
        .browser()
        .post(&sso_path(&app), &[("SAMLRequest", &huge)])
        .await;
    assert!(page.status == 413 || page.status == 400, "{}", page.status);
    let not_deflate = STANDARD.encode(b"this is not deflate data at all");
    assert_refused(
        &b.get(&format!(
            "{}?SAMLRequest={}",
            sso_path(&app),
            urlencode(&not_deflate)
        ))
        .await,
        400,
    );
    assert_refused(
        &b.get(&format!("{}?SAMLRequest=%25%25%25%25", sso_path(&app)))
            .await,
        400,
    );
    assert_refused(
        &b.get(&format!("{}?SAMLRequest=!!!notbase64", sso_path(&app)))
            .await,
        400,
    );
    assert_refused(&b.get(&sso_path(&app)).await, 400);
    assert_refused(
        &b.get(&redirect_path(
            "app_doesnotexist",
            &authn_request("_r5", SP_ENTITY, None, "", ""),
            None,
        ))
        .await,
        404,
    );

    // Unsupported response binding: an error Response to the registered ACS.
    let artifact = authn_request("_r6", SP_ENTITY, None, "", "")
        .replace("bindings:HTTP-POST", "bindings:HTTP-Artifact");
    let page = b.get(&redirect_path(&app, &artifact, None)).await;
    let xml = response_xml(&saml_post_form(&page.body).unwrap().1);
    assert!(
        statuses(&xml)
            .iter()
            .any(|s| s.ends_with(":UnsupportedBinding")),
        "{xml}"
    );

    // IsPassive without a session: NoPassive error Response, no assertion.
    let anon = idp.browser();
    let page = anon
        .get(&redirect_path(
            &app,
            &authn_request("_r7", SP_ENTITY, None, " IsPassive=\"true\"", ""),
            None,
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let xml = response_xml(&saml_post_form(&page.body).unwrap().1);
    assert!(
        statuses(&xml).iter().any(|s| s.ends_with(":NoPassive")),
        "{xml}"
    );
    assert!(!xml.contains("<saml:Assertion"));
    assert!(xml.contains("InResponseTo=\"_r7\""));

    // No session: parked, then sign-in with `continue`, then answered.
    let page = anon
        .get(&redirect_path(
            &app,
            &authn_request("_r8", SP_ENTITY, None, "", ""),
            Some("keep-me"),
        ))
        .await;
    assert_eq!(page.status, 303);
    let login = page.location.unwrap();
    assert!(
        login.starts_with(&format!(
            "/i/{}/login?continue=%2Fi%2F{}%2Fsso%2Fsso_",
            idp.iid, idp.iid
        )),
        "{login}"
    );
    let cont = url::Url::parse(&format!("http://x{login}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "continue")
        .unwrap()
        .1
        .into_owned();
    let p = anon.sign_in(&idp.iid, "alice", PASSWORD, Some(&cont)).await;
    assert_eq!(p.location.as_deref(), Some(cont.as_str()));
    let page = anon.follow(p).await;
    let (_, resp, relay) = saml_post_form(&page.body).expect("response after sign-in");
    assert_eq!(relay.as_deref(), Some("keep-me"));
    assert!(response_xml(&resp).contains("InResponseTo=\"_r8\""));
    // A parked request is answered once.
    assert_refused(&anon.get(&cont).await, 410);

    // ForceAuthn: an existing session is not enough.
    let page = b
        .get(&redirect_path(
            &app,
            &authn_request("_r9", SP_ENTITY, None, " ForceAuthn=\"true\"", ""),
            None,
        ))
        .await;
    assert_eq!(page.status, 303);
    let login = page.location.unwrap();
    assert!(login.contains("force=1"));
    let login_page = b.get(&login).await;
    assert_eq!(
        login_page.status, 200,
        "the sign-in form is shown despite the session"
    );
    let csrf = crate::signin::input_value(&login_page.body, "csrf").unwrap();
    let cont = crate::signin::input_value(&login_page.body, "continue").unwrap();
    let p = b
        .post(
            &format!("/i/{}/login", idp.iid),
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("continue", &cont),
            ],
        )
        .await;
    let page = b.follow(p).await;
    assert!(
        response_xml(
            &saml_post_form(&page.body)
                .expect("answered after the fresh sign-in")
                .1
        )
        .contains("InResponseTo=\"_r9\"")
    );
    // The same over the POST binding (parked first, then checked on the same-site GET).
    let value = STANDARD.encode(authn_request(
        "_r9b",
        SP_ENTITY,
        None,
        " ForceAuthn=\"true\"",
        "",
    ));
    let page = b
        .follow(b.post(&sso_path(&app), &[("SAMLRequest", &value)]).await)
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("name=\"password\""),
        "sign-in form expected: {}",
        page.body
    );

    // POST binding: parked and continued on a same-site GET (the Lax cookie is sent there).
    let value = STANDARD.encode(authn_request("_r10", SP_ENTITY, Some(SP_ACS), "", ""));
    let page = b
        .post(
            &sso_path(&app),
            &[("SAMLRequest", &value), ("RelayState", "post-rs")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(
        page.location
            .as_deref()
            .unwrap()
            .starts_with(&format!("/i/{}/sso/", idp.iid))
    );
    let page = b.follow(page).await;
    let (_, resp, relay) = saml_post_form(&page.body).unwrap();
    assert_eq!(relay.as_deref(), Some("post-rs"));
    assert!(response_xml(&resp).contains("InResponseTo=\"_r10\""));
    assert_refused(
        &b.post(&sso_path(&app), &[("SAMLRequest", "not base64 ***")])
            .await,
        400,
    );

    // An MFA context the user cannot reach: NoAuthnContext.
    let mfa = "<samlp:RequestedAuthnContext Comparison=\"exact\"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>";
    let page = b
        .get(&redirect_path(
            &app,
            &authn_request("_r11", SP_ENTITY, None, "", mfa),
            None,
        ))
        .await;
    let xml = response_xml(&saml_post_form(&page.body).unwrap().1);
    assert!(
        statuses(&xml)
            .iter()
            .any(|s| s.ends_with(":NoAuthnContext")),
        "{xml}"
    );

    // Disabled SSO, disabled app.
    let (s, _) =
        crate::support::send(idp.api(reqwest::Method::POST, &format!("/apps/{app}/sso/disable")))
            .await;
    assert_eq!(s, 200);
    assert_refused(
        &b.get(&redirect_path(
            &app,
            &authn_request("_r12", SP_ENTITY, None, "", ""),
            None,
        ))
        .await,
        403,
    );
    crate::support::send(idp.api(reqwest::Method::POST, &format!("/apps/{app}/sso/enable"))).await;
    crate::support::send(idp.api(reqwest::Method::POST, &format!("/apps/{app}/disable"))).await;
    assert_refused(
        &b.get(&redirect_path(
            &app,
            &authn_request("_r13", SP_ENTITY, None, "", ""),
            None,
        ))
        .await,
        403,
    );
    crate::support::send(idp.api(reqwest::Method::POST, &format!("/apps/{app}/enable"))).await;
    assert_eq!(
        b.get(&redirect_path(
            &app,
            &authn_request("_r14", SP_ENTITY, None, "", ""),
            None
        ))
        .await
        .status,
        200
    );

    // Every SSO is audited.
    let mut conn = idp.srv.services.store.read().await.unwrap();
    let q = idaas::audit::AuditQuery {
        limit: 500,
        action_prefix: Some("sso:".into()),
        ..Default::default()
    };
    let events = idaas::store::audit::query(&mut conn, Some(&idp.iid), &q)
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .filter(|e| e.result == idaas::audit::AuditResult::Success)
            .count()
            >= 4
    );
    assert!(
        events
            .items
            .iter()
            .filter(|e| e.result == idaas::audit::AuditResult::Failure)
            .count()
            >= 8
    );
    drop(conn);
    idp.stop().await;
}
crate::both_idps!(sso_rules, run_sso_rules);

async fn run_user_rules(idp: Idp) {
    let alice = idp.user("alice").await;
    let bob = idp.user("bob").await;
    let carol = idp.user("carol").await;
    let app = saml_app(
        &idp,
        json!({ "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS, "application_account": { "type": "application_account" } }),
        "authorize_required",
    )
    .await;
    let req = |id: &str| redirect_path(&app, &authn_request(id, SP_ENTITY, None, "", ""), None);
    let a = signed_in(&idp, "alice").await;
    // Not granted: clear page, no assertion.
    let page = a.get(&req("_u1")).await;
    assert_refused(&page, 403);
    assert!(page.body.contains("not authorized"));
    // Granted to an organizational unit above the user's unit.
    let s = &idp.srv.services;
    let parent = s
        .create_org_unit(
            &Actor::system(),
            &idp.iid,
            idaas::org_unit::NewOrgUnit {
                parent_id: None,
                name: idaas::org_unit::OrgUnitName::parse("Eng").unwrap(),
                description: String::new(),
                external_id: None,
            },
        )
        .await
        .unwrap();
    let child = s
        .create_org_unit(
            &Actor::system(),
            &idp.iid,
            idaas::org_unit::NewOrgUnit {
                parent_id: Some(parent.id.clone()),
                name: idaas::org_unit::OrgUnitName::parse("Backend").unwrap(),
                description: String::new(),
                external_id: None,
            },
        )
        .await
        .unwrap();
    s.add_user_to_org_unit(&Actor::system(), &idp.iid, &alice.id, &child.id, false)
        .await
        .unwrap();
    let (st, body) = crate::support::send(
        idp.api(reqwest::Method::POST, &format!("/apps/{app}/grants"))
            .json(&json!({ "subject_type": "org_unit", "subject_id": parent.id })),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    // Option 2 without a mapping fails clearly.
    let page = a.get(&req("_u2")).await;
    assert_refused(&page, 403);
    assert!(page.body.contains("no account for this application"));
    let (st, body) = crate::support::send(
        idp.api(reqwest::Method::PUT, &format!("/apps/{app}/accounts"))
            .json(&json!({ "user_id": alice.id, "app_username": "alice.app" })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let page = a.get(&req("_u3")).await;
    let xml = response_xml(
        &saml_post_form(&page.body)
            .expect("granted through the parent unit")
            .1,
    );
    assert!(xml.contains(">alice.app</saml:NameID>"), "{xml}");
    // Granted through a group.
    let group = s
        .create_group(
            &Actor::system(),
            &idp.iid,
            idaas::group::NewGroup {
                name: idaas::group::GroupName::parse("Ops").unwrap(),
                description: String::new(),
                external_id: None,
            },
        )
        .await
        .unwrap();
    s.add_group_member(&Actor::system(), &idp.iid, &group.id, &bob.id)
        .await
        .unwrap();
    crate::support::send(
        idp.api(reqwest::Method::POST, &format!("/apps/{app}/grants"))
            .json(&json!({ "subject_type": "group", "subject_id": group.id })),
    )
    .await;
    crate::support::send(
        idp.api(reqwest::Method::PUT, &format!("/apps/{app}/accounts"))
            .json(&json!({ "user_id": bob.id, "app_username": "bob.app" })),
    )
    .await;
    let b = signed_in(&idp, "bob").await;
    assert!(
        saml_post_form(&b.get(&req("_u4")).await.body).is_some(),
        "granted through a group"
    );
    // Revoking the group grant takes effect at once.
    let (st, _) = crate::support::send(idp.api(
        reqwest::Method::DELETE,
        &format!("/apps/{app}/grants/group/{}", group.id),
    ))
    .await;
    assert_eq!(st, 204);
    assert_refused(&b.get(&req("_u5")).await, 403);
    // A disabled user: the sessions end, sign-in is refused, no assertion.
    let c = signed_in(&idp, "carol").await;
    s.update_user(
        &Actor::system(),
        &idp.iid,
        &carol.id,
        idaas::user::UserUpdate {
            status: Some(idaas::user::UserStatus::Disabled),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let page = c.get(&req("_u6")).await;
    assert_eq!(page.status, 303, "no session any more");
    assert_eq!(
        idp.browser()
            .sign_in(&idp.iid, "carol", PASSWORD, None)
            .await
            .status,
        401
    );
    // A locked user cannot sign in to answer a parked request. The request is parked first (POST
    // binding), the browser is sent to sign in with the parked request as `continue`.
    let anon = idp.browser();
    let value = STANDARD.encode(authn_request("_u7", SP_ENTITY, None, "", ""));
    let parked = anon.post(&sso_path(&app), &[("SAMLRequest", &value)]).await;
    assert_eq!(parked.status, 303, "{}", parked.body);
    let cont = parked.location.clone().unwrap();
    assert!(cont.starts_with(&format!("/i/{}/sso/", idp.iid)), "{cont}");
    let to_login = anon.get(&cont).await;
    assert_eq!(to_login.status, 303);
    let login_at = to_login.location.unwrap();
    assert!(
        login_at.starts_with(&format!("/i/{}/login?continue=", idp.iid)),
        "{login_at}"
    );
    for _ in 0..5 {
        anon.sign_in(&idp.iid, "alice", "wrong", Some(&cont)).await;
    }
    let p = anon.sign_in(&idp.iid, "alice", PASSWORD, Some(&cont)).await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("locked"));
    // The parked request is still unanswered: continuing it sends the browser to sign in again.
    let again = anon.get(&cont).await;
    assert_refused(&again, 303);
    assert!(
        again
            .location
            .unwrap()
            .starts_with(&format!("/i/{}/login", idp.iid))
    );
    idp.stop().await;
}
crate::both_idps!(sso_user_rules, run_user_rules);

async fn run_signed_requests(idp: Idp) {
    idp.user("alice").await;
    let sp_key = saml::key::SigningKey::generate_rsa(2048).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let sp_cert = saml::key::Certificate::self_signed(
        &sp_key,
        "sp",
        now - time::Duration::days(1),
        now + time::Duration::days(30),
    )
    .unwrap();
    let other_key = saml::key::SigningKey::generate_ecdsa_p256().unwrap();
    let app = saml_app(
        &idp,
        json!({ "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS, "want_signed_requests": true, "allow_acs_from_signed_requests": true, "sp_certificates": [sp_cert.to_base64()] }),
        "default_all",
    )
    .await;
    let b = signed_in(&idp, "alice").await;
    let rsa = saml::algorithm::SignatureAlgorithm::RsaSha256;
    let signed = |xml: &str, key: &saml::key::SigningKey, alg| {
        let q = saml::binding::encode_redirect(
            saml::binding::MessageParam::Request,
            xml,
            Some("rs"),
            Some((key, alg)),
        )
        .unwrap();
        format!("{}?{q}", sso_path(&app))
    };
    let xml = authn_request("_s1", SP_ENTITY, None, "", "");
    assert_refused(&b.get(&redirect_path(&app, &xml, None)).await, 400);
    assert_refused(
        &b.get(&signed(
            &xml,
            &other_key,
            saml::algorithm::SignatureAlgorithm::EcdsaSha256,
        ))
        .await,
        400,
    );
    // Tampered: a valid signature over another request.
    let good = signed(&xml, &sp_key, rsa);
    let tampered = good.replace("RelayState=rs", "RelayState=rt");
    assert_refused(&b.get(&tampered).await, 400);
    assert_eq!(b.get(&good).await.status, 200);
    // A signed request may name another ACS when the app allows it.
    let other_acs = authn_request(
        "_s2",
        SP_ENTITY,
        Some("https://sp.example/other-acs"),
        "",
        "",
    );
    let page = b.get(&signed(&other_acs, &sp_key, rsa)).await;
    assert_eq!(
        saml_post_form(&page.body).unwrap().0,
        "https://sp.example/other-acs"
    );
    // Unsigned POST requests are refused too.
    let value = STANDARD.encode(&xml);
    assert_refused(
        &b.post(&sso_path(&app), &[("SAMLRequest", &value)]).await,
        400,
    );
    // POST binding: a valid enveloped signature is accepted (parked, then answered) ...
    let post = |xml: String| STANDARD.encode(xml);
    let page = b
        .post(
            &sso_path(&app),
            &[("SAMLRequest", &post(enveloped("_p1", &sp_key, &sp_cert)))],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = b.follow(page).await;
    assert!(saml_post_form(&page.body).is_some(), "{}", page.body);
    // ... a signature by another key, or a valid one over altered content, is refused.
    let other_cert = saml::key::Certificate::self_signed(
        &other_key,
        "other",
        now - time::Duration::days(1),
        now + time::Duration::days(30),
    )
    .unwrap();
    assert_refused(
        &b.post(
            &sso_path(&app),
            &[(
                "SAMLRequest",
                &post(enveloped("_p2", &other_key, &other_cert)),
            )],
        )
        .await,
        400,
    );
    let altered =
        enveloped("_p3", &sp_key, &sp_cert).replace(SP_ENTITY, "https://sp.example/meta#");
    assert_refused(
        &b.post(&sso_path(&app), &[("SAMLRequest", &post(altered))])
            .await,
        400,
    );
    idp.stop().await;
}

/// A POST-binding AuthnRequest of SP_ENTITY with an enveloped signature by `key`.
fn enveloped(id: &str, key: &saml::key::SigningKey, cert: &saml::key::Certificate) -> String {
    use saml::xml::writer::Element;
    let mut el = Element::new("samlp", "AuthnRequest")
        .attr("ID", id.to_owned())
        .attr("Version", "2.0")
        .attr("IssueInstant", now_instant(0))
        .attr(
            "ProtocolBinding",
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        )
        .child(Element::new("saml", "Issuer").text(SP_ENTITY));
    let alg = if key.supports(saml::algorithm::SignatureAlgorithm::RsaSha256) {
        saml::algorithm::SignatureAlgorithm::RsaSha256
    } else {
        saml::algorithm::SignatureAlgorithm::EcdsaSha256
    };
    saml::dsig::sign_enveloped(
        &mut el,
        id,
        1,
        key,
        cert,
        alg,
        saml::algorithm::DigestAlgorithm::Sha256,
    )
    .unwrap();
    el.to_xml()
}

/// An AuthnRequest of SP_ENTITY issued at `instant`, with extra root attributes `attrs`.
fn request_at(id: &str, instant: &str, attrs: &str) -> String {
    authn_request(id, SP_ENTITY, Some(SP_ACS), attrs, "").replacen(
        &format!("IssueInstant=\"{}\"", now_instant(0)),
        &format!("IssueInstant=\"{instant}\""),
        1,
    )
}

/// Destination, IssueInstant window, replay cache (and its maintenance), and signatures that
/// cannot be verified because no SP certificate is configured.
async fn run_request_checks(idp: Idp) {
    idp.user("alice").await;
    let app = saml_app(
        &idp,
        json!({ "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS }),
        "default_all",
    )
    .await;
    let b = signed_in(&idp, "alice").await;
    let ours = format!("{}{}", idp.srv.base, sso_path(&app));
    let get = |xml: String| {
        let path = redirect_path(&app, &xml, None);
        let b = &b;
        async move { b.get(&path).await }
    };
    // Destination: ours is accepted, another is refused.
    let page = get(request_at(
        "_d1",
        &now_instant(0),
        &format!(" Destination=\"{ours}\""),
    ))
    .await;
    assert!(saml_post_form(&page.body).is_some(), "{}", page.body);
    let page = get(request_at(
        "_d2",
        &now_instant(0),
        " Destination=\"https://idp.example/elsewhere\"",
    ))
    .await;
    assert_refused(&page, 400);
    assert!(page.body.contains("another destination"));
    // IssueInstant: a little old is fine; too old or in the future (beyond the skew) is not.
    let page = get(request_at("_t1", &now_instant(-200), "")).await;
    assert!(saml_post_form(&page.body).is_some(), "{}", page.body);
    assert_refused(&get(request_at("_t2", &now_instant(-900), "")).await, 400);
    assert_refused(&get(request_at("_t3", &now_instant(600), "")).await, 400);
    // Replay: the same request ID again is refused, even from a fresh request text.
    let page = get(request_at("_r1", &now_instant(0), "")).await;
    assert!(saml_post_form(&page.body).is_some(), "{}", page.body);
    let page = get(request_at("_r1", &now_instant(-1), "")).await;
    assert_refused(&page, 400);
    assert!(page.body.contains("replay"), "{}", page.body);
    // Maintenance forgets IDs whose requests would be refused as too old anyway.
    {
        let mut conn = idp.srv.services.store.read().await.unwrap();
        sqlx::query("UPDATE authn_request_ids SET expires_at = 1 WHERE request_id = '_t1'")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let report = idp.srv.services.run_maintenance_once().await.unwrap();
    assert_eq!(report.authn_request_ids_deleted, 1);
    assert_refused(&get(request_at("_r1", &now_instant(0), "")).await, 400);
    // A Redirect signature is never ignored: without an SP certificate it cannot be verified.
    let key = saml::key::SigningKey::generate_ecdsa_p256().unwrap();
    let q = saml::binding::encode_redirect(
        saml::binding::MessageParam::Request,
        &request_at("_g1", &now_instant(0), ""),
        None,
        Some((&key, saml::algorithm::SignatureAlgorithm::EcdsaSha256)),
    )
    .unwrap();
    let page = b.get(&format!("{}?{q}", sso_path(&app))).await;
    assert_refused(&page, 400);
    assert!(page.body.contains("no certificate"), "{}", page.body);
    // Nor is an enveloped POST signature.
    let now = time::OffsetDateTime::now_utc();
    let cert = saml::key::Certificate::self_signed(
        &key,
        "sp",
        now - time::Duration::days(1),
        now + time::Duration::days(30),
    )
    .unwrap();
    let value = STANDARD.encode(enveloped("_g2", &key, &cert));
    assert_refused(
        &b.post(&sso_path(&app), &[("SAMLRequest", &value)]).await,
        400,
    );
    idp.stop().await;
}
crate::both_idps!(sso_request_checks, run_request_checks);
crate::both_idps!(sso_signed_requests, run_signed_requests);

#[allow(unused)]
fn _settings(_: &mut InstanceSettings) {}
