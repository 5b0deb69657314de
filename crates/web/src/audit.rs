//! Who did something and whether it worked: the actor and result of audited operations.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who performs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// An API token (`actor_id` = token id).
    ApiToken,
    /// A signed-in user (`actor_id` = user id).
    User,
    /// The server itself (maintenance, seeding).
    System,
    /// Someone not (yet) authenticated, e.g. a failed sign-in.
    Anonymous,
}

impl ActorType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::ApiToken => "api_token",
            ActorType::User => "user",
            ActorType::System => "system",
            ActorType::Anonymous => "anonymous",
        }
    }

    /// Parses the stored form (unknown values read as anonymous).
    pub fn parse(s: &str) -> Self {
        match s {
            "api_token" => ActorType::ApiToken,
            "user" => ActorType::User,
            "system" => ActorType::System,
            _ => ActorType::Anonymous,
        }
    }
}

/// The actor of an operation, with the source address of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Kind of actor.
    pub actor_type: ActorType,
    /// Its id.
    pub actor_id: Option<String>,
    /// Source address of the request.
    pub source_ip: Option<String>,
}

impl Actor {
    /// The server itself.
    pub fn system() -> Self {
        Self {
            actor_type: ActorType::System,
            actor_id: None,
            source_ip: None,
        }
    }

    /// A user.
    pub fn user(user_id: impl Into<String>, source_ip: Option<String>) -> Self {
        Self {
            actor_type: ActorType::User,
            actor_id: Some(user_id.into()),
            source_ip,
        }
    }

    /// An API token.
    pub fn api_token(token_id: impl Into<String>, source_ip: Option<String>) -> Self {
        Self {
            actor_type: ActorType::ApiToken,
            actor_id: Some(token_id.into()),
            source_ip,
        }
    }

    /// Someone unauthenticated.
    pub fn anonymous(source_ip: Option<String>) -> Self {
        Self {
            actor_type: ActorType::Anonymous,
            actor_id: None,
            source_ip,
        }
    }
}

/// Outcome of the recorded operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// It happened.
    Success,
    /// It was refused or failed.
    Failure,
}

impl AuditResult {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Failure => "failure",
        }
    }
}
