//! Encryption of secrets at rest (signing keys, TOTP seeds) with the server's master key.
//!
//! AES-256-GCM from aws-lc-rs, a fresh random 96-bit nonce per message, and the owning record's id as
//! associated data, so a ciphertext copied onto another row does not decrypt. Stored form:
//! `base64(nonce || ciphertext || tag)`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, Zeroizing};

/// Why a sealed secret could not be produced or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The stored text is not base64 or too short to hold a nonce and a tag.
    #[error("sealed secret is malformed")]
    Malformed,
    /// Authentication failed: wrong master key, wrong record id, or tampered ciphertext.
    #[error("sealed secret does not authenticate")]
    Unauthentic,
    /// The crypto library refused the operation.
    #[error("encryption failed")]
    Crypto,
}

/// The server's 256-bit master key. Does not print; the raw bytes are zeroed on drop.
pub struct MasterKey {
    key: RandomizedNonceKey,
    raw: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Builds the key from its 32 raw bytes.
    pub fn new(bytes: &[u8; 32]) -> Result<Self, SealError> {
        let raw = Zeroizing::new(*bytes);
        let key =
            RandomizedNonceKey::new(&AES_256_GCM, raw.as_slice()).map_err(|_| SealError::Crypto)?;
        Ok(Self { key, raw })
    }

    /// A copy of the key for a blocking task (key generation runs off the async runtime).
    pub fn clone_for_blocking(&self) -> Self {
        // Building the same key from the same bytes cannot fail once it succeeded.
        match Self::new(&self.raw) {
            Ok(k) => k,
            Err(_) => unreachable!("master key was valid when first built"),
        }
    }

    /// Encrypts `plaintext`, binding it to `record_id` (associated data).
    pub fn seal(&self, record_id: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut buf = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(record_id.as_bytes()), &mut buf)
            .map_err(|_| SealError::Crypto)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same `record_id`.
    pub fn open(&self, record_id: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let raw = STANDARD
            .decode(sealed.trim())
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(record_id.as_bytes()), buf.as_mut_slice())
            .map_err(|_| SealError::Unauthentic)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// The 32 raw bytes of the master key (encrypts signing keys and TOTP seeds at rest).
///
/// Does not print and is zeroed on drop. [`MasterKey`] is the AEAD key built from it.
#[derive(Clone)]
pub struct MasterKeyMaterial([u8; 32]);

impl MasterKeyMaterial {
    /// Wraps 32 raw bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex characters or standard/url-safe base64 of 32 bytes (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, MasterKeyParseError> {
        use base64::Engine;
        let text = text.trim();
        let mut bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| MasterKeyParseError)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| MasterKeyParseError)?
        };
        let result = <[u8; 32]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| MasterKeyParseError);
        bytes.zeroize();
        result
    }

    /// The raw bytes (only to build the encryption key).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for MasterKeyMaterial {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for MasterKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKeyMaterial(<redacted>)")
    }
}

/// The master key text was not 32 bytes of hex or base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("master key must be 32 bytes, as 64 hex characters or base64")]
pub struct MasterKeyParseError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_record_id() {
        let key = MasterKey::new(&[7u8; 32]).unwrap();
        let sealed = key.seal("key_1", b"secret bytes").unwrap();
        assert_eq!(
            key.open("key_1", &sealed).unwrap().as_slice(),
            b"secret bytes"
        );
        assert_eq!(key.open("key_2", &sealed), Err(SealError::Unauthentic));
        let other = MasterKey::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open("key_1", &sealed), Err(SealError::Unauthentic));
    }

    #[test]
    fn nonces_differ_and_tampering_is_detected() {
        let key = MasterKey::new(&[1u8; 32]).unwrap();
        let a = key.seal("r", b"x").unwrap();
        let b = key.seal("r", b"x").unwrap();
        assert_ne!(a, b);
        let mut raw = STANDARD.decode(&a).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            key.open("r", &STANDARD.encode(raw)),
            Err(SealError::Unauthentic)
        );
        assert_eq!(key.open("r", "not base64!"), Err(SealError::Malformed));
        assert_eq!(key.open("r", "AAAA"), Err(SealError::Malformed));
    }

    #[test]
    fn debug_redacts() {
        let key = MasterKey::new(&[1u8; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
    }

    #[test]
    fn master_key_parses_hex_and_base64_and_redacts() {
        let hex_key = "00".repeat(31) + "ff";
        let k = MasterKeyMaterial::parse(&hex_key).unwrap();
        assert_eq!(k.expose()[31], 0xff);
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
        assert_eq!(MasterKeyMaterial::parse(&b64).unwrap().expose(), &[7u8; 32]);
        assert!(MasterKeyMaterial::parse("short").is_err());
        assert!(MasterKeyMaterial::parse(&"ab".repeat(31)).is_err());
        assert_eq!(format!("{k:?}"), "MasterKeyMaterial(<redacted>)");
    }
}
