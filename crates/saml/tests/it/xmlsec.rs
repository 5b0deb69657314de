//! Interop: everything we sign must verify with the `xmlsec1` tool (libxmlsec1 + libxml2).
use std::path::Path;
use std::process::Command;

use saml::algorithm::{DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};

use crate::dsig::response;
use crate::support;

const ID_ATTRS: [&str; 4] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
];

/// Runs `xmlsec1 --verify`; `node_xpath` selects which ds:Signature to check (default: the first).
fn xmlsec_verify(
    xmlsec: &Path,
    cert_pem: &Path,
    file: &Path,
    node_xpath: Option<&str>,
) -> (bool, String) {
    let mut cmd = Command::new(xmlsec);
    cmd.arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(cert_pem)
        .args(ID_ATTRS);
    if let Some(x) = node_xpath {
        cmd.arg("--node-xpath").arg(x);
    }
    let out = cmd.arg(file).output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

const ASSERTION_SIGNATURE: &str = "//*[local-name()='Assertion']/*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#']";

#[test]
fn xmlsec1_verifies_what_we_sign() {
    let Some(xmlsec) = support::xmlsec1("xmlsec1_verifies_what_we_sign") else {
        return;
    };
    let dir = support::temp_dir("xmlsec");
    let (rk, rc) = support::rsa();
    let (ek, ec) = support::ecdsa();
    let cases: [(
        &str,
        &SigningKey,
        &Certificate,
        SignatureAlgorithm,
        DigestAlgorithm,
        bool,
        bool,
    ); 5] = [
        (
            "rsa-sha256-response",
            rk,
            rc,
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha256,
            false,
            true,
        ),
        (
            "rsa-sha512-response",
            rk,
            rc,
            SignatureAlgorithm::RsaSha512,
            DigestAlgorithm::Sha512,
            false,
            true,
        ),
        (
            "rsa-sha384-assertion",
            rk,
            rc,
            SignatureAlgorithm::RsaSha384,
            DigestAlgorithm::Sha384,
            true,
            false,
        ),
        (
            "ecdsa-sha256-nested",
            ek,
            ec,
            SignatureAlgorithm::EcdsaSha256,
            DigestAlgorithm::Sha256,
            true,
            true,
        ),
        (
            "rsa-sha256-nested",
            rk,
            rc,
            SignatureAlgorithm::RsaSha256,
            DigestAlgorithm::Sha256,
            true,
            true,
        ),
    ];
    let mut verified = 0;
    let mut rejected = 0;
    for (name, key, cert, alg, digest, sign_assertion, sign_response) in cases {
        let cert_pem = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_pem, cert.to_pem()).unwrap();
        let xml = response(
            "alice@example.com",
            sign_assertion,
            sign_response,
            key,
            cert,
            alg,
            digest,
        );
        let file = dir.join(format!("{name}.xml"));
        std::fs::write(&file, &xml).unwrap();
        let mut targets: Vec<Option<&str>> = Vec::new();
        if sign_response {
            targets.push(None); // the first signature in document order is the Response's
        }
        if sign_assertion {
            targets.push(Some(ASSERTION_SIGNATURE));
        }
        for t in &targets {
            let (ok, log) = xmlsec_verify(&xmlsec, &cert_pem, &file, *t);
            assert!(
                ok,
                "{name} ({t:?}) did not verify with xmlsec1:\n{log}\n{xml}"
            );
            verified += 1;
        }
        // Tampered: the NameID changed after signing. No signature may verify.
        let tampered = dir.join(format!("{name}-tampered.xml"));
        std::fs::write(
            &tampered,
            xml.replace("alice@example.com", "admin@example.com"),
        )
        .unwrap();
        for t in &targets {
            let (ok, log) = xmlsec_verify(&xmlsec, &cert_pem, &tampered, *t);
            assert!(
                !ok,
                "{name} ({t:?}) tampered copy verified with xmlsec1:\n{log}"
            );
            rejected += 1;
        }
        // A different certificate must not verify it either.
        let other_pem = dir.join(format!("{name}-other.pem"));
        std::fs::write(&other_pem, support::other_rsa().1.to_pem()).unwrap();
        let (ok, _) = xmlsec_verify(&xmlsec, &other_pem, &file, targets[0]);
        assert!(!ok, "{name} verified with an unrelated certificate");
        rejected += 1;
    }
    println!(
        "xmlsec1: {verified} signatures verified, {rejected} tampered/wrong-key checks rejected"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
