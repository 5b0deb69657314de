//! Encrypted assertions: decryption of ciphertexts made by xmlsec1 (a third party) and by a small
//! test-side encryptor (OAEP SHA-256, sibling `EncryptedKey`), and the rule "an encrypted assertion
//! is accepted only when a trusted signature covers it" (Keycloak CVE-2026-2092): either its own
//! signature (verified on the decrypted tree) or the Response signature over the ciphertext.

use std::process::Command;
use std::sync::OnceLock;

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{
    NameId, ResponseParams, ResponseValidationError as E, SpExpectations, build_response,
    validate_response,
};
use saml::xml::reader::XmlError;
use saml::xmlenc::{DecryptionKey, XmlEncError};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support;

const IDP: &str = "https://idp.example.org/metadata";
const SP: &str = "https://sp.example.com/saml/sp/d-1";
const ACS: &str = "https://sp.example.com/saml/acs/1";
const REQ_ID: &str = "_req-enc";
const NOW: OffsetDateTime = datetime!(2026-05-01 10:00:00 UTC);
const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";

fn sp() -> &'static (SigningKey, Certificate) {
    static K: OnceLock<(SigningKey, Certificate)> = OnceLock::new();
    K.get_or_init(|| support::key_and_cert(SigningKey::generate_rsa(2048).unwrap(), "sp-enc"))
}

fn sp_keys() -> Vec<DecryptionKey> {
    vec![DecryptionKey::from_signing_key(&sp().0).unwrap()]
}

fn params(sign_response: bool) -> ResponseParams {
    ResponseParams {
        response_id: "_resp-enc".into(),
        assertion_id: "_assert-enc".into(),
        issue_instant: NOW,
        issuer: IDP.into(),
        destination: ACS.into(),
        in_response_to: Some(REQ_ID.into()),
        audience: SP.into(),
        name_id: NameId {
            format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            value: "alice@example.com".into(),
            sp_name_qualifier: None,
        },
        subject_not_on_or_after: NOW + Duration::minutes(5),
        not_before: NOW - Duration::seconds(30),
        not_on_or_after: NOW + Duration::minutes(5),
        authn_instant: NOW,
        session_index: "_s1".into(),
        session_not_on_or_after: None,
        authn_context_class_ref: "urn:oasis:names:tc:SAML:2.0:ac:classes:Password".into(),
        attributes: Vec::new(),
        sign_response,
        sign_assertion: true,
    }
}

fn expect<'a>(certs: &'a [Certificate], keys: &'a [DecryptionKey]) -> SpExpectations<'a> {
    SpExpectations {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        trusted_certs: certs,
        policy: AlgorithmPolicy::STRICT,
        now: NOW + Duration::seconds(1),
        max_skew: Duration::seconds(60),
        expected_in_response_to: Some(REQ_ID),
        allow_unsolicited: false,
        require_signed_assertion: false,
        decryption_keys: keys,
    }
}

/// A Response whose Assertion is signed (and nothing else), split as (before, assertion, after).
fn signed_assertion_response() -> (String, String, String) {
    let (key, cert) = support::rsa();
    let xml = build_response(
        &params(false),
        key,
        cert,
        SignatureAlgorithm::RsaSha256,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    (
        xml[..start].to_owned(),
        xml[start..end].to_owned(),
        xml[end..].to_owned(),
    )
}

/// Removes the one `ds:Signature` from an assertion.
fn strip_signature(assertion: &str) -> String {
    let start = assertion.find("<ds:Signature").unwrap();
    let end = assertion.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &assertion[..start], &assertion[end..])
}

#[derive(Clone, Copy, Debug)]
enum Data {
    Aes128Cbc,
    Aes256Cbc,
    Aes128Gcm,
    Aes256Gcm,
}

impl Data {
    fn uri(self) -> &'static str {
        match self {
            Data::Aes128Cbc => "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            Data::Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            Data::Aes128Gcm => "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            Data::Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        }
    }
    fn key_len(self) -> usize {
        match self {
            Data::Aes128Cbc | Data::Aes128Gcm => 16,
            Data::Aes256Cbc | Data::Aes256Gcm => 32,
        }
    }
    fn is_cbc(self) -> bool {
        matches!(self, Data::Aes128Cbc | Data::Aes256Cbc)
    }
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    /// xmlenc#rsa-oaep-mgf1p, SHA-1.
    Mgf1p,
    /// xmlenc11#rsa-oaep, SHA-256 digest and MGF1-SHA-256.
    Oaep11Sha256,
    /// xmlenc11#rsa-oaep with defaults (SHA-1 / MGF1-SHA-1).
    Oaep11Default,
    /// xmlenc#rsa-1_5 (the wrapped key is OAEP; it must be refused before any RSA operation).
    Pkcs1,
    /// rsa-oaep-mgf1p with a SHA-256 digest (MGF1-SHA-1): not offered by aws-lc-rs.
    Mgf1pSha256,
}

impl Transport {
    fn method(self) -> String {
        match self {
            Transport::Mgf1p => format!(r#"<xenc:EncryptionMethod Algorithm="{XENC}rsa-oaep-mgf1p"><ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod>"#),
            Transport::Oaep11Sha256 => r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"><ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></xenc:EncryptionMethod>"#.to_owned(),
            Transport::Oaep11Default => r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"/>"#.to_owned(),
            Transport::Pkcs1 => format!(r#"<xenc:EncryptionMethod Algorithm="{XENC}rsa-1_5"/>"#),
            Transport::Mgf1pSha256 => format!(r#"<xenc:EncryptionMethod Algorithm="{XENC}rsa-oaep-mgf1p"><ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></xenc:EncryptionMethod>"#),
        }
    }
}

/// How the encryptor lays out the result, and what it breaks on purpose.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    /// `EncryptedKey` as a sibling of `EncryptedData`, named by a `RetrievalMethod`.
    sibling_key: bool,
    /// Flip a bit of the GCM tag / set the CBC pad byte to 0.
    tamper: bool,
}

/// Encrypts `plaintext` to `cert` the way an IdP does; returns the `saml:EncryptedAssertion`.
fn encrypt(plaintext: &str, cert: &Certificate, data: Data, kt: Transport, o: Options) -> String {
    let rng = SystemRandom::new();
    let mut cek = vec![0u8; data.key_len()];
    rng.fill(&mut cek).unwrap();
    let mut out = Vec::new();
    if data.is_cbc() {
        let mut iv = [0u8; 16];
        rng.fill(&mut iv).unwrap();
        let pad = 16 - plaintext.len() % 16;
        let mut buf = plaintext.as_bytes().to_vec();
        let mut random = vec![0u8; pad - 1];
        rng.fill(&mut random).unwrap();
        buf.extend_from_slice(&random);
        buf.push(u8::try_from(pad).unwrap());
        let alg = if data.key_len() == 16 {
            &AES_128
        } else {
            &AES_256
        };
        let key = EncryptingKey::cbc(UnboundCipherKey::new(alg, &cek).unwrap()).unwrap();
        key.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(FixedLength::from(iv)))
            .unwrap();
        if o.tamper {
            // The last plaintext byte (pad length) becomes 0: CBC flips it through the
            // previous ciphertext block.
            let n = buf.len();
            buf[n - 17] ^= u8::try_from(pad).unwrap();
        }
        out.extend_from_slice(&iv);
        out.extend_from_slice(&buf);
    } else {
        let mut nonce = [0u8; 12];
        rng.fill(&mut nonce).unwrap();
        let alg = if data.key_len() == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, &cek).unwrap());
        let mut buf = plaintext.as_bytes().to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .unwrap();
        if o.tamper {
            let n = buf.len();
            buf[n - 1] ^= 1;
        }
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
    }
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(cert.spki_der()).unwrap())
            .unwrap();
    let oaep = match kt {
        Transport::Oaep11Sha256 => &OAEP_SHA256_MGF1SHA256,
        _ => &OAEP_SHA1_MGF1SHA1,
    };
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public.encrypt(oaep, &cek, &mut wrapped, None).unwrap();
    let encrypted_key = format!(
        r#"<xenc:EncryptedKey xmlns:xenc="{XENC}" Id="_ek1">{}<xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"#,
        kt.method(),
        B64.encode(wrapped)
    );
    let (key_info, sibling) = if o.sibling_key {
        (
            r##"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:RetrievalMethod Type="http://www.w3.org/2001/04/xmlenc#EncryptedKey" URI="#_ek1"/></ds:KeyInfo>"##.to_owned(),
            encrypted_key,
        )
    } else {
        (
            format!(
                r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{encrypted_key}</ds:KeyInfo>"#
            ),
            String::new(),
        )
    };
    format!(
        r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="{XENC}" Id="_ed1" Type="{XENC}Element"><xenc:EncryptionMethod Algorithm="{}"/>{key_info}<xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>{sibling}</saml:EncryptedAssertion>"#,
        data.uri(),
        B64.encode(out)
    )
}

/// A Response whose assertion (`assertion`, or the signed one) is encrypted to the SP.
fn encrypted_response(assertion: Option<&str>, data: Data, kt: Transport, o: Options) -> String {
    let (before, signed, after) = signed_assertion_response();
    let plaintext = assertion.unwrap_or(&signed);
    format!(
        "{before}{}{after}",
        encrypt(plaintext, &sp().1, data, kt, o)
    )
}

fn idp_certs() -> Vec<Certificate> {
    vec![support::rsa().1.clone()]
}

#[test]
fn round_trips_cbc_and_gcm_with_oaep_sha1_and_sha256() {
    let certs = idp_certs();
    let keys = sp_keys();
    for data in [
        Data::Aes128Cbc,
        Data::Aes256Cbc,
        Data::Aes128Gcm,
        Data::Aes256Gcm,
    ] {
        for kt in [
            Transport::Mgf1p,
            Transport::Oaep11Sha256,
            Transport::Oaep11Default,
        ] {
            for sibling_key in [false, true] {
                let xml = encrypted_response(
                    None,
                    data,
                    kt,
                    Options {
                        sibling_key,
                        tamper: false,
                    },
                );
                let v = validate_response(&xml, &expect(&certs, &keys))
                    .unwrap_or_else(|e| panic!("{data:?}/{kt:?}/{sibling_key}: {e}"));
                assert_eq!(v.name_id.value, "alice@example.com");
                assert_eq!(v.assertion_id, "_assert-enc");
                assert!(v.signed.assertion && !v.signed.response);
            }
        }
    }
}

#[test]
fn decrypted_assertion_relying_on_ancestor_namespaces_is_parsed_in_context() {
    let (before, signed, after) = signed_assertion_response();
    let decl = format!(
        r#" xmlns:saml="{}""#,
        "urn:oasis:names:tc:SAML:2.0:assertion"
    );
    // `saml` is declared by the EncryptedAssertion (see `encrypt`), not by the plaintext.
    let bare = signed.replacen(&decl, "", 1);
    assert!(!bare[..bare.find('>').unwrap()].contains("xmlns:saml"));
    // The signature still verifies: exclusive c14n renders the inherited declaration.
    let xml = format!(
        "{before}{}{after}",
        encrypt(
            &bare,
            &sp().1,
            Data::Aes128Gcm,
            Transport::Mgf1p,
            Options::default()
        )
    );
    let certs = idp_certs();
    let keys = sp_keys();
    let v = validate_response(&xml, &expect(&certs, &keys)).unwrap();
    assert_eq!(v.name_id.value, "alice@example.com");
}

#[test]
fn encrypted_assertion_refused_without_keys_or_with_the_wrong_key() {
    let certs = idp_certs();
    let xml = encrypted_response(None, Data::Aes256Gcm, Transport::Mgf1p, Options::default());
    assert!(matches!(
        validate_response(&xml, &expect(&certs, &[])),
        Err(E::EncryptedAssertionUnsupported)
    ));
    let other = [DecryptionKey::from_signing_key(&support::other_rsa().0).unwrap()];
    assert!(matches!(
        validate_response(&xml, &expect(&certs, &other)),
        Err(E::Decryption(XmlEncError::DecryptionFailed))
    ));
    // With the wrong key first and the right one second, the right one is found.
    let both = [
        DecryptionKey::from_signing_key(&support::other_rsa().0).unwrap(),
        DecryptionKey::from_signing_key(&sp().0).unwrap(),
    ];
    assert!(validate_response(&xml, &expect(&certs, &both)).is_ok());
    // An ECDSA key cannot decrypt.
    assert!(DecryptionKey::from_signing_key(&support::ecdsa().0).is_err());
}

#[test]
fn tampered_ciphertext_is_refused() {
    let certs = idp_certs();
    let keys = sp_keys();
    for data in [Data::Aes128Gcm, Data::Aes256Cbc] {
        let xml = encrypted_response(
            None,
            data,
            Transport::Oaep11Sha256,
            Options {
                sibling_key: false,
                tamper: true,
            },
        );
        let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
        assert!(
            matches!(err, E::Decryption(XmlEncError::DecryptionFailed)),
            "{data:?}: {err}"
        );
    }
}

#[test]
fn pkcs1_v15_key_transport_and_mixed_oaep_are_refused() {
    let certs = idp_certs();
    let keys = sp_keys();
    let xml = encrypted_response(None, Data::Aes128Gcm, Transport::Pkcs1, Options::default());
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(
        matches!(err, E::Decryption(XmlEncError::Pkcs1v15Refused)),
        "{err}"
    );
    let xml = encrypted_response(
        None,
        Data::Aes128Gcm,
        Transport::Mgf1pSha256,
        Options::default(),
    );
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(
        matches!(
            err,
            E::Decryption(XmlEncError::UnsupportedOaepParameters { .. })
        ),
        "{err}"
    );
}

#[test]
fn unsigned_encrypted_assertion_in_unsigned_response_is_refused() {
    let certs = idp_certs();
    let keys = sp_keys();
    let (_, signed, _) = signed_assertion_response();
    let unsigned = strip_signature(&signed);
    let xml = encrypted_response(
        Some(&unsigned),
        Data::Aes256Gcm,
        Transport::Mgf1p,
        Options::default(),
    );
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(matches!(err, E::EncryptedAssertionUnsigned), "{err}");
}

#[test]
fn signed_assertion_modified_before_encryption_is_refused() {
    let certs = idp_certs();
    let keys = sp_keys();
    let (_, signed, _) = signed_assertion_response();
    let forged = signed.replace("alice@example.com", "admin@example.com");
    let xml = encrypted_response(
        Some(&forged),
        Data::Aes128Cbc,
        Transport::Mgf1p,
        Options::default(),
    );
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(
        matches!(
            err,
            E::Signature {
                element: "Assertion",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn decrypted_doctype_and_two_assertions_are_refused() {
    let certs = idp_certs();
    let keys = sp_keys();
    let (_, signed, _) = signed_assertion_response();
    let doctype = format!(r#"<!DOCTYPE x [<!ENTITY a "alice">]>{signed}"#);
    let xml = encrypted_response(
        Some(&doctype),
        Data::Aes256Gcm,
        Transport::Mgf1p,
        Options::default(),
    );
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(matches!(err, E::DecryptedXml(XmlError::Doctype)), "{err}");

    // Two assertions (the second with another ID, so IDs stay unique).
    let two = format!("{signed}{}", signed.replace("_assert-enc", "_assert-two"));
    let xml = encrypted_response(
        Some(&two),
        Data::Aes256Gcm,
        Transport::Mgf1p,
        Options::default(),
    );
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(matches!(err, E::DecryptedNotOneAssertion), "{err}");

    // A signed assertion wrapping a forged one inside the plaintext.
    let nested = signed.replacen(
        "</saml:Assertion>",
        &format!(
            "{}</saml:Assertion>",
            strip_signature(&signed).replace("_assert-enc", "_assert-inner")
        ),
        1,
    );
    let xml = encrypted_response(
        Some(&nested),
        Data::Aes256Gcm,
        Transport::Mgf1p,
        Options::default(),
    );
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(matches!(err, E::DecryptedNotOneAssertion), "{err}");

    // Text beside the assertion, and something that is not an assertion.
    for plaintext in [
        format!("junk{signed}"),
        r#"<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:Issuer>"#
            .to_owned(),
    ] {
        let xml = encrypted_response(
            Some(&plaintext),
            Data::Aes256Gcm,
            Transport::Mgf1p,
            Options::default(),
        );
        let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
        assert!(matches!(err, E::DecryptedNotOneAssertion), "{err}");
    }
}

#[test]
fn encrypted_and_plain_assertion_together_are_refused() {
    let certs = idp_certs();
    let keys = sp_keys();
    let (before, signed, after) = signed_assertion_response();
    let enc = encrypt(
        &signed.replace("_assert-enc", "_assert-2"),
        &sp().1,
        Data::Aes128Gcm,
        Transport::Mgf1p,
        Options::default(),
    );
    let xml = format!("{before}{signed}{enc}{after}");
    let err = validate_response(&xml, &expect(&certs, &keys)).unwrap_err();
    assert!(matches!(err, E::MultipleAssertions { count: 2 }), "{err}");
}

// ---- xmlsec1: third-party ciphertexts and Response signatures over the EncryptedAssertion ----

fn write_pems(dir: &std::path::Path) {
    std::fs::write(dir.join("sp.crt"), sp().1.to_pem()).unwrap();
    std::fs::write(
        dir.join("idp.key"),
        support::rsa().0.to_pkcs8_pem().unwrap().as_str(),
    )
    .unwrap();
    std::fs::write(dir.join("idp.crt"), support::rsa().1.to_pem()).unwrap();
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// xmlsec1 encrypts the Assertion of `(before, assertion, after)` in place (inside a
/// `saml:EncryptedAssertion`), with rsa-oaep-mgf1p key transport and `data` encryption.
fn xmlsec_encrypt(
    xmlsec: &std::path::Path,
    dir: &std::path::Path,
    parts: (&str, &str, &str),
    data: Data,
    session: &str,
) -> String {
    let (before, assertion, after) = parts;
    std::fs::write(
        dir.join("doc.xml"),
        format!(r#"{before}<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{assertion}</saml:EncryptedAssertion>{after}"#),
    )
    .unwrap();
    let template = format!(
        r#"<xenc:EncryptedData xmlns:xenc="{XENC}" Type="{XENC}Element"><xenc:EncryptionMethod Algorithm="{}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{XENC}rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#,
        data.uri()
    );
    std::fs::write(dir.join("tmpl.xml"), template).unwrap();
    run(Command::new(xmlsec)
        .current_dir(dir)
        .args(["--encrypt", "--pubkey-cert-pem", "sp.crt", "--session-key"])
        .arg(session)
        .args([
            "--xml-data",
            "doc.xml",
            "--node-name",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "tmpl.xml",
        ]))
}

/// xmlsec1 signs the whole Response (enveloped, exc-c14n, RSA-SHA256, SHA-256).
fn xmlsec_sign_response(xmlsec: &std::path::Path, dir: &std::path::Path, xml: &str) -> String {
    let issuer_end = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let template = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_resp-enc"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##;
    std::fs::write(
        dir.join("unsigned.xml"),
        format!("{}{template}{}", &xml[..issuer_end], &xml[issuer_end..]),
    )
    .unwrap();
    run(Command::new(xmlsec).current_dir(dir).args([
        "--sign",
        "--privkey-pem",
        "idp.key,idp.crt",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        "unsigned.xml",
    ]))
}

#[test]
fn xmlsec1_ciphertexts_decrypt() {
    let Some(xmlsec) = support::xmlsec1("xmlsec1_ciphertexts_decrypt") else {
        return;
    };
    let dir = support::temp_dir("xmlenc");
    write_pems(&dir);
    let certs = idp_certs();
    let keys = sp_keys();
    let (before, signed, after) = signed_assertion_response();
    for (data, session) in [
        (Data::Aes256Cbc, "aes-256"),
        (Data::Aes128Cbc, "aes-128"),
        (Data::Aes128Gcm, "aes-128"),
        (Data::Aes256Gcm, "aes-256"),
    ] {
        let xml = xmlsec_encrypt(&xmlsec, &dir, (&before, &signed, &after), data, session);
        assert!(xml.contains("EncryptedData") && !xml.contains("<saml:Subject"));
        let v = validate_response(&xml, &expect(&certs, &keys))
            .unwrap_or_else(|e| panic!("{data:?}: {e}\n{xml}"));
        assert_eq!(v.name_id.value, "alice@example.com");
        assert!(v.signed.assertion);
        // The wrong key cannot read it.
        let other = [DecryptionKey::from_signing_key(&support::other_rsa().0).unwrap()];
        assert!(validate_response(&xml, &expect(&certs, &other)).is_err());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unsigned_encrypted_assertion_accepted_only_inside_a_signed_response() {
    let Some(xmlsec) = support::xmlsec1("unsigned_encrypted_assertion_signed_response") else {
        return;
    };
    let dir = support::temp_dir("xmlenc-sig");
    write_pems(&dir);
    let certs = idp_certs();
    let keys = sp_keys();
    let (before, signed, after) = signed_assertion_response();
    let unsigned = strip_signature(&signed);
    let encrypted = xmlsec_encrypt(
        &xmlsec,
        &dir,
        (&before, &unsigned, &after),
        Data::Aes256Cbc,
        "aes-256",
    );
    // Unsigned anywhere: refused.
    let err = validate_response(&encrypted, &expect(&certs, &keys)).unwrap_err();
    assert!(matches!(err, E::EncryptedAssertionUnsigned), "{err}");

    // The Response signature covers the EncryptedAssertion: accepted...
    let xml = xmlsec_sign_response(&xmlsec, &dir, &encrypted);
    let v =
        validate_response(&xml, &expect(&certs, &keys)).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(v.name_id.value, "alice@example.com");
    assert!(v.signed.response && !v.signed.assertion);
    // ...unless the SP requires a signed assertion...
    let mut strict = expect(&certs, &keys);
    strict.require_signed_assertion = true;
    assert!(matches!(
        validate_response(&xml, &strict),
        Err(E::AssertionNotSigned)
    ));
    // ...and a swapped ciphertext breaks the Response signature.
    let swapped = {
        let start = xml.find("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len();
        let mut s = xml.clone();
        let c = if &s[start..start + 1] == "A" {
            "B"
        } else {
            "A"
        };
        s.replace_range(start..start + 1, c);
        s
    };
    assert!(matches!(
        validate_response(&swapped, &expect(&certs, &keys)),
        Err(E::Signature {
            element: "Response",
            ..
        })
    ));

    // Signed response with a signed encrypted assertion: both verified.
    let both = xmlsec_sign_response(
        &xmlsec,
        &dir,
        &xmlsec_encrypt(
            &xmlsec,
            &dir,
            (&before, &signed, &after),
            Data::Aes128Gcm,
            "aes-128",
        ),
    );
    let v = validate_response(&both, &strict).unwrap();
    assert!(v.signed.response && v.signed.assertion);
    std::fs::remove_dir_all(&dir).ok();
}
