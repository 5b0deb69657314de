//! Starting the binary, finding free ports, and reading the HTML forms the flows go through.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-it-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `gatehouse up` running in the background; killed on drop.
pub struct Up {
    child: Child,
    pub data_dir: PathBuf,
    pub demo: Value,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ports `gatehouse up` listens on.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub idaas: u16,
    pub cloudsso: u16,
    pub demo_sp: u16,
}

impl Ports {
    /// Three free loopback ports.
    pub fn free() -> Self {
        Self {
            idaas: free_port(),
            cloudsso: free_port(),
            demo_sp: free_port(),
        }
    }
}

/// Starts `gatehouse up` on the given ports and waits until demo.json exists and every service
/// answers.
pub async fn start_up(data_dir: &Path, ports: Ports, extra: &[&str]) -> Up {
    let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .args(["--idaas-port", &ports.idaas.to_string()])
        .args(["--cloudsso-port", &ports.cloudsso.to_string()])
        .args(["--demo-sp-port", &ports.demo_sp.to_string()])
        .args(extra)
        .env("GATEHOUSE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gatehouse up");
    let mut up = Up {
        child,
        data_dir: data_dir.to_owned(),
        demo: Value::Null,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let demo_path = data_dir.join("demo.json");
    loop {
        assert!(
            Instant::now() < deadline,
            "gatehouse up did not come up within 60 s"
        );
        if let Some(status) = up.child.try_wait().unwrap() {
            panic!("gatehouse up exited early: {status}");
        }
        if let Ok(text) = std::fs::read_to_string(&demo_path)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            let health = format!("{}/healthz", v["idaas"]["base_url"].as_str().unwrap());
            let sp = v["demo_sp"]["url"].as_str().unwrap().to_owned();
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
                && reqwest::get(&sp)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                up.demo = v;
                return up;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the CLI with the demo's defaults (`--demo-dir`) and returns stdout; panics on failure.
pub fn cli(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--demo-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run gatehouse");
    assert!(
        out.status.success(),
        "gatehouse {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A browser-like client: cookies kept, redirects followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The first `<form>` whose action contains `action_part`: its absolute action URL and the
/// name/value pairs of its inputs.
pub fn form(page: &str, page_url: &str, action_part: &str) -> (String, Vec<(String, String)>) {
    let mut rest = page;
    while let Some(pos) = rest.find("<form") {
        let form_text = &rest[pos..];
        let end = form_text.find("</form>").unwrap_or(form_text.len());
        let form_text = &form_text[..end];
        let tag_end = form_text.find('>').unwrap();
        let action = attr(&form_text[..tag_end], "action").unwrap_or_default();
        if action.contains(action_part) {
            let mut fields = Vec::new();
            let mut inputs = form_text;
            while let Some(i) = inputs.find("<input") {
                let tag = &inputs[i..];
                let close = tag.find('>').unwrap();
                if let Some(n) = attr(&tag[..close], "name") {
                    fields.push((n, attr(&tag[..close], "value").unwrap_or_default()));
                }
                inputs = &tag[close..];
            }
            let url = url::Url::parse(page_url).unwrap().join(&action).unwrap();
            return (url.to_string(), fields);
        }
        rest = &rest[pos + 5..];
    }
    panic!("no form with action containing {action_part:?} in:\n{page}");
}

/// Replaces (or adds) a field value.
pub fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(n, _)| n != name);
    fields.push((name.to_owned(), value.to_owned()));
}

// ---------------------------------------------------------------------------------------------
// SCIM peers and `gatehouse serve` (issue 4: scim_sync.rs, scim_crash.rs).

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether missing peers fail the test instead of skipping it (`GATEHOUSE_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// The venv python (`$GATEHOUSE_PYTHON`, default `<repo>/.venv/bin/python`) when it can import
/// `modules`; otherwise prints SKIP for `test` and returns `None` (or panics when peers are
/// required).
pub fn peer_python(test: &str, modules: &str) -> Option<PathBuf> {
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
    assert!(!peers_required(), "GATEHOUSE_REQUIRE_PEERS=1 but {what}");
    eprintln!("SKIP {test}: {what}");
    None
}

/// scim2-server (PyPI) through `interop/scim/target_server.py`; killed on drop.
pub struct Scim2Server {
    child: Child,
    /// SCIM base URL (`http://127.0.0.1:PORT/v2`).
    pub base: String,
    /// The bearer token it accepts.
    pub token: String,
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Scim2Server {
    /// Starts scim2-server on a free port; `None` (SKIP) when the venv lacks it.
    pub fn start(test: &str) -> Option<Self> {
        use std::io::{BufRead, BufReader};
        let python = peer_python(test, "scim2_server")?;
        let token = format!("scim2-{}", rand::random::<u64>());
        let mut child = Command::new(python)
            .arg(repo_root().join("interop/scim/target_server.py"))
            .args(["--token", &token, "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start target_server.py");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("target_server.py printed {line:?}"));
        Some(Self {
            child,
            base: format!("http://127.0.0.1:{port}/v2"),
            token,
        })
    }
}

/// `gatehouse serve` (IDaaS alone) on a SQLite file; SIGKILLed on drop.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `gatehouse serve` on `dir/idaas.db` (master key `dir/master.key`, created on the first
    /// start) and waits for `/healthz`. `first`: a fresh database, whose bootstrap API token (printed
    /// once) is awaited and returned.
    pub async fn start(dir: &Path, first: bool) -> (Self, Option<String>) {
        use std::io::{BufRead, BufReader};
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let key = dir.join("master.key");
        if !key.exists() {
            std::fs::write(&key, hex::encode(rand::random::<[u8; 32]>())).unwrap();
        }
        let db = format!("sqlite://{}?mode=rwc", dir.join("idaas.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &base])
            .args(["--database-url", &db])
            .arg("--master-key-file")
            .arg(&key)
            .arg("--insecure-cookies")
            // The SCIM target (Cloud SSO) runs in-process on 127.0.0.1.
            .arg("--allow-private-targets")
            .args(["--argon2-memory-kib", "64", "--argon2-iterations", "1"])
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gatehouse serve");
        // stderr: the "listening" line, then (first start only) the bootstrap token; the rest
        // is copied to our stderr by a thread.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("API token") || line.contains("IDaaS listening") {
                    let _ = tx.send(line);
                } else {
                    eprintln!("[serve] {line}");
                }
            }
        });
        let mut serve = Serve { child, base };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut token = None;
        loop {
            assert!(Instant::now() < deadline, "gatehouse serve did not come up");
            if let Some(status) = serve.child.try_wait().unwrap() {
                panic!("gatehouse serve exited early: {status}");
            }
            while let Ok(line) = rx.try_recv() {
                if line.contains("API token")
                    && let Some((_, t)) = line.rsplit_once(": ")
                {
                    token = Some(t.trim().to_owned());
                }
            }
            // A fresh database prints the bootstrap token once the listener is up.
            if (token.is_some() || !first)
                && reqwest::get(format!("{}/healthz", serve.base))
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                return (serve, token);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL (no shutdown, no flush): a crash.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "serve exited cleanly: {status}");
    }
}
