//! The typed Cloud SSO CLI (`gatehouse cloudsso users|groups|accounts|access-configs|assignments|
//! login-preferences …`) against a running `gatehouse up`: scripts a user, a group, a membership,
//! an access configuration, its provisioning and assignments, and reads them back as tables and
//! as JSON.

use std::process::Command;

use serde_json::Value;

use crate::support::{Ports, cli, start_up, temp_dir};

/// Runs a `gatehouse cloudsso …` command that must succeed; its stdout.
fn cs(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["cloudsso"];
    all.extend_from_slice(args);
    cli(dir, &all)
}

/// The same with `--json`, parsed.
fn cs_json(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cs(dir, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// The table row (a line of stdout) that contains every one of `cells`.
fn row<'a>(table: &'a str, cells: &[&str]) -> &'a str {
    table
        .lines()
        .find(|l| cells.iter().all(|c| l.split_whitespace().any(|w| w == *c)))
        .unwrap_or_else(|| panic!("no row with {cells:?} in:\n{table}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_scripts_cloudsso_objects() {
    let dir = temp_dir("cli-cloudsso");
    let up = start_up(&dir, Ports::free(), &[]).await;
    let directory = up.demo["cloudsso"]["directory_id"].as_str().unwrap();

    // A user, a group, a membership.
    let out = cs(
        &dir,
        &[
            "users",
            "create",
            "dana",
            "--display-name",
            "Dana Doe",
            "--email",
            "dana@demo.example",
        ],
    );
    assert!(out.starts_with("created user dana (u-"), "{out}");
    let out = cs(
        &dir,
        &["groups", "create", "operators", "--description", "On call"],
    );
    assert!(out.starts_with("created group operators (g-"), "{out}");
    let out = cs(&dir, &["groups", "add-member", "operators", "dana"]);
    assert_eq!(out.trim(), "added user dana to group operators");

    let users = cs(&dir, &["users", "list"]);
    assert!(users.starts_with("ID "), "a table with a header: {users}");
    row(&users, &["dana", "dana@demo.example", "Enabled"]);
    let users_json = cs_json(&dir, &["users", "list"]);
    let dana = users_json
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_name"] == "dana")
        .unwrap_or_else(|| panic!("{users_json}"))
        .clone();
    assert_eq!(dana["directory_id"], directory);
    assert_eq!(dana["display_name"], "Dana Doe");
    let dana_id = dana["id"].as_str().unwrap();
    row(&cs(&dir, &["groups", "list"]), &["operators", "On", "call"]);
    let members = cs_json(&dir, &["groups", "members", "operators"]);
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    assert_eq!(members[0]["id"], dana_id);

    // The demo's accounts.
    let accounts = cs(&dir, &["accounts", "list"]);
    row(&accounts, &["Production", "/Workloads", "member"]);
    row(&accounts, &["Management", "management"]);

    // An access configuration with a system and an inline policy, provisioned on Production.
    let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#;
    let policy_file = dir.join("inline-policy.json");
    std::fs::write(&policy_file, policy).unwrap();
    let ac = cs_json(
        &dir,
        &[
            "access-configs",
            "create",
            "Auditor",
            "--description",
            "Audit",
            "--session-duration",
            "7200",
            "--system-policy",
            "ReadOnlyAccess",
            "--inline-policy-file",
            policy_file.to_str().unwrap(),
        ],
    );
    assert_eq!(ac["name"], "Auditor", "{ac}");
    assert_eq!(ac["session_duration"], 7200, "{ac}");
    assert_eq!(ac["inline_policy"], policy, "{ac}");
    let ac_id = ac["id"].as_str().unwrap();
    let out = cs(
        &dir,
        &["access-configs", "provision", "Auditor", "Production"],
    );
    assert!(
        out.contains("ProvisionAccessConfiguration: Success"),
        "waits for the task: {out}"
    );
    let configs = cs(&dir, &["access-configs", "list"]);
    row(
        &configs,
        &[
            ac_id,
            "Auditor",
            "7200",
            "ReadOnlyAccess",
            "yes",
            "Production:Provisioned",
        ],
    );

    // Assignments: the user (by name) on Production, the group (by ID) on Staging.
    let out = cs(
        &dir,
        &[
            "assignments",
            "create",
            "--access-config",
            "Auditor",
            "--account",
            "Production",
            "--user",
            "dana",
        ],
    );
    assert!(out.contains("CreateAccessAssignment: Success"), "{out}");
    let group_id = cs_json(&dir, &["groups", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "operators")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = cs_json(
        &dir,
        &[
            "assignments",
            "create",
            "--access-config",
            ac_id,
            "--account",
            "Staging",
            "--group",
            &group_id,
        ],
    );
    assert_eq!(task["status"], "Success", "{task}");
    assert_eq!(task["principal_type"], "Group", "{task}");

    let listed = cs(&dir, &["assignments", "list", "--access-config", "Auditor"]);
    row(&listed, &["User", "dana", "Production", "Auditor"]);
    row(&listed, &["Group", "operators", "Staging", "Auditor"]);
    assert_eq!(listed.lines().count(), 3, "header + 2 rows: {listed}");
    let listed = cs_json(&dir, &["assignments", "list", "--account", "Production"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["principal_id"] == dana_id && a["access_configuration_id"] == ac_id),
        "{listed}"
    );

    // Login preferences.
    let lp = cs_json(
        &dir,
        &[
            "login-preferences",
            "set",
            "--allow-user-to-get-credentials",
            "false",
            "--network-masks",
            "10.0.0.0/8;127.0.0.1",
        ],
    );
    assert_eq!(lp["allow_user_to_get_credentials"], false, "{lp}");
    assert_eq!(
        lp["login_network_masks"],
        serde_json::json!(["10.0.0.0/8", "127.0.0.1"])
    );
    let shown = cs(&dir, &["login-preferences", "get"]);
    row(&shown, &["AllowUserToGetCredentials", "false"]);
    row(&shown, &["LoginNetworkMasks", "10.0.0.0/8,127.0.0.1"]);
    cs(&dir, &["login-preferences", "set", "--network-masks", ""]);
    row(
        &cs(&dir, &["login-preferences", "get"]),
        &["AllowUserToGetCredentials", "false"],
    );
    assert!(cs(&dir, &["login-preferences", "get"]).contains("(any address)"));

    // Undo: the assignment, the membership, the user.
    let out = cs(
        &dir,
        &[
            "assignments",
            "delete",
            "--access-config",
            "Auditor",
            "--account",
            "Production",
            "--user",
            "dana",
        ],
    );
    assert!(out.contains("DeleteAccessAssignment: Success"), "{out}");
    let left = cs(&dir, &["assignments", "list", "--access-config", "Auditor"]);
    assert!(!left.contains("dana"), "{left}");
    cs(&dir, &["groups", "remove-member", "operators", "dana"]);
    assert_eq!(
        cs_json(&dir, &["groups", "members", "operators"]),
        serde_json::json!([])
    );
    let out = cs(&dir, &["users", "delete", "dana"]);
    assert_eq!(out.trim(), format!("deleted user dana ({dana_id})"));
    assert!(!cs(&dir, &["users", "list"]).contains("dana"));

    // Unknown names fail with a message and a non-zero exit.
    let failed = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--demo-dir")
        .arg(&dir)
        .args(["cloudsso", "users", "delete", "nobody"])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no user \"nobody\""),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}
