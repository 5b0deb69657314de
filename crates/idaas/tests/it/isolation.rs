//! Instance isolation: a token, session or id of instance A never reads or acts on instance B.

use reqwest::Method;
use serde_json::json;

use crate::both_servers;
use crate::support::send;

both_servers!(tokens_sessions_and_ids_stay_in_their_instance, |srv| {
    let (a, token_a) = srv.instance_with_token("A").await;
    let (b, token_b) = srv.instance_with_token("B").await;
    let pa = |path: &str| format!("/api/v1/instances/{a}{path}");
    let pb = |path: &str| format!("/api/v1/instances/{b}{path}");

    // Objects in B.
    let (_, ub) = send(
        srv.with_token(&token_b, Method::POST, &pb("/users"))
            .json(&json!({"username": "bob"})),
    )
    .await;
    let ub = ub["id"].as_str().unwrap().to_owned();
    let (_, gb) = send(
        srv.with_token(&token_b, Method::POST, &pb("/groups"))
            .json(&json!({"name": "gb"})),
    )
    .await;
    let gb = gb["id"].as_str().unwrap().to_owned();
    let (_, ob) = send(
        srv.with_token(&token_b, Method::POST, &pb("/org-units"))
            .json(&json!({"name": "ob"})),
    )
    .await;
    let ob = ob["id"].as_str().unwrap().to_owned();
    // Objects in A.
    let (_, ua) = send(
        srv.with_token(&token_a, Method::POST, &pa("/users"))
            .json(&json!({"username": "alice"})),
    )
    .await;
    let ua = ua["id"].as_str().unwrap().to_owned();
    let (_, ga) = send(
        srv.with_token(&token_a, Method::POST, &pa("/groups"))
            .json(&json!({"name": "ga"})),
    )
    .await;
    let ga = ga["id"].as_str().unwrap().to_owned();

    // A's token on B's paths: 404 everywhere (B's existence is not revealed), reads and writes alike.
    for (m, path) in [
        (Method::GET, pb("")),
        (Method::GET, pb("/users")),
        (Method::GET, pb(&format!("/users/{ub}"))),
        (Method::DELETE, pb(&format!("/users/{ub}"))),
        (Method::GET, pb("/groups")),
        (Method::GET, pb("/org-units")),
        (Method::GET, pb("/audit-events")),
        (Method::GET, pb("/settings")),
        (Method::GET, pb("/api-tokens")),
        (Method::POST, pb("/users")),
    ] {
        let (status, body) = send(
            srv.with_token(&token_a, m.clone(), &path)
                .json(&json!({"username": "intruder"})),
        )
        .await;
        assert_eq!(status, 404, "{m} {path}: {body}");
        assert_eq!(body["error"], "not_found");
    }
    // Same answer as for an instance that does not exist.
    let (status, _) =
        send(srv.with_token(&token_a, Method::GET, "/api/v1/instances/idaas_nope/users")).await;
    assert_eq!(status, 404);

    // B's ids through A's paths: 404, and nothing changes in B.
    for (m, path, body) in [
        (Method::GET, pa(&format!("/users/{ub}")), json!({})),
        (
            Method::PATCH,
            pa(&format!("/users/{ub}")),
            json!({"display_name": "hacked"}),
        ),
        (Method::DELETE, pa(&format!("/users/{ub}")), json!({})),
        (
            Method::POST,
            pa(&format!("/users/{ub}/password")),
            json!({"password": "Corr3ct-Horse"}),
        ),
        (Method::GET, pa(&format!("/groups/{gb}")), json!({})),
        (Method::DELETE, pa(&format!("/groups/{gb}")), json!({})),
        (Method::GET, pa(&format!("/org-units/{ob}")), json!({})),
        (Method::DELETE, pa(&format!("/org-units/{ob}")), json!({})),
        // Mixing: A's group with B's user, A's user with B's group / unit.
        (
            Method::POST,
            pa(&format!("/groups/{ga}/members")),
            json!({"user_id": ub}),
        ),
        (
            Method::POST,
            pa(&format!("/groups/{gb}/members")),
            json!({"user_id": ua}),
        ),
        (
            Method::POST,
            pa(&format!("/users/{ua}/org-units")),
            json!({"org_unit_id": ob}),
        ),
        (
            Method::POST,
            pa("/org-units"),
            json!({"name": "child", "parent_id": ob}),
        ),
    ] {
        let (status, resp) = send(srv.with_token(&token_a, m.clone(), &path).json(&body)).await;
        assert_eq!(status, 404, "{m} {path}: {resp}");
    }
    let bob = srv.services.get_user(&b, &ub).await.unwrap();
    assert_eq!(bob.display_name, "bob");
    assert!(!bob.has_password);
    assert!(srv.services.get_group(&b, &gb).await.is_ok());
    assert_eq!(
        srv.services
            .group_members(&a, &ga, Default::default())
            .await
            .unwrap()
            .total,
        0
    );
    let deep = idaas::user::UserFilter {
        org_unit_id: Some(ob.clone()),
        ..Default::default()
    };
    assert_eq!(
        srv.services
            .list_users(&b, &deep, Default::default())
            .await
            .unwrap()
            .total,
        0
    );
    // The audit log of B shows nothing done by A's token.
    let (_, events) = send(srv.with_token(&token_b, Method::GET, &pb("/audit-events"))).await;
    let a_token_id = srv.services.list_api_tokens(Some(&a)).await.unwrap()[0]
        .id
        .clone();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_id"] != a_token_id.as_str())
    );

    // Sessions: an admin session of A opens nothing in B, whatever the cookie is called.
    let s = &srv.services;
    let mut admin = crate::store_accounts::new_user("root");
    admin.is_admin = true;
    let admin = s
        .create_user(&idaas::audit::Actor::system(), &a, admin, None)
        .await
        .unwrap();
    let mut tx = s.store.begin_write().await.unwrap();
    let sess = idaas::store::session::create(
        &mut tx,
        idaas::store::session::SessionParams {
            instance_id: &a,
            user_id: &admin.id,
            now: s.now(),
            ttl_secs: 3600,
            authn_methods: "password",
            mfa_pending: false,
            source_ip: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let name_a = idaas::http::auth::session_cookie_name(&a);
    let name_b = idaas::http::auth::session_cookie_name(&b);
    let (status, _) = send(
        srv.client
            .get(srv.url(&pa("/users")))
            .header("cookie", format!("{name_a}={}", sess.token)),
    )
    .await;
    assert_eq!(status, 200);
    for cookie in [
        format!("{name_a}={}", sess.token),
        format!("{name_b}={}", sess.token),
    ] {
        let (status, _) = send(
            srv.client
                .get(srv.url(&pb("/users")))
                .header("cookie", cookie.clone()),
        )
        .await;
        assert_eq!(status, 401, "{cookie}");
    }
    // Platform token sees both; deleting B leaves A intact.
    let (status, _) = send(srv.platform(Method::DELETE, &format!("/api/v1/instances/{b}"))).await;
    assert_eq!(status, 204);
    let (status, list) = send(srv.with_token(&token_a, Method::GET, &pa("/users"))).await;
    assert_eq!((status, list["total"].as_i64()), (200, Some(2)));
    let (status, _) = send(srv.with_token(&token_b, Method::GET, &pb("/users"))).await;
    assert_eq!(status, 401, "B's token died with B");
});

/// Inserts a bare application row (the application API itself belongs to the SSO helper).
async fn insert_app(srv: &crate::support::TestServer, instance_id: &str) -> String {
    let id = idaas::id::new_id("app");
    let mut tx = srv.services.store.begin_write().await.unwrap();
    sqlx::query(
        "INSERT INTO applications (id, instance_id, name, template_id, source_type, sso_type, status, \
         sso_status, authorization_type, saml_config, created_at, updated_at) \
         VALUES ($1, $2, 'app', NULL, 'standard', 'saml2', 'enabled', 'enabled', 'authorize_required', '{}', 0, 0)",
    )
    .bind(&id)
    .bind(instance_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

both_servers!(applications_stay_in_their_instance, |srv| {
    let (a, token_a) = srv.instance_with_token("A").await;
    let (b, token_b) = srv.instance_with_token("B").await;
    let app_a = insert_app(&srv, &a).await;
    let app_b = insert_app(&srv, &b).await;
    let (_, ua) = send(
        srv.with_token(
            &token_a,
            Method::POST,
            &format!("/api/v1/instances/{a}/users"),
        )
        .json(&json!({"username": "alice"})),
    )
    .await;
    let ua = ua["id"].as_str().unwrap().to_owned();
    let (_, ub) = send(
        srv.with_token(
            &token_b,
            Method::POST,
            &format!("/api/v1/instances/{b}/users"),
        )
        .json(&json!({"username": "bob"})),
    )
    .await;
    let ub = ub["id"].as_str().unwrap().to_owned();
    let pa = |path: &str| format!("/api/v1/instances/{a}{path}");
    for (m, path, body) in [
        (Method::GET, pa(&format!("/apps/{app_b}")), json!({})),
        (
            Method::POST,
            pa(&format!("/apps/{app_b}/disable")),
            json!({}),
        ),
        (Method::GET, pa(&format!("/apps/{app_b}/grants")), json!({})),
        (
            Method::GET,
            pa(&format!("/apps/{app_b}/accounts")),
            json!({}),
        ),
        (
            Method::POST,
            pa(&format!("/apps/{app_b}/grants")),
            json!({"subject_type": "user", "subject_id": ua}),
        ),
        // B's user granted on A's app through A's path.
        (
            Method::POST,
            pa(&format!("/apps/{app_a}/grants")),
            json!({"subject_type": "user", "subject_id": ub}),
        ),
        (Method::DELETE, pa(&format!("/apps/{app_b}")), json!({})),
    ] {
        let (status, resp) = send(srv.with_token(&token_a, m.clone(), &path).json(&body)).await;
        assert_eq!(status, 404, "{m} {path}: {resp}");
    }
    let grants: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM app_grants")
            .fetch_one(srv.services.store.db().pool())
            .await
            .unwrap(),
        "n",
    )
    .unwrap();
    assert_eq!(grants, 0);
    let (status, _) = send(srv.with_token(
        &token_b,
        Method::GET,
        &format!("/api/v1/instances/{b}/apps/{app_b}"),
    ))
    .await;
    assert_eq!(status, 200, "B still has its application");
});

/// A session of instance A, presented under A's and under B's cookie name, yields no assertion
/// for an application of B: not at B's SSO endpoint, not when continuing a request parked at B,
/// not from B's portal.
async fn run_sso_sessions_stay_in_their_instance(idp: crate::signin::Idp) {
    use crate::saml_negative::{SP_ACS, SP_ENTITY, authn_request, redirect_path, sso_path};
    use crate::signin::{PASSWORD, input_value};
    use base64::Engine;
    idp.user("alice").await;
    let srv = &idp.srv;
    let a = idp.iid.clone();
    let (b, token_b) = srv.instance_with_token("B").await;
    // An application of B that allows everything A's session could want: all users, IdP-initiated.
    let pb = |path: &str| format!("/api/v1/instances/{b}{path}");
    let (st, app) = send(
        srv.with_token(&token_b, Method::POST, &pb("/apps"))
            .json(&json!({ "template_id": "apt_saml2_standard", "name": "B app" })),
    )
    .await;
    assert_eq!(st, 201, "{app}");
    let app_b = app["id"].as_str().unwrap().to_owned();
    let (st, body) = send(
        srv.with_token(&token_b, Method::PATCH, &pb(&format!("/apps/{app_b}")))
            .json(&json!({ "authorization_type": "default_all", "saml": {
                "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS,
                "init_login_type": "idaas_or_app_init_sso" } })),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // Alice signs in to A; her session token is read from the Set-Cookie header.
    let browser = idp.browser();
    let signed = browser.sign_in(&a, "alice", PASSWORD, None).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let prefix = format!("gh_session_{a}=");
    let token = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&prefix))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("session cookie");
    let portal = browser.get(&format!("/i/{a}/portal")).await;
    let csrf_a = input_value(&portal.body, "csrf").unwrap();
    let cookie = format!("gh_session_{a}={token}; gh_session_{b}={token}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let no_assertion = |what: &str, status: u16, body: &str| {
        assert!(
            !body.contains("SAMLResponse"),
            "{what}: an assertion for B from A's session ({status}): {body}"
        );
    };
    // 1. B's SSO endpoint (Redirect binding).
    let xml = authn_request("_x1", SP_ENTITY, Some(SP_ACS), "", "");
    let resp = client
        .get(srv.url(&redirect_path(&app_b, &xml, None)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    no_assertion("sso", status, &resp.text().await.unwrap());
    assert_eq!(status, 303);
    assert!(
        location
            .as_deref()
            .unwrap()
            .starts_with(&format!("/i/{b}/login")),
        "{location:?}"
    );
    // 2. A request parked at B, continued with A's session.
    let value = base64::engine::general_purpose::STANDARD.encode(authn_request(
        "_x2",
        SP_ENTITY,
        Some(SP_ACS),
        "",
        "",
    ));
    let parked = client
        .post(srv.url(&sso_path(&app_b)))
        .form(&[("SAMLRequest", value.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(parked.status().as_u16(), 303);
    let cont = parked.headers()["location"].to_str().unwrap().to_owned();
    assert!(cont.starts_with(&format!("/i/{b}/sso/")), "{cont}");
    let resp = client
        .get(srv.url(&cont))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    no_assertion("continue", status, &resp.text().await.unwrap());
    assert_eq!(status, 303, "sent to B's sign-in");
    // The same parked request through A's path: unknown there.
    let pending = cont.rsplit('/').next().unwrap();
    let resp = client
        .get(srv.url(&format!("/i/{a}/sso/{pending}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    no_assertion("continue via A", status, &resp.text().await.unwrap());
    assert_eq!(status, 410);
    // 3. B's portal launch (with A's valid CSRF token).
    let resp = client
        .post(srv.url(&format!("/i/{b}/portal/apps/{app_b}/launch")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_a.as_str())])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    no_assertion("launch", status, &resp.text().await.unwrap());
    assert!(matches!(status, 303 | 401 | 403), "{status}");
    // A's own launch path for B's application: not found in A.
    let resp = client
        .post(srv.url(&format!("/i/{a}/portal/apps/{app_b}/launch")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_a.as_str())])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    no_assertion("launch via A", status, &resp.text().await.unwrap());
    assert_eq!(status, 404);
    idp.stop().await;
}
crate::both_idps!(
    sso_sessions_stay_in_their_instance,
    run_sso_sessions_stay_in_their_instance
);
