//! Account sync (issue 4) as an administrator does it, in a real headless Chromium, on FRESH
//! servers (not the pre-wired `gatehouse up` demo): IDaaS and Cloud SSO run in-process on SQLite,
//! with one new Cloud SSO directory (SCIM off, no credential) and one new IDaaS instance (an admin,
//! an org unit `Sales` with two users, a group `Finance` with a third user, and one user in
//! neither).
//!
//! Cloud SSO console, Settings > User Settings: turn SCIM synchronization on, Generate New SCIM
//! Credential, read the SCIM endpoint and the one-time secret from the pages. IDaaS console: add
//! "Alibaba Cloud - Cloud SSO" from the marketplace; on its Provisioning tab fill the SCIM base URL
//! and the bearer token and choose the scope (org unit `Sales`, group `Finance`), save; on Account
//! sync run a Dry run first, whose record page is titled as the plan ("would create 3 users and 1
//! group …") and lists the planned actions; then enable provisioning, save, click Push Now, poll
//! the sync records until the job ends in success, open its record page (status, progress, the
//! users). Every user in scope is created on the target exactly once across all the sync records
//! (the incremental delivery that enabling starts may get there before Push Now; Push Now then
//! finds them up to date). A second dry run plans nothing. Finally the Cloud SSO users page lists
//! the users in scope with the "Synchronized" badge and without a Delete button, and not the
//! user out of scope.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver like `browser.rs` (same overrides, same SKIP
//! rule). Deadlines are generous and nothing asserts timings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::chromium::{body_text, click_button, find, on_page, open_browser, peers, start_driver};
use crate::support::temp_dir;

/// The marketplace template (and application name).
const CLOUD_SSO: &str = "Alibaba Cloud - Cloud SSO";
/// The IDaaS console administrator.
const ADMIN: (&str, &str) = ("admin", "Sync-Admin-Passw0rd!");
/// Users in scope: (account name, display name) and where they are.
const SALES_USERS: [(&str, &str); 2] = [("alice", "Alice Liddell"), ("bob", "Bob Builder")];
const FINANCE_USER: (&str, &str) = ("carol", "Carol Danvers");
/// A user in neither the org unit nor the group.
const OUTSIDER: (&str, &str) = ("dave", "Dave Outside");
/// How long a sync may take before the test gives up (no timing is asserted).
const SYNC_DEADLINE: Duration = Duration::from_secs(120);

fn in_scope() -> Vec<&'static str> {
    let mut v: Vec<&str> = SALES_USERS.iter().map(|u| u.0).collect();
    v.push(FINANCE_USER.0);
    v
}

// ---------------------------------------------------------------------------------------------
// Fresh servers.

/// The fresh IDaaS: the server, its base URL and the new instance.
struct Idaas {
    server: idaas::RunningServer,
    base: String,
    iid: String,
}

/// The fresh Cloud SSO: the server, its base URL, the new directory and a console token for it.
struct CloudSso {
    server: cloudsso::RunningServer,
    base: String,
    directory_id: String,
    console_token: String,
}

async fn api(
    http: &reqwest::Client,
    token: &str,
    m: Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut rb = http.request(m.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let st = r.status();
    let text = r.text().await.unwrap();
    assert!(st.is_success(), "{m} {url}: {st} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// IDaaS in-process on SQLite with a new instance, set up through the admin API.
async fn start_idaas(dir: &Path) -> Idaas {
    let db = format!("sqlite://{}?mode=rwc", dir.join("idaas.db").display());
    let mut config = idaas::Config::for_tests(db);
    config.provisioning_poll_ms = 200;
    config.provisioning_backoff_base_ms = 200;
    config.provisioning_backoff_cap_ms = 2_000;
    let server = idaas::Server::start(config).await.unwrap();
    let token = server
        .services()
        .create_api_token(
            &idaas::audit::Actor::system(),
            None,
            idaas::api_token::TokenName::try_from("browser-sync".to_owned()).unwrap(),
            None,
        )
        .await
        .unwrap()
        .secret;
    let base = server.base_url().to_owned();
    let http = reqwest::Client::new();
    let inst = api(
        &http,
        &token,
        Method::POST,
        &format!("{base}/api/v1/instances"),
        Some(json!({"name": "Sync Test Company"})),
    )
    .await;
    let iid = inst["id"].as_str().unwrap().to_owned();
    let p = format!("{base}/api/v1/instances/{iid}");
    let call = |m: Method, path: &str, body: Value| {
        let (http, token, url) = (http.clone(), token.clone(), format!("{p}{path}"));
        async move { api(&http, &token, m, &url, Some(body)).await }
    };
    let user = |name: &str, display: &str, is_admin: bool| {
        call(
            Method::POST,
            "/users",
            json!({"username": name, "display_name": display,
                   "email": format!("{name}@sync.example"), "is_admin": is_admin}),
        )
    };
    let admin = user(ADMIN.0, "Sync Administrator", true).await;
    call(
        Method::POST,
        &format!("/users/{}/password", admin["id"].as_str().unwrap()),
        json!({"password": ADMIN.1, "must_change": false}),
    )
    .await;
    let sales = call(Method::POST, "/org-units", json!({"name": "Sales"})).await;
    call(Method::POST, "/org-units", json!({"name": "Elsewhere"})).await;
    let finance = call(Method::POST, "/groups", json!({"name": "Finance"})).await;
    for (name, display) in SALES_USERS {
        let u = user(name, display, false).await;
        call(
            Method::POST,
            &format!("/users/{}/org-units", u["id"].as_str().unwrap()),
            json!({"org_unit_id": sales["id"], "primary": true}),
        )
        .await;
    }
    let carol = user(FINANCE_USER.0, FINANCE_USER.1, false).await;
    call(
        Method::POST,
        &format!("/groups/{}/members", finance["id"].as_str().unwrap()),
        json!({"user_id": carol["id"]}),
    )
    .await;
    user(OUTSIDER.0, OUTSIDER.1, false).await;
    Idaas { server, base, iid }
}

/// Cloud SSO in-process on SQLite with a new directory (SCIM synchronization off, no SCIM
/// credential) and a console API token for that directory.
async fn start_cloudsso(dir: &Path) -> CloudSso {
    use cloudsso::audit::Actor;
    let db = format!("sqlite://{}?mode=rwc", dir.join("cloudsso.db").display());
    let server = cloudsso::Server::start(cloudsso::Config::for_tests(db))
        .await
        .unwrap();
    let s = server.services();
    let d = s
        .create_directory(
            &Actor::system(),
            cloudsso::directory::DirectoryName::try_from("sync-test".to_owned()).unwrap(),
        )
        .await
        .unwrap();
    let token = s
        .create_api_token(
            &Actor::system(),
            Some(&d.id),
            cloudsso::api_token::TokenName::try_from("browser-sync".to_owned()).unwrap(),
            None,
        )
        .await
        .unwrap()
        .secret;
    CloudSso {
        base: server.base_url().to_owned(),
        server,
        directory_id: d.id,
        console_token: token,
    }
}

// ---------------------------------------------------------------------------------------------
// Page helpers.

async fn text_of(c: &Client, id: &str) -> String {
    find(c, Locator::Id(id)).await.text().await.unwrap()
}

/// The form control a `<label for>` with this exact text is for.
async fn labelled(c: &Client, label: &str) -> Element {
    let xpath = format!("//label[normalize-space()='{label}']");
    let id = find(c, Locator::XPath(&xpath))
        .await
        .attr("for")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("label {label:?} has no `for`"));
    find(c, Locator::Id(&id)).await
}

/// The input inside the `<label>` whose text is (or, with `contains`, contains) `text`.
async fn wrapped_input(c: &Client, text: &str, contains: bool) -> Element {
    let xpath = if contains {
        format!("//label[contains(normalize-space(), '{text}')]/input")
    } else {
        format!("//label[normalize-space()='{text}']/input")
    };
    find(c, Locator::XPath(&xpath)).await
}

async fn check(el: &Element, on: bool) {
    if el.is_selected().await.unwrap() != on {
        el.click().await.unwrap();
    }
    assert_eq!(el.is_selected().await.unwrap(), on);
}

async fn type_into(el: &Element, text: &str) {
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
    assert_eq!(el.prop("value").await.unwrap().unwrap_or_default(), text);
}

/// Polls the current page (reloading it) until `probe` returns `Some`, within [`SYNC_DEADLINE`].
macro_rules! poll_page {
    ($c:expr, $what:expr, $probe:expr) => {{
        let deadline = Instant::now() + SYNC_DEADLINE;
        loop {
            if let Some(v) = $probe {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {}: {}",
                $what,
                body_text($c).await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            $c.refresh().await.unwrap();
        }
    }};
}

/// The sync records table of the Account sync page: (job id, kind, status) in page order.
async fn sync_records(c: &Client) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let Ok(trs) = c.find_all(Locator::Css("#sync-jobs tr.job")).await else {
        return rows;
    };
    for tr in trs {
        let (Ok(Some(id)), Ok(kind), Ok(status)) = (
            tr.attr("data-job-id").await,
            async { tr.find(Locator::Css("td.kind")).await?.text().await }.await,
            async { tr.find(Locator::Css("td.status")).await?.text().await }.await,
        ) else {
            return Vec::new();
        };
        rows.push((id, kind, status));
    }
    rows
}

/// Clicks `button` on the Account sync page and waits until a new record of `kind` (not in
/// `before`) has ended; returns its id and final status.
async fn run_job(c: &Client, sync_url: &str, button: &str, kind: &str) -> (String, String) {
    c.goto(sync_url).await.unwrap();
    on_page(c, "/sync", Locator::Id("push-now")).await;
    let before: Vec<String> = sync_records(c).await.into_iter().map(|r| r.0).collect();
    find(c, Locator::Id(button)).await.click().await.unwrap();
    on_page(
        c,
        "started=1",
        Locator::XPath("//p[@class='ok'][normalize-space()='Sync started.']"),
    )
    .await;
    poll_page!(
        c,
        format!("the {kind} job to end"),
        async {
            sync_records(c).await.into_iter().find(|(id, k, st)| {
                !before.contains(id) && k == kind && st != "pending" && st != "running"
            })
        }
        .await
        .map(|(id, _, st)| (id, st))
    )
}

/// The items table of a record page: (kind, name, action) per row.
async fn items(c: &Client) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Ok(trs) = c.find_all(Locator::Css("#sync-items tr.item")).await else {
        return out;
    };
    for tr in trs {
        let kind = tr.attr("data-kind").await.unwrap().unwrap_or_default();
        let name = tr
            .find(Locator::Css("td.name"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let action = tr
            .find(Locator::Css("td.action"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        out.push((kind, name, action));
    }
    out
}

/// Opens the record page of `job` from the Account sync page's link.
async fn open_record(c: &Client, sync_url: &str, job: &str) {
    c.goto(sync_url).await.unwrap();
    let link = format!("//tr[@data-job-id='{job}']//a[contains(@href, '/sync/{job}')]");
    on_page(c, "/sync", Locator::XPath(&link))
        .await
        .click()
        .await
        .unwrap();
    on_page(c, &format!("/sync/{job}"), Locator::Id("job-title")).await;
    assert_eq!(text_of(c, "job-id").await, job);
}

// ---------------------------------------------------------------------------------------------
// The test.

#[tokio::test(flavor = "multi_thread")]
async fn browser_account_sync_to_cloudsso() {
    let Some((chromium, chromedriver)) = peers() else {
        return;
    };
    let dir = temp_dir("browser-sync");
    let idaas = start_idaas(&dir).await;
    let cs = start_cloudsso(&dir).await;
    let driver = start_driver(&chromedriver, &dir).await;
    let client = open_browser(&driver, &chromium, &dir).await;

    let c = client.clone();
    let (ib, iid) = (idaas.base.clone(), idaas.iid.clone());
    let (cb, did, ctok) = (
        cs.base.clone(),
        cs.directory_id.clone(),
        cs.console_token.clone(),
    );
    let outcome = tokio::spawn(async move {
        let (endpoint, secret) = cloudsso_scim_on(&c, &cb, &ctok).await;
        idaas_sync(&c, &ib, &iid, &endpoint, &secret).await;
        cloudsso_users(&c, &cb, &did).await;
    })
    .await;

    if let Err(e) = outcome {
        if let Ok(png) = client.screenshot().await {
            let shot = dir.join("failure.png");
            std::fs::write(&shot, png).unwrap();
            eprintln!("browser screenshot: {}", shot.display());
        }
        if let Ok(url) = client.current_url().await {
            eprintln!("browser was at {url}");
        }
        if let Ok(html) = client.source().await {
            let page = dir.join("failure.html");
            std::fs::write(&page, html).unwrap();
            eprintln!("page source: {}", page.display());
        }
        eprintln!("databases: {}", dir.display());
        let _ = client.close().await;
        drop(driver);
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("browser test task failed: {e}"),
        }
    }
    client.close().await.unwrap();
    drop(driver);
    idaas.server.shutdown().await;
    cs.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cloud SSO console, Settings > User Settings: SCIM on, a new credential; returns the SCIM
/// endpoint and the secret as the pages show them.
async fn cloudsso_scim_on(c: &Client, base: &str, token: &str) -> (String, String) {
    c.goto(&format!("{base}/console")).await.unwrap();
    on_page(c, "/console/login", Locator::Id("api_token"))
        .await
        .send_keys(token)
        .await
        .unwrap();
    click_button(c, "Sign in").await;
    on_page(
        c,
        "/console",
        Locator::XPath("//h2[normalize-space()='Directories']"),
    )
    .await;
    find(c, Locator::LinkText("Settings"))
        .await
        .click()
        .await
        .unwrap();
    on_page(
        c,
        "/settings",
        Locator::XPath("//h2[normalize-space()='User Settings']"),
    )
    .await;
    assert_eq!(text_of(c, "scim-status").await, "Disabled");
    assert!(body_text(c).await.contains("No SCIM credential."));

    click_button(c, "Enable SCIM synchronization").await;
    on_page(c, "done=scim_on", Locator::Id("scim-status")).await;
    assert_eq!(text_of(c, "scim-status").await, "Enabled");
    let endpoint = text_of(c, "scim-endpoint").await;
    assert!(
        endpoint.starts_with(base) && endpoint.ends_with("/scim/v2"),
        "SCIM endpoint {endpoint:?} (console at {base})"
    );

    click_button(c, "Generate New SCIM Credential").await;
    let secret = on_page(c, "/scim/credentials", Locator::Id("scim-secret"))
        .await
        .text()
        .await
        .unwrap();
    let text = body_text(c).await;
    assert!(text.contains("shown only once"), "{text}");
    assert!(secret.len() >= 20, "secret {secret:?}");
    let credential_id = text_of(c, "scim-credential-id").await;

    // Back on the settings: the credential is listed (enabled), its secret is not.
    find(c, Locator::LinkText("Back to the settings"))
        .await
        .click()
        .await
        .unwrap();
    let row = on_page(c, "/settings", Locator::Css("tr.scim-credential")).await;
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains(&credential_id), "{row_text}");
    assert!(row_text.contains("Enabled"), "{row_text}");
    assert!(!c.source().await.unwrap().contains(&secret));
    (endpoint, secret)
}

/// IDaaS console: the Cloud SSO application, its Provisioning tab, a dry run, enable, Push Now,
/// the record pages.
async fn idaas_sync(c: &Client, base: &str, iid: &str, endpoint: &str, secret: &str) {
    // Sign in to the console.
    c.goto(&format!("{base}/i/{iid}/console/apps"))
        .await
        .unwrap();
    on_page(c, "/login", Locator::Id("username")).await;
    type_into(&labelled(c, "User name").await, ADMIN.0).await;
    type_into(&labelled(c, "Password").await, ADMIN.1).await;
    click_button(c, "Sign in").await;

    // Applications > Add Application > the marketplace's Cloud SSO template > Add.
    on_page(
        c,
        &format!("/i/{iid}/console/apps"),
        Locator::XPath("//h1[normalize-space()='Applications']"),
    )
    .await;
    find(c, Locator::LinkText("Add Application"))
        .await
        .click()
        .await
        .unwrap();
    type_into(
        &on_page(c, "/console/apps/marketplace", Locator::Id("q")).await,
        "Cloud SSO",
    )
    .await;
    click_button(c, "Search").await;
    let card = format!(
        "//div[contains(concat(' ', normalize-space(@class), ' '), ' template ')]\
         [strong[normalize-space()='{CLOUD_SSO}']]"
    );
    on_page(c, "q=Cloud", Locator::XPath(&card)).await;
    find(
        c,
        Locator::XPath(&format!("{card}//a[normalize-space()='Add Application']")),
    )
    .await
    .click()
    .await
    .unwrap();
    let name = on_page(c, "/console/apps/new", Locator::Id("name")).await;
    assert_eq!(
        name.prop("value").await.unwrap().as_deref(),
        Some(CLOUD_SSO)
    );
    click_button(c, "Add").await;
    on_page(c, "/sso", Locator::Id("provisioning-tab"))
        .await
        .click()
        .await
        .unwrap();

    // Provisioning tab: SCIM base URL, bearer token, scope; saved disabled first.
    on_page(c, "/provisioning", Locator::Id("base_url")).await;
    let url = c.current_url().await.unwrap();
    let segments: Vec<&str> = url.path_segments().unwrap().collect();
    let [_, _, "console", "apps", app_id, "provisioning"] = segments.as_slice() else {
        panic!("not the Provisioning tab of an app: {url}");
    };
    let app_id = (*app_id).to_owned();
    let provisioning_url = url.to_string();
    let enable = wrapped_input(c, "Provision IDaaS Accounts to Application", true).await;
    assert!(
        !enable.is_selected().await.unwrap(),
        "enabled before saving"
    );
    type_into(&labelled(c, "SCIM Base URL").await, endpoint).await;
    check(&wrapped_input(c, "Bearer token", false).await, true).await;
    type_into(&labelled(c, "Access token").await, secret).await;
    check(&wrapped_input(c, "Sales", false).await, true).await;
    check(&wrapped_input(c, "Elsewhere", false).await, false).await;
    check(&wrapped_input(c, "Finance", false).await, true).await;
    check(
        &wrapped_input(c, "Full push of users (Push Now)", true).await,
        true,
    )
    .await;
    click_button(c, "Save").await;
    on_page(
        c,
        "saved=1",
        Locator::XPath("//p[@role='status'][normalize-space()='Saved.']"),
    )
    .await;
    assert!(
        c.find(Locator::Css("[role=alert]")).await.is_err(),
        "Save showed an error: {}",
        body_text(c).await
    );
    assert_eq!(
        labelled(c, "SCIM Base URL")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(endpoint)
    );
    assert!(
        body_text(c)
            .await
            .contains("(stored; leave blank to keep it)")
    );
    assert!(!c.source().await.unwrap().contains(secret));

    // Account sync > Dry run (provisioning still off): the record page is the plan.
    find(c, Locator::Id("sync-tab"))
        .await
        .click()
        .await
        .unwrap();
    on_page(c, "/sync", Locator::Id("dry-run")).await;
    let sync_url = c.current_url().await.unwrap().to_string();
    let (plan_job, status) = run_job(c, &sync_url, "dry-run", "full (dry run)").await;
    assert_eq!(status, "success", "dry run: {}", body_text(c).await);
    open_record(c, &sync_url, &plan_job).await;
    let title = text_of(c, "job-title").await;
    assert!(
        title.starts_with("Plan (dry run): would create 3 users and 1 group"),
        "dry run title {title:?}"
    );
    assert!(title.contains("would add 1 group member"), "{title:?}");
    assert_eq!(text_of(c, "job-status").await, "success");
    let planned = items(c).await;
    for name in in_scope() {
        assert!(
            planned
                .iter()
                .any(|(k, n, a)| k == "user" && n == name && a == "would create"),
            "{name} not planned for creation: {planned:?}"
        );
    }
    assert!(
        planned
            .iter()
            .any(|(k, n, a)| k == "group" && n == "Finance" && a == "would create"),
        "{planned:?}"
    );
    assert!(
        !planned
            .iter()
            .any(|(_, n, _)| n.contains(OUTSIDER.0) || n == ADMIN.0),
        "out of scope in the plan: {planned:?}"
    );
    // The filter by planned action: only the creations.
    find(c, Locator::LinkText("would create"))
        .await
        .click()
        .await
        .unwrap();
    on_page(c, "filter=create", Locator::Id("item-range")).await;
    let creations = items(c).await;
    assert_eq!(creations.len(), 4, "{creations:?}");
    assert!(creations.iter().all(|(_, _, a)| a == "would create"));
    assert_eq!(text_of(c, "item-range").await, "would create: 1–4 of 4");

    // Enable provisioning on the Provisioning tab; the token stays stored.
    c.goto(&provisioning_url).await.unwrap();
    check(
        &wrapped_input(c, "Provision IDaaS Accounts to Application", true).await,
        true,
    )
    .await;
    click_button(c, "Save").await;
    on_page(
        c,
        "saved=1",
        Locator::XPath("//p[@role='status'][normalize-space()='Saved.']"),
    )
    .await;
    assert!(
        wrapped_input(c, "Provision IDaaS Accounts to Application", true)
            .await
            .is_selected()
            .await
            .unwrap()
    );

    // Account sync > Push Now, until the job shows success; then its record page.
    let (push_job, status) = run_job(c, &sync_url, "push-now", "full").await;
    open_record(c, &sync_url, &push_job).await;
    assert_eq!(status, "success", "Push Now: {}", body_text(c).await);
    assert_eq!(text_of(c, "job-status").await, "success");
    assert_eq!(text_of(c, "job-trigger").await, "manual");
    assert!(
        text_of(c, "job-title")
            .await
            .starts_with("Full sync (success)")
    );
    let progress = text_of(c, "job-progress").await;
    let (done, total) = progress
        .split_once(" of ")
        .unwrap_or_else(|| panic!("progress {progress:?}"));
    assert_eq!(done, total, "progress {progress:?}");
    let pushed = items(c).await;
    for name in in_scope() {
        assert!(
            pushed.iter().any(|(k, n, a)| k == "user"
                && n == name
                && (a == "created" || a == "same" || a == "bound")),
            "{name} not in the Push Now record: {pushed:?}"
        );
    }
    // The failures filter: none.
    find(c, Locator::LinkText("Failed"))
        .await
        .click()
        .await
        .unwrap();
    on_page(c, "filter=failed", Locator::Id("item-range")).await;
    assert_eq!(text_of(c, "item-range").await, "Failed: none");
    assert!(items(c).await.is_empty());
    // A record of another id is not there.
    c.goto(&format!("{sync_url}/sjob_nope")).await.unwrap();
    on_page(
        c,
        "/sync/sjob_nope",
        Locator::XPath("//*[normalize-space()='Unknown sync record']"),
    )
    .await;

    // Wait for the outbox to drain, then: every user in scope was created on the target exactly
    // once across all the sync records (Push Now or the incremental delivery enabling started).
    c.goto(&sync_url).await.unwrap();
    poll_page!(
        c,
        "no pending deliveries",
        body_text(c)
            .await
            .contains("0 pending deliveries.")
            .then_some(())
    );
    let records = sync_records(c).await;
    let mut created: BTreeMap<String, usize> = BTreeMap::new();
    for (job, kind, _) in &records {
        if kind.contains("dry run") {
            continue;
        }
        c.goto(&format!("{sync_url}/{job}?filter=created"))
            .await
            .unwrap();
        on_page(c, &format!("/sync/{job}"), Locator::Id("item-range")).await;
        for (k, n, a) in items(c).await {
            assert_eq!(a, "created", "filter=created showed {a}");
            if k == "user" {
                *created.entry(n).or_default() += 1;
            }
        }
    }
    let want: BTreeMap<String, usize> = in_scope().into_iter().map(|n| (n.to_owned(), 1)).collect();
    assert_eq!(created, want, "users created per name across {records:?}");

    // A dry run now: nothing to change.
    let (again, status) = run_job(c, &sync_url, "dry-run", "full (dry run)").await;
    assert_eq!(status, "success");
    open_record(c, &sync_url, &again).await;
    let title = text_of(c, "job-title").await;
    assert!(
        title.starts_with("Plan (dry run): nothing to change"),
        "second dry run {title:?}: {}",
        body_text(c).await
    );
    assert!(
        sync_url.contains(&format!("/apps/{app_id}/sync")),
        "{sync_url}"
    );
}

/// Cloud SSO console users page: the users in scope, Synchronized and without Delete.
async fn cloudsso_users(c: &Client, base: &str, directory_id: &str) {
    c.goto(&format!("{base}/console/directories/{directory_id}/users"))
        .await
        .unwrap();
    on_page(c, "/users", Locator::Css("tr.user")).await;
    let rows = c.find_all(Locator::Css("tr.user")).await.unwrap();
    let mut seen = Vec::new();
    for row in rows {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        let name = cells[0].text().await.unwrap();
        let text = row.text().await.unwrap();
        let badge = row.find(Locator::Css("span.badge")).await;
        let buttons = row.find_all(Locator::Css("button")).await.unwrap();
        let mut labels = Vec::new();
        for b in buttons {
            labels.push(b.text().await.unwrap());
        }
        assert!(
            badge.is_ok() && text.contains("Synchronized"),
            "{name}: not Synchronized: {text}"
        );
        assert!(
            !labels.iter().any(|l| l == "Delete"),
            "{name}: a Synchronized user has a Delete button: {labels:?}"
        );
        seen.push(name);
    }
    seen.sort();
    let mut want: Vec<String> = in_scope().into_iter().map(str::to_owned).collect();
    want.sort();
    assert_eq!(seen, want, "users in Cloud SSO");
    let text = body_text(c).await;
    assert!(text.contains("SCIM synchronization is on"), "{text}");
}
