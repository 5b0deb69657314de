//! `gatehouse up`: both halves of the product on localhost with a working demo on the embedded
//! store. First start creates the demo (through the admin API, as a user would script it) and
//! writes `<data-dir>/demo.json`; later starts reuse it. The demo's users and group reach Cloud
//! SSO over SCIM (IDaaS's Cloud SSO application provisions them), and IDaaS's outbox worker keeps
//! the two in sync while `up` runs.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use rand::Rng as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::ApiClient;
use crate::demo_sp::{self, DemoSp};

/// Options of `gatehouse up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Where the databases, the master key and demo.json live.
    #[arg(long, default_value = "./gatehouse-data", env = "GATEHOUSE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// IDaaS port.
    #[arg(long, default_value_t = 8080)]
    pub idaas_port: u16,
    /// Cloud SSO port.
    #[arg(long, default_value_t = 8081)]
    pub cloudsso_port: u16,
    /// Port of the built-in demo SAML service provider.
    #[arg(long, default_value_t = 8099)]
    pub demo_sp_port: u16,
    /// Wipe the data directory and create a fresh demo.
    #[arg(long)]
    pub reset: bool,
    /// Start, create the demo if needed, print it, and stop (for scripts and tests).
    #[arg(long, hide = true)]
    pub exit_after_setup: bool,
}

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// File system trouble in the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The IDaaS server did not start.
    #[error("IDaaS did not start: {0}")]
    Start(#[from] idaas::StartError),
    /// The Cloud SSO server did not start.
    #[error("Cloud SSO did not start: {0}")]
    CloudSsoStart(#[from] cloudsso::StartError),
    /// Seeding the demo through the API failed.
    #[error("creating the demo failed: {0}")]
    Seed(String),
    /// The demo SP did not start.
    #[error("demo SP: {0}")]
    DemoSp(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> UpError + '_ {
    move |source| UpError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Runs `gatehouse up` until Ctrl-C.
pub async fn run(args: UpArgs) -> Result<(), UpError> {
    let dir = &args.data_dir;
    if args.reset && dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let master_key = crate::serve::load_or_create_master_key(&dir.join("master.key"))
        .map_err(|e| UpError::Seed(e.to_string()))?;

    let idaas_addr = SocketAddr::new(args.host, args.idaas_port);
    let idaas_base = format!("http://{}", display_addr(idaas_addr));
    let db_url = format!("sqlite://{}?mode=rwc", dir.join("idaas.db").display());
    let mut config = idaas::Config::new(idaas_addr, idaas_base.clone(), db_url, master_key);
    // Plain-HTTP localhost demo: cookies cannot be `Secure`, and the demo SP and the SCIM target
    // (Cloud SSO, provisioned over http://127.0.0.1) are on loopback: private network targets
    // allowed.
    config.secure_cookies = false;
    config.metadata_fetch_allow_private = true;
    tracing::warn!(
        "demo mode: SP metadata fetches and SCIM provisioning may reach private and loopback \
         addresses and cookies are not Secure; use `gatehouse serve` for anything but a local \
         trial"
    );
    let server = idaas::Server::start(config).await?;

    let cloudsso_addr = SocketAddr::new(args.host, args.cloudsso_port);
    let cloudsso_base = format!("http://{}", display_addr(cloudsso_addr));
    // The two services are separate parties in real deployments: separate databases and keys.
    let cloudsso_key = crate::serve::load_or_create_master_key(&dir.join("cloudsso-master.key"))
        .map_err(|e| UpError::Seed(e.to_string()))?;
    let cloudsso_db = format!("sqlite://{}?mode=rwc", dir.join("cloudsso.db").display());
    let mut cs_config = cloudsso::Config::new(
        cloudsso_addr,
        cloudsso_base.clone(),
        cloudsso_db,
        cloudsso_key,
    );
    cs_config.secure_cookies = false;
    let cloud = cloudsso::Server::start(cs_config).await?;

    let demo_path = dir.join("demo.json");
    let sp_base = format!(
        "http://{}",
        display_addr(SocketAddr::new(args.host, args.demo_sp_port))
    );
    let made_for_here = |d: &Value| {
        d["idaas"]["base_url"].as_str() == Some(idaas_base.as_str())
            && d["demo_sp"]["url"].as_str() == Some(format!("{sp_base}/").as_str())
            && d["cloudsso"]["base_url"].as_str() == Some(cloudsso_base.as_str())
    };
    let demo = match read_demo(&demo_path) {
        Some(d) if made_for_here(&d) && d["cloudsso"]["scim_token"].is_string() => d,
        Some(d) if made_for_here(&d) => {
            cloud.shutdown().await;
            server.shutdown().await;
            return Err(UpError::Seed(format!(
                "the demo in {} predates SCIM account sync; start with --reset",
                demo_path.display()
            )));
        }
        Some(d) => {
            cloud.shutdown().await;
            server.shutdown().await;
            return Err(UpError::Seed(format!(
                "the demo in {} was made for IDaaS at {}, Cloud SSO at {} and the demo SP at {}; \
                 start with the same --host and ports, or --reset",
                demo_path.display(),
                d["idaas"]["base_url"].as_str().unwrap_or("?"),
                d["cloudsso"]["base_url"].as_str().unwrap_or("?"),
                d["demo_sp"]["url"].as_str().unwrap_or("?"),
            )));
        }
        None => {
            if !server
                .services()
                .list_instances()
                .await
                .map_err(|e| UpError::Seed(e.to_string()))?
                .is_empty()
            {
                return Err(UpError::Seed(format!(
                    "{} is missing but the database already has data; start with --reset",
                    demo_path.display()
                )));
            }
            let mut demo = seed(&server, &idaas_base, &sp_base).await?;
            crate::demo_cloud::seed(&mut demo, &cloud.services()).await?;
            let text = serde_json::to_string_pretty(&demo).unwrap_or_default();
            std::fs::write(&demo_path, text + "\n").map_err(io_err(&demo_path))?;
            demo
        }
    };

    let sp_app = &demo["idaas"]["apps"][0];
    let sp = DemoSp {
        base_url: sp_base.clone(),
        idp_metadata_url: sp_app["metadata_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        entity_id: sp_app["sp_entity_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let sp_listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.demo_sp_port))
        .await
        .map_err(|e| {
            UpError::DemoSp(format!("cannot listen on port {}: {e}", args.demo_sp_port))
        })?;
    let sp_task = tokio::spawn(demo_sp::serve(sp_listener, sp));

    print_summary(&demo, &demo_path);
    if !args.exit_after_setup {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping…");
    }
    sp_task.abort();
    cloud.shutdown().await;
    server.shutdown().await;
    Ok(())
}

fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

fn read_demo(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["idaas"]["instance_id"].is_string().then_some(v)
}

/// A readable random password that satisfies the default policy (letters, digits, a symbol).
fn demo_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let body: String = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{body}-7a")
}

/// The `id` of an object the API created.
fn id_of(created: &Value) -> Result<String, UpError> {
    created["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| UpError::Seed(format!("the API answered without an id: {created}")))
}

/// Demo accounts sign in with the printed password at once (the instance's policy still forces
/// a change for passwords an admin sets in normal use).
async fn set_demo_password(
    api: &ApiClient,
    instance_path: &str,
    user: &Value,
    password: &str,
) -> Result<(), crate::client::ClientError> {
    let uid = id_of(user).map_err(|e| crate::client::ClientError::Unexpected(e.to_string()))?;
    api.json(
        Method::POST,
        &format!("{instance_path}/users/{uid}/password"),
        Some(&json!({"password": password, "must_change": false})),
    )
    .await
    .map(drop)
}

async fn seed(server: &idaas::RunningServer, base: &str, sp_base: &str) -> Result<Value, UpError> {
    let services = server.services();
    let name = idaas::api_token::TokenName::try_from("gatehouse up (demo)".to_owned())
        .map_err(|e| UpError::Seed(e.to_string()))?;
    let token = services
        .create_api_token(&idaas::audit::Actor::system(), None, name, None)
        .await
        .map_err(|e| UpError::Seed(e.to_string()))?;
    let api = ApiClient::new(base, &token.secret);
    let s = |e: crate::client::ClientError| UpError::Seed(e.to_string());

    let instance = api
        .json(
            Method::POST,
            "/api/v1/instances",
            Some(&json!({"name": "Demo Company"})),
        )
        .await
        .map_err(s)?;
    let iid = id_of(&instance)?;
    let p = format!("/api/v1/instances/{iid}");

    let admin_password = demo_password();
    let admin = api
        .json(
            Method::POST,
            &format!("{p}/users"),
            Some(
                &json!({"username": "admin", "display_name": "Demo Administrator",
                         "email": "admin@demo.example", "is_admin": true}),
            ),
        )
        .await
        .map_err(s)?;
    set_demo_password(&api, &p, &admin, &admin_password)
        .await
        .map_err(s)?;

    let hq = api
        .json(
            Method::POST,
            &format!("{p}/org-units"),
            Some(&json!({"name": "Headquarters"})),
        )
        .await
        .map_err(s)?;
    let eng_ou = api
        .json(
            Method::POST,
            &format!("{p}/org-units"),
            Some(&json!({"name": "Engineering", "parent_id": hq["id"]})),
        )
        .await
        .map_err(s)?;
    let eng_group = api
        .json(
            Method::POST,
            &format!("{p}/groups"),
            Some(&json!({"name": "engineers", "external_id": "grp-engineers"})),
        )
        .await
        .map_err(s)?;

    let mut users = Vec::new();
    for (username, display, phone) in [
        ("alice", "Alice Liddell", "13800000001"),
        ("bob", "Bob Builder", "13800000002"),
        ("carol", "Carol Danvers", "13800000003"),
    ] {
        let password = demo_password();
        let email = format!("{username}@demo.example");
        let user = api
            .json(
                Method::POST,
                &format!("{p}/users"),
                Some(
                    &json!({"username": username, "display_name": display, "email": email,
                             "phone": phone}),
                ),
            )
            .await
            .map_err(s)?;
        set_demo_password(&api, &p, &user, &password)
            .await
            .map_err(s)?;
        let uid = id_of(&user)?;
        api.json(
            Method::POST,
            &format!("{p}/users/{uid}/org-units"),
            Some(&json!({"org_unit_id": eng_ou["id"], "primary": true})),
        )
        .await
        .map_err(s)?;
        if username != "carol" {
            api.json(
                Method::POST,
                &format!("{p}/groups/{}/members", id_of(&eng_group)?),
                Some(&json!({"user_id": uid})),
            )
            .await
            .map_err(s)?;
        }
        users.push(json!({"username": username, "password": password, "email": email}));
    }

    // One SAML application wired to the built-in demo SP, authorized for all users.
    let app = api
        .json(
            Method::POST,
            &format!("{p}/apps"),
            Some(&json!({"template_id": "apt_saml2_standard", "name": "Gatehouse Demo SP"})),
        )
        .await
        .map_err(s)?;
    let app_id = id_of(&app)?;
    let sp_entity_id = format!("{sp_base}/metadata");
    let acs_url = format!("{sp_base}/acs");
    api.json(
        Method::PATCH,
        &format!("{p}/apps/{app_id}"),
        Some(&json!({
            "authorization_type": "default_all",
            "saml": {
                "sp_entity_id": sp_entity_id,
                "acs_url": acs_url,
                "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
                "default_relay_state": format!("{sp_base}/"),
                // IdP-initiated SSO is opt-in per application: the demo SP accepts it.
                "init_login_type": "idaas_or_app_init_sso",
                "attribute_statements": [
                    {"name": "displayName", "value_expression": "user.displayName"},
                    {"name": "email", "value_expression": "user.email"},
                    {"name": "phone", "value_expression": "user.phoneNumber"},
                    {"name": "groups", "value_expression": "ArrayJoin(ArrayMap(user.groups, __item.groupExternalId), \",\")"}
                ]
            }
        })),
    )
    .await
    .map_err(s)?;

    Ok(json!({
        "idaas": {
            "base_url": base,
            "instance_id": iid,
            "console_url": format!("{base}/i/{iid}/console/apps"),
            "signin_url": format!("{base}/i/{iid}/login"),
            "portal_url": format!("{base}/i/{iid}/portal"),
            "openapi_url": format!("{base}/api/openapi.json"),
            "admin": {"username": "admin", "password": admin_password},
            "api_token": token.secret,
            "users": users,
            // The demo org unit and group: the Cloud SSO application provisions them over SCIM.
            "org_units": [{"id": eng_ou["id"], "name": "Engineering", "parent": "Headquarters"}],
            "groups": [{"id": eng_group["id"], "name": "engineers"}],
            "apps": [{
                "id": app_id,
                "name": "Gatehouse Demo SP",
                "template": "apt_saml2_standard",
                "sp_entity_id": sp_entity_id,
                "acs_url": acs_url,
                "metadata_url": format!("{base}/api/v2/{app_id}/saml2/meta"),
                "sso_url": format!("{base}/login/app/{app_id}/saml2/sso"),
            }],
        },
        "demo_sp": {
            "url": format!("{sp_base}/"),
            "entity_id": sp_entity_id,
            "acs_url": acs_url,
        }
    }))
}

fn print_summary(demo: &Value, path: &Path) {
    let i = &demo["idaas"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    println!("Gatehouse is up.");
    println!();
    println!("IDaaS            {}", text(&i["base_url"]));
    println!("  admin console  {}", text(&i["console_url"]));
    println!("  sign-in        {}", text(&i["signin_url"]));
    println!("  user portal    {}", text(&i["portal_url"]));
    println!(
        "  admin          {} / {}",
        text(&i["admin"]["username"]),
        text(&i["admin"]["password"])
    );
    if let Some(users) = i["users"].as_array() {
        for u in users {
            println!(
                "  user           {} / {}",
                text(&u["username"]),
                text(&u["password"])
            );
        }
    }
    println!("  API token      {}", text(&i["api_token"]));
    if let Some(apps) = i["apps"].as_array() {
        for a in apps {
            println!("  SAML app       {} ({})", text(&a["name"]), text(&a["id"]));
            println!("    metadata     {}", text(&a["metadata_url"]));
            if a["provisioning"]["enabled"] == true {
                println!(
                    "    provisioning SCIM 2.0 to {}  (gatehouse app sync jobs {})",
                    text(&a["provisioning"]["base_url"]),
                    text(&a["id"])
                );
            }
        }
    }
    let c = &demo["cloudsso"];
    println!(
        "Cloud SSO        {}  (directory {} / {})",
        text(&c["base_url"]),
        text(&c["directory_name"]),
        text(&c["directory_id"])
    );
    println!(
        "  logon URL      {}  (signs in at IDaaS: try alice)",
        text(&c["portal_url"])
    );
    println!(
        "  console        {}  (sign in with the API token)",
        text(&c["console_url"])
    );
    println!("  API token      {}", text(&c["api_token"]));
    println!(
        "  SCIM           {}  (sync on; IDaaS pushes the demo users and group here)",
        text(&c["scim_base_url"])
    );
    println!("  SCIM token     {}", text(&c["scim_token"]));
    println!(
        "Demo SP          {}  (try \"Sign in with Gatehouse\")",
        text(&demo["demo_sp"]["url"])
    );
    println!();
    println!("All of this is in {}. Ctrl-C stops.", path.display());
}
