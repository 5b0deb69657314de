//! Typed `gatehouse cloudsso …` commands for the main admin objects: users, groups and
//! memberships, accounts of the resource directory, access configurations and their provisioning,
//! access assignments and login preferences. Each calls the Cloud SSO admin REST API
//! (`/api/v1/directories/{directory_id}/…`, the same calls as `gatehouse cloudsso api`).
//!
//! Users, groups, accounts and access configurations may be named by ID or by name. Lists print
//! a table, or the API's JSON with `--json`; changes print one line (or the JSON). Assignments and
//! provisioning are asynchronous tasks on the server: the commands wait for the task to finish
//! (and fail if it failed) unless `--no-wait` is given.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::CliError;
use crate::cli_output::{cell, print, query, table};
use crate::client::ApiClient;

/// How long a command waits for an asynchronous task.
const TASK_WAIT: Duration = Duration::from_secs(60);
/// Largest page the list endpoints serve.
const PAGE_SIZE: u32 = 100;

/// `gatehouse cloudsso users …`
#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// List the directory's users.
    List {
        /// `UserName eq <name>` or `UserName sw <prefix>`.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Create a user.
    Create {
        /// User name (unique, immutable; `[A-Za-z0-9@_.-]`, at most 64).
        user_name: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// E-mail (unique in the directory).
        #[arg(long)]
        email: Option<String>,
        /// First name.
        #[arg(long)]
        first_name: Option<String>,
        /// Last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Initial password (for password logon while SSO is off).
        #[arg(long)]
        password: Option<String>,
        /// Create the user disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Delete a user (by ID or user name).
    Delete {
        /// User ID or user name.
        user: String,
    },
}

/// `gatehouse cloudsso groups …`
#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// List the directory's groups.
    List {
        /// `GroupName eq <name>` or `GroupName sw <prefix>`.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Create a group.
    Create {
        /// Group name.
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// The members of a group.
    Members {
        /// Group ID or name.
        group: String,
    },
    /// Add a user to a group.
    AddMember {
        /// Group ID or name.
        group: String,
        /// User ID or user name.
        user: String,
    },
    /// Remove a user from a group.
    RemoveMember {
        /// Group ID or name.
        group: String,
        /// User ID or user name.
        user: String,
    },
}

/// `gatehouse cloudsso accounts …`
#[derive(Debug, Subcommand)]
pub enum AccountsCmd {
    /// List the accounts of the resource directory.
    List {
        /// Only accounts in this folder (exact path).
        #[arg(long)]
        folder: Option<String>,
    },
}

/// `gatehouse cloudsso access-configs …`
#[derive(Debug, Subcommand)]
pub enum AccessConfigsCmd {
    /// List the access configurations with their provisioning status per account.
    List,
    /// Create an access configuration.
    Create {
        /// Name (letters, digits, `-`; at most 32).
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Session duration in seconds (900–43200; default 3600).
        #[arg(long)]
        session_duration: Option<i64>,
        /// Relay state: the console page to open (e.g. `/cloud/console`).
        #[arg(long)]
        relay_state: Option<String>,
        /// A system policy to attach (repeatable), e.g. `ReadOnlyAccess`.
        #[arg(long = "system-policy")]
        system_policies: Vec<String>,
        /// Inline policy (RAM policy JSON, at most 4096 characters).
        #[arg(long, conflicts_with = "inline_policy_file")]
        inline_policy: Option<String>,
        /// File holding the inline policy.
        #[arg(long)]
        inline_policy_file: Option<std::path::PathBuf>,
    },
    /// Provision (or re-provision) an access configuration on an account.
    Provision {
        /// Access configuration ID or name.
        access_config: String,
        /// Account ID or name.
        account: String,
        /// Return the task at once instead of waiting for it.
        #[arg(long)]
        no_wait: bool,
    },
}

/// The assignment a command names.
#[derive(Debug, clap::Args)]
pub struct AssignmentArgs {
    /// Access configuration ID or name.
    #[arg(long)]
    pub access_config: String,
    /// Account ID or name.
    #[arg(long)]
    pub account: String,
    /// The user (ID or user name).
    #[arg(long, conflicts_with = "group", required_unless_present = "group")]
    pub user: Option<String>,
    /// The group (ID or name).
    #[arg(long)]
    pub group: Option<String>,
    /// Return the task at once instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
}

/// `gatehouse cloudsso assignments …`
#[derive(Debug, Subcommand)]
pub enum AssignmentsCmd {
    /// List access assignments (user or group × account × access configuration).
    List {
        /// Only this access configuration (ID or name).
        #[arg(long)]
        access_config: Option<String>,
        /// Only this account (ID or name).
        #[arg(long)]
        account: Option<String>,
    },
    /// Assign a user or group an access configuration on an account.
    Create(AssignmentArgs),
    /// Remove an access assignment.
    Delete(AssignmentArgs),
}

/// `gatehouse cloudsso login-preferences …`
#[derive(Debug, Subcommand)]
pub enum LoginPreferencesCmd {
    /// Show the login preferences.
    Get,
    /// Change the login preferences (options not given stay as they are).
    Set {
        /// AllowUserToGetCredentials: portal users may fetch STS credentials.
        #[arg(long)]
        allow_user_to_get_credentials: Option<bool>,
        /// Portal logon IP allow-list: IPv4 addresses/CIDRs separated by `,` or `;` (at most
        /// 100); an empty value allows every address.
        #[arg(long)]
        network_masks: Option<String>,
    },
}

/// A connection to one directory of the Cloud SSO admin API.
pub struct Directory<'a> {
    /// The client.
    pub api: &'a ApiClient,
    /// `/api/v1/directories/{directory_id}`.
    pub path: String,
    /// Print the API's JSON instead of tables and lines.
    pub json: bool,
}

fn text(v: &Value, key: &str) -> String {
    cell(&v[key])
}

impl Directory<'_> {
    async fn get(&self, path: &str) -> Result<Value, CliError> {
        Ok(self
            .api
            .json(Method::GET, &format!("{}{path}", self.path), None)
            .await?)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        Ok(self
            .api
            .json(method, &format!("{}{path}", self.path), body)
            .await?)
    }

    /// Prints a list: the JSON, or the table.
    fn list(&self, v: &Value, headers: &[&str], rows: &[Vec<String>]) {
        if self.json {
            print(v);
        } else {
            println!("{}", table(headers, rows));
        }
    }

    /// Prints a change: the JSON (`null` for none), or the line.
    fn done(&self, v: &Value, line: &str) {
        if self.json {
            print(v);
        } else {
            println!("{line}");
        }
    }

    /// Every item of a paged list (`{items, next_token}`).
    async fn all_pages(&self, path: &str, filter: Option<&str>) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        let size = PAGE_SIZE.to_string();
        loop {
            let mut pairs = vec![("max_results", size.as_str())];
            if let Some(f) = filter {
                pairs.push(("filter", f));
            }
            if let Some(n) = next.as_deref() {
                pairs.push(("next_token", n));
            }
            let page = self.get(&format!("{path}?{}", query(&pairs))).await?;
            if let Some(list) = page["items"].as_array() {
                items.extend(list.iter().cloned());
            }
            match page["next_token"].as_str() {
                Some(n) if !n.is_empty() => next = Some(n.to_owned()),
                _ => return Ok(items),
            }
        }
    }

    /// A user named by ID or user name (names are case-insensitive).
    async fn user(&self, name_or_id: &str) -> Result<Value, CliError> {
        let filter = format!("UserName eq \"{name_or_id}\"");
        let found = self.all_pages("/users", Some(&filter)).await?;
        if let Some(u) = found.into_iter().find(|u| {
            u["user_name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name_or_id))
        }) {
            return Ok(u);
        }
        self.get(&format!("/users/{}", segment(name_or_id)))
            .await
            .map_err(|_| CliError::Usage(format!("no user {name_or_id:?} in the directory")))
    }

    /// A group named by ID or name.
    async fn group(&self, name_or_id: &str) -> Result<Value, CliError> {
        let filter = format!("GroupName eq \"{name_or_id}\"");
        let found = self.all_pages("/groups", Some(&filter)).await?;
        if let Some(g) = found.into_iter().find(|g| g["name"] == name_or_id) {
            return Ok(g);
        }
        self.get(&format!("/groups/{}", segment(name_or_id)))
            .await
            .map_err(|_| CliError::Usage(format!("no group {name_or_id:?} in the directory")))
    }

    /// An account named by ID or name.
    async fn account(&self, name_or_id: &str) -> Result<Value, CliError> {
        let all = self.get("/cloud/accounts").await?;
        find_by_id_or_name(&all, name_or_id, "name")
            .ok_or_else(|| CliError::Usage(format!("no account {name_or_id:?}")))
    }

    /// An access configuration named by ID or name.
    async fn access_config(&self, name_or_id: &str) -> Result<Value, CliError> {
        let all = self.get("/access-configurations").await?;
        find_by_id_or_name(&all, name_or_id, "name")
            .ok_or_else(|| CliError::Usage(format!("no access configuration {name_or_id:?}")))
    }

    /// Waits for an asynchronous task (unless `no_wait`) and returns its final state.
    async fn task(&self, task: Value, no_wait: bool) -> Result<Value, CliError> {
        let id = task["id"]
            .as_str()
            .ok_or_else(|| CliError::Usage(format!("the server returned no task: {task}")))?
            .to_owned();
        if no_wait {
            return Ok(task);
        }
        let deadline = Instant::now() + TASK_WAIT;
        let mut t = task;
        loop {
            match t["status"].as_str() {
                Some("Success") => return Ok(t),
                Some("Failed") => {
                    return Err(CliError::Usage(format!(
                        "task {id} ({}) failed: {}",
                        text(&t, "task_type"),
                        text(&t, "failure_reason")
                    )));
                }
                _ if Instant::now() >= deadline => {
                    return Err(CliError::Usage(format!(
                        "task {id} still {} after {} s (see `gatehouse cloudsso api GET /tasks/{id}`)",
                        text(&t, "status"),
                        TASK_WAIT.as_secs()
                    )));
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            t = self.get(&format!("/tasks/{id}")).await?;
        }
    }

    fn task_line(t: &Value) -> String {
        format!(
            "task {} {}: {}",
            text(t, "id"),
            text(t, "task_type"),
            text(t, "status")
        )
    }
}

/// A path segment for an ID typed by the user (percent-encoded).
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn find_by_id_or_name(all: &Value, name_or_id: &str, name_key: &str) -> Option<Value> {
    let items = all.as_array()?;
    items
        .iter()
        .find(|v| v["id"] == name_or_id)
        .or_else(|| items.iter().find(|v| v[name_key] == name_or_id))
        .cloned()
}

/// `users …`
pub async fn users(d: &Directory<'_>, cmd: UsersCmd) -> Result<(), CliError> {
    match cmd {
        UsersCmd::List { filter } => {
            let items = d.all_pages("/users", filter.as_deref()).await?;
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|u| {
                    vec![
                        text(u, "id"),
                        text(u, "user_name"),
                        text(u, "display_name"),
                        text(u, "email"),
                        text(u, "status"),
                        text(u, "provision_type"),
                    ]
                })
                .collect();
            d.list(
                &Value::Array(items),
                &[
                    "ID",
                    "USER NAME",
                    "DISPLAY NAME",
                    "EMAIL",
                    "STATUS",
                    "PROVISION",
                ],
                &rows,
            );
        }
        UsersCmd::Create {
            user_name,
            display_name,
            email,
            first_name,
            last_name,
            description,
            password,
            disabled,
        } => {
            let mut body = json!({
                "user_name": user_name,
                "display_name": display_name.unwrap_or_default(),
                "first_name": first_name.unwrap_or_default(),
                "last_name": last_name.unwrap_or_default(),
                "description": description.unwrap_or_default(),
                "status": if disabled { "Disabled" } else { "Enabled" },
            });
            if let Some(e) = email {
                body["email"] = json!(e);
            }
            if let Some(p) = password {
                body["password"] = json!(p);
            }
            let u = d.send(Method::POST, "/users", Some(&body)).await?;
            d.done(
                &u,
                &format!(
                    "created user {} ({})",
                    text(&u, "user_name"),
                    text(&u, "id")
                ),
            );
        }
        UsersCmd::Delete { user } => {
            let u = d.user(&user).await?;
            let id = text(&u, "id");
            d.send(Method::DELETE, &format!("/users/{}", segment(&id)), None)
                .await?;
            d.done(
                &Value::Null,
                &format!("deleted user {} ({id})", text(&u, "user_name")),
            );
        }
    }
    Ok(())
}

/// `groups …`
pub async fn groups(d: &Directory<'_>, cmd: GroupsCmd) -> Result<(), CliError> {
    match cmd {
        GroupsCmd::List { filter } => {
            let items = d.all_pages("/groups", filter.as_deref()).await?;
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|g| {
                    vec![
                        text(g, "id"),
                        text(g, "name"),
                        text(g, "provision_type"),
                        text(g, "description"),
                    ]
                })
                .collect();
            d.list(
                &Value::Array(items),
                &["ID", "NAME", "PROVISION", "DESCRIPTION"],
                &rows,
            );
        }
        GroupsCmd::Create { name, description } => {
            let body = json!({"group_name": name, "description": description.unwrap_or_default()});
            let g = d.send(Method::POST, "/groups", Some(&body)).await?;
            d.done(
                &g,
                &format!("created group {} ({})", text(&g, "name"), text(&g, "id")),
            );
        }
        GroupsCmd::Members { group } => {
            let g = d.group(&group).await?;
            let members = d
                .get(&format!("/groups/{}/members", segment(&text(&g, "id"))))
                .await?;
            let rows: Vec<Vec<String>> = members
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|u| vec![text(u, "id"), text(u, "user_name"), text(u, "display_name")])
                .collect();
            d.list(&members, &["ID", "USER NAME", "DISPLAY NAME"], &rows);
        }
        GroupsCmd::AddMember { group, user } => membership(d, &group, &user, true).await?,
        GroupsCmd::RemoveMember { group, user } => membership(d, &group, &user, false).await?,
    }
    Ok(())
}

/// Adds `user` to `group`, or removes it.
async fn membership(d: &Directory<'_>, group: &str, user: &str, add: bool) -> Result<(), CliError> {
    let g = d.group(group).await?;
    let u = d.user(user).await?;
    let path = format!(
        "/groups/{}/members/{}",
        segment(&text(&g, "id")),
        segment(&text(&u, "id"))
    );
    let method = if add { Method::PUT } else { Method::DELETE };
    d.send(method, &path, None).await?;
    let (verb, prep) = if add {
        ("added", "to")
    } else {
        ("removed", "from")
    };
    d.done(
        &Value::Null,
        &format!(
            "{verb} user {} {prep} group {}",
            text(&u, "user_name"),
            text(&g, "name")
        ),
    );
    Ok(())
}

/// `accounts …`
pub async fn accounts(d: &Directory<'_>, cmd: AccountsCmd) -> Result<(), CliError> {
    match cmd {
        AccountsCmd::List { folder } => {
            let path = match folder {
                Some(f) => format!("/cloud/accounts?{}", query(&[("folder", &f)])),
                None => "/cloud/accounts".to_owned(),
            };
            let all = d.get(&path).await?;
            let rows: Vec<Vec<String>> = all
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    vec![
                        text(a, "id"),
                        text(a, "name"),
                        text(a, "folder"),
                        if a["is_management"] == true {
                            "management".into()
                        } else {
                            "member".into()
                        },
                    ]
                })
                .collect();
            d.list(&all, &["ID", "NAME", "FOLDER", "TYPE"], &rows);
        }
    }
    Ok(())
}

/// `access-configs …`
pub async fn access_configs(d: &Directory<'_>, cmd: AccessConfigsCmd) -> Result<(), CliError> {
    match cmd {
        AccessConfigsCmd::List => {
            let all = d.get("/access-configurations").await?;
            let accounts = account_names(d).await?;
            let rows: Vec<Vec<String>> = all
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|ac| {
                    let provisioned: Vec<String> = ac["provisionings"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .map(|p| {
                            let account = text(p, "account_id");
                            format!(
                                "{}:{}",
                                accounts.get(&account).unwrap_or(&account),
                                text(p, "status")
                            )
                        })
                        .collect();
                    vec![
                        text(ac, "id"),
                        text(ac, "name"),
                        text(ac, "session_duration"),
                        text(ac, "system_policies"),
                        if ac["inline_policy"].is_string() {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        if provisioned.is_empty() {
                            "-".into()
                        } else {
                            provisioned.join(",")
                        },
                    ]
                })
                .collect();
            d.list(
                &all,
                &[
                    "ID",
                    "NAME",
                    "SESSION (S)",
                    "SYSTEM POLICIES",
                    "INLINE POLICY",
                    "PROVISIONED (ACCOUNT:STATUS)",
                ],
                &rows,
            );
        }
        AccessConfigsCmd::Create {
            name,
            description,
            session_duration,
            relay_state,
            system_policies,
            inline_policy,
            inline_policy_file,
        } => {
            let inline_policy = match inline_policy_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?,
                ),
                None => inline_policy,
            };
            let body = json!({
                "name": name,
                "description": description.unwrap_or_default(),
                "session_duration": session_duration,
                "relay_state": relay_state,
                "system_policies": system_policies,
                "inline_policy": inline_policy,
            });
            let ac = d
                .send(Method::POST, "/access-configurations", Some(&body))
                .await?;
            d.done(
                &ac,
                &format!(
                    "created access configuration {} ({})",
                    text(&ac, "name"),
                    text(&ac, "id")
                ),
            );
        }
        AccessConfigsCmd::Provision {
            access_config,
            account,
            no_wait,
        } => {
            let ac = d.access_config(&access_config).await?;
            let a = d.account(&account).await?;
            let task = d
                .send(
                    Method::POST,
                    &format!(
                        "/access-configurations/{}/provisionings",
                        segment(&text(&ac, "id"))
                    ),
                    Some(&json!({"target_id": text(&a, "id"), "target_type": "RD-Account"})),
                )
                .await?;
            let t = d.task(task, no_wait).await?;
            d.done(
                &t,
                &format!(
                    "{} (provision {} on {})",
                    Directory::task_line(&t),
                    text(&ac, "name"),
                    text(&a, "name")
                ),
            );
        }
    }
    Ok(())
}

/// Account id → name.
async fn account_names(d: &Directory<'_>) -> Result<HashMap<String, String>, CliError> {
    let all = d.get("/cloud/accounts").await?;
    Ok(all
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| (text(a, "id"), text(a, "name")))
        .collect())
}

/// `assignments …`
pub async fn assignments(d: &Directory<'_>, cmd: AssignmentsCmd) -> Result<(), CliError> {
    match cmd {
        AssignmentsCmd::List {
            access_config,
            account,
        } => {
            let mut pairs: Vec<(&str, String)> = Vec::new();
            if let Some(ac) = access_config {
                pairs.push((
                    "access_configuration_id",
                    text(&d.access_config(&ac).await?, "id"),
                ));
            }
            if let Some(a) = account {
                pairs.push(("account_id", text(&d.account(&a).await?, "id")));
            }
            let q: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let all = d.get(&format!("/access-assignments?{}", query(&q))).await?;
            let accounts = account_names(d).await?;
            let configs: HashMap<String, String> = d
                .get("/access-configurations")
                .await?
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|ac| (text(ac, "id"), text(ac, "name")))
                .collect();
            let mut principals: HashMap<String, String> = HashMap::new();
            let mut rows = Vec::new();
            for a in all.as_array().map(Vec::as_slice).unwrap_or_default() {
                let kind = text(a, "principal_type");
                let pid = text(a, "principal_id");
                if !principals.contains_key(&pid) {
                    let name = if kind == "Group" {
                        d.get(&format!("/groups/{}", segment(&pid)))
                            .await
                            .map(|g| text(&g, "name"))
                    } else {
                        d.get(&format!("/users/{}", segment(&pid)))
                            .await
                            .map(|u| text(&u, "user_name"))
                    };
                    principals.insert(pid.clone(), name.unwrap_or_else(|_| pid.clone()));
                }
                let ac = text(a, "access_configuration_id");
                let account = text(a, "account_id");
                rows.push(vec![
                    kind,
                    principals.get(&pid).cloned().unwrap_or_default(),
                    accounts.get(&account).cloned().unwrap_or(account),
                    configs.get(&ac).cloned().unwrap_or(ac),
                ]);
            }
            d.list(
                &all,
                &[
                    "PRINCIPAL TYPE",
                    "PRINCIPAL",
                    "ACCOUNT",
                    "ACCESS CONFIGURATION",
                ],
                &rows,
            );
        }
        AssignmentsCmd::Create(args) => assignment(d, args, true).await?,
        AssignmentsCmd::Delete(args) => assignment(d, args, false).await?,
    }
    Ok(())
}

/// Creates (`create`) or deletes an assignment and waits for its task.
async fn assignment(d: &Directory<'_>, args: AssignmentArgs, create: bool) -> Result<(), CliError> {
    let ac = d.access_config(&args.access_config).await?;
    let account = d.account(&args.account).await?;
    let (kind, principal, label) = match (&args.user, &args.group) {
        (Some(u), _) => {
            let u = d.user(u).await?;
            ("User", text(&u, "id"), text(&u, "user_name"))
        }
        (None, Some(g)) => {
            let g = d.group(g).await?;
            ("Group", text(&g, "id"), text(&g, "name"))
        }
        (None, None) => return Err(CliError::Usage("pass --user or --group".into())),
    };
    let key = json!({
        "access_configuration_id": text(&ac, "id"),
        "target_type": "RD-Account",
        "target_id": text(&account, "id"),
        "principal_type": kind,
        "principal_id": principal,
    });
    let task = if create {
        d.send(Method::POST, "/access-assignments", Some(&key))
            .await?
    } else {
        let ac_id = text(&ac, "id");
        let account_id = text(&account, "id");
        let q = query(&[
            ("access_configuration_id", ac_id.as_str()),
            ("target_type", "RD-Account"),
            ("target_id", account_id.as_str()),
            ("principal_type", kind),
            ("principal_id", principal.as_str()),
        ]);
        d.send(Method::DELETE, &format!("/access-assignments?{q}"), None)
            .await?
    };
    let t = d.task(task, args.no_wait).await?;
    let verb = if create { "assign" } else { "unassign" };
    d.done(
        &t,
        &format!(
            "{} ({verb} {} {label}: {} on {})",
            Directory::task_line(&t),
            kind.to_lowercase(),
            text(&ac, "name"),
            text(&account, "name")
        ),
    );
    Ok(())
}

/// `login-preferences …`
pub async fn login_preferences(
    d: &Directory<'_>,
    cmd: LoginPreferencesCmd,
) -> Result<(), CliError> {
    let show = |lp: &Value| {
        if d.json {
            print(lp);
        } else {
            let masks = lp["login_network_masks"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            println!(
                "{}",
                table(
                    &["SETTING", "VALUE"],
                    &[
                        vec![
                            "AllowUserToGetCredentials".into(),
                            text(lp, "allow_user_to_get_credentials"),
                        ],
                        vec![
                            "LoginNetworkMasks".into(),
                            if masks.is_empty() {
                                "(any address)".into()
                            } else {
                                cell(&lp["login_network_masks"])
                            },
                        ],
                    ],
                )
            );
        }
    };
    let current = d.get("").await?["login_preference"].clone();
    match cmd {
        LoginPreferencesCmd::Get => show(&current),
        LoginPreferencesCmd::Set {
            allow_user_to_get_credentials,
            network_masks,
        } => {
            let mut lp = current;
            if let Some(a) = allow_user_to_get_credentials {
                lp["allow_user_to_get_credentials"] = json!(a);
            }
            if let Some(m) = network_masks {
                let masks: Vec<&str> = m
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                lp["login_network_masks"] = json!(masks);
            }
            let d2 = d
                .send(
                    Method::PUT,
                    "/settings",
                    Some(&json!({"login_preference": lp})),
                )
                .await?;
            show(&d2["login_preference"]);
        }
    }
    Ok(())
}
