//! Gatehouse IDaaS: the identity provider.
//!
//! Instances (tenants) with accounts, organizational units and groups; sign-in with password and
//! TOTP; applications with SAML 2.0 single sign-on; a user portal; an admin REST API; an audit log.
//! Domain types live in the noun modules, SQL in [`store`], HTTP in [`http`].
#![forbid(unsafe_code)]

pub mod account_import;
pub mod api_token;
pub mod audit;
pub use web::clock;
pub mod config;
pub mod error;
pub mod group;
pub mod http;
pub use web::id;
pub mod instance;
pub mod metrics;
pub mod net;
pub mod org_unit;
pub mod provisioning;
pub mod services;
pub mod store;
pub mod user;

// Sign-in, applications and SAML (H-sso).
pub mod application;
pub mod attribute_expr;
pub mod marketplace;
pub use web::master_key;
pub use web::mfa;
pub use web::password;
pub mod saml_idp;
pub mod sign_in;
pub mod signing_key;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, MasterKeyMaterial};
pub use error::{Error, Result};
pub use services::Services;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Connecting to or migrating the database failed.
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The master key or password hasher could not be set up.
    #[error("setup: {0}")]
    Setup(String),
}

/// The IDaaS server.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Connects to the database, migrates it, binds the listener and serves until shut down.
    pub async fn start(config: Config) -> Result<RunningServer, StartError> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`Server::start`] with an injected clock (tests).
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<RunningServer, StartError> {
        let db = db::Db::connect(&config.database_url).await?;
        let store = store::Store::new(db);
        store.migrate().await?;

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let base_url = if config.public_base_url.is_empty() {
            format!("http://{local_addr}")
        } else {
            config.public_base_url.trim_end_matches('/').to_owned()
        };

        let services = Arc::new(Services::new(config, base_url.clone(), store, clock)?);
        let router = http::router(http::AppState::new(Arc::clone(&services)));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);

        let mut rx = shutdown_rx.clone();
        let serve = tokio::spawn(async move {
            let result = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "idaas server stopped with an error");
            }
        });
        let provisioning = tokio::spawn(provisioning::worker::run(
            Arc::clone(&services),
            shutdown_rx.clone(),
        ));
        let maintenance = tokio::spawn(services::run_maintenance(
            Arc::clone(&services),
            shutdown_rx,
        ));
        tracing::info!(%local_addr, %base_url, "idaas listening");
        Ok(RunningServer {
            local_addr,
            base_url,
            services,
            shutdown_tx,
            tasks: vec![serve, maintenance, provisioning],
        })
    }
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    base_url: String,
    services: Arc<Services>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The public base URL (`http://127.0.0.1:<port>` when none was configured).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The domain services (for in-process seeding and tests).
    pub fn services(&self) -> Arc<Services> {
        Arc::clone(&self.services)
    }

    /// Stops accepting connections, lets running requests finish, stops workers, closes the pool.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.services.store.db().close().await;
    }
}
