//! XML Encryption (decryption only) of `saml:EncryptedAssertion`, without I/O.
//!
//! Supported, as produced by xmlsec1, pysaml2, Shibboleth, AD FS and Okta:
//! - data: AES-128/256-CBC (`xmlenc#aes128-cbc`, `#aes256-cbc`; IV = first 16 bytes, ISO 10126
//!   padding checked and stripped) and AES-128/256-GCM (`xmlenc11#aes128-gcm`, `#aes256-gcm`;
//!   IV = first 12 bytes, tag = last 16);
//! - key transport: `xmlenc#rsa-oaep-mgf1p` (digest SHA-1, MGF1-SHA-1) and `xmlenc11#rsa-oaep`
//!   with digest and MGF1 both SHA-1, or both SHA-256 / SHA-384 / SHA-512 (aws-lc-rs offers only
//!   matching pairs; `rsa-oaep-mgf1p` with a SHA-256 digest mixes SHA-256 with MGF1-SHA-1 and is
//!   refused with [`XmlEncError::UnsupportedOaepParameters`]); `xenc:OAEPparams` is the OAEP label;
//! - the `xenc:EncryptedKey` inline in `EncryptedData/ds:KeyInfo`, or a sibling of `EncryptedData`
//!   inside the same `EncryptedAssertion` (named by `ds:RetrievalMethod` when one is given).
//!
//! Refused: RSA PKCS#1 v1.5 key transport (`xmlenc#rsa-1_5`, Bleichenbacher oracle),
//! `CipherReference`, any other algorithm. Errors are deliberately coarse where they could serve as
//! an oracle: every failure to unwrap the key or to decrypt/authenticate the data is
//! [`XmlEncError::DecryptionFailed`].
//!
//! Decryption does not authenticate the sender: CBC has no integrity at all, and anybody can
//! encrypt to our public key. [`crate::response::validate_response`] therefore accepts a decrypted
//! assertion only when a trusted signature covers it (see there).

use std::fmt;

use aws_lc_rs::aead::{self, AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use roxmltree::Node;
use zeroize::Zeroizing;

use crate::key::{KeyError, SigningKey};
use crate::xml::writer::{NS_DS, NS_SAML, escape_attr};

/// The XML Encryption 1.0 namespace.
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// The XML Encryption 1.1 namespace.
pub const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

/// AES-128-CBC data encryption.
pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
/// AES-256-CBC data encryption.
pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
/// AES-128-GCM data encryption.
pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
/// AES-256-GCM data encryption.
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
/// RSA-OAEP key transport with MGF1-SHA-1 (XML Encryption 1.0).
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// RSA-OAEP key transport with a selectable MGF (XML Encryption 1.1).
pub const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
/// RSA PKCS#1 v1.5 key transport: always refused.
pub const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
/// `EncryptedData/@Type` for an encrypted element.
pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
/// `RetrievalMethod/@Type` naming an `EncryptedKey`.
pub const TYPE_ENCRYPTED_KEY: &str = "http://www.w3.org/2001/04/xmlenc#EncryptedKey";

const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const DIGEST_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const DIGEST_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
const DIGEST_SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";
const MGF1_SHA384: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha384";
const MGF1_SHA512: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha512";

/// At most this many `EncryptedKey` candidates are tried per `EncryptedData`.
const MAX_ENCRYPTED_KEYS: usize = 8;

/// Why an `EncryptedAssertion` could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum XmlEncError {
    /// A required element or attribute is missing.
    #[error("{element} lacks {what}")]
    Missing {
        /// Element concerned.
        element: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// An element that must appear once appears several times.
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
    /// `EncryptedData/@Type` is present and is not `xmlenc#Element`.
    #[error("EncryptedData Type {0:?} is not Element")]
    WrongType(String),
    /// The data encryption algorithm is not supported.
    #[error("unsupported data encryption algorithm {0:?}")]
    UnsupportedDataAlgorithm(String),
    /// The key transport algorithm is not supported.
    #[error("unsupported key transport algorithm {0:?}")]
    UnsupportedKeyTransport(String),
    /// RSA PKCS#1 v1.5 key transport is refused (Bleichenbacher's attack).
    #[error("RSA PKCS#1 v1.5 key transport is refused")]
    Pkcs1v15Refused,
    /// The OAEP digest / MGF combination is not supported.
    #[error("unsupported RSA-OAEP parameters: digest {digest:?}, MGF {mgf:?}")]
    UnsupportedOaepParameters {
        /// Digest algorithm URI.
        digest: String,
        /// MGF algorithm URI.
        mgf: String,
    },
    /// `CipherReference` (ciphertext fetched from elsewhere) is never followed.
    #[error("CipherReference is not supported")]
    CipherReference,
    /// Invalid base64 in a `CipherValue` or `OAEPparams`.
    #[error("invalid base64 in {0}")]
    Base64(&'static str),
    /// No `EncryptedKey` for the `EncryptedData` was found.
    #[error("no EncryptedKey found")]
    NoEncryptedKey,
    /// Too many `EncryptedKey` candidates.
    #[error("more than {MAX_ENCRYPTED_KEYS} EncryptedKey elements")]
    TooManyEncryptedKeys,
    /// No decryption key is configured.
    #[error("no decryption key configured")]
    NoDecryptionKey,
    /// Unwrapping the content key or decrypting/authenticating the data failed (one variant for
    /// all such failures, so that errors reveal nothing about padding or key).
    #[error("decryption failed")]
    DecryptionFailed,
    /// The plaintext is not UTF-8.
    #[error("decrypted content is not UTF-8")]
    NotUtf8,
}

/// An RSA private key used to unwrap content keys (RSA-OAEP), built from a PKCS#8 document.
pub struct DecryptionKey {
    inner: OaepPrivateDecryptingKey,
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DecryptionKey(RSA-{}, <redacted>)",
            self.inner.key_size_bits()
        )
    }
}

impl DecryptionKey {
    /// Loads an RSA PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| KeyError::BadPrivateKey)?;
        let inner = OaepPrivateDecryptingKey::new(key).map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Self { inner })
    }

    /// The decryption half of an RSA [`SigningKey`] (the SP's one key pair); ECDSA keys cannot
    /// decrypt and give [`KeyError::BadPrivateKey`].
    pub fn from_signing_key(key: &SigningKey) -> Result<Self, KeyError> {
        let der = key.to_pkcs8_der()?;
        Self::from_pkcs8_der(&der)
    }

    /// Unwraps an RSA-OAEP-encrypted content key.
    fn unwrap_key(
        &self,
        alg: &'static OaepAlgorithm,
        ciphertext: &[u8],
        label: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, XmlEncError> {
        let mut out = Zeroizing::new(vec![0u8; self.inner.min_output_size()]);
        let len = self
            .inner
            .decrypt(alg, ciphertext, &mut out, label)
            .map_err(|_| XmlEncError::DecryptionFailed)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

/// A data encryption algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataAlg {
    Aes128Cbc,
    Aes256Cbc,
    Aes128Gcm,
    Aes256Gcm,
}

impl DataAlg {
    fn from_uri(uri: &str) -> Result<Self, XmlEncError> {
        Ok(match uri {
            AES128_CBC => Self::Aes128Cbc,
            AES256_CBC => Self::Aes256Cbc,
            AES128_GCM => Self::Aes128Gcm,
            AES256_GCM => Self::Aes256Gcm,
            other => return Err(XmlEncError::UnsupportedDataAlgorithm(other.to_owned())),
        })
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes128Gcm => 16,
            Self::Aes256Cbc | Self::Aes256Gcm => 32,
        }
    }

    /// Decrypts `data` (IV || ciphertext [|| tag]) with `key`.
    fn decrypt(self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, XmlEncError> {
        if key.len() != self.key_len() {
            return Err(XmlEncError::DecryptionFailed);
        }
        match self {
            Self::Aes128Gcm | Self::Aes256Gcm => {
                let alg = if self == Self::Aes128Gcm {
                    &AES_128_GCM
                } else {
                    &AES_256_GCM
                };
                if data.len() < aead::NONCE_LEN + 16 {
                    return Err(XmlEncError::DecryptionFailed);
                }
                let (iv, rest) = data.split_at(aead::NONCE_LEN);
                let nonce = Nonce::try_assume_unique_for_key(iv)
                    .map_err(|_| XmlEncError::DecryptionFailed)?;
                let key = LessSafeKey::new(
                    UnboundKey::new(alg, key).map_err(|_| XmlEncError::DecryptionFailed)?,
                );
                let mut buf = Zeroizing::new(rest.to_vec());
                let len = key
                    .open_in_place(nonce, Aad::empty(), &mut buf)
                    .map_err(|_| XmlEncError::DecryptionFailed)?
                    .len();
                buf.truncate(len);
                Ok(buf)
            }
            Self::Aes128Cbc | Self::Aes256Cbc => {
                let alg = if self == Self::Aes128Cbc {
                    &AES_128
                } else {
                    &AES_256
                };
                if data.len() < 32 || !data.len().is_multiple_of(16) {
                    return Err(XmlEncError::DecryptionFailed);
                }
                let (iv, rest) = data.split_at(16);
                let mut iv16 = [0u8; 16];
                iv16.copy_from_slice(iv);
                let key = DecryptingKey::cbc(
                    UnboundCipherKey::new(alg, key).map_err(|_| XmlEncError::DecryptionFailed)?,
                )
                .map_err(|_| XmlEncError::DecryptionFailed)?;
                let mut buf = Zeroizing::new(rest.to_vec());
                let len = key
                    .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv16)))
                    .map_err(|_| XmlEncError::DecryptionFailed)?
                    .len();
                buf.truncate(len);
                // ISO 10126 padding: the last byte is the pad length (1..=16), the rest random.
                let pad = usize::from(*buf.last().ok_or(XmlEncError::DecryptionFailed)?);
                if pad == 0 || pad > 16 || pad > buf.len() {
                    return Err(XmlEncError::DecryptionFailed);
                }
                let keep = buf.len() - pad;
                buf.truncate(keep);
                Ok(buf)
            }
        }
    }
}

fn is_el(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is_el(*c, ns, local))
}

fn one<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
    parent: &'static str,
) -> Result<Node<'a, 'i>, XmlEncError> {
    let mut it = children(node, ns, local);
    let first = it.next().ok_or(XmlEncError::Missing {
        element: parent,
        what: local,
    })?;
    if it.next().is_some() {
        return Err(XmlEncError::Duplicate(local));
    }
    Ok(first)
}

fn algorithm<'a>(method: Node<'a, '_>, element: &'static str) -> Result<&'a str, XmlEncError> {
    method
        .attribute("Algorithm")
        .map(str::trim)
        .ok_or(XmlEncError::Missing {
            element,
            what: "Algorithm",
        })
}

/// The base64 content of `CipherData/CipherValue` under `node`.
fn cipher_value(node: Node<'_, '_>, element: &'static str) -> Result<Vec<u8>, XmlEncError> {
    let data = one(node, NS_XENC, "CipherData", element)?;
    if children(data, NS_XENC, "CipherReference").next().is_some() {
        return Err(XmlEncError::CipherReference);
    }
    let value = one(data, NS_XENC, "CipherValue", "CipherData")?;
    b64(&crate::xml::reader::text_of(value), "CipherValue")
}

fn b64(text: &str, what: &'static str) -> Result<Vec<u8>, XmlEncError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(compact).map_err(|_| XmlEncError::Base64(what))
}

/// The OAEP algorithm and label of an `EncryptedKey/EncryptionMethod`.
fn oaep_params(
    method: Node<'_, '_>,
) -> Result<(&'static OaepAlgorithm, Option<Vec<u8>>), XmlEncError> {
    let uri = algorithm(method, "EncryptedKey/EncryptionMethod")?;
    let digest = match children(method, NS_DS, "DigestMethod").next() {
        Some(d) => algorithm(d, "DigestMethod")?.to_owned(),
        None => DIGEST_SHA1.to_owned(),
    };
    let mgf = match uri {
        RSA_1_5 => return Err(XmlEncError::Pkcs1v15Refused),
        RSA_OAEP_MGF1P => MGF1_SHA1.to_owned(),
        RSA_OAEP => match children(method, NS_XENC11, "MGF").next() {
            Some(m) => algorithm(m, "MGF")?.to_owned(),
            None => MGF1_SHA1.to_owned(),
        },
        other => return Err(XmlEncError::UnsupportedKeyTransport(other.to_owned())),
    };
    let alg = match (digest.as_str(), mgf.as_str()) {
        (DIGEST_SHA1, MGF1_SHA1) => &OAEP_SHA1_MGF1SHA1,
        (DIGEST_SHA256, MGF1_SHA256) => &OAEP_SHA256_MGF1SHA256,
        (DIGEST_SHA384, MGF1_SHA384) => &OAEP_SHA384_MGF1SHA384,
        (DIGEST_SHA512, MGF1_SHA512) => &OAEP_SHA512_MGF1SHA512,
        _ => return Err(XmlEncError::UnsupportedOaepParameters { digest, mgf }),
    };
    let label = children(method, NS_XENC, "OAEPparams")
        .next()
        .map(|p| b64(&crate::xml::reader::text_of(p), "OAEPparams"))
        .transpose()?
        .filter(|l| !l.is_empty());
    Ok((alg, label))
}

/// The `EncryptedKey` candidates for `data` inside `encrypted_assertion`: those inline in its
/// `KeyInfo`, then the siblings (only the ones a `RetrievalMethod` names, if it names any).
fn key_candidates<'a, 'i>(
    encrypted_assertion: Node<'a, 'i>,
    data: Node<'a, 'i>,
) -> Result<Vec<Node<'a, 'i>>, XmlEncError> {
    let mut out = Vec::new();
    let mut referenced = Vec::new();
    if let Some(key_info) = children(data, NS_DS, "KeyInfo").next() {
        out.extend(children(key_info, NS_XENC, "EncryptedKey"));
        for rm in children(key_info, NS_DS, "RetrievalMethod") {
            if let Some(uri) = rm.attribute("URI").and_then(|u| u.strip_prefix('#')) {
                referenced.push(uri);
            }
        }
    }
    for sibling in children(encrypted_assertion, NS_XENC, "EncryptedKey") {
        let id = sibling.attribute("Id").or_else(|| sibling.attribute("ID"));
        if referenced.is_empty() || id.is_some_and(|id| referenced.contains(&id)) {
            out.push(sibling);
        }
    }
    if out.is_empty() {
        return Err(XmlEncError::NoEncryptedKey);
    }
    if out.len() > MAX_ENCRYPTED_KEYS {
        return Err(XmlEncError::TooManyEncryptedKeys);
    }
    Ok(out)
}

/// Decrypts the `EncryptedData` of a `saml:EncryptedAssertion` with the first key that unwraps
/// its content key, and returns the plaintext wrapped in a synthetic `<saml:EncryptedAssertion>`
/// start/end tag that declares every namespace in scope at the original `EncryptedAssertion`, so
/// that the plaintext parses (with the hardened reader) even when it relies on ancestors' `xmlns`.
/// The caller must check that the wrapper holds exactly one `saml:Assertion` and nothing else.
pub fn decrypt_assertion(
    encrypted_assertion: Node<'_, '_>,
    keys: &[DecryptionKey],
) -> Result<Zeroizing<String>, XmlEncError> {
    if keys.is_empty() {
        return Err(XmlEncError::NoDecryptionKey);
    }
    let data = one(
        encrypted_assertion,
        NS_XENC,
        "EncryptedData",
        "EncryptedAssertion",
    )?;
    if let Some(t) = data.attribute("Type")
        && t.trim() != TYPE_ELEMENT
    {
        return Err(XmlEncError::WrongType(t.to_owned()));
    }
    let method = one(data, NS_XENC, "EncryptionMethod", "EncryptedData")?;
    let data_alg = DataAlg::from_uri(algorithm(method, "EncryptedData/EncryptionMethod")?)?;
    let ciphertext = cipher_value(data, "EncryptedData")?;

    let mut last_err = XmlEncError::DecryptionFailed;
    let mut plaintext = None;
    'outer: for ek in key_candidates(encrypted_assertion, data)? {
        let ek_method = one(ek, NS_XENC, "EncryptionMethod", "EncryptedKey")?;
        let (oaep, label) = match oaep_params(ek_method) {
            Ok(p) => p,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        let wrapped = cipher_value(ek, "EncryptedKey")?;
        for key in keys {
            let Ok(cek) = key.unwrap_key(oaep, &wrapped, label.as_deref()) else {
                continue;
            };
            match data_alg.decrypt(&cek, &ciphertext) {
                Ok(p) => {
                    plaintext = Some(p);
                    break 'outer;
                }
                Err(e) => last_err = e,
            }
        }
    }
    let plaintext = plaintext.ok_or(last_err)?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| XmlEncError::NotUtf8)?;

    let mut out = Zeroizing::new(String::with_capacity(text.len() + 256));
    out.push_str("<saml:EncryptedAssertion");
    let mut saml_declared = false;
    for ns in encrypted_assertion.namespaces() {
        match ns.name() {
            Some("xml") => continue,
            Some(prefix) => {
                saml_declared |= prefix == "saml";
                out.push_str(" xmlns:");
                out.push_str(prefix);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        escape_attr(&mut out, ns.uri());
        out.push('"');
    }
    if !saml_declared {
        // The wrapper's own prefix: bound only when the context does not bind `saml` already.
        out.push_str(" xmlns:saml=\"");
        out.push_str(NS_SAML);
        out.push('"');
    }
    out.push('>');
    out.push_str(text);
    out.push_str("</saml:EncryptedAssertion>");
    Ok(out)
}
