//! API token names, shared by the services' admin APIs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;

/// A token name: 1–100 characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "ci")]
pub struct TokenName(String);

impl TryFrom<String> for TokenName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        let s = s.trim().to_owned();
        if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        Ok(Self(s))
    }
}

impl From<TokenName> for String {
    fn from(n: TokenName) -> String {
        n.0
    }
}

impl TokenName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
