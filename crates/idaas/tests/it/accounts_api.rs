//! The admin REST API over HTTP: CRUD, auth failures, error format, parsers' negative cases.

use reqwest::Method;
use serde_json::json;

use crate::both_servers;
use crate::support::{TestServer, send};

both_servers!(health_ready_metrics_openapi, |srv| {
    let r = srv.client.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = srv.client.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = srv.client.get(srv.url("/nope")).send().await.unwrap();
    let r = srv.client.get(srv.url("/metrics")).send().await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("gatehouse_idaas_http_requests_total{class=\"2xx\"}"),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_idaas_http_requests_total{class=\"4xx\"} 1"),
        "{text}"
    );
    assert!(text.contains("gatehouse_idaas_signins_total{result=\"failure\"}"));
    assert!(text.contains("gatehouse_idaas_sso_total{result=\"success\"}"));

    let (status, doc) = send(srv.client.get(srv.url("/api/openapi.json"))).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/instances",
        "/api/v1/instances/{iid}/users",
        "/api/v1/instances/{iid}/users:import",
        "/api/v1/instances/{iid}/users/{uid}",
        "/api/v1/instances/{iid}/org-units/{ouid}/descendants",
        "/api/v1/instances/{iid}/groups/{gid}/members",
        "/api/v1/instances/{iid}/audit-events",
        "/api/v1/instances/{iid}/settings",
        "/api/v1/instances/{iid}/api-tokens",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["components"]["schemas"]["User"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
});

both_servers!(auth_failures, |srv| {
    let (iid, token) = srv.instance_with_token("A").await;
    let users = format!("/api/v1/instances/{iid}/users");
    // No credentials.
    let (status, body) = send(srv.client.get(srv.url(&users))).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthenticated");
    // Wrong token.
    let (status, _) = send(srv.with_token("ght_wrong", Method::GET, &users)).await;
    assert_eq!(status, 401);
    // Not a bearer scheme.
    let (status, _) = send(
        srv.client
            .get(srv.url(&users))
            .header("authorization", "Basic YTpi"),
    )
    .await;
    assert_eq!(status, 401);
    // Right token works.
    let (status, _) = send(srv.with_token(&token, Method::GET, &users)).await;
    assert_eq!(status, 200);
    // An instance token is not a platform token.
    let (status, body) = send(srv.with_token(&token, Method::GET, "/api/v1/instances")).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "forbidden");
    let (status, _) =
        send(srv.with_token(&token, Method::DELETE, &format!("/api/v1/instances/{iid}"))).await;
    assert_eq!(status, 403);
    // Unknown instance with the platform token: 404.
    let (status, body) =
        send(srv.platform(Method::GET, "/api/v1/instances/idaas_nope/users")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    // Expired token.
    let now = srv.services.now();
    let created = srv
        .services
        .create_api_token(
            &idaas::audit::Actor::system(),
            Some(&iid),
            "soon".to_owned().try_into().unwrap(),
            Some(now + 1),
        )
        .await
        .unwrap();
    let mut tx = srv.services.store.begin_write().await.unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind(now - 1)
        .bind(&created.token.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (status, _) = send(srv.with_token(&created.secret, Method::GET, &users)).await;
    assert_eq!(status, 401);
    // A deleted token stops working.
    let (status, body) = send(srv.with_token(
        &token,
        Method::GET,
        &format!("/api/v1/instances/{iid}/api-tokens"),
    ))
    .await;
    assert_eq!(status, 200);
    let tid = body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("secret").is_none() && t.get("token_hash").is_none())
    );
    let (status, _) = send(srv.platform(
        Method::DELETE,
        &format!("/api/v1/instances/{iid}/api-tokens/{tid}"),
    ))
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(srv.with_token(&token, Method::GET, &users)).await;
    assert_eq!(status, 401);
});

both_servers!(users_groups_org_units_over_http, |srv| {
    let (iid, token) = srv.instance_with_token("A").await;
    let p = |path: &str| format!("/api/v1/instances/{iid}{path}");
    let req = |m: Method, path: &str| srv.with_token(&token, m, &p(path));

    let (status, alice) = send(req(Method::POST, "/users").json(&json!({
        "username": "alice", "email": "alice@example.com", "password": "Corr3ct-Horse",
        "custom_fields": {"dept": "R&D"}
    })))
    .await;
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["display_name"], "alice");
    assert_eq!(alice["has_password"], true);
    assert!(alice.get("password_hash").is_none());
    let uid = alice["id"].as_str().unwrap().to_owned();

    let (status, body) =
        send(req(Method::POST, "/users").json(&json!({"username": "ALICE"}))).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));

    let (status, upd) = send(
        req(Method::PATCH, &format!("/users/{uid}"))
            .json(&json!({"email": null, "display_name": "Alice"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(upd["email"], serde_json::Value::Null);
    assert_eq!(upd["display_name"], "Alice");

    let (status, list) = send(req(Method::GET, "/users?q=ali&limit=10")).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);

    let (status, _) = send(
        req(Method::POST, &format!("/users/{uid}/password"))
            .json(&json!({"password": "An0ther-Horse"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) =
        send(req(Method::POST, &format!("/users/{uid}/password")).json(&json!({"password": "x"})))
            .await;
    assert_eq!(status, 400, "{body}");

    // Org units.
    let (status, root) = send(req(Method::POST, "/org-units").json(&json!({"name": "Acme"}))).await;
    assert_eq!(status, 201);
    let root_id = root["id"].as_str().unwrap().to_owned();
    let (status, eng) =
        send(req(Method::POST, "/org-units").json(&json!({"name": "Eng", "parent_id": root_id})))
            .await;
    assert_eq!(status, 201);
    let eng_id = eng["id"].as_str().unwrap().to_owned();
    let (status, d) = send(req(
        Method::GET,
        &format!("/org-units/{root_id}/descendants"),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(d.as_array().unwrap().len(), 2);
    let (status, roots) = send(req(Method::GET, "/org-units?parent=root")).await;
    assert_eq!((status, roots.as_array().unwrap().len()), (200, 1));
    let (status, _) = send(
        req(Method::POST, &format!("/users/{uid}/org-units"))
            .json(&json!({"org_unit_id": eng_id, "primary": true})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, ous) = send(req(Method::GET, &format!("/users/{uid}/org-units"))).await;
    assert_eq!(
        (status, ous[0]["id"].as_str()),
        (200, Some(eng_id.as_str()))
    );
    let (status, body) = send(req(Method::DELETE, &format!("/org-units/{eng_id}"))).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));
    let (status, body) = send(
        req(Method::PATCH, &format!("/org-units/{root_id}")).json(&json!({"parent_id": eng_id})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));
    let (status, _) = send(req(
        Method::DELETE,
        &format!("/users/{uid}/org-units/{eng_id}"),
    ))
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(req(Method::DELETE, &format!("/org-units/{eng_id}"))).await;
    assert_eq!(status, 204);

    // Groups.
    let (status, g) = send(
        req(Method::POST, "/groups").json(&json!({"name": "Dev", "description": "developers"})),
    )
    .await;
    assert_eq!(status, 201);
    let gid = g["id"].as_str().unwrap().to_owned();
    let (status, _) =
        send(req(Method::POST, &format!("/groups/{gid}/members")).json(&json!({"user_id": uid})))
            .await;
    assert_eq!(status, 204);
    let (status, members) = send(req(Method::GET, &format!("/groups/{gid}/members"))).await;
    assert_eq!((status, members["total"].as_i64()), (200, Some(1)));
    let (status, ug) = send(req(Method::GET, &format!("/users/{uid}/groups"))).await;
    assert_eq!((status, ug[0]["name"].as_str()), (200, Some("Dev")));
    let (status, _) = send(req(Method::DELETE, &format!("/groups/{gid}/members/{uid}"))).await;
    assert_eq!(status, 204);
    let (status, _) =
        send(req(Method::PATCH, &format!("/groups/{gid}")).json(&json!({"name": "Developers"})))
            .await;
    assert_eq!(status, 200);
    let (status, _) = send(req(Method::DELETE, &format!("/groups/{gid}"))).await;
    assert_eq!(status, 204);
    let (status, _) = send(req(Method::GET, &format!("/groups/{gid}"))).await;
    assert_eq!(status, 404);

    // Settings.
    let (status, settings) = send(req(Method::GET, "/settings")).await;
    assert_eq!(status, 200);
    assert_eq!(settings["audit_retention_days"], 180);
    let (status, _) = send(
        req(Method::PUT, "/settings")
            .json(&json!({"session_ttl_secs": 600, "mfa_policy": "always"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, settings) = send(req(Method::GET, "/settings")).await;
    assert_eq!(
        (
            settings["session_ttl_secs"].as_i64(),
            settings["mfa_policy"].as_str()
        ),
        (Some(600), Some("always"))
    );
    let (status, body) =
        send(req(Method::PUT, "/settings").json(&json!({"session_ttl_secs": 1}))).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("session_ttl_secs")
    );
    let (status, _) =
        send(req(Method::PUT, "/settings").json(&json!({"mfa_policy": "sometimes"}))).await;
    assert_eq!(status, 400);

    // Delete the user; the audit log shows everything with the token as actor.
    let (status, _) = send(req(Method::DELETE, &format!("/users/{uid}"))).await;
    assert_eq!(status, 204);
    let (status, _) = send(req(Method::GET, &format!("/users/{uid}"))).await;
    assert_eq!(status, 404);
    let (status, events) = send(req(
        Method::GET,
        &format!("/audit-events?action=user:&target={uid}"),
    ))
    .await;
    assert_eq!(status, 200);
    let actions: Vec<_> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["action"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions.first().map(String::as_str), Some("delete"));
    assert_eq!(actions.last().map(String::as_str), Some("create"));
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_type"] == "api_token" && e["source_ip"] == "127.0.0.1")
    );
    let (status, _) = send(req(Method::GET, "/audit-events?result=maybe")).await;
    assert_eq!(status, 400);
});

both_servers!(instances_crud_over_http, |srv| {
    let (status, inst) = send(
        srv.platform(Method::POST, "/api/v1/instances")
            .json(&json!({"name": "Acme", "base_url": "https://login.acme.test/"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(inst["base_url"], "https://login.acme.test");
    assert_eq!(inst["status"], "running");
    let iid = inst["id"].as_str().unwrap().to_owned();
    assert!(iid.starts_with("idaas_"));
    let (status, list) = send(srv.platform(Method::GET, "/api/v1/instances")).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, upd) = send(
        srv.platform(Method::PATCH, &format!("/api/v1/instances/{iid}"))
            .json(&json!({"name": "Acme 2", "base_url": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (upd["name"].as_str(), upd["base_url"].is_null()),
        (Some("Acme 2"), true)
    );
    let (status, _) = send(
        srv.platform(Method::POST, "/api/v1/instances")
            .json(&json!({"name": "x", "base_url": "ftp://x"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(srv.platform(Method::DELETE, &format!("/api/v1/instances/{iid}"))).await;
    assert_eq!(status, 204);
    let (status, _) = send(srv.platform(Method::DELETE, &format!("/api/v1/instances/{iid}"))).await;
    assert_eq!(status, 404);
    // Platform tokens.
    let (status, t) = send(
        srv.platform(Method::POST, "/api/v1/api-tokens")
            .json(&json!({"name": "ci"})),
    )
    .await;
    assert_eq!(status, 201);
    let secret = t["secret"].as_str().unwrap().to_owned();
    let (status, _) = send(srv.with_token(&secret, Method::GET, "/api/v1/instances")).await;
    assert_eq!(status, 200);
});

both_servers!(parsers_refuse_bad_input, |srv| {
    let (iid, token) = srv.instance_with_token("A").await;
    let users = format!("/api/v1/instances/{iid}/users");
    let post = |body: &'static str| {
        srv.with_token(&token, Method::POST, &users)
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, body) = send(post("{not json")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, body) = send(post(r#"{"username": "al ice"}"#)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("username"),
        "{body}"
    );
    let (status, body) = send(post(r#"{"username": "alice", "email": "nope"}"#)).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("e-mail"),
        "{body}"
    );
    let (status, _) = send(post(r#"{"username": "alice", "phone": "call me"}"#)).await;
    assert_eq!(status, 400);
    let (status, _) = send(post(r#"{"username": "alice", "is_root": true}"#)).await;
    assert_eq!(status, 400, "unknown fields are refused");
    let (status, _) = send(post(
        r#"{"username": "alice", "custom_fields": {"a": {"nested": 1}}}"#,
    ))
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(post(r#"{}"#)).await;
    assert_eq!(status, 400);
    let (status, body) = send(
        srv.with_token(&token, Method::POST, &users)
            .body(r#"{"username":"alice"}"#),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, _) =
        send(srv.with_token(&token, Method::GET, &format!("{users}?limit=abc"))).await;
    assert_eq!(status, 400);
    let (status, _) = send(srv.with_token(&token, Method::GET, &format!("{users}?bogus=1"))).await;
    assert_eq!(status, 400);
    // Oversized JSON body (limit 1 MiB).
    let big = format!(
        r#"{{"username": "alice", "display_name": "{}"}}"#,
        "x".repeat(1_100_000)
    );
    let (status, body) = send(
        srv.with_token(&token, Method::POST, &users)
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Bad CSV header.
    let import = format!("/api/v1/instances/{iid}/users:import");
    let (status, body) = send(
        srv.with_token(&token, Method::POST, &import)
            .header("content-type", "text/csv")
            .body("user,mail\n"),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_csv")));
    // Good CSV.
    let (status, report) = send(
        srv.with_token(&token, Method::POST, &import)
            .header("content-type", "text/csv")
            .body("username,email\nbob,bob@example.com\nbad user,x@example.com\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (report["created"].as_i64(), report["failed"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(report["rows"][1]["outcome"], "error");
    assert_eq!(report["rows"][1]["row"], 2);
    // Oversized CSV (limit lowered below).
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_import_is_refused() {
    let Some(srv) = TestServer::start_with(crate::support::Backend::Sqlite, |c| {
        c.max_import_bytes = 1000
    })
    .await
    else {
        return;
    };
    let (iid, token) = srv.instance_with_token("A").await;
    let import = format!("/api/v1/instances/{iid}/users:import");
    let mut csv = String::from("username\n");
    for i in 0..200 {
        csv.push_str(&format!("user{i}\n"));
    }
    let (status, body) = send(srv.with_token(&token, Method::POST, &import).body(csv)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert!(
        srv.services
            .find_user_by_username(&iid, "user0")
            .await
            .unwrap()
            .is_none()
    );
    srv.stop().await;
}

both_servers!(console_session_admin_needs_csrf, |srv| {
    use idaas::audit::Actor;
    let (iid, _token) = srv.instance_with_token("A").await;
    let s = &srv.services;
    let mut admin = crate::store_accounts::new_user("root");
    admin.is_admin = true;
    let admin = s
        .create_user(&Actor::system(), &iid, admin, None)
        .await
        .unwrap();
    let plain = s
        .create_user(
            &Actor::system(),
            &iid,
            crate::store_accounts::new_user("plain"),
            None,
        )
        .await
        .unwrap();
    let mut tx = s.store.begin_write().await.unwrap();
    let mk = |user_id: &str, mfa_pending: bool| idaas::store::session::SessionParams {
        instance_id: &iid,
        user_id: if user_id == "admin" {
            &admin.id
        } else {
            &plain.id
        },
        now: s.now(),
        ttl_secs: 3600,
        authn_methods: "password",
        mfa_pending,
        source_ip: None,
    };
    let admin_sess = idaas::store::session::create(&mut tx, mk("admin", false))
        .await
        .unwrap();
    let pending_sess = idaas::store::session::create(&mut tx, mk("admin", true))
        .await
        .unwrap();
    let plain_sess = idaas::store::session::create(&mut tx, mk("plain", false))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let cookie = |tok: &str| format!("{}={tok}", idaas::http::auth::session_cookie_name(&iid));
    let users = srv.url(&format!("/api/v1/instances/{iid}/users"));

    let (status, _) = send(
        srv.client
            .get(&users)
            .header("cookie", cookie(&admin_sess.token)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        srv.client
            .get(&users)
            .header("cookie", cookie(&pending_sess.token)),
    )
    .await;
    assert_eq!(status, 401, "second factor missing");
    let (status, body) = send(
        srv.client
            .get(&users)
            .header("cookie", cookie(&plain_sess.token)),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, body) = send(
        srv.client
            .post(&users)
            .header("cookie", cookie(&admin_sess.token))
            .json(&json!({"username": "x1"})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf")));
    let (status, _) = send(
        srv.client
            .post(&users)
            .header("cookie", cookie(&admin_sess.token))
            .header("x-csrf-token", "wrong")
            .json(&json!({"username": "x1"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, created) = send(
        srv.client
            .post(&users)
            .header("cookie", cookie(&admin_sess.token))
            .header("x-csrf-token", &admin_sess.session.csrf_token)
            .json(&json!({"username": "x1"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, events) = send(srv.platform(
        Method::GET,
        &format!(
            "/api/v1/instances/{iid}/audit-events?target={}",
            created["id"].as_str().unwrap()
        ),
    ))
    .await;
    assert_eq!(events["items"][0]["actor_type"], "user");
    assert_eq!(events["items"][0]["actor_id"], admin.id.as_str());
});
