//! Account sync from the command line.
//!
//! * `gatehouse app provisioning get|set APP`: the application's SCIM 2.0 provisioning
//!   configuration (IDaaS admin API `…/apps/{app_id}/provisioning`);
//! * `gatehouse app sync push|jobs|show|outbox|retry APP`: "Push Now" (with a progress bar on
//!   stderr), sync records with their per-object results, the delivery outbox and retries
//!   (`…/apps/{app_id}/provisioning/sync-jobs`, `…/outbox`);
//! * `gatehouse cloudsso scim enable|disable|status` and `gatehouse cloudsso scim credentials …`:
//!   the Cloud SSO side (the SCIM synchronization switch and the bearer credentials of the
//!   directory's SCIM server).
//!
//! Applications may be named by ID (`app_…`) or by exact name. Lists print tables, or the API's
//! JSON with `--json`.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::cli::CliError;
use crate::cli_cloudsso::Directory;
use crate::cli_output::{cell, print, table, time};
use crate::client::ApiClient;

/// Largest page the sync-record and outbox lists serve.
const PAGE: i64 = 500;
/// How often a running job is polled.
const POLL: Duration = Duration::from_millis(250);
/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);
/// Width of the progress bar in characters.
const BAR: usize = 30;

/// The result kinds of a sync record, in display order.
const KINDS: [&str; 3] = ["user", "group", "group_member"];
/// The per-kind counters, in display order.
const COUNTERS: [&str; 7] = [
    "created", "updated", "deleted", "same", "bound", "failed", "skipped",
];

/// `gatehouse app provisioning …`
#[derive(Debug, Subcommand)]
pub enum ProvisioningCmd {
    /// Show the provisioning configuration (secrets are never shown, only whether one is set).
    Get {
        /// Application ID or name.
        app: String,
    },
    /// Change the provisioning configuration; options left out keep their value.
    Set(Box<SetArgs>),
}

/// `gatehouse app provisioning set APP …`
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// Application ID or name.
    pub app: String,
    /// SCIM 2.0 base URL, e.g. `https://signin.example.com/scim/v2`.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Authenticate with this fixed bearer token (e.g. a Cloud SSO SCIM credential).
    #[arg(long, conflicts_with_all = ["client_id", "client_secret", "token_endpoint", "auth_method"])]
    pub bearer_token: Option<String>,
    /// OAuth 2.0 client credentials: the client ID.
    #[arg(long)]
    pub client_id: Option<String>,
    /// OAuth 2.0 client credentials: the client secret (left out: keep the stored one).
    #[arg(long)]
    pub client_secret: Option<String>,
    /// OAuth 2.0 client credentials: the token endpoint.
    #[arg(long)]
    pub token_endpoint: Option<String>,
    /// How the client authenticates at the token endpoint: `basic` or `post`.
    #[arg(long, value_parser = ["basic", "post"])]
    pub auth_method: Option<String>,
    /// An org unit in scope (repeatable; replaces the stored list). Its sub-units are included.
    #[arg(long = "org-unit")]
    pub org_units: Vec<String>,
    /// A group in scope (repeatable; replaces the stored list). These groups are also pushed.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Empty the scope (nobody is provisioned) before adding `--org-unit` and `--group`.
    #[arg(long)]
    pub clear_scope: bool,
    /// An allowed action (repeatable; replaces the stored list): `user-create`, `user-update`,
    /// `user-delete`, `user-push`, `group-create`, `group-update`, `group-delete`, or `all`.
    #[arg(long = "action")]
    pub actions: Vec<String>,
    /// What happens at the target to users who leave the scope: `delete` or `disable`.
    #[arg(long, value_parser = ["delete", "disable"])]
    pub deprovision: Option<String>,
    /// Target profile: `standard` SCIM 2.0 or `aws` (AWS IAM Identity Center).
    #[arg(long, value_parser = ["standard", "aws"])]
    pub compatibility: Option<String>,
    /// Delivery attempts before an outbox entry is dead-lettered (1–100).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Turn provisioning on.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Turn provisioning off.
    #[arg(long)]
    pub disable: bool,
}

/// `gatehouse app sync …`
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: SyncCmd,
}

/// What to do with sync records and the outbox.
#[derive(Debug, Subcommand)]
pub enum SyncCmd {
    /// "Push Now": a full sync that reconciles the target; waits and shows progress on stderr.
    /// Exits non-zero unless the job succeeded.
    Push {
        /// Application ID or name.
        app: String,
        /// Only compute the plan and print it; nothing is written to the target.
        #[arg(long)]
        dry_run: bool,
        /// Print the started job and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// The sync records of the application, newest first.
    Jobs {
        /// Application ID or name.
        app: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One sync record: status, progress, counts per kind, and optionally its per-object results.
    Show {
        /// Application ID or name.
        app: String,
        /// Sync job ID (`sjob_…`).
        job: String,
        /// List the per-object results (the plan, for a dry run).
        #[arg(long)]
        items: bool,
        /// List only the objects that failed (implies `--items`).
        #[arg(long)]
        failed: bool,
    },
    /// The delivery outbox: pending entries and dead letters.
    Outbox {
        /// Application ID or name.
        app: String,
        /// Only `pending` or only `dead` entries.
        #[arg(long, value_parser = ["pending", "dead"])]
        state: Option<String>,
    },
    /// Retry one outbox entry now (`TYPE ID`, type `user` or `group`), or every dead letter.
    Retry {
        /// Application ID or name.
        app: String,
        /// Retry every dead-lettered entry.
        #[arg(long, conflicts_with_all = ["object_type", "object_id"])]
        all_dead: bool,
        /// `user` or `group`.
        #[arg(required_unless_present = "all_dead")]
        object_type: Option<String>,
        /// The IDaaS user or group ID.
        #[arg(required_unless_present = "all_dead")]
        object_id: Option<String>,
    },
}

/// `gatehouse cloudsso scim …`
#[derive(Debug, Subcommand)]
pub enum ScimCmd {
    /// Turn SCIM synchronization on (Settings > User Settings).
    Enable,
    /// Turn SCIM synchronization off (the SCIM server then refuses every credential).
    Disable,
    /// The switch, the SCIM endpoint and the number of credentials.
    Status,
    /// The bearer credentials of the directory's SCIM server (at most two).
    #[command(subcommand)]
    Credentials(CredentialsCmd),
}

/// `gatehouse cloudsso scim credentials …`
#[derive(Debug, Subcommand)]
pub enum CredentialsCmd {
    /// List the credentials (never their secrets).
    List,
    /// Generate a credential; its secret is printed once and cannot be shown again.
    Create,
    /// Enable a credential.
    Enable {
        /// Credential ID (`scimcred-…`).
        id: String,
    },
    /// Disable a credential (SCIM clients using it are refused).
    Disable {
        /// Credential ID (`scimcred-…`).
        id: String,
    },
    /// Delete a credential.
    Delete {
        /// Credential ID (`scimcred-…`).
        id: String,
    },
    /// Generate a replacement and disable this credential (delete it once the client switched).
    Rotate {
        /// Credential ID (`scimcred-…`).
        id: String,
    },
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// The IDaaS admin API of one instance.
pub struct Instance<'a> {
    /// The client.
    pub api: &'a ApiClient,
    /// `/api/v1/instances/{instance_id}`.
    pub path: String,
}

impl Instance<'_> {
    async fn call(
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

    /// The application's ID: `app_…` as given, otherwise the application with exactly this name.
    async fn app_id(&self, app: &str) -> Result<String, CliError> {
        if app.starts_with("app_") {
            return Ok(app.to_owned());
        }
        let apps = self.call(Method::GET, "/apps", None).await?;
        let found: Vec<&Value> = apps
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["name"].as_str() == Some(app))
            .collect();
        match found.as_slice() {
            [one] => one["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| usage(format!("the application {app:?} has no id"))),
            [] => Err(usage(format!("no application named {app:?}"))),
            _ => Err(usage(format!(
                "several applications are named {app:?}; pass its ID"
            ))),
        }
    }
}

/// Parses `--action` names into the API's URNs.
fn action_urns(names: &[String]) -> Result<Vec<String>, CliError> {
    const ALL: [(&str, &str); 7] = [
        ("user-create", "User:CREATE"),
        ("user-update", "User:UPDATE"),
        ("user-delete", "User:DELETE"),
        ("user-push", "User:PUSH"),
        ("group-create", "Group:CREATE"),
        ("group-update", "Group:UPDATE"),
        ("group-delete", "Group:DELETE"),
    ];
    let urn = |suffix: &str| format!("urn:alibaba:idaas:app:scim:{suffix}");
    let mut out = Vec::new();
    for n in names {
        if n == "all" {
            out.extend(ALL.iter().map(|(_, s)| urn(s)));
            continue;
        }
        let (_, suffix) = ALL
            .iter()
            .find(|(name, _)| *name == n.as_str())
            .ok_or_else(|| {
                usage(format!(
                    "unknown --action {n:?}: use user-create, user-update, user-delete, user-push, \
                     group-create, group-update, group-delete or all"
                ))
            })?;
        out.push(urn(suffix));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The `PUT …/provisioning` body for `set`, given the stored configuration.
fn provisioning_body(a: &SetArgs, current: &Value) -> Result<Value, CliError> {
    let mut body = Map::new();
    if a.enable {
        body.insert("enabled".into(), json!(true));
    }
    if a.disable {
        body.insert("enabled".into(), json!(false));
    }
    if let Some(u) = &a.base_url {
        body.insert("base_url".into(), json!(u));
    }
    let client_credentials = a.client_id.is_some()
        || a.client_secret.is_some()
        || a.token_endpoint.is_some()
        || a.auth_method.is_some();
    if let Some(t) = &a.bearer_token {
        body.insert(
            "auth".into(),
            json!({"mode": "bearer_token", "access_token": t}),
        );
    } else if client_credentials {
        // Fields left out keep the stored values when the mode stays client credentials.
        let stored = &current["auth"];
        let same_mode = stored["mode"] == "client_credentials";
        let pick = |given: &Option<String>, key: &str| -> Value {
            match given {
                Some(v) => json!(v),
                None if same_mode => stored[key].clone(),
                None => Value::Null,
            }
        };
        let method = match a.auth_method.as_deref() {
            Some("post") => json!("client_secret_post"),
            Some(_) => json!("client_secret_basic"),
            None if same_mode => stored["authn_method"].clone(),
            None => json!("client_secret_basic"),
        };
        body.insert(
            "auth".into(),
            json!({
                "mode": "client_credentials",
                "token_endpoint": pick(&a.token_endpoint, "token_endpoint"),
                "client_id": pick(&a.client_id, "client_id"),
                "client_secret": a.client_secret,
                "authn_method": method,
            }),
        );
    }
    if a.clear_scope || !a.org_units.is_empty() || !a.groups.is_empty() {
        let keep = |given: &Vec<String>, key: &str| -> Value {
            if !given.is_empty() || a.clear_scope {
                json!(given)
            } else {
                current["scope"][key].clone()
            }
        };
        body.insert(
            "scope".into(),
            json!({
                "org_unit_ids": keep(&a.org_units, "org_unit_ids"),
                "group_ids": keep(&a.groups, "group_ids"),
            }),
        );
    }
    if !a.actions.is_empty() {
        body.insert("actions".into(), json!(action_urns(&a.actions)?));
    }
    if let Some(d) = &a.deprovision {
        body.insert("deprovision_mode".into(), json!(d));
    }
    if let Some(c) = &a.compatibility {
        let c = if c == "aws" {
            "aws_iam_identity_center"
        } else {
            "standard"
        };
        body.insert("compatibility".into(), json!(c));
    }
    if let Some(n) = a.max_attempts {
        body.insert("max_attempts".into(), json!(n));
    }
    if body.is_empty() {
        return Err(usage(
            "nothing to change: pass --enable, --base-url, --bearer-token, --org-unit, … \
             (see `gatehouse app provisioning set --help`)",
        ));
    }
    Ok(Value::Object(body))
}

/// `gatehouse app provisioning …`
pub async fn provisioning(inst: &Instance<'_>, cmd: ProvisioningCmd) -> Result<(), CliError> {
    match cmd {
        ProvisioningCmd::Get { app } => {
            let id = inst.app_id(&app).await?;
            let v = inst
                .call(Method::GET, &format!("/apps/{id}/provisioning"), None)
                .await?;
            print(&v);
        }
        ProvisioningCmd::Set(a) => {
            let id = inst.app_id(&a.app).await?;
            let path = format!("/apps/{id}/provisioning");
            let current = inst.call(Method::GET, &path, None).await?;
            let body = provisioning_body(&a, &current)?;
            let v = inst.call(Method::PUT, &path, Some(&body)).await?;
            print(&v);
        }
    }
    Ok(())
}

/// The counts table of a sync record: one row per kind that has any result.
fn counts_table(job: &Value) -> String {
    let rows: Vec<Vec<String>> = KINDS
        .iter()
        .filter(|k| job["counts"][**k].is_object())
        .map(|k| {
            let c = &job["counts"][*k];
            let mut row = vec![(*k).to_owned()];
            row.extend(
                COUNTERS
                    .iter()
                    .map(|n| c[*n].as_i64().unwrap_or(0).to_string()),
            );
            row
        })
        .collect();
    let mut headers = vec!["KIND"];
    let upper: Vec<String> = COUNTERS.iter().map(|c| c.to_uppercase()).collect();
    headers.extend(upper.iter().map(String::as_str));
    table(&headers, &rows)
}

/// One line about a job: `sjob_… full (manual): success, 12/12`.
fn job_line(job: &Value) -> String {
    let kind = if job["dry_run"] == true {
        format!("{} dry run", cell(&job["kind"]))
    } else {
        cell(&job["kind"])
    };
    let mut line = format!(
        "sync job {} {kind} ({}): {}, {}/{}",
        cell(&job["id"]),
        cell(&job["trigger_type"]),
        cell(&job["status"]),
        job["done"].as_i64().unwrap_or(0),
        job["total"].as_i64().unwrap_or(0),
    );
    if let (Some(s), Some(f)) = (job["started_at"].as_i64(), job["finished_at"].as_i64()) {
        line.push_str(&format!(" in {} s", (f - s).max(0)));
    }
    if let Some(e) = job["error"].as_str().filter(|e| !e.is_empty()) {
        line.push_str(&format!("; error: {e}"));
    }
    line
}

/// The progress line: `[#####-----] 1234/2000 objects · users 1200 …`.
fn progress_line(job: &Value) -> String {
    let done = job["done"].as_i64().unwrap_or(0).max(0);
    let total = job["total"].as_i64().unwrap_or(0).max(0);
    let filled = if total > 0 {
        usize::try_from(done.min(total) * BAR as i64 / total).unwrap_or(0)
    } else {
        0
    };
    let mut line = format!(
        "[{}{}] {done}/{total} objects",
        "#".repeat(filled),
        "-".repeat(BAR - filled)
    );
    for (kind, label) in [
        ("user", "users"),
        ("group", "groups"),
        ("group_member", "members"),
    ] {
        let c = &job["counts"][kind];
        if !c.is_object() {
            continue;
        }
        let n: i64 = COUNTERS.iter().map(|k| c[*k].as_i64().unwrap_or(0)).sum();
        let failed = c["failed"].as_i64().unwrap_or(0);
        line.push_str(&format!(" · {label} {n}"));
        if failed > 0 {
            line.push_str(&format!(" ({failed} failed)"));
        }
    }
    line.push_str(&format!(" · {}", cell(&job["status"])));
    line
}

fn finished(job: &Value) -> bool {
    !matches!(job["status"].as_str(), Some("pending" | "running"))
}

/// Polls a job until it ends, drawing the progress bar on stderr.
async fn follow(inst: &Instance<'_>, jobs_path: &str, job: Value) -> Result<Value, CliError> {
    let tty = std::io::stderr().is_terminal();
    let id = cell(&job["id"]);
    let mut job = job;
    let mut last_plain: Option<(Instant, String)> = None;
    let mut drawn = false;
    loop {
        let line = progress_line(&job);
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
            drawn = true;
        } else {
            let due = last_plain
                .as_ref()
                .is_none_or(|(at, prev)| *prev != line && at.elapsed() >= PLAIN_EVERY);
            if due || (finished(&job) && last_plain.as_ref().is_some_and(|(_, p)| *p != line)) {
                let _ = writeln!(err, "{line}");
                last_plain = Some((Instant::now(), line));
            }
        }
        drop(err);
        if finished(&job) {
            if drawn {
                eprintln!();
            }
            return Ok(job);
        }
        tokio::time::sleep(POLL).await;
        job = inst
            .call(Method::GET, &format!("{jobs_path}/{id}"), None)
            .await?;
    }
}

/// Every item of a job (optionally only failures).
async fn all_items(
    inst: &Instance<'_>,
    jobs_path: &str,
    job_id: &str,
    failed: bool,
) -> Result<Vec<Value>, CliError> {
    let mut items = Vec::new();
    loop {
        let q = format!(
            "?offset={}&limit={PAGE}{}",
            items.len(),
            if failed { "&failed=true" } else { "" }
        );
        let page = inst
            .call(Method::GET, &format!("{jobs_path}/{job_id}/items{q}"), None)
            .await?;
        let batch = page["items"].as_array().cloned().unwrap_or_default();
        let n = batch.len();
        items.extend(batch);
        let total = page["total"].as_i64().unwrap_or(0);
        if n == 0 || i64::try_from(items.len()).unwrap_or(i64::MAX) >= total {
            return Ok(items);
        }
    }
}

fn items_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                cell(&i["action"]),
                cell(&i["object_type"]),
                cell(&i["name"]),
                cell(&i["object_id"]),
                cell(&i["error"]),
            ]
        })
        .collect();
    table(&["ACTION", "TYPE", "NAME", "ID", "ERROR"], &rows)
}

/// Exit status of a finished job: only `success` is success.
fn job_result(job: &Value) -> Result<(), CliError> {
    match job["status"].as_str() {
        Some("success") => Ok(()),
        Some(s) => Err(usage(format!(
            "sync job {} ended {s}{}",
            cell(&job["id"]),
            job["error"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_else(|| " (see `gatehouse app sync show APP JOB --failed`)".into())
        ))),
        None => Err(usage(format!("unexpected sync job: {job}"))),
    }
}

/// `gatehouse app sync …`
pub async fn sync(inst: &Instance<'_>, args: SyncArgs) -> Result<(), CliError> {
    let json = args.json;
    match args.cmd {
        SyncCmd::Push {
            app,
            dry_run,
            no_wait,
        } => {
            let id = inst.app_id(&app).await?;
            let jobs = format!("/apps/{id}/provisioning/sync-jobs");
            let job = inst
                .call(Method::POST, &jobs, Some(&json!({"dry_run": dry_run})))
                .await?;
            if no_wait {
                if json {
                    print(&job);
                } else {
                    println!("started {}", job_line(&job));
                }
                return Ok(());
            }
            let job = follow(inst, &jobs, job).await?;
            let job_id = cell(&job["id"]);
            let plan = if dry_run {
                all_items(inst, &jobs, &job_id, false).await?
            } else {
                Vec::new()
            };
            if json {
                let mut out = job.clone();
                if dry_run {
                    out["plan"] = json!(plan);
                }
                print(&out);
            } else {
                println!("{}", job_line(&job));
                if dry_run {
                    println!("plan (nothing was written to the target):");
                    println!("{}", items_table(&plan));
                }
                println!("{}", counts_table(&job));
            }
            job_result(&job)
        }
        SyncCmd::Jobs { app, limit } => {
            let id = inst.app_id(&app).await?;
            let v = inst
                .call(
                    Method::GET,
                    &format!(
                        "/apps/{id}/provisioning/sync-jobs?limit={}",
                        limit.clamp(1, PAGE)
                    ),
                    None,
                )
                .await?;
            if json {
                print(&v);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|j| {
                    let failed: i64 = KINDS
                        .iter()
                        .map(|k| j["counts"][*k]["failed"].as_i64().unwrap_or(0))
                        .sum();
                    vec![
                        cell(&j["id"]),
                        time(&j["created_at"]),
                        cell(&j["trigger_type"]),
                        if j["dry_run"] == true {
                            format!("{} (dry run)", cell(&j["kind"]))
                        } else {
                            cell(&j["kind"])
                        },
                        cell(&j["status"]),
                        format!(
                            "{}/{}",
                            j["done"].as_i64().unwrap_or(0),
                            j["total"].as_i64().unwrap_or(0)
                        ),
                        failed.to_string(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &[
                        "ID", "CREATED", "TRIGGER", "KIND", "STATUS", "PROGRESS", "FAILED"
                    ],
                    &rows
                )
            );
            Ok(())
        }
        SyncCmd::Show {
            app,
            job,
            items,
            failed,
        } => {
            let id = inst.app_id(&app).await?;
            let jobs = format!("/apps/{id}/provisioning/sync-jobs");
            let v = inst
                .call(Method::GET, &format!("{jobs}/{job}"), None)
                .await?;
            let list = if items || failed {
                Some(all_items(inst, &jobs, &job, failed).await?)
            } else {
                None
            };
            if json {
                let mut out = v;
                if let Some(l) = list {
                    out["items"] = json!(l);
                }
                print(&out);
                return Ok(());
            }
            println!("{}", job_line(&v));
            println!(
                "requested {} · started {} · finished {}",
                time(&v["created_at"]),
                time(&v["started_at"]),
                time(&v["finished_at"])
            );
            println!("{}", counts_table(&v));
            if let Some(l) = list {
                println!();
                println!("{}", items_table(&l));
            }
            Ok(())
        }
        SyncCmd::Outbox { app, state } => {
            let id = inst.app_id(&app).await?;
            let mut entries = Vec::new();
            let mut page;
            loop {
                let mut q = format!("?offset={}&limit={PAGE}", entries.len());
                if let Some(s) = &state {
                    q.push_str(&format!("&state={s}"));
                }
                page = inst
                    .call(
                        Method::GET,
                        &format!("/apps/{id}/provisioning/outbox{q}"),
                        None,
                    )
                    .await?;
                let batch = page["items"].as_array().cloned().unwrap_or_default();
                let n = batch.len();
                entries.extend(batch);
                let total = page["total"].as_i64().unwrap_or(0);
                if n == 0 || i64::try_from(entries.len()).unwrap_or(i64::MAX) >= total {
                    break;
                }
            }
            if json {
                page["items"] = json!(entries);
                print(&page);
                return Ok(());
            }
            println!(
                "pending {} · dead {}",
                page["pending"].as_i64().unwrap_or(0),
                page["dead"].as_i64().unwrap_or(0)
            );
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        cell(&e["object_type"]),
                        cell(&e["object_id"]),
                        cell(&e["state"]),
                        cell(&e["attempts"]),
                        time(&e["next_attempt_at"]),
                        cell(&e["last_error"]),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &[
                        "TYPE",
                        "ID",
                        "STATE",
                        "ATTEMPTS",
                        "NEXT ATTEMPT",
                        "LAST ERROR"
                    ],
                    &rows
                )
            );
            Ok(())
        }
        SyncCmd::Retry {
            app,
            all_dead,
            object_type,
            object_id,
        } => {
            let id = inst.app_id(&app).await?;
            let p = format!("/apps/{id}/provisioning/outbox");
            if all_dead {
                let v = inst
                    .call(Method::POST, &format!("{p}/retry-dead"), None)
                    .await?;
                if json {
                    print(&v);
                } else {
                    println!("retrying {} dead entries", cell(&v["retried"]));
                }
                return Ok(());
            }
            let (Some(t), Some(o)) = (object_type, object_id) else {
                return Err(usage(
                    "pass TYPE ID (user or group, and its ID) or --all-dead",
                ));
            };
            if t != "user" && t != "group" {
                return Err(usage(format!("TYPE must be user or group, not {t}")));
            }
            let v = inst
                .call(Method::POST, &format!("{p}/{t}/{o}/retry"), None)
                .await?;
            if json {
                print(&v);
            } else {
                println!(
                    "retrying {t} {o} now ({} attempts so far)",
                    cell(&v["attempts"])
                );
            }
            Ok(())
        }
    }
}

fn credential_rows(list: &[Value]) -> Vec<Vec<String>> {
    list.iter()
        .map(|c| {
            vec![
                cell(&c["credential_id"]),
                cell(&c["credential_type"]),
                cell(&c["status"]),
                time(&c["created_at"]),
                time(&c["expires_at"]),
                time(&c["last_used_at"]),
            ]
        })
        .collect()
}

const CREDENTIAL_HEADERS: [&str; 6] = ["ID", "TYPE", "STATUS", "CREATED", "EXPIRES", "LAST USED"];

/// Prints a credential with its secret (create, rotate): the only time it can be shown.
fn print_secret(d: &Directory<'_>, v: &Value, created: &Value, verb: &str) {
    if d.json {
        print(v);
        return;
    }
    println!(
        "{verb} SCIM credential {} (expires {})",
        cell(&created["credential_id"]),
        time(&created["expires_at"])
    );
    println!("secret: {}", cell(&created["credential_secret"]));
    eprintln!("The secret is shown only now: store it in the SCIM client.");
}

/// Enables or disables a SCIM credential.
async fn credential_status(d: &Directory<'_>, id: &str, status: &str) -> Result<(), CliError> {
    let v = d
        .api
        .json(
            Method::PATCH,
            &format!("{}/scim-credentials/{id}", d.path),
            Some(&json!({"status": status})),
        )
        .await?;
    if d.json {
        print(&v);
    } else {
        println!("SCIM credential {id}: {}", cell(&v["status"]));
    }
    Ok(())
}

/// `gatehouse cloudsso scim …`
pub async fn scim(d: &Directory<'_>, cmd: ScimCmd) -> Result<(), CliError> {
    let call = |method: Method, path: String, body: Option<Value>| async move {
        d.api
            .json(method, &format!("{}{path}", d.path), body.as_ref())
            .await
            .map_err(CliError::from)
    };
    let status_line = |v: &Value| {
        format!(
            "SCIM synchronization {} · endpoint {} · {} credential(s)",
            cell(&v["status"]),
            cell(&v["scim_endpoint"]),
            cell(&v["credential_count"])
        )
    };
    match cmd {
        ScimCmd::Enable | ScimCmd::Disable | ScimCmd::Status => {
            let v = match cmd {
                ScimCmd::Status => call(Method::GET, "/scim-synchronization".into(), None).await?,
                _ => {
                    let on = matches!(cmd, ScimCmd::Enable);
                    call(
                        Method::PUT,
                        "/scim-synchronization".into(),
                        Some(json!({"enabled": on})),
                    )
                    .await?
                }
            };
            if d.json {
                print(&v);
            } else {
                println!("{}", status_line(&v));
            }
        }
        ScimCmd::Credentials(c) => {
            let base = "/scim-credentials".to_owned();
            match c {
                CredentialsCmd::List => {
                    let v = call(Method::GET, base, None).await?;
                    if d.json {
                        print(&v);
                    } else {
                        let list = v.as_array().cloned().unwrap_or_default();
                        println!("{}", table(&CREDENTIAL_HEADERS, &credential_rows(&list)));
                    }
                }
                CredentialsCmd::Create => {
                    let v = call(Method::POST, base, None).await?;
                    print_secret(d, &v, &v, "created");
                }
                CredentialsCmd::Rotate { id } => {
                    let v = call(Method::POST, format!("{base}/{id}/rotate"), None).await?;
                    print_secret(d, &v, &v["created"], "created");
                    if !d.json {
                        println!(
                            "disabled {} (delete it once the client uses the new secret)",
                            cell(&v["replaced"]["credential_id"])
                        );
                    }
                }
                CredentialsCmd::Enable { id } => credential_status(d, &id, "Enabled").await?,
                CredentialsCmd::Disable { id } => credential_status(d, &id, "Disabled").await?,
                CredentialsCmd::Delete { id } => {
                    call(Method::DELETE, format!("{base}/{id}"), None).await?;
                    if d.json {
                        print(&Value::Null);
                    } else {
                        println!("deleted SCIM credential {id}");
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_fills_with_done() {
        let job = json!({"done": 1234, "total": 2000, "status": "running",
                         "counts": {"user": {"created": 1200, "failed": 3}}});
        let line = progress_line(&job);
        assert!(
            line.starts_with(&format!(
                "[{}{}] 1234/2000 objects",
                "#".repeat(18),
                "-".repeat(12)
            )),
            "{line}"
        );
        assert!(line.contains("users 1203 (3 failed)"), "{line}");
        let empty = progress_line(&json!({"done": 0, "total": 0, "status": "pending"}));
        assert!(
            empty.starts_with(&format!("[{}] 0/0", "-".repeat(BAR))),
            "{empty}"
        );
    }

    #[test]
    fn actions_map_to_urns() {
        let urns = action_urns(&["user-create".into(), "group-delete".into()]).unwrap();
        assert_eq!(
            urns,
            vec![
                "urn:alibaba:idaas:app:scim:Group:DELETE",
                "urn:alibaba:idaas:app:scim:User:CREATE"
            ]
        );
        assert_eq!(action_urns(&["all".into()]).unwrap().len(), 7);
        assert!(action_urns(&["users".into()]).is_err());
    }

    fn args(f: impl FnOnce(&mut SetArgs)) -> SetArgs {
        let mut a = SetArgs {
            app: "app_1".into(),
            base_url: None,
            bearer_token: None,
            client_id: None,
            client_secret: None,
            token_endpoint: None,
            auth_method: None,
            org_units: Vec::new(),
            groups: Vec::new(),
            clear_scope: false,
            actions: Vec::new(),
            deprovision: None,
            compatibility: None,
            max_attempts: None,
            enable: false,
            disable: false,
        };
        f(&mut a);
        a
    }

    #[test]
    fn set_body_keeps_what_is_not_given() {
        let current = json!({"auth": {"mode": "client_credentials", "client_id": "c1",
                                      "token_endpoint": "https://t.example/token",
                                      "authn_method": "client_secret_post"},
                             "scope": {"org_unit_ids": ["ou_1"], "group_ids": ["group_1"]}});
        let body = provisioning_body(
            &args(|a| {
                a.client_secret = Some("s".into());
                a.groups = vec!["group_2".into()];
                a.compatibility = Some("aws".into());
                a.enable = true;
            }),
            &current,
        )
        .unwrap();
        assert_eq!(body["enabled"], true);
        assert_eq!(body["auth"]["client_id"], "c1");
        assert_eq!(body["auth"]["authn_method"], "client_secret_post");
        assert_eq!(body["auth"]["client_secret"], "s");
        assert_eq!(body["scope"]["org_unit_ids"], json!(["ou_1"]));
        assert_eq!(body["scope"]["group_ids"], json!(["group_2"]));
        assert_eq!(body["compatibility"], "aws_iam_identity_center");
        let bearer =
            provisioning_body(&args(|a| a.bearer_token = Some("t".into())), &current).unwrap();
        assert_eq!(
            bearer["auth"],
            json!({"mode": "bearer_token", "access_token": "t"})
        );
        assert!(bearer.get("scope").is_none());
        assert!(provisioning_body(&args(|_| {}), &current).is_err());
    }

    #[test]
    fn counts_table_lists_kinds_with_results() {
        let t = counts_table(&json!({"counts": {"user": {"created": 3}, "group": {"same": 1}}}));
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("KIND") && lines[0].contains("SKIPPED"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("user") && lines[1].contains('3'),
            "{t}"
        );
        assert!(lines[2].starts_with("group"), "{t}");
        assert_eq!(lines.len(), 3, "{t}");
    }
}
