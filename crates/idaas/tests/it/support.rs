//! Test helpers: per-backend environments and a running server with an HTTP client.

#![allow(dead_code)]

use std::sync::Arc;

use db::testing::{self, TestDb};
use idaas::audit::Actor;
use idaas::instance::InstanceName;
use idaas::{Config, RunningServer, Server, Services};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite temp file.
    Sqlite,
    /// Fresh PostgreSQL database.
    Postgres,
}

/// Creates a test database; `None` (after printing SKIP) when PostgreSQL is not configured.
pub async fn test_db(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => Some(testing::sqlite().await.expect("sqlite test db")),
        Backend::Postgres => match testing::postgres().await.expect("postgres test db") {
            Some(db) => Some(db),
            None => {
                if testing::peers_required() {
                    panic!("GATEHOUSE_REQUIRE_PEERS=1 but GATEHOUSE_TEST_PG_URL is not set");
                }
                eprintln!("SKIP postgres: GATEHOUSE_TEST_PG_URL not set");
                None
            }
        },
    }
}

/// Services over a migrated test database, without HTTP.
pub struct Env {
    pub services: Arc<Services>,
    pub backend: Backend,
    // Dropped last: removes the database.
    pub tdb: TestDb,
}

impl Env {
    pub async fn new(backend: Backend) -> Option<Env> {
        let tdb = test_db(backend).await?;
        let store = idaas::store::Store::new(tdb.db.clone());
        store.migrate().await.expect("migrate");
        let config = Config::for_tests(tdb.url.clone());
        let services = Services::new(
            config,
            "http://localhost".into(),
            store,
            Arc::new(idaas::SystemClock),
        )
        .expect("services");
        Some(Env {
            services: Arc::new(services),
            backend,
            tdb,
        })
    }

    pub fn actor(&self) -> Actor {
        Actor::system()
    }

    pub async fn instance(&self, name: &str) -> idaas::instance::Instance {
        self.services
            .create_instance(
                &Actor::system(),
                InstanceName::try_from(name.to_owned()).unwrap(),
                None,
                None,
            )
            .await
            .unwrap()
    }
}

/// Runs the body once per backend as separate tests: `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$env:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some($env) = $crate::support::Env::new($crate::support::Backend::Sqlite).await
                else {
                    return;
                };
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($env) =
                    $crate::support::Env::new($crate::support::Backend::Postgres).await
                else {
                    return;
                };
                $body
            }
        }
    };
}

/// Like [`both_backends!`] but with a running server.
#[macro_export]
macro_rules! both_servers {
    ($name:ident, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some($srv) = $crate::support::TestServer::start($crate::support::Backend::Sqlite).await else {
                    return;
                };
                $body
                $srv.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($srv) = $crate::support::TestServer::start($crate::support::Backend::Postgres).await else {
                    return;
                };
                $body
                $srv.stop().await;
            }
        }
    };
}

/// A running server, a client and a platform token.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub services: Arc<Services>,
    pub base: String,
    pub client: reqwest::Client,
    pub platform_token: String,
    pub backend: Backend,
    pub tdb: TestDb,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<TestServer> {
        let tdb = test_db(backend).await?;
        let mut config = Config::for_tests(tdb.url.clone());
        tweak(&mut config);
        let server = Server::start(config).await.expect("server starts");
        let services = server.services();
        let token = services
            .create_api_token(
                &Actor::system(),
                None,
                "platform".to_owned().try_into().unwrap(),
                None,
            )
            .await
            .unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Some(TestServer {
            base: server.base_url().to_owned(),
            server: Some(server),
            services,
            client,
            platform_token: token.secret,
            backend,
            tdb,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the platform token.
    pub fn platform(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.platform_token)
    }

    /// A request with a given token.
    pub fn with_token(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// Creates an instance over the API and returns (instance id, instance-scoped token).
    pub async fn instance_with_token(&self, name: &str) -> (String, String) {
        let resp = self
            .platform(reqwest::Method::POST, "/api/v1/instances")
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let inst: serde_json::Value = resp.json().await.unwrap();
        let iid = inst["id"].as_str().unwrap().to_owned();
        let resp = self
            .platform(
                reqwest::Method::POST,
                &format!("/api/v1/instances/{iid}/api-tokens"),
            )
            .json(&serde_json::json!({ "name": "admin" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let tok: serde_json::Value = resp.json().await.unwrap();
        (iid, tok["secret"].as_str().unwrap().to_owned())
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// Sends and returns (status, JSON body or Null).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, body)
}
