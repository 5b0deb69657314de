//! Test helpers: per-backend environments and a running server with an HTTP client.

#![allow(dead_code)]

use std::sync::Arc;

use cloudsso::audit::Actor;
use cloudsso::directory::{Directory, DirectoryName};
use cloudsso::{Config, ManualClock, RunningServer, Server, Services};
use db::testing::{self, TestDb};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite temp file.
    Sqlite,
    /// Fresh PostgreSQL database.
    Postgres,
}

/// A fixed start time for tests with a manual clock (2026-01-01T00:00:00Z).
pub const T0: i64 = 1_767_225_600;

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

/// Services over a migrated test database, without HTTP, with a manual clock at [`T0`].
pub struct Env {
    pub services: Arc<Services>,
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    // Dropped last: removes the database.
    pub tdb: TestDb,
}

impl Env {
    pub async fn new(backend: Backend) -> Option<Env> {
        let tdb = test_db(backend).await?;
        let store = cloudsso::store::Store::new(tdb.db.clone());
        store.migrate().await.expect("migrate");
        let config = Config::for_tests(tdb.url.clone());
        let clock = Arc::new(ManualClock::new(T0));
        let services = Services::new(config, "http://sso.test".into(), store, clock.clone())
            .expect("services");
        Some(Env {
            services: Arc::new(services),
            clock,
            backend,
            tdb,
        })
    }

    pub fn actor(&self) -> Actor {
        Actor::system()
    }

    /// Creates a directory named `name`.
    pub async fn directory(&self, name: &str) -> Directory {
        self.services
            .create_directory(
                &Actor::system(),
                DirectoryName::try_from(name.to_owned()).unwrap(),
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

/// A running server (manual clock at [`T0`]), a client without redirects or cookies, a platform token.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub services: Arc<Services>,
    pub clock: Arc<ManualClock>,
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
        let clock = Arc::new(ManualClock::new(T0));
        let server = Server::start_with_clock(config, clock.clone())
            .await
            .expect("server starts");
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
            clock,
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

    /// Creates a directory in-process and returns it.
    pub async fn directory(&self, name: &str) -> Directory {
        self.services
            .create_directory(
                &Actor::system(),
                DirectoryName::try_from(name.to_owned()).unwrap(),
            )
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// The folder of the shared metadata fixtures, or `None` (after printing SKIP) when absent.
pub fn metadata_fixtures() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("GATEHOUSE_METADATA_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/metadata")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: metadata fixtures not found at {}", dir.display());
        None
    }
}
