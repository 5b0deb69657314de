//! The admin REST API of the built-in cloud and of access management, over HTTP against a real
//! server on both backends: accounts, RAM resources (reserved ones refused), access
//! configurations, assignments and provisioning as tasks, RAM user provisioning, auth, OpenAPI.

use std::time::{Duration, Instant};

use cloudsso::audit::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_servers;
use crate::support::TestServer;

/// A client bound to one directory and one bearer token.
struct Api<'a> {
    srv: &'a TestServer,
    token: String,
    dir: String,
}

impl<'a> Api<'a> {
    /// A directory named `name` and an API token scoped to it.
    async fn new(srv: &'a TestServer, name: &str) -> Api<'a> {
        let d = srv.directory(name).await;
        let token = srv
            .services
            .create_api_token(
                &Actor::system(),
                Some(&d.id),
                format!("{name}-admin").try_into().unwrap(),
                None,
            )
            .await
            .unwrap()
            .secret;
        Api {
            srv,
            token,
            dir: d.id,
        }
    }

    fn url(&self, rel: &str) -> String {
        self.srv
            .url(&format!("/api/v1/directories/{}{rel}", self.dir))
    }

    async fn call(&self, method: Method, rel: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .srv
            .client
            .request(method, self.url(rel))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    async fn get(&self, rel: &str) -> (StatusCode, Value) {
        self.call(Method::GET, rel, None).await
    }

    async fn post(&self, rel: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, rel, Some(body)).await
    }

    /// `expect` status or panic with the body.
    async fn ok(&self, method: Method, rel: &str, body: Option<Value>, expect: u16) -> Value {
        let (status, value) = self.call(method.clone(), rel, body).await;
        assert_eq!(status.as_u16(), expect, "{method} {rel}: {value}");
        value
    }

    /// Polls a task until it leaves InProgress; returns it.
    async fn wait_task(&self, task: &Value) -> Value {
        assert!(task["id"].as_str().unwrap().starts_with("t-"), "{task}");
        let rel = format!("/tasks/{}", task["id"].as_str().unwrap());
        let start = Instant::now();
        loop {
            let t = self.ok(Method::GET, &rel, None, 200).await;
            if t["status"] != "InProgress" {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "task still in progress: {t}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a task-creating call (202) and waits for the task's outcome.
    async fn task(&self, method: Method, rel: &str, body: Option<Value>) -> Value {
        let task = self.ok(method, rel, body, 202).await;
        let task = if task.get("task").is_some() {
            task["task"].clone()
        } else {
            task
        };
        self.wait_task(&task).await
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

fn find<'v>(list: &'v Value, key: &str, value: &str) -> &'v Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[key] == value)
        .unwrap_or_else(|| panic!("no {key}={value} in {list}"))
}

const INLINE: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["ecs:Describe*","oss:GetObject"],"Resource":"*"}]}"#;

both_servers!(access_lifecycle_over_http, |srv| {
    let api = Api::new(&srv, "access-life").await;
    let d = api.dir.clone();

    // Directory user and group through CS-core's API.
    let alice = api
        .ok(
            Method::POST,
            "/users",
            Some(json!({ "user_name": "alice" })),
            201,
        )
        .await;
    let alice_id = alice["id"].as_str().unwrap().to_owned();

    // Accounts and folders.
    let mgmt = api
        .ok(
            Method::POST,
            "/cloud/accounts",
            Some(json!({ "name": "Management", "is_management": true })),
            201,
        )
        .await;
    assert_eq!(mgmt["folder"], "/");
    let member = api
        .ok(
            Method::POST,
            "/cloud/accounts",
            Some(json!({ "name": "Prod", "folder": "/Production" })),
            201,
        )
        .await;
    let acct = member["id"].as_str().unwrap().to_owned();
    assert_eq!(acct.len(), 16);
    let (s, e) = api
        .post(
            "/cloud/accounts",
            json!({ "name": "Second", "is_management": true }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, e) = api
        .post("/cloud/accounts", json!({ "name": "", "folder": "/" }))
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let got = api
        .ok(Method::GET, &format!("/cloud/accounts/{acct}"), None, 200)
        .await;
    assert_eq!(got, member);
    let in_prod = api
        .ok(Method::GET, "/cloud/accounts?folder=/Production", None, 200)
        .await;
    assert_eq!(names(&in_prod, "id"), vec![acct.clone()]);
    let folders = api.ok(Method::GET, "/cloud/folders", None, 200).await;
    assert_eq!(names(&folders, "path"), vec!["/", "/Production"]);
    assert_eq!(
        find(&folders, "path", "/Production")["account_ids"],
        json!([acct])
    );
    let (s, _) = api.get("/cloud/accounts/1234567890123456").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // System policy catalogue.
    let catalogue = api
        .ok(Method::GET, "/cloud/system-policies", None, 200)
        .await;
    let catalogue_names = names(&catalogue, "policy_name");
    assert!(catalogue_names.contains(&"AdministratorAccess".to_owned()));
    assert!(catalogue_names.contains(&"ReadOnlyAccess".to_owned()));
    let ro = api
        .ok(
            Method::GET,
            "/cloud/system-policies/ReadOnlyAccess",
            None,
            200,
        )
        .await;
    assert_eq!(ro["policy_type"], "System");
    assert!(ro["document"].as_str().unwrap().contains("Statement"));
    let (s, _) = api.get("/cloud/system-policies/NoSuchPolicy").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Access configuration: invalid ones are refused with a clear message.
    let (s, e) = api
        .post(
            "/access-configurations",
            json!({ "name": "Admin", "inline_policy": r#"{"Version":"1"}"# }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"], "invalid_request");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("inline policy"), "{msg}");
    assert!(msg.to_lowercase().contains("statement"), "{msg}");
    let (s, e) = api
        .post(
            "/access-configurations",
            json!({ "name": "Admin", "inline_policy": "{not json" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("inline policy"),
        "{e}"
    );
    let (s, e) = api
        .post(
            "/access-configurations",
            json!({ "name": "Admin", "inline_policy": format!("{{\"Version\":\"1\",\"Statement\":[],\"x\":\"{}\"}}", "a".repeat(4100)) }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = api
        .post(
            "/access-configurations",
            json!({ "name": "Admin", "session_duration": 600 }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("900"), "{e}");
    let (s, e) = api
        .post(
            "/access-configurations",
            json!({ "name": "Admin", "system_policies": ["NoSuchPolicy"] }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = api
        .post("/access-configurations", json!({ "name": "bad name" }))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    let ac = api
        .ok(
            Method::POST,
            "/access-configurations",
            Some(json!({
                "name": "Admin",
                "description": "operators",
                "relay_state": "/cloud/console",
                "system_policies": ["ReadOnlyAccess"],
                "inline_policy": INLINE,
            })),
            201,
        )
        .await;
    let ac_id = ac["id"].as_str().unwrap().to_owned();
    assert_eq!(ac["session_duration"], 3600);
    assert_eq!(ac["inline_policy"], INLINE);
    let (s, _) = api
        .post("/access-configurations", json!({ "name": "Admin" }))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let acr = format!("/access-configurations/{ac_id}");
    let detail = api.ok(Method::GET, &acr, None, 200).await;
    assert_eq!(detail["provisionings"], json!([]));
    let list = api
        .ok(Method::GET, "/access-configurations", None, 200)
        .await;
    assert_eq!(names(&list, "id"), vec![ac_id.clone()]);

    // Assignment → task → success; the first assignment provisions.
    let assign = json!({
        "access_configuration_id": ac_id,
        "target_type": "RD-Account",
        "target_id": acct,
        "principal_type": "User",
        "principal_id": alice_id,
    });
    let (s, e) = api
        .post(
            "/access-assignments",
            json!({ "access_configuration_id": ac_id, "target_id": acct, "principal_type": "User", "principal_id": "u-nobody" }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = api
        .post(
            "/access-assignments",
            json!({ "access_configuration_id": ac_id, "target_type": "Folder", "target_id": acct, "principal_type": "User", "principal_id": alice_id }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let task = api
        .task(Method::POST, "/access-assignments", Some(assign.clone()))
        .await;
    assert_eq!(task["status"], "Success", "{task}");
    assert_eq!(task["task_type"], "CreateAccessAssignment");
    let assignments = api
        .ok(
            Method::GET,
            &format!("/access-assignments?account_id={acct}&principal_type=User"),
            None,
            200,
        )
        .await;
    assert_eq!(assignments.as_array().unwrap().len(), 1, "{assignments}");
    assert_eq!(assignments[0]["principal_id"], alice_id.as_str());
    let none = api
        .ok(
            Method::GET,
            "/access-assignments?principal_type=Group",
            None,
            200,
        )
        .await;
    assert_eq!(none, json!([]));
    let detail = api.ok(Method::GET, &acr, None, 200).await;
    assert_eq!(detail["provisionings"][0]["account_id"], acct.as_str());
    assert_eq!(detail["provisionings"][0]["status"], "Provisioned");

    // The reserved resources are visible...
    let a = format!("/cloud/accounts/{acct}");
    let roles = api.ok(Method::GET, &format!("{a}/roles"), None, 200).await;
    let role = find(&roles, "name", "AliyunReservedSSO-Admin");
    assert_eq!(role["reserved"], true);
    assert_eq!(role["max_session_duration"], 3600);
    let attached = names(&role["policies"], "policy_name");
    assert!(attached.contains(&"ReadOnlyAccess".to_owned()), "{role}");
    assert!(
        attached.contains(&"AliyunReservedSSO-Admin-InlinePolicy".to_owned()),
        "{role}"
    );
    let policies = api
        .ok(Method::GET, &format!("{a}/policies"), None, 200)
        .await;
    let inline = find(&policies, "name", "AliyunReservedSSO-Admin-InlinePolicy");
    assert_eq!(inline["reserved"], true);
    assert_eq!(inline["document"], INLINE);
    let provider_name = format!("AliyunReservedSSO-{d}");
    let providers = api
        .ok(Method::GET, &format!("{a}/saml-providers"), None, 200)
        .await;
    let provider = find(&providers, "name", &provider_name).clone();
    assert_eq!(provider["reserved"], true);
    let one = api
        .ok(
            Method::GET,
            &format!("{a}/roles/AliyunReservedSSO-Admin"),
            None,
            200,
        )
        .await;
    assert_eq!(&one, role);

    // ...and refuse every change through RAM.
    let reserved_calls: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::DELETE,
            format!("{a}/roles/AliyunReservedSSO-Admin"),
            None,
        ),
        (
            Method::PUT,
            format!("{a}/roles/AliyunReservedSSO-Admin/trust-policy"),
            Some(
                json!({ "trust_policy": r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":["acs:ram::1234567890123456:root"]}}]}"# }),
            ),
        ),
        (
            Method::PUT,
            format!("{a}/roles/AliyunReservedSSO-Admin/policies/System/AdministratorAccess"),
            None,
        ),
        (
            Method::DELETE,
            format!("{a}/roles/AliyunReservedSSO-Admin/policies/System/ReadOnlyAccess"),
            None,
        ),
        (
            Method::DELETE,
            format!("{a}/policies/AliyunReservedSSO-Admin-InlinePolicy"),
            None,
        ),
        (
            Method::PUT,
            format!("{a}/policies/AliyunReservedSSO-Admin-InlinePolicy"),
            Some(json!({ "document": INLINE })),
        ),
        (
            Method::DELETE,
            format!("{a}/saml-providers/{provider_name}"),
            None,
        ),
        (
            Method::PUT,
            format!("{a}/saml-providers/{provider_name}"),
            Some(
                json!({ "idp_entity_id": "https://evil.example", "certificates": provider["certificates"] }),
            ),
        ),
        (
            Method::POST,
            format!("{a}/roles"),
            Some(json!({ "name": "AliyunReservedSSO-Mine", "trust_policy": "{}" })),
        ),
        (
            Method::POST,
            format!("{a}/policies"),
            Some(json!({ "name": "aliyunreservedsso-x", "document": INLINE })),
        ),
        (
            Method::POST,
            format!("{a}/saml-providers"),
            Some(
                json!({ "name": "AliyunReservedSSO-p", "idp_entity_id": "https://x", "certificates": provider["certificates"] }),
            ),
        ),
    ];
    for (method, rel, body) in reserved_calls {
        let (s, e) = api.call(method.clone(), &rel, body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{method} {rel}: {e}");
        assert_eq!(e["error"], "reserved_resource", "{method} {rel}: {e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("reserved by Cloud SSO"),
            "{e}"
        );
    }
    let roles_after = api.ok(Method::GET, &format!("{a}/roles"), None, 200).await;
    assert_eq!(&roles_after, &roles, "nothing changed");
    let policies_after = api
        .ok(Method::GET, &format!("{a}/policies"), None, 200)
        .await;
    assert_eq!(policies_after, policies);

    // Edit → re-provisioning required → re-provision → provisioned with the new settings.
    let edited = api
        .ok(
            Method::PATCH,
            &acr,
            Some(json!({ "session_duration": 7200, "system_policies": ["AdministratorAccess"] })),
            200,
        )
        .await;
    assert_eq!(edited["session_duration"], 7200);
    assert_eq!(edited["provisionings"][0]["status"], "ReprovisionRequired");
    let (s, e) = api
        .call(Method::PATCH, &acr, Some(json!({ "inline_policy": "[]" })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("inline policy"),
        "{e}"
    );
    let provs = api
        .ok(Method::GET, &format!("{acr}/provisionings"), None, 200)
        .await;
    assert_eq!(provs[0]["status"], "ReprovisionRequired");
    let (s, _) = api
        .post(
            &format!("{acr}/provisionings"),
            json!({ "target_id": acct, "target_type": "Folder" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let t = api
        .task(
            Method::POST,
            &format!("{acr}/provisionings"),
            Some(json!({ "target_id": acct })),
        )
        .await;
    assert_eq!(t["status"], "Success", "{t}");
    assert_eq!(t["task_type"], "ProvisionAccessConfiguration");
    let detail = api.ok(Method::GET, &acr, None, 200).await;
    assert_eq!(detail["provisionings"][0]["status"], "Provisioned");
    let role = api
        .ok(
            Method::GET,
            &format!("{a}/roles/AliyunReservedSSO-Admin"),
            None,
            200,
        )
        .await;
    assert_eq!(role["max_session_duration"], 7200);
    let attached = names(&role["policies"], "policy_name");
    assert!(
        attached.contains(&"AdministratorAccess".to_owned()),
        "{role}"
    );
    assert!(!attached.contains(&"ReadOnlyAccess".to_owned()), "{role}");

    // Delete is blocked until de-provisioned; de-provisioning is blocked while assigned.
    let (s, e) = api.call(Method::DELETE, &acr, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("de-provision"),
        "{e}"
    );
    let t = api
        .task(Method::DELETE, &format!("{acr}/provisionings/{acct}"), None)
        .await;
    assert_eq!(t["status"], "Failed", "{t}");
    assert!(
        t["failure_reason"].as_str().unwrap().contains("assign"),
        "{t}"
    );
    let del_q = format!(
        "/access-assignments?access_configuration_id={ac_id}&target_type=RD-Account&target_id={acct}&principal_type=User&principal_id={alice_id}"
    );
    let t = api.task(Method::DELETE, &del_q, None).await;
    assert_eq!(t["status"], "Success", "{t}");
    assert_eq!(t["task_type"], "DeleteAccessAssignment");
    let left = api.ok(Method::GET, "/access-assignments", None, 200).await;
    assert_eq!(left, json!([]));
    let t = api
        .task(Method::DELETE, &format!("{acr}/provisionings/{acct}"), None)
        .await;
    assert_eq!(t["status"], "Success", "{t}");
    let roles = api.ok(Method::GET, &format!("{a}/roles"), None, 200).await;
    assert!(
        !names(&roles, "name")
            .iter()
            .any(|n| n.starts_with("AliyunReservedSSO-"))
    );
    let providers = api
        .ok(Method::GET, &format!("{a}/saml-providers"), None, 200)
        .await;
    assert_eq!(providers, json!([]));
    let policies = api
        .ok(Method::GET, &format!("{a}/policies"), None, 200)
        .await;
    assert_eq!(policies, json!([]));
    api.ok(Method::DELETE, &acr, None, 204).await;
    let (s, _) = api.get(&acr).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Tasks: listed with their status, filterable.
    let all = api.ok(Method::GET, "/tasks", None, 200).await;
    assert_eq!(all.as_array().unwrap().len(), 5, "{all}");
    let failed = api.ok(Method::GET, "/tasks?status=Failed", None, 200).await;
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["task_type"], "DeprovisionAccessConfiguration");
    let provs = api
        .ok(
            Method::GET,
            "/tasks?task_type=ProvisionAccessConfiguration&status=Success",
            None,
            200,
        )
        .await;
    assert_eq!(provs.as_array().unwrap().len(), 1, "{provs}");
    let (s, _) = api.get("/tasks?status=Bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api.get("/tasks/t-doesnotexist").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Every change is in the audit log.
    let audit = api.ok(Method::GET, "/audit?limit=500", None, 200).await;
    let actions = names(&audit["items"], "action");
    for expected in [
        "cloud_account:create",
        "access_configuration:create",
        "access_configuration:update",
        "access_configuration:delete",
        "task:create",
    ] {
        assert!(
            actions.iter().any(|a| a.ends_with(expected)),
            "{expected} not in {actions:?}"
        );
    }
});

both_servers!(ram_resources_over_http, |srv| {
    let api = Api::new(&srv, "ram-res").await;
    let acct = api
        .ok(
            Method::POST,
            "/cloud/accounts",
            Some(json!({ "name": "Dev" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = format!("/cloud/accounts/{acct}");
    let trust = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{{"RAM":["acs:ram::{acct}:root"]}}}}]}}"#
    );

    // Roles.
    let (s, e) = api
        .post(
            &format!("{a}/roles"),
            json!({ "name": "ops", "trust_policy": "{}" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("trust_policy")
            || e["message"].as_str().unwrap().contains("Statement"),
        "{e}"
    );
    let role = api
        .ok(
            Method::POST,
            &format!("{a}/roles"),
            Some(json!({ "name": "ops", "description": "operators", "trust_policy": trust, "max_session_duration": 7200 })),
            201,
        )
        .await;
    assert_eq!(role["arn"], format!("acs:ram::{acct}:role/ops"));
    assert_eq!(role["reserved"], false);
    let (s, _) = api
        .post(
            &format!("{a}/roles"),
            json!({ "name": "ops", "trust_policy": trust }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    api.ok(
        Method::PUT,
        &format!("{a}/roles/ops/trust-policy"),
        Some(json!({ "trust_policy": trust })),
        200,
    )
    .await;
    api.ok(
        Method::PUT,
        &format!("{a}/roles/ops/policies/System/ReadOnlyAccess"),
        None,
        204,
    )
    .await;
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("{a}/roles/ops/policies/Bogus/ReadOnlyAccess"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("{a}/roles/ops/policies/System/NoSuch"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let got = api
        .ok(Method::GET, &format!("{a}/roles/ops"), None, 200)
        .await;
    assert_eq!(
        names(&got["policies"], "policy_name"),
        vec!["ReadOnlyAccess"]
    );

    // Custom policies: validated, attachable, not deletable while attached.
    let (s, e) = api
        .post(
            &format!("{a}/policies"),
            json!({ "name": "ecs-read", "document": r#"{"Version":"2","Statement":[]}"# }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"], "invalid_request");
    let p = api
        .ok(
            Method::POST,
            &format!("{a}/policies"),
            Some(json!({ "name": "ecs-read", "description": "read ECS", "document": INLINE })),
            201,
        )
        .await;
    assert_eq!(p["reserved"], false);
    api.ok(
        Method::PUT,
        &format!("{a}/roles/ops/policies/Custom/ecs-read"),
        None,
        204,
    )
    .await;
    let (s, e) = api
        .call(Method::DELETE, &format!("{a}/policies/ecs-read"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"], "conflict");
    api.ok(
        Method::DELETE,
        &format!("{a}/roles/ops/policies/Custom/ecs-read"),
        None,
        204,
    )
    .await;
    let updated = api
        .ok(
            Method::PUT,
            &format!("{a}/policies/ecs-read"),
            Some(json!({ "document": r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"# })),
            200,
        )
        .await;
    assert!(updated["document"].as_str().unwrap().contains("Deny"));
    api.ok(Method::GET, &format!("{a}/policies/ecs-read"), None, 200)
        .await;
    api.ok(Method::DELETE, &format!("{a}/policies/ecs-read"), None, 204)
        .await;
    let (s, _) = api.get(&format!("{a}/policies/ecs-read")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // RAM users.
    let u = api
        .ok(
            Method::POST,
            &format!("{a}/users"),
            Some(json!({ "name": "deploy", "display_name": "Deploy bot" })),
            201,
        )
        .await;
    assert_eq!(u["provisioning_id"], Value::Null);
    api.ok(
        Method::PUT,
        &format!("{a}/users/deploy/policies/System/ReadOnlyAccess"),
        None,
        204,
    )
    .await;
    let got = api
        .ok(Method::GET, &format!("{a}/users/deploy"), None, 200)
        .await;
    assert_eq!(got["display_name"], "Deploy bot");
    assert_eq!(
        names(&got["policies"], "policy_name"),
        vec!["ReadOnlyAccess"]
    );
    api.ok(
        Method::DELETE,
        &format!("{a}/users/deploy/policies/System/ReadOnlyAccess"),
        None,
        204,
    )
    .await;
    let (s, _) = api
        .post(&format!("{a}/users"), json!({ "name": "bad name!" }))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    api.ok(Method::DELETE, &format!("{a}/users/deploy"), None, 204)
        .await;
    let (s, _) = api.get(&format!("{a}/users/deploy")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // SAML providers (certificate borrowed from the directory's SP information).
    let (s, e) = api
        .post(
            &format!("{a}/saml-providers"),
            json!({ "name": "okta", "idp_entity_id": "https://idp.example" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("certificate"),
        "{e}"
    );
    let sp = api.ok(Method::GET, "/saml/sp", None, 200).await;
    let cert = sp["certificate"].as_str().unwrap().to_owned();
    assert!(cert.contains("BEGIN CERTIFICATE"), "{sp}");
    {
        let p = api
            .ok(
                Method::POST,
                &format!("{a}/saml-providers"),
                Some(json!({ "name": "okta", "idp_entity_id": "https://idp.example", "certificates": [cert] })),
                201,
            )
            .await;
        assert_eq!(p["arn"], format!("acs:ram::{acct}:saml-provider/okta"));
        let p2 = api
            .ok(
                Method::PUT,
                &format!("{a}/saml-providers/okta"),
                Some(json!({ "idp_entity_id": "https://idp2.example", "certificates": [cert] })),
                200,
            )
            .await;
        assert_eq!(p2["idp_entity_id"], "https://idp2.example");
        api.ok(Method::GET, &format!("{a}/saml-providers/okta"), None, 200)
            .await;
        api.ok(
            Method::DELETE,
            &format!("{a}/saml-providers/okta"),
            None,
            204,
        )
        .await;
    }
    let (s, _) = api.get(&format!("{a}/saml-providers/okta")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    api.ok(Method::DELETE, &format!("{a}/roles/ops"), None, 204)
        .await;
    let (s, _) = api.get(&format!("{a}/roles/ops")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let audit = api.ok(Method::GET, "/audit?limit=500", None, 200).await;
    let actions = names(&audit["items"], "action");
    for expected in [
        "ram_role:create",
        "ram_role:update",
        "ram_role:delete",
        "ram_policy:attach",
        "ram_policy:detach",
        "ram_policy:delete",
        "ram_user:create",
        "ram_user:delete",
        "saml_provider:create",
        "saml_provider:delete",
    ] {
        assert!(
            actions.iter().any(|a| a.ends_with(expected)),
            "{expected} not in {actions:?}"
        );
    }
});

both_servers!(ram_user_provisioning_over_http, |srv| {
    let api = Api::new(&srv, "ram-prov").await;
    let acct = api
        .ok(
            Method::POST,
            "/cloud/accounts",
            Some(json!({ "name": "Dev" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = format!("/cloud/accounts/{acct}");
    let mut ids = Vec::new();
    for name in ["bob", "carol"] {
        let u = api
            .ok(
                Method::POST,
                "/users",
                Some(json!({ "user_name": name, "display_name": name.to_uppercase() })),
                201,
            )
            .await;
        ids.push(u["id"].as_str().unwrap().to_owned());
        // Pre-existing RAM users with the same names.
        api.ok(
            Method::POST,
            &format!("{a}/users"),
            Some(json!({ "name": name })),
            201,
        )
        .await;
    }

    // KeepBoth + Keep: bob_sso appears beside bob and survives the provisioning's deletion.
    let (s, e) = api
        .post(
            "/user-provisionings",
            json!({ "principal_type": "User", "principal_id": ids[0], "target_id": acct, "duplication_strategy": "Sideways" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = api
        .post(
            "/user-provisionings",
            json!({ "principal_type": "User", "principal_id": "u-nobody", "target_id": acct }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let created = api
        .ok(
            Method::POST,
            "/user-provisionings",
            Some(json!({
                "principal_type": "User", "principal_id": ids[0], "target_type": "RD-Account",
                "target_id": acct, "duplication_strategy": "KeepBoth", "deletion_strategy": "Keep",
            })),
            202,
        )
        .await;
    let up_keep = created["user_provisioning"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        created["user_provisioning"]["duplication_strategy"],
        "KeepBoth"
    );
    let t = api.wait_task(&created["task"]).await;
    assert_eq!(t["status"], "Success", "{t}");
    assert_eq!(t["task_type"], "StartUserProvisioning");
    let users = api.ok(Method::GET, &format!("{a}/users"), None, 200).await;
    let sso = find(&users, "name", "bob_sso");
    assert_eq!(sso["provisioning_id"], up_keep.as_str());
    assert_eq!(sso["sso_user_id"], ids[0].as_str());
    assert_eq!(find(&users, "name", "bob")["provisioning_id"], Value::Null);
    let (s, e) = api
        .call(Method::DELETE, &format!("{a}/users/bob_sso"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let got = api
        .ok(
            Method::GET,
            &format!("/user-provisionings/{up_keep}"),
            None,
            200,
        )
        .await;
    assert_eq!(got["deletion_strategy"], "Keep");

    // TakeOver + Delete: the existing carol is adopted, then deleted with the provisioning.
    let created = api
        .ok(
            Method::POST,
            "/user-provisionings",
            Some(json!({
                "principal_type": "User", "principal_id": ids[1], "target_id": acct,
                "duplication_strategy": "TakeOver", "deletion_strategy": "Delete",
            })),
            202,
        )
        .await;
    let up_del = created["user_provisioning"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.wait_task(&created["task"]).await["status"], "Success");
    let carol = api
        .ok(Method::GET, &format!("{a}/users/carol"), None, 200)
        .await;
    assert_eq!(carol["provisioning_id"], up_del.as_str());
    let list = api.ok(Method::GET, "/user-provisionings", None, 200).await;
    let mut listed = names(&list, "id");
    listed.sort();
    let mut want = vec![up_keep.clone(), up_del.clone()];
    want.sort();
    assert_eq!(listed, want);

    let t = api
        .task(
            Method::DELETE,
            &format!("/user-provisionings/{up_keep}"),
            None,
        )
        .await;
    assert_eq!(t["status"], "Success", "{t}");
    assert_eq!(t["task_type"], "DeleteUserProvisioning");
    let t = api
        .task(
            Method::DELETE,
            &format!("/user-provisionings/{up_del}"),
            None,
        )
        .await;
    assert_eq!(t["status"], "Success", "{t}");
    let users = api.ok(Method::GET, &format!("{a}/users"), None, 200).await;
    let mut left = names(&users, "name");
    left.sort();
    assert_eq!(
        left,
        vec!["bob", "bob_sso"],
        "Keep kept bob_sso, Delete removed carol"
    );
    assert_eq!(
        find(&users, "name", "bob_sso")["provisioning_id"],
        Value::Null
    );
    let (s, _) = api.get(&format!("/user-provisionings/{up_keep}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        api.ok(Method::GET, "/user-provisionings", None, 200).await,
        json!([])
    );
});

both_servers!(access_api_auth, |srv| {
    let a = Api::new(&srv, "auth-a").await;
    let b = Api::new(&srv, "auth-b").await;
    let acct_a = a
        .ok(
            Method::POST,
            "/cloud/accounts",
            Some(json!({ "name": "A" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ac_a = a
        .ok(
            Method::POST,
            "/access-configurations",
            Some(json!({ "name": "RO", "system_policies": ["ReadOnlyAccess"] })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paths = [
        "/cloud/accounts".to_owned(),
        format!("/cloud/accounts/{acct_a}"),
        format!("/cloud/accounts/{acct_a}/roles"),
        "/cloud/system-policies".to_owned(),
        "/access-configurations".to_owned(),
        format!("/access-configurations/{ac_a}"),
        "/access-assignments".to_owned(),
        "/tasks".to_owned(),
        "/user-provisionings".to_owned(),
    ];
    for rel in &paths {
        // No token: 401.
        let resp = srv.client.get(a.url(rel)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{rel}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthenticated");
        // A bad token: 401.
        let resp = srv
            .client
            .get(a.url(rel))
            .bearer_auth("ght_not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{rel}");
        // Directory B's token on directory A: 404, as if it did not exist.
        let resp = srv
            .client
            .get(a.url(rel))
            .bearer_auth(&b.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{rel}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
        // The platform token covers every directory.
        let resp = srv
            .platform(Method::GET, &format!("/api/v1/directories/{}{rel}", a.dir))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{rel}");
    }
    // Writes too: B's token cannot create in A.
    let resp = srv
        .client
        .post(a.url("/access-configurations"))
        .bearer_auth(&b.token)
        .json(&json!({ "name": "Sneaky" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // A's objects are invisible under B's own directory.
    for rel in [
        format!("/cloud/accounts/{acct_a}"),
        format!("/cloud/accounts/{acct_a}/users"),
        format!("/access-configurations/{ac_a}"),
    ] {
        let (s, _) = b.get(&rel).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{rel}");
    }
    let (s, _) = b
        .post(
            &format!("/access-configurations/{ac_a}/provisionings"),
            json!({ "target_id": acct_a }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Malformed JSON is a 400 with the error body.
    let resp = srv
        .client
        .post(a.url("/access-configurations"))
        .bearer_auth(&a.token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json");
    let (s, _) = a.get("/cloud/accounts").await;
    assert_eq!(s, StatusCode::OK);
});

both_servers!(openapi_documents_every_access_route, |srv| {
    let doc: Value = srv
        .client
        .get(srv.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let routes = cloudsso::http::access::routes();
    let list = routes.list();
    assert!(list.len() >= 45, "{}", list.len());
    let all = cloudsso::http::admin_routes();
    for (method, path) in list {
        assert!(
            all.contains(&(method.clone(), path.clone())),
            "{method} {path} not in admin_routes"
        );
        let op = &doc["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} undocumented");
        let tags = op["tags"].as_array().cloned().unwrap_or_default();
        assert!(
            tags.contains(&json!("cloud")) || tags.contains(&json!("access")),
            "{method} {path} lacks its handler documentation: {op}"
        );
        assert!(op["responses"].is_object(), "{method} {path}");
        // Every path parameter is declared exactly once.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let n = params
                    .iter()
                    .filter(|p| p["name"] == name && p["in"] == "path")
                    .count();
                assert_eq!(n, 1, "{method} {path}: parameter {name} declared {n} times");
            }
        }
        if matches!(method.as_str(), "POST" | "PATCH")
            || (method.as_str() == "PUT" && !path.contains("/policies/{policy_type}"))
        {
            assert!(
                op["requestBody"].is_object(),
                "{method} {path} has no request body"
            );
        }
    }
    // CS-core's routes are still documented and the schemas are there.
    assert!(doc["paths"]["/api/v1/directories/{directory_id}/users"]["post"].is_object());
    for schema in [
        "AccessConfiguration",
        "Task",
        "Role",
        "UserProvisioning",
        "ErrorBody",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
});
