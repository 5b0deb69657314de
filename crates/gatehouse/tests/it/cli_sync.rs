//! The account-sync CLI against a running `gatehouse up`: `app provisioning`, `app sync push`
//! (with and without `--dry-run`), `app sync jobs|show|outbox|retry`, and `cloudsso scim`.

use std::process::Command;

use serde_json::Value;

use crate::support::{Ports, cli, start_up, temp_dir};

/// Runs the CLI and returns (success, stdout, stderr).
fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--demo-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run gatehouse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `table` that starts with `first`.
fn line<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no {first:?} row in:\n{table}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_pushes_and_reports_account_sync() {
    let dir = temp_dir("cli-sync");
    let up = start_up(&dir, Ports::free(), &[]).await;
    let d = up.demo.clone();
    let app = d["idaas"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["template"] == "apt_cloudsso_saml")
        .unwrap_or_else(|| panic!("no Cloud SSO app: {d}"));
    let app_id = app["id"].as_str().unwrap();
    let token = d["cloudsso"]["scim_token"].as_str().unwrap();

    // The configuration, without secrets.
    let config: Value =
        serde_json::from_str(&cli(&dir, &["app", "provisioning", "get", app_id])).unwrap();
    assert_eq!(config["enabled"], true, "{config}");
    assert_eq!(
        config["base_url"], d["cloudsso"]["scim_base_url"],
        "{config}"
    );
    assert_eq!(config["auth"]["mode"], "bearer_token", "{config}");
    assert_eq!(config["auth"]["has_access_token"], true, "{config}");
    assert!(
        !config.to_string().contains(token),
        "secret shown: {config}"
    );

    // Push Now: progress on stderr, the counts table on stdout, exit 0. The app may be named.
    let (ok, out, err) = run(&dir, &["app", "sync", "push", "Alibaba Cloud - Cloud SSO"]);
    assert!(ok, "push failed: {out}\n{err}");
    assert!(out.contains(": success"), "{out}");
    let header = line(&out, "KIND");
    for col in [
        "CREATED", "UPDATED", "DELETED", "SAME", "BOUND", "FAILED", "SKIPPED",
    ] {
        assert!(header.contains(col), "{out}");
    }
    let users: Vec<&str> = line(&out, "user").split_whitespace().collect();
    assert_eq!(users.len(), 8, "{out}");
    let in_scope: i64 = users[1..].iter().map(|n| n.parse::<i64>().unwrap()).sum();
    assert!(in_scope >= 3, "alice, bob and carol are in scope: {out}");
    assert_eq!(users[6], "0", "no failures: {out}");
    line(&out, "group");
    assert!(
        err.contains("objects") && err.contains('[') && err.contains("success"),
        "no progress on stderr: {err}"
    );

    // The dry run prints the plan and writes nothing.
    let (ok, out, err) = run(&dir, &["app", "sync", "push", app_id, "--dry-run"]);
    assert!(ok, "dry run failed: {out}\n{err}");
    assert!(out.contains("dry run") && out.contains("plan"), "{out}");
    for name in ["alice", "bob", "carol", "engineers"] {
        assert!(
            out.lines()
                .any(|l| l.contains(name) && l.split_whitespace().next() == Some("same")),
            "{name} is already up to date: {out}"
        );
    }

    // The sync records: the demo's first full sync, the push and the dry run.
    let jobs = cli(&dir, &["app", "sync", "jobs", app_id]);
    assert!(jobs.starts_with("ID "), "{jobs}");
    assert!(
        jobs.lines().filter(|l| l.contains(" full")).count() >= 3,
        "{jobs}"
    );
    let listed: Value =
        serde_json::from_str(&cli(&dir, &["app", "sync", "jobs", app_id, "--json"])).unwrap();
    let newest = listed[0]["id"].as_str().unwrap();
    let shown = cli(&dir, &["app", "sync", "show", app_id, newest, "--items"]);
    assert!(shown.contains(newest) && shown.contains("alice"), "{shown}");
    let failed = cli(&dir, &["app", "sync", "show", app_id, newest, "--failed"]);
    assert!(failed.contains("(none)"), "{failed}");
    let outbox = cli(&dir, &["app", "sync", "outbox", app_id]);
    assert!(outbox.contains("dead 0"), "{outbox}");
    let retried = cli(&dir, &["app", "sync", "retry", app_id, "--all-dead"]);
    assert!(retried.contains("retrying 0"), "{retried}");

    // Cloud SSO: the switch and the demo credential, listed without its secret.
    let status = cli(&dir, &["cloudsso", "scim", "status"]);
    assert!(status.contains("Enabled"), "{status}");
    assert!(
        status.contains(d["cloudsso"]["scim_base_url"].as_str().unwrap()),
        "{status}"
    );
    let creds = cli(&dir, &["cloudsso", "scim", "credentials", "list"]);
    let demo_cred = d["cloudsso"]["scim_credential_id"].as_str().unwrap();
    assert!(line(&creds, demo_cred).contains("Enabled"), "{creds}");
    assert!(
        !creds.contains(token) && !creds.contains("ghscim_"),
        "{creds}"
    );

    // A second credential: its secret is printed once, and it opens the SCIM server.
    let created = cli(&dir, &["cloudsso", "scim", "credentials", "create"]);
    let secret = created
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("{created}"))
        .trim()
        .to_owned();
    let id = created.split_whitespace().nth(3).unwrap().to_owned();
    let scim = |t: String| {
        let url = format!(
            "{}/Users?count=1",
            d["cloudsso"]["scim_base_url"].as_str().unwrap()
        );
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(scim(secret.clone()).await, reqwest::StatusCode::OK);
    cli(&dir, &["cloudsso", "scim", "credentials", "disable", &id]);
    assert_eq!(
        scim(secret.clone()).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    cli(&dir, &["cloudsso", "scim", "credentials", "delete", &id]);
    let creds = cli(&dir, &["cloudsso", "scim", "credentials", "list"]);
    assert!(!creds.contains(&id), "{creds}");
    // The demo credential still works.
    assert_eq!(scim(token.to_owned()).await, reqwest::StatusCode::OK);

    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}
