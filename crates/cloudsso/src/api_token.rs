//! API tokens: bearer secrets for the admin API, per directory or platform-wide (platform tokens may
//! create directories).

use serde::Serialize;
use utoipa::ToSchema;

pub use web::api_token::TokenName;

/// A stored API token (the secret is shown once at creation and stored only as SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiToken {
    /// `tok_…`
    pub id: String,
    /// The directory it is limited to; `None` = platform-wide.
    pub directory_id: Option<String>,
    /// What it is for.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<i64>,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
}

impl ApiToken {
    /// Whether the token is platform-wide.
    pub fn is_platform(&self) -> bool {
        self.directory_id.is_none()
    }

    /// Whether the token may act on `directory_id`.
    pub fn covers(&self, directory_id: &str) -> bool {
        self.directory_id
            .as_deref()
            .is_none_or(|d| d == directory_id)
    }
}

/// A new token and its secret (returned once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// The stored token.
    #[serde(flatten)]
    pub token: ApiToken,
    /// The bearer secret (`ght_…`); it cannot be shown again.
    pub secret: String,
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store;
    use web::id;

    impl Services {
        /// Creates a token for `directory_id` (`None` = platform-wide). The secret is returned once.
        pub async fn create_api_token(
            &self,
            actor: &Actor,
            directory_id: Option<&str>,
            name: TokenName,
            expires_at: Option<i64>,
        ) -> Result<CreatedApiToken> {
            let now = self.now();
            if expires_at.is_some_and(|e| e <= now) {
                return Err(Error::invalid("expires_at", "must be in the future"));
            }
            let secret = id::new_secret("ght");
            let token = ApiToken {
                id: id::new_id("tok"),
                directory_id: directory_id.map(str::to_owned),
                name: name.as_str().to_owned(),
                created_at: now,
                last_used_at: None,
                expires_at,
            };
            let mut tx = self.store.begin_write().await?;
            if let Some(d) = directory_id
                && store::directory::get(&mut tx, d).await?.is_none()
            {
                return Err(Error::NotFound("directory"));
            }
            store::api_token::insert(&mut tx, &token, &id::hash_secret(&secret)).await?;
            let ev = NewAuditEvent::new(directory_id, actor, "api_token", "create")
                .target("api_token", &token.id)
                .detail(serde_json::json!({ "name": token.name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(CreatedApiToken { token, secret })
        }

        /// Tokens of a directory (`None` = platform tokens).
        pub async fn list_api_tokens(&self, directory_id: Option<&str>) -> Result<Vec<ApiToken>> {
            let mut conn = self.store.read().await?;
            store::api_token::list(&mut conn, directory_id).await
        }

        /// Deletes a token of the scope.
        pub async fn delete_api_token(
            &self,
            actor: &Actor,
            directory_id: Option<&str>,
            token_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if !store::api_token::delete(&mut tx, directory_id, token_id).await? {
                return Err(Error::NotFound("api token"));
            }
            let ev = NewAuditEvent::new(directory_id, actor, "api_token", "delete")
                .target("api_token", token_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// The unexpired token with this secret (records its use).
        pub async fn authenticate_api_token(&self, secret: &str) -> Result<Option<ApiToken>> {
            let now = self.now();
            let mut conn = self.store.read().await?;
            let token =
                store::api_token::find_valid(&mut conn, &id::hash_secret(secret), now).await?;
            if let Some(t) = &token {
                store::api_token::touch(&mut conn, &t.id, now).await?;
            }
            Ok(token)
        }
    }
}
