//! SCIM synchronization of a directory (products.md §2.3): the on/off switch with the SCIM
//! endpoint to give the identity provider, and the bearer credentials its SCIM client presents.
//!
//! * At most [`MAX_CREDENTIALS_PER_DIRECTORY`] credentials per directory, checked inside the write
//!   transaction under the directory's row lock.
//! * The secret (32 random bytes, base64url, prefix `ghscim_`) is returned once, by the create (or
//!   rotate) call; only its SHA-256 (hex) is stored, so it can never be shown again.
//! * New credentials are `Enabled`; they expire [`CREDENTIAL_LIFETIME_SECS`] (one year) after
//!   creation; the last use is recorded at most once a minute.
//! * Rotation as documented is "create a second one, switch the client, delete the old one";
//!   [`Services::rotate_scim_credential`] does the first step and disables the old one atomically.
//! * [`Services::authenticate_scim`] is what the SCIM server calls for every request.
//!
//! Every change is audited in its transaction (object `scim_synchronization` or
//! `scim_credential`); secrets never reach the audit log or the logs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// At most this many SCIM credentials per directory.
pub const MAX_CREDENTIALS_PER_DIRECTORY: i64 = 2;

/// Lifetime of a SCIM credential: one year (products.md §2.3, from the documented examples).
pub const CREDENTIAL_LIFETIME_SECS: i64 = 365 * 86_400;

/// Prefix of SCIM credential secrets (recognisable by secret scanners).
pub const SECRET_PREFIX: &str = "ghscim";

/// Longest secret [`Services::authenticate_scim`] looks up (longer ones are refused unread).
const MAX_SECRET_LEN: usize = 256;

/// Minimum time between two writes of a credential's last-used time.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// The kind of credential (`CredentialType`): only bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum ScimCredentialType {
    /// `Authorization: Bearer <secret>`.
    #[default]
    BearerToken,
}

/// Whether a credential is accepted (`Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum ScimCredentialStatus {
    /// Accepted (until it expires).
    #[default]
    Enabled,
    /// Refused; sync tasks using it fail.
    Disabled,
}

impl ScimCredentialStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimCredentialStatus::Enabled => "Enabled",
            ScimCredentialStatus::Disabled => "Disabled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Enabled" => Some(ScimCredentialStatus::Enabled),
            "Disabled" => Some(ScimCredentialStatus::Disabled),
            _ => None,
        }
    }
}

/// A SCIM credential as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScimCredential {
    /// `CredentialId`: `scimcred-…`.
    pub credential_id: String,
    /// The directory whose SCIM server it opens.
    pub directory_id: String,
    /// `CredentialType`: `BearerToken`.
    pub credential_type: ScimCredentialType,
    /// `Status`: `Enabled` or `Disabled`.
    pub status: ScimCredentialStatus,
    /// `CreateTime` (unix seconds).
    pub created_at: i64,
    /// `ExpireTime` (unix seconds): creation + one year.
    pub expires_at: i64,
    /// Last successful use (unix seconds, recorded at most once a minute).
    pub last_used_at: Option<i64>,
}

impl ScimCredential {
    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }
}

/// A new credential with its secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedScimCredential {
    /// The stored credential.
    #[serde(flatten)]
    pub credential: ScimCredential,
    /// `CredentialSecret`: the bearer token for the SCIM client; it cannot be shown again.
    pub credential_secret: String,
}

/// The result of a rotation: the new credential (with its secret) and the old one, now disabled.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedScimCredential {
    /// The replacement, with its secret (shown once).
    pub created: CreatedScimCredential,
    /// The credential it replaces, now `Disabled` (delete it once the client uses the new one).
    pub replaced: ScimCredential,
}

/// `Enabled` or `Disabled` (the `SCIMSynchronizationStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ScimSynchronizationStatus {
    /// SCIM synchronization is on.
    Enabled,
    /// SCIM synchronization is off (the SCIM server refuses every credential of the directory).
    Disabled,
}

/// The SCIM synchronization settings of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScimSynchronization {
    /// Whether SCIM synchronization is on.
    pub enabled: bool,
    /// The same as `Enabled` / `Disabled`.
    pub status: ScimSynchronizationStatus,
    /// The SCIM endpoint (`{base}/scim/v2`) to give the identity provider with a credential.
    pub scim_endpoint: String,
    /// How many credentials the directory has (at most two).
    pub credential_count: i64,
}

/// Who is calling the SCIM server: the directory and the credential it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimPrincipal {
    /// The directory the SCIM server acts on.
    pub directory_id: String,
    /// The credential used (for audit events).
    pub credential_id: String,
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::prefixed_id;
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store;
    use web::id;

    fn synchronization(endpoint: String, enabled: bool, count: i64) -> ScimSynchronization {
        ScimSynchronization {
            enabled,
            status: if enabled {
                ScimSynchronizationStatus::Enabled
            } else {
                ScimSynchronizationStatus::Disabled
            },
            scim_endpoint: endpoint,
            credential_count: count,
        }
    }

    /// A new credential of `directory_id` and its secret (not stored yet).
    fn new_credential(directory_id: &str, now: i64) -> (ScimCredential, String) {
        let credential = ScimCredential {
            credential_id: prefixed_id("scimcred", 24),
            directory_id: directory_id.to_owned(),
            credential_type: ScimCredentialType::BearerToken,
            status: ScimCredentialStatus::Enabled,
            created_at: now,
            expires_at: now + CREDENTIAL_LIFETIME_SECS,
            last_used_at: None,
        };
        (credential, id::new_secret(SECRET_PREFIX))
    }

    /// Locks the directory row (see [`store::directory::lock`]); 404 if there is none.
    async fn lock_directory(conn: &mut store::Conn, directory_id: &str) -> Result<()> {
        if store::directory::lock(conn, directory_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("directory"))
        }
    }

    impl Services {
        /// The SCIM endpoint of this server: `{base}/scim/v2` (the credential names the directory).
        pub fn scim_endpoint(&self) -> String {
            format!("{}/scim/v2", self.base_url)
        }

        /// The SCIM synchronization switch of a directory, with the endpoint.
        pub async fn get_scim_synchronization(
            &self,
            directory_id: &str,
        ) -> Result<ScimSynchronization> {
            let mut conn = self.store.read().await?;
            let enabled = store::directory::scim_enabled(&mut conn, directory_id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            let count = store::scim_credential::count(&mut conn, directory_id).await?;
            Ok(synchronization(self.scim_endpoint(), enabled, count))
        }

        /// Turns SCIM synchronization on or off. Off: the SCIM server refuses the directory's
        /// credentials and Synchronized users and groups become editable; on again: the client's
        /// next sync may roll such edits back (products.md §2.3).
        pub async fn set_scim_synchronization(
            &self,
            actor: &Actor,
            directory_id: &str,
            enabled: bool,
        ) -> Result<ScimSynchronization> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            lock_directory(&mut tx, directory_id).await?;
            let was = store::directory::scim_enabled(&mut tx, directory_id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            if was != enabled {
                store::directory::set_scim_enabled(&mut tx, directory_id, enabled, now).await?;
            }
            let count = store::scim_credential::count(&mut tx, directory_id).await?;
            let ev = NewAuditEvent::new(
                Some(directory_id),
                actor,
                "scim_synchronization",
                if enabled { "enable" } else { "disable" },
            )
            .target("directory", directory_id)
            .detail(serde_json::json!({ "enabled": enabled, "was_enabled": was }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(synchronization(self.scim_endpoint(), enabled, count))
        }

        /// Generates a new credential (`Enabled`, expiring in a year); refused (409
        /// `limit_exceeded`) when the directory already has two. The secret is returned only here.
        pub async fn create_scim_credential(
            &self,
            actor: &Actor,
            directory_id: &str,
        ) -> Result<CreatedScimCredential> {
            let now = self.now();
            let (credential, secret) = new_credential(directory_id, now);
            let mut tx = self.store.begin_write().await?;
            lock_directory(&mut tx, directory_id).await?;
            if store::scim_credential::count(&mut tx, directory_id).await?
                >= MAX_CREDENTIALS_PER_DIRECTORY
            {
                return Err(Error::LimitExceeded(
                    "a directory has at most two SCIM credentials; delete one first",
                ));
            }
            store::scim_credential::insert(&mut tx, &credential, &id::hash_secret(&secret)).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "scim_credential", "create")
                .target("scim_credential", &credential.credential_id)
                .detail(serde_json::json!({ "expires_at": credential.expires_at }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(CreatedScimCredential {
                credential,
                credential_secret: secret,
            })
        }

        /// The credentials of a directory, oldest first (without secrets).
        pub async fn list_scim_credentials(
            &self,
            directory_id: &str,
        ) -> Result<Vec<ScimCredential>> {
            let mut conn = self.store.read().await?;
            store::directory::scim_enabled(&mut conn, directory_id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            store::scim_credential::list(&mut conn, directory_id).await
        }

        /// One credential of the directory (without its secret).
        pub async fn get_scim_credential(
            &self,
            directory_id: &str,
            credential_id: &str,
        ) -> Result<ScimCredential> {
            let mut conn = self.store.read().await?;
            store::scim_credential::get(&mut conn, directory_id, credential_id)
                .await?
                .ok_or(Error::NotFound("scim credential"))
        }

        /// Enables or disables a credential (disabling makes the sync tasks using it fail).
        pub async fn set_scim_credential_status(
            &self,
            actor: &Actor,
            directory_id: &str,
            credential_id: &str,
            status: ScimCredentialStatus,
        ) -> Result<ScimCredential> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let mut c = store::scim_credential::get(&mut tx, directory_id, credential_id)
                .await?
                .ok_or(Error::NotFound("scim credential"))?;
            let was = c.status;
            store::scim_credential::set_status(&mut tx, directory_id, credential_id, status)
                .await?;
            c.status = status;
            let verb = match status {
                ScimCredentialStatus::Enabled => "enable",
                ScimCredentialStatus::Disabled => "disable",
            };
            let ev = NewAuditEvent::new(Some(directory_id), actor, "scim_credential", verb)
                .target("scim_credential", credential_id)
                .detail(serde_json::json!({ "status": status, "was": was }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(c)
        }

        /// Deletes a credential (a SCIM client still using it fails from now on).
        pub async fn delete_scim_credential(
            &self,
            actor: &Actor,
            directory_id: &str,
            credential_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if !store::scim_credential::delete(&mut tx, directory_id, credential_id).await? {
                return Err(Error::NotFound("scim credential"));
            }
            let ev = NewAuditEvent::new(Some(directory_id), actor, "scim_credential", "delete")
                .target("scim_credential", credential_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Rotates a credential in one transaction: generates its replacement (returned with its
        /// secret) and disables the old one. Refused (409 `limit_exceeded`) when the directory
        /// already has two credentials: delete the one not in use first. Delete the old one once
        /// the SCIM client uses the new secret.
        pub async fn rotate_scim_credential(
            &self,
            actor: &Actor,
            directory_id: &str,
            credential_id: &str,
        ) -> Result<RotatedScimCredential> {
            let now = self.now();
            let (credential, secret) = new_credential(directory_id, now);
            let mut tx = self.store.begin_write().await?;
            lock_directory(&mut tx, directory_id).await?;
            let mut old = store::scim_credential::get(&mut tx, directory_id, credential_id)
                .await?
                .ok_or(Error::NotFound("scim credential"))?;
            if store::scim_credential::count(&mut tx, directory_id).await?
                >= MAX_CREDENTIALS_PER_DIRECTORY
            {
                return Err(Error::LimitExceeded(
                    "a directory has at most two SCIM credentials; delete the one not in use before rotating",
                ));
            }
            store::scim_credential::insert(&mut tx, &credential, &id::hash_secret(&secret)).await?;
            store::scim_credential::set_status(
                &mut tx,
                directory_id,
                credential_id,
                ScimCredentialStatus::Disabled,
            )
            .await?;
            old.status = ScimCredentialStatus::Disabled;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "scim_credential", "rotate")
                .target("scim_credential", credential_id)
                .detail(serde_json::json!({
                    "replacement": credential.credential_id,
                    "expires_at": credential.expires_at,
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(RotatedScimCredential {
                created: CreatedScimCredential {
                    credential,
                    credential_secret: secret,
                },
                replaced: old,
            })
        }

        /// The SCIM server's authentication: the directory and credential of a bearer `secret`,
        /// or `None` when it is unknown, disabled or expired, or when the directory's SCIM
        /// synchronization is off. The lookup is by SHA-256 of the secret (the secret itself is
        /// never compared or stored) and the stored hash is compared again in constant time.
        /// Records the use at most once a minute per credential, best effort (a failed write is
        /// logged and does not fail the authentication).
        pub async fn authenticate_scim(&self, secret: &str) -> Result<Option<ScimPrincipal>> {
            let secret = secret.trim();
            if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
                return Ok(None);
            }
            let now = self.now();
            let hash = id::hash_secret(secret);
            let mut conn = self.store.read().await?;
            let Some(m) = store::scim_credential::find_by_hash(&mut conn, &hash).await? else {
                return Ok(None);
            };
            let c = &m.credential;
            let refused = if !id::constant_time_eq(&m.secret_hash, &hash) {
                Some("hash mismatch")
            } else if c.status != ScimCredentialStatus::Enabled {
                Some("credential disabled")
            } else if c.is_expired(now) {
                Some("credential expired")
            } else if !m.scim_enabled {
                Some("SCIM synchronization is off")
            } else {
                None
            };
            if let Some(reason) = refused {
                tracing::debug!(
                    credential_id = %c.credential_id,
                    directory_id = %c.directory_id,
                    reason,
                    "SCIM credential refused"
                );
                return Ok(None);
            }
            let principal = ScimPrincipal {
                directory_id: c.directory_id.clone(),
                credential_id: c.credential_id.clone(),
            };
            if c.last_used_at
                .is_none_or(|t| t <= now - LAST_USED_GRANULARITY_SECS)
            {
                drop(conn);
                self.record_scim_use(&principal.credential_id, now).await;
            }
            Ok(Some(principal))
        }

        /// Records a credential's last use, best effort: its own short write transaction, and a
        /// failure (a busy SQLite writer past the busy timeout, a lost connection) is logged at
        /// warn and ignored, so bookkeeping never turns a valid authentication into an error.
        async fn record_scim_use(&self, credential_id: &str, now: i64) {
            let written: Result<()> = async {
                let mut tx = self.store.begin_write().await?;
                store::scim_credential::touch(&mut tx, credential_id, now).await?;
                tx.commit().await?;
                Ok(())
            }
            .await;
            if let Err(e) = written {
                tracing::warn!(
                    credential_id,
                    error = %e,
                    "could not record the SCIM credential's last use (authentication proceeds)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        for s in [
            ScimCredentialStatus::Enabled,
            ScimCredentialStatus::Disabled,
        ] {
            assert_eq!(ScimCredentialStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ScimCredentialStatus::parse("enabled"), None);
    }

    #[test]
    fn created_credential_serializes_flat_with_its_secret() {
        let c = CreatedScimCredential {
            credential: ScimCredential {
                credential_id: "scimcred-x".into(),
                directory_id: "d-x".into(),
                credential_type: ScimCredentialType::BearerToken,
                status: ScimCredentialStatus::Enabled,
                created_at: 1,
                expires_at: 1 + CREDENTIAL_LIFETIME_SECS,
                last_used_at: None,
            },
            credential_secret: "ghscim_s".into(),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["credential_id"], "scimcred-x");
        assert_eq!(v["credential_type"], "BearerToken");
        assert_eq!(v["credential_secret"], "ghscim_s");
        let listed = serde_json::to_value(&c.credential).unwrap();
        assert!(listed.get("credential_secret").is_none());
    }
}
