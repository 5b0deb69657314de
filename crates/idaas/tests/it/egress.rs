//! The provisioning SSRF defence (issue 4 security audit): with private network targets not
//! allowed (`metadata_fetch_allow_private` off, production), a SCIM base URL or token endpoint on
//! loopback, private, link-local or unique-local addresses is refused when saved, and a stored
//! configuration that points there anyway (saved earlier, under the other setting) is refused
//! again at delivery time (a host name resolving to 127.0.0.1 by the connection-time resolver, an
//! IP literal when the client is built): the entry is dead-lettered at once with a clear error and
//! nothing reaches the target. With the switch on (tests, the `gatehouse up` demo), the same
//! loopback target is delivered to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use idaas::audit::Actor;
use idaas::provisioning::config::{AuthInput, AuthMode, ProvisioningInput, ProvisioningScope};
use idaas::{Config, Services};

use crate::scim_target::{ScimTarget, TOKEN};
use crate::support::{Backend, TestServer, send};

struct Fixture {
    srv: TestServer,
    iid: String,
    token: String,
    app: String,
    ou: String,
    target: ScimTarget,
}

impl Fixture {
    async fn start(allow_private: bool) -> Fixture {
        let srv = TestServer::start_with(Backend::Sqlite, |c| {
            c.metadata_fetch_allow_private = allow_private;
            c.provisioning_backoff_base_ms = 50;
            c.provisioning_backoff_cap_ms = 200;
            c.provisioning_http_timeout_ms = 2_000;
            c.provisioning_poll_ms = 50;
        })
        .await
        .expect("sqlite");
        let (iid, token) = srv.instance_with_token("Acme").await;
        let target = ScimTarget::start(false).await;
        let mut f = Fixture {
            srv,
            iid,
            token,
            app: String::new(),
            ou: String::new(),
            target,
        };
        let app = f
            .ok(f
                .api(Method::POST, "/apps")
                .json(&json!({ "template_id": "apt_cloudsso_saml" })))
            .await;
        f.app = app["id"].as_str().unwrap().to_owned();
        let ou = f
            .ok(f
                .api(Method::POST, "/org-units")
                .json(&json!({ "name": "Staff" })))
            .await;
        f.ou = ou["id"].as_str().unwrap().to_owned();
        f
    }

    fn api(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.srv.with_token(
            &self.token,
            method,
            &format!("/api/v1/instances/{}{path}", self.iid),
        )
    }

    fn prov(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.api(method, &format!("/apps/{}/provisioning{path}", self.app))
    }

    async fn ok(&self, req: reqwest::RequestBuilder) -> Value {
        let (st, v) = send(req).await;
        assert!((200..300).contains(&st), "{st}: {v}");
        v
    }

    /// The target's port on 127.0.0.1.
    fn port(&self) -> u16 {
        url::Url::parse(&self.target.base).unwrap().port().unwrap()
    }

    fn body(&self, base_url: &str, auth: Value) -> Value {
        json!({
            "enabled": true,
            "base_url": base_url,
            "auth": auth,
            "scope": { "org_unit_ids": [self.ou], "group_ids": [] },
            "max_attempts": 5,
        })
    }

    /// Saves a configuration the way a server allowing private targets did: over the same
    /// database, bypassing this server's save-time rule.
    async fn save_permissively(&self, base_url: &str) {
        let services = Services::new(
            Config::for_tests(self.srv.tdb.url.clone()),
            "http://localhost".into(),
            idaas::store::Store::new(self.srv.tdb.db.clone()),
            Arc::new(idaas::SystemClock),
        )
        .unwrap();
        services
            .put_provisioning(
                &Actor::system(),
                &self.iid,
                &self.app,
                ProvisioningInput {
                    enabled: Some(true),
                    base_url: Some(base_url.to_owned()),
                    auth: Some(AuthInput {
                        mode: AuthMode::BearerToken,
                        access_token: Some(TOKEN.to_owned()),
                        token_endpoint: None,
                        client_id: None,
                        client_secret: None,
                        authn_method: None,
                    }),
                    scope: Some(ProvisioningScope {
                        org_unit_ids: vec![self.ou.clone()],
                        group_ids: vec![],
                    }),
                    max_attempts: Some(5),
                    ..ProvisioningInput::default()
                },
            )
            .await
            .unwrap();
        self.srv.services.wake_provisioning();
    }

    async fn user_in_scope(&self, name: &str) -> String {
        let u = self
            .ok(self.api(Method::POST, "/users").json(&json!({
                "username": name, "display_name": name, "email": format!("{name}@example.com"),
            })))
            .await;
        let uid = u["id"].as_str().unwrap().to_owned();
        self.ok(self
            .api(Method::POST, &format!("/users/{uid}/org-units"))
            .json(&json!({ "org_unit_id": self.ou })))
            .await;
        self.srv.services.wake_provisioning();
        uid
    }

    /// Waits for `uid`'s outbox entry to be dead and returns it.
    async fn dead_entry(&self, uid: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.ok(self.prov(Method::GET, "/outbox?state=dead")).await;
            if let Some(e) = o["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["object_id"] == uid)
            {
                return e.clone();
            }
            assert!(Instant::now() < deadline, "{uid} not dead-lettered: {o}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_refused_when_saved_and_when_delivered() {
    let f = Fixture::start(false).await;
    let port = f.port();
    let bearer = json!({ "mode": "bearer_token", "access_token": TOKEN });

    // Save time: loopback (literal or name, http or https), private, link-local (cloud
    // metadata), IPv6 loopback and unique-local are refused, and so is plain http anywhere.
    for url in [
        format!("http://127.0.0.1:{port}/scim/v2"),
        format!("https://127.0.0.1:{port}/scim/v2"),
        format!("https://localhost:{port}/scim/v2"),
        "https://10.0.0.7/scim/v2".to_owned(),
        "https://169.254.169.254/latest".to_owned(),
        "https://[::1]/scim/v2".to_owned(),
        "https://[fc00::1]/scim/v2".to_owned(),
        "http://scim.example.com/v2".to_owned(),
    ] {
        let (st, v) = send(f.prov(Method::PUT, "").json(&f.body(&url, bearer.clone()))).await;
        assert_eq!(st, 400, "{url}: {v}");
        assert!(v.to_string().contains("base_url"), "{url}: {v}");
    }
    // The OAuth token endpoint is held to the same rule.
    let cc = json!({
        "mode": "client_credentials", "token_endpoint": "https://169.254.169.254/token",
        "client_id": "c", "client_secret": "s",
    });
    let (st, v) = send(
        f.prov(Method::PUT, "")
            .json(&f.body("https://scim.example.com/v2", cc)),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("token_endpoint"), "{v}");

    // Delivery time, a host name resolving to 127.0.0.1: refused by the resolver, dead-lettered
    // at the first attempt (not retried), nothing sent.
    f.save_permissively(&format!("http://localhost:{port}/scim/v2"))
        .await;
    let ann = f.user_in_scope("ann").await;
    let e = f.dead_entry(&ann).await;
    assert_eq!(e["attempts"], 1, "{e}");
    let err = e["last_error"].as_str().unwrap();
    assert!(
        err.contains("localhost") && err.contains("non-public") && err.contains("not allowed"),
        "{err}"
    );

    // Delivery time, an IP literal (never seen by a resolver): refused when the client is built.
    f.save_permissively(&format!("http://127.0.0.1:{port}/scim/v2"))
        .await;
    let bob = f.user_in_scope("bob").await;
    let e = f.dead_entry(&bob).await;
    assert_eq!(e["attempts"], 1, "{e}");
    let err = e["last_error"].as_str().unwrap();
    assert!(
        err.contains("127.0.0.1") && err.contains("non-public"),
        "{err}"
    );

    assert!(f.target.log().is_empty(), "{:?}", f.target.log());
    assert!(f.target.users().is_empty());
    f.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_allowed_when_switched_on() {
    let f = Fixture::start(true).await;
    let port = f.port();
    // A name resolving to loopback, over plain http: saved and delivered.
    f.ok(f.prov(Method::PUT, "").json(&f.body(
        &format!("http://localhost:{port}/scim/v2"),
        json!({ "mode": "bearer_token", "access_token": TOKEN }),
    )))
    .await;
    f.user_in_scope("cyd").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.target.user_by_name("cyd").is_none() {
        assert!(
            Instant::now() < deadline,
            "not delivered: {}",
            f.ok(f.prov(Method::GET, "/outbox?state=dead")).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.srv.stop().await;
}
