//! A SCIM checker we did not write (issue 4): scim2-tester (PyPI) runs every one of its checks
//! against Cloud SSO's SCIM server through `interop/scim/check_server.py`, and none may fail.
//!
//! Per backend: a fresh server and directory, SCIM synchronization turned on and one bearer
//! credential created through the services (as the console does), then the checker against
//! `{base}/scim/v2` with that credential. The checker's summary (counts by status, failures with
//! the server's answers) is printed; a check fails when its status is ERROR or CRITICAL.
//!
//! Also (ignored by default) the measure of `GET /Users?filter=userName eq "…"`
//! requests per second, ours beside scim2-server in the same run, through
//! `interop/scim/bench_filter.py`:
//! `cargo test --release -p cloudsso --test it scim_filter_bench -- --ignored --nocapture`
//! (`GATEHOUSE_SCIM_BENCH_USERS`, `_REQUESTS`, `_CONCURRENCY` = comma list; defaults 1000, 2000, 1,4).
//!
//! Peer: `$GATEHOUSE_PYTHON` (default `<repo>/.venv/bin/python`) with scim2-tester,
//! scim2-server and scim2-client[httpx2] (interop/requirements.txt; scripts/setup-test-env.sh).
//! Missing: SKIP, or a failure under `GATEHOUSE_REQUIRE_PEERS=1`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudsso::audit::Actor;
use serde_json::Value;

use crate::both_servers;
use crate::support::{Backend, TestServer};

/// The whole checker run (about 135 checks, a few hundred requests) must end within this.
const CHECKER_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv python when it can import `modules` (comma-separated); otherwise SKIP (or panic
/// when peers are required).
fn peer_python(modules: &str) -> Option<PathBuf> {
    let python = std::env::var_os("GATEHOUSE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let what = format!(
        "{} cannot import {modules} (set GATEHOUSE_PYTHON; scripts/setup-test-env.sh)",
        python.display()
    );
    if db::testing::peers_required() {
        panic!("GATEHOUSE_REQUIRE_PEERS=1 but {what}");
    }
    eprintln!("SKIP scim_tester: {what}");
    None
}

/// What the checker printed and the summary it wrote.
struct CheckerRun {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    summary: Option<Value>,
}

/// Runs check_server.py (blocking; call from `spawn_blocking`), killed after [`CHECKER_TIMEOUT`].
fn run_checker(python: &Path, url: &str, token: &str) -> CheckerRun {
    let out_file = std::env::temp_dir().join(format!(
        "gh-scim-tester-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    let stdout_file = out_file.with_extension("stdout");
    let stderr_file = out_file.with_extension("stderr");
    let mut child = Command::new(python)
        .arg(repo_root().join("interop/scim/check_server.py"))
        .args(["--url", url, "--token", token, "--json"])
        .arg(&out_file)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_file).unwrap())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .expect("start check_server.py");
    let deadline = Instant::now() + CHECKER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "check_server.py did not finish within {CHECKER_TIMEOUT:?}; output so far:\n{}",
                std::fs::read_to_string(&stdout_file).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let summary = std::fs::read_to_string(&out_file)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let run = CheckerRun {
        status,
        stdout: read(&stdout_file),
        stderr: read(&stderr_file),
        summary,
    };
    for p in [&out_file, &stdout_file, &stderr_file] {
        let _ = std::fs::remove_file(p);
    }
    run
}

/// Turns SCIM on for a fresh directory and returns its bearer credential.
async fn scim_credential(srv: &TestServer) -> String {
    let dir = srv.directory("scimtester").await;
    let sync = srv
        .services
        .set_scim_synchronization(&Actor::system(), &dir.id, true)
        .await
        .unwrap();
    assert!(sync.enabled);
    srv.services
        .create_scim_credential(&Actor::system(), &dir.id)
        .await
        .unwrap()
        .credential_secret
}

both_servers!(scim2_tester_passes_every_check, |srv| {
    if let Some(python) = peer_python("scim2_tester, scim2_client.engines.httpx2, httpx2") {
        let token = scim_credential(&srv).await;
        let url = srv.url("/scim/v2");
        let run = {
            let (python, url, token) = (python.clone(), url.clone(), token.clone());
            tokio::task::spawn_blocking(move || run_checker(&python, &url, &token))
                .await
                .unwrap()
        };
        println!("scim2-tester against {url} ({:?}):", srv.backend);
        println!("{}", run.stdout);
        let Some(summary) = run.summary else {
            panic!(
                "check_server.py wrote no summary (exit {:?}); stderr:\n{}",
                run.status.code(),
                run.stderr
            );
        };
        let total = summary["total"].as_u64().unwrap_or(0);
        let failed = summary["failed"].as_u64().unwrap_or(u64::MAX);
        println!(
            "scim2-tester counts ({:?}): total {total}, by status {}, failed {failed}",
            srv.backend, summary["by_status"]
        );
        if let Some(failures) = summary["failures"].as_array() {
            for f in failures {
                println!(
                    "FAILED {} [{}] {}: {}\n  server data: {}",
                    f["status"].as_str().unwrap_or("?"),
                    f["resource_type"].as_str().unwrap_or("-"),
                    f["title"].as_str().unwrap_or("?"),
                    f["reason"].as_str().unwrap_or(""),
                    f["data"]
                );
            }
        }
        // When discovery fails the checker stops before the resource checks (with failures
        // recorded); make sure the User and Group checks did run.
        assert!(
            summary["by_status"]
                .as_object()
                .is_some_and(|m| !m.is_empty()),
            "no check ran: {summary}"
        );
        assert!(
            run.stdout.contains("[User] ") && run.stdout.contains("[Group] "),
            "the checker ran no User or Group check (discovery failed?)"
        );
        assert_eq!(
            failed, 0,
            "{failed} of {total} scim2-tester checks failed (see FAILED lines above)"
        );
        assert!(
            run.status.success(),
            "check_server.py exited {:?}; stderr:\n{}",
            run.status.code(),
            run.stderr
        );
    }
});

/// scim2-server (`interop/scim/target_server.py`) running as a child process, killed on drop.
struct PeerServer {
    child: Child,
    base: String,
}

impl PeerServer {
    /// Starts it on a free port with the bearer `token` and waits for `LISTENING <port>`.
    fn start(python: &Path, token: &str) -> PeerServer {
        let mut child = Command::new(python)
            .arg(repo_root().join("interop/scim/target_server.py"))
            .args(["--token", token])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start target_server.py");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port: u16 = match line.trim().strip_prefix("LISTENING ") {
            Some(p) => p.parse().unwrap(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("target_server.py did not start: {line:?}");
            }
        };
        PeerServer {
            child,
            base: format!("http://127.0.0.1:{port}/v2"),
        }
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An environment variable as a number, or its default.
fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs bench_filter.py against one server; its JSON result line.
fn bench(python: &Path, url: &str, token: &str, users: usize, requests: usize, c: usize) -> Value {
    let out = Command::new(python)
        .arg(repo_root().join("interop/scim/bench_filter.py"))
        .args(["--url", url, "--token", token])
        .args(["--seed", &users.to_string()])
        .args(["-n", &requests.to_string(), "-c", &c.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run bench_filter.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench_filter.py against {url} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// The measure: filtered user look-ups per second, ours (SQLite) beside scim2-server,
/// same users, requests and client concurrency. Build with --release for figures that mean
/// anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p cloudsso --test it scim_filter_bench -- --ignored --nocapture"]
async fn scim_filter_bench() {
    let Some(python) = peer_python("scim2_server, httpx2") else {
        return;
    };
    let Some(srv) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let token = scim_credential(&srv).await;
    let users = env_usize("GATEHOUSE_SCIM_BENCH_USERS", 1000);
    let requests = env_usize("GATEHOUSE_SCIM_BENCH_REQUESTS", 2000);
    let levels: Vec<usize> = std::env::var("GATEHOUSE_SCIM_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let ours = srv.url("/scim/v2");
    let results = tokio::task::spawn_blocking(move || {
        let peer_token = "bench-token";
        let peer = PeerServer::start(&python, peer_token);
        let mut results = Vec::new();
        for c in levels {
            let a = bench(&python, &ours, &token, users, requests, c);
            let b = bench(&python, &peer.base, peer_token, users, requests, c);
            results.push((c, a, b));
        }
        results
    })
    .await
    .unwrap();
    for (c, ours, peer) in results {
        println!(
            "SCIM filter bench, {users} users, {requests} requests, {c} client thread(s): \
             Cloud SSO (SQLite) {} req/s (p50 {} ms), scim2-server {} req/s (p50 {} ms)",
            ours["req_per_s"],
            ours["latency_ms"]["p50"],
            peer["req_per_s"],
            peer["latency_ms"]["p50"]
        );
        println!("  ours: {ours}\n  scim2-server: {peer}");
    }
    srv.stop().await;
}
