//! Account sync figures of issue 4, each beside the same operation against scim2-server (PyPI) in
//! the same run:
//!
//! (a) "Push Now" throughput: 10,000 users (one org unit in scope, no groups) IDaaS → Cloud SSO
//!     and IDaaS → scim2-server; users/s = users / wall time of the job, from the start request
//!     to the first poll that sees it `success`. IDaaS and Cloud SSO run in-process on SQLite
//!     (release build); scim2-server is `interop/scim/target_server.py` in its own process.
//! (b) `GET /Users?filter=userName eq "…"` requests/s on both targets (each then holding the same
//!     10,000 users), from a Rust reqwest client with keep-alive and K concurrent tasks; every
//!     answer must be 200 with exactly one resource of that userName.
//!
//! Anything failing (a job not `success`, a failed object, a wrong answer) aborts the run instead
//! of printing figures. Client and servers share the machine's cores; the load average is printed.
//!
//! Run: `cargo bench -p gatehouse --bench scim_sync` (env: BENCH_USERS (10000), BENCH_REQUESTS
//! (2000), BENCH_CONCURRENCY (4), GATEHOUSE_PYTHON (default `<repo>/.venv/bin/python`)).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn call(
    c: &reqwest::Client,
    m: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut rb = c.request(m.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "{m} {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// scim2-server in its own process; killed on drop.
struct Peer {
    child: Child,
    base: String,
    token: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer() -> Peer {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("GATEHOUSE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv/bin/python"));
    let token = format!("bench-{}", rand::random::<u64>());
    let mut child = Command::new(&python)
        .arg(repo.join("interop/scim/target_server.py"))
        .args(["--token", &token, "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} (scim2-server): {e}", python.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let port: u16 = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "scim2-server did not start (printed {line:?}); install it with scripts/setup-test-env.sh"
            )
        });
    Peer {
        child,
        base: format!("http://127.0.0.1:{port}/v2"),
        token,
    }
}

/// The IDaaS side: one instance, `n` users in org unit `staff`.
struct Idaas {
    server: idaas::RunningServer,
    http: reqwest::Client,
    token: String,
    prefix: String,
    staff: String,
}

impl Idaas {
    async fn start(dir: &Path, n: usize) -> Idaas {
        let db = format!("sqlite://{}?mode=rwc", dir.join("idaas.db").display());
        let mut config = idaas::Config::for_tests(db);
        config.provisioning_poll_ms = 100;
        let server = idaas::Server::start(config).await.expect("idaas");
        let token = server
            .services()
            .create_api_token(
                &idaas::audit::Actor::system(),
                None,
                idaas::api_token::TokenName::try_from("bench".to_owned()).expect("name"),
                None,
            )
            .await
            .expect("token")
            .secret;
        let http = reqwest::Client::new();
        let base = server.base_url().to_owned();
        let inst = call(
            &http,
            Method::POST,
            &format!("{base}/api/v1/instances"),
            &token,
            Some(json!({"name": "Bench"})),
        )
        .await;
        let prefix = format!(
            "{base}/api/v1/instances/{}",
            inst["id"].as_str().expect("iid")
        );
        let staff = call(
            &http,
            Method::POST,
            &format!("{prefix}/org-units"),
            &token,
            Some(json!({"name": "staff"})),
        )
        .await["id"]
            .as_str()
            .expect("ou")
            .to_owned();
        let mut csv = String::from("username,display_name,email,org_unit\n");
        for i in 0..n {
            csv.push_str(&format!(
                "User{i:06},User {i} Example,user{i:06}@example.com,{staff}\n"
            ));
        }
        let t = Instant::now();
        let r = http
            .post(format!("{prefix}/users:import"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("import");
        assert!(r.status().is_success(), "import: {}", r.status());
        let report: Value = r.json().await.expect("report");
        assert_eq!(
            report["created"], n,
            "import: created {}",
            report["created"]
        );
        eprintln!("seeded {n} users in {:.1?}", t.elapsed());
        Idaas {
            server,
            http,
            token,
            prefix,
            staff,
        }
    }

    async fn api(&self, m: Method, path: &str, body: Option<Value>) -> Value {
        call(
            &self.http,
            m,
            &format!("{}{path}", self.prefix),
            &self.token,
            body,
        )
        .await
    }

    /// Creates an app provisioning to (`base`, `token`) and runs Push Now: (job, wall time).
    async fn push_now(&self, base: &str, token: &str) -> (Value, Duration) {
        let app = self
            .api(
                Method::POST,
                "/apps",
                Some(json!({"template_id": "apt_cloudsso_saml"})),
            )
            .await["id"]
            .as_str()
            .expect("app")
            .to_owned();
        let p = format!("/apps/{app}/provisioning");
        self.api(
            Method::PUT,
            &p,
            Some(json!({
                "enabled": true, "base_url": base,
                "auth": {"mode": "bearer_token", "access_token": token},
                "scope": {"org_unit_ids": [self.staff]},
            })),
        )
        .await;
        let t0 = Instant::now();
        let job = self
            .api(Method::POST, &format!("{p}/sync-jobs"), Some(json!({})))
            .await;
        let id = job["id"].as_str().expect("job id").to_owned();
        let job = loop {
            let j = self
                .api(Method::GET, &format!("{p}/sync-jobs/{id}"), None)
                .await;
            if j["status"] != "pending" && j["status"] != "running" {
                break j;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(3600),
                "job too long: {j}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let wall = t0.elapsed();
        if job["status"] != "success" {
            let items = self
                .api(
                    Method::GET,
                    &format!("{p}/sync-jobs/{id}/items?failed=true&limit=10"),
                    None,
                )
                .await;
            panic!(
                "full sync to {base} ended {}: {job}; failed items {items}",
                job["status"]
            );
        }
        // The outbox filled by enabling provisioning drains (all `same`) before the next run.
        let t = Instant::now();
        loop {
            let ob = self.api(Method::GET, &format!("{p}/outbox"), None).await;
            assert_eq!(ob["dead"], 0, "dead letters: {ob}");
            if ob["pending"] == 0 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(1800),
                "outbox stuck: {ob}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (job, wall)
    }
}

async fn remote_total(http: &reqwest::Client, base: &str, token: &str) -> u64 {
    call(
        http,
        Method::GET,
        &format!("{base}/Users?count=0"),
        token,
        None,
    )
    .await["totalResults"]
        .as_u64()
        .expect("totalResults")
}

/// `requests` filter GETs over `concurrency` tasks sharing one keep-alive client: requests/s.
async fn filter_rate(
    base: &str,
    token: &str,
    users: usize,
    requests: usize,
    concurrency: usize,
) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let base = Arc::new(base.to_owned());
    let token = Arc::new(token.to_owned());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < requests {
                // Spread over the whole population (upper case: matching is case-insensitive).
                let n = (i * 7919) % users;
                let name = format!("USER{n:06}");
                let r = client
                    .get(format!("{base}/Users"))
                    .query(&[("filter", format!("userName eq \"{name}\""))])
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .expect("filter request");
                let status = r.status();
                let v: Value = r.json().await.expect("filter body");
                assert_eq!(status.as_u16(), 200, "filter {name}: {v}");
                assert_eq!(v["totalResults"], 1, "filter {name}: {v}");
                let res = v["Resources"].as_array().expect("Resources");
                assert_eq!(res.len(), 1, "filter {name}: {v}");
                assert!(
                    res[0]["userName"]
                        .as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&name)),
                    "filter {name}: {v}"
                );
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    requests as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let users = env_or("BENCH_USERS", 10_000);
    let requests = env_or("BENCH_REQUESTS", 2_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 4).max(1);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("cores: {cores}; load average at start: {}", load());
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-scim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // Targets: Cloud SSO (in-process, SQLite) and scim2-server.
    let peer = start_peer();
    let cs_db = format!("sqlite://{}?mode=rwc", dir.join("cloudsso.db").display());
    let cs = cloudsso::Server::start(cloudsso::Config::for_tests(cs_db))
        .await
        .expect("cloudsso");
    let s = cs.services();
    let actor = cloudsso::audit::Actor::system();
    let d = s
        .create_directory(
            &actor,
            cloudsso::directory::DirectoryName::try_from("bench".to_owned()).expect("name"),
        )
        .await
        .expect("directory");
    s.set_scim_synchronization(&actor, &d.id, true)
        .await
        .expect("scim on");
    let cred = s
        .create_scim_credential(&actor, &d.id)
        .await
        .expect("credential");
    let cs_base = s.scim_endpoint();
    let cs_token = cred.credential_secret;

    let idaas = Idaas::start(&dir, users).await;
    let http = reqwest::Client::new();

    // (a) Push Now.
    let (cs_job, cs_wall) = idaas.push_now(&cs_base, &cs_token).await;
    let (py_job, py_wall) = idaas.push_now(&peer.base, &peer.token).await;
    for (name, base, token, job) in [
        ("Cloud SSO", &cs_base, &cs_token, &cs_job),
        ("scim2-server", &peer.base, &peer.token, &py_job),
    ] {
        let u = &job["counts"]["user"];
        let accounted: i64 = ["created", "bound", "same"]
            .iter()
            .map(|k| u[k].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(accounted, users as i64, "{name}: {job}");
        let total = remote_total(&http, base, token).await;
        assert_eq!(total, users as u64, "{name} holds {total} users");
    }
    println!(
        "Push Now, {users} users, IDaaS on SQLite → target (users/s = users / job wall time):"
    );
    for (name, job, wall) in [
        ("Cloud SSO (ours, SQLite)", &cs_job, cs_wall),
        ("scim2-server 0.8.3     ", &py_job, py_wall),
    ] {
        println!(
            "  {name}: {:>8.1} users/s  ({:.1} s; users {})",
            users as f64 / wall.as_secs_f64(),
            wall.as_secs_f64(),
            job["counts"]["user"]
        );
    }
    println!("load average after the syncs: {}", load());

    // (b) Filter GETs.
    let probe = http
        .get(format!("{}/Users?count=0", peer.base))
        .bearer_auth(&peer.token)
        .send()
        .await
        .expect("probe");
    let peer_version = probe.version();
    let peer_conn = probe
        .headers()
        .get("connection")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let ours = filter_rate(&cs_base, &cs_token, users, requests, concurrency).await;
    let theirs = filter_rate(&peer.base, &peer.token, users, requests, concurrency).await;
    println!(
        "GET /Users?filter=userName eq \"…\" ({requests} requests, {concurrency} concurrent, {users} users, keep-alive reqwest client):"
    );
    println!("  Cloud SSO (ours, SQLite): {ours:>8.1} req/s");
    println!(
        "  scim2-server 0.8.3     : {theirs:>8.1} req/s  (answers {peer_version:?}, Connection: {peer_conn}: no keep-alive, a new TCP connection per request)"
    );
    println!("load average at the end: {}", load());
    drop(peer);
    idaas.server.shutdown().await;
    cs.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
