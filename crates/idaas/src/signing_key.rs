//! The instance's SAML signing keys: generation (RSA-2048 or ECDSA P-256 with a self-signed
//! certificate), encryption at rest with the master key, and the rotation states.
//!
//! Rotation: a `next` key is created and published in metadata beside the `active` one, so SPs can
//! pick it up; promoting it makes it `active` and the old key `retired`. A retired key no longer signs
//! but stays published until it is removed, so responses signed just before the switch still verify.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::master_key::{MasterKey, SealError};

/// Validity of generated certificates.
pub const CERTIFICATE_YEARS: i64 = 10;

/// Key algorithm (`signing_keys.algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// RSA-2048, signing with RSA-SHA256.
    RsaSha256,
    /// ECDSA P-256, signing with ECDSA-SHA256.
    EcdsaSha256,
}

impl KeyAlgorithm {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::RsaSha256 => "rsa-sha256",
            KeyAlgorithm::EcdsaSha256 => "ecdsa-sha256",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "rsa-sha256" => Some(KeyAlgorithm::RsaSha256),
            "ecdsa-sha256" => Some(KeyAlgorithm::EcdsaSha256),
            _ => None,
        }
    }

    /// The XML-DSig algorithm this key signs with.
    pub fn signature_algorithm(self) -> saml::algorithm::SignatureAlgorithm {
        match self {
            KeyAlgorithm::RsaSha256 => saml::algorithm::SignatureAlgorithm::RsaSha256,
            KeyAlgorithm::EcdsaSha256 => saml::algorithm::SignatureAlgorithm::EcdsaSha256,
        }
    }
}

impl From<crate::application::SignatureAlgorithm> for KeyAlgorithm {
    fn from(value: crate::application::SignatureAlgorithm) -> Self {
        match value {
            crate::application::SignatureAlgorithm::RsaSha256 => KeyAlgorithm::RsaSha256,
            crate::application::SignatureAlgorithm::EcdsaSha256 => KeyAlgorithm::EcdsaSha256,
        }
    }
}

/// Rotation state (`signing_keys.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing and published.
    Active,
    /// No longer signing, still published until removed.
    Retired,
}

impl KeyState {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A signing key row. The private key stays sealed; [`StoredKey::unseal`] opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// `key_…`.
    pub id: String,
    /// Owning instance.
    pub instance_id: String,
    /// Algorithm.
    pub algorithm: KeyAlgorithm,
    /// `base64(nonce || AES-256-GCM(PKCS#8 DER))`, AAD = key id.
    pub private_key_enc: String,
    /// Base64 DER certificate.
    pub certificate: String,
    /// Rotation state.
    pub state: KeyState,
    /// Unix seconds.
    pub created_at: i64,
    /// When it became active.
    pub activated_at: Option<i64>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be generated or opened.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// Key or certificate generation failed.
    #[error("key generation failed: {0}")]
    Key(#[from] saml::key::KeyError),
    /// Sealing or unsealing failed.
    #[error("sealed private key: {0}")]
    Seal(#[from] SealError),
    /// Creation time out of range.
    #[error("invalid timestamp")]
    Time,
}

/// The public view of a key (API responses).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// `key_…`.
    pub id: String,
    /// Algorithm.
    pub algorithm: KeyAlgorithm,
    /// Rotation state.
    pub state: KeyState,
    /// Base64 DER certificate.
    pub certificate: String,
    /// SHA-256 fingerprint of the certificate (hex).
    pub sha256_fingerprint: String,
    /// Certificate expiry (unix seconds).
    pub not_after: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub activated_at: Option<i64>,
    /// Unix seconds.
    pub retired_at: Option<i64>,
}

impl StoredKey {
    /// Generates a new key (blocking: RSA generation takes a while; call from `spawn_blocking`).
    pub fn generate(
        id: String,
        instance_id: &str,
        algorithm: KeyAlgorithm,
        state: KeyState,
        master: &MasterKey,
        now: i64,
    ) -> Result<Self, SigningKeyError> {
        let key = match algorithm {
            KeyAlgorithm::RsaSha256 => saml::key::SigningKey::generate_rsa(2048)?,
            KeyAlgorithm::EcdsaSha256 => saml::key::SigningKey::generate_ecdsa_p256()?,
        };
        let not_before =
            OffsetDateTime::from_unix_timestamp(now - 300).map_err(|_| SigningKeyError::Time)?;
        let not_after = not_before + time::Duration::days(365 * CERTIFICATE_YEARS);
        let cert = saml::key::Certificate::self_signed(
            &key,
            &format!("Gatehouse IDaaS {instance_id}"),
            not_before,
            not_after,
        )?;
        let pkcs8 = key.to_pkcs8_der()?;
        let private_key_enc = master.seal(&id, &pkcs8)?;
        Ok(Self {
            id,
            instance_id: instance_id.to_owned(),
            algorithm,
            private_key_enc,
            certificate: cert.to_base64(),
            state,
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retired_at: None,
        })
    }

    /// Decrypts the private key.
    pub fn unseal(&self, master: &MasterKey) -> Result<saml::key::SigningKey, SigningKeyError> {
        let der = master.open(&self.id, &self.private_key_enc)?;
        Ok(saml::key::SigningKey::from_pkcs8_der(&der)?)
    }

    /// The parsed certificate.
    pub fn certificate(&self) -> Result<saml::key::Certificate, SigningKeyError> {
        Ok(saml::key::Certificate::from_base64(&self.certificate)?)
    }

    /// The public view.
    pub fn info(&self) -> KeyInfo {
        let cert = self.certificate().ok();
        KeyInfo {
            id: self.id.clone(),
            algorithm: self.algorithm,
            state: self.state,
            certificate: self.certificate.clone(),
            sha256_fingerprint: cert
                .as_ref()
                .map(|c| c.sha256_fingerprint())
                .unwrap_or_default(),
            not_after: cert
                .map(|c| c.not_after().unix_timestamp())
                .unwrap_or_default(),
            created_at: self.created_at,
            activated_at: self.activated_at,
            retired_at: self.retired_at,
        }
    }
}

/// The key material a Response is signed with.
pub struct ActiveKey {
    /// The row.
    pub stored: StoredKey,
    /// The opened private key.
    pub key: saml::key::SigningKey,
    /// Its certificate.
    pub certificate: saml::key::Certificate,
}

impl std::fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveKey")
            .field("id", &self.stored.id)
            .finish_non_exhaustive()
    }
}

mod services {
    use serde_json::json;

    use super::{ActiveKey, KeyAlgorithm, KeyInfo, KeyState, StoredKey};
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::id;
    use crate::services::Services;
    use crate::store;

    fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    impl Services {
        async fn generate_key(
            &self,
            instance_id: &str,
            algorithm: KeyAlgorithm,
            state: KeyState,
        ) -> Result<StoredKey> {
            let master = self.master_key.clone_for_blocking();
            let instance_id = instance_id.to_owned();
            let now = self.now();
            tokio::task::spawn_blocking(move || {
                StoredKey::generate(
                    id::new_id("key"),
                    &instance_id,
                    algorithm,
                    state,
                    &master,
                    now,
                )
            })
            .await
            .map_err(internal)?
            .map_err(internal)
        }

        /// The active key of `algorithm`, created on first use.
        pub async fn active_signing_key(
            &self,
            instance_id: &str,
            algorithm: KeyAlgorithm,
        ) -> Result<ActiveKey> {
            let existing = {
                let mut conn = self.store.read().await?;
                store::signing_key::list_for_algorithm(&mut conn, instance_id, algorithm).await?
            };
            let stored = match existing.into_iter().find(|k| k.state == KeyState::Active) {
                Some(k) => k,
                None => {
                    let key = self
                        .generate_key(instance_id, algorithm, KeyState::Active)
                        .await?;
                    let mut tx = self.store.begin_write().await?;
                    // Another request may have created one meanwhile: keep the first.
                    let again =
                        store::signing_key::list_for_algorithm(&mut tx, instance_id, algorithm)
                            .await?;
                    let winner = match again.into_iter().find(|k| k.state == KeyState::Active) {
                        Some(k) => k,
                        None => {
                            store::signing_key::insert(&mut tx, &key).await?;
                            let event = NewAuditEvent::new(
                                Some(instance_id),
                                &Actor::system(),
                                "signing_key",
                                "create",
                            )
                            .target("signing_key", &key.id)
                            .detail(json!({ "algorithm": algorithm.as_str(), "state": "active" }));
                            store::audit::append(&mut tx, &event, self.now()).await?;
                            key
                        }
                    };
                    tx.commit().await?;
                    winner
                }
            };
            let key = stored.unseal(&self.master_key).map_err(internal)?;
            let certificate = stored.certificate().map_err(internal)?;
            Ok(ActiveKey {
                stored,
                key,
                certificate,
            })
        }

        /// Certificates published in metadata for `algorithm`: active, next and retired keys.
        pub async fn published_certificates(
            &self,
            instance_id: &str,
            algorithm: KeyAlgorithm,
        ) -> Result<Vec<saml::key::Certificate>> {
            let active = self.active_signing_key(instance_id, algorithm).await?;
            let keys = {
                let mut conn = self.store.read().await?;
                store::signing_key::list_for_algorithm(&mut conn, instance_id, algorithm).await?
            };
            let mut certs = vec![active.certificate];
            for k in keys.iter().filter(|k| k.id != active.stored.id) {
                certs.push(k.certificate().map_err(internal)?);
            }
            Ok(certs)
        }

        /// Every key of the instance.
        pub async fn list_signing_keys(&self, instance_id: &str) -> Result<Vec<KeyInfo>> {
            let mut conn = self.store.read().await?;
            Ok(store::signing_key::list(&mut conn, instance_id)
                .await?
                .iter()
                .map(StoredKey::info)
                .collect())
        }

        /// Rotation step 1: creates the `next` key of `algorithm` (one at a time).
        pub async fn create_next_signing_key(
            &self,
            instance_id: &str,
            actor: &Actor,
            algorithm: KeyAlgorithm,
        ) -> Result<KeyInfo> {
            self.active_signing_key(instance_id, algorithm).await?;
            let key = self
                .generate_key(instance_id, algorithm, KeyState::Next)
                .await?;
            let mut tx = self.store.begin_write().await?;
            let keys =
                store::signing_key::list_for_algorithm(&mut tx, instance_id, algorithm).await?;
            if keys.iter().any(|k| k.state == KeyState::Next) {
                return Err(Error::invalid(
                    "state",
                    "a next key already exists; promote or remove it first",
                ));
            }
            store::signing_key::insert(&mut tx, &key).await?;
            let event = NewAuditEvent::new(Some(instance_id), actor, "signing_key", "create")
                .target("signing_key", &key.id)
                .detail(json!({ "algorithm": algorithm.as_str(), "state": "next" }));
            store::audit::append(&mut tx, &event, self.now()).await?;
            tx.commit().await?;
            Ok(key.info())
        }

        /// Rotation step 2: makes the `next` key `key_id` active; the old active key is retired.
        ///
        /// The key must have been published (in metadata, as `next`) for at least
        /// [`crate::Config::key_publish_min_secs`], so that SPs had time to fetch it; `force`
        /// skips that wait (recorded in the audit event).
        pub async fn promote_signing_key(
            &self,
            instance_id: &str,
            actor: &Actor,
            key_id: &str,
            force: bool,
        ) -> Result<KeyInfo> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let key = store::signing_key::get(&mut tx, instance_id, key_id)
                .await?
                .ok_or(Error::NotFound("signing key"))?;
            if key.state != KeyState::Next {
                return Err(Error::invalid("state", "only a next key can be promoted"));
            }
            let published_secs = now - key.created_at;
            let min = self.config.key_publish_min_secs;
            if published_secs < min && !force {
                return Err(Error::invalid(
                    "state",
                    format!(
                        "the next key has been published for {published_secs} s; service providers \
                         need {min} s to fetch it (wait {} s more, or force the promotion)",
                        min - published_secs
                    ),
                ));
            }
            for old in
                store::signing_key::list_for_algorithm(&mut tx, instance_id, key.algorithm).await?
            {
                if old.state == KeyState::Active {
                    store::signing_key::retire(&mut tx, instance_id, &old.id, now).await?;
                }
            }
            store::signing_key::activate(&mut tx, instance_id, key_id, now).await?;
            let event = NewAuditEvent::new(Some(instance_id), actor, "signing_key", "activate")
                .target("signing_key", key_id)
                .detail(json!({
                    "forced": force && published_secs < min,
                    "published_secs": published_secs,
                }));
            store::audit::append(&mut tx, &event, now).await?;
            let key = store::signing_key::get(&mut tx, instance_id, key_id)
                .await?
                .ok_or(Error::NotFound("signing key"))?;
            tx.commit().await?;
            Ok(key.info())
        }

        /// Rotation step 3: removes a retired (or an unused next) key; it is no longer published.
        pub async fn remove_signing_key(
            &self,
            instance_id: &str,
            actor: &Actor,
            key_id: &str,
        ) -> Result<()> {
            let mut tx = self.store.begin_write().await?;
            let key = store::signing_key::get(&mut tx, instance_id, key_id)
                .await?
                .ok_or(Error::NotFound("signing key"))?;
            if key.state == KeyState::Active {
                return Err(Error::invalid(
                    "state",
                    "the active key cannot be removed; promote another key first",
                ));
            }
            store::signing_key::delete(&mut tx, instance_id, key_id).await?;
            let event = NewAuditEvent::new(Some(instance_id), actor, "signing_key", "delete")
                .target("signing_key", key_id);
            store::audit::append(&mut tx, &event, self.now()).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_seal_and_sign() {
        let master = MasterKey::new(&[3u8; 32]).unwrap();
        for alg in [KeyAlgorithm::EcdsaSha256, KeyAlgorithm::RsaSha256] {
            let k = StoredKey::generate(
                "key_a".into(),
                "idaas_x",
                alg,
                KeyState::Active,
                &master,
                1_700_000_000,
            )
            .unwrap();
            assert!(!k.private_key_enc.contains("PRIVATE"));
            let key = k.unseal(&master).unwrap();
            let sig = key.sign(alg.signature_algorithm(), b"data").unwrap();
            let cert = k.certificate().unwrap();
            assert!(
                cert.verify_signature(alg.signature_algorithm(), b"data", &sig)
                    .is_ok()
            );
            assert_eq!(k.info().state, KeyState::Active);
            assert_eq!(k.activated_at, Some(1_700_000_000));
            // The sealed key is bound to its id.
            let mut moved = k.clone();
            moved.id = "key_b".into();
            assert!(matches!(
                moved.unseal(&master),
                Err(SigningKeyError::Seal(SealError::Unauthentic))
            ));
        }
    }

    #[test]
    fn text_forms() {
        for s in [KeyState::Next, KeyState::Active, KeyState::Retired] {
            assert_eq!(KeyState::parse(s.as_str()), Some(s));
        }
        for a in [KeyAlgorithm::RsaSha256, KeyAlgorithm::EcdsaSha256] {
            assert_eq!(KeyAlgorithm::parse(a.as_str()), Some(a));
        }
    }
}
