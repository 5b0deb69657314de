//! Headless Chromium for the browser tests: finding the browser and its driver (SKIP, or FAIL
//! under `GATEHOUSE_REQUIRE_PEERS=1`), starting chromedriver in its own process group, opening a
//! session with this machine's flags, and waiting for pages.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::free_port;

/// Evaluates `$probe` (an `Option`, usually `async { .. }.await`) until it is `Some`, or panics
/// after [`WAIT`]. A macro, not a function taking an async closure: those futures are not `Send`.
macro_rules! until {
    ($what:expr, $probe:expr) => {{
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = $probe {
                break v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

/// How long a page may take to show what we wait for.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The browser and its driver, or `None` (after a SKIP line) when they are not installed.
pub fn peers() -> Option<(PathBuf, PathBuf)> {
    let path = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = path("GATEHOUSE_CHROMIUM", "/usr/bin/chromium");
    let chromedriver = path("GATEHOUSE_CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &chromedriver]
        .into_iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some((chromium, chromedriver));
    }
    let why = format!(
        "{} not installed (apt-get install chromium chromium-driver)",
        missing.join(", ")
    );
    assert!(
        std::env::var("GATEHOUSE_REQUIRE_PEERS").as_deref() != Ok("1"),
        "GATEHOUSE_REQUIRE_PEERS=1 but {why}"
    );
    eprintln!("SKIP browser: {why}");
    None
}

/// chromedriver, in its own process group with the Chromium it starts; the group is killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_driver(chromedriver: &Path, dir: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg(format!(
            "--log-path={}",
            dir.join("chromedriver.log").display()
        ))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let mut driver = Driver { child, port };
    let status = format!("http://127.0.0.1:{port}/status");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(exit) = driver.child.try_wait().unwrap() {
            panic!("chromedriver exited at start: {exit}");
        }
        if let Ok(r) = reqwest::get(&status).await
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver not ready within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new Chromium session with a fresh profile; downloads go to `dir/downloads`.
pub async fn open_browser(driver: &Driver, chromium: &Path, dir: &Path) -> Client {
    let profile = dir.join("profile");
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&profile).unwrap();
    std::fs::create_dir_all(&downloads).unwrap();
    let caps = json!({
        "browserName": "chrome",
        "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1280,1000",
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "credentials_enable_service": false,
                "profile.password_manager_enabled": false,
            },
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!("json! object")
    };
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
}

/// Waits until the browser is on a URL containing `url_part` and shows `marker`.
pub async fn on_page(c: &Client, url_part: &str, marker: Locator<'_>) -> Element {
    until!(
        format!("{marker:?} on a page at *{url_part}*"),
        async {
            let url = c.current_url().await.ok()?;
            if !url.as_str().contains(url_part) {
                return None;
            }
            c.find(marker).await.ok()
        }
        .await
    )
}

pub async fn find(c: &Client, locator: Locator<'_>) -> Element {
    c.find(locator)
        .await
        .unwrap_or_else(|e| panic!("{locator:?} not on the page: {e}"))
}

pub async fn click_button(c: &Client, text: &str) {
    let xpath = format!("//button[normalize-space()='{text}']");
    find(c, Locator::XPath(&xpath)).await.click().await.unwrap();
}

pub async fn body_text(c: &Client) -> String {
    find(c, Locator::Css("body")).await.text().await.unwrap()
}
