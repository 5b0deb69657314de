//! The audit log: every admin change and every portal logon (success or failure), with who, what,
//! which object and the outcome. Events that record a change are written in the change's
//! transaction.

use serde::Serialize;
use utoipa::ToSchema;

pub use web::audit::{Actor, ActorType, AuditResult};

/// Prefix of every action name.
pub const ACTION_PREFIX: &str = "urn:gatehouse:cloudsso:event:";

/// Builds an action name: `action("user", "create")` = `urn:gatehouse:cloudsso:event:user:create`.
pub fn action(object: &str, verb: &str) -> String {
    format!("{ACTION_PREFIX}{object}:{verb}")
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Time-ordered id (`evt_…`).
    pub id: String,
    /// Directory, or `None` for platform operations.
    pub directory_id: Option<String>,
    /// When (unix seconds).
    pub at: i64,
    /// Kind of actor.
    pub actor_type: ActorType,
    /// Actor id.
    pub actor_id: Option<String>,
    /// `urn:gatehouse:cloudsso:event:<object>:<verb>`.
    pub action: String,
    /// Kind of target object.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Outcome.
    pub result: AuditResult,
    /// Source address.
    pub source_ip: Option<String>,
    /// Extra detail (never secrets).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// Directory, or `None` for platform operations.
    pub directory_id: Option<String>,
    /// The actor.
    pub actor: Actor,
    /// Action name (see [`action`]).
    pub action: String,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Outcome.
    pub result: AuditResult,
    /// Extra detail.
    pub detail: serde_json::Value,
}

impl NewAuditEvent {
    /// A successful event of `actor` in `directory_id` with action `object:verb`.
    pub fn new(directory_id: Option<&str>, actor: &Actor, object: &str, verb: &str) -> Self {
        Self {
            directory_id: directory_id.map(str::to_owned),
            actor: actor.clone(),
            action: action(object, verb),
            target_type: None,
            target_id: None,
            result: AuditResult::Success,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// Sets the target.
    pub fn target(mut self, target_type: &str, target_id: &str) -> Self {
        self.target_type = Some(target_type.to_owned());
        self.target_id = Some(target_id.to_owned());
        self
    }

    /// Marks the event as a failure.
    pub fn failure(mut self) -> Self {
        self.result = AuditResult::Failure;
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditPage {
    /// The events.
    pub items: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next (older) page.
    pub next_cursor: Option<String>,
}

mod service {
    use super::*;
    use crate::error::Result;
    use crate::services::Services;
    use crate::store;

    impl Services {
        /// Appends an event on its own (for events without a change, e.g. a refused logon).
        pub async fn record_audit(&self, event: &NewAuditEvent) -> Result<String> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let id = store::audit::append(&mut tx, event, now).await?;
            tx.commit().await?;
            Ok(id)
        }

        /// Events of a directory, newest first; `action_prefix` is the full URN or `object:` form.
        pub async fn query_audit(
            &self,
            directory_id: &str,
            action_prefix: Option<&str>,
            cursor: Option<&str>,
            limit: i64,
        ) -> Result<AuditPage> {
            let mut conn = self.store.read().await?;
            store::audit::query(&mut conn, directory_id, action_prefix, cursor, limit).await
        }

        /// Events of no directory (e.g. a POST to an unknown ACS URL), newest first; same
        /// arguments as [`Services::query_audit`]. Not exposed over HTTP (admin tokens belong to a
        /// directory): for operators and tests.
        pub async fn query_platform_audit(
            &self,
            action_prefix: Option<&str>,
            cursor: Option<&str>,
            limit: i64,
        ) -> Result<AuditPage> {
            let mut conn = self.store.read().await?;
            store::audit::query_platform(&mut conn, action_prefix, cursor, limit).await
        }
    }
}
