//! `gatehouse serve`: IDaaS from explicit settings (flags or `GATEHOUSE_*` environment variables,
//! secrets also from files), for deployments on SQLite or PostgreSQL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand::Rng as _;

/// Options of `gatehouse serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "GATEHOUSE_LISTEN")]
    pub listen: SocketAddr,
    /// Public base URL (what browsers and SPs use to reach this server).
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL")]
    pub public_url: String,
    /// `sqlite://path?mode=rwc` (embedded) or `postgres://user:pass@host/db` (multi-node).
    #[arg(long, env = "GATEHOUSE_DATABASE_URL")]
    pub database_url: String,
    /// File holding the 32-byte master key (hex or base64); see also GATEHOUSE_MASTER_KEY.
    #[arg(long, env = "GATEHOUSE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Serve over plain HTTP (cookies without `Secure`): only behind a TLS-terminating proxy that
    /// rewrites nothing, or for local tests.
    #[arg(long, env = "GATEHOUSE_INSECURE_COOKIES")]
    pub insecure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (CIDRs, comma-separated); the
    /// rate limits and the audit log use that address. Without it, the TCP peer counts.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<idaas::net::IpNet>,
    /// Seconds a new signing key is published in metadata before it may sign (default 24 h).
    #[arg(long, env = "GATEHOUSE_KEY_PUBLISH_MIN_SECS")]
    pub key_publish_min_secs: Option<i64>,
    /// Argon2id memory cost in KiB.
    #[arg(long, env = "GATEHOUSE_ARGON2_MEMORY_KIB")]
    pub argon2_memory_kib: Option<u32>,
    /// Argon2id iterations.
    #[arg(long, env = "GATEHOUSE_ARGON2_ITERATIONS")]
    pub argon2_iterations: Option<u32>,
    /// Allow private network targets: SP metadata fetches, SCIM provisioning and OAuth token
    /// requests may then reach loopback, private and link-local addresses, over plain http too.
    /// For tests and local trials only: off, outgoing requests go to public addresses only.
    #[arg(long, env = "GATEHOUSE_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,
}

/// Why the master key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key text is not 32 bytes of hex or base64.
    #[error("{0}: {1}")]
    Parse(String, idaas::config::MasterKeyParseError),
    /// No key configured.
    #[error("no master key: set GATEHOUSE_MASTER_KEY or --master-key-file")]
    Missing,
}

/// Reads the master key file, creating it (mode 0600, 32 random bytes as hex) if it is absent.
pub fn load_or_create_master_key(path: &Path) -> Result<idaas::MasterKeyMaterial, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        let bytes: [u8; 32] = rand::rng().random();
        write_private(path, &hex::encode(bytes)).map_err(io)?;
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    idaas::MasterKeyMaterial::parse(&text)
        .map_err(|e| KeyError::Parse(path.display().to_string(), e))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn master_key(args: &ServeArgs) -> Result<idaas::MasterKeyMaterial, KeyError> {
    if let Ok(text) = std::env::var("GATEHOUSE_MASTER_KEY") {
        return idaas::MasterKeyMaterial::parse(&text)
            .map_err(|e| KeyError::Parse("GATEHOUSE_MASTER_KEY".into(), e));
    }
    let path = args.master_key_file.as_deref().ok_or(KeyError::Missing)?;
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    idaas::MasterKeyMaterial::parse(&text)
        .map_err(|e| KeyError::Parse(path.display().to_string(), e))
}

/// Runs the server until Ctrl-C.
pub async fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let key = master_key(&args)?;
    let mut config = idaas::Config::new(
        args.listen,
        args.public_url.clone(),
        args.database_url.clone(),
        key,
    );
    config.secure_cookies = !args.insecure_cookies;
    config.trusted_proxies = args.trusted_proxies.clone();
    config.metadata_fetch_allow_private = args.allow_private_targets;
    if args.allow_private_targets {
        tracing::warn!(
            "private network targets allowed: metadata fetches and provisioning may reach \
             loopback and private addresses"
        );
    }
    if let Some(secs) = args.key_publish_min_secs {
        config.key_publish_min_secs = secs;
    }
    if let Some(m) = args.argon2_memory_kib {
        config.argon2.memory_kib = m;
    }
    if let Some(t) = args.argon2_iterations {
        config.argon2.iterations = t;
    }
    let server = idaas::Server::start(config).await?;
    eprintln!(
        "IDaaS listening on {} ({})",
        server.local_addr(),
        server.base_url()
    );
    bootstrap_platform_token(&server).await?;
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(())
}

/// On a fresh deployment there is no way in yet: create the first platform API token and print it
/// once (it is stored hashed and cannot be shown again).
async fn bootstrap_platform_token(
    server: &idaas::RunningServer,
) -> Result<(), Box<dyn std::error::Error>> {
    let services = server.services();
    if !services.list_api_tokens(None).await?.is_empty() {
        return Ok(());
    }
    let name = idaas::api_token::TokenName::try_from("bootstrap".to_owned())?;
    let created = services
        .create_api_token(&idaas::audit::Actor::system(), None, name, None)
        .await?;
    eprintln!(
        "created the first platform API token (shown once, store it now): {}",
        created.secret
    );
    Ok(())
}
