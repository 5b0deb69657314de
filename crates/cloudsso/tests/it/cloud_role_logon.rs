//! The built-in cloud end to end: access configuration → assignment task → provisioning →
//! role logon (signed role Response → sign-in endpoint → console) → STS credentials → signed
//! GetCallerIdentity (and its refusals); reserved resources; re-provisioning; RAM user logon.

use cloudsso::access_configuration::{
    AccessConfigurationPatch, NewAccessConfiguration, ProvisioningStatus,
};
use cloudsso::assignment::{AssignmentRequest, PrincipalType, TaskStatus};
use cloudsso::cloud::ram::SamlProviderSpec;
use cloudsso::cloud::resource::{CloudAccount, PolicyRef, PolicyType};
use cloudsso::cloud::signature::{SigningCredentials, sign_request};
use cloudsso::directory::Directory;
use cloudsso::error::Error;
use cloudsso::ram_user_provisioning::{DeletionStrategy, DuplicationStrategy, NewUserProvisioning};
use cloudsso::store::cloud::PrincipalKind;
use cloudsso::user::{NewUser, User, UserName};
use serde_json::Value;

use crate::support::{T0, TestServer};

struct World {
    directory: Directory,
    user: User,
    member: CloudAccount,
    ac_id: String,
}

async fn world(srv: &TestServer) -> World {
    let s = &srv.services;
    let actor = cloudsso::audit::Actor::system();
    let directory = srv.directory("example-corp").await;
    let user = s
        .create_user(
            &actor,
            &directory.id,
            NewUser {
                user_name: UserName::try_from("alice@example.com".to_owned()).unwrap(),
                display_name: "Alice".into(),
                email: None,
                first_name: String::new(),
                last_name: String::new(),
                description: String::new(),
                status: Default::default(),
                password: None,
                mfa_required: false,
            },
        )
        .await
        .unwrap();
    s.create_cloud_account(&actor, &directory.id, "Management", None, true)
        .await
        .unwrap();
    let member = s
        .create_cloud_account(&actor, &directory.id, "Production", Some("/Prod"), false)
        .await
        .unwrap();
    let ac = s
        .create_access_configuration(
            &actor,
            &directory,
            &NewAccessConfiguration {
                name: "Admin".into(),
                description: "full access".into(),
                session_duration: Some(7200),
                relay_state: None,
                system_policies: vec!["AdministratorAccess".into()],
                inline_policy: Some(
                    r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"ram:*","Resource":"*"}]}"#.into(),
                ),
            },
        )
        .await
        .unwrap();
    let task = s
        .create_access_assignment(
            &actor,
            &directory,
            &AssignmentRequest {
                access_configuration_id: ac.id.clone(),
                target_type: Some("RD-Account".into()),
                target_id: member.id.clone(),
                principal_type: PrincipalType::User,
                principal_id: user.id.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::InProgress);
    s.run_pending_tasks().await.unwrap();
    let task = s.task(&directory.id, &task.id).await.unwrap();
    assert_eq!(
        task.status,
        TaskStatus::Success,
        "{:?}",
        task.failure_reason
    );
    World {
        directory,
        user,
        member,
        ac_id: ac.id,
    }
}

fn form(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish()
}

crate::both_servers!(role_logon_sts_and_reserved_resources, |srv| {
    let w = world(&srv).await;
    let s = &srv.services;
    let actor = cloudsso::audit::Actor::system();

    // Provisioning created the reserved role, inline policy and SAML provider.
    let roles = s.list_roles(&w.member).await.unwrap();
    let role = roles
        .iter()
        .find(|r| r.name == "AliyunReservedSSO-Admin")
        .expect("reserved role");
    assert!(role.reserved);
    assert_eq!(role.max_session_duration, 7200);
    assert_eq!(role.policies.len(), 2);
    let providers = s.list_saml_providers(&w.member).await.unwrap();
    let reserved_provider = format!("AliyunReservedSSO-{}", w.directory.id);
    assert!(
        providers
            .iter()
            .any(|p| p.name == reserved_provider && p.reserved)
    );

    // Reserved resources cannot be changed or deleted through RAM.
    for result in [
        s.delete_role(&actor, &w.member, "AliyunReservedSSO-Admin")
            .await,
        s.update_role_trust_policy(
            &actor,
            &w.member,
            "AliyunReservedSSO-Admin",
            &role.trust_policy,
        )
        .await
        .map(|_| ()),
        s.delete_saml_provider(&actor, &w.member, &reserved_provider)
            .await,
        s.delete_custom_policy(&actor, &w.member, "AliyunReservedSSO-Admin-InlinePolicy")
            .await,
        s.set_policy_attachment(
            &actor,
            &w.member,
            PrincipalKind::Role,
            "AliyunReservedSSO-Admin",
            &PolicyRef {
                policy_type: PolicyType::System,
                policy_name: "ReadOnlyAccess".into(),
            },
            true,
        )
        .await,
        s.create_role(
            &actor,
            &w.member,
            "AliyunReservedSSO-Mine",
            "",
            &role.trust_policy,
            None,
        )
        .await
        .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(Error::Conflict(ref m)) if m.contains("reserved")),
            "{result:?}"
        );
    }
    let spec = SamlProviderSpec {
        idp_entity_id: Some("https://evil.example".into()),
        certificates: vec![],
        ..SamlProviderSpec::default()
    };
    assert!(
        s.update_saml_provider(&actor, &w.member, &reserved_provider, &spec)
            .await
            .is_err()
    );

    // Role logon: the signed role Response posted to the sign-in endpoint opens the console.
    let post = s
        .role_logon(&w.directory, &w.user, &w.member.id, "Admin", None)
        .await
        .unwrap();
    assert_eq!(
        post.action,
        format!("{}/cloud/signin/saml-role/sso", srv.base)
    );
    let saml_response = saml::binding::encode_post(&post.xml);
    let resp = srv
        .client
        .post(&post.action)
        .form(&[("SAMLResponse", saml_response.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        303,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(resp.headers()["location"], "/cloud/console");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = srv
        .client
        .get(srv.url("/cloud/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("RAM role session"), "{html}");
    assert!(
        html.contains(&format!(
            "acs:ram::{}:assumed-role/AliyunReservedSSO-Admin/alice@example.com",
            w.member.id
        )),
        "{html}"
    );
    assert!(html.contains("Production"), "{html}");
    assert!(
        html.contains("AdministratorAccess")
            && html.contains("AliyunReservedSSO-Admin-InlinePolicy"),
        "{html}"
    );
    // Replaying the same Response is refused.
    let again = srv
        .client
        .post(&post.action)
        .form(&[("SAMLResponse", saml_response.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    // No cookie, no console.
    assert_eq!(
        srv.client
            .get(srv.url("/cloud/console"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // STS: AssumeRoleWithSAML with a fresh role Response.
    let role_arn = format!("acs:ram::{}:role/AliyunReservedSSO-Admin", w.member.id);
    let provider_arn = format!("acs:ram::{}:saml-provider/{reserved_provider}", w.member.id);
    let fresh = s
        .role_logon(&w.directory, &w.user, &w.member.id, "Admin", None)
        .await
        .unwrap();
    let assertion = saml::binding::encode_post(&fresh.xml);
    let sts = |params: Vec<(String, String)>| {
        srv.client
            .post(srv.url("/cloud/sts"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&params))
            .send()
    };
    let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    // Wrong role pair: a role the assertion does not grant.
    let other_role = format!("acs:ram::{}:role/SomethingElse", w.member.id);
    let r = sts(vec![
        p("Action", "AssumeRoleWithSAML"),
        p("SAMLAssertion", &assertion),
        p("RoleArn", &other_role),
        p("SAMLProviderArn", &provider_arn),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "AuthenticationFail.Saml.RoleNotInAssertion"
    );
    // Bad signature: flip a character inside the signed assertion.
    let tampered_xml = fresh
        .xml
        .replacen("alice@example.com", "mallory@example.com", 1);
    let r = sts(vec![
        p("Action", "AssumeRoleWithSAML"),
        p("SAMLAssertion", &saml::binding::encode_post(&tampered_xml)),
        p("RoleArn", &role_arn),
        p("SAMLProviderArn", &provider_arn),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "AuthenticationFail.Saml"
    );
    // Too short.
    let r = sts(vec![
        p("Action", "AssumeRoleWithSAML"),
        p("SAMLAssertion", "abc"),
        p("RoleArn", &role_arn),
        p("SAMLProviderArn", &provider_arn),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // Happy path (the refused attempts did not consume the assertion).
    let r = sts(vec![
        p("Action", "AssumeRoleWithSAML"),
        p("SAMLAssertion", &assertion),
        p("RoleArn", &role_arn),
        p("SAMLProviderArn", &provider_arn),
        p("DurationSeconds", "3600"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let creds = &body["Credentials"];
    let akid = creds["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = creds["AccessKeySecret"].as_str().unwrap().to_owned();
    let token = creds["SecurityToken"].as_str().unwrap().to_owned();
    assert!(akid.starts_with("STS."));
    assert_eq!(creds["Expiration"], "2026-01-01T01:00:00Z");
    assert_eq!(T0 + 3600, 1_767_229_200);

    // GetCallerIdentity, signed.
    let c = SigningCredentials {
        access_key_id: &akid,
        access_key_secret: &secret,
        security_token: &token,
    };
    let now = cloudsso::Clock::now(srv.clock.as_ref());
    let signed = sign_request(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        c,
        now,
        "nonce-00000001",
    );
    let r = sts(signed.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let id: Value = r.json().await.unwrap();
    assert_eq!(id["AccountId"], w.member.id.as_str());
    assert_eq!(
        id["Arn"],
        format!(
            "acs:ram::{}:assumed-role/AliyunReservedSSO-Admin/alice@example.com",
            w.member.id
        )
    );
    assert_eq!(id["IdentityType"], "AssumedRoleUser");
    // Replayed.
    let r = sts(signed.clone()).await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "SignatureNonceUsed"
    );
    // Tampered.
    let mut tampered = sign_request(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        c,
        now,
        "nonce-00000002",
    );
    tampered.push(("Extra".into(), "1".into()));
    let r = sts(tampered).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "SignatureDoesNotMatch"
    );
    // Wrong secret.
    let wrong = SigningCredentials {
        access_key_secret: "not-the-secret",
        ..c
    };
    let r = sts(sign_request(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        wrong,
        now,
        "nonce-00000003",
    ))
    .await
    .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "SignatureDoesNotMatch"
    );
    // Timestamp too old.
    let r = sts(sign_request(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        c,
        now - 901,
        "nonce-00000004",
    ))
    .await
    .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "InvalidTimeStamp.Expired"
    );
    // Unknown key.
    let unknown = SigningCredentials {
        access_key_id: "STS.unknown",
        ..c
    };
    let r = sts(sign_request(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        unknown,
        now,
        "nonce-00000005",
    ))
    .await
    .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "InvalidAccessKeyId.NotFound"
    );
    // Credentials expire.
    srv.clock.advance(3601);
    let later = now + 3601;
    let r = sts(sign_request(
        "POST",
        "/cloud/sts",
        &[("Action", "GetCallerIdentity")],
        c,
        later,
        "nonce-00000006",
    ))
    .await
    .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["Code"],
        "InvalidSecurityToken.Expired"
    );
});

crate::both_servers!(reprovision_and_delete_rules, |srv| {
    let w = world(&srv).await;
    let s = &srv.services;
    let actor = cloudsso::audit::Actor::system();
    let detail = s
        .access_configuration(&w.directory.id, &w.ac_id)
        .await
        .unwrap();
    assert_eq!(detail.provisionings.len(), 1);
    assert_eq!(
        detail.provisionings[0].status,
        ProvisioningStatus::Provisioned
    );

    // An edit marks the account "re-provisioning required" until re-provisioned.
    let edited = s
        .update_access_configuration(
            &actor,
            &w.directory,
            &w.ac_id,
            &AccessConfigurationPatch {
                session_duration: Some(3600),
                system_policies: Some(vec!["ReadOnlyAccess".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        edited.provisionings[0].status,
        ProvisioningStatus::ReprovisionRequired
    );
    let role = s.role(&w.member, "AliyunReservedSSO-Admin").await.unwrap();
    assert_eq!(
        role.max_session_duration, 7200,
        "not applied before re-provisioning"
    );
    let task = s
        .enqueue_provisioning(&actor, &w.directory, &w.ac_id, &w.member.id, true)
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    assert_eq!(
        s.task(&w.directory.id, &task.id).await.unwrap().status,
        TaskStatus::Success
    );
    let detail = s
        .access_configuration(&w.directory.id, &w.ac_id)
        .await
        .unwrap();
    assert_eq!(
        detail.provisionings[0].status,
        ProvisioningStatus::Provisioned
    );
    let role = s.role(&w.member, "AliyunReservedSSO-Admin").await.unwrap();
    assert_eq!(role.max_session_duration, 3600);
    assert!(
        role.policies
            .iter()
            .any(|p| p.policy_name == "ReadOnlyAccess")
    );
    assert!(
        !role
            .policies
            .iter()
            .any(|p| p.policy_name == "AdministratorAccess")
    );

    // Invalid edits are refused.
    for patch in [
        AccessConfigurationPatch {
            session_duration: Some(899),
            ..Default::default()
        },
        AccessConfigurationPatch {
            inline_policy: Some(r#"{"Version":"1","Statement":[{"Effect":"Allow"}]}"#.into()),
            ..Default::default()
        },
        AccessConfigurationPatch {
            relay_state: Some("https://evil.example/".into()),
            ..Default::default()
        },
        AccessConfigurationPatch {
            system_policies: Some(vec!["NoSuchPolicy".into()]),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            s.update_access_configuration(&actor, &w.directory, &w.ac_id, &patch)
                .await,
            Err(Error::Invalid(_))
        ));
    }

    // Delete refused while provisioned; de-provisioning refused while assigned.
    assert!(matches!(
        s.delete_access_configuration(&actor, &w.directory, &w.ac_id)
            .await,
        Err(Error::Conflict(_))
    ));
    let task = s
        .enqueue_provisioning(&actor, &w.directory, &w.ac_id, &w.member.id, false)
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    let task = s.task(&w.directory.id, &task.id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert!(task.failure_reason.unwrap().contains("assign"));
    let req = AssignmentRequest {
        access_configuration_id: w.ac_id.clone(),
        target_type: None,
        target_id: w.member.id.clone(),
        principal_type: PrincipalType::User,
        principal_id: w.user.id.clone(),
    };
    s.delete_access_assignment(&actor, &w.directory, &req)
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    assert!(
        s.list_access_assignments(&w.directory.id, None, None)
            .await
            .unwrap()
            .is_empty()
    );
    s.enqueue_provisioning(&actor, &w.directory, &w.ac_id, &w.member.id, false)
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    assert!(
        s.list_roles(&w.member)
            .await
            .unwrap()
            .iter()
            .all(|r| !r.reserved)
    );
    assert!(
        s.list_saml_providers(&w.member).await.unwrap().is_empty(),
        "last de-provisioning removes the provider"
    );
    s.delete_access_configuration(&actor, &w.directory, &w.ac_id)
        .await
        .unwrap();
    let tasks = s.list_tasks(&w.directory.id).await.unwrap();
    assert!(tasks.len() >= 5);
});

crate::both_servers!(ram_user_provisioning_and_logon, |srv| {
    let w = world(&srv).await;
    let s = &srv.services;
    let actor = cloudsso::audit::Actor::system();
    // A RAM user with the same name already exists.
    s.create_ram_user(&actor, &w.member, "alice@example.com", "pre-existing")
        .await
        .unwrap();
    let (up, task) = s
        .create_user_provisioning(
            &actor,
            &w.directory,
            &NewUserProvisioning {
                principal_type: PrincipalType::User,
                principal_id: w.user.id.clone(),
                target_type: None,
                target_id: w.member.id.clone(),
                duplication_strategy: Some(DuplicationStrategy::KeepBoth),
                deletion_strategy: Some(DeletionStrategy::Delete),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    assert_eq!(
        s.task(&w.directory.id, &task.id).await.unwrap().status,
        TaskStatus::Success
    );
    let users = s.list_ram_users(&w.member).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice@example.com", "alice@example.com_sso"]);

    // Log on as that RAM user.
    let post = s
        .ram_user_logon(&w.directory, &w.user, &w.member.id)
        .await
        .unwrap();
    let resp = srv
        .client
        .post(&post.action)
        .form(&[("SAMLResponse", saml::binding::encode_post(&post.xml))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = srv
        .client
        .get(srv.url("/cloud/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!(
            "acs:ram::{}:user/alice@example.com_sso",
            w.member.id
        )),
        "{html}"
    );

    // Delete strategy removes the provisioned user, not the pre-existing one.
    s.delete_user_provisioning(&actor, &w.directory, &up.id)
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    let names: Vec<String> = s
        .list_ram_users(&w.member)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice@example.com"]);

    // TakeOver adopts the existing RAM user; Keep leaves it behind.
    let (up, _) = s
        .create_user_provisioning(
            &actor,
            &w.directory,
            &NewUserProvisioning {
                principal_type: PrincipalType::User,
                principal_id: w.user.id.clone(),
                target_type: None,
                target_id: w.member.id.clone(),
                duplication_strategy: Some(DuplicationStrategy::TakeOver),
                deletion_strategy: Some(DeletionStrategy::Keep),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    let users = s.list_ram_users(&w.member).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].provisioning_id.as_deref(), Some(up.id.as_str()));
    assert!(
        s.delete_ram_user(&actor, &w.member, "alice@example.com")
            .await
            .is_err(),
        "managed users are deleted through the provisioning"
    );
    s.delete_user_provisioning(&actor, &w.directory, &up.id)
        .await
        .unwrap();
    s.run_pending_tasks().await.unwrap();
    let users = s.list_ram_users(&w.member).await.unwrap();
    assert_eq!(users.len(), 1);
    assert!(users[0].provisioning_id.is_none());

    // The portal lists the assigned account with its access configuration.
    let accounts = s.portal_accounts(&w.directory, &w.user).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].account.id, w.member.id);
    assert_eq!(accounts[0].access_configurations[0].name, "Admin");
});
