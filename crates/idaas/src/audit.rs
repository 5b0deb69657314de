//! The audit log: who did what to which object, with which result.
//!
//! Events are written in the same transaction as the change they record, so a change without its
//! event (or an event for a change that rolled back) cannot exist.

use serde::Serialize;
use utoipa::ToSchema;

pub use web::audit::{Actor, ActorType, AuditResult};

/// Prefix of every action name.
pub const ACTION_PREFIX: &str = "urn:gatehouse:idaas:event:";

/// Builds an action name: `action("user", "create")` = `urn:gatehouse:idaas:event:user:create`.
pub fn action(object: &str, verb: &str) -> String {
    format!("{ACTION_PREFIX}{object}:{verb}")
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Time-ordered id (`evt_…`).
    pub id: String,
    /// Instance, or `None` for platform operations.
    pub instance_id: Option<String>,
    /// When (unix seconds).
    pub at: i64,
    /// Kind of actor.
    pub actor_type: ActorType,
    /// Actor id.
    pub actor_id: Option<String>,
    /// `urn:gatehouse:idaas:event:<object>:<verb>`.
    pub action: String,
    /// Kind of target object (`user`, `group`, …).
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
    /// Instance, or `None` for platform operations.
    pub instance_id: Option<String>,
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
    /// A successful event of `actor` in `instance_id` with action `object:verb`.
    pub fn new(instance_id: Option<&str>, actor: &Actor, object: &str, verb: &str) -> Self {
        Self {
            instance_id: instance_id.map(str::to_owned),
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

/// Filters for querying the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// From this time (inclusive).
    pub from: Option<i64>,
    /// Until this time (exclusive).
    pub to: Option<i64>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Action prefix (e.g. `urn:gatehouse:idaas:event:user:` or the short form `user:`).
    pub action_prefix: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Outcome.
    pub result: Option<AuditResult>,
    /// Continue after this event id (from `next_cursor`).
    pub cursor: Option<String>,
    /// Maximum number of events (1–500).
    pub limit: i64,
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
        /// Appends an event on its own (for events without a change, e.g. a refused sign-in).
        /// Events that record a change are appended with `store::audit::append` in the change's
        /// transaction instead.
        pub async fn record_audit(&self, event: &NewAuditEvent) -> Result<String> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let id = store::audit::append(&mut tx, event, now).await?;
            tx.commit().await?;
            Ok(id)
        }

        /// Queries the audit log of an instance (`None` = platform events).
        pub async fn query_audit(
            &self,
            instance_id: Option<&str>,
            query: &AuditQuery,
        ) -> Result<AuditPage> {
            let mut conn = self.store.read().await?;
            store::audit::query(&mut conn, instance_id, query).await
        }
    }
}
