//! Command-line interface: `up`, `serve`, and commands that drive the admin REST API (the same API
//! the console uses), enough to script Step 1 of the seed procedure end to end.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli_output::{print, query};
use crate::client::ApiClient;

/// Gatehouse: single sign-on for applications and cloud accounts.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// Log as JSON lines.
    #[arg(long, global = true, env = "GATEHOUSE_LOG_JSON")]
    pub log_json: bool,
    /// API connection (for the API commands).
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the API commands send their requests. Defaults come from `<data-dir>/demo.json` when
/// `gatehouse up` made one.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Base URL of the IDaaS server.
    #[arg(long, global = true, env = "GATEHOUSE_URL")]
    pub url: Option<String>,
    /// Bearer API token.
    #[arg(long, global = true, env = "GATEHOUSE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Instance the command works on.
    #[arg(long, global = true, env = "GATEHOUSE_INSTANCE")]
    pub instance: Option<String>,
    /// Data directory of `gatehouse up` (read for defaults).
    #[arg(long = "demo-dir", global = true, default_value = "./gatehouse-data")]
    pub demo_dir: PathBuf,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start everything on localhost with a working demo on the embedded store.
    Up(crate::up::UpArgs),
    /// Run IDaaS from explicit settings (SQLite or PostgreSQL).
    Serve(crate::serve::ServeArgs),
    /// Instances (tenants).
    #[command(subcommand)]
    Instance(InstanceCmd),
    /// Accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Applications (marketplace, SAML single sign-on, authorization).
    #[command(subcommand)]
    App(AppCmd),
    /// Cloud SSO: SSO logon settings (Step 2 of the seed procedure), users, groups, accounts,
    /// access configurations, assignments, login preferences.
    Cloudsso(CloudSsoCmd),
    /// Audit events of the instance.
    Audit {
        /// Only actions starting with this (e.g. `user:`).
        #[arg(long)]
        action: Option<String>,
        /// `success` or `failure`.
        #[arg(long)]
        result: Option<String>,
        /// From (unix seconds).
        #[arg(long)]
        from: Option<i64>,
        /// To (unix seconds).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Any API call: `gatehouse api GET /api/v1/instances`.
    Api {
        /// HTTP method.
        method: String,
        /// Path (starting with /).
        path: String,
        /// JSON body.
        #[arg(long)]
        data: Option<String>,
    },
}

/// `gatehouse instance …`
#[derive(Debug, Subcommand)]
pub enum InstanceCmd {
    /// List instances (platform token).
    List,
    /// Create an instance.
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// Base URL (its own domain), if not the server's.
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Delete an instance and everything in it.
    Delete {
        /// Instance ID.
        id: String,
    },
}

/// `gatehouse user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// List accounts.
    List,
    /// Create an account.
    Create {
        /// Account name (unique in the instance).
        #[arg(long)]
        username: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// E-mail.
        #[arg(long)]
        email: Option<String>,
        /// Initial password (the user must change it at first sign-in if the policy says so).
        #[arg(long)]
        password: Option<String>,
        /// Instance administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Import accounts from a CSV file (header: username,display_name,email,phone,password,org_unit,groups).
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

/// `gatehouse group …`
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List groups.
    List,
    /// Create a group.
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// External ID.
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Add a user to a group.
    AddMember {
        /// Group ID.
        group: String,
        /// User ID.
        user: String,
    },
}

/// `gatehouse app …`
#[derive(Debug, Subcommand)]
pub enum AppCmd {
    /// Search the marketplace.
    Templates {
        /// Search text, e.g. "Cloud SSO".
        #[arg(long)]
        search: Option<String>,
    },
    /// List applications.
    List,
    /// Add an application from a template.
    Create {
        /// Template ID (see `app templates`), e.g. apt_cloudsso_saml.
        #[arg(long)]
        template: String,
        /// Application name (the template's name if omitted).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show an application.
    Show {
        /// Application ID.
        app: String,
    },
    /// Sign-on > Single Sign-On: set the SAML fields and Save.
    Sso {
        /// Application ID.
        app: String,
        /// ACS URL (CloudSSO ACS URL).
        #[arg(long)]
        acs_url: Option<String>,
        /// SP Entity ID (CloudSSO Entity ID).
        #[arg(long)]
        entity_id: Option<String>,
        /// NameID format URI.
        #[arg(long)]
        name_id_format: Option<String>,
        /// Application account: `username` (IDaaS account name), `email`, `app-account`.
        #[arg(long)]
        app_username: Option<String>,
        /// Authorization scope: `all-users` or `manual`.
        #[arg(long)]
        authorization: Option<String>,
        /// Default RelayState.
        #[arg(long)]
        relay_state: Option<String>,
    },
    /// Download the IdP metadata (stdout, or a file).
    Metadata {
        /// Application ID.
        app: String,
        /// Output file.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Import SP metadata from a file or URL (pre-fills entity ID, ACS and certificates).
    ImportSpMetadata {
        /// Application ID.
        app: String,
        /// A file path, or an https:// URL.
        source: String,
    },
    /// Authorize a user, org unit or group (scope "Manually").
    Grant {
        /// Application ID.
        app: String,
        /// `user`, `org_unit` or `group`.
        #[arg(long)]
        subject_type: String,
        /// Its ID.
        #[arg(long)]
        subject_id: String,
    },
    /// Enable or disable single sign-on.
    SsoStatus {
        /// Application ID.
        app: String,
        /// `enable` or `disable`.
        action: String,
    },
    /// Account sync: the SCIM 2.0 provisioning configuration.
    #[command(subcommand)]
    Provisioning(crate::cli_sync::ProvisioningCmd),
    /// Account sync: Push Now (with progress), sync records, the outbox and retries.
    Sync(crate::cli_sync::SyncArgs),
}

/// `gatehouse cloudsso …`: talks to the Cloud SSO admin API. Defaults come from the `cloudsso`
/// section of demo.json; otherwise `--cloudsso-url`, `--cloudsso-token`, `--directory` (or
/// `GATEHOUSE_CLOUDSSO_URL`, `GATEHOUSE_CLOUDSSO_TOKEN`, `GATEHOUSE_DIRECTORY`).
#[derive(Debug, clap::Args)]
pub struct CloudSsoCmd {
    /// Base URL of the Cloud SSO server.
    #[arg(long, env = "GATEHOUSE_CLOUDSSO_URL")]
    pub cloudsso_url: Option<String>,
    /// Bearer API token of Cloud SSO.
    #[arg(long, env = "GATEHOUSE_CLOUDSSO_TOKEN", hide_env_values = true)]
    pub cloudsso_token: Option<String>,
    /// Directory ID.
    #[arg(long, env = "GATEHOUSE_DIRECTORY")]
    pub directory: Option<String>,
    /// Print the API's JSON instead of tables (the typed object commands).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: CloudSsoAction,
}

/// What to do in Cloud SSO.
#[derive(Debug, Subcommand)]
pub enum CloudSsoAction {
    /// The directory with its SP information: ACS URL and Entity ID to paste into IDaaS.
    SpInfo,
    /// Configure Identity Provider: upload IdP metadata (e.g. from `gatehouse app metadata`).
    UploadIdpMetadata {
        /// The metadata file.
        file: PathBuf,
        /// Which IdP, when the file describes several.
        #[arg(long)]
        entity_id: Option<String>,
    },
    /// The SSO logon switch. Enabling SSO turns username-password logon off.
    Sso {
        /// `enable` or `disable`.
        action: String,
        /// Confirm that password logon stops when enabling.
        #[arg(long)]
        yes: bool,
    },
    /// The configured IdP.
    Idp,
    /// Directory users.
    #[command(subcommand)]
    Users(crate::cli_cloudsso::UsersCmd),
    /// Directory groups and their members.
    #[command(subcommand)]
    Groups(crate::cli_cloudsso::GroupsCmd),
    /// Accounts of the resource directory.
    #[command(subcommand)]
    Accounts(crate::cli_cloudsso::AccountsCmd),
    /// Access configurations and their provisioning on accounts.
    #[command(subcommand)]
    AccessConfigs(crate::cli_cloudsso::AccessConfigsCmd),
    /// Access assignments: user or group × account × access configuration.
    #[command(subcommand)]
    Assignments(crate::cli_cloudsso::AssignmentsCmd),
    /// Login preferences: AllowUserToGetCredentials and the portal IP allow-list.
    #[command(subcommand)]
    LoginPreferences(crate::cli_cloudsso::LoginPreferencesCmd),
    /// SCIM synchronization (Settings > User Settings): the switch and the SCIM credentials.
    #[command(subcommand)]
    Scim(crate::cli_sync::ScimCmd),
    /// Any Cloud SSO admin API call, relative to the directory:
    /// `gatehouse cloudsso api POST /access-configurations --data '{…}'` (see /api/openapi.json).
    Api {
        /// HTTP method.
        method: String,
        /// Path below `/api/v1/directories/{directory_id}` (or an absolute `/api/…` path).
        path: String,
        /// JSON body.
        #[arg(long)]
        data: Option<String>,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API call failed.
    #[error(transparent)]
    Api(#[from] crate::client::ClientError),
    /// `up` failed.
    #[error(transparent)]
    Up(#[from] crate::up::UpError),
    /// Anything else, explained.
    #[error("{0}")]
    Usage(String),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Up(args) => Ok(crate::up::run(args).await?),
        Command::Serve(args) => crate::serve::run(args)
            .await
            .map_err(|e| CliError::Usage(e.to_string())),
        other => run_api(&cli.conn, other).await,
    }
}

fn demo_defaults(conn: &Connection) -> Value {
    std::fs::read_to_string(conn.demo_dir.join("demo.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

async fn run_api(conn: &Connection, command: Command) -> Result<(), CliError> {
    let demo = demo_defaults(conn);
    let url = conn
        .url
        .clone()
        .or_else(|| demo["idaas"]["base_url"].as_str().map(str::to_owned))
        .ok_or_else(|| CliError::Usage("no server: pass --url or set GATEHOUSE_URL".into()))?;
    let token = conn
        .token
        .clone()
        .or_else(|| demo["idaas"]["api_token"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            CliError::Usage("no API token: pass --token or set GATEHOUSE_TOKEN".into())
        })?;
    let instance = conn
        .instance
        .clone()
        .or_else(|| demo["idaas"]["instance_id"].as_str().map(str::to_owned));
    let api = ApiClient::new(&url, &token);
    let inst = || {
        instance
            .clone()
            .map(|i| format!("/api/v1/instances/{i}"))
            .ok_or_else(|| {
                CliError::Usage("no instance: pass --instance or set GATEHOUSE_INSTANCE".into())
            })
    };

    match command {
        Command::Up(_) | Command::Serve(_) => Ok(()),
        Command::Api { method, path, data } => {
            let method = Method::from_bytes(method.to_uppercase().as_bytes())
                .map_err(|_| CliError::Usage(format!("bad method {method}")))?;
            let body = data
                .map(|d| serde_json::from_str::<Value>(&d))
                .transpose()
                .map_err(|e| CliError::Usage(format!("--data is not JSON: {e}")))?;
            print(&api.json(method, &path, body.as_ref()).await?);
            Ok(())
        }
        Command::Instance(cmd) => {
            let v = match cmd {
                InstanceCmd::List => api.json(Method::GET, "/api/v1/instances", None).await?,
                InstanceCmd::Create { name, base_url } => {
                    let mut body = json!({"name": name});
                    if let Some(b) = base_url {
                        body["base_url"] = json!(b);
                    }
                    api.json(Method::POST, "/api/v1/instances", Some(&body))
                        .await?
                }
                InstanceCmd::Delete { id } => {
                    api.json(Method::DELETE, &format!("/api/v1/instances/{id}"), None)
                        .await?
                }
            };
            print(&v);
            Ok(())
        }
        Command::User(cmd) => {
            let p = inst()?;
            let v = match cmd {
                UserCmd::List => api.json(Method::GET, &format!("{p}/users"), None).await?,
                UserCmd::Create {
                    username,
                    display_name,
                    email,
                    password,
                    admin,
                } => {
                    let body = json!({"username": username, "display_name": display_name,
                                      "email": email, "password": password, "is_admin": admin});
                    api.json(Method::POST, &format!("{p}/users"), Some(&body))
                        .await?
                }
                UserCmd::Import { file } => {
                    let csv = std::fs::read_to_string(&file)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
                    api.text_body(Method::POST, &format!("{p}/users:import"), "text/csv", &csv)
                        .await?
                }
            };
            print(&v);
            Ok(())
        }
        Command::Group(cmd) => {
            let p = inst()?;
            let v = match cmd {
                GroupCmd::List => api.json(Method::GET, &format!("{p}/groups"), None).await?,
                GroupCmd::Create { name, external_id } => {
                    let body = json!({"name": name, "external_id": external_id});
                    api.json(Method::POST, &format!("{p}/groups"), Some(&body))
                        .await?
                }
                GroupCmd::AddMember { group, user } => {
                    api.json(
                        Method::POST,
                        &format!("{p}/groups/{group}/members"),
                        Some(&json!({"user_id": user})),
                    )
                    .await?
                }
            };
            print(&v);
            Ok(())
        }
        Command::App(cmd) => run_app(&api, &inst()?, cmd).await,
        Command::Cloudsso(cmd) => run_cloudsso(&demo, cmd).await,
        Command::Audit {
            action,
            result,
            from,
            to,
        } => {
            let p = inst()?;
            let (from, to) = (from.map(|f| f.to_string()), to.map(|t| t.to_string()));
            let pairs: Vec<(&str, &str)> = [
                ("action", action.as_deref()),
                ("result", result.as_deref()),
                ("from", from.as_deref()),
                ("to", to.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
            let q = query(&pairs);
            print(
                &api.json(Method::GET, &format!("{p}/audit-events?{q}"), None)
                    .await?,
            );
            Ok(())
        }
    }
}

async fn run_app(api: &ApiClient, p: &str, cmd: AppCmd) -> Result<(), CliError> {
    let instance = crate::cli_sync::Instance {
        api,
        path: p.to_owned(),
    };
    let v = match cmd {
        AppCmd::Provisioning(c) => return crate::cli_sync::provisioning(&instance, c).await,
        AppCmd::Sync(c) => return crate::cli_sync::sync(&instance, c).await,
        AppCmd::Templates { search } => {
            let q = search
                .map(|s| {
                    format!(
                        "?q={}",
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    )
                })
                .unwrap_or_default();
            api.json(Method::GET, &format!("{p}/marketplace/templates{q}"), None)
                .await?
        }
        AppCmd::List => api.json(Method::GET, &format!("{p}/apps"), None).await?,
        AppCmd::Create { template, name } => {
            let body = json!({"template_id": template, "name": name});
            api.json(Method::POST, &format!("{p}/apps"), Some(&body))
                .await?
        }
        AppCmd::Show { app } => {
            api.json(Method::GET, &format!("{p}/apps/{app}"), None)
                .await?
        }
        AppCmd::Sso {
            app,
            acs_url,
            entity_id,
            name_id_format,
            app_username,
            authorization,
            relay_state,
        } => {
            let mut saml = serde_json::Map::new();
            if let Some(v) = acs_url {
                saml.insert("acs_url".into(), json!(v));
            }
            if let Some(v) = entity_id {
                saml.insert("sp_entity_id".into(), json!(v));
            }
            if let Some(v) = name_id_format {
                saml.insert("name_id_format".into(), json!(v));
            }
            if let Some(v) = relay_state {
                saml.insert("default_relay_state".into(), json!(v));
            }
            if let Some(v) = app_username {
                let mapping = match v.as_str() {
                    "username" | "account-name" => {
                        json!({"type": "idaas_account", "field": "username"})
                    }
                    "email" => json!({"type": "idaas_account", "field": "email"}),
                    "app-account" => json!({"type": "application_account"}),
                    other => {
                        return Err(CliError::Usage(format!(
                            "--app-username must be username, email or app-account, not {other}"
                        )));
                    }
                };
                saml.insert("application_account".into(), mapping);
            }
            let mut body = json!({"saml": Value::Object(saml)});
            if let Some(a) = authorization {
                body["authorization_type"] = match a.as_str() {
                    "all-users" => json!("default_all"),
                    "manual" => json!("authorize_required"),
                    other => {
                        return Err(CliError::Usage(format!(
                            "--authorization must be all-users or manual, not {other}"
                        )));
                    }
                };
            }
            api.json(Method::PATCH, &format!("{p}/apps/{app}"), Some(&body))
                .await?
        }
        AppCmd::Metadata { app, output } => {
            let xml = api
                .get_text(&format!("{p}/apps/{app}/idp-metadata"))
                .await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &xml)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
                    eprintln!("wrote {}", path.display());
                }
                None => println!("{xml}"),
            }
            return Ok(());
        }
        AppCmd::ImportSpMetadata { app, source } => {
            if source.starts_with("https://") || source.starts_with("http://") {
                api.json(
                    Method::POST,
                    &format!("{p}/apps/{app}/sp-metadata/fetch"),
                    Some(&json!({"url": source})),
                )
                .await?
            } else {
                let xml = std::fs::read_to_string(&source)
                    .map_err(|e| CliError::Usage(format!("{source}: {e}")))?;
                api.text_body(
                    Method::POST,
                    &format!("{p}/apps/{app}/sp-metadata"),
                    "application/samlmetadata+xml",
                    &xml,
                )
                .await?
            }
        }
        AppCmd::Grant {
            app,
            subject_type,
            subject_id,
        } => {
            api.json(
                Method::POST,
                &format!("{p}/apps/{app}/grants"),
                Some(&json!({"subject_type": subject_type, "subject_id": subject_id})),
            )
            .await?
        }
        AppCmd::SsoStatus { app, action } => {
            if action != "enable" && action != "disable" {
                return Err(CliError::Usage("action must be enable or disable".into()));
            }
            api.json(Method::POST, &format!("{p}/apps/{app}/sso/{action}"), None)
                .await?
        }
    };
    print(&v);
    Ok(())
}

async fn run_cloudsso(demo: &Value, cmd: CloudSsoCmd) -> Result<(), CliError> {
    let cs = &demo["cloudsso"];
    let pick = |given: Option<String>, key: &str, what: &str| {
        given
            .or_else(|| cs[key].as_str().map(str::to_owned))
            .ok_or_else(|| CliError::Usage(format!("no Cloud SSO {what}: pass --{what}")))
    };
    let url = pick(cmd.cloudsso_url, "base_url", "cloudsso-url")?;
    let token = pick(cmd.cloudsso_token, "api_token", "cloudsso-token")?;
    let dir = pick(cmd.directory, "directory_id", "directory")?;
    let api = ApiClient::new(&url, &token);
    let d = format!("/api/v1/directories/{dir}");
    let typed = crate::cli_cloudsso::Directory {
        api: &api,
        path: d.clone(),
        json: cmd.json,
    };
    let v = match cmd.action {
        CloudSsoAction::Users(c) => return crate::cli_cloudsso::users(&typed, c).await,
        CloudSsoAction::Groups(c) => return crate::cli_cloudsso::groups(&typed, c).await,
        CloudSsoAction::Accounts(c) => return crate::cli_cloudsso::accounts(&typed, c).await,
        CloudSsoAction::AccessConfigs(c) => {
            return crate::cli_cloudsso::access_configs(&typed, c).await;
        }
        CloudSsoAction::Assignments(c) => {
            return crate::cli_cloudsso::assignments(&typed, c).await;
        }
        CloudSsoAction::Scim(c) => return crate::cli_sync::scim(&typed, c).await,
        CloudSsoAction::LoginPreferences(c) => {
            return crate::cli_cloudsso::login_preferences(&typed, c).await;
        }
        CloudSsoAction::SpInfo => api.json(Method::GET, &d, None).await?,
        CloudSsoAction::Idp => {
            api.json(Method::GET, &format!("{d}/saml/idp"), None)
                .await?
        }
        CloudSsoAction::Api { method, path, data } => {
            let method = Method::from_bytes(method.to_uppercase().as_bytes())
                .map_err(|_| CliError::Usage(format!("bad method {method}")))?;
            let body = data
                .map(|t| serde_json::from_str::<Value>(&t))
                .transpose()
                .map_err(|e| CliError::Usage(format!("--data is not JSON: {e}")))?;
            let path = if path.starts_with("/api/") {
                path
            } else {
                format!("{d}{path}")
            };
            api.json(method, &path, body.as_ref()).await?
        }
        CloudSsoAction::UploadIdpMetadata { file, entity_id } => {
            let xml = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            api.json(
                Method::POST,
                &format!("{d}/saml/idp/metadata"),
                Some(&json!({"metadata": xml, "entity_id": entity_id})),
            )
            .await?
        }
        CloudSsoAction::Sso { action, yes } => {
            let enable = match action.as_str() {
                "enable" => true,
                "disable" => false,
                other => {
                    return Err(CliError::Usage(format!(
                        "action must be enable or disable, not {other}"
                    )));
                }
            };
            if enable && !yes {
                return Err(CliError::Usage(
                    "enabling SSO logon disables username-password logon for every user of the \
                     directory; run again with --yes to confirm"
                        .into(),
                ));
            }
            api.json(
                Method::PATCH,
                &format!("{d}/sso"),
                Some(&json!({"sso_enabled": enable})),
            )
            .await?
        }
    };
    print(&v);
    Ok(())
}
