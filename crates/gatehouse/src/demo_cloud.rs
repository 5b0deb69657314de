//! The Cloud SSO half of the `gatehouse up` demo, wired to IDaaS end to end: a directory with
//! SCIM synchronization on and one SCIM credential, a management account and two member accounts,
//! two access configurations assigned to the demo users, and the IDaaS "Alibaba Cloud - Cloud SSO"
//! application configured both ways (its IdP metadata uploaded to Cloud SSO, Cloud SSO's ACS URL
//! and Entity ID saved in IDaaS) with SSO on and account provisioning over SCIM 2.0 to Cloud SSO.
//!
//! The demo users and their group reach Cloud SSO through SCIM, as in production: the setup runs a
//! full sync ("Push Now"), waits for it, and only then assigns access to the Synchronized users and
//! group. While `up` runs, IDaaS's outbox worker keeps Cloud SSO in sync.
//!
//! IDaaS is configured through its admin API (as an admin would); Cloud SSO through its domain
//! services in-process.

use std::sync::Arc;
use std::time::Duration;

use cloudsso::access_configuration::NewAccessConfiguration;
use cloudsso::assignment::{AssignmentRequest, PrincipalType, TaskStatus};
use cloudsso::audit::Actor;
use cloudsso::directory::{DirectoryName, DirectorySettingsPatch, LoginPreferenceInput};
use cloudsso::ram_user_provisioning::{DeletionStrategy, DuplicationStrategy, NewUserProvisioning};
use cloudsso::sso_settings::SsoSettingsPatch;
use cloudsso::user::{NameFilter, ProvisionType};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::ApiClient;
use crate::up::UpError;

fn err(e: impl std::fmt::Display) -> UpError {
    UpError::Seed(format!("Cloud SSO demo: {e}"))
}

/// How long the setup waits for the demo's first full sync and for the outbox to drain.
const SYNC_WAIT: Duration = Duration::from_secs(60);

/// Creates the Cloud SSO demo and adds its `cloudsso` section (and the Cloud SSO application) to
/// `demo`.
pub async fn seed(demo: &mut Value, cs: &Arc<cloudsso::Services>) -> Result<(), UpError> {
    let actor = Actor::system();
    let idaas = demo["idaas"].clone();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let api = ApiClient::new(&text(&idaas["base_url"]), &text(&idaas["api_token"]));
    let inst = format!("/api/v1/instances/{}", text(&idaas["instance_id"]));

    let name = DirectoryName::try_from("gatehouse-demo".to_owned()).map_err(err)?;
    let dir = cs.create_directory(&actor, name).await.map_err(err)?;

    // Settings > User Settings: SCIM synchronization on, and the credential IDaaS presents.
    cs.set_scim_synchronization(&actor, &dir.id, true)
        .await
        .map_err(err)?;
    let credential = cs
        .create_scim_credential(&actor, &dir.id)
        .await
        .map_err(err)?;
    let scim_base_url = cs.scim_endpoint();

    // Step 1 and 2 of the seed procedure: the IDaaS application and the metadata exchange.
    let sp_entity_id = cs.sp_entity_id(&dir);
    let acs_url = cs.acs_url(&dir);
    let app = api
        .json(
            Method::POST,
            &format!("{inst}/apps"),
            Some(&json!({"template_id": "apt_cloudsso_saml", "name": "Alibaba Cloud - Cloud SSO"})),
        )
        .await
        .map_err(err)?;
    let app_id = text(&app["id"]);
    if app_id.is_empty() {
        return Err(err(format!("no application id in {app}")));
    }
    api.json(
        Method::PATCH,
        &format!("{inst}/apps/{app_id}"),
        Some(&json!({
            "authorization_type": "default_all",
            "saml": {
                "sp_entity_id": sp_entity_id,
                "acs_url": acs_url,
                "application_account": {"type": "idaas_account", "field": "username"},
            }
        })),
    )
    .await
    .map_err(err)?;
    let metadata = api
        .get_text(&format!("{inst}/apps/{app_id}/idp-metadata"))
        .await
        .map_err(err)?;
    cs.configure_idp_from_metadata(&actor, &dir.id, &metadata, None)
        .await
        .map_err(err)?;
    cs.update_sso_settings(
        &actor,
        &dir.id,
        SsoSettingsPatch {
            sso_enabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;

    // Account sync: the application provisions the demo org unit and group to Cloud SSO over
    // SCIM 2.0 with the Cloud SSO default mapping; then "Push Now" brings the users and the group.
    let ids = |key: &str| -> Vec<String> {
        idaas[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (org_unit_ids, group_ids) = (ids("org_units"), ids("groups"));
    let provisioning = api
        .json(
            Method::PUT,
            &format!("{inst}/apps/{app_id}/provisioning"),
            Some(&json!({
                "enabled": true,
                "protocol": "scim2",
                "base_url": scim_base_url,
                "auth": {"mode": "bearer_token", "access_token": credential.credential_secret},
                "scope": {"org_unit_ids": org_unit_ids, "group_ids": group_ids},
                "actions": [
                    "urn:alibaba:idaas:app:scim:User:CREATE",
                    "urn:alibaba:idaas:app:scim:User:UPDATE",
                    "urn:alibaba:idaas:app:scim:User:DELETE",
                    "urn:alibaba:idaas:app:scim:User:PUSH",
                    "urn:alibaba:idaas:app:scim:Group:CREATE",
                    "urn:alibaba:idaas:app:scim:Group:UPDATE",
                    "urn:alibaba:idaas:app:scim:Group:DELETE",
                ],
                "deprovision_mode": "delete",
                "compatibility": "standard",
            })),
        )
        .await
        .map_err(err)?;
    if provisioning["enabled"] != true {
        return Err(err(format!("provisioning was not enabled: {provisioning}")));
    }
    let job = push_now(&api, &inst, &app_id).await?;
    wait_for_outbox(&api, &inst, &app_id).await?;

    // The demo users and group as they arrived over SCIM.
    let mut users = Vec::new();
    for u in idaas["users"].as_array().into_iter().flatten() {
        users.push(synchronized_user(cs, &dir.id, &text(&u["username"])).await?);
    }
    if users.is_empty() {
        return Err(err("the demo has no users"));
    }
    let group = synchronized_group(cs, &dir.id, "engineers").await?;

    // The resource directory: a management account and two members.
    let mut accounts = Vec::new();
    for (name, folder, management) in [
        ("Management", "/", true),
        ("Production", "/Workloads", false),
        ("Staging", "/Workloads", false),
    ] {
        accounts.push(
            cs.create_cloud_account(&actor, &dir.id, name, Some(folder), management)
                .await
                .map_err(err)?,
        );
    }
    let mut configs = Vec::new();
    for (name, policy, description) in [
        ("Administrator", "AdministratorAccess", "Full access"),
        ("ReadOnly", "ReadOnlyAccess", "Read-only access"),
    ] {
        configs.push(
            cs.create_access_configuration(
                &actor,
                &dir,
                &NewAccessConfiguration {
                    name: name.into(),
                    description: description.into(),
                    session_duration: None,
                    relay_state: None,
                    system_policies: vec![policy.into()],
                    inline_policy: None,
                },
            )
            .await
            .map_err(err)?,
        );
    }
    let (admin_ac, readonly_ac) = (&configs[0], &configs[1]);
    let (production, staging) = (&accounts[1], &accounts[2]);
    let mut assignments = vec![
        // alice: administrator on Staging, read-only on Production.
        (admin_ac, staging, PrincipalType::User, users[0].id.clone()),
        (
            readonly_ac,
            production,
            PrincipalType::User,
            users[0].id.clone(),
        ),
        // engineers (alice, bob): read-only on Staging.
        (readonly_ac, staging, PrincipalType::Group, group.id.clone()),
    ];
    if let Some(carol) = users.get(2) {
        assignments.push((
            readonly_ac,
            production,
            PrincipalType::User,
            carol.id.clone(),
        ));
    }
    let mut tasks = Vec::new();
    for (ac, account, principal_type, principal_id) in assignments {
        let task = cs
            .create_access_assignment(
                &actor,
                &dir,
                &AssignmentRequest {
                    access_configuration_id: ac.id.clone(),
                    target_type: None,
                    target_id: account.id.clone(),
                    principal_type,
                    principal_id,
                },
            )
            .await
            .map_err(err)?;
        tasks.push(task.id);
    }
    // alice may also log on to Staging as a RAM user of the same name.
    let (_, provisioning_task) = cs
        .create_user_provisioning(
            &actor,
            &dir,
            &NewUserProvisioning {
                principal_type: PrincipalType::User,
                principal_id: users[0].id.clone(),
                target_type: None,
                target_id: staging.id.clone(),
                duplication_strategy: Some(DuplicationStrategy::KeepBoth),
                deletion_strategy: Some(DeletionStrategy::Delete),
                description: "created by gatehouse up".into(),
            },
        )
        .await
        .map_err(err)?;
    tasks.push(provisioning_task.id);
    wait_for_tasks(cs, &dir.id, &tasks).await?;
    cs.update_directory_settings(
        &actor,
        &dir.id,
        DirectorySettingsPatch {
            login_preference: Some(LoginPreferenceInput {
                allow_user_to_get_credentials: true,
                login_network_masks: Vec::new(),
            }),
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    let token = cs
        .create_api_token(
            &actor,
            Some(&dir.id),
            cloudsso::api_token::TokenName::try_from("gatehouse up (demo)".to_owned())
                .map_err(err)?,
            None,
        )
        .await
        .map_err(err)?;

    let idaas_base = text(&idaas["base_url"]);
    if let Some(apps) = demo["idaas"]["apps"].as_array_mut() {
        apps.push(json!({
            "id": app_id,
            "name": "Alibaba Cloud - Cloud SSO",
            "template": "apt_cloudsso_saml",
            "sp_entity_id": sp_entity_id,
            "acs_url": acs_url,
            "metadata_url": format!("{idaas_base}/api/v2/{app_id}/saml2/meta"),
            "sso_url": format!("{idaas_base}/login/app/{app_id}/saml2/sso"),
            "provisioning": {
                "enabled": true,
                "base_url": scim_base_url,
                "org_unit_ids": org_unit_ids,
                "group_ids": group_ids,
                "first_sync_job": job["id"],
            },
        }));
    }
    demo["cloudsso"] = json!({
        "base_url": cs.base_url,
        "directory_id": dir.id,
        "directory_name": dir.name.to_string(),
        "portal_url": cs.portal_url(&dir),
        "console_url": format!("{}/console/login", cs.base_url),
        "sp_entity_id": sp_entity_id,
        "acs_url": acs_url,
        "api_token": token.secret,
        "scim_base_url": scim_base_url,
        "scim_token": credential.credential_secret,
        "scim_credential_id": credential.credential.credential_id,
        "accounts": accounts.iter().map(|a| json!({
            "id": a.id, "name": a.name, "folder": a.folder, "is_management": a.is_management,
        })).collect::<Vec<_>>(),
        "access_configurations": configs.iter().map(|c| json!({
            "id": c.id, "name": c.name, "description": c.description,
        })).collect::<Vec<_>>(),
        "users": users.iter().map(|u| json!({
            "id": u.id, "username": u.user_name.as_str(),
        })).collect::<Vec<_>>(),
        "groups": [{"id": group.id, "name": group.name}],
    });
    Ok(())
}

/// Starts a full sync of the application and waits for it to end; fails unless it succeeded.
async fn push_now(api: &ApiClient, inst: &str, app_id: &str) -> Result<Value, UpError> {
    let jobs = format!("{inst}/apps/{app_id}/provisioning/sync-jobs");
    let job = api
        .json(Method::POST, &jobs, Some(&json!({"dry_run": false})))
        .await
        .map_err(err)?;
    let job_id = job["id"]
        .as_str()
        .ok_or_else(|| err(format!("no sync job id in {job}")))?
        .to_owned();
    let deadline = tokio::time::Instant::now() + SYNC_WAIT;
    loop {
        let job = api
            .json(Method::GET, &format!("{jobs}/{job_id}"), None)
            .await
            .map_err(err)?;
        match job["status"].as_str() {
            Some("success") => return Ok(job),
            Some("pending" | "running") => {}
            _ => {
                let failures = api
                    .json(
                        Method::GET,
                        &format!("{jobs}/{job_id}/items?failed=true&limit=5"),
                        None,
                    )
                    .await
                    .unwrap_or(Value::Null);
                return Err(err(format!(
                    "the first SCIM full sync did not succeed: {job}; failures: {failures}"
                )));
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(err(format!(
                "the first SCIM full sync did not finish within {} s: {job}",
                SYNC_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the application's outbox holds nothing pending (the changes enqueued when
/// provisioning was enabled are delivered or found already in effect); fails on dead letters.
async fn wait_for_outbox(api: &ApiClient, inst: &str, app_id: &str) -> Result<(), UpError> {
    let path = format!("{inst}/apps/{app_id}/provisioning/outbox");
    let deadline = tokio::time::Instant::now() + SYNC_WAIT;
    loop {
        let page = api.json(Method::GET, &path, None).await.map_err(err)?;
        if page["dead"].as_i64().unwrap_or(0) > 0 {
            return Err(err(format!("SCIM deliveries were dead-lettered: {page}")));
        }
        if page["pending"].as_i64() == Some(0) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(err(format!(
                "SCIM deliveries still pending after {} s: {page}",
                SYNC_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Cloud SSO user that SCIM created for an IDaaS account (user names are lower-cased by the
/// Cloud SSO mapping and compared case-insensitively).
async fn synchronized_user(
    cs: &Arc<cloudsso::Services>,
    directory_id: &str,
    user_name: &str,
) -> Result<cloudsso::user::User, UpError> {
    match cs
        .find_user_by_name(directory_id, user_name)
        .await
        .map_err(err)?
    {
        Some(u) if u.provision_type == ProvisionType::Synchronized => Ok(u),
        Some(u) => Err(err(format!(
            "user {user_name} exists but was not synchronized: {:?}",
            u.provision_type
        ))),
        None => Err(err(format!("user {user_name} did not arrive over SCIM"))),
    }
}

/// The Cloud SSO group that SCIM created for an IDaaS group.
async fn synchronized_group(
    cs: &Arc<cloudsso::Services>,
    directory_id: &str,
    name: &str,
) -> Result<cloudsso::group::Group, UpError> {
    let filter = NameFilter {
        op: "eq",
        value: name.to_owned(),
    };
    let (groups, _) = cs
        .list_groups(directory_id, Some(&filter), 10, None)
        .await
        .map_err(err)?;
    groups
        .into_iter()
        .find(|g| g.provision_type == ProvisionType::Synchronized)
        .ok_or_else(|| err(format!("group {name} did not arrive over SCIM")))
}

/// Runs the assignment tasks to completion (the background worker would too; this makes the
/// demo ready before `up` prints it).
async fn wait_for_tasks(
    cs: &Arc<cloudsso::Services>,
    directory_id: &str,
    tasks: &[String],
) -> Result<(), UpError> {
    for _ in 0..100 {
        cs.run_pending_tasks().await.map_err(err)?;
        let mut done = true;
        for id in tasks {
            let task = cs.task(directory_id, id).await.map_err(err)?;
            match task.status {
                TaskStatus::Success => {}
                TaskStatus::Failed => {
                    return Err(err(format!("assignment task {id} failed: {task:?}")));
                }
                TaskStatus::InProgress => done = false,
            }
        }
        if done {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(err("assignment tasks did not finish within 10 s"))
}
