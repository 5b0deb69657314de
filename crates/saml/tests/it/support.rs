//! Shared helpers for the integration tests: external tools, keys, temp dirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use saml::key::{Certificate, SigningKey};
use time::macros::datetime;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `GATEHOUSE_REQUIRE_PEERS=1`: a missing peer (Python with its modules, `xmlsec1`,
/// `openssl`) then fails the test instead of skipping it (CI sets it).
pub fn peers_required() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// A peer the test `test` needs is missing (`why`): prints `SKIP …` and returns `None`, or
/// panics when [`peers_required`].
pub fn missing_peer<T>(test: &str, why: &str) -> Option<T> {
    if peers_required() {
        panic!(
            "{test}: required peer missing: {why} (GATEHOUSE_REQUIRE_PEERS=1; unset it to skip instead)"
        );
    }
    println!("SKIP {test}: {why} (set GATEHOUSE_REQUIRE_PEERS=1 to make this a failure)");
    None
}

/// Runs `program args` and reports whether it started and exited successfully; the error text
/// (spawn error or stderr) otherwise.
fn runs(program: &Path, args: &[&str]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`{} {}` exited with {}: {}",
            program.display(),
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", program.display())),
    }
}

/// The Python interpreter (`GATEHOUSE_PYTHON`, else `<repo>/.venv/bin/python` if present) for
/// test `test`, checked to import every module in `modules` (e.g. `["lxml.etree"]`). Missing
/// interpreter or module: see [`missing_peer`].
pub fn python(test: &str, modules: &[&str]) -> Option<PathBuf> {
    let python = match std::env::var_os("GATEHOUSE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let venv = repo_root().join(".venv/bin/python");
            if !venv.exists() {
                return missing_peer(
                    test,
                    &format!(
                        "no Python: GATEHOUSE_PYTHON is unset and {} does not exist",
                        venv.display()
                    ),
                );
            }
            venv
        }
    };
    let import = format!("import {}", modules.join(", "));
    let args: Vec<&str> = if modules.is_empty() {
        vec!["--version"]
    } else {
        vec!["-c", &import]
    };
    match runs(&python, &args) {
        Ok(()) => Some(python),
        Err(e) => missing_peer(
            test,
            &format!("Python {} with {modules:?} unusable: {e}", python.display()),
        ),
    }
}

/// The `xmlsec1` command for test `test` if it runs (`xmlsec1 --version`); see [`missing_peer`].
pub fn xmlsec1(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from("xmlsec1");
    match runs(&p, &["--version"]) {
        Ok(()) => Some(p),
        Err(e) => missing_peer(test, &format!("xmlsec1 not usable (on PATH?): {e}")),
    }
}

/// The `openssl` command for test `test` if it runs (`openssl version`); see [`missing_peer`].
pub fn openssl(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from("openssl");
    match runs(&p, &["version"]) {
        Ok(()) => Some(p),
        Err(e) => missing_peer(test, &format!("openssl CLI not usable (on PATH?): {e}")),
    }
}

/// The real-world metadata fixture folder (`GATEHOUSE_METADATA_FIXTURES`, else
/// `shared/fixtures/metadata` beside the repository). It lives outside the repository and may
/// legitimately be absent (in CI too), so an absent folder prints `SKIP …` and returns `None`
/// even under `GATEHOUSE_REQUIRE_PEERS=1`.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("GATEHOUSE_METADATA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/fixtures/metadata"));
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIP {test}: metadata fixtures folder {} is absent (skipped even with GATEHOUSE_REQUIRE_PEERS=1: it is not part of the repository)",
            dir.display()
        );
        None
    }
}

/// A fresh temporary directory under the system temp dir (removed by the caller or left for debugging).
pub fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("saml-it-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A key and a self-signed certificate for it.
pub fn key_and_cert(key: SigningKey, cn: &str) -> (SigningKey, Certificate) {
    let cert = Certificate::self_signed(
        &key,
        cn,
        datetime!(2025-01-01 0:00 UTC),
        datetime!(2045-01-01 0:00 UTC),
    )
    .unwrap();
    (key, cert)
}

/// An RSA-2048 key (generated once per test binary run) and its certificate.
pub fn rsa() -> &'static (SigningKey, Certificate) {
    static K: std::sync::OnceLock<(SigningKey, Certificate)> = std::sync::OnceLock::new();
    K.get_or_init(|| key_and_cert(SigningKey::generate_rsa(2048).unwrap(), "idp-rsa"))
}

/// A second, unrelated RSA key.
pub fn other_rsa() -> &'static (SigningKey, Certificate) {
    static K: std::sync::OnceLock<(SigningKey, Certificate)> = std::sync::OnceLock::new();
    K.get_or_init(|| key_and_cert(SigningKey::generate_rsa(2048).unwrap(), "attacker"))
}

/// An ECDSA P-256 key and its certificate.
pub fn ecdsa() -> &'static (SigningKey, Certificate) {
    static K: std::sync::OnceLock<(SigningKey, Certificate)> = std::sync::OnceLock::new();
    K.get_or_init(|| key_and_cert(SigningKey::generate_ecdsa_p256().unwrap(), "idp-ec"))
}
