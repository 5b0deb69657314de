//! The Cloud SSO half of the `gatehouse up` demo, wired to IDaaS end to end: a directory with the
//! demo users, a management account and two member accounts, two access configurations assigned
//! to the users, and the IDaaS "Alibaba Cloud - Cloud SSO" application configured both ways (its
//! IdP metadata uploaded to Cloud SSO, Cloud SSO's ACS URL and Entity ID saved in IDaaS), with SSO
//! on — so opening the Cloud SSO logon URL and signing in as a demo user works at once.
//!
//! IDaaS is configured through its admin API (as an admin would); Cloud SSO through its domain
//! services in-process.

use std::sync::Arc;
use std::time::Duration;

use cloudsso::access_configuration::NewAccessConfiguration;
use cloudsso::assignment::{AssignmentRequest, PrincipalType, TaskStatus};
use cloudsso::audit::Actor;
use cloudsso::directory::{DirectoryName, DirectorySettingsPatch, LoginPreferenceInput};
use cloudsso::group::{GroupName, NewGroup};
use cloudsso::ram_user_provisioning::{DeletionStrategy, DuplicationStrategy, NewUserProvisioning};
use cloudsso::sso_settings::SsoSettingsPatch;
use cloudsso::user::{NewUser, UserName, UserStatus};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::ApiClient;
use crate::up::UpError;

fn err(e: impl std::fmt::Display) -> UpError {
    UpError::Seed(format!("Cloud SSO demo: {e}"))
}

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

    // The demo users, under their IDaaS account names (the NameID IDaaS sends).
    let mut users = Vec::new();
    for u in idaas["users"].as_array().into_iter().flatten() {
        let username = text(&u["username"]);
        let user = cs
            .create_user(
                &actor,
                &dir.id,
                NewUser {
                    user_name: UserName::try_from(username.clone()).map_err(err)?,
                    display_name: username.clone(),
                    email: u["email"].as_str().map(str::to_owned),
                    first_name: String::new(),
                    last_name: String::new(),
                    description: "created by gatehouse up".into(),
                    status: UserStatus::default(),
                    password: None,
                    mfa_required: false,
                },
            )
            .await
            .map_err(err)?;
        users.push(user);
    }
    let group = cs
        .create_group(
            &actor,
            &dir.id,
            NewGroup {
                group_name: GroupName::try_from("engineers".to_owned()).map_err(err)?,
                description: "alice and bob".into(),
            },
        )
        .await
        .map_err(err)?;
    for u in users.iter().filter(|u| u.user_name.as_str() != "carol") {
        cs.add_group_member(&actor, &dir.id, &group.id, &u.id)
            .await
            .map_err(err)?;
    }

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
        "accounts": accounts.iter().map(|a| json!({
            "id": a.id, "name": a.name, "folder": a.folder, "is_management": a.is_management,
        })).collect::<Vec<_>>(),
        "access_configurations": configs.iter().map(|c| json!({
            "id": c.id, "name": c.name, "description": c.description,
        })).collect::<Vec<_>>(),
        "users": users.iter().map(|u| json!({
            "id": u.id, "username": u.user_name.as_str(),
        })).collect::<Vec<_>>(),
    });
    Ok(())
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
