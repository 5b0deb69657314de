//! Signing keys and X.509 certificates (aws-lc-rs for the cryptography, rcgen to issue
//! self-signed certificates, x509-parser to read certificates).
//!
//! ECDSA signatures are produced and checked in the fixed-width `r || s` form that XML-DSig
//! (RFC 4051) and the SAML HTTP-Redirect binding use, never in ASN.1 DER form.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use time::OffsetDateTime;
use x509_parser::oid_registry;
use zeroize::Zeroizing;

use crate::algorithm::SignatureAlgorithm;
use crate::dsig::DsigError;

/// Errors while loading, generating or using keys and certificates.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PKCS#8 document is not an RSA, P-256, P-384 or P-521 private key we can use.
    #[error("unsupported or malformed PKCS#8 private key")]
    BadPrivateKey,
    /// Key generation failed.
    #[error("key generation failed")]
    Generation,
    /// RSA key sizes we generate: 2048, 3072, 4096 or 8192 bits.
    #[error("unsupported RSA key size {0}")]
    UnsupportedKeySize(usize),
    /// This key cannot sign with that algorithm (e.g. ECDSA key with an RSA algorithm).
    #[error("key cannot sign with {0:?}")]
    AlgorithmMismatch(SignatureAlgorithm),
    /// The signing operation itself failed.
    #[error("signing failed")]
    Signing,
    /// The certificate is not valid DER X.509.
    #[error("malformed X.509 certificate: {0}")]
    BadCertificate(String),
    /// The PEM text holds no `CERTIFICATE` block.
    #[error("no CERTIFICATE block in PEM text")]
    NoPemCertificate,
    /// Base64 decoding failed.
    #[error("invalid base64")]
    Base64,
    /// rcgen refused to build the certificate.
    #[error("certificate generation failed: {0}")]
    CertificateGeneration(String),
}

/// The elliptic curve of an ECDSA key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            Curve::P256 => SignatureAlgorithm::EcdsaSha256,
            Curve::P384 => SignatureAlgorithm::EcdsaSha384,
            Curve::P521 => SignatureAlgorithm::EcdsaSha512,
        }
    }

    fn signing(self) -> &'static sig::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }
}

enum KeyInner {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair, Curve),
}

/// A private signing key: RSA, or ECDSA on P-256 (P-384 and P-521 are accepted from PKCS#8 too).
pub struct SigningKey {
    inner: KeyInner,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            KeyInner::Rsa(k) => write!(
                f,
                "SigningKey(RSA-{}, <redacted>)",
                k.public_modulus_len() * 8
            ),
            KeyInner::Ecdsa(_, c) => write!(f, "SigningKey(ECDSA-{c:?}, <redacted>)"),
        }
    }
}

impl SigningKey {
    /// Loads a PKCS#8 (v1 or v2) DER private key: RSA, or ECDSA P-256/P-384/P-521.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            return Ok(Self {
                inner: KeyInner::Rsa(k),
            });
        }
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            if let Ok(k) = EcdsaKeyPair::from_pkcs8(curve.signing(), der) {
                return Ok(Self {
                    inner: KeyInner::Ecdsa(k, curve),
                });
            }
        }
        Err(KeyError::BadPrivateKey)
    }

    /// Loads a `-----BEGIN PRIVATE KEY-----` PEM block (PKCS#8).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let der = Zeroizing::new(pem_block(pem, "PRIVATE KEY").ok_or(KeyError::BadPrivateKey)?);
        Self::from_pkcs8_der(&der)
    }

    /// Generates a new RSA key of `bits` (2048, 3072, 4096 or 8192).
    pub fn generate_rsa(bits: usize) -> Result<Self, KeyError> {
        use aws_lc_rs::rsa::KeySize;
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => return Err(KeyError::UnsupportedKeySize(other)),
        };
        let k = RsaKeyPair::generate(size).map_err(|_| KeyError::Generation)?;
        Ok(Self {
            inner: KeyInner::Rsa(k),
        })
    }

    /// Generates a new ECDSA P-256 key.
    pub fn generate_ecdsa_p256() -> Result<Self, KeyError> {
        let k = EcdsaKeyPair::generate(Curve::P256.signing()).map_err(|_| KeyError::Generation)?;
        Ok(Self {
            inner: KeyInner::Ecdsa(k, Curve::P256),
        })
    }

    /// The PKCS#8 v1 DER encoding of the private key, wiped from memory on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.inner {
            KeyInner::Rsa(k) => {
                let der = k.as_der().map_err(|_| KeyError::BadPrivateKey)?;
                Ok(Zeroizing::new(der.as_ref().to_vec()))
            }
            KeyInner::Ecdsa(k, _) => {
                let doc = k.to_pkcs8v1().map_err(|_| KeyError::BadPrivateKey)?;
                Ok(Zeroizing::new(doc.as_ref().to_vec()))
            }
        }
    }

    /// The PKCS#8 PEM encoding of the private key (`PRIVATE KEY`), wiped from memory on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        Ok(Zeroizing::new(to_pem_block(&der, "PRIVATE KEY")))
    }

    /// The default signature algorithm for this key (RSA-SHA256, or ECDSA with the curve's hash).
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match &self.inner {
            KeyInner::Rsa(_) => SignatureAlgorithm::RsaSha256,
            KeyInner::Ecdsa(_, c) => c.signature_algorithm(),
        }
    }

    /// Whether this key can sign with `alg`.
    pub fn supports(&self, alg: SignatureAlgorithm) -> bool {
        match &self.inner {
            KeyInner::Rsa(_) => matches!(
                alg,
                SignatureAlgorithm::RsaSha256
                    | SignatureAlgorithm::RsaSha384
                    | SignatureAlgorithm::RsaSha512
            ),
            KeyInner::Ecdsa(_, c) => c.signature_algorithm() == alg,
        }
    }

    /// The DER SubjectPublicKeyInfo of the public key.
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            KeyInner::Rsa(k) => k
                .public_key()
                .as_der()
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| KeyError::BadPrivateKey),
            KeyInner::Ecdsa(k, _) => k
                .public_key()
                .as_der()
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| KeyError::BadPrivateKey),
        }
    }

    /// Signs `data` (the whole message; it is hashed here). RSA: PKCS#1 v1.5; ECDSA: raw `r||s`.
    /// SHA-1 is never used for signing.
    pub fn sign(&self, alg: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.inner {
            KeyInner::Rsa(k) => {
                let enc: &'static dyn sig::RsaEncoding = match alg {
                    SignatureAlgorithm::RsaSha256 => &sig::RSA_PKCS1_SHA256,
                    SignatureAlgorithm::RsaSha384 => &sig::RSA_PKCS1_SHA384,
                    SignatureAlgorithm::RsaSha512 => &sig::RSA_PKCS1_SHA512,
                    other => return Err(KeyError::AlgorithmMismatch(other)),
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(enc, &rng, data, &mut out)
                    .map_err(|_| KeyError::Signing)?;
                Ok(out)
            }
            KeyInner::Ecdsa(k, c) => {
                if c.signature_algorithm() != alg {
                    return Err(KeyError::AlgorithmMismatch(alg));
                }
                let s = k.sign(&rng, data).map_err(|_| KeyError::Signing)?;
                Ok(s.as_ref().to_vec())
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PublicKeyKind {
    Rsa,
    Ec(Curve),
    Other,
}

/// An X.509 certificate (DER), parsed once; used to publish and to check signatures.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    spki: Vec<u8>,
    kind: PublicKeyKind,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    subject: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .field("sha256", &self.sha256_fingerprint())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let der = der.into();
        let (rest, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(KeyError::BadCertificate(
                "trailing bytes after certificate".into(),
            ));
        }
        let pk = cert.public_key();
        let alg = &pk.algorithm;
        let kind = if alg.algorithm == oid_registry::OID_PKCS1_RSAENCRYPTION {
            PublicKeyKind::Rsa
        } else if alg.algorithm == oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
            match curve {
                Some(c) if c == oid_registry::OID_EC_P256 => PublicKeyKind::Ec(Curve::P256),
                Some(c) if c == oid_registry::OID_NIST_EC_P384 => PublicKeyKind::Ec(Curve::P384),
                Some(c) if c == oid_registry::OID_NIST_EC_P521 => PublicKeyKind::Ec(Curve::P521),
                _ => PublicKeyKind::Other,
            }
        } else {
            PublicKeyKind::Other
        };
        let spki = pk.raw.to_vec();
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        let subject = cert.subject().to_string();
        Ok(Self {
            der,
            spki,
            kind,
            not_before,
            not_after,
            subject,
        })
    }

    /// Parses the first `-----BEGIN CERTIFICATE-----` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let der = pem_block(pem, "CERTIFICATE").ok_or(KeyError::NoPemCertificate)?;
        Self::from_der(der)
    }

    /// Parses base64 DER as found in `ds:X509Certificate` (any whitespace inside is ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        Self::from_der(decode_base64_lenient(text).ok_or(KeyError::Base64)?)
    }

    /// Generates a self-signed certificate for `key`, valid from `not_before` to `not_after`.
    pub fn self_signed(
        key: &SigningKey,
        common_name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, KeyError> {
        let pkcs8 = key.to_pkcs8_der()?;
        let kp = rcgen::KeyPair::try_from(pkcs8.as_slice())
            .map_err(|e| KeyError::CertificateGeneration(e.to_string()))?;
        let mut params = rcgen::CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, common_name);
        params.distinguished_name = dn;
        let cert = params
            .self_signed(&kp)
            .map_err(|e| KeyError::CertificateGeneration(e.to_string()))?;
        Self::from_der(cert.der().as_ref().to_vec())
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Base64 of the DER, one line, as written into `ds:X509Certificate` and metadata.
    pub fn to_base64(&self) -> String {
        B64.encode(&self.der)
    }

    /// PEM text (`-----BEGIN CERTIFICATE-----`, 64-column lines).
    pub fn to_pem(&self) -> String {
        to_pem_block(&self.der, "CERTIFICATE")
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the validity period.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The subject distinguished name, as text.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-256 of the DER certificate, lowercase hex.
    pub fn sha256_fingerprint(&self) -> String {
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.der,
        ))
    }

    /// Checks `signature` over `data` with this certificate's public key. ECDSA signatures
    /// must be in raw `r||s` form. The algorithm must fit the key (curve and hash).
    pub fn verify_signature(
        &self,
        alg: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), DsigError> {
        let params: &'static dyn sig::VerificationAlgorithm = match (self.kind, alg) {
            (PublicKeyKind::Rsa, SignatureAlgorithm::RsaSha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (PublicKeyKind::Rsa, SignatureAlgorithm::RsaSha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (PublicKeyKind::Rsa, SignatureAlgorithm::RsaSha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (PublicKeyKind::Rsa, SignatureAlgorithm::RsaSha1) => {
                &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (PublicKeyKind::Ec(Curve::P256), SignatureAlgorithm::EcdsaSha256) => {
                &sig::ECDSA_P256_SHA256_FIXED
            }
            (PublicKeyKind::Ec(Curve::P384), SignatureAlgorithm::EcdsaSha384) => {
                &sig::ECDSA_P384_SHA384_FIXED
            }
            (PublicKeyKind::Ec(Curve::P521), SignatureAlgorithm::EcdsaSha512) => {
                &sig::ECDSA_P521_SHA512_FIXED
            }
            _ => return Err(DsigError::KeyAlgorithmMismatch(alg)),
        };
        sig::UnparsedPublicKey::new(params, &self.spki)
            .verify(data, signature)
            .map_err(|_| DsigError::BadSignature)
    }
}

/// Decodes base64, ignoring ASCII whitespace anywhere (as in `ds:X509Certificate`, `SignatureValue`).
pub fn decode_base64_lenient(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(compact.as_bytes()).ok()
}

fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    decode_base64_lenient(&pem[start..stop])
}

fn to_pem_block(der: &[u8], label: &str) -> String {
    let b64 = B64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cert_for(key: &SigningKey) -> Certificate {
        Certificate::self_signed(
            key,
            "idp.example.com",
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2035-01-01 0:00 UTC),
        )
        .unwrap()
    }

    #[test]
    fn rsa_pkcs8_round_trip_and_sign_verify() {
        let key = SigningKey::generate_rsa(2048).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let again = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(again.to_pkcs8_der().unwrap().as_slice(), der.as_slice());
        assert_eq!(
            again.public_key_spki_der().unwrap(),
            key.public_key_spki_der().unwrap()
        );
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let from_pem = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(from_pem.to_pkcs8_der().unwrap().as_slice(), der.as_slice());

        let cert = cert_for(&key);
        assert_eq!(
            cert.spki_der(),
            key.public_key_spki_der().unwrap().as_slice()
        );
        for alg in [
            SignatureAlgorithm::RsaSha256,
            SignatureAlgorithm::RsaSha384,
            SignatureAlgorithm::RsaSha512,
        ] {
            let s = again.sign(alg, b"hello").unwrap();
            assert_eq!(s.len(), 256);
            cert.verify_signature(alg, b"hello", &s).unwrap();
            assert!(matches!(
                cert.verify_signature(alg, b"hellO", &s),
                Err(DsigError::BadSignature)
            ));
        }
        assert!(matches!(
            key.sign(SignatureAlgorithm::RsaSha1, b"x"),
            Err(KeyError::AlgorithmMismatch(_))
        ));
        assert!(matches!(
            key.sign(SignatureAlgorithm::EcdsaSha256, b"x"),
            Err(KeyError::AlgorithmMismatch(_))
        ));
    }

    #[test]
    fn ecdsa_pkcs8_round_trip_fixed_signatures() {
        let key = SigningKey::generate_ecdsa_p256().unwrap();
        assert_eq!(key.algorithm(), SignatureAlgorithm::EcdsaSha256);
        let der = key.to_pkcs8_der().unwrap();
        let again = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(
            again.public_key_spki_der().unwrap(),
            key.public_key_spki_der().unwrap()
        );
        let cert = cert_for(&key);
        let s = again
            .sign(SignatureAlgorithm::EcdsaSha256, b"data")
            .unwrap();
        assert_eq!(s.len(), 64, "raw r||s, not DER");
        cert.verify_signature(SignatureAlgorithm::EcdsaSha256, b"data", &s)
            .unwrap();
        assert!(
            cert.verify_signature(SignatureAlgorithm::RsaSha256, b"data", &s)
                .is_err()
        );
        assert!(
            cert.verify_signature(SignatureAlgorithm::EcdsaSha384, b"data", &s)
                .is_err()
        );
    }

    #[test]
    fn bad_keys_rejected() {
        assert!(matches!(
            SigningKey::from_pkcs8_der(b"nope"),
            Err(KeyError::BadPrivateKey)
        ));
        assert!(matches!(
            SigningKey::generate_rsa(1024),
            Err(KeyError::UnsupportedKeySize(1024))
        ));
    }

    #[test]
    fn debug_hides_key_material() {
        let key = SigningKey::generate_ecdsa_p256().unwrap();
        let dbg = format!("{key:?}");
        let der = key.to_pkcs8_der().unwrap();
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&hex::encode(&der[der.len() - 8..])));
        assert!(!dbg.contains(&B64.encode(&der[..])));
    }

    #[test]
    fn certificate_pem_base64_round_trips() {
        let key = SigningKey::generate_ecdsa_p256().unwrap();
        let cert = cert_for(&key);
        assert_eq!(cert.not_after(), datetime!(2035-01-01 0:00 UTC));
        assert_eq!(cert.not_before(), datetime!(2025-01-01 0:00 UTC));
        assert!(cert.subject().contains("idp.example.com"));
        let pem = cert.to_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(Certificate::from_pem(&pem).unwrap(), cert);
        let b64 = cert.to_base64();
        assert_eq!(Certificate::from_base64(&b64).unwrap(), cert);
        // whitespace-tolerant, as in ds:X509Certificate with line breaks
        let wrapped: String = b64
            .as_bytes()
            .chunks(40)
            .map(|c| format!("\n\t  {}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(Certificate::from_base64(&wrapped).unwrap(), cert);
        assert_eq!(cert.sha256_fingerprint().len(), 64);
        assert!(matches!(
            Certificate::from_base64("!!"),
            Err(KeyError::Base64)
        ));
        assert!(matches!(
            Certificate::from_pem("nothing"),
            Err(KeyError::NoPemCertificate)
        ));
        assert!(matches!(
            Certificate::from_der(vec![1, 2, 3]),
            Err(KeyError::BadCertificate(_))
        ));
    }
}
