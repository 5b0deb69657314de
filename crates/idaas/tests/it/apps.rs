//! Applications admin API: marketplace, create/update/convert, validation, SP metadata import (every
//! SP in the shared fixtures, upload and URL with SSRF guards), signing-key rotation in metadata.

use std::path::Path;

use serde_json::{Value, json};

use crate::signin::Idp;
use crate::support::{Backend, send};

async fn create(idp: &Idp, template_id: &str) -> Value {
    let (st, app) = send(
        idp.api(reqwest::Method::POST, "/apps")
            .json(&json!({ "template_id": template_id })),
    )
    .await;
    assert_eq!(st, 201, "{app}");
    app
}

async fn run_lifecycle(idp: Idp) {
    // Marketplace search by name.
    let (st, hits) = send(idp.api(
        reqwest::Method::GET,
        "/marketplace/templates?q=Alibaba%20Cloud%20-%20Cloud%20SSO",
    ))
    .await;
    assert_eq!(st, 200);
    assert_eq!(hits[0]["id"], "apt_cloudsso_saml");
    assert_eq!(hits[0]["name"], "Alibaba Cloud - Cloud SSO");
    // Created from the Cloud SSO template: SP fields blank until Cloud SSO shows them.
    let app = create(&idp, "apt_cloudsso_saml").await;
    let id = app["id"].as_str().unwrap().to_owned();
    assert_eq!(app["source_type"], "template");
    assert_eq!(app["smart_config_available"], true);
    assert_eq!(app["saml"]["sp_entity_id"], Value::Null);
    assert_eq!(app["saml"]["name_id_lowercase"], true);
    assert!(
        app["metadata_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v2/{id}/saml2/meta"))
    );
    assert_eq!(app["idp_entity_id"], app["metadata_url"]);
    assert!(
        app["sso_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/login/app/{id}/saml2/sso"))
    );
    // Validation: both signatures off is refused; a bad ACS is refused; nothing changes.
    let (st, e) = send(
        idp.api(reqwest::Method::PATCH, &format!("/apps/{id}"))
            .json(&json!({ "saml": { "assertion_signed": false, "response_signed": false } })),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = send(
        idp.api(reqwest::Method::PATCH, &format!("/apps/{id}"))
            .json(&json!({ "saml": { "acs_url": "javascript:alert(1)" } })),
    )
    .await;
    assert_eq!(st, 400);
    let (st, e) = send(idp.api(reqwest::Method::PATCH, &format!("/apps/{id}")).json(&json!({ "saml": { "attribute_statements": [{ "name": "x", "value_expression": "user.password" }] } }))).await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("unknown variable"),
        "{e}"
    );
    let (st, e) = send(idp.api(reqwest::Method::PATCH, &format!("/apps/{id}")).json(&json!({ "saml": { "optional_relay_states": [{ "display_name": "A", "relay_state": "https://a" }] } }))).await;
    assert_eq!(st, 400, "{e}");
    // A partial update keeps the rest.
    let (st, app) = send(idp.api(reqwest::Method::PATCH, &format!("/apps/{id}")).json(&json!({
        "name": "Cloud SSO prod",
        "authorization_type": "default_all",
        "saml": { "acs_url": "https://signin-cn-shanghai.alibabacloudsso.com/saml/acs/1234", "sp_entity_id": "https://signin-cn-shanghai.alibabacloudsso.com/saml/sp/d-001",
                  "default_relay_state": "https://home", "optional_relay_states": [{ "display_name": "Console", "relay_state": "https://console" }],
                  "init_login_type": "only_app_init_sso", "init_login_url": "http://127.0.0.1:8000/start_login?enterprise_code=ABCDEF" }
    }))).await;
    assert_eq!(st, 200, "{app}");
    assert_eq!(app["name"], "Cloud SSO prod");
    assert_eq!(app["saml"]["name_id_lowercase"], true);
    assert_eq!(app["saml"]["init_login_type"], "only_app_init_sso");
    assert_eq!(app["authorization_type"], "default_all");
    // Conversion to standard is one way and ends smart configuration.
    let (st, app) = send(idp.api(
        reqwest::Method::POST,
        &format!("/apps/{id}/convert-to-standard"),
    ))
    .await;
    assert_eq!(st, 200);
    assert_eq!(app["source_type"], "standard");
    assert_eq!(app["smart_config_available"], false);
    assert_eq!(
        app["saml"]["sp_entity_id"],
        "https://signin-cn-shanghai.alibabacloudsso.com/saml/sp/d-001"
    );
    let (st, _) = send(idp.api(
        reqwest::Method::POST,
        &format!("/apps/{id}/convert-to-standard"),
    ))
    .await;
    assert_eq!(st, 400);
    // Listing, searching, other instances cannot see it.
    let (_, list) = send(idp.api(reqwest::Method::GET, "/apps?q=prod")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (other_iid, other_token) = idp.srv.instance_with_token("Other").await;
    let (st, _) = send(idp.srv.with_token(
        &other_token,
        reqwest::Method::GET,
        &format!("/api/v1/instances/{other_iid}/apps/{id}"),
    ))
    .await;
    assert_eq!(st, 404);
    let (st, _) = send(idp.srv.with_token(
        &other_token,
        reqwest::Method::GET,
        &format!("/api/v1/instances/{}/apps/{id}", idp.iid),
    ))
    .await;
    assert_eq!(st, 404);
    // Every change is audited.
    let mut conn = idp.srv.services.store.read().await.unwrap();
    let q = idaas::audit::AuditQuery {
        limit: 500,
        action_prefix: Some("application:".into()),
        ..Default::default()
    };
    let events = idaas::store::audit::query(&mut conn, Some(&idp.iid), &q)
        .await
        .unwrap();
    let actions: Vec<_> = events
        .items
        .iter()
        .map(|e| e.action.rsplit(':').next().unwrap().to_owned())
        .collect();
    for a in ["create", "update", "convert_to_standard"] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not audited: {actions:?}"
        );
    }
    drop(conn);
    let (st, _) = send(idp.api(reqwest::Method::DELETE, &format!("/apps/{id}"))).await;
    assert_eq!(st, 204);
    idp.stop().await;
}
crate::both_idps!(application_lifecycle, run_lifecycle);

/// The real-world metadata files (`GATEHOUSE_METADATA_FIXTURES`, else `shared/` beside the
/// repository); `None` with a SKIP message when absent (they are never copied into the repo).
fn fixtures() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("GATEHOUSE_METADATA_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/metadata")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP metadata fixtures: {} absent", dir.display());
        None
    }
}

async fn run_metadata_import(idp: Idp) {
    let Some(dir) = fixtures() else {
        idp.stop().await;
        return;
    };
    let app = create(&idp, "apt_saml2_standard").await;
    let id = app["id"].as_str().unwrap().to_owned();
    let mut imported = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let xml = std::fs::read_to_string(&path).unwrap();
        let is_sp = saml::metadata::parse_sp_metadata(xml.trim_start_matches('\u{feff}')).is_ok();
        let resp = idp
            .api(reqwest::Method::POST, &format!("/apps/{id}/sp-metadata"))
            .header("content-type", "application/xml")
            .body(xml.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if is_sp {
            assert_eq!(status, 200, "{name}: {body}");
            assert!(!body["sp_entity_id"].as_str().unwrap().is_empty());
            assert_eq!(body["application"]["saml"]["acs_url"], body["acs_url"]);
            imported += 1;
        } else {
            assert_eq!(status, 400, "{name} has no SP: {body}");
        }
    }
    assert!(imported >= 4, "only {imported} SP metadata files imported");
    // A specific one: Okta's inbound SP carries a signing certificate.
    let okta = std::fs::read_to_string(dir.join("okta-sp-inbound.xml")).unwrap();
    let (st, body) = send(
        idp.api(reqwest::Method::POST, &format!("/apps/{id}/sp-metadata"))
            .body(okta),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body["sp_certificates"].as_u64().unwrap() >= 1);
    // Hostile input is refused by the hardened parser.
    let (st, _) = send(
        idp.api(reqwest::Method::POST, &format!("/apps/{id}/sp-metadata"))
            .body("<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"),
    )
    .await;
    assert_eq!(st, 400);
    idp.stop().await;
}
crate::both_idps!(sp_metadata_import_of_every_fixture, run_metadata_import);

/// Serves `body` at `/md.xml` (and a redirect at `/redirect` to `target`) on 127.0.0.1.
async fn serve(body: String, redirect_to: String) -> std::net::SocketAddr {
    use axum::routing::get;
    let router = axum::Router::new()
        .route(
            "/md.xml",
            get(move || {
                let b = body.clone();
                async move { b }
            }),
        )
        .route("/big.xml", get(|| async { "x".repeat(2 * 1024 * 1024) }))
        .route(
            "/redirect",
            get(move || {
                let t = redirect_to.clone();
                async move { axum::response::Redirect::temporary(&t) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_metadata_from_url_with_ssrf_guards() {
    let Some(dir) = fixtures() else { return };
    let xml = std::fs::read_to_string(dir.join("crewjam-sp-middleware.xml")).unwrap();
    let addr = serve(xml, "http://169.254.169.254/latest/meta-data".into()).await;
    // Test servers allow private addresses (for this local fetch)…
    let idp = Idp::start(Backend::Sqlite).await.unwrap();
    let id = create(&idp, "apt_saml2_standard").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetch = |url: String| {
        idp.api(
            reqwest::Method::POST,
            &format!("/apps/{id}/sp-metadata/fetch"),
        )
        .json(&json!({ "url": url }))
    };
    let (st, body) = send(fetch(format!("http://{addr}/md.xml"))).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = send(fetch(format!("http://{addr}/big.xml"))).await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1 MiB"),
        "{body}"
    );
    idp.stop().await;
    // …production settings refuse loopback, private and link-local targets, and plain http.
    let srv = crate::support::TestServer::start_with(Backend::Sqlite, |c| {
        c.metadata_fetch_allow_private = false
    })
    .await
    .unwrap();
    let (iid, token) = srv.instance_with_token("Prod").await;
    let (_, app) = send(
        srv.with_token(
            &token,
            reqwest::Method::POST,
            &format!("/api/v1/instances/{iid}/apps"),
        )
        .json(&json!({ "template_id": "apt_saml2_standard" })),
    )
    .await;
    let app_id = app["id"].as_str().unwrap();
    for url in [
        format!("http://{addr}/md.xml"),
        format!("https://{addr}/md.xml"),
        format!("https://localhost:{}/md.xml", addr.port()),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://10.0.0.1/md.xml".to_owned(),
        "https://[::1]/md.xml".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let (st, body) = send(
            srv.with_token(
                &token,
                reqwest::Method::POST,
                &format!("/api/v1/instances/{iid}/apps/{app_id}/sp-metadata/fetch"),
            )
            .json(&json!({ "url": url })),
        )
        .await;
        assert_eq!(st, 400, "{url} must be refused: {body}");
    }
    srv.stop().await;
}

async fn run_key_rotation(idp: Idp) {
    let id = create(&idp, "apt_saml2_standard").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = idp.browser();
    let certs = |xml: &str| xml.matches("<ds:X509Certificate>").count();
    let md = b.get(&format!("/api/v2/{id}/saml2/meta")).await;
    assert_eq!(md.status, 200);
    assert_eq!(certs(&md.body), 1);
    assert!(md.body.contains(&format!("/login/app/{id}/saml2/sso")));
    let parsed = saml::metadata::parse_idp_metadata(&md.body).unwrap();
    assert!(
        parsed[0]
            .entity_id
            .ends_with(&format!("/api/v2/{id}/saml2/meta"))
    );
    let (_, keys) = send(idp.api(reqwest::Method::GET, "/signing-keys")).await;
    let old = keys[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(keys[0]["state"], "active");
    // The private key is stored encrypted, never as PEM/DER.
    {
        let mut conn = idp.srv.services.store.read().await.unwrap();
        let k = idaas::store::signing_key::get(&mut conn, &idp.iid, &old)
            .await
            .unwrap()
            .unwrap();
        assert!(!k.private_key_enc.contains("PRIVATE") && !k.private_key_enc.starts_with("MII"));
    }
    let (st, next) = send(
        idp.api(reqwest::Method::POST, "/signing-keys")
            .json(&json!({})),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(next["state"], "next");
    let (st, _) = send(
        idp.api(reqwest::Method::POST, "/signing-keys")
            .json(&json!({})),
    )
    .await;
    assert_eq!(st, 400, "one next key at a time");
    assert_eq!(
        certs(&b.get(&format!("/api/v2/{id}/saml2/meta")).await.body),
        2,
        "next is published beside active"
    );
    let next_id = next["id"].as_str().unwrap();
    // Just published: SPs had no time to fetch it; promotion needs the wait or `force` (audited).
    let (st, body) = send(idp.api(
        reqwest::Method::POST,
        &format!("/signing-keys/{next_id}/activate"),
    ))
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.to_string().contains("force"), "{body}");
    let (st, k) = send(idp.api(
        reqwest::Method::POST,
        &format!("/signing-keys/{next_id}/activate?force=true"),
    ))
    .await;
    assert_eq!(st, 200);
    {
        let mut conn = idp.srv.services.store.read().await.unwrap();
        let events = idaas::store::audit::query(
            &mut conn,
            Some(&idp.iid),
            &idaas::audit::AuditQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let activation = events
            .items
            .iter()
            .find(|e| e.action.ends_with("signing_key:activate"))
            .expect("activation audited");
        assert_eq!(activation.detail["forced"], true, "{:?}", activation.detail);
    }
    assert_eq!(k["state"], "active");
    let (_, keys) = send(idp.api(reqwest::Method::GET, "/signing-keys")).await;
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == old && k["state"] == "retired")
    );
    let md = b.get(&format!("/api/v2/{id}/saml2/meta")).await.body;
    assert_eq!(certs(&md), 2, "retired stays published");
    let old_cert = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old)
        .unwrap()["certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        md.find(next["certificate"].as_str().unwrap()).unwrap() < md.find(&old_cert).unwrap(),
        "the active certificate comes first"
    );
    let (st, _) = send(idp.api(reqwest::Method::DELETE, &format!("/signing-keys/{next_id}"))).await;
    assert_eq!(st, 400, "the active key cannot be removed");
    let (st, _) = send(idp.api(reqwest::Method::DELETE, &format!("/signing-keys/{old}"))).await;
    assert_eq!(st, 204);
    assert_eq!(
        certs(&b.get(&format!("/api/v2/{id}/saml2/meta")).await.body),
        1
    );
    assert_eq!(b.get("/api/v2/app_nope/saml2/meta").await.status, 404);
    idp.stop().await;
}
crate::both_idps!(signing_key_rotation, run_key_rotation);

/// The whole rotation on an injected clock: `next` is published, promotion waits for the minimum
/// publication time (24 h by default), then the retired key is removed from metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_waits_for_publication() {
    use idaas::signing_key::{KeyAlgorithm, KeyState};
    use std::sync::Arc;
    let tdb = crate::support::test_db(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    let store = idaas::store::Store::new(tdb.db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(idaas::ManualClock::new(1_800_000_000));
    let s = idaas::Services::new(
        idaas::Config::for_tests(tdb.url.clone()),
        "http://localhost".into(),
        store,
        clock.clone(),
    )
    .unwrap();
    let a = idaas::audit::Actor::system();
    let inst = s
        .create_instance(&a, "Acme".to_owned().try_into().unwrap(), None, None)
        .await
        .unwrap();
    let alg = KeyAlgorithm::RsaSha256;
    let old = s.active_signing_key(&inst.id, alg).await.unwrap().stored.id;
    let next = s.create_next_signing_key(&inst.id, &a, alg).await.unwrap();
    assert_eq!(
        s.published_certificates(&inst.id, alg).await.unwrap().len(),
        2
    );
    clock.advance(24 * 3600 - 1);
    assert!(matches!(
        s.promote_signing_key(&inst.id, &a, &next.id, false).await,
        Err(idaas::error::Error::Invalid(_))
    ));
    clock.advance(1);
    let k = s
        .promote_signing_key(&inst.id, &a, &next.id, false)
        .await
        .unwrap();
    assert_eq!(k.state, KeyState::Active);
    let keys = s.list_signing_keys(&inst.id).await.unwrap();
    assert!(
        keys.iter()
            .any(|k| k.id == old && k.state == KeyState::Retired)
    );
    assert_eq!(
        s.published_certificates(&inst.id, alg).await.unwrap().len(),
        2,
        "the retired key stays published until removed"
    );
    // Step 3: remove the retired key; it is no longer published, and is gone for good.
    assert!(
        s.remove_signing_key(&inst.id, &a, &next.id).await.is_err(),
        "active key stays"
    );
    s.remove_signing_key(&inst.id, &a, &old).await.unwrap();
    assert_eq!(
        s.published_certificates(&inst.id, alg).await.unwrap().len(),
        1
    );
    assert!(matches!(
        s.remove_signing_key(&inst.id, &a, &old).await,
        Err(idaas::error::Error::NotFound(_))
    ));
    assert_eq!(
        s.active_signing_key(&inst.id, alg).await.unwrap().stored.id,
        next.id
    );
}
