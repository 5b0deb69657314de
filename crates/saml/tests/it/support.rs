//! Shared helpers for the integration tests: external tools, keys, temp dirs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use saml::key::{Certificate, SigningKey};
use time::macros::datetime;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter with lxml: `GATEHOUSE_PYTHON`, else `<repo>/.venv/bin/python` if present.
pub fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GATEHOUSE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = repo_root().join(".venv/bin/python");
    venv.exists().then_some(venv)
}

/// `xmlsec1` if it runs.
pub fn xmlsec1() -> Option<PathBuf> {
    let ok = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then(|| PathBuf::from("xmlsec1"))
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
